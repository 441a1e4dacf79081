"""Business rules: scope, validation, transactions. No Telegram types, no SQL."""

from __future__ import annotations

from dataclasses import dataclass

from bot.clock import Clock
from bot.config import Settings
from bot.services.absences import AbsenceService
from bot.services.checkins import CheckInService
from bot.services.deliveries import DeliveryService
from bot.services.exports import ExportService
from bot.services.files import FileService
from bot.services.households import PROBLEMS_SLOT, VISITS_SLOT, HouseholdService
from bot.services.invites import InviteService
from bot.services.members import MemberService
from bot.services.policies import PolicyService
from bot.services.problems import ProblemService
from bot.services.reminders import ReminderService
from bot.services.review import ReviewService
from bot.services.summary import SummaryService
from bot.services.team import TeamService
from bot.services.today import TodayService
from bot.services.visits import VisitService
from storage.db import Database


@dataclass(frozen=True)
class Services:
    """Everything a handler may call, built once per process in ``post_init``."""

    db: Database
    clock: Clock
    settings: Settings
    members: MemberService
    invites: InviteService
    households: HouseholdService
    checkins: CheckInService
    absences: AbsenceService
    deliveries: DeliveryService
    files: FileService
    visits: VisitService
    problems: ProblemService
    today: TodayService
    review: ReviewService
    team: TeamService
    summary: SummaryService
    reminders: ReminderService
    policies: PolicyService
    exports: ExportService

    @classmethod
    def create(cls, db: Database, clock: Clock, settings: Settings) -> Services:
        households = HouseholdService(db, clock)
        visits = VisitService(db, clock, settings, households)
        problems = ProblemService(db, clock, settings)
        households.register_section(VISITS_SLOT, visits.card_section)
        households.register_section(PROBLEMS_SLOT, problems.card_section)
        checkins = CheckInService(db, clock, settings)
        policies = PolicyService(db, clock)
        return cls(
            db=db,
            clock=clock,
            settings=settings,
            members=MemberService(db, clock),
            invites=InviteService(db, clock),
            households=households,
            checkins=checkins,
            absences=AbsenceService(db, clock, settings),
            deliveries=DeliveryService(db, clock),
            files=FileService(db, clock, settings),
            visits=visits,
            problems=problems,
            today=TodayService(db, clock, settings, visits, problems),
            # The policy library's unanswered questions are a queue of the review.
            review=ReviewService(db, clock, settings, questions=policies),
            team=TeamService(db, clock, checkins),
            summary=SummaryService(db, clock, settings),
            reminders=ReminderService(db, clock, settings),
            policies=policies,
            exports=ExportService(db, clock, settings),
        )
