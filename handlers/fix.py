"""``/fix <entry number>``: a secretary (or a leader) corrects or voids a visit or a problem.

``/fix V12`` shows the entry with two buttons: 更正内容 asks for the new text (a small persistent
flow) and 作废 asks once more before voiding. The service checks CORRECT in the entry's village
on every step, so an entry outside scope (or a forged button) is answered like a missing one.
Each change is audited with before and after, and the entry's author is told in their chat.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import TelegramError
from telegram.ext import (
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
from bot.fieldwork import Problem, Visit, parse_entry_number
from bot.models import Member
from handlers.common import Caller, caller, reask, say, t
from handlers.menu import button_commands
from locales import Catalog, Html, language_for

log = logging.getLogger(__name__)

TEXT = 0
END = ConversationHandler.END
PREFIX = "fix:"
EDIT_DATA = PREFIX + "edit:"  # fix:edit:<visit|problem>:<id>
VOID_DATA = PREFIX + "void:"
VOID_OK_DATA = PREFIX + "vok:"
DRAFT_KEY = "fix_draft"

Entry = Visit | Problem


async def _entry(context: BotContext, actor: Member | None, kind: str, entry_id: int) -> Entry:
    if kind == "visit":
        return await context.services.visits.for_correction(actor, entry_id)
    if kind == "problem":
        return await context.services.problems.for_correction(actor, entry_id)
    raise NotFound()


def _describe(context: BotContext, lang: str, entry: Entry) -> str:
    label = context.catalog.label
    if isinstance(entry, Visit):
        return t(
            context,
            lang,
            "fix.visit",
            number=entry.number,
            name=entry.household_name,
            village=entry.village_name,
            author=entry.member_name,
            day=label(lang, "visit.day", month=entry.visit_day.month, day=entry.visit_day.day),
            text=entry.text or "—",
        )
    return t(
        context,
        lang,
        "fix.problem",
        number=entry.number,
        village=entry.village_name,
        category=label(lang, f"problem.category.{entry.category.value}"),
        author=entry.reporter_name,
        text=entry.description,
    )


async def show(update: Update, context: BotContext) -> None:
    who = await caller(update, context)
    if who is None:
        return
    if who.member is None:
        await say(update, context, who.lang, "start.stranger")
        return
    parsed = parse_entry_number(" ".join(context.args or []))
    if parsed is None:
        await say(update, context, who.lang, "fix.usage")
        return
    kind, entry_id = parsed
    try:
        entry = await _entry(context, who.member, kind, entry_id)
    except NotFound:
        await say(update, context, who.lang, "fix.not_found", number=" ".join(context.args or []))
        return
    if entry.voided:
        await say(update, context, who.lang, "fix.already_void")
        return
    label = context.catalog.label
    target = f"{kind}:{entry_id}"
    markup = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(label(who.lang, "fix.edit"), callback_data=EDIT_DATA + target),
                InlineKeyboardButton(label(who.lang, "fix.void"), callback_data=VOID_DATA + target),
            ]
        ]
    )
    await say(
        update,
        context,
        who.lang,
        "fix.show",
        entry=Html(_describe(context, who.lang, entry)),
        markup=markup,
    )


def _target(data: str, prefix: str) -> tuple[str, int] | None:
    kind, _, raw = data.removeprefix(prefix).partition(":")
    if kind not in ("visit", "problem") or not raw.isdigit() or len(raw) > 18:
        return None
    return kind, int(raw)


async def void_pressed(update: Update, context: BotContext) -> None:
    query, who = update.callback_query, await caller(update, context)
    if query is None or who is None:
        return
    target = _target(query.data or "", VOID_DATA)
    try:
        if target is None:
            raise NotFound()
        entry = await _entry(context, who.member, *target)
    except NotFound:
        await query.answer(t(context, who.lang, "error.not_found"), show_alert=True)
        return
    await query.answer()
    button = InlineKeyboardButton(
        context.catalog.label(who.lang, "fix.void_confirm"),
        callback_data=f"{VOID_OK_DATA}{target[0]}:{target[1]}",
    )
    await say(
        update,
        context,
        who.lang,
        "fix.void_ask",
        number=entry.number,
        markup=InlineKeyboardMarkup([[button]]),
    )


async def void_confirmed(update: Update, context: BotContext) -> None:
    query, who = update.callback_query, await caller(update, context)
    if query is None or who is None:
        return
    target = _target(query.data or "", VOID_OK_DATA)
    try:
        if target is None:
            raise NotFound()
        kind, entry_id = target
        if kind == "visit":
            changed_v = await context.services.visits.void(who.member, entry_id)
            after: Entry = changed_v.after
            author = changed_v.author
        else:
            changed_p = await context.services.problems.void(who.member, entry_id)
            after, author = changed_p.after, changed_p.author
    except NotFound:
        await query.answer(t(context, who.lang, "error.not_found"), show_alert=True)
        return
    except ZhucunError as error:
        await query.answer(t(context, who.lang, error.key, **error.params), show_alert=True)
        return
    await query.answer()
    await query.edit_message_text(t(context, who.lang, "fix.voided", number=after.number))
    await _tell_author(context, who, author, "fix.told_voided", after.number, None)


# --- correcting the text: a small persistent flow ------------------------------------------------


async def edit_pressed(update: Update, context: BotContext) -> int:
    query, who = update.callback_query, await caller(update, context)
    if query is None or who is None:
        return END
    target = _target(query.data or "", EDIT_DATA)
    try:
        if target is None:
            raise NotFound()
        entry = await _entry(context, who.member, *target)
    except NotFound:
        await query.answer(t(context, who.lang, "error.not_found"), show_alert=True)
        return END
    await query.answer()
    if context.user_data is not None:
        context.user_data[DRAFT_KEY] = {"kind": target[0], "id": target[1]}
    await say(update, context, who.lang, "fix.ask_text", number=entry.number)
    return TEXT


async def take_text(update: Update, context: BotContext) -> int | None:
    who, message = await caller(update, context), update.effective_message
    data = context.user_data.get(DRAFT_KEY) if context.user_data is not None else None
    if who is None or message is None:
        return END
    if not isinstance(data, dict):
        await say(update, context, who.lang, "fallback.stale_button")
        return END
    text = message.text or ""
    try:
        if data.get("kind") == "visit":
            changed_v = await context.services.visits.correct(who.member, int(data["id"]), text)
            after: Entry = changed_v.after
            author = changed_v.author
        else:
            changed_p = await context.services.problems.correct(who.member, int(data["id"]), text)
            after, author = changed_p.after, changed_p.author
    except NotFound:
        _forget(context)
        await say(update, context, who.lang, "error.not_found")
        return END
    except ZhucunError as error:
        await say(update, context, who.lang, error.key, **error.params)
        return None
    _forget(context)
    await say(update, context, who.lang, "fix.corrected", number=after.number, text=text.strip())
    await _tell_author(context, who, author, "fix.told_corrected", after.number, text.strip())
    return END


need_text = reask("fix.need_text")


def _forget(context: BotContext) -> None:
    if context.user_data is not None:
        context.user_data.pop(DRAFT_KEY, None)


async def cancel(update: Update, context: BotContext) -> int:
    who = await caller(update, context)
    _forget(context)
    if who is not None:
        await say(update, context, who.lang, "fix.cancelled")
    return END


async def timed_out(update: Update, context: BotContext) -> int:
    _forget(context)
    return END


async def _tell_author(
    context: BotContext,
    who: Caller,
    author: Member | None,
    key: str,
    number: str,
    text: str | None,
) -> None:
    """The author hears of a correction in their own chat (not when they made it themselves)."""
    if author is None or who.member is None or author.id == who.member.id or not author.active:
        return
    lang = language_for(author.locale, None, context.settings.locale)
    try:
        await context.bot.send_message(
            author.telegram_user_id,
            t(context, lang, key, number=number, by=who.member.name, text=text or ""),
        )
    except TelegramError:
        log.warning("could not tell the author of %s about the change", number)


def conversation(settings: Settings, catalog: Catalog) -> ConversationHandler[BotContext]:
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    typed = private & ~filters.COMMAND & ~filters.Text(list(button_commands(catalog)))
    return ConversationHandler(
        entry_points=[CallbackQueryHandler(edit_pressed, pattern=f"^{EDIT_DATA}")],
        states={
            TEXT: [
                MessageHandler(typed & filters.TEXT, take_text),
                MessageHandler(typed, need_text),
            ],
            ConversationHandler.TIMEOUT: [TypeHandler(Update, timed_out)],
        },
        fallbacks=[CommandHandler("cancel", cancel, filters=filters.ChatType.PRIVATE)],
        allow_reentry=True,
        per_chat=True,
        per_user=True,
        per_message=False,
        conversation_timeout=timedelta(minutes=settings.flow_timeout),
        name="fix",
        persistent=True,
    )


HANDLERS = [
    CommandHandler("fix", show, filters=filters.ChatType.PRIVATE),
    CallbackQueryHandler(void_pressed, pattern=f"^{VOID_DATA}"),
    CallbackQueryHandler(void_confirmed, pattern=f"^{VOID_OK_DATA}"),
]
