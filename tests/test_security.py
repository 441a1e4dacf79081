"""Security and privacy: throttled /start, rate-limited card reads, owner-only store, redacted
logs, an audit log no code path can change, and allowed_updates no wider than the handlers."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from pathlib import Path

import pytest
from telegram import Update
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    TypeHandler,
)

from bot.app import ALLOWED_UPDATES
from bot.errors import Conflict, Forbidden
from bot.logging_setup import PERSONAL, REDACTED, Redactor, install_redaction
from bot.services.throttle import CARD_READS, START_FAILURES, Throttle
from storage import households as household_repo
from storage import members as member_repo
from tests.e2e import live_bot
from tests.harness import TOKEN, Harness, persona

ROOT = Path(__file__).resolve().parent.parent
STRANGER = 4242
THROTTLED_ZH = "邀请码尝试失败次数过多"


# --- /start throttling ------------------------------------------------------------------------


async def test_failed_start_codes_are_throttled_per_user(bot: Harness) -> None:
    for _ in range(START_FAILURES):
        [reply] = await bot.command(STRANGER, "start", "NOPE-WRONG")
        assert THROTTLED_ZH not in reply
    [reply] = await bot.command(STRANGER, "start", "NOPE-WRONG")
    assert THROTTLED_ZH in reply
    # Even a good code waits now: the throttle is checked before the code is looked at.
    invite = await bot.services.invites.create(
        role=persona("member").role,
        region_code=persona("member").region_code,
        name="赵六",
        phone=None,
        days=7,
        operator="operator:test",
    )
    [reply] = await bot.command(STRANGER, "start", invite.code)
    assert THROTTLED_ZH in reply
    # Another user is not affected.
    [reply] = await bot.command(STRANGER + 1, "start", "NOPE-WRONG")
    assert THROTTLED_ZH not in reply
    # Kept in the store: a fresh service (as after a restart) still refuses.
    with pytest.raises(Forbidden) as refused:
        await Throttle(bot.services.db, bot.clock).check_start(STRANGER)
    assert refused.value.key == "security.start_throttled"
    # An hour later the code works.
    bot.clock.advance(timedelta(hours=1, minutes=1))
    [reply] = await bot.command(STRANGER, "start", invite.code)
    assert "赵六" in reply


async def test_the_throttle_reply_is_in_english_too(bot: Harness) -> None:
    for _ in range(START_FAILURES):
        await bot.command(STRANGER, "start", "bad", language_code="en")
    [reply] = await bot.command(STRANGER, "start", "bad", language_code="en")
    assert "Too many attempts" in reply


# --- card reads -------------------------------------------------------------------------------


async def card_reads(bot: Harness, member_id: int) -> int:
    row = await bot.services.db.fetchone(
        "SELECT count(*) AS n FROM audit_events WHERE action = 'household.read' AND actor = ?",
        (f"member:{member_id}",),
    )
    assert row is not None
    return int(row["n"])


async def test_card_reads_are_rate_limited_per_member_and_stay_audited(bot: Harness) -> None:
    who = persona("member")
    member = await member_repo.by_telegram_id(bot.services.db, who.telegram_id)
    other = await member_repo.by_telegram_id(bot.services.db, persona("cadre").telegram_id)
    household = await household_repo.by_registry_no(bot.services.db, "5119021010010001")
    assert member is not None and other is not None and household is not None
    for _ in range(CARD_READS):
        await bot.services.households.card(member, household.id)
    assert await card_reads(bot, member.id) == CARD_READS
    with pytest.raises(Forbidden) as refused:
        await bot.services.households.card(member, household.id)
    assert refused.value.key == "security.card_throttled"
    replies = await bot.command(who, "household", "5119021010010001")
    assert any("上限" in text for text in replies), replies
    assert await card_reads(bot, member.id) == CARD_READS  # refused reads show nothing
    await bot.services.households.card(other, household.id)  # per member
    bot.clock.advance(timedelta(hours=1, minutes=1))
    await bot.services.households.card(member, household.id)
    assert await card_reads(bot, member.id) == CARD_READS + 1


# --- the store on disk ------------------------------------------------------------------------


async def test_the_store_and_its_companions_are_owner_only(bot: Harness) -> None:
    db_path = bot.services.db.path
    for path in (db_path, db_path.with_name(db_path.name + "-wal")):
        assert path.exists(), path
        assert path.stat().st_mode & 0o777 == 0o600, path
    shm = db_path.with_name(db_path.name + "-shm")
    if shm.exists():
        assert shm.stat().st_mode & 0o077 == 0, shm


# --- logs -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "户主电话 13812345678",
        "phone=+86 138-1234-5678;",
        "tel 0827-5201234",
        "身份证 51190219800101123X 已登记",
        "id:511902198001011234",
    ],
)
def test_personal_numbers_never_reach_the_log(text: str) -> None:
    redacted = Redactor()(text)
    assert PERSONAL in redacted
    assert not re.search(r"\d{7,}", redacted), redacted


def test_ids_that_are_not_personal_stay_readable() -> None:
    text = "update 1732780800 from chat 1001, message 42"
    assert Redactor()(text) == text


def test_a_logged_record_is_redacted(caplog: pytest.LogCaptureFixture) -> None:
    install_redaction([TOKEN, "my-webhook-secret"])
    log = logging.getLogger("tests.security")
    with caplog.at_level(logging.INFO):
        log.info(
            "token %s secret %s phone %s id %s",
            TOKEN,
            "my-webhook-secret",
            "13900001111",
            "51190219800101123X",
        )
        try:
            raise ValueError("household phone 13900001111")
        except ValueError:
            log.exception("failed")
    text = caplog.text
    for secret in (TOKEN, "my-webhook-secret", "13900001111", "51190219800101123X"):
        assert secret not in text
    assert REDACTED in text and PERSONAL in text


# --- the audit log ----------------------------------------------------------------------------

AUDIT_CHANGE = re.compile(
    r"\b(UPDATE\s+(OR\s+\w+\s+)?audit_events|DELETE\s+FROM\s+audit_events|"
    r"DROP\s+(TABLE|TRIGGER)\s+(IF\s+EXISTS\s+)?audit_events|REPLACE\s+INTO\s+audit_events)",
    re.IGNORECASE,
)


def test_no_code_path_changes_the_audit_log() -> None:
    offenders = []
    for folder in ("storage", "bot", "handlers"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix not in {".py", ".sql"}:
                continue
            text = path.read_text(encoding="utf-8")
            for match in AUDIT_CHANGE.finditer(text):
                offenders.append(f"{path.relative_to(ROOT)}: {match.group(0)}")
    # The only mentions allowed are the triggers that forbid it.
    allowed = {"storage/migrations/0001_core.sql"}
    assert [o for o in offenders if o.split(":")[0] not in allowed] == []


async def test_the_triggers_refuse_changes_to_the_audit_log(bot: Harness) -> None:
    db = bot.services.db
    triggers = {
        row["name"]
        for row in await db.fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_events'"
        )
    }
    assert {"audit_events_no_update", "audit_events_no_delete"} <= triggers
    before = await db.iterdump()
    assert any("audit_events" in line for line in before)
    for sql in ("UPDATE audit_events SET actor = 'someone else'", "DELETE FROM audit_events"):
        with pytest.raises(Conflict):
            async with db.transaction() as tx:
                await tx.execute(sql)
    assert await db.iterdump() == before


# --- allowed_updates --------------------------------------------------------------------------


def _leaves(
    handlers: list[BaseHandler[Update, object, object]],
) -> list[BaseHandler[Update, object, object]]:
    found: list[BaseHandler[Update, object, object]] = []
    for handler in handlers:
        if isinstance(handler, ConversationHandler):
            found += _leaves(list(handler.entry_points))
            for state, steps in handler.states.items():
                if state != ConversationHandler.TIMEOUT:
                    found += _leaves(list(steps))
            found += _leaves(list(handler.fallbacks))
        else:
            found.append(handler)
    return found


def handled_kinds(bot: Harness) -> set[str]:
    """Update kinds some handler takes, probed with a private message, an edit and a press."""
    api = bot.api
    who = persona("member").telegram_id
    api.add_user(who)
    text = api.user_message(who, "王秀英")
    command = api.command(who, "help")
    location = api.location(who, 31.8, 106.7, live_period=600)
    probes: dict[str, list[dict[str, object]]] = {
        "message": [text, command, location],
        "edited_message": [
            {"update_id": 90, "edited_message": {**text["message"], "edit_date": 1}},  # type: ignore[dict-item]
            {"update_id": 91, "edited_message": {**location["message"], "edit_date": 1}},  # type: ignore[dict-item]
        ],
        "channel_post": [
            {
                "update_id": 92,
                "channel_post": {
                    **text["message"],
                    "chat": {"id": -100, "type": "channel", "title": "c"},
                },
            }
        ],  # type: ignore[dict-item]
    }
    bot_message = {"message_id": 1, "date": 0, "chat": api.chats[who], "from": api.me, "text": "x"}
    probes["callback_query"] = [
        {
            "update_id": 93,
            "callback_query": {
                "id": "1",
                "from": api.users[who],
                "message": bot_message,
                "chat_instance": "1",
                "data": "hh:card:1",
            },
        }
    ]
    leaves = _leaves([h for group in bot.app.handlers.values() for h in group])
    kinds = set()
    for handler in leaves:
        assert isinstance(
            handler, (CommandHandler, MessageHandler, CallbackQueryHandler, TypeHandler)
        ), f"a new kind of handler: decide its update kinds and extend this test ({handler})"
    for kind, payloads in probes.items():
        for payload in payloads:
            update = Update.de_json(payload, bot.app.bot)
            # Group -1 handlers only stop group and channel traffic; the kinds the bot *acts on*
            # are the ones group 0 takes.
            if any(h.check_update(update) for h in _leaves(list(bot.app.handlers[0]))):
                kinds.add(kind)
    return kinds


async def test_allowed_updates_is_exactly_what_the_handlers_take(bot: Harness) -> None:
    assert set(ALLOWED_UPDATES) == handled_kinds(bot)


async def test_polling_asks_only_for_the_allowed_updates(tmp_path: Path) -> None:
    async with live_bot(tmp_path) as live:
        await live.exchange(persona("member"), "/me")
        polls = live.api.calls_to("getUpdates")
        assert polls
        assert all(call.params.get("allowed_updates") == list(ALLOWED_UPDATES) for call in polls)
