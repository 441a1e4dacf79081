"""The one place that wires the bot: builder, defaults, rate limiter, lifecycle, handlers."""

from __future__ import annotations

from telegram.constants import ParseMode, UpdateType
from telegram.ext import AIORateLimiter, ApplicationBuilder, ContextTypes, Defaults, JobQueue
from telegram.request import BaseRequest

import handlers
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.context import BotContext, BotData, ZhucunApp
from bot.logging_setup import install_redaction
from bot.services import Services
from storage.db import Database

# A 429 from Telegram is retried by the limiter itself instead of surfacing as an error.
RATE_LIMIT_RETRIES = 3

# Ask Telegram only for what some handler takes; anything else would be fetched to be dropped.
ALLOWED_UPDATES = [UpdateType.MESSAGE, UpdateType.EDITED_MESSAGE, UpdateType.CALLBACK_QUERY]

CONTEXT_TYPES = ContextTypes(context=BotContext, bot_data=BotData)


class MissingTokenError(Exception):
    """``ZHUCUN_BOT_TOKEN`` is needed to talk to a Bot API server."""


def build_application(
    settings: Settings,
    *,
    clock: Clock | None = None,
    request: BaseRequest | None = None,
    get_updates_request: BaseRequest | None = None,
) -> ZhucunApp:
    """Build the Application; ``request`` replaces the network (tests, the in-process stand-in)."""
    if settings.bot_token is None:
        raise MissingTokenError()
    token = settings.bot_token.get_secret_value()
    install_redaction([token])
    job_queue: JobQueue[BotContext] = JobQueue()
    builder = (
        ApplicationBuilder()
        .token(token)
        .context_types(CONTEXT_TYPES)
        .job_queue(job_queue)
        .defaults(Defaults(tzinfo=settings.zone, parse_mode=ParseMode.HTML))
        .rate_limiter(AIORateLimiter(max_retries=RATE_LIMIT_RETRIES))
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
    )
    if settings.api_base_url:
        builder = builder.base_url(settings.api_base_url)
    if settings.api_file_url:
        builder = builder.base_file_url(settings.api_file_url)
    if request is not None:
        builder = builder.request(request).get_updates_request(get_updates_request or request)
    elif settings.proxy:
        builder = builder.proxy(settings.proxy).get_updates_proxy(settings.proxy)
    app: ZhucunApp = builder.build()
    app.bot_data.settings = settings
    app.bot_data.clock = clock or SystemClock()
    handlers.register(app)
    return app


async def _post_init(app: ZhucunApp) -> None:
    settings = app.bot_data.settings
    db = await Database.open(settings.db)
    await db.migrate()
    app.bot_data.services = Services.create(db, app.bot_data.clock, settings)
    await handlers.publish_default_commands(app)


async def _post_shutdown(app: ZhucunApp) -> None:
    services = app.bot_data.release_services()
    if services is not None:
        await services.db.close()
