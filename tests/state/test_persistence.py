"""Guided flows survive a SIGKILL: state and drafts in the store, time-outs re-armed."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path

from telegram.ext import ConversationHandler

from bot.app import build_application, serving
from bot.clock import FixedClock
from bot.config import load_settings
from bot.persistence import check_conversations
from bot.standin.api import FakeTelegram
from bot.standin.server import StandinServer
from storage.db import Database
from tests.harness import START, TOKEN, settings_for
from tests.state.flow import TIMED_OUT, survey

ROOT = Path(__file__).resolve().parents[2]
WAIT = 20.0
UID = 4242


class BotProcess:
    """``python -m tests.state.runner``; its output lines read as they come, never slept on."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, server: StandinServer, db: Path) -> BotProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.state.runner",
            "--base-url",
            server.base_url,
            "--file-url",
            server.file_url,
            "--db",
            str(db),
            "--now",
            START.isoformat(),
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        bot = cls(process)
        await bot.line("polling")
        return bot

    async def line(self, wanted: str) -> None:
        assert self.process.stdout is not None
        seen: list[str] = []
        async with asyncio.timeout(WAIT):
            while True:
                raw = await self.process.stdout.readline()
                if not raw:
                    raise AssertionError("the bot exited:\n" + "".join(seen[-40:]))
                text = raw.decode(errors="replace")
                seen.append(text)
                if text.strip() == wanted:
                    return

    async def kill(self) -> None:
        self.process.kill()
        await self.process.wait()


@asynccontextmanager
async def standin() -> AsyncIterator[tuple[FakeTelegram, StandinServer]]:
    api = FakeTelegram(TOKEN, clock=FixedClock(START))
    api.add_user(UID)
    async with StandinServer(api) as server:
        yield api, server


async def say(api: FakeTelegram, text: str, reply: str) -> int:
    """Send as the user; wait for the bot's reply; return the update id."""
    before = len(api.bot_messages(UID))
    update = api.command(UID, text[1:]) if text.startswith("/") else api.user_message(UID, text)
    async with asyncio.timeout(WAIT):
        await api.wait_for_message_to(UID, before + 1)
    assert api.texts_to(UID)[before:] == [reply]
    return int(update["update_id"])


async def interrupted_after_step_two(api: FakeTelegram, server: StandinServer, db: Path) -> None:
    bot = await BotProcess.start(server, db)
    try:
        await say(api, "/survey", "step 1/3: colour?")
        await say(api, "red", "step 2/3: animal?")
        second = await say(api, "cat", "step 3/3: number?")
        await bot.line(f"handled {second}")
    finally:
        await bot.kill()


async def test_flow_resumes_after_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "zhucun.db"
    async with standin() as (api, server):
        await interrupted_after_step_two(api, server, db)
        bot = await BotProcess.start(server, db)
        try:
            await say(api, "7", "done: red / cat / 7")
        finally:
            await bot.kill()


async def test_timeout_rearmed_after_restart(tmp_path: Path) -> None:
    db = tmp_path / "zhucun.db"
    async with standin() as (api, server):
        await interrupted_after_step_two(api, server, db)
        store = await Database.open(db)
        try:
            rows = await store.fetchall("SELECT key, state, deadline FROM conversations")
        finally:
            await store.close()
        assert [(json.loads(r["key"]), json.loads(r["state"])) for r in rows] == [([UID, UID], 2)]
        assert datetime.fromisoformat(rows[0]["deadline"]) == START + timedelta(minutes=30)

        clock = FixedClock(START + timedelta(minutes=10))
        settings = load_settings(
            {
                **settings_for(tmp_path),
                "ZHUCUN_API_BASE_URL": server.base_url,
                "ZHUCUN_API_FILE_URL": server.file_url,
            }
        )
        flow = survey()
        app = build_application(settings, clock=clock, extra_handlers=[flow])
        async with serving(app):
            job = flow.timeout_jobs[(UID, UID)]
            assert job.next_t is not None
            # Due in the 20 minutes left, not a fresh 30.
            left = job.next_t - job.next_t.now(job.next_t.tzinfo)
            assert timedelta(minutes=19) < left <= timedelta(minutes=20)

            clock.set(START + timedelta(minutes=31))
            before = len(api.bot_messages(UID))
            await job.run(app)  # what the JobQueue does when the deadline comes
            assert api.texts_to(UID)[before:] == [TIMED_OUT]
            assert (UID, UID) not in flow.timeout_jobs
            left_rows = await app.bot_data.services.db.fetchall("SELECT * FROM conversations")
            assert left_rows == []


async def test_timeout_past_its_deadline_fires_at_start(tmp_path: Path) -> None:
    db = tmp_path / "zhucun.db"
    async with standin() as (api, server):
        await interrupted_after_step_two(api, server, db)
        settings = load_settings(
            {
                **settings_for(tmp_path),
                "ZHUCUN_API_BASE_URL": server.base_url,
                "ZHUCUN_API_FILE_URL": server.file_url,
            }
        )
        app = build_application(
            settings, clock=FixedClock(START + timedelta(hours=2)), extra_handlers=[survey()]
        )
        before = len(api.bot_messages(UID))
        async with serving(app):
            async with asyncio.timeout(WAIT):
                await api.wait_for_message_to(UID, before + 1)
            assert api.texts_to(UID)[before:] == [TIMED_OUT]


async def test_every_flow_of_the_bot_is_persistent(tmp_path: Path) -> None:
    app = build_application(load_settings(settings_for(tmp_path)))
    flows = [
        h for group in app.handlers.values() for h in group if isinstance(h, ConversationHandler)
    ]
    assert flows, "the bot has guided flows"
    assert check_conversations(app) == []
