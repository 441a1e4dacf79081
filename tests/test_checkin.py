"""签到 through the real Application: verification, geofence, live fixes, villages, refusals."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.attendance import CheckIn, Unverified
from bot.models import Role
from bot.sample import OTHER_VILLAGE, SAMPLE_ACTOR, VILLAGE
from bot.services.imports import import_regions
from storage import audit
from storage import checkins as checkin_repo
from tests.harness import Harness, persona, running

MEMBER = persona("member")  # 李明, 石桥村: centre 31.8802,106.8123, radius 1200 m
CADRE = persona("cadre")
TOWNSHIP = persona("township")
ADMIN = persona("admin")
STRANGER_ID = 1099
INSIDE = (31.8810, 106.8130)  # about 110 m from the centre
OUTSIDE = (31.9000, 106.8123)  # about 2.2 km north


@pytest.fixture
async def bot(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> AsyncIterator[Harness]:
    """The harness with its JobQueue running; any ERROR log fails the test."""
    async with running(tmp_path) as harness:
        job_queue = harness.app.job_queue
        assert job_queue is not None
        await job_queue.start()
        try:
            yield harness
        finally:
            await job_queue.stop(wait=False)
    assert [r.getMessage() for r in caplog.get_records("call") if r.levelno >= logging.ERROR] == []


async def checkins(bot: Harness, user_id: int = MEMBER.telegram_id) -> list[CheckIn]:
    rows = await bot.services.db.fetchall(
        "SELECT c.id FROM checkins c JOIN members m ON m.id = c.member_id"
        " WHERE m.telegram_user_id = ? ORDER BY c.id",
        (user_id,),
    )
    found = []
    for row in rows:
        checkin = await _get(bot, row["id"])
        found.append(checkin)
    return found


async def _get(bot: Harness, checkin_id: int) -> CheckIn:
    got = await checkin_repo.get(bot.services.db, checkin_id)
    assert got is not None
    return got


async def send(
    bot: Harness, update: dict[str, Any], user_id: int = MEMBER.telegram_id
) -> list[str]:
    before = len(bot.api.bot_messages(user_id))
    await bot.deliver(update)
    return bot.api.texts_to(user_id)[before:]


async def share(
    bot: Harness,
    point: tuple[float, float] = INSIDE,
    user_id: int = MEMBER.telegram_id,
    **kwargs: Any,
) -> list[str]:
    return await send(bot, bot.api.location(user_id, point[0], point[1], **kwargs), user_id)


def last_markup(bot: Harness, user_id: int = MEMBER.telegram_id) -> dict[str, Any]:
    sent = [c for c in bot.api.calls_to("sendMessage") if c.params["chat_id"] == user_id]
    markup = sent[-1].params.get("reply_markup") or {}
    return json.loads(markup) if isinstance(markup, str) else dict(markup)


def asks_for_location(markup: dict[str, Any]) -> bool:
    return any(b.get("request_location") for row in markup.get("keyboard", []) for b in row)


async def press(bot: Harness, user_id: int, label: str) -> list[str]:
    """Press the button with this label on the bot's latest message that has one."""
    for message in reversed(bot.api.bot_messages(user_id)):
        rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
        found = [b["callback_data"] for row in rows for b in row if b["text"] == label]
        if found:
            data = found[0]
            break
    else:
        raise AssertionError(f"no button {label!r}")
    before = len(bot.api.bot_messages(user_id))
    await bot.deliver(bot.api.press(user_id, message, data))
    return bot.api.texts_to(user_id)[before:]


# --- verification and the geofence --------------------------------------------------------------


async def test_checkin_in_fence_verified(bot: Harness) -> None:
    asked = await bot.command(MEMBER, "checkin")
    assert len(asked) == 1 and "石桥村" in asked[0]
    assert asks_for_location(last_markup(bot))

    replies = await share(bot, horizontal_accuracy=15)
    assert len(replies) == 1
    assert "签到已保存" in replies[0] and "石桥村" in replies[0]
    assert "11月28日 09:00" in replies[0]
    assert "距村中心 1" in replies[0] and "在签到范围内" in replies[0]
    assert "已核验" in replies[0]
    assert not asks_for_location(last_markup(bot)), "the request-location keyboard is gone"
    assert "keyboard" in last_markup(bot)

    [stored] = await checkins(bot)
    assert stored.verified and stored.in_fence and stored.reason is None
    assert stored.village_code == VILLAGE and stored.accuracy_m == 15
    assert stored.distance_m is not None and 80 < stored.distance_m < 140
    assert stored.counts
    events = await audit.events_for(bot.services.db, "checkin", stored.id)
    assert [e.action for e in events] == ["checkin.create"]


