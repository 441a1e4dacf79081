"""``/summary [date]``, the summary's list buttons, and the one renderer of a summary's text.

:func:`render` serves the daily job, ``/summary``, leaders' ``/today`` (HTML) and
``zhucun summary`` (plain text): one set of lines from the catalog, with the tags left out and
nothing escaped when ``html`` is False.
"""

from __future__ import annotations

import re
from datetime import datetime, tzinfo
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Update
from telegram.ext import CallbackQueryHandler, CommandHandler, ExtBot, filters

from bot.chart import chart_data, render_async
from bot.context import BotContext
from bot.errors import ZhucunError
from bot.models import Member
from bot.sending import split_html
from bot.services.summary import Details, ListKind, Summary
from handlers.common import caller, t
from handlers.visit import snippet_of
from locales import Catalog

CALLBACK = "sum"
_TAG = re.compile(r"<[^>]+>")


class Lines:
    """Catalog lines in HTML (values escaped) or plain text (tags dropped, nothing escaped)."""

    def __init__(self, catalog: Catalog, lang: str, *, html: bool = True) -> None:
        self.catalog, self.lang, self.html = catalog, lang, html

    def __call__(self, key: str, **params: Any) -> str:
        if self.html:
            return self.catalog.text(self.lang, key, **params)
        return _TAG.sub("", self.catalog.raw(self.lang, key)).format(**params)


def _percent(covered: int, total: int) -> int:
    return round(100 * covered / total) if total else 100


def render(
    catalog: Catalog,
    lang: str,
    summary: Summary,
    *,
    html: bool = True,
    now: datetime | None = None,
) -> str:
    """The summary as a message; ``now`` (local) makes the title "today so far"."""
    line = Lines(catalog, lang, html=html)
    f, q, area = summary.figures, summary.quota, summary.region.name
    if now is not None and summary.today:
        parts = [line("summary.title_so_far", area=area, time=now.strftime("%H:%M"))]
    else:
        parts = [line("summary.title", area=area, month=summary.day.month, day=summary.day.day)]
    if not summary.villages:
        return "\n".join([*parts, line("summary.no_villages")])
    parts += [
        line("summary.checked_in", count=f.checked_in, total=f.members),
        line("summary.unverified", count=f.villages_unverified, total=f.villages),
        line(
            "summary.behind",
            count=f.behind,
            required=q.required,
            day=q.day_of_month,
            expected=q.expected,
        ),
        line("summary.visits", today=f.visits_today, week=f.visits_week),
        line(
            "summary.coverage",
            days=summary.coverage_days,
            covered=f.covered,
            total=f.households,
            percent=_percent(f.covered, f.households),
        ),
        line("summary.not_met", count=f.not_met),
        line(
            "summary.problems",
            new=f.problems_new,
            open=f.problems_open,
            overdue=f.problems_overdue,
            urgent=f.problems_urgent,
        ),
    ]
    if summary.townships:
        parts.append(line("summary.townships_title"))
        for town in summary.townships:
            tf = town.figures
            parts.append(
                line(
                    "summary.township_line",
                    name=town.name,
                    checked_in=tf.checked_in,
                    members=tf.members,
                    behind=tf.behind,
                    percent=_percent(tf.covered, tf.households),
                    open=tf.problems_open,
                    overdue=tf.problems_overdue,
                )
            )
    if summary.lagging:
        parts.append(line("summary.lagging_title"))
        separator = catalog.raw(lang, "summary.reason_separator")
        for rank, lag in enumerate(summary.lagging, start=1):
            v = lag.village
            reasons = []
            if lag.below_quota:
                reasons.append(
                    catalog.label(
                        lang,
                        "summary.lagging_quota",
                        days=f"{v.figures.average_days:.1f}",
                        expected=q.expected,
                    )
                    if v.figures.members
                    else catalog.label(lang, "summary.lagging_no_team")
                )
            if lag.below_coverage:
                reasons.append(
                    catalog.label(
                        lang,
                        "summary.lagging_coverage",
                        covered=v.figures.covered,
                        total=v.figures.households,
                    )
                )
            name = (
                catalog.label(lang, "summary.lagging_in", village=v.name, township=v.township_name)
                if summary.rollup
                else v.name
            )
            parts.append(
                line(
                    "summary.lagging_line", rank=rank, village=name, reasons=separator.join(reasons)
                )
            )
    else:
        parts.append(line("summary.none_lagging"))
    return "\n".join(parts)


def callback_data(kind: ListKind, summary: Summary) -> str:
    return f"{CALLBACK}:{kind.value}:{summary.region.code}:{summary.day:%Y%m%d}"


def buttons(catalog: Catalog, lang: str, summary: Summary) -> InlineKeyboardMarkup | None:
    """One button per list; None when the area has no villages."""
    if not summary.villages:
        return None
    f = summary.figures
    counts = {
        ListKind.UNVERIFIED: ("summary.button_unverified", f.villages_unverified),
        ListKind.BEHIND: ("summary.button_behind", f.behind),
        ListKind.UNCOVERED: ("summary.button_uncovered", f.households - f.covered),
        ListKind.PROBLEMS: ("summary.button_problems", f.problems_open),
    }
    rows = [
        [
            InlineKeyboardButton(
                catalog.label(lang, key, count=count), callback_data=callback_data(kind, summary)
            )
        ]
        for kind, (key, count) in counts.items()
    ]
    return InlineKeyboardMarkup(rows)


