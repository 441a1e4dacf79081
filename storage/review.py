"""The township's review queues: open problems, check-ins to decide, leave to approve.

Every decision is a conditional UPDATE on the state the reviewer saw, so that a second press (or
a colleague's earlier one) changes nothing and the service can say so.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from bot.attendance import Absence, Approval, CheckIn, Decision
from bot.fieldwork import OPEN_STATUSES, Problem, ProblemStatus
from bot.models import Frozen, Member
from storage import checkins as checkin_repo
from storage import members as member_repo
from storage import problems as problem_repo
from storage.db import Database, Writer
from storage.scopes import Roots, path_filter
from storage.visits import utc

_OPEN = ", ".join(f"'{s.value}'" for s in OPEN_STATUSES)
# Urgent first, then the oldest report first.
_PROBLEM_ORDER = "ORDER BY (p.severity = 'urgent') DESC, p.created_at, p.id"
# Check-ins the township must look at: not verified, or outside (or without) the geofence.
_DOUBTFUL = "c.decision IS NULL AND (c.verified = 0 OR c.in_fence IS NOT 1)"


class ProblemEvent(Frozen):
    id: int
    at: datetime
    actor: str
    kind: str
    status: str | None
    note: str | None


class CheckInItem(Frozen):
    checkin: CheckIn
    member_name: str
    village_path: str


class AbsenceItem(Frozen):
    absence: Absence
    member_name: str


# --- problems ------------------------------------------------------------------------------------


async def count_open_problems(db: Database, roots: Roots) -> int:
    clause, params = path_filter("r.path", roots)
    row = await db.fetchone(
        "SELECT count(*) AS n FROM problems p JOIN regions r ON r.code = p.village_code"
        f" WHERE p.voided = 0 AND p.status IN ({_OPEN}) AND {clause}",
        params,
    )
    return int(row["n"]) if row else 0


async def open_problems(db: Database, roots: Roots, *, limit: int, offset: int) -> list[Problem]:
    """Open problems inside the subtrees, urgent first, then oldest first."""
    clause, params = path_filter("r.path", roots)
    rows = await db.fetchall(
        f"{problem_repo.SELECT} WHERE p.voided = 0 AND p.status IN ({_OPEN}) AND {clause}"
        f" {_PROBLEM_ORDER} LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )
    return [problem_repo.model(row) for row in rows]


async def set_problem(
    tx: Writer,
    problem_id: int,
    *,
    expected: ProblemStatus,
    status: ProblemStatus,
    at: datetime,
    assignee_id: int | None = None,
    resolution: str | None = None,
) -> bool:
    """Move a problem on from ``expected``; False when its status is no longer that."""
    changed = await tx.execute_rowcount(
        "UPDATE problems SET status = ?, updated_at = ?,"
        " assignee_id = coalesce(?, assignee_id), resolution = coalesce(?, resolution)"
        " WHERE id = ? AND status = ? AND voided = 0",
        (status.value, utc(at), assignee_id, resolution, problem_id, expected.value),
    )
    return changed == 1


async def assign(tx: Writer, problem_id: int, assignee_id: int, at: datetime) -> bool:
    """Set the assignee of an open problem; False when closed or already this assignee."""
    changed = await tx.execute_rowcount(
        f"UPDATE problems SET assignee_id = ?, updated_at = ? WHERE id = ? AND voided = 0"
        f" AND status IN ({_OPEN}) AND assignee_id IS NOT ?",
        (assignee_id, utc(at), problem_id, assignee_id),
    )
    return changed == 1


async def add_event(
    tx: Writer,
    problem_id: int,
    *,
    at: datetime,
    actor: str,
    kind: str,
    status: ProblemStatus | None = None,
    note: str | None = None,
) -> int:
    """Append a problem event; return its id (the name of the notice it causes)."""
    return await tx.execute(
        "INSERT INTO problem_events (problem_id, at, actor, kind, status, note)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (problem_id, utc(at), actor, kind, status.value if status else None, note),
    )


async def events(db: Database, problem_id: int) -> list[ProblemEvent]:
    rows = await db.fetchall(
        "SELECT id, at, actor, kind, status, note FROM problem_events WHERE problem_id = ?"
        " ORDER BY id",
        (problem_id,),
    )
    return [ProblemEvent.model_validate(dict(row)) for row in rows]


async def last_event(db: Database, problem_id: int, kind: str) -> ProblemEvent | None:
    row = await db.fetchone(
        "SELECT id, at, actor, kind, status, note FROM problem_events"
        " WHERE problem_id = ? AND kind = ? ORDER BY id DESC LIMIT 1",
        (problem_id, kind),
    )
    return ProblemEvent.model_validate(dict(row)) if row else None


async def village_team(db: Database, village_code: str) -> list[Member]:
    """Active members holding a village role in the village, by name."""
    rows = await db.fetchall(
        "SELECT DISTINCT m.* FROM members m JOIN memberships ms ON ms.member_id = m.id"
        " WHERE ms.region_code = ? AND ms.role IN ('member', 'cadre', 'secretary')"
        " AND m.active = 1 ORDER BY m.name, m.id",
        (village_code,),
    )
    found = [await member_repo.get(db, int(row["id"])) for row in rows]
    return [m for m in found if m is not None]


async def county_leaders(db: Database, village_path: str) -> list[Member]:
    """Active members holding a county membership whose county contains the village."""
    rows = await db.fetchall(
        "SELECT DISTINCT m.id FROM members m JOIN memberships ms ON ms.member_id = m.id"
        " JOIN regions r ON r.code = ms.region_code"
        " WHERE ms.role = 'county' AND m.active = 1"
        " AND substr(?, 1, length(r.path)) = r.path ORDER BY m.id",
        (village_path,),
    )
    found = [await member_repo.get(db, int(row["id"])) for row in rows]
    return [m for m in found if m is not None]


# --- check-ins -----------------------------------------------------------------------------------

_CHECKINS = (
    "SELECT c.*, r.name AS village_name, r.radius_m AS village_radius_m,"
    " r.path AS village_path, m.name AS member_name"
    " FROM checkins c JOIN regions r ON r.code = c.village_code"
    " JOIN members m ON m.id = c.member_id"
)


def _checkin_item(row: sqlite3.Row) -> CheckInItem:
    data: dict[str, Any] = dict(row)
    path, name = data.pop("village_path"), data.pop("member_name")
    return CheckInItem(checkin=checkin_repo.model_from(data), member_name=name, village_path=path)


async def count_doubtful_checkins(db: Database, roots: Roots) -> int:
    clause, params = path_filter("r.path", roots)
    row = await db.fetchone(
        "SELECT count(*) AS n FROM checkins c JOIN regions r ON r.code = c.village_code"
        f" JOIN members m ON m.id = c.member_id WHERE m.active = 1 AND {_DOUBTFUL} AND {clause}",
        params,
    )
    return int(row["n"]) if row else 0


async def doubtful_checkins(
    db: Database, roots: Roots, *, limit: int, offset: int
) -> list[CheckInItem]:
    """Undecided check-ins that are unverified or outside the fence, oldest first."""
    clause, params = path_filter("r.path", roots)
    rows = await db.fetchall(
        f"{_CHECKINS} WHERE m.active = 1 AND {_DOUBTFUL} AND {clause}"
        " ORDER BY c.day, c.at, c.id LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )
    return [_checkin_item(row) for row in rows]


async def checkin(db: Database, checkin_id: int) -> CheckInItem | None:
    row = await db.fetchone(f"{_CHECKINS} WHERE c.id = ?", (checkin_id,))
    return _checkin_item(row) if row else None


async def decide_checkin(
    tx: Writer, checkin_id: int, decision: Decision, by: int, at: datetime
) -> bool:
    """Record the township's word; False when the check-in was already decided."""
    changed = await tx.execute_rowcount(
        "UPDATE checkins SET decision = ?, decided_by = ?, decided_at = ?"
        " WHERE id = ? AND decision IS NULL",
        (decision.value, by, at.isoformat(), checkin_id),
    )
    return changed == 1


