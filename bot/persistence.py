"""Guided flows survive restarts: python-telegram-bot's persistence backed by the store.

What is stored (``storage.persistence``, tables in ``0003_state.sql``):

- the state of every open conversation of a *persistent* ``ConversationHandler`` (one with
  ``name=`` and ``persistent=True``; :func:`check_conversations` reports any other),
  with the flow's time-out deadline and the update that set the state;
- ``user_data`` and ``chat_data`` (flows keep their drafts there), pickled;
- not ``bot_data``: :class:`~bot.context.BotData` holds live objects (the open store, the
  services, the catalog), rebuilt at every start; not ``callback_data`` (no arbitrary callback
  data is used).

When it is written. python-telegram-bot calls the persistence only from
``Application.update_persistence``, which it runs every ``update_interval`` seconds and at
shutdown; a ``kill -9`` would lose up to a minute of flows. :class:`PersistingApplication`
therefore awaits ``update_persistence()`` at the end of every ``process_update``: the
``update_*`` methods collect the changes and :meth:`StorePersistence.commit` writes them in
one transaction. So by the time ``process_update`` returns — before the next update of that
chat is handled, and before the intake marks the update done — the chat's flow state and data
are in the store. Data that did not change since the last write is not written again. The
interval flush (every ``UPDATE_INTERVAL`` seconds) still catches what jobs change, e.g. a flow
ended by its time-out.

Handled twice. The intake marks an update done only after ``process_update`` returned; a kill
between the flush and that mark hands the update over again at start-up, and a flow would take
the same answer twice (as the answer to its next step). So the same transaction records, in the
chat's data under ``HANDLED_KEY``, the id of the last update of that chat it covers, and
:class:`PersistingApplication` skips an update whose id is not above the mark restored at
start-up: its effects are stored already.

Time-outs. python-telegram-bot arms a conversation's time-out as a JobQueue job when an update
moves the flow, and forgets it with the process; restored conversations would never time out.
When a state is written, the deadline (the app clock's now + ``conversation_timeout``) and the
update kept by the flow's timeout job are written with it; :func:`rearm_timeouts` (run at
start-up, after ``initialize`` has restored the conversations) schedules for each restored flow
the same job ``ConversationHandler`` itself would have — its ``_trigger_timeout`` with the
restored update — due at the stored deadline (at once when it has passed), so the flow ends
with its ``TIMEOUT`` handlers exactly as without the restart.
"""

from __future__ import annotations

import asyncio
import json
import logging
import pickle
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.ext import (
    Application,
    BasePersistence,
    ConversationHandler,
    Job,
    PersistenceInput,
)
from telegram.ext._handlers.conversationhandler import _ConversationTimeoutContext
from telegram.ext._utils.types import CDCData, ConversationDict, ConversationKey

from bot.clock import Clock
from storage import persistence as repo
from storage.db import Database, Migration, Writer

log = logging.getLogger(__name__)

# Seconds between python-telegram-bot's own flushes; each update flushes anyway (see above).
UPDATE_INTERVAL = 5.0

# chat_data key: the id of the chat's last update whose effects are in the store.
HANDLED_KEY = "_handled_update_id"

UserData = dict[Any, Any]
ChatData = dict[Any, Any]
AfterUpdate = Callable[[object], Awaitable[None]]
Write = Callable[[Writer], Awaitable[None]]


class Store:
    """Opens the store once, on first use, for whoever needs it first.

    ``Application.initialize`` loads the persistence before ``post_init`` runs, so the
    persistence and the services must share one lazily opened :class:`Database` (one writer).
    """

    def __init__(self, path: Path, migrations: tuple[Migration, ...] = ()) -> None:
        self.path = path
        self._migrations = migrations
        self._db: Database | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> Database:
        """The open, migrated store."""
        async with self._lock:
            if self._db is None:
                db = await Database.open(self.path)
                try:
                    await db.migrate(self._migrations)
                except BaseException:
                    await db.close()
                    raise
                self._db = db
            return self._db

    @property
    def is_open(self) -> bool:
        return self._db is not None

    async def close(self) -> None:
        async with self._lock:
            if self._db is not None:
                db, self._db = self._db, None
                await db.close()


