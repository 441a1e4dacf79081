"""Who may check in where, and who may record absences: every persona against every village."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bot.attendance import AbsenceKind, LocationReport, Source
from bot.errors import Forbidden, NotFound
from bot.models import Member
from bot.sample import OTHER_TOWNSHIP, OTHER_VILLAGE, PERSONAS, TOWNSHIP, VILLAGE
from bot.services.absences import AwayRequest
from tests.harness import Harness, running

OTHER_TOWNSHIP_VILLAGE = "511902102001"  # 青龙村, 水宁寺镇
OK, HIDDEN, REFUSED = "ok", "not_found", "forbidden"

# persona key → outcome per target: the persona's own village only, for village roles.
CHECKIN_TABLE: dict[str, dict[str, str]] = {
    "member": {VILLAGE: OK, OTHER_VILLAGE: HIDDEN, OTHER_TOWNSHIP_VILLAGE: HIDDEN},
    "cadre": {VILLAGE: OK, OTHER_VILLAGE: HIDDEN, OTHER_TOWNSHIP_VILLAGE: HIDDEN},
    "secretary": {VILLAGE: OK, OTHER_VILLAGE: HIDDEN, OTHER_TOWNSHIP_VILLAGE: HIDDEN},
    "township": {VILLAGE: REFUSED, OTHER_VILLAGE: REFUSED, OTHER_TOWNSHIP_VILLAGE: REFUSED},
    "county": {VILLAGE: REFUSED, OTHER_VILLAGE: REFUSED, OTHER_TOWNSHIP_VILLAGE: REFUSED},
    "admin": {VILLAGE: REFUSED, OTHER_VILLAGE: REFUSED, OTHER_TOWNSHIP_VILLAGE: REFUSED},
}
# Non-village regions are never check-in targets, not even for their leaders.
NOT_VILLAGES = (TOWNSHIP, OTHER_TOWNSHIP, "no-such-code")
ABSENCE_TABLE = {"member": OK, "cadre": OK, "secretary": OK, "township": REFUSED}
ABSENCE_TABLE |= {"county": REFUSED, "admin": REFUSED}


async def _member(bot: Harness, key: str) -> Member:
    persona = next(p for p in PERSONAS if p.key == key)
    member = await bot.services.members.identify(persona.telegram_id)
    assert member is not None
    return member


async def _attempt(bot: Harness, member: Member, village: str, message_id: int) -> str:
    try:
        await bot.services.checkins.check_in(
            member,
            village,
            at=bot.clock.now(),
            source=Source(chat_id=member.telegram_user_id, message_id=message_id),
            location=LocationReport(lat=31.88, lon=106.81, accuracy_m=10),
        )
    except NotFound:
        return HIDDEN
    except Forbidden:
        return REFUSED
    return OK


async def test_checkin_scope_table(tmp_path: Path) -> None:
    async with running(tmp_path) as bot:
        message_id = 0
        for key, row in CHECKIN_TABLE.items():
            member = await _member(bot, key)
            for village, expected in row.items():
                message_id += 1
                assert await _attempt(bot, member, village, message_id) == expected, (key, village)
            for region in NOT_VILLAGES:
                message_id += 1
                outcome = await _attempt(bot, member, region, message_id)
                assert outcome in (HIDDEN, REFUSED), (key, region)
            may_enter = any(v == OK for v in row.values())
            villages = (
                [v.code for v in await bot.services.checkins.villages(member)] if may_enter else []
            )
            assert villages == [v for v, outcome in row.items() if outcome == OK], key
            if not may_enter:
                with pytest.raises(Forbidden):
                    await bot.services.checkins.villages(member)
        # Everyone else got nothing: only the three village roles' own check-ins exist.
        rows = await bot.services.db.fetchall("SELECT village_code FROM checkins")
        assert sorted(r["village_code"] for r in rows) == [VILLAGE] * 3


async def test_absence_scope_table(tmp_path: Path) -> None:
    async with running(tmp_path) as bot:
        request = AwayRequest(
            start=date(2026, 11, 29), end=date(2026, 11, 29), reason="开会", kind=None
        )
        for number, (key, expected) in enumerate(ABSENCE_TABLE.items(), start=1):
            member = await _member(bot, key)
            try:
                bot.services.absences.parse(member, "明天 开会")
                await bot.services.absences.record(
                    member, request, AbsenceKind.DUTY_TRIP, Source(chat_id=1, message_id=number)
                )
                outcome = OK
            except Forbidden:
                outcome = REFUSED
            assert outcome == expected, key
        rows = await bot.services.db.fetchall("SELECT count(*) AS n FROM absences")
        assert rows[0]["n"] == 3


async def test_residency_of_someone_else_is_scoped(tmp_path: Path) -> None:
    async with running(tmp_path) as bot:
        member = await _member(bot, "member")
        for key in ("secretary", "township", "county", "admin"):
            found = await bot.services.checkins.residency(member, actor=await _member(bot, key))
            assert found.member_id == member.id
        outsider = await _member(bot, "member")
        stranger_view = outsider.model_copy(update={"id": -1, "memberships": ()})
        with pytest.raises(NotFound):
            await bot.services.checkins.residency(member, actor=stranger_view)
