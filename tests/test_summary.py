"""The daily summary: its figures on a seeded day, /summary, its list buttons, scope, the county
roll-up, leaders' /today, ``zhucun summary`` and the daily job run directly."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot import jobs
from bot.attendance import AbsenceKind, LocationReport, Source
from bot.cli import main
from bot.errors import Forbidden, InvalidInput, NotFound
from bot.fieldwork import Category, Severity
from bot.models import Member, Role
from bot.sample import Persona, register
from bot.services.summary import ListKind, quota_for
from storage import members as member_repo
from storage.deliveries import DeliveryStatus
from tests.harness import Harness, persona, running

ZONE = ZoneInfo("Asia/Shanghai")
MEMBER, CADRE, SECRETARY = persona("member"), persona("cadre"), persona("secretary")
TOWNSHIP, COUNTY, ADMIN = persona("township"), persona("county"), persona("admin")
OTHER_LEADER = Persona("other_township", 1201, "赵国庆", Role.TOWNSHIP, "511902102")  # 水宁寺镇
QINGJIANG, SHUINING, BAZHOU = "511902101", "511902102", "511902"
INSIDE = (31.8810, 106.8130)  # about 110 m from 石桥村's centre
TODAY = date(2026, 11, 28)
QINGJIANG_NAMES = ("清江镇", "石桥村", "桂花村", "柏林村", "李明", "王秀英", "曾德华")


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[Harness]:
    async with running(tmp_path) as harness:
        await register(harness.services.db, harness.clock, OTHER_LEADER)
        for who in (MEMBER, CADRE, SECRETARY, TOWNSHIP, COUNTY, ADMIN, OTHER_LEADER):
            harness.api.add_user(who.telegram_id)  # each has a private chat with the bot
        yield harness


async def member(bot: Harness, who: Persona) -> Member:
    found = await bot.services.members.identify(who.telegram_id)
    assert found is not None
    return found


def at_day(bot: Harness, day: date, hour: int = 9) -> None:
    bot.clock.set(datetime(day.year, day.month, day.day, hour, 0, tzinfo=ZONE))


async def check_in(bot: Harness, who: Persona, message_id: int, accuracy: float | None) -> None:
    await bot.services.checkins.check_in(
        await member(bot, who),
        "511902101001",
        at=bot.clock.now(),
        source=Source(chat_id=who.telegram_id, message_id=message_id),
        location=LocationReport(lat=INSIDE[0], lon=INSIDE[1], accuracy_m=accuracy),
    )


async def visit(bot: Harness, text: str, message_id: int, **extra: Any) -> None:
    services = bot.services
    li = await member(bot, MEMBER)
    name = text.split()[-1]
    household = (await services.visits.candidates(li, name))[0].household
    await services.visits.record(
        li,
        household.id,
        notes=services.visits.notes(text.rsplit(" ", 1)[0]),
        at=bot.clock.now(),
        source=(MEMBER.telegram_id, message_id),
        **extra,
    )


async def seed_day(bot: Harness) -> None:
    """Entries made through the services on the days before and on 2026-11-28.

    李明: verified check-ins on 11-25, 11-27 and 11-28 (3 days). 张桂兰: a duty trip on
    11-20…22 (3 days), no check-in today. 王建军: today, a pin dropped by hand (not verified).
    Visits: 王秀英 today (housing not met), 曾德华 entered today for 11-24. Problems: an urgent
    one today, a normal one from 11-10 (due 11-24: overdue).
    """
    services = bot.services
    at_day(bot, date(2026, 11, 10))
    await services.problems.report(
        await member(bot, MEMBER),
        village_code="511902101001",
        category=Category.ROADS,
        severity=Severity.NORMAL,
        description="村道塌方",
        source=(MEMBER.telegram_id, 900),
    )
    at_day(bot, date(2026, 11, 25))
    await check_in(bot, MEMBER, 901, accuracy=10)
    request = services.absences.parse(await member(bot, CADRE), "11月20日到22日 到县里开会")
    await services.absences.record(
        await member(bot, CADRE),
        request,
        AbsenceKind.DUTY_TRIP,
        Source(chat_id=CADRE.telegram_id, message_id=902),
    )
    at_day(bot, date(2026, 11, 27))
    await check_in(bot, MEMBER, 903, accuracy=15)
    at_day(bot, TODAY)
    await check_in(bot, MEMBER, 904, accuracy=20)
    await check_in(bot, SECRETARY, 905, accuracy=None)
    await visit(bot, "老伴卧床 王秀英", 906, observations={"housing": "not_met"})
    await visit(bot, "11月24日 看望 曾德华", 907)
    await services.problems.report(
        await member(bot, MEMBER),
        village_code="511902101001",
        category=Category.HOUSING,
        severity=Severity.URGENT,
        description="房屋漏雨",
        source=(MEMBER.telegram_id, 908),
    )


def inline(message: dict[str, Any]) -> list[tuple[str, str]]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [(b["text"], b.get("callback_data", "")) for row in rows for b in row]


def summary_messages(bot: Harness, chat_id: int) -> list[dict[str, Any]]:
    return [m for m in bot.api.bot_messages(chat_id) if "每日汇总" in str(m.get("text", ""))]


def photos(bot: Harness, chat_id: int) -> list[dict[str, Any]]:
    return [m for m in bot.api.bot_messages(chat_id) if "photo" in m]


# --- the figures ----------------------------------------------------------------------------------


async def test_summary_counts_a_seeded_day(bot: Harness) -> None:
    await seed_day(bot)
    summary = await bot.services.summary.summary(await member(bot, TOWNSHIP), QINGJIANG, TODAY)
    f = summary.figures
    assert (f.members, f.checked_in) == (3, 2)
    assert (f.villages, f.villages_unverified) == (3, 2)
    assert [v.name for v in summary.unverified] == ["桂花村", "柏林村"]
    # Pro-rated quota: 20 × 28 / 30 = 18.67 → 18 days by the 28th; everyone is behind.
    assert summary.quota == quota_for(TODAY, 20)
    assert summary.quota.expected == 18
    assert f.behind == 3
    assert {m.name: m.days for m in summary.behind} == {"李明": 3, "张桂兰": 3, "王建军": 0}
    assert (f.visits_today, f.visits_week, f.visits_month) == (1, 2, 2)
    assert (f.covered, f.households, f.not_met) == (2, 12, 1)
    assert (f.problems_new, f.problems_open, f.problems_overdue, f.problems_urgent) == (
        1,
        2,
        1,
        1,
    )
    # Lagging: villages without a team fall short entirely; ties by code.
    assert [lag.village.name for lag in summary.lagging] == ["桂花村", "柏林村", "石桥村"]
    shiqiao = summary.lagging[2]
    assert shiqiao.below_quota and shiqiao.below_coverage
    assert shiqiao.village.figures.average_days == 2.0  # (3 + 3 + 0) / 3


async def test_the_summary_command_sends_text_buttons_and_chart(bot: Harness) -> None:
    await seed_day(bot)
    await bot.command(TOWNSHIP, "summary")
    text_message = summary_messages(bot, TOWNSHIP.telegram_id)[-1]
    text = text_message["text"]
    for line in (
        "清江镇 · 11月28日 每日汇总",
        "当天签到：2/3 人",
        "无人核验在村：2/3 个村",
        "在村天数落后：3 人（每月要求 20 天，按日折算到 28 日应有 18 天）",
        "走访：当天 1 次，近 7 天 2 次",
        "30 天内走访覆盖：2/12 户（17%）",
        "两不愁三保障有未达标项：1 户",
        "当天新报 1 个 · 未办结 2 个 · 逾期 1 个 · 紧急 1 个",
        "1. 桂花村：没有驻村队员，覆盖 0/4 户",
        "3. 石桥村：人均在村 2.0/18 天，覆盖 2/5 户",
    ):
        assert line in text, line
    labels = [label for label, _ in inline(text_message)]
    assert labels == ["无人在村的村（2）", "落后的队员（3）", "未覆盖农户（10）", "未办结问题（2）"]
    assert len(photos(bot, TOWNSHIP.telegram_id)) == 1


async def test_each_button_opens_its_list(bot: Harness) -> None:
    await seed_day(bot)
    await bot.command(TOWNSHIP, "summary")
    message = summary_messages(bot, TOWNSHIP.telegram_id)[-1]
    replies: dict[str, str] = {}
    for label, data in inline(message):
        before = len(bot.api.bot_messages(TOWNSHIP.telegram_id))
        await bot.deliver(bot.api.press(TOWNSHIP.telegram_id, message, data))
        replies[label] = "\n".join(bot.api.texts_to(TOWNSHIP.telegram_id)[before:])
    unverified, behind, uncovered, problems = replies.values()
    assert "无人核验在村的村：2 个" in unverified and "• 桂花村" in unverified
    assert "• 王建军（石桥村）：本月在村 0 天" in behind and "应有 18 天" in behind
    assert "没有走访的农户：10 户" in uncovered and "王秀英" not in uncovered
    assert "单国平（石桥村" in uncovered
    assert "未办结的问题：2 个" in problems
    # The overdue one first, then the urgent one.
    assert problems.index("村道塌方") < problems.index("房屋漏雨")
    assert "已逾期" in problems


async def test_summary_with_a_date_and_bad_dates(bot: Harness) -> None:
    await seed_day(bot)
    replies = await bot.command(TOWNSHIP, "summary", "2026-11-27")
    assert "清江镇 · 11月27日 每日汇总" in replies[0]
    assert "当天签到：1/3 人" in replies[0]  # 李明's check-in of the 27th
    # Coverage as of that day: 曾德华's visit (for the 24th), not 王秀英's of the 28th.
    assert "30 天内走访覆盖：1/12 户（8%）" in replies[0]
    assert "走访：当天 0 次，近 7 天 1 次" in replies[0]
    yesterday = await bot.command(TOWNSHIP, "summary", "昨天")
    assert yesterday[0] == replies[0]
    bad = await bot.command(TOWNSHIP, "summary", "下下个月")
    assert bad == ["看不懂日期“下下个月”。例如：/summary 昨天 或 /summary 2026-11-20"]
    future = await bot.command(TOWNSHIP, "summary", "2026-12-01")
    assert future == ["2026-12-01 还没到，汇总只能看今天或以前的日子。"]


async def test_team_members_and_strangers_get_no_summary(bot: Harness) -> None:
    assert await bot.command(MEMBER, "summary") == ["您的角色不能使用这个功能。"]
    stranger = await bot.command(1099, "summary")
    assert "还没有注册" in stranger[0]


# --- scope ----------------------------------------------------------------------------------------


async def test_a_leader_of_another_township_sees_nothing_of_qingjiang(bot: Harness) -> None:
    await seed_day(bot)
    other = await member(bot, OTHER_LEADER)
    replies = await bot.command(OTHER_LEADER, "summary")
    text = "\n".join(replies)
    assert "水宁寺镇 · 11月28日 每日汇总" in text
    assert not [name for name in QINGJIANG_NAMES if name in text]
    with pytest.raises(NotFound):
        await bot.services.summary.summary(other, QINGJIANG, TODAY)
    with pytest.raises(NotFound):
        await bot.services.summary.details(other, ListKind.BEHIND, QINGJIANG, TODAY)
    # A forged button for 清江镇's list answers as if it did not exist.
    message = bot.api.bot_messages(OTHER_LEADER.telegram_id)[0]
    forged = f"sum:behind:{QINGJIANG}:20261128"
    message["reply_markup"] = {"inline_keyboard": [[{"text": "x", "callback_data": forged}]]}
    before = len(bot.api.bot_messages(OTHER_LEADER.telegram_id))
    await bot.deliver(bot.api.press(OTHER_LEADER.telegram_id, message, forged))
    assert bot.api.texts_to(OTHER_LEADER.telegram_id)[before:] == ["没有找到。"]
    # The daily job sends them their own township only.
    bot.clock.set(datetime(2026, 11, 28, 20, 0, tzinfo=ZONE))
    await jobs.send_summaries(bot.app)
    sent = "\n".join(bot.api.texts_to(OTHER_LEADER.telegram_id))
    assert not [name for name in QINGJIANG_NAMES if name in sent]


async def test_a_deactivated_leader_is_refused(bot: Harness) -> None:
    await seed_day(bot)
    chen = await member(bot, TOWNSHIP)
    async with bot.services.db.transaction() as tx:
        await member_repo.set_active(tx, chen.id, False)
    replies = await bot.command(TOWNSHIP, "summary")
    assert "还没有注册" in replies[0]
    gone = await member_repo.get(bot.services.db, chen.id)
    with pytest.raises(Forbidden):
        await bot.services.summary.summary(gone, QINGJIANG, TODAY)
    await jobs.send_summaries(bot.app)
    assert summary_messages(bot, TOWNSHIP.telegram_id) == []
    assert TOWNSHIP.telegram_id not in {
        r.member.telegram_user_id for r in await bot.services.summary.recipients()
    }


async def test_county_officers_get_the_rollup_by_township(bot: Harness) -> None:
    await seed_day(bot)
    replies = await bot.command(COUNTY, "summary")
    text = replies[0]
    assert "巴州区 · 11月28日 每日汇总" in text
    assert "各乡镇" in text
    assert "• 清江镇：签到 2/3 人 · 落后 3 人 · 覆盖 17% · 未办结问题 2 个（逾期 1）" in text
    assert "• 水宁寺镇：签到 0/0 人" in text
    assert "1. 桂花村（清江镇）" in text and "青龙村（水宁寺镇）" in text
    rollup = await bot.services.summary.summary(await member(bot, COUNTY), BAZHOU, TODAY)
    assert [t.name for t in rollup.townships] == ["清江镇", "水宁寺镇"]
    assert rollup.figures.households == 13
    # An admin gets every county's roll-up; a village is no summary area.
    admin = await bot.command(ADMIN, "summary")
    assert "巴州区 · 11月28日 每日汇总" in admin[0]
    with pytest.raises(InvalidInput) as refused:
        await bot.services.summary.summary(await member(bot, ADMIN), "511902101001", TODAY)
    assert refused.value.key == "summary.level"


# --- leaders' /today ------------------------------------------------------------------------------


async def test_leaders_today_is_the_summary_so_far_and_members_keep_theirs(bot: Harness) -> None:
    await seed_day(bot)
    leader = await bot.command(TOWNSHIP, "today")
    assert "清江镇 · 每日汇总（今日截至 09:00）" in leader[0]
    assert "当天签到：2/3 人" in leader[0]
    mine = await bot.command(MEMBER, "today")
    assert "今日 · 11月28日" in mine[0] and "已签到：石桥村" in mine[0]
    assert "每日汇总" not in mine[0]


# --- the daily job, run directly ------------------------------------------------------------------


async def test_the_daily_job_sends_each_leader_once(bot: Harness) -> None:
    await seed_day(bot)
    bot.clock.set(datetime(2026, 11, 28, 20, 0, tzinfo=ZONE))
    assert await jobs.send_summaries(bot.app) == 3  # 陈晓东, 赵国庆 (水宁寺镇), 刘志强 (county)
    assert len(summary_messages(bot, TOWNSHIP.telegram_id)) == 1
    assert len(photos(bot, TOWNSHIP.telegram_id)) == 1
    assert "各乡镇" in summary_messages(bot, COUNTY.telegram_id)[0]["text"]
    assert await jobs.send_summaries(bot.app) == 0
    await jobs.catch_up(bot.app)
    assert len(summary_messages(bot, TOWNSHIP.telegram_id)) == 1
    key = jobs.summary_key(TOWNSHIP.telegram_id, QINGJIANG, TODAY)
    delivery = await bot.services.deliveries.get(key)
    assert delivery is not None and delivery.status is DeliveryStatus.SENT


async def test_start_up_catches_up_only_once_the_time_has_passed(bot: Harness) -> None:
    await jobs.catch_up(bot.app)  # 09:00: not yet
    assert summary_messages(bot, TOWNSHIP.telegram_id) == []
    bot.clock.set(datetime(2026, 11, 28, 21, 30, tzinfo=ZONE))
    await jobs.catch_up(bot.app)
    assert len(summary_messages(bot, TOWNSHIP.telegram_id)) == 1
    bot.clock.advance(timedelta(minutes=5))
    await jobs.catch_up(bot.app)
    assert len(summary_messages(bot, TOWNSHIP.telegram_id)) == 1


async def test_the_jobs_are_scheduled_at_the_configured_times(tmp_path: Path) -> None:
    env = {"ZHUCUN_SUMMARY_TIME": "19:30", "ZHUCUN_REMIND_TIME": ""}
    async with running(tmp_path, env=env) as harness:
        queue = harness.app.job_queue
        assert queue is not None
        names = sorted(job.name or "" for job in queue.jobs())
        assert names == ["catch-up", "summary"]  # reminders off


# --- zhucun summary -------------------------------------------------------------------------------


def test_the_cli_prints_the_same_summary_as_plain_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    for name in list(os.environ):
        if name.startswith("ZHUCUN_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZHUCUN_DB", str(tmp_path / "zhucun.db"))

    async def prepare() -> str:
        async with running(tmp_path) as harness:
            await seed_day(harness)
            summary = await harness.services.summary.for_region(QINGJIANG, TODAY)
            from handlers.summary import render

            return render(harness.app.bot_data.catalog, "zh", summary, html=False)

    expected = asyncio.run(prepare())
    with pytest.raises(SystemExit) as done:
        main(["summary", "--region", QINGJIANG, "--date", "2026-11-28"])
    out = capsys.readouterr().out
    assert done.value.code == 0
    assert out == expected + "\n"
    assert out.startswith("📋 清江镇 · 11月28日 每日汇总\n")
    assert "<b>" not in out and "落后的村\n1. 桂花村" in out
    with pytest.raises(SystemExit) as refused:
        main(["summary", "--region", "511902101001", "--date", "2026-11-28"])
    captured = capsys.readouterr()
    assert refused.value.code == 1
    assert captured.err.strip() == "Summaries are by township or county."


async def test_the_daily_batch_equals_each_summary_alone(bot: Harness) -> None:
    await seed_day(bot)
    batch = await bot.services.summary.for_regions([QINGJIANG, SHUINING, BAZHOU], TODAY)
    assert sorted(batch) == [BAZHOU, QINGJIANG, SHUINING]
    for code in (QINGJIANG, SHUINING, BAZHOU):
        assert batch[code] == await bot.services.summary.for_region(code, TODAY)
