"""/review through the real Application: problems, check-ins, leave, notices, double presses."""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.attendance import AbsenceKind, Approval, Decision, LocationReport, Source
from bot.fieldwork import Category, Problem, ProblemStatus, Severity
from bot.models import Member
from bot.sample import OTHER_TOWNSHIP, PERSONAS, SAMPLE_ACTOR, VILLAGE
from bot.services.absences import AwayRequest
from storage import audit
from storage import problems as problem_repo
from tests.harness import Harness, persona, running

MEMBER = persona("member")
CADRE = persona("cadre")
SECRETARY = persona("secretary")
TOWNSHIP = persona("township")
COUNTY = persona("county")
ADMIN = persona("admin")
OUTSIDER = 3101  # a township leader of 水宁寺镇, registered in the tests that need one
INSIDE = (31.8810, 106.8130)
FAR = (31.9500, 106.9000)
_sources = itertools.count(9000)


@pytest.fixture
async def bot(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> AsyncIterator[Harness]:
    async with running(tmp_path) as harness:
        for someone in PERSONAS:  # everyone has opened their chat with the bot
            harness.api.add_user(someone.telegram_id, language_code=someone.language_code)
        job_queue = harness.app.job_queue
        assert job_queue is not None
        await job_queue.start()  # flows schedule their time-out there, as in production
        try:
            yield harness
        finally:
            await job_queue.stop(wait=False)
    assert [r.getMessage() for r in caplog.get_records("call") if r.levelno >= logging.ERROR] == []


async def member(bot: Harness, telegram_id: int) -> Member:
    found = await bot.services.members.identify(telegram_id)
    assert found is not None
    return found


async def report(
    bot: Harness, text: str = "村道塌方，车辆无法通行", severity: Severity = Severity.NORMAL
) -> Problem:
    reported = await bot.services.problems.report(
        await member(bot, MEMBER.telegram_id),
        village_code=VILLAGE,
        category=Category.ROADS,
        severity=severity,
        description=text,
        source=(MEMBER.telegram_id, next(_sources)),
    )
    return reported.problem


async def outsider(bot: Harness) -> Member:
    """A township leader of 水宁寺镇, registered through an invite and /start."""
    invite = await bot.services.invites.create(
        role=TOWNSHIP.role, region_code=OTHER_TOWNSHIP, name="赵其他", operator=SAMPLE_ACTOR
    )
    await bot.command(OUTSIDER, "start", invite.code)
    return await member(bot, OUTSIDER)


def buttons(message: dict[str, Any]) -> dict[str, str]:
    markup = message.get("reply_markup") or {}
    if isinstance(markup, str):
        markup = json.loads(markup)
    rows = markup.get("inline_keyboard", [])
    return {b["text"]: b["callback_data"] for row in rows for b in row}


async def press(
    bot: Harness, user_id: int, data: str, message: dict[str, Any] | None = None
) -> str:
    """Press a button (by its data) on the latest message carrying it; return the alert text."""
    if message is None:
        for candidate in reversed(bot.api.bot_messages(user_id)):
            if data in buttons(candidate).values():
                message = candidate
                break
        else:
            raise AssertionError(f"no button {data!r} for {user_id}")
    before = len(bot.api.calls_to("answerCallbackQuery"))
    await bot.deliver(bot.api.press(user_id, message, data))
    answers = bot.api.calls_to("answerCallbackQuery")[before:]
    return " ".join(str(a.params.get("text", "")) for a in answers)


async def forge(bot: Harness, user_id: int, data: str) -> str:
    """Press forged data: a button the bot never offered, on the user's latest bot message."""
    await bot.app.bot.send_message(user_id, "x", reply_markup=_markup(data))
    return await press(bot, user_id, data, bot.api.last_message_to(user_id))


def _markup(data: str) -> Any:
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup

    return InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data=data)]])


async def open_problem_card(bot: Harness, user_id: int, problem: Problem) -> dict[str, Any]:
    await bot.command(user_id, "review")
    await press(bot, user_id, "rv:l:p:0")
    await press(bot, user_id, f"rv:p:{problem.id}")
    return bot.api.last_message_to(user_id)


async def status(bot: Harness, problem: Problem) -> ProblemStatus:
    found = await problem_repo.get(bot.services.db, problem.id)
    assert found is not None
    return found.status


