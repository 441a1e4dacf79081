"""A test-only handler set that proves the pipeline before the feature handlers exist.

- every text message becomes one entry, unique on its source (chat id, message id): handled
  twice after a crash, it still makes one entry, and the reply names that entry: ``saved #<id>``;
- a three-step guided flow (``/steps``), a ConversationHandler that breaks if one chat's
  updates are ever handled out of order;
- a photo acknowledger, one reply per photo.
"""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import BaseHandler, CommandHandler, ConversationHandler, MessageHandler, filters

from bot.context import BotContext
from storage.db import Database, Migration

ENTRIES = Migration(
    "test_0001_entries",
    """
    CREATE TABLE entries (
        id         INTEGER PRIMARY KEY,
        chat_id    INTEGER NOT NULL,
        message_id INTEGER NOT NULL,
        text       TEXT NOT NULL,
        UNIQUE (chat_id, message_id)
    );
    """,
)
MIGRATIONS = [ENTRIES]

NEW_TEXT = filters.UpdateType.MESSAGE & filters.TEXT & ~filters.COMMAND
WHERE, WHAT, CONFIRM = range(3)


async def save_entry(update: Update, context: BotContext) -> None:
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
    await message.reply_text(f"saved #{row['id']}")


async def steps_begin(update: Update, context: BotContext) -> int:
    assert update.effective_message is not None
    await update.effective_message.reply_text("step 1/3: who?")
    return WHERE


async def steps_where(update: Update, context: BotContext) -> int:
    return await _step(update, context, "who", "step 2/3: where?", WHAT)


async def steps_what(update: Update, context: BotContext) -> int:
    return await _step(update, context, "where", "step 3/3: what?", CONFIRM)


async def steps_done(update: Update, context: BotContext) -> int:
    message = update.effective_message
    assert message is not None and context.user_data is not None
    answers = context.user_data.pop("steps", {})
    await message.reply_text(
        f"done: {answers.get('who')} / {answers.get('where')} / {message.text}"
    )
    return ConversationHandler.END


async def _step(update: Update, context: BotContext, key: str, prompt: str, state: int) -> int:
    message = update.effective_message
    assert message is not None and context.user_data is not None
    context.user_data.setdefault("steps", {})[key] = message.text
    await message.reply_text(prompt)
    return state


async def acknowledge_photo(update: Update, context: BotContext) -> None:
    message = update.effective_message
    assert message is not None
    await message.reply_text(f"photo {message.message_id} received")


def handlers() -> list[BaseHandler[Any, BotContext, Any]]:
    """The set, in the order it is tried (before the product's own handlers)."""
    steps: ConversationHandler[BotContext] = ConversationHandler(
        entry_points=[CommandHandler("steps", steps_begin)],
        states={
            WHERE: [MessageHandler(NEW_TEXT, steps_where)],
            WHAT: [MessageHandler(NEW_TEXT, steps_what)],
            CONFIRM: [MessageHandler(NEW_TEXT, steps_done)],
        },
        fallbacks=[],
        name="steps",
        persistent=True,
    )
    return [
        steps,
        MessageHandler(NEW_TEXT, save_entry),
        MessageHandler(filters.UpdateType.MESSAGE & filters.PHOTO, acknowledge_photo),
    ]


async def entries(db: Database) -> list[tuple[int, int, int, str]]:
    """(id, chat id, message id, text) of every entry, by id."""
    rows = await db.fetchall("SELECT id, chat_id, message_id, text FROM entries ORDER BY id")
    return [(row[0], row[1], row[2], row[3]) for row in rows]
