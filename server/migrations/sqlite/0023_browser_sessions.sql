-- Browser sign-ins (the team dashboard under /reports): the cookie holds an opaque random secret
-- and only its SHA-256 is kept here, naming an ordinary session. Each request reads the session,
-- so signing out, a password reset or a disabled account (each ends the session) end the browser
-- sign-in at once; it also lapses by itself at `expires_at`.
CREATE TABLE browser_sessions (
    secret_hash BLOB PRIMARY KEY NOT NULL,
    session_id  BLOB NOT NULL REFERENCES sessions(id),
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
CREATE INDEX browser_sessions_session ON browser_sessions(session_id);
