"""Reads and writes of households, joined to their village so scope is decided on the path.

Search keys (the head's name in pinyin) are derived here, on every write of ``head_name``, so the
search never converts thousands of names per query.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from pypinyin import Style, pinyin

from bot.models import Household, HouseholdStatus
from bot.pinyin_keys import normalize, usual_syllables
from storage.db import Database, Writer
from storage.scopes import Roots, path_filter

SELECT = (
    "SELECT h.*, r.path AS village_path, r.name AS village_name"
    " FROM households h JOIN regions r ON r.code = h.village_code"
)
# Stored columns that are not part of the model.
_INTERNAL = ("head_pinyin", "head_initials", "source_chat_id", "source_message_id")
# Readings of the first character (the surname) kept per name: 单 has dan, chan and shan.
MAX_SURNAME_READINGS = 4


def to_model(row: sqlite3.Row) -> Household:
    data: dict[str, Any] = dict(row)
    for name in _INTERNAL:
        data.pop(name, None)
    data["causes"] = tuple(json.loads(data["causes"]))
    data["local"] = bool(data["local"])
    return Household.model_validate(data)


# --- search keys ------------------------------------------------------------------------------


def _is_han(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff"


def has_han(text: str) -> bool:
    return any(_is_han(ch) for ch in text)


@dataclass(frozen=True)
class NameKeys:
    """A name's full pinyin and initials, one variant per reading of its surname."""

    pinyin: tuple[str, ...]
    initials: tuple[str, ...]


@cache
def _readings(han: str) -> tuple[str, ...]:
    """Every reading of one character; a county's surnames are a few hundred characters, and
    asking pypinyin for them again per name was a third of an import's key derivation."""
    return tuple(pinyin(han, style=Style.NORMAL, heteronym=True)[0])


def name_keys(name: str) -> NameKeys:
    """``曾德华`` → pinyin (cengdehua, zengdehua), initials (cdh, zdh); the usual reading first."""
    text = normalize(name)
    if not text:
        return NameKeys((), ())
    usual = usual_syllables(text)
    firsts: list[str] = [usual[0]] if usual else []
    if _is_han(text[0]):
        for reading in _readings(text[0]):
            if reading not in firsts and len(firsts) < MAX_SURNAME_READINGS:
                firsts.append(reading)
    rest = usual[1:]
    full = tuple(dict.fromkeys("".join([first, *rest]) for first in firsts))
    initials = tuple(dict.fromkeys("".join(s[0] for s in [first, *rest]) for first in firsts))
    return NameKeys(full, initials)


def key_columns(head_name: str) -> dict[str, str]:
    """The stored search columns for a head's name."""
    keys = name_keys(head_name)
    return {"head_pinyin": " ".join(keys.pinyin), "head_initials": " ".join(keys.initials)}


class SearchKeys:
    """``key_columns`` once per distinct name of one import (names repeat across a county)."""

    def __init__(self) -> None:
        self._known: dict[str, tuple[str, str]] = {}

    def of(self, head_name: str) -> tuple[str, str]:
        """``(head_pinyin, head_initials)``."""
        keys = self._known.get(head_name)
        if keys is None:
            columns = key_columns(head_name)
            keys = self._known[head_name] = (columns["head_pinyin"], columns["head_initials"])
        return keys


@dataclass(frozen=True)
class SearchRow:
    """What ranking needs of one household, without building the whole model."""

    id: int
    registry_no: str
    head_name: str
    pinyin: tuple[str, ...]
    initials: tuple[str, ...]


async def search_rows(db: Database, roots: Roots) -> list[SearchRow]:
    """Every household under ``roots``, slim, for ranking in Python."""
    clause, params = path_filter("r.path", roots)
    rows = await db.fetchall(
        "SELECT h.id, h.registry_no, h.head_name, h.head_pinyin, h.head_initials"
        f" FROM households h JOIN regions r ON r.code = h.village_code WHERE {clause}",
        params,
    )
    found: list[SearchRow] = []
    for row in rows:
        if row["head_pinyin"] is None:  # written before keys existed and not yet backfilled
            keys = name_keys(row["head_name"])
            spelled, initials = keys.pinyin, keys.initials
        else:
            spelled = tuple(row["head_pinyin"].split())
            initials = tuple(row["head_initials"].split())
        found.append(SearchRow(row["id"], row["registry_no"], row["head_name"], spelled, initials))
    return found


