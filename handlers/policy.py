"""/policy (问政策): passages of the policy library that answer a question, with their source.

``/policy <question>`` answers at once; ``/policy`` alone or the 问政策 button asks for the
question (a short persistent ConversationHandler). Free text that looks like a question reaches
:func:`offer` through handlers/router.py. Each passage carries a button that shows its whole
section; the button holds only the passage id, and the service checks the reader's documents
again on every press.
"""

from __future__ import annotations

import html
from datetime import timedelta
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.config import Settings
from bot.context import BotContext
from bot.errors import NotFound
from bot.policysearch import looks_like_question
from bot.sending import send_text
from bot.services.policies import PolicyAnswer, PolicyHit, PolicySection
from handlers.common import Caller, caller, reask, say, t
from handlers.menu import button_commands
from locales import Catalog, Html

ASK = 0
END = ConversationHandler.END
SECTION_DATA = "pol:sec:"  # pol:sec:<passage id>
QUESTION_SHOWN = 80  # characters of the question repeated in the answer


def bold(text: str, spans: tuple[tuple[int, int], ...]) -> str:
    """The passage as HTML: everything escaped, the matching words in <b>."""
    out: list[str] = []
    at = 0
    for start, end in spans:
        if start < at:
            continue
        out.append(html.escape(text[at:start], quote=False))
        out.append(f"<b>{html.escape(text[start:end], quote=False)}</b>")
        at = end
    out.append(html.escape(text[at:], quote=False))
    return "".join(out)


def _details(
    context: BotContext,
    lang: str,
    section: str,
    issuer: str | None,
    issued: str | None,
    region: str | None,
) -> Html:
    parts = []
    if section:
        parts.append(t(context, lang, "policy.detail_section", section=section))
    if issuer:
        parts.append(t(context, lang, "policy.detail_issuer", issuer=issuer))
    if issued:
        parts.append(t(context, lang, "policy.detail_date", issued=issued))
    if region:
        parts.append(t(context, lang, "policy.detail_region", region=region))
    else:
        parts.append(t(context, lang, "policy.detail_national"))
    return Html(context.catalog.label(lang, "policy.separator").join(parts))


def render_hit(context: BotContext, lang: str, number: int, hit: PolicyHit) -> str:
    return t(
        context,
        lang,
        "policy.hit",
        number=number,
        title=hit.title,
        details=_details(context, lang, hit.section, hit.issuer, hit.issued, hit.region_name),
        text=Html(bold(hit.text, hit.spans)),
    )


def render_section(context: BotContext, lang: str, section: PolicySection) -> str:
    return t(
        context,
        lang,
        "policy.section",
        title=section.title,
        details=_details(
            context, lang, section.section, section.issuer, section.issued, section.region_name
        ),
        text="\n\n".join(section.passages),
    )


def _shown(question: str) -> str:
    return question if len(question) <= QUESTION_SHOWN else question[:QUESTION_SHOWN] + "…"


async def answer(update: Update, context: BotContext, who: Caller, question: str) -> None:
    """Ask the library and reply: the best passages with buttons, or the no-match advice."""
    message = update.effective_message
    chat = update.effective_chat
    if chat is None:
        return
    source = (chat.id, message.message_id) if message is not None else None
    result: PolicyAnswer = await context.services.policies.ask(who.member, question, source)
    if not result.hits:
        await say(update, context, who.lang, "policy.no_match", question=_shown(result.question))
        return
    head = t(
        context,
        who.lang,
        "policy.answer_head",
        question=_shown(result.question),
        count=len(result.hits),
    )
    blocks = [render_hit(context, who.lang, i, hit) for i, hit in enumerate(result.hits, 1)]
    buttons = [
        [
            InlineKeyboardButton(
                context.catalog.label(who.lang, "policy.whole_section", number=i),
                callback_data=f"{SECTION_DATA}{hit.passage_id}",
            )
        ]
        for i, hit in enumerate(result.hits, 1)
    ]
    await send_text(
        context.bot, chat.id, "\n\n".join([head, *blocks]), markup=InlineKeyboardMarkup(buttons)
    )


