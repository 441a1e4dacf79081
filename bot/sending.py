"""Sends that survive failures: the retry policy, long texts, blocked chats, resumed deliveries.

Every Bot API call except ``getUpdates`` passes :class:`RetryingRateLimiter`, python-telegram-bot's
``AIORateLimiter`` (Telegram's overall 30 messages/s and 20/min per group) with the project's
retry policy around it. Outcomes, by what the call raised (python-telegram-bot's exception tree)::

    TelegramError
     ├── RetryAfter (429)    wait ``retry_after`` (every other call waits too), then retry;
     │                       at most ``RetryPolicy.rate_limit_retries`` times
     ├── Forbidden (403)     never retried; the chat is recorded as blocked, the error raised
     │                       (``send_text`` and ``say`` swallow it: the handler goes on)
     ├── NetworkError        5xx answers (python-telegram-bot raises NetworkError for any status
     │    │                  it has no class for), dropped connections: retried with bounded
     │    │                  exponential back-off and jitter, at most ``network_retries`` times
     │    ├── TimedOut       the same
     │    └── BadRequest     never retried; except that on a *retry* after an ambiguous failure
     │                       (the first attempt may have taken effect), "message is not
     │                       modified" and its kin mean the earlier attempt did the work
     └── anything else       raised as is

Retrying a call that failed after Telegram performed it (a 5xx after the fact, a connection
lost on the way back) sends the message twice: replies are at least once, at most twice for
one such fault. Waiting uses an injected ``sleep`` and jitter an injected ``random.Random``, so
tests never wait on the wall clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from telegram import InlineKeyboardMarkup, Message, ReplyKeyboardMarkup
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter
from telegram.ext import AIORateLimiter, Application, ExtBot

from bot.services.deliveries import DeliveryService

log = logging.getLogger(__name__)

JSONResult = bool | dict[str, Any] | list[dict[str, Any]]

# Telegram's limit on a message's text, in UTF-16 code units after entity parsing.
MAX_MESSAGE = 4096

# Refusals that, on a retry after an ambiguous failure, mean the first attempt succeeded.
_ALREADY_DONE = (
    "message is not modified",
    "query is too old",
    "message to delete not found",
)


class BlockedChats(Protocol):
    """Where the limiter reports refusals (403) and successes per chat."""

    async def record_blocked(self, chat_id: int, reason: str) -> None: ...

    async def record_reachable(self, chat_id: int) -> None: ...


async def _wall_sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


@dataclass
class RetryPolicy:
    """How often and how long to retry; ``sleep`` and ``rng`` are injectable for tests."""

    rate_limit_retries: int = 3
    network_retries: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0
    sleep: Callable[[float], Awaitable[None]] = _wall_sleep
    rng: random.Random = field(default_factory=random.Random)

    def backoff(self, attempt: int) -> float:
        """Delay before retry number ``attempt`` (0-based): exponential, capped, half-jittered."""
        ceiling = min(self.max_delay, self.base_delay * 2.0**attempt)
        jitter: float = self.rng.uniform(0, ceiling / 2)
        return ceiling / 2 + jitter


class RetryingRateLimiter(AIORateLimiter):
    """``AIORateLimiter`` plus the retry policy above; ``blocked`` is attached at start-up."""

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        overall_max_rate: float = 30,
        group_max_rate: float = 20,
    ) -> None:
        # The parent's own 429 loop would sleep on the wall clock: it gets no retries, ours waits.
        super().__init__(
            overall_max_rate=overall_max_rate, group_max_rate=group_max_rate, max_retries=0
        )
        self.policy = policy or RetryPolicy()
        self.blocked: BlockedChats | None = None
        self._open = asyncio.Event()
        self._open.set()
        self._pausing = 0

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, JSONResult]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> JSONResult:
        async def gated(*a: Any, **k: Any) -> JSONResult:
            await self._open.wait()  # nobody calls while a 429 is being waited out
            return await callback(*a, **k)

        chat_id = _chat_id(data)
        limited = network = 0
        ambiguous = False
        while True:
            try:
                result = await super().process_request(
                    gated, args, kwargs, endpoint, data, rate_limit_args=None
                )
            except RetryAfter as exc:
                if limited >= self.policy.rate_limit_retries:
                    log.error("%s: still rate limited after %d retries", endpoint, limited)
                    raise
                limited += 1
                await self._pause(_seconds(exc) + 0.1)
                continue
            except Forbidden as exc:
                if chat_id is not None:
                    await self._report(chat_id, str(exc.message))
                raise
            except BadRequest as exc:
                if ambiguous and any(p in exc.message.lower() for p in _ALREADY_DONE):
                    log.info("%s: done by the earlier attempt (%s)", endpoint, exc.message)
                    return True
                raise
            except NetworkError as exc:
                if network >= self.policy.network_retries:
                    log.error("%s: giving up after %d retries: %s", endpoint, network, exc)
                    raise
                delay = self.policy.backoff(network)
                network += 1
                ambiguous = True
                log.info("%s: %s; retry %d in %.2fs", endpoint, exc, network, delay)
                await self.policy.sleep(delay)
                continue
            if chat_id is not None and self.blocked is not None:
                with contextlib.suppress(Exception):
                    await self.blocked.record_reachable(chat_id)
            return result

    async def _pause(self, seconds: float) -> None:
        """Hold every call back for ``seconds``: a 429 is about the bot, not this one chat."""
        self._pausing += 1
        self._open.clear()
        try:
            await self.policy.sleep(seconds)
        finally:
            self._pausing -= 1
            if self._pausing == 0:
                self._open.set()

    async def _report(self, chat_id: int, reason: str) -> None:
        if self.blocked is None:
            return
        try:
            await self.blocked.record_blocked(chat_id, reason)
        except Exception:
            log.exception("could not record chat %s as blocked", chat_id)


def _seconds(exc: RetryAfter) -> float:
    value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _chat_id(data: dict[str, Any]) -> int | None:
    try:
        return int(data["chat_id"])
    except (KeyError, TypeError, ValueError):
        return None


async def attach_blocked_chats(
    app: Application[Any, Any, Any, Any, Any, Any], deliveries: DeliveryService
) -> None:
    """Let the limiter record refusals in the store (done at start-up, once it is open).

    The blocked chats are read now, so that a successful send costs no read afterwards.
    """
    await deliveries.blocked()
    bot = app.bot
    limiter = bot.rate_limiter if isinstance(bot, ExtBot) else None
    if isinstance(limiter, RetryingRateLimiter):
        limiter.blocked = deliveries


# --- long texts ---------------------------------------------------------------------------


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_html(text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Cut an HTML message into messages of at most ``limit``, each well-formed on its own.

    Lines are kept whole where they fit, joined back with their newlines; a cut never falls
    inside a tag or an entity (``&amp;``). A line longer than the limit is cut hard; an element
    open at a cut (a line inside ``<pre>``, say) is closed before it and reopened after it.
    Parts with nothing visible are dropped. Measured on the raw HTML, which is never shorter
    than the text Telegram counts.
    """
    if utf16_len(text) <= limit:
        return [text] if _visible(text) else []
    parts: list[str] = []
    current: list[str] = []  # tokens of the part being built
    size = 0
    stack: list[tuple[str, str]] = []  # (name, opening tag) of elements open at this point
    last_break: int | None = None  # index in ``current`` after a newline, for a clean cut

    def closers(open_elements: list[tuple[str, str]]) -> int:
        return sum(len(name) + 3 for name, _ in open_elements)

    def finish(upto: int) -> None:
        nonlocal current, size, last_break
        head, tail = current[:upto], current[upto:]
        # ``current`` starts with the tags reopened after the previous cut, so replaying
        # ``head`` tells which elements are open at this cut.
        open_at = _open_after(head)
        while head and head[-1] == "\n":
            head.pop()
        piece = "".join(head) + "".join(f"</{name}>" for name, _ in reversed(open_at))
        if _visible(piece):
            parts.append(piece)
        prefix = [tag for _, tag in open_at]
        while tail and tail[0] == "\n":
            tail.pop(0)
        current = prefix + tail
        size = sum(utf16_len(t) for t in current)
        last_break = None

    for token in _tokens(text):
        _track(stack, token)
        length = utf16_len(token)
        if size + length + closers(stack) > limit and current:
            finish(last_break if last_break else len(current))
        current.append(token)
        size += length
        if token == "\n":
            last_break = len(current)
    if current:
        finish(len(current))
    return parts


