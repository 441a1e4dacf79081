"""Operator imports on real SQLite files: all-or-nothing, idempotent, audited."""

from __future__ import annotations

import csv
import json
from collections.abc import AsyncIterator, Awaitable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest

from bot import geo
from bot.clock import FixedClock
from bot.services.imports import ImportFileError, ImportResult, import_households, import_regions
from storage import audit
from storage.audit import operator_actor
from storage.db import Database

ACTOR = operator_actor("ops")
WHEN = datetime(2024, 11, 25, 9, 0, tzinfo=UTC)

REGION_HEADER = ["code", "parent_code", "level", "name", "kind", "lat", "lon", "radius_m", "crs"]
REGIONS = [
    ["511902", "", "county", "巴州区", "", "", "", "", ""],
    ["511902101", "511902", "township", "清江镇", "", "", "", "", ""],
    ["511902101001", "511902101", "village", "石桥村", "poor", "31.8802", "106.8123", "1200", ""],
    ["511902101002", "511902101", "village", "桂花村", "poor", "31.8895", "106.8427", "", "gcj02"],
    ["511902101003", "511902101", "village", "柏林村", "non_poor", "", "", "", ""],
]
HOUSEHOLD_HEADER = [
    "registry_no",
    "village_code",
    "head_name",
    "size",
    "status",
    "causes",
    "measure",
    "helper",
    "income",
    "phone",
    "notes",
]
HOUSEHOLDS = [
    ["H001", "511902101001", "王秀英", "3", "not_lifted", "illness;lack_of_labour",
     "social_security", "李明", "2650.5", "138 0000 1111", "老伴长期卧床"],
    ["H002", "511902101001", "曾德华", "5", "not_lifted", "schooling,lack_of_capital",
     "education", "李明", "3120", "", ""],
    ["H003", "511902101002", "单国平", "2", "monitored", "disability", "social_security",
     "", "", "", ""],
    ["H004", "511902101002", "刘大贵", "4", "lifted", "lack_of_skills", "production", "张桂兰",
     "5600", "+86-138-0000-4444", "养殖山羊"],
    ["H005", "511902101003", "陈永富", "4", "not_lifted", "poor_transport;lack_of_capital;other",
     "relocation", "", "2900", "", ""],
    ["H006", "511902101003", "吴建国", "2", "ordinary", "", "", "", "8000", "", ""],
]  # fmt: skip

# The same data as an operator working in Chinese would type it into Excel.
REGION_HEADER_ZH = ["编码", "上级编码", "级别", "名称", "类型", "纬度", "经度", "半径", "坐标系"]
REGIONS_ZH: list[list[object]] = [
    [511902, None, "县区", "巴州区", None, None, None, None, None],
    ["511902101", "511902", "乡镇", "清江镇", None, None, None, None, None],
    ["511902101001", 511902101, "村", "石桥村", "贫困村", 31.8802, 106.8123, 1200, "WGS-84"],
    ["511902101002", "511902101", "村", "桂花村", "贫困村", 31.8895, 106.8427, None, "高德"],
    ["511902101003", "511902101", "村", "柏林村", "非贫困村", None, None, None, None],
]
HOUSEHOLD_HEADER_ZH = [
    "户编号",
    "村编码",
    "户主姓名",
    "家庭人口",
    "状态",
    "致贫原因",
    "帮扶措施",
    "帮扶责任人",
    "人均纯收入",
    "联系电话",
    "备注",
]
HOUSEHOLDS_ZH: list[list[object]] = [
    ["H001", "511902101001", "王秀英", 3, "未脱贫", "因病；缺劳力", "社会保障兜底", "李明",
     2650.5, "138 0000 1111", "老伴长期卧床"],
    ["H002", "511902101001", "曾德华", 5, "未脱贫", "因学，缺资金", "发展教育", "李明", 3120,
     None, None],
    ["H003", "511902101002", "单国平", 2, "监测户", "因残", "社会保障兜底", None, None, None,
     None],
    ["H004", "511902101002", "刘大贵", 4, "已脱贫", "缺技术", "发展生产", "张桂兰", 5600.0,
     "+86-138-0000-4444", "养殖山羊"],
    ["H005", "511902101003", "陈永富", 4, "未脱贫", "交通条件落后、缺资金、其他", "易地搬迁",
     None, 2900, None, None],
    ["H006", "511902101003", "吴建国", 2, "一般户", None, None, None, 8000, None, None],
]  # fmt: skip


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_xlsx(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]]) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    book.save(path)
    return path


