"""The one place that wires the bot: builder, defaults, rate limiter, lifecycle, handlers."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from telegram.constants import ParseMode, UpdateType
from telegram.ext import (
    ApplicationBuilder,
    BaseHandler,
    BaseUpdateProcessor,
    ContextTypes,
    Defaults,
    JobQueue,
)
from telegram.request import BaseRequest
from telegram.warnings import PTBUserWarning

import handlers
from bot import backup, jobs
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.context import BotContext, BotData, ZhucunApp
from bot.intake import InboxProcessor, Intake, StoringHTTPXRequest, StoringUpdatesRequest
from bot.logging_setup import install_redaction
from bot.persistence import (
    PersistingApplication,
    Store,
    StorePersistence,
    check_conversations,
    rearm_timeouts,
)
from bot.processor import ChatOrderedProcessor
from bot.sending import RetryingRateLimiter, RetryPolicy, attach_blocked_chats, resume_deliveries
from bot.services import Services
from storage.db import Migration

# A 429 from Telegram is waited out and retried (bot/sending.py) instead of surfacing as an error.
RATE_LIMIT_RETRIES = 3

# Ask Telegram only for what some handler takes; anything else would be fetched to be dropped.
ALLOWED_UPDATES = [UpdateType.MESSAGE, UpdateType.EDITED_MESSAGE, UpdateType.CALLBACK_QUERY]

_LOGGER = logging.getLogger(__name__)

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
    extra_migrations: Sequence[Migration] = (),
    extra_handlers: Sequence[BaseHandler[Any, BotContext, Any]] = (),
    rate_limiter: RetryingRateLimiter | None = None,
    daily_jobs: bool = True,
) -> ZhucunApp:
    """Build the Application; ``request`` replaces the network (tests, the in-process stand-in).

    Updates are stored before they are confirmed and marked done once handled
    (``bot.intake``); ``update_processor`` (default: ``ChatOrderedProcessor``, chats at once,
    each in order) runs inside that. ``extra_migrations`` and ``extra_handlers`` (tried before
    the product's own) let tests bring a handler set of their own. ``rate_limiter`` replaces the
    retry policy (tests inject its sleep and randomness, and lift the 30 messages/s limit).
    Flows and their drafts persist in the store (``bot.persistence``). ``daily_jobs`` schedules
    the summary and reminders (``bot.jobs``); the playground, on the wall clock, leaves them out.
    """
    if settings.bot_token is None:
        raise MissingTokenError()
    # Opt in to python-telegram-bot's timedelta durations (retry_after and friends) now, rather
    # than living with a deprecation warning on every 429 until the next major version.
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    # Our guided flows mix message and button steps per chat on purpose (per_message=False);
    # PTB's reminder about that would greet every operator and playground user on stderr.
    warnings.filterwarnings("ignore", message="If 'per_message=False'", category=PTBUserWarning)
    token = settings.bot_token.get_secret_value()
    install_redaction([token])
    job_queue: JobQueue[BotContext] = JobQueue()
    clock = clock or SystemClock()
    intake = Intake(clock)
    migrations = tuple(extra_migrations)
    store = Store(settings.db, migrations)

    async def post_init(app: ZhucunApp) -> None:
        await _post_init(app, intake, store)
        if daily_jobs:
            # The daily summary and reminders, and what start-up owes of them.
            jobs.register(app)
            backup.register(app)  # when ZHUCUN_BACKUP_DIR is set

    async def post_shutdown(app: ZhucunApp) -> None:
        await _post_shutdown(app, intake, store)

    builder = (
        ApplicationBuilder()
        .token(token)
        .context_types(CONTEXT_TYPES)
        .job_queue(job_queue)
        .defaults(Defaults(tzinfo=settings.zone, parse_mode=ParseMode.HTML))
        .rate_limiter(
            rate_limiter or RetryingRateLimiter(RetryPolicy(rate_limit_retries=RATE_LIMIT_RETRIES))
        )
        .application_class(PersistingApplication)
        .persistence(StorePersistence(store, clock))
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        .concurrent_updates(InboxProcessor(update_processor or ChatOrderedProcessor(), intake))
    )
    if settings.api_base_url:
        builder = builder.base_url(settings.api_base_url)
    if settings.api_file_url:
        builder = builder.base_file_url(settings.api_file_url)
    if request is not None:
        builder = builder.request(request)
    elif settings.proxy:
        builder = builder.proxy(settings.proxy)
    polling = get_updates_request or request
    builder = builder.get_updates_request(
        StoringUpdatesRequest(polling, intake)
        if polling is not None
        else StoringHTTPXRequest(intake, connection_pool_size=1, proxy=settings.proxy)
    )
    app: ZhucunApp = builder.build()
    app.bot_data.settings = settings
    app.bot_data.clock = clock
    app.add_handlers(extra_handlers)
    handlers.register(app)
    check_conversations(app)
    return app


@asynccontextmanager
async def serving(app: ZhucunApp) -> AsyncIterator[ZhucunApp]:
    """Initialize, run ``post_init`` and start the Application; undo it all on the way out.

    ``run_polling`` does this itself; the playground and end-to-end tests drive the updater
    directly and need the same lifecycle, including the store opened in ``post_init``.
    """
    await app.initialize()
    try:
        assert app.post_init is not None  # build_application sets it
        await app.post_init(app)
        await app.start()
        try:
            yield app
        finally:
            if app.updater is not None and app.updater.running:
                await app.updater.stop()
            await app.stop()
    finally:
        assert app.post_shutdown is not None
        await app.post_shutdown(app)
        await app.shutdown()


async def _post_init(app: ZhucunApp, intake: Intake, store: Store) -> None:
    settings = app.bot_data.settings
    # Opened already when initialize() loaded the persistence; one store, one writer.
    db = await store.get()
    services = Services.create(db, app.bot_data.clock, settings)
    app.bot_data.services = services
    await attach_blocked_chats(app, services.deliveries)
    await rearm_timeouts(app)
    await intake.attach(db)
    await handlers.publish_default_commands(app)
    # Before polling starts: what was stored and not handled goes first.
    await intake.replay(app)
    # Important messages a crash interrupted between 'sending' and 'sent'.
    await resume_deliveries(app)


async def _post_shutdown(app: ZhucunApp, intake: Intake, store: Store) -> None:
    intake.detach()
    if app.persistence is not None and store.is_open:
        # Before the store closes, whatever order shutdown takes.
        try:
            await app.update_persistence()
        except Exception:
            _LOGGER.exception("could not store the flows at shutdown")
    services = app.bot_data.release_services()
    if services is not None:
        await services.db.close()  # the store's, unless a test swapped it
    await store.close()
