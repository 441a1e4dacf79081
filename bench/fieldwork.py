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

The target is a ratio of at least 0.5 to the baseline for each. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from telegram import Update
from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters

from bot.app import build_application
from bot.clock import FixedClock
from bot.config import load_settings
from bot.context import ZhucunApp
from bot.sending import RetryingRateLimiter
from bot.standin.api import FakeTelegram, JsonDict
from bot.standin.transport import StandinRequest
from tests.harness import TOKEN, settings_for
from tests.pipeline.field_runner import DAY, seed, team

TARGET_RATIO = 0.5


@dataclass(frozen=True)
class Size:
    members: int
    rounds: int  # entries per member and kind


SIZES = {"tiny": Size(members=5, rounds=4), "full": Size(members=20, rounds=25)}


def _buttons(message: JsonDict) -> dict[str, str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return {b["text"]: b.get("callback_data", "") for row in rows for b in row}


async def _timed(run: Callable[[], Awaitable[int]]) -> float:
    """Updates per second of ``run`` (which returns how many updates it handled)."""
    start = time.perf_counter()
    count = await run()
    return count / (time.perf_counter() - start)


async def fieldwork(folder: Path, size: Size) -> dict[str, float]:
    db_path = Path(settings_for(folder)["ZHUCUN_DB"])
    await seed(db_path, size.members)
    clock = FixedClock(DAY)
    api = FakeTelegram(TOKEN, clock=clock)
    app: ZhucunApp = build_application(
        load_settings(settings_for(folder)),
        clock=clock,
        request=StandinRequest(api),
        # Telegram's 30 messages/s would measure the limiter, not the handlers: lifted here.
        rate_limiter=RetryingRateLimiter(overall_max_rate=0),
    )
    people = [p.telegram_id for p in team(size.members)]
    await app.initialize()
    assert app.post_init is not None
    await app.post_init(app)

    async def deliver(update: JsonDict) -> None:
        await app.process_update(Update.de_json(dict(update), app.bot))

    async def checkins() -> int:
        n = 0
        for r in range(size.rounds):
            for person in people:
                await deliver(api.command(person, "checkin", f"在村 {r}"))
                n += 1
        return n

    async def one_line() -> int:
        n = 0
        for r in range(size.rounds):
            for person in people:
                await deliver(api.command(person, "visit", f"王秀英 第{r}次 送药"))
                n += 1
        return n

    async def press(person: int, label: str) -> None:
        message = next(m for m in reversed(api.bot_messages(person)) if _buttons(m))
        await deliver(api.press(person, message, _buttons(message)[label]))

    async def guided() -> int:
        n = 0
        for r in range(size.rounds):
            for person in people:
                await deliver(api.command(person, "visit", "王秀英"))
                await deliver(api.user_message(person, f"看望 {r}"))
                await press(person, "下一步 ➡")
                await press(person, "完成 ✔")
                await press(person, "不需要回访")
                n += 5
        return n

    try:
        return {
            "check-ins": await _timed(checkins),
            "one-line visits": await _timed(one_line),
            "guided visits": await _timed(guided),
        }
    finally:
        assert app.post_shutdown is not None
        await app.post_shutdown(app)
        await app.shutdown()


async def baseline(size: Size) -> float:
    """A bare python-telegram-bot Application whose one handler only replies."""
    api = FakeTelegram(TOKEN, clock=FixedClock(DAY))
    app = ApplicationBuilder().token(TOKEN).request(StandinRequest(api)).build()

    async def reply(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text("ok")

    app.add_handler(MessageHandler(filters.ALL, reply))
    people = [p.telegram_id for p in team(size.members)]
    await app.initialize()

    async def run() -> int:
        n = 0
        for r in range(size.rounds * 3):
            for person in people:
                update = api.command(person, "visit", f"王秀英 第{r}次")
                await app.process_update(Update.de_json(dict(update), app.bot))
                n += 1
        return n

    try:
        return await _timed(run)
    finally:
        await app.shutdown()


async def measure(size: Size) -> tuple[dict[str, float], float]:
    with tempfile.TemporaryDirectory() as folder:
        rates = await fieldwork(Path(folder), size)
    return rates, await baseline(size)


def table(rates: dict[str, float], base: float) -> str:
    lines = [
        "| updates through process_update | updates/s | baseline updates/s | ratio | target |",
        "|---|---:|---:|---:|---|",
    ]
    for name, rate in rates.items():
        ratio = rate / base
        verdict = "met" if ratio >= TARGET_RATIO else "missed"
        lines.append(
            f"| {name} | {rate:.0f} | {base:.0f} | {ratio:.2f} | ≥ {TARGET_RATIO} ({verdict}) |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fieldwork")
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
    args = parser.parse_args(argv)
    size = SIZES[args.size]
    rates, base = asyncio.run(measure(size))
    print(
        f"Field work through process_update ({args.size}: {size.members} members,"
        f" {size.rounds} rounds each)\n"
    )
    print(table(rates, base))
    return 0


if __name__ == "__main__":
    sys.exit(main())
