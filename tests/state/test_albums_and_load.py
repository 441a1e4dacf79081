"""Albums get one status message; edits never reach creation handlers; faults under load."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from bot.persistence import PersistingApplication
from bot.sending import RetryingRateLimiter
from bot.standin.faults import FaultKind, FaultPlan
from tests.e2e import LiveBot, live_bot
from tests.harness import persona
from tests.pipeline.handlers import MIGRATIONS
from tests.pipeline.live import saved_counts
from tests.state.conftest import Sleeps
from tests.state.flow import album_handlers, entry_handlers

WAIT = 30.0


class Handled:
    """Update ids the bot has handled and stored, from ``PersistingApplication.after_update``."""

    def __init__(self, bot: LiveBot) -> None:
        assert isinstance(bot.app, PersistingApplication)
        self.ids: Counter[int] = Counter()
        self._changed = asyncio.Event()
        bot.app.after_update.append(self._note)

    async def _note(self, update: object) -> None:
        self.ids[int(getattr(update, "update_id", 0))] += 1
        self._changed.set()

    async def until(self, update_ids: set[int]) -> None:
        async with asyncio.timeout(WAIT):
            while not update_ids <= set(self.ids):
                self._changed.clear()
                await self._changed.wait()


async def test_album_is_acknowledged_by_one_status_message_edited_as_photos_arrive(
    tmp_path: Path, limiter: RetryingRateLimiter
) -> None:
    async with live_bot(
        tmp_path, rate_limiter=limiter, extra_migrations=MIGRATIONS, extra_handlers=album_handlers()
    ) as bot:
        handled = Handled(bot)
        uid = persona("member").telegram_id
        bot.api.add_user(uid)
        ids = {
            bot.api.photo(uid, b"\xff\xd8jpeg" + bytes([n]), caption=caption, media_group_id="g1")[
                "update_id"
            ]
            for n, caption in enumerate([None, "李家院坝", None, None])
        }
        single = bot.api.photo(uid, b"\xff\xd8alone")["update_id"]
        await handled.until({*ids, single})

        assert bot.api.texts_to(uid) == ["收到 4 张照片", "收到 1 张照片"]
        edits = bot.api.calls_to("editMessageText")
        assert [c.params["text"] for c in edits] == [f"收到 {n} 张照片" for n in (2, 3, 4)]
        assert all(c.ok for c in edits)


async def test_an_edit_never_reaches_a_handler_for_new_messages(
    tmp_path: Path, limiter: RetryingRateLimiter
) -> None:
    async with live_bot(
        tmp_path, rate_limiter=limiter, extra_migrations=MIGRATIONS, extra_handlers=entry_handlers()
    ) as bot:
        handled = Handled(bot)
        uid = persona("member").telegram_id
        bot.api.add_user(uid)
        original = bot.api.user_message(uid, "张三家缺水")
        edit = bot.api.edited_message(uid, original, "张三家缺水，已报乡里")
        await handled.until({original["update_id"], edit["update_id"]})

        rows = await bot.services.db.fetchall("SELECT text FROM entries")
        assert [r["text"] for r in rows] == ["张三家缺水"]  # the entry handler ran once
        replies = bot.api.texts_to(uid)
        assert replies[0] == "saved #1" and len(replies) == 2
        assert "saved" not in replies[1]  # the edit got the edit route's answer instead


async def test_faults_under_load(
    tmp_path: Path, limiter: RetryingRateLimiter, sleeps: Sleeps
) -> None:
    """50 people x 20 messages, every sendMessage faulted at most once, at a fixed seed."""
    people = list(range(6000, 6050))
    blocked = people[-1]
    faults = FaultPlan(rate=0.1, seed=20261128, methods={"sendMessage"})
    async with live_bot(
        tmp_path,
        faults=faults,
        rate_limiter=limiter,
        extra_migrations=MIGRATIONS,
        extra_handlers=entry_handlers(),
    ) as bot:
        handled = Handled(bot)
        for uid in people:
            bot.api.add_user(uid)
        sent: set[int] = set()
        for n in range(20):
            for uid in people:
                sent.add(bot.api.user_message(uid, f"{uid} 第{n}条")["update_id"])
        bot.api.block(blocked)  # blocked the bot with its messages on their way
        await handled.until(sent)

        rows = await bot.services.db.fetchall("SELECT chat_id, message_id FROM entries")
        assert len(rows) == 1000  # every entry once (UNIQUE on the source message)
        assert Counter(r["chat_id"] for r in rows) == dict.fromkeys(people, 20)

        reachable = people[:-1]
        counts = saved_counts(bot.api, reachable)
        assert len(counts) == 49 * 20  # every reply delivered...
        assert max(counts.values()) <= 2  # ...none more than twice
        assert sum(counts.values()) > len(counts)  # a 5xx after the fact did duplicate some

        kinds = {fault.kind for _, fault in faults.played}
        assert kinds >= {
            FaultKind.RETRY_AFTER,
            FaultKind.ERROR_BEFORE,
            FaultKind.ERROR_AFTER,
            FaultKind.DROP,
        }
        assert any(abs(s - 1.1) < 1e-9 for s in sleeps)  # retry_after=1 respected (+0.1)

        to_blocked = [
            c for c in bot.api.calls_to("sendMessage") if c.params.get("chat_id") == blocked
        ]
        assert len([c for c in to_blocked if c.status == 403]) == 20  # one try per reply
        assert blocked in await bot.services.deliveries.blocked()
        assert Counter(handled.ids[i] for i in sent) == {1: 1000}
