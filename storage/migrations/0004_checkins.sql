-- Check-ins (签到) and absences (公务外出 / 请假).
--
-- Every row made from a message keeps its source (chat id, message id) under a UNIQUE
-- constraint, so a re-delivered update finds the row it already made instead of adding one.
-- Times are UTC ISO-8601; `day`, `from_day` and `to_day` are calendar days in ZHUCUN_TZ.

CREATE TABLE checkins (
    id                INTEGER PRIMARY KEY,
    member_id         INTEGER NOT NULL REFERENCES members(id),
    village_code      TEXT NOT NULL REFERENCES regions(code),
    at                TEXT NOT NULL,          -- the message's time
    day               TEXT NOT NULL,          -- its local calendar day
    lat               REAL,
    lon               REAL,
    accuracy_m        REAL,                   -- Telegram's horizontal_accuracy, if sent
    distance_m        REAL,                   -- to the village centre, if both are known
    in_fence          INTEGER CHECK (in_fence IN (0, 1)),
    verified          INTEGER NOT NULL CHECK (verified IN (0, 1)),
    reason            TEXT CHECK (reason IN ('no_location', 'forwarded', 'venue', 'no_accuracy',
                                             'poor_accuracy', 'no_centre')),
    note              TEXT,
    live              INTEGER NOT NULL DEFAULT 0 CHECK (live IN (0, 1)),
    decision          TEXT CHECK (decision IN ('confirmed', 'rejected')),
    decided_by        INTEGER REFERENCES members(id),
    decided_at        TEXT,
    source_chat_id    INTEGER NOT NULL,
    source_message_id INTEGER NOT NULL,
    created_at        TEXT NOT NULL,
    updated_at        TEXT,
    UNIQUE (source_chat_id, source_message_id),
    CHECK ((verified = 1) = (reason IS NULL)),
    CHECK ((decision IS NULL) = (decided_at IS NULL))
);
CREATE INDEX checkins_member_day ON checkins(member_id, day);
CREATE INDEX checkins_village_day ON checkins(village_code, day);

CREATE TABLE absences (
    id                INTEGER PRIMARY KEY,
    member_id         INTEGER NOT NULL REFERENCES members(id),
    kind              TEXT NOT NULL CHECK (kind IN ('duty_trip', 'leave')),
    from_day          TEXT NOT NULL,
    to_day            TEXT NOT NULL,
    reason            TEXT NOT NULL,
    -- Leave waits for the township; a duty trip needs no approval (NULL).
    approval          TEXT CHECK (approval IN ('pending', 'approved', 'rejected')),
    decided_by        INTEGER REFERENCES members(id),
    decided_at        TEXT,
    source_chat_id    INTEGER NOT NULL,
    source_message_id INTEGER NOT NULL,
    created_at        TEXT NOT NULL,
    UNIQUE (source_chat_id, source_message_id),
    CHECK (to_day >= from_day),
    CHECK ((kind = 'leave') = (approval IS NOT NULL))
);
CREATE INDEX absences_member_days ON absences(member_id, from_day, to_day);
