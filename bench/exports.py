"""Benchmark of the exports: one township's month, each kind, next to bare openpyxl.

    python -m bench.exports [--size tiny|full]

``full`` is one township: 15 villages, 3,000 households, four team members a village, and a
month (November 2026) of check-ins (each member most days), about 2,200 visits, 100 problems
and a duty trip for each member. ``tiny`` is 3 villages and 180 households. The store is
generated with ``executemany`` (bench-only: real entries go through the services) into a
temporary folder.

Reported, in one run, for each kind (entries, notice, monthly): the whole export as the bot
runs it (``ExportService.export`` for the township leader: scope, SQL reads, rows in the
catalog's words, the XLSX written in a thread) next to the baseline — openpyxl in write-only
mode writing the same sheets with the same cell values bare (no header style, formats or
widths). Target: within 2x of the baseline. Prints a Markdown table (``bench.report``);
``rows(size)`` gives its rows to ``python -m bench``.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook, load_workbook

from bench.report import Row, at_most, table
from bot.clock import FixedClock
from bot.config import load_settings
from bot.dates import DateRange
from bot.services.exports import Export, ExportKind, ExportService
from storage import members as member_repo
from storage.db import Database

ZONE = ZoneInfo("Asia/Shanghai")
MONTH = DateRange(date(2026, 11, 1), date(2026, 11, 30))
NOW = datetime(2026, 11, 30, 20, 0, tzinfo=ZONE)
TEAM = 4
TARGET_FACTOR = 2.0
TOWNSHIP = "511902101"
LEADER_TG = 900_000


@dataclass(frozen=True)
class Size:
    villages: int
    households: int  # per village
    repeat: int


SIZES = {"tiny": Size(3, 60, 3), "full": Size(15, 200, 3)}
STATUSES = ("not_lifted", "lifted", "monitored", "ordinary")
MEASURES = ("production", "relocation", "ecological", "education", "social_security")
CAUSES = ("illness", "disability", "schooling", "lack_of_capital", "lack_of_labour")
CATEGORIES = ("medical", "education", "housing", "water", "roads", "industry")
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = "秀英德华国平大贵春梅永富光明淑芬建国玉兰长青"


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(2))


def generate(path: Path, size: Size) -> None:
    """Fill a migrated store with one township's month."""
    rng = random.Random(7)
    conn = sqlite3.connect(path)
    created = _utc(NOW - timedelta(days=60))
    regions: list[tuple[Any, ...]] = [
        ("51", None, "province", "四川省", None, None, None, "/51/"),
        ("5119", "51", "city", "巴中市", None, None, None, "/51/5119/"),
        ("511902", "5119", "county", "巴州区", None, None, None, "/51/5119/511902/"),
        (
            TOWNSHIP,
            "511902",
            "township",
            "清江镇",
            None,
            None,
            None,
            f"/51/5119/511902/{TOWNSHIP}/",
        ),
    ]
    villages = [f"{TOWNSHIP}{n:03d}" for n in range(1, size.villages + 1)]
    for n, code in enumerate(villages):
        path_ = f"/51/5119/511902/{TOWNSHIP}/{code}/"
        regions.append((code, TOWNSHIP, "village", f"第{n + 1}村", "poor", 31.88, 106.81, path_))
    conn.executemany(
        "INSERT INTO regions (code, parent_code, level, name, kind, lat, lon, path)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        regions,
    )
    members: list[tuple[Any, ...]] = [(1, LEADER_TG, "乡镇领导", created)]
    grants: list[tuple[Any, ...]] = [(1, "township", TOWNSHIP, created)]
    team: dict[str, list[int]] = {}
    next_id = 2
    for code in villages:
        for _ in range(TEAM):
            members.append((next_id, LEADER_TG + next_id, _name(rng), created))
            grants.append((next_id, "member", code, created))
            team.setdefault(code, []).append(next_id)
            next_id += 1
    conn.executemany(
        "INSERT INTO members (id, telegram_user_id, name, created_at) VALUES (?, ?, ?, ?)", members
    )
    conn.executemany(
        "INSERT INTO memberships (member_id, role, region_code, created_at) VALUES (?, ?, ?, ?)",
        grants,
    )
    households: list[tuple[Any, ...]] = []
    by_village: dict[str, list[int]] = {}
    hid = 1
    for code in villages:
        for n in range(size.households):
            households.append(
                (
                    hid,
                    f"{code}{n:04d}",
                    code,
                    _name(rng),
                    rng.randint(1, 6),
                    rng.choice(STATUSES),
                    json.dumps(rng.sample(CAUSES, 2)),
                    rng.choice(MEASURES),
                    _name(rng),
                    round(rng.uniform(2000, 9000), 2),
                    f"138{rng.randint(0, 99_999_999):08d}",
                    "备注" * rng.randint(0, 3) or None,
                )
            )
            by_village.setdefault(code, []).append(hid)
            hid += 1
    conn.executemany(
        "INSERT INTO households (id, registry_no, village_code, head_name, size, status, causes,"
        " measure, helper_name, income, phone, notes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        households,
    )
    checkins: list[tuple[Any, ...]] = []
    visits: list[tuple[Any, ...]] = []
    problems: list[tuple[Any, ...]] = []
    absences: list[tuple[Any, ...]] = []
    source = 1
    for code in villages:
        homes = by_village[code]
        for member_id in team[code]:
            trip = rng.randint(1, 25)
            absences.append(
                (member_id, "duty_trip", date(2026, 11, trip), date(2026, 11, trip + 1), source)
            )
            source += 1
            for day in MONTH.each():
                if rng.random() < 0.2:
                    continue
                at = datetime.combine(day, clock_time(8, rng.randint(0, 59)), ZONE)
                checkins.append((member_id, code, _utc(at), day.isoformat(), source))
                source += 1
                for _ in range(rng.randint(0, 3)):
                    seen = at + timedelta(minutes=rng.randint(30, 500))
                    visits.append(
                        (rng.choice(homes), code, member_id, day.isoformat(), _utc(seen), source)
                    )
                    source += 1
                if rng.random() < 0.08:
                    problems.append(
                        (
                            code,
                            rng.choice(homes),
                            member_id,
                            rng.choice(CATEGORIES),
                            _utc(at),
                            source,
                        )
                    )
                    source += 1
    conn.executemany(
        "INSERT INTO checkins (member_id, village_code, at, day, lat, lon, accuracy_m, distance_m,"
        " in_fence, verified, source_chat_id, source_message_id, created_at)"
        " VALUES (?, ?, ?, ?, 31.88, 106.81, 10, 50, 1, 1, 1, ?, ?)",
        [(*row, row[2]) for row in checkins],
    )
    conn.executemany(
        "INSERT INTO visits (household_id, village_code, member_id, visit_day, visited_at, text,"
        " source_chat_id, source_message_id, created_at)"
        " VALUES (?, ?, ?, ?, ?, '看望，了解收入和就医情况，已登记', 1, ?, ?)",
        [(*row, row[4]) for row in visits],
    )
    conn.executemany(
        "INSERT INTO problems (village_code, household_id, reporter_id, category, severity,"
        " description, due_day, source_chat_id, source_message_id, created_at)"
        " VALUES (?, ?, ?, ?, 'normal', '村道需要修补', '2026-12-14', 1, ?, ?)",
        [(r[0], r[1], r[2], r[3], r[5], r[4]) for r in problems],
    )
    conn.executemany(
        "INSERT INTO absences (member_id, kind, from_day, to_day, reason, source_chat_id,"
        " source_message_id, created_at) VALUES (?, ?, ?, ?, '开会', 1, ?, ?)",
        [(m, k, f.isoformat(), t.isoformat(), s, created) for m, k, f, t, s in absences],
    )
    conn.commit()
    conn.close()