async def actions(bot: Harness, entity: str, entity_id: int | str) -> list[str]:
    return [e.action for e in await audit.events_for(bot.services.db, entity, entity_id)]


# --- the overview and who may review ------------------------------------------------------------


async def test_overview_counts_and_problem_order(bot: Harness) -> None:
    first = await report(bot, "自来水管爆裂")
    urgent = await report(bot, "危房漏雨，老人无处住", Severity.URGENT)
    replies = await bot.command(TOWNSHIP, "review")
    assert "待处理问题：2 个" in replies[-1]
    await press(bot, TOWNSHIP.telegram_id, "rv:l:p:0")
    listing = bot.api.last_message_to(TOWNSHIP.telegram_id)["text"]
    assert listing.index(urgent.number) < listing.index(first.number)
    assert "紧急" in listing


async def test_overdue_problem_is_marked(bot: Harness) -> None:
    from datetime import timedelta

    problem = await report(bot)
    bot.clock.advance(timedelta(days=20))
    card = await open_problem_card(bot, TOWNSHIP.telegram_id, problem)
    assert "逾期" in card["text"]


@pytest.mark.parametrize("who", [MEMBER, CADRE, SECRETARY])
async def test_village_roles_cannot_review(bot: Harness, who: Any) -> None:
    replies = await bot.command(who, "review")
    assert replies == ["只有乡镇领导、县区干部和系统管理员可以审阅。"]


async def test_stranger_cannot_review(bot: Harness) -> None:
    replies = await bot.command(1099, "review")
    assert "还没有注册" in replies[0]


# --- problem actions ---------------------------------------------------------------------------


async def test_in_progress_twice_is_harmless_and_reporter_told_once(bot: Harness) -> None:
    problem = await report(bot)
    await open_problem_card(bot, TOWNSHIP.telegram_id, problem)
    first = await press(bot, TOWNSHIP.telegram_id, f"rv:pa:ip:{problem.id}")
    assert "已标记为办理中" in first
    assert await status(bot, problem) is ProblemStatus.IN_PROGRESS
    told = [t for t in bot.api.texts_to(MEMBER.telegram_id) if "标记为办理中" in t]
    assert len(told) == 1 and "陈晓东" in told[0]
    # A second press on a stale card (the button is still on an old copy): nothing changes.
    second = await forge(bot, TOWNSHIP.telegram_id, f"rv:pa:ip:{problem.id}")
    assert "已经是办理中" in second
    assert len([t for t in bot.api.texts_to(MEMBER.telegram_id) if "标记为办理中" in t]) == 1
    assert await actions(bot, "problem", problem.id) == ["problem.create", "problem.progress"]


async def test_resolve_asks_for_a_note_and_closes(bot: Harness) -> None:
    problem = await report(bot)
    await open_problem_card(bot, TOWNSHIP.telegram_id, problem)
    await press(bot, TOWNSHIP.telegram_id, f"rv:pa:rs:{problem.id}")
    assert "怎么解决的" in bot.api.texts_to(TOWNSHIP.telegram_id)[-1]
    empty = await bot.text(TOWNSHIP, "   ")
    assert "不能为空" in empty[0]
    saved = await bot.text(TOWNSHIP, "已协调交通局抢修，今天通车")
    assert "已标记为已解决" in saved[0]
    after = await problem_repo.get(bot.services.db, problem.id)
    assert after is not None and after.status is ProblemStatus.RESOLVED
    assert after.resolution == "已协调交通局抢修，今天通车"
    told = bot.api.texts_to(MEMBER.telegram_id)[-1]
    assert "已解决" in told and "今天通车" in told
    events = await audit.events_for(bot.services.db, "problem", problem.id)
    assert events[-1].action == "problem.resolve"
    assert json.loads(events[-1].before or "{}") == {"status": "open"}
    assert json.loads(events[-1].after or "{}")["status"] == "resolved"
    # The card shows the history and no action buttons any more.
    await forge(bot, TOWNSHIP.telegram_id, f"rv:p:{problem.id}")  # a card kept from earlier
    card = bot.api.last_message_to(TOWNSHIP.telegram_id)
    assert "今天通车" in card["text"] and not any(
        d.startswith("rv:pa:") for d in buttons(card).values()
    )


