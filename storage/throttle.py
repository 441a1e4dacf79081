"""Counts behind the rate limits: failed ``/start`` attempts and audited reads."""

from __future__ import annotations

from datetime import datetime

from storage.db import Database


async def start_failures_since(
    db: Database, telegram_user_id: int, since: datetime
) -> list[datetime]:
    """When the user's failed attempts since ``since`` happened, oldest first."""
    rows = await db.fetchall(
        "SELECT at FROM start_failures WHERE telegram_user_id = ? AND at >= ? ORDER BY at",
        (telegram_user_id, since.isoformat()),
    )
    return [datetime.fromisoformat(row["at"]) for row in rows]


async def record_start_failure(
    db: Database, telegram_user_id: int, at: datetime, *, forget_before: datetime
) -> None:
    """Keep one failed attempt; attempts older than ``forget_before`` are dropped."""
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT INTO start_failures (telegram_user_id, at) VALUES (?, ?)",
            (telegram_user_id, at.isoformat()),
        )
        await tx.execute("DELETE FROM start_failures WHERE at < ?", (forget_before.isoformat(),))


async def audited_since(db: Database, actor: str, action: str, since: datetime) -> list[datetime]:
    """When ``actor`` did ``action`` (as the audit log has it) since ``since``, oldest first."""
    rows = await db.fetchall(
        "SELECT at FROM audit_events WHERE actor = ? AND action = ? AND at >= ? ORDER BY at",
        (actor, action, since.isoformat()),
    )
    return [datetime.fromisoformat(row["at"]) for row in rows]
