"""/household, 查户 and free text through the real Application: search, card, status, adding."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.models import HouseholdStatus
from storage import audit
from storage import households as household_repo
from storage import members as member_repo
from storage.audit import member_actor
from storage.households import name_keys
from tests.harness import Harness, persona, running

MEMBER = persona("member")
SECRETARY = persona("secretary")
TOWNSHIP = persona("township")
WANG = "5119021010010001"  # 王秀英, 石桥村
LUO = "5119021020010001"  # 罗开富, 青龙村 in another township
CHEN = "5119021010020001"  # 陈永富, 桂花村: same township, another village
CJK = re.compile(r"[\u3400-\u9fff]")


@pytest.fixture
async def bot(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> AsyncIterator[Harness]:
    """The harness; a test that logs an ERROR (a handler crashed) fails."""
    async with running(tmp_path) as harness:
        job_queue = harness.app.job_queue
        assert job_queue is not None
        await job_queue.start()  # as in production, so flows get their timeout
        try:
            yield harness
        finally:
            await job_queue.stop(wait=False)
    assert [r.getMessage() for r in caplog.get_records("call") if r.levelno >= logging.ERROR] == []


def buttons(message: dict[str, Any]) -> list[tuple[str, str]]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [(b["text"], b.get("callback_data", "")) for row in rows for b in row]


async def press(bot: Harness, user_id: int, label: str) -> dict[str, Any]:
    """Press the button with this label on the bot's latest message; return that message."""
    message = bot.api.last_message_to(user_id)
    data = dict(buttons(message))[label]
    await bot.deliver(bot.api.press(user_id, message, data))
    return bot.api.messages[(user_id, message["message_id"])]


async def forge(bot: Harness, user_id: int, data: str) -> dict[str, Any]:
    """A callback query with data of the caller's choosing (a modified client); its answer."""
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


async def household_id(bot: Harness, registry_no: str) -> int:
    found = await household_repo.by_registry_no(bot.services.db, registry_no)
    assert found is not None
    return found.id


async def events(bot: Harness, action: str) -> list[audit.AuditEvent]:
    rows = await bot.services.db.fetchall(
        "SELECT * FROM audit_events WHERE action = ? ORDER BY id", (action,)
    )
    return [audit.AuditEvent.model_validate(dict(r)) for r in rows]


async def member_id(bot: Harness, key: str) -> int:
    member = await bot.services.members.identify(persona(key).telegram_id)
    assert member is not None
    return member.id


# --- search -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query", ["王秀英", "王秀应", "wxy", "wangxiuying", "WangXiuYing", "0001", WANG, "ｗｘｙ"]
)
async def test_every_spelling_finds_wang_xiuying(bot: Harness, query: str) -> None:
    replies = await bot.command(MEMBER, "household", query)
    assert len(replies) == 1
    assert "王秀英（户编号" in replies[0] and WANG in replies[0]


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("zengdehua", "曾德华"),
        ("cengdehua", "曾德华"),
        ("zdh", "曾德华"),
        ("cdh", "曾德华"),
        ("shanguoping", "单国平"),
        ("danguoping", "单国平"),
        ("sgp", "单国平"),
        ("dgp", "单国平"),
        ("曾德化", "曾德华"),  # an input-method typo on the given name
    ],
)
async def test_surnames_with_two_readings(bot: Harness, query: str, name: str) -> None:
    replies = await bot.command(MEMBER, "household", query)
    assert len(replies) == 1 and f"{name}（户编号" in replies[0]


@pytest.mark.parametrize(
    ("surname", "readings"),
    [("解", {"jie", "xie"}), ("仇", {"chou", "qiu"}), ("朴", {"pu", "piao"}),
     ("区", {"qu", "ou"}), ("查", {"cha", "zha"}), ("曾", {"zeng", "ceng"}),
     ("单", {"shan", "dan"})],
)  # fmt: skip
def test_surname_readings_become_search_keys(surname: str, readings: set[str]) -> None:
    keys = name_keys(surname + "小明")
    assert {k.removesuffix("xiaoming") for k in keys.pinyin} >= readings
    assert {k.removesuffix("xm") for k in keys.initials} >= {r[0] for r in readings}


