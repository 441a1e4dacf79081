"""Gentle reminders (提醒) at ``ZHUCUN_REMIND_TIME``, each at most once a day per person.

* a team member (village role) with no check-in today, unless the day lies in a duty trip or
  an approved leave;
* the author of a visit whose follow-up day is today;
* the assignee (the reporter while unassigned) of an open problem due tomorrow.

This module says who is reminded of what; the edge sends each one through
``DeliveryService.send_once`` under :attr:`Reminder.key`, so a second run the same day (a
restart, a catch-up) sends nothing new.
"""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum

from bot import scope
from bot.clock import Clock
from bot.config import Settings
from bot.dates import local_today
from bot.fieldwork import VISIT_PREFIX
from bot.models import Frozen, Member
from bot.scope import Capability
from bot.services.deliveries import delivery_key
from bot.services.visits import snippet
from storage import members as member_repo
from storage import summary as repo
from storage.db import Database


class ReminderKind(StrEnum):
    CHECKIN = "checkin"
    FOLLOW_UP = "follow_up"
    DUE = "due"


class Reminder(Frozen):
    kind: ReminderKind
    member: Member
    day: date
    subject: str  # what the reminder is about: the day, a visit or a problem number
    params: dict[str, str]

    @property
    def key(self) -> str:
        """The delivery's name: kind, recipient, and subject and day."""
        return delivery_key(
            f"remind.{self.kind.value}", self.member.telegram_user_id, f"{self.subject}@{self.day}"
        )


class ReminderService:
    def __init__(self, db: Database, clock: Clock, settings: Settings) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings

    async def due(self, day: date | None = None) -> list[Reminder]:
        """Everything to remind people of on ``day`` (default: today)."""
        day = day or local_today(self._clock, self._settings.zone)
        members: dict[int, Member | None] = {}

        async def member(member_id: int) -> Member | None:
            if member_id not in members:
                found = await member_repo.get(self._db, member_id)
                members[member_id] = found if found is not None and found.active else None
            return members[member_id]

        found: list[Reminder] = []
        for row in await repo.without_checkin(self._db, day):
            who = await member(row.member_id)
            if who is not None and scope.has_capability(who, Capability.ENTER):
                found.append(
                    Reminder(
                        kind=ReminderKind.CHECKIN,
                        member=who,
                        day=day,
                        subject="checkin",
                        params={"villages": row.village_names},
                    )
                )
        for visit in await repo.follow_ups(self._db, day):
            who = await member(visit.member_id)
            if who is not None and scope.may(who, Capability.READ, visit.village_path):
                found.append(
                    Reminder(
                        kind=ReminderKind.FOLLOW_UP,
                        member=who,
                        day=day,
                        subject=f"{VISIT_PREFIX}{visit.visit_id}",
                        params={
                            "household": visit.household_name,
                            "village": visit.village_name,
                            "number": f"{VISIT_PREFIX}{visit.visit_id}",
                        },
                    )
                )
        for problem in await repo.due_problems(self._db, day + timedelta(days=1)):
            who = await member(problem.assignee_id or problem.reporter_id)
            if who is not None and scope.may(who, Capability.READ, problem.village_path):
                found.append(
                    Reminder(
                        kind=ReminderKind.DUE,
                        member=who,
                        day=day,
                        subject=problem.number,
                        params={
                            "number": problem.number,
                            "village": problem.village_name,
                            "text": snippet(problem.description),
                            "due": problem.due_day.isoformat(),
                        },
                    )
                )
        return found
