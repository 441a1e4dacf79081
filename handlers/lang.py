"""/lang zh|en: the member's language for replies, buttons and the command menu."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import CallbackQueryHandler, CommandHandler

from bot.context import BotContext
from handlers.commands import publish_member_commands
from handlers.common import Caller, caller, say
from handlers.menu import keyboard
from locales import LANGUAGES

CALLBACK_PREFIX = "lang:"


async def lang_command(update: Update, context: BotContext) -> None:
    who = await caller(update, context)
    if who is None:
        return
    if who.member is None:
        await say(update, context, who.lang, "start.stranger")
        return
    if not context.args:
        buttons = [
            InlineKeyboardButton(
                context.catalog.label(code, "lang.name"), callback_data=f"{CALLBACK_PREFIX}{code}"
            )
            for code in LANGUAGES
        ]
        await say(update, context, who.lang, "lang.choose", markup=InlineKeyboardMarkup([buttons]))
        return
    await _switch(update, context, who, context.args[0].lower())


async def lang_button(update: Update, context: BotContext) -> None:
    query = update.callback_query
    who = await caller(update, context)
    if query is None or who is None:
        return
    await query.answer()
    if who.member is None:
        await say(update, context, who.lang, "start.stranger")
        return
    await _switch(update, context, who, (query.data or "").removeprefix(CALLBACK_PREFIX))


async def _switch(update: Update, context: BotContext, who: Caller, lang: str) -> None:
    assert who.member is not None
    if lang not in LANGUAGES:
        await say(update, context, who.lang, "lang.usage")
        return
    member = await context.services.members.set_language(who.member, lang)
    await say(
        update, context, lang, "lang.switched", markup=keyboard(context.catalog, lang, member)
    )
    await publish_member_commands(context, who.chat_id, member, lang)


HANDLERS = [
    CommandHandler("lang", lang_command),
    CallbackQueryHandler(lang_button, pattern=f"^{CALLBACK_PREFIX}"),
]
