"""A consistent copy of the store with SQLite's online backup API, and of its files folder.

The copy runs on a connection of its own (the bot may be running in another process, or in this
one with its writer busy): ``sqlite3.Connection.backup`` copies every page under one read
transaction, so it sees one committed state even while writes continue. Files are written before
the row naming them commits and are never rewritten in place, so copying the folder after the
database snapshot finds every file the snapshot names.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def files_dir(db_path: Path) -> Path:
    """The files folder beside a store (``<db>.files``)."""
    return db_path.with_name(db_path.name + ".files")


def backup_store(source: Path, target: Path) -> None:
    """Copy the store at ``source`` to ``target`` (owner-only), then its files folder."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, FILE_MODE)
    os.close(fd)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)
            # A self-contained file: no -wal beside it is needed to read it back.
            dst.execute("PRAGMA journal_mode=DELETE").fetchall()
        finally:
            dst.close()
    finally:
        src.close()
    os.replace(partial, target)
    _copy_files(files_dir(source), files_dir(target))


def _copy_files(source: Path, target: Path) -> None:
    if not source.is_dir():
        return
    target.mkdir(mode=DIR_MODE, exist_ok=True)
    os.chmod(target, DIR_MODE)
    for folder, dirs, names in os.walk(source):
        relative = Path(folder).relative_to(source)
        for name in dirs:
            made = target / relative / name
            made.mkdir(mode=DIR_MODE, exist_ok=True)
            os.chmod(made, DIR_MODE)
        for name in names:
            if name.endswith(".part"):
                continue  # a write still under way; its row is not committed yet
            copied = target / relative / name
            shutil.copyfile(Path(folder) / name, copied)
            os.chmod(copied, FILE_MODE)


def remove_backup(target: Path) -> None:
    """Delete one backup and its files folder (retention)."""
    target.unlink(missing_ok=True)
    shutil.rmtree(files_dir(target), ignore_errors=True)
