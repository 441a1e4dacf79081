"""The real bot with the test handler set, polling a stand-in, until SIGTERM (or SIGKILL).

Run as a separate process by the kill tests and the benchmarks::

    python -m tests.pipeline.runner --base-url URL --file-url URL --db PATH [--sequential]

``--sequential`` uses python-telegram-bot's default processor (one update at a time) for the
benchmark's baseline; otherwise the bot's own default is used. ``--unlimited`` lifts Telegram's
30 messages/s from the rate limiter, for tests about what gets lost rather than how fast.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from collections.abc import Sequence
from pathlib import Path

from telegram.ext import BaseUpdateProcessor, SimpleUpdateProcessor

from bot.app import ALLOWED_UPDATES, build_application, serving
from bot.config import load_settings
from bot.processor import ChatOrderedProcessor
from bot.sending import RetryingRateLimiter
from tests.harness import TOKEN
from tests.pipeline.handlers import MIGRATIONS, handlers

READY = "polling"


async def run(base_url: str, file_url: str, db: Path, *, sequential: bool, unlimited: bool) -> None:
    settings = load_settings(
        {
            "ZHUCUN_BOT_TOKEN": TOKEN,
            "ZHUCUN_DB": str(db),
            "ZHUCUN_API_BASE_URL": base_url,
            "ZHUCUN_API_FILE_URL": file_url,
        }
    )
    processor: BaseUpdateProcessor = (
        SimpleUpdateProcessor(1) if sequential else ChatOrderedProcessor()
    )
    app = build_application(
        settings,
        update_processor=processor,
        extra_migrations=MIGRATIONS,
        extra_handlers=handlers(),
        rate_limiter=RetryingRateLimiter(overall_max_rate=0) if unlimited else None,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with serving(app):
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=5, allowed_updates=ALLOWED_UPDATES)
        print(READY, flush=True)
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.pipeline.runner")
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--file-url", required=True)
    parser.add_argument("--db", required=True, type=Path)
    parser.add_argument("--sequential", action="store_true")
    parser.add_argument("--unlimited", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("bot.intake").setLevel(logging.INFO)
    asyncio.run(
        run(
            args.base_url,
            args.file_url,
            args.db,
            sequential=args.sequential,
            unlimited=args.unlimited,
        )
    )


if __name__ == "__main__":
    main()
