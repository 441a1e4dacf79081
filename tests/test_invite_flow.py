"""/invite through the real Application: role, region within scope, name, deep link."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from telegram.ext import ConversationHandler

from bot.models import Role
from bot.sample import PERSONAS, SAMPLE_ACTOR
from bot.services.imports import import_regions
from bot.standin.faults import Fault, FaultKind
from storage import invites as invite_repo
from storage.audit import member_actor
from tests.harness import Harness, persona, running

LINK = re.compile(r"https://t\.me/zhucun_demo_bot\?start=([A-Za-z0-9_-]+)")
SECRETARY = persona("secretary")
TOWNSHIP = persona("township")
COUNTY = persona("county")
ADMIN = persona("admin")
MEMBER = persona("member")


@pytest.fixture
async def bot(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> AsyncIterator[Harness]:
    """The harness with its JobQueue running, as in production, so flows get their timeout.

    Every handler error is logged, so a test that ends with an ERROR record has failed even
    when its replies looked right.
    """
    async with running(tmp_path) as harness:
        job_queue = harness.app.job_queue
        assert job_queue is not None
        await job_queue.start()
        try:
            yield harness
        finally:
            await job_queue.stop(wait=False)
    assert [r.getMessage() for r in caplog.get_records("call") if r.levelno >= logging.ERROR] == []


def buttons(message: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, callback_data) of every inline button of a message, row by row."""
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [(b["text"], b["callback_data"]) for row in rows for b in row]


def labels(message: dict[str, Any]) -> list[str]:
    return [label for label, _ in buttons(message)]


async def press(bot: Harness, user_id: int, label: str) -> dict[str, Any]:
    """Press the button with this label on the bot's latest message; return that message."""
    message = bot.api.last_message_to(user_id)
    data = dict(buttons(message))[label]
    await bot.deliver(bot.api.press(user_id, message, data))
    return bot.api.messages[(user_id, message["message_id"])]


async def forge(bot: Harness, user_id: int, message: dict[str, Any], data: str) -> None:
    """A callback query carrying data no button of the message has (a modified client)."""
    query_id = f"forged-{len(bot.api.calls)}"
    query = {
        "id": query_id,
        "from": dict(bot.api.users[user_id]),
        "message": dict(message),
        "chat_instance": "forged",
        "data": data,
    }
    bot.api.open_queries[query_id] = query  # Telegram would accept the answer to it
    await bot.deliver({"update_id": 900_000 + len(bot.api.calls), "callback_query": query})


def last_answer(bot: Harness) -> dict[str, Any]:
    return bot.api.calls_to("answerCallbackQuery")[-1].params


async def invite_count(bot: Harness) -> int:
    row = await bot.services.db.fetchone("SELECT count(*) AS n FROM invites")
    assert row is not None
    return int(row["n"])


def conversation(bot: Harness) -> ConversationHandler[Any]:
    return next(
        h
        for group in bot.app.handlers.values()
        for h in group
        if isinstance(h, ConversationHandler) and h.name == "invite"
    )


async def test_secretary_invites_member_into_own_village(bot: Harness) -> None:
    uid = SECRETARY.telegram_id
    await bot.command(SECRETARY, "invite")
    assert labels(bot.api.last_message_to(uid)) == ["驻村队员", "村干部"]

    asked = await press(bot, uid, "驻村队员")
    # Their only village is chosen for them: no region step.
    assert "石桥村" in asked["text"] and "reply_markup" not in asked
    assert "真实姓名" in asked["text"]

    replies = await bot.text(SECRETARY, "赵小六")
    assert len(replies) == 1
    created = replies[0]
    match = LINK.search(created)
    assert match is not None
    for part in ("赵小六", "驻村队员", "石桥村", "2026年12月05日 09:00"):
        assert part in created

    invite = await invite_repo.get(bot.services.db, match.group(1))
    assert invite is not None
    assert (invite.role, invite.region_code, invite.name) == (Role.MEMBER, "511902101001", "赵小六")
    secretary = await bot.services.members.identify(uid)
    assert secretary is not None
    assert invite.created_by == member_actor(secretary.id)

    # The link works: the invitee registers as that member of that village.
    welcome = await bot.command(3001, "start", match.group(1))
    assert "赵小六" in welcome[0] and "石桥村" in welcome[0]


async def test_township_invites_secretary_into_one_of_its_villages(bot: Harness) -> None:
    uid = TOWNSHIP.telegram_id
    await bot.command(TOWNSHIP, "invite")
    assert labels(bot.api.last_message_to(uid)) == ["驻村队员", "村干部", "第一书记"]

    regions = await press(bot, uid, "第一书记")
    assert labels(regions) == ["石桥村", "桂花村", "柏林村"]  # not 青龙村 of another township
    await press(bot, uid, "桂花村")
    replies = await bot.text(TOWNSHIP, "孙书记")

    match = LINK.search(replies[0])
    assert match is not None
    invite = await invite_repo.get(bot.services.db, match.group(1))
    assert invite is not None
    assert (invite.role, invite.region_code) == (Role.SECRETARY, "511902101002")
    assert "第一书记" in replies[0] and "桂花村" in replies[0]


