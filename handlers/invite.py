"""/invite: role, then region (within scope), then the invitee's real name; replies a deep link.

A guided flow (a ConversationHandler keyed by chat and user). Every button press is checked
again in the services, so callback data is only a hint: a role or region outside the inviter's
scope is refused exactly like one that does not exist. Buttons of any message other than the
flow's current one are stale.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest
from telegram.ext import (
    ApplicationHandlerStop,
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
from bot.errors import InvalidInput, ZhucunError
from bot.models import Invite, Member, Region, Role
from bot.services.invites import NAME_MAX, clean_name
from handlers.common import Caller, caller, reask, say, t
from handlers.menu import button_commands
from locales import Catalog, Html

ROLE, REGION, NAME = range(3)
END = ConversationHandler.END

PREFIX = "invite:"
ROLE_DATA = PREFIX + "role:"
REGION_DATA = PREFIX + "region:"
PAGE_DATA = PREFIX + "page:"

PAGE_SIZE = 8
COLUMNS = 2

DRAFT_KEY = "invite_draft"


@dataclass
class Draft:
    """The flow so far; ``message_id`` is the one message whose buttons belong to it."""

    message_id: int
    role: Role | None = None
    region_code: str | None = None
    region_name: str | None = None
    page: int = 0

    def choose(self, region: Region | None) -> None:
        self.region_code = region.code if region else None
        self.region_name = region.name if region else None

    def data(self) -> dict[str, Any]:
        """Plain values only, so that any persistence of ``user_data`` can store it."""
        return {
            "message_id": self.message_id,
            "role": self.role.value if self.role else None,
            "region_code": self.region_code,
            "region_name": self.region_name,
            "page": self.page,
        }

    @classmethod
    def from_data(cls, data: object) -> Draft | None:
        if not isinstance(data, dict):
            return None
        try:
            role = data.get("role")
            return cls(
                message_id=int(data["message_id"]),
                role=Role(role) if role else None,
                region_code=data.get("region_code"),
                region_name=data.get("region_name"),
                page=int(data.get("page", 0)),
            )
        except (KeyError, TypeError, ValueError):
            return None


def _draft(context: BotContext) -> Draft | None:
    if context.user_data is None:
        return None
    return Draft.from_data(context.user_data.get(DRAFT_KEY))


def _keep(context: BotContext, draft: Draft) -> None:
    if context.user_data is not None:
        context.user_data[DRAFT_KEY] = draft.data()


def _forget(context: BotContext) -> Draft | None:
    if context.user_data is None:
        return None
    return Draft.from_data(context.user_data.pop(DRAFT_KEY, None))


# --- step 1: /invite --------------------------------------------------------------------------


async def start_invite(update: Update, context: BotContext) -> int:
    """Entry: strangers learn to register, members without invite rights are told so."""
    who = await caller(update, context)
    if who is None:
        return END
    if who.member is None:
        await say(update, context, who.lang, "start.stranger")
        return END
    roles = await context.services.invites.choices(who.member)
    if not roles:
        await say(update, context, who.lang, "invite_flow.forbidden")
        return END
    _forget(context)
    buttons = [
        InlineKeyboardButton(
            context.catalog.label(who.lang, f"role.{role.value}"),
            callback_data=ROLE_DATA + role.value,
        )
        for role in roles
    ]
    sent = await say(update, context, who.lang, "invite_flow.choose_role", markup=_grid(buttons))
    if sent is None:
        return END
    _keep(context, Draft(message_id=sent.message_id))
    return ROLE


# --- step 2: role and region buttons ----------------------------------------------------------


async def choose_role(update: Update, context: BotContext) -> int | None:
    checked = await _checked_press(update, context)
    if checked is None:
        return None
    who, member, draft, value = checked
    role = _role(value.removeprefix(ROLE_DATA))
    if role is None or role not in await context.services.invites.choices(member):
        return await _refuse(update, context, who)
    regions = await context.services.invites.regions_for(member, role) if role.level else []
    if role.level is not None and not regions:
        return await _refuse(update, context, who)
    draft.role, draft.page = role, 0
    draft.choose(regions[0] if len(regions) == 1 else None)
    _keep(context, draft)
    if len(regions) <= 1:  # admin (no region) or the only region in scope
        return await _ask_name(update, context, who, draft)
    await _answer(update)
    await _show_regions(update, context, who, draft, regions)
    return REGION


async def turn_page(update: Update, context: BotContext) -> int | None:
    checked = await _checked_press(update, context)
    if checked is None:
        return None
    who, member, draft, value = checked
    if draft.role is None:
        return await _refuse(update, context, who)
    regions = await context.services.invites.regions_for(member, draft.role)
    page = value.removeprefix(PAGE_DATA)
    if not regions or not page.isdigit():
        return await _refuse(update, context, who)
    wanted = min(int(page), (len(regions) - 1) // PAGE_SIZE)
    await _answer(update)
    if wanted != draft.page:  # an edit to the same page is refused by Telegram
        draft.page = wanted
        _keep(context, draft)
        await _show_regions(update, context, who, draft, regions)
    return None


async def choose_region(update: Update, context: BotContext) -> int | None:
    checked = await _checked_press(update, context)
    if checked is None:
        return None
    who, member, draft, value = checked
    code = value.removeprefix(REGION_DATA)
    regions = await context.services.invites.regions_for(member, draft.role) if draft.role else []
    region = next((r for r in regions if r.code == code), None)
    if region is None:
        return await _refuse(update, context, who)
    draft.choose(region)
    _keep(context, draft)
    return await _ask_name(update, context, who, draft)


# --- step 3: the invitee's name ---------------------------------------------------------------


async def take_name(update: Update, context: BotContext) -> int | None:
    who = await caller(update, context)
    draft = _draft(context)
    message = update.effective_message
    if who is None or message is None:
        return None
    if who.member is None or draft is None or draft.role is None:
        _forget(context)
        key = "start.stranger" if who.member is None else "fallback.stale_button"
        await say(update, context, who.lang, key)
        return END
    try:
        name = clean_name(message.text)
    except InvalidInput as error:
        reason = t(context, who.lang, error.key, **error.params)
        await say(update, context, who.lang, "invite_flow.name_invalid", reason=Html(reason))
        return None
    if name is None:
        await say(update, context, who.lang, "invite_flow.name_blank")
        return None
    try:
        invite = await context.services.invites.create(
            role=draft.role,
            region_code=draft.region_code,
            name=name,
            inviter=who.member,
        )
    except InvalidInput as error:
        if error.key == "invite.bad_name":
            reason = t(context, who.lang, error.key, **error.params)
            await say(update, context, who.lang, "invite_flow.name_invalid", reason=Html(reason))
            return None
        _forget(context)
        await say(update, context, who.lang, error.key, **error.params)
        return END
    except ZhucunError as error:  # scope changed since the buttons were shown
        _forget(context)
        await say(update, context, who.lang, error.key, **error.params)
        return END
    _forget(context)
    await _announce(update, context, who, invite, draft.region_name)
    return END


name_not_text = reask("invite_flow.name_not_text")


use_buttons = reask("invite_flow.use_buttons")


# --- leaving the flow -------------------------------------------------------------------------


async def cancel(update: Update, context: BotContext) -> int:
    who = await caller(update, context)
    await _retire(context, update, _forget(context))
    if who is not None:
        await say(update, context, who.lang, "invite_flow.cancelled")
    return END


async def timed_out(update: Update, context: BotContext) -> int:
    """Run by the conversation's timeout job with the flow's last update."""
    who = await caller(update, context)
    await _retire(context, update, _forget(context))
    if who is not None:
        await say(
            update,
            context,
            who.lang,
            "invite_flow.timed_out",
            minutes=context.settings.flow_timeout,
        )
    return END


# --- helpers ----------------------------------------------------------------------------------


async def _checked_press(
    update: Update, context: BotContext
) -> tuple[Caller, Member, Draft, str] | None:
    """A press on the flow's current message by a still-active member, or None when answered."""
    query = update.callback_query
    who = await caller(update, context)
    if query is None or who is None:
        return None
    draft = _draft(context)
    message = query.message
    if draft is None or message is None or message.message_id != draft.message_id:
        await query.answer(t(context, who.lang, "fallback.stale_button"), show_alert=True)
        return None
    if who.member is None:  # deactivated since the flow began: it ends here
        await query.answer()
        _forget(context)
        await say(update, context, who.lang, "start.stranger")
        raise ApplicationHandlerStop(END)
    return who, who.member, draft, query.data or ""


