"""/household (查户): find a household in scope, show its card; add one or change its status.

Search results and card buttons carry only a household id; every press asks the service again,
which checks scope, so a forged id outside scope is answered exactly like a missing one.

Adding a household is a guided flow (a persistent ConversationHandler, so it survives a
restart): village (buttons, only when there are several), head's name, size, status (buttons).
The household is committed before the reply says it is saved; the flow's message is its source,
so a re-delivered press adds nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
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
from bot.errors import InvalidInput, NotFound, ZhucunError
from bot.models import GUARANTEE_ITEMS, Household, HouseholdStatus
from bot.scope import Capability
from bot.services.households import (
    NAME_MAX,
    SIZE_MAX,
    CardSection,
    HouseholdCard,
    HouseholdMatch,
    MatchKind,
    ParamValue,
    clean_head_name,
    decisive,
    parse_size,
)
from handlers.common import Caller, caller, reask, say, t
from handlers.menu import button_commands
from locales import Catalog, Html

QUERY, ADD_VILLAGE, ADD_NAME, ADD_SIZE, ADD_STATUS = range(5)
END = ConversationHandler.END

PREFIX = "hh:"
CARD_DATA = PREFIX + "card:"  # hh:card:<id>
STATUS_DATA = PREFIX + "status:"  # hh:status:<id> → status buttons
SET_DATA = PREFIX + "set:"  # hh:set:<id>:<status>
ADD_DATA = PREFIX + "add"  # start the add flow from a card
VILLAGE_DATA = PREFIX + "av:"  # hh:av:<village code>, inside the add flow
NEW_STATUS_DATA = PREFIX + "as:"  # hh:as:<status>, inside the add flow

ADD_WORDS = ("add", "new", "新增", "添加")
DRAFT_KEY = "household_draft"
COLUMNS = 2


# --- rendering --------------------------------------------------------------------------------


def _when(context: BotContext, lang: str, value: datetime) -> str:
    local = value.astimezone(context.settings.zone)
    return local.strftime(context.catalog.label(lang, "household.time_format"))


def _param(context: BotContext, lang: str, value: ParamValue) -> str | int | float:
    return _when(context, lang, value) if isinstance(value, datetime) else value


LABEL_SUFFIX = "_key"  # a line parameter named ``x_key`` holds a catalog key, shown as ``x``


def render_section(context: BotContext, lang: str, section: CardSection) -> str:
    """One contributed card section: its title, then its lines (or its empty text)."""
    lines = [f"<b>{t(context, lang, section.title_key)}</b>"]
    for line in section.lines:
        params = {
            k.removesuffix(LABEL_SUFFIX): context.catalog.label(lang, str(v))
            if k.endswith(LABEL_SUFFIX)
            else _param(context, lang, v)
            for k, v in line.params.items()
        }
        lines.append(t(context, lang, line.key, **params))
    if not section.lines and section.empty_key:
        lines.append(t(context, lang, section.empty_key))
    return "\n".join(lines)


def render_card(context: BotContext, lang: str, card: HouseholdCard) -> str:
    """The card's text: the household's own fields, then every contributed section in order."""
    catalog = context.catalog
    h = card.household
    none = catalog.label(lang, "household.none")
    separator = catalog.label(lang, "household.separator")
    guarantees = "\n".join(
        t(
            context,
            lang,
            "household.guarantee_line",
            item=catalog.label(lang, f"guarantee.{item}"),
            state=catalog.label(lang, f"guarantee_state.{getattr(h, item).value}"),
        )
        for item in GUARANTEE_ITEMS
    )
    income = (
        catalog.label(lang, "household.income_value", amount=f"{h.income:g}")
        if h.income is not None
        else none
    )
    text = t(
        context,
        lang,
        "household.card",
        name=h.head_name,
        registry_no=h.registry_no,
        village=h.village_name,
        size=h.size,
        status=catalog.label(lang, f"status.{h.status.value}"),
        causes=separator.join(catalog.label(lang, f"cause.{c.value}") for c in h.causes) or none,
        measure=catalog.label(lang, f"measure.{h.measure.value}") if h.measure else none,
        helper=h.helper_name or none,
        income=income,
        phone=card.phone_masked or none,
        guarantees=Html(guarantees),
        notes=h.notes or none,
        last_visit=(
            _when(context, lang, h.last_visit_at)
            if h.last_visit_at
            else catalog.label(lang, "household.never_visited")
        ),
    )
    return "\n\n".join([text, *(render_section(context, lang, s) for s in card.sections)])


def _card_markup(
    context: BotContext, lang: str, card: HouseholdCard
) -> InlineKeyboardMarkup | None:
    if not card.can_correct:
        return None
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    context.catalog.label(lang, "household.change_status"),
                    callback_data=f"{STATUS_DATA}{card.household.id}",
                ),
                InlineKeyboardButton(
                    context.catalog.label(lang, "household.add"), callback_data=ADD_DATA
                ),
            ]
        ]
    )


def _choices(
    context: BotContext, lang: str, households: Sequence[Household]
) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    context.catalog.label(
                        lang,
                        "household.choice",
                        name=h.head_name,
                        village=h.village_name,
                        registry_no=h.registry_no,
                    ),
                    callback_data=f"{CARD_DATA}{h.id}",
                )
            ]
            for h in households
        ]
    )


async def send_card(update: Update, context: BotContext, who: Caller, household_id: int) -> None:
    """Read the card through the service (scope-checked, audited) and send it."""
    card = await context.services.households.card(who.member, household_id)
    await _send(update, context, who, card)


async def _send(update: Update, context: BotContext, who: Caller, card: HouseholdCard) -> None:
    chat = update.effective_chat
    if chat is None:
        return
    await context.bot.send_message(
        chat.id,
        render_card(context, who.lang, card),
        reply_markup=_card_markup(context, who.lang, card),
    )


async def show_matches(
    update: Update, context: BotContext, who: Caller, query: str, matches: Sequence[HouseholdMatch]
) -> None:
    """No match, the one household meant, or buttons to choose among several."""
    if not matches:
        await say(update, context, who.lang, "household.no_match", query=query)
        return
    chosen = decisive(matches)
    if chosen is not None:
        await send_card(update, context, who, chosen.id)
        return
    households = [m.household for m in matches]
    await say(
        update,
        context,
        who.lang,
        "household.choose",
        count=len(households),
        markup=_choices(context, who.lang, households),
    )


# --- /household <query> and the 查户 button ----------------------------------------------------


async def search(update: Update, context: BotContext) -> None:
    """``/household <query>``: the card, buttons to choose, or no match (outside any flow)."""
    who = await caller(update, context)
    if who is None:
        return
    if who.member is None:
        await say(update, context, who.lang, "start.stranger")
        return
    await _search(update, context, who, " ".join(context.args or []))


async def start(update: Update, context: BotContext) -> int:
    """``/household`` alone or the 查户 button asks for a query; ``/household add`` adds."""
    who = await caller(update, context)
    if who is None:
        return END
    if who.member is None:
        await say(update, context, who.lang, "start.stranger")
        return END
    _forget(context)
    if context.args:
        return await _start_add(update, context, who)
    await say(update, context, who.lang, "household.ask_query")
    return QUERY


async def start_button(update: Update, context: BotContext) -> int:
    """The 查户 keyboard button: always asks for a name or number."""
    context.args = []
    return await start(update, context)


async def take_query(update: Update, context: BotContext) -> int:
    who = await caller(update, context)
    message = update.effective_message
    if who is None or message is None:
        return END
    if who.member is None:
        await say(update, context, who.lang, "start.stranger")
        return END
    await _search(update, context, who, message.text or "")
    return END


query_not_text = reask("household.query_not_text")


async def _search(update: Update, context: BotContext, who: Caller, query: str) -> None:
    matches = await context.services.households.matches(who.member, query)
    await show_matches(update, context, who, query, matches)


# --- free text (handlers/router.py) -----------------------------------------------------------

FREE_TEXT_MIN = 2


async def offer(update: Update, context: BotContext, who: Caller, text: str) -> bool:
    """Free text naming a household in scope: its card when unique and exact, else buttons.

    Only strong matches count here (exact, prefix, or a homophone): a chat message that merely
    looks a little like a name must fall through to the next route.
    """
    if who.member is None or len("".join(text.split())) < FREE_TEXT_MIN:
        return False
    matches = await context.services.households.matches(who.member, text)
    strong = [m for m in matches if m.kind is not MatchKind.FUZZY or m.score >= 100]
    if not strong:
        return False
    if len(strong) == 1 and strong[0].kind is MatchKind.EXACT:
        await send_card(update, context, who, strong[0].household.id)
        return True
    households = [m.household for m in strong]
    await say(
        update,
        context,
        who.lang,
        "household.offer",
        count=len(households),
        markup=_choices(context, who.lang, households),
    )
    return True


# --- card buttons (outside any flow) ----------------------------------------------------------


def _id(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) <= 18 else None


async def _press(update: Update, context: BotContext) -> tuple[Caller, str] | None:
    """The caller of a button press, or None when answered already (stranger, no query)."""
    query = update.callback_query
    who = await caller(update, context)
    if query is None or who is None:
        return None
    if who.member is None:
        await query.answer()
        await say(update, context, who.lang, "start.stranger")
        return None
    return who, query.data or ""


async def _not_found(update: Update, context: BotContext, who: Caller) -> None:
    """A missing, out-of-scope or forged target: the same answer for each."""
    if update.callback_query is not None:
        await update.callback_query.answer(t(context, who.lang, "error.not_found"), show_alert=True)


async def card_pressed(update: Update, context: BotContext) -> None:
    pressed = await _press(update, context)
    if pressed is None:
        return
    who, data = pressed
    household_id = _id(data.removeprefix(CARD_DATA))
    try:
        if household_id is None:
            raise NotFound()
        card = await context.services.households.card(who.member, household_id)
    except NotFound:
        await _not_found(update, context, who)
        return
    assert update.callback_query is not None
    await update.callback_query.answer()
    await _send(update, context, who, card)


async def status_pressed(update: Update, context: BotContext) -> None:
    """改状态: buttons for every other status, for those who may correct the household."""
    pressed = await _press(update, context)
    if pressed is None:
        return
    who, data = pressed
    household_id = _id(data.removeprefix(STATUS_DATA))
    try:
        if household_id is None:
            raise NotFound()
        household = await context.services.households.get(
            who.member, household_id, Capability.CORRECT
        )
    except NotFound:
        await _not_found(update, context, who)
        return
    assert update.callback_query is not None
    await update.callback_query.answer()
    buttons = [
        InlineKeyboardButton(
            context.catalog.label(who.lang, f"status.{s.value}"),
            callback_data=f"{SET_DATA}{household.id}:{s.value}",
        )
        for s in HouseholdStatus
        if s is not household.status
    ]
    await say(
        update,
        context,
        who.lang,
        "household.choose_status",
        name=household.head_name,
        status=context.catalog.label(who.lang, f"status.{household.status.value}"),
        markup=_grid(buttons),
    )


async def set_pressed(update: Update, context: BotContext) -> None:
    pressed = await _press(update, context)
    if pressed is None:
        return
    who, data = pressed
    raw_id, _, raw_status = data.removeprefix(SET_DATA).partition(":")
    household_id = _id(raw_id)
    status = _status(raw_status)
    try:
        if household_id is None or status is None:
            raise NotFound()
        before = await context.services.households.get(who.member, household_id, Capability.CORRECT)
        after = await context.services.households.set_status(who.member, household_id, status)
    except NotFound:
        await _not_found(update, context, who)
        return
    assert update.callback_query is not None
    await update.callback_query.answer()
    label = context.catalog.label
    key = "household.status_same" if before.status is after.status else "household.status_changed"
    await update.callback_query.edit_message_text(
        t(
            context,
            who.lang,
            key,
            name=after.head_name,
            before=label(who.lang, f"status.{before.status.value}"),
            after=label(who.lang, f"status.{after.status.value}"),
        )
    )


# --- adding a household -----------------------------------------------------------------------


@dataclass
class Draft:
    """The add flow so far; ``message_id`` is the one message whose buttons belong to it.

    Kept in ``user_data`` as plain values only (:meth:`data`), which the store persists.
    """

    message_id: int | None = None
    village_code: str | None = None
    village_name: str | None = None
    name: str | None = None
    size: int | None = None

    def data(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "village_code": self.village_code,
            "village_name": self.village_name,
            "name": self.name,
            "size": self.size,
        }

    @classmethod
    def from_data(cls, data: object) -> Draft | None:
        if not isinstance(data, dict):
            return None
        try:
            message_id, size = data.get("message_id"), data.get("size")
            return cls(
                message_id=int(message_id) if message_id is not None else None,
                village_code=data.get("village_code"),
                village_name=data.get("village_name"),
                name=data.get("name"),
                size=int(size) if size is not None else None,
            )
        except (TypeError, ValueError):
            return None


def _draft(context: BotContext) -> Draft | None:
    if context.user_data is None:
        return None
    return Draft.from_data(context.user_data.get(DRAFT_KEY))


def _keep(context: BotContext, draft: Draft) -> None:
    if context.user_data is not None:
        context.user_data[DRAFT_KEY] = draft.data()


def _forget(context: BotContext) -> None:
    if context.user_data is not None:
        context.user_data.pop(DRAFT_KEY, None)


async def add_pressed(update: Update, context: BotContext) -> int:
    """新增农户 on a card."""
    pressed = await _press(update, context)
    if pressed is None:
        return END
    who, _ = pressed
    assert update.callback_query is not None
    await update.callback_query.answer()
    _forget(context)
    return await _start_add(update, context, who)


async def _start_add(update: Update, context: BotContext, who: Caller) -> int:
    villages = await context.services.households.villages_for_add(who.member)
    if not villages:
        await say(update, context, who.lang, "household.add_forbidden")
        return END
    draft = Draft()
    if len(villages) == 1:
        draft.village_code, draft.village_name = villages[0].code, villages[0].name
        _keep(context, draft)
        await _ask_name(update, context, who, draft)
        return ADD_NAME
    names = [v.name for v in villages]
    buttons = [
        InlineKeyboardButton(
            v.name if names.count(v.name) == 1 else f"{v.name} ({v.code})",
            callback_data=VILLAGE_DATA + v.code,
        )
        for v in villages
    ]
    sent = await say(
        update, context, who.lang, "household.add_choose_village", markup=_grid(buttons)
    )
    draft.message_id = sent.message_id if sent else None
    _keep(context, draft)
    return ADD_VILLAGE


async def choose_village(update: Update, context: BotContext) -> int | None:
    checked = await _flow_press(update, context)
    if checked is None:
        return None
    who, draft, data = checked
    code = data.removeprefix(VILLAGE_DATA)
    villages = await context.services.households.villages_for_add(who.member)
    village = next((v for v in villages if v.code == code), None)
    if village is None:
        await _not_found(update, context, who)
        return None
    assert update.callback_query is not None
    await update.callback_query.answer()
    draft.village_code, draft.village_name = village.code, village.name
    _keep(context, draft)
    await update.callback_query.edit_message_reply_markup(reply_markup=None)
    await _ask_name(update, context, who, draft)
    return ADD_NAME


async def _ask_name(update: Update, context: BotContext, who: Caller, draft: Draft) -> None:
    await say(
        update,
        context,
        who.lang,
        "household.add_ask_name",
        village=draft.village_name or "",
        limit=NAME_MAX,
    )


async def take_name(update: Update, context: BotContext) -> int | None:
    checked = await _flow_text(update, context)
    if checked is None:
        return END
    who, draft, text = checked
    try:
        draft.name = clean_head_name(text)
    except InvalidInput as error:
        await _retry(update, context, who, error)
        return None
    _keep(context, draft)
    await say(update, context, who.lang, "household.add_ask_size", name=draft.name, limit=SIZE_MAX)
    return ADD_SIZE


async def take_size(update: Update, context: BotContext) -> int | None:
    checked = await _flow_text(update, context)
    if checked is None:
        return END
    who, draft, text = checked
    try:
        draft.size = parse_size(text)
    except InvalidInput as error:
        await _retry(update, context, who, error)
        return None
    buttons = [
        InlineKeyboardButton(
            context.catalog.label(who.lang, f"status.{s.value}"),
            callback_data=NEW_STATUS_DATA + s.value,
        )
        for s in HouseholdStatus
    ]
    sent = await say(
        update,
        context,
        who.lang,
        "household.add_choose_status",
        name=draft.name or "",
        size=draft.size,
        markup=_grid(buttons),
    )
    draft.message_id = sent.message_id if sent else None
    _keep(context, draft)
    return ADD_STATUS


async def choose_new_status(update: Update, context: BotContext) -> int | None:
    checked = await _flow_press(update, context)
    if checked is None:
        return None
    who, draft, data = checked
    status = _status(data.removeprefix(NEW_STATUS_DATA))
    chat = update.effective_chat
    if status is None or draft.village_code is None or draft.name is None or draft.size is None:
        await _not_found(update, context, who)
        return None
    assert update.callback_query is not None and chat is not None and draft.message_id
    try:
        household = await context.services.households.add(
            who.member,
            village_code=draft.village_code,
            head_name=draft.name,
            size=draft.size,
            status=status,
            source=(chat.id, draft.message_id),
        )
    except ZhucunError as error:  # scope changed since the flow began
        _forget(context)
        await update.callback_query.answer()
        await say(update, context, who.lang, error.key, **error.params)
        return END
    _forget(context)
    await update.callback_query.answer()
    await update.callback_query.edit_message_text(
        t(
            context,
            who.lang,
            "household.added",
            name=household.head_name,
            size=household.size,
            status=context.catalog.label(who.lang, f"status.{household.status.value}"),
            village=household.village_name,
            registry_no=household.registry_no,
        )
    )
    return END


not_text = reask("household.add_not_text")


use_buttons = reask("household.use_buttons")


async def cancel(update: Update, context: BotContext) -> int:
    who = await caller(update, context)
    adding = _draft(context) is not None
    _forget(context)
    if who is not None:
        key = "household.cancelled" if adding else "household.query_cancelled"
        await say(update, context, who.lang, key)
    return END


async def timed_out(update: Update, context: BotContext) -> int:
    who = await caller(update, context)
    _forget(context)
    if who is not None:
        await say(
            update, context, who.lang, "household.timed_out", minutes=context.settings.flow_timeout
        )
    return END


async def _flow_press(update: Update, context: BotContext) -> tuple[Caller, Draft, str] | None:
    """A press on the add flow's current message by a still-active member."""
    pressed = await _press(update, context)
    if pressed is None:
        _forget(context)
        return None
    who, data = pressed
    draft = _draft(context)
    query = update.callback_query
    assert query is not None
    message = query.message
    if draft is None or message is None or message.message_id != draft.message_id:
        await query.answer(t(context, who.lang, "fallback.stale_button"), show_alert=True)
        return None
    return who, draft, data


