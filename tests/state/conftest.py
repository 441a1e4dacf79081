"""A retry policy that never waits on the wall clock: sleeps are recorded, jitter is seeded."""

from __future__ import annotations

import random

import pytest

from bot.sending import RetryingRateLimiter, RetryPolicy


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def limiter(sleeps: Sleeps) -> RetryingRateLimiter:
    """No 30 messages/s pacing either: tests send hundreds of messages at once."""
    return RetryingRateLimiter(
        RetryPolicy(sleep=sleeps, rng=random.Random(7)), overall_max_rate=0, group_max_rate=0
    )
