-- Failed /start <code> attempts, per Telegram user, so throttling survives a restart.
CREATE TABLE start_failures (
    id               INTEGER PRIMARY KEY,
    telegram_user_id INTEGER NOT NULL,
    at               TEXT NOT NULL
);
CREATE INDEX start_failures_by_user ON start_failures(telegram_user_id, at);

-- Card reads per member in the last hour are counted from the audit log itself.
CREATE INDEX audit_by_actor_action ON audit_events(actor, action, at);
