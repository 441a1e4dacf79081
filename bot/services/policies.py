"""The policy library: import documents, answer questions within scope, record unanswered ones.

Documents are Markdown or text files (design.md): the first ``# `` line is the title, optional
``issuer:``, ``date:`` and ``region:`` lines under it, ``## `` starts a section, and each
paragraph is a passage. A document is keyed by its title and region code, so re-importing a
changed file replaces that document's passages, and importing the same file again writes
nothing (the parsed content's digest is compared). An import is all or nothing: the first
malformed file stops it with ``<file>: line <n>: <reason>`` and nothing of any file is written.

Who sees what: national documents (no region) everyone; a regional document those whose
memberships lie at, below or above its region (a 水宁寺镇 member sees 巴中市 and 四川省
documents, not another province's); an admin everything. Out of scope answers as missing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from bot import policysearch as ps
from bot import scope
from bot.clock import Clock
from bot.errors import NotFound
from bot.models import Member, Role
from bot.scope import Capability
from storage import audit
from storage import policies as repo
from storage.db import Database

SUFFIXES = (".md", ".markdown", ".txt")
TITLE_MAX = 200
PASSAGE_MAX = 3000
QUESTION_MAX = 500
CANDIDATES = 20  # FTS5 candidates re-ranked per question
OVERFETCH = 2  # FTS5 results fetched per candidate, so out-of-scope ones can be dropped
ANSWERS = 3
ATTEMPTS = 3  # searches repeated when imports keep changing the library under one
OPERATOR_SYNONYMS = "policy_synonyms.toml"  # beside the store, optional
_META = re.compile(r"^\s*(issuer|date|region|发文机关|日期|地区)\s*[:：]\s*(.*)$", re.IGNORECASE)
_META_NAMES = {"发文机关": "issuer", "日期": "date", "地区": "region"}
_DATE = re.compile(r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$")


class PolicyFileError(Exception):
    """A refused file; ``str()`` is one line: ``<file>: line <n>: <reason>``."""

    def __init__(self, file: str, line: int, reason: str) -> None:
        self.file, self.line, self.reason = file, line, reason
        super().__init__(file, line, reason)

    def __str__(self) -> str:
        return f"{self.file}: line {self.line}: {self.reason}"


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ParsedPassage(_Value):
    section_no: int
    section: str
    text: str


class ParsedDocument(_Value):
    source: str
    title: str
    issuer: str | None = None
    issued: str | None = None
    region_code: str | None = None
    region_line: int = 0
    passages: tuple[ParsedPassage, ...]

    @property
    def doc_key(self) -> str:
        return f"{self.title}@{self.region_code or ''}"

    @property
    def digest(self) -> str:
        body = self.model_dump(exclude={"source", "region_line"})
        raw = json.dumps(body, ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()


class PolicyImportResult(_Value):
    created: int = 0
    replaced: int = 0
    unchanged: int = 0
    passages: int = 0  # passages written now


class PolicyHit(_Value):
    """One passage that answers a question, with where it comes from and what to make bold."""

    passage_id: int
    title: str
    section: str
    issuer: str | None
    issued: str | None
    region_name: str | None
    text: str
    spans: tuple[tuple[int, int], ...]
    score: float


class PolicyAnswer(_Value):
    question: str
    hits: tuple[PolicyHit, ...]
    recorded: bool = False  # no good match: the question went to the unanswered list


class PolicySection(_Value):
    title: str
    section: str
    issuer: str | None
    issued: str | None
    region_name: str | None
    passages: tuple[str, ...]


class UnansweredQuestion(_Value):
    id: int
    member_id: int
    member_name: str
    asked_at: datetime
    text: str


# --- parsing ------------------------------------------------------------------------------------


def _join(lines: Sequence[str]) -> str:
    """Lines of one paragraph: Chinese joins without a space, other text with one."""
    text = ""
    for line in lines:
        if text and not (_wide(text[-1]) or _wide(line[0])):
            text += " "
        text += line
    return text


def _wide(ch: str) -> bool:
    return ord(ch) > 0x2E7F


def parse_document(name: str, content: str) -> ParsedDocument:
    """One file's document; PolicyFileError names the line of the first problem."""
    lines = content.removeprefix("\ufeff").splitlines()
    number = 0
    while number < len(lines) and not lines[number].strip():
        number += 1
    if number == len(lines) or not lines[number].startswith("# "):
        raise PolicyFileError(name, number + 1 if number < len(lines) else 1, "no '# title' line")
    title = " ".join(lines[number][2:].split())
    if not title or len(title) > TITLE_MAX:
        raise PolicyFileError(name, number + 1, f"the title must be 1 to {TITLE_MAX} characters")
    meta: dict[str, tuple[str, int]] = {}
    passages: list[ParsedPassage] = []
    section, section_no, section_line = "", 0, 0
    section_has_text = True
    paragraph: list[str] = []
    in_header = True

    def flush() -> None:
        nonlocal section_has_text
        if paragraph:
            text = _join(paragraph)
            passages.append(ParsedPassage(section_no=section_no, section=section, text=text))
            section_has_text = True
            paragraph.clear()

    for index in range(number + 1, len(lines)):
        line_no = index + 1
        line = lines[index].strip()
        meta_match = _META.match(line) if in_header else None
        if meta_match:
            key = _META_NAMES.get(meta_match.group(1), meta_match.group(1).lower())
            if key in meta:
                raise PolicyFileError(name, line_no, f"'{key}' given twice")
            meta[key] = (meta_match.group(2).strip(), line_no)
            continue
        if not line:
            flush()
            continue
        in_header = False
        if line.startswith("#"):
            flush()
            heading = line.lstrip("#")
            level = len(line) - len(heading)
            if level == 1:
                raise PolicyFileError(name, line_no, "a second '# ' title; one document per file")
            if level != 2 or not heading.startswith(" ") or not heading.strip():
                raise PolicyFileError(name, line_no, "headings are '# title' and '## section'")
            if not section_has_text:
                raise PolicyFileError(name, section_line, f"section '{section}' has no text")
            section, section_no, section_line = heading.strip(), section_no + 1, line_no
            section_has_text = False
            continue
        paragraph.append(line)
        if len(_join(paragraph)) > PASSAGE_MAX:
            raise PolicyFileError(
                name, line_no, f"a paragraph longer than {PASSAGE_MAX} characters"
            )
    flush()
    if not section_has_text:
        raise PolicyFileError(name, section_line, f"section '{section}' has no text")
    if not passages:
        raise PolicyFileError(name, number + 1, "the document has no text")
    issued = meta.get("date", ("", 0))
    if issued[0] and not _DATE.match(issued[0]):
        raise PolicyFileError(
            name, issued[1], f"date '{issued[0]}' is not YYYY, YYYY-MM or YYYY-MM-DD"
        )
    region = meta.get("region", ("", 0))
    return ParsedDocument(
        source=name,
        title=title,
        issuer=meta.get("issuer", ("", 0))[0] or None,
        issued=issued[0] or None,
        region_code=region[0] or None,
        region_line=region[1],
        passages=tuple(passages),
    )


