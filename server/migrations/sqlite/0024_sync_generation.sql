-- A generation counter over everything a phone's synced copy is made of, so a sync can tell in
-- one query that nothing it would read has changed since the cursor it was given (see
-- `service::sync`). Every write to a table a sync reads adds one, by trigger, in the writing
-- transaction; the feeds a sync reads after a position (messages, notifications, the access
-- log) are fingerprinted by their own newest ids instead, and tables no sync reads (sessions,
-- tokens, idempotency keys, audit and delivery records) are left out, as
-- `store::sync::UNREAD_BY_SYNC` lists. SQLite has one writer at a time, so one row is enough.
CREATE TABLE sync_generation (
    shard      INTEGER PRIMARY KEY NOT NULL,
    generation INTEGER NOT NULL
);
INSERT INTO sync_generation (shard, generation) VALUES (0, 0);

-- The generation and feed heads a cursor's state was worked out at, and until when the
-- policy's clock-driven rules (consents running out, appointments leaving the window a phone
-- keeps, a peer worker's hours) leave it unchanged.
ALTER TABLE sync_cursors ADD COLUMN fingerprint TEXT;
ALTER TABLE sync_cursors ADD COLUMN fresh_until TEXT;

CREATE TRIGGER appointment_workers_insert_sync AFTER INSERT ON appointment_workers BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER appointment_workers_update_sync AFTER UPDATE ON appointment_workers BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER appointment_workers_delete_sync AFTER DELETE ON appointment_workers BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER appointments_insert_sync AFTER INSERT ON appointments BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER appointments_update_sync AFTER UPDATE ON appointments BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER appointments_delete_sync AFTER DELETE ON appointments BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER bookings_insert_sync AFTER INSERT ON bookings BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER bookings_update_sync AFTER UPDATE ON bookings BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER bookings_delete_sync AFTER DELETE ON bookings BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER calendar_feeds_insert_sync AFTER INSERT ON calendar_feeds BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER calendar_feeds_update_sync AFTER UPDATE ON calendar_feeds BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER calendar_feeds_delete_sync AFTER DELETE ON calendar_feeds BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER carer_links_insert_sync AFTER INSERT ON carer_links BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER carer_links_update_sync AFTER UPDATE ON carer_links BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER carer_links_delete_sync AFTER DELETE ON carer_links BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER caseload_history_insert_sync AFTER INSERT ON caseload_history BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER caseload_history_update_sync AFTER UPDATE ON caseload_history BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER caseload_history_delete_sync AFTER DELETE ON caseload_history BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER caseloads_insert_sync AFTER INSERT ON caseloads BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER caseloads_update_sync AFTER UPDATE ON caseloads BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER caseloads_delete_sync AFTER DELETE ON caseloads BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER consents_insert_sync AFTER INSERT ON consents BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER consents_update_sync AFTER UPDATE ON consents BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER consents_delete_sync AFTER DELETE ON consents BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER conversation_cursors_insert_sync AFTER INSERT ON conversation_cursors BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER conversation_cursors_update_sync AFTER UPDATE ON conversation_cursors BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER conversation_cursors_delete_sync AFTER DELETE ON conversation_cursors BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER conversations_insert_sync AFTER INSERT ON conversations BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER conversations_update_sync AFTER UPDATE ON conversations BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER conversations_delete_sync AFTER DELETE ON conversations BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER crisis_activations_insert_sync AFTER INSERT ON crisis_activations BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER crisis_activations_update_sync AFTER UPDATE ON crisis_activations BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER crisis_activations_delete_sync AFTER DELETE ON crisis_activations BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER emergency_access_insert_sync AFTER INSERT ON emergency_access BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER emergency_access_update_sync AFTER UPDATE ON emergency_access BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER emergency_access_delete_sync AFTER DELETE ON emergency_access BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER excluded_people_insert_sync AFTER INSERT ON excluded_people BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER excluded_people_update_sync AFTER UPDATE ON excluded_people BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER excluded_people_delete_sync AFTER DELETE ON excluded_people BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER invitations_insert_sync AFTER INSERT ON invitations BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER invitations_update_sync AFTER UPDATE ON invitations BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER invitations_delete_sync AFTER DELETE ON invitations BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER key_workers_insert_sync AFTER INSERT ON key_workers BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER key_workers_update_sync AFTER UPDATE ON key_workers BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER key_workers_delete_sync AFTER DELETE ON key_workers BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER message_reports_insert_sync AFTER INSERT ON message_reports BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER message_reports_update_sync AFTER UPDATE ON message_reports BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER message_reports_delete_sync AFTER DELETE ON message_reports BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER oauth_clients_insert_sync AFTER INSERT ON oauth_clients BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER oauth_clients_update_sync AFTER UPDATE ON oauth_clients BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER oauth_clients_delete_sync AFTER DELETE ON oauth_clients BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER peer_allocation_history_insert_sync AFTER INSERT ON peer_allocation_history BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER peer_allocation_history_update_sync AFTER UPDATE ON peer_allocation_history BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER peer_allocation_history_delete_sync AFTER DELETE ON peer_allocation_history BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER peer_allocations_insert_sync AFTER INSERT ON peer_allocations BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER peer_allocations_update_sync AFTER UPDATE ON peer_allocations BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER peer_allocations_delete_sync AFTER DELETE ON peer_allocations BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER peer_availability_insert_sync AFTER INSERT ON peer_availability BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER peer_availability_update_sync AFTER UPDATE ON peer_availability BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER peer_availability_delete_sync AFTER DELETE ON peer_availability BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER people_insert_sync AFTER INSERT ON people BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER people_update_sync AFTER UPDATE ON people BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER people_delete_sync AFTER DELETE ON people BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER plan_agreements_insert_sync AFTER INSERT ON plan_agreements BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER plan_agreements_update_sync AFTER UPDATE ON plan_agreements BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER plan_agreements_delete_sync AFTER DELETE ON plan_agreements BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER plan_comments_insert_sync AFTER INSERT ON plan_comments BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER plan_comments_update_sync AFTER UPDATE ON plan_comments BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER plan_comments_delete_sync AFTER DELETE ON plan_comments BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER plan_versions_insert_sync AFTER INSERT ON plan_versions BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER plan_versions_update_sync AFTER UPDATE ON plan_versions BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER plan_versions_delete_sync AFTER DELETE ON plan_versions BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER programme_facilitators_insert_sync AFTER INSERT ON programme_facilitators BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER programme_facilitators_update_sync AFTER UPDATE ON programme_facilitators BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER programme_facilitators_delete_sync AFTER DELETE ON programme_facilitators BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER programme_sessions_insert_sync AFTER INSERT ON programme_sessions BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER programme_sessions_update_sync AFTER UPDATE ON programme_sessions BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER programme_sessions_delete_sync AFTER DELETE ON programme_sessions BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER programmes_insert_sync AFTER INSERT ON programmes BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER programmes_update_sync AFTER UPDATE ON programmes BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER programmes_delete_sync AFTER DELETE ON programmes BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER referrals_insert_sync AFTER INSERT ON referrals BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER referrals_update_sync AFTER UPDATE ON referrals BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER referrals_delete_sync AFTER DELETE ON referrals BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER satisfaction_ratings_insert_sync AFTER INSERT ON satisfaction_ratings BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER satisfaction_ratings_update_sync AFTER UPDATE ON satisfaction_ratings BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER satisfaction_ratings_delete_sync AFTER DELETE ON satisfaction_ratings BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER team_member_history_insert_sync AFTER INSERT ON team_member_history BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER team_member_history_update_sync AFTER UPDATE ON team_member_history BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER team_member_history_delete_sync AFTER DELETE ON team_member_history BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER team_members_insert_sync AFTER INSERT ON team_members BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER team_members_update_sync AFTER UPDATE ON team_members BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER team_members_delete_sync AFTER DELETE ON team_members BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER teams_insert_sync AFTER INSERT ON teams BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER teams_update_sync AFTER UPDATE ON teams BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER teams_delete_sync AFTER DELETE ON teams BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER users_insert_sync AFTER INSERT ON users BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER users_update_sync AFTER UPDATE ON users BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER users_delete_sync AFTER DELETE ON users BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER webhook_subscription_kinds_insert_sync AFTER INSERT ON webhook_subscription_kinds BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER webhook_subscription_kinds_update_sync AFTER UPDATE ON webhook_subscription_kinds BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER webhook_subscription_kinds_delete_sync AFTER DELETE ON webhook_subscription_kinds BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER webhook_subscriptions_insert_sync AFTER INSERT ON webhook_subscriptions BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER webhook_subscriptions_update_sync AFTER UPDATE ON webhook_subscriptions BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER webhook_subscriptions_delete_sync AFTER DELETE ON webhook_subscriptions BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER wrap_settings_insert_sync AFTER INSERT ON wrap_settings BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER wrap_settings_update_sync AFTER UPDATE ON wrap_settings BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER wrap_settings_delete_sync AFTER DELETE ON wrap_settings BEGIN UPDATE sync_generation SET generation = generation + 1; END;

-- A message is written with its conversation's last_seq, which is counted; a message changed
-- or removed afterwards (its conversation untouched) is counted here.
CREATE TRIGGER messages_update_sync AFTER UPDATE ON messages BEGIN UPDATE sync_generation SET generation = generation + 1; END;
CREATE TRIGGER messages_delete_sync AFTER DELETE ON messages BEGIN UPDATE sync_generation SET generation = generation + 1; END;
