"""The append-only audit log (triggers in the schema refuse UPDATE and DELETE)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from bot.models import AuditEvent
from storage.db import Database, Writer

OPERATOR_PREFIX = "operator:"
MEMBER_PREFIX = "member:"


def member_actor(member_id: int) -> str:
    return f"{MEMBER_PREFIX}{member_id}"


def operator_actor(os_user: str) -> str:
    return f"{OPERATOR_PREFIX}{os_user}"


def _dump(state: dict[str, Any] | None) -> str | None:
    if state is None:
        return None
    return json.dumps(state, ensure_ascii=False, sort_keys=True, default=str)


async def record(
    tx: Writer,
    *,
    at: datetime,
    actor: str,
    action: str,
    entity: str,
    entity_id: str | int,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Append one event inside the caller's transaction, so it commits with the change itself."""
    await tx.execute(
        "INSERT INTO audit_events (at, actor, action, entity, entity_id, before, after)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (at.isoformat(), actor, action, entity, str(entity_id), _dump(before), _dump(after)),
    )


async def events_for(db: Database, entity: str, entity_id: str | int) -> list[AuditEvent]:
    rows = await db.fetchall(
        "SELECT * FROM audit_events WHERE entity = ? AND entity_id = ? ORDER BY id",
        (entity, str(entity_id)),
    )
    return [AuditEvent.model_validate(dict(row)) for row in rows]


async def count(db: Database) -> int:
    row = await db.fetchone("SELECT count(*) AS n FROM audit_events")
    return int(row["n"]) if row else 0
