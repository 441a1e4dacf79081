"""The daily summary's and the reminders' reads: aggregates counted by SQLite, per village.

Every figure is a ``GROUP BY`` over the villages of one subtree (a township, a county, or all),
so Python only ever sees one row per village (or per team member), never per visit or check-in.
A subtree is matched as a range on ``regions.path`` (its unique index), not with ``substr``:
paths end in ``/``, and every path under ``/a/b/`` sorts in ``['/a/b/', '/a/b0')``.

The SQL texts are module constants so that ``bench.summary`` can time the very same statements
on a bare connection next to the service.
"""

from __future__ import annotations

import re
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
    current: bool = True  # the day is today: coverage as the households stand now

    @property
    def month_start(self) -> date:
        return self.day.replace(day=1)

    @property
    def week_start(self) -> date:
        return self.day - timedelta(days=6)

    @property
    def covered_since(self) -> date:
        return self.day - timedelta(days=self.coverage_days)

    def covered_since_utc(self) -> str:
        """The start of the coverage window in stored (UTC) time text."""
        start = datetime.combine(self.covered_since, time(0), tzinfo=self.zone)
        return start.astimezone(UTC).isoformat()

    def utc_bounds(self) -> tuple[str, str]:
        """The local day as [start, end) in stored (UTC) time text."""
        start = datetime.combine(self.day, time(0), tzinfo=self.zone)
        end = start + timedelta(days=1)
        return start.astimezone(UTC).isoformat(), end.astimezone(UTC).isoformat()


# Named in the SQL for reading, bound by number (``?N``): ``Database`` takes a sequence.
PARAMS = ("low", "high", "day", "week", "month", "since", "since_at", "start", "end")


def _numbered(sql: str) -> str:
    return re.sub(r":([a-z_]+)", lambda m: f"?{PARAMS.index(m.group(1)) + 1}", sql)


def _arity(sql: str) -> int:
    """How many parameters a numbered statement takes: SQLite wants exactly its highest."""
    return max(int(n) for n in re.findall(r"\?(\d+)", sql))


def _village_figures(covered: str) -> str:
    """One row per village, every count a correlated subquery over an index range."""
    return (
        "SELECT r.code, r.name, r.path, r.parent_code AS township_code, t.name AS township_name,"
        " (SELECT count(*) FROM households h WHERE h.village_code = r.code) AS households,"
        " (SELECT count(*) FROM households h WHERE h.village_code = r.code"
        f" AND ({NOT_MET})) AS not_met,"
        f" {covered} AS covered,"
        " (SELECT count(*) FROM visits v WHERE v.village_code = r.code"
        " AND v.visit_day = :day AND v.voided = 0) AS visits_today,"
        " (SELECT count(*) FROM visits v WHERE v.village_code = r.code"
        " AND v.visit_day BETWEEN :week AND :day AND v.voided = 0) AS visits_week,"
        " (SELECT count(*) FROM visits v WHERE v.village_code = r.code"
        " AND v.visit_day BETWEEN :month AND :day AND v.voided = 0) AS visits_month,"
        f" EXISTS (SELECT 1 FROM checkins c WHERE c.village_code = r.code AND c.day = :day"
        f" AND {COUNTS}) AS verified_today,"
        " (SELECT count(*) FROM problems p WHERE p.village_code = r.code AND p.voided = 0"
        " AND p.created_at >= :start AND p.created_at < :end) AS problems_new,"
        " (SELECT count(*) FROM problems p WHERE p.village_code = r.code AND p.voided = 0"
        f" AND p.status IN {OPEN}) AS problems_open,"
        " (SELECT count(*) FROM problems p WHERE p.village_code = r.code AND p.voided = 0"
        f" AND p.status IN {OPEN} AND p.due_day < :day) AS problems_overdue,"
        " (SELECT count(*) FROM problems p WHERE p.village_code = r.code AND p.voided = 0"
        f" AND p.status IN {OPEN} AND p.severity = 'urgent') AS problems_urgent"
        " FROM regions r JOIN regions t ON t.code = r.parent_code"
        " WHERE r.level = 'village' AND r.path >= :low AND r.path < :high ORDER BY r.path"
    )


# Covered as of now: ``last_visit_at``, kept by every visit write (exact for today). As of a
# past day: distinct households with a standing visit in that day's window.
SQL_VILLAGES = _numbered(
    _village_figures(
        "(SELECT count(*) FROM households h WHERE h.village_code = r.code"
        " AND h.last_visit_at >= :since_at)"
    )
)
SQL_VILLAGES_PAST = _numbered(
    _village_figures(
        "(SELECT count(DISTINCT v.household_id) FROM visits v WHERE v.village_code = r.code"
        " AND v.visit_day BETWEEN :since AND :day AND v.voided = 0)"
    )
)


