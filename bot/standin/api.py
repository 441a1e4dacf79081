"""The behaviour of the Telegram Bot API, without any transport.

:class:`FakeTelegram` takes calls exactly as they travel on the wire (strings, JSON text for
objects, uploaded parts as bytes) and answers with Telegram's JSON. The in-process transport and
the HTTP server both hand calls to the same object, so unit tests, end-to-end tests and the demo
all meet one behaviour. Tests play people with the helper methods (each queues an update shaped
like Telegram's) and assert on :attr:`FakeTelegram.calls` and the messages the bot sent.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import mimetypes
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from bot.clock import Clock, SystemClock
from bot.standin.faults import ConnectionDropped, FaultKind, FaultPlan
from bot.standin.htmltext import HtmlError, parse_html, utf16_len
from bot.standin.methods import METHODS, Wire, canonical_name

JsonDict = dict[str, Any]

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64
MAX_DOWNLOAD = 20 * 1024 * 1024
DEFAULT_ALLOWED_UPDATES = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_join_request",
    }
)
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_EMPTY_MESSAGES = {
    "chat_id": "Bad Request: chat_id is empty",
    "text": "Bad Request: message text is empty",
    "photo": "Bad Request: there is no photo in the request",
    "document": "Bad Request: there is no document in the request",
    "voice": "Bad Request: there is no voice in the request",
    "media": "Bad Request: there are no media in the request",
    "action": "Bad Request: action is empty",
}
_FILE_KINDS = {
    "photo": ("photos", "jpg", "image/jpeg"),
    "document": ("documents", "bin", "application/octet-stream"),
    "voice": ("voice", "oga", "audio/ogg"),
    "sticker": ("stickers", "webp", "image/webp"),
}
_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")


class ApiError(Exception):
    """A refusal, carrying the HTTP status and Telegram's description."""

    def __init__(
        self, description: str, status: int = 400, parameters: JsonDict | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def body(self) -> JsonDict:
        body: JsonDict = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters is not None:
            body["parameters"] = self.parameters
        return body


@dataclass(frozen=True, slots=True)
class Upload:
    """A file part of a multipart call, as it appears in decoded parameters."""

    filename: str
    data: bytes


@dataclass
class RecordedCall:
    """One call as the stand-in saw it, with its answer once it has one."""

    method: str
    params: JsonDict
    status: int = 0
    response: JsonDict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def result(self) -> Any:
        return self.response.get("result")


@dataclass(frozen=True, slots=True)
class StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes


class FakeTelegram:
    """Telegram as far as 驻村通 uses it: one bot, its chats, updates, messages and files."""

    def __init__(
        self,
        token: str = "123456789:standin-token",
        *,
        username: str = "zhucun_demo_bot",
        first_name: str = "驻村通",
        clock: Clock | None = None,
        faults: FaultPlan | None = None,
    ) -> None:
        self.token = token
        self.clock: Clock = clock or SystemClock()
        self.faults = faults or FaultPlan()
        self.me: JsonDict = {
            "id": int(token.split(":", 1)[0]),
            "is_bot": True,
            "first_name": first_name,
            "username": username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self.calls: list[RecordedCall] = []
        self.users: dict[int, JsonDict] = {}
        self.chats: dict[int, JsonDict] = {}
        self.messages: dict[tuple[int, int], JsonDict] = {}
        self.files: dict[str, StoredFile] = {}
        self.commands: dict[tuple[str, str], list[JsonDict]] = {}
        self.webhook: JsonDict = {"url": ""}
        self.webhook_deliveries: list[tuple[int, int]] = []
        """(update_id, HTTP status) of every webhook delivery attempt; 0 when none came back."""
        self.blocked: set[int] = set()
        self.open_queries: dict[str, JsonDict] = {}
        self._updates: list[JsonDict] = []
        self._update_ids = itertools.count(1)
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._file_numbers = itertools.count(1)
        self._query_ids = itertools.count(1)
        self._media_groups = itertools.count(13_000_000_000_000_001)
        self._bot_sent: list[tuple[int, int]] = []
        self._allowed_updates: frozenset[str] = DEFAULT_ALLOWED_UPDATES
        self._arrived = asyncio.Event()
        self._sent = asyncio.Event()
        self._answered = asyncio.Event()
        self._poll_generation = 0
        self.polling = asyncio.Event()
        """Set while a long poll waits, so tests know the bot is listening without sleeping."""

    # --- the wire entry point -------------------------------------------------------------

    async def call(
        self,
        method: str,
        params: Mapping[str, str],
        files: Mapping[str, tuple[str, bytes]],
        *,
        token: str | None = None,
    ) -> tuple[int, JsonDict]:
        """Perform one Bot API call given in wire form; return (HTTP status, JSON body).

        Raises :class:`~bot.standin.faults.ConnectionDropped` when the fault plan hangs up.
        """
        name = canonical_name(method) or method
        record = RecordedCall(name, dict(params))
        self.calls.append(record)
        try:
            if token is not None and token != self.token:
                raise ApiError("Unauthorized", 401)
            if canonical_name(method) is None:
                raise ApiError("Not Found", 404)
            record.params = self._decode(name, params, files)
            result = await self._perform(name, record.params)
        except ApiError as error:
            record.status, record.response = error.status, error.body()
        else:
            record.status, record.response = 200, {"ok": True, "result": result}
        self._answered.set()
        self._answered = asyncio.Event()
        return record.status, record.response

    async def _perform(self, name: str, params: JsonDict) -> Any:
        fault = self.faults.choose(name, params)
        if fault is not None:
            if fault.kind is FaultKind.LATENCY:
                await asyncio.sleep(fault.seconds)
            elif fault.kind is FaultKind.RETRY_AFTER:
                raise ApiError(
                    f"Too Many Requests: retry after {fault.retry_after}",
                    429,
                    {"retry_after": fault.retry_after},
                )
            elif fault.kind is FaultKind.ERROR_BEFORE:
                raise ApiError(_status_phrase(fault.status), fault.status)
            elif fault.kind is FaultKind.DROP:
                raise ConnectionDropped(name)
        await self.faults.wait_turn(params)
        result = await self._handlers()[name](params)
        self.faults.performed(params)
        if fault is not None and fault.kind is FaultKind.ERROR_AFTER:
            raise ApiError(_status_phrase(fault.status), fault.status)
        return result

    def _handlers(self) -> Mapping[str, Callable[[JsonDict], Awaitable[Any]]]:
        return {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "deleteWebhook": self._delete_webhook,
            "setWebhook": self._set_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "logOut": self._true,
            "close": self._true,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
            "sendVoice": self._send_voice,
            "sendLocation": self._send_location,
            "sendMediaGroup": self._send_media_group,
            "sendChatAction": self._send_chat_action,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "editMessageCaption": self._edit_message_caption,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "getFile": self._get_file,
        }

    def _decode(
        self, name: str, params: Mapping[str, str], files: Mapping[str, tuple[str, bytes]]
    ) -> JsonDict:
        """Turn wire strings into values by the methods table; refuse what cannot be decoded."""
        decoded: JsonDict = dict(params)
        for param in METHODS[name]:
            raw = params.get(param.name)
            if raw is None and param.name in files and Wire.FILE in param.types:
                decoded[param.name] = Upload(*files[param.name])
                continue
            if raw is None:
                if param.required:
                    raise ApiError(
                        _EMPTY_MESSAGES.get(param.name, f"Bad Request: {param.name} is empty")
                    )
                continue
            decoded[param.name] = _decode_value(param.name, raw, param.types, files)
        return decoded

    # --- methods ------------------------------------------------------------------------------

    async def _true(self, params: JsonDict) -> bool:
        return True

    async def _get_me(self, params: JsonDict) -> JsonDict:
        return dict(self.me)

    async def _get_updates(self, params: JsonDict) -> list[JsonDict]:
        if self.webhook["url"]:
            raise ApiError(
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
                409,
            )
        if "allowed_updates" in params:
            self._allowed_updates = frozenset(params["allowed_updates"]) or DEFAULT_ALLOWED_UPDATES
        offset = int(params.get("offset", 0))
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        limit = min(max(int(params.get("limit", 100)), 1), 100)
        self._poll_generation += 1
        generation = self._poll_generation
        self._wake_pollers()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(int(params.get("timeout", 0)), 0)
        while True:
            if generation != self._poll_generation:
                raise ApiError(
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                    409,
                )
            remaining = deadline - loop.time()
            if self._updates or remaining <= 0:
                return self._updates[:limit]
            self.polling.set()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                return []
            finally:
                self.polling.clear()

    async def _delete_webhook(self, params: JsonDict) -> bool:
        self.webhook = {"url": ""}
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _set_webhook(self, params: JsonDict) -> bool:
        url = str(params["url"])
        if url:
            parts = urlsplit(url)
            if parts.scheme != "https":
                raise ApiError(
                    "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
                )
            if (parts.port or 443) not in {80, 88, 443, 8443}:
                raise ApiError(
                    "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 "
                    "or 8443"
                )
        self.webhook = {"url": url}
        for key in ("max_connections", "allowed_updates", "secret_token", "ip_address"):
            if key in params:
                self.webhook[key] = params[key]
        if "allowed_updates" in params:
            self._allowed_updates = frozenset(params["allowed_updates"]) or DEFAULT_ALLOWED_UPDATES
        if params.get("drop_pending_updates"):
            self._updates.clear()
        self._wake_pollers()  # a webhook delivery waiting for a URL (bot.standin.server)
        return True

    async def _get_webhook_info(self, params: JsonDict) -> JsonDict:
        info: JsonDict = {
            "url": self.webhook["url"],
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        for key in (
            "max_connections",
            "allowed_updates",
            "ip_address",
            "last_error_date",
            "last_error_message",
        ):
            if key in self.webhook:
                info[key] = self.webhook[key]
        return info

    @staticmethod
    def _commands_key(params: JsonDict) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(params.get("language_code", ""))

    async def _set_my_commands(self, params: JsonDict) -> bool:
        commands = params["commands"]
        if not isinstance(commands, list) or len(commands) > 100:
            raise ApiError("Bad Request: commands must be an array of at most 100 commands")
        for command in commands:
            if not _COMMAND_RE.fullmatch(str(command.get("command", ""))):
                raise ApiError("Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise ApiError("Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[self._commands_key(params)] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    async def _get_my_commands(self, params: JsonDict) -> list[JsonDict]:
        return list(self.commands.get(self._commands_key(params), []))

    async def _delete_my_commands(self, params: JsonDict) -> bool:
        self.commands.pop(self._commands_key(params), None)
        return True

    async def _send_message(self, params: JsonDict) -> JsonDict:
        chat = self._chat_for(params["chat_id"])
        text, entities = _formatted(
            str(params["text"]), params.get("parse_mode"), params.get("entities"), MAX_TEXT
        )
        if not text.strip():
            raise ApiError("Bad Request: message text is empty")
        content: JsonDict = {"text": text}
        if entities:
            content["entities"] = entities
        return self._bot_message(chat, content, params)

    async def _send_photo(self, params: JsonDict) -> JsonDict:
        chat = self._chat_for(params["chat_id"])
        stored = self._file_param(params["photo"], "photo")
        content: JsonDict = {"photo": self._photo_sizes(stored)}
        content.update(_caption(params))
        return self._bot_message(chat, content, params)

    async def _send_document(self, params: JsonDict) -> JsonDict:
        chat = self._chat_for(params["chat_id"])
        upload = params["document"]
        stored = self._file_param(upload, "document")
        name = upload.filename if isinstance(upload, Upload) else stored.file_path.rsplit("/")[-1]
        content: JsonDict = {"document": _document(stored, name)}
        content.update(_caption(params))
        return self._bot_message(chat, content, params)

    async def _send_voice(self, params: JsonDict) -> JsonDict:
        chat = self._chat_for(params["chat_id"])
        stored = self._file_param(params["voice"], "voice")
        content: JsonDict = {"voice": _voice(stored, int(params.get("duration", 1)))}
        content.update(_caption(params))
        return self._bot_message(chat, content, params)

    async def _send_location(self, params: JsonDict) -> JsonDict:
        chat = self._chat_for(params["chat_id"])
        latitude, longitude = float(params["latitude"]), float(params["longitude"])
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            raise ApiError("Bad Request: wrong coordinates")
        location: JsonDict = {"latitude": latitude, "longitude": longitude}
        for key in ("horizontal_accuracy", "live_period", "heading", "proximity_alert_radius"):
            if key in params:
                location[key] = params[key]
        return self._bot_message(chat, {"location": location}, params)

    async def _send_media_group(self, params: JsonDict) -> list[JsonDict]:
        chat = self._chat_for(params["chat_id"])
        media = params["media"]
        if not isinstance(media, list) or not 2 <= len(media) <= 10:
            raise ApiError("Bad Request: wrong number of media in the group, must be 2-10")
        group_id = str(next(self._media_groups))
        contents: list[JsonDict] = []
        for item in media:
            kind = item.get("type")
            if kind not in {"photo", "document"}:
                raise ApiError(f"Bad Request: unsupported media type {kind!r} in the stand-in")
            stored = self._file_param(item.get("media", ""), kind)
            if kind == "photo":
                content: JsonDict = {"photo": self._photo_sizes(stored)}
            else:
                content = {"document": _document(stored, stored.file_path.rsplit("/")[-1])}
            content.update(_caption(item))
            content["media_group_id"] = group_id
            contents.append(content)
        return [self._bot_message(chat, content, params) for content in contents]

    async def _send_chat_action(self, params: JsonDict) -> bool:
        self._chat_for(params["chat_id"])
        if params["action"] not in CHAT_ACTIONS:
            raise ApiError("Bad Request: wrong parameter action in request")
        return True

    async def _edit_message_text(self, params: JsonDict) -> JsonDict:
        message = self._message_to_edit(params)
        if "text" not in message:
            raise ApiError("Bad Request: there is no text in the message to edit")
        text, entities = _formatted(
            str(params["text"]), params.get("parse_mode"), params.get("entities"), MAX_TEXT
        )
        if not text.strip():
            raise ApiError("Bad Request: message text is empty")
        return self._apply_edit(message, {"text": text, "entities": entities}, params)

    async def _edit_message_caption(self, params: JsonDict) -> JsonDict:
        message = self._message_to_edit(params)
        if "text" in message or "location" in message:
            raise ApiError("Bad Request: there is no caption in the message to edit")
        caption = _caption(params)
        change = {
            "caption": caption.get("caption", ""),
            "caption_entities": caption.get("caption_entities", []),
        }
        return self._apply_edit(message, change, params)

    async def _edit_message_reply_markup(self, params: JsonDict) -> JsonDict:
        return self._apply_edit(self._message_to_edit(params), {}, params)

    async def _delete_message(self, params: JsonDict) -> bool:
        chat = self._chat_for(params["chat_id"])
        key = (chat["id"], int(params["message_id"]))
        if self.messages.pop(key, None) is None:
            raise ApiError("Bad Request: message to delete not found")
        return True

    async def _answer_callback_query(self, params: JsonDict) -> bool:
        if self.open_queries.pop(str(params["callback_query_id"]), None) is None:
            raise ApiError(
                "Bad Request: query is too old and response timeout expired or query ID is invalid"
            )
        if len(str(params.get("text", ""))) > 200:
            raise ApiError("Bad Request: MESSAGE_TOO_LONG")
        return True

    async def _get_file(self, params: JsonDict) -> JsonDict:
        stored = self.files.get(str(params["file_id"]))
        if stored is None:
            raise ApiError("Bad Request: invalid file_id")
        if len(stored.data) > MAX_DOWNLOAD:
            raise ApiError("Bad Request: file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.file_path,
        }

    # --- sending and editing --------------------------------------------------------------

    def _chat_for(self, chat_id: int | str) -> JsonDict:
        chat: JsonDict | None
        if isinstance(chat_id, str):
            username = chat_id.removeprefix("@")
            chat = next((c for c in self.chats.values() if c.get("username") == username), None)
        else:
            chat = self.chats.get(chat_id)
        if chat is None:
            raise ApiError("Bad Request: chat not found")
        if chat["id"] in self.blocked:
            raise ApiError("Forbidden: bot was blocked by the user", 403)
        return chat

    def _bot_message(self, chat: JsonDict, content: JsonDict, params: JsonDict) -> JsonDict:
        markup = params.get("reply_markup")
        if markup is not None:
            _check_markup(markup, chat)
        message: JsonDict = {
            "message_id": 0,
            "from": dict(self.me),
            "chat": dict(chat),
            "date": self._now(),
        }
        reply = params.get("reply_parameters")
        if reply is not None:
            replied = self.messages.get((chat["id"], int(reply.get("message_id", 0))))
            if replied is None and not reply.get("allow_sending_without_reply"):
                raise ApiError("Bad Request: message to be replied not found")
            if replied is not None:
                message["reply_to_message"] = dict(replied)
        message["message_id"] = self._next_message_id(chat["id"])
        message.update(content)
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        self.messages[(chat["id"], message["message_id"])] = message
        self._bot_sent.append((chat["id"], message["message_id"]))
        self._sent.set()
        self._sent = asyncio.Event()
        return message

    def _message_to_edit(self, params: JsonDict) -> JsonDict:
        if "inline_message_id" in params:
            raise ApiError("Bad Request: MESSAGE_ID_INVALID")
        if "chat_id" not in params or "message_id" not in params:
            raise ApiError("Bad Request: message identifier is not specified")
        chat = self._chat_for(params["chat_id"])
        message = self.messages.get((chat["id"], int(params["message_id"])))
        if message is None or message.get("from", {}).get("id") != self.me["id"]:
            raise ApiError("Bad Request: message to edit not found")
        return message

    def _apply_edit(self, message: JsonDict, change: JsonDict, params: JsonDict) -> JsonDict:
        """Edit in place; leaving out reply_markup removes the inline keyboard, like Telegram."""
        markup = params.get("reply_markup")
        if markup is not None and "inline_keyboard" not in markup:
            raise ApiError("Bad Request: inline keyboard expected")
        if markup is not None:
            _check_markup(markup, message["chat"])
        if markup == {"inline_keyboard": []}:
            markup = None
        before = {key: message.get(key) or None for key in (*change, "reply_markup")}
        after = {key: value or None for key, value in {**change, "reply_markup": markup}.items()}
        if before == after:
            raise ApiError(
                "Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message"
            )
        for key, value in after.items():
            if value is None:
                message.pop(key, None)
            else:
                message[key] = value
        message["edit_date"] = self._now()
        return message

    # --- playing people -----------------------------------------------------------------------

    def add_user(
        self,
        user_id: int,
        *,
        first_name: str | None = None,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = None,
    ) -> JsonDict:
        """Make a user (and their private chat) known; later arguments update what is known."""
        user = self.users.get(user_id) or {
            "id": user_id,
            "is_bot": False,
            "first_name": f"用户{user_id}",
            "language_code": "zh-hans",
        }
        for key, value in (
            ("first_name", first_name),
            ("last_name", last_name),
            ("username", username),
            ("language_code", language_code),
        ):
            if value is not None:
                user[key] = value
        self.users[user_id] = user
        private = {"id": user_id, "type": "private", "first_name": user["first_name"]}
        for key in ("last_name", "username"):
            if key in user:
                private[key] = user[key]
        self.chats[user_id] = private
        return user

    def add_group(
        self, chat_id: int, *, title: str = "驻村工作群", chat_type: str = "group"
    ) -> JsonDict:
        """Make a group chat known (ids of groups are negative, as on Telegram)."""
        if chat_id >= 0:
            raise ValueError("group chat ids are negative")
        chat = self.chats.setdefault(chat_id, {"id": chat_id})
        chat.update(type=chat_type, title=title)
        return chat

    def user_message(
        self,
        user_id: int,
        text: str,
        *,
        first_name: str | None = None,
        language_code: str | None = None,
        chat_id: int | None = None,
        chat_type: str = "private",
        entities: list[JsonDict] | None = None,
        reply_to: Mapping[str, Any] | None = None,
    ) -> JsonDict:
        """Queue a text message from a user (in their private chat unless ``chat_id`` is given)."""
        content: JsonDict = {"text": text}
        if entities:
            content["entities"] = entities
        return self._user_update(
            user_id, content, first_name, language_code, chat_id, chat_type, reply_to
        )

    def command(
        self,
        user_id: int,
        name: str,
        args: str = "",
        *,
        first_name: str | None = None,
        language_code: str | None = None,
        chat_id: int | None = None,
        chat_type: str = "private",
        addressed: bool = False,
    ) -> JsonDict:
        """Queue ``/name args``; ``addressed`` appends ``@botusername`` as in groups."""
        command = "/" + name.removeprefix("/")
        if addressed:
            command += "@" + self.me["username"]
        text = f"{command} {args}" if args else command
        entity = {"type": "bot_command", "offset": 0, "length": utf16_len(command)}
        return self.user_message(
            user_id,
            text,
            first_name=first_name,
            language_code=language_code,
            chat_id=chat_id,
            chat_type=chat_type,
            entities=[entity],
        )

    def group_message(
        self,
        user_id: int,
        chat_id: int,
        text: str,
        *,
        title: str = "驻村工作群",
        chat_type: str = "group",
        first_name: str | None = None,
    ) -> JsonDict:
        """Queue a text message a user posts in a group."""
        self.add_group(chat_id, title=title, chat_type=chat_type)
        return self.user_message(
            user_id, text, first_name=first_name, chat_id=chat_id, chat_type=chat_type
        )

    def location(
        self,
        user_id: int,
        lat: float,
        lon: float,
        horizontal_accuracy: float | None = None,
        live_period: int | None = None,
        forwarded: bool = False,
        *,
        first_name: str | None = None,
    ) -> JsonDict:
        """Queue a shared location; ``forwarded`` marks it as forwarded from the same user."""
        location: JsonDict = {"latitude": lat, "longitude": lon}
        if horizontal_accuracy is not None:
            location["horizontal_accuracy"] = horizontal_accuracy
        if live_period is not None:
            location["live_period"] = live_period
        content: JsonDict = {"location": location}
        if forwarded:
            sender = self.add_user(user_id, first_name=first_name)
            content["forward_origin"] = {
                "type": "user",
                "date": self._now() - 3600,
                "sender_user": dict(sender),
            }
        return self._user_update(user_id, content, first_name, None, None, "private", None)

    def photo(
        self,
        user_id: int,
        data: bytes,
        caption: str | None = None,
        media_group_id: str | None = None,
        *,
        first_name: str | None = None,
    ) -> JsonDict:
        """Queue a photo; its bytes are stored so the bot can getFile and download them."""
        content: JsonDict = {"photo": self._photo_sizes(self.store_file(data, "photo"))}
        if caption is not None:
            content["caption"] = caption
        if media_group_id is not None:
            content["media_group_id"] = media_group_id
        return self._user_update(user_id, content, first_name, None, None, "private", None)

    def voice(
        self, user_id: int, data: bytes, duration: int = 3, *, first_name: str | None = None
    ) -> JsonDict:
        """Queue a voice note."""
        content = {"voice": _voice(self.store_file(data, "voice"), duration)}
        return self._user_update(user_id, content, first_name, None, None, "private", None)

    def document(
        self,
        user_id: int,
        data: bytes,
        file_name: str = "文件.pdf",
        *,
        caption: str | None = None,
        first_name: str | None = None,
    ) -> JsonDict:
        """Queue a document (use a large ``data`` to meet getFile's 20 MB refusal)."""
        content: JsonDict = {"document": _document(self.store_file(data, "document"), file_name)}
        if caption is not None:
            content["caption"] = caption
        return self._user_update(user_id, content, first_name, None, None, "private", None)

    def sticker(
        self, user_id: int, emoji: str = "👍", *, first_name: str | None = None
    ) -> JsonDict:
        """Queue a sticker, something the bot has no use for and must answer gracefully."""
        stored = self.store_file(b"RIFF\x00\x00\x00\x00WEBP", "sticker")
        sticker = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
            "file_size": len(stored.data),
        }
        return self._user_update(
            user_id, {"sticker": sticker}, first_name, None, None, "private", None
        )

    def edited_message(self, user_id: int, message: Mapping[str, Any], text: str) -> JsonDict:
        """Queue an edit of a message the user sent earlier (pass the update or the message)."""
        original = self._find(message)
        if original.get("from", {}).get("id") != user_id:
            raise ValueError("users can only edit their own messages")
        original["text"] = text
        original.pop("entities", None)
        original["edit_date"] = self._now()
        return self._enqueue({"edited_message": dict(original)})

    def press(self, user_id: int, message: Mapping[str, Any], callback_data: str) -> JsonDict:
        """Queue a press on an inline button of a message the bot sent."""
        current = self._find(message)
        if current.get("from", {}).get("id") != self.me["id"]:
            raise ValueError("only buttons on the bot's messages can be pressed")
        if callback_data not in {b.get("callback_data") for b in _inline_buttons(current)}:
            raise ValueError(f"the message has no button with callback_data {callback_data!r}")
        query_id = f"{next(self._query_ids)}{self.me['id']}"
        query: JsonDict = {
            "id": query_id,
            "from": dict(self.add_user(user_id)),
            "message": dict(current),
            "chat_instance": str(-abs(current["chat"]["id"]) * 7),
            "data": callback_data,
        }
        self.open_queries[query_id] = query
        return self._enqueue({"callback_query": query})

    def block(self, user_id: int) -> None:
        """The user blocks the bot: sends to them fail with 403 from now on."""
        self.blocked.add(user_id)

    def store_file(self, data: bytes, kind: str) -> StoredFile:
        """Keep bytes as Telegram would, under a new file_id and file_path."""
        number = next(self._file_numbers)
        folder, extension, _ = _FILE_KINDS[kind]
        stored = StoredFile(
            file_id=f"AgACAgUAAx{kind[:2].upper()}{number:08d}",
            file_unique_id=f"AQAD{number:08d}",
            file_path=f"{folder}/file_{number}.{extension}",
            data=data,
        )
        self.files[stored.file_id] = stored
        return stored

    def _photo_sizes(self, stored: StoredFile) -> list[JsonDict]:
        """A photo's sizes; the thumbnail is stored too so that any size can be downloaded."""
        thumbnail = StoredFile(
            stored.file_id + "-s", stored.file_unique_id + "-s", stored.file_path, stored.data
        )
        self.files[thumbnail.file_id] = thumbnail
        return _photo_sizes(stored, thumbnail)

    def file_bytes(self, file_path: str) -> bytes | None:
        """The content behind a getFile ``file_path``, for the file download endpoint."""
        return next((f.data for f in self.files.values() if f.file_path == file_path), None)

    # --- assertions ---------------------------------------------------------------------------

    def bot_messages(self, chat_id: int) -> list[JsonDict]:
        """Messages the bot sent to a chat and has not deleted, as they are now (after edits)."""
        return [
            self.messages[key]
            for key in self._bot_sent
            if key[0] == chat_id and key in self.messages
        ]

    def last_messages_to(self, chat_id: int, count: int = 1) -> list[JsonDict]:
        """The bot's last ``count`` messages to a chat, oldest first."""
        return self.bot_messages(chat_id)[-count:]

    def last_message_to(self, chat_id: int) -> JsonDict:
        """The bot's latest message to a chat; fails the test when there is none."""
        messages = self.bot_messages(chat_id)
        if not messages:
            raise AssertionError(f"the bot sent nothing to chat {chat_id}")
        return messages[-1]

    def texts_to(self, chat_id: int) -> list[str]:
        """Text (or caption) of each message the bot sent to a chat."""
        return [str(m.get("text", m.get("caption", ""))) for m in self.bot_messages(chat_id)]

    def calls_to(self, method: str) -> list[RecordedCall]:
        """Recorded calls of one method (any spelling), refused ones included."""
        name = canonical_name(method) or method
        return [c for c in self.calls if c.method == name]

    async def wait_for_call(
        self, method: str, matches: Callable[[RecordedCall], bool] = lambda _: True
    ) -> RecordedCall:
        """Wait until a call of ``method`` that ``matches`` has been answered; return the latest.

        For calls a handler makes after its reply (a reply alone does not say the update is done).
        """
        while True:
            found = [c for c in self.calls_to(method) if c.status and matches(c)]
            if found:
                return found[-1]
            await self._answered.wait()

    @property
    def pending_updates(self) -> list[JsonDict]:
        """Updates queued and not yet confirmed by a getUpdates offset (or a webhook's 200)."""
        return list(self._updates)

    async def wait_for_updates(self) -> None:
        """Wait until an update is queued or the webhook changes (for webhook delivery)."""
        await self._arrived.wait()

    def webhook_answered(self, update_id: int, status: int, error: str | None = None) -> None:
        """Record a webhook delivery; a 200 confirms the update, anything else keeps it pending."""
        self.webhook_deliveries.append((update_id, status))
        if status == 200:
            self._updates = [u for u in self._updates if u["update_id"] != update_id]
        else:
            self.webhook["last_error_date"] = self._now()
            message = error or f"Wrong response from the webhook: {status}"
            self.webhook["last_error_message"] = message
        self._wake_pollers()  # whoever waits on deliveries (tests) looks again

    async def wait_for_message_to(self, chat_id: int, count: int = 1) -> JsonDict:
        """Wait until the bot has sent ``count`` messages to a chat; return the latest.

        End-to-end tests use it (inside ``asyncio.timeout``) instead of sleeping while the
        polling bot catches up.
        """
        while len(self.bot_messages(chat_id)) < count:
            await self._sent.wait()
        return self.bot_messages(chat_id)[-1]

    # --- internals ----------------------------------------------------------------------------

    def _now(self) -> int:
        return int(self.clock.now().timestamp())

    def _next_message_id(self, chat_id: int) -> int:
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    def _wake_pollers(self) -> None:
        self._arrived.set()
        self._arrived = asyncio.Event()

    def _enqueue(self, payload: JsonDict) -> JsonDict:
        update = {"update_id": next(self._update_ids), **payload}
        if next(iter(payload)) in self._allowed_updates:
            self._updates.append(update)
            self._wake_pollers()
        return update

    def _user_update(
        self,
        user_id: int,
        content: JsonDict,
        first_name: str | None,
        language_code: str | None,
        chat_id: int | None,
        chat_type: str,
        reply_to: Mapping[str, Any] | None,
    ) -> JsonDict:
        user = self.add_user(user_id, first_name=first_name, language_code=language_code)
        if chat_id is None or chat_id == user_id:
            chat = self.chats[user_id]
        else:
            chat = self.chats.get(chat_id) or self.add_group(chat_id, chat_type=chat_type)
        message: JsonDict = {
            "message_id": self._next_message_id(chat["id"]),
            "from": dict(user),
            "chat": dict(chat),
            "date": self._now(),
        }
        if reply_to is not None:
            message["reply_to_message"] = dict(self._find(reply_to))
        message.update(content)
        self.messages[(chat["id"], message["message_id"])] = message
        return self._enqueue({"message": dict(message)})

    def _find(self, message: Mapping[str, Any]) -> JsonDict:
        inner = message.get("message", message)
        key = (inner["chat"]["id"], inner["message_id"])
        if key not in self.messages:
            raise ValueError(f"no such message {key}")
        return self.messages[key]

    def _file_param(self, value: Any, kind: str) -> StoredFile:
        if isinstance(value, Upload):
            if not value.data:
                raise ApiError("Bad Request: file must be non-empty")
            return self.store_file(value.data, kind)
        stored = self.files.get(str(value))
        if stored is None:
            raise ApiError("Bad Request: wrong file identifier/HTTP URL specified")
        return stored


def _status_phrase(status: int) -> str:
    phrases = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
    return phrases.get(status, "Internal Server Error")


def _decode_value(
    name: str, raw: str, types: tuple[Wire, ...], files: Mapping[str, tuple[str, bytes]]
) -> Any:
    if Wire.FILE in types and raw.startswith("attach://"):
        part = raw.removeprefix("attach://")
        if part not in files:
            raise ApiError(f"Bad Request: file {part} not found in the request")
        return Upload(*files[part])
    if Wire.INT in types:
        try:
            return int(raw)
        except ValueError:
            if Wire.STR not in types:
                raise ApiError(f"Bad Request: invalid {name} specified") from None
    if Wire.FLOAT in types:
        try:
            return float(raw)
        except ValueError:
            raise ApiError(f"Bad Request: invalid {name} specified") from None
    if Wire.BOOL in types:
        if raw.lower() in {"true", "1"}:
            return True
        if raw.lower() in {"false", "0", ""}:
            return False
        raise ApiError(f"Bad Request: invalid {name} specified")
    if Wire.JSON in types:
        try:
            return _attach_files(json.loads(raw), files)
        except ValueError:
            if Wire.STR not in types:
                raise ApiError(f"Bad Request: can't parse {name} JSON object") from None
    return raw


def _attach_files(value: Any, files: Mapping[str, tuple[str, bytes]]) -> Any:
    """Replace ``attach://name`` inside JSON (media groups) with the uploaded part."""
    if isinstance(value, str) and value.startswith("attach://"):
        part = value.removeprefix("attach://")
        if part not in files:
            raise ApiError(f"Bad Request: file {part} not found in the request")
        return Upload(*files[part])
    if isinstance(value, list):
        return [_attach_files(item, files) for item in value]
    if isinstance(value, dict):
        return {key: _attach_files(item, files) for key, item in value.items()}
    return value


def _formatted(
    text: str, parse_mode: Any, entities: Any, limit: int, what: str = "message"
) -> tuple[str, list[JsonDict]]:
    """Apply the parse mode and check the length Telegram counts after parsing."""
    parsed_entities: list[JsonDict] = list(entities or [])
    if isinstance(parse_mode, str) and parse_mode.lower() == "html":
        try:
            text, parsed_entities = parse_html(text)
        except HtmlError as error:
            raise ApiError(f"Bad Request: can't parse entities: {error}") from None
    if utf16_len(text) > limit:
        raise ApiError(
            "Bad Request: message caption is too long"
            if what == "caption"
            else "Bad Request: message is too long"
        )
    return text, parsed_entities


def _caption(params: Mapping[str, Any]) -> JsonDict:
    if "caption" not in params:
        return {}
    caption, entities = _formatted(
        str(params["caption"]),
        params.get("parse_mode"),
        params.get("caption_entities"),
        MAX_CAPTION,
        "caption",
    )
    content: JsonDict = {"caption": caption}
    if entities:
        content["caption_entities"] = entities
    return content


def _inline_buttons(message: Mapping[str, Any]) -> list[JsonDict]:
    markup = message.get("reply_markup") or {}
    return [button for row in markup.get("inline_keyboard", []) for button in row]


def _check_markup(markup: Any, chat: Mapping[str, Any]) -> None:
    """Refuse keyboards Telegram refuses: oversized callback data, private-only buttons."""
    if not isinstance(markup, dict):
        raise ApiError("Bad Request: can't parse reply keyboard markup JSON object")
    for row in markup.get("inline_keyboard", []):
        for button in row:
            if not button.get("text"):
                raise ApiError("Bad Request: text buttons are unallowed in the inline keyboard")
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode("utf-8")) <= MAX_CALLBACK_DATA:
                raise ApiError("Bad Request: BUTTON_DATA_INVALID")
    for row in markup.get("keyboard", []):
        for button in row:
            if not isinstance(button, dict) or chat.get("type") == "private":
                continue
            for kind in ("request_location", "request_contact"):
                if button.get(kind):
                    raise ApiError(
                        f"Bad Request: {kind} keyboard buttons are allowed only in private chats"
                    )


def _photo_sizes(stored: StoredFile, thumbnail: StoredFile) -> list[JsonDict]:
    """Telegram sends several sizes; a thumbnail and the full picture are enough here."""
    return [
        {
            "file_id": thumbnail.file_id,
            "file_unique_id": thumbnail.file_unique_id,
            "width": 90,
            "height": 68,
            "file_size": len(thumbnail.data),
        },
        {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "width": 1280,
            "height": 960,
            "file_size": len(stored.data),
        },
    ]


def _document(stored: StoredFile, file_name: str) -> JsonDict:
    return {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_name": file_name,
        "mime_type": _mime_type(file_name),
        "file_size": len(stored.data),
    }


def _voice(stored: StoredFile, duration: int) -> JsonDict:
    return {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "duration": duration,
        "mime_type": "audio/ogg",
        "file_size": len(stored.data),
    }


def _mime_type(file_name: str) -> str:
    return mimetypes.guess_type(file_name)[0] or "application/octet-stream"
