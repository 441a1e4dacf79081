"""Language, reply keyboard, /help and command menus: each shows what exists and is allowed."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.models import Role
from bot.sample import PERSONAS, VILLAGE, Persona
from handlers.menu import actions_for
from tests.harness import Harness, persona, running

MEMBER = persona("member")
SECRETARY = persona("secretary")
NEW_USER = 2101


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


def keyboard_labels(message: dict[str, Any]) -> list[str]:
    rows = (message.get("reply_markup") or {}).get("keyboard", [])
    return [b["text"] if isinstance(b, dict) else b for row in rows for b in row]


def sent_keyboard(bot: Harness, chat_id: int) -> list[str]:
    """Labels of the reply keyboard on the bot's latest sendMessage to a chat.

    Telegram does not keep reply keyboards on the message, so read them from the call.
    """
    call = [c for c in bot.api.calls_to("sendMessage") if c.params["chat_id"] == chat_id][-1]
    return keyboard_labels(call.params)


async def offered(bot: Harness, user_id: int, lang: str) -> tuple[list[str], list[str]]:
    """(keyboard labels, commands) the ACTIONS table gives this member in this language.

    Other features add rows to the table; these tests check that what is shown follows it, and
    separately that the everyday rows and role-gated ones are where they must be.
    """
    member = await bot.services.members.identify(user_id)
    assert member is not None
    catalog = bot.app.bot_data.catalog
    actions = actions_for(member)
    return [catalog.label(lang, a.button_key) for a in actions if a.button], [
        a.command for a in actions
    ]


def chat_menu(bot: Harness, chat_id: int) -> list[dict[str, str]]:
    """The latest command list set for one private chat."""
    calls = [
        c.params
        for c in bot.api.calls_to("setMyCommands")
        if c.params.get("scope") == {"type": "chat", "chat_id": chat_id}
    ]
    assert calls, f"no command menu was set for chat {chat_id}"
    commands: list[dict[str, str]] = calls[-1]["commands"]
    return commands


async def test_lang_switches_replies_keyboard_and_commands(bot: Harness) -> None:
    uid = MEMBER.telegram_id
    replies = await bot.command(MEMBER, "lang", "en")
    assert replies == ["Switched to English."]
    keyboard, commands = await offered(bot, uid, "en")
    assert sent_keyboard(bot, uid) == keyboard
    assert {"Me", "Help"} <= set(keyboard) and all(label.isascii() for label in keyboard)
    menu = chat_menu(bot, uid)
    assert [c["command"] for c in menu] == commands
    assert {"me", "help", "lang", "cancel"} <= set(commands) and "invite" not in commands
    assert {"command": "me", "description": "My details"} in menu
    assert all(c["description"].isascii() for c in menu)

    card = (await bot.command(MEMBER, "me"))[0]
    assert "Team member · 石桥村" in card and "Language: English" in card
    help_text = (await bot.command(MEMBER, "help"))[0]
    assert help_text.startswith("You can use:")

    # And back again.
    assert await bot.command(MEMBER, "lang", "ZH") == ["已切换为中文。"]
    assert sent_keyboard(bot, uid) == (await offered(bot, uid, "zh"))[0]
    assert {"command": "me", "description": "我的信息"} in chat_menu(bot, uid)


async def test_lang_choice_is_kept_by_the_store(bot: Harness) -> None:
    await bot.command(MEMBER, "lang", "en")
    member = await bot.services.members.identify(MEMBER.telegram_id)
    assert member is not None and member.locale == "en"
    # Telegram says Chinese, but the member's own choice wins.
    card = (await bot.command(MEMBER, "me", language_code="zh-hans"))[0]
    assert "Language: English" in card


@pytest.mark.parametrize("arg", ["fr", "english", "zh-TW"])
async def test_lang_unknown_language_gives_usage(bot: Harness, arg: str) -> None:
    replies = await bot.command(MEMBER, "lang", arg)
    assert replies == ["用法：/lang zh 或 /lang en"]
    member = await bot.services.members.identify(MEMBER.telegram_id)
    assert member is not None and member.locale is None


async def test_lang_without_argument_offers_buttons(bot: Harness) -> None:
    uid = MEMBER.telegram_id
    await bot.command(MEMBER, "lang")
    message = bot.api.last_message_to(uid)
    buttons = [b for row in message["reply_markup"]["inline_keyboard"] for b in row]
    assert [b["text"] for b in buttons] == ["中文", "English"]
    await bot.deliver(bot.api.press(uid, message, "lang:en"))
    assert bot.api.texts_to(uid)[-1] == "Switched to English."
    assert {"command": "me", "description": "My details"} in chat_menu(bot, uid)


async def test_new_member_with_english_telegram_gets_english(bot: Harness) -> None:
    invite = await bot.services.invites.create(
        role=Role.MEMBER, region_code=VILLAGE, name="Li Lei", operator="operator:test"
    )
    replies = await bot.command(NEW_USER, "start", invite.code, language_code="en-US")
    assert replies[0].startswith("Welcome, Li Lei!")
    assert "Team member" in replies[0]
    assert sent_keyboard(bot, NEW_USER) == (await offered(bot, NEW_USER, "en"))[0]
    assert {"command": "me", "description": "My details"} in chat_menu(bot, NEW_USER)
    card = (await bot.command(NEW_USER, "me", language_code="en-US"))[0]
    assert "Language: English" in card


async def test_new_member_with_other_telegram_language_gets_the_default(tmp_path: Path) -> None:
    for locale, greeting in (("zh", "欢迎您"), ("en", "Welcome")):
        async with running(tmp_path / locale, env={"ZHUCUN_LOCALE": locale}) as bot:
            invite = await bot.services.invites.create(
                role=Role.MEMBER, region_code=VILLAGE, name="Marie", operator="operator:test"
            )
            replies = await bot.command(NEW_USER, "start", invite.code, language_code="fr")
            assert replies[0].startswith(greeting)


async def test_strangers_command_menu_is_published_at_start(bot: Harness) -> None:
    defaults = [
        c.params
        for c in bot.api.calls_to("setMyCommands")
        if c.params.get("scope", {"type": "default"}) == {"type": "default"}
    ]
    by_language = {p.get("language_code"): [c["command"] for c in p["commands"]] for p in defaults}
    assert by_language == {
        "zh": ["start", "help"],
        "en": ["start", "help"],
        None: ["start", "help"],
    }


@pytest.mark.parametrize("who", PERSONAS, ids=lambda p: p.key)
async def test_keyboard_help_and_menu_offer_only_what_the_role_allows(
    bot: Harness, who: Persona
) -> None:
    uid = who.telegram_id
    may_invite = who.role not in (Role.MEMBER, Role.CADRE)
    help_text = (await bot.command(who, "help"))[0]
    keyboard, offered_commands = await offered(bot, uid, "zh")
    assert sent_keyboard(bot, uid) == keyboard and {"我的", "帮助"} <= set(keyboard)
    assert ("/invite" in help_text) is may_invite
    for line in ("/me", "/help", "/lang", "/cancel"):
        assert line in help_text

    await bot.command(who, "lang", "zh")
    commands = [c["command"] for c in chat_menu(bot, uid)]
    assert commands == offered_commands
    assert {"me", "help", "lang", "cancel"} <= set(commands)
    assert ("invite" in commands) is may_invite
    # Each line of /help is a command of the menu, and nothing else.
    listed = [line.split()[0] for line in help_text.splitlines()[1:]]
    assert listed == [f"/{c}" for c in commands]


@pytest.mark.parametrize("who", PERSONAS, ids=lambda p: p.key)
async def test_every_offered_command_exists(bot: Harness, who: Persona) -> None:
    """No command in a member's menu runs into "no such command"."""
    await bot.command(who, "lang", "zh")
    unknown = "没有这个命令。发送 /help 查看能用的命令。"
    for command in [c["command"] for c in chat_menu(bot, who.telegram_id)]:
        replies = await bot.command(who, command)
        assert replies, f"/{command} got no answer"
        assert unknown not in replies, f"/{command} is offered but does not exist"
        await bot.command(who, "cancel")  # leave /invite's flow if it started one


async def test_me_button_acts_like_me(bot: Harness) -> None:
    by_command = await bot.command(MEMBER, "me")
    by_button = await bot.text(MEMBER, "我的")
    assert by_button == by_command
    assert "李明" in by_button[0]


async def test_help_button_acts_like_help(bot: Harness) -> None:
    assert await bot.text(SECRETARY, "帮助") == await bot.command(SECRETARY, "help")


async def test_english_me_button(bot: Harness) -> None:
    await bot.command(MEMBER, "lang", "en")
    by_button = await bot.text(MEMBER, "Me")
    assert by_button == await bot.command(MEMBER, "me")
    assert "Language: English" in by_button[0]