# One row per (team member, village): days in the village this month up to the day (a day
# counts once: a check-in that counts, or a duty trip on a day without one) and whether they
# checked in that day. Correlated subqueries per member, each an index range: a UNION of the
# two kinds of days made SQLite scan and sort them all (30x slower on the bench).
SQL_TEAM = _numbered(
    "WITH RECURSIVE cal(day) AS (SELECT :month UNION ALL"
    " SELECT date(day, '+1 day') FROM cal WHERE day < :day),"
    " team AS (SELECT DISTINCT ms.member_id, ms.region_code AS village_code, m.name"
    " FROM regions r JOIN memberships ms ON ms.region_code = r.code"
    " JOIN members m ON m.id = ms.member_id"
    " WHERE r.level = 'village' AND r.path >= :low AND r.path < :high"
    f" AND m.active = 1 AND ms.role IN {VILLAGE_ROLES})"
    " SELECT t.member_id, t.village_code, t.name,"
    " (SELECT count(DISTINCT c.day) FROM checkins c WHERE c.member_id = t.member_id"
    f" AND c.day BETWEEN :month AND :day AND {COUNTS})"
    " + CASE WHEN EXISTS (SELECT 1 FROM absences a WHERE a.member_id = t.member_id"
    " AND a.kind = 'duty_trip' AND a.from_day <= :day AND a.to_day >= :month)"
    " THEN (SELECT count(*) FROM cal WHERE EXISTS (SELECT 1 FROM absences a"
    " WHERE a.member_id = t.member_id AND a.kind = 'duty_trip'"
    " AND cal.day BETWEEN a.from_day AND a.to_day)"
    " AND NOT EXISTS (SELECT 1 FROM checkins c WHERE c.member_id = t.member_id"
    f" AND c.day = cal.day AND {COUNTS})) ELSE 0 END AS days,"
    " EXISTS (SELECT 1 FROM checkins c WHERE c.member_id = t.member_id AND c.day = :day)"
    " AS checked_in"
    " FROM team t ORDER BY t.village_code, t.name, t.member_id"
)


def statements(root: str | None, window: Window) -> list[tuple[str, tuple[Any, ...]]]:
    """Both aggregates of one summary with their parameters: per village, per team member."""
    low, high = subtree(root)
    start, end = window.utc_bounds()
    named = {
        "low": low,
        "high": high,
        "day": window.day.isoformat(),
        "week": window.week_start.isoformat(),
        "month": window.month_start.isoformat(),
        "since": window.covered_since.isoformat(),
        "since_at": window.covered_since_utc(),
        "start": start,
        "end": end,
    }
    params = tuple(named[name] for name in PARAMS)
    villages = SQL_VILLAGES if window.current else SQL_VILLAGES_PAST
    return [(sql, params[: _arity(sql)]) for sql in (villages, SQL_TEAM)]


@dataclass(frozen=True, slots=True)
class VillageRow:
    """One village's counts for one summary."""

    code: str
    name: str
    path: str
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

    def under(self, path: str) -> Area:
        """The part of this area inside the subtree at ``path``."""
        villages = [v for v in self.villages if v.path.startswith(path)]
        codes = {v.code for v in villages}
        return Area(villages, [m for m in self.team if m.village_code in codes])


def common_root(paths: list[str]) -> str | None:
    """The deepest subtree holding every path (None: only the whole tree does)."""
    if not paths:
        return None
    prefix = paths[0]
    for path in paths[1:]:
        while not path.startswith(prefix):
            prefix = prefix[: prefix.rstrip("/").rfind("/") + 1]
    return prefix if prefix not in ("", "/") else None


async def area(db: Database, root: str | None, window: Window) -> Area:
    """Per-village counts and per-member days for the villages under ``root``."""
    (village_sql, village_params), (team_sql, team_params) = statements(root, window)
    villages = await db.fetchall(village_sql, village_params)
    team = await db.fetchall(team_sql, team_params)
    rows = [
        VillageRow(
            code=r["code"],
            name=r["name"],
            path=r["path"],
            township_code=r["township_code"],
            township_name=r["township_name"],
            households=r["households"],
            not_met=r["not_met"],
            covered=r["covered"],
            visits_today=r["visits_today"],
            visits_week=r["visits_week"],
            visits_month=r["visits_month"],
            verified_today=bool(r["verified_today"]),
            problems_new=r["problems_new"],
            problems_open=r["problems_open"],
            problems_overdue=r["problems_overdue"],
            problems_urgent=r["problems_urgent"],
        )
        for r in villages
    ]
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
    if window.current:
        where = f"{VILLAGES_IN} AND (h.last_visit_at IS NULL OR h.last_visit_at < ?)"
        params = [low, high, window.covered_since_utc()]
    else:
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
