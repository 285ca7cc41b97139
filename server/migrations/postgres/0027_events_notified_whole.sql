-- A commit's notification carries the events it stored, whole, so that no process reads them
-- back by id after every commit (one statement a commit in every process). Otherwise as
-- migration 0026: the locks in key order, then the rows, then the notification.
--
-- The payload is the first of these that fits in `payload_most` bytes (Postgres refuses 8,000 or
-- more):
-- - the stored rows as a JSON array of objects (`id`, `recipient_id`, `kind`, `person_id`,
--   `data`, `created_at`), in id order;
-- - their ids in decimal, separated by commas, for the listener to read back;
-- - empty: every stream then reads its own.
-- A process of the release before reads a JSON payload as one it cannot read, and asks every
-- stream to read its own: late by a read, never lost.
CREATE OR REPLACE FUNCTION events_append(
    lock_space    integer,
    lock_keys     integer[],
    recipient_ids uuid[],
    kinds         text[],
    person_ids    uuid[],
    datas         jsonb[],
    created_ats   timestamptz[],
    channel       text,
    payload_most  integer
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    rows_listed text;
    ids_listed  text;
BEGIN
    -- The aggregate consumes the sorted keys in order, so the locks are taken in order.
    PERFORM count(pg_advisory_xact_lock(lock_space, key))
    FROM (SELECT DISTINCT key FROM unnest(lock_keys) AS key ORDER BY key) AS ordered;
    WITH appended AS (
        INSERT INTO events (recipient_id, kind, person_id, data, created_at)
        SELECT * FROM unnest(recipient_ids, kinds, person_ids, datas, created_ats)
        RETURNING id, recipient_id, kind, person_id, data, created_at
    )
    SELECT json_agg(appended ORDER BY id)::text, string_agg(id::text, ',' ORDER BY id)
    INTO rows_listed, ids_listed
    FROM appended;
    PERFORM pg_notify(channel, CASE
        WHEN octet_length(rows_listed) <= payload_most THEN rows_listed
        WHEN octet_length(ids_listed) <= payload_most THEN ids_listed
        ELSE ''
    END);
END
$$;
