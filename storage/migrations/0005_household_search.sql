-- Household search: the head's name in pinyin (full and initials, every reading of the surname,
-- space-separated), computed by the writer; NULL means "not computed yet" and is filled in by
-- the search service before it searches. A household added in the bot remembers the message that
-- created it, so a re-delivered update cannot add it twice.

ALTER TABLE households ADD COLUMN head_pinyin TEXT;
ALTER TABLE households ADD COLUMN head_initials TEXT;
ALTER TABLE households ADD COLUMN source_chat_id INTEGER;
ALTER TABLE households ADD COLUMN source_message_id INTEGER;

CREATE INDEX households_unkeyed ON households(id) WHERE head_pinyin IS NULL;
CREATE UNIQUE INDEX households_source ON households(source_chat_id, source_message_id)
    WHERE source_chat_id IS NOT NULL;
