-- Accounts that staff do not set passwords for: invitations (a person's first sign-in) and
-- password-reset codes. Both are one-time codes given to the person by hand; only a SHA-256 of
-- each is kept, and a code is spent by the statement that marks it used.
CREATE TABLE invitations (
    id           uuid PRIMARY KEY,
    code_hash    bytea NOT NULL UNIQUE,
    role         text NOT NULL CHECK (role IN ('service_user','carer','peer_worker','practitioner','admin')),
    person_id    uuid REFERENCES people(id),
    display_name text NOT NULL,
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz,
    user_id      uuid REFERENCES users(id),
    CHECK ((role = 'service_user') = (person_id IS NOT NULL))
);
CREATE INDEX invitations_person ON invitations(person_id);

CREATE TABLE password_reset_codes (
    id         uuid PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users(id),
    code_hash  bytea NOT NULL UNIQUE,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX password_reset_codes_user ON password_reset_codes(user_id);

-- A disabled account cannot sign in, and every session it had was ended when it was disabled.
ALTER TABLE users ADD COLUMN disabled_at timestamptz;

-- When the session's owner last proved who they are with their password (sign-in, or
-- reauthentication for a step-up). Sessions from before this migration count from their start.
ALTER TABLE sessions ADD COLUMN authenticated_at timestamptz;
