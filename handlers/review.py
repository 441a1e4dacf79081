"""/review: the township's queues — open problems, doubtful check-ins, leave, policy questions.

One message per ``/review``, edited in place: the overview, a page of up to five items with
numbered buttons (prev/next), a problem's card with its actions. Callback data is short
(``rv:<verb>:<ids>``, well under Telegram's 64 bytes) and only a hint: the services re-check
scope and state on every press, so a forged id is "not found" and a second press is harmless.

Resolving asks for a note and sending back asks for a comment: a persistent flow (``review``)
keeps the step. The reporter of a sent-back problem answers with the "answer" button on the
notice, in the same flow; the answer becomes a problem event and the problem is open again.
Everyone concerned is told through the at-least-once deliveries, one delivery per event.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.attendance import Approval, Decision
from bot.config import Settings
from bot.context import BotContext
from bot.errors import NotFound, ZhucunError
from bot.fieldwork import OPEN_STATUSES, ProblemStatus
from bot.services.deliveries import delivery_key
from bot.services.review import (
    Notice,
    Outcome,
    ProblemAction,
    ProblemResult,
    ProblemView,
)
from handlers.common import Caller, caller, reask, say, t
from handlers.menu import button_commands
from locales import Catalog, Html, language_for

log = logging.getLogger(__name__)

PREFIX = "rv:"
HOME = PREFIX + "home"
LIST = PREFIX + "l:"  # rv:l:<p|c|a|q>:<page>
PROBLEM = PREFIX + "p:"  # rv:p:<problem>
ACT = PREFIX + "pa:"  # rv:pa:<ip|rs|es|as|sb>:<problem>
ASSIGN = PREFIX + "pm:"  # rv:pm:<problem>:<member>
CHECKIN = PREFIX + "cd:"  # rv:cd:<y|n>:<checkin>:<page>
LEAVE = PREFIX + "ld:"  # rv:ld:<y|n>:<absence>:<page>
QUESTION = PREFIX + "qa:"  # rv:qa:<question>:<page>
ANSWER = PREFIX + "ans:"  # rv:ans:<problem> (on the reporter's notice)
RESOLVE = ACT + "rs:"
SEND_BACK = ACT + "sb:"

NOTE = 0
END = ConversationHandler.END
DRAFT_KEY = "review_draft"
DELIVERY_KIND = "review"
ACTIONS = {"ip": ProblemAction.PROGRESS, "es": ProblemAction.ESCALATE}


# --- rendering helpers -----------------------------------------------------------------------


def _label(context: BotContext, lang: str, key: str, **params: Any) -> str:
    return context.catalog.label(lang, key, **params)


def _day(context: BotContext, lang: str, moment: datetime) -> str:
    local = moment.astimezone(context.settings.zone)
    return _label(context, lang, "visit.day", month=local.month, day=local.day)


def button(text: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text, callback_data=data)


def nav(
    context: BotContext, lang: str, base: str, page: int, pages: int
) -> list[InlineKeyboardButton]:
    row: list[InlineKeyboardButton] = []
    if page > 0:
        row.append(button(_label(context, lang, "review.prev"), f"{base}{page - 1}"))
    if page < pages - 1:
        row.append(button(_label(context, lang, "review.next"), f"{base}{page + 1}"))
    return row


def _back(context: BotContext, lang: str, data: str = HOME) -> list[InlineKeyboardButton]:
    return [button(_label(context, lang, "review.back"), data)]


def _ints(data: str, prefix: str, count: int) -> list[int]:
    """``count`` decimal ids after ``prefix``; a forged or garbled value is not found."""
    parts = data.removeprefix(prefix).split(":")
    if len(parts) != count or not all(p.isdigit() and len(p) <= 18 for p in parts):
        raise NotFound()
    return [int(p) for p in parts]


async def edit(update: Update, text: str, markup: InlineKeyboardMarkup | None) -> None:
    """Replace the pressed message; the same content again is not an error."""
    query = update.callback_query
    assert query is not None
    try:
        await query.edit_message_text(text, reply_markup=markup)
    except BadRequest as error:
        if "not modified" not in str(error).lower():
            raise


async def toast(update: Update, text: str | None = None, *, alert: bool = False) -> None:
    query = update.callback_query
    if query is not None:
        with suppress(BadRequest):  # already answered
            await query.answer(text, show_alert=alert)


# --- /review and the overview ------------------------------------------------------------------


async def review(update: Update, context: BotContext) -> None:
    who = await caller(update, context)
    if who is None:
        return
    if who.member is None:
        await say(update, context, who.lang, "start.stranger")
        return
    try:
        text, markup = await _overview(context, who)
    except ZhucunError as error:
        key = "review.forbidden" if error.key == "error.forbidden" else error.key
        await say(update, context, who.lang, key, **error.params)
        return
    await say(update, context, who.lang, "review.raw", markup=markup, text=Html(text))


async def _overview(context: BotContext, who: Caller) -> tuple[str, InlineKeyboardMarkup]:
    counts = await context.services.review.overview(who.member)
    lang = who.lang
    lines = [
        t(
            context,
            lang,
            "review.overview",
            problems=counts.problems,
            checkins=counts.checkins,
            leave=counts.leave,
        )
    ]
    buttons = [
        button(_label(context, lang, "review.btn_problems", count=counts.problems), LIST + "p:0"),
        button(_label(context, lang, "review.btn_checkins", count=counts.checkins), LIST + "c:0"),
        button(_label(context, lang, "review.btn_leave", count=counts.leave), LIST + "a:0"),
    ]
    if counts.questions is not None:
        lines.append(t(context, lang, "review.overview_questions", questions=counts.questions))
        buttons.append(
            button(
                _label(context, lang, "review.btn_questions", count=counts.questions),
                LIST + "q:0",
            )
        )
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    return "\n".join(lines), InlineKeyboardMarkup(rows)


# --- the one callback entry for everything but the note steps --------------------------------


async def pressed(update: Update, context: BotContext) -> None:
    query = update.callback_query
    who = await caller(update, context)
    if query is None or who is None:
        return
    if who.member is None:
        await toast(update)
        await say(update, context, who.lang, "start.stranger")
        return
    data = query.data or ""
    try:
        await _dispatch(update, context, who, data)
    except ZhucunError as error:
        await toast(update, t(context, who.lang, error.key, **error.params), alert=True)


async def _dispatch(update: Update, context: BotContext, who: Caller, data: str) -> None:
    if data == HOME:
        text, markup = await _overview(context, who)
        await toast(update)
        await edit(update, text, markup)
    elif data.startswith(LIST):
        kind, _, number = data.removeprefix(LIST).partition(":")
        if kind not in {"p", "c", "a", "q"} or not number.isdigit() or len(number) > 6:
            raise NotFound()
        await toast(update)
        await _show_list(update, context, who, kind, int(number))
    elif data.startswith(PROBLEM):
        [problem_id] = _ints(data, PROBLEM, 1)
        view = await context.services.review.problem(who.member, problem_id)
        await toast(update)
        await _show_problem(update, context, who, view)
    elif data.startswith(ACT + "as:"):
        [problem_id] = _ints(data, ACT + "as:", 1)
        await _show_assignees(update, context, who, problem_id)
    elif data.startswith(ACT):
        verb, _, rest = data.removeprefix(ACT).partition(":")
        if verb not in ACTIONS:
            raise NotFound()
        [problem_id] = _ints(rest, "", 1)
        service = context.services.review
        if ACTIONS[verb] is ProblemAction.PROGRESS:
            result = await service.progress(who.member, problem_id)
        else:
            result = await service.escalate(who.member, problem_id)
        await _after_problem(update, context, who, result)
    elif data.startswith(ASSIGN):
        problem_id, member_id = _ints(data, ASSIGN, 2)
        result = await context.services.review.assign(who.member, problem_id, member_id)
        await _after_problem(update, context, who, result)
    elif data.startswith(CHECKIN):
        await _decide_checkin(update, context, who, data)
    elif data.startswith(LEAVE):
        await _decide_leave(update, context, who, data)
    elif data.startswith(QUESTION):
        question_id, page = _ints(data, QUESTION, 2)
        await context.services.review.mark_answered(who.member, question_id)
        await toast(update, _label(context, who.lang, "review.question_done"))
        await _show_list(update, context, who, "q", page)
    else:
        raise NotFound()


# --- lists -----------------------------------------------------------------------------------


async def _show_list(
    update: Update, context: BotContext, who: Caller, kind: str, page: int
) -> None:
    service, lang = context.services.review, who.lang
    lines: list[str] = []
    rows: list[list[InlineKeyboardButton]] = []
    if kind == "p":
        problems = await service.problems(who.member, page)
        current, pages, total = problems.page, problems.pages, problems.total
        title = t(
            context, lang, "review.problems_title", page=current + 1, pages=pages, total=total
        )
        numbers: list[InlineKeyboardButton] = []
        for index, item in enumerate(problems.items, 1):
            p = item.problem
            marks = ""
            if p.severity.value == "urgent":
                marks += _label(context, lang, "review.urgent_mark")
            if item.overdue:
                marks += _label(context, lang, "review.overdue_mark")
            lines.append(
                t(
                    context,
                    lang,
                    "review.problem_line",
                    index=index,
                    number=p.number,
                    marks=marks,
                    village=p.village_name,
                    category=_label(context, lang, f"problem.category.{p.category.value}"),
                    status=_label(context, lang, f"problem.status.{p.status.value}"),
                    age=(context.services.clock.now() - p.created_at).days,
                    text=_snippet(p.description),
                )
            )
            numbers.append(button(str(index), f"{PROBLEM}{p.id}"))
        if numbers:
            rows.append(numbers)
        empty = "review.problems_empty"
    elif kind == "c":
        checkins = await service.checkins(who.member, page)
        current, pages, total = checkins.page, checkins.pages, checkins.total
        title = t(
            context, lang, "review.checkins_title", page=current + 1, pages=pages, total=total
        )
        for index, ci in enumerate(checkins.items, 1):
            c = ci.checkin
            local = c.at.astimezone(context.settings.zone)
            if c.reason is not None:
                why = _label(context, lang, f"checkin.reason.{c.reason.value}")
            else:
                why = _label(context, lang, "review.out_of_fence")
            if c.distance_m is not None:
                why += _label(context, lang, "review.distance", metres=round(c.distance_m))
            lines.append(
                t(
                    context,
                    lang,
                    "review.checkin_line",
                    index=index,
                    name=ci.member_name,
                    village=c.village_name,
                    day=_day(context, lang, c.at),
                    time=local.strftime("%H:%M"),
                    why=why,
                    note=c.note or "",
                )
            )
            rows.append(
                [
                    button(
                        _label(context, lang, "review.confirm_n", index=index),
                        f"{CHECKIN}y:{c.id}:{current}",
                    ),
                    button(
                        _label(context, lang, "review.reject_n", index=index),
                        f"{CHECKIN}n:{c.id}:{current}",
                    ),
                ]
            )
        empty = "review.checkins_empty"
    elif kind == "a":
        leave = await service.leave(who.member, page)
        current, pages, total = leave.page, leave.pages, leave.total
        title = t(context, lang, "review.leave_title", page=current + 1, pages=pages, total=total)
        for index, li in enumerate(leave.items, 1):
            a = li.absence
            lines.append(
                t(
                    context,
                    lang,
                    "review.leave_line",
                    index=index,
                    name=li.member_name,
                    start=_label(
                        context, lang, "visit.day", month=a.from_day.month, day=a.from_day.day
                    ),
                    end=_label(context, lang, "visit.day", month=a.to_day.month, day=a.to_day.day),
                    days=a.days,
                    reason=a.reason,
                )
            )
            rows.append(
                [
                    button(
                        _label(context, lang, "review.approve_n", index=index),
                        f"{LEAVE}y:{a.id}:{current}",
                    ),
                    button(
                        _label(context, lang, "review.refuse_n", index=index),
                        f"{LEAVE}n:{a.id}:{current}",
                    ),
                ]
            )
        empty = "review.leave_empty"
    else:
        questions = await service.questions(who.member, page)
        current, pages, total = questions.page, questions.pages, questions.total
        title = t(
            context, lang, "review.questions_title", page=current + 1, pages=pages, total=total
        )
        buttons: list[InlineKeyboardButton] = []
        for index, q in enumerate(questions.items, 1):
            lines.append(
                t(
                    context,
                    lang,
                    "review.question_line",
                    index=index,
                    name=q.member_name,
                    text=_snippet(q.text),
                )
            )
            buttons.append(
                button(
                    _label(context, lang, "review.answered_n", index=index),
                    f"{QUESTION}{q.id}:{current}",
                )
            )
        rows += [buttons[i : i + 3] for i in range(0, len(buttons), 3)]
        empty = "review.questions_empty"
    body = "\n".join(lines) if lines else t(context, lang, empty)
    paging = nav(context, lang, f"{LIST}{kind}:", current, pages)
    if paging:
        rows.append(paging)
    rows.append(_back(context, lang))
    await edit(update, f"{title}\n\n{body}", InlineKeyboardMarkup(rows))


def _snippet(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# --- one problem -----------------------------------------------------------------------------


def _problem_text(context: BotContext, lang: str, view: ProblemView) -> str:
    p = view.problem
    events = []
    for event, name in view.events:
        what = context.catalog.section(lang, "review.event").get(event.kind, event.kind)
        key = "review.event_line_note" if event.note else "review.event_line"
        events.append(
            t(
                context,
                lang,
                key,
                day=_day(context, lang, event.at),
                who=name,
                what=what,
                note=event.note or "",
            )
        )
    return t(
        context,
        lang,
        "review.problem_card",
        number=p.number,
        village=p.village_name,
        category=_label(context, lang, f"problem.category.{p.category.value}"),
        severity=_label(context, lang, f"problem.severity.{p.severity.value}"),
        status=_label(context, lang, f"problem.status.{p.status.value}"),
        overdue=_label(context, lang, "review.overdue_mark") if view.overdue else "",
        reporter=p.reporter_name,
        household=p.household_name or _label(context, lang, "household.none"),
        due=_label(context, lang, "visit.day", month=p.due_day.month, day=p.due_day.day),
        assignee=view.assignee_name or _label(context, lang, "review.nobody"),
        description=p.description,
        events=Html("\n".join(events)),
    )


def _problem_markup(context: BotContext, lang: str, view: ProblemView) -> InlineKeyboardMarkup:
    p = view.problem
    rows: list[list[InlineKeyboardButton]] = []
    if not p.voided and p.status in OPEN_STATUSES:
        acts = [
            ("ip", "review.act_progress", ProblemStatus.IN_PROGRESS),
            ("rs", "review.act_resolve", None),
            ("es", "review.act_escalate", ProblemStatus.ESCALATED),
            ("as", "review.act_assign", None),
            ("sb", "review.act_send_back", ProblemStatus.SENT_BACK),
        ]
        buttons = [
            button(_label(context, lang, key), f"{ACT}{verb}:{p.id}")
            for verb, key, status in acts
            if status is None or p.status is not status
        ]
        rows += [buttons[i : i + 3] for i in range(0, len(buttons), 3)]
    rows.append(_back(context, lang, LIST + "p:0"))
    return InlineKeyboardMarkup(rows)


async def _show_problem(
    update: Update, context: BotContext, who: Caller, view: ProblemView
) -> None:
    await edit(
        update,
        _problem_text(context, who.lang, view),
        _problem_markup(context, who.lang, view),
    )


async def _show_assignees(
    update: Update, context: BotContext, who: Caller, problem_id: int
) -> None:
    view = await context.services.review.problem(who.member, problem_id)
    team = await context.services.review.assignees(who.member, problem_id)
    await toast(update)
    buttons = [button(m.name, f"{ASSIGN}{problem_id}:{m.id}") for m in team]
    rows = [buttons[i : i + 3] for i in range(0, len(buttons), 3)]
    rows.append(_back(context, who.lang, f"{PROBLEM}{problem_id}"))
    key = "review.choose_assignee" if team else "review.no_team"
    await edit(
        update,
        t(context, who.lang, key, number=view.problem.number, village=view.problem.village_name),
        InlineKeyboardMarkup(rows),
    )


def _outcome_text(context: BotContext, lang: str, result: ProblemResult) -> str:
    number = result.problem.number
    if result.outcome is Outcome.CLOSED:
        return _label(context, lang, "review.closed", number=number)
    state = "done" if result.outcome is Outcome.DONE else "already"
    return _label(context, lang, f"review.{state}_{result.action.value}", number=number)


async def _after_problem(
    update: Update, context: BotContext, who: Caller, result: ProblemResult
) -> None:
    """Say what the press did, tell whoever must know, and show the card as it is now."""
    await toast(update, _outcome_text(context, who.lang, result), alert=True)
    assert who.member is not None
    await tell_problem(context, result, who.member.name)
    view = await context.services.review.problem(who.member, result.problem.id)
    await _show_problem(update, context, who, view)


# --- check-ins and leave ---------------------------------------------------------------------


async def _decide_checkin(update: Update, context: BotContext, who: Caller, data: str) -> None:
    verdict, _, rest = data.removeprefix(CHECKIN).partition(":")
    if verdict not in {"y", "n"}:
        raise NotFound()
    checkin_id, page = _ints(rest, "", 2)
    decision = Decision.CONFIRMED if verdict == "y" else Decision.REJECTED
    result = await context.services.review.decide_checkin(who.member, checkin_id, decision)
    decided = result.item.checkin.decision
    if result.outcome is Outcome.DONE:
        text = _label(context, who.lang, f"review.checkin_done_{decision.value}")
    else:
        label = _label(context, who.lang, f"review.decision_{decided.value}") if decided else ""
        text = _label(context, who.lang, "review.checkin_already", decision=label)
    await toast(update, text, alert=True)
    assert who.member is not None
    c = result.item.checkin
    for notice in result.notices:
        lang = notice_lang(context, notice)
        await deliver(
            context,
            notice,
            t(
                context,
                lang,
                f"review.tell_{notice.what}",
                actor=who.member.name,
                village=c.village_name,
                day=_day(context, lang, c.at),
            ),
        )
    await _show_list(update, context, who, "c", page)


async def _decide_leave(update: Update, context: BotContext, who: Caller, data: str) -> None:
    verdict, _, rest = data.removeprefix(LEAVE).partition(":")
    if verdict not in {"y", "n"}:
        raise NotFound()
    absence_id, page = _ints(rest, "", 2)
    approval = Approval.APPROVED if verdict == "y" else Approval.REJECTED
    result = await context.services.review.decide_leave(who.member, absence_id, approval)
    decided = result.item.absence.approval
    if result.outcome is Outcome.DONE:
        text = _label(context, who.lang, f"review.leave_done_{approval.value}")
    else:
        label = _label(context, who.lang, f"review.approval_{decided.value}") if decided else ""
        text = _label(context, who.lang, "review.leave_already", approval=label)
    await toast(update, text, alert=True)
    assert who.member is not None
    a = result.item.absence
    for notice in result.notices:
        lang = notice_lang(context, notice)
        await deliver(
            context,
            notice,
            t(
                context,
                lang,
                f"review.tell_{notice.what}",
                actor=who.member.name,
                start=_label(
                    context, lang, "visit.day", month=a.from_day.month, day=a.from_day.day
                ),
                end=_label(context, lang, "visit.day", month=a.to_day.month, day=a.to_day.day),
                reason=a.reason,
            ),
        )
    await _show_list(update, context, who, "a", page)


# --- telling people ----------------------------------------------------------------------------


def notice_lang(context: BotContext, notice: Notice) -> str:
    return language_for(notice.member.locale, None, context.settings.locale)


async def deliver(
    context: BotContext,
    notice: Notice,
    text: str,
    markup: InlineKeyboardMarkup | None = None,
    *,
    kind: str = DELIVERY_KIND,
) -> None:
    """Tell one person at least once; the delivery is named by the notice's event."""
    chat_id = notice.member.telegram_user_id
    key = delivery_key(kind, chat_id, f"{notice.subject}:{notice.what}")

    async def send() -> None:
        await context.bot.send_message(chat_id, text, reply_markup=markup)

    try:
        await context.services.deliveries.send_once(key, chat_id, send, text=text)
    except TelegramError:  # left 'sending': resent at the next start
        log.exception("review notice %s not delivered yet", key)


