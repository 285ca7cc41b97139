-- Appointments, workshop programmes, bookings and waitlists.
--
-- Capacity: every change to a programme's bookings first bumps `programmes.booking_seq`, which
-- takes the programme row's lock until commit; counting and inserting happen under it, so
-- concurrent bookings queue and the count cannot be overtaken. The bumped value orders the
-- waitlist (arrival order).

CREATE TABLE programmes (
    id                 uuid PRIMARY KEY,
    team_id            uuid NOT NULL REFERENCES teams(id),
    title              text NOT NULL,
    description        text,
    location           jsonb NOT NULL,
    capacity           bigint NOT NULL CHECK (capacity > 0),
    booking_unit       text NOT NULL CHECK (booking_unit IN ('programme', 'session')),
    offer_hold_minutes bigint NOT NULL CHECK (offer_hold_minutes > 0),
    booking_seq        bigint NOT NULL DEFAULT 0,
    created_by         text NOT NULL,
    created_at         timestamptz NOT NULL
);
CREATE INDEX programmes_team ON programmes(team_id, id);

CREATE TABLE programme_sessions (
    id           uuid PRIMARY KEY,
    programme_id uuid NOT NULL REFERENCES programmes(id),
    number       bigint NOT NULL,
    starts_at    timestamptz NOT NULL,
    ends_at      timestamptz NOT NULL CHECK (ends_at > starts_at),
    UNIQUE (programme_id, number)
);

-- `unit_id` is what a place is counted against: the session for programmes booked session by
-- session, else the programme itself.
CREATE TABLE bookings (
    id               uuid PRIMARY KEY,
    programme_id     uuid NOT NULL REFERENCES programmes(id),
    session_id       uuid REFERENCES programme_sessions(id),
    unit_id          uuid NOT NULL,
    person_id        uuid NOT NULL REFERENCES people(id),
    seq              bigint NOT NULL,
    status           text NOT NULL CHECK (status IN
                         ('booked', 'waitlisted', 'offered', 'cancelled', 'declined', 'offer_expired')),
    offer_expires_at timestamptz,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
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
    id                   uuid PRIMARY KEY,
    person_id            uuid NOT NULL REFERENCES people(id),
    kind                 text NOT NULL,
    title                text,
    starts_at            timestamptz NOT NULL,
    ends_at              timestamptz NOT NULL CHECK (ends_at > starts_at),
    location             jsonb NOT NULL,
    status               text NOT NULL CHECK (status IN
                             ('booked', 'confirmed', 'cancelled', 'attended', 'did_not_attend')),
    notes_for_person     text,
    accessibility        jsonb NOT NULL,
    worker_ids           jsonb NOT NULL,
    request              jsonb,
    request_pending      boolean NOT NULL DEFAULT false,
    programme_id         uuid REFERENCES programmes(id),
    programme_session_id uuid REFERENCES programme_sessions(id),
    booking_id           uuid REFERENCES bookings(id),
    sequence             bigint NOT NULL DEFAULT 0,
    created_by           text NOT NULL,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL
);
-- A person's diary in time order (lists, calendar feed).
CREATE INDEX appointments_person_time ON appointments(person_id, starts_at, id);
CREATE INDEX appointments_booking ON appointments(booking_id) WHERE booking_id IS NOT NULL;

-- Who takes part; the worker diary reads it.
CREATE TABLE appointment_workers (
    appointment_id uuid NOT NULL REFERENCES appointments(id),
    user_id        uuid NOT NULL REFERENCES users(id),
    PRIMARY KEY (appointment_id, user_id)
);
CREATE INDEX appointment_workers_user ON appointment_workers(user_id, appointment_id);
