"""Important messages at least once, and the chats that refuse the bot's messages.

``send_once`` records a delivery as 'sending' before the call and 'sent' after it. A crash in
between leaves 'sending' behind; :meth:`DeliveryService.pending` lists those at start-up so they
are sent again — at most once more per crash, never once per restart after they were sent. The
Telegram call itself is a callable handed in: this module knows nothing of Telegram.

A chat is recorded as blocked when the Bot API refused a send with 403 (the edge reports it
through :meth:`DeliveryService.record_blocked`); the next successful send clears it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bot.clock import Clock
from storage import deliveries as repo
from storage.db import Database
from storage.deliveries import Delivery, DeliveryStatus

__all__ = ["Delivery", "DeliveryService", "DeliveryStatus", "delivery_key"]

log = logging.getLogger(__name__)


def delivery_key(kind: str, chat_id: int, subject: str) -> str:
    """The name of one important message: its kind, its recipient, and its day or entity."""
    return f"{kind}:{chat_id}:{subject}"


class DeliveryService:
    """At-least-once sends and the blocked-chat record; one per process."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._blocked: dict[int, str] | None = None

    async def send_once(
        self,
        key: str,
        chat_id: int,
        send: Callable[[], Awaitable[Any]],
        *,
        text: str | None = None,
    ) -> bool:
        """Send unless already sent; True when ``send`` completed now.

        ``text`` is kept so that a delivery interrupted by a crash can be resent at start-up
        without its author. A chat known to refuse messages is not tried (status 'blocked');
        when ``send`` raises, the delivery stays 'sending' for the next start-up, except that a
        refusal recorded as blocked during the call ends it as 'blocked' and returns False.
        """
        if await self.is_blocked(chat_id):
            await self._skip_blocked(key, chat_id, text)
            return False
        started = await repo.begin(self._db, key, chat_id, text, self._clock.now())
        if started is None:
            return False
        try:
            await send()
        except Exception:
            if await self.is_blocked(chat_id):
                await repo.finish(self._db, key, DeliveryStatus.BLOCKED, self._clock.now())
                return False
            raise
        await repo.finish(self._db, key, DeliveryStatus.SENT, self._clock.now())
        return True

    async def give_up(self, key: str) -> None:
        """A delivery that can never succeed (Telegram refused its content): stop resending."""
        await repo.finish(self._db, key, DeliveryStatus.FAILED, self._clock.now())

    async def get(self, key: str) -> Delivery | None:
        return await repo.get(self._db, key)

    async def pending(self) -> list[Delivery]:
        """Deliveries a crash (or an exhausted retry) left 'sending', to resend at start-up."""
        return await repo.pending(self._db)

    async def is_blocked(self, chat_id: int) -> bool:
        return chat_id in await self._blocked_chats()

    async def blocked(self) -> dict[int, str]:
        """Blocked chats and the refusal that recorded each."""
        return dict(await self._blocked_chats())

    async def record_blocked(self, chat_id: int, reason: str) -> None:
        """The Bot API refused a send to this chat with 403."""
        known = await self._blocked_chats()
        if known.get(chat_id) == reason:
            return
        await repo.block(self._db, chat_id, reason, self._clock.now())
        known[chat_id] = reason
        log.info("chat %s refuses the bot's messages: %s", chat_id, reason)

    async def record_reachable(self, chat_id: int) -> None:
        """A send to this chat succeeded; forget an earlier refusal (cheap when there was none)."""
        known = await self._blocked_chats()
        if chat_id in known:
            await repo.unblock(self._db, chat_id)
            known.pop(chat_id, None)

    async def _blocked_chats(self) -> dict[int, str]:
        if self._blocked is None:
            self._blocked = await repo.blocked_chats(self._db)
        return self._blocked

    async def _skip_blocked(self, key: str, chat_id: int, text: str | None) -> None:
        started = await repo.begin(self._db, key, chat_id, text, self._clock.now())
        if started is not None:
            await repo.finish(self._db, key, DeliveryStatus.BLOCKED, self._clock.now())
