"""Operator imports of the region tree and the household registry (``zhucun import``).

An import is all or nothing: the whole file is checked against the store inside one transaction
and the first bad row aborts it, so an operator never has to work out which half of a file
landed. Importing the same file again writes nothing and audits nothing, so a file can be kept
as the source of truth and re-imported after each edit.

What a file says about a record:

* a column that is in the file sets that field on every row, and a blank cell clears it (a
  blank ``radius_m`` means the 1000 m default, a blank ``crs`` means WGS-84);
* a column that is not in the file leaves that field of existing records as it is.

Audit events use the operator actor given by the caller and the injected clock (one timestamp
per import). ``import.create`` carries the full imported record as ``after``; ``import.update``
carries only the changed fields, old values in ``before`` and new ones in ``after``. Paths of
regions that move because an ancestor got a new parent are derived data and are not audited
separately: the ancestor's ``parent_code`` change says it all.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from bot import geo
from bot.clock import Clock
from bot.models import Cause, HouseholdStatus, Level, Measure, RegionKind
from bot.tabular import Row, TableError, open_table
from locales import load_catalog
from storage import imports as store
from storage.db import Database, Writer

DEFAULT_RADIUS_M = 1000
# Stored centres are rounded to 1e-7 degrees (about 1 cm): finer digits are conversion noise.
COORDINATE_DECIMALS = 7

REGION_COLUMNS: Mapping[str, str] = {
    "code": "code",
    "编码": "code",
    "parent_code": "parent_code",
    "上级编码": "parent_code",
    "level": "level",
    "级别": "level",
    "name": "name",
    "名称": "name",
    "kind": "kind",
    "类型": "kind",
    "lat": "lat",
    "纬度": "lat",
    "lon": "lon",
    "经度": "lon",
    "radius_m": "radius_m",
    "半径": "radius_m",
    "crs": "crs",
    "坐标系": "crs",
}
REGION_REQUIRED = ("code", "level", "name")

HOUSEHOLD_COLUMNS: Mapping[str, str] = {
    "registry_no": "registry_no",
    "户编号": "registry_no",
    "village_code": "village_code",
    "村编码": "village_code",
    "head_name": "head_name",
    "户主姓名": "head_name",
    "size": "size",
    "家庭人口": "size",
    "status": "status",
    "状态": "status",
    "causes": "causes",
    "致贫原因": "causes",
    "measure": "measure",
    "帮扶措施": "measure",
    "helper": "helper",
    "帮扶责任人": "helper",
    "income": "income",
    "人均纯收入": "income",
    "phone": "phone",
    "联系电话": "phone",
    "notes": "notes",
    "备注": "notes",
}
HOUSEHOLD_REQUIRED = ("registry_no", "village_code", "head_name", "size", "status")

# Level rank: a parent's level must come strictly earlier than its child's.
LEVEL_RANK = {level.value: rank for rank, level in enumerate(Level)}

_CRS_ALIASES = {
    "wgs84": "wgs84",
    "gps": "wgs84",
    "gcj02": "gcj02",
    "高德": "gcj02",
    "腾讯": "gcj02",
    "bd09": "bd09",
    "百度": "bd09",
}
_TO_WGS84: Mapping[str, Callable[[float, float], geo.LatLon]] = {
    "wgs84": geo.LatLon,
    "gcj02": geo.gcj02_to_wgs84,
    "bd09": geo.bd09_to_wgs84,
}
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_WHOLE = re.compile(r"\d+")
_PHONE = re.compile(r"\+?[0-9 -]*[0-9][0-9 -]*")
_CAUSE_SEPARATORS = re.compile(r"[;；、,，]")

Fields = dict[str, Any]
_NO_IDS: frozenset[int] = frozenset()


@dataclass(frozen=True)
class ImportResult:
    """How many rows of the file created, changed, or matched a stored record."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0


class ImportFileError(Exception):
    """The file was refused; ``str()`` is one line: ``<file>: row <n>: <reason>``."""

    def __init__(self, file: str, reason: str, row: int | None = None) -> None:
        self.file = file
        self.reason = reason
        self.row = row
        super().__init__(file, reason, row)

    def __str__(self) -> str:
        where = f"{self.file}: row {self.row}" if self.row is not None else self.file
        return f"{where}: {self.reason}"


class _RowError(Exception):
    """Why the row at hand is refused; the caller adds the file and row number."""


@dataclass(frozen=True)
class _Vocabulary:
    """Accepted spellings of one coded column: the code itself or its Chinese label."""

    column: str
    spellings: Mapping[str, str]
    known: str

    def code(self, text: str) -> str:
        found = self.spellings.get(text.casefold())
        if found is None:
            raise _RowError(f"unknown {self.column} {_quote(text)} (expected one of: {self.known})")
        return found