async def test_buttons_of_a_problem_a_colleague_closed(bot: Harness) -> None:
    problem = await report(bot)
    await open_problem_card(bot, TOWNSHIP.telegram_id, problem)
    # The county officer resolves it meanwhile.
    await open_problem_card(bot, COUNTY.telegram_id, problem)
    await press(bot, COUNTY.telegram_id, f"rv:pa:rs:{problem.id}")
    await bot.text(COUNTY, "县里统一处理")
    # The township leader's card still has the buttons: each press is harmless and says so.
    for verb in ("ip", "es"):
        said = await forge(bot, TOWNSHIP.telegram_id, f"rv:pa:{verb}:{problem.id}")
        assert "已经关闭" in said
    said = await forge(bot, TOWNSHIP.telegram_id, f"rv:pa:rs:{problem.id}")
    assert "已经解决了" in said
    said = await forge(bot, TOWNSHIP.telegram_id, f"rv:pm:{problem.id}:1")
    assert "已经关闭" in said
    assert await status(bot, problem) is ProblemStatus.RESOLVED
    assert (await actions(bot, "problem", problem.id)).count("problem.resolve") == 1


async def test_escalate_tells_reporter_and_county(bot: Harness) -> None:
    problem = await report(bot)
    await open_problem_card(bot, TOWNSHIP.telegram_id, problem)
    said = await press(bot, TOWNSHIP.telegram_id, f"rv:pa:es:{problem.id}")
    assert "已上报县区" in said
    assert await status(bot, problem) is ProblemStatus.ESCALATED
    assert "上报县区" in bot.api.texts_to(MEMBER.telegram_id)[-1]
    assert "/review" in bot.api.texts_to(COUNTY.telegram_id)[-1]
    again = await forge(bot, TOWNSHIP.telegram_id, f"rv:pa:es:{problem.id}")
    assert "已经上报县区" in again
    assert await actions(bot, "problem", problem.id) == ["problem.create", "problem.escalate"]


async def test_assign_to_a_village_member(bot: Harness) -> None:
    problem = await report(bot)
    await open_problem_card(bot, TOWNSHIP.telegram_id, problem)
    await press(bot, TOWNSHIP.telegram_id, f"rv:pa:as:{problem.id}")
    choices = buttons(bot.api.last_message_to(TOWNSHIP.telegram_id))
    assert {"李明", "张桂兰", "王建军"} <= set(choices)
    assert "陈晓东" not in choices  # leaders are not the village team
    said = await press(bot, TOWNSHIP.telegram_id, choices["张桂兰"])
    assert "已指派" in said
    after = await problem_repo.get(bot.services.db, problem.id)
    cadre = await member(bot, CADRE.telegram_id)
    assert after is not None and after.assignee_id == cadre.id
    assert "指派给您" in bot.api.texts_to(CADRE.telegram_id)[-1]
    again = await forge(bot, TOWNSHIP.telegram_id, choices["张桂兰"])
    assert "已经指派给这位队员" in again
    assert len([t for t in bot.api.texts_to(CADRE.telegram_id) if "指派给您" in t]) == 1
    # Someone outside the village cannot be assigned, even with forged data.
    township = await member(bot, TOWNSHIP.telegram_id)
    forged = await forge(bot, TOWNSHIP.telegram_id, f"rv:pm:{problem.id}:{township.id}")
    assert "没有找到" in forged
    assert await actions(bot, "problem", problem.id) == ["problem.create", "problem.assign"]


