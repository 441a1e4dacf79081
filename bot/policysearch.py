"""Text analysis for the policy library: index terms, query concepts, synonyms, scoring.

SQLite's FTS5 cannot segment Chinese (its default tokenizer keeps a run of Han characters as one
token; its trigram tokenizer misses two-character words such as 低保), so the terms are made
here and handed to FTS5 as space-separated words: every character bigram of a Han run, ASCII
words and numbers as they are, and separately every single Han character (the ``uni`` column,
searched only for a one-character word that is left over, such as 钱 after the synonyms).

A question becomes :class:`Concept`\\ s: a synonym key found in it (with what the documents call
it), or a word of the remaining text. Search asks FTS5 (BM25) for candidates with the rarest
term of each phrase (:func:`search_terms`: FTS5's time grows with the passages it has to score,
so the terms are the ones that find the telling passages with the fewest postings), then
:class:`Scorer` ranks them by how much of the question they cover, weighted by how rare each
concept is in the library. No SQL and no Telegram here.
"""

from __future__ import annotations

import math
import re
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

SEPARATOR = "|"
_HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUN = re.compile(rf"[{_HAN}]+|[a-z0-9]+")
_HAN_RUN = re.compile(rf"[{_HAN}]+")
# A trailing 不 turns a statement into a yes/no question in Sichuan speech: 贷款要抵押不.
_TRAILING_BU = re.compile(rf"不(?=$|[^{_HAN}a-z0-9])")


# Full-width ASCII and the ideographic space, each mapped to what NFKC makes of it.
_WIDE = {chr(cp): unicodedata.normalize("NFKC", chr(cp)) for cp in range(0xFF01, 0xFF5F)}
_WIDE["\u3000"] = " "
_WIDE_RUN = re.compile("[\uff01-\uff5e\u3000]")


def _narrow(match: re.Match[str]) -> str:
    return _WIDE[match.group()]


def normalize(text: str) -> str:
    """Full-width to half-width and lower case (NFKC), so 'Ｃ级' and 'c级' are the same word.

    Exactly NFKC, but about four times faster on policy text, where it runs on every candidate
    passage of every search: the full-width punctuation (，：（）) in nearly every Chinese
    paragraph makes NFKC's quick check fail and normalize the whole text character by character.
    Replacing those characters first (by their own NFKC form, so the result cannot differ) leaves
    most texts already normalized, which the quick check confirms without rebuilding them.
    """
    narrowed = _WIDE_RUN.sub(_narrow, text)
    if not unicodedata.is_normalized("NFKC", narrowed):
        narrowed = unicodedata.normalize("NFKC", narrowed)
    return narrowed.lower()


def _is_han(ch: str) -> bool:
    return bool(_HAN_RUN.fullmatch(ch))


def bigrams(run: str) -> list[str]:
    """``低保金`` → ``[低保, 保金]``; a single character stays itself."""
    if len(run) < 2:
        return [run] if run else []
    return [run[i : i + 2] for i in range(len(run) - 1)]


def terms_of(phrase: str) -> list[str]:
    """The index terms a phrase is made of (Han bigrams, ASCII words and numbers)."""
    found: list[str] = []
    for run in _RUN.findall(normalize(phrase)):
        found.extend(bigrams(run) if _is_han(run[0]) else [run])
    return found


def index_text(text: str) -> str:
    """What FTS5 indexes for a text: its terms, space-separated."""
    return " ".join(terms_of(text))


def unigram_text(text: str) -> str:
    """Every Han character of a text, space-separated (the ``uni`` column)."""
    return " ".join(ch for ch in normalize(text) if _is_han(ch))


# --- vocabulary: stop words and synonyms --------------------------------------------------------


