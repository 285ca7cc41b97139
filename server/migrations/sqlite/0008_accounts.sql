-- Accounts that staff do not set passwords for: invitations (a person's first sign-in) and
-- password-reset codes. Both are one-time codes given to the person by hand; only a SHA-256 of
-- each is kept, and a code is spent by the statement that marks it used.
CREATE TABLE invitations (
    id           BLOB PRIMARY KEY NOT NULL,
    code_hash    BLOB NOT NULL UNIQUE,
    role         text NOT NULL CHECK (role IN ('service_user','carer','peer_worker','practitioner','admin')),
    person_id    BLOB REFERENCES people(id),
    display_name text NOT NULL,
    created_by   text NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    used_at      TEXT,
    user_id      BLOB REFERENCES users(id),
    CHECK ((role = 'service_user') = (person_id IS NOT NULL))
);
CREATE INDEX invitations_person ON invitations(person_id);

CREATE TABLE password_reset_codes (
    id         BLOB PRIMARY KEY NOT NULL,
    user_id    BLOB NOT NULL REFERENCES users(id),
    code_hash  BLOB NOT NULL UNIQUE,
    created_by text NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT
);
CREATE INDEX password_reset_codes_user ON password_reset_codes(user_id);

-- A disabled account cannot sign in, and every session it had was ended when it was disabled.
ALTER TABLE users ADD COLUMN disabled_at TEXT;

-- When the session's owner last proved who they are with their password (sign-in, or
-- reauthentication for a step-up). Sessions from before this migration count from their start.
ALTER TABLE sessions ADD COLUMN authenticated_at TEXT;
