"""The bot token never reaches a log: not in messages, arguments, nor formatted tracebacks."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.logging_setup import REDACTED, Redactor, install_redaction
from bot.models import Role
from bot.sample import SAMPLE_ACTOR
from bot.services.members import MemberService
from tests.harness import TOKEN, persona, running

LOGGERS = ("", "telegram", "telegram.ext", "httpx", "httpcore", "aiosqlite", "bot", "handlers")
OTHER_TOKEN = "987654321:ZZHdqTcvCH1vGWJxfSeofSAs0K5PALDsXYZ"


def _capture_everything(caplog: pytest.LogCaptureFixture) -> None:
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)


def _leaks(caplog: pytest.LogCaptureFixture, secret: str) -> list[str]:
    found = [r.getMessage() for r in caplog.records if secret in r.getMessage()]
    found += [r.exc_text for r in caplog.records if r.exc_text and secret in r.exc_text]
    found += [r.stack_info for r in caplog.records if r.stack_info and secret in r.stack_info]
    if secret in caplog.text:
        found.append("caplog.text")
    return found


async def test_a_whole_session_never_logs_the_token(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    _capture_everything(caplog)
    newcomer = 5001
    async with running(tmp_path) as bot:
        # Python-telegram-bot's own objects print the token in their repr.
        assert TOKEN in repr(bot.app)
        logging.getLogger("telegram.ext").debug("application %r bot %s", bot.app, bot.app.bot)

        invite = await bot.services.invites.create(
            role=Role.MEMBER, region_code="511902101001", name="黄新人", operator=SAMPLE_ACTOR
        )
        await bot.command(newcomer, "start", invite.code)
        await bot.command(newcomer, "me")
        await bot.command(persona("secretary"), "help")
        await bot.text(persona("member"), "你好")

        # An unexpected failure whose message carries the token: the error handler logs it.
        async def boom(self: MemberService, telegram_user_id: int) -> None:
            raise RuntimeError(f"request to https://api.telegram.org/bot{TOKEN}/getMe failed")

        monkeypatch.setattr(MemberService, "identify", boom)
        replies = await bot.command(persona("member"), "me")
        assert replies  # the member still gets the localized "something went wrong"
        monkeypatch.undo()

        # The store itself failing: every handler raises on its first read.
        await bot.services.db.close()
        replies = await bot.command(persona("member"), "me")
        assert replies
        # post_shutdown closes it again; give it a fresh one so the harness can finish.
        from storage.db import Database

        bot.app.bot_data.services = type(bot.services).create(
            await Database.open(bot.services.db.path), bot.clock, bot.app.bot_data.settings
        )

    errors = [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]
    assert len(errors) >= 2, "the error paths were logged with their tracebacks"
    assert any(REDACTED in (r.exc_text or "") for r in errors)
    assert any(
        r.name == "telegram.ext.Application" or r.name.startswith("telegram")
        for r in caplog.records
    )
    assert _leaks(caplog, TOKEN) == []
    assert _leaks(caplog, TOKEN.split(":", 1)[1]) == []


def test_redactor_replaces_known_secrets() -> None:
    redact = Redactor(["s3cr3t-value"])
    assert redact("a s3cr3t-value b s3cr3t-value") == f"a {REDACTED} b {REDACTED}"


def test_redactor_replaces_anything_shaped_like_a_token() -> None:
    redact = Redactor()
    assert redact(f"url https://api.telegram.org/bot{OTHER_TOKEN}/getMe") == (
        f"url https://api.telegram.org/bot{REDACTED}/getMe"
    )


@pytest.mark.parametrize(
    "text",
    [
        "update 123456789 failed",
        "at 20:00 and 12:30",
        "member:1001 registered",
        "户 5119021010010001",
    ],
)
def test_redactor_leaves_ordinary_text_alone(text: str) -> None:
    assert Redactor([TOKEN])(text) == text


def test_redactor_ignores_empty_secrets() -> None:
    assert Redactor(["", TOKEN])("nothing secret here") == "nothing secret here"


def test_log_records_are_redacted_where_they_are_made(caplog: pytest.LogCaptureFixture) -> None:
    install_redaction([TOKEN])
    log = logging.getLogger("tests.redaction")
    caplog.set_level(logging.DEBUG, logger="tests.redaction")
    log.info("token %s and %r", TOKEN, {"token": TOKEN})
    try:
        raise ValueError(f"bad token {TOKEN}")
    except ValueError:
        log.exception("failed with %s", OTHER_TOKEN)
    first, second = caplog.records[-2:]
    assert TOKEN not in first.getMessage()
    assert first.getMessage().count(REDACTED) == 2
    assert first.args is None
    assert OTHER_TOKEN not in second.getMessage()
    assert second.exc_text is not None
    assert TOKEN not in second.exc_text
    assert "ValueError: bad token" in second.exc_text
    assert TOKEN not in caplog.text


def test_install_redaction_adds_to_the_same_redactor() -> None:
    first = install_redaction(["first-secret-value"])
    second = install_redaction(["second-secret-value"])
    assert first is second
    assert second("first-secret-value second-secret-value") == f"{REDACTED} {REDACTED}"


def test_a_record_whose_arguments_do_not_fit_is_still_redacted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    install_redaction([TOKEN])
    caplog.set_level(logging.DEBUG, logger="tests.redaction")
    logging.getLogger("tests.redaction").warning(f"broken %d {TOKEN}", "not a number")
    assert TOKEN not in caplog.records[-1].getMessage()