async def open_store(path: Path) -> Database:
    db = await Database.open(path)
    await db.migrate()
    return db


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await open_store(tmp_path / "z.db")
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(WHEN)


@pytest.fixture
async def seeded(db: Database, clock: FixedClock, tmp_path: Path) -> Database:
    """A store holding the sample county and its households."""
    await import_regions(
        db, clock, write_csv(tmp_path / "seed_r.csv", REGION_HEADER, REGIONS), ACTOR
    )
    households = write_csv(tmp_path / "seed_h.csv", HOUSEHOLD_HEADER, HOUSEHOLDS)
    await import_households(db, clock, households, ACTOR)
    return db


async def test_csv_and_xlsx_give_identical_store(tmp_path: Path) -> None:
    csv_store = await open_store(tmp_path / "csv.db")
    xlsx_store = await open_store(tmp_path / "xlsx.db")
    try:
        clock = FixedClock(WHEN)
        regions_csv = write_csv(tmp_path / "regions.csv", REGION_HEADER, REGIONS)
        households_csv = write_csv(tmp_path / "households.csv", HOUSEHOLD_HEADER, HOUSEHOLDS)
        assert regions_csv.read_bytes().startswith(b"\xef\xbb\xbf")
        regions_xlsx = write_xlsx(tmp_path / "regions.xlsx", REGION_HEADER_ZH, REGIONS_ZH)
        households_xlsx = write_xlsx(
            tmp_path / "households.xlsx", HOUSEHOLD_HEADER_ZH, HOUSEHOLDS_ZH
        )

        assert await import_regions(csv_store, clock, regions_csv, ACTOR) == ImportResult(5, 0, 0)
        assert await import_households(csv_store, clock, households_csv, ACTOR) == ImportResult(
            6, 0, 0
        )
        assert await import_regions(xlsx_store, clock, regions_xlsx, ACTOR) == ImportResult(5, 0, 0)
        assert await import_households(xlsx_store, clock, households_xlsx, ACTOR) == ImportResult(
            6, 0, 0
        )

        dump = await csv_store.iterdump()
        assert dump == await xlsx_store.iterdump()
        assert any("桂花村" in line for line in dump)
        village = await csv_store.fetchone(
            "SELECT * FROM regions WHERE code = ?", ("511902101002",)
        )
        assert village is not None
        assert village["path"] == "/511902/511902101/511902101002/"
        assert village["radius_m"] == 1000
        wgs = geo.gcj02_to_wgs84(31.8895, 106.8427)
        assert geo.distance_m(village["lat"], village["lon"], *wgs) < 0.05
        household = await csv_store.fetchone(
            "SELECT * FROM households WHERE registry_no = ?", ("H005",)
        )
        assert household is not None
        assert json.loads(household["causes"]) == ["poor_transport", "lack_of_capital", "other"]
        assert household["income"] == 2900.0
    finally:
        await csv_store.close()
        await xlsx_store.close()


BAD_LAST_REGION_ROWS = [
    (
        ["511902103", "511902999", "township", "白庙乡", "", "", "", "", ""],
        "unknown parent_code '511902999': not in the store or in this file",
    ),
    (
        ["511902101004", "511902101", "村庄", "新村", "", "", "", "", ""],
        "unknown level '村庄' (expected one of: province/省, city/市, county/县区, "
        "township/乡镇, village/村)",
    ),
]
BAD_LAST_HOUSEHOLD_ROWS = [
    (
        ["H099", "511902101", "某某", "2", "not_lifted", "", "", "", "", "", ""],
        "village_code '511902101' is a township (乡镇), not a village",
    ),
    (
        ["H099", "511902101001", "某某", "2", "脱贫了", "", "", "", "", "", ""],
        "unknown status '脱贫了' (expected one of: not_lifted/未脱贫, lifted/已脱贫, "
        "monitored/监测户, ordinary/一般户)",
    ),
]


