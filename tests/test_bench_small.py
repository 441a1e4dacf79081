"""The write and import benchmarks run end to end on a few rows and report in the shared shape."""

from __future__ import annotations

import asyncio
from pathlib import Path

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
