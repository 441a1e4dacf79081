"""The stand-in served over HTTP/1.1, for end-to-end tests and the ``zhucun demo`` playground.

The bot then talks to it through its real HTTP stack (httpx, proxies settings aside) by pointing
``base_url``/``base_file_url`` at :attr:`StandinServer.base_url`/:attr:`StandinServer.file_url`.
It understands what python-telegram-bot and curl send: form-encoded, multipart and JSON bodies,
query strings, keep-alive. A dropped-connection fault closes the socket without an answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from bot.standin.api import FakeTelegram, JsonDict
from bot.standin.faults import ConnectionDropped

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


class _MalformedRequestError(Exception):
    """The HTTP request itself is unreadable; answered with 400 and the connection closed."""


class StandinServer:
    """Serves a FakeTelegram on 127.0.0.1; port 0 picks a free port."""

    def __init__(self, api: FakeTelegram, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.api = api
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._stopping = False

    @property
    def base_url(self) -> str:
        """For ``telegram.Bot(base_url=...)`` / ``ZHUCUN_API_BASE_URL``."""
        return f"http://{self.host}:{self.port}/bot"

    @property
    def file_url(self) -> str:
        """For ``telegram.Bot(base_file_url=...)`` / ``ZHUCUN_API_FILE_URL``."""
        return f"http://{self.host}:{self.port}/file/bot"

    async def start(self) -> None:
        self._stopping = False
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and end open connections, long polls included."""
        self._stopping = True
        if self._server is not None:
            self._server.close()
        tasks = list(self._connections)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> StandinServer:
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
        assert task is not None  # start_server runs each connection in its own task
        self._connections.add(task)
        try:
            while await self._one_exchange(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            # Our own stop(): end quietly, asyncio reports a cancelled connection task as an error.
            if not self._stopping:
                raise
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _one_exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Handle one request; False ends the connection."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                raise
            return False  # the client closed an idle keep-alive connection
        try:
            method, target, version, headers = _parse_head(head)
            body = await _read_body(reader, headers)
        except _MalformedRequestError as exc:
            await _respond(writer, 400, b"text/plain", str(exc).encode(), keep_alive=False)
            return False
        keep_alive = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        url = urlsplit(target)
        path = unquote(url.path)
        if path.startswith("/file/bot"):
            token, _, file_path = path.removeprefix("/file/bot").partition("/")
            data = self.api.file_bytes(file_path) if token == self.api.token else None
            if data is None or method not in {"GET", "HEAD"}:
                await _respond_json(writer, 404, _not_found(), keep_alive)
            else:
                await _respond(writer, 200, b"application/octet-stream", data, keep_alive)
            return keep_alive
        if not path.startswith("/bot") or method not in {"GET", "POST"}:
            await _respond_json(writer, 404, _not_found(), keep_alive)
            return keep_alive
        token, _, api_method = path.removeprefix("/bot").partition("/")
        try:
            params, files = _parameters(url.query, headers.get("content-type", ""), body)
        except _MalformedRequestError as exc:
            body_json: JsonDict = {"ok": False, "error_code": 400, "description": str(exc)}
            await _respond_json(writer, 400, body_json, keep_alive)
            return keep_alive
        try:
            status, answer = await self.api.call(api_method, params, files, token=token)
        except ConnectionDropped:
            writer.transport.abort()
            return False
        await _respond_json(writer, status, answer, keep_alive)
        return keep_alive


def _parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    try:
        method, target, version = lines[0].split(" ")
    except ValueError:
        raise _MalformedRequestError("malformed request line") from None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, sep, value = line.partition(":")
            if not sep:
                raise _MalformedRequestError("malformed header")
            headers[name.strip().lower()] = value.strip()
    return method.upper(), target, version, headers


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks: list[bytes] = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            try:
                size = int(size_line.split(b";")[0].strip(), 16)
            except ValueError:
                raise _MalformedRequestError("malformed chunk size") from None
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass  # trailers carry nothing the Bot API uses
                return b"".join(chunks)
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        raise _MalformedRequestError("malformed Content-Length") from None
    return await reader.readexactly(length) if length > 0 else b""


def _parameters(
    query: str, content_type: str, body: bytes
) -> tuple[dict[str, str], dict[str, tuple[str, bytes]]]:
    """Wire parameters and uploaded parts, whichever way the client encoded them."""
    params = dict(parse_qsl(query, keep_blank_values=True))
    files: dict[str, tuple[str, bytes]] = {}
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    elif kind == "application/json" and body:
        try:
            decoded: Any = json.loads(body)
        except ValueError:
            raise _MalformedRequestError("Bad Request: can't parse JSON body") from None
        if not isinstance(decoded, dict):
            raise _MalformedRequestError("Bad Request: the JSON body must be an object")
        for name, value in decoded.items():
            params[name] = value if isinstance(value, str) else json.dumps(value)
    elif kind == "multipart/form-data":
        message = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
        )
        if not message.is_multipart():
            raise _MalformedRequestError("Bad Request: malformed multipart body")
        for part in message.iter_parts():
            assert isinstance(part, Message)
            name = part.get_param("name", header="content-disposition")
            if not isinstance(name, str):
                continue
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
            filename = part.get_filename()
            if filename is None:
                params[name] = data.decode(part.get_content_charset() or "utf-8")
            else:
                files[name] = (filename, data)
    return params, files


