"""今日 / ``/today``: the member's day (check-ins, visits, problems) and who is not yet covered."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CommandHandler, filters

from bot.context import BotContext
from bot.errors import ZhucunError
from handlers.common import caller, t
from handlers.menu import keyboard
from handlers.summary import leader_today
from handlers.visit import snippet_of


async def today(update: Update, context: BotContext) -> None:
    who = await caller(update, context)
    chat = update.effective_chat
    if who is None or chat is None:
        return
    if who.member is None:
        await context.bot.send_message(chat.id, t(context, who.lang, "start.stranger"))
        return
    try:
        day = await context.services.today.today(who.member)
    except ZhucunError as error:
        await context.bot.send_message(chat.id, t(context, who.lang, error.key, **error.params))
        return
    label = context.catalog.label
    zone = context.settings.zone
    now = context.services.clock.now().astimezone(zone)
    if day.leader and not day.team:
        # Leaders see their area's day so far: the daily summary's own code.
        await leader_today(context, who.chat_id, who.lang, who.member, now)
        return
    parts = [t(context, who.lang, "today.title", month=now.month, day=now.day)]
    if day.team:
        if day.checkins:
            for c in day.checkins:
                parts.append(
                    t(
                        context,
                        who.lang,
                        "today.checkin_counts" if c.counts else "today.checkin_unverified",
                        village=c.village_name,
                        time=c.at.astimezone(zone).strftime("%H:%M"),
                    )
                )
        else:
            parts.append(t(context, who.lang, "today.no_checkin"))
        parts.append(t(context, who.lang, "today.visits", count=len(day.visits)))
        for v in day.visits:
            parts.append(
                t(
                    context,
                    who.lang,
                    "today.visit_line",
                    number=v.number,
                    name=v.household_name,
                    text=snippet_of(v.text),
                )
            )
        parts.append(t(context, who.lang, "today.problems", count=len(day.problems)))
        for p in day.problems:
            parts.append(
                t(
                    context,
                    who.lang,
                    "today.problem_line",
                    number=p.number,
                    category=label(who.lang, f"problem.category.{p.category.value}"),
                    severity=label(who.lang, f"problem.severity.{p.severity.value}"),
                    text=snippet_of(p.description),
                )
            )
    if day.uncovered_count:
        parts.append(
            t(
                context,
                who.lang,
                "today.uncovered",
                count=day.uncovered_count,
                days=day.coverage_days,
            )
        )
        for h in day.uncovered:
            last = (
                label(
                    who.lang,
                    "today.last_visit",
                    month=h.last_visit_at.astimezone(zone).month,
                    day=h.last_visit_at.astimezone(zone).day,
                )
                if h.last_visit_at
                else label(who.lang, "household.never_visited")
            )
            parts.append(
                t(
                    context,
                    who.lang,
                    "today.uncovered_line",
                    name=h.head_name,
                    village=h.village_name,
                    registry_no=h.registry_no,
                    last=last,
                )
            )
        more = day.uncovered_count - len(day.uncovered)
        if more > 0:
            parts.append(t(context, who.lang, "today.more", count=more))
    else:
        parts.append(t(context, who.lang, "today.all_covered", days=day.coverage_days))
    await context.bot.send_message(
        chat.id, "\n".join(parts), reply_markup=keyboard(context.catalog, who.lang, who.member)
    )


HANDLERS = [CommandHandler("today", today, filters=filters.ChatType.PRIVATE)]
