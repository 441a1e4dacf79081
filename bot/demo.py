"""``zhucun demo``: the real bot against the local stand-in, chatted with from the terminal.

Nobody can try a Telegram bot without a token and a network. The playground starts the stand-in
on loopback, a fresh store seeded with the sample township in a temporary folder, and the real
Application polling the stand-in over HTTP; the terminal plays the people. Reading a script from
stdin it replays the session and exits at EOF, which is how the transcript test runs it.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from pydantic import SecretStr
from telegram import Update
from telegram.ext import BaseUpdateProcessor

from bot.app import ALLOWED_UPDATES, build_application, serving
from bot.clock import Clock, FixedClock, SystemClock
from bot.config import Settings
from bot.models import Role
from bot.processor import ChatOrderedProcessor
from bot.sample import (
    PERSONAS,
    STRANGER,
    Persona,
    seed_people,
    seed_policies,
    seed_regions_and_households,
)
from bot.services.invites import InviteService
from bot.standin.api import FakeTelegram, JsonDict, RecordedCall
from bot.standin.server import StandinServer
from storage.db import Database

# A replayed script runs on this clock (a weekday morning in the sample township's zone).
REPLAY_START = datetime(2026, 11, 30, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))

# The newcomer is invited but not registered: the script greets them with ``/start $INVITE``.
NEWCOMER = Persona("newcomer", 1010, "赵小红", Role.MEMBER, "511902101001")
INVITE_PLACEHOLDER = "$INVITE"
# A 1x1 PNG, enough for Telegram-shaped photo updates.
SAMPLE_PHOTO = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360f8cfc0f01f0005000201e221bc330000000049454e44ae426082"
)
RENDERED = frozenset(
    {"sendMessage", "sendPhoto", "sendDocument", "editMessageText", "answerCallbackQuery"}
)
HELP = """\
Type a message as the current person (commands start with /). Meta commands:
  :as NAME        switch person (name or role: {people})
  :loc LAT,LON    share a location from the phone
  :press N        press button N of the last message with buttons
  :photo [text]   send a sample photo with an optional caption
  :who            who you are now
  :help           this help
  :quit           leave (end of input does the same)"""


class CompletionTracker(BaseUpdateProcessor):
    """Wraps the bot's update processor to tell the terminal when an update is fully handled."""

    def __init__(self, inner: BaseUpdateProcessor) -> None:
        super().__init__(inner.max_concurrent_updates)
        self._inner = inner
        self._done: set[int] = set()
        self._changed = asyncio.Condition()

    async def do_process_update(self, update: object, coroutine: Any) -> None:
        try:
            await self._inner.do_process_update(update, coroutine)
        finally:
            if isinstance(update, Update):
                async with self._changed:
                    self._done.add(update.update_id)
                    self._changed.notify_all()

    async def initialize(self) -> None:
        await self._inner.initialize()

    async def shutdown(self) -> None:
        await self._inner.shutdown()

    async def wait_for(self, update_id: int) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: update_id in self._done)


