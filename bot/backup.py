"""``zhucun backup FILE`` and the daily backup job with a retention count.

Both call :func:`storage.backup.backup_store`: SQLite's online backup on a connection of its own,
so the bot keeps running (and writing) meanwhile. Restore: stop the bot, copy ``FILE`` over
``ZHUCUN_DB`` and ``FILE.files`` over ``<db>.files``, start the bot (README).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from datetime import time
from pathlib import Path

from bot.config import Settings
from bot.context import BotContext, ZhucunApp
from storage.backup import backup_store, remove_backup

# Local time of the daily backup: the quietest hour in the villages.
BACKUP_TIME = time(3, 0)
PREFIX = "zhucun-"
SUFFIX = ".db"

_LOGGER = logging.getLogger(__name__)


async def backup(settings: Settings, target: Path) -> None:
    """Take a consistent copy of the store and its files to ``target`` and ``target.files``."""
    await asyncio.to_thread(backup_store, settings.db, target)


def backup_cli(settings: Settings, target: Path) -> int:
    if not settings.db.exists():
        print(f"no store at {settings.db} (ZHUCUN_DB)", file=sys.stderr)
        return 1
    if target.resolve() == settings.db.resolve():
        print("the backup must not replace the store itself", file=sys.stderr)
        return 2
    asyncio.run(backup(settings, target))
    print(f"backup: {target} (and {target.name}.files)")
    return 0


async def daily_backup(settings: Settings, stamp: str) -> Path | None:
    """One backup into ``ZHUCUN_BACKUP_DIR`` named by ``stamp``; keep the newest ``BACKUP_KEEP``."""
    folder = settings.backup_dir
    if folder is None:
        return None
    target = folder / f"{PREFIX}{stamp}{SUFFIX}"
    await backup(settings, target)
    kept = sorted(folder.glob(f"{PREFIX}*{SUFFIX}"))
    for old in kept[: max(len(kept) - settings.backup_keep, 0)]:
        await asyncio.to_thread(remove_backup, old)
    return target


async def _job(context: BotContext) -> None:
    settings = context.bot_data.settings
    stamp = context.bot_data.clock.now().astimezone(settings.zone).strftime("%Y%m%d-%H%M")
    try:
        target = await daily_backup(settings, stamp)
    except Exception:
        _LOGGER.exception("the daily backup failed")
        return
    _LOGGER.info("daily backup written to %s", target)


def register(app: ZhucunApp) -> None:
    """Schedule the daily backup when ``ZHUCUN_BACKUP_DIR`` is set."""
    settings = app.bot_data.settings
    if settings.backup_dir is None or app.job_queue is None:
        return
    app.job_queue.run_daily(
        _job, time=BACKUP_TIME.replace(tzinfo=settings.zone), name="daily-backup"
    )
