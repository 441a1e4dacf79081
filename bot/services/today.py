"""今日 / ``/today`` for a member: today's check-ins, visits and problems, and the households in
scope not visited within ``coverage_days`` (never visited first, then the oldest visit)."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from pydantic import BaseModel, ConfigDict

from bot import scope
from bot.attendance import CheckIn
from bot.clock import Clock
from bot.config import Settings
from bot.dates import local_today
from bot.errors import NotFound
from bot.fieldwork import Problem, Visit
from bot.models import Household, Member
from bot.scope import Capability
from bot.services.problems import ProblemService
from bot.services.visits import VisitService
from storage import checkins as checkin_repo
from storage.db import Database

UNCOVERED_SHOWN = 10


class Today(BaseModel):
    model_config = ConfigDict(frozen=True)

    team: bool  # a village role: check-ins, visits and problems are theirs to make
    leader: bool  # a township/county/admin role: their area's day comes with the summary
    checkins: tuple[CheckIn, ...]
    visits: tuple[Visit, ...]
    problems: tuple[Problem, ...]
    uncovered: tuple[Household, ...]
    uncovered_count: int
    coverage_days: int


class TodayService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: Settings,
        visits: VisitService,
        problems: ProblemService,
    ) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings
        self._visits = visits
        self._problems = problems

    async def today(self, member: Member | None) -> Today:
        if member is None or not member.active:
            raise NotFound()
        zone = self._settings.zone
        day = local_today(self._clock, zone)
        start = datetime.combine(day, time(0), tzinfo=zone)
        end = start + timedelta(days=1)
        team = scope.has_capability(member, Capability.ENTER)
        checkins = await checkin_repo.for_member(self._db, member.id, day, day) if team else []
        visits = await self._visits.entered_between(member, start, end) if team else []
        problems = await self._problems.reported_between(member, start, end) if team else []
        uncovered, count = await self._visits.not_covered(member, UNCOVERED_SHOWN)
        return Today(
            team=team,
            leader=scope.has_capability(member, Capability.REVIEW),
            checkins=tuple(checkins),
            visits=tuple(visits),
            problems=tuple(problems),
            uncovered=tuple(uncovered),
            uncovered_count=count,
            coverage_days=self._settings.coverage_days,
        )
