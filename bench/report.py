"""The one shape every benchmark reports in, so ``python -m bench`` can print a single table.

The machines are noisy 2-core boxes: a figure alone means little, so each row carries the
baseline measured in the same run and the ratio between them, which is what we track.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

HEADER = "| figure | value | baseline | ratio | target | met? |\n|---|---:|---:|---:|---|---|"


@dataclass(frozen=True)
class Row:
    """One measured figure; ``ratio`` and ``met`` are None where it has no baseline or target."""

    figure: str
    value: str
    baseline: str = "—"
    ratio: float | None = None
    target: str = "—"
    met: bool | None = None

    def markdown(self) -> str:
        ratio = "—" if self.ratio is None else f"{self.ratio:.2f}"
        met = {True: "yes", False: "**no**", None: "—"}[self.met]
        return (
            f"| {self.figure} | {self.value} | {self.baseline} | {ratio} | {self.target} | {met} |"
        )


def table(rows: Iterable[Row]) -> str:
    return "\n".join([HEADER, *(row.markdown() for row in rows)])


def at_least(value: float, baseline: float, target: float) -> tuple[float, bool]:
    """Ratio of a rate to its baseline, and whether it reaches ``target`` (higher is better)."""
    ratio = value / baseline
    return ratio, ratio >= target


def at_most(value: float, baseline: float, target: float) -> tuple[float, bool]:
    """Ratio of a time to its baseline time, and whether it stays within ``target``."""
    ratio = value / baseline
    return ratio, ratio <= target
