"""Telegram's HTML parse mode, reproduced closely enough to refuse what Telegram refuses.

The bot formats every reply with ``parse_mode=HTML``; an unescaped ``<`` in a household name or a
stray tag in a catalog string makes Telegram reject the whole message. Parsing here, with
Telegram's rules and error texts, turns those mistakes into failing tests. The rules follow
Telegram's own parser: only a few tags, ``&lt; &gt; &amp; &quot;`` and numeric references are
decoded, any other ``&`` stays literal text, lengths are counted in UTF-16 code units.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_TAG_ENTITY = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_NAME_RE = re.compile(r"[A-Za-z0-9-]*")
_ATTR_RE = re.compile(r"""\s*([A-Za-z0-9-]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s>"']+))?""")


class HtmlError(ValueError):
    """Telegram's description of why the text could not be parsed (after the common prefix)."""


def utf16_len(text: str) -> int:
    """Telegram measures offsets and limits in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


@dataclass
class _Open:
    name: str
    offset: int
    attrs: dict[str, str] = field(default_factory=dict)


def _decode_entity(source: str, pos: int) -> tuple[str, int] | None:
    """Decode the reference starting at ``source[pos] == '&'``; None keeps the '&' literal."""
    end = pos + 1
    if source.startswith("#", end):
        end += 1
        hexadecimal = source.startswith(("x", "X"), end)
        if hexadecimal:
            end += 1
        digits = re.match(r"[0-9A-Fa-f]*" if hexadecimal else r"[0-9]*", source[end:])
        assert digits is not None  # both patterns match the empty string
        if not digits.group():
            return None
        code = int(digits.group(), 16 if hexadecimal else 10)
        end += len(digits.group())
        if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            return None
        char = chr(code)
    else:
        name = re.match(r"[A-Za-z]*", source[end:])
        assert name is not None
        if name.group() not in _NAMED_ENTITIES:
            return None
        char = _NAMED_ENTITIES[name.group()]
        end += len(name.group())
    if source.startswith(";", end):
        end += 1
    return char, end


def _unescape(value: str) -> str:
    out: list[str] = []
    pos = 0
    while pos < len(value):
        decoded = _decode_entity(value, pos) if value[pos] == "&" else None
        if decoded is None:
            out.append(value[pos])
            pos += 1
        else:
            out.append(decoded[0])
            pos = decoded[1]
    return "".join(out)


def _byte_offset(source: str, pos: int) -> int:
    return len(source[:pos].encode("utf-8"))


def parse_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    """Return the plain text and its MessageEntity dicts, or raise HtmlError like Telegram."""
    text: list[str] = []
    length = 0  # UTF-16 length of the text so far
    entities: list[dict[str, Any]] = []
    stack: list[_Open] = []
    pos = 0
    while pos < len(source):
        char = source[pos]
        if char == "&":
            decoded = _decode_entity(source, pos)
            if decoded is not None:
                text.append(decoded[0])
                length += utf16_len(decoded[0])
                pos = decoded[1]
                continue
        if char != "<":
            text.append(char)
            length += utf16_len(char)
            pos += 1
            continue
        tag_start = pos
        closing = source.startswith("/", pos + 1)
        name_match = _NAME_RE.match(source, pos + 1 + closing)
        assert name_match is not None
        name = name_match.group().lower()
        pos = name_match.end()
        if closing:
            end = source.find(">", pos)
            if end < 0:
                raise HtmlError(
                    f"Unclosed end tag at byte offset {_byte_offset(source, tag_start)}"
                )
            pos = end + 1
            if not stack:
                raise HtmlError(
                    f"Unexpected end tag at byte offset {_byte_offset(source, tag_start)}"
                )
            top = stack.pop()
            if top.name != name:
                raise HtmlError(
                    f"Unmatched end tag at byte offset {_byte_offset(source, tag_start)}, "
                    f'expected "</{top.name}>", found "</{name}>"'
                )
            entity = _entity(top, length, entities)
            if entity is not None:
                entities.append(entity)
            continue
        if name not in _TAG_ENTITY:
            raise HtmlError(
                f'Unsupported start tag "{name}" at byte offset {_byte_offset(source, tag_start)}'
            )
        attrs: dict[str, str] = {}
        while True:
            if pos >= len(source):
                raise HtmlError(
                    f"Unclosed start tag at byte offset {_byte_offset(source, tag_start)}"
                )
            if source[pos] == ">":
                pos += 1
                break
            if source[pos].isspace():
                pos += 1
                continue
            attr = _ATTR_RE.match(source, pos)
            if attr is None or attr.end() == pos:
                raise HtmlError(
                    f"Unclosed start tag at byte offset {_byte_offset(source, tag_start)}"
                )
            raw = attr.group(2) or ""
            if raw[:1] in {'"', "'"}:
                raw = raw[1:-1]
            attrs[attr.group(1).lower()] = _unescape(raw)
            pos = attr.end()
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise HtmlError(
                f'Tag "span" must have class "tg-spoiler" at byte offset '
                f"{_byte_offset(source, tag_start)}"
            )
        if name == "tg-emoji" and not attrs.get("emoji-id"):
            raise HtmlError(
                f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset '
                f"{_byte_offset(source, tag_start)}"
            )
        stack.append(_Open(name, length, attrs))
    if stack:
        raise HtmlError(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    for entity in entities:
        entity.pop("_language", None)
    entities.sort(key=lambda entity: (entity["offset"], -entity["length"]))
    return "".join(text), entities


def _entity(tag: _Open, end: int, inner: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The entity a closed tag makes; empty ranges and link-less anchors make none."""
    if end == tag.offset:
        return None
    entity: dict[str, Any] = {
        "type": _TAG_ENTITY[tag.name],
        "offset": tag.offset,
        "length": end - tag.offset,
    }
    if tag.name == "a":
        href = tag.attrs.get("href", "")
        if not href:
            return None
        entity["url"] = href
    elif tag.name == "tg-emoji":
        entity["custom_emoji_id"] = tag.attrs["emoji-id"]
    elif tag.name == "blockquote" and "expandable" in tag.attrs:
        entity["type"] = "expandable_blockquote"
    elif tag.name == "pre":
        for child in inner:
            if child["type"] == "code" and child["offset"] == tag.offset and "_language" in child:
                entity["language"] = child["_language"]
    elif tag.name == "code":
        language = tag.attrs.get("class", "")
        if language.startswith("language-"):
            entity["_language"] = language.removeprefix("language-")
    return entity
