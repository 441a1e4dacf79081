"""The daily summary's and the reminders' reads: aggregates counted by SQLite, per village.

Every figure is a ``GROUP BY`` over the villages of one subtree (a township, a county, or all),
so Python only ever sees one row per village (or per team member), never per visit or check-in.
A subtree is matched as a range on ``regions.path`` (its unique index), not with ``substr``:
paths end in ``/``, and every path under ``/a/b/`` sorts in ``['/a/b/', '/a/b0')``.

The SQL texts are module constants so that ``bench.summary`` can time the very same statements
on a bare connection next to the service.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.fieldwork import OPEN_STATUSES, Problem
from bot.models import Household
from storage.db import Database
from storage.households import SELECT as HOUSEHOLD_SELECT
from storage.households import to_model as household_model
from storage.problems import SELECT as PROBLEM_SELECT

# A check-in makes its day a day in the village (bot.attendance.CheckIn.counts, in SQL).
COUNTS = "(c.decision = 'confirmed' OR (c.decision IS NULL AND c.verified = 1 AND c.in_fence = 1))"
OPEN = "(" + ", ".join(f"'{s.value}'" for s in OPEN_STATUSES) + ")"
VILLAGE_ROLES = "('member', 'cadre', 'secretary')"
NOT_MET = " OR ".join(
    f"h.{item} = 'not_met'"
    for item in ("food", "clothing", "education", "medical", "housing", "water")
)
# The villages of one subtree; ``?`` twice: the root path and its upper bound.
VILLAGES_IN = "r.level = 'village' AND r.path >= ? AND r.path < ?"


def subtree(root: str | None) -> tuple[str, str]:
    """The ``[low, high)`` range of paths under ``root`` (None: every path)."""
    if root is None:
        return "", "\U0010ffff"
    return root, root[:-1] + "0" if root.endswith("/") else root + "0"


@dataclass(frozen=True)
class Window:
    """The calendar days one summary looks at, all as of the end of ``day``."""

    day: date
    zone: ZoneInfo
    coverage_days: int

    @property
    def month_start(self) -> date:
        return self.day.replace(day=1)

    @property
    def week_start(self) -> date:
        return self.day - timedelta(days=6)

    @property
    def covered_since(self) -> date:
        return self.day - timedelta(days=self.coverage_days)

    def utc_bounds(self) -> tuple[str, str]:
        """The local day as [start, end) in stored (UTC) time text."""
        start = datetime.combine(self.day, time(0), tzinfo=self.zone)
        end = start + timedelta(days=1)
        return start.astimezone(UTC).isoformat(), end.astimezone(UTC).isoformat()


SQL_VILLAGES = (
    "SELECT r.code, r.name, r.parent_code AS township_code, t.name AS township_name"
    f" FROM regions r JOIN regions t ON t.code = r.parent_code WHERE {VILLAGES_IN}"
    " ORDER BY r.path"
)

SQL_HOUSEHOLDS = (
    "SELECT h.village_code, count(*) AS households,"
    f" sum({NOT_MET}) AS not_met"
    f" FROM regions r JOIN households h ON h.village_code = r.code WHERE {VILLAGES_IN}"
    " GROUP BY h.village_code"
)

# Window bounds: day, week start, month start, covered since; then the visit_day range.
SQL_VISITS = (
    "SELECT v.village_code, sum(v.visit_day = ?) AS today, sum(v.visit_day >= ?) AS week,"
    " sum(v.visit_day >= ?) AS month,"
    " count(DISTINCT CASE WHEN v.visit_day >= ? THEN v.household_id END) AS covered"
    " FROM regions r JOIN visits v ON v.village_code = r.code"
    f" WHERE {VILLAGES_IN} AND v.visit_day BETWEEN ? AND ? AND v.voided = 0"
    " GROUP BY v.village_code"
)

SQL_CHECKINS = (
    f"SELECT c.village_code, max({COUNTS}) AS verified"
    " FROM regions r JOIN checkins c ON c.village_code = r.code"
    f" WHERE {VILLAGES_IN} AND c.day = ? GROUP BY c.village_code"
)

# new: created in [start, end); overdue: open and due before the day.
SQL_PROBLEMS = (
    "SELECT p.village_code, sum(p.created_at >= ? AND p.created_at < ?) AS new,"
    f" sum(p.status IN {OPEN}) AS open,"
    f" sum(p.status IN {OPEN} AND p.due_day < ?) AS overdue,"
    f" sum(p.status IN {OPEN} AND p.severity = 'urgent') AS urgent"
    " FROM regions r JOIN problems p ON p.village_code = r.code"
    f" WHERE {VILLAGES_IN} AND p.voided = 0 GROUP BY p.village_code"
)

# One row per (team member, village): days in the village this month up to the day (a day
# counts once, by a check-in that counts or a duty trip) and whether they checked in that day.
SQL_TEAM = (
    "WITH RECURSIVE cal(day) AS (SELECT ? UNION ALL"
    " SELECT date(day, '+1 day') FROM cal WHERE day < ?),"
    " team AS (SELECT DISTINCT ms.member_id, ms.region_code AS village_code"
    " FROM regions r JOIN memberships ms ON ms.region_code = r.code"
    " JOIN members m ON m.id = ms.member_id"
    f" WHERE {VILLAGES_IN} AND m.active = 1 AND ms.role IN {VILLAGE_ROLES}),"
    " people AS (SELECT DISTINCT member_id FROM team),"
    " present AS ("
    " SELECT c.member_id, c.day FROM people p JOIN checkins c ON c.member_id = p.member_id"
    f" WHERE c.day BETWEEN ? AND ? AND {COUNTS}"
    " UNION SELECT a.member_id, cal.day FROM people p"
    " JOIN absences a ON a.member_id = p.member_id"
    " JOIN cal ON cal.day BETWEEN a.from_day AND a.to_day"
    " WHERE a.kind = 'duty_trip' AND a.to_day >= ? AND a.from_day <= ?),"
    " days AS (SELECT member_id, count(*) AS days FROM present GROUP BY member_id),"
    " today AS (SELECT DISTINCT c.member_id FROM people p"
    " JOIN checkins c ON c.member_id = p.member_id WHERE c.day = ?)"
    " SELECT t.member_id, t.village_code, m.name, coalesce(d.days, 0) AS days,"
    " td.member_id IS NOT NULL AS checked_in"
    " FROM team t JOIN members m ON m.id = t.member_id"
    " LEFT JOIN days d ON d.member_id = t.member_id"
    " LEFT JOIN today td ON td.member_id = t.member_id"
    " ORDER BY t.village_code, m.name, t.member_id"
)


def statements(root: str | None, window: Window) -> list[tuple[str, tuple[Any, ...]]]:
    """Every aggregate of one summary with its parameters, in the order :func:`area` runs them."""
    low, high = subtree(root)
    day = window.day.isoformat()
    week, month = window.week_start.isoformat(), window.month_start.isoformat()
    since = window.covered_since.isoformat()
    start, end = window.utc_bounds()
    return [
        (SQL_VILLAGES, (low, high)),
        (SQL_HOUSEHOLDS, (low, high)),
        (SQL_VISITS, (day, week, month, since, low, high, min(month, since), day)),
        (SQL_CHECKINS, (low, high, day)),
        (SQL_PROBLEMS, (start, end, day, low, high)),
        (SQL_TEAM, (month, day, low, high, month, day, month, day, day)),
    ]


@dataclass(frozen=True, slots=True)
class VillageRow:
    """One village's counts for one summary (zero where a table had no row for it)."""

    code: str
    name: str
    township_code: str
    township_name: str
    households: int = 0
    not_met: int = 0
    covered: int = 0
    visits_today: int = 0
    visits_week: int = 0
    visits_month: int = 0
    verified_today: bool = False
    problems_new: int = 0
    problems_open: int = 0
    problems_overdue: int = 0
    problems_urgent: int = 0