async def tell_problem(context: BotContext, result: ProblemResult, actor: str) -> None:
    p = result.problem
    for notice in result.notices:
        lang = notice_lang(context, notice)
        markup = None
        if notice.what == "sent_back":
            markup = InlineKeyboardMarkup(
                [[button(_label(context, lang, "review.answer_button"), f"{ANSWER}{p.id}")]]
            )
        text = t(
            context,
            lang,
            f"review.tell_{notice.what}",
            actor=actor,
            number=p.number,
            village=p.village_name,
            category=_label(context, lang, f"problem.category.{p.category.value}"),
            description=_snippet(p.description, 200),
            note=_last_note(result),
        )
        await deliver(context, notice, text, markup)


def _last_note(result: ProblemResult) -> str:
    """The note the change carried (resolution, comment, answer), or nothing."""
    if result.action is ProblemAction.RESOLVE:
        return result.problem.resolution or ""
    return result.note or ""


# --- the note steps: resolve, send back, answer ---------------------------------------------


def _draft(context: BotContext) -> dict[str, Any] | None:
    data = context.user_data.get(DRAFT_KEY) if context.user_data is not None else None
    return data if isinstance(data, dict) else None


def _keep(context: BotContext, draft: dict[str, Any]) -> None:
    if context.user_data is not None:
        context.user_data[DRAFT_KEY] = draft


