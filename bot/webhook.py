"""Webhook mode: a small HTTP server that answers Telegram only once an update is stored.

python-telegram-bot's own webhook server answers 200 as soon as the update is queued, so a crash
before handling would lose it. Here, as in python-telegram-bot's custom-webhook example, our own
server (asyncio streams, no new dependency) receives each POST and:

1. refuses anything but ``POST`` on the webhook path (404/405), a body over ``MAX_BODY`` (413),
   and a missing or wrong ``X-Telegram-Bot-Api-Secret-Token`` (403) — nothing is stored then;
2. stores the update in the inbox (:meth:`bot.intake.Intake.store`) and only then answers 200;
   should the store fail, the answer is 500 and Telegram delivers the update again;
3. puts an update new to the inbox into ``app.update_queue``, the same pipeline polling feeds
   (``InboxProcessor`` skips one already done, so a redelivered copy is handled once).

Telegram delivers only to HTTPS on ports 443, 80, 88 or 8443: the server listens on plain HTTP
behind a reverse proxy (README), and :func:`webhook_mode` registers the public URL with
``setWebhook`` at start, asking only for ``ALLOWED_UPDATES``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from telegram import Update

from bot.context import ZhucunApp
from bot.intake import InboxProcessor, Intake
from bot.logging_setup import install_redaction

SECRET_HEADER = "x-telegram-bot-api-secret-token"
# Telegram's updates are a few kilobytes; a megabyte leaves room and bounds what a stranger costs.
MAX_BODY = 1024 * 1024
MAX_HEAD = 16 * 1024
READ_TIMEOUT = 30.0

_REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Payload Too Large",
    500: "Internal Server Error",
}

_LOGGER = logging.getLogger(__name__)


class WebhookServer:
    """Receives Telegram's POSTs on ``path``; stores each update before answering 200."""

    def __init__(
        self,
        app: ZhucunApp,
        intake: Intake,
        *,
        secret: str,
        path: str = "/",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if not secret:
            raise ValueError("the webhook secret must not be empty")
        self.app = app
        self.intake = intake
        self.secret = secret.encode("ascii")
        self.path = path or "/"
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        """Where the reverse proxy forwards to (plain HTTP on the listening address)."""
        return f"http://{self.host}:{self.port}{self.path}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = list(self._connections)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> WebhookServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while await self._one_exchange(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except TimeoutError:
            pass
        except asyncio.CancelledError:
            pass  # our own stop()
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _one_exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        try:
            async with asyncio.timeout(READ_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                raise
            return False
        if len(head) > MAX_HEAD:
            await _respond(writer, 400, False)
            return False
        parsed = _parse_head(head)
        if parsed is None:
            await _respond(writer, 400, False)
            return False
        method, target, version, headers = parsed
        keep_alive = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        if "transfer-encoding" in headers:
            await _respond(writer, 411, False)  # Telegram sends Content-Length
            return False
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            await _respond(writer, 400, False)
            return False
        if length < 0 or length > MAX_BODY:
            await _respond(writer, 413, False)
            return False
        async with asyncio.timeout(READ_TIMEOUT):
            body = await reader.readexactly(length) if length else b""
        status = await self._answer(method, urlsplit(target).path, headers, body)
        await _respond(writer, status, keep_alive)
        return keep_alive

    async def _answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> int:
        """The HTTP status for one request; 200 only once the update is stored."""
        if path != self.path:
            return 404
        if method != "POST":
            return 405
        given = headers.get(SECRET_HEADER, "").encode("latin-1")
        if not hmac.compare_digest(given, self.secret):
            _LOGGER.warning("webhook request refused: missing or wrong secret token")
            return 403
        payload = _update_in(body)
        if payload is None:
            return 400
        try:
            new = await self.intake.store([payload])
        except Exception:
            _LOGGER.exception("could not store update %s; Telegram retries", payload["update_id"])
            return 500
        if new:
            await self.app.update_queue.put(Update.de_json(payload, self.app.bot))
        return 200


def _update_in(body: bytes) -> dict[str, Any] | None:
    try:
        decoded = json.loads(body)
    except ValueError:
        return None
    if not isinstance(decoded, dict):
        return None
    update_id = decoded.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        return None
    return decoded


def _parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]] | None:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        return None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, sep, value = line.partition(":")
            if not sep:
                return None
            headers[name.strip().lower()] = value.strip()
    return parts[0].upper(), parts[1], parts[2], headers


async def _respond(writer: asyncio.StreamWriter, status: int, keep_alive: bool) -> None:
    body = b"" if status == 200 else _REASONS.get(status, "Error").encode("ascii")
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Content-Type: text/plain\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    ).encode("latin-1")
    writer.write(head + body)
    await writer.drain()


def intake_of(app: ZhucunApp) -> Intake:
    """The inbox the Application's processor marks done (``build_application`` puts it there)."""
    processor = app.update_processor
    if not isinstance(processor, InboxProcessor):
        raise RuntimeError("the Application was not built by build_application")
    return processor.intake


@asynccontextmanager
async def webhook_mode(
    app: ZhucunApp,
    *,
    url: str,
    secret: str,
    listen: str = "127.0.0.1",
    port: int = 0,
    allowed_updates: list[str] | None = None,
) -> AsyncIterator[WebhookServer]:
    """Serve the webhook for a started Application and register ``url`` with Telegram.

    The local path is the public URL's path (the reverse proxy forwards it unchanged).
    """
    from bot.app import ALLOWED_UPDATES

    install_redaction([secret])
    path = urlsplit(url).path or "/"
    server = WebhookServer(app, intake_of(app), secret=secret, path=path, host=listen, port=port)
    async with server:
        await app.bot.set_webhook(
            url=url,
            secret_token=secret,
            allowed_updates=allowed_updates if allowed_updates is not None else ALLOWED_UPDATES,
            drop_pending_updates=False,
        )
        yield server