async def test_several_matches_give_buttons_with_village_and_number(bot: Harness) -> None:
    uid = TOWNSHIP.telegram_id
    replies = await bot.command(TOWNSHIP, "household", "0001")
    assert replies == ["找到 3 户，请选择："]
    shown = buttons(bot.api.last_message_to(uid))
    assert [label for label, _ in shown] == [
        f"王秀英 · 石桥村 · {WANG}",
        f"陈永富 · 桂花村 · {CHEN}",
        "郑玉兰 · 柏林村 · 5119021010030001",
    ]
    assert all(len(data.encode()) <= 64 for _, data in shown)
    assert not await events(bot, "household.read")  # a list of names is not a card read

    await press(bot, uid, f"陈永富 · 桂花村 · {CHEN}")
    assert "陈永富（户编号" in bot.api.texts_to(uid)[-1]
    assert len(await events(bot, "household.read")) == 1


async def test_no_match_is_a_clear_reply(bot: Harness) -> None:
    replies = await bot.command(MEMBER, "household", "张三丰")
    assert replies == ["在您负责的范围内没有找到“张三丰”。可以试试户编号后四位、全拼或拼音首字母。"]


async def test_households_out_of_scope_are_not_found(bot: Harness) -> None:
    not_found = await bot.command(MEMBER, "household", "张三丰")
    # Another village of the same township, and a village of another township.
    for query in ("陈永富", "chenyongfu", CHEN, "罗开富", LUO):
        replies = await bot.command(MEMBER, "household", query)
        assert replies == [not_found[0].replace("张三丰", query)]
    for query in ("罗开富", "luokaifu", LUO):
        replies = await bot.command(TOWNSHIP, "household", query)
        assert replies and "没有找到" in replies[0]
    assert "罗开富（户编号" in (await bot.command(persona("county"), "household", "罗开富"))[0]


async def test_forged_card_id_outside_scope_answers_like_a_missing_one(bot: Harness) -> None:
    uid = MEMBER.telegram_id
    await bot.command(MEMBER, "household", "0001")  # something to press on
    sent = len(bot.api.texts_to(uid))
    outside = await forge(bot, uid, f"hh:card:{await household_id(bot, LUO)}")
    missing = await forge(bot, uid, "hh:card:999999")
    garbage = await forge(bot, uid, "hh:card:x'; DROP TABLE households")
    assert outside["text"] == missing["text"] == garbage["text"] == "没有找到。"
    assert outside["show_alert"] is True
    assert len(bot.api.texts_to(uid)) == sent
    assert not [e for e in await events(bot, "household.read") if e.entity_id != str(1)]


# --- the card ---------------------------------------------------------------------------------


async def test_card_content_and_masked_phone(bot: Harness) -> None:
    replies = await bot.command(MEMBER, "household", "王秀英")
    card = replies[0]
    for part in (
        "王秀英（户编号 5119021010010001）",
        "村：石桥村",
        "家庭人口：3 人",
        "状态：未脱贫",
        "致贫原因：因病、缺劳力",
        "帮扶措施：社会保障兜底",
        "帮扶责任人：李明",
        "人均纯收入：2650 元",
        "联系电话：138****1111",
        "• 不愁吃：未知",
        "• 饮水安全：未知",
        "备注：老伴长期卧床",
        "最近走访：还没有走访",
    ):
        assert part in card, part
    assert "13800001111" not in card
    assert card.count("• ") == 6
    # No phone: shown as none, not as an empty mask.
    assert "联系电话：无" in (await bot.command(MEMBER, "household", "单国平"))[0]