async def test_county_invites_township_leader(bot: Harness) -> None:
    uid = COUNTY.telegram_id
    await bot.command(COUNTY, "invite")
    roles = labels(bot.api.last_message_to(uid))
    assert roles == ["驻村队员", "村干部", "第一书记", "乡镇领导"]

    regions = await press(bot, uid, "乡镇领导")
    assert labels(regions) == ["清江镇", "水宁寺镇"]
    await press(bot, uid, "水宁寺镇")
    replies = await bot.text(COUNTY, "钱镇长")

    match = LINK.search(replies[0])
    assert match is not None
    invite = await invite_repo.get(bot.services.db, match.group(1))
    assert invite is not None
    assert (invite.role, invite.region_code) == (Role.TOWNSHIP, "511902102")


async def test_admin_invites_admin_without_region_step(bot: Harness) -> None:
    uid = ADMIN.telegram_id
    await bot.command(ADMIN, "invite")
    assert labels(bot.api.last_message_to(uid)) == [
        "驻村队员",
        "村干部",
        "第一书记",
        "乡镇领导",
        "县区干部",
        "系统管理员",
    ]
    asked = await press(bot, uid, "系统管理员")
    assert "全部地区" in asked["text"] and "reply_markup" not in asked

    replies = await bot.text(ADMIN, "吴管理")
    match = LINK.search(replies[0])
    assert match is not None
    invite = await invite_repo.get(bot.services.db, match.group(1))
    assert invite is not None
    assert (invite.role, invite.region_code) == (Role.ADMIN, None)


@pytest.mark.parametrize("key", ["member", "cadre"])
async def test_village_members_cannot_invite(bot: Harness, key: str) -> None:
    who = persona(key)
    replies = await bot.command(who, "invite")
    assert replies == ["只有第一书记、乡镇领导、县区干部和系统管理员可以邀请新成员。"]
    assert bot.api.calls_to("answerCallbackQuery") == []
    assert await invite_count(bot) == len(PERSONAS)  # only the sample's own invites

    # Their command menu does not offer /invite; a secretary's does.
    await bot.command(who, "lang", "zh")
    await bot.command(SECRETARY, "lang", "zh")
    menus = {
        c.params["scope"]["chat_id"]: [cmd["command"] for cmd in c.params["commands"]]
        for c in bot.api.calls_to("setMyCommands")
        if c.params.get("scope", {}).get("type") == "chat"
    }
    assert "invite" not in menus[who.telegram_id]
    assert "invite" in menus[SECRETARY.telegram_id]


async def test_stranger_invite_gets_registration_hint(bot: Harness) -> None:
    replies = await bot.command(1099, "invite")
    assert len(replies) == 1 and "邀请链接" in replies[0]
    assert not [m for m in bot.api.bot_messages(1099) if buttons(m)]


async def test_forged_role_and_region_are_refused_like_not_found(bot: Harness) -> None:
    before = await invite_count(bot)
    uid = TOWNSHIP.telegram_id
    await bot.command(TOWNSHIP, "invite")
    flow = bot.api.last_message_to(uid)

    for data in ("invite:role:county", "invite:role:admin", "invite:role:nonsense"):
        await forge(bot, uid, flow, data)
        assert last_answer(bot)["text"] == "没有找到。"
        assert last_answer(bot)["show_alert"] is True
    # The message still offers only the township's own roles.
    assert labels(bot.api.last_message_to(uid)) == ["驻村队员", "村干部", "第一书记"]

    await press(bot, uid, "驻村队员")
    for data in ("invite:region:511902102001", "invite:region:511902101", "invite:region:x"):
        await forge(bot, uid, flow, data)
        assert last_answer(bot)["text"] == "没有找到。"
    await forge(bot, uid, flow, "invite:page:99")  # clamped to the last page, not an error
    assert await invite_count(bot) == before

    # The flow itself is intact after the refusals.
    await press(bot, uid, "柏林村")
    replies = await bot.text(TOWNSHIP, "郑队员")
    assert LINK.search(replies[0]) and "柏林村" in replies[0]


async def test_forged_region_for_single_village_secretary(bot: Harness) -> None:
    uid = SECRETARY.telegram_id
    await bot.command(SECRETARY, "invite")
    flow = bot.api.last_message_to(uid)
    await forge(bot, uid, flow, "invite:role:secretary")  # not theirs to hand out
    assert last_answer(bot)["text"] == "没有找到。"
    await forge(bot, uid, flow, "invite:region:511902101002")  # no role chosen yet
    assert last_answer(bot)["text"] == "没有找到。"


