"""Every user-facing string lives in the catalogs, in both languages, with the same placeholders."""

from __future__ import annotations

import ast
import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

import bot.context
from bot import errors
from bot.models import Role
from bot.sample import PERSONAS, SAMPLE_ACTOR
from handlers.menu import ACTIONS, STRANGER_COMMANDS
from locales import LANGUAGES, Catalog, load_catalog, placeholders, read_language
from tests.harness import Harness, persona, running

ROOT = Path(__file__).resolve().parent.parent
CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")
KEY_SHAPE = re.compile(r"[a-z_]+(?:\.[a-z_]+)+")
# Calls whose first positional argument (after update/context/lang where present) is a key.
KEY_FUNCTIONS = {"say": 3, "t": 2, "text": 1, "label": 1, "raw": 1}


def test_every_key_exists_in_every_language_with_the_same_placeholders() -> None:
    catalogs = {lang: read_language(lang) for lang in LANGUAGES}
    zh, en = catalogs["zh"], catalogs["en"]
    assert set(zh) - set(en) == set(), "missing in en.toml"
    assert set(en) - set(zh) == set(), "missing in zh.toml"
    for key in zh:
        assert placeholders(zh[key]) == placeholders(en[key]), key
        assert zh[key].strip() and en[key].strip(), key


def test_english_catalog_has_no_chinese() -> None:
    # lang.name is each language's own name, shown as a button in the other language too.
    found = {
        key: value
        for key, value in read_language("en").items()
        if CJK.search(value) and key != "lang.name"
    }
    assert found == {}


def test_chinese_catalog_is_chinese() -> None:
    """Any zh message with words in it has Chinese in it (a slip of English stays visible)."""
    untranslated = [
        key
        for key, value in read_language("zh").items()
        if re.search(r"[A-Za-z]{3,}", re.sub(r"\{\w+\}|/\w+|<[^>]+>", "", value))
        and not CJK.search(value)
    ]
    assert untranslated == []


def _python_files(*folders: str) -> Iterator[Path]:
    for folder in folders:
        yield from sorted((ROOT / folder).rglob("*.py"))


def _literal_keys(path: Path) -> set[str]:
    """Dotted string literals handed to say/t/text/label/raw, or to a domain error."""
    keys: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    error_names = {name for name in dir(errors) if name[0].isupper()}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        candidates: list[ast.expr] = []
        if name in KEY_FUNCTIONS:
            candidates = node.args[KEY_FUNCTIONS[name] : KEY_FUNCTIONS[name] + 1]
        elif name in error_names:
            candidates = node.args[:1]
        for arg in candidates:
            if (
                isinstance(arg, ast.Constant)
                and isinstance(arg.value, str)
                and KEY_SHAPE.fullmatch(arg.value)
            ):
                keys.add(arg.value)
    return keys


def referenced_keys() -> dict[str, set[str]]:
    """Every key the code can ask for, by where it is asked."""
    found: dict[str, set[str]] = {}
    for path in _python_files("handlers", "bot"):
        for key in _literal_keys(path):
            found.setdefault(key, set()).add(str(path.relative_to(ROOT)))
    dynamic = (
        {a.help_key for a in ACTIONS}
        | {a.button_key for a in ACTIONS if a.button}
        | {f"command.{a.command}" for a in ACTIONS}
        | {f"command.{c}" for c in STRANGER_COMMANDS}
        | {f"role.{r.value}" for r in Role}
        | {
            cls.default_key
            for cls in vars(errors).values()
            if isinstance(cls, type) and issubclass(cls, errors.ZhucunError)
        }
    )
    for key in dynamic:
        found.setdefault(key, set()).add("(computed)")
    return found


def test_the_key_scan_finds_what_handlers_use() -> None:
    keys = referenced_keys()
    # Sanity: the scan sees literal keys in handlers and services alike.
    assert {"me.card", "fallback.hint", "start.welcome", "lang.switched"} <= set(keys)
    assert {"invite.bad_name", "start.code_unknown"} <= set(keys)


def test_every_referenced_key_exists() -> None:
    catalog = load_catalog()
    for lang in LANGUAGES:
        missing = {k: v for k, v in referenced_keys().items() if k not in catalog.keys(lang)}
        assert missing == {}, lang


# --- the pseudo-locale: nothing reaches a user without coming from the catalog ----------------

MARKER = re.compile(r"⟦[a-z_.]+⟧")


def pseudo_catalog() -> Catalog:
    """Each message becomes ``⟦key⟧`` followed by its placeholders, separated by spaces."""
    real = load_catalog()
    messages = {
        lang: {
            key: " ".join(
                [f"⟦{key}⟧", *(f"{{{p}}}" for p in sorted(placeholders(real.raw(lang, key))))]
            )
            for key in real.keys(lang)
        }
        for lang in real.languages
    }
    return Catalog(messages)


def _button_labels(markup: Any) -> list[str]:
    if markup is None:
        return []
    if isinstance(markup, str):
        markup = json.loads(markup)
    rows = markup.get("keyboard") or markup.get("inline_keyboard") or []
    return [str(b["text"]) if isinstance(b, dict) else str(b) for row in rows for b in row]


