"""The pipeline suites again with the real field-work handlers: ``/checkin``, one-line ``/visit``
and guided ``/visit`` survive SIGKILL, many chats at once, and a misbehaving Bot API."""

from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from bot.clock import FixedClock
from bot.standin.api import FakeTelegram
from bot.standin.faults import Fault, FaultKind, FaultPlan
from bot.standin.server import StandinServer
from storage.db import Database
from tests.e2e import REPLY_TIMEOUT, LiveBot, live_bot
from tests.harness import TOKEN, settings_for
from tests.pipeline.field_runner import DAY, TEAM_BASE, seed
from tests.pipeline.live import ROOT, BotProcess, wait_for_replies

MEMBERS = 10
CHATS = [TEAM_BASE + n for n in range(MEMBERS)]
PER_CHAT = 6  # alternating /checkin <note> and one-line /visit
KILL_AFTER = [12, 35]
RUN_TIMEOUT = 60.0


async def start_bot(server: StandinServer, db: Path, log: Path) -> BotProcess:
    """``python -m tests.pipeline.field_runner``: the product bot alone, in its own process."""
    args = ["--base-url", server.base_url, "--file-url", server.file_url, "--db", str(db)]
    with log.open("ab") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.pipeline.field_runner",
            *args,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )
    return BotProcess(process, log)


async def sources(db_path: Path, table: str) -> Counter[tuple[int, int]]:
    db = await Database.open(db_path)
    try:
        rows = await db.fetchall(f"SELECT source_chat_id, source_message_id FROM {table}")
    finally:
        await db.close()
    return Counter((row[0], row[1]) for row in rows)


def burst(api: FakeTelegram) -> dict[str, set[tuple[int, int]]]:
    sent: dict[str, set[tuple[int, int]]] = {"checkins": set(), "visits": set()}
    for n in range(PER_CHAT):
        for chat in CHATS:
            if n % 2 == 0:
                update = api.command(chat, "checkin", f"在村 {n}")
                sent["checkins"].add((chat, update["message"]["message_id"]))
            else:
                update = api.command(chat, "visit", f"王秀英 第{n}次 {chat}")
                sent["visits"].add((chat, update["message"]["message_id"]))
    return sent


async def test_kill_during_field_burst_loses_nothing(tmp_path: Path) -> None:
    db_path, log = tmp_path / "zhucun.db", tmp_path / "bot.log"
    await seed(db_path, MEMBERS)
    api = FakeTelegram(TOKEN, clock=FixedClock(DAY))
    sent = burst(api)
    total = sum(len(s) for s in sent.values())
    async with StandinServer(api) as server:
        for count in KILL_AFTER:
            bot = await start_bot(server, db_path, log)
            async with asyncio.timeout(RUN_TIMEOUT):
                await wait_for_replies(api, CHATS, count)
            await bot.kill()
        bot = await start_bot(server, db_path, log)
        async with asyncio.timeout(RUN_TIMEOUT):
            while (
                len(await sources(db_path, "checkins")) + len(await sources(db_path, "visits"))
                < total
                or sum(len(api.bot_messages(c)) for c in CHATS) < total
            ):
                await wait_for_replies(api, CHATS, sum(len(api.bot_messages(c)) for c in CHATS) + 1)
        assert await bot.stop() == 0, log.read_text()
    for table, expected in sent.items():
        stored = await sources(db_path, table)
        assert set(stored) == expected, table
        assert max(stored.values()) == 1, f"{table}: every entry exactly once"
    assert "Replaying" in log.read_text() or total <= KILL_AFTER[0]


async def test_kill_in_the_middle_of_a_guided_visit(tmp_path: Path) -> None:
    db_path, log = tmp_path / "zhucun.db", tmp_path / "bot.log"
    await seed(db_path, 1)
    api = FakeTelegram(TOKEN, clock=FixedClock(DAY))
    chat = CHATS[0]
    async with StandinServer(api) as server:
        bot = await start_bot(server, db_path, log)
        api.command(chat, "visit", "王秀英")
        api.user_message(chat, "屋顶漏雨")
        async with asyncio.timeout(RUN_TIMEOUT):
            await wait_for_replies(api, [chat], 2)  # the notes prompt and the status message
        await bot.kill()
        bot = await start_bot(server, db_path, log)
        api.user_message(chat, "已报村里维修")
        async with asyncio.timeout(RUN_TIMEOUT):
            # one chat is handled in order: the press comes after the text, whatever the timing
            await _press_when(api, chat, "下一步 ➡")
            await _press_when(api, chat, "完成 ✔")
            await _press_when(api, chat, "不需要回访")
            await _settled(api, chat, "走访已保存")
        assert await bot.stop() == 0, log.read_text()
    saved = next(t for t in api.texts_to(chat) if "走访已保存" in t)
    assert "屋顶漏雨\n已报村里维修" in saved
    assert sum((await sources(db_path, "visits")).values()) == 1


