"""The entry write path in rows/s: the services a handler calls to save an entry, next to bare
aiosqlite single-row transactions on the same database file.

    python -m bench.writes [--size tiny|full]

Every entry a team member makes is committed before the bot says it is saved, one entry per
transaction, so the rate of these single-entry writes bounds how many members one store can
serve. Measured, in one run, on the sample township plus team members of 石桥村 (seeded as
``tests/pipeline/field_runner.py`` does), with the services built as ``bot/app.py`` builds them
(``Services.create`` over ``Database``, a ``FixedClock``):

- **one-line visits**: ``VisitService.record(..., one_line=True)`` — the household looked up
  inside the member's scope, then in one transaction the visit row, the household's refreshed
  guarantees and last visit, the ``visit.create`` audit event, and the visit read back. The
  visits spread over the village's households (300 more are imported for ``full``, so about
  ten visits each: the refresh reads the household's earlier visits);
- **check-ins**: ``CheckInService.check_in`` with a location inside the village — the village
  looked up, then in one transaction the check-in row, the ``checkin.create`` audit event and
  the check-in read back;
- **baseline** for each: a separate bare ``aiosqlite`` connection on the same file (same
  pragmas) running ``BEGIN IMMEDIATE``, one ``INSERT`` of the same columns with a comparable
  payload into the same table, ``COMMIT``, per row.

Each entry or row is awaited before the next one starts (no concurrency: this is the latency
of one write, turned into a rate). The four series run interleaved in blocks, so drift on a
noisy machine and the tables' growth weigh on all of them alike. Target: ≥ 0.6 of the baseline.
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

import aiosqlite

from bench.report import Row, at_least, table
from bot.attendance import LocationReport, Source
from bot.clock import FixedClock
from bot.config import load_settings
from bot.dates import local_day
from bot.models import GUARANTEE_ITEMS, Member
from bot.sample import VILLAGE
from bot.services import Services
from bot.services.imports import import_households
from bot.services.visits import Notes
from storage import members as member_repo
from storage.audit import operator_actor
from storage.db import BUSY_TIMEOUT_MS, Database
from tests.harness import settings_for
from tests.pipeline.field_runner import DAY, seed, team

TARGET_RATIO = 0.6
# 石桥村's centre (bot/sampledata/regions.csv); check-ins land a few metres from it.
CENTRE = (31.8802, 106.8123)
BARE_CHAT = -1  # the baseline's source chat, which no member has
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "秀英桂兰建军志强德华国平大贵永富明芳玉珍"

VISIT_COLUMNS = (
    "household_id",
    "village_code",
    "member_id",
    "visit_day",
    "visited_at",
    "backdated",
    "text",
    *GUARANTEE_ITEMS,
    "follow_up_day",
    "one_line",
    "source_chat_id",
    "source_message_id",
    "created_at",
)
CHECKIN_COLUMNS = (
    "member_id",
    "village_code",
    "at",
    "day",
    "lat",
    "lon",
    "accuracy_m",
    "distance_m",
    "in_fence",
    "verified",
    "reason",
    "note",
    "live",
    "source_chat_id",
    "source_message_id",
    "created_at",
)


@dataclass(frozen=True)
class Size:
    entries: int  # of each kind, through the service and bare alike
    blocks: int  # interleaved rounds the entries are split into
    members: int
    households: int  # imported into 石桥村 besides the sample's, so visits spread as in a village


SIZES = {
    "tiny": Size(entries=150, blocks=3, members=5, households=30),
    "full": Size(entries=3_000, blocks=10, members=20, households=300),
}


def _households_file(folder: Path, count: int) -> Path:
    """``count`` more households of 石桥村 as an operator's CSV (registry numbers 9xxx)."""
    path = folder / "households.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["registry_no", "village_code", "head_name", "size", "status"])
        for n in range(count):
            name = SURNAMES[n % len(SURNAMES)] + GIVEN[n % len(GIVEN)]
            out.writerow([f"{VILLAGE}9{n:03d}", VILLAGE, name, 1 + n % 6, "not_lifted"])
    return path


def _insert(table_name: str, columns: Sequence[str]) -> str:
    marks = ", ".join("?" * len(columns))
    return f"INSERT INTO {table_name} ({', '.join(columns)}) VALUES ({marks})"