def _forget(context: BotContext) -> None:
    if context.user_data is not None:
        context.user_data.pop(DRAFT_KEY, None)


async def ask_note(update: Update, context: BotContext) -> int | None:
    """Resolve, send back (a reviewer) or answer (the reporter): ask for the text."""
    query, who = update.callback_query, await caller(update, context)
    if query is None or who is None:
        return None
    if who.member is None:
        await toast(update)
        await say(update, context, who.lang, "start.stranger")
        return END
    data = query.data or ""
    service = context.services.review
    try:
        if data.startswith(ANSWER):
            kind = "answer"
            [problem_id] = _ints(data, ANSWER, 1)
            view = await service.for_answer(who.member, problem_id)
            if view.problem.status is not ProblemStatus.SENT_BACK:
                await toast(
                    update,
                    _label(
                        context, who.lang, "review.answer_not_needed", number=view.problem.number
                    ),
                    alert=True,
                )
                return END
            comments = [e.note for e, _ in view.events if e.kind == "sent_back" and e.note]
            prompt = t(
                context,
                who.lang,
                "review.ask_answer",
                number=view.problem.number,
                comment=comments[-1] if comments else "",
            )
        else:
            kind = "resolve" if data.startswith(RESOLVE) else "send_back"
            [problem_id] = _ints(data, RESOLVE if kind == "resolve" else SEND_BACK, 1)
            check = service.check_resolvable if kind == "resolve" else service.check_sendable
            blocked = await check(who.member, problem_id)
            if blocked is not None:
                await toast(update, _outcome_text(context, who.lang, blocked), alert=True)
                return END
            view = await service.problem(who.member, problem_id)
            prompt = t(
                context,
                who.lang,
                f"review.ask_{kind}",
                number=view.problem.number,
                reporter=view.problem.reporter_name,
            )
    except ZhucunError as error:
        await toast(update, t(context, who.lang, error.key, **error.params), alert=True)
        return END
    await toast(update)
    message = query.message
    _keep(
        context,
        {
            "kind": kind,
            "problem": problem_id,
            "card": message.message_id if message is not None and kind != "answer" else None,
        },
    )
    await say(update, context, who.lang, "review.raw", text=Html(prompt))
    return NOTE


