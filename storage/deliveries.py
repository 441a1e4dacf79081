"""Important outgoing messages (at least once) and chats that refuse the bot's messages."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from storage.db import Database


class DeliveryStatus(StrEnum):
    SENDING = "sending"
    SENT = "sent"
    BLOCKED = "blocked"
    FAILED = "failed"


class Delivery(BaseModel):
    """One important message to one chat, named by ``key`` (kind, recipient, day or entity)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    chat_id: int
    status: DeliveryStatus
    attempts: int
    text: str | None
    created_at: datetime
    updated_at: datetime


def _model(row: sqlite3.Row) -> Delivery:
    return Delivery.model_validate(dict(row))


async def get(db: Database, key: str) -> Delivery | None:
    row = await db.fetchone("SELECT * FROM deliveries WHERE key = ?", (key,))
    return _model(row) if row else None


async def begin(
    db: Database, key: str, chat_id: int, text: str | None, at: datetime
) -> Delivery | None:
    """Record an attempt as 'sending' unless the message was already sent or given up on.

    Returns the row after the change, or None when there is nothing to send.
    """
    async with db.transaction() as tx:
        row = await tx.fetchone("SELECT * FROM deliveries WHERE key = ?", (key,))
        if row is not None and row["status"] in (DeliveryStatus.SENT, DeliveryStatus.FAILED):
            return None
        if row is None:
            await tx.execute(
                "INSERT INTO deliveries (key, chat_id, status, attempts, text, created_at,"
                " updated_at) VALUES (?, ?, 'sending', 1, ?, ?, ?)",
                (key, chat_id, text, at.isoformat(), at.isoformat()),
            )
        else:
            await tx.execute(
                "UPDATE deliveries SET status = 'sending', attempts = attempts + 1,"
                " text = COALESCE(?, text), updated_at = ? WHERE key = ?",
                (text, at.isoformat(), key),
            )
        fresh = await tx.fetchone("SELECT * FROM deliveries WHERE key = ?", (key,))
    assert fresh is not None
    return _model(fresh)


async def finish(db: Database, key: str, status: DeliveryStatus, at: datetime) -> None:
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE deliveries SET status = ?, updated_at = ? WHERE key = ?",
            (status.value, at.isoformat(), key),
        )


async def pending(db: Database) -> list[Delivery]:
    """Deliveries left 'sending' (a crash or an exhausted retry), oldest first."""
    rows = await db.fetchall(
        "SELECT * FROM deliveries WHERE status = 'sending' ORDER BY created_at, key"
    )
    return [_model(row) for row in rows]


async def blocked_chats(db: Database) -> dict[int, str]:
    rows = await db.fetchall("SELECT chat_id, reason FROM blocked_chats")
    return {int(row["chat_id"]): str(row["reason"]) for row in rows}


async def block(db: Database, chat_id: int, reason: str, at: datetime) -> None:
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT INTO blocked_chats (chat_id, reason, blocked_at) VALUES (?, ?, ?)"
            " ON CONFLICT (chat_id) DO UPDATE SET reason = excluded.reason,"
            " blocked_at = excluded.blocked_at",
            (chat_id, reason, at.isoformat()),
        )


async def unblock(db: Database, chat_id: int) -> None:
    async with db.transaction() as tx:
        await tx.execute("DELETE FROM blocked_chats WHERE chat_id = ?", (chat_id,))