@pytest.mark.parametrize(("bad_region", "region_reason"), BAD_LAST_REGION_ROWS)
@pytest.mark.parametrize(("bad_household", "household_reason"), BAD_LAST_HOUSEHOLD_ROWS)
async def test_bad_last_row_changes_nothing(
    seeded: Database,
    clock: FixedClock,
    tmp_path: Path,
    bad_region: list[str],
    region_reason: str,
    bad_household: list[str],
    household_reason: str,
) -> None:
    before = await seeded.iterdump()
    # Earlier rows would change, add and move things: none of it may land.
    regions = [
        ["511902", "", "county", "巴州区（改）", "", "", "", "", ""],
        ["511902102", "511902", "township", "水宁寺镇", "", "", "", "", ""],
        ["511902101003", "511902102", "village", "柏林村", "poor", "31.9", "106.7", "", ""],
        bad_region,
    ]
    households = [
        ["H001", "511902101001", "王秀英", "4", "lifted", "", "", "", "", "", ""],
        ["H010", "511902101001", "新户", "1", "monitored", "", "", "", "", "", ""],
        bad_household,
    ]

    with pytest.raises(ImportFileError) as caught:
        await import_regions(
            seeded, clock, write_csv(tmp_path / "regions.csv", REGION_HEADER, regions), ACTOR
        )
    assert str(caught.value) == f"regions.csv: row 5: {region_reason}"

    with pytest.raises(ImportFileError) as caught:
        await import_households(
            seeded,
            clock,
            write_csv(tmp_path / "households.csv", HOUSEHOLD_HEADER, households),
            ACTOR,
        )
    assert str(caught.value) == f"households.csv: row 4: {household_reason}"
    assert caught.value.row == 4
    assert await seeded.iterdump() == before


async def test_reimport_adds_no_audit_and_change_is_audited(
    seeded: Database, clock: FixedClock, tmp_path: Path
) -> None:
    regions_file = write_csv(tmp_path / "regions.csv", REGION_HEADER, REGIONS)
    households_file = write_csv(tmp_path / "households.csv", HOUSEHOLD_HEADER, HOUSEHOLDS)
    events = await audit.count(seeded)
    dump = await seeded.iterdump()

    assert await import_regions(seeded, clock, regions_file, ACTOR) == ImportResult(0, 0, 5)
    assert await import_households(seeded, clock, households_file, ACTOR) == ImportResult(0, 0, 6)
    assert await audit.count(seeded) == events
    assert await seeded.iterdump() == dump

    changed = [list(row) for row in HOUSEHOLDS]
    changed[1][3] = "6"
    changed[1][5] = "schooling"
    households_file = write_csv(tmp_path / "households.csv", HOUSEHOLD_HEADER, changed)
    assert await import_households(seeded, clock, households_file, ACTOR) == ImportResult(0, 1, 5)

    assert await audit.count(seeded) == events + 1
    [*_, event] = await audit.events_for(seeded, "household", "H002")
    assert (event.action, event.actor, event.at) == ("import.update", ACTOR, WHEN)
    assert event.before is not None
    assert event.after is not None
    assert json.loads(event.before) == {"size": 5, "causes": ["schooling", "lack_of_capital"]}
    assert json.loads(event.after) == {"size": 6, "causes": ["schooling"]}
    stored = await seeded.fetchone("SELECT size FROM households WHERE registry_no = 'H002'")
    assert stored is not None
    assert stored["size"] == 6


async def test_create_is_audited_with_the_full_record(seeded: Database) -> None:
    [event] = await audit.events_for(seeded, "region", "511902101001")
    assert event.action == "import.create"
    assert event.before is None
    assert event.after is not None
    assert json.loads(event.after) == {
        "code": "511902101001",
        "parent_code": "511902101",
        "level": "village",
        "name": "石桥村",
        "kind": "poor",
        "lat": 31.8802,
        "lon": 106.8123,
        "radius_m": 1200,
    }