async def chart_png(catalog: Catalog, lang: str, summary: Summary) -> bytes | None:
    """The chart, rendered off the event loop; None when there is nothing to draw."""
    data = chart_data(summary, catalog, lang)
    return await render_async(data) if data.labels else None


async def send_summary(
    bot: ExtBot[Any],
    chat_id: int,
    catalog: Catalog,
    lang: str,
    summary: Summary,
    *,
    text: str,
    chart: bytes | None,
) -> None:
    """Text (with the list buttons on its last part), then the chart; any failure raises."""
    parts = split_html(text)
    markup = buttons(catalog, lang, summary)
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        await bot.send_message(chat_id, part, reply_markup=markup if last else None)
    if chart is not None:
        await bot.send_photo(
            chat_id,
            InputFile(chart, filename="summary.png"),
            caption=catalog.text(lang, "summary.chart_caption", area=summary.region.name),
        )


async def summary(update: Update, context: BotContext) -> None:
    who = await caller(update, context)
    if who is None:
        return
    if who.member is None:
        await context.bot.send_message(who.chat_id, t(context, who.lang, "start.stranger"))
        return
    services = context.services
    try:
        day = services.summary.parse_day(" ".join(context.args or []))
        found = await services.summary.mine(who.member, day)
    except ZhucunError as error:
        await context.bot.send_message(who.chat_id, t(context, who.lang, error.key, **error.params))
        return
    for item in found:
        text = render(context.catalog, who.lang, item)
        chart = await chart_png(context.catalog, who.lang, item)
        await send_summary(
            context.bot, who.chat_id, context.catalog, who.lang, item, text=text, chart=chart
        )


def render_details(catalog: Catalog, lang: str, details: Details, zone: tzinfo) -> str:
    line = Lines(catalog, lang)
    area, day = details.region.name, details.day
    parts: list[str] = []
    if details.kind is ListKind.UNVERIFIED:
        parts.append(
            line(
                "summary.list_unverified",
                area=area,
                month=day.month,
                day=day.day,
                count=details.total,
            )
        )
        parts += [line("summary.village_line", village=v.name) for v in details.villages]
    elif details.kind is ListKind.BEHIND:
        expected = details.quota.expected
        parts.append(
            line(
                "summary.list_behind",
                area=area,
                month=day.month,
                day=day.day,
                count=details.total,
                expected=expected,
            )
        )
        parts += [
            line("summary.member_line", name=m.name, village=m.village_name, days=m.days)
            for m in details.members
        ]
    elif details.kind is ListKind.UNCOVERED:
        parts.append(
            line(
                "summary.list_uncovered", area=area, days=details.coverage_days, count=details.total
            )
        )
        for h in details.households:
            seen = h.last_visit_at.astimezone(zone) if h.last_visit_at else None
            last = (
                catalog.label(lang, "summary.last_visit", month=seen.month, day=seen.day)
                if seen
                else catalog.label(lang, "summary.never_visited")
            )
            parts.append(
                line(
                    "summary.household_line",
                    name=h.head_name,
                    village=h.village_name,
                    registry_no=h.registry_no,
                    last=last,
                )
            )
    else:
        parts.append(line("summary.list_problems", area=area, count=details.total))
        for p in details.problems:
            parts.append(
                line(
                    "summary.problem_overdue_line" if p.due_day < day else "summary.problem_line",
                    number=p.number,
                    village=p.village_name,
                    category=catalog.label(lang, f"problem.category.{p.category.value}"),
                    severity=catalog.label(lang, f"problem.severity.{p.severity.value}"),
                    text=snippet_of(p.description),
                    due=p.due_day.isoformat(),
                )
            )
    shown = len(details.villages) + len(details.members) + len(details.households)
    shown += len(details.problems)
    if details.total == 0:
        parts.append(line("summary.list_empty"))
    elif details.total > shown:
        parts.append(line("summary.more", count=details.total - shown))
    return "\n".join(parts)


async def on_button(update: Update, context: BotContext) -> None:
    query = update.callback_query
    if query is None or not query.data:
        return
    await query.answer()
    who = await caller(update, context)
    if who is None:
        return
    try:
        _, kind, region, day = query.data.split(":")
        parsed = datetime.strptime(day, "%Y%m%d").date()
        details = await context.services.summary.details(who.member, ListKind(kind), region, parsed)
    except ValueError:
        await context.bot.send_message(who.chat_id, t(context, who.lang, "error.not_found"))
        return
    except ZhucunError as error:
        await context.bot.send_message(who.chat_id, t(context, who.lang, error.key, **error.params))
        return
    for part in split_html(
        render_details(context.catalog, who.lang, details, context.settings.zone)
    ):
        await context.bot.send_message(who.chat_id, part)


async def leader_today(
    context: BotContext, chat_id: int, lang: str, member: Member, now: datetime
) -> None:
    """今日 for township and county leaders: each of their areas' summary so far."""
    for item in await context.services.summary.mine(member):
        text = render(context.catalog, lang, item, now=now)
        await send_summary(context.bot, chat_id, context.catalog, lang, item, text=text, chart=None)


HANDLERS = [
    CommandHandler("summary", summary, filters=filters.ChatType.PRIVATE),
    CallbackQueryHandler(on_button, pattern=rf"^{CALLBACK}:"),
]
