"""Absences: duty trips (公务外出) and leave requests (请假), one row per source message."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime

from bot.attendance import Absence, AbsenceKind, Approval, Source
from storage.db import Database, Writer


def _model(row: sqlite3.Row) -> Absence:
    return Absence.model_validate(dict(row))


async def insert(
    tx: Writer,
    *,
    member_id: int,
    kind: AbsenceKind,
    from_day: date,
    to_day: date,
    reason: str,
    approval: Approval | None,
    source: Source,
    created_at: datetime,
) -> int | None:
    """Add an absence; None when its source message already made one (a re-delivery)."""
    rows = await tx.fetchall(
        "INSERT INTO absences (member_id, kind, from_day, to_day, reason, approval,"
        " source_chat_id, source_message_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (source_chat_id, source_message_id) DO NOTHING RETURNING id",
        (
            member_id,
            kind.value,
            from_day.isoformat(),
            to_day.isoformat(),
            reason,
            approval.value if approval else None,
            source.chat_id,
            source.message_id,
            created_at.isoformat(),
        ),
    )
    return int(rows[0]["id"]) if rows else None


async def get(db: Database, absence_id: int) -> Absence | None:
    row = await db.fetchone("SELECT * FROM absences WHERE id = ?", (absence_id,))
    return _model(row) if row else None


async def tx_by_source(tx: Writer, source: Source) -> Absence | None:
    row = await tx.fetchone(
        "SELECT * FROM absences WHERE source_chat_id = ? AND source_message_id = ?",
        (source.chat_id, source.message_id),
    )
    return _model(row) if row else None


async def by_source(db: Database, source: Source) -> Absence | None:
    row = await db.fetchone(
        "SELECT * FROM absences WHERE source_chat_id = ? AND source_message_id = ?",
        (source.chat_id, source.message_id),
    )
    return _model(row) if row else None


async def overlapping(db: Database, member_id: int, first: date, last: date) -> list[Absence]:
    """A member's absences touching the days ``first`` … ``last``, oldest first."""
    rows = await db.fetchall(
        "SELECT * FROM absences WHERE member_id = ? AND from_day <= ? AND to_day >= ?"
        " ORDER BY from_day, id",
        (member_id, last.isoformat(), first.isoformat()),
    )
    return [_model(row) for row in rows]
