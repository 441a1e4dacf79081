"""The summary chart renders its Chinese labels in the CJK font shipped by mplfonts."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from fontTools.ttLib import TTFont

from bot.chart import ChartData, chart_data, font_path, render, render_async
from locales import LANGUAGES, load_catalog
from tests.harness import running

PNG = b"\x89PNG\r\n\x1a\n"


def covered(text: str) -> set[str]:
    return {ch for ch in text if not ch.isspace()}


@pytest.fixture(scope="module")
def cmap() -> dict[int, str]:
    with TTFont(font_path(), lazy=True) as font:
        return dict(font.getBestCmap())


def test_the_font_is_the_packaged_noto_sans_cjk() -> None:
    path = font_path()
    assert path.name == "NotoSansCJKsc-Regular.otf"
    assert "mplfonts" in path.parts
    assert path.is_file()


async def test_a_summary_chart_renders_without_warnings_and_every_label_has_a_glyph(
    tmp_path: Path, cmap: dict[int, str]
) -> None:
    catalog = load_catalog()
    async with running(tmp_path) as bot:
        township = await bot.services.summary.for_region("511902101")
        county = await bot.services.summary.for_region("511902")
    for summary in (township, county):
        for lang in LANGUAGES:
            data = chart_data(summary, catalog, lang)
            text = "".join(data.strings())
            missing = sorted(ch for ch in covered(text) if ord(ch) not in cmap)
            assert missing == [], (lang, missing)
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # a missing glyph is a UserWarning
                png = await render_async(data)
            assert png.startswith(PNG)
    assert "石桥村" in chart_data(township, catalog, "zh").labels
    assert "水宁寺镇" in chart_data(county, catalog, "zh").labels


def test_a_missing_glyph_would_fail_the_render() -> None:
    data = ChartData(
        title="𓀀",  # an Egyptian hieroglyph: not in Noto Sans CJK
        labels=("石桥村",),
        days=(3.0,),
        visits=(2,),
        required=20,
        expected=18,
        days_axis="天",
        visits_axis="次",
        required_legend="20",
        expected_legend="18",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UserWarning, match="missing from font"):
            render(data)


def test_many_villages_and_long_names_render(cmap: dict[int, str]) -> None:
    names = tuple(f"{n}号自然村" for n in range(1, 41))
    data = ChartData(
        title="巴州区 · 11月28日",
        labels=names,
        days=tuple(float(n % 22) for n in range(40)),
        visits=tuple(n * 3 for n in range(40)),
        required=20,
        expected=18,
        days_axis="本月人均在村天数",
        visits_axis="本月走访次数",
        required_legend="每月要求 20 天",
        expected_legend="按日折算应有 18 天",
    )
    assert not [ch for ch in covered("".join(data.strings())) if ord(ch) not in cmap]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert render(data).startswith(PNG)