async def test_send_back_round_trip(bot: Harness) -> None:
    problem = await report(bot)
    await open_problem_card(bot, TOWNSHIP.telegram_id, problem)
    await press(bot, TOWNSHIP.telegram_id, f"rv:pa:sb:{problem.id}")
    saved = await bot.text(TOWNSHIP, "请说明塌方的具体位置和长度")
    assert "已退回给 李明" in saved[0]
    assert await status(bot, problem) is ProblemStatus.SENT_BACK
    notice = bot.api.last_message_to(MEMBER.telegram_id)
    assert "被 陈晓东 退回" in notice["text"] and "具体位置" in notice["text"]
    assert buttons(notice) == {"回复": f"rv:ans:{problem.id}"}
    # Someone else pressing the reporter's button is refused like a missing problem.
    assert "没有找到" in await forge(bot, CADRE.telegram_id, f"rv:ans:{problem.id}")
    # The reporter answers in their chat.
    await press(bot, MEMBER.telegram_id, f"rv:ans:{problem.id}", notice)
    assert "请回复" in bot.api.texts_to(MEMBER.telegram_id)[-1]
    answered = await bot.text(MEMBER, "三组往上500米，塌了约20米")
    assert "已回到乡镇领导的审阅列表" in answered[0]
    assert await status(bot, problem) is ProblemStatus.OPEN
    assert "三组往上500米" in bot.api.texts_to(TOWNSHIP.telegram_id)[-1]
    # The answer shows on the problem's card as an event.
    card = await open_problem_card(bot, TOWNSHIP.telegram_id, problem)
    assert "上报人回复" in card["text"] and "三组往上500米" in card["text"]
    # Pressing "answer" again: nothing to answer any more.
    again = await press(bot, MEMBER.telegram_id, f"rv:ans:{problem.id}", notice)
    assert "不需要回复" in again
    assert await actions(bot, "problem", problem.id) == [
        "problem.create",
        "problem.send_back",
        "problem.answer",
    ]


async def test_cancel_the_note_step(bot: Harness) -> None:
    problem = await report(bot)
    await open_problem_card(bot, TOWNSHIP.telegram_id, problem)
    await press(bot, TOWNSHIP.telegram_id, f"rv:pa:sb:{problem.id}")
    replies = await bot.command(TOWNSHIP, "cancel")
    assert replies == ["已取消，没有保存。"]
    assert await status(bot, problem) is ProblemStatus.OPEN


# --- check-ins -----------------------------------------------------------------------------------


async def far_checkin(bot: Harness) -> int:
    recorded = await bot.services.checkins.check_in(
        await member(bot, MEMBER.telegram_id),
        VILLAGE,
        at=bot.clock.now(),
        source=Source(chat_id=MEMBER.telegram_id, message_id=next(_sources)),
        location=LocationReport(lat=FAR[0], lon=FAR[1], accuracy_m=10),
    )
    assert not recorded.checkin.counts
    return recorded.checkin.id


async def test_confirm_checkin_counts_toward_me(bot: Harness) -> None:
    checkin_id = await far_checkin(bot)
    me = await bot.command(MEMBER, "me")
    assert "本月在村：0/20 天" in me[0]
    await bot.command(TOWNSHIP, "review")
    await press(bot, TOWNSHIP.telegram_id, "rv:l:c:0")
    listing = bot.api.last_message_to(TOWNSHIP.telegram_id)
    assert "李明" in listing["text"] and "在签到范围外" in listing["text"]
    said = await press(bot, TOWNSHIP.telegram_id, f"rv:cd:y:{checkin_id}:0")
    assert "已确认" in said
    assert "确认，计入本月在村天数" in bot.api.texts_to(MEMBER.telegram_id)[-1]
    me = await bot.command(MEMBER, "me")
    assert "本月在村：1/20 天" in me[0]
    # Rejecting it afterwards changes nothing and says it was decided.
    again = await forge(bot, TOWNSHIP.telegram_id, f"rv:cd:n:{checkin_id}:0")
    assert "已经处理过了（已确认）" in again
    assert await actions(bot, "checkin", checkin_id) == ["checkin.create", "checkin.confirmed"]


async def test_reject_checkin_does_not_count(bot: Harness) -> None:
    checkin_id = await far_checkin(bot)
    await bot.command(TOWNSHIP, "review")
    await press(bot, TOWNSHIP.telegram_id, "rv:l:c:0")
    said = await press(bot, TOWNSHIP.telegram_id, f"rv:cd:n:{checkin_id}:0")
    assert "不认可" in said
    assert "未被 陈晓东 认可" in bot.api.texts_to(MEMBER.telegram_id)[-1]
    stored = await bot.services.db.fetchone(
        "SELECT decision FROM checkins WHERE id = ?", (checkin_id,)
    )
    assert stored is not None and stored["decision"] == Decision.REJECTED.value
    me = await bot.command(MEMBER, "me")
    assert "本月在村：0/20 天" in me[0]
    twice = await forge(bot, TOWNSHIP.telegram_id, f"rv:cd:n:{checkin_id}:0")
    assert "已经处理过了" in twice
    assert len([t for t in bot.api.texts_to(MEMBER.telegram_id) if "认可" in t]) == 1


