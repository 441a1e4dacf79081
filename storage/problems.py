"""Problem reports (报问题) and their events; the township leaders a village's alerts go to."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime
from typing import Any

from bot.fieldwork import OPEN_STATUSES, Category, Problem, ProblemStatus, Severity
from bot.models import Member
from storage import members as member_repo
from storage.db import Database, Writer
from storage.visits import utc

SELECT = (
    "SELECT p.*, r.name AS village_name, r.path AS village_path,"
    " h.head_name AS household_name, m.name AS reporter_name,"
    " (SELECT count(*) FROM files f WHERE f.problem_id = p.id) AS files"
    " FROM problems p JOIN regions r ON r.code = p.village_code"
    " LEFT JOIN households h ON h.id = p.household_id JOIN members m ON m.id = p.reporter_id"
)
_OPEN = ", ".join(f"'{s.value}'" for s in OPEN_STATUSES)


def model(row: sqlite3.Row) -> Problem:
    """A problem from a row of :data:`SELECT` (for other repositories' joined reads)."""
    return _model(row)


def _model(row: sqlite3.Row) -> Problem:
    data: dict[str, Any] = dict(row)
    data["voided"] = bool(data["voided"])
    return Problem.model_validate(data)


async def insert(
    tx: Writer,
    *,
    village_code: str,
    household_id: int | None,
    reporter_id: int,
    category: Category,
    severity: Severity,
    description: str,
    due_day: date,
    source: tuple[int, int],
    created_at: datetime,
) -> int | None:
    """Add a problem; None when its source already made one (a re-delivery)."""
    rows = await tx.fetchall(
        "INSERT INTO problems (village_code, household_id, reporter_id, category, severity,"
        " description, due_day, source_chat_id, source_message_id, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (source_chat_id, source_message_id) DO NOTHING RETURNING id",
        (
            village_code,
            household_id,
            reporter_id,
            category.value,
            severity.value,
            description,
            due_day.isoformat(),
            *source,
            utc(created_at),
        ),
    )
    return int(rows[0]["id"]) if rows else None


async def add_event(
    tx: Writer,
    problem_id: int,
    *,
    at: datetime,
    actor: str,
    kind: str,
    status: ProblemStatus | None = None,
    note: str | None = None,
) -> None:
    await tx.execute(
        "INSERT INTO problem_events (problem_id, at, actor, kind, status, note)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (problem_id, utc(at), actor, kind, status.value if status else None, note),
    )


async def events(db: Database, problem_id: int) -> list[tuple[str, str | None]]:
    """(kind, status) of each event of a problem, oldest first."""
    rows = await db.fetchall(
        "SELECT kind, status FROM problem_events WHERE problem_id = ? ORDER BY id", (problem_id,)
    )
    return [(str(row["kind"]), row["status"]) for row in rows]


async def get(db: Database, problem_id: int) -> Problem | None:
    row = await db.fetchone(f"{SELECT} WHERE p.id = ?", (problem_id,))
    return _model(row) if row else None


async def tx_get(tx: Writer, problem_id: int) -> Problem | None:
    row = await tx.fetchone(f"{SELECT} WHERE p.id = ?", (problem_id,))
    return _model(row) if row else None


async def tx_by_source(tx: Writer, chat_id: int, message_id: int) -> Problem | None:
    row = await tx.fetchone(
        f"{SELECT} WHERE p.source_chat_id = ? AND p.source_message_id = ?", (chat_id, message_id)
    )
    return _model(row) if row else None


async def open_for_household(db: Database, household_id: int) -> list[Problem]:
    rows = await db.fetchall(
        f"{SELECT} WHERE p.household_id = ? AND p.voided = 0 AND p.status IN ({_OPEN})"
        " ORDER BY p.due_day, p.id",
        (household_id,),
    )
    return [_model(row) for row in rows]


async def by_reporter_created(
    db: Database, member_id: int, since: datetime, until: datetime
) -> list[Problem]:
    rows = await db.fetchall(
        f"{SELECT} WHERE p.reporter_id = ? AND p.voided = 0 AND p.created_at >= ?"
        " AND p.created_at < ? ORDER BY p.id",
        (member_id, utc(since), utc(until)),
    )
    return [_model(row) for row in rows]


async def set_description(tx: Writer, problem_id: int, text: str, at: datetime) -> None:
    await tx.execute(
        "UPDATE problems SET description = ?, updated_at = ? WHERE id = ?",
        (text, utc(at), problem_id),
    )


async def void(tx: Writer, problem_id: int, at: datetime) -> None:
    await tx.execute(
        "UPDATE problems SET voided = 1, updated_at = ? WHERE id = ?", (utc(at), problem_id)
    )


async def township_leaders(db: Database, village_path: str) -> list[Member]:
    """Active members holding a township membership whose township contains the village."""
    rows = await db.fetchall(
        "SELECT DISTINCT m.* FROM members m JOIN memberships ms ON ms.member_id = m.id"
        " JOIN regions r ON r.code = ms.region_code"
        " WHERE ms.role = 'township' AND m.active = 1"
        " AND substr(?, 1, length(r.path)) = r.path ORDER BY m.id",
        (village_path,),
    )
    ids = [int(row["id"]) for row in rows]
    found = [await member_repo.get(db, member_id) for member_id in ids]
    return [m for m in found if m is not None]
