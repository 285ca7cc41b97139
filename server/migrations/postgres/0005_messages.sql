-- Peer-support messaging: conversations, messages with gap-free per-conversation numbers and
-- exactly-once sends, read and delivery cursors, reports to the team, and peer workers' hours.

-- A conversation is about one person: with their peer worker (kind 'peer'), or with their
-- team (kind 'team'); a carer's own conversation with the person's team names the carer.
-- Who the worker or team is comes from the allocation and caseload on each request, so a
-- reallocation hands the conversation over with its history.
CREATE TABLE conversations (
    id              uuid PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('peer', 'team')),
    person_id       uuid NOT NULL REFERENCES people(id),
    carer_id        uuid REFERENCES users(id),
    -- The newest message's number; sends increment it under the row's lock.
    last_seq        bigint NOT NULL DEFAULT 0,
    last_message_at timestamptz,
    last_notice_at  timestamptz,
    created_at      timestamptz NOT NULL,
    CHECK (kind = 'team' OR carer_id IS NULL)
);
CREATE UNIQUE INDEX conversations_of_person ON conversations(person_id, kind) WHERE carer_id IS NULL;
CREATE UNIQUE INDEX conversations_of_carer ON conversations(carer_id, person_id) WHERE carer_id IS NOT NULL;
-- A team's inbox and a practitioner's oversight look conversations up by person.
CREATE INDEX conversations_person ON conversations(person_id);

CREATE TABLE messages (
    id              uuid PRIMARY KEY,
    conversation_id uuid NOT NULL REFERENCES conversations(id),
    seq             bigint NOT NULL,
    -- NULL: written by the service (an out-of-hours notice).
    sender_id       uuid REFERENCES users(id),
    client_id       uuid,
    kind            text NOT NULL CHECK (kind IN ('text', 'out_of_hours_notice')),
    body            text NOT NULL,
    notice          jsonb,
    created_at      timestamptz NOT NULL,
    CONSTRAINT messages_conversation_seq UNIQUE (conversation_id, seq),
    -- Permanent: a retry with the same client id, however late, finds the message stored.
    CONSTRAINT messages_sender_client_id UNIQUE (sender_id, client_id),
    CHECK ((sender_id IS NULL) = (client_id IS NULL))
);

-- How far each account has fetched (delivered) and read each conversation.
CREATE TABLE conversation_cursors (
    conversation_id uuid NOT NULL REFERENCES conversations(id),
    user_id         uuid NOT NULL REFERENCES users(id),
    delivered_seq   bigint NOT NULL,
    read_seq        bigint NOT NULL,
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (conversation_id, user_id)
);

CREATE TABLE message_reports (
    id          uuid PRIMARY KEY,
    message_id  uuid NOT NULL REFERENCES messages(id),
    reporter_id uuid NOT NULL REFERENCES users(id),
    reason      text,
    created_at  timestamptz NOT NULL,
    CONSTRAINT message_reports_once UNIQUE (message_id, reporter_id)
);

-- A peer worker's weekly hours (Europe/London) and away status; none stored means office hours.
CREATE TABLE peer_availability (
    user_id      uuid PRIMARY KEY REFERENCES users(id),
    weekly_hours jsonb NOT NULL,
    away         boolean NOT NULL,
    updated_at   timestamptz NOT NULL
);