# --- leave ---------------------------------------------------------------------------------------


async def leave_request(bot: Harness) -> int:
    from datetime import date

    recorded = await bot.services.absences.record(
        await member(bot, MEMBER.telegram_id),
        AwayRequest(start=date(2026, 12, 1), end=date(2026, 12, 3), reason="家里有事", kind=None),
        AbsenceKind.LEAVE,
        Source(chat_id=MEMBER.telegram_id, message_id=next(_sources)),
    )
    return recorded.absence.id


@pytest.mark.parametrize(
    ("verdict", "approval", "said", "told"),
    [
        ("y", Approval.APPROVED, "已批准", "已由 陈晓东 批准"),
        ("n", Approval.REJECTED, "已不批准", "未被 陈晓东 批准"),
    ],
)
async def test_leave_decision_tells_the_member(
    bot: Harness, verdict: str, approval: Approval, said: str, told: str
) -> None:
    absence_id = await leave_request(bot)
    await bot.command(TOWNSHIP, "review")
    await press(bot, TOWNSHIP.telegram_id, "rv:l:a:0")
    assert "家里有事" in bot.api.last_message_to(TOWNSHIP.telegram_id)["text"]
    assert said in await press(bot, TOWNSHIP.telegram_id, f"rv:ld:{verdict}:{absence_id}:0")
    assert told in bot.api.texts_to(MEMBER.telegram_id)[-1]
    stored = await bot.services.db.fetchone(
        "SELECT approval FROM absences WHERE id = ?", (absence_id,)
    )
    assert stored is not None and stored["approval"] == approval.value
    again = await forge(bot, TOWNSHIP.telegram_id, f"rv:ld:y:{absence_id}:0")
    assert "已经审批过了" in again
    assert await actions(bot, "absence", absence_id) == [
        "absence.create",
        f"absence.{approval.value}",
    ]


# --- another township sees nothing --------------------------------------------------------------


async def test_other_township_sees_nothing_and_forged_callbacks_fail(bot: Harness) -> None:
    problem = await report(bot)
    checkin_id = await far_checkin(bot)
    absence_id = await leave_request(bot)
    await outsider(bot)
    replies = await bot.command(OUTSIDER, "review")
    assert "待处理问题：0 个" in replies[-1] and "待确认签到：0 条" in replies[-1]
    assert "待审批请假：0 条" in replies[-1]
    for data in (
        f"rv:p:{problem.id}",
        f"rv:pa:ip:{problem.id}",
        f"rv:pa:es:{problem.id}",
        f"rv:pa:as:{problem.id}",
        f"rv:pa:rs:{problem.id}",
        f"rv:pa:sb:{problem.id}",
        f"rv:pm:{problem.id}:1",
        f"rv:cd:y:{checkin_id}:0",
        f"rv:ld:y:{absence_id}:0",
        "rv:pa:ip:999999",
        "rv:p:abc",
    ):
        assert "没有找到" in await forge(bot, OUTSIDER, data), data
    assert await status(bot, problem) is ProblemStatus.OPEN
    assert await actions(bot, "checkin", checkin_id) == ["checkin.create"]
    assert await actions(bot, "absence", absence_id) == ["absence.create"]


# --- unanswered policy questions ------------------------------------------------------------------


async def test_unanswered_questions_are_a_queue(bot: Harness) -> None:
    asked = await bot.services.policies.ask(await member(bot, MEMBER.telegram_id), "qwerty zxcvb?")
    assert asked.recorded
    replies = await bot.command(TOWNSHIP, "review")
    assert "未答复的政策问题：1 个" in replies[-1]
    await press(bot, TOWNSHIP.telegram_id, "rv:l:q:0")
    listing = bot.api.last_message_to(TOWNSHIP.telegram_id)
    assert "qwerty zxcvb" in listing["text"]
    [data] = [d for d in buttons(listing).values() if d.startswith("rv:qa:")]
    assert "已从列表中移除" in await press(bot, TOWNSHIP.telegram_id, data)
    assert "没有未答复的政策问题" in bot.api.last_message_to(TOWNSHIP.telegram_id)["text"]
    assert "没有找到" in await forge(bot, TOWNSHIP.telegram_id, data)  # twice: gone
    await outsider(bot)
    assert "未答复的政策问题：0 个" in (await bot.command(OUTSIDER, "review"))[-1]
