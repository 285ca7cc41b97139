-- Plans: every change is a new immutable version; nothing is updated in place.
CREATE TABLE plan_versions (
    person_id   BLOB NOT NULL REFERENCES people(id),
    kind        TEXT NOT NULL CHECK (kind IN ('enablement_plan', 'wrap')),
    version     INTEGER NOT NULL CHECK (version >= 1),
    body        TEXT NOT NULL,
    author_id   TEXT NOT NULL,
    author_role TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (person_id, kind, version)
);

CREATE TABLE plan_comments (
    id          BLOB PRIMARY KEY NOT NULL,
    person_id   BLOB NOT NULL REFERENCES people(id),
    version     INTEGER NOT NULL,
    section     TEXT NOT NULL,
    body        TEXT NOT NULL,
    disagree    BOOLEAN NOT NULL,
    author_id   TEXT NOT NULL,
    author_role TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX plan_comments_person ON plan_comments(person_id, created_at);

CREATE TABLE plan_agreements (
    person_id  BLOB NOT NULL REFERENCES people(id),
    version    INTEGER NOT NULL,
    agreed_by  BLOB NOT NULL REFERENCES users(id),
    agreed_role TEXT NOT NULL,
    agreed_at  TEXT NOT NULL,
    PRIMARY KEY (person_id, version, agreed_by)
);

-- The person's choices about their WRAP.
CREATE TABLE wrap_settings (
    person_id         BLOB PRIMARY KEY NOT NULL REFERENCES people(id),
    team_may_coauthor BOOLEAN NOT NULL
);

-- Crisis-plan activations; the open one (not deactivated) is the current state.
CREATE TABLE crisis_activations (
    id               BLOB PRIMARY KEY NOT NULL,
    person_id        BLOB NOT NULL REFERENCES people(id),
    activated_by     TEXT NOT NULL,
    activated_role   TEXT NOT NULL,
    reason           TEXT NOT NULL,
    activated_at     TEXT NOT NULL,
    deactivated_by   TEXT,
    deactivated_role TEXT,
    deactivated_at   TEXT
);
CREATE INDEX crisis_activations_person ON crisis_activations(person_id, activated_at);
-- At most one open activation per person.
CREATE UNIQUE INDEX crisis_activations_open ON crisis_activations(person_id) WHERE deactivated_at IS NULL;
