"""/members through the real Application: the team, deactivation, moves and invites."""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.attendance import LocationReport, Source
from bot.models import Member, Role
from bot.sample import OTHER_TOWNSHIP, OTHER_VILLAGE, PERSONAS, SAMPLE_ACTOR, VILLAGE
from storage import audit
from tests.harness import Harness, persona, running
from tests.test_review import buttons, forge, press

MEMBER = persona("member")
CADRE = persona("cadre")
SECRETARY = persona("secretary")
TOWNSHIP = persona("township")
COUNTY = persona("county")
OUTSIDER = 3201
INSIDE = (31.8810, 106.8130)
_ids = itertools.count(9500)


@pytest.fixture
async def bot(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> AsyncIterator[Harness]:
    async with running(tmp_path) as harness:
        for someone in PERSONAS:
            harness.api.add_user(someone.telegram_id, language_code=someone.language_code)
        yield harness
    assert [r.getMessage() for r in caplog.get_records("call") if r.levelno >= logging.ERROR] == []


async def member(bot: Harness, telegram_id: int) -> Member:
    found = await bot.services.members.identify(telegram_id)
    assert found is not None
    return found


async def check_in(bot: Harness, telegram_id: int) -> None:
    await bot.services.checkins.check_in(
        await member(bot, telegram_id),
        VILLAGE,
        at=bot.clock.now(),
        source=Source(chat_id=telegram_id, message_id=next(_ids)),
        location=LocationReport(lat=INSIDE[0], lon=INSIDE[1], accuracy_m=10),
    )


async def test_secretary_sees_the_village_team_read_only(bot: Harness) -> None:
    await check_in(bot, MEMBER.telegram_id)
    replies = await bot.command(SECRETARY, "members")
    text = replies[-1]
    assert {"李明", "张桂兰", "王建军"} <= {n for n in ("李明", "张桂兰", "王建军") if n in text}
    assert "陈晓东" not in text  # the township leader is not in the village's team
    assert "最近签到：11月28日 09:00" in text and "本月在村：1/20 天" in text
    assert buttons(bot.api.last_message_to(SECRETARY.telegram_id)) == {}
    # Forged management presses are refused.
    li = await member(bot, MEMBER.telegram_id)
    for data in (f"mb:dy:{li.id}", f"mb:d:{li.id}", f"mb:mv:{li.memberships[0].id}:0", "mb:i"):
        said = await forge(bot, SECRETARY.telegram_id, data)
        assert "您的角色不能使用这个功能" in said or "没有找到" in said, data
    # The card of a team member is read-only for the secretary: only "back".
    await forge(bot, SECRETARY.telegram_id, f"mb:m:{li.id}")
    assert set(buttons(bot.api.last_message_to(SECRETARY.telegram_id)).values()) == {"mb:l:0"}
    assert (await member(bot, MEMBER.telegram_id)).active


@pytest.mark.parametrize("who", [MEMBER, CADRE])
async def test_members_and_cadres_cannot_list_the_team(bot: Harness, who: Any) -> None:
    replies = await bot.command(who, "members")
    assert replies == ["只有第一书记、乡镇领导、县区干部和系统管理员可以查看队伍。"]


async def test_deactivate_makes_a_stranger_at_once(bot: Harness) -> None:
    await bot.command(MEMBER, "help")  # the member's chat has its own command menu
    li = await member(bot, MEMBER.telegram_id)
    await bot.command(TOWNSHIP, "members")
    await press(bot, TOWNSHIP.telegram_id, f"mb:m:{li.id}")
    await press(bot, TOWNSHIP.telegram_id, f"mb:d:{li.id}")
    assert "确定停用" in bot.api.last_message_to(TOWNSHIP.telegram_id)["text"]
    said = await press(bot, TOWNSHIP.telegram_id, f"mb:dy:{li.id}")
    assert "已停用 李明" in said
    # A stranger at once: /me and entries are refused, the command menu of the chat is gone.
    assert "停用" in bot.api.texts_to(MEMBER.telegram_id)[-1]
    me = await bot.command(MEMBER, "me")
    assert "还没有注册" in me[0]
    deleted = bot.api.calls_to("deleteMyCommands")
    assert deleted and deleted[-1].params["scope"] == {
        "type": "chat",
        "chat_id": MEMBER.telegram_id,
    }
    assert (
        bot.api.commands.get((json.dumps(deleted[-1].params["scope"], sort_keys=True), "")) is None
    )
    # Pressing again is harmless and says so.
    again = await forge(bot, TOWNSHIP.telegram_id, f"mb:dy:{li.id}")
    assert "已经停用" in again
    events = await audit.events_for(bot.services.db, "member", li.id)
    assert [e.action for e in events] == ["member.deactivate"]
    assert json.loads(events[0].before or "{}") == {"active": True}
    assert json.loads(events[0].after or "{}") == {"active": False}
    # The team no longer lists them.
    replies = await bot.command(TOWNSHIP, "members")
    assert "李明" not in replies[-1]


async def test_nobody_deactivates_themselves_or_a_peer(bot: Harness) -> None:
    township = await member(bot, TOWNSHIP.telegram_id)
    await bot.command(TOWNSHIP, "members")
    assert "不能停用自己" in await forge(bot, TOWNSHIP.telegram_id, f"mb:dy:{township.id}")
    county = await member(bot, COUNTY.telegram_id)
    said = await forge(bot, TOWNSHIP.telegram_id, f"mb:dy:{county.id}")
    assert "没有找到" in said  # the county officer is outside the township's view
    assert (await member(bot, TOWNSHIP.telegram_id)).active


async def test_move_membership_to_another_village(bot: Harness) -> None:
    li = await member(bot, MEMBER.telegram_id)
    [membership] = li.memberships
    await bot.command(TOWNSHIP, "members")
    await press(bot, TOWNSHIP.telegram_id, f"mb:m:{li.id}")
    await press(bot, TOWNSHIP.telegram_id, f"mb:mv:{membership.id}:0")
    choices = buttons(bot.api.last_message_to(TOWNSHIP.telegram_id))
    assert {"桂花村", "柏林村"} <= set(choices) and "石桥村" not in choices
    assert "青龙村" not in choices  # another township's village
    said = await press(bot, TOWNSHIP.telegram_id, choices["桂花村"])
    assert "已把 李明 调到 桂花村" in said
    moved = await member(bot, MEMBER.telegram_id)
    assert [m.region_code for m in moved.memberships] == [OTHER_VILLAGE]
    assert "从石桥村调到桂花村" in bot.api.texts_to(MEMBER.telegram_id)[-1]
    again = await forge(bot, TOWNSHIP.telegram_id, f"mb:mt:{membership.id}:{OTHER_VILLAGE}")
    assert "已经在 桂花村" in again
    # A village outside the leader's scope is not found.
    outside = await forge(bot, TOWNSHIP.telegram_id, f"mb:mt:{membership.id}:511902102001")
    assert "没有找到" in outside
    events = await audit.events_for(bot.services.db, "membership", membership.id)
    assert [e.action for e in events] == ["membership.move"]
    assert json.loads(events[0].before or "{}")["region"] == VILLAGE
    assert json.loads(events[0].after or "{}")["region"] == OTHER_VILLAGE
    me = await bot.command(MEMBER, "me")
    assert "桂花村" in me[0]


async def test_list_and_revoke_invites(bot: Harness) -> None:
    township = await member(bot, TOWNSHIP.telegram_id)
    invite = await bot.services.invites.create(
        role=Role.MEMBER, region_code=VILLAGE, name="孙新", inviter=township
    )
    elsewhere = await bot.services.invites.create(
        role=Role.MEMBER, region_code="511902102001", name="钱外", operator=SAMPLE_ACTOR
    )
    await bot.command(TOWNSHIP, "members")
    await press(bot, TOWNSHIP.telegram_id, "mb:i")
    listing = bot.api.last_message_to(TOWNSHIP.telegram_id)
    assert "孙新" in listing["text"] and "钱外" not in listing["text"]
    said = await press(bot, TOWNSHIP.telegram_id, f"mb:r:{invite.code}")
    assert "已撤销邀请码（孙新）" in said
    assert "孙新" not in bot.api.last_message_to(TOWNSHIP.telegram_id)["text"]
    again = await forge(bot, TOWNSHIP.telegram_id, f"mb:r:{invite.code}")
    assert "已经撤销" in again
    refused = await bot.command(3300, "start", invite.code)
    assert "已被撤销" in refused[0]
    assert await bot.services.members.identify(3300) is None
    # Another township's invite cannot be revoked with forged data.
    assert "没有找到" in await forge(bot, TOWNSHIP.telegram_id, f"mb:r:{elsewhere.code}")
    events = await audit.events_for(bot.services.db, "invite", invite.code)
    assert [e.action for e in events] == ["invite.create", "invite.revoke"]


async def test_other_township_sees_nothing_of_qingjiang(bot: Harness) -> None:
    invite = await bot.services.invites.create(
        role=Role.TOWNSHIP, region_code=OTHER_TOWNSHIP, name="赵其他", operator=SAMPLE_ACTOR
    )
    await bot.command(OUTSIDER, "start", invite.code)
    replies = await bot.command(OUTSIDER, "members")
    text = replies[-1]
    assert "赵其他" in text
    assert not any(p.name in text for p in PERSONAS)
    li = await member(bot, MEMBER.telegram_id)
    [membership] = li.memberships
    for data in (
        f"mb:m:{li.id}",
        f"mb:d:{li.id}",
        f"mb:dy:{li.id}",
        f"mb:mv:{membership.id}:0",
        f"mb:mt:{membership.id}:511902102001",
    ):
        assert "没有找到" in await forge(bot, OUTSIDER, data), data
    assert (await member(bot, MEMBER.telegram_id)).active