class Bare:
    """A bare aiosqlite connection writing one row per ``BEGIN IMMEDIATE … COMMIT``."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    @classmethod
    async def open(cls, path: Path) -> Bare:
        conn = await aiosqlite.connect(path, isolation_level=None)
        # The store's own pragmas (storage/db.py); the file is already in WAL mode.
        for pragma in (f"busy_timeout={BUSY_TIMEOUT_MS}", "foreign_keys=ON", "synchronous=NORMAL"):
            await conn.execute(f"PRAGMA {pragma}")
        return cls(conn)

    async def write(self, sql: str, values: Sequence[object]) -> None:
        await self._conn.execute("BEGIN IMMEDIATE")
        await self._conn.execute(sql, values)
        await self._conn.execute("COMMIT")

    async def close(self) -> None:
        await self._conn.close()


@dataclass
class Series:
    """Rows written and seconds spent by one of the measured writers, over all blocks."""

    rows: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.rows / self.seconds

    async def run(self, count: int, write: Callable[[int], Awaitable[None]]) -> None:
        first = self.rows
        started = time.perf_counter()
        for n in range(first, first + count):
            await write(n)
        self.seconds += time.perf_counter() - started
        self.rows += count


async def measure(folder: Path, size: Size) -> dict[str, Series]:
    settings = load_settings(settings_for(folder))
    path = Path(settings.db)
    await seed(path, size.members)
    clock = FixedClock(DAY)
    db = await Database.open(path)
    bare = await Bare.open(path)
    try:
        households_csv = _households_file(folder, size.households)
        await import_households(db, clock, households_csv, operator_actor("bench"))
        services = Services.create(db, clock, settings)
        members: list[Member] = []
        for persona in team(size.members):
            member = await member_repo.by_telegram_id(db, persona.telegram_id)
            assert member is not None
            members.append(member)
        households = [
            int(row["id"])
            for row in await db.fetchall(
                "SELECT id FROM households WHERE village_code = ? ORDER BY id", (VILLAGE,)
            )
        ]
        now = clock.now()
        day = local_day(now, settings.zone)
        stamp = now.astimezone(UTC).isoformat()

        def visit_text(n: int) -> str:
            return f"第{n}次走访 送药 看望老人, 了解近况"

        def checkin_note(n: int) -> str:
            return f"在村 第{n}次"

        async def service_visit(n: int) -> None:
            member = members[n % len(members)]
            notes = Notes(day=day, backdated=False, text=visit_text(n))
            recorded = await services.visits.record(
                member,
                households[n % len(households)],
                notes=notes,
                at=now,
                source=(member.telegram_user_id, 10_000 + n),
                one_line=True,
            )
            assert recorded.created

        visit_sql = _insert("visits", VISIT_COLUMNS)

        async def bare_visit(n: int) -> None:
            member = members[n % len(members)]
            await bare.write(
                visit_sql,
                (
                    households[n % len(households)],
                    VILLAGE,
                    member.id,
                    day.isoformat(),
                    stamp,
                    0,
                    visit_text(n),
                    *(None for _ in GUARANTEE_ITEMS),
                    None,
                    1,
                    BARE_CHAT,
                    10_000 + n,
                    stamp,
                ),
            )

        async def service_checkin(n: int) -> None:
            member = members[n % len(members)]
            recorded = await services.checkins.check_in(
                member,
                VILLAGE,
                at=now,
                source=Source(chat_id=member.telegram_user_id, message_id=20_000 + n),
                location=LocationReport(
                    lat=CENTRE[0] + (n % 7) * 1e-5, lon=CENTRE[1], accuracy_m=15.0
                ),
                note=checkin_note(n),
            )
            assert recorded.created

        checkin_sql = _insert("checkins", CHECKIN_COLUMNS)

        async def bare_checkin(n: int) -> None:
            member = members[n % len(members)]
            await bare.write(
                checkin_sql,
                (
                    member.id,
                    VILLAGE,
                    now.isoformat(),
                    day.isoformat(),
                    CENTRE[0] + (n % 7) * 1e-5,
                    CENTRE[1],
                    15.0,
                    (n % 7) * 1.1,
                    1,
                    1,
                    None,
                    checkin_note(n),
                    0,
                    BARE_CHAT,
                    20_000 + n,
                    stamp,
                ),
            )

        writers = {
            "visit": (service_visit, bare_visit),
            "check-in": (service_checkin, bare_checkin),
        }
        series = {f"{kind} {who}": Series() for kind in writers for who in ("service", "bare")}
        per_block = size.entries // size.blocks
        for _ in range(size.blocks):
            for kind, (service, baseline) in writers.items():
                await series[f"{kind} service"].run(per_block, service)
                await series[f"{kind} bare"].run(per_block, baseline)
        return series
    finally:
        await bare.close()
        await db.close()


def rows(size: str) -> list[Row]:
    chosen = SIZES[size]
    with tempfile.TemporaryDirectory(prefix="bench-writes-") as folder:
        series = asyncio.run(measure(Path(folder), chosen))
    figures = {
        "visit": "entry write path: one-line visit (VisitService.record: visit row,"
        " household refresh, audit event)",
        "check-in": "entry write path: check-in with location (CheckInService.check_in:"
        " check-in row, audit event)",
    }
    tables = {"visit": "visits", "check-in": "checkins"}
    found: list[Row] = []
    for kind, figure in figures.items():
        service, bare = series[f"{kind} service"], series[f"{kind} bare"]
        ratio, met = at_least(service.rate, bare.rate, TARGET_RATIO)
        found.append(
            Row(
                figure=f"{figure}, {service.rows:,} entries",
                value=f"{service.rate:,.0f} rows/s",
                baseline=f"{bare.rate:,.0f} rows/s (bare aiosqlite BEGIN IMMEDIATE + INSERT"
                f" INTO {tables[kind]} + COMMIT per row, same file)",
                ratio=ratio,
                target=f"≥ {TARGET_RATIO}",
                met=met,
            )
        )
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.writes")
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    args = parser.parse_args(argv)
    print(table(rows(args.size)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