_VOCABULARY_ENUMS: Mapping[str, type[StrEnum]] = {
    "level": Level,
    "kind": RegionKind,
    "status": HouseholdStatus,
    "cause": Cause,
    "measure": Measure,
}


@cache
def _vocabulary(section: str, column: str) -> _Vocabulary:
    labels = load_catalog().section("zh", section)
    spellings: dict[str, str] = {}
    known: list[str] = []
    for member in _VOCABULARY_ENUMS[section]:
        code = member.value
        spellings[code.casefold()] = code
        label = labels.get(code)
        if label:
            spellings[label.casefold()] = code
        known.append(f"{code}/{label}" if label else code)
    return _Vocabulary(column, spellings, ", ".join(known))


def _quote(text: str, limit: int = 60) -> str:
    """A cell value fit for a one-line message."""
    flat = " ".join(text.split())
    return f"'{flat[:limit]}…'" if len(flat) > limit else f"'{flat}'"


def _required(row: Row, column: str) -> str:
    text = row.get(column)
    if not text:
        raise _RowError(f"{column} is required")
    return text


def _code(text: str, column: str) -> str:
    if "/" in text:
        raise _RowError(f"{column} {_quote(text)} must not contain '/'")
    return text


def _number(text: str, column: str) -> float:
    if not _NUMBER.fullmatch(text):
        raise _RowError(f"{column} must be a number, got {_quote(text)}")
    return float(text)


def _positive_int(text: str, column: str) -> int:
    if not _WHOLE.fullmatch(text) or int(text) < 1:
        raise _RowError(f"{column} must be a whole number of at least 1, got {_quote(text)}")
    return int(text)


def _centre(row: Row) -> Fields:
    lat_text, lon_text = row.get("lat"), row.get("lon")
    if not lat_text and not lon_text:
        return {"lat": None, "lon": None}
    if not lat_text or not lon_text:
        raise _RowError("lat and lon must be given together, or both left empty")
    lat, lon = _number(lat_text, "lat"), _number(lon_text, "lon")
    if not -90 <= lat <= 90:
        raise _RowError(f"lat must be between -90 and 90, got {_quote(lat_text)}")
    if not -180 <= lon <= 180:
        raise _RowError(f"lon must be between -180 and 180, got {_quote(lon_text)}")
    crs_text = row.get("crs")
    crs = _CRS_ALIASES.get(re.sub(r"[\s_-]", "", crs_text).casefold()) if crs_text else "wgs84"
    if crs is None:
        raise _RowError(f"unknown crs {_quote(crs_text)} (expected one of: wgs84, gcj02, bd09)")
    point = _TO_WGS84[crs](lat, lon)
    return {
        "lat": round(point.lat, COORDINATE_DECIMALS),
        "lon": round(point.lon, COORDINATE_DECIMALS),
    }


def _parse_region(row: Row, columns: frozenset[str]) -> tuple[str, Fields]:
    """The row's own fields (only the columns the file has); checks that need no store."""
    code = _code(_required(row, "code"), "code")
    fields: Fields = {
        "level": _vocabulary("level", "level").code(_required(row, "level")),
        "name": _required(row, "name"),
    }
    if "parent_code" in columns:
        parent = row.get("parent_code")
        fields["parent_code"] = _code(parent, "parent_code") if parent else None
    if "kind" in columns:
        kind = row.get("kind")
        fields["kind"] = _vocabulary("kind", "kind").code(kind) if kind else None
    if "lat" in columns or "lon" in columns:
        fields.update(_centre(row))
    if "radius_m" in columns:
        radius = row.get("radius_m")
        fields["radius_m"] = _positive_int(radius, "radius_m") if radius else DEFAULT_RADIUS_M
    return code, fields


@lru_cache(maxsize=4096)
def _causes(text: str) -> tuple[str, ...]:
    """Cause codes of one cell, in order, once each (a county's files repeat a few hundred
    combinations)."""
    causes = _vocabulary("cause", "cause")
    parts = (part.strip() for part in _CAUSE_SEPARATORS.split(text))
    return tuple(dict.fromkeys(causes.code(part) for part in parts if part))


