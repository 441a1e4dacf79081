"""The daily summary (每日汇总) of a township, or a county's roll-up by township.

For one local calendar day (``ZHUCUN_TZ``): team members checked in of all; villages where
nobody's check-in counts that day; members behind their residency quota; visits that day and in
the 7 days up to it; household coverage (a standing visit within ``coverage_days``); households
with a 两不愁三保障 item not met; problems new that day, open, overdue, urgent; and the lagging
villages, worst first, at most five.

The quota is pro-rated to the day of the month: by day *d* of a month of *n* days a member
should have ``floor(required_days × d / n)`` days in the village (days that count: a check-in
that counts, or a duty trip); fewer is "behind". A village's quota gap is how far its team's
average falls short of that, and a village without a team falls short entirely.

Households not met and open problems are as they stand now, also for a past day.
SQL counts (``storage.summary``); this module adds up per-village rows and ranks villages.
Scope: ``Capability.REVIEW`` on the township or county, NotFound otherwise.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from enum import StrEnum

from bot import scope
from bot.clock import Clock
from bot.config import Settings
from bot.dates import DateError, local_today, parse_date
from bot.errors import InvalidInput, NotFound
from bot.fieldwork import Problem
from bot.models import Frozen, Household, Level, Member, Region
from bot.scope import Capability
from storage import members as member_repo
from storage import regions as region_repo
from storage import summary as repo
from storage.db import Database
from storage.summary import TeamRow, VillageRow, Window

LAGGING_SHOWN = 5
LIST_SHOWN = 30


class Quota(Frozen):
    required: int  # days a month (ZHUCUN_REQUIRED_DAYS)
    expected: int  # pro-rated to the day: floor(required × day / month_days)
    day_of_month: int
    month_days: int


class Figures(Frozen):
    """The counts of one area (a township, or all of a county's townships)."""

    members: int = 0
    checked_in: int = 0
    behind: int = 0
    villages: int = 0
    villages_unverified: int = 0
    visits_today: int = 0
    visits_week: int = 0
    visits_month: int = 0
    households: int = 0
    covered: int = 0
    not_met: int = 0
    problems_new: int = 0
    problems_open: int = 0
    problems_overdue: int = 0
    problems_urgent: int = 0
    days_total: int = 0  # days in the village this month, summed over the team

    @property
    def coverage(self) -> float:
        return self.covered / self.households if self.households else 1.0

    @property
    def average_days(self) -> float:
        return self.days_total / self.members if self.members else 0.0


class VillageDay(Frozen):
    code: str
    name: str
    township_code: str
    township_name: str
    figures: Figures
    verified_today: bool

    def quota_gap(self, quota: Quota) -> float:
        """0 when the team's average meets the pro-rated quota; 1 when nobody is there."""
        if quota.expected == 0:
            return 0.0
        if self.figures.members == 0:
            return 1.0
        return max(0.0, 1.0 - self.figures.average_days / quota.expected)

    @property
    def coverage_gap(self) -> float:
        return 1.0 - self.figures.coverage


class Lagging(Frozen):
    village: VillageDay
    below_quota: bool
    below_coverage: bool
    score: float


class TownshipDay(Frozen):
    code: str
    name: str
    figures: Figures


class TeamMember(Frozen):
    member_id: int
    name: str
    village_code: str
    village_name: str
    days: int
    checked_in: bool


class Summary(Frozen):
    """One area's day; ``townships`` is filled for a county's roll-up."""

    region: Region
    day: date
    today: bool  # the day is not over yet: "so far"
    quota: Quota
    coverage_days: int
    figures: Figures
    villages: tuple[VillageDay, ...]
    townships: tuple[TownshipDay, ...]
    lagging: tuple[Lagging, ...]
    behind: tuple[TeamMember, ...]  # the LIST_SHOWN furthest behind; figures.behind counts all

    @property
    def rollup(self) -> bool:
        return self.region.level is not Level.TOWNSHIP

    @property
    def unverified(self) -> tuple[VillageDay, ...]:
        return tuple(v for v in self.villages if not v.verified_today)


class ListKind(StrEnum):
    """The lists behind the summary's buttons."""

    UNVERIFIED = "unv"  # villages with nobody verified in the village that day
    BEHIND = "behind"  # members behind the pro-rated quota
    UNCOVERED = "uncov"  # households not visited within coverage_days
    PROBLEMS = "open"  # open problems, overdue first


class Details(Frozen):
    kind: ListKind
    region: Region
    day: date
    quota: Quota
    coverage_days: int
    total: int
    villages: tuple[VillageDay, ...] = ()
    members: tuple[TeamMember, ...] = ()
    households: tuple[Household, ...] = ()
    problems: tuple[Problem, ...] = ()


class Recipient(Frozen):
    member: Member
    region: Region


SUMMARY_LEVELS = (Level.TOWNSHIP, Level.COUNTY)


def quota_for(day: date, required: int) -> Quota:
    month_days = calendar.monthrange(day.year, day.month)[1]
    return Quota(
        required=required,
        expected=required * day.day // month_days,
        day_of_month=day.day,
        month_days=month_days,
    )


def _add(parts: Iterable[Figures]) -> Figures:
    totals = dict.fromkeys(Figures.model_fields, 0)
    for part in parts:
        for name, value in part.__dict__.items():
            totals[name] += value
    return Figures.model_construct(None, **totals)


class SummaryService:
    def __init__(self, db: Database, clock: Clock, settings: Settings) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings

    def today(self) -> date:
        return local_today(self._clock, self._settings.zone)

    def parse_day(self, text: str | None) -> date:
        """A day typed after /summary (today when empty); never after today."""
        today = self.today()
        if not text or not text.strip():
            return today
        try:
            day = date.fromisoformat(text.strip())
        except ValueError:
            try:
                day = parse_date(text, today, prefer="past")
            except DateError as error:
                raise InvalidInput("summary.bad_date", text=error.text or text) from None
        if day > today:
            raise InvalidInput("summary.future", day=day.isoformat())
        return day

    # --- reading, scope-checked ----------------------------------------------------------------

    async def summary(self, actor: Member | None, region_code: str, day: date) -> Summary:
        """A township's summary or a county's roll-up, if the actor may review it."""
        scope.require_capability(actor, Capability.REVIEW)
        region = await self._region(region_code)
        scope.require(actor, Capability.REVIEW, region)
        return await self._build(region, day)

    async def mine(self, actor: Member | None, day: date | None = None) -> list[Summary]:
        """The actor's areas: each township and county they lead (an admin: every county)."""
        scope.require_capability(actor, Capability.REVIEW)
        assert actor is not None
        regions = await self._areas(actor)
        return [await self._build(r, day or self.today()) for r in regions]

    async def details(
        self, actor: Member | None, kind: ListKind, region_code: str, day: date
    ) -> Details:
        """The list behind one button, re-checked against the actor's scope now."""
        scope.require_capability(actor, Capability.REVIEW)
        region = await self._region(region_code)
        scope.require(actor, Capability.REVIEW, region)
        return await self.details_for(kind, region, day)

    # --- operator and jobs (no actor) ----------------------------------------------------------

    async def for_region(self, region_code: str, day: date | None = None) -> Summary:
        """For the CLI and the daily job, which act for the operator."""
        return await self._build(await self._region(region_code), day or self.today())

    async def recipients(self) -> list[Recipient]:
        """Every active township leader with their township, county officer with their county."""
        found: list[Recipient] = []
        members: dict[int, Member | None] = {}
        regions: dict[str, Region | None] = {}
        for row in await repo.leaders(self._db):
            if row.member_id not in members:
                members[row.member_id] = await member_repo.get(self._db, row.member_id)
            if row.region_code not in regions:
                regions[row.region_code] = await region_repo.get(self._db, row.region_code)
            member, region = members[row.member_id], regions[row.region_code]
            if (
                member is not None
                and region is not None
                and region.level in SUMMARY_LEVELS
                and scope.may(member, Capability.REVIEW, region)
            ):
                found.append(Recipient(member=member, region=region))
        return found

    async def details_for(self, kind: ListKind, region: Region, day: date) -> Details:
        window = self._window(day)
        base = Details(
            kind=kind,
            region=region,
            day=day,
            quota=quota_for(day, self._settings.required_days),
            coverage_days=self._settings.coverage_days,
            total=0,
        )
        if kind is ListKind.UNCOVERED:
            households, total = await repo.uncovered(self._db, region.path, window, LIST_SHOWN)
            return base.model_copy(update={"total": total, "households": tuple(households)})
        if kind is ListKind.PROBLEMS:
            problems, total = await repo.open_problems(self._db, region.path, day, LIST_SHOWN)
            return base.model_copy(update={"total": total, "problems": tuple(problems)})
        summary = await self._build(region, day)
        if kind is ListKind.UNVERIFIED:
            villages = summary.unverified
            return base.model_copy(update={"total": len(villages), "villages": villages})
        return base.model_copy(update={"total": summary.figures.behind, "members": summary.behind})

    # --- internals -----------------------------------------------------------------------------

    def _window(self, day: date) -> Window:
        return Window(
            day=day,
            zone=self._settings.zone,
            coverage_days=self._settings.coverage_days,
            current=day >= self.today(),
        )

    async def _region(self, code: str) -> Region:
        region = await region_repo.get(self._db, code)
        if region is None:
            raise NotFound()
        if region.level not in SUMMARY_LEVELS:
            raise InvalidInput("summary.level")
        return region

    async def _areas(self, actor: Member) -> list[Region]:
        roots = scope.roots(actor, Capability.REVIEW)
        if roots is None:
            return await region_repo.in_roots(self._db, None, Level.COUNTY)
        codes = [
            m.region_code
            for m in actor.memberships
            if m.region_code and scope.may(actor, Capability.REVIEW, m)
        ]
        found = await region_repo.get_many(self._db, sorted(set(codes))) if codes else []
        return sorted((r for r in found if r.level in SUMMARY_LEVELS), key=lambda r: r.path)

    async def for_regions(
        self, codes: Iterable[str], day: date | None = None
    ) -> dict[str, Summary]:
        """Several areas' summaries from one pass over their common subtree (the daily job)."""
        day = day or self.today()
        wanted = sorted(set(codes))
        regions = await region_repo.get_many(self._db, wanted) if wanted else []
        if len(regions) != len(wanted):
            raise NotFound()
        if any(r.level not in SUMMARY_LEVELS for r in regions):
            raise InvalidInput("summary.level")
        if not regions:
            return {}
        root = repo.common_root([r.path for r in regions])
        data = await repo.area(self._db, root, self._window(day))
        if len(regions) == 1:
            return {regions[0].code: self._summarize(regions[0], day, data)}
        township_of = {v.code: v.township_code for v in data.villages}
        by_township: dict[str, repo.Area] = defaultdict(lambda: repo.Area([], []))
        for village in data.villages:
            by_township[village.township_code].villages.append(village)
        for member in data.team:
            by_township[township_of[member.village_code]].team.append(member)
        found: dict[str, Summary] = {}
        for region in regions:
            part = (
                by_township[region.code]
                if region.level is Level.TOWNSHIP
                else data.under(region.path)
            )
            found[region.code] = self._summarize(region, day, part)
        return found

    async def _build(self, region: Region, day: date) -> Summary:
        data = await repo.area(self._db, region.path, self._window(day))
        return self._summarize(region, day, data)

    def _summarize(self, region: Region, day: date, data: repo.Area) -> Summary:
        quota = quota_for(day, self._settings.required_days)
        names = {v.code: v.name for v in data.villages}
        team_by_village: dict[str, list[TeamRow]] = defaultdict(list)
        for member in data.team:
            team_by_village[member.village_code].append(member)
        villages = tuple(
            self._village(v, team_by_village.get(v.code, []), quota) for v in data.villages
        )
        townships: dict[str, list[VillageDay]] = defaultdict(list)
        for village in villages:
            townships[village.township_code].append(village)
        township_of = {v.code: v.township_code for v in data.villages}
        team_by_township: dict[str, list[TeamRow]] = defaultdict(list)
        for member in data.team:
            team_by_township[township_of[member.village_code]].append(member)
        rollups = tuple(
            TownshipDay(
                code=code,
                name=parts[0].township_name,
                figures=self._area(parts, team_by_township.get(code, []), quota),
            )
            for code, parts in townships.items()
            if region.level is not Level.TOWNSHIP
        )
        # The members furthest behind first; the list shows LIST_SHOWN, the count is in figures.
        late = sorted(
            (m for m in _distinct(data.team) if m.days < quota.expected),
            key=lambda m: (m.days, m.village_code, m.name),
        )[:LIST_SHOWN]
        behind = tuple(
            TeamMember(
                member_id=m.member_id,
                name=m.name,
                village_code=m.village_code,
                village_name=names[m.village_code],
                days=m.days,
                checked_in=m.checked_in,
            )
            for m in late
        )
        return Summary(
            region=region,
            day=day,
            today=day == self.today(),
            quota=quota,
            coverage_days=self._settings.coverage_days,
            figures=self._area(villages, data.team, quota),
            villages=villages,
            townships=rollups,
            lagging=_lagging(villages, quota),
            behind=behind,
        )

    @staticmethod
    def _village(row: VillageRow, team: list[TeamRow], quota: Quota) -> VillageDay:
        # Built from our own counts: construct without re-validating (the daily job makes
        # thousands).
        figures = Figures.model_construct(
            members=len(team),
            checked_in=sum(m.checked_in for m in team),
            behind=sum(m.days < quota.expected for m in team),
            villages=1,
            villages_unverified=int(not row.verified_today),
            visits_today=row.visits_today,
            visits_week=row.visits_week,
            visits_month=row.visits_month,
            households=row.households,
            covered=row.covered,
            not_met=row.not_met,
            problems_new=row.problems_new,
            problems_open=row.problems_open,
            problems_overdue=row.problems_overdue,
            problems_urgent=row.problems_urgent,
            days_total=sum(m.days for m in team),
        )
        return VillageDay.model_construct(
            code=row.code,
            name=row.name,
            township_code=row.township_code,
            township_name=row.township_name,
            figures=figures,
            verified_today=row.verified_today,
        )

    @staticmethod
    def _area(villages: Iterable[VillageDay], team: list[TeamRow], quota: Quota) -> Figures:
        """Village counts add up; a member of two villages counts once in the area."""
        summed = _add(v.figures for v in villages)
        people = _distinct(team)
        return summed.model_copy(
            update={
                "members": len(people),
                "checked_in": sum(m.checked_in for m in people),
                "behind": sum(m.days < quota.expected for m in people),
                "days_total": sum(m.days for m in people),
            }
        )


def _distinct(team: Iterable[TeamRow]) -> list[TeamRow]:
    seen: dict[int, TeamRow] = {}
    for member in team:
        seen.setdefault(member.member_id, member)
    return list(seen.values())


def _lagging(villages: Iterable[VillageDay], quota: Quota) -> tuple[Lagging, ...]:
    found = [
        Lagging(
            village=v,
            below_quota=v.quota_gap(quota) > 0,
            below_coverage=v.coverage_gap > 0,
            score=v.quota_gap(quota) + v.coverage_gap,
        )
        for v in villages
    ]
    lagging = [f for f in found if f.score > 0]
    lagging.sort(key=lambda f: (-f.score, f.village.code))
    return tuple(lagging[:LAGGING_SHOWN])
