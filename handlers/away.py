"""``/away <from> [to] <reason>``: a duty trip (公务外出) or a leave request (请假).

The service parses and checks the dates and guesses the kind from the reason; when the reason
leaves it open, two buttons ask. The pending request waits in ``user_data`` (plain values) under
the command's message id, so a press on an old question after a restart is answered as stale.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from bot.attendance import Absence, AbsenceKind, Source
from bot.context import BotContext
from bot.errors import ZhucunError
from bot.services.absences import AwayRequest
from handlers.common import Caller, caller, say, t

KIND_DATA = "away:"
PENDING_KEY = "away_pending"


async def away(update: Update, context: BotContext) -> None:
    who, message = await caller(update, context), update.effective_message
    if who is None or message is None:
        return
    if who.member is None:
        await say(update, context, who.lang, "start.stranger")
        return
    source = Source(chat_id=who.chat_id, message_id=message.message_id)
    existing = await context.services.absences.recorded(who.member, source)
    if existing is not None:  # a re-delivered update
        key, params = _saved(context, who.lang, existing)
        await say(update, context, who.lang, key, **params)
        return
    text = (message.text or "").partition(" ")[2]
    try:
        request = context.services.absences.parse(who.member, text)
    except ZhucunError as error:
        await say(update, context, who.lang, error.key, **error.params)
        return
    if request.kind is not None:
        await _record(update, context, who, request, request.kind, source)
        return
    pending = _pending(context)
    pending[str(message.message_id)] = request.model_dump(mode="json")
    buttons = [
        InlineKeyboardButton(
            context.catalog.label(who.lang, f"away.{kind.value}"),
            callback_data=f"{KIND_DATA}{kind.value}:{message.message_id}",
        )
        for kind in AbsenceKind
    ]
    await say(
        update,
        context,
        who.lang,
        "away.ask_kind",
        period=_period(context, who.lang, request.start, request.end),
        days=request.days,
        reason=request.reason,
        markup=InlineKeyboardMarkup([buttons]),
    )


async def choose_kind(update: Update, context: BotContext) -> None:
    query, who = update.callback_query, await caller(update, context)
    if query is None or who is None:
        return
    kind_value, _, message_id = (query.data or "").removeprefix(KIND_DATA).partition(":")
    stored = _pending(context).get(message_id)
    if stored is None or kind_value not in {k.value for k in AbsenceKind}:
        await query.answer(t(context, who.lang, "fallback.stale_button"), show_alert=True)
        return
    await query.answer()
    if who.member is None:
        await say(update, context, who.lang, "start.stranger")
        return
    request = AwayRequest.model_validate(stored)
    source = Source(chat_id=who.chat_id, message_id=int(message_id))
    try:
        recorded = await context.services.absences.record(
            who.member, request, AbsenceKind(kind_value), source
        )
    except ZhucunError as error:
        await say(update, context, who.lang, error.key, **error.params)
        return
    _pending(context).pop(message_id, None)
    key, params = _saved(context, who.lang, recorded.absence)
    await query.edit_message_text(t(context, who.lang, key, **params))


async def _record(
    update: Update,
    context: BotContext,
    who: Caller,
    request: AwayRequest,
    kind: AbsenceKind,
    source: Source,
) -> None:
    assert who.member is not None
    try:
        recorded = await context.services.absences.record(who.member, request, kind, source)
    except ZhucunError as error:
        await say(update, context, who.lang, error.key, **error.params)
        return
    key, params = _saved(context, who.lang, recorded.absence)
    await say(update, context, who.lang, key, **params)


def _saved(context: BotContext, lang: str, absence: Absence) -> tuple[str, dict[str, Any]]:
    return f"away.saved_{absence.kind.value}", {
        "period": _period(context, lang, absence.from_day, absence.to_day),
        "days": absence.days,
        "reason": absence.reason,
    }


def _period(context: BotContext, lang: str, start: date, end: date) -> str:
    first = context.catalog.label(lang, "away.day", month=start.month, day=start.day)
    if start == end:
        return first
    last = context.catalog.label(lang, "away.day", month=end.month, day=end.day)
    return context.catalog.label(lang, "away.period", start=first, end=last)


def _pending(context: BotContext) -> dict[str, object]:
    if context.user_data is None:
        return {}
    found = context.user_data.setdefault(PENDING_KEY, {})
    return found if isinstance(found, dict) else {}


HANDLERS = [
    CommandHandler("away", away, filters=filters.ChatType.PRIVATE),
    CallbackQueryHandler(choose_kind, pattern=f"^{KIND_DATA}"),
]
