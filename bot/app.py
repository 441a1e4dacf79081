"""The one place that wires the bot: builder, defaults, rate limiter, lifecycle, handlers."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from telegram.constants import ParseMode, UpdateType
from telegram.ext import (
    AIORateLimiter,
    ApplicationBuilder,
    BaseUpdateProcessor,
    ContextTypes,
    Defaults,
    JobQueue,
)
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
    update_processor: BaseUpdateProcessor | None = None,
) -> ZhucunApp:
    """Build the Application; ``request`` replaces the network (tests, the in-process stand-in)."""
    if settings.bot_token is None:
        raise MissingTokenError()
    # Opt in to python-telegram-bot's timedelta durations (retry_after and friends) now, rather
    # than living with a deprecation warning on every 429 until the next major version.
    os.environ.setdefault("PTB_TIMEDELTA", "true")
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
    if update_processor is not None:
        builder = builder.concurrent_updates(update_processor)
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


@asynccontextmanager
async def serving(app: ZhucunApp) -> AsyncIterator[ZhucunApp]:
    """Initialize, run ``post_init`` and start the Application; undo it all on the way out.

    ``run_polling`` does this itself; the playground and end-to-end tests drive the updater
    directly and need the same lifecycle, including the store opened in ``post_init``.
    """
    await app.initialize()
    try:
        await _post_init(app)
        await app.start()
        try:
            yield app
        finally:
            if app.updater is not None and app.updater.running:
                await app.updater.stop()
            await app.stop()
    finally:
        await _post_shutdown(app)
        await app.shutdown()


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
