"""Webhook mode end-to-end: the stand-in delivers by webhook to the bot's own server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.app import ALLOWED_UPDATES, build_application, serving
from bot.cli import main
from bot.clock import FixedClock
from bot.config import load_settings
from bot.context import ZhucunApp
from bot.intake import Intake
from bot.standin.api import FakeTelegram
from bot.standin.server import StandinServer, WebhookDelivery
from bot.webhook import MAX_BODY, WebhookServer, intake_of, webhook_mode
from storage import inbox
from storage.db import Database
from tests.e2e import REPLY_TIMEOUT, seed_store
from tests.harness import START, TOKEN, persona, settings_for

SECRET = "s3cret_webhook-Token"
PUBLIC_URL = "https://bot.example.org/tg-hook"


@dataclass
class WebhookBot:
    app: ZhucunApp
    api: FakeTelegram
    server: WebhookServer
    intake: Intake


@asynccontextmanager
async def webhook_bot(tmp_path: Path, api: FakeTelegram | None = None) -> AsyncIterator[WebhookBot]:
    """The real bot in webhook mode; the stand-in serves the Bot API and delivers by webhook."""
    clock = FixedClock(START)
    env = settings_for(tmp_path)
    await seed_store(Path(env["ZHUCUN_DB"]), clock)
    api = api or FakeTelegram(TOKEN, clock=clock)
    async with StandinServer(api) as standin:
        settings = load_settings(
            {
                **env,
                "ZHUCUN_API_BASE_URL": standin.base_url,
                "ZHUCUN_API_FILE_URL": standin.file_url,
                "ZHUCUN_WEBHOOK_SECRET": SECRET,
            }
        )
        app = build_application(settings, clock=clock, daily_jobs=False)
        async with (
            serving(app),
            webhook_mode(app, url=PUBLIC_URL, secret=SECRET) as server,
            WebhookDelivery(api, f"http://{server.host}:{server.port}", retry_delay=0.01),
        ):
            yield WebhookBot(app, api, server, intake_of(app))


async def post(
    server: WebhookServer,
    body: bytes,
    *,
    secret: str | None = SECRET,
    method: str = "POST",
    path: str | None = None,
) -> int:
    """One raw HTTP request to the bot's webhook server; the status it answered."""
    reader, writer = await asyncio.open_connection(server.host, server.port)
    head = [
        f"{method} {path or server.path} HTTP/1.1",
        "Host: localhost",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Connection: close",
    ]
    if secret is not None:
        head.append(f"X-Telegram-Bot-Api-Secret-Token: {secret}")
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
    await writer.drain()
    status_line = await reader.readline()
    # A refused oversized body is not read: the server hangs up on the rest of it.
    with contextlib.suppress(ConnectionResetError):
        await reader.read()
    writer.close()
    with contextlib.suppress(ConnectionResetError):
        await writer.wait_closed()
    return int(status_line.split()[1])


async def settled(api: FakeTelegram) -> None:
    """Wait until Telegram has its 200 for everything (it may come back after the reply)."""
    async with asyncio.timeout(REPLY_TIMEOUT):
        while api.pending_updates:
            await api.wait_for_updates()


async def stored_ids(intake: Intake) -> list[int]:
    return [item.update_id for item in await inbox.undone(intake.db)] + [
        uid for uid in range(1, 50) if await intake.is_done(uid)
    ]


async def test_webhook_mode_registers_and_answers_updates(tmp_path: Path) -> None:
    async with webhook_bot(tmp_path) as bot:
        [call] = bot.api.calls_to("setWebhook")
        assert call.ok
        assert call.params["url"] == PUBLIC_URL
        assert call.params["secret_token"] == SECRET
        assert call.params["allowed_updates"] == list(ALLOWED_UPDATES)
        assert not call.params.get("drop_pending_updates")
        member = persona("member")
        bot.api.add_user(member.telegram_id)
        bot.api.command(member.telegram_id, "me")
        async with asyncio.timeout(REPLY_TIMEOUT):
            await bot.api.wait_for_message_to(member.telegram_id)
        assert member.name in bot.api.texts_to(member.telegram_id)[-1]
        await settled(bot.api)
        assert bot.api.webhook_deliveries == [(1, 200)]
        assert bot.api.pending_updates == []
        assert not bot.api.calls_to("getUpdates")
        assert all(c.ok for c in bot.api.calls)


