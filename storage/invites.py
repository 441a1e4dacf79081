"""Invite codes."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from bot.models import Invite, Role
from storage.db import Database, Writer


def _model(row: sqlite3.Row) -> Invite:
    return Invite.model_validate(dict(row))


async def get(db: Database, code: str) -> Invite | None:
    row = await db.fetchone("SELECT * FROM invites WHERE code = ?", (code,))
    return _model(row) if row else None


async def tx_get(tx: Writer, code: str) -> Invite | None:
    """Read inside the registering transaction so two redemptions cannot both see it unused."""
    row = await tx.fetchone("SELECT * FROM invites WHERE code = ?", (code,))
    return _model(row) if row else None


async def create(
    tx: Writer,
    *,
    code: str,
    role: Role,
    region_code: str | None,
    name: str | None,
    phone: str | None,
    created_by: str,
    created_at: datetime,
    expires_at: datetime,
) -> None:
    await tx.execute(
        "INSERT INTO invites (code, role, region_code, name, phone, created_by, created_at,"
        " expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            code,
            role.value,
            region_code,
            name,
            phone,
            created_by,
            created_at.isoformat(),
            expires_at.isoformat(),
        ),
    )


async def mark_used(tx: Writer, code: str, member_id: int, at: datetime) -> bool:
    """Spend the code; False when someone else spent it first."""
    changed = await tx.execute_rowcount(
        "UPDATE invites SET used_by = ?, used_at = ? WHERE code = ? AND used_at IS NULL",
        (member_id, at.isoformat(), code),
    )
    return changed == 1


async def revoke(tx: Writer, code: str, at: datetime) -> bool:
    changed = await tx.execute_rowcount(
        "UPDATE invites SET revoked_at = ? WHERE code = ? AND used_at IS NULL"
        " AND revoked_at IS NULL",
        (at.isoformat(), code),
    )
    return changed == 1