def _parse_household(row: Row, columns: frozenset[str]) -> tuple[str, Fields]:
    """The row's own fields; ``helper`` stays a name until the store can link it to a member."""
    registry_no = _required(row, "registry_no")
    fields: Fields = {
        "village_code": _required(row, "village_code"),
        "head_name": _required(row, "head_name"),
        "size": _positive_int(_required(row, "size"), "size"),
        "status": _vocabulary("status", "status").code(_required(row, "status")),
    }
    if "causes" in columns:
        fields["causes"] = list(_causes(row.get("causes")))
    if "measure" in columns:
        measure = row.get("measure")
        fields["measure"] = _vocabulary("measure", "measure").code(measure) if measure else None
    if "helper" in columns:
        fields["helper_name"] = row.get("helper") or None
    if "income" in columns:
        income_text = row.get("income")
        income = _number(income_text, "income") if income_text else None
        if income is not None and income < 0:
            raise _RowError(f"income must not be negative, got {_quote(income_text)}")
        fields["income"] = income
    if "phone" in columns:
        phone = row.get("phone")
        if phone and not _PHONE.fullmatch(phone):
            raise _RowError(f"phone may hold only digits, '+', '-' and spaces, got {_quote(phone)}")
        fields["phone"] = phone or None
    if "notes" in columns:
        fields["notes"] = row.get("notes") or None
    return registry_no, fields


@dataclass(slots=True)
class _Parsed:
    row: int  # the spreadsheet row number (the row's text is not kept: a county is big)
    key: str
    fields: Fields


def _parse_file(
    path: Path,
    columns: Mapping[str, str],
    required: Sequence[str],
    parse: Callable[[Row, frozenset[str]], tuple[str, Fields]],
    key_column: str,
) -> list[_Parsed]:
    """Every row of the file, parsed as it is read; the first bad row refuses the file."""
    parsed: list[_Parsed] = []
    first_row: dict[str, int] = {}
    try:
        with open_table(path, columns, required) as table:
            present = table.columns
            for row in table.rows:
                try:
                    key, fields = parse(row, present)
                    if key in first_row:
                        raise _RowError(
                            f"{key_column} {_quote(key)} already appears in row {first_row[key]}"
                        )
                except _RowError as exc:
                    raise ImportFileError(path.name, str(exc), row.number) from None
                first_row[key] = row.number
                parsed.append(_Parsed(row.number, key, fields))
    except TableError as exc:
        raise ImportFileError(path.name, exc.reason, exc.row) from exc
    return parsed


@dataclass(slots=True)
class _Planned:
    """One file row's outcome: a new record, changed fields, or nothing to do."""

    key: str
    stored: Fields | None
    record: Fields

    @property
    def changed(self) -> list[str]:
        if self.stored is None:
            return list(self.record)
        return [name for name, value in self.record.items() if self.stored[name] != value]


def _level_label(level: str) -> str:
    label = load_catalog().section("zh", "level").get(level)
    return f"{level} ({label})" if label else level


def _plan_regions(
    file: str, parsed: Sequence[_Parsed], stored: Mapping[str, Fields], with_households: set[str]
) -> list[_Planned]:
    """Check the tree the file would leave behind; order rows so parents are written first."""
    defaults: Fields = {
        "parent_code": None,
        "kind": None,
        "lat": None,
        "lon": None,
        "radius_m": DEFAULT_RADIUS_M,
    }
    final: dict[str, Fields] = {code: dict(fields) for code, fields in stored.items()}
    for item in parsed:
        final[item.key] = {**(stored.get(item.key) or defaults), **item.fields}
    children: dict[str, list[str]] = {}
    for code, fields in final.items():
        if fields["parent_code"] is not None:
            children.setdefault(fields["parent_code"], []).append(code)
    in_file = {item.key for item in parsed}

    depth: dict[str, int] = {}
    for item in parsed:
        try:
            depth[item.key] = _check_region(item.key, final, children, in_file, with_households)
        except _RowError as exc:
            raise ImportFileError(file, str(exc), item.row) from None
    order = sorted(range(len(parsed)), key=lambda index: (depth[parsed[index].key], index))
    return [
        _Planned(parsed[index].key, stored.get(parsed[index].key), final[parsed[index].key])
        for index in order
    ]


def _check_region(
    code: str,
    final: Mapping[str, Fields],
    children: Mapping[str, list[str]],
    in_file: set[str],
    with_households: set[str],
) -> int:
    """Raise ``_RowError`` for the first rule the region breaks; return its final depth."""
    fields = final[code]
    level, parent = fields["level"], fields["parent_code"]
    if fields["kind"] is not None and level != Level.VILLAGE:
        raise _RowError(
            f"kind {_quote(fields['kind'])} is only for villages, not a {_level_label(level)}"
        )
    if code in with_households and level != Level.VILLAGE:
        raise _RowError(f"region {_quote(code)} has households, so its level must stay village")
    if parent is not None and parent not in final:
        raise _RowError(f"unknown parent_code {_quote(parent)}: not in the store or in this file")
    chain = [code]
    ancestor = parent
    while ancestor is not None:
        if ancestor == code:
            raise _RowError(f"parent_code makes a cycle: {' → '.join([*chain, code])}")
        if ancestor in chain:
            break  # a cycle further up; the row of a region inside it reports it
        chain.append(ancestor)
        ancestor = final[ancestor]["parent_code"]
    if parent is not None and LEVEL_RANK[final[parent]["level"]] >= LEVEL_RANK[level]:
        raise _RowError(
            f"a {_level_label(level)} cannot be under {_quote(parent)}, "
            f"a {_level_label(final[parent]['level'])}"
        )
    for child in children.get(code, []):
        child_level = final[child]["level"]
        if child not in in_file and LEVEL_RANK[child_level] <= LEVEL_RANK[level]:
            raise _RowError(
                f"a {_level_label(level)} cannot be above its existing child "
                f"{_quote(child)}, a {_level_label(child_level)}"
            )
    return len(chain)


