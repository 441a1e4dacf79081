"""Sends that survive failures, over HTTP against the stand-in with scripted faults."""

from __future__ import annotations

import asyncio
import logging
import random
from pathlib import Path

import pytest
from telegram.error import BadRequest

from bot.persistence import PersistingApplication
from bot.sending import MAX_MESSAGE, RetryingRateLimiter, RetryPolicy, send_text, split_html
from bot.standin.faults import Fault, FaultKind, FaultPlan
from bot.standin.htmltext import parse_html
from storage.db import Database
from storage.deliveries import DeliveryStatus
from tests.e2e import live_bot
from tests.state.conftest import Sleeps

UID = 5151


def plan(method: str, fault: Fault) -> FaultPlan:
    faults = FaultPlan()
    faults.script(method, fault)
    return faults


@pytest.mark.parametrize(
    ("fault", "copies"),
    [
        (Fault(FaultKind.RETRY_AFTER, retry_after=3), 1),
        (Fault(FaultKind.ERROR_BEFORE, status=502), 1),
        (Fault(FaultKind.ERROR_BEFORE, status=503), 1),
        (Fault(FaultKind.ERROR_AFTER, status=500), 2),  # performed, then failed: sent twice
        (Fault(FaultKind.DROP), 1),
    ],
)
async def test_a_faulted_send_is_retried(
    tmp_path: Path, limiter: RetryingRateLimiter, sleeps: Sleeps, fault: Fault, copies: int
) -> None:
    async with live_bot(tmp_path, faults=plan("sendMessage", fault), rate_limiter=limiter) as bot:
        bot.api.add_user(UID)
        sent = await send_text(bot.app.bot, UID, "你好")
        assert sent is not None
        assert bot.api.texts_to(UID) == ["你好"] * copies
        assert len(bot.api.calls_to("sendMessage")) == 2
        if fault.kind is FaultKind.RETRY_AFTER:
            assert sleeps == [pytest.approx(3.1)]  # retry_after as a timedelta, plus a margin
        else:
            assert len(sleeps) == 1 and 0.25 <= sleeps[0] <= 0.5  # first back-off, jittered


async def test_bad_request_is_never_retried(
    tmp_path: Path, limiter: RetryingRateLimiter, sleeps: Sleeps
) -> None:
    async with live_bot(tmp_path, rate_limiter=limiter) as bot:
        bot.api.add_user(UID)
        with pytest.raises(BadRequest):
            await bot.app.bot.send_message(UID, "<b>unclosed")
        assert len(bot.api.calls_to("sendMessage")) == 1 and sleeps == []


async def test_retries_are_bounded(tmp_path: Path, sleeps: Sleeps) -> None:
    faults = FaultPlan()
    for nth in range(1, 10):
        faults.script("sendMessage", Fault(FaultKind.ERROR_BEFORE), nth=nth)
    limiter = RetryingRateLimiter(
        RetryPolicy(network_retries=3, sleep=sleeps, rng=random.Random(1)), overall_max_rate=0
    )
    async with live_bot(tmp_path, faults=faults, rate_limiter=limiter) as bot:
        bot.api.add_user(UID)
        with pytest.raises(Exception, match="Bad Gateway"):
            await bot.app.bot.send_message(UID, "x")
        assert len(bot.api.calls_to("sendMessage")) == 4
        ceilings = [0.5, 1.0, 2.0]
        assert [c / 2 <= s <= c for s, c in zip(sleeps, ceilings, strict=True)] == [True] * 3


def test_backoff_is_exponential_capped_and_jittered() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=8.0, rng=random.Random(3))
    delays = [policy.backoff(n) for n in range(8)]
    for n, delay in enumerate(delays):
        ceiling = min(8.0, 0.5 * 2**n)
        assert ceiling / 2 <= delay <= ceiling
    assert max(delays) <= 8.0


async def test_an_edit_done_before_a_lost_answer_is_not_an_error(
    tmp_path: Path, limiter: RetryingRateLimiter
) -> None:
    faults = plan("editMessageText", Fault(FaultKind.ERROR_AFTER, status=500))
    async with live_bot(tmp_path, faults=faults, rate_limiter=limiter) as bot:
        bot.api.add_user(UID)
        sent = await send_text(bot.app.bot, UID, "一")
        assert sent is not None
        assert await bot.app.bot.edit_message_text("二", UID, sent.message_id) is True
        assert bot.api.texts_to(UID) == ["二"]


async def test_blocked_user_is_recorded_not_retried_and_forgotten_once_reachable(
    tmp_path: Path, limiter: RetryingRateLimiter, sleeps: Sleeps
) -> None:
    async with live_bot(tmp_path, rate_limiter=limiter) as bot:
        bot.api.add_user(UID)
        bot.api.block(UID)
        assert await send_text(bot.app.bot, UID, "还在吗") is None  # the caller goes on
        calls = bot.api.calls_to("sendMessage")
        assert [c.status for c in calls] == [403] and sleeps == []
        assert UID in await bot.services.deliveries.blocked()
        row = await bot.services.db.fetchone(
            "SELECT reason FROM blocked_chats WHERE chat_id = ?", (UID,)
        )
        assert row is not None and "blocked" in row["reason"]

        bot.api.blocked.discard(UID)
        assert await send_text(bot.app.bot, UID, "欢迎回来") is not None
        assert UID not in await bot.services.deliveries.blocked()


