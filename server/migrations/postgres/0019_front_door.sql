-- The front door and the team's view (referrals, triage, key workers, closed cases,
-- satisfaction). One migration so the report's queries and the writes that feed them agree on
-- one shape.

-- A referral (POST /v1/referrals): from the person themselves, with no account (`self`), or from
-- a partner agency or GP through a staff system (`partner`). `team_id` is the hub team that holds
-- it: the hub asked for (NULL: any hub, the single front door), then the team that triaged it.
-- Untriaged while `outcome` is NULL. An accepted referral names the person it created on
-- `team_id`'s caseload; a signposted one says where to. `proof_id` is the spent proof-of-work
-- challenge of a self-referral: a challenge pays for one referral.
CREATE TABLE referrals (
    id                 uuid PRIMARY KEY,
    source             text NOT NULL CHECK (source IN ('self', 'partner')),
    referrer_client_id text,
    referrer           text,
    display_name       text NOT NULL,
    contact            jsonb NOT NULL,
    help_wanted        text NOT NULL,
    consent_to_contact boolean NOT NULL,
    team_id            uuid REFERENCES teams(id),
    proof_id           text UNIQUE,
    received_at        timestamptz NOT NULL,
    outcome            text CHECK (outcome IN ('accepted', 'signposted', 'crisis_response')),
    triaged_at         timestamptz,
    triaged_by         uuid REFERENCES users(id),
    person_id          uuid REFERENCES people(id),
    signposted_to      text,
    CHECK ((outcome IS NULL) = (triaged_at IS NULL)),
    CHECK ((source = 'partner') = (referrer_client_id IS NOT NULL))
);
-- The report reads a window of a team's referrals; triage lists a team's open ones.
CREATE INDEX referrals_team_received ON referrals(team_id, received_at);
CREATE INDEX referrals_open ON referrals(received_at) WHERE outcome IS NULL;

-- A person's key worker: the practitioner who holds the case (caseload per worker).
CREATE TABLE key_workers (
    person_id uuid PRIMARY KEY REFERENCES people(id),
    user_id   uuid NOT NULL REFERENCES users(id),
    since     timestamptz NOT NULL
);
CREATE INDEX key_workers_user ON key_workers(user_id);

-- A caseload place that ended because the case was closed (the person left the service), not
-- because they moved to another team. Cases closed per month are read from here.
ALTER TABLE caseload_history ADD COLUMN closed boolean NOT NULL DEFAULT false;
CREATE INDEX caseload_history_team_ended ON caseload_history(team_id, ended_at);

-- A person's rating of a workshop session or a review they had (an appointment of theirs), 1–5
-- with an optional comment: one per appointment, editable for 7 days from `rated_at`. `team_id`
-- is the person's team when they rated. The team sees who wrote the comment only while
-- `name_shared` (the person's choice).
CREATE TABLE satisfaction_ratings (
    id             uuid PRIMARY KEY,
    person_id      uuid NOT NULL REFERENCES people(id),
    appointment_id uuid NOT NULL REFERENCES appointments(id),
    kind           text NOT NULL,
    team_id        uuid REFERENCES teams(id),
    score          integer NOT NULL CHECK (score BETWEEN 1 AND 5),
    comment        text,
    name_shared    boolean NOT NULL DEFAULT false,
    rated_at       timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    UNIQUE (person_id, appointment_id)
);
CREATE INDEX satisfaction_ratings_team_rated ON satisfaction_ratings(team_id, rated_at);
