-- A person's secret calendar feed (GET /v1/calendar-feeds/{secret}.ics): at most one per
-- person, stored only as the SHA-256 of its secret, so a dump of the database reveals no feed.
-- A reset replaces the hash, so the old URL stops at once. Looked up by the hash's index.
CREATE TABLE calendar_feeds (
    person_id   BLOB PRIMARY KEY NOT NULL REFERENCES people(id),
    secret_hash BLOB NOT NULL UNIQUE,
    created_at  TEXT NOT NULL
);

-- The staff who run a programme's sessions (possibly of another team or a partner): each may
-- read that programme's roster.
CREATE TABLE programme_facilitators (
    programme_id BLOB NOT NULL REFERENCES programmes(id),
    user_id      BLOB NOT NULL REFERENCES users(id),
    added_at     TEXT NOT NULL,
    PRIMARY KEY (programme_id, user_id)
);
