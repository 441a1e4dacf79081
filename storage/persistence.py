"""Conversation states and per-user/per-chat data of python-telegram-bot's persistence.

Values arrive already serialized (JSON text for keys and states, bytes for data): this module
only stores them. Writes take the caller's transaction: one flush is one transaction, so a
flow's state, its drafts and the chat's handled-update mark land together or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.db import Database, Writer


@dataclass(frozen=True)
class StoredConversation:
    """One open conversation: JSON key and state, and what re-arming its time-out needs."""

    key: str
    state: str
    deadline: datetime | None
    last_update: str | None


async def conversations(db: Database, name: str) -> list[StoredConversation]:
    rows = await db.fetchall(
        "SELECT key, state, deadline, last_update FROM conversations WHERE name = ?", (name,)
    )
    return [
        StoredConversation(
            key=row["key"],
            state=row["state"],
            deadline=datetime.fromisoformat(row["deadline"]) if row["deadline"] else None,
            last_update=row["last_update"],
        )
        for row in rows
    ]


async def save_conversation(
    tx: Writer,
    name: str,
    key: str,
    state: str,
    *,
    deadline: datetime | None,
    last_update: str | None,
    at: datetime,
) -> None:
    await tx.execute(
        "INSERT INTO conversations (name, key, state, deadline, last_update, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name, key) DO UPDATE SET"
        " state = excluded.state, deadline = excluded.deadline,"
        " last_update = excluded.last_update, updated_at = excluded.updated_at",
        (
            name,
            key,
            state,
            deadline.isoformat() if deadline else None,
            last_update,
            at.isoformat(),
        ),
    )


async def end_conversation(tx: Writer, name: str, key: str) -> None:
    await tx.execute("DELETE FROM conversations WHERE name = ? AND key = ?", (name, key))


async def all_data(db: Database, table: str) -> dict[int, bytes]:
    """Every row of ``user_data`` or ``chat_data``."""
    column = _id_column(table)
    rows = await db.fetchall(f"SELECT {column} AS id, data FROM {table}")
    return {int(row["id"]): bytes(row["data"]) for row in rows}


async def save_data(tx: Writer, table: str, owner: int, data: bytes, at: datetime) -> None:
    column = _id_column(table)
    await tx.execute(
        f"INSERT INTO {table} ({column}, data, updated_at) VALUES (?, ?, ?)"
        f" ON CONFLICT ({column}) DO UPDATE SET data = excluded.data,"
        " updated_at = excluded.updated_at",
        (owner, data, at.isoformat()),
    )


async def drop_data(tx: Writer, table: str, owner: int) -> None:
    column = _id_column(table)
    await tx.execute(f"DELETE FROM {table} WHERE {column} = ?", (owner,))


def _id_column(table: str) -> str:
    """The two data tables only; the name is never built from input."""
    columns = {"user_data": "user_id", "chat_data": "chat_id"}
    if table not in columns:
        raise ValueError(f"not a persistence data table: {table}")
    return columns[table]
