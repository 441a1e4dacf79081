"""报问题 / ``/problem``: a guided report of a village problem.

Village (buttons, only when the member has several), category (buttons), description (text, or a
photo with a caption), household (optional: a name or number, or the "no household" button),
photo (optional), severity (buttons); the confirmation names the entry number and the due day.
An urgent problem alerts the township leaders of the village at once, each alert sent through
the at-least-once deliveries (``deliveries.send_once``), so that a crash neither loses it nor
sends it more than once more. The flow is persistent; the message that started it is the
problem's source, so a re-delivered last press reports nothing new.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import TelegramError
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
from bot.errors import NotFound, ZhucunError
from bot.fieldwork import Category, Problem, Severity
from bot.models import Member
from bot.services.deliveries import delivery_key
from bot.services.households import decisive
from bot.services.problems import clean_description
from handlers.common import Caller, caller, reask, say, t
from handlers.media import keep_media
from handlers.menu import button_commands, keyboard
from locales import Catalog, language_for

log = logging.getLogger(__name__)

VILLAGE, CATEGORY, DESCRIBE, HOUSEHOLD, PHOTO, SEVERITY = range(6)
END = ConversationHandler.END

PREFIX = "prob:"
VILLAGE_DATA = PREFIX + "v:"
CATEGORY_DATA = PREFIX + "c:"
HOUSEHOLD_DATA = PREFIX + "h:"
NO_HOUSEHOLD_DATA = PREFIX + "hnone"
NO_PHOTO_DATA = PREFIX + "pskip"
SEVERITY_DATA = PREFIX + "s:"
DRAFT_KEY = "problem_draft"
COLUMNS = 3
ALERT_KIND = "problem_urgent"


def _draft(context: BotContext) -> dict[str, Any] | None:
    data = context.user_data.get(DRAFT_KEY) if context.user_data is not None else None
    return data if isinstance(data, dict) else None


def _keep(context: BotContext, draft: dict[str, Any]) -> None:
    if context.user_data is not None:
        context.user_data[DRAFT_KEY] = draft


def _forget(context: BotContext) -> None:
    if context.user_data is not None:
        context.user_data.pop(DRAFT_KEY, None)


# --- entry ---------------------------------------------------------------------------------------


async def start(update: Update, context: BotContext) -> int:
    who, message = await caller(update, context), update.effective_message
    if who is None or message is None:
        return END
    if who.member is None:
        await say(update, context, who.lang, "start.stranger")
        return END
    _forget(context)
    try:
        villages = await context.services.problems.villages(who.member)
    except ZhucunError as error:
        await say(update, context, who.lang, error.key, **error.params)
        return END
    if not villages:
        await say(update, context, who.lang, "problem.not_team")
        return END
    draft: dict[str, Any] = {
        "source": [who.chat_id, message.message_id],
        "village": None,
        "category": None,
        "description": None,
        "household": None,
        "household_name": None,
        "files": [],
        "seen": [],
        "msg": None,
    }
    if len(villages) == 1:
        draft["village"] = villages[0].code
        return await _ask_category(update, context, who, draft)
    buttons = [InlineKeyboardButton(v.name, callback_data=VILLAGE_DATA + v.code) for v in villages]
    return await _ask(update, context, who, draft, "problem.choose_village", buttons, VILLAGE)


async def pick_village(update: Update, context: BotContext) -> int | None:
    pressed = await _press(update, context)
    if pressed is None:
        return None
    who, draft, data = pressed
    code = data.removeprefix(VILLAGE_DATA)
    villages = await context.services.problems.villages(who.member)
    if not any(v.code == code for v in villages):
        await _not_found(update, context, who)
        return None
    await _done_with(update)
    draft["village"] = code
    return await _ask_category(update, context, who, draft)


async def _ask_category(
    update: Update, context: BotContext, who: Caller, draft: dict[str, Any]
) -> int:
    buttons = [
        InlineKeyboardButton(
            context.catalog.label(who.lang, f"problem.category.{c.value}"),
            callback_data=CATEGORY_DATA + c.value,
        )
        for c in Category
    ]
    return await _ask(update, context, who, draft, "problem.choose_category", buttons, CATEGORY)


async def pick_category(update: Update, context: BotContext) -> int | None:
    pressed = await _press(update, context)
    if pressed is None:
        return None
    who, draft, data = pressed
    try:
        category = Category(data.removeprefix(CATEGORY_DATA))
    except ValueError:
        await _not_found(update, context, who)
        return None
    await _done_with(update)
    draft["category"] = category.value
    _keep(context, draft)
    await say(
        update,
        context,
        who.lang,
        "problem.ask_description",
        category=context.catalog.label(who.lang, f"problem.category.{category.value}"),
    )
    return DESCRIBE


# --- description, household, photo ---------------------------------------------------------------


async def take_description(update: Update, context: BotContext) -> int | None:
    who, message, draft = await caller(update, context), update.effective_message, _draft(context)
    if who is None or message is None or who.member is None or draft is None:
        return await _lost(update, context, who)
    if message.photo:
        if message.message_id not in draft["seen"]:
            arrived = await keep_media(update, context, who)
            if arrived is not None and arrived.kept.id not in draft["files"]:
                draft["files"].append(arrived.kept.id)
            draft["seen"].append(message.message_id)
            _keep(context, draft)
        if not message.caption:
            await say(update, context, who.lang, "problem.photo_kept_need_text")
            return None
    try:
        draft["description"] = clean_description(message.text or message.caption)
    except ZhucunError as error:
        await say(update, context, who.lang, error.key, **error.params)
        return None
    button = InlineKeyboardButton(
        context.catalog.label(who.lang, "problem.no_household"), callback_data=NO_HOUSEHOLD_DATA
    )
    return await _ask(update, context, who, draft, "problem.ask_household", [button], HOUSEHOLD)


async def take_household(update: Update, context: BotContext) -> int | None:
    who, message, draft = await caller(update, context), update.effective_message, _draft(context)
    if who is None or message is None or who.member is None or draft is None:
        return await _lost(update, context, who)
    query = message.text or ""
    matches = [
        m
        for m in await context.services.visits.candidates(who.member, query)
        if m.household.village_code == draft["village"]
    ]
    if not matches:
        await say(update, context, who.lang, "problem.no_household_match", query=query)
        return None
    chosen = decisive(matches)
    if chosen is not None:
        draft.update(household=chosen.id, household_name=chosen.head_name)
        return await _after_household(update, context, who, draft)
    buttons = [
        InlineKeyboardButton(
            context.catalog.label(
                who.lang,
                "household.choice",
                name=m.household.head_name,
                village=m.household.village_name,
                registry_no=m.household.registry_no,
            ),
            callback_data=f"{HOUSEHOLD_DATA}{m.household.id}",
        )
        for m in matches
    ]
    buttons.append(
        InlineKeyboardButton(
            context.catalog.label(who.lang, "problem.no_household"),
            callback_data=NO_HOUSEHOLD_DATA,
        )
    )
    return await _ask(
        update, context, who, draft, "problem.choose_household", buttons, HOUSEHOLD, columns=1
    )


async def pick_household(update: Update, context: BotContext) -> int | None:
    pressed = await _press(update, context)
    if pressed is None:
        return None
    who, draft, data = pressed
    raw = data.removeprefix(HOUSEHOLD_DATA)
    try:
        if not raw.isdigit() or len(raw) > 18:
            raise NotFound()
        household = await context.services.visits.household(who.member, int(raw))
        if household.village_code != draft["village"]:
            raise NotFound()
    except NotFound:
        await _not_found(update, context, who)
        return None
    await _done_with(update)
    draft.update(household=household.id, household_name=household.head_name)
    return await _after_household(update, context, who, draft)


async def no_household(update: Update, context: BotContext) -> int | None:
    pressed = await _press(update, context)
    if pressed is None:
        return None
    who, draft, _ = pressed
    await _done_with(update)
    draft.update(household=None, household_name=None)
    return await _after_household(update, context, who, draft)


async def _after_household(
    update: Update, context: BotContext, who: Caller, draft: dict[str, Any]
) -> int:
    if draft["files"]:
        return await _ask_severity(update, context, who, draft)
    button = InlineKeyboardButton(
        context.catalog.label(who.lang, "problem.no_photo"), callback_data=NO_PHOTO_DATA
    )
    return await _ask(update, context, who, draft, "problem.ask_photo", [button], PHOTO)


async def take_photo(update: Update, context: BotContext) -> int | None:
    who, message, draft = await caller(update, context), update.effective_message, _draft(context)
    if who is None or message is None or who.member is None or draft is None:
        return await _lost(update, context, who)
    if message.message_id not in draft["seen"]:
        arrived = await keep_media(update, context, who)
        if arrived is not None and arrived.kept.id not in draft["files"]:
            draft["files"].append(arrived.kept.id)
        draft["seen"].append(message.message_id)
    return await _ask_severity(update, context, who, draft)


async def no_photo(update: Update, context: BotContext) -> int | None:
    pressed = await _press(update, context)
    if pressed is None:
        return None
    who, draft, _ = pressed
    await _done_with(update)
    return await _ask_severity(update, context, who, draft)


async def _ask_severity(
    update: Update, context: BotContext, who: Caller, draft: dict[str, Any]
) -> int:
    settings = context.settings
    buttons = [
        InlineKeyboardButton(
            context.catalog.label(
                who.lang,
                f"problem.severity_button.{s.value}",
                days=settings.due_urgent_days if s is Severity.URGENT else settings.due_normal_days,
            ),
            callback_data=SEVERITY_DATA + s.value,
        )
        for s in Severity
    ]
    return await _ask(update, context, who, draft, "problem.choose_severity", buttons, SEVERITY)


# --- saving and alerting -------------------------------------------------------------------------


async def pick_severity(update: Update, context: BotContext) -> int | None:
    pressed = await _press(update, context)
    if pressed is None:
        return None
    who, draft, data = pressed
    try:
        severity = Severity(data.removeprefix(SEVERITY_DATA))
    except ValueError:
        await _not_found(update, context, who)
        return None
    await _done_with(update)
    try:
        reported = await context.services.problems.report(
            who.member,
            village_code=str(draft["village"]),
            category=Category(draft["category"]),
            severity=severity,
            description=str(draft["description"]),
            source=(int(draft["source"][0]), int(draft["source"][1])),
            household_id=int(draft["household"]) if draft.get("household") else None,
            file_ids=[int(f) for f in draft["files"]],
        )
    except ZhucunError as error:
        _forget(context)
        await say(update, context, who.lang, error.key, **error.params)
        return END
    _forget(context)
    await _saved(update, context, who, reported.problem)
    await alert(context, reported.problem, reported.alert)
    return END


async def _saved(update: Update, context: BotContext, who: Caller, problem: Problem) -> None:
    assert who.member is not None
    label = context.catalog.label
    none = label(who.lang, "household.none")
    await say(
        update,
        context,
        who.lang,
        "problem.saved",
        number=problem.number,
        village=problem.village_name,
        category=label(who.lang, f"problem.category.{problem.category.value}"),
        severity=label(who.lang, f"problem.severity.{problem.severity.value}"),
        household=problem.household_name or none,
        description=problem.description,
        files=problem.files,
        due=label(who.lang, "visit.day", month=problem.due_day.month, day=problem.due_day.day),
        markup=keyboard(context.catalog, who.lang, who.member),
    )


async def alert(context: BotContext, problem: Problem, leaders: tuple[Member, ...]) -> None:
    """Tell each township leader of the village about an urgent problem, at least once."""
    for leader in leaders:
        lang = language_for(leader.locale, None, context.settings.locale)
        label = context.catalog.label
        text = t(
            context,
            lang,
            "problem.alert",
            number=problem.number,
            village=problem.village_name,
            category=label(lang, f"problem.category.{problem.category.value}"),
            reporter=problem.reporter_name,
            household=problem.household_name or label(lang, "household.none"),
            description=problem.description,
            due=label(lang, "visit.day", month=problem.due_day.month, day=problem.due_day.day),
        )
        chat_id = leader.telegram_user_id

        async def send(chat_id: int = chat_id, text: str = text) -> None:
            await context.bot.send_message(chat_id, text)

        key = delivery_key(ALERT_KIND, chat_id, problem.number)
        try:
            await context.services.deliveries.send_once(key, chat_id, send, text=text)
        except TelegramError:  # left 'sending': resent at the next start
            log.exception("urgent alert %s not delivered yet", key)


# --- shared steps --------------------------------------------------------------------------------


async def _ask(
    update: Update,
    context: BotContext,
    who: Caller,
    draft: dict[str, Any],
    key: str,
    buttons: list[InlineKeyboardButton],
    state: int,
    *,
    columns: int = COLUMNS,
) -> int:
    rows = [buttons[i : i + columns] for i in range(0, len(buttons), columns)]
    sent = await say(update, context, who.lang, key, markup=InlineKeyboardMarkup(rows))
    draft["msg"] = sent.message_id if sent else None
    _keep(context, draft)
    return state


async def _press(update: Update, context: BotContext) -> tuple[Caller, dict[str, Any], str] | None:
    query, who = update.callback_query, await caller(update, context)
    if query is None or who is None:
        return None
    draft = _draft(context)
    if who.member is None:
        await query.answer()
        await _lost(update, context, who)
        return None
    if draft is None or query.message is None or query.message.message_id != draft.get("msg"):
        await query.answer(t(context, who.lang, "fallback.stale_button"), show_alert=True)
        return None
    return who, draft, query.data or ""


async def _done_with(update: Update) -> None:
    query = update.callback_query
    if query is not None:
        await query.answer()
        await query.edit_message_reply_markup(reply_markup=None)


async def _not_found(update: Update, context: BotContext, who: Caller) -> None:
    if update.callback_query is not None:
        await update.callback_query.answer(t(context, who.lang, "error.not_found"), show_alert=True)


async def _lost(update: Update, context: BotContext, who: Caller | None) -> int:
    _forget(context)
    if who is not None:
        key = "start.stranger" if who.member is None else "fallback.stale_button"
        await say(update, context, who.lang, key)
    return END


use_buttons = reask("problem.use_buttons")


need_text = reask("problem.need_text")


need_photo = reask("problem.need_photo")


async def cancel(update: Update, context: BotContext) -> int:
    who = await caller(update, context)
    _forget(context)
    if who is not None:
        markup = keyboard(context.catalog, who.lang, who.member) if who.member else None
        await say(update, context, who.lang, "problem.cancelled", markup=markup)
    return END


async def timed_out(update: Update, context: BotContext) -> int:
    who = await caller(update, context)
    _forget(context)
    if who is not None:
        await say(
            update, context, who.lang, "problem.timed_out", minutes=context.settings.flow_timeout
        )
    return END


def button_labels(catalog: Catalog) -> list[str]:
    return [label for label, command in button_commands(catalog).items() if command == "problem"]


def conversation(settings: Settings, catalog: Catalog) -> ConversationHandler[BotContext]:
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    menu_buttons = filters.Text(list(button_commands(catalog)))
    typed = private & ~filters.COMMAND & ~menu_buttons
    buttons_only: list[BaseHandler[Update, BotContext, Any]] = [MessageHandler(typed, use_buttons)]
    return ConversationHandler(
        entry_points=[
            CommandHandler("problem", start, filters=filters.ChatType.PRIVATE),
            MessageHandler(private & filters.Text(button_labels(catalog)), start),
        ],
        states={
            VILLAGE: [
                CallbackQueryHandler(pick_village, pattern=f"^{VILLAGE_DATA}"),
                *buttons_only,
            ],
            CATEGORY: [
                CallbackQueryHandler(pick_category, pattern=f"^{CATEGORY_DATA}"),
                *buttons_only,
            ],
            DESCRIBE: [
                MessageHandler(typed & (filters.TEXT | filters.PHOTO), take_description),
                MessageHandler(typed, need_text),
            ],
            HOUSEHOLD: [
                CallbackQueryHandler(pick_household, pattern=f"^{HOUSEHOLD_DATA}"),
                CallbackQueryHandler(no_household, pattern=f"^{NO_HOUSEHOLD_DATA}$"),
                MessageHandler(typed & filters.TEXT, take_household),
                MessageHandler(typed, need_text),
            ],
            PHOTO: [
                CallbackQueryHandler(no_photo, pattern=f"^{NO_PHOTO_DATA}$"),
                MessageHandler(typed & filters.PHOTO, take_photo),
                MessageHandler(typed, need_photo),
            ],
            SEVERITY: [
                CallbackQueryHandler(pick_severity, pattern=f"^{SEVERITY_DATA}"),
                *buttons_only,
            ],
            ConversationHandler.TIMEOUT: [TypeHandler(Update, timed_out)],
        },
        fallbacks=[CommandHandler("cancel", cancel, filters=filters.ChatType.PRIVATE)],
        allow_reentry=True,
        per_chat=True,
        per_user=True,
        per_message=False,
        conversation_timeout=timedelta(minutes=settings.flow_timeout),
        name="problem",
        persistent=True,
    )
