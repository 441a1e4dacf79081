"""/me: who the bot thinks you are, and where you serve."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CommandHandler

from bot import scope
from bot.context import BotContext
from handlers.common import caller, say, t
from locales import Html


async def me(update: Update, context: BotContext) -> None:
    who = await caller(update, context)
    if who is None:
        return
    if who.member is None:
        await say(update, context, who.lang, "start.stranger")
        return
    lines = [
        t(
            context,
            who.lang,
            "me.membership",
            role=context.catalog.label(who.lang, f"role.{m.role.value}"),
            region=m.region_name or t(context, who.lang, "start.everywhere"),
        )
        for m in who.member.memberships
    ]
    if scope.has_capability(who.member, scope.Capability.ENTER):
        days = await context.services.checkins.residency(who.member)
        key = "me.residency" if days.missing else "me.residency_done"
        lines.append(
            t(
                context,
                who.lang,
                key,
                days=days.counted,
                required=days.required,
                duty=len(days.duty_days),
                missing=days.missing,
                left=days.days_left,
            )
        )
    await say(
        update,
        context,
        who.lang,
        "me.card",
        name=who.member.name,
        memberships=Html("\n".join(lines)),
        language=context.catalog.label(who.lang, "lang.name"),
    )


HANDLERS = [CommandHandler("me", me)]