async def take_note(update: Update, context: BotContext) -> int | None:
    who, message, draft = await caller(update, context), update.effective_message, _draft(context)
    if who is None or message is None:
        return None
    if who.member is None or draft is None:
        _forget(context)
        key = "start.stranger" if who.member is None else "fallback.stale_button"
        await say(update, context, who.lang, key)
        return END
    service = context.services.review
    problem_id, kind = int(draft["problem"]), str(draft["kind"])
    try:
        if kind == "resolve":
            result = await service.resolve(who.member, problem_id, message.text or "")
        elif kind == "send_back":
            result = await service.send_back(who.member, problem_id, message.text or "")
        else:
            result = await service.answer(who.member, problem_id, message.text or "")
    except ZhucunError as error:
        if error.key.startswith("review.note_"):
            await say(update, context, who.lang, error.key, **error.params)
            return None  # ask again, stay in the step
        _forget(context)
        await say(update, context, who.lang, error.key, **error.params)
        return END
    _forget(context)
    if result.outcome is Outcome.DONE:
        key = f"review.saved_{kind}"
    elif kind == "answer":
        key = "review.answer_not_needed"
    else:
        key = "review.raw"
    if key == "review.raw":
        await say(update, context, who.lang, key, text=_outcome_text(context, who.lang, result))
    else:
        await say(
            update,
            context,
            who.lang,
            key,
            number=result.problem.number,
            reporter=result.problem.reporter_name,
        )
    await tell_problem(context, result, who.member.name)
    card = draft.get("card")
    if card is not None and kind != "answer":
        view = await service.problem(who.member, problem_id)
        with suppress(BadRequest):
            await context.bot.edit_message_text(
                _problem_text(context, who.lang, view),
                chat_id=who.chat_id,
                message_id=int(card),
                reply_markup=_problem_markup(context, who.lang, view),
            )
    return END


