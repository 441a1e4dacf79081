"""Message catalogs: one TOML file per language, flattened to dotted keys.

Services return data; handlers pick a key and render it here. Parameters are HTML-escaped by
:meth:`Catalog.text` because every message goes out in HTML parse mode, while button labels
(:meth:`Catalog.label`) are shown verbatim by Telegram and must not be escaped.
"""

from __future__ import annotations

import html
import string
import tomllib
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from typing import Any

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = str(value)
    return flat


def placeholders(template: str) -> set[str]:
    """The named fields a template expects, for the catalog-consistency test."""
    return {field for _, field, _, _ in string.Formatter().parse(template) if field}


class Html(str):
    """Text that is already HTML (such as lines rendered from the catalog): not escaped again."""

    __slots__ = ()


class Catalog:
    """All languages' messages; unknown languages fall back to the default one."""

    def __init__(self, messages: Mapping[str, Mapping[str, str]], default: str = DEFAULT_LANGUAGE):
        self._messages = {lang: dict(keys) for lang, keys in messages.items()}
        self.default = default

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(self._messages)

    def keys(self, lang: str) -> set[str]:
        return set(self._messages[lang])

    def raw(self, lang: str, key: str) -> str:
        table = self._messages.get(lang) or self._messages[self.default]
        return table[key]

    def text(self, lang: str, key: str, **params: Any) -> str:
        """A message for HTML parse mode: parameters (user values) are escaped."""
        escaped = {
            name: value if isinstance(value, Html) else html.escape(str(value), quote=False)
            for name, value in params.items()
        }
        return self.raw(lang, key).format(**escaped)

    def label(self, lang: str, key: str, **params: Any) -> str:
        """A button label or other plain text: shown verbatim, so nothing is escaped."""
        return self.raw(lang, key).format(**{name: str(v) for name, v in params.items()})

    def section(self, lang: str, prefix: str) -> dict[str, str]:
        """``{code: label}`` for one section, e.g. ``section("zh", "status")``."""
        table = self._messages.get(lang) or self._messages[self.default]
        head = prefix + "."
        return {key[len(head) :]: value for key, value in table.items() if key.startswith(head)}


def read_language(lang: str) -> dict[str, str]:
    data = resources.files("locales").joinpath(f"{lang}.toml").read_text(encoding="utf-8")
    return _flatten(tomllib.loads(data))


@lru_cache(maxsize=1)
def load_catalog() -> Catalog:
    return Catalog({lang: read_language(lang) for lang in LANGUAGES})


def language_for(preferred: str | None, telegram_code: str | None, default: str) -> str:
    """A chosen language wins; otherwise Telegram's (zh*/en*); otherwise the configured default."""
    if preferred in LANGUAGES:
        return preferred
    code = (telegram_code or "").lower()
    for lang in LANGUAGES:
        if code.startswith(lang):
            return lang
    return default if default in LANGUAGES else DEFAULT_LANGUAGE
