"""Reads and writes of the policy library and of unanswered questions (the only SQL for them).

Index terms come from the caller (:mod:`bot.policysearch`); this module stores them in the FTS5
table ``policy_fts`` (rowid = passage id) and asks it for BM25-ranked candidates within the
documents a reader may see.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage.db import Database, Writer
from storage.scopes import Roots, path_filter

# None means "every document" (an admin); otherwise the reader's region paths.
Paths = Sequence[str] | None


@dataclass(frozen=True)
class StoredDocument:
    id: int
    doc_key: str
    digest: str
    passages: int


@dataclass(frozen=True)
class NewPassage:
    section_no: int
    section: str
    position: int
    text: str
    title_terms: str
    section_terms: str
    body_terms: str
    uni_terms: str


@dataclass(frozen=True)
class PassageRow:
    id: int
    document_id: int
    section_no: int
    section: str
    position: int
    text: str
    title: str
    issuer: str | None
    issued: str | None
    region_code: str | None
    region_name: str | None
    rank: float = 0.0


@dataclass(frozen=True)
class UnansweredRow:
    id: int
    member_id: int
    member_name: str
    region_path: str | None
    asked_at: datetime
    text: str
    answered_at: datetime | None


# In PassageRow's field order (rank last), so a row becomes a PassageRow without a dict.
_PASSAGE = (
    "SELECT p.id, p.document_id, p.section_no, p.section, p.position, p.text,"
    " d.title, d.issuer, d.issued, d.region_code, r.name AS region_name"
)
_FROM = (
    " FROM policy_passages p JOIN policy_documents d ON d.id = p.document_id"
    " LEFT JOIN regions r ON r.code = d.region_code"
)


def _visible(paths: Paths) -> tuple[str, list[Any]]:
    """Documents a reader with these region paths sees: national ones, and those whose region is
    an ancestor of, equal to, or inside one of the paths."""
    if paths is None:
        return "1", []
    clauses = ["d.region_code IS NULL"]
    params: list[Any] = []
    for path in paths:
        clauses.append("substr(?, 1, length(r.path)) = r.path")
        clauses.append("substr(r.path, 1, length(?)) = ?")
        params += [path, path, path]
    return "(" + " OR ".join(clauses) + ")", params


def _passage(row: sqlite3.Row, rank: float = 0.0) -> PassageRow:
    data = dict(row) | {"rank": rank}
    return PassageRow(**{k: data[k] for k in PassageRow.__dataclass_fields__})


# --- documents --------------------------------------------------------------------------------


async def region_exists(tx: Writer, code: str) -> bool:
    return await tx.fetchone("SELECT 1 FROM regions WHERE code = ?", (code,)) is not None


async def find_document(tx: Writer, doc_key: str) -> StoredDocument | None:
    row = await tx.fetchone(
        "SELECT d.id, d.doc_key, d.digest,"
        " (SELECT count(*) FROM policy_passages p WHERE p.document_id = d.id) AS passages"
        " FROM policy_documents d WHERE d.doc_key = ?",
        (doc_key,),
    )
    return StoredDocument(**dict(row)) if row else None


async def save_document(
    tx: Writer,
    *,
    existing: StoredDocument | None,
    doc_key: str,
    title: str,
    issuer: str | None,
    issued: str | None,
    region_code: str | None,
    source: str,
    digest: str,
    at: datetime,
    passages: Sequence[NewPassage],
) -> int:
    """Create the document or replace its metadata and every passage (and their index rows)."""
    values = (title, issuer, issued, region_code, source, digest, at.isoformat())
    if existing is None:
        document_id = await tx.execute(
            "INSERT INTO policy_documents"
            " (title, issuer, issued, region_code, source, digest, imported_at, doc_key)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (*values, doc_key),
        )
    else:
        document_id = existing.id
        await tx.execute(
            "DELETE FROM policy_fts WHERE rowid IN"
            " (SELECT id FROM policy_passages WHERE document_id = ?)",
            (document_id,),
        )
        await tx.execute("DELETE FROM policy_passages WHERE document_id = ?", (document_id,))
        await tx.execute(
            "UPDATE policy_documents SET title = ?, issuer = ?, issued = ?, region_code = ?,"
            " source = ?, digest = ?, imported_at = ? WHERE id = ?",
            (*values, document_id),
        )
    for p in passages:
        passage_id = await tx.execute(
            "INSERT INTO policy_passages (document_id, section_no, section, position, text)"
            " VALUES (?, ?, ?, ?, ?)",
            (document_id, p.section_no, p.section, p.position, p.text),
        )
        await tx.execute(
            "INSERT INTO policy_fts (rowid, title, section, body, uni) VALUES (?, ?, ?, ?, ?)",
            (passage_id, p.title_terms, p.section_terms, p.body_terms, p.uni_terms),
        )
    return document_id


async def document_count(db: Database) -> int:
    row = await db.fetchone("SELECT count(*) AS n FROM policy_documents")
    return int(row["n"]) if row else 0


# --- search -----------------------------------------------------------------------------------


async def document_frequencies(db: Database, terms: Sequence[str]) -> dict[str, int]:
    """How many passages hold each term (any column)."""
    if not terms:
        return {}
    marks = ", ".join("?" for _ in terms)
    rows = await db.fetchall(
        f"SELECT term, doc FROM policy_vocab WHERE term IN ({marks})", list(terms)
    )
    return {str(row["term"]): int(row["doc"]) for row in rows}


async def library_state(db: Database) -> tuple[int, int]:
    """(version, passages): the version changes with every import that writes."""
    row = await db.fetchone("SELECT version, total FROM policy_library WHERE id = 1")
    return (int(row["version"]), int(row["total"])) if row else (0, 0)


async def bump_library(tx: Writer) -> None:
    await tx.execute(
        "UPDATE policy_library SET version = version + 1,"
        " total = (SELECT count(*) FROM policy_passages) WHERE id = 1"
    )


async def visible_documents(db: Database, paths: Paths) -> set[int]:
    """Ids of the documents readers with these region paths may see."""
    visible, params = _visible(paths)
    rows = await db.fetchall(
        "SELECT d.id FROM policy_documents d LEFT JOIN regions r ON r.code = d.region_code"
        f" WHERE {visible}",
        params,
    )
    return {int(row["id"]) for row in rows}


@dataclass(frozen=True)
class Candidates:
    """A search's best passages and the library state they were read in (one snapshot)."""

    version: int
    total: int  # passages in the library
    passages: list[PassageRow]  # best BM25 first


