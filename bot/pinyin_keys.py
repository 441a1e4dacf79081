"""A name's pinyin syllables at import speed, exactly as ``lazy_pinyin`` gives them.

Asking pypinyin for the whole name every time cost 35–65 µs a name, and an import of a county
derives keys for a hundred thousand distinct names (a quarter of the import).
:func:`usual_syllables` gives the same syllables from per-word pieces asked once each.

Why that is exact: ``lazy_pinyin(text)`` cuts ``text`` into words (runs without pinyin, then
each Chinese run by pypinyin's phrase segmenter into phrase-dictionary words and single
characters) and converts each word on its own, so its result is the concatenation of the
words' results. Every word it cuts converts, given alone, to the same syllables (a phrase or a
single character is cut into itself), so each word's syllables can be asked once and kept.
Most names hit no phrase at all: when no two neighbouring characters start a phrase the words
are the single characters, found without running the segmenter.

The rules around the syllables (the surname's other readings, joining) live in
``storage.households.name_keys``; ``tests/test_pinyin_keys.py`` compares these syllables with
``lazy_pinyin``'s on every name of the sample data and tens of thousands of generated ones.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from pypinyin import lazy_pinyin
from pypinyin.constants import RE_HANS
from pypinyin.seg import mmseg, simpleseg

_NOT_ALNUM = re.compile(r"[\W_]+")
# The segmenter's live prefix set: every prefix of every phrase (retrained when pypinyin loads
# more phrases), so a pair of characters outside it starts no phrase.
_PHRASE_PREFIXES = mmseg.p_set


def normalize(text: str) -> str:
    """Full-width to half-width, lower case, without spaces, apostrophes and name dots."""
    if text.isascii() and text.isalnum():
        return text.lower()
    return _NOT_ALNUM.sub("", unicodedata.normalize("NFKC", text).lower())


@lru_cache(maxsize=65_536)
def _syllables(word: str) -> tuple[str, ...]:
    """One word's syllables as the keys use them (normalized, empty ones dropped)."""
    return tuple(s for s in (normalize(py) for py in lazy_pinyin(word)) if s)


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
