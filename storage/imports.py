"""Reads and writes for operator imports, all inside the importer's single transaction.

The importer validates against the same snapshot it then writes to, so every function here takes
the transaction's :class:`Writer` rather than the database: a bot write between the check and
the write cannot slip in.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.models import VILLAGE_ROLES
from storage.db import Writer
from storage.households import SearchKeys

REGION_FIELDS = ("parent_code", "level", "name", "kind", "lat", "lon", "radius_m")
HOUSEHOLD_FIELDS = (
    "village_code",
    "head_name",
    "size",
    "status",
    "causes",
    "measure",
    "helper_name",
    "helper_member_id",
    "income",
    "phone",
    "notes",
)
# Derived from head_name on every write, for the household search; never compared on import.
SEARCH_FIELDS = ("head_pinyin", "head_initials")
# The same text as ``audit.record`` writes (one encoder, not one per event).
_STATE = json.JSONEncoder(ensure_ascii=False, sort_keys=True, default=str)

# An audit event of an import: action, entity id, before, after.
Event = tuple[str, str, Mapping[str, Any] | None, Mapping[str, Any] | None]


def _columns(fields: Mapping[str, Any], allowed: tuple[str, ...]) -> list[str]:
    """Column names for dynamic SQL, refused unless they are the fixed ones above."""
    unknown = set(fields) - set(allowed)
    if unknown:
        raise ValueError(f"not an importable column: {sorted(unknown)}")
    return list(fields)


async def regions(tx: Writer) -> dict[str, dict[str, Any]]:
    """Every region's importable fields, by code."""
    rows = await tx.fetchall(f"SELECT code, {', '.join(REGION_FIELDS)} FROM regions")
    return {row["code"]: {name: row[name] for name in REGION_FIELDS} for row in rows}


async def villages_with_households(tx: Writer) -> set[str]:
    """Villages that must stay villages, because households hang off them."""
    rows = await tx.fetchall("SELECT DISTINCT village_code FROM households")
    return {row["village_code"] for row in rows}


async def _path_of(tx: Writer, code: str | None) -> str:
    if code is None:
        return "/"
    row = await tx.fetchone("SELECT path FROM regions WHERE code = ?", (code,))
    if row is None:
        raise ValueError(f"parent region {code!r} is not stored yet")
    return str(row["path"])


async def insert_region(tx: Writer, code: str, fields: Mapping[str, Any]) -> None:
    """Insert below an already stored parent, deriving ``path`` from the parent's."""
    names = _columns(fields, REGION_FIELDS)
    path = f"{await _path_of(tx, fields.get('parent_code'))}{code}/"
    marks = ", ".join("?" * (len(names) + 2))
    await tx.execute(
        f"INSERT INTO regions (code, path, {', '.join(names)}) VALUES ({marks})",
        (code, path, *(fields[name] for name in names)),
    )


async def update_region(tx: Writer, code: str, changes: Mapping[str, Any]) -> None:
    """Apply ``changes``; a new parent moves the whole subtree by rewriting its path prefix."""
    names = _columns(changes, REGION_FIELDS)
    if "parent_code" in changes:
        old = await _path_of(tx, code)
        new = f"{await _path_of(tx, changes['parent_code'])}{code}/"
        # substr rather than LIKE: codes may contain '_' or '%'. Every path ends in its own code,
        # so rewritten paths cannot collide with any other row's while the statement runs.
        await tx.execute(
            "UPDATE regions SET path = ? || substr(path, ?) WHERE substr(path, 1, ?) = ?",
            (new, len(old) + 1, len(old), old),
        )
    if names:
        assignments = ", ".join(f"{name} = ?" for name in names)
        await tx.execute(
            f"UPDATE regions SET {assignments} WHERE code = ?",
            (*(changes[name] for name in names), code),
        )


