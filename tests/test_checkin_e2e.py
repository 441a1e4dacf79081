"""Check-ins, absences and /me over real HTTP: the bot polls the stand-in like Telegram."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from bot.models import Role
from bot.sample import OTHER_VILLAGE, SAMPLE_ACTOR
from tests.e2e import REPLY_TIMEOUT, LiveBot, live_bot
from tests.harness import persona

MEMBER = persona("member")
INSIDE = (31.8810, 106.8130)


async def replies_after(bot: LiveBot, user_id: int, before: int, count: int = 1) -> list[str]:
    async with asyncio.timeout(REPLY_TIMEOUT):
        await bot.api.wait_for_message_to(user_id, before + count)
    return bot.api.texts_to(user_id)[before:]


async def count(bot: LiveBot, table: str) -> int:
    row = await bot.services.db.fetchone(f"SELECT count(*) AS n FROM {table}")
    assert row is not None
    return int(row["n"])


async def test_checkin_over_http(tmp_path: Path) -> None:
    async with live_bot(tmp_path) as bot:
        asked = await bot.exchange(MEMBER, "/checkin")
        assert "发送我的位置" in asked[0]
        markup = bot.api.calls_to("sendMessage")[-1].params["reply_markup"]
        markup = json.loads(markup) if isinstance(markup, str) else markup
        assert markup["keyboard"][0][0]["request_location"] is True

        before = len(bot.api.bot_messages(MEMBER.telegram_id))
        bot.api.location(MEMBER.telegram_id, *INSIDE, horizontal_accuracy=10)
        [saved] = await replies_after(bot, MEMBER.telegram_id, before)
        assert "签到已保存" in saved and "石桥村" in saved and "在签到范围内" in saved
        assert "已核验" in saved
        assert await count(bot, "checkins") == 1

        note = await bot.exchange(MEMBER, "/checkin 今天在镇上开会")
        assert "未核验" in note[0] and "今天在镇上开会" in note[0]
        assert await count(bot, "checkins") == 2


async def test_checkin_two_villages_and_refusals_over_http(tmp_path: Path) -> None:
    async with live_bot(tmp_path) as bot:
        invite = await bot.services.invites.create(
            role=Role.MEMBER, region_code=OTHER_VILLAGE, name="李明", operator=SAMPLE_ACTOR
        )
        await bot.exchange(MEMBER, f"/start {invite.code}")
        await bot.exchange(MEMBER, "/checkin")
        picker = bot.api.last_message_to(MEMBER.telegram_id)
        before = len(bot.api.bot_messages(MEMBER.telegram_id))
        bot.api.press(MEMBER.telegram_id, picker, f"checkin:village:{OTHER_VILLAGE}")
        asked = await replies_after(bot, MEMBER.telegram_id, before)
        assert "桂花村" in asked[0]

        leader = await bot.exchange(persona("township"), "/checkin")
        assert leader == ["只有驻村队员、村干部和第一书记可以签到。"]
        stranger = await bot.exchange(1099, "/checkin")
        assert "还没有注册" in stranger[0]
        assert await count(bot, "checkins") == 0


async def test_away_and_me_over_http(tmp_path: Path) -> None:
    async with live_bot(tmp_path) as bot:
        duty = await bot.exchange(MEMBER, "/away 前天 到县里开会")
        assert "已登记公务外出" in duty[0]
        leave = await bot.exchange(MEMBER, "/away 12月1日到3日 请假 家里有事")
        assert "已提交请假" in leave[0] and "共 3 天" in leave[0]
        bad = await bot.exchange(MEMBER, "/away 12月3日到12月1日 请假")
        assert "结束日期早于开始日期" in bad[0]
        assert await count(bot, "absences") == 2

        before = len(bot.api.bot_messages(MEMBER.telegram_id))
        bot.api.location(MEMBER.telegram_id, *INSIDE, horizontal_accuracy=10)
        await replies_after(bot, MEMBER.telegram_id, before)
        me = await bot.exchange(MEMBER, "/me")
        assert "本月在村：2/20 天" in me[0] and "本月还剩 2 天" in me[0]