async def _refuse(update: Update, context: BotContext, who: Caller) -> int | None:
    """Forged or stale data: answered like something that does not exist; the step stays."""
    if update.callback_query is not None:
        await update.callback_query.answer(t(context, who.lang, "error.not_found"), show_alert=True)
    return None


async def _answer(update: Update) -> None:
    if update.callback_query is not None:
        await update.callback_query.answer()


async def _show_regions(
    update: Update, context: BotContext, who: Caller, draft: Draft, regions: list[Region]
) -> None:
    assert draft.role is not None
    assert update.callback_query is not None
    pages = (len(regions) + PAGE_SIZE - 1) // PAGE_SIZE
    page = min(draft.page, pages - 1)
    shown = regions[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    names = [r.name for r in regions]
    buttons = [
        InlineKeyboardButton(
            r.name if names.count(r.name) == 1 else f"{r.name} ({r.code})",
            callback_data=REGION_DATA + r.code,
        )
        for r in shown
    ]
    markup = _grid(buttons)
    nav: list[InlineKeyboardButton] = []
    if page > 0:
        nav.append(
            InlineKeyboardButton(
                context.catalog.label(who.lang, "invite_flow.prev"),
                callback_data=f"{PAGE_DATA}{page - 1}",
            )
        )
    if page < pages - 1:
        nav.append(
            InlineKeyboardButton(
                context.catalog.label(who.lang, "invite_flow.next"),
                callback_data=f"{PAGE_DATA}{page + 1}",
            )
        )
    if nav:
        markup = InlineKeyboardMarkup([*markup.inline_keyboard, nav])
    await update.callback_query.edit_message_text(
        t(
            context,
            who.lang,
            "invite_flow.choose_region",
            role=context.catalog.label(who.lang, f"role.{draft.role.value}"),
            page=page + 1,
            pages=pages,
        ),
        reply_markup=markup,
    )


async def _ask_name(update: Update, context: BotContext, who: Caller, draft: Draft) -> int:
    """Replace the flow's buttons with the question for the name."""
    assert draft.role is not None
    assert update.callback_query is not None
    await update.callback_query.answer()
    await update.callback_query.edit_message_text(
        t(
            context,
            who.lang,
            "invite_flow.ask_name",
            role=context.catalog.label(who.lang, f"role.{draft.role.value}"),
            region=_region_name(context, who.lang, draft.region_name),
            limit=NAME_MAX,
        )
    )
    return NAME


async def _announce(
    update: Update, context: BotContext, who: Caller, invite: Invite, region: str | None
) -> None:
    expires = invite.expires_at.astimezone(context.settings.zone)
    await say(
        update,
        context,
        who.lang,
        "invite_flow.created",
        name=invite.name or "",
        link=deep_link(context.bot.username, invite.code),
        role=context.catalog.label(who.lang, f"role.{invite.role.value}"),
        region=_region_name(context, who.lang, region),
        expires=expires.strftime(context.catalog.label(who.lang, "invite_flow.time_format")),
    )


async def _retire(context: BotContext, update: Update, draft: Draft | None) -> None:
    """Take the buttons off the flow's message so they cannot be pressed after it ended."""
    chat = update.effective_chat
    if draft is None or chat is None:
        return
    # BadRequest: already without buttons (the name step) or deleted by the user.
    with suppress(BadRequest):
        await context.bot.edit_message_reply_markup(chat.id, draft.message_id, reply_markup=None)


def deep_link(username: str, code: str) -> str:
    """The ``/start`` deep link that registers whoever opens it."""
    return f"https://t.me/{username}?start={code}"


def _region_name(context: BotContext, lang: str, region: str | None) -> str:
    return region if region is not None else t(context, lang, "start.everywhere")


def _role(value: str) -> Role | None:
    try:
        return Role(value)
    except ValueError:
        return None


def _grid(buttons: list[InlineKeyboardButton]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([buttons[i : i + COLUMNS] for i in range(0, len(buttons), COLUMNS)])


def conversation(settings: Settings, catalog: Catalog) -> ConversationHandler[BotContext]:
    """The /invite flow; ``flow_timeout`` minutes of silence end it with a message."""
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    menu_buttons = filters.Text(list(button_commands(catalog)))
    typed = private & ~filters.COMMAND & ~menu_buttons
    buttons: list[BaseHandler[Update, BotContext, Any]] = [
        CallbackQueryHandler(choose_role, pattern=f"^{ROLE_DATA}"),
        CallbackQueryHandler(choose_region, pattern=f"^{REGION_DATA}"),
        CallbackQueryHandler(turn_page, pattern=f"^{PAGE_DATA}"),
        MessageHandler(typed, use_buttons),
    ]
    return ConversationHandler(
        entry_points=[CommandHandler("invite", start_invite, filters=filters.ChatType.PRIVATE)],
        states={
            ROLE: buttons,
            REGION: buttons,
            NAME: [
                MessageHandler(typed & filters.TEXT, take_name),
                MessageHandler(typed & ~filters.TEXT, name_not_text),
            ],
            ConversationHandler.TIMEOUT: [TypeHandler(Update, timed_out)],
        },
        fallbacks=[CommandHandler("cancel", cancel, filters=filters.ChatType.PRIVATE)],
        allow_reentry=True,
        per_chat=True,
        per_user=True,
        per_message=False,
        conversation_timeout=timedelta(minutes=settings.flow_timeout),
        name="invite",
        persistent=True,
    )
