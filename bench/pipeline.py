"""Benchmarks of the update pipeline: the 9 a.m. burst, and SIGKILL during a backlog.

    python -m bench.pipeline [--size tiny|full]

The bot runs as its own process (``tests.pipeline.runner``, the real app with the test handler
set) against the stand-in served over HTTP from this process, as in the end-to-end tests.

- **burst**: N people send 2 messages each at the same moment, and the stand-in answers every
  call after 200 ms. Reported: p95 and last time to reply, for this bot and, in the same run,
  for python-telegram-bot's default sequential processor (same app, same handler). The floor is
  what Telegram's overall limit of 30 messages/s allows: messages / 30 s (the bot's rate limiter
  enforces it, so the floor is real); the target is p95 <= 1.5 x floor.
- **kill run**: a backlog queued, the bot SIGKILLed after several counts of replies and
  restarted, then let finish: entries stored, lost, duplicated, answers per message.

Prints a Markdown table (``bench.report``); ``rows(size)`` gives its rows to ``python -m bench``.
``--size tiny`` keeps it short enough for a quick check.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.report import Row, at_most, table
from bot.standin.api import FakeTelegram, JsonDict
from bot.standin.faults import Fault, FaultKind, FaultPlan
from bot.standin.server import StandinServer
from storage import inbox
from storage.db import Database
from tests.harness import TOKEN
from tests.pipeline.handlers import entries
from tests.pipeline.live import BotProcess, saved_counts, wait_for_replies, wait_for_saved

TELEGRAM_RATE = 30.0  # messages per second, overall
TARGET_FACTOR = 1.5
LATENCY = 0.2
RUN_TIMEOUT = 300.0  # only a stuck bot reaches it


@dataclass(frozen=True)
class Size:
    people: int  # burst: people, 2 messages each
    chats: int  # kill run: chats
    per_chat: int  # kill run: messages per chat
    kill_after: tuple[int, ...]  # kill run: replies observed before each SIGKILL


SIZES = {
    "tiny": Size(people=10, chats=10, per_chat=10, kill_after=(40,)),
    "full": Size(people=40, chats=50, per_chat=20, kill_after=(150, 400, 700)),
}


class Latency(FaultPlan):
    """Every call is answered after ``seconds``."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self._fault = Fault(FaultKind.LATENCY, seconds=seconds)

    def choose(self, method: str, params: Mapping[str, Any]) -> Fault | None:
        return self._fault


class TimedTelegram(FakeTelegram):
    """The stand-in, noting when each message the bot sent was recorded."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent_at: list[float] = []

    async def call(
        self,
        method: str,
        params: Mapping[str, str],
        files: Mapping[str, tuple[str, bytes]],
        *,
        token: str | None = None,
    ) -> tuple[int, JsonDict]:
        status, body = await super().call(method, params, files, token=token)
        if status == 200 and method.lower() == "sendmessage":
            self.sent_at.append(asyncio.get_running_loop().time())
        return status, body


@dataclass(frozen=True)
class Burst:
    messages: int
    p95: float
    last: float


async def bursts(people: int, folder: Path) -> tuple[Burst, Burst]:
    """(this bot, default sequential bot): started together, measured one after the other."""
    async with AsyncExitStack() as stack:
        setups = []
        for sequential in (False, True):
            api = TimedTelegram(TOKEN, faults=Latency(LATENCY))
            server = await stack.enter_async_context(StandinServer(api))
            setups.append((api, server, sequential))
        bots = await asyncio.gather(
            *(
                BotProcess.start(
                    server,
                    folder / f"burst-{sequential}.db",
                    folder / f"burst-{sequential}.log",
                    sequential=sequential,
                )
                for _, server, sequential in setups
            )
        )
        for bot in bots:
            stack.push_async_callback(bot.stop)
        ours, baseline = [
            await _burst(api, bot, people) for (api, _, _), bot in zip(setups, bots, strict=True)
        ]
    return ours, baseline


async def _burst(api: TimedTelegram, bot: BotProcess, people: int) -> Burst:
    chats = [7000 + n for n in range(people)]
    async with asyncio.timeout(RUN_TIMEOUT):
        await bot.until(api.polling.wait())
        start = asyncio.get_running_loop().time()
        for round_ in range(2):
            for chat in chats:
                api.user_message(chat, f"签到 {round_}")
        await bot.until(wait_for_replies(api, chats, 2 * people))
    times = sorted(t - start for t in api.sent_at[: 2 * people])
    return Burst(len(times), _percentile(times, 0.95), times[-1])


@dataclass(frozen=True)
class KillRun:
    messages: int
    entries: int
    lost: int
    duplicated: int
    answered_twice: int
    most_answers: int
    undone: int
    seconds: float


async def kill_run(size: Size, folder: Path) -> KillRun:
    api = FakeTelegram(TOKEN)
    chats = [8000 + n for n in range(size.chats)]
    sent: set[tuple[int, int]] = set()
    for n in range(size.per_chat):
        for chat in chats:
            sent.add((chat, api.user_message(chat, f"entry {n}")["message"]["message_id"]))
    db_path, log = folder / "kill.db", folder / "kill.log"
    loop = asyncio.get_running_loop()
    start = loop.time()
    async with StandinServer(api) as server:
        async with asyncio.timeout(RUN_TIMEOUT):
            for count in size.kill_after:
                bot = await BotProcess.start(server, db_path, log)
                await bot.until(wait_for_replies(api, chats, count))
                await bot.kill()
            bot = await BotProcess.start(server, db_path, log)
            await bot.until(wait_for_saved(api, chats, len(sent)))
            await bot.stop()
    seconds = loop.time() - start
    db = await Database.open(db_path)
    try:
        stored = await entries(db)
        _, undone = await inbox.counts(db)
    finally:
        await db.close()
    sources = [(chat, message) for _, chat, message, _ in stored]
    answers = saved_counts(api, chats)
    return KillRun(
        messages=len(sent),
        entries=len(set(sources)),
        lost=len(sent - set(sources)),
        duplicated=len(sources) - len(set(sources)),
        answered_twice=sum(1 for count in answers.values() if count > 1),
        most_answers=max(answers.values(), default=0),
        undone=undone,
        seconds=seconds,
    )


def _percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile."""
    return values[max(math.ceil(share * len(values)) - 1, 0)]


