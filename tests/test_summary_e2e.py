"""The summary end to end over HTTP: /summary, a Telegram failure during the daily send, and a
summary left 'sending' by a crash, sent again once at the next start-up."""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot import jobs
from bot.sending import RetryingRateLimiter, RetryPolicy
from bot.standin.faults import Fault, FaultKind, FaultPlan
from storage.deliveries import DeliveryStatus
from tests.e2e import REPLY_TIMEOUT, LiveBot, live_bot
from tests.harness import persona

ZONE = ZoneInfo("Asia/Shanghai")
TOWNSHIP, COUNTY = persona("township"), persona("county")
QINGJIANG, BAZHOU = "511902101", "511902"
TODAY = date(2026, 11, 28)
EVENING = datetime(2026, 11, 28, 20, 0, tzinfo=ZONE)


def no_retries() -> RetryingRateLimiter:
    """A failed call fails at once (the retry policy has its own tests)."""
    return RetryingRateLimiter(RetryPolicy(network_retries=0))


def summaries(bot: LiveBot, chat_id: int) -> list[str]:
    return [t for t in bot.api.texts_to(chat_id) if "每日汇总" in t]


def photos(bot: LiveBot, chat_id: int) -> int:
    return sum(1 for m in bot.api.bot_messages(chat_id) if "photo" in m)


async def status(bot: LiveBot, chat_id: int, region: str) -> tuple[DeliveryStatus, int] | None:
    found = await bot.services.deliveries.get(jobs.summary_key(chat_id, region, TODAY))
    return (found.status, found.attempts) if found else None


async def settled(bot: LiveBot, chat_id: int, region: str) -> tuple[DeliveryStatus, int] | None:
    """The delivery's state once it has left 'sending' (bounded: a stuck bot fails the test)."""
    found = await status(bot, chat_id, region)
    for _ in range(int(REPLY_TIMEOUT / 0.01)):
        if found is not None and found[0] is not DeliveryStatus.SENDING:
            break
        await asyncio.sleep(0.01)
        found = await status(bot, chat_id, region)
    return found


async def test_summary_command_over_http(tmp_path: Path) -> None:
    async with live_bot(tmp_path) as bot:
        replies = await bot.exchange(TOWNSHIP, "/summary", count=2)
        assert "清江镇 · 11月28日 每日汇总" in replies[0]
        assert photos(bot, TOWNSHIP.telegram_id) == 1


async def test_a_telegram_failure_during_the_send_is_resent_by_the_next_run(
    tmp_path: Path,
) -> None:
    plan = FaultPlan()
    plan.script("sendMessage", Fault(FaultKind.ERROR_BEFORE))  # 陈晓东's text: 502, not sent
    plan.script("sendPhoto", Fault(FaultKind.DROP))  # 刘志强's chart: the connection drops
    async with live_bot(tmp_path, faults=plan, rate_limiter=no_retries()) as bot:
        for who in (TOWNSHIP, COUNTY):
            bot.api.add_user(who.telegram_id)
        bot.clock.set(EVENING)
        assert await jobs.send_summaries(bot.app) == 0
        assert summaries(bot, TOWNSHIP.telegram_id) == []
        assert len(summaries(bot, COUNTY.telegram_id)) == 1  # its text went, its chart did not
        assert await status(bot, TOWNSHIP.telegram_id, QINGJIANG) == (DeliveryStatus.SENDING, 1)
        assert await status(bot, COUNTY.telegram_id, BAZHOU) == (DeliveryStatus.SENDING, 1)
        # The next run sends both again: at least once, at most twice.
        assert await jobs.send_summaries(bot.app) == 2
        assert len(summaries(bot, TOWNSHIP.telegram_id)) == 1
        assert photos(bot, TOWNSHIP.telegram_id) == 1
        assert len(summaries(bot, COUNTY.telegram_id)) == 2
        assert photos(bot, COUNTY.telegram_id) == 1
        assert await status(bot, TOWNSHIP.telegram_id, QINGJIANG) == (DeliveryStatus.SENT, 2)
        assert await jobs.send_summaries(bot.app) == 0
        assert len(summaries(bot, COUNTY.telegram_id)) == 2


async def test_a_summary_interrupted_by_a_crash_is_sent_again_once_at_start_up(
    tmp_path: Path,
) -> None:
    # The text reaches Telegram but the answer is lost, as when the bot dies mid-send.
    plan = FaultPlan()
    plan.script("sendMessage", Fault(FaultKind.ERROR_AFTER, status=500))
    async with live_bot(tmp_path, faults=plan, rate_limiter=no_retries()) as bot:
        api = bot.api
        for who in (TOWNSHIP, COUNTY):
            api.add_user(who.telegram_id)
        bot.clock.set(EVENING)
        await jobs.send_summaries(bot.app)
        assert len(summaries(bot, TOWNSHIP.telegram_id)) == 1
        assert await status(bot, TOWNSHIP.telegram_id, QINGJIANG) == (DeliveryStatus.SENDING, 1)
    # Restart (the clock back at 09:00 of the same day: the daily time has not come).
    async with live_bot(tmp_path, seed=False, api=api) as bot:
        async with asyncio.timeout(REPLY_TIMEOUT):
            # The start-up catch-up resends it: text, then chart.
            await api.wait_for_message_to(TOWNSHIP.telegram_id, 3)
        # ...and records it as sent once Telegram has answered (the job runs on its own).
        assert await settled(bot, TOWNSHIP.telegram_id, QINGJIANG) == (DeliveryStatus.SENT, 2)
        assert len(summaries(bot, TOWNSHIP.telegram_id)) == 2  # at most twice
        assert photos(bot, TOWNSHIP.telegram_id) == 1
    # Another restart sends nothing more.
    async with live_bot(tmp_path, seed=False, api=api) as bot:
        await jobs.catch_up(bot.app)
        assert len(summaries(bot, TOWNSHIP.telegram_id)) == 2
        assert len(summaries(bot, COUNTY.telegram_id)) == 1
