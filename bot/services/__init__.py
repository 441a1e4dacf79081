"""Business rules: scope, validation, transactions. No Telegram types, no SQL."""

from __future__ import annotations

from dataclasses import dataclass

from bot.clock import Clock
from bot.config import Settings
from bot.services.absences import AbsenceService
from bot.services.checkins import CheckInService
from bot.services.deliveries import DeliveryService
from bot.services.households import HouseholdService
from bot.services.invites import InviteService
from bot.services.members import MemberService
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

    @classmethod
    def create(cls, db: Database, clock: Clock, settings: Settings) -> Services:
        return cls(
            db=db,
            clock=clock,
            settings=settings,
            members=MemberService(db, clock),
            invites=InviteService(db, clock),
            households=HouseholdService(db, clock),
            checkins=CheckInService(db, clock, settings),
            absences=AbsenceService(db, clock, settings),
            deliveries=DeliveryService(db, clock),
        )
