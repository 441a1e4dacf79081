"""The write and import benchmarks run end to end on a few rows and report in the shared shape."""

from __future__ import annotations

import asyncio
from pathlib import Path

import openpyxl
import pytest

from bench import imports, writes
from bench.report import Row


def _reported(found: list[Row], count: int) -> None:
    assert len(found) == count
    for row in found:
        assert row.value.endswith("rows/s")
        assert row.ratio is not None and row.ratio > 0
        assert row.met is not None
        assert row.target.startswith("≥ ")


def test_writes_measure_both_entry_kinds_and_their_baselines(tmp_path: Path) -> None:
    size = writes.Size(entries=12, blocks=2, members=3, households=5)
    series = asyncio.run(writes.measure(tmp_path, size))
    assert {name: s.rows for name, s in series.items()} == {
        "visit service": 12,
        "visit bare": 12,
        "check-in service": 12,
        "check-in bare": 12,
    }
    assert all(s.rate > 0 for s in series.values())


def test_imports_report_csv_and_xlsx_next_to_their_baselines(tmp_path: Path) -> None:
    size = imports.Size(households=1_200, repeat=1)
    files = imports.prepare(tmp_path, size)
    assert len(imports.household_rows(1_200)) == 1_200
    found = imports.measure(files, size)
    _reported(found, 2)
    assert [row.figure for row in found] == [
        "household import, CSV, 1,200 rows",
        "household import, XLSX, 1,200 rows",
    ]


def test_generated_households_are_deterministic_and_span_villages() -> None:
    rows = imports.household_rows(2_500)
    assert rows == imports.household_rows(2_500)
    assert len({row[1] for row in rows}) == 3
    assert len({row[0] for row in rows}) == 2_500


def test_generated_import_files_are_kept_and_reused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    size = imports.Size(households=300, repeat=1)
    folder = tmp_path / "cache"
    assert imports.cached(size, folder) == folder
    assert "generated 300 rows" in capsys.readouterr().err
    made = {path.name: path.stat().st_mtime_ns for path in folder.iterdir()}
    assert set(made) == {"regions.csv", "households.csv", "households.xlsx", "complete"}

    assert imports.cached(size, folder) == folder
    assert "generated files from" in capsys.readouterr().err
    assert {path.name: path.stat().st_mtime_ns for path in folder.iterdir()} == made
    assert [path.name for path in tmp_path.iterdir()] == ["cache"]

    run = tmp_path / "run"
    run.mkdir()
    files = imports.prepare(run, size, folder)
    assert files.csv.parent == folder and files.template.parent == run


def test_cache_is_named_by_size_and_generator_version() -> None:
    tiny, full = imports.SIZES["tiny"], imports.SIZES["full"]
    version = imports.generator_version()
    assert version == imports.generator_version()
    assert imports.cache_folder(tiny).name == f"zhucun-bench-imports-2000-{version}"
    assert imports.cache_folder(tiny) != imports.cache_folder(full)


def test_the_generated_workbook_reads_back_through_openpyxl(tmp_path: Path) -> None:
    rows = imports.household_rows(300)
    imports.write_xlsx(tmp_path / "h.xlsx", imports.HOUSEHOLD_HEADER, rows)
    book = openpyxl.load_workbook(tmp_path / "h.xlsx", read_only=True)
    width = len(imports.HOUSEHOLD_HEADER)
    read = [[*row, *[None] * (width - len(row))] for row in book.active.iter_rows(values_only=True)]
    book.close()
    assert read[0] == list(imports.HOUSEHOLD_HEADER)
    assert read[1:] == [[None if cell == "" else cell for cell in row] for row in rows]
