"""走访 / ``/visit``: log a household visit, guided or in one line.

One line: ``/visit 王秀英 老伴卧床,已联系村医`` saves at once when the household is clear
(``/visit 王秀英 昨天 …`` records it on that day, flagged as backdated); several matches give
buttons first. Editing the message of a one-line visit within 48 hours updates it
(:data:`EDIT_HANDLERS`, tried before the fallback's "edits are not entries").

Guided (``/visit``, ``/visit 王秀英`` or the 走访 button): the household (buttons when several
match), then what was seen and done — text, photos with captions, voice notes, all kept, one
status message edited as they arrive — then an optional 两不愁三保障 checklist with buttons,
an optional follow-up day, and the confirmation with the entry number. The flow is persistent:
its state and its draft (plain values in ``user_data``) survive a restart. The message that
started the flow is the visit's source, so a re-delivered last step saves nothing new.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.config import Settings
from bot.context import BotContext
from bot.errors import InvalidInput, NotFound, ZhucunError
from bot.fieldwork import Visit
from bot.models import GUARANTEE_ITEMS, Guarantee, Household
from bot.services.households import HouseholdMatch, decisive
from bot.services.visits import Notes, clean_text, snippet
from handlers.common import Caller, caller, reask, say, t
from handlers.media import keep_media, show_status
from handlers.menu import button_commands, keyboard
from locales import Catalog

FIND, PICK, NOTES, CHECK, FOLLOW = range(5)
END = ConversationHandler.END

PREFIX = "visit:"
PICK_DATA = PREFIX + "hh:"  # visit:hh:<household id>
NEXT_DATA = PREFIX + "next"
ITEM_DATA = PREFIX + "g:"  # visit:g:<item>
CHECKED_DATA = PREFIX + "gdone"
NO_FOLLOW_DATA = PREFIX + "nf"
DRAFT_KEY = "visit_draft"
CYCLE: dict[str | None, str | None] = {
    None: Guarantee.MET.value,
    Guarantee.MET.value: Guarantee.NOT_MET.value,
    Guarantee.NOT_MET.value: Guarantee.UNKNOWN.value,
    Guarantee.UNKNOWN.value: None,
}
_COMMAND = re.compile(r"^/visit(?:@\w+)?(?:\s+(\S+))?(?:\s+(.*))?$", re.DOTALL | re.IGNORECASE)


# --- drafts: plain values only ------------------------------------------------------------------


def _draft(context: BotContext) -> dict[str, Any] | None:
    data = context.user_data.get(DRAFT_KEY) if context.user_data is not None else None
    return data if isinstance(data, dict) else None


def _keep(context: BotContext, draft: dict[str, Any]) -> None:
    if context.user_data is not None:
        context.user_data[DRAFT_KEY] = draft


def _forget(context: BotContext) -> None:
    if context.user_data is not None:
        context.user_data.pop(DRAFT_KEY, None)


def split_command(text: str) -> tuple[str, str]:
    """``/visit 王秀英 老伴卧床`` → ("王秀英", "老伴卧床"); missing parts are empty."""
    match = _COMMAND.match(text.strip())
    if match is None:
        return "", ""
    return (match.group(1) or "").strip(), (match.group(2) or "").strip()


# --- entry: /visit [household [notes]] or the 走访 button ---------------------------------------


async def start(update: Update, context: BotContext) -> int:
    who, message = await caller(update, context), update.effective_message
    if who is None or message is None:
        return END
    if who.member is None:
        await say(update, context, who.lang, "start.stranger")
        return END
    if not context.services.visits.may_visit(who.member):
        await say(update, context, who.lang, "visit.not_team")
        return END
    source = (who.chat_id, message.message_id)
    _forget(context)
    query, rest = split_command(message.text or "") if message.text else ("", "")
    if message.text and not message.text.startswith("/"):
        query, rest = "", ""  # the 走访 button
    # A re-delivered update whose visit is saved already answers as the first time did. A
    # one-line visit asks the store only when it would answer anything but "saved": saving it
    # again finds the visit its message made (the source is unique) and answers the same.
    one_line = bool(query and rest)
    if not one_line and await _replayed(update, context, who, source):
        return END
    draft: dict[str, Any] = {
        "source": list(source),
        "at": message.date.isoformat(),
        "texts": [],
        "files": [],
        "photos": 0,
        "voices": 0,
        "seen": [],
        "obs": {},
        "day": None,
        "backdated": False,
        "one_line": None,
        "msgs": [],
        "status": None,
    }
    if rest:
        try:
            notes = context.services.visits.notes(rest, message.date)
            if not notes.text:
                raise InvalidInput("visit.empty")
        except ZhucunError as error:
            if not (one_line and await _replayed(update, context, who, source)):
                await say(update, context, who.lang, error.key, **error.params)
            return END
        draft["one_line"] = notes.model_dump(mode="json")
    if not query:
        _keep(context, draft)
        await say(update, context, who.lang, "visit.ask_household")
        return FIND
    return await _find(update, context, who, draft, query, unchecked=one_line)


async def _replayed(
    update: Update, context: BotContext, who: Caller, source: tuple[int, int]
) -> bool:
    """Whether ``source`` already made this member's visit; if so, answer "saved" again."""
    assert who.member is not None
    existing = await context.services.visits.recorded(who.member, source)
    if existing is None:
        return False
    _forget(context)
    await _saved(update, context, who, existing)
    return True