def bare(content: bytes) -> Callable[[], bytes]:
    """openpyxl write-only writing the same sheets and values, with nothing else."""
    source = load_workbook(io.BytesIO(content), read_only=True)
    sheets = [(ws.title, [tuple(row) for row in ws.iter_rows(values_only=True)]) for ws in source]
    source.close()

    def write() -> bytes:
        book = Workbook(write_only=True)
        for title, rows in sheets:
            ws = book.create_sheet(title)
            for row in rows:
                ws.append(row)
        buffer = io.BytesIO()
        book.save(buffer)
        return buffer.getvalue()

    return write


async def timed(work: Callable[[], Awaitable[Any]], repeat: int) -> float:
    """Median wall time of ``repeat`` runs: the middle run shrugs off one noisy neighbour."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        await work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


async def measure(size_name: str) -> list[Row]:
    size = SIZES[size_name]
    table_rows: list[Row] = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.db"
        db = await Database.open(path)
        await db.migrate()
        await asyncio.to_thread(generate, path, size)
        try:
            settings = load_settings({"ZHUCUN_DB": str(path)})
            service = ExportService(db, FixedClock(NOW), settings)
            leader = await member_repo.by_telegram_id(db, LEADER_TG)
            counts = await db.fetchone(
                "SELECT (SELECT count(*) FROM households) AS h, (SELECT count(*) FROM visits) AS v,"
                " (SELECT count(*) FROM checkins) AS c, (SELECT count(*) FROM problems) AS p"
            )
            assert counts is not None
            print(
                f"exports, size {size_name}: {size.villages} villages, {counts['h']:,} households,"
                f" {counts['v']:,} visits, {counts['c']:,} check-ins, {counts['p']:,} problems"
                f" (median of {size.repeat})",
                file=sys.stderr,
            )
            for kind in ExportKind:
                made = await service.export(leader, kind, MONTH)

                async def ours_once(kind: ExportKind = kind) -> Export:
                    return await service.export(leader, kind, MONTH)

                ours = await timed(ours_once, size.repeat)
                write = bare(made.content)

                async def bare_once(write: Callable[[], bytes] = write) -> bytes:
                    return await asyncio.to_thread(write)

                base = await timed(bare_once, size.repeat)
                ratio, met = at_most(ours, base, TARGET_FACTOR)
                table_rows.append(
                    Row(
                        f"export {kind.value}, a township's month ({made.rows:,} rows,"
                        f" {len(made.content) // 1024} KB XLSX)",
                        _duration(ours),
                        f"{_duration(base)} bare openpyxl",
                        ratio,
                        f"≤ {TARGET_FACTOR:g}× bare openpyxl",
                        met,
                    )
                )
        finally:
            await db.close()
    return table_rows


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def rows(size: str) -> list[Row]:
    """The export figures at ``size`` ("tiny" proves it runs; "full" is a whole township)."""
    return asyncio.run(measure(size))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.exports")
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    args = parser.parse_args(argv)
    print(table(rows(args.size)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
