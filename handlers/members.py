"""/members: the team in scope with last check-in and days this month; township and up manage it.

One message, edited in place: a page of the team (numbered buttons for those who manage), a
member's card with "deactivate" (confirmed first) and "move" per village membership (a page of
villages in scope), and the open invites with "revoke". Callback data (``mb:<verb>:<ids>``) is
only a hint: the team service re-checks scope and state on every press. A deactivated member's
chat loses its command menu at once (``deleteMyCommands`` for that chat).
"""

from __future__ import annotations

import logging
from contextlib import suppress

from telegram import BotCommandScopeChat, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import TelegramError
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from bot.context import BotContext
from bot.errors import NotFound, ZhucunError
from bot.models import Membership
from bot.services.review import Outcome
from bot.services.team import TeamRow
from handlers.common import Caller, caller, say, t
from handlers.review import button, deliver, edit, nav, notice_lang, toast
from locales import Html

log = logging.getLogger(__name__)

PREFIX = "mb:"
LIST = PREFIX + "l:"  # mb:l:<page>
MEMBER = PREFIX + "m:"  # mb:m:<member>
DEACTIVATE = PREFIX + "d:"  # mb:d:<member>: asks to confirm
CONFIRM = PREFIX + "dy:"  # mb:dy:<member>
MOVE = PREFIX + "mv:"  # mb:mv:<membership>:<page>: villages to move to
MOVE_TO = PREFIX + "mt:"  # mb:mt:<membership>:<village code>
INVITES = PREFIX + "i"
REVOKE = PREFIX + "r:"  # mb:r:<invite code>
DELIVERY_KIND = "team"


def _roles(context: BotContext, lang: str, memberships: tuple[Membership, ...]) -> str:
    return _label(context, lang, "members.separator").join(
        _label(
            context,
            lang,
            "members.role_at",
            role=_role(context, lang, m),
            region=_where(context, lang, m),
        )
        for m in memberships
    )


def _label(context: BotContext, lang: str, key: str, **params: object) -> str:
    return context.catalog.label(lang, key, **params)


def _role(context: BotContext, lang: str, m: Membership) -> str:
    return _label(context, lang, f"role.{m.role.value}")


def _where(context: BotContext, lang: str, m: Membership) -> str:
    return m.region_name or t(context, lang, "start.everywhere")


def _line(context: BotContext, lang: str, index: int, row: TeamRow) -> str:
    roles = _roles(context, lang, row.memberships)
    if row.residency is None:
        return t(
            context, lang, "members.line_leader", index=index, name=row.member.name, roles=roles
        )
    last = _label(context, lang, "members.never")
    if row.last_checkin is not None:
        local = row.last_checkin.astimezone(context.settings.zone)
        last = _label(
            context,
            lang,
            "members.when",
            month=local.month,
            day=local.day,
            time=local.strftime("%H:%M"),
        )
    return t(
        context,
        lang,
        "members.line",
        index=index,
        name=row.member.name,
        roles=roles,
        last=last,
        days=row.residency.counted,
        required=row.residency.required,
    )


# --- /members --------------------------------------------------------------------------------


async def members(update: Update, context: BotContext) -> None:
    who = await caller(update, context)
    if who is None:
        return
    if who.member is None:
        await say(update, context, who.lang, "start.stranger")
        return
    try:
        text, markup = await _page(context, who, 0)
    except ZhucunError as error:
        key = "members.forbidden" if error.key == "error.forbidden" else error.key
        await say(update, context, who.lang, key, **error.params)
        return
    await say(update, context, who.lang, "review.raw", markup=markup, text=Html(text))