def _source(draft: dict[str, Any]) -> tuple[int, int]:
    return int(draft["source"][0]), int(draft["source"][1])


async def take_query(update: Update, context: BotContext) -> int | None:
    who, message, draft = await caller(update, context), update.effective_message, _draft(context)
    if who is None or message is None or who.member is None or draft is None:
        return await _lost(update, context, who)
    return await _find(update, context, who, draft, message.text or "")


async def _find(
    update: Update,
    context: BotContext,
    who: Caller,
    draft: dict[str, Any],
    query: str,
    *,
    unchecked: bool = False,
) -> int:
    """``unchecked``: the draft's source was not yet looked up (see :func:`start`)."""
    try:
        matches = await context.services.visits.candidates(who.member, query)
    except ZhucunError as error:
        _forget(context)
        if not (unchecked and await _replayed(update, context, who, _source(draft))):
            await say(update, context, who.lang, error.key, **error.params)
        return END
    chosen = decisive(matches)
    if chosen is not None:
        return await _chosen(update, context, who, draft, chosen, unchecked=unchecked)
    if unchecked and await _replayed(update, context, who, _source(draft)):
        return END
    if not matches:
        _keep(context, draft)
        await say(update, context, who.lang, "visit.no_match", query=query)
        return END if draft.get("one_line") else FIND
    sent = await say(
        update,
        context,
        who.lang,
        "visit.choose",
        count=len(matches),
        markup=_choices(context, who.lang, matches),
    )
    draft["msgs"] = [sent.message_id] if sent else []
    _keep(context, draft)
    return PICK


async def pick(update: Update, context: BotContext) -> int | None:
    checked = await _press(update, context)
    if checked is None:
        return None
    who, draft, data = checked
    raw = data.removeprefix(PICK_DATA)
    query = update.callback_query
    assert query is not None
    try:
        if not raw.isdigit() or len(raw) > 18:
            raise NotFound()
        household = await context.services.visits.household(who.member, int(raw))
    except NotFound:  # forged, or out of scope: the same as missing
        await query.answer(t(context, who.lang, "error.not_found"), show_alert=True)
        return None
    await query.answer()
    await query.edit_message_reply_markup(reply_markup=None)
    return await _chosen(update, context, who, draft, household)


