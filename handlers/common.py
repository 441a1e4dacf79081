"""What every handler needs: who is speaking, in which language, and how to answer them."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from telegram import InlineKeyboardMarkup, Message, ReplyKeyboardMarkup, Update

from bot.context import BotContext
from bot.models import Member
from bot.sending import send_text
from locales import language_for

Markup = ReplyKeyboardMarkup | InlineKeyboardMarkup


@dataclass(frozen=True)
class Caller:
    """The person behind an update; ``member`` is None for strangers and deactivated members."""

    user_id: int
    chat_id: int
    member: Member | None
    lang: str


async def caller(update: Update, context: BotContext) -> Caller | None:
    user = update.effective_user
    chat = update.effective_chat
    if user is None or chat is None:
        return None
    member = await context.services.members.identify(user.id)
    lang = language_for(
        member.locale if member else None, user.language_code, context.settings.locale
    )
    return Caller(user_id=user.id, chat_id=chat.id, member=member, lang=lang)


def lang_of(update: Update, context: BotContext, member: Member | None = None) -> str:
    """Language without a store read, for places (the error handler) that must not fail."""
    user = update.effective_user
    return language_for(
        member.locale if member else None,
        user.language_code if user else None,
        context.settings.locale,
    )


def t(context: BotContext, lang: str, key: str, **params: Any) -> str:
    return context.catalog.text(lang, key, **params)


async def say(
    update: Update,
    context: BotContext,
    lang: str,
    key: str,
    *,
    markup: Markup | None = None,
    **params: Any,
) -> Message | None:
    """Send a catalog message to the update's chat.

    A text over Telegram's limit goes as several messages, cut at line ends (the markup on the
    last); a chat that blocked the bot gets nothing and the handler goes on (None).
    """
    chat = update.effective_chat
    if chat is None:
        return None
    return await send_text(context.bot, chat.id, t(context, lang, key, **params), markup=markup)


def reask(key: str) -> Callable[[Update, BotContext], Coroutine[Any, Any, int | None]]:
    """A flow step's answer to input of the wrong kind: say ``key`` and stay in the same state.

    Every guided flow needs several of these (a sticker where a button is expected, a photo where
    text is); one factory keeps them identical.
    """

    async def ask_again(update: Update, context: BotContext) -> int | None:
        who = await caller(update, context)
        if who is not None:
            await say(update, context, who.lang, key)
        return None

    return ask_again
