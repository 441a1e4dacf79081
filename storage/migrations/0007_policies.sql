-- Policy library (issue 8): documents keyed by title + region, their passages, a full-text
-- index over Chinese character bigrams computed by the writer (bot/policysearch.py), and the
-- questions nobody could answer, so the library grows where it is missing.

CREATE TABLE policy_documents (
    id          INTEGER PRIMARY KEY,
    doc_key     TEXT NOT NULL UNIQUE,          -- title + '@' + region code ('' = national)
    title       TEXT NOT NULL,
    issuer      TEXT,
    issued      TEXT,                          -- YYYY, YYYY-MM or YYYY-MM-DD as written
    region_code TEXT REFERENCES regions(code), -- NULL: national
    source      TEXT NOT NULL,                 -- the file it came from
    digest      TEXT NOT NULL,                 -- of the parsed content: same digest, no change
    imported_at TEXT NOT NULL
);

CREATE TABLE policy_passages (
    id          INTEGER PRIMARY KEY,
    document_id INTEGER NOT NULL REFERENCES policy_documents(id) ON DELETE CASCADE,
    section_no  INTEGER NOT NULL,
    section     TEXT NOT NULL,                 -- '' before the first '## ' heading
    position    INTEGER NOT NULL,
    text        TEXT NOT NULL,
    UNIQUE (document_id, position)
);
CREATE INDEX policy_passages_section ON policy_passages(document_id, section_no);

-- Bumped by every import that writes, so readers can cache document frequencies safely.
CREATE TABLE policy_library (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL,
    total   INTEGER NOT NULL                   -- passages in the library
);
INSERT INTO policy_library (id, version, total) VALUES (1, 0, 0);

-- rowid = policy_passages.id; each column holds space-separated terms.
CREATE VIRTUAL TABLE policy_fts USING fts5(title, section, body, uni);
CREATE VIRTUAL TABLE policy_vocab USING fts5vocab(policy_fts, 'row');

CREATE TABLE policy_unanswered (
    id                INTEGER PRIMARY KEY,
    member_id         INTEGER NOT NULL REFERENCES members(id),
    region_path       TEXT,                    -- the asker's first region (NULL: admin)
    asked_at          TEXT NOT NULL,
    text              TEXT NOT NULL,
    answered_at       TEXT,
    answered_by       INTEGER REFERENCES members(id),
    source_chat_id    INTEGER,
    source_message_id INTEGER
);
CREATE INDEX policy_unanswered_open ON policy_unanswered(asked_at) WHERE answered_at IS NULL;
CREATE UNIQUE INDEX policy_unanswered_source
    ON policy_unanswered(source_chat_id, source_message_id) WHERE source_chat_id IS NOT NULL;
