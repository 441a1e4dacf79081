"""Handle different chats at once while each chat's updates keep the order they arrived in.

python-telegram-bot's default processor handles one update at a time, so at 9 a.m. every cadre of
a township waits behind everybody else's check-in and Telegram's answer to it. Its concurrent
mode runs everything at once, which breaks ``ConversationHandler`` (two steps of one flow race)
and the order people see their answers in. :class:`ChatOrderedProcessor` sits in between:

- updates of one chat (the effective chat, or the user when there is no chat) run one after
  another, in the order the Application handed them over;
- updates of different chats run concurrently, at most ``concurrency`` handlers at a time;
- an update with neither chat nor user runs in a lane of its own.

How the order is kept: PTB gives every update its own task, in arrival order, and each task
enters :meth:`ChatOrderedProcessor.do_process_update` without suspending on the way (the base
class's semaphore is sized so it never blocks, see ``ADMIT_ALL``). The first thing that method
does, before any ``await``, is to queue itself behind its chat's previous update. The bound on
concurrency is applied only once an update's turn in its chat has come, so updates waiting
behind their own chat never take a slot from other chats.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
from collections.abc import Awaitable, Hashable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

DEFAULT_CONCURRENCY = 64

# The base class wraps ``do_process_update`` in a semaphore of ``max_concurrent_updates``. Were it
# ever to block, tasks would wake in an order of the event loop's choosing, not arrival order, and
# updates waiting for their chat would hold its slots. So it admits everything; the real bound is
# our own semaphore. (Pending updates cost one task each either way: PTB creates the tasks up
# front whenever ``max_concurrent_updates > 1``.)
ADMIT_ALL = sys.maxsize


def chat_key(update: object) -> Hashable:
    """The lane an update queues in: its chat id, else its user id, else a lane of its own."""
    if isinstance(update, Update):
        if update.effective_chat is not None:
            return update.effective_chat.id
        if update.effective_user is not None:
            # A private chat's id is its user's id, so a user's chat-less updates (inline
            # callbacks) queue with that user's private chat.
            return update.effective_user.id
    return object()


class ChatOrderedProcessor(BaseUpdateProcessor):
    """Per-chat FIFO, concurrent across chats, at most ``concurrency`` handlers running."""

    def __init__(self, concurrency: int = DEFAULT_CONCURRENCY) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be a positive integer")
        super().__init__(ADMIT_ALL)
        self._concurrency = concurrency
        self._slots = asyncio.Semaphore(concurrency)
        # The last update queued in each lane; resolved when it has finished.
        self._tails: dict[Hashable, asyncio.Future[None]] = {}

    @property
    def concurrency(self) -> int:
        """How many handlers may run at once."""
        return self._concurrency

    @property
    def busy_lanes(self) -> int:
        """Lanes with an update running or queued (a snapshot, for tests and logs)."""
        return len(self._tails)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = chat_key(update)
        previous = self._tails.get(key)
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._tails[key] = turn
        started = False
        try:
            if previous is not None:
                # shield: being cancelled while waiting must not cancel the predecessor's future.
                await asyncio.shield(previous)
            async with self._slots:
                started = True
                await coroutine
        finally:
            if not started and inspect.iscoroutine(coroutine):
                coroutine.close()  # cancelled before its turn; never awaited is no warning
            self._release(key, turn, previous)

    def _release(
        self, key: Hashable, turn: asyncio.Future[None], previous: asyncio.Future[None] | None
    ) -> None:
        """Let the next update of the lane go, but never before its predecessor went."""

        def finish(_: object = None) -> None:
            if not turn.done():
                turn.set_result(None)
            if self._tails.get(key) is turn:
                del self._tails[key]

        if previous is None or previous.done():
            finish()
        else:  # only after a cancellation: keep the lane's order anyway
            previous.add_done_callback(finish)

    async def initialize(self) -> None:
        """Nothing to allocate."""

    async def shutdown(self) -> None:
        """Nothing to free: PTB waits for the update tasks before it shuts processors down."""