# --- /policy <question> and the 问政策 button ---------------------------------------------------


async def ask_now(update: Update, context: BotContext) -> None:
    """``/policy <question>``: the answer at once."""
    who = await caller(update, context)
    if who is None:
        return
    if who.member is None:
        await say(update, context, who.lang, "start.stranger")
        return
    await answer(update, context, who, " ".join(context.args or []))


async def start(update: Update, context: BotContext) -> int:
    """``/policy`` alone or the 问政策 button: ask for the question."""
    who = await caller(update, context)
    if who is None:
        return END
    if who.member is None:
        await say(update, context, who.lang, "start.stranger")
        return END
    await say(update, context, who.lang, "policy.ask")
    return ASK


async def take_question(update: Update, context: BotContext) -> int:
    who = await caller(update, context)
    message = update.effective_message
    if who is None or message is None:
        return END
    if who.member is None:
        await say(update, context, who.lang, "start.stranger")
        return END
    await answer(update, context, who, message.text or "")
    return END


not_text = reask("policy.not_text")


async def cancel(update: Update, context: BotContext) -> int:
    who = await caller(update, context)
    if who is not None:
        await say(update, context, who.lang, "policy.cancelled")
    return END


async def timed_out(update: Update, context: BotContext) -> int:
    who = await caller(update, context)
    if who is not None:
        await say(
            update, context, who.lang, "policy.timed_out", minutes=context.settings.flow_timeout
        )
    return END


# --- free text (handlers/router.py) -------------------------------------------------------------


async def offer(update: Update, context: BotContext, who: Caller, text: str) -> bool:
    """Free text that looks like a question (design.md) is answered from the library."""
    if who.member is None or not looks_like_question(text):
        return False
    await answer(update, context, who, text)
    return True


# --- the whole-section button -------------------------------------------------------------------


async def section_pressed(update: Update, context: BotContext) -> None:
    query = update.callback_query
    who = await caller(update, context)
    if query is None or who is None:
        return
    if who.member is None:
        await query.answer()
        await say(update, context, who.lang, "start.stranger")
        return
    raw = (query.data or "").removeprefix(SECTION_DATA)
    try:
        if not raw.isdigit() or len(raw) > 18:
            raise NotFound()
        section = await context.services.policies.section(who.member, int(raw))
    except NotFound:
        await query.answer(t(context, who.lang, "error.not_found"), show_alert=True)
        return
    await query.answer()
    chat = update.effective_chat
    if chat is not None:
        await send_text(context.bot, chat.id, render_section(context, who.lang, section))


def conversation(settings: Settings, catalog: Catalog) -> ConversationHandler[BotContext]:
    """``/policy`` alone and the 问政策 button; ``flow_timeout`` minutes end the wait."""
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    routes = button_commands(catalog)
    menu_buttons = filters.Text(list(routes))
    own_button = filters.Text([label for label, command in routes.items() if command == "policy"])
    typed = private & ~filters.COMMAND & ~menu_buttons
    states: dict[object, list[BaseHandler[Update, BotContext, Any]]] = {
        ASK: [
            MessageHandler(typed & filters.TEXT, take_question),
            MessageHandler(typed & ~filters.TEXT, not_text),
        ],
        ConversationHandler.TIMEOUT: [TypeHandler(Update, timed_out)],
    }
    return ConversationHandler(
        entry_points=[
            CommandHandler("policy", start, filters=filters.ChatType.PRIVATE, has_args=False),
            MessageHandler(private & own_button, start),
        ],
        states=states,
        fallbacks=[CommandHandler("cancel", cancel, filters=filters.ChatType.PRIVATE)],
        allow_reentry=True,
        per_chat=True,
        per_user=True,
        per_message=False,
        conversation_timeout=timedelta(minutes=settings.flow_timeout),
        name="policy",
        persistent=True,
    )


HANDLERS = [
    CommandHandler("policy", ask_now, filters=filters.ChatType.PRIVATE, has_args=True),
    CallbackQueryHandler(section_pressed, pattern=f"^{SECTION_DATA}"),
]
