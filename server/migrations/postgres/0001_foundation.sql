-- Accounts, teams, people and the relationships that decide access; sessions and keys for
-- sign-in; the append-only audit log. Times are UTC.

CREATE TABLE teams (
    id          uuid PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    hub_address text,
    created_at  timestamptz NOT NULL
);

CREATE TABLE people (
    id           uuid PRIMARY KEY,
    display_name text NOT NULL,
    created_at   timestamptz NOT NULL
);

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    username      text NOT NULL UNIQUE,
    password_hash text NOT NULL,
    role          text NOT NULL CHECK (role IN ('service_user','carer','peer_worker','practitioner','admin')),
    display_name  text NOT NULL,
    person_id     uuid UNIQUE REFERENCES people(id),
    created_at    timestamptz NOT NULL,
    CHECK ((role = 'service_user') = (person_id IS NOT NULL))
);

-- A person is on at most one team's caseload.
CREATE TABLE caseloads (
    person_id uuid PRIMARY KEY REFERENCES people(id),
    team_id   uuid NOT NULL REFERENCES teams(id),
    since     timestamptz NOT NULL
);
CREATE INDEX caseloads_team ON caseloads(team_id);

CREATE TABLE team_members (
    team_id  uuid NOT NULL REFERENCES teams(id),
    user_id  uuid NOT NULL REFERENCES users(id),
    added_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, team_id)
);
CREATE INDEX team_members_team ON team_members(team_id);

CREATE TABLE peer_allocations (
    person_id      uuid PRIMARY KEY REFERENCES people(id),
    peer_worker_id uuid NOT NULL REFERENCES users(id),
    allocated_at   timestamptz NOT NULL
);
CREATE INDEX peer_allocations_worker ON peer_allocations(peer_worker_id);

CREATE TABLE carer_links (
    person_id    uuid NOT NULL REFERENCES people(id),
    carer_id     uuid NOT NULL REFERENCES users(id),
    relationship text,
    linked_at    timestamptz NOT NULL,
    PRIMARY KEY (person_id, carer_id)
);
CREATE INDEX carer_links_carer ON carer_links(carer_id);

CREATE TABLE consents (
    id                   uuid PRIMARY KEY,
    person_id            uuid NOT NULL REFERENCES people(id),
    carer_id             uuid NOT NULL REFERENCES users(id),
    scopes               jsonb NOT NULL,
    crisis_plan_sections jsonb NOT NULL,
    created_at           timestamptz NOT NULL,
    expires_at           timestamptz,
    revoked_at           timestamptz
);
CREATE INDEX consents_carer_person ON consents(carer_id, person_id) WHERE revoked_at IS NULL;
CREATE INDEX consents_person ON consents(person_id);

-- "People I do not want involved": no consent can be granted to them.
CREATE TABLE excluded_people (
    person_id uuid NOT NULL REFERENCES people(id),
    user_id   uuid NOT NULL REFERENCES users(id),
    added_at  timestamptz NOT NULL,
    PRIMARY KEY (person_id, user_id)
);

CREATE TABLE emergency_access (
    id              uuid PRIMARY KEY,
    person_id       uuid NOT NULL REFERENCES people(id),
    practitioner_id uuid NOT NULL REFERENCES users(id),
    reason          text NOT NULL,
    granted_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL
);
CREATE INDEX emergency_access_lookup ON emergency_access(practitioner_id, person_id, expires_at);

-- A session is one refresh-token family: revoking it ends every token of the sign-in.
CREATE TABLE sessions (
    id         uuid PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users(id),
    created_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE refresh_tokens (
    id         uuid PRIMARY KEY,
    session_id uuid NOT NULL REFERENCES sessions(id),
    token_hash bytea NOT NULL UNIQUE,
    issued_at  timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    rotated_at timestamptz
);
CREATE INDEX refresh_tokens_session ON refresh_tokens(session_id);

CREATE TABLE oauth_clients (
    client_id   text PRIMARY KEY,
    name        text NOT NULL,
    secret_hash text NOT NULL,
    scopes      jsonb NOT NULL,
    created_at  timestamptz NOT NULL
);

CREATE TABLE signing_keys (
    kid         text PRIMARY KEY,
    private_der bytea NOT NULL,
    created_at  timestamptz NOT NULL
);

-- Append-only; each entry's hash covers the previous entry's hash.
CREATE TABLE audit_log (
    seq          bigint PRIMARY KEY,
    at           timestamptz NOT NULL,
    actor_id     text,
    actor_role   text NOT NULL,
    on_behalf_of text,
    subject_id   uuid,
    resource     text NOT NULL,
    action       text NOT NULL,
    outcome      text NOT NULL,
    relationship text,
    request_id   text,
    prev_hash    bytea NOT NULL,
    hash         bytea NOT NULL
);
CREATE INDEX audit_log_subject ON audit_log(subject_id, seq);

CREATE FUNCTION audit_log_is_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();

-- Row triggers do not fire on TRUNCATE.
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();
