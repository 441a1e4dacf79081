"""Different chats are served at once, each chat in the order it wrote (real bot over HTTP)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bot.standin.faults import FaultPlan
from tests.e2e import REPLY_TIMEOUT, LiveBot, live_bot
from tests.pipeline.handlers import MIGRATIONS, entries, handlers
from tests.pipeline.live import SAVED

CHAT_A, CHAT_B = 4001, 4002
PER_CHAT = 5


@asynccontextmanager
async def pipeline_bot(tmp_path: Path, **options: Any) -> AsyncIterator[LiveBot]:
    """The real bot with the test handler set on an empty store."""
    async with live_bot(
        tmp_path, seed=False, extra_migrations=MIGRATIONS, extra_handlers=handlers(), **options
    ) as bot:
        yield bot


async def test_chats_served_concurrently_and_in_order(tmp_path: Path) -> None:
    faults = FaultPlan()
    # Chat A's first reply is held by the stand-in until chat B has been answered: a bot that
    # serves one chat at a time waits on A forever, and the test times out.
    faults.hold(CHAT_A, until=CHAT_B)
    async with pipeline_bot(tmp_path, faults=faults) as bot:
        sent = {
            chat: [
                bot.api.user_message(chat, f"{chat} #{n}")["message"]["message_id"]
                for n in range(PER_CHAT)
            ]
            for chat in (CHAT_A, CHAT_B)
        }
        async with asyncio.timeout(REPLY_TIMEOUT):
            for chat in (CHAT_A, CHAT_B):
                await bot.api.wait_for_message_to(chat, PER_CHAT)
        by_id = {entry_id: message for entry_id, _, message, _ in await entries(bot.services.db)}
        for chat, messages in sent.items():
            answered = [_saved(text) for text in bot.api.texts_to(chat)]
            assert [by_id[entry_id] for entry_id in answered] == messages, chat


async def test_guided_flows_of_many_chats_stay_correct(tmp_path: Path) -> None:
    """Every step of every flow queued at once: each flow still sees its own steps in order."""
    people = range(5001, 5013)
    async with pipeline_bot(tmp_path) as bot:
        for person in people:
            bot.api.command(person, "steps")
            for answer in ("who", "where", "what"):
                bot.api.user_message(person, f"{answer} {person}")
            bot.api.photo(person, b"\x89PNG-not-really")
        async with asyncio.timeout(REPLY_TIMEOUT):
            for person in people:
                await bot.api.wait_for_message_to(person, 5)
        for person in people:
            assert bot.api.texts_to(person)[:4] == [
                "step 1/3: who?",
                "step 2/3: where?",
                "step 3/3: what?",
                f"done: who {person} / where {person} / what {person}",
            ]
            assert bot.api.texts_to(person)[4].startswith("photo ")
        assert await entries(bot.services.db) == [], "flow answers are not entries"


def _saved(text: str) -> int:
    match = SAVED.fullmatch(text)
    assert match is not None, text
    return int(match.group(1))