async def _page(context: BotContext, who: Caller, page: int) -> tuple[str, InlineKeyboardMarkup]:
    team = await context.services.team.team(who.member, page)
    lang, shown = who.lang, team.page
    title = t(
        context, lang, "members.title", page=shown.page + 1, pages=shown.pages, total=shown.total
    )
    lines = [_line(context, lang, i, row) for i, row in enumerate(shown.items, 1)]
    body = "\n".join(lines) if lines else t(context, lang, "members.empty")
    rows: list[list[InlineKeyboardButton]] = []
    if team.can_manage:
        buttons = [
            button(f"{i}. {row.member.name}", f"{MEMBER}{row.member.id}")
            for i, row in enumerate(shown.items, 1)
        ]
        rows += [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    paging = nav(context, lang, LIST, shown.page, shown.pages)
    if paging:
        rows.append(paging)
    if team.can_manage:
        rows.append([button(_label(context, lang, "members.btn_invites"), INVITES)])
    return f"{title}\n\n{body}", InlineKeyboardMarkup(rows)


# --- presses ---------------------------------------------------------------------------------


async def pressed(update: Update, context: BotContext) -> None:
    query = update.callback_query
    who = await caller(update, context)
    if query is None or who is None:
        return
    if who.member is None:
        await toast(update)
        await say(update, context, who.lang, "start.stranger")
        return
    try:
        await _dispatch(update, context, who, query.data or "")
    except ZhucunError as error:
        await toast(update, t(context, who.lang, error.key, **error.params), alert=True)


def _id(value: str) -> int:
    if not value.isdigit() or len(value) > 18:
        raise NotFound()
    return int(value)


async def _dispatch(update: Update, context: BotContext, who: Caller, data: str) -> None:
    team, lang = context.services.team, who.lang
    if data.startswith(LIST):
        text, markup = await _page(context, who, _id(data.removeprefix(LIST)))
        await toast(update)
        await edit(update, text, markup)
    elif data.startswith(MEMBER):
        await _show_member(update, context, who, _id(data.removeprefix(MEMBER)))
    elif data.startswith(DEACTIVATE):
        member_id = _id(data.removeprefix(DEACTIVATE))
        shown = await team.member(who.member, member_id)
        if not shown.can_deactivate:
            raise NotFound()
        await toast(update)
        rows = [
            [button(_label(context, lang, "members.btn_confirm"), f"{CONFIRM}{member_id}")],
            [button(_label(context, lang, "review.back"), f"{MEMBER}{member_id}")],
        ]
        await edit(
            update,
            t(context, lang, "members.confirm_deactivate", name=shown.row.member.name),
            InlineKeyboardMarkup(rows),
        )
    elif data.startswith(CONFIRM):
        await _deactivate(update, context, who, _id(data.removeprefix(CONFIRM)))
    elif data.startswith(MOVE):
        membership_id, _, number = data.removeprefix(MOVE).partition(":")
        await _show_villages(update, context, who, _id(membership_id), _id(number))
    elif data.startswith(MOVE_TO):
        membership_id, _, code = data.removeprefix(MOVE_TO).partition(":")
        if not code.isdigit() or len(code) > 20:
            raise NotFound()
        await _move(update, context, who, _id(membership_id), code)
    elif data == INVITES:
        await toast(update)
        await _show_invites(update, context, who)
    elif data.startswith(REVOKE):
        await _revoke(update, context, who, data.removeprefix(REVOKE))
    else:
        raise NotFound()


async def _show_member(update: Update, context: BotContext, who: Caller, member_id: int) -> None:
    shown = await context.services.team.member(who.member, member_id)
    lang, row = who.lang, shown.row
    await toast(update)
    rows: list[list[InlineKeyboardButton]] = []
    for m in shown.movable:
        rows.append(
            [
                button(
                    _label(
                        context,
                        lang,
                        "members.btn_move",
                        role=_role(context, lang, m),
                        region=_where(context, lang, m),
                    ),
                    f"{MOVE}{m.id}:0",
                )
            ]
        )
    if shown.can_deactivate:
        rows.append(
            [button(_label(context, lang, "members.btn_deactivate"), f"{DEACTIVATE}{member_id}")]
        )
    rows.append([button(_label(context, lang, "review.back"), f"{LIST}0")])
    await edit(update, _line(context, lang, 1, row).removeprefix("1. "), InlineKeyboardMarkup(rows))


async def _deactivate(update: Update, context: BotContext, who: Caller, member_id: int) -> None:
    assert who.member is not None
    result = await context.services.team.deactivate(who.member, member_id)
    name = result.member.name
    key = "members.deactivated" if result.outcome is Outcome.DONE else "members.already_inactive"
    await toast(update, _label(context, who.lang, key, name=name), alert=True)
    if result.outcome is Outcome.DONE:
        chat_id = result.member.telegram_user_id
        # They are a stranger now: their chat's own command menu goes at once.
        with suppress(TelegramError):
            await context.bot.delete_my_commands(scope=BotCommandScopeChat(chat_id))
    for notice in result.notices:
        lang = notice_lang(context, notice)
        text = t(context, lang, "members.tell_deactivated", actor=who.member.name)
        await deliver(context, notice, text, kind=DELIVERY_KIND)
    text, markup = await _page(context, who, 0)
    await edit(update, text, markup)


async def _show_villages(
    update: Update, context: BotContext, who: Caller, membership_id: int, page: int
) -> None:
    membership, villages = await context.services.team.villages_for_move(
        who.member, membership_id, page
    )
    lang = who.lang
    await toast(update)
    buttons = [button(v.name, f"{MOVE_TO}{membership_id}:{v.code}") for v in villages.items]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    paging = nav(context, lang, f"{MOVE}{membership_id}:", villages.page, villages.pages)
    if paging:
        rows.append(paging)
    rows.append([button(_label(context, lang, "review.back"), f"{MEMBER}{membership.member_id}")])
    member = await context.services.team.member(who.member, membership.member_id)
    await edit(
        update,
        t(
            context,
            lang,
            "members.choose_village",
            name=member.row.member.name,
            role=_role(context, lang, membership),
            region=_where(context, lang, membership),
        ),
        InlineKeyboardMarkup(rows),
    )


async def _move(
    update: Update, context: BotContext, who: Caller, membership_id: int, code: str
) -> None:
    assert who.member is not None
    before = await context.services.team.villages_for_move(who.member, membership_id)
    old = _where(context, who.lang, before[0])
    result = await context.services.team.move(who.member, membership_id, code)
    if result.outcome is Outcome.DONE:
        key = "members.moved"
    elif result.outcome is Outcome.ALREADY:
        key = "members.already_moved"
    else:
        key = "members.move_stale"
    name, village = result.member.name, result.village.name
    await toast(update, _label(context, who.lang, key, name=name, village=village), alert=True)
    for notice in result.notices:
        lang = notice_lang(context, notice)
        text = t(
            context,
            lang,
            "members.tell_moved",
            actor=who.member.name,
            role=_role(context, lang, result.membership),
            old=old,
            village=village,
        )
        await deliver(context, notice, text, kind=DELIVERY_KIND)
    await _show_member(update, context, who, result.member.id)


async def _show_invites(update: Update, context: BotContext, who: Caller) -> None:
    invites = await context.services.team.invites(who.member)
    lang = who.lang
    lines = []
    buttons = []
    for index, invite in enumerate(invites, 1):
        expires = invite.expires_at.astimezone(context.settings.zone)
        lines.append(
            t(
                context,
                lang,
                "members.invite_line",
                index=index,
                name=invite.name or _label(context, lang, "members.no_name"),
                role=_label(context, lang, f"role.{invite.role.value}"),
                expires=_label(context, lang, "visit.day", month=expires.month, day=expires.day),
            )
        )
        buttons.append(
            button(_label(context, lang, "members.btn_revoke", index=index), REVOKE + invite.code)
        )
    rows = [buttons[i : i + 3] for i in range(0, len(buttons), 3)]
    rows.append([button(_label(context, lang, "review.back"), f"{LIST}0")])
    body = "\n".join(lines) if lines else t(context, lang, "members.invites_empty")
    title = t(context, lang, "members.invites_title", total=len(invites))
    await edit(update, f"{title}\n\n{body}", InlineKeyboardMarkup(rows))


async def _revoke(update: Update, context: BotContext, who: Caller, code: str) -> None:
    if not code or len(code) > 64:
        raise NotFound()
    result = await context.services.team.revoke(who.member, code)
    key = {
        Outcome.DONE: "members.revoked",
        Outcome.ALREADY: "members.already_revoked",
        Outcome.CLOSED: "members.invite_used",
    }[result.outcome]
    name = result.invite.name or _label(context, who.lang, "members.no_name")
    await toast(update, _label(context, who.lang, key, name=name), alert=True)
    await _show_invites(update, context, who)


HANDLERS = [
    CommandHandler("members", members, filters=filters.ChatType.PRIVATE),
    CallbackQueryHandler(pressed, pattern=f"^{PREFIX}"),
]
