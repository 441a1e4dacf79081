"""Reminders: a member without a check-in today, a visit's follow-up day, a problem due
tomorrow; each at most once a day, none on a duty trip day, none when switched off."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot import jobs
from bot.attendance import AbsenceKind, LocationReport, Source
from bot.fieldwork import Category, Severity
from bot.models import Member
from bot.sample import Persona
from bot.sending import resume_deliveries
from bot.services.reminders import ReminderKind
from storage import deliveries as delivery_repo
from storage import members as member_repo
from storage.deliveries import DeliveryStatus
from tests.harness import Harness, persona, running

ZONE = ZoneInfo("Asia/Shanghai")
MEMBER, CADRE, SECRETARY = persona("member"), persona("cadre"), persona("secretary")
TOWNSHIP = persona("township")
TODAY = date(2026, 11, 28)
NOON = datetime(2026, 11, 28, 12, 0, tzinfo=ZONE)


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[Harness]:
    async with running(tmp_path) as harness:
        for who in (MEMBER, CADRE, SECRETARY, TOWNSHIP):
            harness.api.add_user(who.telegram_id)
        yield harness


async def member(bot: Harness, who: Persona) -> Member:
    found = await bot.services.members.identify(who.telegram_id)
    assert found is not None
    return found


def at(bot: Harness, day: date, hour: int = 9) -> None:
    bot.clock.set(datetime(day.year, day.month, day.day, hour, 0, tzinfo=ZONE))


async def seed(bot: Harness) -> None:
    """李明 checked in today, has a follow-up today and a problem due tomorrow; 张桂兰 is on a
    duty trip today; 王建军 asked for leave today, not yet approved."""
    services = bot.services
    li = await member(bot, MEMBER)
    at(bot, date(2026, 11, 25))
    household = (await services.visits.candidates(li, "王秀英"))[0].household
    await services.visits.record(
        li,
        household.id,
        notes=services.visits.notes("老伴卧床"),
        at=bot.clock.now(),
        source=(MEMBER.telegram_id, 800),
        follow_up_day=TODAY,
    )
    at(bot, date(2026, 11, 26))
    await services.problems.report(  # urgent: due in 3 days, on 11-29 — tomorrow
        li,
        village_code="511902101001",
        category=Category.WATER,
        severity=Severity.URGENT,
        description="水管冻裂",
        source=(MEMBER.telegram_id, 801),
    )
    at(bot, TODAY)
    await services.checkins.check_in(
        li,
        "511902101001",
        at=bot.clock.now(),
        source=Source(chat_id=MEMBER.telegram_id, message_id=802),
        location=LocationReport(lat=31.8810, lon=106.8130, accuracy_m=15),
    )
    zhang = await member(bot, CADRE)
    trip = services.absences.parse(zhang, "今天到明天 到县里开会")
    await services.absences.record(
        zhang, trip, AbsenceKind.DUTY_TRIP, Source(chat_id=CADRE.telegram_id, message_id=803)
    )
    wang = await member(bot, SECRETARY)
    leave = services.absences.parse(wang, "今天 请假 看病")
    await services.absences.record(
        wang, leave, AbsenceKind.LEAVE, Source(chat_id=SECRETARY.telegram_id, message_id=804)
    )
    bot.clock.set(NOON)


async def test_who_is_reminded_of_what(bot: Harness) -> None:
    await seed(bot)
    due = await bot.services.reminders.due()
    found = {(r.member.name, r.kind) for r in due}
    assert found == {
        ("王建军", ReminderKind.CHECKIN),  # pending leave is not an approved absence
        ("李明", ReminderKind.FOLLOW_UP),
        ("李明", ReminderKind.DUE),
    }


async def test_each_reminder_is_sent_at_most_once_a_day(bot: Harness) -> None:
    await seed(bot)
    assert await jobs.send_reminders(bot.app) == 3
    wang = bot.api.texts_to(SECRETARY.telegram_id)
    assert wang == [
        "🔔 今天还没有签到（石桥村）。到村后请点「签到」发送位置；"
        "如果今天公务外出或请假，请用 /away 登记。"
    ]
    li = bot.api.texts_to(MEMBER.telegram_id)
    assert li == [
        "🔔 今天是 王秀英（石桥村）的回访日（V1）。回访后请用「走访」记录。",
        "🔔 问题 P1（石桥村）明天（2026-11-29）到期：水管冻裂。请抓紧办理。",
    ]
    assert bot.api.texts_to(CADRE.telegram_id) == []  # on a duty trip today
    assert bot.api.texts_to(TOWNSHIP.telegram_id) == []  # no village role
    # Again the same day (a second run, a restart's catch-up): nothing new.
    assert await jobs.send_reminders(bot.app) == 0
    await jobs.catch_up(bot.app)
    assert len(bot.api.texts_to(MEMBER.telegram_id)) == 2
    assert len(bot.api.texts_to(SECRETARY.telegram_id)) == 1
    # The next day is another day.
    at(bot, date(2026, 11, 29), hour=12)
    assert await jobs.send_reminders(bot.app) >= 1
    assert len(bot.api.texts_to(SECRETARY.telegram_id)) == 2


async def test_a_reminder_left_sending_by_a_crash_is_resumed_once(bot: Harness) -> None:
    await seed(bot)
    (reminder,) = [r for r in await bot.services.reminders.due() if r.kind is ReminderKind.CHECKIN]
    text = "🔔 kept text"
    await delivery_repo.begin(
        bot.services.db, reminder.key, SECRETARY.telegram_id, text, bot.clock.now()
    )
    assert await resume_deliveries(bot.app) == 1
    assert bot.api.texts_to(SECRETARY.telegram_id) == [text]
    assert await jobs.send_reminders(bot.app) == 2  # the others; this one is sent already
    assert bot.api.texts_to(SECRETARY.telegram_id) == [text]
    delivery = await bot.services.deliveries.get(reminder.key)
    assert delivery is not None and delivery.status is DeliveryStatus.SENT


async def test_deactivated_members_get_no_reminders(bot: Harness) -> None:
    await seed(bot)
    wang = await member(bot, SECRETARY)
    async with bot.services.db.transaction() as tx:
        await member_repo.set_active(tx, wang.id, False)
    await jobs.send_reminders(bot.app)
    assert bot.api.texts_to(SECRETARY.telegram_id) == []


async def test_catch_up_reminds_only_within_hours_of_the_time(bot: Harness) -> None:
    await seed(bot)
    at(bot, TODAY, hour=11)
    await jobs.catch_up(bot.app)
    assert bot.api.texts_to(SECRETARY.telegram_id) == []  # not yet time
    at(bot, TODAY, hour=19)
    await jobs.catch_up(bot.app)
    assert bot.api.texts_to(SECRETARY.telegram_id) == []  # 7 hours late: too late to nag
    at(bot, TODAY, hour=13)
    await jobs.catch_up(bot.app)
    assert len(bot.api.texts_to(SECRETARY.telegram_id)) == 1


async def test_no_reminders_when_switched_off(tmp_path: Path) -> None:
    async with running(tmp_path, env={"ZHUCUN_REMIND_TIME": ""}) as harness:
        harness.api.add_user(SECRETARY.telegram_id)
        harness.clock.set(NOON)
        await jobs.catch_up(harness.app)
        assert harness.api.texts_to(SECRETARY.telegram_id) == []
        queue = harness.app.job_queue
        assert queue is not None
        assert "remind" not in {job.name for job in queue.jobs()}