# The FTS5 query keeps only its best ``limit`` rows (BM25 has to be computed for every match
# anyway; LIMIT keeps the sort small), then those few are joined to their passages and documents.
# The library row is the outer side of a LEFT JOIN so its version comes back even when nothing
# matches: the caller checks its cached frequencies against it without another statement.
_CANDIDATES = (
    "SELECT l.version, l.total, c.* FROM policy_library l LEFT JOIN ("
    f"{_PASSAGE}, h.rank"
    " FROM (SELECT rowid AS id, bm25(policy_fts, ?, ?, ?, ?) AS rank FROM policy_fts"
    "       WHERE policy_fts MATCH ? ORDER BY rank LIMIT ?) h"
    " JOIN policy_passages p ON p.id = h.id JOIN policy_documents d ON d.id = p.document_id"
    " LEFT JOIN regions r ON r.code = d.region_code"
    ") c ON 1 WHERE l.id = 1 ORDER BY c.rank, c.id"
)


async def candidates(
    db: Database, match: str, weights: tuple[float, float, float, float], limit: int
) -> Candidates:
    """The best ``limit`` passages for an FTS5 query with their documents, in one statement.

    One statement instead of three (library version, ranked ids, passages): each statement is a
    round trip to the reader's thread (0.2 to 0.4 ms here), and a search made five of them.
    """
    rows = await db.fetchall(_CANDIDATES, [*weights, match, limit])
    if not rows:  # only when the library row is missing (a store before its migration)
        return Candidates(0, 0, [])
    first = rows[0]
    found = [PassageRow(*row[2:]) for row in rows if row["id"] is not None]
    return Candidates(int(first["version"]), int(first["total"]), found)


async def passage(db: Database, passage_id: int, paths: Paths) -> PassageRow | None:
    visible, params = _visible(paths)
    row = await db.fetchone(
        f"{_PASSAGE}{_FROM} WHERE p.id = ? AND {visible}", [passage_id, *params]
    )
    return _passage(row) if row else None


async def section(db: Database, document_id: int, section_no: int) -> list[PassageRow]:
    rows = await db.fetchall(
        f"{_PASSAGE}{_FROM} WHERE p.document_id = ? AND p.section_no = ? ORDER BY p.position",
        (document_id, section_no),
    )
    return [_passage(row) for row in rows]


# --- unanswered questions ---------------------------------------------------------------------


async def add_unanswered(
    tx: Writer,
    *,
    member_id: int,
    region_path: str | None,
    at: datetime,
    text: str,
    source: tuple[int, int] | None,
) -> int | None:
    """Record a question; None when its source message was recorded already (a re-delivery)."""
    chat, message = source if source else (None, None)
    if source is not None:
        seen = await tx.fetchone(
            "SELECT id FROM policy_unanswered WHERE source_chat_id = ? AND source_message_id = ?",
            (chat, message),
        )
        if seen is not None:
            return None
    return await tx.execute(
        "INSERT INTO policy_unanswered"
        " (member_id, region_path, asked_at, text, source_chat_id, source_message_id)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (member_id, region_path, at.isoformat(), text, chat, message),
    )


_UNANSWERED = (
    "SELECT q.id, q.member_id, m.name AS member_name, q.region_path, q.asked_at, q.text,"
    " q.answered_at FROM policy_unanswered q JOIN members m ON m.id = q.member_id"
)


def _unanswered(row: sqlite3.Row) -> UnansweredRow:
    data = dict(row)
    data["asked_at"] = datetime.fromisoformat(data["asked_at"])
    if data["answered_at"] is not None:
        data["answered_at"] = datetime.fromisoformat(data["answered_at"])
    return UnansweredRow(**data)


async def open_unanswered(db: Database, roots: Roots) -> list[UnansweredRow]:
    """Questions not yet answered, asked by members inside ``roots``, oldest first."""
    clause, params = path_filter("q.region_path", roots)
    rows = await db.fetchall(
        f"{_UNANSWERED} WHERE q.answered_at IS NULL AND {clause} ORDER BY q.asked_at, q.id",
        params,
    )
    return [_unanswered(row) for row in rows]


async def get_unanswered(db: Database, question_id: int) -> UnansweredRow | None:
    row = await db.fetchone(f"{_UNANSWERED} WHERE q.id = ?", (question_id,))
    return _unanswered(row) if row else None


async def mark_answered(tx: Writer, question_id: int, member_id: int, at: datetime) -> int:
    return await tx.execute_rowcount(
        "UPDATE policy_unanswered SET answered_at = ?, answered_by = ?"
        " WHERE id = ? AND answered_at IS NULL",
        (at.isoformat(), member_id, question_id),
    )
