"""A head's search keys (``head_pinyin``, ``head_initials``) at import speed.

``storage.households.key_columns`` asks pypinyin for the whole name every time, and an import
of a county derives keys for a hundred thousand distinct names (35–65 µs each; a quarter of the
import). :class:`SearchKeys` gives exactly the same columns from per-word pieces instead.

Why that is exact: ``lazy_pinyin(text)`` cuts ``text`` into words (runs without pinyin, then
each Chinese run by pypinyin's phrase segmenter into phrase-dictionary words and single
characters) and converts each word on its own, so its result is the concatenation of the
words' results. Every word it cuts converts, given alone, to the same syllables (a phrase or a
single character is cut into itself), so each word's syllables can be asked once and kept.
Most names hit no phrase at all: when no two neighbouring characters start a phrase the words
are the single characters, found without running the segmenter.

The rules around the syllables (normalizing, the surname's other readings, joining) are those
of ``storage.households.name_keys``; ``tests/test_pinyin_keys.py`` compares both on every name
of the sample data and tens of thousands of generated ones.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from pypinyin import Style, lazy_pinyin, pinyin
from pypinyin.constants import RE_HANS
from pypinyin.seg import mmseg, simpleseg

# As in storage.households.
MAX_SURNAME_READINGS = 4
_NOT_ALNUM = re.compile(r"[\W_]+")
# The segmenter's live prefix set: every prefix of every phrase (retrained when pypinyin loads
# more phrases), so a pair of characters outside it starts no phrase.
_PHRASE_PREFIXES = mmseg.p_set


def normalize(text: str) -> str:
    """Full-width to half-width, lower case, without spaces, apostrophes and name dots."""
    if text.isascii() and text.isalnum():
        return text.lower()
    return _NOT_ALNUM.sub("", unicodedata.normalize("NFKC", text).lower())


def _is_han(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff"


@lru_cache(maxsize=65_536)
def _syllables(word: str) -> tuple[str, ...]:
    """One word's syllables as the keys use them (normalized, empty ones dropped)."""
    return tuple(s for s in (normalize(py) for py in lazy_pinyin(word)) if s)


@lru_cache(maxsize=8_192)
def _readings(han: str) -> tuple[str, ...]:
    """Every reading of one character."""
    return tuple(pinyin(han, style=Style.NORMAL, heteronym=True)[0])


def _words(text: str) -> list[str]:
    """The words ``lazy_pinyin`` converts one by one, in order."""
    if RE_HANS.match(text) is None:
        return simpleseg.seg(text)  # some characters without pinyin: the general path
    for index in range(len(text) - 1):
        if text[index : index + 2] in _PHRASE_PREFIXES:
            return list(mmseg.seg.cut(text))
    return list(text)


def usual_syllables(text: str) -> list[str]:
    """``[normalize(s) for s in lazy_pinyin(text)]`` without the empty ones, for a normalized
    ``text``."""
    found: list[str] = []
    for word in _words(text):
        found.extend(_syllables(word))
    return found


def key_columns(head_name: str) -> dict[str, str]:
    """The stored search columns for a head's name, as ``storage.households.key_columns``."""
    text = normalize(head_name)
    if not text:
        return {"head_pinyin": "", "head_initials": ""}
    usual = usual_syllables(text)
    firsts: list[str] = [usual[0]] if usual else []
    if _is_han(text[0]):
        for reading in _readings(text[0]):
            if reading not in firsts and len(firsts) < MAX_SURNAME_READINGS:
                firsts.append(reading)
    rest = usual[1:]
    rest_spelled = "".join(rest)
    rest_initials = "".join(s[0] for s in rest)
    full = dict.fromkeys(first + rest_spelled for first in firsts)
    initials = dict.fromkeys(first[0] + rest_initials for first in firsts)
    return {"head_pinyin": " ".join(full), "head_initials": " ".join(initials)}


class SearchKeys:
    """``key_columns`` once per distinct name of one import (names repeat across a county)."""

    def __init__(self) -> None:
        self._known: dict[str, tuple[str, str]] = {}

    def of(self, head_name: str) -> tuple[str, str]:
        """``(head_pinyin, head_initials)``."""
        keys = self._known.get(head_name)
        if keys is None:
            columns = key_columns(head_name)
            keys = self._known[head_name] = (columns["head_pinyin"], columns["head_initials"])
        return keys
