"""The playground replays the sample script exactly as the committed transcript shows."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.demo import play

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


async def test_demo_script_replays_transcript(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    script = (EXAMPLES / "demo-script.txt").read_text(encoding="utf-8").splitlines()

    async def lines() -> AsyncIterator[str]:
        for line in script:
            yield line

    out = io.StringIO()
    with caplog.at_level(logging.WARNING):
        await play(load_settings({}), lines, out, folder=tmp_path)

    expected = (EXAMPLES / "demo-transcript.txt").read_text(encoding="utf-8")
    assert out.getvalue() == expected
    assert "欢迎您，赵小红" in expected  # greeted by the invite's name
    assert "您还没有注册" in expected  # the stranger refused
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
