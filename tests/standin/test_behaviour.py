"""The same behaviour through both transports: in-process and over HTTP."""

from __future__ import annotations

import asyncio

import pytest
import telegram
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputMediaPhoto

from bot.standin import FakeTelegram, Upload


async def test_get_me_describes_the_demo_bot(any_bot: telegram.Bot) -> None:
    me = await any_bot.get_me()
    assert me.username == "zhucun_demo_bot"
    assert me.is_bot
    assert me.can_join_groups


async def test_send_and_edit_are_recorded_and_found(
    any_bot: telegram.Bot, api: FakeTelegram
) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("确认", callback_data="ok:1")]])
    sent = await any_bot.send_message(
        42, "<b>李家</b> 已走访 &lt;3&gt;", parse_mode="HTML", reply_markup=keyboard
    )
    assert sent.text == "李家 已走访 <3>"
    assert sent.entities[0].type == "bold"
    edited = await any_bot.edit_message_text("已确认", 42, sent.message_id)
    assert isinstance(edited, telegram.Message)
    assert edited.reply_markup is None  # an edit without markup drops the keyboard
    assert api.texts_to(42) == ["已确认"]
    assert api.calls_to("sendMessage")[0].params["reply_markup"] == keyboard.to_dict()
    assert api.calls_to("editMessageText")[0].params["message_id"] == sent.message_id


async def test_files_round_trip(any_bot: telegram.Bot, api: FakeTelegram) -> None:
    document = await any_bot.send_document(42, b"PK\x03\x04", filename="台账.xlsx")
    assert document.document is not None
    assert document.document.file_name == "台账.xlsx"
    upload = api.calls_to("sendDocument")[0].params["document"]
    assert upload == Upload("台账.xlsx", b"PK\x03\x04")
    received = api.photo(42, b"\xff\xd8photo", caption="危房")
    file = await any_bot.get_file(received["message"]["photo"][-1]["file_id"])
    assert file.file_size == len(b"\xff\xd8photo")
    assert await file.download_as_bytearray() == b"\xff\xd8photo"


async def test_media_group_and_location(any_bot: telegram.Bot, api: FakeTelegram) -> None:
    album = await any_bot.send_media_group(
        42, [InputMediaPhoto(b"one", caption="前"), InputMediaPhoto(b"two")]
    )
    assert len(album) == 2
    assert album[0].media_group_id == album[1].media_group_id
    assert album[0].caption == "前"
    spot = await any_bot.send_location(42, 31.86, 106.75)
    assert spot.location is not None
    assert spot.location.latitude == pytest.approx(31.86)
    assert await any_bot.send_chat_action(42, "typing")


async def test_commands_are_kept_per_scope_and_language(any_bot: telegram.Bot) -> None:
    await any_bot.set_my_commands([("checkin", "签到")])
    await any_bot.set_my_commands([("checkin", "check in")], language_code="en")
    assert [c.description for c in await any_bot.get_my_commands()] == ["签到"]
    assert [c.description for c in await any_bot.get_my_commands(language_code="en")] == [
        "check in"
    ]
    await any_bot.delete_my_commands(language_code="en")
    assert await any_bot.get_my_commands(language_code="en") == ()


async def test_a_press_is_answered_once(any_bot: telegram.Bot, api: FakeTelegram) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("是", callback_data="yes")]])
    sent = await any_bot.send_message(42, "确认?", reply_markup=keyboard)
    update = api.press(42, api.last_message_to(42), "yes")
    query = telegram.Update.de_json(update, any_bot).callback_query
    assert query is not None
    assert query.data == "yes"
    assert query.message is not None
    assert query.message.message_id == sent.message_id
    assert await any_bot.answer_callback_query(query.id, text="好")
    with pytest.raises(ValueError, match="no button"):
        api.press(42, api.last_message_to(42), "no")


async def test_user_updates_parse_as_telegram_updates(
    any_bot: telegram.Bot, api: FakeTelegram
) -> None:
    api.command(42, "start", "INVITE1", language_code="en")
    api.location(42, 31.8, 106.7, horizontal_accuracy=25.0, forwarded=True)
    api.voice(42, b"ogg", duration=4)
    api.sticker(42)
    text = api.user_message(42, "张三家")
    api.edited_message(42, text, "张三家 已走访")
    api.group_message(42, -200, "/help@zhucun_demo_bot")
    updates = await any_bot.get_updates()
    start, location, voice, sticker, plain, edited, group = updates
    assert start.message is not None
    assert start.message.parse_entities(["bot_command"]) != {}
    assert start.message.from_user is not None
    assert start.message.from_user.language_code == "en"
    assert location.message is not None
    assert location.message.location is not None
    assert location.message.location.horizontal_accuracy == 25.0
    assert location.message.forward_origin is not None
    assert voice.message is not None
    assert voice.message.voice is not None
    assert sticker.message is not None
    assert sticker.message.sticker is not None
    assert plain.message is not None
    assert edited.edited_message is not None
    assert edited.edited_message.message_id == plain.message.message_id
    assert group.message is not None
    assert group.message.chat.type == "group"


async def test_wrong_token_gets_401(api: FakeTelegram) -> None:
    status, body = await api.call("getMe", {}, {}, token="1:wrong")
    assert (status, body["description"]) == (401, "Unauthorized")


async def test_wait_for_message_to_wakes_on_the_send(bot: telegram.Bot, api: FakeTelegram) -> None:
    waiting = asyncio.create_task(api.wait_for_message_to(42))
    await asyncio.sleep(0)
    await bot.send_message(42, "到了")
    async with asyncio.timeout(1):
        assert (await waiting)["text"] == "到了"