async def _settled(api: FakeTelegram, chat: int, text: str) -> None:
    """Until a new message to ``chat`` contains ``text`` (the caller bounds the wait)."""
    while not any(text in t for t in api.texts_to(chat)):
        await api.wait_for_message_to(chat, len(api.bot_messages(chat)) + 1)


async def _press_when(api: FakeTelegram, chat: int, label: str) -> None:
    """Press the button ``label`` once a message to ``chat`` carries it."""
    while not any(label in _buttons(m) for m in api.bot_messages(chat)):
        await api.wait_for_message_to(chat, len(api.bot_messages(chat)) + 1)
    found = [m for m in api.bot_messages(chat) if label in _buttons(m)]
    api.press(chat, found[-1], _buttons(found[-1])[label])


async def _press(api: FakeTelegram, chat: int, label: str, count: int) -> None:
    message = next(m for m in reversed(api.bot_messages(chat)) if _buttons(m))
    api.press(chat, message, _buttons(message)[label])
    await api.wait_for_message_to(chat, count)


def _buttons(message: dict[str, Any]) -> dict[str, str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return {b["text"]: b.get("callback_data", "") for row in rows for b in row}


@asynccontextmanager
async def field_bot(tmp_path: Path, **options: Any) -> AsyncIterator[LiveBot]:
    await seed(Path(settings_for(tmp_path)["ZHUCUN_DB"]), MEMBERS)
    async with live_bot(tmp_path, seed=False, **options) as bot:
        yield bot


async def _guided(bot: LiveBot, chat: int) -> None:
    bot.api.command(chat, "visit", "王秀英")
    await bot.api.wait_for_message_to(chat, 1)
    bot.api.user_message(chat, f"看望 {chat}")
    await bot.api.wait_for_message_to(chat, 2)
    await _press(bot.api, chat, "下一步 ➡", 3)
    await _press(bot.api, chat, "完成 ✔", 4)
    await _press(bot.api, chat, "不需要回访", 5)


async def test_field_flows_of_many_chats_at_once(tmp_path: Path) -> None:
    faults = FaultPlan()
    faults.hold(CHATS[0], until=CHATS[1])  # a bot serving one chat at a time would hang
    async with field_bot(tmp_path, faults=faults) as bot:
        for chat in CHATS[:2]:
            bot.api.command(chat, "checkin", "在村")
        async with asyncio.timeout(REPLY_TIMEOUT):
            for chat in CHATS[:2]:
                await bot.api.wait_for_message_to(chat, 1)
            await asyncio.gather(*(_guided(bot, chat) for chat in CHATS[2:]))
        rows = await bot.services.db.fetchall(
            "SELECT m.telegram_user_id AS chat, v.text FROM visits v"
            " JOIN members m ON m.id = v.member_id"
        )
        assert sorted((row["chat"], row["text"]) for row in rows) == [
            (chat, f"看望 {chat}") for chat in CHATS[2:]
        ]


@pytest.mark.parametrize("seed_value", [1, 2])
async def test_field_entries_exactly_once_despite_api_faults(
    tmp_path: Path, seed_value: int
) -> None:
    faults = FaultPlan(
        rate=0.3,
        seed=seed_value,
        kinds=(Fault(FaultKind.RETRY_AFTER), Fault(FaultKind.ERROR_BEFORE, status=502)),
        methods=["sendMessage"],
    )
    async with field_bot(tmp_path, faults=faults) as bot:
        sent = burst(bot.api)
        total = sum(len(s) for s in sent.values())
        async with asyncio.timeout(REPLY_TIMEOUT * 3):
            while sum(len(bot.api.bot_messages(c)) for c in CHATS) < total:
                await wait_for_replies(
                    bot.api, CHATS, sum(len(bot.api.bot_messages(c)) for c in CHATS) + 1
                )
        for table, expected in sent.items():
            rows = await bot.services.db.fetchall(
                f"SELECT source_chat_id, source_message_id FROM {table}"
            )
            stored = Counter((row[0], row[1]) for row in rows)
            assert set(stored) == expected and max(stored.values()) == 1, table
