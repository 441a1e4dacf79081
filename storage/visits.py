"""Household visits (走访): one row per source message, the household's guarantees and coverage."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from bot.fieldwork import Visit
from bot.models import GUARANTEE_ITEMS, Guarantee, Household
from storage.db import Database, Writer
from storage.households import SELECT as HOUSEHOLD_SELECT
from storage.households import to_model as household_model
from storage.scopes import Roots, path_filter

SELECT = (
    "SELECT v.*, h.head_name AS household_name, h.registry_no AS registry_no,"
    " r.name AS village_name, r.path AS village_path, m.name AS member_name,"
    " (SELECT count(*) FROM files f WHERE f.visit_id = v.id) AS files"
    " FROM visits v JOIN households h ON h.id = v.household_id"
    " JOIN regions r ON r.code = v.village_code JOIN members m ON m.id = v.member_id"
)


def utc(moment: datetime) -> str:
    """Times are stored in UTC so that their text sorts in time order."""
    return moment.astimezone(UTC).isoformat()


def _model(row: sqlite3.Row) -> Visit:
    data: dict[str, Any] = dict(row)
    for flag in ("backdated", "one_line", "voided"):
        data[flag] = bool(data[flag])
    return Visit.model_validate(data)


async def insert(
    tx: Writer,
    *,
    household_id: int,
    village_code: str,
    member_id: int,
    visit_day: date,
    visited_at: datetime,
    backdated: bool,
    text: str,
    observations: Mapping[str, Guarantee],
    follow_up_day: date | None,
    one_line: bool,
    source: tuple[int, int],
    created_at: datetime,
) -> int | None:
    """Add a visit; None when its source message already made one (a re-delivery)."""
    columns = [item for item in GUARANTEE_ITEMS]
    rows = await tx.fetchall(
        "INSERT INTO visits (household_id, village_code, member_id, visit_day, visited_at,"
        f" backdated, text, {', '.join(columns)}, follow_up_day, one_line, source_chat_id,"
        " source_message_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?,"
        f" {', '.join('?' for _ in columns)}, ?, ?, ?, ?, ?)"
        " ON CONFLICT (source_chat_id, source_message_id) DO NOTHING RETURNING id",
        (
            household_id,
            village_code,
            member_id,
            visit_day.isoformat(),
            utc(visited_at),
            int(backdated),
            text,
            *(observations[c].value if c in observations else None for c in columns),
            follow_up_day.isoformat() if follow_up_day else None,
            int(one_line),
            *source,
            utc(created_at),
        ),
    )
    return int(rows[0]["id"]) if rows else None


async def get(db: Database, visit_id: int) -> Visit | None:
    row = await db.fetchone(f"{SELECT} WHERE v.id = ?", (visit_id,))
    return _model(row) if row else None


async def tx_get(tx: Writer, visit_id: int) -> Visit | None:
    row = await tx.fetchone(f"{SELECT} WHERE v.id = ?", (visit_id,))
    return _model(row) if row else None


async def by_source(db: Database, chat_id: int, message_id: int) -> Visit | None:
    row = await db.fetchone(
        f"{SELECT} WHERE v.source_chat_id = ? AND v.source_message_id = ?", (chat_id, message_id)
    )
    return _model(row) if row else None


async def tx_by_source(tx: Writer, chat_id: int, message_id: int) -> Visit | None:
    row = await tx.fetchone(
        f"{SELECT} WHERE v.source_chat_id = ? AND v.source_message_id = ?", (chat_id, message_id)
    )
    return _model(row) if row else None


async def latest_for_household(db: Database, household_id: int, limit: int) -> list[Visit]:
    """The household's last visits that stand (not voided), newest first."""
    rows = await db.fetchall(
        f"{SELECT} WHERE v.household_id = ? AND v.voided = 0"
        " ORDER BY v.visit_day DESC, v.id DESC LIMIT ?",
        (household_id, limit),
    )
    return [_model(row) for row in rows]


async def by_member_created(
    db: Database, member_id: int, since: datetime, until: datetime
) -> list[Visit]:
    """A member's visits entered in [since, until), oldest first."""
    rows = await db.fetchall(
        f"{SELECT} WHERE v.member_id = ? AND v.voided = 0 AND v.created_at >= ?"
        " AND v.created_at < ? ORDER BY v.id",
        (member_id, utc(since), utc(until)),
    )
    return [_model(row) for row in rows]


async def set_text(
    tx: Writer,
    visit_id: int,
    *,
    text: str,
    visit_day: date | None = None,
    visited_at: datetime | None = None,
    backdated: bool | None = None,
    updated_at: datetime,
) -> None:
    await tx.execute(
        "UPDATE visits SET text = ?, visit_day = COALESCE(?, visit_day),"
        " visited_at = COALESCE(?, visited_at), backdated = COALESCE(?, backdated),"
        " updated_at = ? WHERE id = ?",
        (
            text,
            visit_day.isoformat() if visit_day else None,
            utc(visited_at) if visited_at else None,
            None if backdated is None else int(backdated),
            utc(updated_at),
            visit_id,
        ),
    )


async def void(tx: Writer, visit_id: int, updated_at: datetime) -> None:
    await tx.execute(
        "UPDATE visits SET voided = 1, updated_at = ? WHERE id = ?", (utc(updated_at), visit_id)
    )


async def refresh_household(tx: Writer, household_id: int) -> None:
    """The household's guarantees follow its latest standing visit that observed each item,
    and its last visit time is the latest standing visit's (one statement)."""
    latest = (
        "(SELECT {item} FROM visits WHERE household_id = ? AND voided = 0 AND {item} IS NOT NULL"
        " ORDER BY visit_day DESC, id DESC LIMIT 1)"
    )
    items = ", ".join(
        f"{item} = COALESCE({latest.format(item=item)}, {item})" for item in GUARANTEE_ITEMS
    )
    await tx.execute(
        f"UPDATE households SET {items}, last_visit_at = (SELECT max(visited_at) FROM visits"
        " WHERE household_id = ? AND voided = 0) WHERE id = ?",
        [household_id] * (len(GUARANTEE_ITEMS) + 2),
    )


async def not_covered(
    db: Database, roots: Roots, since: datetime, limit: int
) -> tuple[list[Household], int]:
    """Households under ``roots`` not visited since ``since``, never visited first, then oldest;
    at most ``limit`` of them, and how many there are in all."""
    clause, params = path_filter("r.path", roots)
    where = f"{clause} AND (h.last_visit_at IS NULL OR h.last_visit_at < ?)"
    params = [*params, utc(since)]
    count = await db.fetchone(
        "SELECT count(*) AS n FROM households h JOIN regions r ON r.code = h.village_code"
        f" WHERE {where}",
        params,
    )
    rows = await db.fetchall(
        f"{HOUSEHOLD_SELECT} WHERE {where}"
        " ORDER BY h.last_visit_at IS NOT NULL, h.last_visit_at, h.registry_no LIMIT ?",
        [*params, limit],
    )
    return [household_model(row) for row in rows], int(count["n"]) if count else 0
