"""Photos and voice notes: one row per source message, linked to its entry when that is saved."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from bot.fieldwork import FileKind, KeptFile
from storage.db import Database, Writer
from storage.visits import utc


def _model(row: sqlite3.Row) -> KeptFile:
    return KeptFile.model_validate(dict(row))


async def insert(
    tx: Writer,
    *,
    kind: FileKind,
    member_id: int,
    telegram_file_id: str,
    file_unique_id: str,
    path: str | None,
    caption: str | None,
    size: int | None,
    source: tuple[int, int],
    created_at: datetime,
) -> int | None:
    """Add a file; None when its source message already made one."""
    rows = await tx.fetchall(
        "INSERT INTO files (kind, member_id, telegram_file_id, file_unique_id, path, caption,"
        " size, source_chat_id, source_message_id, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (source_chat_id, source_message_id) DO NOTHING RETURNING id",
        (
            kind.value,
            member_id,
            telegram_file_id,
            file_unique_id,
            path,
            caption,
            size,
            *source,
            utc(created_at),
        ),
    )
    return int(rows[0]["id"]) if rows else None


async def by_source(db: Database, chat_id: int, message_id: int) -> KeptFile | None:
    row = await db.fetchone(
        "SELECT * FROM files WHERE source_chat_id = ? AND source_message_id = ?",
        (chat_id, message_id),
    )
    return _model(row) if row else None


async def tx_by_source(tx: Writer, chat_id: int, message_id: int) -> KeptFile | None:
    row = await tx.fetchone(
        "SELECT * FROM files WHERE source_chat_id = ? AND source_message_id = ?",
        (chat_id, message_id),
    )
    return _model(row) if row else None


async def get_many(db: Database, ids: Sequence[int]) -> list[KeptFile]:
    if not ids:
        return []
    marks = ", ".join("?" * len(ids))
    rows = await db.fetchall(f"SELECT * FROM files WHERE id IN ({marks}) ORDER BY id", list(ids))
    return [_model(row) for row in rows]


async def for_visit(db: Database, visit_id: int) -> list[KeptFile]:
    rows = await db.fetchall("SELECT * FROM files WHERE visit_id = ? ORDER BY id", (visit_id,))
    return [_model(row) for row in rows]


async def for_problem(db: Database, problem_id: int) -> list[KeptFile]:
    rows = await db.fetchall("SELECT * FROM files WHERE problem_id = ? ORDER BY id", (problem_id,))
    return [_model(row) for row in rows]


async def link_visit(tx: Writer, file_ids: Sequence[int], member_id: int, visit_id: int) -> None:
    """Attach the member's unattached files to a visit."""
    for file_id in file_ids:
        await tx.execute(
            "UPDATE files SET visit_id = ? WHERE id = ? AND member_id = ?"
            " AND visit_id IS NULL AND problem_id IS NULL",
            (visit_id, file_id, member_id),
        )


async def link_problem(
    tx: Writer, file_ids: Sequence[int], member_id: int, problem_id: int
) -> None:
    for file_id in file_ids:
        await tx.execute(
            "UPDATE files SET problem_id = ? WHERE id = ? AND member_id = ?"
            " AND visit_id IS NULL AND problem_id IS NULL",
            (problem_id, file_id, member_id),
        )