class StorePersistence(BasePersistence[UserData, ChatData, Any]):
    """Conversations, ``user_data`` and ``chat_data`` in the store, written through."""

    def __init__(self, store: Store, clock: Clock) -> None:
        super().__init__(
            store_data=PersistenceInput(
                bot_data=False, chat_data=True, user_data=True, callback_data=False
            ),
            update_interval=UPDATE_INTERVAL,
        )
        self.store = store
        self.clock = clock
        self._handlers: dict[str, ConversationHandler[Any]] = {}
        # What was last written per owner, so unchanged data costs no write.
        self._written: dict[tuple[str, int], bytes] = {}
        # Changes collected by update_* since the last commit, written as one transaction.
        self._writes: list[Write] = []
        self._wrote: dict[tuple[str, int], bytes | None] = {}
        # Chats whose data changed only in HANDLED_KEY: written with the next real change, as
        # the mark matters only for updates whose effects were stored.
        self._marks: dict[int, Write] = {}

    def watch(self, handler: ConversationHandler[Any]) -> None:
        """Know a persistent flow by name, to store its time-out deadline with its state."""
        if handler.name is not None:
            self._handlers[handler.name] = handler

    # --- loading ------------------------------------------------------------------------------

    async def get_user_data(self) -> dict[int, UserData]:
        return await self._load("user_data")

    async def get_chat_data(self) -> dict[int, ChatData]:
        return await self._load("chat_data")

    async def get_bot_data(self) -> Any:
        raise NotImplementedError("bot_data holds live objects and is never persisted")

    async def get_callback_data(self) -> CDCData | None:
        return None

    async def get_conversations(self, name: str) -> ConversationDict:
        db = await self.store.get()
        return {
            _key_from_json(row.key): json.loads(row.state)
            for row in await repo.conversations(db, name)
        }

    # --- writing through ----------------------------------------------------------------------

    async def update_conversation(
        self, name: str, key: ConversationKey, new_state: object | None
    ) -> None:
        key_json = json.dumps(list(key))
        if new_state is None:
            self._writes.append(lambda tx: repo.end_conversation(tx, name, key_json))
            return
        deadline, last_update = self._timeout_of(name, key)
        state, at = json.dumps(new_state), self.clock.now()
        self._writes.append(
            lambda tx: repo.save_conversation(
                tx, name, key_json, state, deadline=deadline, last_update=last_update, at=at
            )
        )

    async def update_user_data(self, user_id: int, data: UserData) -> None:
        self._save("user_data", user_id, data)

    async def update_chat_data(self, chat_id: int, data: ChatData) -> None:
        self._save("chat_data", chat_id, data)

    async def update_bot_data(self, data: Any) -> None:
        """Never called: ``store_data.bot_data`` is False."""

    async def update_callback_data(self, data: CDCData) -> None:
        """Never called: ``store_data.callback_data`` is False."""

    async def drop_chat_data(self, chat_id: int) -> None:
        self._drop("chat_data", chat_id)

    async def drop_user_data(self, user_id: int) -> None:
        self._drop("user_data", user_id)

    async def refresh_user_data(self, user_id: int, user_data: UserData) -> None:
        """Nothing to do: this process is the only writer, memory is always current."""

    async def refresh_chat_data(self, chat_id: int, chat_data: ChatData) -> None:
        """Nothing to do: this process is the only writer, memory is always current."""

    async def refresh_bot_data(self, bot_data: Any) -> None:
        """Never called: ``store_data.bot_data`` is False."""

    async def flush(self) -> None:
        """Write what is collected (python-telegram-bot calls this at shutdown)."""
        await self.commit()

    async def commit(self) -> None:
        """Write every change collected since the last commit, in one transaction."""
        if not self._writes:
            return
        writes, self._writes = [*self._marks.values(), *self._writes], []
        wrote, self._wrote = self._wrote, {}
        self._marks = {}
        if not self.store.is_open:
            # Shutdown after the store was closed: every update was flushed when it was handled.
            log.warning("%d persistence write(s) after the store was closed; skipped", len(writes))
            return
        try:
            db = await self.store.get()
            async with db.transaction() as tx:
                for write in writes:
                    await write(tx)
        except BaseException:
            # Kept for the next commit, in order, ahead of anything collected meanwhile.
            self._writes = writes + self._writes
            self._wrote = {**wrote, **self._wrote}
            raise
        for owner, blob in wrote.items():
            if blob is None:
                self._written.pop(owner, None)
            else:
                self._written[owner] = blob

    # --- internals ----------------------------------------------------------------------------

    async def _load(self, table: str) -> dict[int, dict[Any, Any]]:
        db = await self.store.get()
        loaded: dict[int, dict[Any, Any]] = {}
        for owner, blob in (await repo.all_data(db, table)).items():
            try:
                value = pickle.loads(blob)  # written by us, owner-only
            except Exception:
                log.exception("unreadable %s of %s; starting it empty", table, owner)
                continue
            if isinstance(value, dict):
                loaded[owner] = value
                self._written[(table, owner)] = _significant(table, value, blob)
        return loaded

    def _save(self, table: str, owner: int, data: dict[Any, Any]) -> None:
        try:
            blob = pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:
            log.exception("%s of %s cannot be stored; keep only plain values there", table, owner)
            return
        known = (table, owner)
        significant = _significant(table, data, blob)
        last = self._wrote[known] if known in self._wrote else self._written.get(known)
        at = self.clock.now()
        write: Write = lambda tx: repo.save_data(tx, table, owner, blob, at)  # noqa: E731
        if last == significant or (not data and last is None):
            # Unchanged, or an empty dict python-telegram-bot created on access.
            if table == "chat_data" and HANDLED_KEY in data:
                self._marks[owner] = write
            return
        self._writes.append(write)
        self._wrote[known] = significant
        if table == "chat_data":
            self._marks.pop(owner, None)

    def _drop(self, table: str, owner: int) -> None:
        self._writes.append(lambda tx: repo.drop_data(tx, table, owner))
        self._wrote[(table, owner)] = None

    def _timeout_of(self, name: str, key: ConversationKey) -> tuple[datetime | None, str | None]:
        """The deadline and update of the flow's armed time-out, if it has one."""
        handler = self._handlers.get(name)
        timeout = handler.conversation_timeout if handler is not None else None
        if handler is None or timeout is None:
            return None, None
        if not isinstance(timeout, timedelta):
            timeout = timedelta(seconds=timeout)
        job = handler.timeout_jobs.get(key)
        data = job.data if job is not None else None
        update = getattr(data, "update", None)
        if not isinstance(update, Update):
            return None, None
        return self.clock.now() + timeout, json.dumps(update.to_dict())


