-- Events addressed to one account: what its devices' event streams carry and what it can list
-- as notifications. Ids grow in commit order (appends hold an advisory lock), so a stream can
-- resume after the last id it saw without missing any.
CREATE TABLE events (
    id           bigserial PRIMARY KEY,
    recipient_id uuid NOT NULL REFERENCES users(id),
    kind         text NOT NULL,
    person_id    uuid REFERENCES people(id),
    data         jsonb NOT NULL,
    created_at   timestamptz NOT NULL
);
CREATE INDEX events_recipient ON events(recipient_id, id);
