"""``python -m bench`` itself: the table's shape, and a broken benchmark failing the run."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from bench import __main__ as bench_main
from bench.report import Row, at_least, at_most, table


def test_a_row_shows_its_ratio_and_verdict() -> None:
    ratio, met = at_least(30.0, 100.0, 0.5)
    row = Row("visits/s", "30/s", "100/s", ratio, "≥ 0.5", met)
    assert row.markdown() == "| visits/s | 30/s | 100/s | 0.30 | ≥ 0.5 | **no** |"
    assert at_most(1.2, 1.0, 1.5) == pytest.approx((1.2, True))
    assert Row("peak RSS", "120 MB").markdown() == "| peak RSS | 120 MB | — | — | — | — |"
    lines = table([row]).splitlines()
    assert lines[0].startswith("| figure | value | baseline | ratio | target | met? |")
    assert len(lines) == 3


def _fake(name: str, rows: object) -> None:
    module = types.ModuleType(f"bench.{name}")

    def measured(size: str) -> object:
        if isinstance(rows, Exception):
            raise rows
        return rows

    module.rows = measured  # type: ignore[attr-defined]
    sys.modules[f"bench.{name}"] = module


def test_a_failing_benchmark_is_a_row_and_a_failed_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _fake("good_one", [Row("fine", "1 s", "1 s", 1.0, "≤ 2", True)])
    _fake("broken_one", RuntimeError("boom"))
    monkeypatch.setattr(bench_main, "MODULES", ("good_one", "broken_one"))
    out = tmp_path / "benchmarks.md"
    try:
        status = bench_main.main(["--size", "tiny", "--out", str(out)])
    finally:
        del sys.modules["bench.good_one"], sys.modules["bench.broken_one"]
    assert status == 1
    written = out.read_text(encoding="utf-8")
    assert "| fine | 1 s | 1 s | 1.00 | ≤ 2 | yes |" in written
    assert "| bench.broken_one | failed (see the log) |" in written
    assert "- CPU: " in written and "python-telegram-bot" in written
    assert written in capsys.readouterr().out


def test_tiny_runs_write_nowhere_unless_asked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _fake("quick_one", [Row("fine", "1 s")])
    monkeypatch.setattr(bench_main, "MODULES", ("quick_one",))
    monkeypatch.setattr(bench_main, "DOC", tmp_path / "benchmarks.md")
    try:
        assert bench_main.main(["--size", "tiny"]) == 0
    finally:
        del sys.modules["bench.quick_one"]
    assert not (tmp_path / "benchmarks.md").exists()
