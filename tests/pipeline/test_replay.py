"""Start-up replays what was stored and not handled, first; nothing handled is handled again."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.intake import inbox_items
from bot.standin.api import FakeTelegram
from storage import inbox
from storage.db import Database
from tests.e2e import REPLY_TIMEOUT
from tests.harness import START, TOKEN, settings_for
from tests.pipeline.handlers import MIGRATIONS, entries
from tests.pipeline.test_order import pipeline_bot

CHAT = 6001


async def test_undone_updates_are_replayed_first_and_done_ones_never(tmp_path: Path) -> None:
    api = FakeTelegram(TOKEN)
    # What a killed process leaves behind, one update of each kind:
    handled = api.user_message(CHAT, "handled and confirmed")  # done, Telegram forgot it
    confirmed = api.user_message(CHAT, "stored and confirmed")  # undone, Telegram forgot it
    unconfirmed = api.user_message(CHAT, "stored, not confirmed")  # undone, Telegram sends again
    redelivered = api.user_message(CHAT, "handled, not confirmed")  # done, Telegram sends again
    await api.call("getUpdates", {"offset": str(unconfirmed["update_id"]), "timeout": "0"}, {})
    assert [u["update_id"] for u in api.pending_updates] == [
        unconfirmed["update_id"],
        redelivered["update_id"],
    ]
    db = await Database.open(Path(settings_for(tmp_path)["ZHUCUN_DB"]))
    try:
        await db.migrate(extra=MIGRATIONS)
        items = inbox_items([handled, confirmed, unconfirmed, redelivered])
        await inbox.store(db, items, received_at=START)
        for done in (handled, redelivered):
            await inbox.mark_done(db, done["update_id"], at=START)
    finally:
        await db.close()

    async with pipeline_bot(tmp_path, api=api) as bot:
        later = bot.api.user_message(CHAT, "sent after the restart")
        async with asyncio.timeout(REPLY_TIMEOUT):
            await bot.api.wait_for_message_to(CHAT, 3)
        # The chat's later message is answered last, so nothing else is still coming.
        stored = await entries(bot.services.db)
        assert [text for *_, text in stored] == [
            "stored and confirmed",
            "stored, not confirmed",
            "sent after the restart",
        ]
        assert bot.api.texts_to(CHAT) == [f"saved #{entry_id}" for entry_id, *_ in stored]
    assert stored[-1][2] == later["message"]["message_id"]

    db = await Database.open(Path(settings_for(tmp_path)["ZHUCUN_DB"]))
    try:
        assert await inbox.counts(db) == (5, 0)
    finally:
        await db.close()
