-- Plans: every change is a new immutable version; nothing is updated in place.
CREATE TABLE plan_versions (
    person_id   uuid NOT NULL REFERENCES people(id),
    kind        text NOT NULL CHECK (kind IN ('enablement_plan', 'wrap')),
    version     integer NOT NULL CHECK (version >= 1),
    body        jsonb NOT NULL,
    author_id   text NOT NULL,
    author_role text NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (person_id, kind, version)
);

CREATE TABLE plan_comments (
    id          uuid PRIMARY KEY,
    person_id   uuid NOT NULL REFERENCES people(id),
    version     integer NOT NULL,
    section     text NOT NULL,
    body        text NOT NULL,
    disagree    boolean NOT NULL,
    author_id   text NOT NULL,
    author_role text NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX plan_comments_person ON plan_comments(person_id, created_at);

CREATE TABLE plan_agreements (
    person_id  uuid NOT NULL REFERENCES people(id),
    version    integer NOT NULL,
    agreed_by  uuid NOT NULL REFERENCES users(id),
    agreed_role text NOT NULL,
    agreed_at  timestamptz NOT NULL,
    PRIMARY KEY (person_id, version, agreed_by)
);

-- The person's choices about their WRAP.
CREATE TABLE wrap_settings (
    person_id         uuid PRIMARY KEY REFERENCES people(id),
    team_may_coauthor boolean NOT NULL
);

-- Crisis-plan activations; the open one (not deactivated) is the current state.
CREATE TABLE crisis_activations (
    id               uuid PRIMARY KEY,
    person_id        uuid NOT NULL REFERENCES people(id),
    activated_by     text NOT NULL,
    activated_role   text NOT NULL,
    reason           text NOT NULL,
    activated_at     timestamptz NOT NULL,
    deactivated_by   text,
    deactivated_role text,
    deactivated_at   timestamptz
);
CREATE INDEX crisis_activations_person ON crisis_activations(person_id, activated_at);
-- At most one open activation per person.
CREATE UNIQUE INDEX crisis_activations_open ON crisis_activations(person_id) WHERE deactivated_at IS NULL;