class PersistingApplication(Application[Any, Any, Any, Any, Any, Any]):
    """The Application, flushing the persistence after every update it handles.

    ``after_update`` callables run after that, with the update (tests use it to know an update
    is handled and stored).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.after_update: list[AfterUpdate] = []
        self._flush_lock = asyncio.Lock()
        # Only updates handed over again after a restart are compared with these marks.
        self._restored_marks: dict[int, int] = {}

    async def process_update(self, update: object) -> None:
        chat_id = _chat_of(update)
        update_id = update.update_id if isinstance(update, Update) else None
        handled = self._restored_marks.get(chat_id) if chat_id is not None else None
        if handled is not None and update_id is not None and update_id <= handled:
            log.info("update %s was handled and stored before the restart; skipped", update_id)
        else:
            try:
                await super().process_update(update)
            finally:
                if chat_id is not None and update_id is not None and self._tracks_chats():
                    self.chat_data[chat_id][HANDLED_KEY] = update_id
                    self.mark_data_for_update_persistence(chat_ids=chat_id)
                try:
                    await self.update_persistence()
                except Exception:
                    # Kept for the next flush; the update itself was handled and answered.
                    log.exception("could not store the flows after update %s", update_id)
        for hook in self.after_update:
            await hook(update)

    async def update_persistence(self) -> None:
        """python-telegram-bot's collection of changes, then one transaction writing them."""
        async with self._flush_lock:
            await super().update_persistence()
            if isinstance(self.persistence, StorePersistence):
                await self.persistence.commit()

    async def initialize(self) -> None:
        """Also note, per chat, the last update whose effects were stored before a restart."""
        await super().initialize()
        if self._tracks_chats():
            self._restored_marks = {
                chat_id: mark
                for chat_id, data in self.chat_data.items()
                if isinstance(mark := data.get(HANDLED_KEY), int)
            }

    def _tracks_chats(self) -> bool:
        return self.persistence is not None and self.persistence.store_data.chat_data

    async def shutdown(self) -> None:
        """Also close the store, should ``post_shutdown`` not have run (tests, failed starts)."""
        await super().shutdown()
        if isinstance(self.persistence, StorePersistence):
            await self.persistence.store.close()