class Playground:
    """The terminal side: turns typed lines into updates and prints what the bot sent."""

    def __init__(
        self, api: FakeTelegram, tracker: CompletionTracker, invite_code: str, out: TextIO
    ) -> None:
        self.api = api
        self.tracker = tracker
        self.invite_code = invite_code
        self.out = out
        self.people: list[Persona] = [*PERSONAS, NEWCOMER, STRANGER]
        self.current = NEWCOMER
        self._seen_calls = len(api.calls)
        self._inline: dict[int, list[str]] = {}  # chat → callback data of its last inline buttons
        self._inline_message: dict[int, JsonDict] = {}
        for person in self.people:
            api.add_user(person.telegram_id, first_name=person.name, language_code="zh-hans")

    def banner(self) -> None:
        self._print("驻村通 playground — the real bot, a local stand-in for Telegram, sample data.")
        for person in self.people:
            self._print(f"  {person.key:<10} {person.name}")
        self._print(f"{NEWCOMER.name} has an invite: send /start {INVITE_PLACEHOLDER} as them.")
        self._print("Type :help for the meta commands.")
        self._print(f"You are {self.current.name}.")

    async def handle_line(self, line: str) -> bool:
        """Act on one typed line; False when the session should end."""
        line = line.strip()
        if not line:
            return True
        self._print(f"{self.current.name}> {line}")
        if line.startswith(":"):
            return await self._meta(line)
        text = line.replace(INVITE_PLACEHOLDER, self.invite_code)
        user_id = self.current.telegram_id
        if text.startswith("/"):
            name, _, args = text[1:].partition(" ")
            await self._deliver(self.api.command(user_id, name, args.strip()))
        else:
            await self._deliver(self.api.user_message(user_id, text))
        return True

    async def _meta(self, line: str) -> bool:
        verb, _, rest = line[1:].partition(" ")
        rest = rest.strip()
        user_id = self.current.telegram_id
        match verb:
            case "quit" | "q":
                return False
            case "help":
                people = ", ".join(p.key for p in self.people)
                self._print(HELP.format(people=people))
            case "who":
                self._print(f"You are {self.current.name} ({self.current.key}).")
            case "as":
                found = self._find(rest)
                if found is None:
                    self._print(
                        f"No such person: {rest!r}. Try one of: "
                        + ", ".join(p.key for p in self.people)
                    )
                else:
                    self.current = found
                    self._print(f"You are {found.name} now.")
            case "loc":
                coordinates = _coordinates(rest)
                if coordinates is None:
                    self._print("Usage: :loc LAT,LON  (for example :loc 31.8802,106.8123)")
                else:
                    lat, lon = coordinates
                    await self._deliver(
                        self.api.location(user_id, lat, lon, horizontal_accuracy=12)
                    )
            case "press":
                await self._press(rest)
            case "photo":
                await self._deliver(self.api.photo(user_id, SAMPLE_PHOTO, caption=rest or None))
            case _:
                self._print(f"Unknown meta command :{verb}. Type :help.")
        return True

    async def _press(self, number: str) -> None:
        chat_id = self.current.telegram_id
        buttons = self._inline.get(chat_id, [])
        if not number.isdigit() or not 1 <= int(number) <= len(buttons):
            self._print(f"There is no button {number or '?'} on the last message with buttons.")
            return
        message = self._inline_message[chat_id]
        await self._deliver(self.api.press(chat_id, message, buttons[int(number) - 1]))

    def _find(self, name: str) -> Persona | None:
        return next((p for p in self.people if name in (p.key, p.name)), None)

    async def _deliver(self, update: JsonDict) -> None:
        await self.tracker.wait_for(int(update["update_id"]))
        self._show_new_calls()

    def _show_new_calls(self) -> None:
        calls = self.api.calls[self._seen_calls :]
        self._seen_calls = len(self.api.calls)
        for call in calls:
            for line in self._render(call):
                self._print(line)

    def _render(self, call: RecordedCall) -> list[str]:
        if call.method not in RENDERED:
            return []
        if not call.ok:
            return [f"  !! the stand-in refused {call.method}: {call.response.get('description')}"]
        result = call.result
        if call.method == "answerCallbackQuery":
            text = call.params.get("text")
            return [f"  (popup) {text}"] if text else []
        if not isinstance(result, dict):
            return []
        chat_id = int(result["chat"]["id"])
        body = str(result.get("text", result.get("caption", "")))
        if call.method == "sendPhoto":
            body = "[photo] " + body
        elif call.method == "sendDocument":
            body = f"[file {result.get('document', {}).get('file_name', '')}] " + body
        edited = " (edited)" if call.method == "editMessageText" else ""
        recipient = self._name_of(chat_id)
        head = "bot" if chat_id == self.current.telegram_id else f"bot → {recipient}"
        lines = [f"{head}{edited}:"] + [f"  {text}" for text in body.splitlines()]
        lines += self._buttons(chat_id, result, call.params.get("reply_markup"))
        return lines

    def _buttons(self, chat_id: int, message: JsonDict, markup: Any) -> list[str]:
        if not isinstance(markup, dict):
            return []
        if "inline_keyboard" in markup:
            buttons = [b for row in markup["inline_keyboard"] for b in row]
            self._inline[chat_id] = [str(b.get("callback_data", "")) for b in buttons]
            self._inline_message[chat_id] = message
            return ["  " + "  ".join(f"({i}) {b['text']}" for i, b in enumerate(buttons, 1))]
        if "keyboard" in markup:
            labels = [
                b["text"] if isinstance(b, dict) else str(b)
                for row in markup["keyboard"]
                for b in row
            ]
            return ["  keyboard: " + " · ".join(labels)]
        return []

    def _name_of(self, chat_id: int) -> str:
        person = next((p for p in self.people if p.telegram_id == chat_id), None)
        return person.name if person else str(chat_id)

    def _print(self, text: str) -> None:
        print(text, file=self.out, flush=True)