note_not_text = reask("review.need_text")


async def cancel(update: Update, context: BotContext) -> int:
    who = await caller(update, context)
    _forget(context)
    if who is not None:
        await say(update, context, who.lang, "review.cancelled")
    return END


async def timed_out(update: Update, context: BotContext) -> int:
    who = await caller(update, context)
    _forget(context)
    if who is not None:
        await say(
            update, context, who.lang, "review.timed_out", minutes=context.settings.flow_timeout
        )
    return END


def conversation(settings: Settings, catalog: Catalog) -> ConversationHandler[BotContext]:
    """The note steps of the review; ``flow_timeout`` minutes of silence end them."""
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    typed = private & ~filters.COMMAND & ~filters.Text(list(button_commands(catalog)))
    entries: Sequence[BaseHandler[Update, BotContext, Any]] = [
        CallbackQueryHandler(ask_note, pattern=f"^({RESOLVE}|{SEND_BACK}|{ANSWER})"),
    ]
    return ConversationHandler(
        entry_points=list(entries),
        states={
            NOTE: [
                MessageHandler(typed & filters.TEXT, take_note),
                MessageHandler(typed, note_not_text),
            ],
            ConversationHandler.TIMEOUT: [TypeHandler(Update, timed_out)],
        },
        fallbacks=[CommandHandler("cancel", cancel, filters=filters.ChatType.PRIVATE)],
        allow_reentry=True,
        per_chat=True,
        per_user=True,
        per_message=False,
        conversation_timeout=timedelta(minutes=settings.flow_timeout),
        name="review",
        persistent=True,
    )


HANDLERS = [
    CommandHandler("review", review, filters=filters.ChatType.PRIVATE),
    CallbackQueryHandler(pressed, pattern=f"^{PREFIX}"),
]
