"""Each fault as python-telegram-bot observes it, in-process and over HTTP."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
import telegram
from telegram.error import NetworkError, RetryAfter, TimedOut

from bot.standin import FakeTelegram, Fault, FaultKind, FaultPlan, StandinRequest


async def test_retry_after(
    any_bot: telegram.Bot, api: FakeTelegram, faults: FaultPlan, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")  # PTB 22 otherwise warns while raising RetryAfter
    faults.script("sendMessage", Fault(FaultKind.RETRY_AFTER, retry_after=7))
    with pytest.raises(RetryAfter) as raised:
        await any_bot.send_message(42, "一")
    assert raised.value.retry_after == dt.timedelta(seconds=7)
    assert api.calls_to("sendMessage")[0].response["parameters"] == {"retry_after": 7}
    assert api.bot_messages(42) == []
    await any_bot.send_message(42, "一")
    assert api.texts_to(42) == ["一"]


async def test_error_before_performing(
    any_bot: telegram.Bot, api: FakeTelegram, faults: FaultPlan
) -> None:
    faults.script("sendMessage", Fault(FaultKind.ERROR_BEFORE, status=502))
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await any_bot.send_message(42, "一")
    assert api.bot_messages(42) == []


async def test_error_after_performing_really_sent(
    any_bot: telegram.Bot, api: FakeTelegram, faults: FaultPlan
) -> None:
    faults.script("sendMessage", Fault(FaultKind.ERROR_AFTER, status=500), nth=2)
    await any_bot.send_message(42, "一")
    with pytest.raises(telegram.error.TelegramError):
        await any_bot.send_message(42, "二")
    assert api.texts_to(42) == ["一", "二"]


async def test_dropped_connection(
    any_bot: telegram.Bot, api: FakeTelegram, faults: FaultPlan
) -> None:
    faults.script("sendMessage", Fault(FaultKind.DROP))
    with pytest.raises(NetworkError):
        await any_bot.send_message(42, "一")
    assert api.bot_messages(42) == []
    await any_bot.send_message(42, "二")  # the next call gets a fresh connection
    assert api.texts_to(42) == ["二"]


async def test_latency_beyond_the_read_timeout_times_out(
    api: FakeTelegram, faults: FaultPlan
) -> None:
    faults.script("getMe", Fault(FaultKind.LATENCY, seconds=30))
    bot = telegram.Bot(api.token, request=StandinRequest(api, read_timeout=0.01))
    with pytest.raises(TimedOut):
        await bot.get_me()


async def test_random_faults_are_seeded_and_hit_each_call_at_most_once() -> None:
    def plan() -> FaultPlan:
        return FaultPlan(rate=0.5, seed=3, kinds=[Fault(FaultKind.ERROR_BEFORE)])

    first, second = plan(), plan()
    picks = [first.choose("sendMessage", {"text": str(n)}) for n in range(20)]
    assert picks == [second.choose("sendMessage", {"text": str(n)}) for n in range(20)]
    assert any(picks)
    again = [first.choose("sendMessage", {"text": str(n)}) for n in range(20)]
    assert [a for a, p in zip(again, picks, strict=True) if p] == [None] * sum(map(bool, picks))


async def test_hold_orders_replies_across_chats(
    bot: telegram.Bot, api: FakeTelegram, faults: FaultPlan
) -> None:
    api.add_user(43, first_name="李强")
    faults.hold(42, until=43)
    held = asyncio.create_task(bot.send_message(42, "A"))
    await asyncio.sleep(0)
    assert not held.done()
    await bot.send_message(43, "B")
    async with asyncio.timeout(5):
        await held
    order = [(c.params["chat_id"], c.ok) for c in api.calls_to("sendMessage")]
    assert api.messages[(43, 1)]["date"] <= api.messages[(42, 1)]["date"]
    assert order == [(42, True), (43, True)]  # recorded on arrival; A performed after B
    assert api.last_message_to(42)["message_id"] == 1
