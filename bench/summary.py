"""Benchmark of the daily summary on a city-scale store.

    python -m bench.summary [--size tiny|full] [--plans]

``full`` is a city: 5 counties, 200 townships, 2,700 villages, 400,000 households, 2,000,000
visits and 1,000,000 check-ins over the last year, 50,000 problems, four team members a village
and a leader for each township and county. ``tiny`` is about a hundredth of it. The store is
generated once per size with ``executemany`` (bench-only: real entries go through the services)
and kept under the temp folder, so later runs of the same size start at once.

Reported, in one run: the summary data (the SQL aggregates through the store's async connection,
plus adding up and ranking villages) for one township (``SummaryService.for_region``), for all
200 as the daily job gets them (``for_regions``: one pass over the city, split by township) and
one at a time as 200 ``/summary`` would, each next to the bare aggregates — the same SQL
statements (``storage.summary.statements``) on a plain ``sqlite3`` connection, results fetched
and dropped.
A county's roll-up and the chart (rendered separately, it is not part of the data) are timed
too. Target: all 200 townships' data under 1 s and within 2x of the bare aggregates.
``--plans`` prints SQLite's query plan of each statement. Prints a Markdown table
(``bench.report``); ``rows(size)`` gives its rows to ``python -m bench``.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench.report import Row, at_most, table
from bot.chart import chart_data, render
from bot.clock import FixedClock
from bot.config import load_settings
from bot.services.summary import SummaryService
from locales import load_catalog
from storage.db import Database
from storage.summary import Window, common_root, statements

ZONE = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 11, 28)
NOW = datetime.combine(TODAY, clock_time(20, 0), tzinfo=ZONE)
HISTORY_DAYS = 365
TEAM_PER_VILLAGE = 4
TARGET_SECONDS = 1.0
TARGET_FACTOR = 2.0
FORMAT = 3  # bump when the generated store changes shape
# What every visit write keeps (storage.visits.refresh_household), set once after the bulk load.
LAST_VISITS = (
    "UPDATE households SET last_visit_at = (SELECT max(v.visited_at) FROM visits v"
    " WHERE v.household_id = households.id AND v.voided = 0)"
)


@dataclass(frozen=True)
class Size:
    counties: int
    townships: int
    villages: int
    households: int
    visits: int
    checkins: int
    problems: int


SIZES = {
    "tiny": Size(1, 2, 27, 4_000, 20_000, 10_000, 500),
    "full": Size(5, 200, 2_700, 400_000, 2_000_000, 1_000_000, 50_000),
}


# --- the store ---------------------------------------------------------------------------------


def store_path(size_name: str) -> Path:
    return Path(tempfile.gettempdir()) / f"zhucun-bench-summary-{size_name}-v{FORMAT}.db"


async def prepare(size_name: str) -> Path:
    """The generated store of this size, made now unless an earlier run left it complete."""
    path = store_path(size_name)
    if path.exists():
        with sqlite3.connect(path) as conn:
            done = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'bench_complete'"
            ).fetchone()
        if done:
            db = await Database.open(path)
            try:
                await db.migrate()  # indexes added since the store was made
            finally:
                await db.close()
            with sqlite3.connect(path) as conn:
                conn.execute("ANALYZE")
            return path
        path.unlink()
    db = await Database.open(path)
    try:
        await db.migrate()
    finally:
        await db.close()
    started = time.perf_counter()
    generate(path, SIZES[size_name])
    print(f"generated {path} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return path


def _spread(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` nearly equal whole numbers."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


GENERATE_CACHE_KIB = 512 * 1024
BULK_TABLES = ("households", "visits", "checkins", "problems")


def generate(path: Path, size: Size) -> None:
    """Fill a migrated, empty store: regions, people, households, entries (bench only)."""
    rng = random.Random(20261128)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute(f"PRAGMA cache_size=-{GENERATE_CACHE_KIB}")
    conn.execute("BEGIN")
    # Millions of rows go in faster with the secondary indexes built afterwards, in one sort each,
    # than kept up to date row by row (a fresh machine otherwise spends over five minutes here).
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        f" AND tbl_name IN ({', '.join(repr(t) for t in BULK_TABLES)})"
    ).fetchall()
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    created = NOW.astimezone(UTC).isoformat()
    regions: list[tuple[str, str | None, str, str, str | None, str]] = [
        ("51", None, "province", "四川省", None, "/51/"),
        ("5119", "51", "city", "巴中市", None, "/51/5119/"),
    ]
    villages: list[tuple[str, str]] = []  # (code, path)
    townships: list[str] = []
    counties: list[str] = []
    per_county = _spread(size.townships, size.counties)
    per_township = _spread(size.villages, size.townships)
    t_index = 0
    for c in range(size.counties):
        county = f"5119{c + 1:02d}"
        cpath = f"/51/5119/{county}/"
        counties.append(county)
        regions.append((county, "5119", "county", f"第{c + 1}区", None, cpath))
        for t in range(per_county[c]):
            town = f"{county}{t + 1:03d}"
            tpath = f"{cpath}{town}/"
            townships.append(town)
            regions.append((town, county, "township", f"第{t_index + 1}镇", None, tpath))
            for v in range(per_township[t_index]):
                code = f"{town}{v + 1:03d}"
                villages.append((code, f"{tpath}{code}/"))
                kind = "poor" if v % 3 else "non_poor"
                regions.append((code, town, "village", f"第{v + 1}村", kind, f"{tpath}{code}/"))
            t_index += 1
    conn.executemany(
        "INSERT INTO regions (code, parent_code, level, name, kind, path) VALUES (?,?,?,?,?,?)",
        regions,
    )
    # People: a team per village, a leader per township and county.
    members: list[tuple[Any, ...]] = []
    memberships: list[tuple[Any, ...]] = []
    team: list[tuple[int, str]] = []  # (member id, village code)
    next_id = 1
    for code, _ in villages:
        for n in range(TEAM_PER_VILLAGE):
            role = ("secretary", "member", "member", "cadre")[n]
            members.append((next_id, 100_000 + next_id, f"队员{next_id}", 1, created))
            memberships.append((next_id, role, code, created))
            team.append((next_id, code))
            next_id += 1
    for code in townships + counties:
        role = "township" if code in townships else "county"
        members.append((next_id, 100_000 + next_id, f"领导{next_id}", 1, created))
        memberships.append((next_id, role, code, created))
        next_id += 1
    conn.executemany(
        "INSERT INTO members (id, telegram_user_id, name, active, created_at) VALUES (?,?,?,?,?)",
        members,
    )
    conn.executemany(
        "INSERT INTO memberships (member_id, role, region_code, created_at) VALUES (?,?,?,?)",
        memberships,
    )
    # Households, spread over the villages.
    households: list[tuple[Any, ...]] = []
    household_village: list[str] = []
    per_village = _spread(size.households, len(villages))
    hid = 1
    for (code, _), count in zip(villages, per_village, strict=True):
        for n in range(count):
            states = ["met"] * 6
            if rng.random() < 0.04:
                states[rng.randrange(6)] = "not_met"
            households.append(
                (hid, f"{code}{n + 1:04d}", code, f"户主{hid}", 1 + hid % 6, "not_lifted", *states)
            )
            household_village.append(code)
            hid += 1
    conn.executemany(
        "INSERT INTO households (id, registry_no, village_code, head_name, size, status,"
        " food, clothing, education, medical, housing, water) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        households,
    )
    team_of: dict[str, list[int]] = {}
    for member_id, code in team:
        team_of.setdefault(code, []).append(member_id)

    @functools.cache
    def stamp(day: date, hour: int) -> str:
        # A few hundred distinct days among millions of rows: format each once.
        return datetime.combine(day, clock_time(hour), tzinfo=ZONE).astimezone(UTC).isoformat()

    @functools.cache
    def iso(day: date) -> str:
        return day.isoformat()

    def day_back(limit: int = HISTORY_DAYS) -> date:
        # Recent days a little more often than old ones, as in a live store.
        return TODAY - timedelta(days=min(limit - 1, int(rng.expovariate(1 / (limit / 2.5)))))

    def visit_rows() -> Iterator[tuple[Any, ...]]:
        for n in range(size.visits):
            h = rng.randrange(len(households))
            code = household_village[h]
            member = rng.choice(team_of[code])
            day = day_back()
            at = stamp(day, 10)
            follow = iso(day + timedelta(days=7)) if n % 50 == 0 else None
            yield (h + 1, code, member, iso(day), at, "走访", follow, member, n, at)

    conn.executemany(
        "INSERT INTO visits (household_id, village_code, member_id, visit_day, visited_at, text,"
        " follow_up_day, source_chat_id, source_message_id, created_at)"
        " VALUES (?,?,?,?,?,?,?,?,?,?)",
        visit_rows(),
    )

    def checkin_rows() -> Iterator[tuple[Any, ...]]:
        for n in range(size.checkins):
            member, code = team[rng.randrange(len(team))]
            day = day_back()
            at = stamp(day, 8)
            verified = rng.random() < 0.85
            yield (
                member,
                code,
                at,
                iso(day),
                1 if verified and rng.random() < 0.95 else 0,
                int(verified),
                None if verified else "no_accuracy",
                member,
                10_000_000 + n,
                at,
            )

    conn.executemany(
        "INSERT INTO checkins (member_id, village_code, at, day, in_fence, verified, reason,"
        " source_chat_id, source_message_id, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
        checkin_rows(),
    )
    absences = [
        (
            member,
            "duty_trip",
            (TODAY - timedelta(days=d)).isoformat(),
            (TODAY - timedelta(days=d - 2)).isoformat(),
            "到县里开会",
            None,
            member,
            20_000_000 + i,
            created,
        )
        for i, (member, _) in enumerate(team[::7])
        for d in (rng.randrange(3, 40),)
    ]
    conn.executemany(
        "INSERT INTO absences (member_id, kind, from_day, to_day, reason, approval,"
        " source_chat_id, source_message_id, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
        absences,
    )
    categories = ("medical", "education", "housing", "water", "roads", "industry", "other")
    statuses = ("open", "in_progress", "resolved", "resolved", "resolved", "escalated")

    def problem_rows() -> Iterator[tuple[Any, ...]]:
        for n in range(size.problems):
            code, _ = villages[rng.randrange(len(villages))]
            reporter = rng.choice(team_of[code])
            day = day_back(120)
            urgent = rng.random() < 0.1
            due = day + timedelta(days=3 if urgent else 14)
            at = stamp(day, 11)
            yield (
                code,
                reporter,
                rng.choice(categories),
                "urgent" if urgent else "normal",
                "问题描述",
                rng.choice(statuses),
                due.isoformat(),
                reporter,
                30_000_000 + n,
                at,
            )

    conn.executemany(
        "INSERT INTO problems (village_code, reporter_id, category, severity, description,"
        " status, due_day, source_chat_id, source_message_id, created_at)"
        " VALUES (?,?,?,?,?,?,?,?,?,?)",
        problem_rows(),
    )
    for _, sql in indexes:
        conn.execute(sql)
    conn.execute(LAST_VISITS)
    conn.execute("CREATE TABLE bench_complete (made_at TEXT)")
    conn.execute("INSERT INTO bench_complete VALUES (?)", (json.dumps(str(datetime.now(UTC))),))
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


# --- timing ------------------------------------------------------------------------------------


async def timed(work: Callable[[], Awaitable[Any]], repeat: int) -> float:
    """Median wall time of ``repeat`` runs, after one warm-up run."""
    await work()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        await work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bare(conn: sqlite3.Connection, roots: Sequence[str | None], window: Window) -> None:
    """The same statements on a plain connection, fetched and dropped: what SQLite alone costs."""
    for root in roots:
        for sql, params in statements(root, window):
            conn.execute(sql, params).fetchall()


@dataclass(frozen=True)
class Measured:
    """The rows of the table, and SQLite's plan of each statement when asked for."""

    rows: list[Row]
    plans: list[str]


