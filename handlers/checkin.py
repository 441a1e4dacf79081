"""签到 / ``/checkin [note]``: the location, measured against the village, in one reply.

A guided flow (a ConversationHandler keyed by chat and user): a member of several villages first
picks the village with inline buttons (the press is checked again in the service), then shares
the location with the request-location button. A location sent outside the flow, or
``/checkin <note>``, is recorded at once when the member has one village. The reply that says
"saved" always carries the main keyboard, which takes the request-location keyboard away.

Later fixes of a live location arrive as edited messages; :data:`EDIT_HANDLERS` route them to the
check-in they refine. The flow is persistent (``bot/persistence.py``): its state and its draft in
``user_data`` (plain values only) survive a restart.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    Update,
)
from telegram.error import BadRequest
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.attendance import CheckIn, LocationReport, Source, Unverified
from bot.config import Settings
from bot.context import BotContext
from bot.errors import ZhucunError
from bot.models import Region
from handlers.common import Caller, caller, reask, say, t
from handlers.menu import button_commands, keyboard
from locales import Catalog, Html

PICK, LOCATION = range(2)
END = ConversationHandler.END

VILLAGE_DATA = "checkin:village:"
DRAFT_KEY = "checkin_draft"
COLUMNS = 2


# --- drafts: plain values only ------------------------------------------------------------------


def _draft(context: BotContext) -> dict[str, Any] | None:
    data = context.user_data.get(DRAFT_KEY) if context.user_data is not None else None
    return data if isinstance(data, dict) else None


def _keep(context: BotContext, draft: dict[str, Any]) -> None:
    if context.user_data is not None:
        context.user_data[DRAFT_KEY] = draft


def _forget(context: BotContext) -> dict[str, Any] | None:
    if context.user_data is None:
        return None
    data = context.user_data.pop(DRAFT_KEY, None)
    return data if isinstance(data, dict) else None


def location_of(message: Message) -> LocationReport | None:
    """What the message says about where the phone is (forwarded and venue flags included)."""
    if message.location is None:
        return None
    loc = message.location
    return LocationReport(
        lat=loc.latitude,
        lon=loc.longitude,
        accuracy_m=loc.horizontal_accuracy,
        live_period=int(loc.live_period.total_seconds())
        if isinstance(loc.live_period, timedelta)
        else loc.live_period,
        forwarded=message.forward_origin is not None,
        venue=message.venue is not None,
    )


# --- entry: /checkin, the 签到 button, or a location sent outside the flow ------------------------


async def start(update: Update, context: BotContext) -> int:
    who, message = await caller(update, context), update.effective_message
    if who is None or message is None:
        return END
    if who.member is None:
        await say(update, context, who.lang, "start.stranger")
        return END
    note = " ".join(context.args or []) if message.text and message.text.startswith("/") else ""
    source = Source(chat_id=who.chat_id, message_id=message.message_id)
    draft: dict[str, Any] = {"note": None, "source": None, "at": None, "location": None}
    if note:
        draft.update(note=note, source=source.model_dump(), at=message.date.isoformat())
    return await _begin(update, context, who, draft)


async def start_with_location(update: Update, context: BotContext) -> int:
    who, message = await caller(update, context), update.effective_message
    if who is None or message is None:
        return END
    if who.member is None:
        await say(update, context, who.lang, "start.stranger")
        return END
    waiting = _draft(context)
    if waiting is not None and waiting.get("village") and waiting.get("source") is None:
        # The flow asked for this location (re-entry points are tried before the state's).
        result = await got_location(update, context)
        return END if result is None else result
    source = Source(chat_id=who.chat_id, message_id=message.message_id)
    report = location_of(message)
    draft: dict[str, Any] = {
        "note": None,
        "source": source.model_dump(),
        "at": message.date.isoformat(),
        "location": report.model_dump() if report else None,
    }
    return await _begin(update, context, who, draft)


async def _begin(update: Update, context: BotContext, who: Caller, draft: dict[str, Any]) -> int:
    """The village, then the location. A draft with a source (``/checkin <note>``, a location
    sent outside the flow) records at once; if that message already made its check-in (a
    re-delivered update), the answer is the first one's. With one village the transaction finds
    it (the source is unique); any other answer asks the store first (:func:`_replayed`)."""
    assert who.member is not None
    _forget(context)
    unchecked = draft["source"] is not None
    try:
        villages = await context.services.checkins.villages(who.member)
    except ZhucunError as error:
        if not (unchecked and await _replayed(update, context, who, draft)):
            await say(update, context, who.lang, error.key, **error.params)
        return END
    if len(villages) == 1:
        draft["village"] = villages[0].code
        if unchecked:
            return await _record(update, context, who, draft, villages[0], unchecked=True)
        return await _ask_location(update, context, who, draft, villages[0].name)
    if unchecked and await _replayed(update, context, who, draft):
        return END
    if not villages:
        await say(update, context, who.lang, "checkin.not_team")
        return END
    sent = await say(update, context, who.lang, "checkin.choose_village", markup=_picker(villages))
    if sent is None:
        return END
    draft["picker"] = sent.message_id
    _keep(context, draft)
    return PICK


# --- step: the village button -------------------------------------------------------------------


async def pick_village(update: Update, context: BotContext) -> int | None:
    query, who = update.callback_query, await caller(update, context)
    if query is None or who is None:
        return None
    draft = _draft(context)
    if draft is None or query.message is None or query.message.message_id != draft.get("picker"):
        await query.answer(t(context, who.lang, "fallback.stale_button"), show_alert=True)
        return None
    if who.member is None:
        await query.answer()
        _forget(context)
        await say(update, context, who.lang, "start.stranger")
        return END
    code = (query.data or "").removeprefix(VILLAGE_DATA)
    try:
        villages = await context.services.checkins.villages(who.member)
    except ZhucunError:
        villages = []
    village = next((v for v in villages if v.code == code), None)
    if village is None:  # forged, or scope changed: answered like something that does not exist
        await query.answer(t(context, who.lang, "error.not_found"), show_alert=True)
        return None
    await query.answer()
    with suppress(BadRequest):
        await query.edit_message_reply_markup(reply_markup=None)
    draft["village"] = village.code
    if draft["source"] is not None:
        return await _record(update, context, who, draft, village)
    return await _ask_location(update, context, who, draft, village.name)


use_buttons = reask("checkin.use_buttons")


# --- step: the location -------------------------------------------------------------------------


async def _ask_location(
    update: Update, context: BotContext, who: Caller, draft: dict[str, Any], village: str
) -> int:
    _keep(context, draft)
    await say(
        update,
        context,
        who.lang,
        "checkin.ask_location",
        village=village,
        markup=_request_location(context.catalog, who.lang),
    )
    return LOCATION


async def got_location(update: Update, context: BotContext) -> int | None:
    who, message = await caller(update, context), update.effective_message
    draft = _draft(context)
    if who is None or message is None:
        return None
    if who.member is None or draft is None or draft.get("village") is None:
        _forget(context)
        key = "start.stranger" if who.member is None else "fallback.stale_button"
        await say(update, context, who.lang, key)
        return END
    report = location_of(message)
    draft.update(
        source=Source(chat_id=who.chat_id, message_id=message.message_id).model_dump(),
        at=message.date.isoformat(),
        location=report.model_dump() if report else None,
    )
    return await _record(update, context, who, draft)


async def need_location(update: Update, context: BotContext) -> int | None:
    """A sticker, voice note or text where the location is expected: ask again."""
    who = await caller(update, context)
    if who is not None:
        await say(
            update,
            context,
            who.lang,
            "checkin.need_location",
            markup=_request_location(context.catalog, who.lang),
        )
    return None


# --- saving and answering -----------------------------------------------------------------------


async def _replayed(
    update: Update, context: BotContext, who: Caller, draft: dict[str, Any]
) -> bool:
    """Whether the draft's source message already made this member's check-in; if so, answer
    as the first time."""
    assert who.member is not None
    source = Source.model_validate(draft["source"])
    existing = await context.services.checkins.recorded(who.member, source)
    if existing is None:
        return False
    await _done(update, context, who, existing)
    return True


async def _record(
    update: Update,
    context: BotContext,
    who: Caller,
    draft: dict[str, Any],
    village: Region | None = None,
    *,
    unchecked: bool = False,
) -> int:
    """Save the draft's check-in. ``village``: the one the service returned in this update
    (none: the draft's code is read again); ``unchecked``: see :func:`_begin`."""
    assert who.member is not None
    _forget(context)
    location = draft.get("location")
    try:
        recorded = await context.services.checkins.check_in(
            who.member,
            village if village is not None else str(draft["village"]),
            at=datetime.fromisoformat(str(draft["at"])),
            source=Source.model_validate(draft["source"]),
            location=LocationReport.model_validate(location) if location else None,
            note=draft.get("note"),
        )
    except ZhucunError as error:
        if unchecked and await _replayed(update, context, who, draft):
            return END
        await say(
            update,
            context,
            who.lang,
            error.key,
            markup=keyboard(context.catalog, who.lang, who.member),
            **error.params,
        )
        return END
    return await _done(update, context, who, recorded.checkin)


async def _done(update: Update, context: BotContext, who: Caller, checkin: CheckIn) -> int:
    assert who.member is not None
    local = checkin.at.astimezone(context.settings.zone)
    when = context.catalog.label(
        who.lang, "checkin.when", month=local.month, day=local.day, hm=local.strftime("%H:%M")
    )
    text = t(
        context,
        who.lang,
        "checkin.saved",
        village=checkin.village_name,
        time=when,
        where=Html(where(context, who.lang, checkin)),
        verdict=Html(verdict(context, who.lang, checkin)),
    )
    if checkin.note:
        text += "\n" + t(context, who.lang, "checkin.note", note=checkin.note)
    chat = update.effective_chat
    if chat is not None:
        await context.bot.send_message(
            chat.id, text, reply_markup=keyboard(context.catalog, who.lang, who.member)
        )
    return END


def where(context: BotContext, lang: str, checkin: CheckIn) -> str:
    """Distance and inside/outside, or why there is no distance."""
    if checkin.distance_m is not None:
        key = "checkin.inside" if checkin.in_fence else "checkin.outside"
        return t(
            context, lang, key, distance=round(checkin.distance_m), radius=checkin.village_radius_m
        )
    missing = Unverified.NO_LOCATION if checkin.lat is None else Unverified.NO_CENTRE
    return t(context, lang, "checkin.no_distance", reason=_reason(context, lang, missing))


def verdict(context: BotContext, lang: str, checkin: CheckIn) -> str:
    if checkin.reason is not None:
        return t(context, lang, "checkin.unverified", reason=_reason(context, lang, checkin.reason))
    return t(context, lang, "checkin.counts" if checkin.in_fence else "checkin.verified_outside")


def _reason(context: BotContext, lang: str, reason: Unverified) -> str:
    return context.catalog.label(lang, f"checkin.reason.{reason.value}")


# --- live location: later fixes are edits of the first message ----------------------------------


async def refine(update: Update, context: BotContext) -> None:
    """An edited live location updates its check-in; the member hears only of a new verdict."""
    who, message = await caller(update, context), update.effective_message
    if who is None or message is None or who.member is None:
        return
    report = location_of(message)
    if report is None:
        return
    source = Source(chat_id=who.chat_id, message_id=message.message_id)
    refined = await context.services.checkins.refine(who.member, source, report)
    if refined is None or not refined.verdict_changed:
        return
    checkin = refined.after
    await say(
        update,
        context,
        who.lang,
        "checkin.refined",
        village=checkin.village_name,
        where=Html(where(context, who.lang, checkin)),
        verdict=Html(verdict(context, who.lang, checkin)),
    )


# --- leaving the flow ---------------------------------------------------------------------------


async def cancel(update: Update, context: BotContext) -> int:
    who = await caller(update, context)
    await _retire(update, context, _forget(context))
    if who is not None:
        markup = keyboard(context.catalog, who.lang, who.member) if who.member else None
        await say(update, context, who.lang, "checkin.cancelled", markup=markup)
    return END


async def timed_out(update: Update, context: BotContext) -> int:
    who = await caller(update, context)
    await _retire(update, context, _forget(context))
    if who is not None:
        markup = keyboard(context.catalog, who.lang, who.member) if who.member else None
        await say(
            update,
            context,
            who.lang,
            "checkin.timed_out",
            minutes=context.settings.flow_timeout,
            markup=markup,
        )
    return END


async def _retire(update: Update, context: BotContext, draft: dict[str, Any] | None) -> None:
    """Take the village buttons off the picker so they cannot be pressed after the flow."""
    chat = update.effective_chat
    picker = draft.get("picker") if draft else None
    if chat is None or not isinstance(picker, int):
        return
    with suppress(BadRequest):
        await context.bot.edit_message_reply_markup(chat.id, picker, reply_markup=None)


# --- keyboards and wiring -----------------------------------------------------------------------


def _picker(villages: list[Region]) -> InlineKeyboardMarkup:
    buttons = [InlineKeyboardButton(v.name, callback_data=VILLAGE_DATA + v.code) for v in villages]
    return InlineKeyboardMarkup([buttons[i : i + COLUMNS] for i in range(0, len(buttons), COLUMNS)])


def _request_location(catalog: Catalog, lang: str) -> ReplyKeyboardMarkup:
    button = KeyboardButton(catalog.label(lang, "checkin.location_button"), request_location=True)
    return ReplyKeyboardMarkup([[button]], resize_keyboard=True, one_time_keyboard=True)


def button_labels(catalog: Catalog) -> list[str]:
    """The 签到 keyboard label in every language."""
    return [label for label, command in button_commands(catalog).items() if command == "checkin"]


def conversation(settings: Settings, catalog: Catalog) -> ConversationHandler[BotContext]:
    """The check-in flow; ``flow_timeout`` minutes of silence end it with a message."""
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    menu_buttons = filters.Text(list(button_commands(catalog)))
    typed = private & ~filters.COMMAND & ~menu_buttons
    states: dict[object, list[BaseHandler[Update, BotContext, Any]]] = {
        PICK: [
            CallbackQueryHandler(pick_village, pattern=f"^{VILLAGE_DATA}"),
            MessageHandler(typed, use_buttons),
        ],
        LOCATION: [
            MessageHandler(private & filters.LOCATION, got_location),
            MessageHandler(typed & ~filters.LOCATION, need_location),
        ],
        ConversationHandler.TIMEOUT: [TypeHandler(Update, timed_out)],
    }
    return ConversationHandler(
        entry_points=[
            CommandHandler("checkin", start, filters=filters.ChatType.PRIVATE),
            MessageHandler(private & filters.Text(button_labels(catalog)), start),
            MessageHandler(private & filters.LOCATION, start_with_location),
        ],
        states=states,
        fallbacks=[CommandHandler("cancel", cancel, filters=filters.ChatType.PRIVATE)],
        allow_reentry=True,
        per_chat=True,
        per_user=True,
        per_message=False,
        conversation_timeout=timedelta(minutes=settings.flow_timeout),
        name="checkin",
        persistent=True,
    )


EDIT_HANDLERS = [
    MessageHandler(
        filters.ChatType.PRIVATE & filters.UpdateType.EDITED_MESSAGE & filters.LOCATION, refine
    )
]
