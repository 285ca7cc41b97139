-- Writes sent with an `Idempotency-Key` (see server/src/service/idempotency.rs). The first
-- request claims (caller, key) with a fingerprint of itself; its answer is kept, so a retry gets
-- the same answer and not a second write. Kept at least 7 days.
CREATE TABLE idempotency_keys (
    caller       TEXT NOT NULL,
    key          TEXT NOT NULL,
    fingerprint  BLOB NOT NULL,
    created_at   TEXT NOT NULL,
    -- Until when the request that claimed the key counts as still running.
    lease_until  TEXT NOT NULL,
    -- Set in the transaction of any write the request made: after a crash, whether it took
    -- effect.
    applied      INTEGER NOT NULL DEFAULT 0,
    -- The answer, once given.
    status       INTEGER,
    content_type TEXT,
    etag         TEXT,
    body         BLOB,
    PRIMARY KEY (caller, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);
