"""End-to-end harness: the real Application polling the stand-in over real HTTP.

Later issues use it for their end-to-end tests: play people at the bot with the stand-in's
helpers, then wait for the bot's answers (never sleep) and assert on recorded calls and the store.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.app import ALLOWED_UPDATES, build_application, serving
from bot.clock import FixedClock
from bot.config import load_settings
from bot.context import ZhucunApp
from bot.sample import Persona, seed_people, seed_policies, seed_regions_and_households
from bot.services import Services
from bot.standin.api import FakeTelegram
from bot.standin.faults import FaultPlan
from bot.standin.server import StandinServer
from storage.db import Database
from tests.harness import START, TOKEN, settings_for

# Generous: only a broken bot ever waits this long; a passing test never does.
REPLY_TIMEOUT = 10.0


@dataclass
class LiveBot:
    app: ZhucunApp
    api: FakeTelegram
    server: StandinServer
    clock: FixedClock

    @property
    def services(self) -> Services:
        return self.app.bot_data.services

    async def exchange(self, who: Persona | int, text: str, count: int = 1) -> list[str]:
        """Send a text or /command as a person and return the next ``count`` replies to them."""
        user_id = who.telegram_id if isinstance(who, Persona) else who
        self.api.add_user(user_id)
        before = len(self.api.bot_messages(user_id))
        if text.startswith("/"):
            name, _, args = text[1:].partition(" ")
            self.api.command(user_id, name, args)
        else:
            self.api.user_message(user_id, text)
        async with asyncio.timeout(REPLY_TIMEOUT):
            await self.api.wait_for_message_to(user_id, before + count)
        return self.api.texts_to(user_id)[before:]


async def seed_store(path: Path, clock: FixedClock, *, people: bool = True) -> None:
    db = await Database.open(path)
    try:
        await db.migrate()
        await seed_regions_and_households(db, clock)
        await seed_policies(db, clock)
        if people:
            await seed_people(db, clock)
    finally:
        await db.close()


@asynccontextmanager
async def live_bot(
    tmp_path: Path,
    *,
    faults: FaultPlan | None = None,
    env: Mapping[str, str] | None = None,
    seed: bool = True,
    api: FakeTelegram | None = None,
    **build: Any,
) -> AsyncIterator[LiveBot]:
    """Stand-in server + store with the sample township + the real bot polling it.

    ``api`` brings a stand-in prepared beforehand (updates queued before the bot starts).
    """
    clock = FixedClock(START)
    settings_env = settings_for(tmp_path)
    if seed:
        await seed_store(Path(settings_env["ZHUCUN_DB"]), clock)
    if api is None:
        api = FakeTelegram(TOKEN, clock=clock, faults=faults)
    async with StandinServer(api) as server:
        settings = load_settings(
            {
                **settings_env,
                "ZHUCUN_API_BASE_URL": server.base_url,
                "ZHUCUN_API_FILE_URL": server.file_url,
                **(env or {}),
            }
        )
        app = build_application(settings, clock=clock, **build)
        async with serving(app):
            assert app.updater is not None
            await app.updater.start_polling(
                poll_interval=0, timeout=5, allowed_updates=ALLOWED_UPDATES
            )
            yield LiveBot(app, api, server, clock)
