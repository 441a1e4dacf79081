"""Hostile input: property-based updates of every kind in ALLOWED_UPDATES through the real bot.

Built with the stand-in's helpers (shaped like the Bot API's Update, Message and CallbackQuery)
and hypothesis: over-long text, control characters, right-to-left override, zero-width
characters, emoji, SQL- and HTML-looking text, group chats and channel-type chats, edited
messages, messages from other bots, forged callback data (every callback re-checks scope and
state) and callbacks for entries that do not exist. For each update: no ERROR log record, every
outgoing call accepted by the stand-in, and a registered member's private message answered.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import ALLOWED_UPDATES
from bot.sample import PERSONAS
from tests.harness import Harness, running

NAMED = [
    "x" * 5000,
    "査户" * 3000,
    "\u202e户主王秀英\u202c",
    "王\u200b秀\u200d英\ufeff",
    "\x00\x01\x07\x1b[31m\x7f",
    "🏠👨‍👩‍👧‍👦🇨🇳" * 50,
    "'; DROP TABLE households; --",
    "王秀英' OR '1'='1",
    "%' UNION SELECT * FROM members --",
    "<b>bold</b><script>alert(1)</script>&amp;&lt;",
    "<a href='tg://user?id=1'>x</a>",
    "{name} {code} %s %d {{}}",
    "因病致贫户能享受什么医疗救助?",
    "/start@zhucun_demo_bot",
    "5119021010010001",
    "\n\n\t  \r\n",
    "签到",
    "查户",
]
COMMANDS = [
    "start",
    "help",
    "lang",
    "me",
    "checkin",
    "away",
    "visit",
    "problem",
    "household",
    "policy",
    "today",
    "cancel",
    "invite",
    "members",
    "review",
    "summary",
    "export",
    "nosuchcommand",
]
PREFIXES = [
    "hh:card:",
    "hh:",
    "visit:",
    "void:",
    "fix:",
    "prob:",
    "status:",
    "invite:",
    "role:",
    "region:",
    "lang:",
    "page:",
    "rv:",
    "rs:",
    "mv:",
    "mb:",
    "pol:sec:",
    "checkin:village:",
    "ex:k:",
    "ex:p:",
    "away:",
    "edit:",
    "card:",
    "",
]
REGISTERED = [p.telegram_id for p in PERSONAS]
STRANGER = 777_001
OTHER_BOT = 888_002
SENDERS = [*REGISTERED, STRANGER, OTHER_BOT]
OUTGOING = {
    "sendMessage",
    "sendPhoto",
    "sendDocument",
    "sendVoice",
    "sendLocation",
    "sendMediaGroup",
    "editMessageText",
    "editMessageReplyMarkup",
    "editMessageCaption",
    "answerCallbackQuery",
}

hostile_text = st.one_of(
    st.sampled_from(NAMED),
    st.text(max_size=300),
    st.text(
        alphabet=st.characters(categories=["Cc", "Cf", "Zs", "So", "Lo", "Nd"]),
        min_size=1,
        max_size=80,
    ),
    st.builds(lambda a, b: a + "\u202e" + b, st.text(max_size=30), st.text(max_size=30)),
)
callback_data = st.one_of(
    st.builds(
        lambda p, n: f"{p}{n}",
        st.sampled_from(PREFIXES),
        st.one_of(st.integers(-(2**63), 2**63), st.just(999_999)),
    ),
    st.builds(lambda p, t: (p + t)[:64], st.sampled_from(PREFIXES), st.text(max_size=64)),
)


@dataclass(frozen=True)
class Plan:
    kind: str  # one of ALLOWED_UPDATES
    sender: int
    text: str
    chat: str  # private, group, supergroup, channel
    command: str | None
    data: str


plans = st.builds(
    Plan,
    kind=st.sampled_from([str(k) for k in ALLOWED_UPDATES]),
    sender=st.sampled_from(SENDERS),
    text=hostile_text,
    chat=st.sampled_from(["private", "private", "private", "group", "supergroup", "channel"]),
    command=st.one_of(st.none(), st.sampled_from(COMMANDS)),
    data=callback_data,
)


class ErrorRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[Harness]:
    """The harness with its job queue running, as in production (flows get their time-out)."""
    async with running(tmp_path) as harness:
        job_queue = harness.app.job_queue
        assert job_queue is not None
        await job_queue.start()
        try:
            yield harness
        finally:
            await job_queue.stop(wait=False)


@pytest.fixture
def errors() -> Iterator[ErrorRecords]:
    handler = ErrorRecords()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


def _message_update(bot: Harness, plan: Plan) -> dict[str, Any]:
    api = bot.api
    user = api.add_user(plan.sender)
    if plan.sender == OTHER_BOT:
        user["is_bot"] = True
    chat_id = None
    if plan.chat != "private":
        chat_id = -1_000_000_000_123 if plan.chat != "group" else -4242
        api.add_group(chat_id, title="<b>工作群</b>", chat_type=plan.chat)
    if plan.command is not None:
        return api.command(
            plan.sender,
            plan.command,
            plan.text[:200],
            chat_id=chat_id,
            chat_type=plan.chat,
            addressed=plan.chat != "private",
        )
    return api.user_message(plan.sender, plan.text or ".", chat_id=chat_id, chat_type=plan.chat)


async def _update_for(bot: Harness, plan: Plan) -> dict[str, Any]:
    api = bot.api
    if plan.kind == "message":
        return _message_update(bot, plan)
    if plan.kind == "edited_message":
        original = _message_update(bot, plan)
        await bot.deliver(original)
        return api.edited_message(plan.sender, original, (plan.text + "!")[:4096])
    # callback_query: forged data on a message the bot sent this user.
    api.add_user(plan.sender)
    await bot.app.bot.send_message(plan.sender, "·")
    message = api.last_message_to(plan.sender)
    query_id = f"hostile-{len(api.calls)}"
    query = {
        "id": query_id,
        "from": dict(api.users[plan.sender]),
        "message": dict(message),
        "chat_instance": "hostile",
        "data": plan.data,
    }
    api.open_queries[query_id] = query
    return {"update_id": 2_000_000 + len(api.calls), "callback_query": query}


@settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=plans)
async def test_hostile_updates_never_break_the_bot(
    bot: Harness, errors: ErrorRecords, plan: Plan
) -> None:
    errors.records.clear()
    update = await _update_for(bot, plan)
    before = len(bot.api.calls)
    await bot.deliver(update)
    calls = bot.api.calls[before:]
    assert not errors.records, [r.getMessage() for r in errors.records]
    refused = [(c.method, c.params, c.response) for c in calls if not c.ok]
    assert refused == []
    if plan.kind == "message" and plan.chat == "private" and plan.sender in REGISTERED:
        answered = [
            c
            for c in calls
            if c.method in OUTGOING and str(c.params.get("chat_id")) == str(plan.sender)
        ]
        assert answered, (plan, [c.method for c in calls])
    if plan.chat != "private" and plan.kind == "message":
        # In groups the bot says nothing but a pointer to the private chat, and never a card.
        for call in calls:
            assert "户编号" not in str(call.params.get("text", ""))