@dataclass(frozen=True, slots=True)
class TeamRow:
    """One team member in one village: days in the village this month and today's check-in."""

    member_id: int
    village_code: str
    name: str
    days: int
    checked_in: bool


@dataclass(frozen=True, slots=True)
class Area:
    villages: list[VillageRow]
    team: list[TeamRow]


async def area(db: Database, root: str | None, window: Window) -> Area:
    """Per-village counts and per-member days for the villages under ``root``."""
    queries = statements(root, window)
    results = [await db.fetchall(sql, params) for sql, params in queries]
    villages, households, visits, checkins, problems, team = results
    extra: dict[str, dict[str, Any]] = {}

    def put(rows: list[sqlite3.Row], **columns: str) -> None:
        for row in rows:
            found = extra.setdefault(row[0], {})
            for field, column in columns.items():
                found[field] = row[column] or 0

    put(households, households="households", not_met="not_met")
    put(visits, visits_today="today", visits_week="week", visits_month="month", covered="covered")
    put(checkins, verified_today="verified")
    put(
        problems,
        problems_new="new",
        problems_open="open",
        problems_overdue="overdue",
        problems_urgent="urgent",
    )
    rows = []
    for village in villages:
        more = extra.get(village["code"], {})
        if "verified_today" in more:
            more["verified_today"] = bool(more["verified_today"])
        rows.append(
            VillageRow(
                village["code"],
                village["name"],
                village["township_code"],
                village["township_name"],
                **more,
            )
        )
    members = [
        TeamRow(r["member_id"], r["village_code"], r["name"], r["days"], bool(r["checked_in"]))
        for r in team
    ]
    return Area(rows, members)


