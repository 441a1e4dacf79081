"""The stand-in refuses what Telegram refuses, with Telegram's error texts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import telegram
from telegram import InlineKeyboardButton as Inline
from telegram import InlineKeyboardMarkup, KeyboardButton, ReplyKeyboardMarkup
from telegram.error import BadRequest, EndPointNotFound, InvalidToken, TelegramError

from bot.standin import FakeTelegram, StandinRequest

Call = Callable[[telegram.Bot, FakeTelegram], Awaitable[Any]]
GROUP = -100


async def _sent(bot: telegram.Bot, api: FakeTelegram) -> telegram.Message:
    return await bot.send_message(
        42, "原文", reply_markup=InlineKeyboardMarkup([[Inline("好", callback_data="ok")]])
    )


async def _edit_same(bot: telegram.Bot, api: FakeTelegram) -> Any:
    message = await _sent(bot, api)
    return await bot.edit_message_text(
        "原文", 42, message.message_id, reply_markup=message.reply_markup
    )


async def _answer_twice(bot: telegram.Bot, api: FakeTelegram) -> Any:
    message = await _sent(bot, api)
    query_id = api.press(42, message.to_dict(), "ok")["callback_query"]["id"]
    await bot.answer_callback_query(query_id)
    return await bot.answer_callback_query(query_id)


async def _big_file(bot: telegram.Bot, api: FakeTelegram) -> Any:
    update = api.document(42, b"\0" * (20 * 1024 * 1024 + 1), "大.zip")
    return await bot.get_file(update["message"]["document"]["file_id"])


async def _location_button_in_group(bot: telegram.Bot, api: FakeTelegram) -> Any:
    api.add_group(GROUP)
    keyboard = ReplyKeyboardMarkup([[KeyboardButton("签到", request_location=True)]])
    return await bot.send_message(GROUP, "请签到", reply_markup=keyboard)


async def _missing_chat_id(bot: telegram.Bot, api: FakeTelegram) -> Any:
    status, body = await api.call("sendMessage", {"text": "hi"}, {})
    raise BadRequest(f"{status}: {body['description']}")


async def _wrong_token(bot: telegram.Bot, api: FakeTelegram) -> Any:
    async with telegram.Bot("1:wrong", request=StandinRequest(api)) as stranger:
        return await stranger.get_me()


async def _unknown_method(bot: telegram.Bot, api: FakeTelegram) -> Any:
    return await bot.do_api_request("sendTelepathy", api_kwargs={"chat_id": 42})


CASES: dict[str, tuple[Call, type[TelegramError], str]] = {
    "missing chat_id": (_missing_chat_id, BadRequest, "400: Bad Request: chat_id is empty"),
    "empty text": (lambda b, a: b.send_message(42, ""), BadRequest, "message text is empty"),
    "blank text": (lambda b, a: b.send_message(42, " \n "), BadRequest, "message text is empty"),
    "unknown method": (_unknown_method, EndPointNotFound, "not found"),
    "wrong token": (_wrong_token, InvalidToken, "was rejected by the server"),
    "unknown chat": (lambda b, a: b.send_message(7, "hi"), BadRequest, "chat not found"),
    "text too long": (lambda b, a: b.send_message(42, "字" * 4097), BadRequest, "too long"),
    "text too long in utf-16": (
        lambda b, a: b.send_message(42, "😀" * 2049),
        BadRequest,
        "message is too long",
    ),
    "caption too long": (
        lambda b, a: b.send_photo(42, b"jpeg", caption="字" * 1025),
        BadRequest,
        "message caption is too long",
    ),
    "callback data over 64 bytes": (
        lambda b, a: b.send_message(
            42, "选", reply_markup=InlineKeyboardMarkup([[Inline("x", callback_data="户" * 22)]])
        ),
        BadRequest,
        "button_data_invalid",
    ),
    "unknown html tag": (
        lambda b, a: b.send_message(42, "<div>户</div>", parse_mode="HTML"),
        BadRequest,
        'can\'t parse entities: unsupported start tag "div" at byte offset 0',
    ),
    "unescaped less-than": (
        lambda b, a: b.send_message(42, "收入<3000", parse_mode="HTML"),
        BadRequest,
        "can't parse entities: unsupported start tag",
    ),
    "unclosed tag": (
        lambda b, a: b.send_message(42, "<b>户主", parse_mode="HTML"),
        BadRequest,
        'can\'t find end tag corresponding to start tag "b"',
    ),
    "mismatched tag": (
        lambda b, a: b.send_message(42, "<b><i>户</b></i>", parse_mode="HTML"),
        BadRequest,
        'expected "</i>", found "</b>"',
    ),
    "unexpected end tag": (
        lambda b, a: b.send_message(42, "户</b>", parse_mode="HTML"),
        BadRequest,
        "can't parse entities: unexpected end tag",
    ),
    "span without spoiler class": (
        lambda b, a: b.send_message(42, "<span>户</span>", parse_mode="HTML"),
        BadRequest,
        'tag "span" must have class "tg-spoiler"',
    ),
    "html that is only tags": (
        lambda b, a: b.send_message(42, "<b></b>", parse_mode="HTML"),
        BadRequest,
        "message text is empty",
    ),
    "request_location outside a private chat": (
        _location_button_in_group,
        BadRequest,
        "only in private chats",
    ),
    "edit of an unknown message": (
        lambda b, a: b.edit_message_text("新", 42, 999),
        BadRequest,
        "message to edit not found",
    ),
    "edit to identical text and markup": (_edit_same, BadRequest, "message is not modified"),
    "unknown callback query": (
        lambda b, a: b.answer_callback_query("123"),
        BadRequest,
        "query is too old and response timeout expired or query id is invalid",
    ),
    "callback query answered twice": (_answer_twice, BadRequest, "query is too old"),
    "file over 20 MB": (_big_file, BadRequest, "file is too big"),
    "unknown file_id": (lambda b, a: b.get_file("nope"), BadRequest, "invalid file_id"),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_refuses_invalid_calls(case: str, bot: telegram.Bot, api: FakeTelegram) -> None:
    call, error, text = CASES[case]
    with pytest.raises(error) as raised:
        await call(bot, api)
    assert text.lower() in raised.value.message.lower()


async def test_a_refused_call_is_recorded_with_its_answer(
    bot: telegram.Bot, api: FakeTelegram
) -> None:
    with pytest.raises(BadRequest):
        await bot.send_message(42, "<b>", parse_mode="HTML")
    call = api.calls_to("sendmessage")[-1]
    assert not call.ok
    assert call.status == 400
    assert call.response["description"].startswith("Bad Request: can't parse entities:")
    assert api.bot_messages(42) == []


async def test_unknown_html_entities_stay_literal_as_on_telegram(
    bot: telegram.Bot, api: FakeTelegram
) -> None:
    message = await bot.send_message(42, "A &amp; B &copy; &#20303;", parse_mode="HTML")
    assert message.text == "A & B &copy; 住"


async def test_length_counts_text_after_html_parsing(bot: telegram.Bot, api: FakeTelegram) -> None:
    message = await bot.send_message(42, "<b>" + "户" * 4096 + "</b>", parse_mode="HTML")
    assert len(message.text) == 4096