async def test_button_of_an_old_flow_is_stale(bot: Harness) -> None:
    uid = SECRETARY.telegram_id
    await bot.command(SECRETARY, "invite")
    old = bot.api.last_message_to(uid)
    await bot.command(SECRETARY, "invite")  # starts over with a new message

    await bot.deliver(bot.api.press(uid, old, "invite:role:member"))
    assert last_answer(bot)["text"] == "这个按钮已经过期了，请重新操作。"
    assert "真实姓名" not in bot.api.messages[(uid, old["message_id"])]["text"]

    # Finish the new flow; the old button is still stale (now outside any flow).
    await press(bot, uid, "村干部")
    await bot.text(SECRETARY, "冯文书")
    await bot.deliver(bot.api.press(uid, old, "invite:role:member"))
    assert last_answer(bot)["text"] == "这个按钮已经过期了，请重新操作。"
    assert await invite_count(bot) == len(PERSONAS) + 1


async def test_cancel_mid_flow(bot: Harness) -> None:
    uid = TOWNSHIP.telegram_id
    before = await invite_count(bot)
    await bot.command(TOWNSHIP, "invite")
    await press(bot, uid, "第一书记")
    flow = bot.api.last_message_to(uid)

    replies = await bot.command(TOWNSHIP, "cancel")
    assert replies == ["已退出邀请，没有生成邀请链接。"]
    assert buttons(bot.api.messages[(uid, flow["message_id"])]) == []  # buttons taken away

    # The flow is over: a name now is just text, and /cancel has nothing to cancel.
    replies = await bot.text(TOWNSHIP, "韩某某")
    assert "没看懂" in replies[0]
    assert await bot.command(TOWNSHIP, "cancel") == ["现在没有进行中的操作。"]
    await forge(bot, uid, flow, "invite:region:511902101001")
    assert last_answer(bot)["text"] == "这个按钮已经过期了，请重新操作。"
    assert await invite_count(bot) == before


async def test_cancel_at_name_step(bot: Harness) -> None:
    await bot.command(SECRETARY, "invite")
    await press(bot, SECRETARY.telegram_id, "驻村队员")
    assert await bot.command(SECRETARY, "cancel") == ["已退出邀请，没有生成邀请链接。"]
    assert "没看懂" in (await bot.text(SECRETARY, "赵小六"))[0]


async def test_timeout_ends_the_flow_with_a_message(bot: Harness) -> None:
    uid = TOWNSHIP.telegram_id
    before = await invite_count(bot)
    await bot.command(TOWNSHIP, "invite")
    await press(bot, uid, "驻村队员")
    flow = bot.api.last_message_to(uid)

    handler = conversation(bot)
    assert handler.conversation_timeout is not None
    job = handler.timeout_jobs[(uid, uid)]
    await job.run(bot.app)  # what the JobQueue does after flow_timeout minutes

    assert bot.api.texts_to(uid)[-1] == (
        "邀请操作超过 30 分钟没有继续，已自动退出。需要时请重新发送 /invite。"
    )
    assert buttons(bot.api.messages[(uid, flow["message_id"])]) == []
    assert (uid, uid) not in handler.timeout_jobs

    # Nothing of the flow remains.
    await forge(bot, uid, flow, "invite:region:511902101001")
    assert last_answer(bot)["text"] == "这个按钮已经过期了，请重新操作。"
    assert "没看懂" in (await bot.text(TOWNSHIP, "韩某某"))[0]
    assert await invite_count(bot) == before


async def test_member_deactivated_mid_flow_is_a_stranger(bot: Harness) -> None:
    uid = TOWNSHIP.telegram_id
    await bot.command(TOWNSHIP, "invite")
    async with bot.services.db.transaction() as tx:
        await tx.execute("UPDATE members SET active = 0 WHERE telegram_user_id = ?", (uid,))
    await press(bot, uid, "第一书记")
    assert "邀请链接" in bot.api.texts_to(uid)[-1]
    assert (uid, uid) not in conversation(bot).timeout_jobs  # the flow is over
    assert await invite_count(bot) == len(PERSONAS)


async def test_flow_timeout_follows_settings(tmp_path: Path) -> None:
    async with running(tmp_path, env={"ZHUCUN_FLOW_TIMEOUT": "5"}) as harness:
        assert conversation(harness).conversation_timeout == timedelta(minutes=5)


