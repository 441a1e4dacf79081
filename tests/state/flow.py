"""Test-only handlers for the state tests: a persistent three-step flow with a time-out, an
idempotent entry handler answering through ``send_text``, a photo handler using albums, and a
text handler for new messages only."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from telegram import Update
from telegram.ext import (
    BaseHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.context import BotContext
from bot.sending import send_text
from handlers import albums

COLOUR, ANIMAL, NUMBER = range(3)
NEW_TEXT = filters.UpdateType.MESSAGE & filters.TEXT & ~filters.COMMAND
TIMED_OUT = "survey timed out"


async def _reply(update: Update, context: BotContext, text: str) -> None:
    chat = update.effective_chat
    assert chat is not None
    await send_text(context.bot, chat.id, text)


async def begin(update: Update, context: BotContext) -> int:
    await _reply(update, context, "step 1/3: colour?")
    return COLOUR


async def colour(update: Update, context: BotContext) -> int:
    return await _step(update, context, "colour", "step 2/3: animal?", ANIMAL)


async def animal(update: Update, context: BotContext) -> int:
    return await _step(update, context, "animal", "step 3/3: number?", NUMBER)


async def number(update: Update, context: BotContext) -> int:
    assert update.effective_message is not None and context.user_data is not None
    answers = context.user_data.pop("survey", {})
    text = update.effective_message.text
    await _reply(
        update, context, f"done: {answers.get('colour')} / {answers.get('animal')} / {text}"
    )
    return ConversationHandler.END


async def timed_out(update: Update, context: BotContext) -> None:
    if context.user_data is not None:
        context.user_data.pop("survey", None)
    await _reply(update, context, TIMED_OUT)


async def _step(update: Update, context: BotContext, key: str, prompt: str, state: int) -> int:
    assert update.effective_message is not None and context.user_data is not None
    context.user_data.setdefault("survey", {})[key] = update.effective_message.text
    await _reply(update, context, prompt)
    return state


def survey(flow_timeout_minutes: int = 30) -> ConversationHandler[BotContext]:
    """The guided flow, built the way docs/architecture.md asks: a name, persistent."""
    return ConversationHandler(
        entry_points=[CommandHandler("survey", begin)],
        states={
            COLOUR: [MessageHandler(NEW_TEXT, colour)],
            ANIMAL: [MessageHandler(NEW_TEXT, animal)],
            NUMBER: [MessageHandler(NEW_TEXT, number)],
            ConversationHandler.TIMEOUT: [TypeHandler(Update, timed_out)],
        },
        fallbacks=[],
        conversation_timeout=timedelta(minutes=flow_timeout_minutes),
        name="survey",
        persistent=True,
    )


async def save_entry(update: Update, context: BotContext) -> None:
    """One entry per source message (the pipeline's ``entries`` table), answered ``saved #id``."""
    message = update.effective_message
    if message is None or message.text is None:
        return
    source = (message.chat_id, message.message_id)
    async with context.services.db.transaction() as tx:
        await tx.execute(
            "INSERT OR IGNORE INTO entries (chat_id, message_id, text) VALUES (?, ?, ?)",
            (*source, message.text),
        )
        row = await tx.fetchone(
            "SELECT id FROM entries WHERE chat_id = ? AND message_id = ?", source
        )
    assert row is not None
    await send_text(context.bot, message.chat_id, f"saved #{row['id']}")


async def photo(update: Update, context: BotContext) -> None:
    await albums.acknowledge(update, context, lambda count: f"收到 {count} 张照片")


def entry_handlers() -> list[BaseHandler[Any, BotContext, Any]]:
    return [MessageHandler(NEW_TEXT, save_entry)]


def album_handlers() -> list[BaseHandler[Any, BotContext, Any]]:
    return [
        MessageHandler(filters.UpdateType.MESSAGE & filters.PHOTO, photo),
        MessageHandler(NEW_TEXT, save_entry),
    ]
