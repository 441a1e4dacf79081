"""Registration: an operator's invite and /start <code>; strangers can do nothing else."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.models import Role
from bot.sample import OTHER_VILLAGE, VILLAGE
from handlers.menu import member_commands
from storage import invites as invite_repo
from tests.harness import Harness, persona, running

NEW_USER = 2001
OTHER_USER = 2002
STRANGER = 1099
OPERATOR = "operator:test"

REGISTRATION_HINT = "您还没有注册。请向第一书记或乡镇领导要一个邀请链接，点开链接即可注册。"


@pytest.fixture
async def bot(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> AsyncIterator[Harness]:
    """The harness with its JobQueue running as in production (flows schedule their timeout
    there); a test that logged an ERROR (a handler crashed) fails."""
    async with running(tmp_path) as harness:
        job_queue = harness.app.job_queue
        assert job_queue is not None
        await job_queue.start()
        try:
            yield harness
        finally:
            await job_queue.stop(wait=False)
    assert [r.getMessage() for r in caplog.get_records("call") if r.levelno >= logging.ERROR] == []


async def operator_invite(
    bot: Harness, *, role: Role = Role.MEMBER, region: str | None = VILLAGE, name: str = "李明2"
) -> str:
    """An invite as ``zhucun invite`` makes it."""
    invite = await bot.services.invites.create(
        role=role, region_code=region, name=name, operator=OPERATOR
    )
    return invite.code


async def counts(bot: Harness) -> dict[str, int]:
    """Rows per table, to prove that nothing was written."""
    found: dict[str, int] = {}
    for table in ("members", "memberships", "invites", "audit_events"):
        row = await bot.services.db.fetchone(f"SELECT count(*) AS n FROM {table}")
        assert row is not None
        found[table] = int(row["n"])
    return found


def chat_commands(bot: Harness, chat_id: int) -> list[dict[str, Any]]:
    """Every setMyCommands made for one private chat (BotCommandScopeChat)."""
    return [
        c.params
        for c in bot.api.calls_to("setMyCommands")
        if c.params.get("scope") == {"type": "chat", "chat_id": chat_id}
    ]


async def test_cli_invite_then_start_registers_member(bot: Harness) -> None:
    code = await operator_invite(bot)

    replies = await bot.command(NEW_USER, "start", code)
    assert len(replies) == 1
    assert all(part in replies[0] for part in ("李明2", "驻村队员", "石桥村"))
    keyboard = bot.api.last_message_to(NEW_USER)
    assert keyboard["text"] == replies[0]

    member = await bot.services.members.identify(NEW_USER)
    assert member is not None and member.name == "李明2"
    assert [(m.role, m.region_code) for m in member.memberships] == [(Role.MEMBER, VILLAGE)]
    invite = await invite_repo.get(bot.services.db, code)
    assert invite is not None and invite.used_by == member.id

    published = chat_commands(bot, NEW_USER)
    assert len(published) == 1
    commands = [c["command"] for c in published[0]["commands"]]
    assert commands == [c.command for c in member_commands(bot.app.bot_data.catalog, "zh", member)]
    assert {"me", "help", "lang", "cancel"} <= set(commands) and "invite" not in commands

    # Single use: a second person with the same link is refused, and stays a stranger.
    again = await bot.command(OTHER_USER, "start", code)
    assert again == [
        "这个邀请码已经用过了，每个邀请码只能用一次。请向第一书记或乡镇领导重新要一个。"
    ]
    assert await bot.services.members.identify(OTHER_USER) is None
    assert chat_commands(bot, OTHER_USER) == []


async def test_expired_code(bot: Harness) -> None:
    code = await operator_invite(bot)
    bot.clock.advance(timedelta(days=7, seconds=1))
    replies = await bot.command(NEW_USER, "start", code)
    assert replies == ["这个邀请码已过期。请向第一书记或乡镇领导重新要一个。"]
    assert await bot.services.members.identify(NEW_USER) is None


async def test_code_just_before_expiry_still_works(bot: Harness) -> None:
    code = await operator_invite(bot)
    bot.clock.advance(timedelta(days=7, seconds=-1))
    replies = await bot.command(NEW_USER, "start", code)
    assert "李明2" in replies[0]


async def test_revoked_code(bot: Harness) -> None:
    code = await operator_invite(bot)
    async with bot.services.db.transaction() as tx:
        assert await invite_repo.revoke(tx, code, bot.clock.now())
    replies = await bot.command(NEW_USER, "start", code)
    assert replies == ["这个邀请码已被撤销。请向第一书记或乡镇领导重新要一个。"]
    assert await bot.services.members.identify(NEW_USER) is None


async def test_unknown_code(bot: Harness) -> None:
    before = await counts(bot)
    replies = await bot.command(NEW_USER, "start", "no-such-code")
    assert replies == ["这个邀请码不存在。请核对链接，或向第一书记或乡镇领导重新要一个。"]
    assert await counts(bot) == before


async def test_start_without_code_tells_a_stranger_how_to_register(bot: Harness) -> None:
    replies = await bot.command(STRANGER, "start")
    assert len(replies) == 1 and "邀请链接" in replies[0]
    assert "驻村工作队" in replies[0]


async def test_start_without_code_greets_a_member(bot: Harness) -> None:
    replies = await bot.command(persona("member"), "start")
    assert replies == ["李明，您已经注册了。下面的按钮是常用功能。"]


async def test_second_invite_adds_a_second_membership(bot: Harness) -> None:
    member = persona("member")
    code = await operator_invite(bot, role=Role.CADRE, region=OTHER_VILLAGE, name="李明")
    replies = await bot.command(member, "start", code)
    assert "村干部" in replies[0] and "桂花村" in replies[0]

    found = await bot.services.members.identify(member.telegram_id)
    assert found is not None
    assert sorted((m.role, m.region_code) for m in found.memberships) == sorted(
        [(Role.MEMBER, VILLAGE), (Role.CADRE, OTHER_VILLAGE)]
    )
    card = (await bot.command(member, "me"))[0]
    assert "驻村队员 · 石桥村" in card and "村干部 · 桂花村" in card
    # Still one member: no second row for the same Telegram user.
    row = await bot.services.db.fetchone(
        "SELECT count(*) AS n FROM members WHERE telegram_user_id = ?", (member.telegram_id,)
    )
    assert row is not None and row["n"] == 1


async def test_admin_invite_registers_everywhere(bot: Harness) -> None:
    code = await operator_invite(bot, role=Role.ADMIN, region=None, name="管理员二")
    replies = await bot.command(NEW_USER, "start", code)
    assert "系统管理员" in replies[0] and "全部地区" in replies[0]
    assert "invite" in [c["command"] for c in chat_commands(bot, NEW_USER)[0]["commands"]]


async def test_invite_name_is_escaped_in_the_greeting(bot: Harness) -> None:
    code = await operator_invite(bot, name="<i>李</i>&明")
    replies = await bot.command(NEW_USER, "start", code)
    assert "<i>李</i>&明" in replies[0]  # shown literally: it was escaped, not parsed


# --- strangers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "args"),
    [("me", ""), ("lang", ""), ("lang", "en"), ("invite", ""), ("cancel", ""), ("nosuch", "")],
)
async def test_stranger_commands_get_the_registration_hint(
    bot: Harness, command: str, args: str
) -> None:
    before = await counts(bot)
    replies = await bot.command(STRANGER, command, args)
    assert replies == [REGISTRATION_HINT]
    assert await counts(bot) == before
    assert chat_commands(bot, STRANGER) == []


async def test_stranger_help_is_the_stranger_help(bot: Harness) -> None:
    replies = await bot.command(STRANGER, "help")
    assert len(replies) == 1
    assert "邀请链接" in replies[0] and "/me" not in replies[0]
    assert "reply_markup" not in bot.api.last_message_to(STRANGER)


async def test_stranger_messages_get_the_registration_hint(bot: Harness) -> None:
    before = await counts(bot)
    for update in (
        bot.api.user_message(STRANGER, "你好"),
        bot.api.user_message(STRANGER, "石桥村有多少贫困户？"),
        bot.api.user_message(STRANGER, "我的"),  # a keyboard label typed by hand
        bot.api.sticker(STRANGER),
        bot.api.photo(STRANGER, b"\xff\xd8\xff\xe0 photo"),
        bot.api.location(STRANGER, 31.8802, 106.8123),
    ):
        await bot.deliver(update)
    assert bot.api.texts_to(STRANGER) == [REGISTRATION_HINT] * 6
    assert await counts(bot) == before
    for text in bot.api.texts_to(STRANGER):
        assert "李明" not in text and "石桥村" not in text


async def test_stranger_pressing_old_buttons(bot: Harness) -> None:
    await bot.command(STRANGER, "help")
    message = bot.api.last_message_to(STRANGER)
    before = await counts(bot)
    for number, data in enumerate(("invite:role:admin", "lang:en", "whatever"), start=1):
        query = {
            "id": f"old-{number}",
            "from": dict(bot.api.users[STRANGER]),
            "message": dict(message),
            "chat_instance": "old",
            "data": data,
        }
        bot.api.open_queries[query["id"]] = query
        await bot.deliver({"update_id": 800_000 + number, "callback_query": query})
    answered = {c.params["callback_query_id"] for c in bot.api.calls_to("answerCallbackQuery")}
    assert answered == {"old-1", "old-2", "old-3"}
    assert all(text in {REGISTRATION_HINT} for text in bot.api.texts_to(STRANGER)[1:])
    assert await counts(bot) == before


async def test_deactivated_member_is_a_stranger(tmp_path: Path) -> None:
    async with running(tmp_path) as bot:
        member = persona("member")
        async with bot.services.db.transaction() as tx:
            await tx.execute(
                "UPDATE members SET active = 0 WHERE telegram_user_id = ?", (member.telegram_id,)
            )
        assert await bot.command(member, "me") == [REGISTRATION_HINT]
