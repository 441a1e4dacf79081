"""Telegram edge: parse updates, call one service, reply from the catalog. No SQL here."""

from __future__ import annotations

from telegram import Update
from telegram.ext import MessageHandler, filters

from bot.context import BotContext, ZhucunApp
from handlers import (
    away,
    checkin,
    errors,
    export,
    fallback,
    fix,
    group,
    help,
    household,
    invite,
    lang,
    me,
    members,
    policy,
    problem,
    review,
    start,
    summary,
    today,
    visit,
)
from handlers.commands import publish_default_commands
from handlers.menu import button_commands

__all__ = ["publish_default_commands", "register"]

COMMAND_CALLBACKS = {"help": help.show_help, "me": me.me, "today": today.today}

# Handler groups run in order; a group stops the update with ApplicationHandlerStop.
GUARD_GROUP = -1


def register(app: ZhucunApp) -> None:
    """Every handler, in the order they are tried."""
    app.add_handlers(group.HANDLERS, group=GUARD_GROUP)
    for module in (start, help, lang, me):
        app.add_handlers(module.HANDLERS)
    app.add_handler(invite.conversation(app.bot_data.settings, app.bot_data.catalog))
    app.add_handler(checkin.conversation(app.bot_data.settings, app.bot_data.catalog))
    app.add_handlers(checkin.EDIT_HANDLERS)
    app.add_handlers(away.HANDLERS)
    app.add_handler(household.conversation(app.bot_data.settings, app.bot_data.catalog))
    app.add_handlers(household.HANDLERS)
    app.add_handler(policy.conversation(app.bot_data.settings, app.bot_data.catalog))
    app.add_handlers(policy.HANDLERS)
    app.add_handler(visit.conversation(app.bot_data.settings, app.bot_data.catalog))
    app.add_handlers(visit.EDIT_HANDLERS)  # before the fallback's "edits are not entries"
    app.add_handler(problem.conversation(app.bot_data.settings, app.bot_data.catalog))
    app.add_handler(fix.conversation(app.bot_data.settings, app.bot_data.catalog))
    app.add_handlers(fix.HANDLERS)
    app.add_handlers(today.HANDLERS)
    app.add_handler(review.conversation(app.bot_data.settings, app.bot_data.catalog))
    app.add_handlers(review.HANDLERS)
    app.add_handlers(members.HANDLERS)
    app.add_handlers(summary.HANDLERS)
    app.add_handler(export.conversation(app.bot_data.settings, app.bot_data.catalog))
    app.add_handlers(export.HANDLERS)
    app.add_handler(_menu_buttons(app))
    app.add_handlers(fallback.HANDLERS)
    app.add_error_handler(errors.on_error)


def _menu_buttons(app: ZhucunApp) -> MessageHandler[BotContext, None]:
    """Pressing a reply-keyboard button is the same as typing its command."""
    routes = button_commands(app.bot_data.catalog)

    async def route(update: Update, context: BotContext) -> None:
        message = update.effective_message
        command = routes.get(message.text or "") if message else None
        if command in COMMAND_CALLBACKS:
            context.args = []
            await COMMAND_CALLBACKS[command](update, context)

    return MessageHandler(
        filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE & filters.Text(list(routes)), route
    )
