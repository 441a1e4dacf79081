"""The held-out questions of bench/policy_questions.toml still find their answers (a floor;
``python -m bench.policy`` reports the real figures)."""

from __future__ import annotations

from pathlib import Path

from bench.policy import evaluate, load_questions, starter_store
from bot.clock import SystemClock
from bot.services.policies import PolicyService

FLOOR_RECALL3 = 0.85


async def test_heldout_recall_at_3(tmp_path: Path) -> None:
    db = await starter_store(tmp_path)
    try:
        quality = await evaluate(PolicyService(db, SystemClock()), load_questions(), "heldout")
    finally:
        await db.close()
    assert quality.questions >= 30
    assert quality.recall3 >= FLOOR_RECALL3, quality.misses
