-- What the server last told a phone in a sync, named by the cursor it gave. The next sync
-- compares what the caller may see now with this, so changes and tombstones (for records the
-- caller may no longer see) are worked out without any record keeping a history of its own.
-- The cursor is a hash of the account and the state, so a replayed page names the same row.
CREATE TABLE sync_cursors (
    user_id      BLOB NOT NULL REFERENCES users(id),
    id           text NOT NULL,
    state        text NOT NULL,
    created_at   TEXT NOT NULL,
    last_used_at TEXT NOT NULL,
    PRIMARY KEY (user_id, id)
);
CREATE INDEX sync_cursors_last_used ON sync_cursors(last_used_at);
