"""走访, 报问题, the card's sections, /fix, 今日 and kept files through the real Application."""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app import build_application
from bot.config import load_settings
from bot.context import ZhucunApp
from bot.standin.transport import StandinRequest
from storage import audit
from tests.harness import Harness, persona, running, settings_for

MEMBER = persona("member")  # 李明, 石桥村
CADRE = persona("cadre")
SECRETARY = persona("secretary")
TOWNSHIP = persona("township")
COUNTY = persona("county")
ADMIN = persona("admin")
STRANGER_ID = 1099
WANG = "5119021010010001"  # 王秀英, 石桥村
LUO = "5119021020010001"  # 罗开富, 青龙村 (another township)
SEVERAL = "5119021010010"  # the start of every 石桥村 registry number
JPEG = b"\xff\xd8\xff\xe0" + b"photo-bytes" * 10
OGG = b"OggS" + b"voice" * 10


@pytest.fixture
async def bot(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> AsyncIterator[Harness]:
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
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [(b["text"], b.get("callback_data", "")) for row in rows for b in row]


def last_with_buttons(bot: Harness, user_id: int) -> dict[str, Any]:
    for message in reversed(bot.api.bot_messages(user_id)):
        if buttons(message):
            return message
    raise AssertionError("no message with buttons")


async def press(bot: Harness, user_id: int, label: str) -> list[str]:
    """Press the button with this label on the latest message that has buttons; new replies."""
    message = last_with_buttons(bot, user_id)
    data = dict(buttons(message))[label]
    before = len(bot.api.bot_messages(user_id))
    await bot.deliver(bot.api.press(user_id, message, data))
    return bot.api.texts_to(user_id)[before:]


async def forge(bot: Harness, user_id: int, data: str) -> dict[str, Any]:
    """A callback query with data of the caller's choosing; the answer it got."""
    bot.api.add_user(user_id)
    message = bot.api.last_message_to(user_id)
    query_id = f"forged-{len(bot.api.calls)}"
    query = {
        "id": query_id,
        "from": dict(bot.api.users[user_id]),
        "message": dict(message),
        "chat_instance": "forged",
        "data": data,
    }
    bot.api.open_queries[query_id] = query
    await bot.deliver({"update_id": 900_000 + len(bot.api.calls), "callback_query": query})
    return bot.api.calls_to("answerCallbackQuery")[-1].params


async def send(bot: Harness, user_id: int, update: dict[str, Any]) -> list[str]:
    before = len(bot.api.bot_messages(user_id))
    await bot.deliver(update)
    return bot.api.texts_to(user_id)[before:]


async def visits(bot: Harness) -> list[dict[str, Any]]:
    rows = await bot.services.db.fetchall("SELECT * FROM visits ORDER BY id")
    return [dict(r) for r in rows]


async def problems(bot: Harness) -> list[dict[str, Any]]:
    rows = await bot.services.db.fetchall("SELECT * FROM problems ORDER BY id")
    return [dict(r) for r in rows]


async def household(bot: Harness, registry_no: str) -> dict[str, Any]:
    row = await bot.services.db.fetchone(
        "SELECT * FROM households WHERE registry_no = ?", (registry_no,)
    )
    assert row is not None
    return dict(row)


# --- 3. visits ----------------------------------------------------------------------------------


async def test_visit_one_line_saves_at_once_and_updates_the_household(bot: Harness) -> None:
    replies = await bot.command(MEMBER, "visit", "王秀英 老伴卧床,已联系村医")
    assert len(replies) == 1 and "走访已保存" in replies[0] and "编号 V1" in replies[0]
    assert "老伴卧床,已联系村医" in replies[0]
    [visit] = await visits(bot)
    assert (visit["text"], visit["backdated"], visit["one_line"]) == ("老伴卧床,已联系村医", 0, 1)
    assert visit["visit_day"] == "2026-11-28"
    assert (await household(bot, WANG))["last_visit_at"] is not None
    [event] = await audit.events_for(bot.services.db, "visit", visit["id"])
    assert event.action == "visit.create" and event.actor == "member:1"


@pytest.mark.parametrize("query", ["王秀应", "wxy", "wangxiuying", "0001"])
async def test_visit_finds_the_household_by_every_spelling(bot: Harness, query: str) -> None:
    replies = await bot.command(MEMBER, "visit", f"{query} 送去米面油")
    assert "王秀英" in replies[-1] and "走访已保存" in replies[-1]


async def test_visit_backdated_and_future_and_bad_dates(bot: Harness) -> None:
    replies = await bot.command(MEMBER, "visit", "王秀英 昨天 量了血压")
    assert "11月27日" in replies[0] and "补录" in replies[0]
    [visit] = await visits(bot)
    assert (visit["visit_day"], visit["backdated"], visit["text"]) == ("2026-11-27", 1, "量了血压")
    assert "将来" in (await bot.command(MEMBER, "visit", "王秀英 明天 再来"))[0]
    assert "没有“2月30日”这一天" in (await bot.command(MEMBER, "visit", "王秀英 2月30日 来过"))[0]
    assert len(await visits(bot)) == 1


async def test_visit_several_matches_give_buttons_then_save_the_line(bot: Harness) -> None:
    replies = await bot.command(SECRETARY, "visit", "5119021010010 看望")  # the village's prefix
    assert "找到 5 户" in replies[0]
    labels = [label for label, _ in buttons(bot.api.last_message_to(SECRETARY.telegram_id))]
    assert any("石桥村" in label and WANG in label for label in labels)
    saved = await press(bot, SECRETARY.telegram_id, f"王秀英 · 石桥村 · {WANG}")
    assert "走访已保存" in saved[-1]


async def test_visit_guided_with_photos_voice_checklist_and_follow_up(bot: Harness) -> None:
    uid = MEMBER.telegram_id
    assert "走访" in (await bot.text(MEMBER, "走访"))[0]  # the keyboard button
    assert "王秀英" in (await bot.text(MEMBER, "王秀英"))[0]
    await bot.text(MEMBER, "老伴卧床，药快吃完了")
    assert await send(bot, uid, bot.api.photo(uid, JPEG, caption="卧室")) == []  # edited instead
    assert "文字 1 段，照片 1 张" in bot.api.texts_to(uid)[-1]
    group = "album-1"
    await send(bot, uid, bot.api.photo(uid, JPEG + b"2", media_group_id=group))
    await send(bot, uid, bot.api.photo(uid, JPEG + b"3", media_group_id=group))
    await send(bot, uid, bot.api.voice(uid, OGG))
    # one status message, edited as the files arrived
    statuses = [t for t in bot.api.texts_to(uid) if t.startswith("已收到")]
    assert statuses == ["已收到：文字 1 段，照片 3 张，语音 1 条。可以继续发送，发完点「下一步」。"]
    await press(bot, uid, "下一步 ➡")
    await press(bot, uid, "基本医疗：未观察")
    await press(bot, uid, "基本医疗：已保障")  # → not met
    await press(bot, uid, "不愁吃：未观察")  # → met
    await press(bot, uid, "完成 ✔")
    saved = await bot.text(MEMBER, "12月5日")
    assert "走访已保存" in saved[-1] and "回访日期：12月5日" in saved[-1]
    assert "照片和语音：4 个" in saved[-1] and "基本医疗:未保障" in saved[-1]
    [visit] = await visits(bot)
    assert (visit["medical"], visit["food"], visit["water"]) == ("not_met", "met", None)
    assert visit["follow_up_day"] == "2026-12-05" and visit["one_line"] == 0
    wang = await household(bot, WANG)
    assert (wang["medical"], wang["food"], wang["water"]) == ("not_met", "met", "unknown")
    files = await bot.services.db.fetchall("SELECT * FROM files ORDER BY id")
    assert [f["visit_id"] for f in files] == [visit["id"]] * 4
    assert [f["kind"] for f in files] == ["photo", "photo", "photo", "voice"]
    assert files[0]["caption"] == "卧室"


async def test_visit_rejects_long_text_stickers_and_stale_buttons(bot: Harness) -> None:
    uid = MEMBER.telegram_id
    assert "2000" in (await bot.command(MEMBER, "visit", "王秀英 " + "很" * 2001))[0]
    await bot.command(MEMBER, "visit", "王秀英")  # the notes step
    await bot.command(SECRETARY, "visit", SEVERAL)
    sticker = await send(bot, SECRETARY.telegram_id, bot.api.sticker(SECRETARY.telegram_id))
    assert "按钮" in sticker[0]
    voice = await send(bot, SECRETARY.telegram_id, bot.api.voice(SECRETARY.telegram_id, OGG))
    assert "按钮" in voice[0]
    old = last_with_buttons(bot, SECRETARY.telegram_id)
    await bot.command(SECRETARY, "cancel")
    data = dict(buttons(old))[f"王秀英 · 石桥村 · {WANG}"]
    await bot.deliver(bot.api.press(SECRETARY.telegram_id, old, data))
    answer = bot.api.calls_to("answerCallbackQuery")[-1].params
    assert "过期" in answer["text"]
    sticker = await send(bot, uid, bot.api.sticker(uid))
    assert "文字、照片和语音" in sticker[0]
    assert await visits(bot) == []


async def test_visit_edit_of_a_one_line_visit_within_48_hours(bot: Harness) -> None:
    uid = MEMBER.telegram_id
    command = bot.api.command(uid, "visit", "王秀英 老伴卧床")
    await bot.deliver(command)
    edited = await send(
        bot, uid, bot.api.edited_message(uid, command, "/visit 王秀英 老伴卧床，已联系村医")
    )
    assert "已按修改后的消息更新走访 V1" in edited[0]
    [visit] = await visits(bot)
    assert visit["text"] == "老伴卧床，已联系村医"
    events = await audit.events_for(bot.services.db, "visit", visit["id"])
    assert [e.action for e in events] == ["visit.create", "visit.edit"]
    assert json.loads(events[1].before or "{}")["text"] == "老伴卧床"
    bot.clock.advance(timedelta(hours=49))
    late = await send(bot, uid, bot.api.edited_message(uid, command, "/visit 王秀英 改了"))
    assert "48 小时" in late[0]
    assert (await visits(bot))[0]["text"] == "老伴卧床，已联系村医"
    other = bot.api.user_message(uid, "随便说说")
    await bot.deliver(other)
    ignored = await send(bot, uid, bot.api.edited_message(uid, other, "改一下"))
    assert "不会自动更新" in ignored[0]


async def test_visit_duplicate_delivery_creates_nothing_new(bot: Harness) -> None:
    uid = MEMBER.telegram_id
    command = bot.api.command(uid, "visit", "王秀英 送药")
    await bot.deliver(command)
    await bot.deliver(command)
    assert len(await visits(bot)) == 1
    assert sum("编号 V1" in t for t in bot.api.texts_to(uid)) == 2  # answered again, same entry
    # guided: the last press delivered twice
    await bot.command(MEMBER, "visit", "王秀英")
    await bot.text(MEMBER, "看望")
    await press(bot, uid, "下一步 ➡")
    await press(bot, uid, "完成 ✔")
    message = last_with_buttons(bot, uid)
    data = dict(buttons(message))["不需要回访"]
    await bot.deliver(bot.api.press(uid, message, data))
    assert len(await visits(bot)) == 2
    # the last step handled again (a crash before the flow's end was stored): the same visit
    visit = (await visits(bot))[-1]
    member = await bot.services.members.identify(uid)
    again = await bot.services.visits.record(
        member,
        visit["household_id"],
        notes=bot.services.visits.notes("另一份"),
        at=bot.clock.now(),
        source=(visit["source_chat_id"], visit["source_message_id"]),
    )
    assert (again.created, again.visit.id, again.visit.text) == (False, visit["id"], "看望")
    assert len(await visits(bot)) == 2


async def test_visit_scope_refusals(bot: Harness) -> None:
    luo = await household(bot, LUO)
    replies = await bot.command(MEMBER, "visit", "罗开富 看望")
    assert "没有找到" in replies[0]
    # a flow waiting for a pick: a forged id outside scope is not found
    await bot.command(SECRETARY, "visit", SEVERAL)
    answer = await forge(bot, SECRETARY.telegram_id, f"visit:hh:{luo['id']}")
    assert answer["text"] == "没有找到。"
    for who in (TOWNSHIP, COUNTY, ADMIN):
        assert "只有驻村队员" in (await bot.command(who, "visit", "王秀英 看望"))[0]
    assert "还没有注册" in (await bot.command(STRANGER_ID, "visit", "王秀英 看望"))[0]
    assert await visits(bot) == []


async def _restart(tmp_path: Path, bot: Harness) -> ZhucunApp:
    settings = load_settings(settings_for(tmp_path))
    app = build_application(settings, clock=bot.clock, request=StandinRequest(bot.api))
    await app.initialize()
    assert app.post_init is not None
    await app.post_init(app)
    return app


async def test_visit_restart_in_the_middle_restores_the_flow(tmp_path: Path) -> None:
    uid = MEMBER.telegram_id
    async with running(tmp_path) as bot:
        assert bot.app.job_queue is not None
        await bot.app.job_queue.start()
        await bot.command(MEMBER, "visit", "王秀英")
        await bot.text(MEMBER, "门前路滑")
        await send(bot, uid, bot.api.photo(uid, JPEG))
        api, clock = bot.api, bot.clock
        await bot.app.job_queue.stop(wait=False)
    # a new Application on the same store: the flow and its draft come back
    restarted = Harness(await _restart(tmp_path, bot), api, clock)
    assert restarted.app.job_queue is not None
    await restarted.app.job_queue.start()
    try:
        await restarted.text(MEMBER, "已经提醒注意")
        await press(restarted, uid, "下一步 ➡")
        await press(restarted, uid, "完成 ✔")
        saved = await press(restarted, uid, "不需要回访")
        assert "走访已保存" in saved[-1] and "门前路滑\n已经提醒注意" in saved[-1]
        assert "照片和语音：1 个" in saved[-1]
    finally:
        await restarted.app.job_queue.stop(wait=False)
        assert restarted.app.post_shutdown is not None
        await restarted.app.post_shutdown(restarted.app)
        await restarted.app.shutdown()


# --- 4. problems --------------------------------------------------------------------------------


async def _report(bot: Harness, severity: str, household: str | None = "王秀英") -> list[str]:
    uid = MEMBER.telegram_id
    await bot.text(MEMBER, "报问题")
    await press(bot, uid, "医疗")
    await bot.text(MEMBER, "村卫生室缺降压药")
    if household is None:
        await press(bot, uid, "不涉及具体农户")
    else:
        await bot.text(MEMBER, household)
    await press(bot, uid, "不发照片")
    return await press(bot, uid, severity)


async def test_problem_urgent_alerts_the_township_once(bot: Harness) -> None:
    for leader in (TOWNSHIP, COUNTY):
        bot.api.add_user(leader.telegram_id)  # they registered, so their chats exist
    saved = await _report(bot, "🚨 紧急（3 天内办理）")
    assert "问题已上报" in saved[-1] and "编号 P1" in saved[-1] and "12月1日" in saved[-1]
    [problem] = await problems(bot)
    assert (problem["category"], problem["severity"], problem["due_day"]) == (
        "medical",
        "urgent",
        "2026-12-01",
    )
    alerts = [t for t in bot.api.texts_to(TOWNSHIP.telegram_id) if "紧急问题" in t]
    assert len(alerts) == 1 and "P1" in alerts[0] and "李明" in alerts[0]
    assert not [t for t in bot.api.texts_to(COUNTY.telegram_id) if "紧急问题" in t]
    delivery = await bot.services.deliveries.get(f"problem_urgent:{TOWNSHIP.telegram_id}:P1")
    assert delivery is not None and delivery.status == "sent"
    events = await bot.services.problems.events(problem["id"])
    assert events == [("created", "open")]


async def test_problem_normal_with_photo_and_no_household(bot: Harness) -> None:
    uid = MEMBER.telegram_id
    await bot.command(MEMBER, "problem")
    await press(bot, uid, "道路")
    await send(bot, uid, bot.api.photo(uid, JPEG, caption="村口桥面开裂"))
    await press(bot, uid, "不涉及具体农户")
    saved = await press(bot, uid, "一般（14 天内办理）")
    assert "照片：1 张" in saved[-1] and "12月12日" in saved[-1]
    [problem] = await problems(bot)
    assert problem["household_id"] is None and problem["description"] == "村口桥面开裂"
    assert not [t for t in bot.api.texts_to(TOWNSHIP.telegram_id) if "紧急问题" in t]


async def test_problem_bad_input_and_refusals(bot: Harness) -> None:
    uid = MEMBER.telegram_id
    await bot.command(MEMBER, "problem")
    assert "按钮" in (await send(bot, uid, bot.api.sticker(uid)))[0]
    await press(bot, uid, "住房")
    assert "2000" in (await bot.text(MEMBER, "漏" * 2001))[0]
    await bot.text(MEMBER, "屋顶漏雨")
    assert "没有找到“罗开富”" in (await bot.text(MEMBER, "罗开富"))[0]
    await bot.command(MEMBER, "cancel")
    assert "只有驻村队员" in (await bot.command(TOWNSHIP, "problem"))[0]
    assert await problems(bot) == []


# --- 5. card sections and secretary corrections ------------------------------------------------


async def test_card_sections_show_last_three_visits_and_open_problems(bot: Harness) -> None:
    for n, note in enumerate(["一", "二", "三", "四"]):
        bot.clock.advance(timedelta(minutes=n + 1))
        await bot.command(MEMBER, "visit", f"王秀英 第{note}次")
    await _report(bot, "一般（14 天内办理）")
    card = (await bot.command(MEMBER, "household", "王秀英"))[0]
    assert "最近走访\n" in card and "第四次" in card and "第二次" in card
    assert "第一次" not in card
    assert "未解决的问题\n" in card and "医疗 · 一般 · 待办理" in card and "P1" in card
    other = (await bot.command(MEMBER, "household", "曾德华"))[0]
    assert "还没有走访记录" in other and "没有未解决的问题" in other


async def test_card_sections_secretary_corrects_and_voids_the_author_is_told(bot: Harness) -> None:
    sid = SECRETARY.telegram_id
    await bot.command(MEMBER, "visit", "王秀英 老伴卧床")
    shown = await bot.command(SECRETARY, "fix", "V1")
    assert "走访 V1" in shown[0] and "李明" in shown[0]
    await press(bot, sid, "更正内容")
    done = await bot.text(SECRETARY, "老伴卧床三年，已办慢病卡")
    assert "已更正 V1" in done[0]
    told = bot.api.texts_to(MEMBER.telegram_id)[-1]
    assert "V1" in told and "王建军" in told and "慢病卡" in told
    events = await audit.events_for(bot.services.db, "visit", 1)
    assert events[-1].action == "visit.correct"
    assert json.loads(events[-1].before or "{}") == {"text": "老伴卧床"}
    await _report(bot, "一般（14 天内办理）")
    await bot.command(SECRETARY, "fix", "P1")
    await press(bot, sid, "作废")
    await press(bot, sid, "确认作废")
    assert (await problems(bot))[0]["voided"] == 1
    assert "作废" in bot.api.texts_to(MEMBER.telegram_id)[-1]
    card = (await bot.command(MEMBER, "household", "王秀英"))[0]
    assert "没有未解决的问题" in card and "慢病卡" in card


@pytest.mark.parametrize(
    ("who", "action", "allowed"),
    [
        (who, action, allowed)
        for action, allowed_roles in {
            "visit": {"member", "cadre", "secretary"},
            "problem": {"member", "cadre", "secretary"},
            "fix": {"secretary", "township", "county", "admin"},
            "today": {"member", "cadre", "secretary", "township", "county", "admin"},
        }.items()
        for who in ("member", "cadre", "secretary", "township", "county", "admin", "stranger")
        for allowed in [who in allowed_roles]
    ],
)
async def test_who_may_matrix(bot: Harness, who: str, action: str, allowed: bool) -> None:
    if action == "fix":
        await bot.command(MEMBER, "visit", "王秀英 看望")
    actor = STRANGER_ID if who == "stranger" else persona(who)
    args = {"visit": "王秀英 看望", "problem": "", "fix": "V1", "today": ""}[action]
    replies = await bot.command(actor, action, args)
    refused = ("还没有注册", "只有", "没有找到")
    assert any(r in replies[0] for r in refused) is not allowed, replies


# --- 6. today -----------------------------------------------------------------------------------


async def test_today_shows_the_members_day_and_who_is_not_covered(bot: Harness) -> None:
    uid = MEMBER.telegram_id
    before = (await bot.command(MEMBER, "today"))[0]
    assert "今天还没有签到" in before and "30 天内没有走访的农户：5 户" in before
    await send(bot, uid, bot.api.location(uid, 31.8810, 106.8130, horizontal_accuracy=20))
    await bot.command(MEMBER, "visit", "王秀英 看望")
    await _report(bot, "一般（14 天内办理）", household=None)
    day = (await bot.text(MEMBER, "今日"))[0]
    assert "已签到：石桥村" in day
    assert "今天的走访：1 户" in day and "王秀英：看望（V1）" in day
    assert "今天报的问题：1 个" in day and "医疗 · 一般" in day
    assert "4 户" in day and "王秀英（" not in day
    order = [name for name in ("曾德华", "单国平", "刘大贵", "何春梅") if name in day]
    assert order == ["曾德华", "单国平", "刘大贵", "何春梅"]
    leader = (await bot.command(TOWNSHIP, "today"))[0]
    assert "每日汇总" in leader and "罗开富" not in leader


# --- 7. files -----------------------------------------------------------------------------------


async def test_files_are_kept_owner_only_and_too_big_keeps_the_id(bot: Harness) -> None:
    uid = MEMBER.telegram_id
    await bot.command(MEMBER, "visit", "王秀英")
    await send(bot, uid, bot.api.photo(uid, JPEG))
    big = bot.api.voice(uid, b"0" * (20 * 1024 * 1024 + 1))
    replies = await send(bot, uid, big)
    assert "超过 20 MB" in replies[0]
    files = await bot.services.db.fetchall("SELECT * FROM files ORDER BY id")
    assert files[0]["path"] is not None and files[1]["path"] is None
    assert files[1]["telegram_file_id"] == big["message"]["voice"]["file_id"]
    root = bot.services.files.root
    kept = root / files[0]["path"]
    assert kept.read_bytes() == JPEG
    assert stat.S_IMODE(os.stat(kept).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(root).st_mode) == 0o700
    await press(bot, uid, "下一步 ➡")
    await press(bot, uid, "完成 ✔")
    saved = await press(bot, uid, "不需要回访")
    assert "照片和语音：2 个" in saved[-1]