async def test_card_reads_are_audited_with_the_member_as_actor(bot: Harness) -> None:
    await bot.command(MEMBER, "household", "wxy")
    reads = await events(bot, "household.read")
    assert [(e.actor, e.entity, e.entity_id) for e in reads] == [
        (
            member_actor(await member_id(bot, "member")),
            "household",
            str(await household_id(bot, WANG)),
        )
    ]


async def test_card_in_english(bot: Harness) -> None:
    replies = await bot.command(MEMBER, "household", "wxy", language_code="en")
    card = replies[0]
    assert "Phone: 138****1111" in card and "Status: " in card
    assert not CJK.search(card.replace("王秀英", "").replace("石桥村", "").replace("李明", "")
                          .replace("老伴长期卧床", ""))  # fmt: skip


async def test_card_sections_plug_in_without_changing_the_card(bot: Harness) -> None:
    from bot.services.households import VISITS_SLOT, CardLine, CardSection

    async def visits(actor: Any, household: Any) -> CardSection:
        return CardSection(
            slot=VISITS_SLOT,
            title_key="household.card_visits_title_for_test",
            lines=(CardLine(key="household.guarantee_line", params={"item": "a", "state": "b"}),),
        )

    catalog = bot.app.bot_data.catalog
    catalog._messages["zh"]["household.card_visits_title_for_test"] = "最近三次走访"
    bot.services.households.register_section(VISITS_SLOT, visits)
    card = (await bot.command(MEMBER, "household", "wxy"))[0]
    assert "\n\n最近三次走访\n• a：b\n\n" in card  # in its slot, before the open problems


# --- status -----------------------------------------------------------------------------------


async def test_secretary_changes_status_from_the_card_audited(bot: Harness) -> None:
    uid = SECRETARY.telegram_id
    await bot.command(SECRETARY, "household", "王秀英")
    assert [label for label, _ in buttons(bot.api.last_message_to(uid))] == ["改状态", "新增农户"]
    await press(bot, uid, "改状态")
    choice = bot.api.last_message_to(uid)
    assert "现在是“未脱贫”" in choice["text"]
    assert [label for label, _ in buttons(choice)] == ["已脱贫", "监测户", "一般户"]
    saved = await press(bot, uid, "已脱贫")
    assert saved["text"] == "已保存：王秀英 的状态由“未脱贫”改为“已脱贫”。"

    wang = await household_repo.by_registry_no(bot.services.db, WANG)
    assert wang is not None and wang.status is HouseholdStatus.LIFTED
    [change] = await events(bot, "household.status")
    assert change.actor == member_actor(await member_id(bot, "secretary"))
    assert change.entity_id == str(wang.id)
    assert json.loads(change.before or "") == {"status": "not_lifted"}
    assert json.loads(change.after or "") == {"status": "lifted"}
    assert "状态：已脱贫" in (await bot.command(MEMBER, "household", "王秀英"))[0]


async def test_member_gets_no_status_button_and_forged_presses_are_refused(bot: Harness) -> None:
    uid = MEMBER.telegram_id
    await bot.command(MEMBER, "household", "王秀英")
    assert buttons(bot.api.last_message_to(uid)) == []
    wang = await household_id(bot, WANG)
    for data in (f"hh:status:{wang}", f"hh:set:{wang}:lifted", f"hh:set:{wang}:bogus"):
        answer = await forge(bot, uid, data)
        assert answer["text"] == "没有找到。"
    stored = await household_repo.get(bot.services.db, wang)
    assert stored is not None and stored.status is HouseholdStatus.NOT_LIFTED
    assert await events(bot, "household.status") == []


async def test_secretary_cannot_change_a_household_of_another_village(bot: Harness) -> None:
    await bot.command(SECRETARY, "household", "王秀英")
    answer = await forge(
        bot, SECRETARY.telegram_id, f"hh:set:{await household_id(bot, CHEN)}:lifted"
    )
    assert answer["text"] == "没有找到。"
    assert await events(bot, "household.status") == []