async def _flow_text(update: Update, context: BotContext) -> tuple[Caller, Draft, str] | None:
    """A typed answer in the add flow; None (flow over) for strangers or a lost draft."""
    who = await caller(update, context)
    message = update.effective_message
    draft = _draft(context)
    if who is None or message is None:
        return None
    if who.member is None or draft is None:
        _forget(context)
        key = "start.stranger" if who.member is None else "fallback.stale_button"
        await say(update, context, who.lang, key)
        return None
    return who, draft, message.text or ""


async def _retry(update: Update, context: BotContext, who: Caller, error: InvalidInput) -> None:
    reason = t(context, who.lang, error.key, **error.params)
    await say(update, context, who.lang, "household.retry", reason=Html(reason))


# --- helpers ----------------------------------------------------------------------------------


def _status(value: str) -> HouseholdStatus | None:
    try:
        return HouseholdStatus(value)
    except ValueError:
        return None


def _grid(buttons: list[InlineKeyboardButton]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([buttons[i : i + COLUMNS] for i in range(0, len(buttons), COLUMNS)])


_ADD = filters.Regex(
    re.compile(r"^/household(@\w+)?\s+(" + "|".join(ADD_WORDS) + r")\s*$", re.IGNORECASE)
)


def conversation(settings: Settings, catalog: Catalog) -> ConversationHandler[BotContext]:
    """``/household``, the 查户 button and 新增农户; ``flow_timeout`` minutes end a flow."""
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    routes = button_commands(catalog)
    menu_buttons = filters.Text(list(routes))
    own_button = filters.Text(
        [label for label, command in routes.items() if command == "household"]
    )
    typed = private & ~filters.COMMAND & ~menu_buttons
    buttons_only: list[BaseHandler[Update, BotContext, Any]] = [MessageHandler(typed, use_buttons)]
    return ConversationHandler(
        entry_points=[
            # Only `/household` alone and `/household add` open a flow; a query is answered by
            # `search` in HANDLERS at once.
            CommandHandler("household", start, filters=filters.ChatType.PRIVATE, has_args=False),
            CommandHandler("household", start, filters=filters.ChatType.PRIVATE & _ADD),
            MessageHandler(private & own_button, start_button),
            CallbackQueryHandler(add_pressed, pattern=f"^{ADD_DATA}$"),
        ],
        states={
            QUERY: [
                MessageHandler(typed & filters.TEXT, take_query),
                MessageHandler(typed & ~filters.TEXT, query_not_text),
            ],
            ADD_VILLAGE: [
                CallbackQueryHandler(choose_village, pattern=f"^{VILLAGE_DATA}"),
                *buttons_only,
            ],
            ADD_NAME: [
                MessageHandler(typed & filters.TEXT, take_name),
                MessageHandler(typed & ~filters.TEXT, not_text),
            ],
            ADD_SIZE: [
                MessageHandler(typed & filters.TEXT, take_size),
                MessageHandler(typed & ~filters.TEXT, not_text),
            ],
            ADD_STATUS: [
                CallbackQueryHandler(choose_new_status, pattern=f"^{NEW_STATUS_DATA}"),
                *buttons_only,
            ],
            ConversationHandler.TIMEOUT: [TypeHandler(Update, timed_out)],
        },
        fallbacks=[CommandHandler("cancel", cancel, filters=filters.ChatType.PRIVATE)],
        allow_reentry=True,
        per_chat=True,
        per_user=True,
        per_message=False,
        conversation_timeout=timedelta(minutes=settings.flow_timeout),
        name="household",
        persistent=True,
    )


HANDLERS = [
    CommandHandler("household", search, filters=filters.ChatType.PRIVATE, has_args=True),
    CallbackQueryHandler(card_pressed, pattern=f"^{CARD_DATA}"),
    CallbackQueryHandler(status_pressed, pattern=f"^{STATUS_DATA}"),
    CallbackQueryHandler(set_pressed, pattern=f"^{SET_DATA}"),
]
