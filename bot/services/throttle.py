"""Rate limits against guessing invite codes and scraping household cards.

Both are counted in the store, so a restart resets nothing: failed ``/start <code>`` attempts in
their own table, card reads from the audit log (every read is audited anyway). Beyond the limit
the service raises ``Forbidden`` with a message saying how long to wait.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.errors import Forbidden
from storage import audit
from storage import throttle as repo
from storage.db import Database

START_FAILURES = 5
START_WINDOW = timedelta(hours=1)
CARD_READS = 60
CARD_WINDOW = timedelta(hours=1)
CARD_READ_ACTION = "household.read"


class Throttle:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def check_start(self, telegram_user_id: int) -> None:
        """Refuse another ``/start <code>`` after ``START_FAILURES`` failures within the hour."""
        now = self._clock.now()
        failures = await repo.start_failures_since(self._db, telegram_user_id, now - START_WINDOW)
        if len(failures) >= START_FAILURES:
            raise Forbidden(
                "security.start_throttled",
                minutes=_minutes_until(failures[-START_FAILURES] + START_WINDOW, now),
            )

    async def start_failed(self, telegram_user_id: int) -> None:
        now = self._clock.now()
        await repo.record_start_failure(
            self._db, telegram_user_id, now, forget_before=now - START_WINDOW * 24
        )

    async def check_card_read(self, member_id: int) -> None:
        """Refuse a card read after ``CARD_READS`` audited reads by the member within the hour."""
        now = self._clock.now()
        reads = await repo.audited_since(
            self._db, audit.member_actor(member_id), CARD_READ_ACTION, now - CARD_WINDOW
        )
        if len(reads) >= CARD_READS:
            raise Forbidden(
                "security.card_throttled",
                limit=CARD_READS,
                minutes=_minutes_until(reads[-CARD_READS] + CARD_WINDOW, now),
            )


def _minutes_until(when: datetime, now: datetime) -> int:
    return max(1, math.ceil((when - now).total_seconds() / 60))