# --- adding -----------------------------------------------------------------------------------


async def test_secretary_adds_a_household_in_a_short_flow(bot: Harness) -> None:
    uid = SECRETARY.telegram_id
    asked = await bot.command(SECRETARY, "household", "add")
    assert "村：石桥村" in asked[0] and "户主姓名" in asked[0]  # their only village: no buttons
    assert "户主姓名不能为空" in (await bot.text(SECRETARY, "   "))[0]
    assert "家庭人口数" in (await bot.text(SECRETARY, "赵大山"))[0]
    assert "1 到 30" in (await bot.text(SECRETARY, "很多"))[0]
    assert "请选择状态" in (await bot.text(SECRETARY, "４"))[0]
    saved = await press(bot, uid, "监测户")
    registry_no = "L5119021010010001"
    assert saved["text"] == (
        f"已保存新农户：赵大山，4 人，监测户\n村：石桥村\n户编号：{registry_no}"
    )
    added = await household_repo.by_registry_no(bot.services.db, registry_no)
    assert added is not None and added.local and added.size == 4
    [created] = await events(bot, "household.create")
    assert created.actor == member_actor(await member_id(bot, "secretary"))
    assert json.loads(created.after or "")["head_name"] == "赵大山"
    # Searchable at once, by initials too, and numbered on from the last local number.
    assert "赵大山（户编号" in (await bot.command(MEMBER, "household", "zds"))[0]
    await bot.command(SECRETARY, "household", "add")
    await bot.text(SECRETARY, "钱小二")
    await bot.text(SECRETARY, "2")
    second = await press(bot, uid, "未脱贫")
    assert "L5119021010010002" in second["text"]


async def test_add_from_the_card_button_with_village_buttons_for_a_leader(bot: Harness) -> None:
    uid = TOWNSHIP.telegram_id
    await bot.command(TOWNSHIP, "household", "王秀英")
    await press(bot, uid, "新增农户")
    assert [label for label, _ in buttons(bot.api.last_message_to(uid))] == [
        "石桥村", "桂花村", "柏林村",
    ]  # fmt: skip
    villages = bot.api.last_message_to(uid)
    assert "按钮" in (await bot.text(TOWNSHIP, "桂花村"))[0]
    await bot.deliver(bot.api.press(uid, villages, dict(buttons(villages))["桂花村"]))
    await bot.text(TOWNSHIP, "孙老五")
    await bot.text(TOWNSHIP, "1")
    saved = await press(bot, uid, "一般户")
    assert "村：桂花村" in saved["text"] and "L5119021010020001" in saved["text"]


async def test_a_member_cannot_add(bot: Harness) -> None:
    replies = await bot.command(MEMBER, "household", "add")
    assert replies == ["只有第一书记、乡镇领导、县区干部和系统管理员可以新增农户。"]
    answer = await forge(bot, MEMBER.telegram_id, "hh:as:lifted")  # a flow it never started
    assert answer["text"] == "这个按钮已经过期了，请重新操作。"
    assert await events(bot, "household.create") == []


async def test_cancel_leaves_the_add_flow_without_saving(bot: Harness) -> None:
    await bot.command(SECRETARY, "household", "add")
    await bot.text(SECRETARY, "赵大山")
    assert (await bot.command(SECRETARY, "cancel")) == ["已退出新增农户，没有保存。"]
    assert "没看懂" in (await bot.text(SECRETARY, "3"))[0]
    assert await events(bot, "household.create") == []


async def test_the_same_source_adds_nothing_twice(bot: Harness) -> None:
    secretary = await bot.services.members.identify(SECRETARY.telegram_id)
    service = bot.services.households
    kwargs: dict[str, Any] = {
        "village_code": "511902101001",
        "head_name": "赵大山",
        "size": 3,
        "status": HouseholdStatus.NOT_LIFTED,
        "source": (SECRETARY.telegram_id, 42),
    }
    first = await service.add(secretary, **kwargs)
    again = await service.add(secretary, **kwargs)
    assert first == again
    assert len(await events(bot, "household.create")) == 1