async def _apply(
    tx: Writer,
    clock: Clock,
    actor: str,
    entity: str,
    key_column: str,
    plans: Sequence[_Planned],
    insert: Callable[[Writer, Sequence[tuple[str, Fields]]], Awaitable[None]],
    update: Callable[[Writer, Sequence[tuple[str, Fields]]], Awaitable[None]],
    *,
    ordered: bool,
) -> ImportResult:
    """Write the plans in batches and their audit events in one statement, in plan order.

    ``ordered``: a write may depend on the one before it (a region's path is its parent's), so
    each run of inserts or of updates is written before the next run starts; otherwise all
    inserts are written together, then all updates.
    """
    at = clock.now()
    created = updated = unchanged = 0
    inserts: list[tuple[str, Fields]] = []
    updates: list[tuple[str, Fields]] = []
    events: list[store.Event] = []
    for plan in plans:
        if plan.stored is None:
            if ordered and updates:
                await update(tx, updates)
                updates = []
            inserts.append((plan.key, plan.record))
            events.append(("import.create", plan.key, None, {key_column: plan.key, **plan.record}))
            created += 1
            continue
        changed = plan.changed
        if not changed:
            unchanged += 1
            continue
        if ordered and inserts:
            await insert(tx, inserts)
            inserts = []
        before = {name: plan.stored[name] for name in changed}
        after = {name: plan.record[name] for name in changed}
        updates.append((plan.key, after))
        events.append(("import.update", plan.key, before, after))
        updated += 1
    if inserts:
        await insert(tx, inserts)
    if updates:
        await update(tx, updates)
    await store.record_events(tx, at=at, actor=actor, entity=entity, events=events)
    return ImportResult(created=created, updated=updated, unchanged=unchanged)


async def import_regions(db: Database, clock: Clock, path: Path, actor: str) -> ImportResult:
    """Create or update regions from ``path``; raise :class:`ImportFileError` and write nothing
    when any row is bad."""
    parsed = _parse_file(path, REGION_COLUMNS, REGION_REQUIRED, _parse_region, "code")
    async with db.transaction() as tx:
        stored = await store.regions(tx)
        with_households = await store.villages_with_households(tx)
        plans = _plan_regions(path.name, parsed, stored, with_households)
        return await _apply(
            tx,
            clock,
            actor,
            "region",
            "code",
            plans,
            store.insert_regions,
            store.update_regions,
            ordered=True,
        )


async def import_households(db: Database, clock: Clock, path: Path, actor: str) -> ImportResult:
    """Create or update households from ``path``; raise :class:`ImportFileError` and write
    nothing when any row is bad."""
    parsed = _parse_file(
        path, HOUSEHOLD_COLUMNS, HOUSEHOLD_REQUIRED, _parse_household, "registry_no"
    )
    defaults: Fields = {
        "causes": [],
        "measure": None,
        "helper_name": None,
        "helper_member_id": None,
        "income": None,
        "phone": None,
        "notes": None,
    }
    async with db.transaction() as tx:
        regions = await store.regions(tx)
        stored = await store.households(tx)
        helpers = await store.village_helpers(tx)
        villages = {code for code, region in regions.items() if region["level"] == Level.VILLAGE}
        plans: list[_Planned] = []
        for item in parsed:
            fields = item.fields
            village = fields["village_code"]
            if village not in villages:
                region = regions.get(village)
                if region is None:
                    reason = f"unknown village_code {_quote(village)}"
                else:
                    reason = (
                        f"village_code {_quote(village)} is a {_level_label(region['level'])},"
                        " not a village"
                    )
                raise ImportFileError(path.name, reason, item.row)
            if "helper_name" in fields:
                # Link only when the name is unambiguous in that village; otherwise keep the name.
                ids = helpers.get((village, fields["helper_name"]), _NO_IDS)
                fields["helper_member_id"] = next(iter(ids)) if len(ids) == 1 else None
            found = stored.get(item.key)
            plans.append(_Planned(item.key, found, {**(found or defaults), **fields}))
        return await _apply(
            tx,
            clock,
            actor,
            "household",
            "registry_no",
            plans,
            store.insert_households,
            store.update_households,
            ordered=False,
        )