def _not_found() -> JsonDict:
    return {"ok": False, "error_code": 404, "description": "Not Found"}


async def _respond_json(
    writer: asyncio.StreamWriter, status: int, body: JsonDict, keep_alive: bool
) -> None:
    payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
    await _respond(writer, status, b"application/json", payload, keep_alive)


async def _respond(
    writer: asyncio.StreamWriter, status: int, content_type: bytes, body: bytes, keep_alive: bool
) -> None:
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n"
    ).encode("latin-1")
    writer.write(head + b"Content-Type: " + content_type + b"\r\n\r\n" + body)
    await writer.drain()


class WebhookDelivery:
    """Telegram's side of a webhook: POST each pending update to the set URL until it gets 200.

    Telegram calls only HTTPS URLs; ``forward_to`` (``http://host:port``) plays the reverse
    proxy in front of the bot, so the update goes there, to the webhook URL's path. Updates go
    one at a time in order, with ``X-Telegram-Bot-Api-Secret-Token`` when a secret was set; an
    answer other than 200 (or none) keeps the update pending and it is delivered again after
    ``retry_delay`` seconds. Every attempt is in :attr:`FakeTelegram.webhook_deliveries`.
    """

    def __init__(self, api: FakeTelegram, forward_to: str, *, retry_delay: float = 0.05) -> None:
        self.api = api
        self.forward_to = urlsplit(forward_to)
        self.retry_delay = retry_delay
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> WebhookDelivery:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            url = str(self.api.webhook.get("url") or "")
            pending = self.api.pending_updates
            if not url or not pending:
                await self.api.wait_for_updates()
                continue
            update = pending[0]
            status, error = await self._post(urlsplit(url).path or "/", update)
            self.api.webhook_answered(update["update_id"], status, error)
            if status != 200:
                await asyncio.sleep(self.retry_delay)

    async def _post(self, path: str, update: JsonDict) -> tuple[int, str | None]:
        body = json.dumps(update, ensure_ascii=False).encode("utf-8")
        host = self.forward_to.hostname or "127.0.0.1"
        head = [
            f"POST {path} HTTP/1.1",
            f"Host: {host}",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            "Connection: close",
        ]
        secret = self.api.webhook.get("secret_token")
        if secret:
            head.append(f"X-Telegram-Bot-Api-Secret-Token: {secret}")
        try:
            reader, writer = await asyncio.open_connection(host, self.forward_to.port or 80)
        except OSError as exc:
            return 0, f"Connection refused: {exc}"
        try:
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
            await writer.drain()
            status_line = await reader.readline()
            await reader.read()  # the rest of the answer; the connection closes after it
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            return 0, f"Connection lost: {exc}"
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        try:
            return int(status_line.split()[1]), None
        except (IndexError, ValueError):
            return 0, "Wrong response from the webhook"