async def test_parents_may_come_later_in_the_file(
    db: Database, clock: FixedClock, tmp_path: Path
) -> None:
    reversed_file = write_csv(tmp_path / "regions.csv", REGION_HEADER, REGIONS[::-1])
    assert await import_regions(db, clock, reversed_file, ACTOR) == ImportResult(5, 0, 0)
    rows = await db.fetchall("SELECT code, path FROM regions ORDER BY path")
    assert rows[-1]["path"] == "/511902/511902101/511902101003/"


async def test_new_parent_moves_the_whole_subtree(
    seeded: Database, clock: FixedClock, tmp_path: Path
) -> None:
    header = ["code", "parent_code", "level", "name"]
    rows = [
        ["5119", "", "city", "巴中市"],
        ["511902", "5119", "county", "巴州区"],
        ["511902102", "511902", "township", "水宁寺镇"],
        ["511902101003", "511902102", "village", "柏林村"],
    ]
    result = await import_regions(seeded, clock, write_csv(tmp_path / "m.csv", header, rows), ACTOR)
    assert result == ImportResult(created=2, updated=2, unchanged=0)

    paths = {row["code"]: row["path"] for row in await seeded.fetchall("SELECT * FROM regions")}
    assert paths == {
        "5119": "/5119/",
        "511902": "/5119/511902/",
        "511902101": "/5119/511902/511902101/",
        "511902101001": "/5119/511902/511902101/511902101001/",
        "511902101002": "/5119/511902/511902101/511902101002/",
        "511902102": "/5119/511902/511902102/",
        "511902101003": "/5119/511902/511902102/511902101003/",
    }
    # Columns absent from the file leave stored values alone.
    village = await seeded.fetchone("SELECT * FROM regions WHERE code = '511902101001'")
    assert village is not None
    assert (village["kind"], village["radius_m"]) == ("poor", 1200)
    [*_, moved] = await audit.events_for(seeded, "region", "511902101003")
    assert moved.before is not None
    assert json.loads(moved.before) == {"parent_code": "511902101"}


async def test_helper_is_linked_only_when_unambiguous(
    seeded: Database, clock: FixedClock, tmp_path: Path
) -> None:
    async with seeded.transaction() as tx:
        for member_id, name, village in [
            (1, "李明", "511902101001"),
            (2, "张桂兰", "511902101002"),
            (3, "张桂兰", "511902101002"),
        ]:
            await tx.execute(
                "INSERT INTO members (id, telegram_user_id, name, created_at) VALUES (?, ?, ?, ?)",
                (member_id, 1000 + member_id, name, WHEN.isoformat()),
            )
            await tx.execute(
                "INSERT INTO memberships (member_id, role, region_code, created_at)"
                " VALUES (?, 'member', ?, ?)",
                (member_id, village, WHEN.isoformat()),
            )
    households_file = write_csv(tmp_path / "households.csv", HOUSEHOLD_HEADER, HOUSEHOLDS)

    result = await import_households(seeded, clock, households_file, ACTOR)

    assert result == ImportResult(created=0, updated=2, unchanged=4)
    rows = await seeded.fetchall(
        "SELECT registry_no, helper_name, helper_member_id FROM households ORDER BY registry_no"
    )
    linked = {row["registry_no"]: row["helper_member_id"] for row in rows}
    assert linked == {"H001": 1, "H002": 1, "H003": None, "H004": None, "H005": None, "H006": None}


