-- Writes sent with an `Idempotency-Key` (see server/src/service/idempotency.rs). The first
-- request claims (caller, key) with a fingerprint of itself; its answer is kept, so a retry gets
-- the same answer and not a second write. Kept at least 7 days.
CREATE TABLE idempotency_keys (
    caller       text NOT NULL,
    key          text NOT NULL,
    fingerprint  bytea NOT NULL,
    created_at   timestamptz NOT NULL,
    -- Until when the request that claimed the key counts as still running.
    lease_until  timestamptz NOT NULL,
    -- Set in the transaction of any write the request made: after a crash, whether it took
    -- effect.
    applied      boolean NOT NULL DEFAULT false,
    -- The answer, once given.
    status       integer,
    content_type text,
    etag         text,
    body         bytea,
    PRIMARY KEY (caller, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);
