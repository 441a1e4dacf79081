"""Team management reads and writes: the team in scope, last check-ins, moves and open invites."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.models import Invite, Member, Membership
from storage import members as member_repo
from storage.db import Database, Writer
from storage.scopes import Roots, path_filter


async def count_active(db: Database, roots: Roots) -> int:
    clause, params = path_filter("r.path", roots)
    row = await db.fetchone(
        "SELECT count(*) AS n FROM members WHERE active = 1 AND id IN ("
        " SELECT ms.member_id FROM memberships ms LEFT JOIN regions r ON r.code = ms.region_code"
        f" WHERE {clause})",
        params,
    )
    return int(row["n"]) if row else 0


async def active_in_roots(db: Database, roots: Roots, *, limit: int, offset: int) -> list[Member]:
    """Active members with a membership inside the subtrees, by name; one page."""
    clause, params = path_filter("r.path", roots)
    rows = await db.fetchall(
        "SELECT * FROM members WHERE active = 1 AND id IN ("
        " SELECT ms.member_id FROM memberships ms LEFT JOIN regions r ON r.code = ms.region_code"
        f" WHERE {clause}) ORDER BY name, id LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )
    found = [await member_repo.get(db, int(row["id"])) for row in rows]
    return [m for m in found if m is not None]


async def last_checkins(db: Database, member_ids: Sequence[int]) -> dict[int, datetime]:
    """Each member's latest check-in time (members without one are left out)."""
    if not member_ids:
        return {}
    marks = ",".join("?" * len(member_ids))
    rows = await db.fetchall(
        f"SELECT member_id, max(at) AS at FROM checkins WHERE member_id IN ({marks})"
        " GROUP BY member_id",
        list(member_ids),
    )
    return {int(row["member_id"]): datetime.fromisoformat(row["at"]) for row in rows}


async def membership(db: Database, membership_id: int) -> Membership | None:
    row = await db.fetchone(f"{member_repo.MEMBERSHIPS} WHERE ms.id = ?", (membership_id,))
    if row is None:
        return None
    data = dict(row)
    data.pop("created_at", None)
    return Membership.model_validate(data)


async def move_membership(
    tx: Writer, membership_id: int, *, expected_region: str, region_code: str
) -> bool:
    """Point a membership at another region; False when it no longer is where it was."""
    changed = await tx.execute_rowcount(
        "UPDATE memberships SET region_code = ? WHERE id = ? AND region_code = ?",
        (region_code, membership_id, expected_region),
    )
    return changed == 1


async def holds(tx: Writer, member_id: int, role: str, region_code: str) -> bool:
    row = await tx.fetchone(
        "SELECT 1 FROM memberships WHERE member_id = ? AND role = ? AND region_code = ?",
        (member_id, role, region_code),
    )
    return row is not None


async def deactivate(tx: Writer, member_id: int) -> bool:
    """Make an active member inactive; False when they already were."""
    changed = await tx.execute_rowcount(
        "UPDATE members SET active = 0 WHERE id = ? AND active = 1", (member_id,)
    )
    return changed == 1


async def open_invites(db: Database, roots: Roots, now: datetime) -> list[Invite]:
    """Unused, unrevoked, unexpired invites for regions inside the subtrees, newest first.

    An admin invite (no region) is listed only when ``roots`` is None (everything).
    """
    clause, params = path_filter("r.path", roots)
    rows = await db.fetchall(
        "SELECT i.* FROM invites i LEFT JOIN regions r ON r.code = i.region_code"
        " WHERE i.used_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > ?"
        f" AND {clause} ORDER BY i.created_at DESC, i.code",
        [now.isoformat(), *params],
    )
    return [Invite.model_validate(dict(row)) for row in rows]