@dataclass(frozen=True)
class Vocabulary:
    """Question words to drop and synonyms to add; built from package data plus an operator file."""

    stop_phrases: tuple[str, ...]
    stop_chars: frozenset[str]
    synonyms: Mapping[str, tuple[str, ...]]
    keys: tuple[str, ...] = field(default=())  # synonym keys, longest first

    @classmethod
    def build(
        cls,
        stop_phrases: Iterable[str],
        stop_chars: Iterable[str],
        synonyms: Mapping[str, Sequence[str]],
    ) -> Vocabulary:
        chars = frozenset(ch for ch in "".join(stop_chars) if not ch.isspace())
        phrases = tuple(sorted({normalize(p) for p in stop_phrases if p}, key=len, reverse=True))
        cleaned: dict[str, tuple[str, ...]] = {}
        for key, words in synonyms.items():
            # Keys are matched after the stop characters are gone, so clean them the same way.
            clean = "".join(ch for ch in normalize(key) if ch not in chars) or normalize(key)
            merged = [*cleaned.get(clean, ()), *(normalize(w) for w in words)]
            cleaned[clean] = tuple(dict.fromkeys(w for w in merged if w))
        keys = tuple(sorted(cleaned, key=len, reverse=True))
        return cls(phrases, chars, cleaned, keys)

    def extended(self, other: Mapping[str, object]) -> Vocabulary:
        """This vocabulary plus the entries of a parsed TOML file of the same layout."""
        stop_phrases, stop_chars, synonyms = _sections(other)
        merged: dict[str, list[str]] = {k: list(v) for k, v in self.synonyms.items()}
        for key, words in synonyms.items():
            merged.setdefault(normalize(key), []).extend(words)
        return Vocabulary.build(
            [*self.stop_phrases, *stop_phrases], "".join(self.stop_chars) + stop_chars, merged
        )


class VocabularyError(ValueError):
    """A synonyms file that is not laid out as the packaged one."""


def _sections(data: Mapping[str, object]) -> tuple[list[str], str, dict[str, list[str]]]:
    stop = data.get("stop", {})
    synonyms = data.get("synonyms", {})
    if not isinstance(stop, dict) or not isinstance(synonyms, dict):
        raise VocabularyError("[stop] and [synonyms] must be tables")
    phrases = stop.get("phrases", [])
    chars = stop.get("chars", "")
    if not isinstance(phrases, list) or not all(isinstance(p, str) for p in phrases):
        raise VocabularyError("stop.phrases must be a list of strings")
    if not isinstance(chars, str):
        raise VocabularyError("stop.chars must be a string")
    table: dict[str, list[str]] = {}
    for key, words in synonyms.items():
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise VocabularyError(f"synonyms.{key} must be a list of strings")
        table[str(key)] = list(words)
    return list(phrases), chars, table


def load_vocabulary(extra: Path | None = None) -> Vocabulary:
    """The packaged synonyms and stop words, plus ``extra`` (an operator's file) when it exists."""
    packaged = resources.files("bot").joinpath("policydata", "synonyms.toml")
    data = tomllib.loads(packaged.read_text(encoding="utf-8"))
    vocabulary = Vocabulary.build(*_sections(data))
    if extra is not None and extra.is_file():
        try:
            operator = tomllib.loads(extra.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise VocabularyError(f"{extra.name}: {exc}") from exc
        vocabulary = vocabulary.extended(operator)
    return vocabulary


# --- questions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Concept:
    """One thing the question asks about: any of ``phrases`` in a passage counts as covering it."""

    phrases: tuple[str, ...]
    synonym: bool = False  # found through the synonym table

    @property
    def terms(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t for p in self.phrases for t in terms_of(p)))


def strip_question(text: str, vocabulary: Vocabulary) -> str:
    """The question without question words and particles; removed words leave a separator."""
    value = _TRAILING_BU.sub(SEPARATOR, normalize(text))
    for phrase in vocabulary.stop_phrases:
        value = value.replace(phrase, SEPARATOR)
    return "".join(ch for ch in value if ch not in vocabulary.stop_chars)


def concepts(text: str, vocabulary: Vocabulary) -> list[Concept]:
    """What a question asks about, synonym keys first (longest key wins), then the rest."""
    value = strip_question(text, vocabulary)
    found: list[Concept] = []
    for key in vocabulary.keys:
        if key in value:
            found.append(Concept((key, *vocabulary.synonyms[key]), synonym=True))
            value = value.replace(key, SEPARATOR)
    for run in _RUN.findall(value):
        if _is_han(run[0]):
            found.extend(Concept((gram,)) for gram in bigrams(run))
        else:
            found.append(Concept((run,)))
    unique: dict[tuple[str, ...], Concept] = {}
    for concept in found:
        unique.setdefault(concept.phrases, concept)
    return list(unique.values())


