"""Photos and voice notes as they arrive: fetch the bytes, hand them to the file service.

``getFile`` refuses files over 20 MB ("file is too big"); then the entry keeps the file id
alone and the member is told clearly. A status message per flow is edited as files arrive
(an album's photos come as separate messages), so a burst of photos gives one message.
"""

from __future__ import annotations

import io
from contextlib import suppress
from dataclasses import dataclass

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest

from bot.context import BotContext
from bot.fieldwork import FileKind, KeptFile
from handlers.common import Caller, say, t

TOO_BIG = "file is too big"


@dataclass(frozen=True)
class Arrived:
    kept: KeptFile
    too_big: bool


def media_of(message: Message) -> tuple[FileKind, str, str, int | None] | None:
    """(kind, file id, unique id, size) of the message's photo (largest size) or voice note."""
    if message.photo:
        best = message.photo[-1]
        return FileKind.PHOTO, best.file_id, best.file_unique_id, best.file_size
    if message.voice is not None:
        voice = message.voice
        return FileKind.VOICE, voice.file_id, voice.file_unique_id, voice.file_size
    return None


async def keep_media(update: Update, context: BotContext, who: Caller) -> Arrived | None:
    """Download and keep the message's photo or voice note; None when it carries neither."""
    message = update.effective_message
    if message is None or who.member is None:
        return None
    found = media_of(message)
    if found is None:
        return None
    kind, file_id, unique_id, size = found
    data: bytes | None = None
    too_big = False
    try:
        remote = await context.bot.get_file(file_id)
        buffer = io.BytesIO()
        await remote.download_to_memory(buffer)
        data = buffer.getvalue()
    except BadRequest as error:
        if TOO_BIG not in str(error).lower():
            raise
        too_big = True
    kept = await context.services.files.keep(
        who.member,
        kind=kind,
        telegram_file_id=file_id,
        file_unique_id=unique_id,
        data=data,
        caption=message.caption,
        size=size,
        source=(who.chat_id, message.message_id),
    )
    if too_big:
        await say(update, context, who.lang, "files.too_big")
    return Arrived(kept=kept, too_big=too_big)


async def show_status(
    update: Update,
    context: BotContext,
    who: Caller,
    status_id: int | None,
    text_key: str,
    markup: InlineKeyboardMarkup | None = None,
    **params: object,
) -> int | None:
    """Edit the flow's status message (or send it the first time); its message id."""
    chat = update.effective_chat
    if chat is None:
        return status_id
    text = t(context, who.lang, text_key, **params)
    if status_id is not None:
        with suppress(BadRequest):  # "message is not modified" and the like
            await context.bot.edit_message_text(
                text, chat_id=chat.id, message_id=status_id, reply_markup=markup
            )
            return status_id
        return status_id
    sent = await context.bot.send_message(chat.id, text, reply_markup=markup)
    return sent.message_id
