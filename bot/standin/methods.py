"""The Bot API methods 驻村通 uses, with each parameter's wire type and whether it is required.

This is the project's own record of its dependency on the Bot API: the stand-in validates and
decodes calls against it, and a test checks it against the published API description so that an
API change shows up as a failing test rather than as a surprise in production.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Wire(StrEnum):
    """How a parameter travels in a form-encoded or multipart request."""

    INT = "Integer"
    STR = "String"
    BOOL = "Boolean"
    FLOAT = "Float"
    JSON = "JSON"  # an object or array, serialized as JSON text
    FILE = "InputFile"  # a multipart part (or, when STR is also allowed, a file_id/URL)


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter of a method."""

    name: str
    types: tuple[Wire, ...]
    required: bool


def req(name: str, *types: Wire) -> Param:
    return Param(name, types, required=True)


def opt(name: str, *types: Wire) -> Param:
    return Param(name, types, required=False)


INT, STR, BOOL, FLOAT, JSON, FILE = Wire.INT, Wire.STR, Wire.BOOL, Wire.FLOAT, Wire.JSON, Wire.FILE

METHODS: Mapping[str, tuple[Param, ...]] = {
    "getMe": (),
    "getUpdates": (
        opt("offset", INT),
        opt("limit", INT),
        opt("timeout", INT),
        opt("allowed_updates", JSON),
    ),
    "deleteWebhook": (opt("drop_pending_updates", BOOL),),
    "setWebhook": (
        req("url", STR),
        opt("certificate", FILE),
        opt("ip_address", STR),
        opt("max_connections", INT),
        opt("allowed_updates", JSON),
        opt("drop_pending_updates", BOOL),
        opt("secret_token", STR),
    ),
    "getWebhookInfo": (),
    "logOut": (),
    "close": (),
    "setMyCommands": (
        req("commands", JSON),
        opt("scope", JSON),
        opt("language_code", STR),
    ),
    "getMyCommands": (
        opt("scope", JSON),
        opt("language_code", STR),
    ),
    "deleteMyCommands": (
        opt("scope", JSON),
        opt("language_code", STR),
    ),
    "sendMessage": (
        opt("business_connection_id", STR),
        req("chat_id", INT, STR),
        opt("message_thread_id", INT),
        opt("direct_messages_topic_id", INT),
        req("text", STR),
        opt("parse_mode", STR),
        opt("entities", JSON),
        opt("link_preview_options", JSON),
        opt("disable_notification", BOOL),
        opt("protect_content", BOOL),
        opt("allow_paid_broadcast", BOOL),
        opt("message_effect_id", STR),
        opt("suggested_post_parameters", JSON),
        opt("reply_parameters", JSON),
        opt("reply_markup", JSON),
    ),
    "sendPhoto": (
        opt("business_connection_id", STR),
        req("chat_id", INT, STR),
        opt("message_thread_id", INT),
        opt("direct_messages_topic_id", INT),
        req("photo", FILE, STR),
        opt("caption", STR),
        opt("parse_mode", STR),
        opt("caption_entities", JSON),
        opt("show_caption_above_media", BOOL),
        opt("has_spoiler", BOOL),
        opt("disable_notification", BOOL),
        opt("protect_content", BOOL),
        opt("allow_paid_broadcast", BOOL),
        opt("message_effect_id", STR),
        opt("suggested_post_parameters", JSON),
        opt("reply_parameters", JSON),
        opt("reply_markup", JSON),
    ),
    "sendDocument": (
        opt("business_connection_id", STR),
        req("chat_id", INT, STR),
        opt("message_thread_id", INT),
        opt("direct_messages_topic_id", INT),
        req("document", FILE, STR),
        opt("thumbnail", FILE, STR),
        opt("caption", STR),
        opt("parse_mode", STR),
        opt("caption_entities", JSON),
        opt("disable_content_type_detection", BOOL),
        opt("disable_notification", BOOL),
        opt("protect_content", BOOL),
        opt("allow_paid_broadcast", BOOL),
        opt("message_effect_id", STR),
        opt("suggested_post_parameters", JSON),
        opt("reply_parameters", JSON),
        opt("reply_markup", JSON),
    ),
    "sendVoice": (
        opt("business_connection_id", STR),
        req("chat_id", INT, STR),
        opt("message_thread_id", INT),
        opt("direct_messages_topic_id", INT),
        req("voice", FILE, STR),
        opt("caption", STR),
        opt("parse_mode", STR),
        opt("caption_entities", JSON),
        opt("duration", INT),
        opt("disable_notification", BOOL),
        opt("protect_content", BOOL),
        opt("allow_paid_broadcast", BOOL),
        opt("message_effect_id", STR),
        opt("suggested_post_parameters", JSON),
        opt("reply_parameters", JSON),
        opt("reply_markup", JSON),
    ),
    "sendLocation": (
        opt("business_connection_id", STR),
        req("chat_id", INT, STR),
        opt("message_thread_id", INT),
        opt("direct_messages_topic_id", INT),
        req("latitude", FLOAT),
        req("longitude", FLOAT),
        opt("horizontal_accuracy", FLOAT),
        opt("live_period", INT),
        opt("heading", INT),
        opt("proximity_alert_radius", INT),
        opt("disable_notification", BOOL),
        opt("protect_content", BOOL),
        opt("allow_paid_broadcast", BOOL),
        opt("message_effect_id", STR),
        opt("suggested_post_parameters", JSON),
        opt("reply_parameters", JSON),
        opt("reply_markup", JSON),
    ),
    "sendMediaGroup": (
        opt("business_connection_id", STR),
        req("chat_id", INT, STR),
        opt("message_thread_id", INT),
        opt("direct_messages_topic_id", INT),
        req("media", JSON),
        opt("disable_notification", BOOL),
        opt("protect_content", BOOL),
        opt("allow_paid_broadcast", BOOL),
        opt("message_effect_id", STR),
        opt("reply_parameters", JSON),
    ),
    "sendChatAction": (
        opt("business_connection_id", STR),
        req("chat_id", INT, STR),
        opt("message_thread_id", INT),
        req("action", STR),
    ),
    "editMessageText": (
        opt("business_connection_id", STR),
        opt("chat_id", INT, STR),
        opt("message_id", INT),
        opt("inline_message_id", STR),
        req("text", STR),
        opt("parse_mode", STR),
        opt("entities", JSON),
        opt("link_preview_options", JSON),
        opt("reply_markup", JSON),
    ),
    "editMessageReplyMarkup": (
        opt("business_connection_id", STR),
        opt("chat_id", INT, STR),
        opt("message_id", INT),
        opt("inline_message_id", STR),
        opt("reply_markup", JSON),
    ),
    "editMessageCaption": (
        opt("business_connection_id", STR),
        opt("chat_id", INT, STR),
        opt("message_id", INT),
        opt("inline_message_id", STR),
        opt("caption", STR),
        opt("parse_mode", STR),
        opt("caption_entities", JSON),
        opt("show_caption_above_media", BOOL),
        opt("reply_markup", JSON),
    ),
    "deleteMessage": (
        req("chat_id", INT, STR),
        req("message_id", INT),
    ),
    "answerCallbackQuery": (
        req("callback_query_id", STR),
        opt("text", STR),
        opt("show_alert", BOOL),
        opt("url", STR),
        opt("cache_time", INT),
    ),
    "getFile": (req("file_id", STR),),
}

_BY_LOWER_NAME: Mapping[str, str] = {name.lower(): name for name in METHODS}


def canonical_name(method: str) -> str | None:
    """Telegram matches method names case-insensitively; this returns the table's spelling."""
    return _BY_LOWER_NAME.get(method.lower())
