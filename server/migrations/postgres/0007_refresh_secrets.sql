-- Each session gets a secret from which its refresh tokens are derived: the successor of a
-- token is HMAC-SHA256(secret, token). A refresh repeated within the grace window can then
-- hand back the successor already issued (only its hash is stored) instead of starting a second
-- live branch of the session. Sessions from before this migration get their secret here, from
-- two random UUIDs (gen_random_uuid draws on the server's strong random source).
ALTER TABLE sessions ADD COLUMN refresh_secret bytea;
UPDATE sessions
    SET refresh_secret = sha256(uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()));
ALTER TABLE sessions ALTER COLUMN refresh_secret SET NOT NULL;
ALTER TABLE sessions ADD CONSTRAINT sessions_refresh_secret_length
    CHECK (octet_length(refresh_secret) = 32);
