"""The sample township used by ``zhucun demo`` and by the tests.

It is imported through the same import service an operator uses, and its people register
through real invites, so the playground and the tests exercise the real paths rather than
rows written behind the services' backs.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from bot.clock import Clock
from bot.models import Member, Role
from bot.services.imports import import_households, import_regions
from bot.services.invites import InviteService
from bot.services.policies import PolicyService, starter_library
from storage.audit import operator_actor
from storage.db import Database

SAMPLE_ACTOR = operator_actor("sample")
VILLAGE = "511902101001"  # 石桥村
OTHER_VILLAGE = "511902101002"  # 桂花村
TOWNSHIP = "511902101"  # 清江镇
OTHER_TOWNSHIP = "511902102"  # 水宁寺镇
COUNTY = "511902"  # 巴州区


@dataclass(frozen=True)
class Persona:
    """A person of the sample township: their Telegram identity and the invite they accept."""

    key: str
    telegram_id: int
    name: str
    role: Role
    region_code: str | None
    language_code: str = "zh-hans"


PERSONAS: tuple[Persona, ...] = (
    Persona("member", 1001, "李明", Role.MEMBER, VILLAGE),
    Persona("cadre", 1002, "张桂兰", Role.CADRE, VILLAGE),
    Persona("secretary", 1003, "王建军", Role.SECRETARY, VILLAGE),
    Persona("township", 1004, "陈晓东", Role.TOWNSHIP, TOWNSHIP),
    Persona("county", 1005, "刘志强", Role.COUNTY, COUNTY),
    Persona("admin", 1006, "周敏", Role.ADMIN, None),
)
STRANGER = Persona("stranger", 1099, "游客", Role.MEMBER, None)


def sample_file(name: str) -> Path:
    """A bundled sample CSV, as a real path the importer can open."""
    return Path(str(resources.files("bot").joinpath("sampledata", name)))


async def seed_regions_and_households(db: Database, clock: Clock) -> None:
    await import_regions(db, clock, sample_file("regions.csv"), SAMPLE_ACTOR)
    await import_households(db, clock, sample_file("households.csv"), SAMPLE_ACTOR)


async def seed_policies(db: Database, clock: Clock) -> None:
    """The starter policy library (bot/policydata), imported as ``zhucun import policies`` would."""
    await PolicyService(db, clock).import_path(starter_library(), SAMPLE_ACTOR)


async def register(db: Database, clock: Clock, persona: Persona) -> Member:
    """Invite and register one persona exactly as ``zhucun invite`` and ``/start`` would."""
    invites = InviteService(db, clock)
    invite = await invites.create(
        role=persona.role,
        region_code=persona.region_code,
        name=persona.name,
        operator=SAMPLE_ACTOR,
    )
    registration = await invites.redeem(
        invite.code, telegram_user_id=persona.telegram_id, telegram_name=persona.name
    )
    return registration.member


async def seed_people(db: Database, clock: Clock) -> dict[str, Member]:
    return {p.key: await register(db, clock, p) for p in PERSONAS}