async def test_checkin_out_of_fence(bot: Harness) -> None:
    await bot.command(MEMBER, "checkin")
    replies = await share(bot, OUTSIDE, horizontal_accuracy=10)
    assert "不在签到范围内" in replies[0] and "不在村里" in replies[0]
    [stored] = await checkins(bot)
    assert stored.verified and stored.in_fence is False and not stored.counts
    assert stored.distance_m is not None and 2000 < stored.distance_m < 2300


@pytest.mark.parametrize(
    ("kwargs", "reason", "shown"),
    [
        ({}, Unverified.NO_ACCURACY, "手动选的点"),
        ({"horizontal_accuracy": 1500}, Unverified.POOR_ACCURACY, "精度太差"),
        ({"horizontal_accuracy": 10, "forwarded": True}, Unverified.FORWARDED, "转发"),
    ],
)
async def test_unverified_locations(
    bot: Harness, kwargs: dict[str, Any], reason: Unverified, shown: str
) -> None:
    await bot.command(MEMBER, "checkin")
    replies = await share(bot, **kwargs)
    assert len(replies) == 1 and "未核验" in replies[0] and shown in replies[0]
    assert "在签到范围内" in replies[0]  # the distance is still measured and shown
    [stored] = await checkins(bot)
    assert not stored.verified and stored.reason is reason and not stored.counts


async def test_venue_is_unverified(bot: Harness) -> None:
    await bot.command(MEMBER, "checkin")
    update = bot.api.location(MEMBER.telegram_id, *INSIDE, horizontal_accuracy=5)
    update["message"]["venue"] = {
        "location": {"latitude": INSIDE[0], "longitude": INSIDE[1]},
        "title": "石桥村村委会",
        "address": "石桥村",
    }
    replies = await send(bot, update)
    assert "未核验" in replies[0] and "选择的地点" in replies[0]
    [stored] = await checkins(bot)
    assert stored.reason is Unverified.VENUE


async def test_village_without_centre_is_unverified(bot: Harness, tmp_path: Path) -> None:
    csv = tmp_path / "more.csv"
    csv.write_text(
        "编码,上级编码,级别,名称,类型\n511902101004,511902101,村,新建村,贫困村\n", encoding="utf-8"
    )
    await import_regions(bot.services.db, bot.clock, csv, SAMPLE_ACTOR)
    invite = await bot.services.invites.create(
        role=Role.MEMBER, region_code="511902101004", name="孙新", operator=SAMPLE_ACTOR
    )
    await bot.command(3001, "start", invite.code)
    await bot.command(3001, "checkin")
    replies = await share(bot, user_id=3001, horizontal_accuracy=10)
    assert "新建村" in replies[0] and "未核验" in replies[0] and "村中心" in replies[0]
    [stored] = await checkins(bot, 3001)
    assert stored.reason is Unverified.NO_CENTRE and stored.distance_m is None


async def test_bare_location_checks_in_without_the_command(bot: Harness) -> None:
    replies = await share(bot, horizontal_accuracy=20)
    assert len(replies) == 1 and "签到已保存" in replies[0]
    assert len(await checkins(bot)) == 1


async def test_checkin_button_starts_the_flow(bot: Harness) -> None:
    asked = await bot.text(MEMBER, "签到")
    assert "发送我的位置" in asked[0] and asks_for_location(last_markup(bot))


# --- live location ------------------------------------------------------------------------------


