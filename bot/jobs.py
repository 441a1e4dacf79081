"""Daily jobs on python-telegram-bot's JobQueue: the summary and the reminders.

* ``summary`` at ``ZHUCUN_SUMMARY_TIME``: each township leader gets their township's summary,
  each county officer the county's roll-up — text with the list buttons, then the chart.
* ``remind`` at ``ZHUCUN_REMIND_TIME`` (unset: no reminders): see ``bot.services.reminders``.
* ``catch-up`` once, right after start-up: today's summary when its time has passed (what was
  sent already is skipped), summaries a failure or a crash left 'sending', and today's
  reminders when their time passed less than ``REMIND_CATCH_UP`` ago.

Every message goes through ``DeliveryService.send_once`` keyed by kind, recipient and day, so it
is sent at least once and at most twice even across a crash. A summary is recorded without its
text (``resume_deliveries`` leaves it alone) because resending rebuilds it with its buttons and
chart here; a summary left 'sending' from before yesterday is given up. Reminders keep their text
and are resumed by ``resume_deliveries`` like any other important message.

The callbacks only unpack the context; tests call :func:`send_summaries`,
:func:`send_reminders` and :func:`catch_up` directly with the application.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any

from telegram.error import BadRequest, TelegramError
from telegram.ext import Application

from bot.context import BotContext, BotData
from bot.models import Member
from bot.scope import Capability, may
from bot.services.deliveries import DeliveryStatus, delivery_key
from bot.services.summary import Summary
from handlers.summary import chart_png, render, send_summary
from locales import language_for

log = logging.getLogger(__name__)

# Any application whose bot_data is ours: the job context's is typed loosely by PTB.
App = Application[Any, Any, Any, Any, BotData, Any]

SUMMARY = "summary"
REMIND_CATCH_UP = timedelta(hours=6)
DONE = (DeliveryStatus.SENT, DeliveryStatus.BLOCKED, DeliveryStatus.FAILED)


def summary_key(chat_id: int, region_code: str, day: date) -> str:
    return delivery_key(SUMMARY, chat_id, f"{region_code}@{day.isoformat()}")


def parse_summary_key(key: str) -> tuple[int, str, date] | None:
    kind, _, rest = key.partition(":")
    chat, _, subject = rest.partition(":")
    region, _, day = subject.partition("@")
    if kind != SUMMARY:
        return None
    try:
        return int(chat), region, date.fromisoformat(day)
    except ValueError:
        return None


def register(app: App) -> None:
    """Schedule the daily jobs and the start-up catch-up (called from ``post_init``)."""
    queue = app.job_queue
    if queue is None:
        return
    settings = app.bot_data.settings
    zone = settings.zone
    queue.run_daily(summary_job, settings.summary_time.replace(tzinfo=zone), name=SUMMARY)
    if settings.remind_time is not None:
        queue.run_daily(remind_job, settings.remind_time.replace(tzinfo=zone), name="remind")
    queue.run_once(catch_up_job, 0, name="catch-up")


async def summary_job(context: BotContext) -> None:
    await send_summaries(context.application)


async def remind_job(context: BotContext) -> None:
    await send_reminders(context.application)


async def catch_up_job(context: BotContext) -> None:
    await catch_up(context.application)


def _local_now(app: App) -> datetime:
    return app.bot_data.services.clock.now().astimezone(app.bot_data.settings.zone)


async def catch_up(app: App) -> None:
    """What start-up owes: past-due summaries and reminders of today, and interrupted sends."""
    settings = app.bot_data.settings
    now = _local_now(app)
    if now.time() >= settings.summary_time:
        await send_summaries(app, now.date())
    else:
        await resend_summaries(app)
    remind = settings.remind_time
    if remind is not None and now.time() >= remind:
        due = datetime.combine(now.date(), remind, tzinfo=now.tzinfo)
        if now - due < REMIND_CATCH_UP:
            await send_reminders(app, now.date())


async def send_summaries(app: App, day: date | None = None) -> int:
    """Send the day's summary to every leader not yet sent it; return how many were sent now."""
    services = app.bot_data.services
    day = day or services.summary.today()
    sent = await resend_summaries(app)
    recipients = await services.summary.recipients()
    # Every area's data from one pass over the store, not one pass per township.
    areas = await services.summary.for_regions({r.region.code for r in recipients}, day)
    built: dict[tuple[str, str], tuple[Summary, str, bytes | None]] = {}
    for recipient in recipients:
        if await _send(app, recipient.member, recipient.region.code, day, built, areas):
            sent += 1
    return sent


