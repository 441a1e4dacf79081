"""ChatOrderedProcessor: one chat in order, chats at once, a bound, and nothing lost on cancel."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import pytest
from telegram import Update
from telegram.ext import BaseUpdateProcessor

from bot.demo import CompletionTracker
from bot.processor import ChatOrderedProcessor, chat_key
from bot.standin.api import FakeTelegram
from tests.harness import TOKEN

BOUND = 1.0  # seconds; only a broken processor waits this long


class Script:
    """Coroutines that record when they start and finish, and finish when released."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.finished: list[str] = []
        self._release: dict[str, asyncio.Event] = {}
        self._changed = asyncio.Condition()

    def step(self, name: str, *, blocked: bool = False) -> Awaitable[None]:
        gate = self._release.setdefault(name, asyncio.Event())
        if not blocked:
            gate.set()

        async def run() -> None:
            await self._note(self.started, name)
            await gate.wait()
            await self._note(self.finished, name)

        return run()

    def release(self, name: str) -> None:
        self._release[name].set()

    async def until(self, condition: Any) -> None:
        async with asyncio.timeout(BOUND):
            async with self._changed:
                await self._changed.wait_for(condition)

    async def _note(self, into: list[str], name: str) -> None:
        async with self._changed:
            into.append(name)
            self._changed.notify_all()


def _update(api: FakeTelegram, chat: int) -> Update:
    return Update.de_json(api.user_message(chat, "hi"), None)


def _launch(processor: BaseUpdateProcessor, update: object, step: Awaitable[None]) -> Any:
    # As PTB does with concurrent updates: one task per update, created in arrival order.
    return asyncio.ensure_future(processor.process_update(update, step))


async def test_one_chat_in_order_other_chats_meanwhile() -> None:
    api, script = FakeTelegram(TOKEN), Script()
    processor = ChatOrderedProcessor(concurrency=8)
    a1, a2, b1 = _update(api, 1), _update(api, 1), _update(api, 2)
    tasks = [
        _launch(processor, a1, script.step("a1", blocked=True)),
        _launch(processor, a2, script.step("a2")),
        _launch(processor, b1, script.step("b1")),
    ]
    await script.until(lambda: "b1" in script.finished)
    assert script.started == ["a1", "b1"], "a2 waits for a1; b1 does not"
    script.release("a1")
    await asyncio.gather(*tasks)
    assert script.finished == ["b1", "a1", "a2"]
    assert processor.busy_lanes == 0


async def test_concurrency_is_bounded_and_waiting_updates_take_no_slot() -> None:
    api, script = FakeTelegram(TOKEN), Script()
    processor = ChatOrderedProcessor(concurrency=2)
    tasks = [
        _launch(processor, _update(api, 1), script.step(f"a{n}", blocked=True)) for n in range(5)
    ]
    tasks += [
        _launch(processor, _update(api, chat), script.step(f"c{chat}", blocked=True))
        for chat in (2, 3)
    ]
    await script.until(lambda: len(script.started) == 2)
    for _ in range(20):
        await asyncio.sleep(0)  # let every task that could start do so
    assert script.started == ["a0", "c2"], "a1..a4 wait for a0 without holding a slot"
    script.release("c2")
    await script.until(lambda: "c3" in script.started)
    for name in ["a0", "a1", "a2", "a3", "a4", "c3"]:
        script.release(name)
    await asyncio.gather(*tasks)
    assert [n for n in script.finished if n.startswith("a")] == ["a0", "a1", "a2", "a3", "a4"]


async def test_updates_without_chat_or_user_each_run_alone() -> None:
    script = Script()
    processor = ChatOrderedProcessor()
    # e.g. a poll's state: no chat, no user
    first, second = Update(update_id=1), Update(update_id=2)
    assert chat_key(first) != chat_key(second)
    tasks = [
        _launch(processor, first, script.step("first", blocked=True)),
        _launch(processor, second, script.step("second")),
    ]
    await script.until(lambda: "second" in script.finished)
    script.release("first")
    await asyncio.gather(*tasks)


async def test_a_cancelled_waiter_keeps_the_order_of_the_rest() -> None:
    api, script = FakeTelegram(TOKEN), Script()
    processor = ChatOrderedProcessor()
    first = _launch(processor, _update(api, 1), script.step("first", blocked=True))
    second = _launch(processor, _update(api, 1), script.step("second"))
    third = _launch(processor, _update(api, 1), script.step("third"))
    await script.until(lambda: script.started == ["first"])
    second.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second
    for _ in range(20):
        await asyncio.sleep(0)
    assert script.started == ["first"], "third still waits for first"
    script.release("first")
    await asyncio.gather(first, third)
    assert script.finished == ["first", "third"]


async def test_the_demo_tracker_wraps_it() -> None:
    api, script = FakeTelegram(TOKEN), Script()
    tracker = CompletionTracker(ChatOrderedProcessor())
    assert tracker.max_concurrent_updates > 1, "PTB gives each update its own task"
    a1, a2 = _update(api, 1), _update(api, 1)
    tasks = [
        _launch(tracker, a1, script.step("a1", blocked=True)),
        _launch(tracker, a2, script.step("a2")),
    ]
    script.release("a1")
    async with asyncio.timeout(BOUND):
        await tracker.wait_for(a2.update_id)
    assert script.finished == ["a1", "a2"]
    await asyncio.gather(*tasks)


def test_concurrency_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        ChatOrderedProcessor(concurrency=0)
