"""getUpdates: Telegram's offset semantics, allowed_updates and long polling without sleeps."""

from __future__ import annotations

import asyncio

import pytest
import telegram
from telegram.error import Conflict

from bot.standin import FakeTelegram


async def test_updates_stay_until_a_later_offset_confirms_them(
    bot: telegram.Bot, api: FakeTelegram
) -> None:
    first = api.user_message(42, "一")["update_id"]
    second = api.user_message(42, "二")["update_id"]
    assert [u.update_id for u in await bot.get_updates()] == [first, second]
    assert [u.update_id for u in await bot.get_updates(offset=first)] == [first, second]
    assert [u.update_id for u in await bot.get_updates(offset=second)] == [second]
    assert [u.update_id for u in await bot.get_updates(limit=1)] == [second]
    assert await bot.get_updates(offset=second + 1) == ()
    assert api.pending_updates == []


async def test_negative_offset_keeps_only_the_last_updates(
    bot: telegram.Bot, api: FakeTelegram
) -> None:
    for text in "一二三":
        api.user_message(42, text)
    updates = await bot.get_updates(offset=-1)
    assert [u.message.text for u in updates if u.message] == ["三"]


async def test_allowed_updates_are_honoured_and_remembered(
    bot: telegram.Bot, api: FakeTelegram
) -> None:
    await bot.get_updates(allowed_updates=["callback_query"])
    api.user_message(42, "不会送达")
    await bot.get_updates()
    sent = await bot.send_message(
        42,
        "按",
        reply_markup=telegram.InlineKeyboardMarkup(
            [[telegram.InlineKeyboardButton("按", callback_data="p")]]
        ),
    )
    api.press(42, sent.to_dict(), "p")
    updates = await bot.get_updates()
    assert [u.callback_query is not None for u in updates] == [True]


async def test_long_poll_wakes_when_an_update_arrives(
    any_bot: telegram.Bot, api: FakeTelegram
) -> None:
    polling = asyncio.create_task(any_bot.get_updates(timeout=30))
    await api.polling.wait()
    api.user_message(42, "醒醒")
    async with asyncio.timeout(5):  # a bound far below the 30 s poll
        updates = await polling
    assert [u.message.text for u in updates if u.message] == ["醒醒"]


async def test_long_poll_returns_empty_after_its_timeout(
    bot: telegram.Bot, api: FakeTelegram
) -> None:
    async with asyncio.timeout(5):
        assert await bot.get_updates(timeout=0) == ()


async def test_a_second_poller_terminates_the_first(bot: telegram.Bot, api: FakeTelegram) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=30))
    await api.polling.wait()
    second = asyncio.create_task(bot.get_updates(timeout=30))
    with pytest.raises(Conflict, match=r"terminated by other getUpdates request"):
        async with asyncio.timeout(5):
            await first
    api.user_message(42, "给第二个")
    async with asyncio.timeout(5):
        assert len(await second) == 1


async def test_webhook_blocks_polling_until_deleted(bot: telegram.Bot, api: FakeTelegram) -> None:
    api.user_message(42, "待处理")
    assert await bot.set_webhook("https://zhucun.example.org:8443/hook", secret_token="s")
    info = await bot.get_webhook_info()
    assert (info.url, info.pending_update_count) == ("https://zhucun.example.org:8443/hook", 1)
    with pytest.raises(Conflict, match=r"webhook is active"):
        await bot.get_updates()
    with pytest.raises(telegram.error.BadRequest, match=r"(?i)ports"):
        await bot.set_webhook("https://zhucun.example.org:9000/hook")
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert await bot.get_updates() == ()
