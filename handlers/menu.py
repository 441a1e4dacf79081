"""The actions a member sees: the persistent keyboard, /help and the command menu.

One table drives all three, so a feature appears in each exactly when it exists and the member's
roles allow it. A later feature adds one row here and its handler module.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from telegram import BotCommand, KeyboardButton, ReplyKeyboardMarkup

from bot import scope
from bot.models import Member
from locales import Catalog

KEYBOARD_COLUMNS = 3


@dataclass(frozen=True)
class Action:
    """A command; ``button`` is set when it also sits on the reply keyboard."""

    command: str
    visible: Callable[[Member], bool]
    button: bool = False

    @property
    def help_key(self) -> str:
        return f"help.{self.command}"

    @property
    def button_key(self) -> str:
        return f"menu.{self.command}"


def _everyone(_: Member) -> bool:
    return True


def _inviters(member: Member) -> bool:
    return bool(scope.invitable_roles(member))


def _village_team(member: Member) -> bool:
    return scope.has_capability(member, scope.Capability.ENTER)


def _correctors(member: Member) -> bool:
    return scope.has_capability(member, scope.Capability.CORRECT)


def _reviewers(member: Member) -> bool:
    return scope.has_capability(member, scope.Capability.REVIEW)


def _team_listers(member: Member) -> bool:
    return scope.has_capability(member, scope.Capability.LIST_TEAM)


def _leaders(member: Member) -> bool:
    return scope.has_capability(member, scope.Capability.REVIEW)


# The keyboard keeps design.md's order: 签到 · 走访 · 报问题 · 查户 · 问政策 · 今日.
ACTIONS: tuple[Action, ...] = (
    Action("checkin", _village_team, button=True),
    Action("visit", _village_team, button=True),
    Action("problem", _village_team, button=True),
    Action("household", _everyone, button=True),
    Action("policy", _everyone, button=True),
    Action("today", _village_team, button=True),
    Action("me", _everyone, button=True),
    Action("help", _everyone, button=True),
    Action("lang", _everyone),
    Action("away", _village_team),
    Action("fix", _correctors),
    Action("invite", _inviters),
    Action("review", _reviewers),
    Action("members", _team_listers),
    Action("summary", _leaders),
    Action("export", _leaders),
    Action("cancel", _everyone),
)

STRANGER_COMMANDS = ("start", "help")


def actions_for(member: Member) -> list[Action]:
    return [a for a in ACTIONS if a.visible(member)]


def keyboard(catalog: Catalog, lang: str, member: Member) -> ReplyKeyboardMarkup:
    return _keyboard(catalog, lang, tuple(a for a in actions_for(member) if a.button))


@functools.lru_cache(maxsize=64)
def _keyboard(catalog: Catalog, lang: str, actions: tuple[Action, ...]) -> ReplyKeyboardMarkup:
    """Built once per language and set of buttons: it goes with nearly every reply, and
    python-telegram-bot's objects are immutable, so one instance serves every chat."""
    buttons = [KeyboardButton(catalog.label(lang, a.button_key)) for a in actions]
    rows = [buttons[i : i + KEYBOARD_COLUMNS] for i in range(0, len(buttons), KEYBOARD_COLUMNS)]
    return ReplyKeyboardMarkup(rows, resize_keyboard=True, is_persistent=True)


def member_commands(catalog: Catalog, lang: str, member: Member) -> list[BotCommand]:
    return [
        BotCommand(a.command, catalog.label(lang, f"command.{a.command}"))
        for a in actions_for(member)
    ]


def stranger_commands(catalog: Catalog, lang: str) -> list[BotCommand]:
    return [BotCommand(c, catalog.label(lang, f"command.{c}")) for c in STRANGER_COMMANDS]


def button_commands(catalog: Catalog) -> dict[str, str]:
    """Every keyboard label in every language → its command, for routing button presses."""
    return {
        catalog.label(lang, a.button_key): a.command
        for lang in catalog.languages
        for a in ACTIONS
        if a.button
    }