async def test_a_blocked_user_does_not_crash_the_handler(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with live_bot(tmp_path) as bot:
        member = 1003  # a member of the sample township; the hint goes through say()
        assert await bot.exchange(member, "随便说点")
        assert isinstance(bot.app, PersistingApplication)
        handled: set[int] = set()
        done = asyncio.Event()

        async def note(update: object) -> None:
            handled.add(getattr(update, "update_id", 0))
            done.set()

        bot.app.after_update.append(note)
        bot.api.block(member)
        before = len(bot.api.calls_to("sendMessage"))
        update_id = bot.api.user_message(member, "再说点")["update_id"]
        async with asyncio.timeout(10):
            while update_id not in handled:
                done.clear()
                await done.wait()
        statuses = [c.status for c in bot.api.calls_to("sendMessage")[before:]]
        assert statuses == [403]  # one attempt, no retry, no error message after it
        assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_long_text_is_cut_at_lines_and_never_inside_markup() -> None:
    lines = [
        f"<b>户 {i}</b> 张&amp;三 <a href='http://e.x/{i}'>卡片</a> " + "字" * 40
        for i in range(300)
    ]
    lines.append("<i>" + "长" * 9000 + "</i>")
    text = "\n".join(lines)
    parts = split_html(text)
    assert len(parts) > 3
    for part in parts:
        assert len(part.encode("utf-16-le")) // 2 <= MAX_MESSAGE
        parse_html(part)  # raises on a cut tag or entity, like Telegram
    whole_lines = [p for p in parts if not p.startswith("<i>")]
    assert "\n".join(whole_lines) == "\n".join(lines[:-1])  # cut only between lines
    assert split_html("短") == ["短"] and split_html("\n \n") == []


async def test_long_text_arrives_as_valid_messages(
    tmp_path: Path, limiter: RetryingRateLimiter
) -> None:
    lines = [f"<b>第 {i} 户</b>：王&amp;李 " + "情况" * 60 for i in range(200)]
    text = "\n".join(lines)
    async with live_bot(tmp_path, rate_limiter=limiter) as bot:
        bot.api.add_user(UID)
        await send_text(bot.app.bot, UID, text)
        received = bot.api.texts_to(UID)
        assert len(received) > 1
        assert all(len(t) <= MAX_MESSAGE for t in received)
        expected, _ = parse_html(text)
        assert "\n".join(received) == expected


async def test_delivery_is_sending_then_sent_and_never_sent_again(
    tmp_path: Path, limiter: RetryingRateLimiter
) -> None:
    async with live_bot(tmp_path, rate_limiter=limiter) as bot:
        bot.api.add_user(UID)
        deliveries = bot.services.deliveries
        seen: list[DeliveryStatus] = []

        async def send() -> None:
            current = await deliveries.get("summary:5151:2026-11-28")
            assert current is not None
            seen.append(current.status)
            await send_text(bot.app.bot, UID, "今日汇总")

        assert await deliveries.send_once("summary:5151:2026-11-28", UID, send) is True
        assert await deliveries.send_once("summary:5151:2026-11-28", UID, send) is False
        done = await deliveries.get("summary:5151:2026-11-28")
        assert seen == [DeliveryStatus.SENDING]
        assert done is not None and done.status is DeliveryStatus.SENT and done.attempts == 1
        assert bot.api.texts_to(UID) == ["今日汇总"]


async def test_a_crash_between_send_and_sent_resends_once_at_start(
    tmp_path: Path, limiter: RetryingRateLimiter
) -> None:
    key = "alert:5151:problem-7"

    class Crash(Exception):
        """The process dying right after Telegram took the message."""

    async with live_bot(tmp_path, rate_limiter=limiter) as bot:
        bot.api.add_user(UID)

        async def send_then_die() -> None:
            await send_text(bot.app.bot, UID, "问题 7 已超期")
            raise Crash

        with pytest.raises(Crash):
            await bot.services.deliveries.send_once(key, UID, send_then_die, text="问题 7 已超期")
        pending = await bot.services.deliveries.pending()
        assert [(d.key, d.status) for d in pending] == [(key, DeliveryStatus.SENDING)]
        api = bot.api

    # A new start on the same store: post_init resends what was left 'sending'.
    async with live_bot(tmp_path, seed=False, rate_limiter=limiter, api=api) as again:
        assert again.api.texts_to(UID) == ["问题 7 已超期"] * 2
        done = await again.services.deliveries.get(key)
        assert done is not None and done.status is DeliveryStatus.SENT and done.attempts == 2
        assert await again.services.deliveries.pending() == []
    assert len(api.calls_to("sendMessage")) == 2  # once before the crash, once after: no more


async def test_a_delivery_to_a_blocked_chat_ends_blocked(
    tmp_path: Path, limiter: RetryingRateLimiter
) -> None:
    async with live_bot(tmp_path, rate_limiter=limiter) as bot:
        bot.api.add_user(UID)
        bot.api.block(UID)
        deliveries = bot.services.deliveries

        async def send() -> None:
            await bot.app.bot.send_message(UID, "提醒")

        assert await deliveries.send_once("remind:5151:2026-11-28", UID, send) is False
        first = await deliveries.get("remind:5151:2026-11-28")
        assert first is not None and first.status is DeliveryStatus.BLOCKED
        # Known blocked: the next important message is not even tried.
        assert await deliveries.send_once("remind:5151:2026-11-29", UID, send) is False
        assert len(bot.api.calls_to("sendMessage")) == 1


async def test_store_path(tmp_path: Path) -> None:
    """The delivery and blocked-chat tables come with the packaged migrations."""
    db = await Database.open(tmp_path / "s.db")
    try:
        assert "0003_state" in await db.migrate()
    finally:
        await db.close()
