-- A write's events appended in one statement: the per-recipient ordering locks, the rows and the
-- notification to every listening process, where they were three round trips to the database
-- (`store::events::append_in_tx`; on SQLite nothing is locked or notified).
--
-- `lock_space` is the first key of the recipients' advisory locks
-- (`store::postgres::RECIPIENT_EVENTS_LOCKS`) and `lock_keys` their second keys
-- (`recipient_lock_key`); each is held to the end of the calling transaction, and they are taken
-- in key order, as every append takes them, so two appends cannot each hold one the other waits
-- for. The rows are stored after the locks are granted, so each recipient's ids become visible
-- in order. The notification lists the new ids in decimal, separated by commas, or is empty
-- when that list would be longer than `payload_most` bytes (Postgres refuses 8,000 or more):
-- every stream then reads its own.
CREATE FUNCTION events_append(
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
    listed text;
BEGIN
    -- The aggregate consumes the sorted keys in order, so the locks are taken in order.
    PERFORM count(pg_advisory_xact_lock(lock_space, key))
    FROM (SELECT DISTINCT key FROM unnest(lock_keys) AS key ORDER BY key) AS ordered;
    WITH appended AS (
        INSERT INTO events (recipient_id, kind, person_id, data, created_at)
        SELECT * FROM unnest(recipient_ids, kinds, person_ids, datas, created_ats)
        RETURNING id
    )
    SELECT string_agg(id::text, ',') INTO listed FROM appended;
    IF octet_length(listed) > payload_most THEN
        listed := '';
    END IF;
    PERFORM pg_notify(channel, coalesce(listed, ''));
END
$$;
