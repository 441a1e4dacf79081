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
    household: Household,
    member_id: int,
    member_name: str,
    visit_day: date,
    visited_at: datetime,
    backdated: bool,
    text: str,
    observations: Mapping[str, Guarantee],
    follow_up_day: date | None,
    one_line: bool,
    source: tuple[int, int],
    created_at: datetime,
) -> Visit | None:
    """Add a visit of ``household`` (its village, as read); None when its source message
    already made one (a re-delivery).

    The row comes back from the INSERT itself (``RETURNING *``), completed with the names the
    caller already holds, as :data:`SELECT` would join them: no files are attached yet.
    """
    columns = [item for item in GUARANTEE_ITEMS]
    rows = await tx.fetchall(
        "INSERT INTO visits (household_id, village_code, member_id, visit_day, visited_at,"
        f" backdated, text, {', '.join(columns)}, follow_up_day, one_line, source_chat_id,"
        " source_message_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?,"
        f" {', '.join('?' for _ in columns)}, ?, ?, ?, ?, ?)"
        " ON CONFLICT (source_chat_id, source_message_id) DO NOTHING RETURNING *",
        (
            household.id,
            household.village_code,
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
    if not rows:
        return None
    data: dict[str, Any] = dict(rows[0])
    data.update(
        household_name=household.head_name,
        registry_no=household.registry_no,
        village_name=household.village_name,
        village_path=household.village_path,
        member_name=member_name,
        files=0,
    )
    for flag in ("backdated", "one_line", "voided"):
        data[flag] = bool(data[flag])
    return Visit.model_validate(data)


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
    and its last visit time is the latest standing visit's (one statement).

    The full recount, for edits and voids; a new visit takes :func:`refresh_after_insert`."""
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


# The last visit time after one more standing visit: the later of the two (NULL: none before).
_LAST_VISIT = (
    "last_visit_at = CASE WHEN last_visit_at IS NULL OR last_visit_at < ? THEN ?"
    " ELSE last_visit_at END"
)


async def refresh_after_insert(
    tx: Writer,
    household_id: int,
    *,
    visit_day: date,
    visited_at: datetime,
    observations: Mapping[str, Guarantee],
) -> None:
    """What :func:`refresh_household` would do after one new standing visit, without scanning
    the household's visits (call it in the transaction that inserted the visit).

    Every change to a household's visits is followed by a refresh, so before the insert each
    item already follows the latest standing visit that observed it, and ``last_visit_at`` is
    the latest ``visited_at``. The new visit has the largest id, so it is the latest by
    (``visit_day``, ``id``) unless a standing visit has a later day (it was backdated behind
    one): then only the items it observed change, to its states. Otherwise — an observing visit
    backdated behind another — the full recount decides. Items it did not observe keep their
    latest observer either way, and the last visit time is the later of the two in any case.
    """
    stamp = utc(visited_at)
    if not observations:
        await tx.execute(
            f"UPDATE households SET {_LAST_VISIT} WHERE id = ?", (stamp, stamp, household_id)
        )
        return
    items = [item for item in GUARANTEE_ITEMS if item in observations]
    updated = await tx.fetchall(
        f"UPDATE households SET {', '.join(f'{item} = ?' for item in items)}, {_LAST_VISIT}"
        " WHERE id = ? AND NOT EXISTS (SELECT 1 FROM visits WHERE household_id = ?"
        " AND voided = 0 AND visit_day > ?) RETURNING id",
        (
            *(observations[item].value for item in items),
            stamp,
            stamp,
            household_id,
            household_id,
            visit_day.isoformat(),
        ),
    )
    if not updated:
        await refresh_household(tx, household_id)


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
