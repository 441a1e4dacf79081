"""Exports for the township office: the entries workbook, the public notice, the monthly paperwork.

One service serves ``/export`` and ``zhucun export``. It checks scope, reads flat rows
(``storage.exports``), lays them out as sheets with the zh catalog's sheet and column names
(the offices work in Chinese) and writes the XLSX off the event loop (``asyncio.to_thread``).

- **entries** (登记明细): sheets 签到, 走访, 问题 (of the period) and 农户 (as they stand).
- **notice** (公示表): per village only what may be posted — head, status, measure, helper.
- **monthly** (月度材料): per member the work record (驻村考勤, each day of the period: in the
  village, duty trip, leave or absent, with visits and problems that day) and the field diary
  (民情日记, their entries in date order); per village the household ledger (台账).

Phones are masked except in a county or admin export (and the operator's), which is audited as
``export.unmasked``. Scope: ``Capability.REVIEW``; an area out of scope is NotFound.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from bot import scope
from bot.clock import Clock
from bot.config import Settings
from bot.dates import DateError, DateRange, local_today, parse_range
from bot.errors import InvalidInput, NotFound
from bot.fieldwork import OPEN_STATUSES, PROBLEM_PREFIX, VISIT_PREFIX
from bot.models import Frozen, Member, Region, Role
from bot.scope import Capability
from bot.services.households import mask_phone
from bot.workbooks import Column, Kind, Sheet, sheet_title, write
from locales import Catalog, load_catalog
from storage import audit
from storage import exports as repo
from storage import regions as region_repo
from storage.db import Database
from storage.exports import Row
from storage.scopes import Roots

MAX_DAYS = 366
MAX_BYTES = 50 * 1024 * 1024  # Telegram's limit for a document a bot sends
SHEET_LANG = "zh"
UNMASKED_ROLES = frozenset({Role.COUNTY, Role.ADMIN})


class ExportKind(StrEnum):
    ENTRIES = "entries"
    NOTICE = "notice"
    MONTHLY = "monthly"


class Period(StrEnum):
    THIS_MONTH = "this"
    LAST_MONTH = "last"


class Export(Frozen):
    kind: ExportKind
    area: str | None  # the region's name; None for everything (an admin's export)
    start: date
    end: date
    content: bytes
    filename: str
    unmasked: bool
    rows: int


def month_of(day: date) -> DateRange:
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return DateRange(first, following - timedelta(days=1))


class ExportService:
    def __init__(self, db: Database, clock: Clock, settings: Settings) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings
        self._catalog: Catalog = load_catalog()

    def today(self) -> date:
        return local_today(self._clock, self._settings.zone)

    def period(self, which: Period) -> DateRange:
        """This month (to its end) or last month."""
        this = month_of(self.today())
        if which is Period.THIS_MONTH:
            return this
        return month_of(this.start - timedelta(days=1))

    def parse_period(self, text: str) -> DateRange:
        """A typed range (``11月1日到20日``, ``2026-11-01 2026-11-20``); one day alone is a day."""
        cleaned = " ".join(text.split())
        try:
            found = parse_range(cleaned, self.today(), prefer="past")
        except DateError:
            parts = cleaned.split(" ")
            if len(parts) != 2:
                raise InvalidInput("export.bad_range", text=text) from None
            try:
                found = parse_range(f"{parts[0]}到{parts[1]}", self.today(), prefer="past")
            except DateError:
                raise InvalidInput("export.bad_range", text=text) from None
        self.check(found)
        return found

    def check(self, period: DateRange) -> None:
        if period.days > MAX_DAYS:
            raise InvalidInput("export.too_long", days=period.days, max=MAX_DAYS)

    def may_export(self, actor: Member | None) -> bool:
        return scope.has_capability(actor, Capability.REVIEW)

    async def export(
        self,
        actor: Member | None,
        kind: ExportKind,
        period: DateRange,
        *,
        region_code: str | None = None,
        operator: str | None = None,
    ) -> Export:
        """Build one workbook. ``operator`` (the CLI) stands in for an actor and sees all."""
        self.check(period)
        region: Region | None = None
        if region_code is not None:
            region = await region_repo.get(self._db, region_code)
            if region is None:
                raise NotFound()
        if operator is None:
            scope.require_capability(actor, Capability.REVIEW)
            if region is not None:
                scope.require(actor, Capability.REVIEW, region)
        roots: Roots = (region.path,) if region else _roots(actor, operator)
        unmasked = operator is not None or _unmasking(actor)
        builder = _Builder(self._catalog, self._settings.zone, unmasked, self.today())
        if kind is ExportKind.ENTRIES:
            sheets = await self._entries(builder, roots, period)
        elif kind is ExportKind.NOTICE:
            sheets = await self._notice(builder, roots)
        else:
            sheets = await self._monthly(builder, roots, period)
        content = await asyncio.to_thread(write, sheets)
        if len(content) > MAX_BYTES:
            size = f"{len(content) / 1024 / 1024:.1f}"
            raise InvalidInput("export.too_large", size=size, max=MAX_BYTES // 1024 // 1024)
        area = region.name if region else await self._area(actor)
        if unmasked and kind is not ExportKind.NOTICE:
            await self._audit(actor, operator, kind, period, region, len(sheets))
        return Export(
            kind=kind,
            area=area,
            start=period.start,
            end=period.end,
            content=content,
            filename=f"zhucun-{kind.value}-{period.start:%Y%m%d}-{period.end:%Y%m%d}.xlsx",
            unmasked=unmasked and kind is not ExportKind.NOTICE,
            rows=sum(len(s.rows) for s in sheets),
        )

    async def _area(self, actor: Member | None) -> str | None:
        roots = scope.roots(actor, Capability.REVIEW)
        if roots is None:
            return None
        names = [
            m.region_name
            for m in (actor.memberships if actor else ())
            if m.region_path in roots and m.region_name
        ]
        return self._catalog.label(SHEET_LANG, "export_value.separator").join(names) or None

    async def _audit(
        self,
        actor: Member | None,
        operator: str | None,
        kind: ExportKind,
        period: DateRange,
        region: Region | None,
        sheets: int,
    ) -> None:
        who = operator or audit.member_actor(actor.id if actor else 0)
        details = {
            "kind": kind.value,
            "from": period.start.isoformat(),
            "to": period.end.isoformat(),
            "region": region.code if region else None,
            "roots": list(_roots(actor, operator) or []) if region is None else [region.path],
            "sheets": sheets,
        }
        async with self._db.transaction() as tx:
            await audit.record(
                tx,
                at=self._clock.now(),
                actor=who,
                action="export.unmasked",
                entity="export",
                entity_id=region.code if region else "*",
                after=details,
            )

    async def _entries(self, b: _Builder, roots: Roots, period: DateRange) -> list[Sheet]:
        start, end = _bounds(period, self._settings.zone)
        checkins = await repo.checkins(self._db, roots, period.start, period.end)
        visits = await repo.visits(self._db, roots, period.start, period.end)
        problems = await repo.problems(self._db, roots, start, end)
        households = await repo.households(self._db, roots)
        return [
            b.checkins_sheet(checkins),
            b.visits_sheet(visits),
            b.problems_sheet(problems),
            b.households_sheet(households),
        ]

    async def _notice(self, b: _Builder, roots: Roots) -> list[Sheet]:
        villages = await repo.villages(self._db, roots)
        households = await repo.households(self._db, roots)
        return b.notice_sheets(villages, households)

    async def _monthly(self, b: _Builder, roots: Roots, period: DateRange) -> list[Sheet]:
        start, end = _bounds(period, self._settings.zone)
        team = await repo.team(self._db, roots)
        member_ids = sorted({int(row["member_id"]) for row in team})
        checkins = await repo.checkins(self._db, roots, period.start, period.end)
        visits = await repo.visits(self._db, roots, period.start, period.end)
        problems = await repo.problems(self._db, roots, start, end)
        absences = await repo.absences(self._db, member_ids, period.start, period.end)
        villages = await repo.villages(self._db, roots)
        households = await repo.households(self._db, roots)
        counts = await repo.visit_counts(self._db, roots, period.start, period.end)
        open_counts = await repo.open_problem_counts(
            self._db, roots, tuple(s.value for s in OPEN_STATUSES)
        )
        sheets: list[Sheet] = []
        members: dict[int, tuple[str, list[str]]] = {}
        for row in team:
            name, places = members.setdefault(int(row["member_id"]), (row["member_name"], []))
            places.append(row["village_name"])
        by_member: dict[int, dict[str, list[Row]]] = defaultdict(lambda: defaultdict(list))
        for kind, rows, key in (
            ("checkins", checkins, "member_id"),
            ("visits", visits, "member_id"),
            ("problems", problems, "reporter_id"),
            ("absences", absences, "member_id"),
        ):
            for row in rows:
                by_member[int(row[key])][kind].append(row)
        taken: set[str] = set()
        for member_id, (name, _) in members.items():
            entries = by_member[member_id]
            sheets.append(b.attendance_sheet(name, period, entries, taken))
            sheets.append(b.diary_sheet(name, entries, taken))
        sheets += b.ledger_sheets(villages, households, counts, open_counts, taken)
        return sheets


def _roots(actor: Member | None, operator: str | None) -> Roots:
    return None if operator is not None else scope.roots(actor, Capability.REVIEW)


def _unmasking(actor: Member | None) -> bool:
    return actor is not None and any(m.role in UNMASKED_ROLES for m in actor.memberships)


def _bounds(period: DateRange, zone: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(period.start, time(), zone)
    end = datetime.combine(period.end + timedelta(days=1), time(), zone)
    return start, end


class _Builder:
    """Rows and columns in the zh catalog's words; times as naive local datetimes."""

    def __init__(self, catalog: Catalog, zone: ZoneInfo, unmasked: bool, today: date) -> None:
        self._catalog = catalog
        self._zone = zone
        self._unmasked = unmasked
        self._today = today
        self._labels: dict[str, dict[str, str]] = {}

    # --- words ------------------------------------------------------------------------------

    def _label(self, key: str, **params: Any) -> str:
        return self._catalog.label(SHEET_LANG, key, **params)

    def _section(self, name: str) -> dict[str, str]:
        if name not in self._labels:
            self._labels[name] = self._catalog.section(SHEET_LANG, name)
        return self._labels[name]

    def _value(self, section: str, code: str | None) -> str | None:
        return self._section(section).get(code, code) if code else None

    def _col(self, key: str, width: float = 12, kind: Kind = Kind.TEXT) -> Column:
        return Column(self._section("export_column")[key], width, kind)

    def _yes(self, flag: Any) -> str:
        return self._section("export_value")["yes" if flag else "no"]

    def _local(self, text: str | None) -> datetime | None:
        if not text:
            return None
        return datetime.fromisoformat(text).astimezone(self._zone).replace(tzinfo=None)

    def _phone(self, phone: str | None) -> str | None:
        return phone if self._unmasked else mask_phone(phone)

    def _causes(self, raw: str) -> str:
        labels = self._section("cause")
        separator = self._section("export_value")["separator"]
        return separator.join(labels.get(code, code) for code in json.loads(raw or "[]"))

    # --- entries ----------------------------------------------------------------------------

    def checkins_sheet(self, rows: Sequence[Row]) -> Sheet:
        columns = [
            self._col("day", 11, Kind.DATE),
            self._col("time", 16, Kind.DATETIME),
            self._col("village", 12),
            self._col("member", 10),
            self._col("verified", 9),
            self._col("reason", 24),
            self._col("distance", 14),
            self._col("decision", 10),
            self._col("note", 30),
        ]
        values = self._section("export_value")
        out = [
            (
                date.fromisoformat(r["day"]),
                self._local(r["at"]),
                r["village_name"],
                r["member_name"],
                self._yes(r["verified"]),
                self._value("checkin.reason", r["reason"]),
                round(r["distance_m"]) if r["distance_m"] is not None else None,
                values[r["decision"]] if r["decision"] else None,
                r["note"],
            )
            for r in rows
        ]
        return Sheet(self._label("export_sheet.checkins"), columns, list(out))

    def visits_sheet(self, rows: Sequence[Row]) -> Sheet:
        columns = [
            self._col("number", 8),
            self._col("day", 11, Kind.DATE),
            self._col("village", 12),
            self._col("registry_no", 20),
            self._col("head", 10),
            self._col("visitor", 10),
            self._col("backdated", 7),
            self._col("visit_text", 50),
            self._col("follow_up", 11, Kind.DATE),
        ]
        out = [
            (
                f"{VISIT_PREFIX}{r['id']}",
                date.fromisoformat(r["visit_day"]),
                r["village_name"],
                r["registry_no"],
                r["household_name"],
                r["member_name"],
                self._yes(r["backdated"]),
                r["text"],
                date.fromisoformat(r["follow_up_day"]) if r["follow_up_day"] else None,
            )
            for r in rows
        ]
        return Sheet(self._label("export_sheet.visits"), columns, list(out))

    def problems_sheet(self, rows: Sequence[Row]) -> Sheet:
        columns = [
            self._col("number", 8),
            self._col("reported_at", 16, Kind.DATETIME),
            self._col("village", 12),
            self._col("household", 10),
            self._col("reporter", 10),
            self._col("category", 8),
            self._col("severity", 8),
            self._col("description", 50),
            self._col("status", 10),
            self._col("due", 11, Kind.DATE),
            self._col("resolution", 30),
        ]
        out = [
            (
                f"{PROBLEM_PREFIX}{r['id']}",
                self._local(r["created_at"]),
                r["village_name"],
                r["household_name"],
                r["reporter_name"],
                self._value("problem.category", r["category"]),
                self._value("problem.severity", r["severity"]),
                r["description"],
                self._value("problem.status", r["status"]),
                date.fromisoformat(r["due_day"]),
                r["resolution"],
            )
            for r in rows
        ]
        return Sheet(self._label("export_sheet.problems"), columns, list(out))

    def households_sheet(self, rows: Sequence[Row]) -> Sheet:
        guarantees = self._section("guarantee")
        columns = [
            self._col("registry_no", 20),
            self._col("village", 12),
            self._col("head", 10),
            self._col("size", 9, Kind.NUMBER),
            self._col("status", 10),
            self._col("causes", 20),
            self._col("measure", 14),
            self._col("helper", 11),
            self._col("income", 14, Kind.NUMBER),
            self._col("phone", 14),
            *(Column(label, 9) for label in guarantees.values()),
            self._col("last_visit", 16, Kind.DATETIME),
            self._col("note", 30),
        ]
        out = [
            (
                r["registry_no"],
                r["village_name"],
                r["head_name"],
                r["size"],
                self._value("status", r["status"]),
                self._causes(r["causes"]),
                self._value("measure", r["measure"]),
                r["helper_name"],
                r["income"],
                self._phone(r["phone"]),
                *(self._value("guarantee_state", r[item]) for item in guarantees),
                self._local(r["last_visit_at"]),
                r["notes"],
            )
            for r in rows
        ]
        return Sheet(self._label("export_sheet.households"), columns, list(out))

    # --- public notice ----------------------------------------------------------------------

    def notice_sheets(self, villages: Sequence[Row], households: Sequence[Row]) -> list[Sheet]:
        """Only what may be posted: no phone, income, causes, guarantees or notes."""
        columns = [
            self._col("seq", 6, Kind.NUMBER),
            self._col("head", 12),
            self._col("status", 12),
            self._col("measure", 16),
            self._col("helper", 12),
        ]
        by_village: dict[str, list[Row]] = defaultdict(list)
        for row in households:
            by_village[row["village_code"]].append(row)
        taken: set[str] = set()
        sheets = []
        for village in villages:
            rows = [
                (
                    n,
                    r["head_name"],
                    self._value("status", r["status"]),
                    self._value("measure", r["measure"]),
                    r["helper_name"],
                )
                for n, r in enumerate(by_village[village["code"]], start=1)
            ]
            title = sheet_title(self._label("export_sheet.notice", village=village["name"]), taken)
            sheets.append(Sheet(title, columns, list(rows)))
        return sheets

    # --- monthly paperwork ------------------------------------------------------------------

    def attendance_sheet(
        self,
        name: str,
        period: DateRange,
        entries: dict[str, list[Row]],
        taken: set[str],
    ) -> Sheet:
        values = self._section("export_value")
        weekdays = values["weekdays"].split(",")
        columns = [
            self._col("day", 11, Kind.DATE),
            self._col("weekday", 6),
            self._col("presence", 12),
            self._col("checkin_village", 14),
            self._col("visits_count", 9, Kind.NUMBER),
            self._col("problems_count", 9, Kind.NUMBER),
        ]
        present: dict[date, list[str]] = defaultdict(list)
        for row in entries.get("checkins", []):
            if _counts(row) and row["village_name"] not in present[date.fromisoformat(row["day"])]:
                present[date.fromisoformat(row["day"])].append(row["village_name"])
        duty: set[date] = set()
        leave: dict[date, bool] = {}
        for row in entries.get("absences", []):
            first, last = date.fromisoformat(row["from_day"]), date.fromisoformat(row["to_day"])
            for n in range((last - first).days + 1):
                day = first + timedelta(days=n)
                if row["kind"] == "duty_trip":
                    duty.add(day)
                elif row["approval"] in ("approved", "pending"):
                    leave[day] = leave.get(day, False) or row["approval"] == "approved"
        visits: dict[date, int] = defaultdict(int)
        for row in entries.get("visits", []):
            visits[date.fromisoformat(row["visit_day"])] += 1
        problems: dict[date, int] = defaultdict(int)
        for row in entries.get("problems", []):
            moment = self._local(row["created_at"])
            if moment is not None:
                problems[moment.date()] += 1
        separator = values["separator"]
        rows = []
        for day in period.each():
            if day in present:
                status = values["in_village"]
            elif day in duty:
                status = values["duty_trip"]
            elif day in leave:
                status = values["leave" if leave[day] else "leave_pending"]
            elif day > self._today:
                status = values["not_yet"]
            else:
                status = values["absent"]
            rows.append(
                (
                    day,
                    weekdays[day.weekday()],
                    status,
                    separator.join(present.get(day, [])) or None,
                    visits.get(day, 0),
                    problems.get(day, 0),
                )
            )
        title = sheet_title(self._label("export_sheet.attendance", name=name), taken)
        return Sheet(title, columns, list(rows))

    def diary_sheet(self, name: str, entries: dict[str, list[Row]], taken: set[str]) -> Sheet:
        values = self._section("export_value")
        columns = [
            self._col("day", 11, Kind.DATE),
            self._col("time", 16, Kind.DATETIME),
            self._col("entry_kind", 7),
            self._col("number", 8),
            self._col("village", 12),
            self._col("household", 10),
            self._col("content", 60),
        ]
        found: list[tuple[Any, ...]] = []
        for row in entries.get("visits", []):
            day = date.fromisoformat(row["visit_day"])
            moment = self._local(row["visited_at"])
            found.append(
                (
                    day,
                    moment,
                    values["visit"],
                    f"{VISIT_PREFIX}{row['id']}",
                    row["village_name"],
                    row["household_name"],
                    row["text"],
                )
            )
        for row in entries.get("problems", []):
            moment = self._local(row["created_at"])
            assert moment is not None
            found.append(
                (
                    moment.date(),
                    moment,
                    values["problem"],
                    f"{PROBLEM_PREFIX}{row['id']}",
                    row["village_name"],
                    row["household_name"],
                    row["description"],
                )
            )
        found.sort(key=lambda r: (r[0], r[1] or datetime.min))  # stable: visits first
        title = sheet_title(self._label("export_sheet.diary", name=name), taken)
        return Sheet(title, columns, list(found))

    def ledger_sheets(
        self,
        villages: Sequence[Row],
        households: Sequence[Row],
        visits: dict[int, int],
        open_problems: dict[int, int],
        taken: set[str],
    ) -> list[Sheet]:
        columns = [
            self._col("registry_no", 20),
            self._col("head", 10),
            self._col("size", 9, Kind.NUMBER),
            self._col("status", 10),
            self._col("measure", 14),
            self._col("helper", 11),
            self._col("visits_period", 12, Kind.NUMBER),
            self._col("last_visit", 16, Kind.DATETIME),
            self._col("open_problems", 11, Kind.NUMBER),
        ]
        by_village: dict[str, list[Row]] = defaultdict(list)
        for row in households:
            by_village[row["village_code"]].append(row)
        sheets = []
        for village in villages:
            rows = [
                (
                    r["registry_no"],
                    r["head_name"],
                    r["size"],
                    self._value("status", r["status"]),
                    self._value("measure", r["measure"]),
                    r["helper_name"],
                    visits.get(int(r["id"]), 0),
                    self._local(r["last_visit_at"]),
                    open_problems.get(int(r["id"]), 0),
                )
                for r in by_village[village["code"]]
            ]
            title = sheet_title(self._label("export_sheet.ledger", village=village["name"]), taken)
            sheets.append(Sheet(title, columns, list(rows)))
        return sheets


def _counts(row: Row) -> bool:
    """The check-in rule of :attr:`bot.attendance.CheckIn.counts`, on a row."""
    if row["decision"] is not None:
        return bool(row["decision"] == "confirmed")
    return bool(row["verified"]) and bool(row["in_fence"])
