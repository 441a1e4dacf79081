"""Throughput of the field-work handlers through ``process_update``, next to a bare handler.

    python -m bench.fieldwork [--size tiny|full]

The real Application (store, persistence written through after every update, intake, services)
is driven in-process: each update goes through ``Application.process_update`` and every Bot API
call through python-telegram-bot's request layer into the stand-in (no sockets), as in the
tests. Measured, in updates per second:

- **check-ins**: ``/checkin <note>`` from team members (one reply each);
- **one-line visits**: ``/visit 王秀英 <notes>``;
- **guided visits**: ``/visit 王秀英``, a text, 下一步, 完成, 不需要回访 (five updates per visit);
- **baseline**: a python-telegram-bot Application with one handler that only replies, on the
  same stand-in in the same run.

Telegram's overall 30 messages/s limit is lifted for both (it would measure the limiter).

Rounds of each kind alternate with rounds of the baseline and the median ratio is reported, as
the machines are noisy. The target is a ratio of at least 0.5 to the baseline for each.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Any

from telegram import InlineKeyboardMarkup, ReplyKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ContextTypes,
    Defaults,
    MessageHandler,
    filters,
)

from bench.report import Row, table
from bot.app import build_application
from bot.clock import FixedClock
from bot.config import load_settings
from bot.context import ZhucunApp
from bot.sending import RetryingRateLimiter
from bot.standin.api import FakeTelegram, JsonDict, RecordedCall
from bot.standin.transport import StandinRequest
from tests.harness import TOKEN, settings_for
from tests.pipeline.field_runner import DAY, seed, team

TARGET_RATIO = 0.5


@dataclass(frozen=True)
class Size:
    members: int
    rounds: int  # entries per member and kind, each round beside a round of the baseline


SIZES = {"tiny": Size(members=5, rounds=3), "full": Size(members=20, rounds=15)}


def _buttons(message: JsonDict) -> dict[str, str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return {b["text"]: b.get("callback_data", "") for row in rows for b in row}


async def _timed(run: Callable[[int], Awaitable[int]], round_no: int) -> float:
    """Updates per second of one round of ``run`` (which returns how many updates it handled)."""
    start = time.perf_counter()
    count = await run(round_no)
    return count / (time.perf_counter() - start)


Round = Callable[[int], Awaitable[int]]
ReplyMarkup = InlineKeyboardMarkup | ReplyKeyboardMarkup


async def field_rounds(app: ZhucunApp, api: FakeTelegram, people: list[int]) -> dict[str, Round]:
    """One round of each kind of entry: every member makes one (five updates for a guided one)."""

    async def deliver(update: JsonDict) -> None:
        await app.process_update(Update.de_json(dict(update), app.bot))

    async def checkins(r: int) -> int:
        for person in people:
            await deliver(api.command(person, "checkin", f"在村 {r}"))
        return len(people)

    async def one_line(r: int) -> int:
        for person in people:
            await deliver(api.command(person, "visit", f"王秀英 第{r}次 送药"))
        return len(people)

    async def press(person: int, label: str) -> None:
        message = next(m for m in reversed(api.bot_messages(person)) if _buttons(m))
        await deliver(api.press(person, message, _buttons(message)[label]))

    async def guided(r: int) -> int:
        for person in people:
            await deliver(api.command(person, "visit", "王秀英"))
            await deliver(api.user_message(person, f"看望 {r}"))
            await press(person, "下一步 ➡")
            await press(person, "完成 ✔")
            await press(person, "不需要回访")
        return 5 * len(people)

    return {"check-ins": checkins, "one-line visits": one_line, "guided visits": guided}


async def baseline_round(
    app: Application[Any, Any, Any, Any, Any, Any], api: FakeTelegram, people: list[int]
) -> Round:
    """The same number of messages to a bare python-telegram-bot Application that only replies."""

    async def run(r: int) -> int:
        for person in people:
            update = api.command(person, "visit", f"王秀英 第{r}次")
            await app.process_update(Update.de_json(dict(update), app.bot))
        return len(people)

    return run


def bare_application(api: FakeTelegram) -> Application[Any, Any, Any, Any, Any, Any]:
    app = ApplicationBuilder().token(TOKEN).request(StandinRequest(api)).build()

    async def reply(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text("ok")

    app.add_handler(MessageHandler(filters.ALL, reply))
    return app


class ReplayBot:
    """A bare bot that sends, for each message, the reply the real bot sent for it, unchanged.

    It has what sending costs in the real bot (HTML, the reply keyboard, the rate limiter) and
    nothing else: no store, no flow. Its ratio to the reply-only bot is the most the real bot
    could reach with free handlers, so it shows how much of the gap is the answer itself.
    """

    def __init__(self, api: FakeTelegram) -> None:
        self.app = (
            ApplicationBuilder()
            .token(TOKEN)
            .request(StandinRequest(api))
            .defaults(Defaults(parse_mode=ParseMode.HTML))
            .rate_limiter(RetryingRateLimiter(overall_max_rate=0))
            .build()
        )
        self.api = api
        self._replies: dict[int, deque[tuple[str, ReplyMarkup | None]]] = {}
        self.app.add_handler(MessageHandler(filters.ALL, self._reply))

    def load(self, sent: list[RecordedCall]) -> int:
        """Queue the real bot's sendMessage calls; how many messages to replay."""
        for call in sent:
            markup = call.params.get("reply_markup")
            if isinstance(markup, str):
                markup = json.loads(markup)
            parsed: ReplyMarkup | None = None
            if isinstance(markup, dict):
                kind = InlineKeyboardMarkup if "inline_keyboard" in markup else ReplyKeyboardMarkup
                parsed = kind.de_json(markup, self.app.bot)
            chat = int(call.params["chat_id"])
            self._replies.setdefault(chat, deque()).append((str(call.params["text"]), parsed))
        return len(sent)

    async def round(self, r: int) -> int:
        n = 0
        for chat, queued in self._replies.items():
            for _ in range(len(queued)):
                update = self.api.command(chat, "visit", f"王秀英 第{r}次")
                await self.app.process_update(Update.de_json(dict(update), self.app.bot))
                n += 1
        return n

    async def _reply(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None
        text, markup = self._replies[update.effective_chat.id].popleft()
        await context.bot.send_message(update.effective_chat.id, text, reply_markup=markup)


@dataclass(frozen=True)
class Measured:
    rate: float  # median updates/s of the kind
    baseline: float  # median updates/s of the bare bot in the rounds beside it
    ratio: float  # median of the per-round ratios
    replay_ratio: float | None  # the same for the bot that only sends the same replies


async def measure(size: Size) -> dict[str, Measured]:
    """Rounds of each kind alternate with rounds of the bare bot, so both see the same machine.

    The boxes are noisy: a baseline measured a minute apart can differ by a factor of two, which
    would swamp the ratio. The median over rounds of (ours / bare beside it) is what is reported.
    """
    with tempfile.TemporaryDirectory() as folder:
        db_path = Path(settings_for(Path(folder))["ZHUCUN_DB"])
        await seed(db_path, size.members)
        clock = FixedClock(DAY)
        api = FakeTelegram(TOKEN, clock=clock)
        app: ZhucunApp = build_application(
            load_settings(settings_for(Path(folder))),
            clock=clock,
            request=StandinRequest(api),
            # Telegram's 30 messages/s would measure the limiter, not the handlers: lifted here.
            rate_limiter=RetryingRateLimiter(overall_max_rate=0),
        )
        bare_api = FakeTelegram(TOKEN, clock=clock)
        bare = bare_application(bare_api)
        replay = ReplayBot(FakeTelegram(TOKEN, clock=clock))
        people = [p.telegram_id for p in team(size.members)]
        await app.initialize()
        assert app.post_init is not None
        await app.post_init(app)
        await bare.initialize()
        await replay.app.initialize()
        try:
            kinds = await field_rounds(app, api, people)
            base = await baseline_round(bare, bare_api, people)
            await kinds["check-ins"](-1)  # warm-up: first-use costs are not throughput
            await base(-1)
            results: dict[str, Measured] = {}
            for name, run in kinds.items():
                ours, bases, replays = [], [], []
                for r in range(size.rounds):
                    bases.append(await _timed(base, r))
                    mark = len(api.calls)
                    ours.append(await _timed(run, r))
                    sent = api.calls[mark:]
                    # Only where every update is answered by one new message is a replay the same.
                    if all(c.method == "sendMessage" for c in sent) and len(sent) == len(people):
                        replay.load(sent)
                        replays.append(await _timed(replay.round, r))
                ratios = [o / b for o, b in zip(ours, bases, strict=True)]
                floor = [f / b for f, b in zip(replays, bases, strict=False)] if replays else None
                results[name] = Measured(
                    median(ours), median(bases), median(ratios), median(floor) if floor else None
                )
            return results
        finally:
            await replay.app.shutdown()
            await bare.shutdown()
            assert app.post_shutdown is not None
            await app.post_shutdown(app)
            await app.shutdown()


def rows(size_name: str) -> list[Row]:
    size = SIZES[size_name]
    found: list[Row] = []
    for name, m in asyncio.run(measure(size)).items():
        found.append(
            Row(
                figure=f"{name} through process_update ({size.members} members × {size.rounds})",
                value=f"{m.rate:,.0f} updates/s",
                baseline=f"{m.baseline:,.0f} updates/s (reply-only PTB handler)",
                ratio=m.ratio,
                target=f"≥ {TARGET_RATIO}",
                met=m.ratio >= TARGET_RATIO,
            )
        )
        if m.replay_ratio is not None:
            found.append(
                Row(
                    figure=f"(reference) a bare bot sending the same replies as {name}",
                    value="—",
                    baseline="reply-only PTB handler",
                    ratio=m.replay_ratio,
                    target="the most the real bot could reach",
                )
            )
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fieldwork")
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    args = parser.parse_args(argv)
    print(table(rows(args.size)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
