"""Benchmarks of the policy search: answer quality on the question set, and speed at scale.

    python -m bench.policy [--size tiny|full] [--split tune|heldout|all] [--misses]

- **quality**: the starter library (bot/policydata) on a fresh store; every question of
  ``bench/policy_questions.toml`` is searched as an admin (every document visible). A question
  counts as answered at k when any of the first k passages lies in a section it names. Reported
  on the held-out third (never looked at while tuning), with the tune split beside it; off-topic
  questions (``expect = []``) report how often the bot rightly says it has no answer.
- **speed**: a generated library (``tiny``: 1,000 passages; ``full``: 10,000) made by shuffling
  the starter library's sentences into new documents; index build time (the real importer),
  store size, and search latency p50/p95 of the service's whole search (FTS5 candidates within a
  village member's scope, document frequencies, re-ranking) against a bare FTS5 BM25 query for
  the same terms on the same data in the same run.

Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot import policysearch as ps
from bot.clock import SystemClock
from bot.sample import sample_file
from bot.services.imports import import_regions
from bot.services.policies import PolicyService, read_documents, starter_library
from storage.db import Database

QUESTIONS = Path(__file__).with_name("policy_questions.toml")
ACTOR = "operator:bench"
VILLAGE_PATHS = ("/51/5119/511902/511902101/511902101001/",)
TARGET_RECALL3 = 0.9
TARGET_P95_MS = 10.0
SIZES = {"tiny": 1_000, "full": 10_000}
PASSAGES_PER_DOC = 20


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    expect: frozenset[tuple[str, str]]  # (document title, section)
    split: str
    style: str


def load_questions(path: Path = QUESTIONS) -> list[Question]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    docs: dict[str, str] = data["docs"]
    found: list[Question] = []
    for q in data["question"]:
        expect = frozenset((docs[e.split("/", 1)[0]], e.split("/", 1)[1]) for e in q["expect"])
        found.append(Question(q["id"], q["text"], expect, q["split"], q["style"]))
    return found


@dataclass(frozen=True)
class Quality:
    questions: int
    recall1: float
    recall3: float
    offtopic: int
    rejected: float  # off-topic questions the bot rightly declined
    answered: float  # on-topic questions the bot answered (passed the threshold)
    misses: tuple[str, ...]


async def evaluate(service: PolicyService, questions: Sequence[Question], split: str) -> Quality:
    """Recall@1 and @3 over a split's on-topic questions, and the threshold's behaviour."""
    chosen = [q for q in questions if split == "all" or q.split == split]
    hit1 = hit3 = answered = rejected = 0
    on_topic = [q for q in chosen if q.expect]
    misses: list[str] = []
    for q in chosen:
        ranked = await service.rank(None, q.text)
        ok = bool(ranked) and ps.confident(ranked[0].scored, service.weights)
        if not q.expect:
            rejected += not ok
            if ok:
                top = ranked[0].row
                misses.append(f"{q.id} {q.text} -> answered {top.section} ({ranked[0].scored})")
            continue
        answered += ok
        places = [(r.row.title, r.row.section) for r in ranked[:3]]
        hit1 += bool(places[:1]) and places[0] in q.expect
        got3 = any(p in q.expect for p in places)
        hit3 += got3
        if not got3 or not ok:
            shown = " | ".join(f"{s}" for _, s in places)
            note = "" if ok else " [below threshold]"
            misses.append(f"{q.id} {q.style} {q.text} -> {shown}{note}")
    n = len(on_topic) or 1
    off = len(chosen) - len(on_topic)
    return Quality(
        questions=len(on_topic),
        recall1=hit1 / n,
        recall3=hit3 / n,
        offtopic=off,
        rejected=rejected / (off or 1),
        answered=answered / n,
        misses=tuple(misses),
    )


async def starter_store(folder: Path) -> Database:
    db = await Database.open(folder / "quality.db")
    await db.migrate()
    clock = SystemClock()
    await import_regions(db, clock, sample_file("regions.csv"), ACTOR)
    await PolicyService(db, clock).import_path(starter_library(), ACTOR)
    return db


# --- the generated library ----------------------------------------------------------------------

_SENTENCE = re.compile(r"[^。；]+[。；]")


def generate_library(folder: Path, passages: int, seed: int = 8) -> Path:
    """Documents of shuffled starter sentences, about ``passages`` paragraphs in all."""
    rng = random.Random(seed)
    sentences: list[str] = []
    sections: list[str] = []
    titles: list[str] = []
    for doc in read_documents(starter_library()):
        titles.append(doc.title)
        for p in doc.passages:
            sections.append(p.section)
            sentences.extend(s for s in _SENTENCE.findall(p.text) if len(s) > 6)
    out = folder / "generated"
    out.mkdir()
    docs = max(1, passages // PASSAGES_PER_DOC)
    regions = ["", "", "", "51", "5119", "511902"]
    for d in range(docs):
        lines = [f"# {rng.choice(titles)} 第{d + 1}号", f"date: {rng.randint(2015, 2020)}"]
        region = rng.choice(regions)
        if region:
            lines.append(f"region: {region}")
        for s in range(PASSAGES_PER_DOC):
            if s % 4 == 0:
                lines += ["", f"## {rng.choice(sections)}"]
            body = "".join(rng.sample(sentences, rng.randint(2, 4)))
            lines += ["", body]
        (out / f"doc{d:05d}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


@dataclass(frozen=True)
class Speed:
    passages: int
    build_s: float
    store_mb: float
    p50_ms: float
    p95_ms: float
    bare_p50_ms: float
    bare_p95_ms: float


def _size(folder: Path, pattern: str) -> int:
    return sum(p.stat().st_size for p in folder.glob(pattern))


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def speed(folder: Path, size: int, questions: Sequence[Question]) -> Speed:
    library = generate_library(folder, size)
    db = await Database.open(folder / "speed.db")
    try:
        await db.migrate()
        clock = SystemClock()
        await import_regions(db, clock, sample_file("regions.csv"), ACTOR)
        service = PolicyService(db, clock)
        started = time.perf_counter()
        result = await service.import_path(library, ACTOR)
        build = time.perf_counter() - started
        texts = [q.text for q in questions]
        plain_terms = [await _searched(service, db, text) for text in texts]
        for text in texts[:10]:  # warm the page cache for both paths alike
            await service.rank(VILLAGE_PATHS, text)
        ours: list[float] = []
        for _ in range(3):
            for text in texts:
                started = time.perf_counter()
                await service.rank(VILLAGE_PATHS, text)
                ours.append((time.perf_counter() - started) * 1000)
        passages = result.passages
    finally:
        await db.close()
    # The bare query: the same FTS5 terms, BM25 order, no scope, no re-ranking, no asyncio.
    conn = sqlite3.connect(folder / "speed.db")
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        expressions = [ps.match_expression(searched) for searched in plain_terms]
        expressions = [e for e in expressions if e]
        bare: list[float] = []
        for _ in range(3):
            for expression in expressions:
                started = time.perf_counter()
                conn.execute(
                    "SELECT rowid FROM policy_fts WHERE policy_fts MATCH ? ORDER BY rank LIMIT 3",
                    (expression,),
                ).fetchall()
                bare.append((time.perf_counter() - started) * 1000)
    finally:
        conn.close()
    store = await asyncio.to_thread(_size, folder, "speed.db*")
    return Speed(
        passages=passages,
        build_s=build,
        store_mb=store / 1e6,
        p50_ms=statistics.median(ours),
        p95_ms=_percentile(ours, 0.95),
        bare_p50_ms=statistics.median(bare),
        bare_p95_ms=_percentile(bare, 0.95),
    )


async def _searched(service: PolicyService, db: Database, text: str) -> list[str]:
    """The terms the service sends to FTS5 for a question (the bare query uses the same)."""
    terms = ps.all_terms(ps.concepts(text, service.vocabulary))
    df, total = await service.frequencies(terms)
    return ps.selective_terms(terms, df, total, service.weights)


def _ratio(value: float, base: float) -> str:
    return f"{value / base:.1f}x" if base else "-"


def table(held: Quality, tune: Quality, fast: Speed) -> str:
    offtopic = held.offtopic + tune.offtopic
    declined = (held.rejected * held.offtopic + tune.rejected * tune.offtopic) / max(1, offtopic)
    rows = [
        ("figure", "value", "baseline", "ratio", "target", "met?"),
        ("---",) * 6,
        (
            f"recall@1, held-out ({held.questions} questions)",
            f"{held.recall1:.2f}",
            f"tune split: {tune.recall1:.2f}",
            "-",
            "-",
            "-",
        ),
        (
            f"recall@3, held-out ({held.questions} questions)",
            f"{held.recall3:.2f}",
            f"tune split: {tune.recall3:.2f}",
            "-",
            f">= {TARGET_RECALL3}",
            "yes" if held.recall3 >= TARGET_RECALL3 else "no",
        ),
        (
            "held-out questions answered (above threshold)",
            f"{held.answered:.2f}",
            f"tune split: {tune.answered:.2f}",
            "-",
            "-",
            "-",
        ),
        (
            f"off-topic questions declined ({held.offtopic + tune.offtopic})",
            f"{declined:.2f}",
            "-",
            "-",
            "-",
            "-",
        ),
        (
            f"search p50, {fast.passages} passages (ms)",
            f"{fast.p50_ms:.2f}",
            f"bare FTS5 {fast.bare_p50_ms:.2f}",
            _ratio(fast.p50_ms, fast.bare_p50_ms),
            "-",
            "-",
        ),
        (
            f"search p95, {fast.passages} passages (ms)",
            f"{fast.p95_ms:.2f}",
            f"bare FTS5 {fast.bare_p95_ms:.2f}",
            _ratio(fast.p95_ms, fast.bare_p95_ms),
            f"< {TARGET_P95_MS:g}",
            "yes" if fast.p95_ms < TARGET_P95_MS else "no",
        ),
        ("index build (s)", f"{fast.build_s:.2f}", "-", "-", "-", "-"),
        ("store size (MB)", f"{fast.store_mb:.1f}", "-", "-", "-", "-"),
    ]
    return "\n".join("| " + " | ".join(r) + " |" for r in rows)


async def main_async(size: str, split: str, show_misses: bool) -> str:
    questions = load_questions()
    with tempfile.TemporaryDirectory(prefix="zhucun-policy-") as tmp:
        folder = Path(tmp)
        db = await starter_store(folder)
        try:
            service = PolicyService(db, SystemClock())
            held = await evaluate(service, questions, "heldout")
            tune = await evaluate(service, questions, "tune")
            chosen = {"heldout": held, "tune": tune}.get(split)
            if show_misses:
                for name, quality in ({split: chosen} if chosen else {"tune": tune}).items():
                    print(f"misses ({name}):", *quality.misses, sep="\n  ", file=sys.stderr)
        finally:
            await db.close()
        fast = await speed(folder, SIZES[size], questions)
    return table(held, tune, fast)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.policy")
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--split", choices=["tune", "heldout"], default="tune")
    parser.add_argument(
        "--misses", action="store_true", help="list the missed questions of --split (stderr)"
    )
    args = parser.parse_args(argv)
    print(asyncio.run(main_async(args.size, args.split, args.misses)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