REGION_CASES = [
    pytest.param(
        [["5119", "", "城市", "巴中市"]],
        "regions.csv: row 2: unknown level '城市' (expected one of: province/省, city/市, "
        "county/县区, township/乡镇, village/村)",
        id="unknown-level",
    ),
    pytest.param(
        [["511902", "", "county", "巴州区"], ["511902101", "5119", "township", "清江镇"]],
        "regions.csv: row 3: unknown parent_code '5119': not in the store or in this file",
        id="unknown-parent",
    ),
    pytest.param(
        [["A", "B", "county", "甲"], ["B", "A", "township", "乙"]],
        "regions.csv: row 2: parent_code makes a cycle: A → B → A",
        id="cycle",
    ),
    pytest.param(
        [["A", "A", "county", "甲"]],
        "regions.csv: row 2: parent_code makes a cycle: A → A",
        id="own-parent",
    ),
    pytest.param(
        [["511902", "", "county", "巴州区"], ["5119", "511902", "city", "巴中市"]],
        "regions.csv: row 3: a city (市) cannot be under '511902', a county (县区)",
        id="level-order",
    ),
    pytest.param(
        [["511902", "", "county", "巴州区"], ["511902", "", "county", "巴州区"]],
        "regions.csv: row 3: code '511902' already appears in row 2",
        id="duplicate-code",
    ),
    pytest.param(
        [["51/19", "", "city", "巴中市"]],
        "regions.csv: row 2: code '51/19' must not contain '/'",
        id="slash-in-code",
    ),
    pytest.param(
        [["5119", "", "city", ""]],
        "regions.csv: row 2: name is required",
        id="missing-name",
    ),
]
REGION_WIDE_CASES = [
    pytest.param(
        ["V1", "", "village", "村", "", "北纬31", "106.8", "", ""],
        "regions.csv: row 2: lat must be a number, got '北纬31'",
        id="bad-number",
    ),
    pytest.param(
        ["V1", "", "village", "村", "", "31.8", "", "", ""],
        "regions.csv: row 2: lat and lon must be given together, or both left empty",
        id="lat-without-lon",
    ),
    pytest.param(
        ["V1", "", "village", "村", "", "91", "106.8", "", ""],
        "regions.csv: row 2: lat must be between -90 and 90, got '91'",
        id="lat-range",
    ),
    pytest.param(
        ["V1", "", "village", "村", "", "31.8", "106.8", "", "北京54"],
        "regions.csv: row 2: unknown crs '北京54' (expected one of: wgs84, gcj02, bd09)",
        id="unknown-crs",
    ),
    pytest.param(
        ["V1", "", "village", "村", "", "", "", "0", ""],
        "regions.csv: row 2: radius_m must be a whole number of at least 1, got '0'",
        id="radius",
    ),
    pytest.param(
        ["T1", "", "township", "镇", "贫困村", "", "", "", ""],
        "regions.csv: row 2: kind 'poor' is only for villages, not a township (乡镇)",
        id="kind-on-township",
    ),
]


@pytest.mark.parametrize(("rows", "message"), REGION_CASES)
async def test_bad_region_rows(
    db: Database, clock: FixedClock, tmp_path: Path, rows: list[list[str]], message: str
) -> None:
    path = write_csv(tmp_path / "regions.csv", ["code", "parent_code", "level", "name"], rows)
    await _assert_refused(import_regions(db, clock, path, ACTOR), db, message)


@pytest.mark.parametrize(("row", "message"), REGION_WIDE_CASES)
async def test_bad_region_values(
    db: Database, clock: FixedClock, tmp_path: Path, row: list[str], message: str
) -> None:
    path = write_csv(tmp_path / "regions.csv", REGION_HEADER, [row])
    await _assert_refused(import_regions(db, clock, path, ACTOR), db, message)


def _household(**changes: str) -> list[str]:
    row = dict(zip(HOUSEHOLD_HEADER, HOUSEHOLDS[0], strict=True))
    row.update(changes)
    return list(row.values())


HOUSEHOLD_CASES = [
    pytest.param(
        [_household(status="已经脱贫")],
        "households.csv: row 2: unknown status '已经脱贫' (expected one of: not_lifted/未脱贫, "
        "lifted/已脱贫, monitored/监测户, ordinary/一般户)",
        id="unknown-status-label",
    ),
    pytest.param(
        [_household(), _household(head_name="另一户")],
        "households.csv: row 3: registry_no 'H001' already appears in row 2",
        id="duplicate-registry-no",
    ),
    pytest.param(
        [_household(village_code="511902101")],
        "households.csv: row 2: village_code '511902101' is a township (乡镇), not a village",
        id="household-in-non-village",
    ),
    pytest.param(
        [_household(village_code="511902101999")],
        "households.csv: row 2: unknown village_code '511902101999'",
        id="unknown-village",
    ),
    pytest.param(
        [_household(size="3.5")],
        "households.csv: row 2: size must be a whole number of at least 1, got '3.5'",
        id="size-not-whole",
    ),
    pytest.param(
        [_household(income="-1")],
        "households.csv: row 2: income must not be negative, got '-1'",
        id="negative-income",
    ),
    pytest.param(
        [_household(income="两千")],
        "households.csv: row 2: income must be a number, got '两千'",
        id="income-not-number",
    ),
    pytest.param(
        [_household(phone="138-0000 ext 1")],
        "households.csv: row 2: phone may hold only digits, '+', '-' and spaces, "
        "got '138-0000 ext 1'",
        id="phone",
    ),
    pytest.param(
        [_household(causes="因病；因懒")],
        "households.csv: row 2: unknown cause '因懒' (expected one of: illness/因病, "
        "disability/因残, schooling/因学, disaster/因灾, marriage/因婚, lack_of_land/缺土地, "
        "lack_of_water/缺水, lack_of_skills/缺技术, lack_of_labour/缺劳力, "
        "lack_of_capital/缺资金, poor_transport/交通条件落后, lack_of_drive/自身发展动力不足, "
        "other/其他)",
        id="unknown-cause",
    ),
    pytest.param(
        [_household(head_name="")],
        "households.csv: row 2: head_name is required",
        id="missing-head",
    ),
]


