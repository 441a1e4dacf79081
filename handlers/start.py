"""/start [code]: the only door in. A deep link carries the invite code."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CommandHandler

from bot.context import BotContext
from handlers.commands import publish_member_commands
from handlers.common import caller, say, t
from handlers.menu import keyboard


async def start(update: Update, context: BotContext) -> None:
    who = await caller(update, context)
    user = update.effective_user
    if who is None or user is None:
        return
    if not context.args:
        if who.member is None:
            await say(update, context, who.lang, "start.need_code")
        else:
            markup = keyboard(context.catalog, who.lang, who.member)
            await say(
                update, context, who.lang, "start.already", markup=markup, name=who.member.name
            )
        return
    registration = await context.services.invites.redeem(
        context.args[0], telegram_user_id=user.id, telegram_name=user.full_name
    )
    member = registration.member
    lang = who.lang  # a new member has chosen nothing yet, so Telegram's language applies
    region = (
        registration.region.name if registration.region else t(context, lang, "start.everywhere")
    )
    await say(
        update,
        context,
        lang,
        "start.welcome",
        markup=keyboard(context.catalog, lang, member),
        name=member.name,
        role=context.catalog.label(lang, f"role.{registration.role.value}"),
        region=region,
    )
    await publish_member_commands(context, who.chat_id, member, lang)


HANDLERS = [CommandHandler("start", start)]
