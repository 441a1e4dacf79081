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

Prints a Markdown table. ``--size tiny`` keeps it short enough for a quick check.
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
    """(this bot, sequential baseline): started together, measured one after the other."""
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


def _yes(met: bool) -> str:
    return "yes" if met else "**no**"


def table(size_name: str, ours: Burst, baseline: Burst, kill: KillRun) -> str:
    floor = ours.messages / TELEGRAM_RATE
    target = TARGET_FACTOR * floor
    people = ours.messages // 2
    kills = len(SIZES[size_name].kill_after)
    rows = [
        ("figure", "value", "baseline", "ratio", "target", "met?"),
        ("---", "---", "---", "---", "---", "---"),
        (
            f"burst {people}x2, {LATENCY * 1000:.0f} ms per call: p95 time to reply",
            f"{ours.p95:.2f} s",
            f"{baseline.p95:.2f} s",
            f"{ours.p95 / baseline.p95:.2f}",
            f"<= {target:.2f} s ({TARGET_FACTOR} x floor)",
            _yes(ours.p95 <= target),
        ),
        (
            "burst: last reply",
            f"{ours.last:.2f} s",
            f"{baseline.last:.2f} s",
            f"{ours.last / baseline.last:.2f}",
            "—",
            "—",
        ),
        (
            f"floor: {ours.messages} messages at {TELEGRAM_RATE:.0f}/s",
            f"{floor:.2f} s",
            "—",
            "—",
            "—",
            "—",
        ),
        (
            f"kill run ({kills} x SIGKILL, the real 30/s limit): entries stored",
            f"{kill.entries} of {kill.messages}",
            "—",
            "—",
            f"{kill.messages}",
            _yes(kill.entries == kill.messages),
        ),
        ("kill run: entries lost", str(kill.lost), "—", "—", "0", _yes(kill.lost == 0)),
        (
            "kill run: entries duplicated",
            str(kill.duplicated),
            "—",
            "—",
            "0",
            _yes(kill.duplicated == 0),
        ),
        (
            "kill run: messages answered twice (kill windows)",
            str(kill.answered_twice),
            "—",
            "—",
            "—",
            "—",
        ),
        (
            "kill run: most answers to one message",
            str(kill.most_answers),
            "—",
            "—",
            "<= 2",
            _yes(1 <= kill.most_answers <= 2),
        ),
        (
            "kill run: inbox rows left undone",
            str(kill.undone),
            "—",
            "—",
            "0",
            _yes(kill.undone == 0),
        ),
        ("kill run: time, restarts included", f"{kill.seconds:.1f} s", "—", "—", "—", "—"),
    ]
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


async def main_async(size_name: str) -> str:
    size = SIZES[size_name]
    with tempfile.TemporaryDirectory(prefix="zhucun-bench-") as name:
        folder = Path(name)
        ours, baseline = await bursts(size.people, folder)
        kill = await kill_run(size, folder)
    return table(size_name, ours, baseline, kill)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline")
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    args = parser.parse_args(argv)
    print(asyncio.run(main_async(args.size)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
