"""The summary's chart: per village (per township in a roll-up), days in the village and visits
this month, against the quota line.

Drawn with matplotlib's object API on the Agg canvas (no pyplot, no global state), so a chart can
be rendered in a worker thread (:func:`render_async`) while the event loop goes on. Chinese
labels use Noto Sans CJK SC, which the ``mplfonts`` package ships under the SIL Open Font
License; the file is found by path inside the installed package, without importing it (its
import would change matplotlib's global settings) and without relying on system fonts.
"""

from __future__ import annotations

import asyncio
import importlib.util
import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.ticker import MaxNLocator

from bot.services.summary import Summary
from locales import Catalog

FONT_FILE = "NotoSansCJKsc-Regular.otf"
MAX_BARS = 60  # a county of more townships than this is cut to its first 60 in the chart
DAYS_COLOUR = "#3b7dd8"
VISITS_COLOUR = "#2e9d62"
QUOTA_COLOUR = "#d8453b"
EXPECTED_COLOUR = "#e39b2d"
LEFT_IN, TOP_IN, BOTTOM_IN, ROW_IN = 1.3, 0.75, 0.85, 0.42  # margins and bar rows, in inches


class FontMissing(RuntimeError):
    """The CJK font shipped by mplfonts is not installed (``pip install -e .`` brings it)."""


@lru_cache(maxsize=1)
def font_path() -> Path:
    """Noto Sans CJK SC inside the installed ``mplfonts`` package."""
    spec = importlib.util.find_spec("mplfonts")
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        candidate = Path(folder) / "fonts" / FONT_FILE
        if candidate.is_file():
            return candidate
    raise FontMissing(f"{FONT_FILE} not found in the mplfonts package")


def font(size: float = 10) -> FontProperties:
    return FontProperties(fname=font_path(), size=size)


@dataclass(frozen=True)
class ChartData:
    """Everything drawn, already in the reader's language."""

    title: str
    labels: tuple[str, ...]  # one per bar: village (or township) names
    days: tuple[float, ...]  # average days in the village this month, per team member
    visits: tuple[int, ...]  # visits this month
    required: int  # the monthly quota
    expected: int  # the quota pro-rated to the day
    days_axis: str
    visits_axis: str
    required_legend: str
    expected_legend: str

    def strings(self) -> list[str]:
        """Every text the chart shows, for the glyph-coverage test."""
        return [
            self.title,
            *self.labels,
            self.days_axis,
            self.visits_axis,
            self.required_legend,
            self.expected_legend,
        ]


def chart_data(summary: Summary, catalog: Catalog, lang: str) -> ChartData:
    """What to draw for a summary: its villages, or for a roll-up its townships."""
    if summary.rollup:
        rows = [(t.name, t.figures) for t in summary.townships]
    else:
        rows = [(v.name, v.figures) for v in summary.villages]
    rows = rows[:MAX_BARS]
    quota = summary.quota
    return ChartData(
        title=catalog.label(
            lang,
            "chart.title",
            area=summary.region.name,
            month=summary.day.month,
            day=summary.day.day,
        ),
        labels=tuple(name for name, _ in rows),
        days=tuple(round(f.average_days, 1) for _, f in rows),
        visits=tuple(f.visits_month for _, f in rows),
        required=quota.required,
        expected=quota.expected,
        days_axis=catalog.label(lang, "chart.days_axis"),
        visits_axis=catalog.label(lang, "chart.visits_axis"),
        required_legend=catalog.label(lang, "chart.required", days=quota.required),
        expected_legend=catalog.label(lang, "chart.expected", days=quota.expected),
    )


def render(data: ChartData) -> bytes:
    """The chart as PNG bytes (blocking: call :func:`render_async` from the event loop)."""
    regular, small, title = font(10), font(9), font(13)
    count = max(1, len(data.labels))
    width, height = 9.0, TOP_IN + BOTTOM_IN + ROW_IN * count
    figure = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(figure)
    # Fixed margins in inches: constrained layout would double the drawing time.
    figure.subplots_adjust(
        left=LEFT_IN / width,
        right=1 - 0.25 / width,
        top=1 - TOP_IN / height,
        bottom=BOTTOM_IN / height,
        wspace=0.08,
    )
    days_ax, visits_ax = figure.subplots(1, 2, sharey=True, width_ratios=(3, 2))
    rows = list(range(len(data.labels)))
    days_ax.barh(rows, data.days, color=DAYS_COLOUR, height=0.6)
    days_ax.axvline(data.required, color=QUOTA_COLOUR, linewidth=1.6, label=data.required_legend)
    if data.expected != data.required:
        days_ax.axvline(
            data.expected,
            color=EXPECTED_COLOUR,
            linewidth=1.4,
            linestyle="--",
            label=data.expected_legend,
        )
    days_ax.set_xlim(0, max([data.required, *data.days]) * 1.15 + 0.5)
    days_ax.set_yticks(rows, data.labels, fontproperties=regular)
    days_ax.set_ylim(count - 0.5, -0.5)  # first village on top, no padding rows
    days_ax.set_xlabel(data.days_axis, fontproperties=regular)
    for row, value in zip(rows, data.days, strict=True):
        days_ax.annotate(
            f"{value:g}",
            (value, row),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontproperties=small,
        )
    visits_ax.barh(rows, data.visits, color=VISITS_COLOUR, height=0.6)
    visits_ax.set_xlim(0, max([1, *data.visits]) * 1.2)
    visits_ax.xaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
    visits_ax.set_xlabel(data.visits_axis, fontproperties=regular)
    for row, visits in zip(rows, data.visits, strict=True):
        visits_ax.annotate(
            str(visits),
            (visits, row),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontproperties=small,
        )
    for ax in (days_ax, visits_ax):
        ax.grid(axis="x", alpha=0.3)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    figure.suptitle(data.title, fontproperties=title)
    figure.legend(prop=small, loc="lower center", ncols=2, frameon=False, bbox_to_anchor=(0.5, 0.0))
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


async def render_async(data: ChartData) -> bytes:
    """Render in a worker thread, off the event loop."""
    return await asyncio.to_thread(render, data)
