-- Events addressed to one account: what its devices' event streams carry and what it can list
-- as notifications. SQLite has one writer, so ids grow in commit order.
CREATE TABLE events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient_id BLOB NOT NULL REFERENCES users(id),
    kind         TEXT NOT NULL,
    person_id    BLOB REFERENCES people(id),
    data         TEXT NOT NULL,
    created_at   TEXT NOT NULL
);
CREATE INDEX events_recipient ON events(recipient_id, id);