def _count(n: int) -> str:
    return f"{n:,}"


def table_rows(size_name: str, ours: Burst, default_ptb: Burst, kill: KillRun) -> list[Row]:
    """The burst against its two baselines, one row each, then the kill run.

    The floor is what Telegram lets any bot do, so p95 over the floor (the target) says how much
    of the wait is ours; the default python-telegram-bot row shows what a plain bot would make of
    the same burst. The kill run has no baseline: its targets are counts (nothing lost).
    """
    floor = ours.messages / TELEGRAM_RATE
    people = ours.messages // 2
    kills = len(SIZES[size_name].kill_after)
    burst = f"burst {people}×2 messages, stand-in answers after {LATENCY * 1000:.0f} ms"
    floor_text = f"{floor:.2f} s floor ({ours.messages} messages at {TELEGRAM_RATE:.0f}/s)"
    p95_ratio, p95_met = at_most(ours.p95, floor, TARGET_FACTOR)
    kill_name = f"kill run ({_count(kill.messages)} messages, {kills}× SIGKILL, 30/s limit)"
    return [
        Row(
            f"{burst}: p95 time to reply",
            f"{ours.p95:.2f} s",
            floor_text,
            p95_ratio,
            f"≤ {TARGET_FACTOR:g}× floor",
            p95_met,
        ),
        Row(
            "burst: p95 time to reply, next to a default python-telegram-bot bot",
            f"{ours.p95:.2f} s",
            f"{default_ptb.p95:.2f} s default PTB",
            ours.p95 / default_ptb.p95,
        ),
        Row(
            "burst: last reply",
            f"{ours.last:.2f} s",
            f"{default_ptb.last:.2f} s default PTB",
            ours.last / default_ptb.last,
        ),
        Row(
            f"{kill_name}: entries stored",
            f"{_count(kill.entries)} of {_count(kill.messages)}",
            target=f"all {_count(kill.messages)}",
            met=kill.entries == kill.messages,
        ),
        Row("kill run: entries lost", _count(kill.lost), target="0", met=kill.lost == 0),
        Row(
            "kill run: entries duplicated",
            _count(kill.duplicated),
            target="0",
            met=kill.duplicated == 0,
        ),
        Row("kill run: messages answered twice (kill windows)", _count(kill.answered_twice)),
        Row(
            "kill run: most answers to one message",
            _count(kill.most_answers),
            target="≤ 2",
            met=1 <= kill.most_answers <= 2,
        ),
        Row(
            "kill run: inbox rows left undone",
            _count(kill.undone),
            target="0",
            met=kill.undone == 0,
        ),
        Row("kill run: time, restarts included", f"{kill.seconds:.1f} s"),
    ]


async def measure(size_name: str) -> list[Row]:
    size = SIZES[size_name]
    with tempfile.TemporaryDirectory(prefix="zhucun-bench-") as name:
        folder = Path(name)
        ours, default_ptb = await bursts(size.people, folder)
        kill = await kill_run(size, folder)
    return table_rows(size_name, ours, default_ptb, kill)


def rows(size: str) -> list[Row]:
    """The pipeline figures at ``size`` ("tiny" proves it runs; "full" is the 40-person burst)."""
    return asyncio.run(measure(size))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline")
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    args = parser.parse_args(argv)
    print(table(rows(args.size)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