async def _chosen(
    update: Update,
    context: BotContext,
    who: Caller,
    draft: dict[str, Any],
    household: Household,
    *,
    unchecked: bool = False,
) -> int:
    """``household`` was just returned by the service (a search, or a press read again)."""
    draft.update(
        household=household.id,
        name=household.head_name,
        village=household.village_name,
        registry_no=household.registry_no,
    )
    if draft.get("one_line"):
        notes = Notes.model_validate(draft["one_line"])
        return await _save(
            update,
            context,
            who,
            draft,
            notes,
            one_line=True,
            household=household,
            unchecked=unchecked,
        )
    sent = await say(
        update,
        context,
        who.lang,
        "visit.ask_notes",
        name=household.head_name,
        village=household.village_name,
        markup=_next(context, who.lang),
    )
    draft["msgs"] = [sent.message_id] if sent else []
    _keep(context, draft)
    return NOTES


# --- notes: text, photos, voice notes ------------------------------------------------------------


def _first_time(draft: dict[str, Any], message_id: int) -> bool:
    """Whether this message is new to the draft (a re-delivered one is taken once)."""
    seen: list[int] = draft.setdefault("seen", [])
    if message_id in seen:
        return False
    seen.append(message_id)
    return True


async def take_text(update: Update, context: BotContext) -> int | None:
    who, message, draft = await caller(update, context), update.effective_message, _draft(context)
    if who is None or message is None or who.member is None or draft is None:
        return await _lost(update, context, who)
    if not _first_time(draft, message.message_id):
        return None
    text = (message.text or "").strip()
    texts: list[str] = draft["texts"]
    try:
        if not texts and draft.get("day") is None:
            notes = context.services.visits.notes(text, message.date)
            if notes.backdated:
                draft.update(day=notes.day.isoformat(), backdated=True)
            text = notes.text
        clean_text("\n".join([*texts, text]))  # the whole visit's text stays within the limit
    except ZhucunError as error:
        draft["seen"].remove(message.message_id)
        _keep(context, draft)
        await say(update, context, who.lang, error.key, **error.params)
        return None
    if text:
        texts.append(text)
    await _status(update, context, who, draft)
    return None


async def take_media(update: Update, context: BotContext) -> int | None:
    who, message, draft = await caller(update, context), update.effective_message, _draft(context)
    if who is None or message is None or who.member is None or draft is None:
        return await _lost(update, context, who)
    if not _first_time(draft, message.message_id):
        return None
    arrived = await keep_media(update, context, who)
    if arrived is None:
        return None
    if arrived.kept.id not in draft["files"]:
        draft["files"].append(arrived.kept.id)
        draft["photos" if arrived.kept.kind.value == "photo" else "voices"] += 1
    await _status(update, context, who, draft)
    return None


async def _status(update: Update, context: BotContext, who: Caller, draft: dict[str, Any]) -> None:
    draft["status"] = await show_status(
        update,
        context,
        who,
        draft.get("status"),
        "visit.status",
        markup=_next(context, who.lang),
        texts=len(draft["texts"]),
        photos=draft["photos"],
        voices=draft["voices"],
    )
    if draft["status"] is not None and draft["status"] not in draft["msgs"]:
        draft["msgs"].append(draft["status"])
    _keep(context, draft)


notes_other = reask("visit.notes_kind")


async def notes_done(update: Update, context: BotContext) -> int | None:
    # Any 下一步 of this flow will do: a status message re-sent after a crash replaced the one
    # whose button the member may still press, and the press means the same either way.
    checked = await _press(update, context, any_message=True)
    if checked is None:
        return None
    who, draft, _ = checked
    query = update.callback_query
    assert query is not None
    if not draft["texts"] and not draft["files"]:
        await query.answer(t(context, who.lang, "visit.empty"), show_alert=True)
        return None
    await query.answer()
    await query.edit_message_reply_markup(reply_markup=None)
    sent = await say(
        update,
        context,
        who.lang,
        "visit.ask_checklist",
        markup=_checklist(context, who.lang, draft["obs"]),
    )
    draft["msgs"] = [sent.message_id] if sent else []
    _keep(context, draft)
    return CHECK


# --- 两不愁三保障 checklist ---------------------------------------------------------------


