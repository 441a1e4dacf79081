-- What must survive a restart besides the entries themselves: guided flows and their per-user
-- and per-chat drafts (python-telegram-bot's persistence), chats that blocked the bot, and the
-- important messages being sent or sent (deliveries).

-- One row per open conversation of a persistent ConversationHandler. ``key`` and ``state`` are
-- JSON; ``deadline`` (ISO time) and ``last_update`` (the update JSON that set the state) let
-- start-up re-arm the flow's time-out, which python-telegram-bot does not do by itself.
CREATE TABLE conversations (
    name        TEXT NOT NULL,
    key         TEXT NOT NULL,
    state       TEXT NOT NULL,
    deadline    TEXT,
    last_update TEXT,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (name, key)
);

-- ``context.user_data`` / ``context.chat_data``, pickled: flows keep their drafts there as
-- dataclasses and pydantic models. Only this process writes them into an owner-only file.
CREATE TABLE user_data (
    user_id    INTEGER PRIMARY KEY,
    data       BLOB NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE chat_data (
    chat_id    INTEGER PRIMARY KEY,
    data       BLOB NOT NULL,
    updated_at TEXT NOT NULL
);

-- A chat whose last send was refused with 403 (the user blocked the bot, or it was removed from a
-- group). Cleared by the next send that succeeds.
CREATE TABLE blocked_chats (
    chat_id    INTEGER PRIMARY KEY,
    reason     TEXT NOT NULL,
    blocked_at TEXT NOT NULL
);

-- Important outgoing messages, at least once: 'sending' is written before the call and 'sent'
-- after it, so a crash in between leaves 'sending' behind to be sent again at start-up.
CREATE TABLE deliveries (
    key        TEXT PRIMARY KEY,
    chat_id    INTEGER NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('sending', 'sent', 'blocked', 'failed')),
    attempts   INTEGER NOT NULL DEFAULT 0,
    text       TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX deliveries_status ON deliveries(status);