def match_expression(terms: Iterable[str]) -> str:
    """An FTS5 query for any of ``terms``; single characters only in the ``uni`` column."""
    parts: list[str] = []
    for term in dict.fromkeys(terms):
        quoted = '"' + term.replace('"', '""') + '"'
        parts.append(f"uni : {quoted}" if len(term) == 1 and _is_han(term) else quoted)
    return " OR ".join(parts)


def all_terms(found: Sequence[Concept]) -> list[str]:
    """Every index term of every concept, in order."""
    return list(dict.fromkeys(t for c in found for t in c.terms))


def phrase_terms(found: Sequence[Concept], df: Mapping[str, int]) -> list[str]:
    """Each phrase's rarest index term, and nothing for a phrase the library cannot hold.

    Every passage holding a phrase holds all of its terms, so its rarest term alone finds every
    such passage; the phrase's other terms only add passages that share a fragment of it
    (职业 of 中等职业教育), which FTS5 would have to score and the re-ranking then drops. A
    phrase with a term no passage has is in no passage at all.
    """
    chosen: list[str] = []
    for concept in found:
        for phrase in concept.phrases:
            counts = [(df.get(t, 0), t) for t in terms_of(phrase)]
            if counts and min(counts)[0] > 0:
                chosen.append(min(counts)[1])
    return list(dict.fromkeys(chosen))


def search_terms(
    found: Sequence[Concept], df: Mapping[str, int], total: int, w: Weights
) -> list[str]:
    """What FTS5 is asked for: the rarest term of each phrase, the selective ones among them."""
    return selective_terms(phrase_terms(found, df), df, total, w)


def selective_terms(
    terms: Sequence[str], df: Mapping[str, int], total: int, w: Weights
) -> list[str]:
    """The terms worth asking FTS5 for: known to the library, not too common, the rarest first,
    and no more than keep the postings searched within ``w.budget`` of the library.

    FTS5 computes BM25 for every passage that has any of the terms (about 2 µs each at 10,000
    passages, most of a search's time), and a common term adds many passages but little to their
    rank; so common terms are left to the re-ranking, which still counts them on the candidates.
    """
    known = sorted((df[t], t) for t in terms if df.get(t, 0) > 0)
    limit = max(1, int(total * w.common))
    chosen = [t for n, t in known if n <= limit][: w.max_terms]
    if not chosen:
        return [t for _, t in known[: w.min_terms]]
    budget = total * w.budget
    postings = 0
    for count, (n, _) in enumerate(known[: len(chosen)]):
        postings += n
        if count >= w.min_terms and postings > budget:
            return chosen[:count]
    return chosen


# --- ranking ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Weights:
    """The ranking's knobs, tuned on the tune split of bench/policy_questions.toml."""

    title: float = 2.0  # FTS5 column weights for bm25()
    section: float = 3.0
    body: float = 1.0
    uni: float = 0.3
    heading_bonus: float = 0.5  # a concept found in the section or document title counts more
    synonym: float = 0.8  # a concept found only through a synonym counts a little less
    bm25: float = 0.15  # how much FTS5's own rank adds to coverage
    min_cover: float = 0.32  # the best passage must cover this share of the question ...
    min_weight: float = 2.0  # ... and at least this much rare-word weight
    unknown: float = 2.0  # weight of a question word the library does not know
    common: float = 0.10  # terms in more than this share of passages are not searched for
    max_terms: int = 10  # at most this many (the rarest) terms go to FTS5
    min_terms: int = 2  # when every term is common, search for the rarest few anyway
    budget: float = 0.3  # postings of the searched terms, as a share of the passages (≥ min_terms)


DEFAULT_WEIGHTS = Weights()


def idf(df: int, total: int) -> float:
    """BM25's inverse document frequency (never negative)."""
    return math.log(1 + (total - df + 0.5) / (df + 0.5))


def concept_idf(concept: Concept, df: Mapping[str, int], total: int) -> float:
    """How telling a concept is: its rarest phrase's weight; 0 when nothing in the library has it.

    A phrase's document frequency is estimated by its least frequent term.
    """
    best = 0.0
    for phrase in concept.phrases:
        counts = [df.get(t, 0) for t in terms_of(phrase)]
        if counts and min(counts) > 0:
            best = max(best, idf(min(counts), total))
    return best