async def measure(size_name: str, plans: bool = False) -> Measured:
    path = await prepare(size_name)
    settings = load_settings({"ZHUCUN_DB": str(path)})
    window = Window(day=TODAY, zone=ZONE, coverage_days=settings.coverage_days)
    db = await Database.open(path)
    conn = sqlite3.connect(path)
    plan_lines: list[str] = []
    try:
        service = SummaryService(db, FixedClock(NOW), settings)
        towns = await db.fetchall("SELECT code, path FROM regions WHERE level = 'township'")
        county = await db.fetchone("SELECT code, path FROM regions WHERE level = 'county'")
        assert county is not None
        codes = [str(r["code"]) for r in towns]
        paths = [str(r["path"]) for r in towns]
        if plans:
            for sql, params in statements(paths[0], window):
                plan_lines.append(f"{sql[:90]} …")
                for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params):
                    plan_lines.append(f"    {row[3]}")
        repeat = 5 if size_name == "tiny" else 3
        one = await timed(lambda: service.for_region(codes[0], TODAY), 20)
        one_bare = await _bare_timed(conn, paths[:1], window, 20)

        async def all_towns() -> None:
            for code in codes:
                await service.for_region(code, TODAY)

        every = await timed(lambda: service.for_regions(codes, TODAY), repeat)
        every_bare = await _bare_timed(conn, [common_root(paths)], window, repeat)
        one_by_one = await timed(all_towns, repeat)
        one_by_one_bare = await _bare_timed(conn, paths, window, repeat)
        rollup = await timed(lambda: service.for_region(str(county["code"]), TODAY), repeat)
        rollup_bare = await _bare_timed(conn, [str(county["path"])], window, repeat)
        summary = await service.for_region(codes[0], TODAY)
        data = chart_data(summary, load_catalog(), "zh")
        render(data)  # the font is loaded once per process
        started = time.perf_counter()
        png = render(data)
        chart = time.perf_counter() - started
    finally:
        conn.close()
        await db.close()
    size = SIZES[size_name]
    print(
        f"summary, size {size_name}: {size.townships} townships, {size.villages:,} villages, "
        f"{size.households:,} households, {size.visits:,} visits, {size.checkins:,} check-ins, "
        f"{size.problems:,} problems",
        file=sys.stderr,
    )
    n = len(codes)
    figures = [
        ("summary data, one township", one, one_bare, None),
        (
            f"summary data, all {n} townships (the daily job; {size.households:,} households,"
            f" {size.visits:,} visits)",
            every,
            every_bare,
            TARGET_SECONDS,
        ),
        (
            f"summary data, all {n} townships one at a time ({n} /summary)",
            one_by_one,
            one_by_one_bare,
            None,
        ),
        ("summary data, one county's roll-up", rollup, rollup_bare, None),
    ]
    table_rows: list[Row] = []
    for name, value, base, limit in figures:
        if base:
            ratio, met = at_most(value, base, TARGET_FACTOR)
        else:  # too fast to time: no ratio to speak of
            ratio, met = float("inf"), False
        target = f"≤ {TARGET_FACTOR:g}× bare SQL"
        if limit is not None:
            target = f"< {limit:g} s and {target}"
            met = met and value < limit
        table_rows.append(Row(name, _ms(value), f"{_ms(base)} bare SQL", ratio, target, met))
    table_rows.append(
        Row(
            f"chart, one township ({len(data.labels)} villages, {len(png):,} bytes PNG;"
            " rendered apart from the data)",
            _ms(chart),
        )
    )
    return Measured(table_rows, plan_lines)


def rows(size: str) -> list[Row]:
    """The summary figures at ``size`` ("tiny" proves it runs; "full" is the city)."""
    return asyncio.run(measure(size)).rows


async def _bare_timed(
    conn: sqlite3.Connection, roots: Sequence[str | None], window: Window, repeat: int
) -> float:
    async def work() -> None:
        bare(conn, roots, window)

    return await timed(work, repeat)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.summary")
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--plans", action="store_true", help="print each statement's plan")
    args = parser.parse_args(argv)
    measured = asyncio.run(measure(args.size, args.plans))
    for line in measured.plans:
        print(line)
    if measured.plans:
        print()
    print(table(measured.rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