def _tokens(text: str) -> list[str]:
    """Tags, entities, newlines and single characters: the units a cut may fall between."""
    tokens: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        end = -1
        if char == "<":
            end = text.find(">", i)
        elif char == "&":
            end = text.find(";", i)
            if end - i > 10:
                end = -1
        if end > i:
            tokens.append(text[i : end + 1])
            i = end + 1
        else:
            tokens.append(char)
            i += 1
    return tokens


def _track(stack: list[tuple[str, str]], token: str) -> None:
    if not (token.startswith("<") and token.endswith(">")) or len(token) < 3:
        return
    if token.startswith("</"):
        name = token[2:-1].strip().lower()
        for i in range(len(stack) - 1, -1, -1):
            if stack[i][0] == name:
                del stack[i:]
                break
    elif not token.endswith("/>"):
        name = token[1:-1].split(None, 1)[0].lower() if token[1:-1].strip() else ""
        if name:
            stack.append((name, token))


def _open_after(tokens: list[str]) -> list[tuple[str, str]]:
    stack: list[tuple[str, str]] = []
    for token in tokens:
        _track(stack, token)
    return stack


def _visible(html: str) -> bool:
    """Whether any text remains once tags are removed (Telegram refuses empty messages)."""
    return any(not (t.startswith("<") and t.endswith(">")) and t.strip() for t in _tokens(html))


