"""/review and /members over real HTTP: the bot polls the stand-in like Telegram."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from bot.fieldwork import Category, ProblemStatus, Severity
from bot.sample import VILLAGE, Persona
from storage import audit
from storage import problems as problem_repo
from tests.e2e import REPLY_TIMEOUT, LiveBot, live_bot
from tests.harness import persona
from tests.test_review import buttons

MEMBER = persona("member")
TOWNSHIP = persona("township")
FAR = (31.9500, 106.9000)


async def settle(bot: LiveBot, who: Persona) -> None:
    """Each chat is handled in order: once /help is answered, what came before it is done."""
    await bot.exchange(who, "/help")


async def press(bot: LiveBot, who: Persona, data: str, new_messages: int = 0) -> None:
    """Press the newest button with ``data``; wait for ``new_messages`` or for the press."""
    user = who.telegram_id
    message: dict[str, Any] = next(
        m for m in reversed(bot.api.bot_messages(user)) if data in buttons(m).values()
    )
    before = len(bot.api.bot_messages(user))
    bot.api.press(user, message, data)
    if new_messages:
        async with asyncio.timeout(REPLY_TIMEOUT):
            await bot.api.wait_for_message_to(user, before + new_messages)
    else:
        await settle(bot, who)


async def wait_for(bot: LiveBot, user: int, count: int) -> list[str]:
    async with asyncio.timeout(REPLY_TIMEOUT):
        await bot.api.wait_for_message_to(user, count)
    return bot.api.texts_to(user)


async def test_review_over_http(tmp_path: Path) -> None:
    async with live_bot(tmp_path) as bot:
        await bot.exchange(MEMBER, "/help")  # the member has a chat with the bot
        reporter = await bot.services.members.identify(MEMBER.telegram_id)
        reported = await bot.services.problems.report(
            reporter,
            village_code=VILLAGE,
            category=Category.ROADS,
            severity=Severity.URGENT,
            description="村道塌方",
            source=(MEMBER.telegram_id, 90001),
        )
        problem = reported.problem

        overview = await bot.exchange(TOWNSHIP, "/review")
        assert "待处理问题：1 个" in overview[0]
        await press(bot, TOWNSHIP, "rv:l:p:0")
        await press(bot, TOWNSHIP, f"rv:p:{problem.id}")
        await press(bot, TOWNSHIP, f"rv:pa:sb:{problem.id}", new_messages=1)
        member_count = len(bot.api.bot_messages(MEMBER.telegram_id))
        saved = await bot.exchange(TOWNSHIP, "请说明塌方位置")
        assert "已退回给 李明" in saved[0]
        texts = await wait_for(bot, MEMBER.telegram_id, member_count + 1)
        assert "请说明塌方位置" in texts[-1]

        # The reporter answers in their own chat; the answer returns to the review.
        await press(bot, MEMBER, f"rv:ans:{problem.id}", new_messages=1)
        township_count = len(bot.api.bot_messages(TOWNSHIP.telegram_id))
        answered = await bot.exchange(MEMBER, "三组上方，约20米")
        assert "已回到乡镇领导的审阅列表" in answered[0]
        texts = await wait_for(bot, TOWNSHIP.telegram_id, township_count + 1)
        assert "三组上方，约20米" in texts[-1]
        after = await problem_repo.get(bot.services.db, problem.id)
        assert after is not None and after.status is ProblemStatus.OPEN

        # A check-in outside the fence, confirmed, counts in /me.
        before = len(bot.api.bot_messages(MEMBER.telegram_id))
        bot.api.location(MEMBER.telegram_id, *FAR, horizontal_accuracy=10)
        await wait_for(bot, MEMBER.telegram_id, before + 1)
        assert "本月在村：0/20 天" in (await bot.exchange(MEMBER, "/me"))[0]
        row = await bot.services.db.fetchone("SELECT id FROM checkins")
        assert row is not None
        await bot.exchange(TOWNSHIP, "/review")
        await press(bot, TOWNSHIP, "rv:l:c:0")
        member_count = len(bot.api.bot_messages(MEMBER.telegram_id))
        await press(bot, TOWNSHIP, f"rv:cd:y:{row['id']}:0")
        texts = await wait_for(bot, MEMBER.telegram_id, member_count + 1)
        assert "计入本月在村天数" in texts[-1]
        assert "本月在村：1/20 天" in (await bot.exchange(MEMBER, "/me"))[0]


async def test_deactivate_over_http(tmp_path: Path) -> None:
    async with live_bot(tmp_path) as bot:
        assert "李明" in (await bot.exchange(MEMBER, "/me"))[0]
        li = await bot.services.members.identify(MEMBER.telegram_id)
        assert li is not None
        await bot.exchange(TOWNSHIP, "/members")
        await press(bot, TOWNSHIP, f"mb:m:{li.id}")
        await press(bot, TOWNSHIP, f"mb:d:{li.id}")
        member_count = len(bot.api.bot_messages(MEMBER.telegram_id))
        await press(bot, TOWNSHIP, f"mb:dy:{li.id}")
        texts = await wait_for(bot, MEMBER.telegram_id, member_count + 1)
        assert "已被 陈晓东 停用" in texts[-1]
        assert "还没有注册" in (await bot.exchange(MEMBER, "/me"))[0]
        assert "还没有注册" in (await bot.exchange(MEMBER, "/checkin"))[0]
        deleted = bot.api.calls_to("deleteMyCommands")
        assert deleted[-1].params["scope"] == {"type": "chat", "chat_id": MEMBER.telegram_id}
        events = await audit.events_for(bot.services.db, "member", li.id)
        assert [e.action for e in events] == ["member.deactivate"]