def policy_files(path: Path) -> list[Path]:
    """The file itself, or a folder's Markdown and text files (recursively, by name)."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
    return [path]


def read_documents(path: Path) -> list[ParsedDocument]:
    """Parse every file first, so a bad one stops the import before anything is written."""
    documents: list[ParsedDocument] = []
    seen: dict[str, str] = {}
    files = policy_files(path)
    if not files:
        raise PolicyFileError(path.name, 0, "no .md or .txt files")
    for file in files:
        try:
            content = file.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            line = file.read_bytes()[: exc.start].count(b"\n") + 1
            raise PolicyFileError(file.name, line, "not UTF-8 text") from None
        except OSError as exc:
            raise PolicyFileError(file.name, 0, exc.strerror or "cannot be read") from None
        document = parse_document(file.name, content)
        if document.doc_key in seen:
            raise PolicyFileError(
                file.name, 1, f"the same title and region as {seen[document.doc_key]}"
            )
        seen[document.doc_key] = file.name
        documents.append(document)
    return documents


def starter_library() -> Path:
    """The packaged starter library, as a real folder the importer can read."""
    return Path(str(resources.files("bot").joinpath("policydata")))


# --- the service --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Ranked:
    row: repo.PassageRow
    scored: ps.Scored


class PolicyService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        vocabulary: ps.Vocabulary | None = None,
        weights: ps.Weights = ps.DEFAULT_WEIGHTS,
    ) -> None:
        self._db = db
        self._clock = clock
        self.vocabulary = vocabulary or ps.load_vocabulary(db.path.parent / OPERATOR_SYNONYMS)
        self.weights = weights
        # Caches, emptied whenever the library's version changes (any import that writes).
        self._version = -1
        self._total = 0
        self._df: dict[str, int] = {}
        self._documents: dict[tuple[str, ...] | None, set[int]] = {}

    # --- import ---------------------------------------------------------------------------------

    async def import_path(self, path: Path, actor: str) -> PolicyImportResult:
        """Import a file or a folder (all or nothing); audited per document as ``import.*``."""
        documents = await asyncio.to_thread(read_documents, path)
        now = self._clock.now()
        created = replaced = unchanged = written = 0
        async with self._db.transaction() as tx:
            for doc in documents:
                if doc.region_code and not await repo.region_exists(tx, doc.region_code):
                    raise PolicyFileError(
                        doc.source, doc.region_line, f"unknown region code '{doc.region_code}'"
                    )
                existing = await repo.find_document(tx, doc.doc_key)
                if existing is not None and existing.digest == doc.digest:
                    unchanged += 1
                    continue
                document_id = await repo.save_document(
                    tx,
                    existing=existing,
                    doc_key=doc.doc_key,
                    title=doc.title,
                    issuer=doc.issuer,
                    issued=doc.issued,
                    region_code=doc.region_code,
                    source=doc.source,
                    digest=doc.digest,
                    at=now,
                    passages=[self._indexed(doc, i, p) for i, p in enumerate(doc.passages)],
                )
                written += len(doc.passages)
                after: dict[str, object] = {
                    "title": doc.title,
                    "region": doc.region_code,
                    "source": doc.source,
                    "passages": len(doc.passages),
                    "digest": doc.digest,
                }
                before = None
                if existing is not None:
                    before = {"passages": existing.passages, "digest": existing.digest}
                await audit.record(
                    tx,
                    at=now,
                    actor=actor,
                    action="import.update" if existing else "import.create",
                    entity="policy_document",
                    entity_id=document_id,
                    before=before,
                    after=after,
                )
                if existing is None:
                    created += 1
                else:
                    replaced += 1
            if written:
                await repo.bump_library(tx)
        return PolicyImportResult(
            created=created, replaced=replaced, unchanged=unchanged, passages=written
        )

    @staticmethod
    def _indexed(doc: ParsedDocument, position: int, p: ParsedPassage) -> repo.NewPassage:
        return repo.NewPassage(
            section_no=p.section_no,
            section=p.section,
            position=position,
            text=p.text,
            title_terms=ps.index_text(doc.title),
            section_terms=ps.index_text(p.section),
            body_terms=ps.index_text(p.text),
            uni_terms=ps.unigram_text(p.text),
        )

    # --- questions ------------------------------------------------------------------------------

    async def ask(
        self, actor: Member | None, question: str, source: tuple[int, int] | None = None
    ) -> PolicyAnswer:
        """Up to three passages that answer ``question``; none good enough: record it."""
        scope.require_capability(actor, Capability.READ)
        assert actor is not None
        text = " ".join(question.split())[:QUESTION_MAX]
        ranked = await self.rank(_paths(actor), text)
        hits = tuple(self._hit(r) for r in ranked[:ANSWERS])
        if hits and ps.confident(ranked[0].scored, self.weights):
            return PolicyAnswer(question=text, hits=hits)
        await self._record(actor, text, source)
        return PolicyAnswer(question=text, hits=(), recorded=True)

    async def rank(
        self, paths: repo.Paths, question: str, limit: int = CANDIDATES
    ) -> list[_Ranked]:
        """Every candidate passage for a question, best first (also used by the bench)."""
        found = ps.concepts(question, self.vocabulary)
        if not found:
            return []
        w = self.weights
        terms = ps.all_terms(found)
        for attempt in range(ATTEMPTS):
            last = attempt == ATTEMPTS - 1
            if self._version < 0:
                await self._refresh()
            df = await self._known(terms)
            searched = ps.search_terms(found, df, self._total, w)
            if not searched:
                # Nothing to ask for, per the cached frequencies: make sure they are current.
                if await self._refresh() and not last:
                    continue
                return []
            visible = await self._visible(paths)
            result = await repo.candidates(
                self._db,
                ps.match_expression(searched),
                (w.title, w.section, w.body, w.uni),
                limit * OVERFETCH,
            )
            # The candidates carry the library version they were read at: when an import wrote
            # since the caches were filled, start over with fresh ones (rarely more than once).
            if result.version == self._version or last:
                break
            self._reset(result.version, result.total)
        rows = [r for r in result.passages if r.document_id in visible][:limit]
        if not rows:
            return []
        scorer = ps.Scorer.of(found, [ps.concept_idf(c, df, self._total) for c in found], w)
        best_rank = rows[0].rank
        ranked = [
            _Ranked(row, scorer.score(row.text, f"{row.section} {row.title}", row.rank, best_rank))
            for row in rows
        ]
        ranked.sort(key=lambda r: (-r.scored.score, r.row.id))
        return ranked

    async def frequencies(self, terms: Sequence[str]) -> tuple[dict[str, int], int]:
        """Document frequencies of ``terms`` and the library's size (cached per library version)."""
        await self._refresh()
        return await self._known(terms), self._total

    async def _known(self, terms: Sequence[str]) -> dict[str, int]:
        """Document frequencies from the cache, asking the store only for terms not seen yet.

        The caller makes sure the cache belongs to the current library version.
        """
        missing = [t for t in terms if t not in self._df]
        if missing:
            found = await repo.document_frequencies(self._db, missing)
            for term in missing:
                self._df[term] = found.get(term, 0)
        return {t: self._df[t] for t in terms}

    async def _visible(self, paths: repo.Paths) -> set[int]:
        key = None if paths is None else tuple(sorted(paths))
        if key not in self._documents:
            self._documents[key] = await repo.visible_documents(self._db, paths)
        return self._documents[key]

    async def _refresh(self) -> bool:
        """Read the library's version; True (and the caches emptied) when it changed."""
        version, total = await repo.library_state(self._db)
        if version == self._version:
            return False
        self._reset(version, total)
        return True

    def _reset(self, version: int, total: int) -> None:
        self._version, self._total = version, total
        self._df.clear()
        self._documents.clear()

    @staticmethod
    def _hit(ranked: _Ranked) -> PolicyHit:
        row = ranked.row
        return PolicyHit(
            passage_id=row.id,
            title=row.title,
            section=row.section,
            issuer=row.issuer,
            issued=row.issued,
            region_name=row.region_name,
            text=row.text,
            spans=tuple(ps.highlight_spans(row.text, ranked.scored.matched)),
            score=round(ranked.scored.score, 4),
        )

    async def _record(self, actor: Member, text: str, source: tuple[int, int] | None) -> None:
        region = next((m.region_path for m in actor.memberships if m.region_path), None)
        async with self._db.transaction() as tx:
            await repo.add_unanswered(
                tx,
                member_id=actor.id,
                region_path=region,
                at=self._clock.now(),
                text=text,
                source=source,
            )

    async def section(self, actor: Member | None, passage_id: int) -> PolicySection:
        """The whole section a passage belongs to; NotFound outside the reader's documents."""
        scope.require_capability(actor, Capability.READ)
        assert actor is not None
        found = await repo.passage(self._db, passage_id, _paths(actor))
        if found is None:
            raise NotFound()
        rows = await repo.section(self._db, found.document_id, found.section_no)
        return PolicySection(
            title=found.title,
            section=found.section,
            issuer=found.issuer,
            issued=found.issued,
            region_name=found.region_name,
            passages=tuple(r.text for r in rows),
        )

    # --- unanswered questions (for /review) -----------------------------------------------------

    async def unanswered(self, actor: Member | None) -> list[UnansweredQuestion]:
        """Open questions asked inside the actor's REVIEW scope, oldest first."""
        scope.require_capability(actor, Capability.REVIEW)
        rows = await repo.open_unanswered(self._db, scope.roots(actor, Capability.REVIEW))
        return [
            UnansweredQuestion(
                id=r.id,
                member_id=r.member_id,
                member_name=r.member_name,
                asked_at=r.asked_at,
                text=r.text,
            )
            for r in rows
        ]

    async def mark_answered(self, actor: Member | None, question_id: int) -> None:
        """Take a question off the list (audited); NotFound when missing or out of scope."""
        scope.require_capability(actor, Capability.REVIEW)
        assert actor is not None
        found = await repo.get_unanswered(self._db, question_id)
        if found is None or found.answered_at is not None or not _reviews(actor, found):
            raise NotFound()
        now = self._clock.now()
        async with self._db.transaction() as tx:
            if not await repo.mark_answered(tx, question_id, actor.id, now):
                raise NotFound()
            await audit.record(
                tx,
                at=now,
                actor=audit.member_actor(actor.id),
                action="policy.answered",
                entity="policy_question",
                entity_id=question_id,
                after={"text": found.text},
            )


def _paths(actor: Member) -> tuple[str, ...] | None:
    """The reader's region paths for document visibility; None (everything) for an admin."""
    if any(m.role is Role.ADMIN for m in actor.memberships):
        return None
    return tuple(m.region_path for m in actor.memberships if m.region_path)


def _reviews(actor: Member, question: repo.UnansweredRow) -> bool:
    roots = scope.roots(actor, Capability.REVIEW)
    if roots is None:
        return True
    path = question.region_path
    return path is not None and any(path.startswith(root) for root in roots)