@pytest.mark.parametrize(("rows", "message"), HOUSEHOLD_CASES)
async def test_bad_household_rows(
    seeded: Database, clock: FixedClock, tmp_path: Path, rows: list[list[str]], message: str
) -> None:
    path = write_csv(tmp_path / "households.csv", HOUSEHOLD_HEADER, rows)
    await _assert_refused(import_households(seeded, clock, path, ACTOR), seeded, message)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        pytest.param(
            ["registry_no", "village_code", "head_name", "size"],
            "households.csv: missing required column status/状态",
            id="missing-required-column",
        ),
        pytest.param(
            [*HOUSEHOLD_HEADER[:5], "宗教"],
            "households.csv: unknown column header '宗教' (known: registry_no/户编号, "
            "village_code/村编码, head_name/户主姓名, size/家庭人口, status/状态, "
            "causes/致贫原因, measure/帮扶措施, helper/帮扶责任人, income/人均纯收入, "
            "phone/联系电话, notes/备注)",
            id="unknown-header",
        ),
    ],
)
async def test_bad_household_headers(
    seeded: Database, clock: FixedClock, tmp_path: Path, header: list[str], message: str
) -> None:
    path = write_csv(tmp_path / "households.csv", header, [HOUSEHOLDS[0][: len(header)]])
    await _assert_refused(import_households(seeded, clock, path, ACTOR), seeded, message)


async def test_level_change_that_would_orphan_children_is_refused(
    seeded: Database, clock: FixedClock, tmp_path: Path
) -> None:
    header = ["code", "level", "name"]
    township_as_village = write_csv(
        tmp_path / "regions.csv", header, [["511902101", "village", "清江镇"]]
    )
    await _assert_refused(
        import_regions(seeded, clock, township_as_village, ACTOR),
        seeded,
        "regions.csv: row 2: a village (村) cannot be above its existing child "
        "'511902101001', a village (村)",
    )
    village_as_township = write_csv(
        tmp_path / "regions.csv", [*header, "kind"], [["511902101003", "township", "柏林村", ""]]
    )
    await _assert_refused(
        import_regions(seeded, clock, village_as_township, ACTOR),
        seeded,
        "regions.csv: row 2: region '511902101003' has households, so its level must stay village",
    )


async def test_cycle_through_stored_regions_is_refused(
    seeded: Database, clock: FixedClock, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "regions.csv",
        ["code", "parent_code", "level", "name"],
        [["511902", "511902101001", "county", "巴州区"]],
    )
    await _assert_refused(
        import_regions(seeded, clock, path, ACTOR),
        seeded,
        "regions.csv: row 2: parent_code makes a cycle: 511902 → 511902101001 → 511902101 → 511902",
    )


async def _assert_refused(attempt: Awaitable[ImportResult], db: Database, message: str) -> None:
    """The import fails with exactly ``message`` on one line and leaves the store as it was.

    ``attempt`` is a not-yet-awaited coroutine, so nothing runs before the snapshot is taken.
    """
    before = await db.iterdump()
    with pytest.raises(ImportFileError) as caught:
        await attempt
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)
    assert await db.iterdump() == before
