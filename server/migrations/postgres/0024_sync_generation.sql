-- A generation counter over everything a phone's synced copy is made of, so a sync can tell in
-- one query that nothing it would read has changed since the cursor it was given (see
-- `service::sync`). Every write statement on a table a sync reads adds one, by trigger, in the
-- writing transaction; the feeds a sync reads after a position (messages, notifications, the
-- access log) are fingerprinted by their own newest ids instead, and tables no sync reads
-- (sessions, tokens, idempotency keys, audit and delivery records) are left out, as
-- `store::sync::UNREAD_BY_SYNC` lists.
--
-- The generation is the sum of one row per server connection (its backend's pid): concurrent
-- writers never wait on each other's row, so the counter adds no lock to contend for or to
-- deadlock on, and the sum still grows with every committed write.
CREATE TABLE sync_generation (
    shard      integer PRIMARY KEY,
    generation bigint NOT NULL
);

CREATE FUNCTION sync_generation_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO sync_generation (shard, generation) VALUES (pg_backend_pid(), 1)
        ON CONFLICT (shard) DO UPDATE SET generation = sync_generation.generation + 1;
    RETURN NULL;
END
$$;

DO $$
DECLARE
    counted text;
BEGIN
    FOREACH counted IN ARRAY ARRAY[
        'appointment_workers', 'appointments', 'bookings', 'calendar_feeds', 'carer_links',
        'caseload_history', 'caseloads', 'consents', 'conversation_cursors', 'conversations',
        'crisis_activations', 'emergency_access', 'excluded_people', 'invitations',
        'key_workers', 'message_reports', 'oauth_clients', 'peer_allocation_history',
        'peer_allocations', 'peer_availability', 'people', 'plan_agreements', 'plan_comments',
        'plan_versions', 'programme_facilitators', 'programme_sessions', 'programmes',
        'referrals', 'satisfaction_ratings', 'team_member_history', 'team_members', 'teams',
        'users', 'webhook_subscription_kinds', 'webhook_subscriptions', 'wrap_settings']
    LOOP
        EXECUTE format(
            'CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %I '
            'FOR EACH STATEMENT EXECUTE FUNCTION sync_generation_bump()',
            counted || '_sync', counted);
    END LOOP;
END
$$;

-- A message is written with its conversation's last_seq, which is counted; a message changed
-- or removed afterwards (its conversation untouched) is counted here.
CREATE TRIGGER messages_sync AFTER UPDATE OR DELETE OR TRUNCATE ON messages
    FOR EACH STATEMENT EXECUTE FUNCTION sync_generation_bump();

-- The generation and feed heads a cursor's state was worked out at, and until when the
-- policy's clock-driven rules (consents running out, appointments leaving the window a phone
-- keeps, a peer worker's hours) leave it unchanged.
ALTER TABLE sync_cursors ADD COLUMN fingerprint text;
ALTER TABLE sync_cursors ADD COLUMN fresh_until timestamptz;