def _coordinates(text: str) -> tuple[float, float] | None:
    parts = text.replace("，", ",").split(",")
    try:
        lat, lon = (float(p) for p in parts)
    except ValueError:
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return lat, lon


async def _prepare_store(db_path: Path, clock: Clock) -> str:
    """Seed the sample township and invite the newcomer; return the newcomer's code."""
    db = await Database.open(db_path)
    try:
        await db.migrate()
        await seed_regions_and_households(db, clock)
        await seed_people(db, clock)
        await seed_policies(db, clock)
        invite = await InviteService(db, clock).create(
            role=NEWCOMER.role,
            region_code=NEWCOMER.region_code,
            name=NEWCOMER.name,
            operator="operator:demo",
        )
        return invite.code
    finally:
        await db.close()


async def play(
    settings: Settings,
    lines: Callable[[], Any],
    out: TextIO,
    *,
    folder: Path,
    clock: Clock | None = None,
) -> None:
    """Run one playground session; ``lines`` is an async iterator factory of typed lines.

    Without a ``clock`` the session runs on :data:`REPLAY_START`, a fixed clock, so that a
    replayed script gives the same transcript on any day; ``zhucun demo`` at a terminal passes
    the system clock.
    """
    clock = clock or FixedClock(REPLAY_START)
    api = FakeTelegram(clock=clock)
    invite_code = await _prepare_store(folder / "zhucun.db", clock)
    async with StandinServer(api) as server:
        demo_settings = settings.model_copy(
            update={
                "bot_token": SecretStr(api.token),
                "db": folder / "zhucun.db",
                "api_base_url": server.base_url,
                "api_file_url": server.file_url,
                "proxy": None,
            }
        )
        tracker = CompletionTracker(ChatOrderedProcessor())
        app = build_application(
            demo_settings, clock=clock, update_processor=tracker, daily_jobs=False
        )
        playground = Playground(api, tracker, invite_code, out)
        async with serving(app):
            assert app.updater is not None
            await app.updater.start_polling(
                poll_interval=0, timeout=10, allowed_updates=ALLOWED_UPDATES
            )
            playground.banner()
            async for line in lines():
                if not await playground.handle_line(line):
                    break


async def _stdin_lines(stream: TextIO, interactive: bool) -> Any:
    loop = asyncio.get_running_loop()
    while True:
        if interactive:
            line = await loop.run_in_executor(None, _prompt)
        else:
            line = await loop.run_in_executor(None, stream.readline)
        if line is None or line == "":
            return
        yield line


def _prompt() -> str | None:
    try:
        return input("> ") + "\n"
    except EOFError:
        return None


def run_demo(settings: Settings) -> int:
    """Entry point of ``zhucun demo``; returns the exit status."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    interactive = sys.stdin.isatty()
    with tempfile.TemporaryDirectory(prefix="zhucun-demo-") as folder:
        asyncio.run(
            play(
                settings,
                lambda: _stdin_lines(sys.stdin, interactive),
                sys.stdout,
                folder=Path(folder),
                clock=SystemClock() if interactive else None,
            )
        )
    return 0
