"""Household import throughput (``zhucun import households FILE``), CSV and XLSX, in rows/s.

    python -m bench.imports [--size tiny|full]

A county's registry is imported once a season and re-imported after each round of edits, so the
import of a whole county (``full``: 400,000 households in 400 villages; ``tiny``: 2,000 in 2
villages, for CI) must stay a matter of minutes. Measured, in one run:

- **CSV**: ``bot.services.imports.import_households`` (what the command runs: read the file,
  parse and check every row, derive the search keys, write every household and its
  ``import.create`` audit event in one transaction) on a fresh store holding only the regions,
  next to the baseline — the same file read with ``csv.reader`` and its rows written as they are
  (blank optional cells as NULL) into the same ``households`` table of another fresh store
  with one bare aiosqlite ``executemany`` in one transaction (no checks, no search keys, no
  audit). Target: ≥ 0.3.
- **XLSX**: the same import of the same rows saved as a workbook (codes as text cells, numbers
  as numbers, as Excel keeps them), next to the baseline — openpyxl alone iterating that
  workbook (``read_only=True``, ``iter_rows(values_only=True)``), since reading an XLSX costs
  more than everything the import does after it. Target: ≥ 0.7.

The files are generated deterministically (seeded) once per size and kept under the temp folder
(``zhucun-bench-imports-<rows>-<version>``: the version changes with the generator's code and
data, so an edited generator never measures stale files); generating them (about 20 s at
400,000 rows; the workbook's XML is written directly) is timed and reported on stderr but not
counted. The regions are imported through ``import_regions`` once into a template store, in a
temporary folder, that every measured run starts from a copy of. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import hashlib
import inspect
import math
import os
import random
import shutil
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape

import aiosqlite
import openpyxl

from bench.report import Row, at_least, table
from bot.clock import FixedClock
from bot.models import Cause, HouseholdStatus, Measure
from bot.services.imports import ImportResult, import_households, import_regions
from storage.audit import operator_actor
from storage.db import Database

CSV_TARGET = 0.3
XLSX_TARGET = 0.7
ACTOR = operator_actor("bench")
WHEN = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)
SEED = 20261128
COUNTY = "511902"
PER_VILLAGE = 1000  # households per village (registry numbers have four digits for them)
PER_TOWNSHIP = 20  # villages per township

HOUSEHOLD_HEADER = (
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
)
# The households columns the baseline writes the file's cells into, in file order.
BARE_COLUMNS = (
    "registry_no",
    "village_code",
    "head_name",
    "size",
    "status",
    "causes",
    "measure",
    "helper_name",
    "income",
    "phone",
    "notes",
)
NOT_NULL = frozenset(("registry_no", "village_code", "head_name", "size", "status", "causes"))
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤单"  # noqa: E501
GIVEN = "秀英桂兰建军志强德华国平大贵永富明芳玉珍文华海燕红梅春花金山世中光荣家明小龙云凤淑琴德福正清长生学成"  # noqa: E501
HELPERS = ("李明", "张桂兰", "王建军", "陈晓东", "刘志强", "周敏")
NOTES = (
    "老伴长期卧床",
    "两个孩子读高中",
    "养殖山羊",
    "外出务工",
    "种植柑橘",
    "独居老人",
    "危房已改造",
)


@dataclass(frozen=True)
class Size:
    households: int
    repeat: int  # measured runs of each figure; the fastest counts


SIZES = {"tiny": Size(households=2_000, repeat=3), "full": Size(households=400_000, repeat=1)}


@dataclass(frozen=True)
class Files:
    regions: Path
    csv: Path
    xlsx: Path
    template: Path  # a migrated store holding the regions


def _villages(households: int) -> list[str]:
    count = math.ceil(households / PER_VILLAGE)
    return [f"{COUNTY}{1 + n // PER_TOWNSHIP:03d}{1 + n % PER_TOWNSHIP:03d}" for n in range(count)]


def region_rows(villages: Sequence[str]) -> list[list[str]]:
    rows = [["51", "", "province", "四川省"], ["5119", "51", "city", "巴中市"]]
    rows.append([COUNTY, "5119", "county", "巴州区"])
    townships = dict.fromkeys(code[:9] for code in villages)
    rows += [[code, COUNTY, "township", f"第{code[6:]}镇"] for code in townships]
    rows += [[code, code[:9], "village", f"第{code[6:]}村"] for code in villages]
    return rows


def household_rows(households: int) -> list[list[str | int | float]]:
    """Seeded rows as an operator's workbook holds them (size an int, income a float)."""
    rng = random.Random(SEED)
    statuses = [s.value for s in HouseholdStatus]
    causes = [c.value for c in Cause]
    measures = [m.value for m in Measure]
    villages = _villages(households)
    rows: list[list[str | int | float]] = []
    for n in range(households):
        village = villages[n // PER_VILLAGE]
        name = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2, 2))))
        rows.append(
            [
                f"{village}{n % PER_VILLAGE + 1:04d}",
                village,
                name,
                rng.randint(1, 7),
                rng.choices(statuses, weights=(3, 5, 1, 1))[0],
                ";".join(rng.sample(causes, rng.choice((0, 1, 1, 2, 3)))),
                rng.choice([*measures, ""]),
                rng.choice([*HELPERS, "", ""]),
                round(rng.uniform(1500, 12000), 1) if rng.random() < 0.8 else "",
                f"138{rng.randrange(10**8):08d}" if rng.random() < 0.5 else "",
                rng.choice([*NOTES, "", "", ""]),
            ]
        )
    return rows


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def write_xlsx(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """The rows as a one-sheet workbook with a shared-strings table, as Excel and WPS save one.

    Written as the package's XML directly: openpyxl's write-only mode took 77 s for 400,000 rows,
    most of a fresh machine's setup for ``python -m bench``. Blank cells are left out, numbers are
    numeric cells, everything else a shared string; tests read it back through openpyxl.
    """
    strings: dict[str, int] = {}

    def cell(ref: str, value: object) -> str:
        if value is None or value == "":
            return ""
        if isinstance(value, int | float) and not isinstance(value, bool):
            return f'<c r="{ref}"><v>{value!r}</v></c>'
        index = strings.setdefault(str(value), len(strings))
        return f'<c r="{ref}" t="s"><v>{index}</v></c>'

    columns = [_column(i) for i in range(len(header))]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as package:
        for name, text in _XLSX_PARTS.items():
            package.writestr(name, text)
        with package.open("xl/worksheets/sheet1.xml", "w") as sheet:
            sheet.write(_SHEET_HEAD.encode())
            for number, row in enumerate([list(header), *rows], start=1):
                cells = "".join(cell(f"{c}{number}", v) for c, v in zip(columns, row, strict=True))
                sheet.write(f'<row r="{number}">{cells}</row>'.encode())
            sheet.write(b"</sheetData></worksheet>")
        shared = "".join(f"<si><t>{escape(text)}</t></si>" for text in strings)
        package.writestr(
            "xl/sharedStrings.xml",
            f'{_XML}<sst xmlns="{_MAIN}" count="{len(strings)}" uniqueCount="{len(strings)}">'
            f"{shared}</sst>",
        )


def _column(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG = "http://schemas.openxmlformats.org/package/2006"
_OOXML = "application/vnd.openxmlformats"
_SML = f"{_OOXML}-officedocument.spreadsheetml"
_SHEET_HEAD = f'{_XML}<worksheet xmlns="{_MAIN}"><sheetData>'
_XLSX_PARTS = {
    "[Content_Types].xml": (
        f'{_XML}<Types xmlns="{_PKG}/content-types">'
        f'<Default Extension="rels" ContentType="{_OOXML}-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{_SML}.sheet.main+xml"/>'
        f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{_SML}.worksheet+xml"/>'
        f'<Override PartName="/xl/sharedStrings.xml" ContentType="{_SML}.sharedStrings+xml"/>'
        "</Types>"
    ),
    "_rels/.rels": (
        f'{_XML}<Relationships xmlns="{_PKG}/relationships">'
        f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/>'
        "</Relationships>"
    ),
    "xl/workbook.xml": (
        f'{_XML}<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><sheets>'
        '<sheet name="households" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ),
    "xl/_rels/workbook.xml.rels": (
        f'{_XML}<Relationships xmlns="{_PKG}/relationships">'
        f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{_REL}/sharedStrings" Target="sharedStrings.xml"/>'
        "</Relationships>"
    ),
}


async def _template(path: Path, regions: Path) -> None:
    db = await Database.open(path)
    try:
        await db.migrate()
        await import_regions(db, FixedClock(WHEN), regions, ACTOR)
    finally:
        await db.close()


FORMAT = 1  # bump when the files change in a way the generator's source does not show


def generator_version() -> str:
    """Names the generated files: the format, and a digest of the code and data making them."""
    parts = [
        inspect.getsource(function)
        for function in (_villages, region_rows, household_rows, write_csv, write_xlsx, _column)
    ]
    parts += [repr(_XLSX_PARTS)]
    parts += [repr((SEED, COUNTY, PER_VILLAGE, PER_TOWNSHIP, SURNAMES, GIVEN, HELPERS, NOTES))]
    parts += [repr([[m.value for m in kind] for kind in (HouseholdStatus, Cause, Measure)])]
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]
    return f"v{FORMAT}-{digest}"


def cache_folder(size: Size) -> Path:
    """Where the generated files of this size are kept between runs."""
    name = f"zhucun-bench-imports-{size.households}-{generator_version()}"
    return Path(tempfile.gettempdir()) / name


def generate(folder: Path, size: Size) -> None:
    """Write the regions, the households CSV and the same rows as a workbook into ``folder``."""
    started = time.perf_counter()
    rows = household_rows(size.households)
    write_csv(
        folder / "regions.csv",
        ("code", "parent_code", "level", "name"),
        region_rows(_villages(size.households)),
    )
    write_csv(folder / "households.csv", HOUSEHOLD_HEADER, rows)
    csv_done = time.perf_counter()
    write_xlsx(folder / "households.xlsx", HOUSEHOLD_HEADER, rows)
    print(
        f"generated {size.households:,} rows: CSV {csv_done - started:.1f} s,"
        f" XLSX {time.perf_counter() - csv_done:.1f} s",
        file=sys.stderr,
    )


def cached(size: Size, folder: Path | None = None) -> Path:
    """The folder holding this size's files, generated now unless an earlier run left them
    complete (a run stopped half way leaves no folder under the final name)."""
    folder = folder or cache_folder(size)
    if (folder / "complete").exists():
        print(f"generated files from {folder}", file=sys.stderr)
        return folder
    partial = folder.with_name(f"{folder.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    generate(partial, size)
    (partial / "complete").touch()
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    return folder


def prepare(folder: Path, size: Size, data: Path | None = None) -> Files:
    """Files for one run: the generated files from ``data`` (generated into ``folder`` when
    none is given), and a template store made in ``folder``."""
    if data is None:
        generate(folder, size)
        data = folder
    files = Files(
        regions=data / "regions.csv",
        csv=data / "households.csv",
        xlsx=data / "households.xlsx",
        template=folder / "template.db",
    )
    started = time.perf_counter()
    asyncio.run(_template(files.template, files.regions))
    print(f"template store {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return files


def _fresh(files: Files, name: str) -> Path:
    """A copy of the template store (regions only) for one measured run."""
    path = files.template.with_name(f"{name}.db")
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    shutil.copyfile(files.template, path)
    return path


async def _import(path: Path, source: Path) -> float:
    """Seconds ``import_households`` takes for ``source`` on the store at ``path``."""
    db = await Database.open(path)
    try:
        started = time.perf_counter()
        result = await import_households(db, FixedClock(WHEN), source, ACTOR)
        elapsed = time.perf_counter() - started
    finally:
        await db.close()
    assert result == ImportResult(created=result.created), result
    return elapsed


def _read_csv(path: Path) -> list[list[str | None]]:
    """The data rows as they are, blank optional cells as NULL (the CHECKs refuse '')."""
    nullable = [name not in NOT_NULL for name in BARE_COLUMNS]
    with path.open(encoding="utf-8-sig", newline="") as handle:
        records = csv.reader(handle)
        next(records)
        return [
            [
                None if blank and not cell else cell
                for blank, cell in zip(nullable, record, strict=True)
            ]
            for record in records
        ]


async def _bare_executemany(path: Path, source: Path) -> float:
    """Seconds to read ``source`` with csv.reader and executemany its rows, as they are."""
    conn = await aiosqlite.connect(path, isolation_level=None)
    try:
        for pragma in ("busy_timeout=5000", "foreign_keys=ON", "synchronous=NORMAL"):
            await conn.execute(f"PRAGMA {pragma}")
        marks = ", ".join("?" * len(BARE_COLUMNS))
        sql = f"INSERT INTO households ({', '.join(BARE_COLUMNS)}) VALUES ({marks})"
        started = time.perf_counter()
        records = _read_csv(source)
        await conn.execute("BEGIN IMMEDIATE")
        await conn.executemany(sql, records)
        await conn.execute("COMMIT")
        elapsed = time.perf_counter() - started
    finally:
        await conn.close()
    return elapsed


def _iterate_xlsx(source: Path) -> float:
    """Seconds for openpyxl alone to iterate the workbook's rows."""
    started = time.perf_counter()
    book = openpyxl.load_workbook(source, read_only=True)
    try:
        sheet = book.worksheets[0]
        for _ in sheet.iter_rows(values_only=True):
            pass
    finally:
        book.close()
    return time.perf_counter() - started


def _best(repeat: int, run: Callable[[int], float]) -> float:
    return min(run(n) for n in range(repeat))


def _rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:,.0f} rows/s"


def measure(files: Files, size: Size) -> list[Row]:
    def timed(
        name: str, source: Path, work: Callable[[Path, Path], Coroutine[None, None, float]]
    ) -> float:
        def once(n: int) -> float:
            seconds = asyncio.run(work(_fresh(files, f"{name}{n}"), source))
            print(f"{name}: {seconds:.1f} s", file=sys.stderr)
            return seconds

        return _best(size.repeat, once)

    csv_import = timed("import CSV", files.csv, _import)
    csv_bare = timed("bare executemany", files.csv, _bare_executemany)
    xlsx_import = timed("import XLSX", files.xlsx, _import)

    def iterate(n: int) -> float:
        seconds = _iterate_xlsx(files.xlsx)
        print(f"openpyxl iteration: {seconds:.1f} s", file=sys.stderr)
        return seconds

    xlsx_bare = _best(size.repeat, iterate)
    count = size.households
    csv_ratio, csv_met = at_least(count / csv_import, count / csv_bare, CSV_TARGET)
    xlsx_ratio, xlsx_met = at_least(count / xlsx_import, count / xlsx_bare, XLSX_TARGET)
    return [
        Row(
            figure=f"household import, CSV, {count:,} rows",
            value=_rate(count, csv_import),
            baseline=f"{_rate(count, csv_bare)} (csv.reader + bare executemany)",
            ratio=csv_ratio,
            target=f"≥ {CSV_TARGET}",
            met=csv_met,
        ),
        Row(
            figure=f"household import, XLSX, {count:,} rows",
            value=_rate(count, xlsx_import),
            baseline=f"{_rate(count, xlsx_bare)} (openpyxl read-only iteration)",
            ratio=xlsx_ratio,
            target=f"≥ {XLSX_TARGET}",
            met=xlsx_met,
        ),
    ]


def rows(size: str) -> list[Row]:
    chosen = SIZES[size]
    with tempfile.TemporaryDirectory(prefix="bench-imports-") as folder:
        files = prepare(Path(folder), chosen, cached(chosen))
        return measure(files, chosen)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.imports")
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    args = parser.parse_args(argv)
    print(table(rows(args.size)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
