"""The product bot alone (no test handler set) polling a stand-in, for the field-work pipeline
tests and ``bench/fieldwork.py``: ``python -m tests.pipeline.field_runner --base-url URL
--file-url URL --db PATH``. The store is seeded by the caller (:func:`seed`)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.app import ALLOWED_UPDATES, build_application, serving
from bot.clock import FixedClock
from bot.config import load_settings
from bot.models import Role
from bot.sample import VILLAGE, Persona, register, seed_people, seed_regions_and_households
from storage.db import Database
from tests.harness import TOKEN
from tests.pipeline.runner import READY

# A fixed day for the bot's clock, so "today" and the entries' days never depend on the wall.
DAY = datetime(2026, 11, 28, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
TEAM_BASE = 5000  # extra team members of 石桥村: telegram ids 5000, 5001, …


def team(count: int) -> list[Persona]:
    return [
        Persona(f"team{n}", TEAM_BASE + n, f"队员{n}", Role.MEMBER, VILLAGE) for n in range(count)
    ]


async def seed(path: Path, members: int) -> None:
    """The sample township and ``members`` more team members of 石桥村."""
    clock = FixedClock(DAY)
    db = await Database.open(path)
    try:
        await db.migrate()
        await seed_regions_and_households(db, clock)
        await seed_people(db, clock)
        for persona in team(members):
            await register(db, clock, persona)
    finally:
        await db.close()


async def run(base_url: str, file_url: str, db: Path) -> None:
    settings = load_settings(
        {
            "ZHUCUN_BOT_TOKEN": TOKEN,
            "ZHUCUN_DB": str(db),
            "ZHUCUN_API_BASE_URL": base_url,
            "ZHUCUN_API_FILE_URL": file_url,
        }
    )
    app = build_application(settings, clock=FixedClock(DAY))
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
    parser = argparse.ArgumentParser(prog="python -m tests.pipeline.field_runner")
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--file-url", required=True)
    parser.add_argument("--db", required=True, type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("bot.intake").setLevel(logging.INFO)
    asyncio.run(run(args.base_url, args.file_url, args.db))


if __name__ == "__main__":
    main()