async def resend_summaries(app: App) -> int:
    """Summaries left 'sending' by a failure or a crash, from yesterday or today."""
    services = app.bot_data.services
    today = services.summary.today()
    sent = 0
    built: dict[tuple[str, str], tuple[Summary, str, bytes | None]] = {}
    for delivery in await services.deliveries.pending():
        parsed = parse_summary_key(delivery.key)
        if parsed is None:
            continue
        chat_id, region_code, day = parsed
        member = await services.members.identify(chat_id)
        if (today - day).days > 1 or member is None:
            await services.deliveries.give_up(delivery.key)
            continue
        if await _send(app, member, region_code, day, built):
            sent += 1
    return sent


async def _send(
    app: App,
    member: Member,
    region_code: str,
    day: date,
    built: dict[tuple[str, str], tuple[Summary, str, bytes | None]],
    areas: dict[str, Summary] | None = None,
) -> bool:
    """One leader's summary for one day, through send_once; False when not sent now."""
    services = app.bot_data.services
    catalog = app.bot_data.catalog
    chat_id = member.telegram_user_id
    key = summary_key(chat_id, region_code, day)
    known = await services.deliveries.get(key)
    if known is not None and known.status in DONE:
        return False
    lang = language_for(member.locale, None, app.bot_data.settings.locale)
    try:
        if (region_code, lang) not in built:
            summary = (areas or {}).get(region_code) or await services.summary.for_region(
                region_code, day
            )
            if not may(member, Capability.REVIEW, summary.region):
                return False
            chart = await chart_png(catalog, lang, summary)
            built[(region_code, lang)] = (summary, render(catalog, lang, summary), chart)
        summary, text, chart = built[(region_code, lang)]
        if not may(member, Capability.REVIEW, summary.region):
            return False

        async def send() -> None:
            await send_summary(app.bot, chat_id, catalog, lang, summary, text=text, chart=chart)

        return await services.deliveries.send_once(key, chat_id, send)
    except BadRequest:
        log.exception("summary %s refused by Telegram; given up", key)
        await services.deliveries.give_up(key)
    except TelegramError:
        log.exception("summary %s not sent; it is resent at the next run or start-up", key)
    except Exception:
        log.exception("summary %s failed", key)
    return False


async def send_reminders(app: App, day: date | None = None) -> int:
    """Send the day's reminders not yet sent; return how many were sent now."""
    services = app.bot_data.services
    catalog = app.bot_data.catalog
    sent = 0
    for reminder in await services.reminders.due(day):
        lang = language_for(reminder.member.locale, None, app.bot_data.settings.locale)
        text = catalog.text(lang, f"remind.{reminder.kind.value}", **reminder.params)
        chat_id = reminder.member.telegram_user_id

        async def send(chat_id: int = chat_id, text: str = text) -> Any:
            return await app.bot.send_message(chat_id, text)

        try:
            if await services.deliveries.send_once(reminder.key, chat_id, send, text=text):
                sent += 1
        except BadRequest:
            log.exception("reminder %s refused by Telegram; given up", reminder.key)
            await services.deliveries.give_up(reminder.key)
        except TelegramError:
            log.exception("reminder %s not sent; resent at the next start-up", reminder.key)
    return sent


__all__ = [
    "catch_up",
    "register",
    "resend_summaries",
    "send_reminders",
    "send_summaries",
    "summary_key",
]
