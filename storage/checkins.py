"""Check-ins (签到): one row per source message."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime
from typing import Any

from bot.attendance import CheckIn, Source, Unverified
from bot.models import Region
from storage.db import Database, Writer

SELECT = (
    "SELECT c.*, r.name AS village_name, r.radius_m AS village_radius_m"
    " FROM checkins c JOIN regions r ON r.code = c.village_code"
)


def _model(row: sqlite3.Row) -> CheckIn:
    return model_from(dict(row))


def model_from(data: dict[str, Any]) -> CheckIn:
    """A check-in from its row's columns (joined reads add their own columns and pass the rest)."""
    data = dict(data)
    for flag in ("verified", "live"):
        data[flag] = bool(data[flag])
    if data["in_fence"] is not None:
        data["in_fence"] = bool(data["in_fence"])
    return CheckIn.model_validate(data)


async def insert(
    tx: Writer,
    *,
    member_id: int,
    village: Region,
    at: datetime,
    day: date,
    lat: float | None,
    lon: float | None,
    accuracy_m: float | None,
    distance_m: float | None,
    in_fence: bool | None,
    reason: Unverified | None,
    note: str | None,
    live: bool,
    source: Source,
    created_at: datetime,
) -> CheckIn | None:
    """Add a check-in in ``village`` (as read); None when its source message already made one
    (a re-delivery). The row comes back from the INSERT itself (``RETURNING *``), with the
    village's name and radius as :data:`SELECT` would join them."""
    rows = await tx.fetchall(
        "INSERT INTO checkins (member_id, village_code, at, day, lat, lon, accuracy_m,"
        " distance_m, in_fence, verified, reason, note, live, source_chat_id, source_message_id,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (source_chat_id, source_message_id) DO NOTHING RETURNING *",
        (
            member_id,
            village.code,
            at.isoformat(),
            day.isoformat(),
            lat,
            lon,
            accuracy_m,
            distance_m,
            None if in_fence is None else int(in_fence),
            int(reason is None),
            reason.value if reason else None,
            note,
            int(live),
            source.chat_id,
            source.message_id,
            created_at.isoformat(),
        ),
    )
    if not rows:
        return None
    data: dict[str, Any] = dict(rows[0])
    data.update(village_name=village.name, village_radius_m=village.radius_m)
    return model_from(data)


async def refine(
    tx: Writer,
    checkin_id: int,
    *,
    lat: float,
    lon: float,
    accuracy_m: float | None,
    distance_m: float | None,
    in_fence: bool | None,
    reason: Unverified | None,
    updated_at: datetime,
) -> None:
    """A later fix of a live location replaces the position and what follows from it."""
    await tx.execute(
        "UPDATE checkins SET lat = ?, lon = ?, accuracy_m = ?, distance_m = ?, in_fence = ?,"
        " verified = ?, reason = ?, updated_at = ? WHERE id = ?",
        (
            lat,
            lon,
            accuracy_m,
            distance_m,
            None if in_fence is None else int(in_fence),
            int(reason is None),
            reason.value if reason else None,
            updated_at.isoformat(),
            checkin_id,
        ),
    )


async def get(db: Database, checkin_id: int) -> CheckIn | None:
    row = await db.fetchone(f"{SELECT} WHERE c.id = ?", (checkin_id,))
    return _model(row) if row else None


async def tx_get(tx: Writer, checkin_id: int) -> CheckIn | None:
    row = await tx.fetchone(f"{SELECT} WHERE c.id = ?", (checkin_id,))
    return _model(row) if row else None


async def by_source(db: Database, source: Source) -> CheckIn | None:
    row = await db.fetchone(
        f"{SELECT} WHERE c.source_chat_id = ? AND c.source_message_id = ?",
        (source.chat_id, source.message_id),
    )
    return _model(row) if row else None


async def tx_by_source(tx: Writer, source: Source) -> CheckIn | None:
    row = await tx.fetchone(
        f"{SELECT} WHERE c.source_chat_id = ? AND c.source_message_id = ?",
        (source.chat_id, source.message_id),
    )
    return _model(row) if row else None


async def for_member(db: Database, member_id: int, first: date, last: date) -> list[CheckIn]:
    """A member's check-ins on the days ``first`` … ``last``, oldest first."""
    rows = await db.fetchall(
        f"{SELECT} WHERE c.member_id = ? AND c.day BETWEEN ? AND ? ORDER BY c.at, c.id",
        (member_id, first.isoformat(), last.isoformat()),
    )
    return [_model(row) for row in rows]
