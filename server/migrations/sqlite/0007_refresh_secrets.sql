-- Each session gets a secret from which its refresh tokens are derived: the successor of a
-- token is HMAC-SHA256(secret, token). A refresh repeated within the grace window can then
-- hand back the successor already issued (only its hash is stored) instead of starting a second
-- live branch of the session. Sessions from before this migration get their secret here.
--
-- SQLite adds a NOT NULL column only with a constant default, and checks a CHECK added with a
-- column against the rows already there; so the column comes with an empty default, existing
-- sessions are given their secrets, and triggers then refuse any session stored without one.
ALTER TABLE sessions ADD COLUMN refresh_secret BLOB NOT NULL DEFAULT x'';
UPDATE sessions SET refresh_secret = randomblob(32);

CREATE TRIGGER sessions_refresh_secret_on_insert BEFORE INSERT ON sessions
WHEN length(NEW.refresh_secret) IS NOT 32
BEGIN
    SELECT RAISE(ABORT, 'a session needs a 32-byte refresh secret');
END;

CREATE TRIGGER sessions_refresh_secret_on_update BEFORE UPDATE OF refresh_secret ON sessions
WHEN length(NEW.refresh_secret) IS NOT 32
BEGIN
    SELECT RAISE(ABORT, 'a session needs a 32-byte refresh secret');
END;
