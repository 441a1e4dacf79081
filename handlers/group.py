"""Group chats: entries are private, so the bot only points people to the private chat."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ApplicationHandlerStop, MessageHandler, filters

from bot.context import BotContext
from handlers.common import lang_of, say


async def group_command(update: Update, context: BotContext) -> None:
    """A command addressed to the bot in a group: answer with the way to the private chat."""
    message = update.effective_message
    text = message.text if message else None
    username = context.bot.username
    if text and "@" in text.split()[0] and not text.split()[0].endswith(f"@{username}"):
        raise ApplicationHandlerStop  # addressed to another bot
    await say(update, context, lang_of(update, context), "group.use_private", username=username)
    raise ApplicationHandlerStop


async def group_other(update: Update, context: BotContext) -> None:
    """Group chatter is not for the bot; nothing else may handle it either."""
    raise ApplicationHandlerStop


GROUPS = filters.ChatType.GROUPS | filters.ChatType.CHANNEL

HANDLERS = [
    MessageHandler(GROUPS & filters.COMMAND & filters.UpdateType.MESSAGE, group_command),
    MessageHandler(GROUPS, group_other),
]