async def uncovered(
    db: Database, root: str | None, window: Window, limit: int
) -> tuple[list[Household], int]:
    """Households under ``root`` with no standing visit in the coverage window (never visited
    first, then the oldest visit); at most ``limit``, and how many in all."""
    low, high = subtree(root)
    where = (
        f"{VILLAGES_IN} AND NOT EXISTS (SELECT 1 FROM visits v WHERE v.household_id = h.id"
        " AND v.voided = 0 AND v.visit_day BETWEEN ? AND ?)"
    )
    params = [low, high, window.covered_since.isoformat(), window.day.isoformat()]
    count = await db.fetchone(
        f"SELECT count(*) AS n FROM households h JOIN regions r ON r.code = h.village_code"
        f" WHERE {where}",
        params,
    )
    rows = await db.fetchall(
        f"{HOUSEHOLD_SELECT} WHERE {where}"
        " ORDER BY h.last_visit_at IS NOT NULL, h.last_visit_at, h.registry_no LIMIT ?",
        [*params, limit],
    )
    return [household_model(row) for row in rows], int(count["n"]) if count else 0


async def open_problems(
    db: Database, root: str | None, day: date, limit: int, *, overdue_only: bool = False
) -> tuple[list[Problem], int]:
    """Open problems under ``root``: overdue first, then urgent, then by due day."""
    low, high = subtree(root)
    where = f"{VILLAGES_IN} AND p.voided = 0 AND p.status IN {OPEN}"
    params: list[Any] = [low, high]
    if overdue_only:
        where += " AND p.due_day < ?"
        params.append(day.isoformat())
    count = await db.fetchone(
        f"SELECT count(*) AS n FROM problems p JOIN regions r ON r.code = p.village_code"
        f" WHERE {where}",
        params,
    )
    rows = await db.fetchall(
        f"{PROBLEM_SELECT} WHERE {where} ORDER BY p.due_day < ? DESC,"
        " p.severity = 'urgent' DESC, p.due_day, p.id LIMIT ?",
        [*params, day.isoformat(), limit],
    )
    problems = [Problem.model_validate({**dict(r), "voided": bool(r["voided"])}) for r in rows]
    return problems, int(count["n"]) if count else 0


@dataclass(frozen=True, slots=True)
class LeaderRow:
    member_id: int
    region_code: str


async def leaders(db: Database) -> list[LeaderRow]:
    """Active township and county members and the region of each such membership."""
    rows = await db.fetchall(
        "SELECT ms.member_id, ms.region_code FROM memberships ms"
        " JOIN members m ON m.id = ms.member_id"
        " WHERE m.active = 1 AND ms.role IN ('township', 'county')"
        " AND ms.region_code IS NOT NULL ORDER BY ms.member_id, ms.region_code"
    )
    return [LeaderRow(int(r["member_id"]), str(r["region_code"])) for r in rows]


# --- reminders ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Unchecked:
    """A team member with no check-in on the day and no approved absence or duty trip."""

    member_id: int
    village_names: str


async def without_checkin(db: Database, day: date) -> list[Unchecked]:
    d = day.isoformat()
    rows = await db.fetchall(
        "SELECT m.id AS member_id, group_concat(DISTINCT r.name) AS villages"
        " FROM members m JOIN memberships ms ON ms.member_id = m.id"
        " JOIN regions r ON r.code = ms.region_code"
        f" WHERE m.active = 1 AND ms.role IN {VILLAGE_ROLES}"
        " AND NOT EXISTS (SELECT 1 FROM checkins c WHERE c.member_id = m.id AND c.day = ?)"
        " AND NOT EXISTS (SELECT 1 FROM absences a WHERE a.member_id = m.id"
        " AND ? BETWEEN a.from_day AND a.to_day"
        " AND (a.kind = 'duty_trip' OR a.approval = 'approved'))"
        " GROUP BY m.id ORDER BY m.id",
        (d, d),
    )
    return [Unchecked(int(r["member_id"]), str(r["villages"])) for r in rows]


@dataclass(frozen=True, slots=True)
class FollowUp:
    visit_id: int
    member_id: int
    household_name: str
    village_name: str
    village_path: str


async def follow_ups(db: Database, day: date) -> list[FollowUp]:
    """Standing visits whose follow-up day is ``day``."""
    rows = await db.fetchall(
        "SELECT v.id, v.member_id, h.head_name, r.name, r.path FROM visits v"
        " JOIN households h ON h.id = v.household_id JOIN regions r ON r.code = v.village_code"
        " WHERE v.follow_up_day = ? AND v.voided = 0 ORDER BY v.id",
        (day.isoformat(),),
    )
    return [FollowUp(int(r[0]), int(r[1]), str(r[2]), str(r[3]), str(r[4])) for r in rows]


async def due_problems(db: Database, due: date) -> list[Problem]:
    """Open problems due on ``due``."""
    rows = await db.fetchall(
        f"{PROBLEM_SELECT} WHERE p.due_day = ? AND p.voided = 0 AND p.status IN {OPEN}"
        " ORDER BY p.id",
        (due.isoformat(),),
    )
    return [Problem.model_validate({**dict(r), "voided": bool(r["voided"])}) for r in rows]
