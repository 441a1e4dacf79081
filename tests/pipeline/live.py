"""The bot as a separate process against a stand-in in this one, for kill tests and benchmarks.

Everything waits on what the stand-in records (replies, a waiting long poll), never on the wall
clock; callers bound the waits with ``asyncio.timeout``.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections import Counter
from collections.abc import Awaitable, Iterable
from pathlib import Path

from bot.standin.api import FakeTelegram
from bot.standin.server import StandinServer

ROOT = Path(__file__).resolve().parents[2]
SAVED = re.compile(r"saved #(\d+)")


class BotProcess:
    """``python -m tests.pipeline.runner`` polling ``server``, its output in ``log``."""

    def __init__(self, process: asyncio.subprocess.Process, log: Path) -> None:
        self.process = process
        self.log = log

    @classmethod
    async def start(
        cls,
        server: StandinServer,
        db: Path,
        log: Path,
        *,
        sequential: bool = False,
        unlimited: bool = False,
    ) -> BotProcess:
        args = ["--base-url", server.base_url, "--file-url", server.file_url, "--db", str(db)]
        if sequential:
            args.append("--sequential")
        if unlimited:
            args.append("--unlimited")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with log.open("ab") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.pipeline.runner",
                *args,
                cwd=ROOT,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=out,
            )
        return cls(process, log)

    async def until(self, waiting: Awaitable[object]) -> None:
        """Await ``waiting``, failing at once (with the bot's output) should the bot exit."""
        wait, exited = asyncio.ensure_future(waiting), asyncio.ensure_future(self.process.wait())
        try:
            await asyncio.wait({wait, exited}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for future in (wait, exited):
                if not future.done():
                    future.cancel()
            await asyncio.gather(wait, exited, return_exceptions=True)
        if not wait.done() or wait.cancelled():
            output = self.log.read_text(errors="replace")[-3000:]
            raise AssertionError(f"the bot exited with {self.process.returncode}:\n{output}")
        wait.result()

    async def kill(self) -> None:
        """SIGKILL: no handler, no clean-up, no last getUpdates."""
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> int:
        """SIGTERM: stop polling, finish what was fetched, close the store."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        return await self.process.wait()


def replies_to(api: FakeTelegram, chats: Iterable[int]) -> list[str]:
    return [text for chat in chats for text in api.texts_to(chat)]


def saved_counts(api: FakeTelegram, chats: Iterable[int]) -> Counter[int]:
    """How many ``saved #<id>`` replies each entry id got."""
    return Counter(
        int(match.group(1))
        for text in replies_to(api, chats)
        if (match := SAVED.fullmatch(text)) is not None
    )


async def wait_for_replies(api: FakeTelegram, chats: Iterable[int], count: int) -> None:
    """Until the bot has sent at least ``count`` messages to ``chats`` altogether."""
    chats = list(chats)
    while sum(len(api.bot_messages(chat)) for chat in chats) < count:
        await _any_reply(api, chats)


async def wait_for_saved(api: FakeTelegram, chats: Iterable[int], entries: int) -> None:
    """Until ``entries`` different entries have been answered with ``saved #<id>``."""
    chats = list(chats)
    while len(saved_counts(api, chats)) < entries:
        await _any_reply(api, chats)


async def _any_reply(api: FakeTelegram, chats: list[int]) -> None:
    waits = [
        asyncio.ensure_future(api.wait_for_message_to(chat, len(api.bot_messages(chat)) + 1))
        for chat in chats
    ]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