def persistent_conversations(
    app: Application[Any, Any, Any, Any, Any, Any],
) -> Iterator[ConversationHandler[Any]]:
    """Every ``ConversationHandler`` registered, in any group."""
    for group in app.handlers.values():
        for handler in group:
            if isinstance(handler, ConversationHandler):
                yield handler


def check_conversations(app: Application[Any, Any, Any, Any, Any, Any]) -> list[str]:
    """Remember the persistent flows; log (and return) any a restart would forget.

    ``tests/state`` fails on a flow returned here; start-up only logs it, so that a flow still
    being written does not stop the bot.
    """
    persistence = app.persistence
    forgotten: list[str] = []
    for handler in persistent_conversations(app):
        if not (handler.persistent and handler.name):
            forgotten.append(handler.name or repr(handler))
            log.error(
                "ConversationHandler %s is not persistent: build it with name= and"
                " persistent=True (docs/architecture.md, Guided flows)",
                handler.name or handler,
            )
        elif isinstance(persistence, StorePersistence):
            persistence.watch(handler)
    return forgotten


async def rearm_timeouts(app: Application[Any, Any, Any, Any, Any, Any]) -> int:
    """Schedule the time-out of every flow restored from the store; return how many.

    Run after ``initialize`` (which restored the conversations) and before the first update.
    """
    persistence = app.persistence
    if not isinstance(persistence, StorePersistence) or app.job_queue is None:
        return 0
    db = await persistence.store.get()
    armed = 0
    for handler in persistent_conversations(app):
        if handler.conversation_timeout is None or handler.name is None:
            continue
        for row in await repo.conversations(db, handler.name):
            if row.deadline is None or row.last_update is None:
                continue
            key = _key_from_json(row.key)
            if key in handler.timeout_jobs:
                continue  # an update already moved this flow since start-up
            update = Update.de_json(json.loads(row.last_update), app.bot)
            context = app.context_types.context.from_update(update, app)
            await context.refresh_data()
            due = max(row.deadline - persistence.clock.now(), timedelta(0))
            job: Job[Any] = app.job_queue.run_once(
                _timeout_then_flush(handler),
                due,
                data=_ConversationTimeoutContext(key, update, app, context),
                name=f"rearmed-timeout:{handler.name}:{row.key}",
            )
            handler.timeout_jobs[key] = job
            armed += 1
    if armed:
        log.info("re-armed %d flow time-out(s) restored from the store", armed)
    return armed


def _timeout_then_flush(
    handler: ConversationHandler[Any],
) -> Callable[[Any], Coroutine[Any, Any, None]]:
    """The handler's own time-out, then a flush so the ended flow leaves the store at once."""

    async def fire(context: Any) -> None:
        # The very job ConversationHandler._schedule_job would have armed.
        await handler._trigger_timeout(context)
        await context.application.update_persistence()

    return fire


def _key_from_json(text: str) -> ConversationKey:
    return tuple(json.loads(text))


def _chat_of(update: object) -> int | None:
    if isinstance(update, Update) and update.effective_chat is not None:
        return update.effective_chat.id
    return None


def _significant(table: str, data: dict[Any, Any], blob: bytes) -> bytes:
    """What decides whether data changed: all of it but the chat's handled-update mark."""
    if table != "chat_data" or HANDLED_KEY not in data:
        return blob
    rest = {k: v for k, v in data.items() if k != HANDLED_KEY}
    return pickle.dumps(rest, protocol=pickle.HIGHEST_PROTOCOL)