async def test_live_location_first_fix_then_refined_by_edits(bot: Harness) -> None:
    await bot.command(MEMBER, "checkin")
    first = bot.api.location(MEMBER.telegram_id, *OUTSIDE, horizontal_accuracy=30, live_period=900)
    replies = await send(bot, first)
    assert "不在签到范围内" in replies[0]
    [created] = await checkins(bot)
    assert created.live and created.in_fence is False

    bot.clock.advance(timedelta(minutes=3))
    edit = copy.deepcopy(first)
    message = edit.pop("message")
    message["location"] = {
        "latitude": INSIDE[0],
        "longitude": INSIDE[1],
        "horizontal_accuracy": 12,
        "live_period": 900,
    }
    message["edit_date"] = int(bot.clock.now().timestamp())
    edit["edited_message"] = message
    edit["update_id"] += 10_000
    replies = await send(bot, edit)
    assert len(replies) == 1 and "实时位置已更新签到" in replies[0] and "已核验" in replies[0]

    [refined] = await checkins(bot)
    assert refined.id == created.id
    assert refined.in_fence and refined.verified and refined.accuracy_m == 12
    assert refined.at == created.at and refined.updated_at is not None
    assert refined.counts

    # A further fix that changes nothing visible updates the row quietly.
    message = copy.deepcopy(message)
    message["location"]["latitude"] = INSIDE[0] + 0.0001
    again = {"update_id": edit["update_id"] + 1, "edited_message": message}
    assert await send(bot, again) == []
    [quiet] = await checkins(bot)
    assert quiet.lat == pytest.approx(INSIDE[0] + 0.0001)


async def test_edit_of_a_non_live_location_changes_nothing(bot: Harness) -> None:
    await bot.command(MEMBER, "checkin")
    first = bot.api.location(MEMBER.telegram_id, *INSIDE, horizontal_accuracy=10)
    await send(bot, first)
    message = copy.deepcopy(first["message"])
    message["location"] = {"latitude": OUTSIDE[0], "longitude": OUTSIDE[1]}
    message["edit_date"] = int(bot.clock.now().timestamp())
    await send(bot, {"update_id": 99_999, "edited_message": message})
    [stored] = await checkins(bot)
    assert stored.in_fence and stored.lat == INSIDE[0]


# --- a note without a location, duplicates ----------------------------------------------------


async def test_checkin_with_note_and_no_location_is_unverified(bot: Harness) -> None:
    replies = await bot.command(MEMBER, "checkin", "今天在镇上开会")
    assert len(replies) == 1
    assert "签到已保存" in replies[0] and "未核验" in replies[0] and "没有发送位置" in replies[0]
    assert "今天在镇上开会" in replies[0]
    [stored] = await checkins(bot)
    assert stored.reason is Unverified.NO_LOCATION and stored.note == "今天在镇上开会"
    assert stored.lat is None and not stored.counts


async def test_duplicate_delivery_creates_one_checkin(bot: Harness) -> None:
    await bot.command(MEMBER, "checkin")
    update = bot.api.location(MEMBER.telegram_id, *INSIDE, horizontal_accuracy=10)
    first = await send(bot, update)
    second = await send(bot, update)
    assert "签到已保存" in first[0] and "签到已保存" in second[0]
    assert len(await checkins(bot)) == 1

    note = bot.api.command(MEMBER.telegram_id, "checkin", "在村委开会")
    await send(bot, note)
    await send(bot, note)
    assert len(await checkins(bot)) == 2
    rows = await bot.services.db.fetchall(
        "SELECT count(*) AS n FROM audit_events WHERE action = 'checkin.create'"
    )
    assert rows[0]["n"] == 2


# --- several villages ---------------------------------------------------------------------------


async def join_second_village(bot: Harness) -> None:
    invite = await bot.services.invites.create(
        role=Role.MEMBER, region_code=OTHER_VILLAGE, name="李明", operator=SAMPLE_ACTOR
    )
    await bot.command(MEMBER, "start", invite.code)