async def test_a_wrong_or_missing_secret_is_refused_and_nothing_stored(tmp_path: Path) -> None:
    async with webhook_bot(tmp_path) as bot:
        update = json.dumps(
            {"update_id": 7, "message": {"message_id": 1, "date": 0, "chat": {"id": 1}}}
        ).encode()
        assert await post(bot.server, update, secret="wrong") == 403
        assert await post(bot.server, update, secret=None) == 403
        assert await post(bot.server, update, secret=SECRET + "x") == 403
        assert await post(bot.server, update, method="GET") == 405
        assert await post(bot.server, update, path="/elsewhere") == 404
        assert await post(bot.server, b"x" * (MAX_BODY + 1)) == 413
        assert await post(bot.server, b"not json") == 400
        assert await post(bot.server, b'{"no": "update_id"}') == 400
        assert await stored_ids(bot.intake) == []


async def test_the_stand_in_redelivers_until_the_answer_is_200(tmp_path: Path) -> None:
    async with webhook_bot(tmp_path) as bot:
        member = persona("member")
        bot.api.add_user(member.telegram_id)
        bot.api.webhook["secret_token"] = "not-the-bot-s-secret"  # a misconfigured proxy
        bot.api.command(member.telegram_id, "me")
        async with asyncio.timeout(REPLY_TIMEOUT):
            while len(bot.api.webhook_deliveries) < 3:
                await bot.api.wait_for_updates()
        assert {status for _, status in bot.api.webhook_deliveries} == {403}
        assert len(bot.api.pending_updates) == 1
        assert await stored_ids(bot.intake) == []
        info = await bot.app.bot.get_webhook_info()
        assert info.pending_update_count == 1
        assert info.last_error_message
        bot.api.webhook["secret_token"] = SECRET  # fixed: the next redelivery gets through
        async with asyncio.timeout(REPLY_TIMEOUT):
            await bot.api.wait_for_message_to(member.telegram_id)
        await settled(bot.api)
        assert bot.api.webhook_deliveries[-1] == (1, 200)
        assert len(bot.api.texts_to(member.telegram_id)) == 1


async def test_a_redelivered_update_is_handled_once(tmp_path: Path) -> None:
    async with webhook_bot(tmp_path) as bot:
        member = persona("member")
        bot.api.add_user(member.telegram_id)
        update = bot.api.command(member.telegram_id, "me")
        async with asyncio.timeout(REPLY_TIMEOUT):
            await bot.api.wait_for_message_to(member.telegram_id)
        body = json.dumps(update, ensure_ascii=False).encode()
        assert await post(bot.server, body) == 200  # Telegram lost our 200 and sends it again
        assert await post(bot.server, body) == 200
        await bot.app.update_queue.join()
        assert len(bot.api.texts_to(member.telegram_id)) == 1


async def test_an_update_stored_before_a_crash_is_handled_after_restart(tmp_path: Path) -> None:
    """Stored and answered 200, then the process ends before handling: the restart handles it."""
    clock = FixedClock(START)
    env = settings_for(tmp_path)
    await seed_store(Path(env["ZHUCUN_DB"]), clock)
    api = FakeTelegram(TOKEN, clock=clock)
    member = persona("member")
    api.add_user(member.telegram_id)
    async with StandinServer(api) as standin:
        settings = load_settings(
            {
                **env,
                "ZHUCUN_API_BASE_URL": standin.base_url,
                "ZHUCUN_API_FILE_URL": standin.file_url,
            }
        )
        first = build_application(settings, clock=clock, daily_jobs=False)
        # Initialized with the store open, but never started: nothing takes updates off the queue.
        await first.initialize()
        assert first.post_init is not None and first.post_shutdown is not None
        await first.post_init(first)
        async with WebhookServer(first, intake_of(first), secret=SECRET) as server:
            update = api.command(member.telegram_id, "me")
            assert await post(server, json.dumps(update).encode()) == 200
        assert [i.update_id for i in await inbox.undone(intake_of(first).db)] == [1]
        await first.post_shutdown(first)
        await first.shutdown()  # the "crash": the queued update dies with the process
        assert api.texts_to(member.telegram_id) == []

        second = build_application(settings, clock=clock, daily_jobs=False)
        async with serving(second), webhook_mode(second, url=PUBLIC_URL, secret=SECRET):
            async with asyncio.timeout(REPLY_TIMEOUT):
                await api.wait_for_message_to(member.telegram_id)
            await second.update_queue.join()
            assert await intake_of(second).is_done(1)
        assert len(api.texts_to(member.telegram_id)) == 1


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("ZHUCUN_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ZHUCUN_DB", str(tmp_path / "zhucun.db"))
    monkeypatch.setenv("ZHUCUN_BOT_TOKEN", TOKEN)
    return tmp_path