async def send_text(
    bot: ExtBot[Any],
    chat_id: int,
    text: str,
    *,
    markup: ReplyKeyboardMarkup | InlineKeyboardMarkup | None = None,
) -> Message | None:
    """Send an HTML text, split into as many messages as it needs; the markup goes on the last.

    Returns the last message, or None when the chat refuses the bot (already recorded by the
    limiter) — a handler or job goes on as if the message had been sent.
    """
    parts = split_html(text)
    sent: Message | None = None
    try:
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            sent = await bot.send_message(chat_id, part, reply_markup=markup if last else None)
    except Forbidden:
        log.info("chat %s refuses the bot's messages; not sent", chat_id)
        return None
    return sent


async def resume_deliveries(app: Application[Any, Any, Any, Any, Any, Any]) -> int:
    """At start-up, send again what a crash left 'sending'; return how many were sent."""
    services = app.bot_data.services
    deliveries: DeliveryService = services.deliveries
    resent = 0
    for delivery in await deliveries.pending():
        if delivery.text is None:
            continue  # its author resends it (it named no text to keep)
        text, chat_id = delivery.text, delivery.chat_id

        async def send(text: str = text, chat_id: int = chat_id) -> None:
            await _send_or_raise(app.bot, chat_id, text)

        try:
            if await deliveries.send_once(delivery.key, chat_id, send, text=text):
                resent += 1
        except BadRequest:
            log.exception("delivery %s refused by Telegram; given up", delivery.key)
            await deliveries.give_up(delivery.key)
        except NetworkError:
            log.exception("delivery %s still failing; kept for the next start", delivery.key)
    return resent


async def _send_or_raise(bot: ExtBot[Any], chat_id: int, text: str) -> None:
    for part in split_html(text):
        await bot.send_message(chat_id, part)
