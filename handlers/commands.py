"""The command menu Telegram shows: strangers see /start and /help, members their own list."""

from __future__ import annotations

from telegram import BotCommandScopeChat, BotCommandScopeDefault

from bot.context import BotContext, ZhucunApp
from bot.models import Member
from handlers import menu


async def publish_default_commands(app: ZhucunApp) -> None:
    """The default scope, in each language Telegram may ask for and for everyone else."""
    catalog = app.bot_data.catalog
    default = app.bot_data.settings.locale
    for lang in catalog.languages:
        await app.bot.set_my_commands(
            menu.stranger_commands(catalog, lang),
            scope=BotCommandScopeDefault(),
            language_code=lang,
        )
    await app.bot.set_my_commands(
        menu.stranger_commands(catalog, default), scope=BotCommandScopeDefault()
    )


async def publish_member_commands(
    context: BotContext, chat_id: int, member: Member, lang: str
) -> None:
    """One member's private chat gets exactly their actions, in their chosen language."""
    await context.bot.set_my_commands(
        menu.member_commands(context.catalog, lang, member),
        scope=BotCommandScopeChat(chat_id),
    )
