"""The last handlers: whatever nobody else took still gets a clear answer, never silence."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.context import BotContext
from handlers import router
from handlers.common import caller, say, t
from handlers.menu import keyboard


async def unknown_command(update: Update, context: BotContext) -> None:
    who = await caller(update, context)
    if who is None:
        return
    if who.member is None:
        await say(update, context, who.lang, "start.stranger")
        return
    await say(
        update,
        context,
        who.lang,
        "fallback.unknown_command",
        markup=keyboard(context.catalog, who.lang, who.member),
    )


async def nothing_to_cancel(update: Update, context: BotContext) -> None:
    """/cancel outside a flow: confirm there is nothing in progress."""
    who = await caller(update, context)
    if who is None:
        return
    key = "fallback.nothing_to_cancel" if who.member else "start.stranger"
    await say(update, context, who.lang, key)


async def anything_else(update: Update, context: BotContext) -> None:
    """Text, stickers or media outside a flow: strangers learn to register, members see the menu."""
    who = await caller(update, context)
    if who is None:
        return
    if who.member is None:
        await say(update, context, who.lang, "start.stranger")
        return
    if await router.route(update, context, who):
        return
    await say(
        update,
        context,
        who.lang,
        "fallback.hint",
        markup=keyboard(context.catalog, who.lang, who.member),
    )


async def edited(update: Update, context: BotContext) -> None:
    """Edits are not entries: say so rather than silently ignoring the correction."""
    who = await caller(update, context)
    if who is None or who.member is None:
        return
    await say(update, context, who.lang, "fallback.edit_ignored")


async def stale_button(update: Update, context: BotContext) -> None:
    """A button from an old keyboard (or a forged one): answer it so the spinner stops."""
    query = update.callback_query
    who = await caller(update, context)
    if query is None or who is None:
        return
    await query.answer(t(context, who.lang, "fallback.stale_button"), show_alert=True)


PRIVATE = filters.ChatType.PRIVATE

HANDLERS = [
    MessageHandler(PRIVATE & filters.UpdateType.EDITED, edited),
    CommandHandler("cancel", nothing_to_cancel, filters=PRIVATE),
    MessageHandler(PRIVATE & filters.COMMAND, unknown_command),
    MessageHandler(PRIVATE & filters.UpdateType.MESSAGE, anything_else),
    CallbackQueryHandler(stale_button),
]
