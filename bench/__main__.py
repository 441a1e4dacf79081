"""Every benchmark, one table: ``python -m bench [--size tiny|full] [--out FILE|-] [--only NAME…]``.

Each module under ``bench/`` measures its figures next to a baseline taken in the same run and
returns :class:`bench.report.Row` s; this runs them in turn, prints one Markdown table and writes
it (with the date, the CPU and the versions that produced it) to ``docs/benchmarks.md``, so the
numbers in the repository always say where they came from. ``--size tiny`` only proves that every
benchmark still runs (CI does that); its timings mean nothing and it writes nowhere by default.

A benchmark that fails is a row saying so, and the exit status is 1: a broken benchmark must not
look like a missed target.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sqlite3
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from bench.report import Row, table

# In the order the issues asked for them; each module exposes ``rows(size) -> list[Row]``.
MODULES = ("fieldwork", "http", "pipeline", "writes", "imports", "summary", "exports", "policy")
DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
PACKAGES = ("python-telegram-bot", "aiosqlite", "pydantic", "openpyxl", "matplotlib")


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _commit() -> str:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=DOC.parent,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return done.stdout.strip()


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def environment() -> list[str]:
    versions = ", ".join(f"{p} {_version(p)}" for p in PACKAGES)
    return [
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; commit {_commit()}",
        f"- CPU: {_cpu()}, {os.cpu_count()} cores; {platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}; {versions}",
    ]


def run(
    names: Sequence[str], size: str, log: Callable[[str], None]
) -> tuple[list[Row], dict[str, float], bool]:
    """All rows, each module's wall time, and whether every module ran."""
    rows: list[Row] = []
    took: dict[str, float] = {}
    ok = True
    for name in names:
        log(f"bench.{name} ({size}) …")
        started = time.perf_counter()
        try:
            module = importlib.import_module(f"bench.{name}")
            rows += module.rows(size)
        except Exception:
            ok = False
            traceback.print_exc()
            rows.append(Row(figure=f"bench.{name}", value="failed (see the log)", met=False))
        took[name] = time.perf_counter() - started
        log(f"bench.{name}: {took[name]:.0f} s")
    return rows, took, ok


def document(rows: Sequence[Row], took: dict[str, float], size: str) -> str:
    times = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in took.items())
    return "\n".join(
        [
            "# Benchmarks",
            "",
            "Written by `python -m bench`; do not edit by hand. Every figure sits next to a",
            "baseline measured in the same run on the same machine, and the ratio is what we",
            "track: these are noisy 2-core boxes, and absolute numbers move between runs.",
            "",
            *environment(),
            f"- size: {size}; wall time per benchmark: {times} (total {sum(took.values()):.0f} s)",
            "",
            table(rows),
            "",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=("tiny", "full"), default="full")
    parser.add_argument(
        "--out",
        help=f"where to write the table with its context; '-' for nowhere (default: {DOC} for"
        " --size full, nowhere for tiny)",
    )
    parser.add_argument("--only", nargs="+", choices=MODULES, help="run only these benchmarks")
    args = parser.parse_args(argv)

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    rows, took, ok = run(args.only or MODULES, args.size, log)
    text = document(rows, took, args.size)
    print(text)
    out = args.out or (str(DOC) if args.size == "full" and not args.only else "-")
    if out != "-":
        Path(out).write_text(text, encoding="utf-8")
        log(f"written to {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
