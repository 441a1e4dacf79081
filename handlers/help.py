"""/help: what this person can do, for their roles; strangers learn how to register."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CommandHandler

from bot.context import BotContext
from handlers.common import caller, say, t
from handlers.menu import actions_for, keyboard
from locales import Html


async def show_help(update: Update, context: BotContext) -> None:
    who = await caller(update, context)
    if who is None:
        return
    if who.member is None:
        await say(update, context, who.lang, "help.stranger")
        return
    lines = [t(context, who.lang, a.help_key) for a in actions_for(who.member)]
    await say(
        update,
        context,
        who.lang,
        "help.member",
        markup=keyboard(context.catalog, who.lang, who.member),
        actions=Html("\n".join(lines)),
    )


HANDLERS = [CommandHandler("help", show_help)]
