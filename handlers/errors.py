"""One error handler: domain errors become localized replies; anything else is logged."""

from __future__ import annotations

import logging
from contextlib import suppress

from telegram import Update
from telegram.error import BadRequest

from bot.context import BotContext
from bot.errors import ZhucunError
from handlers.common import lang_of, t

log = logging.getLogger(__name__)


async def on_error(update: object, context: BotContext) -> None:
    error = context.error
    if not isinstance(update, Update):
        log.error("error outside an update", exc_info=error)
        return
    if isinstance(error, ZhucunError):
        key, params = error.key, error.params
    else:
        log.error("update %s failed", update.update_id, exc_info=error)
        key, params = "error.generic", {}
    chat = update.effective_chat
    if chat is None:
        return
    lang = lang_of(update, context)
    try:
        member = (
            await context.services.members.identify(update.effective_user.id)
            if update.effective_user
            else None
        )
        lang = lang_of(update, context, member)
    except Exception:  # the store itself may be what failed; answer in Telegram's language
        log.debug("could not read the member's language", exc_info=True)
    if update.callback_query is not None:
        # The handler may have answered before it failed; a second answer is refused.
        with suppress(BadRequest):
            await update.callback_query.answer()
    await context.bot.send_message(chat.id, t(context, lang, key, **params))
