"""SIGKILL during a burst loses nothing and duplicates no entry (the bot in its own process)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.standin.api import FakeTelegram
from bot.standin.server import StandinServer
from storage import inbox
from storage.db import Database
from tests.harness import TOKEN
from tests.pipeline.handlers import entries
from tests.pipeline.live import BotProcess, saved_counts, wait_for_replies, wait_for_saved

CHATS = [3000 + n for n in range(30)]
PER_CHAT = 10
# Replies observed (duplicates included) before each SIGKILL; spaced so that a replayed update
# is done long before the next kill.
KILL_AFTER = [25, 110, 190]
# The rate limiter's 30 messages/s is lifted (--unlimited): this is about loss, not speed.
# Generous bound per run: only a stuck bot reaches it.
RUN_TIMEOUT = 30.0


async def test_kill_during_burst_loses_nothing(tmp_path: Path) -> None:
    api = FakeTelegram(TOKEN)
    sent: set[tuple[int, int]] = set()
    for n in range(PER_CHAT):
        for chat in CHATS:
            update = api.user_message(chat, f"entry {n} from {chat}")
            sent.add((chat, update["message"]["message_id"]))
    db_path, log = tmp_path / "zhucun.db", tmp_path / "bot.log"
    async with StandinServer(api) as server:
        for count in KILL_AFTER:
            bot = await BotProcess.start(server, db_path, log, unlimited=True)
            async with asyncio.timeout(RUN_TIMEOUT):
                await bot.until(wait_for_replies(api, CHATS, count))
            await bot.kill()
            assert len(saved_counts(api, CHATS)) < len(sent), "killed during the burst"
        bot = await BotProcess.start(server, db_path, log, unlimited=True)
        async with asyncio.timeout(RUN_TIMEOUT):
            await bot.until(wait_for_saved(api, CHATS, len(sent)))
        assert await bot.stop() == 0, log.read_text()

    db = await Database.open(db_path)
    try:
        stored = await entries(db)
        rows, undone = await inbox.counts(db)
    finally:
        await db.close()
    assert {(chat, message) for _, chat, message, _ in stored} == sent
    assert len(stored) == len(sent), "every entry exactly once"
    answered = saved_counts(api, CHATS)
    assert set(answered) == {entry_id for entry_id, *_ in stored}, "every message answered"
    assert max(answered.values()) <= 2, "duplicates only from a kill window, none more than twice"
    assert (rows, undone) == (len(sent), 0)
    assert "Replaying" in log.read_text(), "a restart handled stored, unconfirmed updates"
