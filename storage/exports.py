"""Reads behind the exports: flat rows of one area and one period, in the order they are written.

Rows are plain ``sqlite3.Row`` values (not models): an export of a township's month is tens of
thousands of rows, and the workbook wants cells, not objects. ``roots`` filters by region path
exactly like every other scoped read (:func:`storage.scopes.path_filter`).
"""

from __future__ import annotations

import sqlite3
from datetime import date, datetime

from storage.db import Database
from storage.scopes import Roots, path_filter
from storage.visits import utc

VILLAGE_ROLES = "('member', 'cadre', 'secretary')"
Row = sqlite3.Row  # read by column name: row["village_name"]


async def villages(db: Database, roots: Roots) -> list[sqlite3.Row]:
    """Villages in the area, by path: code, name, path."""
    clause, params = path_filter("path", roots)
    return await db.fetchall(
        f"SELECT code, name, path FROM regions WHERE level = 'village' AND {clause} ORDER BY path",
        params,
    )


async def checkins(db: Database, roots: Roots, first: date, last: date) -> list[sqlite3.Row]:
    clause, params = path_filter("r.path", roots)
    return await db.fetchall(
        "SELECT c.id, c.member_id, c.day, c.at, c.verified, c.reason, c.in_fence, c.distance_m,"
        " c.decision, c.note, c.village_code, r.name AS village_name, m.name AS member_name"
        " FROM checkins c JOIN regions r ON r.code = c.village_code"
        " JOIN members m ON m.id = c.member_id"
        f" WHERE c.day BETWEEN ? AND ? AND {clause} ORDER BY c.day, c.at, c.id",
        [first.isoformat(), last.isoformat(), *params],
    )


async def visits(db: Database, roots: Roots, first: date, last: date) -> list[sqlite3.Row]:
    clause, params = path_filter("r.path", roots)
    return await db.fetchall(
        "SELECT v.id, v.member_id, v.household_id, v.visit_day, v.visited_at, v.backdated,"
        " v.text, v.follow_up_day, r.name AS village_name, h.registry_no,"
        " h.head_name AS household_name, m.name AS member_name"
        " FROM visits v JOIN regions r ON r.code = v.village_code"
        " JOIN households h ON h.id = v.household_id JOIN members m ON m.id = v.member_id"
        f" WHERE v.voided = 0 AND v.visit_day BETWEEN ? AND ? AND {clause}"
        " ORDER BY v.visit_day, v.visited_at, v.id",
        [first.isoformat(), last.isoformat(), *params],
    )


async def problems(db: Database, roots: Roots, start: datetime, end: datetime) -> list[sqlite3.Row]:
    """Problems reported in ``[start, end)`` (aware datetimes), not voided."""
    clause, params = path_filter("r.path", roots)
    return await db.fetchall(
        "SELECT p.id, p.reporter_id, p.created_at, p.category, p.severity, p.description,"
        " p.status, p.due_day, p.resolution, r.name AS village_name,"
        " h.head_name AS household_name, m.name AS reporter_name"
        " FROM problems p JOIN regions r ON r.code = p.village_code"
        " LEFT JOIN households h ON h.id = p.household_id JOIN members m ON m.id = p.reporter_id"
        f" WHERE p.voided = 0 AND p.created_at >= ? AND p.created_at < ? AND {clause}"
        " ORDER BY p.created_at, p.id",
        [utc(start), utc(end), *params],
    )


async def households(db: Database, roots: Roots) -> list[sqlite3.Row]:
    """Every household in the area, by village path then registry number."""
    clause, params = path_filter("r.path", roots)
    return await db.fetchall(
        "SELECT h.*, r.name AS village_name"
        " FROM households h JOIN regions r ON r.code = h.village_code"
        f" WHERE {clause} ORDER BY r.path, h.registry_no",
        params,
    )


async def visit_counts(db: Database, roots: Roots, first: date, last: date) -> dict[int, int]:
    """Household id → visits (not voided) in the period."""
    clause, params = path_filter("r.path", roots)
    rows = await db.fetchall(
        "SELECT v.household_id, count(*) AS n FROM visits v"
        " JOIN regions r ON r.code = v.village_code"
        f" WHERE v.voided = 0 AND v.visit_day BETWEEN ? AND ? AND {clause}"
        " GROUP BY v.household_id",
        [first.isoformat(), last.isoformat(), *params],
    )
    return {int(row["household_id"]): int(row["n"]) for row in rows}


async def open_problem_counts(
    db: Database, roots: Roots, statuses: tuple[str, ...]
) -> dict[int, int]:
    """Household id → problems now in one of ``statuses`` (not voided)."""
    clause, params = path_filter("r.path", roots)
    marks = ",".join("?" * len(statuses))
    rows = await db.fetchall(
        "SELECT p.household_id, count(*) AS n FROM problems p"
        " JOIN regions r ON r.code = p.village_code"
        f" WHERE p.voided = 0 AND p.household_id IS NOT NULL AND p.status IN ({marks})"
        f" AND {clause} GROUP BY p.household_id",
        [*statuses, *params],
    )
    return {int(row["household_id"]): int(row["n"]) for row in rows}


async def team(db: Database, roots: Roots) -> list[sqlite3.Row]:
    """Active members with a village membership in the area: one row per (member, village)."""
    clause, params = path_filter("r.path", roots)
    return await db.fetchall(
        "SELECT m.id AS member_id, m.name AS member_name, r.code AS village_code,"
        " r.name AS village_name FROM memberships ms JOIN members m ON m.id = ms.member_id"
        " JOIN regions r ON r.code = ms.region_code"
        f" WHERE m.active = 1 AND ms.role IN {VILLAGE_ROLES} AND {clause}"
        " ORDER BY r.path, m.name, m.id",
        params,
    )


async def absences(
    db: Database, member_ids: list[int], first: date, last: date
) -> list[sqlite3.Row]:
    """Absences of these members overlapping the period."""
    if not member_ids:
        return []
    marks = ",".join("?" * len(member_ids))
    return await db.fetchall(
        "SELECT member_id, kind, from_day, to_day, approval FROM absences"
        f" WHERE member_id IN ({marks}) AND from_day <= ? AND to_day >= ? ORDER BY from_day",
        [*member_ids, last.isoformat(), first.isoformat()],
    )
