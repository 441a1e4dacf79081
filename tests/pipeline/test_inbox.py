"""The inbox and the intake around it, on a real SQLite file."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, timedelta
from pathlib import Path

import pytest
from telegram import Bot, Update
from telegram.error import NetworkError

from bot.clock import FixedClock
from bot.intake import KEEP_DONE, InboxProcessor, Intake, StoringUpdatesRequest, chat_of
from bot.processor import ChatOrderedProcessor
from bot.standin.api import FakeTelegram
from bot.standin.transport import StandinRequest
from storage import inbox
from storage.db import Database
from tests.harness import START, TOKEN


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "zhucun.db")
    await database.migrate()
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
async def intake(db: Database) -> Intake:
    intake = Intake(FixedClock(START))
    await intake.attach(db)
    return intake


async def test_an_update_is_stored_once_and_kept_as_first_received(intake: Intake) -> None:
    api = FakeTelegram(TOKEN)
    first = api.user_message(7, "one")
    assert await intake.store([first]) == [first["update_id"]]
    again = {**first, "message": {**first["message"], "text": "changed"}}
    assert await intake.store([again]) == []
    [item] = await inbox.undone(intake.db)
    assert item.payload == first and item.chat_id == 7


async def test_undone_in_update_order_and_done_keeps_its_first_time(intake: Intake) -> None:
    api = FakeTelegram(TOKEN)
    updates = [api.user_message(7, str(n)) for n in range(3)]
    await intake.store(reversed(updates))
    await intake.done(updates[1]["update_id"])
    assert [i.update_id for i in await inbox.undone(intake.db)] == [
        updates[0]["update_id"],
        updates[2]["update_id"],
    ]
    assert await intake.is_done(updates[1]["update_id"])
    assert not await intake.is_done(updates[0]["update_id"])
    assert not await intake.is_done(999)
    assert isinstance(intake.clock, FixedClock)
    intake.clock.advance(timedelta(hours=1))
    await intake.done(updates[1]["update_id"])
    row = await intake.db.fetchone(
        "SELECT done_at FROM inbox WHERE update_id = ?", (updates[1]["update_id"],)
    )
    assert row is not None and row[0] == START.astimezone(UTC).isoformat()


async def test_only_old_done_rows_are_pruned(intake: Intake) -> None:
    api = FakeTelegram(TOKEN)
    old, undone, recent = (api.user_message(7, str(n)) for n in range(3))
    await intake.store([old, undone, recent])
    await intake.done(old["update_id"])
    assert isinstance(intake.clock, FixedClock)
    intake.clock.advance(KEEP_DONE)
    await intake.done(recent["update_id"])
    intake.clock.advance(timedelta(seconds=1))
    await intake.attach(intake.db)  # start-up prunes
    rows = await intake.db.fetchall("SELECT update_id FROM inbox ORDER BY update_id")
    assert [r[0] for r in rows] == [undone["update_id"], recent["update_id"]]


def test_chat_of_every_kind_the_bot_takes() -> None:
    api = FakeTelegram(TOKEN)
    message = api.user_message(7, "hi")
    assert chat_of(message) == 7
    assert chat_of(api.group_message(8, -100, "hi")) == -100
    assert chat_of(api.edited_message(7, message, "changed")) == 7
    inline = {"update_id": 9, "callback_query": {"id": "1", "from": {"id": 8}, "data": "x"}}
    assert chat_of(inline) == 8
    assert chat_of({"update_id": 10, "poll": {"id": "1"}}) is None


async def test_get_updates_stores_before_returning_and_fails_without_the_store(
    intake: Intake,
) -> None:
    api = FakeTelegram(TOKEN)
    request = StandinRequest(api)
    bot = Bot(TOKEN, request=request, get_updates_request=StoringUpdatesRequest(request, intake))
    async with bot:
        sent = api.user_message(7, "hi")
        [update] = await bot.get_updates(timeout=0)
        assert update.update_id == sent["update_id"]
        assert [i.update_id for i in await inbox.undone(intake.db)] == [sent["update_id"]]

        db = intake.db
        intake.detach()
        later = api.user_message(7, "while the store is closed")
        with pytest.raises(NetworkError):
            await bot.get_updates(offset=later["update_id"], timeout=0)
        await intake.attach(db)
        [update] = await bot.get_updates(offset=later["update_id"], timeout=0)
        assert update.update_id == later["update_id"], "still there: it was never confirmed"


async def test_processor_skips_done_updates_and_marks_the_rest(intake: Intake) -> None:
    api = FakeTelegram(TOKEN)
    processor = InboxProcessor(ChatOrderedProcessor(), intake)
    done, fails, fresh = (api.user_message(7, str(n)) for n in range(3))
    await intake.store([done, fails, fresh])
    await intake.done(done["update_id"])
    ran: list[int] = []

    async def handler(update_id: int, error: bool = False) -> None:
        ran.append(update_id)
        if error:
            raise RuntimeError("the handler failed")

    def process(payload: dict[str, object], step: Awaitable[None]) -> Awaitable[None]:
        return processor.process_update(Update.de_json(payload, None), step)

    await process(done, handler(done["update_id"]))
    with pytest.raises(RuntimeError):
        await process(fails, handler(fails["update_id"], error=True))
    await process(fresh, handler(fresh["update_id"]))
    assert ran == [fails["update_id"], fresh["update_id"]]
    assert await inbox.counts(intake.db) == (3, 0)


async def test_a_cancelled_handling_is_not_marked_done(intake: Intake) -> None:
    api = FakeTelegram(TOKEN)
    processor = InboxProcessor(ChatOrderedProcessor(), intake)
    payload = api.user_message(7, "hi")
    await intake.store([payload])
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.ensure_future(processor.process_update(Update.de_json(payload, None), forever()))
    async with asyncio.timeout(1):
        await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await inbox.counts(intake.db) == (1, 1)