async def toggle(update: Update, context: BotContext) -> int | None:
    checked = await _press(update, context)
    if checked is None:
        return None
    who, draft, data = checked
    query = update.callback_query
    assert query is not None
    item = data.removeprefix(ITEM_DATA)
    if item not in GUARANTEE_ITEMS:
        await query.answer(t(context, who.lang, "fallback.stale_button"), show_alert=True)
        return None
    observed: dict[str, str] = draft["obs"]
    state = CYCLE.get(observed.get(item))
    if state is None:
        observed.pop(item, None)
    else:
        observed[item] = state
    _keep(context, draft)
    await query.answer()
    await query.edit_message_reply_markup(reply_markup=_checklist(context, who.lang, observed))
    return None


async def checked(update: Update, context: BotContext) -> int | None:
    pressed = await _press(update, context)
    if pressed is None:
        return None
    who, draft, _ = pressed
    query = update.callback_query
    assert query is not None
    await query.answer()
    await query.edit_message_reply_markup(reply_markup=None)
    button = InlineKeyboardButton(
        context.catalog.label(who.lang, "visit.no_follow_up"), callback_data=NO_FOLLOW_DATA
    )
    sent = await say(
        update,
        context,
        who.lang,
        "visit.ask_follow_up",
        markup=InlineKeyboardMarkup([[button]]),
    )
    draft["msgs"] = [sent.message_id] if sent else []
    _keep(context, draft)
    return FOLLOW


# --- follow-up and saving -----------------------------------------------------------------------


async def take_follow_up(update: Update, context: BotContext) -> int | None:
    who, message, draft = await caller(update, context), update.effective_message, _draft(context)
    if who is None or message is None or who.member is None or draft is None:
        return await _lost(update, context, who)
    try:
        day = context.services.visits.follow_up(message.text or "")
    except ZhucunError as error:
        await say(update, context, who.lang, error.key, **error.params)
        return None
    draft["follow"] = day.isoformat()
    return await _save(update, context, who, draft, _notes(draft), one_line=False)


async def no_follow_up(update: Update, context: BotContext) -> int | None:
    pressed = await _press(update, context)
    if pressed is None:
        return None
    who, draft, _ = pressed
    query = update.callback_query
    assert query is not None
    await query.answer()
    await query.edit_message_reply_markup(reply_markup=None)
    draft["follow"] = None
    return await _save(update, context, who, draft, _notes(draft), one_line=False)


def _notes(draft: dict[str, Any]) -> Notes:
    day = draft.get("day")
    return Notes(
        day=date.fromisoformat(day) if day else datetime.fromisoformat(draft["at"]).date(),
        backdated=bool(draft.get("backdated")),
        text="\n".join(draft["texts"]),
    )


async def _save(
    update: Update,
    context: BotContext,
    who: Caller,
    draft: dict[str, Any],
    notes: Notes,
    *,
    one_line: bool,
    household: Household | None = None,
    unchecked: bool = False,
) -> int:
    """Save the draft; ``household``: the one the service returned in this update (a guided
    visit's last step passes none: the draft's id is read again)."""
    assert who.member is not None
    if not notes.backdated:  # "today" is the day the visit was started, in the local zone
        start = datetime.fromisoformat(draft["at"]).astimezone(context.settings.zone).date()
        notes = notes.model_copy(update={"day": start})
    follow = draft.get("follow")
    try:
        recorded = await context.services.visits.record(
            who.member,
            household if household is not None else int(draft["household"]),
            notes=notes,
            at=datetime.fromisoformat(draft["at"]),
            source=_source(draft),
            observations=dict(draft.get("obs") or {}),
            follow_up_day=date.fromisoformat(follow) if follow else None,
            one_line=one_line,
            file_ids=[int(f) for f in draft.get("files") or []],
        )
    except ZhucunError as error:
        _forget(context)
        if not (unchecked and await _replayed(update, context, who, _source(draft))):
            await say(update, context, who.lang, error.key, **error.params)
        return END
    _forget(context)
    await _saved(update, context, who, recorded.visit)
    return END


