-- The update inbox: every update Telegram handed over, stored before it is confirmed to Telegram,
-- kept until it has been handled (done_at set) and pruned some days after that.

CREATE TABLE inbox (
    update_id   INTEGER PRIMARY KEY,
    chat_id     INTEGER,
    received_at TEXT NOT NULL,
    payload     TEXT NOT NULL,
    done_at     TEXT
);
-- Start-up replays the undone rows; pruning looks for old done ones.
CREATE INDEX inbox_undone ON inbox(update_id) WHERE done_at IS NULL;
CREATE INDEX inbox_done_at ON inbox(done_at) WHERE done_at IS NOT NULL;
