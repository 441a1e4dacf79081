"""Members and their memberships."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.models import Member, Membership, Role
from storage.db import Database, Writer
from storage.scopes import Roots, path_filter

MEMBERSHIPS = (
    "SELECT ms.*, r.path AS region_path, r.name AS region_name"
    " FROM memberships ms LEFT JOIN regions r ON r.code = ms.region_code"
)


def _membership(row: sqlite3.Row) -> Membership:
    data: dict[str, Any] = dict(row)
    data.pop("created_at", None)
    return Membership.model_validate(data)


async def _with_memberships(db: Database, rows: Sequence[sqlite3.Row]) -> list[Member]:
    if not rows:
        return []
    ids = [row["id"] for row in rows]
    marks = ",".join("?" * len(ids))
    grants = await db.fetchall(f"{MEMBERSHIPS} WHERE ms.member_id IN ({marks}) ORDER BY ms.id", ids)
    by_member: dict[int, list[Membership]] = {}
    for grant in grants:
        by_member.setdefault(grant["member_id"], []).append(_membership(grant))
    return [
        Member.model_validate(
            {
                **dict(row),
                "active": bool(row["active"]),
                "memberships": by_member.get(row["id"], []),
            }
        )
        for row in rows
    ]


# A member with their grants in one statement: every update identifies its sender first, so this
# read is on the path of every message and is worth one trip to the store instead of two.
MEMBER_WITH_GRANTS = (
    "SELECT m.*, ms.id AS grant_id, ms.role AS grant_role, ms.region_code AS grant_region,"
    " r.path AS region_path, r.name AS region_name"
    " FROM members m LEFT JOIN memberships ms ON ms.member_id = m.id"
    " LEFT JOIN regions r ON r.code = ms.region_code"
)


async def by_telegram_id(db: Database, telegram_user_id: int) -> Member | None:
    return await _one(db, "m.telegram_user_id = ?", telegram_user_id)


async def get(db: Database, member_id: int) -> Member | None:
    return await _one(db, "m.id = ?", member_id)


async def _one(db: Database, where: str, key: int) -> Member | None:
    """One member and their grants from :data:`MEMBER_WITH_GRANTS` (a row per grant)."""
    rows = await db.fetchall(f"{MEMBER_WITH_GRANTS} WHERE {where} ORDER BY ms.id", (key,))
    if not rows:
        return None
    first = rows[0]
    grants = [
        Membership(
            id=row["grant_id"],
            member_id=first["id"],
            role=Role(row["grant_role"]),
            region_code=row["grant_region"],
            region_path=row["region_path"],
            region_name=row["region_name"],
        )
        for row in rows
        if row["grant_id"] is not None
    ]
    member = {k: v for k, v in dict(first).items() if not k.startswith(("grant_", "region_"))}
    return Member.model_validate({**member, "active": bool(first["active"]), "memberships": grants})


async def in_roots(db: Database, roots: Roots) -> list[Member]:
    """Members holding at least one membership inside the subtrees, by name."""
    clause, params = path_filter("r.path", roots)
    rows = await db.fetchall(
        "SELECT * FROM members WHERE id IN ("
        f" SELECT ms.member_id FROM memberships ms LEFT JOIN regions r ON r.code = ms.region_code"
        f" WHERE {clause}) ORDER BY name, id",
        params,
    )
    return await _with_memberships(db, rows)


async def tx_by_telegram_id(tx: Writer, telegram_user_id: int) -> int | None:
    row = await tx.fetchone(
        "SELECT id FROM members WHERE telegram_user_id = ?", (telegram_user_id,)
    )
    return int(row["id"]) if row else None


async def create(
    tx: Writer,
    *,
    telegram_user_id: int,
    name: str,
    phone: str | None,
    created_at: datetime,
) -> int:
    return await tx.execute(
        "INSERT INTO members (telegram_user_id, name, phone, created_at) VALUES (?, ?, ?, ?)",
        (telegram_user_id, name, phone, created_at.isoformat()),
    )


async def reactivate(tx: Writer, member_id: int, name: str) -> None:
    """A returning (or deactivated) member registering again with a fresh invite."""
    await tx.execute("UPDATE members SET active = 1, name = ? WHERE id = ?", (name, member_id))


async def add_membership(
    tx: Writer, *, member_id: int, role: Role, region_code: str | None, created_at: datetime
) -> bool:
    """Add a (role, region) pair; False when the member already held it."""
    # SQLite treats NULLs as distinct in UNIQUE, so an admin grant is checked by hand.
    existing = await tx.fetchone(
        "SELECT 1 FROM memberships WHERE member_id = ? AND role = ? AND region_code IS ?",
        (member_id, role.value, region_code),
    )
    if existing:
        return False
    await tx.execute(
        "INSERT INTO memberships (member_id, role, region_code, created_at) VALUES (?, ?, ?, ?)",
        (member_id, role.value, region_code, created_at.isoformat()),
    )
    return True


async def set_locale(tx: Writer, member_id: int, locale: str | None) -> None:
    await tx.execute("UPDATE members SET locale = ? WHERE id = ?", (locale, member_id))


async def set_active(tx: Writer, member_id: int, active: bool) -> None:
    """Deactivate (or reactivate) a member; an inactive member is treated as a stranger."""
    await tx.execute("UPDATE members SET active = ? WHERE id = ?", (int(active), member_id))
