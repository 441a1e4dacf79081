"""``/export [from] [to]``: pick a workbook and a period with buttons; the XLSX comes as a document.

``/export`` offers the three kinds; a kind offers this month, last month or typed dates (a short
flow waiting for the range). ``/export 11月1日 11月20日`` asks only for the kind. The service
builds the workbook in a thread, so the bot keeps answering others meanwhile.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Update
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
from bot.dates import DateRange
from bot.errors import ZhucunError
from bot.services.exports import ExportKind, Period
from handlers.common import Caller, caller, t
from handlers.menu import button_commands
from locales import Catalog

KIND_DATA = "ex:k:"  # ex:k:<kind> → the period buttons
PERIOD_DATA = "ex:p:"  # ex:p:<kind>:<this|last>
RANGE_DATA = "ex:t:"  # ex:t:<kind> → wait for typed dates
GO_DATA = "ex:g:"  # ex:g:<kind>:<YYYYMMDD>:<YYYYMMDD>
KIND_KEY = "export_kind"
RANGE = 1


def _kind_buttons(context: BotContext, lang: str, suffix: str = "") -> InlineKeyboardMarkup:
    def data(kind: ExportKind) -> str:
        return f"{GO_DATA}{kind.value}:{suffix}" if suffix else f"{KIND_DATA}{kind.value}"

    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    context.catalog.label(lang, f"export.kind_{k.value}"), callback_data=data(k)
                )
            ]
            for k in ExportKind
        ]
    )


async def _leader(update: Update, context: BotContext) -> Caller | None:
    """The caller when they may export; otherwise they are told why and None is returned."""
    who = await caller(update, context)
    if who is None:
        return None
    if who.member is None:
        await context.bot.send_message(who.chat_id, t(context, who.lang, "start.stranger"))
        return None
    if not context.services.exports.may_export(who.member):
        await context.bot.send_message(who.chat_id, t(context, who.lang, "error.forbidden"))
        return None
    return who


async def start(update: Update, context: BotContext) -> int:
    who = await _leader(update, context)
    if who is None:
        return ConversationHandler.END
    text = " ".join(context.args or [])
    if not text:
        markup = _kind_buttons(context, who.lang)
        await context.bot.send_message(
            who.chat_id, t(context, who.lang, "export.choose_kind"), reply_markup=markup
        )
        return ConversationHandler.END
    try:
        period = context.services.exports.parse_period(text)
    except ZhucunError as error:
        await context.bot.send_message(who.chat_id, t(context, who.lang, error.key, **error.params))
        return ConversationHandler.END
    suffix = f"{period.start:%Y%m%d}:{period.end:%Y%m%d}"
    await context.bot.send_message(
        who.chat_id,
        t(context, who.lang, "export.choose_kind"),
        reply_markup=_kind_buttons(context, who.lang, suffix),
    )
    return ConversationHandler.END


async def kind_pressed(update: Update, context: BotContext) -> None:
    query = update.callback_query
    if query is None or not query.data:
        return
    await query.answer()
    who = await _leader(update, context)
    kind = _kind(query.data.removeprefix(KIND_DATA))
    if who is None or kind is None:
        return
    label = context.catalog.label
    markup = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    label(who.lang, "export.this_month"),
                    callback_data=f"{PERIOD_DATA}{kind.value}:{Period.THIS_MONTH.value}",
                ),
                InlineKeyboardButton(
                    label(who.lang, "export.last_month"),
                    callback_data=f"{PERIOD_DATA}{kind.value}:{Period.LAST_MONTH.value}",
                ),
            ],
            [
                InlineKeyboardButton(
                    label(who.lang, "export.range"), callback_data=f"{RANGE_DATA}{kind.value}"
                )
            ],
        ]
    )
    name = context.catalog.label(who.lang, f"export.kind_name_{kind.value}")
    await context.bot.send_message(
        who.chat_id, t(context, who.lang, "export.choose_period", kind=name), reply_markup=markup
    )


async def period_pressed(update: Update, context: BotContext) -> None:
    query = update.callback_query
    if query is None or not query.data:
        return
    await query.answer()
    who = await _leader(update, context)
    kind_text, _, which = query.data.removeprefix(PERIOD_DATA).partition(":")
    kind = _kind(kind_text)
    if who is None or kind is None or which not in {p.value for p in Period}:
        return
    await deliver(context, who, kind, context.services.exports.period(Period(which)))


async def go_pressed(update: Update, context: BotContext) -> None:
    query = update.callback_query
    if query is None or not query.data:
        return
    await query.answer()
    who = await _leader(update, context)
    parts = query.data.removeprefix(GO_DATA).split(":")
    kind = _kind(parts[0])
    if who is None or kind is None or len(parts) != 3:
        return
    try:
        start_day = datetime.strptime(parts[1], "%Y%m%d").date()
        end_day = datetime.strptime(parts[2], "%Y%m%d").date()
    except ValueError:
        return
    if end_day < start_day:
        return
    await deliver(context, who, kind, DateRange(start_day, end_day))


async def range_pressed(update: Update, context: BotContext) -> int:
    query = update.callback_query
    if query is None or not query.data:
        return ConversationHandler.END
    await query.answer()
    who = await _leader(update, context)
    kind = _kind(query.data.removeprefix(RANGE_DATA))
    if who is None or kind is None:
        return ConversationHandler.END
    if context.user_data is not None:
        context.user_data[KIND_KEY] = kind.value
    await context.bot.send_message(who.chat_id, t(context, who.lang, "export.ask_range"))
    return RANGE


async def take_range(update: Update, context: BotContext) -> int:
    message = update.effective_message
    who = await _leader(update, context)
    if who is None or message is None:
        return ConversationHandler.END
    stored = context.user_data.get(KIND_KEY) if context.user_data is not None else None
    kind = _kind(str(stored)) if stored else None
    if kind is None:
        return ConversationHandler.END
    try:
        period = context.services.exports.parse_period(message.text or "")
    except ZhucunError as error:
        await context.bot.send_message(who.chat_id, t(context, who.lang, error.key, **error.params))
        return RANGE
    if context.user_data is not None:
        context.user_data.pop(KIND_KEY, None)
    await deliver(context, who, kind, period)
    return ConversationHandler.END


async def cancel(update: Update, context: BotContext) -> int:
    who = await caller(update, context)
    if context.user_data is not None:
        context.user_data.pop(KIND_KEY, None)
    if who is not None:
        await context.bot.send_message(who.chat_id, t(context, who.lang, "export.cancelled"))
    return ConversationHandler.END


async def timed_out(update: Update, context: BotContext) -> None:
    who = await caller(update, context)
    if context.user_data is not None:
        context.user_data.pop(KIND_KEY, None)
    if who is not None:
        await context.bot.send_message(who.chat_id, t(context, who.lang, "export.timed_out"))


async def deliver(context: BotContext, who: Caller, kind: ExportKind, period: DateRange) -> None:
    """Build the workbook (in a thread, inside the service) and send it as a document."""
    await context.bot.send_message(who.chat_id, t(context, who.lang, "export.working"))
    try:
        made = await context.services.exports.export(who.member, kind, period)
    except ZhucunError as error:
        await context.bot.send_message(who.chat_id, t(context, who.lang, error.key, **error.params))
        return
    caption = t(
        context,
        who.lang,
        "export.caption",
        kind=context.catalog.label(who.lang, f"export.kind_name_{kind.value}"),
        area=made.area or context.catalog.label(who.lang, "export.area_all"),
        start=_day(made.start),
        end=_day(made.end),
    )
    if made.unmasked:
        caption += "\n" + t(context, who.lang, "export.unmasked")
    await context.bot.send_document(
        who.chat_id, InputFile(made.content, filename=made.filename), caption=caption
    )


def _day(day: date) -> str:
    return day.isoformat()


def _kind(text: str) -> ExportKind | None:
    try:
        return ExportKind(text)
    except ValueError:
        return None


def conversation(settings: Settings, catalog: Catalog) -> ConversationHandler[BotContext]:
    """``/export`` and the typed-range step; ``flow_timeout`` minutes end the wait."""
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    menu_buttons = filters.Text(list(button_commands(catalog)))
    typed = private & ~filters.COMMAND & ~menu_buttons & filters.TEXT
    states: dict[object, list[BaseHandler[Update, BotContext, Any]]] = {
        RANGE: [MessageHandler(typed, take_range)],
        ConversationHandler.TIMEOUT: [TypeHandler(Update, timed_out)],
    }
    return ConversationHandler(
        entry_points=[
            CommandHandler("export", start, filters=filters.ChatType.PRIVATE),
            CallbackQueryHandler(range_pressed, pattern=f"^{RANGE_DATA}"),
        ],
        states=states,
        fallbacks=[CommandHandler("cancel", cancel, filters=filters.ChatType.PRIVATE)],
        allow_reentry=True,
        per_chat=True,
        per_user=True,
        per_message=False,
        conversation_timeout=timedelta(minutes=settings.flow_timeout),
        name="export",
        persistent=True,
    )


HANDLERS = [
    CallbackQueryHandler(kind_pressed, pattern=f"^{KIND_DATA}"),
    CallbackQueryHandler(period_pressed, pattern=f"^{PERIOD_DATA}"),
    CallbackQueryHandler(go_pressed, pattern=f"^{GO_DATA}"),
]
