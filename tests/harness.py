"""Drive the real Application offline: updates in through ``process_update``, calls recorded.

Every outgoing call goes through python-telegram-bot's own request machinery into the
stand-in's behaviour (:class:`FakeTelegram`), which answers like Telegram and records it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from telegram import Update

from bot.app import build_application
from bot.clock import FixedClock
from bot.config import load_settings
from bot.context import ZhucunApp
from bot.sample import PERSONAS, Persona, seed_people, seed_policies, seed_regions_and_households
from bot.services import Services
from bot.standin.api import FakeTelegram
from bot.standin.transport import StandinRequest

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
START = datetime(2026, 11, 28, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@dataclass
class Harness:
    app: ZhucunApp
    api: FakeTelegram
    clock: FixedClock

    @property
    def services(self) -> Services:
        return self.app.bot_data.services

    async def deliver(self, update: Mapping[str, Any]) -> None:
        """Hand one update (as the stand-in queued it) to the Application."""
        await self.app.process_update(Update.de_json(dict(update), self.app.bot))

    async def command(
        self, who: Persona | int, name: str, args: str = "", **kwargs: Any
    ) -> list[str]:
        """Send ``/name args`` from a persona (or a bare user id); return the new replies."""
        user_id, language = _identity(who)
        self.api.add_user(user_id, language_code=kwargs.pop("language_code", language))
        before = len(self.api.bot_messages(user_id))
        await self.deliver(self.api.command(user_id, name, args, **kwargs))
        return self.api.texts_to(user_id)[before:]

    async def text(self, who: Persona | int, text: str, **kwargs: Any) -> list[str]:
        user_id, language = _identity(who)
        self.api.add_user(user_id, language_code=kwargs.pop("language_code", language))
        before = len(self.api.bot_messages(user_id))
        await self.deliver(self.api.user_message(user_id, text, **kwargs))
        return self.api.texts_to(user_id)[before:]


def persona(key: str) -> Persona:
    return next(p for p in PERSONAS if p.key == key)


def _identity(who: Persona | int) -> tuple[int, str]:
    if isinstance(who, Persona):
        return who.telegram_id, who.language_code
    return who, "zh-hans"


def settings_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"ZHUCUN_BOT_TOKEN": TOKEN, "ZHUCUN_DB": str(tmp_path / "zhucun.db"), **extra}


@asynccontextmanager
async def running(
    tmp_path: Path, *, people: bool = True, env: Mapping[str, str] | None = None
) -> AsyncIterator[Harness]:
    """An initialized Application on a fresh store seeded with the sample township."""
    clock = FixedClock(START)
    api = FakeTelegram(TOKEN, clock=clock)
    settings = load_settings({**settings_for(tmp_path), **(env or {})})
    request = StandinRequest(api)
    app = build_application(settings, clock=clock, request=request)
    await app.initialize()
    assert app.post_init is not None
    await app.post_init(app)
    harness = Harness(app, api, clock)
    try:
        db = harness.services.db
        await seed_regions_and_households(db, clock)
        await seed_policies(db, clock)
        if people:
            await seed_people(db, clock)
        yield harness
    finally:
        assert app.post_shutdown is not None
        await app.post_shutdown(app)
        await app.shutdown()