async def _saved(update: Update, context: BotContext, who: Caller, visit: Visit) -> None:
    assert who.member is not None
    label = context.catalog.label
    lines = [
        t(
            context,
            who.lang,
            "visit.saved",
            number=visit.number,
            name=visit.household_name,
            village=visit.village_name,
            registry_no=visit.registry_no,
            day=label(who.lang, "visit.day", month=visit.visit_day.month, day=visit.visit_day.day),
        )
    ]
    if visit.backdated:
        lines.append(t(context, who.lang, "visit.backdated"))
    if visit.text:
        lines.append(t(context, who.lang, "visit.saved_text", text=visit.text))
    if visit.files:
        lines.append(t(context, who.lang, "visit.saved_files", count=visit.files))
    observed = visit.observations()
    if observed:
        items = label(who.lang, "household.separator").join(
            f"{label(who.lang, f'guarantee.{k}')}:{label(who.lang, f'guarantee_state.{v.value}')}"
            for k, v in observed.items()
        )
        lines.append(t(context, who.lang, "visit.saved_checklist", items=items))
    if visit.follow_up_day:
        day = visit.follow_up_day
        lines.append(
            t(
                context,
                who.lang,
                "visit.saved_follow_up",
                day=label(who.lang, "visit.day", month=day.month, day=day.day),
            )
        )
    chat = update.effective_chat
    if chat is not None:
        await context.bot.send_message(
            chat.id,
            "\n".join(lines),
            reply_markup=keyboard(context.catalog, who.lang, who.member),
        )


def snippet_of(text: str) -> str:
    """A long text shortened for a list line."""
    return snippet(text) or "—"


# --- editing a one-line visit -------------------------------------------------------------------


async def edited(update: Update, context: BotContext) -> None:
    who, message = await caller(update, context), update.effective_message
    if who is None or message is None or who.member is None:
        return
    _, rest = split_command(message.text or "")
    try:
        changed = await context.services.visits.edit_one_line(
            who.member, (who.chat_id, message.message_id), rest
        )
    except ZhucunError as error:
        await say(update, context, who.lang, error.key, **error.params)
        return
    if changed is None:
        await say(update, context, who.lang, "fallback.edit_ignored")
        return
    after = changed[1]
    await say(
        update,
        context,
        who.lang,
        "visit.edited",
        number=after.number,
        name=after.household_name,
        text=after.text,
    )


# --- leaving, stale presses, keyboards ----------------------------------------------------------


use_buttons = reask("visit.use_buttons")


need_text = reask("visit.need_text")


async def cancel(update: Update, context: BotContext) -> int:
    who = await caller(update, context)
    _forget(context)
    if who is not None:
        markup = keyboard(context.catalog, who.lang, who.member) if who.member else None
        await say(update, context, who.lang, "visit.cancelled", markup=markup)
    return END


async def timed_out(update: Update, context: BotContext) -> int:
    who = await caller(update, context)
    _forget(context)
    if who is not None:
        await say(
            update, context, who.lang, "visit.timed_out", minutes=context.settings.flow_timeout
        )
    return END


async def _lost(update: Update, context: BotContext, who: Caller | None) -> int:
    """A stranger now, or the draft is gone: end the flow with a clear word."""
    _forget(context)
    if who is not None:
        key = "start.stranger" if who.member is None else "fallback.stale_button"
        await say(update, context, who.lang, key)
    return END


async def _press(
    update: Update, context: BotContext, *, any_message: bool = False
) -> tuple[Caller, dict[str, Any], str] | None:
    """A press on one of the flow's current messages by a still-registered member."""
    query, who = update.callback_query, await caller(update, context)
    if query is None or who is None:
        return None
    draft = _draft(context)
    if who.member is None:
        await query.answer()
        await _lost(update, context, who)
        return None
    current = any_message or (
        query.message is not None and query.message.message_id in (draft or {}).get("msgs", [])
    )
    if draft is None or not current:
        await query.answer(t(context, who.lang, "fallback.stale_button"), show_alert=True)
        return None
    return who, draft, query.data or ""


