-- Appointments, workshop programmes, bookings and waitlists.
--
-- Capacity: every change to a programme's bookings first bumps `programmes.booking_seq` inside a
-- write transaction (BEGIN IMMEDIATE: SQLite's one writer), and counts and inserts under it, so
-- concurrent bookings queue and the count cannot be overtaken. The bumped value orders the
-- waitlist (arrival order). Ids are 16-byte BLOBs, times RFC 3339 text, JSON as text.

CREATE TABLE programmes (
    id                 BLOB PRIMARY KEY NOT NULL,
    team_id            BLOB NOT NULL REFERENCES teams(id),
    title              text NOT NULL,
    description        text,
    location           TEXT NOT NULL,
    capacity           INTEGER NOT NULL CHECK (capacity > 0),
    booking_unit       text NOT NULL CHECK (booking_unit IN ('programme', 'session')),
    offer_hold_minutes INTEGER NOT NULL CHECK (offer_hold_minutes > 0),
    booking_seq        INTEGER NOT NULL DEFAULT 0,
    created_by         text NOT NULL,
    created_at         TEXT NOT NULL
);
CREATE INDEX programmes_team ON programmes(team_id, id);

CREATE TABLE programme_sessions (
    id           BLOB PRIMARY KEY NOT NULL,
    programme_id BLOB NOT NULL REFERENCES programmes(id),
    number       INTEGER NOT NULL,
    starts_at    TEXT NOT NULL,
    ends_at      TEXT NOT NULL CHECK (ends_at > starts_at),
    UNIQUE (programme_id, number)
);

-- `unit_id` is what a place is counted against: the session for programmes booked session by
-- session, else the programme itself.
CREATE TABLE bookings (
    id               BLOB PRIMARY KEY NOT NULL,
    programme_id     BLOB NOT NULL REFERENCES programmes(id),
    session_id       BLOB REFERENCES programme_sessions(id),
    unit_id          BLOB NOT NULL,
    person_id        BLOB NOT NULL REFERENCES people(id),
    seq              INTEGER NOT NULL,
    status           text NOT NULL CHECK (status IN
                         ('booked', 'waitlisted', 'offered', 'cancelled', 'declined', 'offer_expired')),
    offer_expires_at TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    UNIQUE (programme_id, seq),
    CHECK ((status = 'offered') = (offer_expires_at IS NOT NULL))
);
-- One place, offer or waitlist place per person per unit.
CREATE UNIQUE INDEX bookings_one_active ON bookings(unit_id, person_id)
    WHERE status IN ('booked', 'waitlisted', 'offered');
-- Counting places and walking the waitlist in order.
CREATE INDEX bookings_queue ON bookings(unit_id, status, seq);
CREATE INDEX bookings_person ON bookings(person_id, created_at);
-- Finding lapsed offers.
CREATE INDEX bookings_offers ON bookings(offer_expires_at) WHERE status = 'offered';

CREATE TABLE appointments (
    id                   BLOB PRIMARY KEY NOT NULL,
    person_id            BLOB NOT NULL REFERENCES people(id),
    kind                 text NOT NULL,
    title                text,
    starts_at            TEXT NOT NULL,
    ends_at              TEXT NOT NULL CHECK (ends_at > starts_at),
    location             TEXT NOT NULL,
    status               text NOT NULL CHECK (status IN
                             ('booked', 'confirmed', 'cancelled', 'attended', 'did_not_attend')),
    notes_for_person     text,
    accessibility        TEXT NOT NULL,
    worker_ids           TEXT NOT NULL,
    request              TEXT,
    request_pending      INTEGER NOT NULL DEFAULT 0,
    programme_id         BLOB REFERENCES programmes(id),
    programme_session_id BLOB REFERENCES programme_sessions(id),
    booking_id           BLOB REFERENCES bookings(id),
    sequence             INTEGER NOT NULL DEFAULT 0,
    created_by           text NOT NULL,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL
);
-- A person's diary in time order (lists, calendar feed).
CREATE INDEX appointments_person_time ON appointments(person_id, starts_at, id);
CREATE INDEX appointments_booking ON appointments(booking_id) WHERE booking_id IS NOT NULL;

-- Who takes part; the worker diary reads it.
CREATE TABLE appointment_workers (
    appointment_id BLOB NOT NULL REFERENCES appointments(id),
    user_id        BLOB NOT NULL REFERENCES users(id),
    PRIMARY KEY (appointment_id, user_id)
);
CREATE INDEX appointment_workers_user ON appointment_workers(user_id, appointment_id);
