"""Bots wired to a fresh stand-in, in-process and over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import telegram

from bot.standin import FakeTelegram, FaultPlan, StandinRequest
from bot.standin.server import StandinServer


@pytest.fixture
def faults() -> FaultPlan:
    return FaultPlan()


@pytest.fixture
def api(faults: FaultPlan) -> FakeTelegram:
    telegram_api = FakeTelegram(faults=faults)
    telegram_api.add_user(42, first_name="王芳")
    return telegram_api


@pytest.fixture
async def bot(api: FakeTelegram) -> AsyncIterator[telegram.Bot]:
    async with telegram.Bot(
        api.token, request=StandinRequest(api), get_updates_request=StandinRequest(api)
    ) as in_process:
        yield in_process


@pytest.fixture
async def server(api: FakeTelegram) -> AsyncIterator[StandinServer]:
    async with StandinServer(api) as running:
        yield running


@pytest.fixture
async def http_bot(api: FakeTelegram, server: StandinServer) -> AsyncIterator[telegram.Bot]:
    async with telegram.Bot(
        api.token, base_url=server.base_url, base_file_url=server.file_url
    ) as over_http:
        yield over_http


@pytest.fixture(params=["bot", "http_bot"])
def any_bot(request: pytest.FixtureRequest) -> telegram.Bot:
    """The same test through both transports."""
    chosen: telegram.Bot = request.getfixturevalue(request.param)
    return chosen
