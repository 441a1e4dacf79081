"""Who may do each review and team action: every persona, an outsider township and a stranger.

Each action gets a fresh target per caller, so one caller's success cannot hide another's
refusal. ``ok`` means the action took effect; ``not_found`` that the caller was answered as if
the target did not exist; ``forbidden`` that their role may never do it.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path

import pytest

from bot.attendance import AbsenceKind, Approval, Decision, LocationReport, Source
from bot.errors import Forbidden, NotFound
from bot.fieldwork import Category, Severity
from bot.models import Member, Role
from bot.sample import OTHER_TOWNSHIP, OTHER_VILLAGE, SAMPLE_ACTOR, VILLAGE, register
from bot.services.absences import AwayRequest
from bot.services.review import Outcome
from tests.harness import Harness, persona, running

CALLERS = ("member", "cadre", "secretary", "township", "county", "admin", "outsider", "stranger")
_ids = itertools.count(1)
_people = itertools.count(5000)

Action = Callable[[Harness, Member | None], Awaitable[object]]


async def _village_member(bot: Harness) -> Member:
    """A fresh member of 石桥村, registered through an invite."""
    number = next(_people)
    sample = persona("member")
    return await register(
        bot.services.db,
        bot.clock,
        type(sample)(f"p{number}", number, f"队员{number}", Role.MEMBER, VILLAGE),
    )


async def _progress(bot: Harness, actor: Member | None) -> object:
    reporter = await bot.services.members.identify(persona("member").telegram_id)
    reported = await bot.services.problems.report(
        reporter,
        village_code=VILLAGE,
        category=Category.WATER,
        severity=Severity.NORMAL,
        description="水管漏水",
        source=(1, next(_ids)),
    )
    result = await bot.services.review.progress(actor, reported.problem.id)
    assert result.outcome is Outcome.DONE
    return result


async def _confirm(bot: Harness, actor: Member | None) -> object:
    someone = await _village_member(bot)
    recorded = await bot.services.checkins.check_in(
        someone,
        VILLAGE,
        at=bot.clock.now(),
        source=Source(chat_id=2, message_id=next(_ids)),
        location=LocationReport(lat=31.95, lon=106.9, accuracy_m=10),
    )
    result = await bot.services.review.decide_checkin(
        actor, recorded.checkin.id, Decision.CONFIRMED
    )
    assert result.outcome is Outcome.DONE
    return result


async def _approve(bot: Harness, actor: Member | None) -> object:
    someone = await _village_member(bot)
    recorded = await bot.services.absences.record(
        someone,
        AwayRequest(start=date(2026, 12, 1), end=date(2026, 12, 2), reason="病假", kind=None),
        AbsenceKind.LEAVE,
        Source(chat_id=3, message_id=next(_ids)),
    )
    result = await bot.services.review.decide_leave(actor, recorded.absence.id, Approval.APPROVED)
    assert result.outcome is Outcome.DONE
    return result


async def _deactivate(bot: Harness, actor: Member | None) -> object:
    someone = await _village_member(bot)
    result = await bot.services.team.deactivate(actor, someone.id)
    assert result.outcome is Outcome.DONE
    return result


async def _move(bot: Harness, actor: Member | None) -> object:
    someone = await _village_member(bot)
    result = await bot.services.team.move(actor, someone.memberships[0].id, OTHER_VILLAGE)
    assert result.outcome is Outcome.DONE
    return result


async def _revoke(bot: Harness, actor: Member | None) -> object:
    invite = await bot.services.invites.create(
        role=Role.MEMBER, region_code=VILLAGE, name="待撤销", operator=SAMPLE_ACTOR
    )
    result = await bot.services.team.revoke(actor, invite.code)
    assert result.outcome is Outcome.DONE
    return result


REVIEW = {
    "member": "not_found",
    "cadre": "not_found",
    "secretary": "not_found",
    "township": "ok",
    "county": "ok",
    "admin": "ok",
    "outsider": "not_found",
    "stranger": "not_found",
}
TEAM = {
    "member": "forbidden",
    "cadre": "forbidden",
    "secretary": "forbidden",
    "township": "ok",
    "county": "ok",
    "admin": "ok",
    "outsider": "not_found",
    "stranger": "forbidden",
}
TABLE: dict[str, tuple[Action, dict[str, str]]] = {
    "review problem (in progress)": (_progress, REVIEW),
    "confirm check-in": (_confirm, REVIEW),
    "approve leave": (_approve, REVIEW),
    "deactivate": (_deactivate, TEAM),
    "move membership": (_move, TEAM),
    "revoke invite": (_revoke, TEAM),
}


async def _caller(bot: Harness, key: str) -> Member | None:
    if key == "stranger":
        return None
    if key == "outsider":
        invite = await bot.services.invites.create(
            role=Role.TOWNSHIP, region_code=OTHER_TOWNSHIP, name="赵其他", operator=SAMPLE_ACTOR
        )
        registration = await bot.services.invites.redeem(
            invite.code, telegram_user_id=4999, telegram_name="赵其他"
        )
        return registration.member
    return await bot.services.members.identify(persona(key).telegram_id)


@pytest.mark.parametrize("action", list(TABLE))
async def test_who_may(tmp_path: Path, action: str) -> None:
    run, expected = TABLE[action]
    async with running(tmp_path) as bot:
        got: dict[str, str] = {}
        for key in CALLERS:
            actor = await _caller(bot, key)
            try:
                await run(bot, actor)
            except NotFound:
                got[key] = "not_found"
            except Forbidden:
                got[key] = "forbidden"
            else:
                got[key] = "ok"
        assert got == expected