# --- 查户 button and free text ------------------------------------------------------------------


async def test_the_button_asks_for_a_name_then_shows_the_card(bot: Harness) -> None:
    asked = await bot.text(MEMBER, "查户")
    assert "请发送户主姓名" in asked[0]
    replies = await bot.text(MEMBER, "wangxiuying")
    assert "王秀英（户编号" in replies[0]
    # The flow is over: the next text is free text again.
    assert "没看懂" in (await bot.text(MEMBER, "好的"))[0]


async def test_free_text_routing(bot: Harness) -> None:
    assert "王秀英（户编号" in (await bot.text(MEMBER, "王秀英"))[0]
    assert "曾德华（户编号" in (await bot.text(MEMBER, "zengdehua"))[0]
    assert (await bot.text(MEMBER, "好的"))[0].startswith("没看懂您的意思")
    # Only strong matches: a word that is merely a little like a name is not routed.
    # The start of a name is strong enough to offer a button, not to open the card.
    assert await bot.text(MEMBER, "王秀") == ["您是要查这户吗？找到 1 户，点一下查看："]
    offered = await bot.text(TOWNSHIP, "0001")
    assert offered == ["您是要查这户吗？找到 3 户，点一下查看："]
    assert len(buttons(bot.api.last_message_to(TOWNSHIP.telegram_id))) == 3
    # Out of scope looks like nothing at all.
    assert "没看懂" in (await bot.text(MEMBER, "罗开富"))[0]


async def test_strangers_and_deactivated_members_get_only_the_registration_hint(
    bot: Harness,
) -> None:
    hint = "您还没有注册。请向第一书记或乡镇领导要一个邀请链接，点开链接即可注册。"
    assert await bot.text(1099, "王秀英") == [hint]
    assert await bot.command(1099, "household", "王秀英") == [hint]
    async with bot.services.db.transaction() as tx:
        await member_repo.set_active(tx, await member_id(bot, "member"), False)
    assert await bot.text(MEMBER, "王秀英") == [hint]
    assert await bot.command(MEMBER, "household", "wxy") == [hint]
    assert await events(bot, "household.read") == []


# --- search keys on every write ---------------------------------------------------------------


async def test_imported_and_backfilled_rows_have_search_keys(bot: Harness, tmp_path: Path) -> None:
    db = bot.services.db
    rows = await db.fetchall("SELECT head_name, head_pinyin, head_initials FROM households")
    assert rows and all(r["head_pinyin"] and r["head_initials"] for r in rows)
    # A renamed head (re-import) gets new keys.
    from bot.sample import SAMPLE_ACTOR
    from bot.services.imports import import_households

    csv = tmp_path / "rename.csv"
    csv.write_text(
        "户编号,村编码,户主姓名,家庭人口,状态\n5119021010010005,511902101001,解春梅,1,未脱贫\n",
        encoding="utf-8",
    )
    await import_households(db, bot.clock, csv, SAMPLE_ACTOR)
    assert "解春梅（户编号" in (await bot.command(MEMBER, "household", "xiechunmei"))[0]
    # Rows written before keys existed are filled in before the first search.
    async with db.transaction() as tx:
        await tx.execute("UPDATE households SET head_pinyin = NULL, head_initials = NULL")
    fresh = type(bot.services.households)(db, bot.clock)
    assert [h.head_name for h in await fresh.find(None, "wxy")] == []
    member = await bot.services.members.identify(MEMBER.telegram_id)
    assert [h.head_name for h in await fresh.find(member, "wxy")] == ["王秀英"]
    assert await household_repo.has_unkeyed(db) is False