async def has_unkeyed(db: Database) -> bool:
    row = await db.fetchone("SELECT 1 FROM households WHERE head_pinyin IS NULL LIMIT 1")
    return row is not None


async def fill_keys(tx: Writer) -> int:
    """Compute the search keys of every household that has none; return how many."""
    rows = await tx.fetchall("SELECT id, head_name FROM households WHERE head_pinyin IS NULL")
    await tx.executemany(
        "UPDATE households SET head_pinyin = ?, head_initials = ? WHERE id = ?",
        (
            (cols["head_pinyin"], cols["head_initials"], row["id"])
            for row in rows
            for cols in (key_columns(row["head_name"]),)
        ),
    )
    return len(rows)


# --- reads ------------------------------------------------------------------------------------


async def get(db: Database, household_id: int) -> Household | None:
    row = await db.fetchone(f"{SELECT} WHERE h.id = ?", (household_id,))
    return to_model(row) if row else None


async def get_many(db: Database, ids: Sequence[int]) -> list[Household]:
    """Households by id, in the order of ``ids``; missing ones are left out."""
    if not ids:
        return []
    marks = ", ".join("?" * len(ids))
    rows = await db.fetchall(f"{SELECT} WHERE h.id IN ({marks})", list(ids))
    by_id = {row["id"]: to_model(row) for row in rows}
    return [by_id[i] for i in ids if i in by_id]


async def by_registry_no(db: Database, registry_no: str) -> Household | None:
    row = await db.fetchone(f"{SELECT} WHERE h.registry_no = ?", (registry_no,))
    return to_model(row) if row else None


async def in_roots(db: Database, roots: Roots) -> list[Household]:
    clause, params = path_filter("r.path", roots)
    rows = await db.fetchall(f"{SELECT} WHERE {clause} ORDER BY h.registry_no", params)
    return [to_model(row) for row in rows]


async def count(db: Database) -> int:
    row = await db.fetchone("SELECT count(*) AS n FROM households")
    return int(row["n"]) if row else 0


# --- writes (inside the caller's transaction) -------------------------------------------------


async def tx_get(tx: Writer, household_id: int) -> Household | None:
    row = await tx.fetchone(f"{SELECT} WHERE h.id = ?", (household_id,))
    return to_model(row) if row else None


async def tx_by_source(tx: Writer, chat_id: int, message_id: int) -> Household | None:
    row = await tx.fetchone(
        f"{SELECT} WHERE h.source_chat_id = ? AND h.source_message_id = ?", (chat_id, message_id)
    )
    return to_model(row) if row else None


async def local_numbers(tx: Writer, village_code: str, prefix: str) -> list[str]:
    """Registry numbers of the village that start with ``prefix`` (local numbers)."""
    rows = await tx.fetchall(
        "SELECT registry_no FROM households WHERE village_code = ?"
        " AND substr(registry_no, 1, length(?)) = ?",
        (village_code, prefix, prefix),
    )
    return [str(row["registry_no"]) for row in rows]


async def insert_local(
    tx: Writer,
    *,
    registry_no: str,
    village_code: str,
    head_name: str,
    size: int,
    status: HouseholdStatus,
    source: tuple[int, int] | None,
) -> int:
    """A household added in the bot (``local``); return its id."""
    keys = key_columns(head_name)
    return await tx.execute(
        "INSERT INTO households (registry_no, village_code, head_name, size, status, local,"
        " head_pinyin, head_initials, source_chat_id, source_message_id)"
        " VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?)",
        (
            registry_no,
            village_code,
            head_name,
            size,
            status.value,
            keys["head_pinyin"],
            keys["head_initials"],
            source[0] if source else None,
            source[1] if source else None,
        ),
    )


async def set_status(tx: Writer, household_id: int, status: HouseholdStatus) -> None:
    await tx.execute("UPDATE households SET status = ? WHERE id = ?", (status.value, household_id))
