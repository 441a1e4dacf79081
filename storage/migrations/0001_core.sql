-- Regions, members and their memberships, invites, households and the audit log.

CREATE TABLE regions (
    code        TEXT PRIMARY KEY,
    parent_code TEXT REFERENCES regions(code),
    level       TEXT NOT NULL CHECK (level IN ('province', 'city', 'county', 'township', 'village')),
    name        TEXT NOT NULL,
    kind        TEXT CHECK (kind IN ('poor', 'non_poor')),
    lat         REAL,
    lon         REAL,
    radius_m    INTEGER NOT NULL DEFAULT 1000,
    -- '/' + ancestor codes + own code + '/': a subtree is one prefix match.
    path        TEXT NOT NULL UNIQUE
);
CREATE INDEX regions_parent ON regions(parent_code);

CREATE TABLE members (
    id               INTEGER PRIMARY KEY,
    telegram_user_id INTEGER NOT NULL UNIQUE,
    name             TEXT NOT NULL,
    phone            TEXT,
    locale           TEXT CHECK (locale IN ('zh', 'en')),
    active           INTEGER NOT NULL DEFAULT 1,
    created_at       TEXT NOT NULL
);

CREATE TABLE memberships (
    id          INTEGER PRIMARY KEY,
    member_id   INTEGER NOT NULL REFERENCES members(id),
    role        TEXT NOT NULL
                CHECK (role IN ('member', 'cadre', 'secretary', 'township', 'county', 'admin')),
    region_code TEXT REFERENCES regions(code),
    created_at  TEXT NOT NULL,
    UNIQUE (member_id, role, region_code)
);
CREATE INDEX memberships_region ON memberships(region_code);

CREATE TABLE invites (
    code        TEXT PRIMARY KEY,
    role        TEXT NOT NULL
                CHECK (role IN ('member', 'cadre', 'secretary', 'township', 'county', 'admin')),
    region_code TEXT REFERENCES regions(code),
    name        TEXT,
    phone       TEXT,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_by     INTEGER REFERENCES members(id),
    used_at     TEXT,
    revoked_at  TEXT
);

CREATE TABLE households (
    id             INTEGER PRIMARY KEY,
    registry_no    TEXT NOT NULL UNIQUE,
    village_code   TEXT NOT NULL REFERENCES regions(code),
    head_name      TEXT NOT NULL,
    size           INTEGER NOT NULL CHECK (size >= 1),
    status         TEXT NOT NULL
                   CHECK (status IN ('not_lifted', 'lifted', 'monitored', 'ordinary')),
    causes         TEXT NOT NULL DEFAULT '[]',
    measure        TEXT CHECK (measure IN ('production', 'relocation', 'ecological',
                                           'education', 'social_security')),
    helper_name    TEXT,
    helper_member_id INTEGER REFERENCES members(id),
    income         REAL,
    phone          TEXT,
    notes          TEXT,
    food           TEXT NOT NULL DEFAULT 'unknown',
    clothing       TEXT NOT NULL DEFAULT 'unknown',
    education      TEXT NOT NULL DEFAULT 'unknown',
    medical        TEXT NOT NULL DEFAULT 'unknown',
    housing        TEXT NOT NULL DEFAULT 'unknown',
    water          TEXT NOT NULL DEFAULT 'unknown',
    last_visit_at  TEXT,
    local          INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX households_village ON households(village_code);

CREATE TABLE audit_events (
    id        INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    entity    TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    before    TEXT,
    after     TEXT
);
CREATE INDEX audit_entity ON audit_events(entity, entity_id);

-- The audit log is append-only whatever code path tries otherwise.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