def _choices(context: BotContext, lang: str, matches: list[HouseholdMatch]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    context.catalog.label(
                        lang,
                        "household.choice",
                        name=m.household.head_name,
                        village=m.household.village_name,
                        registry_no=m.household.registry_no,
                    ),
                    callback_data=f"{PICK_DATA}{m.household.id}",
                )
            ]
            for m in matches
        ]
    )


def _next(context: BotContext, lang: str) -> InlineKeyboardMarkup:
    button = InlineKeyboardButton(
        context.catalog.label(lang, "visit.next"), callback_data=NEXT_DATA
    )
    return InlineKeyboardMarkup([[button]])


def _checklist(context: BotContext, lang: str, observed: dict[str, str]) -> InlineKeyboardMarkup:
    label = context.catalog.label
    rows = [
        [
            InlineKeyboardButton(
                label(
                    lang,
                    "visit.item",
                    item=label(lang, f"guarantee.{item}"),
                    state=label(lang, f"guarantee_state.{observed[item]}")
                    if item in observed
                    else label(lang, "visit.not_observed"),
                ),
                callback_data=ITEM_DATA + item,
            )
        ]
        for item in GUARANTEE_ITEMS
    ]
    rows.append(
        [InlineKeyboardButton(label(lang, "visit.checklist_done"), callback_data=CHECKED_DATA)]
    )
    return InlineKeyboardMarkup(rows)


def button_labels(catalog: Catalog) -> list[str]:
    return [label for label, command in button_commands(catalog).items() if command == "visit"]


def conversation(settings: Settings, catalog: Catalog) -> ConversationHandler[BotContext]:
    """The visit flow; ``flow_timeout`` minutes of silence end it with a message."""
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    menu_buttons = filters.Text(list(button_commands(catalog)))
    typed = private & ~filters.COMMAND & ~menu_buttons
    media = filters.PHOTO | filters.VOICE
    buttons_only: list[BaseHandler[Update, BotContext, Any]] = [MessageHandler(typed, use_buttons)]
    states: dict[object, list[BaseHandler[Update, BotContext, Any]]] = {
        FIND: [
            MessageHandler(typed & filters.TEXT, take_query),
            MessageHandler(typed & ~filters.TEXT, need_text),
        ],
        PICK: [CallbackQueryHandler(pick, pattern=f"^{PICK_DATA}"), *buttons_only],
        NOTES: [
            CallbackQueryHandler(notes_done, pattern=f"^{NEXT_DATA}$"),
            MessageHandler(typed & filters.TEXT, take_text),
            MessageHandler(private & media, take_media),
            MessageHandler(typed, notes_other),
        ],
        CHECK: [
            CallbackQueryHandler(toggle, pattern=f"^{ITEM_DATA}"),
            CallbackQueryHandler(checked, pattern=f"^{CHECKED_DATA}$"),
            *buttons_only,
        ],
        FOLLOW: [
            CallbackQueryHandler(no_follow_up, pattern=f"^{NO_FOLLOW_DATA}$"),
            MessageHandler(typed & filters.TEXT, take_follow_up),
            *buttons_only,
        ],
        ConversationHandler.TIMEOUT: [TypeHandler(Update, timed_out)],
    }
    return ConversationHandler(
        entry_points=[
            CommandHandler("visit", start, filters=filters.ChatType.PRIVATE),
            MessageHandler(private & filters.Text(button_labels(catalog)), start),
        ],
        states=states,
        fallbacks=[CommandHandler("cancel", cancel, filters=filters.ChatType.PRIVATE)],
        allow_reentry=True,
        per_chat=True,
        per_user=True,
        per_message=False,
        conversation_timeout=timedelta(minutes=settings.flow_timeout),
        name="visit",
        persistent=True,
    )


EDIT_HANDLERS = [
    MessageHandler(
        filters.ChatType.PRIVATE
        & filters.UpdateType.EDITED_MESSAGE
        & filters.Regex(re.compile(r"^/visit(@\w+)?\s", re.IGNORECASE)),
        edited,
    )
]
