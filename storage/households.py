"""Reads of households, always joined to their village so scope can be decided on the path."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from bot.models import Household
from storage.db import Database
from storage.scopes import Roots, path_filter

SELECT = (
    "SELECT h.*, r.path AS village_path, r.name AS village_name"
    " FROM households h JOIN regions r ON r.code = h.village_code"
)


def to_model(row: sqlite3.Row) -> Household:
    data: dict[str, Any] = dict(row)
    data["causes"] = tuple(json.loads(data["causes"]))
    data["local"] = bool(data["local"])
    return Household.model_validate(data)


async def get(db: Database, household_id: int) -> Household | None:
    row = await db.fetchone(f"{SELECT} WHERE h.id = ?", (household_id,))
    return to_model(row) if row else None


async def by_registry_no(db: Database, registry_no: str) -> Household | None:
    row = await db.fetchone(f"{SELECT} WHERE h.registry_no = ?", (registry_no,))
    return to_model(row) if row else None


async def in_roots(db: Database, roots: Roots) -> list[Household]:
    clause, params = path_filter("r.path", roots)
    rows = await db.fetchall(f"{SELECT} WHERE {clause} ORDER BY h.registry_no", params)
    return [to_model(row) for row in rows]


async def count(db: Database) -> int:
    row = await db.fetchone("SELECT count(*) AS n FROM households")
    return int(row["n"]) if row else 0
