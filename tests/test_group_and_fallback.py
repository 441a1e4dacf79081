"""Group chats point to the private chat; in private, nothing goes unanswered."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.harness import Harness, persona, running

GROUP = -100_200_300
MEMBER = persona("member")
SECRETARY = persona("secretary")
USE_PRIVATE = "请在和我的私聊中使用驻村通：@zhucun_demo_bot"
HINT = "没看懂您的意思。请用下面的按钮，或发送 /help 查看能做什么。"
UNKNOWN = "没有这个命令。发送 /help 查看能用的命令。"
EDIT_IGNORED = "修改后的消息不会自动更新记录。如需更正，请重新发送。"


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


def group_command(
    bot: Harness, user_id: int, text: str, chat_type: str = "group"
) -> dict[str, object]:
    """``text`` starting with a command, posted in the group."""
    bot.api.add_group(GROUP, chat_type=chat_type)
    command = text.split()[0]
    update = bot.api.user_message(
        user_id,
        text,
        chat_id=GROUP,
        chat_type=chat_type,
        entities=[{"type": "bot_command", "offset": 0, "length": len(command)}],
    )
    return update


# --- groups -----------------------------------------------------------------------------


@pytest.mark.parametrize("chat_type", ["group", "supergroup"])
@pytest.mark.parametrize(
    "text", ["/help@zhucun_demo_bot", "/me@zhucun_demo_bot", "/invite@zhucun_demo_bot", "/help"]
)
async def test_group_command_for_the_bot_points_to_private_chat(
    bot: Harness, text: str, chat_type: str
) -> None:
    await bot.deliver(group_command(bot, SECRETARY.telegram_id, text, chat_type))
    assert bot.api.texts_to(GROUP) == [USE_PRIVATE]
    assert bot.api.texts_to(SECRETARY.telegram_id) == []  # no member data leaks anywhere


async def test_group_invite_starts_no_flow(bot: Harness) -> None:
    await bot.deliver(group_command(bot, SECRETARY.telegram_id, "/invite@zhucun_demo_bot"))
    assert await bot.text(SECRETARY, "赵小六") == [HINT]  # not taken as an invitee's name
    assert await bot.command(SECRETARY, "cancel") == ["现在没有进行中的操作。"]


async def test_group_command_for_another_bot_is_ignored(bot: Harness) -> None:
    await bot.deliver(group_command(bot, MEMBER.telegram_id, "/help@other_bot"))
    assert bot.api.texts_to(GROUP) == []


async def test_stranger_command_in_group_points_to_private_chat(bot: Harness) -> None:
    await bot.deliver(group_command(bot, 1099, "/start@zhucun_demo_bot"))
    assert bot.api.texts_to(GROUP) == [USE_PRIVATE]


async def test_plain_group_text_gets_nothing(bot: Harness) -> None:
    for text in ("大家好", "石桥村今天谁在？", "我的"):
        await bot.deliver(bot.api.group_message(MEMBER.telegram_id, GROUP, text))
    sticker = bot.api.sticker(MEMBER.telegram_id)
    sticker["message"]["chat"] = {"id": GROUP, "type": "group", "title": "驻村工作群"}
    await bot.deliver(sticker)
    assert bot.api.texts_to(GROUP) == []
    assert bot.api.texts_to(MEMBER.telegram_id) == []


async def test_group_edit_gets_nothing(bot: Harness) -> None:
    posted = bot.api.group_message(MEMBER.telegram_id, GROUP, "大家好")
    await bot.deliver(posted)
    await bot.deliver(bot.api.edited_message(MEMBER.telegram_id, posted, "大家早上好"))
    assert bot.api.texts_to(GROUP) == []
    assert bot.api.texts_to(MEMBER.telegram_id) == []


# --- private fallbacks -----------------------------------------------------------------------


async def test_unknown_command(bot: Harness) -> None:
    assert await bot.command(MEMBER, "frobnicate") == [UNKNOWN]
    call = bot.api.calls_to("sendMessage")[-1]
    assert call.params["reply_markup"]["keyboard"]  # the menu comes with it


async def test_command_of_a_role_one_does_not_have_is_not_data(bot: Harness) -> None:
    replies = await bot.command(MEMBER, "invite")
    assert replies == ["只有第一书记、乡镇领导、县区干部和系统管理员可以邀请新成员。"]


async def test_edit_in_private(bot: Harness) -> None:
    sent = bot.api.user_message(MEMBER.telegram_id, "今天走访了三户")
    await bot.deliver(sent)
    await bot.deliver(bot.api.edited_message(MEMBER.telegram_id, sent, "今天走访了四户"))
    assert bot.api.texts_to(MEMBER.telegram_id) == [HINT, EDIT_IGNORED]


async def test_edit_during_invite_name_step_is_not_the_name(bot: Harness) -> None:
    uid = SECRETARY.telegram_id
    await bot.command(SECRETARY, "invite")
    flow = bot.api.last_message_to(uid)
    await bot.deliver(bot.api.press(uid, flow, "invite:role:member"))
    typed = bot.api.user_message(uid, "赵小")
    await bot.deliver(typed)  # taken as the name: the invite is created
    created = bot.api.texts_to(uid)[-1]
    assert "赵小" in created and "https://t.me/" in created
    await bot.deliver(bot.api.edited_message(uid, typed, "赵小六"))
    assert bot.api.texts_to(uid)[-1] == EDIT_IGNORED


# A shared location is not here: it is a check-in (field work), not an unknown message.
@pytest.mark.parametrize("kind", ["sticker", "photo", "voice", "document"])
async def test_media_outside_a_flow_gets_the_hint(bot: Harness, kind: str) -> None:
    uid = MEMBER.telegram_id
    updates = {
        "sticker": lambda: bot.api.sticker(uid),
        "photo": lambda: bot.api.photo(uid, b"\xff\xd8\xff\xe0 photo"),
        "voice": lambda: bot.api.voice(uid, b"OggS voice"),
        "document": lambda: bot.api.document(uid, b"%PDF-1.4"),
    }
    await bot.deliver(updates[kind]())
    assert bot.api.texts_to(uid) == [HINT]


async def test_free_text_gets_the_hint_with_the_menu(bot: Harness) -> None:
    assert await bot.text(MEMBER, "今天天气不错") == [HINT]
    keyboard = bot.api.calls_to("sendMessage")[-1].params["reply_markup"]["keyboard"]
    assert {"我的", "帮助"} <= {b["text"] for row in keyboard for b in row}


async def test_cancel_outside_a_flow(bot: Harness) -> None:
    assert await bot.command(MEMBER, "cancel") == ["现在没有进行中的操作。"]


async def test_unknown_command_in_english(tmp_path: Path) -> None:
    async with running(tmp_path) as bot:
        await bot.command(MEMBER, "lang", "en")
        replies = await bot.command(MEMBER, "frobnicate")
        assert replies == ["There is no such command. Send /help to see what you can use."]