async def test_name_is_validated_and_asked_again(bot: Harness) -> None:
    uid = SECRETARY.telegram_id
    await bot.command(SECRETARY, "invite")
    await press(bot, uid, "村干部")

    too_long = await bot.text(SECRETARY, "张" * 41)
    assert too_long == ["姓名不能超过 40 个字，也不能含特殊字符。\n请重新发送被邀请人的真实姓名。"]
    blank = await bot.text(SECRETARY, "\u3000")
    assert blank == ["姓名不能为空。请发送被邀请人的真实姓名。"]
    await bot.deliver(bot.api.sticker(uid))
    assert bot.api.texts_to(uid)[-1] == "请用文字发送被邀请人的真实姓名，或发送 /cancel 退出。"
    await bot.deliver(bot.api.photo(uid, b"\xff\xd8\xff\xe0 not really a jpeg"))
    assert bot.api.texts_to(uid)[-1] == "请用文字发送被邀请人的真实姓名，或发送 /cancel 退出。"
    html = await bot.text(SECRETARY, "<b>褚</b>")
    assert LINK.search(html[0]) and "<b>褚</b>" in html[0]  # shown as typed, not as markup


async def test_menu_button_and_commands_during_name_step(bot: Harness) -> None:
    uid = SECRETARY.telegram_id
    await bot.command(SECRETARY, "invite")
    await press(bot, uid, "驻村队员")
    me = await bot.text(SECRETARY, "我的")
    assert "王建军" in me[0]  # the keyboard button acts, it is not taken as the name
    help_ = await bot.command(SECRETARY, "help")
    assert "/invite" in help_[0]
    replies = await bot.text(SECRETARY, "卫小兵")
    assert LINK.search(replies[0]) and "卫小兵" in replies[0]


async def test_typing_instead_of_pressing_a_button(bot: Harness) -> None:
    await bot.command(TOWNSHIP, "invite")
    replies = await bot.text(TOWNSHIP, "驻村队员")
    assert replies == ["请点上面消息里的按钮选择，或发送 /cancel 退出。"]


async def test_regions_are_paged_beyond_eight(bot: Harness, tmp_path: Path) -> None:
    csv = tmp_path / "more.csv"
    rows = [f"5119021010{n:02d},511902101,村,新村{n},贫困村" for n in range(4, 14)]
    csv.write_text("编码,上级编码,级别,名称,类型\n" + "\n".join(rows) + "\n", encoding="utf-8")
    await import_regions(bot.services.db, bot.clock, csv, SAMPLE_ACTOR)

    uid = TOWNSHIP.telegram_id
    await bot.command(TOWNSHIP, "invite")
    first = await press(bot, uid, "驻村队员")
    assert len(labels(first)) == 8 + 1
    assert labels(first)[-1] == "下一页 ›" and "1/2" in first["text"]

    second = await press(bot, uid, "下一页 ›")
    assert labels(second)[-1] == "‹ 上一页"
    assert len(labels(second)) == 13 - 8 + 1 and "2/2" in second["text"]
    back = await press(bot, uid, "‹ 上一页")
    assert labels(back) == labels(first)
    await press(bot, uid, "下一页 ›")
    await press(bot, uid, "新村13")
    replies = await bot.text(TOWNSHIP, "蒋队员")
    match = LINK.search(replies[0])
    assert match is not None
    invite = await invite_repo.get(bot.services.db, match.group(1))
    assert invite is not None and invite.region_code == "511902101013"
    for message in bot.api.calls_to("editMessageText"):
        for row in (message.params.get("reply_markup") or {}).get("inline_keyboard", []):
            for button in row:
                assert len(button["callback_data"].encode()) <= 64


async def test_invite_flow_in_english(bot: Harness) -> None:
    uid = TOWNSHIP.telegram_id
    await bot.command(TOWNSHIP, "lang", "en")
    await bot.command(TOWNSHIP, "invite")
    flow = bot.api.last_message_to(uid)
    assert "Invite a new member" in flow["text"]
    assert labels(flow) == ["Team member", "Village cadre", "First secretary"]
    await press(bot, uid, "Team member")
    await press(bot, uid, "石桥村")
    replies = await bot.text(TOWNSHIP, "Li Lei")
    assert "Invite created" in replies[0] and "2026-12-05 09:00" in replies[0]
    assert "Valid until" in replies[0]


async def test_failure_after_answering_a_press_still_tells_the_user(tmp_path: Path) -> None:
    """The error handler must not trip over the already answered callback query."""
    async with running(tmp_path) as harness:
        job_queue = harness.app.job_queue
        assert job_queue is not None
        await job_queue.start()
        try:
            uid = SECRETARY.telegram_id
            await harness.command(SECRETARY, "invite")
            flow = harness.api.last_message_to(uid)
            harness.api.faults.script("editMessageText", Fault(FaultKind.ERROR_BEFORE, status=400))
            await harness.deliver(harness.api.press(uid, flow, "invite:role:member"))
            assert harness.api.texts_to(uid)[-1].startswith("出了点问题")
        finally:
            await job_queue.stop(wait=False)
