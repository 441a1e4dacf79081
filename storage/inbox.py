"""The update inbox: every update Telegram handed over, from before it is confirmed until handled.

Rows are keyed by Telegram's ``update_id``; storing is ``INSERT OR IGNORE`` so an update handed
over twice (its confirmation was lost) is kept once, with its first ``done_at``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from storage.db import Database

MARK_DONE = "UPDATE inbox SET done_at = ? WHERE update_id = ? AND done_at IS NULL"


class InboxItem(BaseModel):
    """One update as Telegram sent it; ``chat_id`` is None for updates without a chat."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    update_id: int
    chat_id: int | None
    payload: dict[str, Any]


async def store(db: Database, items: Sequence[InboxItem], *, received_at: datetime) -> list[int]:
    """Keep every item in one statement; return the update ids not stored before."""
    if not items:
        return []
    at = received_at.isoformat()
    rows = await db.write(
        "INSERT OR IGNORE INTO inbox (update_id, chat_id, received_at, payload) VALUES "
        + ", ".join(["(?, ?, ?, ?)"] * len(items))
        + " RETURNING update_id",
        [
            value
            for item in items
            for value in (
                item.update_id,
                item.chat_id,
                at,
                json.dumps(item.payload, ensure_ascii=False),
            )
        ],
    )
    new = {int(row[0]) for row in rows}
    return [item.update_id for item in items if item.update_id in new]


async def is_done(db: Database, update_id: int) -> bool:
    """True when the update has been handled already (a stored but undone one is not)."""
    row = await db.fetchone(
        "SELECT 1 FROM inbox WHERE update_id = ? AND done_at IS NOT NULL", (update_id,)
    )
    return row is not None


async def mark_done(db: Database, update_id: int, *, at: datetime) -> None:
    """Record that the update's handlers finished; a second call keeps the first time."""
    await db.write(MARK_DONE, (at.isoformat(), update_id))


async def undone(db: Database) -> list[InboxItem]:
    """Updates stored and not yet handled, oldest first."""
    rows = await db.fetchall(
        "SELECT update_id, chat_id, payload FROM inbox WHERE done_at IS NULL ORDER BY update_id"
    )
    return [
        InboxItem(update_id=row["update_id"], chat_id=row["chat_id"], payload=json.loads(row[2]))
        for row in rows
    ]


async def prune(db: Database, *, done_before: datetime) -> int:
    """Forget updates handled before ``done_before``; return how many rows went."""
    return await db.write_rowcount(
        "DELETE FROM inbox WHERE done_at IS NOT NULL AND done_at < ?", (done_before.isoformat(),)
    )


async def counts(db: Database) -> tuple[int, int]:
    """(rows, undone rows), for tests, benchmarks and ``zhucun db check``."""
    row = await db.fetchone(
        "SELECT COUNT(*), COUNT(*) - COUNT(done_at) FROM inbox",
    )
    assert row is not None
    return int(row[0]), int(row[1])
