-- Peer-support messaging: conversations, messages with gap-free per-conversation numbers and
-- exactly-once sends, read and delivery cursors, reports to the team, and peer workers' hours.

-- A conversation is about one person: with their peer worker (kind 'peer'), or with their
-- team (kind 'team'); a carer's own conversation with the person's team names the carer.
-- Who the worker or team is comes from the allocation and caseload on each request, so a
-- reallocation hands the conversation over with its history.
CREATE TABLE conversations (
    id              BLOB PRIMARY KEY NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('peer', 'team')),
    person_id       BLOB NOT NULL REFERENCES people(id),
    carer_id        BLOB REFERENCES users(id),
    -- The newest message's number; sends increment it holding the write lock.
    last_seq        INTEGER NOT NULL DEFAULT 0,
    last_message_at TEXT,
    last_notice_at  TEXT,
    created_at      TEXT NOT NULL,
    CHECK (kind = 'team' OR carer_id IS NULL)
);
CREATE UNIQUE INDEX conversations_of_person ON conversations(person_id, kind) WHERE carer_id IS NULL;
CREATE UNIQUE INDEX conversations_of_carer ON conversations(carer_id, person_id) WHERE carer_id IS NOT NULL;
-- A team's inbox and a practitioner's oversight look conversations up by person.
CREATE INDEX conversations_person ON conversations(person_id);

CREATE TABLE messages (
    id              BLOB PRIMARY KEY NOT NULL,
    conversation_id BLOB NOT NULL REFERENCES conversations(id),
    seq             INTEGER NOT NULL,
    -- NULL: written by the service (an out-of-hours notice).
    sender_id       BLOB REFERENCES users(id),
    client_id       BLOB,
    kind            TEXT NOT NULL CHECK (kind IN ('text', 'out_of_hours_notice')),
    body            TEXT NOT NULL,
    notice          TEXT,
    created_at      TEXT NOT NULL,
    CONSTRAINT messages_conversation_seq UNIQUE (conversation_id, seq),
    -- Permanent: a retry with the same client id, however late, finds the message stored.
    CONSTRAINT messages_sender_client_id UNIQUE (sender_id, client_id),
    CHECK ((sender_id IS NULL) = (client_id IS NULL))
);

-- How far each account has fetched (delivered) and read each conversation.
CREATE TABLE conversation_cursors (
    conversation_id BLOB NOT NULL REFERENCES conversations(id),
    user_id         BLOB NOT NULL REFERENCES users(id),
    delivered_seq   INTEGER NOT NULL,
    read_seq        INTEGER NOT NULL,
    updated_at      TEXT NOT NULL,
    PRIMARY KEY (conversation_id, user_id)
);

CREATE TABLE message_reports (
    id          BLOB PRIMARY KEY NOT NULL,
    message_id  BLOB NOT NULL REFERENCES messages(id),
    reporter_id BLOB NOT NULL REFERENCES users(id),
    reason      TEXT,
    created_at  TEXT NOT NULL,
    CONSTRAINT message_reports_once UNIQUE (message_id, reporter_id)
);

-- A peer worker's weekly hours (Europe/London) and away status; none stored means office hours.
CREATE TABLE peer_availability (
    user_id      BLOB PRIMARY KEY NOT NULL REFERENCES users(id),
    weekly_hours TEXT NOT NULL,
    away         BOOLEAN NOT NULL,
    updated_at   TEXT NOT NULL
);
