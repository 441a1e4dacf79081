"""One status message per album: photos sent together are acknowledged once, then counted.

Telegram delivers an album (photos with one ``media_group_id``, the caption on one of them) as
one update per photo. Answering each would bury the chat in replies; :func:`acknowledge`
instead sends one status message for the first photo and edits it as the others arrive.

Field-work photo handlers call it with a function rendering the status for a count::

    await albums.acknowledge(update, context, lambda n: t(context, lang, "visit.photos", count=n))

State lives in ``context.chat_data`` (persisted with it, see ``bot.persistence``), keyed by
``media_group_id``: the status message's id and the message ids already counted. In the chat's
data because the processor handles one chat's updates in order, so no two photos of an album
are counted at once; persisted because a photo handled again after a restart must edit the same
status message and not count twice. Only the latest ``KEEP`` albums of a chat are remembered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from telegram import Message, Update
from telegram.error import BadRequest, Forbidden

from bot.context import BotContext
from bot.sending import send_text

log = logging.getLogger(__name__)

ALBUMS_KEY = "albums"
KEEP = 20


@dataclass
class AlbumStatus:
    """The status message of one album and the photos it already counts."""

    message_id: int
    photos: list[int] = field(default_factory=list)


async def acknowledge(update: Update, context: BotContext, render: Callable[[int], str]) -> int:
    """Acknowledge a photo: a new status message, or an edit of its album's; return the count.

    A photo outside an album gets its own status message (count 1).
    """
    message = update.message
    chat = update.effective_chat
    if message is None or chat is None:
        return 0
    group = message.media_group_id
    if group is None or context.chat_data is None:
        await send_text(context.bot, chat.id, render(1))
        return 1
    albums: dict[str, AlbumStatus] = context.chat_data.setdefault(ALBUMS_KEY, {})
    status = albums.get(group)
    if status is not None and message.message_id in status.photos:
        return len(status.photos)  # the same photo again (handled twice after a restart)
    if status is None:
        photos = [message.message_id]
        sent = await send_text(context.bot, chat.id, render(len(photos)))
        if sent is not None:
            _remember(albums, group, AlbumStatus(sent.message_id, photos))
        return len(photos)
    status.photos.append(message.message_id)
    if not await _edit(context, chat.id, status.message_id, render(len(status.photos))):
        # The status message is gone (deleted by the user): start a new one.
        sent = await send_text(context.bot, chat.id, render(len(status.photos)))
        if sent is not None:
            status.message_id = sent.message_id
    return len(status.photos)


async def _edit(context: BotContext, chat_id: int, message_id: int, text: str) -> bool:
    try:
        edited = await context.bot.edit_message_text(text, chat_id=chat_id, message_id=message_id)
    except Forbidden:
        return True  # the chat blocked the bot (recorded by the limiter): nothing to show
    except BadRequest as exc:
        if "not modified" in exc.message.lower():
            return True
        log.info("album status %s/%s not edited: %s", chat_id, message_id, exc.message)
        return False
    return isinstance(edited, Message) or edited is True


def _remember(albums: dict[str, AlbumStatus], group: str, status: AlbumStatus) -> None:
    albums[group] = status
    while len(albums) > KEEP:
        albums.pop(next(iter(albums)))