async def insert_regions(tx: Writer, items: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
    """Insert in the given order: each region's parent must be stored before it."""
    for code, fields in items:
        await insert_region(tx, code, fields)


async def update_regions(tx: Writer, items: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
    for code, changes in items:
        await update_region(tx, code, changes)


async def households(tx: Writer) -> dict[str, dict[str, Any]]:
    """Every household's importable fields by registry number; ``causes`` as a list of codes."""
    rows = await tx.fetchall(f"SELECT registry_no, {', '.join(HOUSEHOLD_FIELDS)} FROM households")
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        fields = {name: row[name] for name in HOUSEHOLD_FIELDS}
        fields["causes"] = json.loads(fields["causes"])
        found[row["registry_no"]] = fields
    return found


async def village_helpers(tx: Writer) -> dict[tuple[str, str], set[int]]:
    """Active members holding a village role, by (village code, name), to link helpers by name."""
    roles = sorted(role.value for role in VILLAGE_ROLES)
    rows = await tx.fetchall(
        "SELECT DISTINCT ms.region_code, m.name, m.id FROM members m"
        " JOIN memberships ms ON ms.member_id = m.id"
        " WHERE m.active = 1 AND ms.region_code IS NOT NULL"
        f" AND ms.role IN ({', '.join('?' * len(roles))})",
        roles,
    )
    found: dict[tuple[str, str], set[int]] = {}
    for row in rows:
        found.setdefault((row["region_code"], row["name"]), set()).add(int(row["id"]))
    return found


class _Encoder:
    """Stored text of one batch: search keys once per distinct head name (names repeat in a
    county), the ``causes`` JSON once per distinct list (a handful of codes combine)."""

    def __init__(self) -> None:
        self.keys = SearchKeys()
        self._causes: dict[tuple[str, ...], str] = {}

    def causes(self, causes: Sequence[str]) -> str:
        key = tuple(causes)
        text = self._causes.get(key)
        if text is None:
            text = self._causes[key] = json.dumps(list(key))
        return text

    def encode(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        encoded = dict(fields)
        if "causes" in encoded:
            encoded["causes"] = self.causes(encoded["causes"])
        if "head_name" in encoded:
            encoded["head_pinyin"], encoded["head_initials"] = self.keys.of(encoded["head_name"])
        return encoded


_HOUSEHOLD_SET = frozenset(HOUSEHOLD_FIELDS)
# Insert order of the columns after registry_no: causes, then head_name's search keys last.
_CAUSES_AT = HOUSEHOLD_FIELDS.index("causes")


async def insert_households(tx: Writer, items: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
    """Insert new households in one statement; every item has all of ``HOUSEHOLD_FIELDS``."""
    names = [*HOUSEHOLD_FIELDS, *SEARCH_FIELDS]
    marks = ", ".join("?" * (len(names) + 1))
    encoder = _Encoder()
    keys, causes = encoder.keys.of, encoder.causes

    def values() -> Iterable[tuple[Any, ...]]:
        for registry_no, fields in items:
            if fields.keys() != _HOUSEHOLD_SET:
                _columns(fields, HOUSEHOLD_FIELDS)  # names an unknown column
                raise ValueError(f"a new household needs every column, got {sorted(fields)}")
            row = [registry_no, *(fields[name] for name in HOUSEHOLD_FIELDS)]
            row[_CAUSES_AT + 1] = causes(row[_CAUSES_AT + 1])
            yield (*row, *keys(fields["head_name"]))

    await tx.executemany(
        f"INSERT INTO households (registry_no, {', '.join(names)}) VALUES ({marks})", values()
    )


async def update_households(tx: Writer, items: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
    """Apply each household's changes; one statement per set of changed columns."""
    encoder = _Encoder()
    batches: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
    for registry_no, changes in items:
        values = encoder.encode(changes)
        names = tuple(_columns(values, HOUSEHOLD_FIELDS + SEARCH_FIELDS))
        batches.setdefault(names, []).append((*(values[name] for name in names), registry_no))
    for names, rows in batches.items():
        assignments = ", ".join(f"{name} = ?" for name in names)
        await tx.executemany(f"UPDATE households SET {assignments} WHERE registry_no = ?", rows)


async def record_events(
    tx: Writer, *, at: datetime, actor: str, entity: str, events: Sequence[Event]
) -> None:
    """Append the import's audit events in one statement, as ``audit.record`` writes each."""
    stamp = at.isoformat()
    await tx.executemany(
        "INSERT INTO audit_events (at, actor, action, entity, entity_id, before, after)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            (
                stamp,
                actor,
                action,
                entity,
                str(entity_id),
                None if before is None else _STATE.encode(before),
                None if after is None else _STATE.encode(after),
            )
            for action, entity_id, before, after in events
        ),
    )