def outgoing_strings(calls: list[Any]) -> list[tuple[str, str]]:
    """(method, string) for every text, caption, alert, command and button the bot sent."""
    found: list[tuple[str, str]] = []
    for call in calls:
        params = call.params
        for field in ("text", "caption"):
            if field in params:
                found.append((call.method, str(params[field])))
        for label in _button_labels(params.get("reply_markup")):
            found.append((call.method, label))
        commands = params.get("commands")
        if isinstance(commands, str):
            commands = json.loads(commands)
        for command in commands or []:
            found.append((call.method, str(command["description"])))
    return found


def leftover(text: str, user_values: set[str]) -> str:
    """What remains once catalog markers and user values are taken out."""
    text = MARKER.sub(" ", text)
    for value in sorted(user_values, key=len, reverse=True):
        text = text.replace(html.escape(value, quote=False), " ").replace(value, " ")
    # Digits are data (counts, distances, times) filled into placeholders, never catalog text.
    return re.sub(r"[\s\W\d]", "", text)


LEGACY = "legacy keyboard"
NEWCOMER = "赵新来"


@pytest.fixture
async def pseudo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    # BotData reads its catalog when the application is built; handlers route keyboard presses
    # by the labels of that same catalog, so swap it in before building.
    monkeypatch.setattr(bot.context, "load_catalog", pseudo_catalog)
    async with running(tmp_path) as harness:
        yield harness


async def test_pseudo_locale_session_sends_only_catalog_text(pseudo: Harness) -> None:
    h = pseudo
    assert isinstance(h.app.bot_data.catalog, Catalog)
    assert h.app.bot_data.catalog.raw("zh", "me.card").startswith("⟦me.card⟧")
    api = h.api
    member = persona("member")
    newcomer = 2001
    invite = await h.services.invites.create(
        role=Role.MEMBER, region_code="511902101001", name=NEWCOMER, operator=SAMPLE_ACTOR
    )

    # A stranger: no code, a bad code, a good code.
    await h.command(newcomer, "start")
    await h.command(newcomer, "start", "no-such-code")
    await h.text(newcomer, "你好")
    await h.command(newcomer, "me")
    await h.command(newcomer, "help")
    await h.command(newcomer, "start", invite.code)
    await h.command(newcomer, "start")
    # A member going through the everyday commands.
    await h.command(member, "me")
    await h.command(member, "help")
    await h.command(member, "lang")
    await h.deliver(
        api.press(member.telegram_id, api.last_message_to(member.telegram_id), "lang:en")
    )
    await h.command(member, "me")
    await h.command(member, "lang", "xx")
    await h.command(member, "lang", "zh")
    await h.text(member, h.app.bot_data.catalog.label("zh", "menu.me"))  # the keyboard button
    await h.command(member, "nosuchcommand")
    await h.command(member, "cancel")
    await h.text(member, "今天天气不错")
    await h.deliver(api.sticker(member.telegram_id))
    # Leaders see more actions.
    for key in ("secretary", "township", "admin"):
        await h.command(persona(key), "help")
        await h.command(persona(key), "me")
    # Group chat: a command addressed to the bot, and chatter.
    await h.deliver(
        api.command(member.telegram_id, "help", chat_id=-100, chat_type="group", addressed=True)
    )
    await h.deliver(api.group_message(member.telegram_id, -100, "大家好"))
    # A button from a keyboard the bot no longer knows.
    before = len(api.calls)
    await h.app.bot.send_message(
        member.telegram_id,
        LEGACY,
        reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton(LEGACY, callback_data="old:1")]]),
    )
    await h.deliver(api.press(member.telegram_id, api.last_message_to(member.telegram_id), "old:1"))
    assert any(c.method == "answerCallbackQuery" for c in api.calls[before:])

    user_values = {p.name for p in PERSONAS} | {NEWCOMER, str(api.me["username"])}
    user_values |= {"石桥村", "桂花村", "柏林村", "青龙村", "清江镇", "水宁寺镇", "巴州区"}
    strings = [(method, text) for method, text in outgoing_strings(api.calls) if LEGACY not in text]
    assert len(strings) > 40
    hard_coded = [(m, s) for m, s in strings if leftover(s, user_values)]
    assert hard_coded == []
    unmarked = [(m, s) for m, s in strings if not MARKER.search(s)]
    assert unmarked == []


async def test_user_values_are_html_escaped(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        invite = await h.services.invites.create(
            role=Role.MEMBER, region_code="511902101001", name="<b>&x", operator=SAMPLE_ACTOR
        )
        await h.command(3001, "start", invite.code)
        replies = await h.command(3001, "me")
        sent = [c for c in h.api.calls_to("sendMessage") if c.params["chat_id"] == 3001]
        assert sent[-1].ok
        assert "&lt;b&gt;&amp;x" in str(sent[-1].params["text"])
        assert "<b>&x" not in str(sent[-1].params["text"])
        # What the member sees is the name as typed, not bold text.
        assert "<b>&x" in replies[0]
        welcome = str(sent[0].params["text"])
        assert "&lt;b&gt;&amp;x" in welcome
