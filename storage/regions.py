"""Reads of the region tree."""

from __future__ import annotations

from collections.abc import Sequence

from bot.models import Level, Region
from storage.db import Database
from storage.scopes import Roots, path_filter


async def get(db: Database, code: str) -> Region | None:
    row = await db.fetchone("SELECT * FROM regions WHERE code = ?", (code,))
    return Region.model_validate(dict(row)) if row else None


async def get_many(db: Database, codes: Sequence[str]) -> list[Region]:
    marks = ",".join("?" * len(codes))
    rows = await db.fetchall(f"SELECT * FROM regions WHERE code IN ({marks})", codes)
    return [Region.model_validate(dict(row)) for row in rows]


async def in_roots(db: Database, roots: Roots, level: Level | None = None) -> list[Region]:
    """Regions inside the given subtrees (all regions when ``roots`` is None), by path."""
    clause, params = path_filter("path", roots)
    if level is not None:
        clause += " AND level = ?"
        params.append(level.value)
    rows = await db.fetchall(f"SELECT * FROM regions WHERE {clause} ORDER BY path", params)
    return [Region.model_validate(dict(row)) for row in rows]


async def count(db: Database) -> int:
    row = await db.fetchone("SELECT count(*) AS n FROM regions")
    return int(row["n"]) if row else 0
