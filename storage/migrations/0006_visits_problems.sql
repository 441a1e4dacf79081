-- Household visits (走访), problem reports (报问题) and the photos and voice notes kept with them.
--
-- Every row made from a message keeps its source (chat id, message id) under a UNIQUE
-- constraint, so a re-delivered update finds the row it already made. Times are UTC ISO-8601;
-- `visit_day`, `follow_up_day` and `due_day` are calendar days in ZHUCUN_TZ. A guarantee column
-- of a visit is NULL when that visit did not observe the item.

CREATE TABLE visits (
    id                INTEGER PRIMARY KEY,
    household_id      INTEGER NOT NULL REFERENCES households(id),
    village_code      TEXT NOT NULL REFERENCES regions(code),
    member_id         INTEGER NOT NULL REFERENCES members(id),
    visit_day         TEXT NOT NULL,
    visited_at        TEXT NOT NULL,          -- the message time, or the backdated day's start
    backdated         INTEGER NOT NULL DEFAULT 0 CHECK (backdated IN (0, 1)),
    text              TEXT NOT NULL DEFAULT '',
    food              TEXT CHECK (food IN ('met', 'not_met', 'unknown')),
    clothing          TEXT CHECK (clothing IN ('met', 'not_met', 'unknown')),
    education         TEXT CHECK (education IN ('met', 'not_met', 'unknown')),
    medical           TEXT CHECK (medical IN ('met', 'not_met', 'unknown')),
    housing           TEXT CHECK (housing IN ('met', 'not_met', 'unknown')),
    water             TEXT CHECK (water IN ('met', 'not_met', 'unknown')),
    follow_up_day     TEXT,
    one_line          INTEGER NOT NULL DEFAULT 0 CHECK (one_line IN (0, 1)),
    voided            INTEGER NOT NULL DEFAULT 0 CHECK (voided IN (0, 1)),
    source_chat_id    INTEGER NOT NULL,
    source_message_id INTEGER NOT NULL,
    created_at        TEXT NOT NULL,
    updated_at        TEXT,
    UNIQUE (source_chat_id, source_message_id)
);
CREATE INDEX visits_household_day ON visits(household_id, visit_day);
CREATE INDEX visits_member_created ON visits(member_id, created_at);

CREATE TABLE problems (
    id                INTEGER PRIMARY KEY,
    village_code      TEXT NOT NULL REFERENCES regions(code),
    household_id      INTEGER REFERENCES households(id),
    reporter_id       INTEGER NOT NULL REFERENCES members(id),
    category          TEXT NOT NULL CHECK (category IN ('medical', 'education', 'housing', 'water',
                                       'roads', 'industry', 'employment', 'social_security',
                                       'other')),
    severity          TEXT NOT NULL CHECK (severity IN ('normal', 'urgent')),
    description       TEXT NOT NULL,
    status            TEXT NOT NULL DEFAULT 'open'
                      CHECK (status IN ('open', 'in_progress', 'resolved', 'escalated',
                                        'sent_back')),
    assignee_id       INTEGER REFERENCES members(id),
    due_day           TEXT NOT NULL,
    resolution        TEXT,
    voided            INTEGER NOT NULL DEFAULT 0 CHECK (voided IN (0, 1)),
    source_chat_id    INTEGER NOT NULL,
    source_message_id INTEGER NOT NULL,
    created_at        TEXT NOT NULL,
    updated_at        TEXT,
    UNIQUE (source_chat_id, source_message_id)
);
CREATE INDEX problems_village_status ON problems(village_code, status);
CREATE INDEX problems_household ON problems(household_id);
CREATE INDEX problems_reporter_created ON problems(reporter_id, created_at);

CREATE TABLE problem_events (
    id          INTEGER PRIMARY KEY,
    problem_id  INTEGER NOT NULL REFERENCES problems(id),
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    kind        TEXT NOT NULL,                -- created, corrected, voided, status, ...
    status      TEXT,                         -- the status after the event
    note        TEXT
);
CREATE INDEX problem_events_problem ON problem_events(problem_id, id);

-- Photos and voice notes. `path` is relative to the store's file folder; NULL when the bytes
-- could not be fetched (over getFile's 20 MB), the Telegram file id is kept all the same. A file
-- arrives before its visit is saved, so the link is set when the entry is.
CREATE TABLE files (
    id                INTEGER PRIMARY KEY,
    kind              TEXT NOT NULL CHECK (kind IN ('photo', 'voice')),
    member_id         INTEGER NOT NULL REFERENCES members(id),
    telegram_file_id  TEXT NOT NULL,
    file_unique_id    TEXT NOT NULL,
    path              TEXT,
    caption           TEXT,
    size              INTEGER,
    visit_id          INTEGER REFERENCES visits(id),
    problem_id        INTEGER REFERENCES problems(id),
    source_chat_id    INTEGER NOT NULL,
    source_message_id INTEGER NOT NULL,
    created_at        TEXT NOT NULL,
    UNIQUE (source_chat_id, source_message_id)
);
CREATE INDEX files_visit ON files(visit_id);
CREATE INDEX files_problem ON files(problem_id);