def test_webhook_mode_without_a_secret_says_so_in_one_line(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["run", "--webhook", PUBLIC_URL, "--listen", "127.0.0.1", "--port", "8443"])
    err = capsys.readouterr().err
    assert caught.value.code == 2
    assert [line for line in err.splitlines() if line.strip()] == [err.strip()]
    assert "ZHUCUN_WEBHOOK_SECRET" in err
    assert not (env / "zhucun.db").exists()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _start_cli(env: dict[str, str], port: int, log: Path) -> asyncio.subprocess.Process:
    """``zhucun run --webhook`` in its own process; returns once it says it is serving."""
    with log.open("ab") as errors:
        process = await _spawn(env, port, errors.fileno(), log.parent)
    assert process.stdout is not None
    async with asyncio.timeout(REPLY_TIMEOUT * 2):
        line = await process.stdout.readline()
    assert line.startswith(b"webhook:"), line
    return process


async def _spawn(
    env: dict[str, str], port: int, stderr: int, cwd: Path
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from bot.cli import main; main()",
        "run",
        "--webhook",
        PUBLIC_URL,
        "--listen",
        "127.0.0.1",
        "--port",
        str(port),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=stderr,
        cwd=str(cwd),
    )


async def test_the_cli_serves_the_webhook_and_a_killed_bot_loses_nothing(tmp_path: Path) -> None:
    clock = FixedClock(START)
    settings_env = settings_for(tmp_path)
    await seed_store(Path(settings_env["ZHUCUN_DB"]), clock)
    api = FakeTelegram(TOKEN, clock=clock)
    member = persona("member")
    api.add_user(member.telegram_id)
    port = _free_port()
    log = tmp_path / "bot.log"
    async with StandinServer(api) as standin:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("ZHUCUN_")},
            **settings_env,
            "ZHUCUN_API_BASE_URL": standin.base_url,
            "ZHUCUN_API_FILE_URL": standin.file_url,
            "ZHUCUN_WEBHOOK_SECRET": SECRET,
            "ZHUCUN_REMIND_TIME": "",
        }
        bot = await _start_cli(env, port, log)
        try:
            async with WebhookDelivery(api, f"http://127.0.0.1:{port}", retry_delay=0.05):
                api.command(member.telegram_id, "me")
                async with asyncio.timeout(REPLY_TIMEOUT):
                    await api.wait_for_message_to(member.telegram_id, 1)
                bot.kill()  # SIGKILL: no clean shutdown
                await bot.wait()
                # Delivered while the bot is down: refused at the door, kept by Telegram.
                api.command(member.telegram_id, "help")
                async with asyncio.timeout(REPLY_TIMEOUT):
                    while not any(status == 0 for _, status in api.webhook_deliveries):
                        await api.wait_for_updates()
                bot = await _start_cli(env, port, log)
                async with asyncio.timeout(REPLY_TIMEOUT):
                    await api.wait_for_message_to(member.telegram_id, 2)
                    while api.pending_updates:  # the 200 may come back after the reply
                        await api.wait_for_updates()
        finally:
            if bot.returncode is None:
                bot.terminate()
                assert await bot.wait() == 0, log.read_text()
    # At least once: a kill right after the /me reply, before it was marked done, may repeat it.
    assert len(api.texts_to(member.telegram_id)) in (2, 3)
    assert api.pending_updates == []
    db = await Database.open(Path(settings_env["ZHUCUN_DB"]))
    try:
        assert await inbox.undone(db) == []
    finally:
        await db.close()
    assert [c.ok for c in api.calls_to("setWebhook")] == [True, True]
    assert SECRET not in log.read_text() and TOKEN not in log.read_text()