@dataclass(frozen=True)
class Scored:
    score: float
    cover: float  # share of the question's weight the passage covers
    weight: float  # the covered weight itself
    matched: tuple[str, ...]  # phrases found in the passage (for bold)


@dataclass(frozen=True)
class Scorer:
    """A question's concepts and weights, prepared once per search for scoring each candidate.

    Everything that depends only on the question (which concepts count, the total weight) is
    worked out here, so the per-candidate loop only looks for phrases in the passage.
    """

    concepts: tuple[tuple[tuple[str, ...], float, bool], ...]  # (phrases, weight, via synonym)
    total: float
    w: Weights

    @classmethod
    def of(
        cls, found: Sequence[Concept], weights_by_concept: Sequence[float], w: Weights
    ) -> Scorer:
        # A word of the question the library never uses still counts against coverage a little:
        # "电视信号不好" must not be answered because one passage mentions 电视.
        unknown = sum(1 for x in weights_by_concept if x <= 0)
        total = (sum(weights_by_concept) + w.unknown * unknown) or 1.0
        known = tuple(
            (c.phrases, x, c.synonym)
            for c, x in zip(found, weights_by_concept, strict=True)
            if x > 0
        )
        return cls(known, total, w)

    def score(self, body: str, heading: str, rank: float, best_rank: float) -> Scored:
        """Coverage of the question by one passage, plus a little of FTS5's BM25 rank."""
        w = self.w
        text, head = normalize(body), normalize(heading)
        covered = 0.0
        matched: list[str] = []
        for phrases, weight, synonym in self.concepts:
            in_body = [p for p in phrases if p in text]
            in_head = any(p in head for p in phrases)
            if not in_body and not in_head:
                continue
            share = weight * (w.synonym if synonym and phrases[0] not in text else 1)
            covered += share + (w.heading_bonus * weight if in_head else 0.0)
            matched.extend(in_body)
        cover = covered / self.total
        relative = rank / best_rank if best_rank < 0 else 0.0  # bm25() is negative, best lowest
        return Scored(cover + w.bm25 * relative, cover, covered, tuple(matched))


def score(
    found: Sequence[Concept],
    weights_by_concept: Sequence[float],
    body: str,
    heading: str,
    rank: float,
    best_rank: float,
    w: Weights = DEFAULT_WEIGHTS,
) -> Scored:
    """Coverage of the question by one passage (see :class:`Scorer`, which search uses)."""
    return Scorer.of(found, weights_by_concept, w).score(body, heading, rank, best_rank)


def confident(best: Scored, w: Weights = DEFAULT_WEIGHTS) -> bool:
    """Whether the best passage answers the question well enough to show."""
    return best.cover >= w.min_cover and best.weight >= w.min_weight


def highlight_spans(text: str, phrases: Iterable[str]) -> list[tuple[int, int]]:
    """Character spans of ``text`` where any phrase occurs, merged and in order."""
    lowered = normalize(text)
    if len(lowered) != len(text):  # NFKC changed the length: find on the text as it is
        lowered = text.lower()
    spans: list[tuple[int, int]] = []
    for phrase in {p for p in phrases if p}:
        start = lowered.find(phrase)
        while start >= 0:
            spans.append((start, start + len(phrase)))
            start = lowered.find(phrase, start + 1)
    spans.sort()
    merged: list[tuple[int, int]] = []
    for begin, end in spans:
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((begin, end))
    return merged


# --- free text ----------------------------------------------------------------------------------

QUESTION_WORDS = (
    "怎么", "多少", "吗", "能不能", "咋", "啥", "哪个", "哪些", "哪里", "什么", "如何", "怎样",
    "是否", "可不可以", "有没有", "要不要", "会不会", "算不算", "为什么", "好多钱", "几块",
)  # fmt: skip
_QUESTION_END = re.compile(r"[?？]\s*$")


def looks_like_question(text: str) -> bool:
    """design.md's rule for free text: it ends in ？/? or has a question word (or a final 不)."""
    value = normalize(text).strip()
    if not value:
        return False
    if _QUESTION_END.search(value) or any(word in value for word in QUESTION_WORDS):
        return True
    return bool(re.search(rf"[{_HAN}]不\W*$", value))
