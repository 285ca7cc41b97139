-- Relationship history: the relationships that decide access, kept after they end, so an
-- access can be judged at a past instant (an offline read uploaded later is accepted when the
-- reader could see the record when the phone showed it). The current tables (`caseloads`,
-- `team_members`, `peer_allocations`) keep their start times and stay the "now" every request
-- reads; when a relationship ends — the person moves to another team's caseload, a member
-- leaves a team, a peer worker is reallocated — its row is copied here with its start and end,
-- in the transaction of the change. Relationships ended before this migration are not known.
CREATE TABLE caseload_history (
    person_id  BLOB NOT NULL REFERENCES people(id),
    team_id    BLOB NOT NULL REFERENCES teams(id),
    started_at TEXT NOT NULL,
    ended_at   TEXT NOT NULL
);
CREATE INDEX caseload_history_person ON caseload_history(person_id);

CREATE TABLE team_member_history (
    team_id    BLOB NOT NULL REFERENCES teams(id),
    user_id    BLOB NOT NULL REFERENCES users(id),
    started_at TEXT NOT NULL,
    ended_at   TEXT NOT NULL
);
CREATE INDEX team_member_history_user ON team_member_history(user_id);

CREATE TABLE peer_allocation_history (
    person_id      BLOB NOT NULL REFERENCES people(id),
    peer_worker_id BLOB NOT NULL REFERENCES users(id),
    started_at     TEXT NOT NULL,
    ended_at       TEXT NOT NULL
);
CREATE INDEX peer_allocation_history_person ON peer_allocation_history(person_id);

-- Consents are read at a past instant too, revoked ones included.
CREATE INDEX consents_grantee_person ON consents(grantee_id, person_id);

-- Offline reads uploaded by a phone (`POST /v1/audit/offline-reads`), one row per (uploader,
-- event id), written in the transaction that appends the read's audit entry: an upload sent
-- again, even after a crash between commit and answer, records each read once. `person_id`
-- has no reference: a refused read may name anyone, and is recorded all the same. `sections`
-- is the crisis-plan sections shown, `[]` when none were named.
CREATE TABLE offline_reads (
    uploader_id BLOB NOT NULL REFERENCES users(id),
    event_id    BLOB NOT NULL,
    person_id   BLOB NOT NULL,
    record      text NOT NULL,
    sections    TEXT NOT NULL,
    read_at     TEXT NOT NULL,
    outcome     text NOT NULL,
    audit_seq   INTEGER NOT NULL REFERENCES audit_log(seq),
    uploaded_at TEXT NOT NULL,
    PRIMARY KEY (uploader_id, event_id)
);
