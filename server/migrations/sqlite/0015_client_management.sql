-- Staff-system clients are managed by admins: a disabled client's tokens stop working at once,
-- and a rotated secret leaves the previous one working until `previous_secret_until`, so the
-- system can be given its new secret without an outage.
ALTER TABLE oauth_clients ADD COLUMN disabled_at TEXT;
ALTER TABLE oauth_clients ADD COLUMN previous_secret_hash text;
ALTER TABLE oauth_clients ADD COLUMN previous_secret_until TEXT;
