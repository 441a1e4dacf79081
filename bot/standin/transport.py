"""python-telegram-bot's request layer wired straight to :class:`FakeTelegram`, no sockets.

Unit tests hand a :class:`StandinRequest` to ``telegram.Bot``/``ApplicationBuilder`` so that the
real library code builds, encodes and decodes every call, and only the network is skipped. The
parameters reach the stand-in exactly as python-telegram-bot would put them on the wire.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import unquote, urlsplit

from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

from bot.standin.api import FakeTelegram
from bot.standin.faults import ConnectionDropped


class StandinRequest(BaseRequest):
    """A request backend whose "server" is a FakeTelegram in the same event loop."""

    def __init__(self, api: FakeTelegram, *, read_timeout: float | None = 5.0) -> None:
        self.api = api
        self._read_timeout = read_timeout

    @property
    def read_timeout(self) -> float | None:
        """How long a call may take before TimedOut; getUpdates adds its long-poll timeout."""
        return self._read_timeout

    async def initialize(self) -> None:
        """Nothing to open: there is no connection pool."""

    async def shutdown(self) -> None:
        """Nothing to close."""

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
        """Answer a Bot API call or a file download the way the HTTP server would."""
        path = unquote(urlsplit(url).path)
        if "/file/bot" in path:
            token, _, file_path = path.split("/file/bot", 1)[1].partition("/")
            data = self.api.file_bytes(file_path) if token == self.api.token else None
            if data is None:
                return 404, json.dumps(
                    {"ok": False, "error_code": 404, "description": "Not Found"}
                ).encode()
            return 200, data
        token, _, api_method = path.rsplit("/bot", 1)[1].partition("/")
        params = request_data.json_parameters if request_data else {}
        files = {
            name: (filename, content if isinstance(content, bytes) else content.read())
            for name, (filename, content, _mime) in (
                request_data.multipart_data if request_data else {}
            ).items()
        }
        call = self.api.call(api_method, params, files, token=token)
        timeout = read_timeout if isinstance(read_timeout, int | float) else self._read_timeout
        try:
            status, body = await asyncio.wait_for(call, timeout)
        except TimeoutError as exc:
            raise TimedOut("Timed out waiting for the stand-in's answer") from exc
        except ConnectionDropped as exc:
            raise NetworkError("Server disconnected without sending a response") from exc
        return status, json.dumps(body, ensure_ascii=False).encode()