# --- leave ---------------------------------------------------------------------------------------

_LEAVE = "a.kind = 'leave' AND a.approval = 'pending'"


def _in_scope(roots: Roots) -> tuple[str, list[Any]]:
    """Absences of members holding a membership inside the subtrees."""
    clause, params = path_filter("r.path", roots)
    return (
        "a.member_id IN (SELECT ms.member_id FROM memberships ms"
        f" LEFT JOIN regions r ON r.code = ms.region_code WHERE {clause})",
        params,
    )


async def count_pending_leave(db: Database, roots: Roots) -> int:
    scoped, params = _in_scope(roots)
    row = await db.fetchone(
        "SELECT count(*) AS n FROM absences a JOIN members m ON m.id = a.member_id"
        f" WHERE m.active = 1 AND {_LEAVE} AND {scoped}",
        params,
    )
    return int(row["n"]) if row else 0


async def pending_leave(
    db: Database, roots: Roots, *, limit: int, offset: int
) -> list[AbsenceItem]:
    scoped, params = _in_scope(roots)
    rows = await db.fetchall(
        "SELECT a.*, m.name AS member_name FROM absences a JOIN members m ON m.id = a.member_id"
        f" WHERE m.active = 1 AND {_LEAVE} AND {scoped}"
        " ORDER BY a.from_day, a.id LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )
    return [_absence_item(row) for row in rows]


def _absence_item(row: sqlite3.Row) -> AbsenceItem:
    data: dict[str, Any] = dict(row)
    name = data.pop("member_name")
    return AbsenceItem(absence=Absence.model_validate(data), member_name=name)


async def absence(db: Database, absence_id: int) -> AbsenceItem | None:
    row = await db.fetchone(
        "SELECT a.*, m.name AS member_name FROM absences a JOIN members m ON m.id = a.member_id"
        " WHERE a.id = ?",
        (absence_id,),
    )
    return _absence_item(row) if row else None


async def decide_leave(
    tx: Writer, absence_id: int, approval: Approval, by: int, at: datetime
) -> bool:
    """Approve or reject a pending leave request; False when it was already decided."""
    changed = await tx.execute_rowcount(
        "UPDATE absences SET approval = ?, decided_by = ?, decided_at = ?"
        " WHERE id = ? AND kind = 'leave' AND approval = 'pending'",
        (approval.value, by, at.isoformat(), absence_id),
    )
    return changed == 1
