"""The real bot with the test survey flow, polling a stand-in, until killed.

    python -m tests.state.runner --base-url URL --file-url URL --db PATH --now ISO

Prints ``polling`` once it polls and ``handled <update_id>`` once an update is handled and its
flow state stored, so the test knows when to kill it without waiting on the clock.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from datetime import datetime
from pathlib import Path

from bot.app import ALLOWED_UPDATES, build_application, serving
from bot.clock import FixedClock
from bot.config import load_settings
from bot.persistence import PersistingApplication
from tests.harness import TOKEN
from tests.state.flow import survey


async def run(base_url: str, file_url: str, db: Path, now: datetime) -> None:
    settings = load_settings(
        {
            "ZHUCUN_BOT_TOKEN": TOKEN,
            "ZHUCUN_DB": str(db),
            "ZHUCUN_API_BASE_URL": base_url,
            "ZHUCUN_API_FILE_URL": file_url,
        }
    )
    app = build_application(settings, clock=FixedClock(now), extra_handlers=[survey()])
    assert isinstance(app, PersistingApplication)

    async def report(update: object) -> None:
        print(f"handled {getattr(update, 'update_id', '?')}", flush=True)

    app.after_update.append(report)
    async with serving(app):
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=5, allowed_updates=ALLOWED_UPDATES)
        print("polling", flush=True)
        await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.state.runner")
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--file-url", required=True)
    parser.add_argument("--db", required=True, type=Path)
    parser.add_argument("--now", required=True, type=datetime.fromisoformat)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(run(args.base_url, args.file_url, args.db, args.now))


if __name__ == "__main__":
    main()
