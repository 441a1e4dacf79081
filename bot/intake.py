"""Durable intake: an update is in the store before Telegram is told it arrived.

python-telegram-bot's polling confirms updates (the next ``getUpdates`` offset) as soon as it has
fetched them, before they are handled, so a killed process would lose its backlog. Here:

1. :class:`StoringHTTPXRequest` (or :class:`StoringUpdatesRequest` around an injected request)
   is the ``getUpdates`` request. When a call returns, every
   update in it is written to the inbox (``storage.inbox``) in one transaction *before* the
   response reaches the Updater. The Updater confirms with its next ``getUpdates``, which cannot
   start before this one has returned, so nothing is confirmed that is not stored. Should the
   store fail, the call fails as a ``NetworkError``, the Updater retries with the same offset and
   Telegram keeps the updates.
2. :class:`InboxProcessor` wraps the update processor: an update already done is skipped (it was
   handed over again because its confirmation was lost), any other is handled and then marked
   done — also when a handler raised, since the error handler has answered by then; not when
   the handling was cancelled.
3. :meth:`Intake.replay` queues, at start-up and before polling, every stored update not yet
   done, in ``update_id`` order, into the Application's update queue, so that they go through the
   same processor, ahead of anything fetched later. An update that was stored but not confirmed
   comes back from Telegram as well; it waits in the same chat lane behind its replayed copy and
   is then skipped as done.

The guarantee is at least once: an update whose handler finished but which was not yet marked
done when the process died is handled again. Entries are unique on their source message, so
that creates nothing twice; only a reply may be sent twice.

Webhook mode stores with :meth:`Intake.store` from its own HTTP server before answering Telegram.
Done rows are pruned ``KEEP_DONE`` after they were handled (Telegram keeps an unconfirmed update
for 24 hours, so a week is far beyond any re-delivery): when the store is attached at start-up,
then at most every ``PRUNE_EVERY`` while storing.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Awaitable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from telegram import Update
from telegram._utils.types import ODVInput
from telegram.ext import Application, BaseUpdateProcessor
from telegram.request import BaseRequest, HTTPXRequest, RequestData

from bot.clock import Clock
from storage import inbox
from storage.db import Database
from storage.inbox import InboxItem

KEEP_DONE = timedelta(days=7)
PRUNE_EVERY = timedelta(hours=1)

_LOGGER = logging.getLogger(__name__)


def chat_of(payload: Mapping[str, Any]) -> int | None:
    """The chat an update (as Telegram's JSON) belongs to, else its sender; None if neither."""
    for kind, value in payload.items():
        if kind == "update_id" or not isinstance(value, Mapping):
            continue
        for holder in (value, value.get("message")):
            if isinstance(holder, Mapping) and isinstance(holder.get("chat"), Mapping):
                chat_id = holder["chat"].get("id")
                if isinstance(chat_id, int):
                    return chat_id
        sender = value.get("from") or value.get("user")
        if isinstance(sender, Mapping) and isinstance(sender.get("id"), int):
            return int(sender["id"])
    return None


def inbox_items(payloads: Iterable[Mapping[str, Any]]) -> list[InboxItem]:
    """Inbox rows for updates as Telegram sent them."""
    return [
        InboxItem(update_id=int(p["update_id"]), chat_id=chat_of(p), payload=dict(p))
        for p in payloads
    ]


class Intake:
    """The inbox as the pipeline sees it; the store is attached in ``post_init``."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._db: Database | None = None
        self._pruned_at: datetime | None = None
        # Updates this process stored as new and has not yet marked done: not done, surely, so
        # asking the store (a hop to its thread, on every update) can be skipped for them.
        self._fresh: set[int] = set()

    @property
    def db(self) -> Database:
        if self._db is None:
            raise RuntimeError("the inbox is usable only while the store is open")
        return self._db

    async def attach(self, db: Database) -> None:
        """Use this store from now on; prune old done rows."""
        self._db = db
        await self._prune()

    def detach(self) -> None:
        self._db = None
        self._fresh.clear()

    async def store(self, payloads: Iterable[Mapping[str, Any]]) -> list[int]:
        """Keep updates (Telegram's JSON) before they are confirmed; return the ids new here."""
        items = inbox_items(payloads)
        new = await inbox.store(self.db, items, received_at=self.clock.now())
        self._fresh.update(new)
        if self._pruned_at is None or self.clock.now() - self._pruned_at >= PRUNE_EVERY:
            await self._prune()
        return new

    async def is_done(self, update_id: int) -> bool:
        if update_id in self._fresh:
            return False
        return await inbox.is_done(self.db, update_id)

    async def done(self, update_id: int) -> None:
        await inbox.mark_done(self.db, update_id, at=self.clock.now())
        self._fresh.discard(update_id)

    async def replay(self, app: Application[Any, Any, Any, Any, Any, Any]) -> int:
        """Queue every stored, undone update into ``app`` ahead of polling; return how many."""
        pending = await inbox.undone(self.db)
        for item in pending:
            await app.update_queue.put(Update.de_json(item.payload, app.bot))
        if pending:
            _LOGGER.info("Replaying %d updates stored but not handled before", len(pending))
        return len(pending)

    async def _prune(self) -> None:
        now = self.clock.now()
        self._pruned_at = now
        removed = await inbox.prune(self.db, done_before=now - KEEP_DONE)
        if removed:
            _LOGGER.info("Pruned %d handled updates from the inbox", removed)


class StoringUpdatesRequest(BaseRequest):
    """The ``getUpdates`` request: what Telegram hands over is stored before it is returned."""

    def __init__(self, inner: BaseRequest, intake: Intake) -> None:
        self.inner = inner
        self.intake = intake

    @property
    def read_timeout(self) -> float | None:
        return self.inner.read_timeout

    async def initialize(self) -> None:
        await self.inner.initialize()

    async def shutdown(self) -> None:
        await self.inner.shutdown()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        code, payload = await self.inner.do_request(
            url=url,
            method=method,
            request_data=request_data,
            read_timeout=read_timeout,
            write_timeout=write_timeout,
            connect_timeout=connect_timeout,
            pool_timeout=pool_timeout,
        )
        await store_fetched(self.intake, url, code, payload)
        return code, payload


class StoringHTTPXRequest(HTTPXRequest):
    """python-telegram-bot's own HTTP request for ``getUpdates``, storing like the wrapper."""

    def __init__(self, intake: Intake, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.intake = intake

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        code, payload = await super().do_request(
            url=url,
            method=method,
            request_data=request_data,
            read_timeout=read_timeout,
            write_timeout=write_timeout,
            connect_timeout=connect_timeout,
            pool_timeout=pool_timeout,
        )
        await store_fetched(self.intake, url, code, payload)
        return code, payload


async def store_fetched(intake: Intake, url: str, code: int, payload: bytes) -> None:
    """Store the updates of a successful ``getUpdates`` answer before anyone else sees it."""
    if 200 <= code <= 299 and url.rstrip("/").endswith("/getUpdates"):
        updates = _updates_in(payload)
        if updates:
            await intake.store(updates)


def _updates_in(payload: bytes) -> list[Mapping[str, Any]]:
    """The updates of a successful getUpdates body; anything malformed is PTB's to refuse."""
    try:
        body = json.loads(payload)
    except ValueError:
        return []
    result = body.get("result") if isinstance(body, dict) and body.get("ok") else None
    if not isinstance(result, list):
        return []
    return [u for u in result if isinstance(u, dict) and isinstance(u.get("update_id"), int)]


class InboxProcessor(BaseUpdateProcessor):
    """Wraps the real processor: skip updates already done, mark the others done when handled."""

    def __init__(self, inner: BaseUpdateProcessor, intake: Intake) -> None:
        super().__init__(inner.max_concurrent_updates)
        self.inner = inner
        self.intake = intake

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        # The check and the mark run inside the inner processor's turn for the update, so a
        # replayed update and its re-delivered copy (same chat lane) never run side by side.
        await self.inner.do_process_update(update, self._handled(update, coroutine))

    async def _handled(self, update: object, coroutine: Awaitable[Any]) -> None:
        if not isinstance(update, Update):
            await coroutine
            return
        if await self.intake.is_done(update.update_id):
            _LOGGER.debug("Update %d was handled before; skipped", update.update_id)
            if inspect.iscoroutine(coroutine):
                coroutine.close()
            return
        try:
            await coroutine
        except Exception:
            await self.intake.done(update.update_id)
            raise
        await self.intake.done(update.update_id)

    async def initialize(self) -> None:
        await self.inner.initialize()

    async def shutdown(self) -> None:
        await self.inner.shutdown()
