"""/away and the monthly residency count in /me, through the real Application."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.attendance import Absence, AbsenceKind, Approval, LocationReport, Source
from bot.services.absences import classify
from storage import audit
from tests.harness import Harness, persona, running

MEMBER = persona("member")
INSIDE = (31.8810, 106.8130)


@pytest.fixture
async def bot(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> AsyncIterator[Harness]:
    async with running(tmp_path) as harness:
        yield harness
    assert [r.getMessage() for r in caplog.get_records("call") if r.levelno >= logging.ERROR] == []


async def absences(bot: Harness) -> list[Absence]:
    rows = await bot.services.db.fetchall("SELECT * FROM absences ORDER BY id")
    return [Absence.model_validate(dict(row)) for row in rows]


async def press(bot: Harness, user_id: int, label: str) -> list[str]:
    for message in reversed(bot.api.bot_messages(user_id)):
        rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
        found = [b["callback_data"] for row in rows for b in row if b["text"] == label]
        if found:
            break
    else:
        raise AssertionError(f"no button {label!r}")
    await bot.deliver(bot.api.press(user_id, message, found[0]))
    return [str(m.get("text", "")) for m in bot.api.bot_messages(user_id)]


# --- kinds --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("到县里开会", AbsenceKind.DUTY_TRIP),
        ("参加区委党校培训", AbsenceKind.DUTY_TRIP),
        ("去市里出差", AbsenceKind.DUTY_TRIP),
        ("集中学习", AbsenceKind.DUTY_TRIP),
        ("公务", AbsenceKind.DUTY_TRIP),
        ("请假", AbsenceKind.LEAVE),
        ("病假 感冒发烧", AbsenceKind.LEAVE),
        ("家里有事", AbsenceKind.LEAVE),
        ("county meeting", AbsenceKind.DUTY_TRIP),
        ("sick leave", AbsenceKind.LEAVE),
        ("去镇上", None),
        ("请假去学习", None),  # both kinds named: ask
    ],
)
def test_classify(reason: str, kind: AbsenceKind | None) -> None:
    assert classify(reason) is kind


async def test_duty_trip_one_day(bot: Harness) -> None:
    replies = await bot.command(MEMBER, "away", "明天 到县里开会")
    assert len(replies) == 1
    assert "已登记公务外出" in replies[0] and "11月29日" in replies[0] and "共 1 天" in replies[0]
    [stored] = await absences(bot)
    assert stored.kind is AbsenceKind.DUTY_TRIP and stored.approval is None
    assert (stored.from_day, stored.to_day) == (date(2026, 11, 29), date(2026, 11, 29))
    assert stored.reason == "到县里开会"
    events = await audit.events_for(bot.services.db, "absence", stored.id)
    assert [e.action for e in events] == ["absence.create"]


@pytest.mark.parametrize(
    ("args", "start", "end"),
    [
        ("12月1日到3日 请假 家里有事", date(2026, 12, 1), date(2026, 12, 3)),
        ("12月1日-12月3日 病假", date(2026, 12, 1), date(2026, 12, 3)),
        ("12/1 12/3 事假", date(2026, 12, 1), date(2026, 12, 3)),
        ("12月30日到1月2日 休假", date(2026, 12, 30), date(2027, 1, 2)),
    ],
)
async def test_leave_ranges_are_pending(bot: Harness, args: str, start: date, end: date) -> None:
    replies = await bot.command(MEMBER, "away", args)
    assert "已提交请假" in replies[0] and "乡镇领导审批" in replies[0]
    assert f"共 {(end - start).days + 1} 天" in replies[0]
    [stored] = await absences(bot)
    assert stored.kind is AbsenceKind.LEAVE and stored.approval is Approval.PENDING
    assert (stored.from_day, stored.to_day) == (start, end)
    assert stored.decided_by is None and stored.decided_at is None


async def test_unclear_reason_asks_with_two_buttons(bot: Harness) -> None:
    replies = await bot.command(MEMBER, "away", "后天 去镇上")
    assert "公务外出还是请假" in replies[0]
    assert await absences(bot) == []
    texts = await press(bot, MEMBER.telegram_id, "公务外出")
    assert "已登记公务外出" in texts[-1]
    [stored] = await absences(bot)
    assert stored.kind is AbsenceKind.DUTY_TRIP and stored.from_day == date(2026, 11, 30)
    # The question's buttons are gone once answered.
    assert not bot.api.last_message_to(MEMBER.telegram_id).get("reply_markup")


async def test_unclear_reason_leave_button(bot: Harness) -> None:
    await bot.command(MEMBER, "away", "12月5日 回老家")
    texts = await press(bot, MEMBER.telegram_id, "请假")
    assert "已提交请假" in texts[-1]
    [stored] = await absences(bot)
    assert stored.approval is Approval.PENDING


async def test_duplicate_delivery_records_one_absence(bot: Harness) -> None:
    update = bot.api.command(MEMBER.telegram_id, "away", "明天 开会")
    await bot.deliver(update)
    await bot.deliver(update)
    assert len(await absences(bot)) == 1
    assert "已登记公务外出" in bot.api.texts_to(MEMBER.telegram_id)[-1]


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        ("", "用法"),
        ("随便 说说", "不是日期"),
        ("2月30日 开会", "没有「2月30日」这一天"),
        ("12月3日到12月1日 请假", "结束日期早于开始日期"),
        ("11月1日 开会", "7 天以前"),
        ("明天", "请写明事由"),
        ("12月1日到1月20日 请假", "最多登记 31 天"),
    ],
)
async def test_bad_away_input_is_refused(bot: Harness, args: str, shown: str) -> None:
    replies = await bot.command(MEMBER, "away", args)
    assert len(replies) == 1 and shown in replies[0]
    assert await absences(bot) == []


async def test_future_leave_and_recent_past_allowed(bot: Harness) -> None:
    await bot.command(MEMBER, "away", "2027-01-10 请假")
    await bot.command(MEMBER, "away", "11月21日 开会")  # exactly 7 days ago
    assert [a.from_day for a in await absences(bot)] == [date(2027, 1, 10), date(2026, 11, 21)]


@pytest.mark.parametrize("key", ["township", "county", "admin"])
async def test_leaders_do_not_record_absences(bot: Harness, key: str) -> None:
    replies = await bot.command(persona(key), "away", "明天 开会")
    assert "只有驻村队员" in replies[0]
    assert await absences(bot) == []


async def test_stranger_cannot_record_absences(bot: Harness) -> None:
    replies = await bot.command(1099, "away", "明天 开会")
    assert "还没有注册" in replies[0]


# --- residency in /me ---------------------------------------------------------------------------


async def _checkin(bot: Harness, message_id: int, **location: Any) -> None:
    member = await bot.services.members.identify(MEMBER.telegram_id)
    assert member is not None
    report = LocationReport(lat=INSIDE[0], lon=INSIDE[1], **location) if location else None
    await bot.services.checkins.check_in(
        member,
        "511902101001",
        at=bot.clock.now(),
        source=Source(chat_id=MEMBER.telegram_id, message_id=message_id),
        location=report,
    )


async def test_me_counts_days_in_the_village(bot: Harness) -> None:
    # 2026-11-28 is a Saturday; the month has 30 days.
    bot.clock.advance(timedelta(days=-3))  # 11-25: verified, inside
    await _checkin(bot, 9001, accuracy_m=10)
    await _checkin(bot, 9002, accuracy_m=10)  # same day again: still one day
    bot.clock.advance(timedelta(days=1))  # 11-26: unverified (pin dropped by hand)
    await _checkin(bot, 9003, accuracy_m=None)
    bot.clock.advance(timedelta(days=1))  # 11-27: verified, inside
    await _checkin(bot, 9004, accuracy_m=20)
    bot.clock.advance(timedelta(days=1))  # back to 11-28
    await bot.command(MEMBER, "away", "昨天 到县里开会")  # duty trip on 11-27: already counted
    await bot.command(MEMBER, "away", "前天 参加培训")  # duty trip on 11-26: counts
    await bot.command(MEMBER, "away", "今天 请假")  # leave: never counts

    member = await bot.services.members.identify(MEMBER.telegram_id)
    assert member is not None
    days = await bot.services.checkins.residency(member)
    assert days.checkin_days == (date(2026, 11, 25), date(2026, 11, 27))
    assert days.duty_days == (date(2026, 11, 26), date(2026, 11, 27))
    assert days.counted == 3 and days.required == 20 and days.missing == 17
    assert days.days_left == 3  # 28, 29, 30: none counted yet

    replies = await bot.command(MEMBER, "me")
    assert len(replies) == 1
    assert "本月在村：3/20 天" in replies[0] and "公务外出 2 天" in replies[0]
    assert "还差 17 天" in replies[0] and "本月还剩 3 天" in replies[0]


async def test_me_for_a_fresh_member_and_leaders(bot: Harness) -> None:
    replies = await bot.command(MEMBER, "me")
    assert "本月在村：0/20 天" in replies[0] and "本月还剩 3 天" in replies[0]
    leader = await bot.command(persona("township"), "me")
    assert "本月在村" not in leader[0]


async def test_residency_quota_met_and_other_months(tmp_path: Path) -> None:
    async with running(tmp_path, env={"ZHUCUN_REQUIRED_DAYS": "1"}) as bot:
        await _checkin(bot, 9101, accuracy_m=10)
        replies = await bot.command(MEMBER, "me")
        assert "1/1 天" in replies[0] and "已达到要求" in replies[0]
        member = await bot.services.members.identify(MEMBER.telegram_id)
        assert member is not None
        past = await bot.services.checkins.residency(member, date(2026, 10, 1))
        assert past.counted == 0 and past.days_left == 0
        future = await bot.services.checkins.residency(member, date(2026, 12, 1))
        assert future.counted == 0 and future.days_left == 31