async def test_member_of_two_villages_picks_by_button(bot: Harness) -> None:
    await join_second_village(bot)
    asked = await bot.command(MEMBER, "checkin")
    assert "选择" in asked[0]
    labels = [
        b["text"]
        for row in bot.api.last_message_to(MEMBER.telegram_id)["reply_markup"]["inline_keyboard"]
        for b in row
    ]
    assert labels == ["石桥村", "桂花村"]

    typed = await bot.text(MEMBER, "桂花村")
    assert "按钮" in typed[0]

    asked = await press(bot, MEMBER.telegram_id, "桂花村")
    assert "桂花村" in asked[-1] and asks_for_location(last_markup(bot))
    replies = await share(bot, (31.8925, 106.8391), horizontal_accuracy=10)
    assert "桂花村" in replies[0] and "已核验" in replies[0]
    [stored] = await checkins(bot)
    assert stored.village_code == OTHER_VILLAGE and stored.counts


async def test_two_villages_note_and_bare_location_pick_first(bot: Harness) -> None:
    await join_second_village(bot)
    await bot.command(MEMBER, "checkin", "入户走访")
    replies = await press(bot, MEMBER.telegram_id, "石桥村")
    assert "签到已保存" in replies[-1] and "入户走访" in replies[-1]

    await share(bot, horizontal_accuracy=10)
    replies = await press(bot, MEMBER.telegram_id, "石桥村")
    assert "已核验" in replies[-1]
    stored = await checkins(bot)
    assert [c.reason for c in stored] == [Unverified.NO_LOCATION, None]


async def test_forged_village_button_is_not_found(bot: Harness) -> None:
    await join_second_village(bot)
    await bot.command(MEMBER, "checkin")
    message = bot.api.last_message_to(MEMBER.telegram_id)
    # Rewrite a button to point at a village outside the member's scope, then press it.
    message["reply_markup"]["inline_keyboard"][0][0]["callback_data"] = (
        "checkin:village:511902102001"
    )
    await bot.deliver(bot.api.press(MEMBER.telegram_id, message, "checkin:village:511902102001"))
    answers = bot.api.calls_to("answerCallbackQuery")
    assert answers[-1].params.get("text") == "没有找到。"
    assert await checkins(bot) == []


# --- who may check in, bad input ------------------------------------------------------------------


@pytest.mark.parametrize("who", [TOWNSHIP, ADMIN, persona("county")])
async def test_leaders_cannot_check_in(bot: Harness, who: Any) -> None:
    replies = await bot.command(who, "checkin")
    assert replies == ["只有驻村队员、村干部和第一书记可以签到。"]
    await share(bot, user_id=who.telegram_id, horizontal_accuracy=10)
    assert await checkins(bot, who.telegram_id) == []


async def test_stranger_cannot_check_in(bot: Harness) -> None:
    replies = await bot.command(STRANGER_ID, "checkin")
    assert "还没有注册" in replies[0]
    replies = await share(bot, user_id=STRANGER_ID, horizontal_accuracy=10)
    assert "还没有注册" in replies[0]


async def test_sticker_or_voice_instead_of_location_asks_again(bot: Harness) -> None:
    await bot.command(MEMBER, "checkin")
    replies = await send(bot, bot.api.sticker(MEMBER.telegram_id))
    assert "需要您的位置" in replies[0] and asks_for_location(last_markup(bot))
    replies = await send(bot, bot.api.voice(MEMBER.telegram_id, b"OggS voice"))
    assert "需要您的位置" in replies[0]
    replies = await bot.text(MEMBER, "我在村里")
    assert "需要您的位置" in replies[0]
    replies = await share(bot, horizontal_accuracy=10)
    assert "签到已保存" in replies[0] and not asks_for_location(last_markup(bot))


async def test_cancel_and_timeout_remove_the_location_keyboard(bot: Harness) -> None:
    await bot.command(MEMBER, "checkin")
    replies = await bot.command(MEMBER, "cancel")
    assert "已退出签到" in replies[0] and not asks_for_location(last_markup(bot))
    assert "keyboard" in last_markup(bot)
    assert await checkins(bot) == []


async def test_english_reply_has_the_same_facts(bot: Harness) -> None:
    await bot.command(MEMBER, "lang", "en")
    await bot.command(MEMBER, "checkin")
    replies = await share(bot, horizontal_accuracy=10)
    assert "Check-in saved" in replies[0] and "inside the check-in area" in replies[0]
    assert "11/28 09:00" in replies[0]
