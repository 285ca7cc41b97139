//! Appointments, programmes (workshops), bookings and waitlists.
//!
//! Guarantees, on both databases:
//! - **Capacity is never exceeded.** Every change to a programme's bookings runs in one write
//!   transaction that starts by bumping `programmes.booking_seq`. On Postgres that update holds
//!   the programme row's lock until commit; on SQLite the transaction is `BEGIN IMMEDIATE`, the
//!   database's one writer. Either way, the places are counted and the booking written with no
//!   other change to that programme in between, so concurrent bookings for the last place queue
//!   and exactly one gets it. (Under Postgres READ COMMITTED each statement after the lock sees
//!   everything committed before it was granted.) A unique index also allows one active booking
//!   per person per unit.
//! - **The waitlist is served in arrival order.** The bumped `booking_seq` is the booking's place
//!   in the queue, given under the same lock.
//! - **A free place goes to the waitlist first.** Each locked change first *settles* the
//!   programme: offers not answered in time lapse, and every free place is offered to the first
//!   waiting person (held for the programme's hold time), before anyone new is counted.
//! - **Offers are announced by the change that makes them.** Each person offered a place is
//!   told (through their app account, if they have one) by an event stored in the same
//!   transaction as the offer, so an offer is never made without its notice. An appointment's
//!   own changes store the events they are given in their transaction too (see
//!   [`super::events`]).
//! - **The diary follows the booking.** A booked place puts the sessions in the person's
//!   appointments (kind `enablement_workshop`), and cancelling it cancels the sessions still to
//!   come, in the same transaction.

use chrono::{DateTime, Utc};
use livingwell_core::api::events::{Event, WaitlistOfferData};
use livingwell_core::domain::appointment::{
    Accessibility, AppointmentId, AppointmentKind, AppointmentStatus, BookingId, BookingStatus,
    BookingUnit, Decision, Location, PersonRequest, ProgrammeId, ProgrammeSessionId,
};
use livingwell_core::domain::{PersonId, TeamId, UserId};
use sqlx::types::Json;
use sqlx::{ColumnIndex, Executor};
use uuid::Uuid;

use super::backend::{Backend, Bind, Column, RowsAffected as _, SqlStore, Tx};
use super::events::{NewEvent, append_in_tx};
use super::idempotency::begin_write;
use super::reads_here::{Columns, HereRow, Param};
use super::{StoreError, StoreResult, TeamRecord};

/// An appointment as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppointmentRecord {
    pub id: AppointmentId,
    pub person_id: PersonId,
    pub kind: AppointmentKind,
    pub title: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub location: Location,
    pub status: AppointmentStatus,
    pub notes_for_person: Option<String>,
    pub accessibility: Accessibility,
    pub worker_ids: Vec<UserId>,
    pub request: Option<PersonRequest>,
    pub programme_id: Option<ProgrammeId>,
    pub programme_session_id: Option<ProgrammeSessionId>,
    pub booking_id: Option<BookingId>,
    /// Grows by one with every change; an update names the one it read.
    pub sequence: i64,
    /// The audit id of whoever created it, or `booking` for workshop sessions.
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
pub(super) struct AppointmentRow {
    id: Uuid,
    person_id: Uuid,
    kind: String,
    title: Option<String>,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    location: Json<Location>,
    status: String,
    notes_for_person: Option<String>,
    accessibility: Json<Accessibility>,
    worker_ids: Json<Vec<UserId>>,
    request: Option<Json<PersonRequest>>,
    programme_id: Option<Uuid>,
    programme_session_id: Option<Uuid>,
    booking_id: Option<Uuid>,
    sequence: i64,
    created_by: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl HereRow for AppointmentRow {
    fn from_here(row: &Columns<'_>) -> Option<Self> {
        Some(AppointmentRow {
            id: row.id("id")?,
            person_id: row.id("person_id")?,
            kind: row.text("kind")?,
            title: row.optional_text("title")?,
            starts_at: row.time("starts_at")?,
            ends_at: row.time("ends_at")?,
            location: row.json("location")?,
            status: row.text("status")?,
            notes_for_person: row.optional_text("notes_for_person")?,
            accessibility: row.json("accessibility")?,
            worker_ids: row.json("worker_ids")?,
            request: row.optional_json("request")?,
            programme_id: row.optional_id("programme_id")?,
            programme_session_id: row.optional_id("programme_session_id")?,
            booking_id: row.optional_id("booking_id")?,
            sequence: row.int("sequence")?,
            created_by: row.text("created_by")?,
            created_at: row.time("created_at")?,
            updated_at: row.time("updated_at")?,
        })
    }
}

/// One row of a page of appointments: the appointment and, at a hub, its team's name and
/// address (NULL elsewhere).
#[derive(sqlx::FromRow)]
struct HubbedAppointmentRow {
    #[sqlx(flatten)]
    appointment: AppointmentRow,
    hub_name: Option<String>,
    hub_address: Option<String>,
}

impl HereRow for HubbedAppointmentRow {
    fn from_here(row: &Columns<'_>) -> Option<Self> {
        Some(HubbedAppointmentRow {
            appointment: AppointmentRow::from_here(row)?,
            hub_name: row.optional_text("hub_name")?,
            hub_address: row.optional_text("hub_address")?,
        })
    }
}

impl TryFrom<AppointmentRow> for AppointmentRecord {
    type Error = StoreError;
    fn try_from(row: AppointmentRow) -> Result<Self, StoreError> {
        let kind = AppointmentKind::parse(&row.kind)
            .ok_or_else(|| StoreError::Corrupt("unknown appointment kind".into()))?;
        let status = AppointmentStatus::parse(&row.status)
            .ok_or_else(|| StoreError::Corrupt("unknown appointment status".into()))?;
        Ok(AppointmentRecord {
            id: row.id.into(),
            person_id: row.person_id.into(),
            kind,
            title: row.title,
            starts_at: row.starts_at,
            ends_at: row.ends_at,
            location: row.location.0,
            status,
            notes_for_person: row.notes_for_person,
            accessibility: row.accessibility.0,
            worker_ids: row.worker_ids.0,
            request: row.request.map(|r| r.0),
            programme_id: row.programme_id.map(Into::into),
            programme_session_id: row.programme_session_id.map(Into::into),
            booking_id: row.booking_id.map(Into::into),
            sequence: row.sequence,
            created_by: row.created_by,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

pub(super) const APPOINTMENT_COLUMNS: &str = "a.id, a.person_id, a.kind, a.title, a.starts_at, \
     a.ends_at, a.location, a.status, a.notes_for_person, a.accessibility, a.worker_ids, \
     a.request, a.programme_id, a.programme_session_id, a.booking_id, a.sequence, a.created_by, \
     a.created_at, a.updated_at";

/// A page of appointments, with the hubs their locations name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppointmentsPage {
    pub appointments: Vec<AppointmentRecord>,
    /// The teams whose hubs the appointments are at, each once, read with them.
    pub hubs: Vec<TeamRecord>,
}

/// Appointments starting in `[from, to)`, after the cursor (start time, then id).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub after: Option<(DateTime<Utc>, AppointmentId)>,
}

impl Window {
    /// The cursor to bind: with none, the window's start and the lowest id, which lets every
    /// appointment at or after `from` through the same condition.
    pub(super) fn cursor(&self) -> (DateTime<Utc>, Uuid) {
        self.after
            .map(|(at, id)| (at, id.as_uuid()))
            .unwrap_or((self.from, Uuid::nil()))
    }
}

/// Whose diary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiaryScope {
    /// Everyone on the team's caseload.
    Team(TeamId),
    /// Appointments a member of staff takes part in.
    Worker(UserId),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgrammeSessionRecord {
    pub id: ProgrammeSessionId,
    pub number: i64,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgrammeRecord {
    pub id: ProgrammeId,
    pub team_id: TeamId,
    pub title: String,
    pub description: Option<String>,
    pub location: Location,
    pub capacity: i64,
    pub booking_unit: BookingUnit,
    pub offer_hold_minutes: i64,
    pub sessions: Vec<ProgrammeSessionRecord>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

impl ProgrammeRecord {
    /// What places are counted against for a booking of `session` (or of the whole programme).
    pub fn unit_of(&self, session: Option<ProgrammeSessionId>) -> Uuid {
        session.map_or(self.id.as_uuid(), |s| s.as_uuid())
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct ProgrammeRow {
    pub(super) id: Uuid,
    team_id: Uuid,
    title: String,
    description: Option<String>,
    location: Json<Location>,
    capacity: i64,
    booking_unit: String,
    offer_hold_minutes: i64,
    created_by: String,
    created_at: DateTime<Utc>,
}

impl ProgrammeRow {
    pub(super) fn into_record(
        self,
        sessions: Vec<ProgrammeSessionRow>,
    ) -> StoreResult<ProgrammeRecord> {
        let booking_unit = BookingUnit::parse(&self.booking_unit)
            .ok_or_else(|| StoreError::Corrupt("unknown booking unit".into()))?;
        Ok(ProgrammeRecord {
            id: self.id.into(),
            team_id: self.team_id.into(),
            title: self.title,
            description: self.description,
            location: self.location.0,
            capacity: self.capacity,
            booking_unit,
            offer_hold_minutes: self.offer_hold_minutes,
            sessions: sessions
                .into_iter()
                .map(|s| ProgrammeSessionRecord {
                    id: s.id.into(),
                    number: s.number,
                    starts_at: s.starts_at,
                    ends_at: s.ends_at,
                })
                .collect(),
            created_by: self.created_by,
            created_at: self.created_at,
        })
    }
}

pub(super) const PROGRAMME_COLUMNS: &str = "id, team_id, title, description, location, capacity, \
     booking_unit, offer_hold_minutes, created_by, created_at";

#[derive(sqlx::FromRow)]
pub(super) struct ProgrammeSessionRow {
    id: Uuid,
    number: i64,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
}

/// Places taken (or held by an offer) and people waiting, for one unit of a programme.
#[derive(Clone, Copy, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct PlaceCount {
    pub unit_id: Uuid,
    pub holding: i64,
    pub waiting: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookingRecord {
    pub id: BookingId,
    pub programme_id: ProgrammeId,
    pub session_id: Option<ProgrammeSessionId>,
    pub person_id: PersonId,
    /// Arrival order within the programme.
    pub seq: i64,
    pub status: BookingStatus,
    /// While waitlisted: 1 is next.
    pub waitlist_position: Option<i64>,
    pub offer_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
pub(super) struct BookingRow {
    id: Uuid,
    programme_id: Uuid,
    session_id: Option<Uuid>,
    person_id: Uuid,
    seq: i64,
    status: String,
    waitlist_position: Option<i64>,
    offer_expires_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<BookingRow> for BookingRecord {
    type Error = StoreError;
    fn try_from(row: BookingRow) -> Result<Self, StoreError> {
        let status = BookingStatus::parse(&row.status)
            .ok_or_else(|| StoreError::Corrupt("unknown booking status".into()))?;
        Ok(BookingRecord {
            id: row.id.into(),
            programme_id: row.programme_id.into(),
            session_id: row.session_id.map(Into::into),
            person_id: row.person_id.into(),
            seq: row.seq,
            status,
            waitlist_position: row.waitlist_position,
            offer_expires_at: row.offer_expires_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// Bookings with their place in the queue, counted among those waiting for the same unit.
/// A session of a booked place, with what its appointment copies from the programme.
#[derive(sqlx::FromRow)]
struct BookedSessionRow {
    person_id: Uuid,
    programme_id: Uuid,
    session_id: Uuid,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    title: String,
    location: Json<Location>,
}

pub(super) const BOOKING_SELECT: &str = "SELECT b.id, b.programme_id, b.session_id, \
     b.person_id, b.seq, b.status, b.offer_expires_at, b.created_at, b.updated_at, \
     CASE WHEN b.status = 'waitlisted' THEN \
       (SELECT COUNT(*) FROM bookings w \
        WHERE w.unit_id = b.unit_id AND w.status = 'waitlisted' AND w.seq <= b.seq) \
     END AS waitlist_position \
     FROM bookings b";

/// A request to book one person onto a programme (or one of its sessions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewBooking {
    pub programme_id: ProgrammeId,
    pub session_id: Option<ProgrammeSessionId>,
    pub person_id: PersonId,
    pub at: DateTime<Utc>,
}

/// What a change to a programme's bookings did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookingChange {
    /// The booking asked about, as it now stands.
    pub booking: BookingRecord,
    /// False when nothing changed: the person already had an active booking (for a booking),
    /// the booking was no longer active (for a cancellation), or no offer was open (for an
    /// answer to one).
    pub changed: bool,
    /// Places offered to waiting people as a result; each was told in the same transaction.
    pub offered: Vec<BookingRecord>,
}

/// Storage for appointments and workshops.
#[async_trait::async_trait]
pub trait AppointmentStore {
    /// Stores a new appointment with its workers and the events that announce it.
    async fn insert_appointment(
        &self,
        appointment: &AppointmentRecord,
        announce: &[NewEvent],
    ) -> StoreResult<()>;
    async fn appointment(&self, id: AppointmentId) -> StoreResult<Option<AppointmentRecord>>;
    /// Replaces an appointment, with the events that announce the change, if it is still at
    /// `expected_sequence`; false (and nothing stored) when another change came first (the
    /// caller reads again).
    async fn update_appointment(
        &self,
        appointment: &AppointmentRecord,
        expected_sequence: i64,
        announce: &[NewEvent],
    ) -> StoreResult<bool>;
    /// A person's appointments in the window, in start order, with their hubs; with `worker`,
    /// only those that worker takes part in.
    async fn person_appointments(
        &self,
        person: PersonId,
        window: &Window,
        worker: Option<UserId>,
        limit: i64,
    ) -> StoreResult<AppointmentsPage>;
    /// A team's or a worker's diary, in start order, with its hubs; with `pending_only`, only
    /// appointments whose person is waiting for an answer to a request.
    async fn diary(
        &self,
        scope: DiaryScope,
        window: &Window,
        pending_only: bool,
        limit: i64,
    ) -> StoreResult<AppointmentsPage>;
    /// The app account of a person, to notify them.
    async fn account_of_person(&self, person: PersonId) -> StoreResult<Option<UserId>>;

    /// Sets the person's secret calendar feed to the one with `secret_hash`, replacing any
    /// other (whose URL so stops at once).
    async fn set_calendar_feed(
        &self,
        person: PersonId,
        secret_hash: &[u8],
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Turns the person's secret calendar feed off; false when there was none.
    async fn remove_calendar_feed(&self, person: PersonId) -> StoreResult<bool>;
    /// Whose secret calendar feed has `secret_hash`, found by the hash's unique index.
    async fn calendar_feed_person(&self, secret_hash: &[u8]) -> StoreResult<Option<PersonId>>;

    /// Adds a facilitator to a programme; false when they already were one.
    async fn add_facilitator(
        &self,
        programme: ProgrammeId,
        user: UserId,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Removes a facilitator from a programme; false when they were not one.
    async fn remove_facilitator(&self, programme: ProgrammeId, user: UserId) -> StoreResult<bool>;
    /// Whether the account facilitates the programme.
    async fn is_facilitator(&self, programme: ProgrammeId, user: UserId) -> StoreResult<bool>;

    async fn insert_programme(&self, programme: &ProgrammeRecord) -> StoreResult<()>;
    async fn programme(&self, id: ProgrammeId) -> StoreResult<Option<ProgrammeRecord>>;
    /// Programmes in id (creation) order after `after`, optionally one team's.
    async fn programmes(
        &self,
        team: Option<TeamId>,
        after: Option<ProgrammeId>,
        limit: i64,
    ) -> StoreResult<Vec<ProgrammeRecord>>;
    /// Places held and people waiting, per unit that has any booking.
    async fn place_counts(&self, programme: ProgrammeId) -> StoreResult<Vec<PlaceCount>>;
    async fn booking(&self, id: BookingId) -> StoreResult<Option<BookingRecord>>;
    /// A person's bookings, newest first.
    async fn person_bookings(
        &self,
        person: PersonId,
        limit: i64,
    ) -> StoreResult<Vec<BookingRecord>>;
    /// A programme's active bookings (booked, offered, waitlisted) in arrival order.
    async fn programme_bookings(&self, programme: ProgrammeId) -> StoreResult<Vec<BookingRecord>>;

    /// Books the person: a place if one is free, else a waitlist place. `None` when the
    /// programme does not exist.
    async fn book(&self, booking: &NewBooking) -> StoreResult<Option<BookingChange>>;
    /// Cancels a booking (a place, an offer or a waitlist place); a freed place is offered to
    /// the next person waiting. `None` when the programme holds no such booking.
    async fn cancel_booking(
        &self,
        programme: ProgrammeId,
        booking: BookingId,
        at: DateTime<Utc>,
    ) -> StoreResult<Option<BookingChange>>;
    /// The person accepts or declines an offered place. `changed` is false when the booking
    /// holds no open offer (it may have just lapsed: status `offer_expired`).
    async fn answer_offer(
        &self,
        programme: ProgrammeId,
        booking: BookingId,
        decision: Decision,
        at: DateTime<Utc>,
    ) -> StoreResult<Option<BookingChange>>;
    /// Lapses offers not answered by `at` and passes their places on; returns the new offers
    /// (each told in the same transaction). Cheap when there is nothing to do: no lock is taken.
    async fn settle_offers(
        &self,
        programme: ProgrammeId,
        at: DateTime<Utc>,
    ) -> StoreResult<Vec<BookingRecord>>;
    /// Programmes holding offers that lapsed by `at`.
    async fn programmes_with_lapsed_offers(
        &self,
        at: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<ProgrammeId>>;
}

impl<DB> SqlStore<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> &'a str: Bind<DB>,
    Uuid: Column<DB>,
    Option<Uuid>: Bind<DB>,
    DateTime<Utc>: Column<DB>,
    String: Column<DB>,
    i64: Column<DB>,
    bool: Column<DB>,
    Json<Location>: Column<DB>,
    Json<Accessibility>: Column<DB>,
    Json<Vec<UserId>>: Column<DB>,
    Json<PersonRequest>: Column<DB>,
    for<'a> Json<&'a serde_json::Value>: Bind<DB>,
    usize: ColumnIndex<DB::Row>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
    /// Appointments selected by `from_where` (binding `$1` to `subject`), in the window,
    /// in start order. `from_where` must name the appointments table `a`.
    async fn appointments_where(
        &self,
        from_where: &'static str,
        subject: Uuid,
        window: &Window,
        worker: Option<Uuid>,
        pending_only: bool,
        limit: i64,
    ) -> StoreResult<AppointmentsPage> {
        let (after_at, after_id) = window.cursor();
        // The hubs' teams joined to the page: they were a round trip each after it. The team's
        // id is taken out of the location once a row (`hub_team`), not once a use.
        let sql = format!(
            "SELECT p.*, h.name AS hub_name, h.hub_address AS hub_address FROM (\
               SELECT {}, {} AS hub_team {from_where} \
               AND a.starts_at >= $2 AND a.starts_at < $3 \
               AND (a.starts_at > $4 OR (a.starts_at = $4 AND a.id > $5)) \
               AND ($6 IS NULL OR EXISTS (SELECT 1 FROM appointment_workers x \
                    WHERE x.appointment_id = a.id AND x.user_id = $6)) \
               AND ($8 = FALSE OR a.request_pending) \
               ORDER BY a.starts_at, a.id LIMIT $7) p \
             LEFT JOIN teams h ON {}",
            APPOINTMENT_COLUMNS,
            DB::json_text_field("a.location", "team_id"),
            DB::key_is_id_in_text("h.id", "p.hub_team"),
        );
        let rows: Vec<HubbedAppointmentRow> = self
            .fetch_rows(
                &sql,
                &[
                    Param::Id(subject),
                    Param::Time(window.from),
                    Param::Time(window.to),
                    Param::Time(after_at),
                    Param::Id(after_id),
                    Param::OptionalId(worker),
                    Param::Int(limit),
                    Param::Flag(pending_only),
                ],
            )
            .await?;
        let mut page = AppointmentsPage::default();
        for row in rows {
            let record = AppointmentRecord::try_from(row.appointment)?;
            if let (Location::Hub { team_id }, Some(name)) = (&record.location, row.hub_name)
                && !page.hubs.iter().any(|hub| hub.id == *team_id)
            {
                page.hubs.push(TeamRecord {
                    id: *team_id,
                    name,
                    hub_address: row.hub_address,
                });
            }
            page.appointments.push(record);
        }
        // In start order here rather than by a second sort round the join: the rows come in
        // order as a rule, which this finds in one pass.
        page.appointments.sort_by_key(|a| (a.starts_at, a.id));
        Ok(page)
    }

    async fn programme_sessions(&self, programme: Uuid) -> StoreResult<Vec<ProgrammeSessionRow>> {
        Ok(sqlx::query_as(
            "SELECT id, number, starts_at, ends_at FROM programme_sessions \
             WHERE programme_id = $1 ORDER BY number",
        )
        .bind(programme)
        .fetch_all(&self.db)
        .await?)
    }

    /// Takes a programme's booking lock for the rest of the transaction (see the module notes)
    /// and returns its next arrival number, capacity and offer hold in minutes, or `None` when
    /// there is no such programme.
    async fn lock_programme(
        tx: &mut Tx<DB>,
        programme: Uuid,
    ) -> StoreResult<Option<(i64, i64, i64)>> {
        Ok(sqlx::query_as(
            "UPDATE programmes SET booking_seq = booking_seq + 1 WHERE id = $1 \
             RETURNING booking_seq, capacity, offer_hold_minutes",
        )
        .bind(programme)
        .fetch_optional(&mut **tx)
        .await?)
    }

    /// Under the programme lock: lapses unanswered offers and offers every free place to the
    /// first person waiting for it. Returns the ids of the bookings newly offered a place.
    async fn settle_locked(
        tx: &mut Tx<DB>,
        programme: Uuid,
        capacity: i64,
        hold_minutes: i64,
        at: DateTime<Utc>,
    ) -> StoreResult<Vec<Uuid>> {
        sqlx::query(
            "UPDATE bookings SET status = 'offer_expired', offer_expires_at = NULL, \
             updated_at = $2 \
             WHERE programme_id = $1 AND status = 'offered' AND offer_expires_at <= $2",
        )
        .bind(programme)
        .bind(at)
        .execute(&mut **tx)
        .await?;
        let units: Vec<(Uuid,)> = sqlx::query_as(
            "SELECT DISTINCT unit_id FROM bookings \
             WHERE programme_id = $1 AND status = 'waitlisted'",
        )
        .bind(programme)
        .fetch_all(&mut **tx)
        .await?;
        let expires_at = at + chrono::Duration::minutes(hold_minutes);
        let mut offered = Vec::new();
        for (unit,) in units {
            loop {
                let (holding,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM bookings \
                     WHERE unit_id = $1 AND status IN ('booked', 'offered')",
                )
                .bind(unit)
                .fetch_one(&mut **tx)
                .await?;
                if holding >= capacity {
                    break;
                }
                let next: Option<(Uuid,)> = sqlx::query_as(
                    "SELECT id FROM bookings WHERE unit_id = $1 AND status = 'waitlisted' \
                     ORDER BY seq LIMIT 1",
                )
                .bind(unit)
                .fetch_optional(&mut **tx)
                .await?;
                let Some((next,)) = next else { break };
                sqlx::query(
                    "UPDATE bookings SET status = 'offered', offer_expires_at = $2, \
                     updated_at = $3 WHERE id = $1",
                )
                .bind(next)
                .bind(expires_at)
                .bind(at)
                .execute(&mut **tx)
                .await?;
                offered.push(next);
            }
        }
        Ok(offered)
    }

    /// Puts the sessions a booked place covers (those not yet ended) into the person's
    /// appointments.
    async fn add_session_appointments(
        tx: &mut Tx<DB>,
        booking: Uuid,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let sessions: Vec<BookedSessionRow> = sqlx::query_as(
            "SELECT b.person_id, p.id AS programme_id, s.id AS session_id, s.starts_at, \
             s.ends_at, p.title, p.location \
             FROM bookings b JOIN programmes p ON p.id = b.programme_id \
             JOIN programme_sessions s ON s.programme_id = p.id \
             WHERE b.id = $1 AND (b.session_id IS NULL OR b.session_id = s.id) \
             AND s.ends_at > $2 ORDER BY s.number",
        )
        .bind(booking)
        .bind(at)
        .fetch_all(&mut **tx)
        .await?;
        for session in sessions {
            sqlx::query(
                "INSERT INTO appointments (id, person_id, kind, title, starts_at, ends_at, \
                 location, status, notes_for_person, accessibility, worker_ids, request, \
                 request_pending, programme_id, programme_session_id, booking_id, sequence, \
                 created_by, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'booked', NULL, $8, $9, NULL, FALSE, \
                 $10, $11, $12, 0, 'booking', $13, $13)",
            )
            .bind(AppointmentId::new().as_uuid())
            .bind(session.person_id)
            .bind(AppointmentKind::EnablementWorkshop.as_str())
            .bind(session.title)
            .bind(session.starts_at)
            .bind(session.ends_at)
            .bind(session.location)
            .bind(Json(Accessibility::default()))
            .bind(Json(Vec::<UserId>::new()))
            .bind(session.programme_id)
            .bind(session.session_id)
            .bind(booking)
            .bind(at)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }

    /// Cancels the sessions still to come that a booking had put in the person's appointments.
    async fn cancel_session_appointments(
        tx: &mut Tx<DB>,
        booking: Uuid,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE appointments SET status = 'cancelled', sequence = sequence + 1, \
             updated_at = $2 \
             WHERE booking_id = $1 AND status IN ('booked', 'confirmed') AND starts_at > $2",
        )
        .bind(booking)
        .bind(at)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Tells each person newly offered a place, through their app account if they have one, in
    /// the transaction that made the offers (its last step before commit).
    async fn announce_offers(
        tx: &mut Tx<DB>,
        offered: &[BookingRecord],
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut events = Vec::with_capacity(offered.len());
        for booking in offered {
            let account: Option<(Uuid,)> =
                sqlx::query_as("SELECT id FROM users WHERE person_id = $1")
                    .bind(booking.person_id.as_uuid())
                    .fetch_optional(&mut **tx)
                    .await?;
            let Some((account,)) = account else { continue };
            events.push(offer_made(booking, account.into(), at));
        }
        append_in_tx(tx, &events).await
    }

    /// Reads bookings by id inside a transaction.
    async fn bookings_by_id(
        tx: &mut Tx<DB>,
        ids: impl IntoIterator<Item = Uuid> + Send,
    ) -> StoreResult<Vec<BookingRecord>> {
        let mut records = Vec::new();
        for id in ids {
            let row: BookingRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{BOOKING_SELECT} WHERE b.id = $1"
            )))
            .bind(id)
            .fetch_one(&mut **tx)
            .await?;
            records.push(BookingRecord::try_from(row)?);
        }
        Ok(records)
    }
}

#[async_trait::async_trait]
impl<DB> AppointmentStore for SqlStore<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> &'a str: Bind<DB>,
    for<'a> &'a [u8]: Bind<DB>,
    Uuid: Column<DB>,
    Option<Uuid>: Bind<DB>,
    DateTime<Utc>: Column<DB>,
    String: Column<DB>,
    Option<String>: Bind<DB>,
    i64: Column<DB>,
    bool: Column<DB>,
    Json<Location>: Column<DB>,
    Json<Accessibility>: Column<DB>,
    Json<Vec<UserId>>: Column<DB>,
    Json<PersonRequest>: Column<DB>,
    for<'a> Json<&'a Location>: Bind<DB>,
    for<'a> Json<&'a Accessibility>: Bind<DB>,
    for<'a> Json<&'a Vec<UserId>>: Bind<DB>,
    Option<Json<PersonRequest>>: Bind<DB>,
    for<'a> Json<&'a serde_json::Value>: Bind<DB>,
    usize: ColumnIndex<DB::Row>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
    async fn insert_appointment(
        &self,
        appointment: &AppointmentRecord,
        announce: &[NewEvent],
    ) -> StoreResult<()> {
        let a = appointment;
        let mut tx = begin_write(self).await?;
        sqlx::query(
            "INSERT INTO appointments (id, person_id, kind, title, starts_at, ends_at, \
             location, status, notes_for_person, accessibility, worker_ids, request, \
             request_pending, programme_id, programme_session_id, booking_id, sequence, \
             created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, \
             $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)",
        )
        .bind(a.id.as_uuid())
        .bind(a.person_id.as_uuid())
        .bind(a.kind.as_str())
        .bind(&a.title)
        .bind(a.starts_at)
        .bind(a.ends_at)
        .bind(Json(&a.location))
        .bind(a.status.as_str())
        .bind(&a.notes_for_person)
        .bind(Json(&a.accessibility))
        .bind(Json(&a.worker_ids))
        .bind(a.request.clone().map(Json))
        .bind(a.request.as_ref().is_some_and(|r| r.is_pending()))
        .bind(a.programme_id.map(|p| p.as_uuid()))
        .bind(a.programme_session_id.map(|s| s.as_uuid()))
        .bind(a.booking_id.map(|b| b.as_uuid()))
        .bind(a.sequence)
        .bind(&a.created_by)
        .bind(a.created_at)
        .bind(a.updated_at)
        .execute(&mut *tx)
        .await?;
        for worker in &a.worker_ids {
            sqlx::query(
                "INSERT INTO appointment_workers (appointment_id, user_id) \
                 VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(a.id.as_uuid())
            .bind(worker.as_uuid())
            .execute(&mut *tx)
            .await?;
        }
        append_in_tx(&mut tx, announce).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn appointment(&self, id: AppointmentId) -> StoreResult<Option<AppointmentRecord>> {
        let row: Option<AppointmentRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM appointments a WHERE a.id = $1",
            APPOINTMENT_COLUMNS
        )))
        .bind(id.as_uuid())
        .fetch_optional(&self.db)
        .await?;
        row.map(TryInto::try_into).transpose()
    }

    async fn update_appointment(
        &self,
        appointment: &AppointmentRecord,
        expected_sequence: i64,
        announce: &[NewEvent],
    ) -> StoreResult<bool> {
        let a = appointment;
        let mut tx = begin_write(self).await?;
        let done = sqlx::query(
            "UPDATE appointments SET kind = $3, title = $4, starts_at = $5, \
             ends_at = $6, location = $7, status = $8, notes_for_person = $9, \
             accessibility = $10, worker_ids = $11, request = $12, \
             request_pending = $13, sequence = $14, updated_at = $15 \
             WHERE id = $1 AND sequence = $2",
        )
        .bind(a.id.as_uuid())
        .bind(expected_sequence)
        .bind(a.kind.as_str())
        .bind(&a.title)
        .bind(a.starts_at)
        .bind(a.ends_at)
        .bind(Json(&a.location))
        .bind(a.status.as_str())
        .bind(&a.notes_for_person)
        .bind(Json(&a.accessibility))
        .bind(Json(&a.worker_ids))
        .bind(a.request.clone().map(Json))
        .bind(a.request.as_ref().is_some_and(|r| r.is_pending()))
        .bind(a.sequence)
        .bind(a.updated_at)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM appointment_workers WHERE appointment_id = $1")
            .bind(a.id.as_uuid())
            .execute(&mut *tx)
            .await?;
        for worker in &a.worker_ids {
            sqlx::query(
                "INSERT INTO appointment_workers (appointment_id, user_id) \
                 VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(a.id.as_uuid())
            .bind(worker.as_uuid())
            .execute(&mut *tx)
            .await?;
        }
        append_in_tx(&mut tx, announce).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn person_appointments(
        &self,
        person: PersonId,
        window: &Window,
        worker: Option<UserId>,
        limit: i64,
    ) -> StoreResult<AppointmentsPage> {
        self.appointments_where(
            "FROM appointments a WHERE a.person_id = $1",
            person.as_uuid(),
            window,
            worker.map(|w| w.as_uuid()),
            false,
            limit,
        )
        .await
    }

    async fn diary(
        &self,
        scope: DiaryScope,
        window: &Window,
        pending_only: bool,
        limit: i64,
    ) -> StoreResult<AppointmentsPage> {
        match scope {
            DiaryScope::Team(team) => {
                self.appointments_where(
                    "FROM appointments a JOIN caseloads c ON c.person_id = a.person_id \
                     WHERE c.team_id = $1",
                    team.as_uuid(),
                    window,
                    None,
                    pending_only,
                    limit,
                )
                .await
            }
            DiaryScope::Worker(worker) => {
                self.appointments_where(
                    "FROM appointments a JOIN appointment_workers w \
                     ON w.appointment_id = a.id WHERE w.user_id = $1",
                    worker.as_uuid(),
                    window,
                    None,
                    pending_only,
                    limit,
                )
                .await
            }
        }
    }

    async fn account_of_person(&self, person: PersonId) -> StoreResult<Option<UserId>> {
        let row: Option<(Uuid,)> = sqlx::query_as("SELECT id FROM users WHERE person_id = $1")
            .bind(person.as_uuid())
            .fetch_optional(&self.db)
            .await?;
        Ok(row.map(|(id,)| id.into()))
    }

    async fn set_calendar_feed(
        &self,
        person: PersonId,
        secret_hash: &[u8],
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        sqlx::query(
            "INSERT INTO calendar_feeds (person_id, secret_hash, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (person_id) DO UPDATE \
             SET secret_hash = excluded.secret_hash, created_at = excluded.created_at",
        )
        .bind(person.as_uuid())
        .bind(secret_hash)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn remove_calendar_feed(&self, person: PersonId) -> StoreResult<bool> {
        let mut tx = begin_write(self).await?;
        let done = sqlx::query("DELETE FROM calendar_feeds WHERE person_id = $1")
            .bind(person.as_uuid())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn calendar_feed_person(&self, secret_hash: &[u8]) -> StoreResult<Option<PersonId>> {
        let row: Option<(Uuid,)> =
            sqlx::query_as("SELECT person_id FROM calendar_feeds WHERE secret_hash = $1")
                .bind(secret_hash)
                .fetch_optional(&self.db)
                .await?;
        Ok(row.map(|(id,)| id.into()))
    }

    async fn add_facilitator(
        &self,
        programme: ProgrammeId,
        user: UserId,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut tx = begin_write(self).await?;
        let done = sqlx::query(
            "INSERT INTO programme_facilitators (programme_id, user_id, added_at) \
             VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(programme.as_uuid())
        .bind(user.as_uuid())
        .bind(at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn remove_facilitator(&self, programme: ProgrammeId, user: UserId) -> StoreResult<bool> {
        let mut tx = begin_write(self).await?;
        let done = sqlx::query(
            "DELETE FROM programme_facilitators WHERE programme_id = $1 AND user_id = $2",
        )
        .bind(programme.as_uuid())
        .bind(user.as_uuid())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn is_facilitator(&self, programme: ProgrammeId, user: UserId) -> StoreResult<bool> {
        let (facilitates,): (bool,) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM programme_facilitators \
             WHERE programme_id = $1 AND user_id = $2)",
        )
        .bind(programme.as_uuid())
        .bind(user.as_uuid())
        .fetch_one(&self.db)
        .await?;
        Ok(facilitates)
    }

    async fn insert_programme(&self, programme: &ProgrammeRecord) -> StoreResult<()> {
        let p = programme;
        let mut tx = begin_write(self).await?;
        sqlx::query(
            "INSERT INTO programmes (id, team_id, title, description, location, \
             capacity, booking_unit, offer_hold_minutes, booking_seq, created_by, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $10)",
        )
        .bind(p.id.as_uuid())
        .bind(p.team_id.as_uuid())
        .bind(&p.title)
        .bind(&p.description)
        .bind(Json(&p.location))
        .bind(p.capacity)
        .bind(p.booking_unit.as_str())
        .bind(p.offer_hold_minutes)
        .bind(&p.created_by)
        .bind(p.created_at)
        .execute(&mut *tx)
        .await?;
        for session in &p.sessions {
            sqlx::query(
                "INSERT INTO programme_sessions (id, programme_id, number, starts_at, \
                 ends_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(session.id.as_uuid())
            .bind(p.id.as_uuid())
            .bind(session.number)
            .bind(session.starts_at)
            .bind(session.ends_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn programme(&self, id: ProgrammeId) -> StoreResult<Option<ProgrammeRecord>> {
        let row: Option<ProgrammeRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM programmes WHERE id = $1",
            PROGRAMME_COLUMNS
        )))
        .bind(id.as_uuid())
        .fetch_optional(&self.db)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let sessions = self.programme_sessions(id.as_uuid()).await?;
        row.into_record(sessions).map(Some)
    }

    async fn programmes(
        &self,
        team: Option<TeamId>,
        after: Option<ProgrammeId>,
        limit: i64,
    ) -> StoreResult<Vec<ProgrammeRecord>> {
        let rows: Vec<ProgrammeRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM programmes WHERE ($1 IS NULL OR team_id = $1) \
                 AND id > $2 ORDER BY id LIMIT $3",
            PROGRAMME_COLUMNS
        )))
        .bind(team.map(|t| t.as_uuid()))
        .bind(after.map_or(Uuid::nil(), |a| a.as_uuid()))
        .bind(limit)
        .fetch_all(&self.db)
        .await?;
        let mut programmes = Vec::with_capacity(rows.len());
        for row in rows {
            let sessions = self.programme_sessions(row.id).await?;
            programmes.push(row.into_record(sessions)?);
        }
        Ok(programmes)
    }

    async fn place_counts(&self, programme: ProgrammeId) -> StoreResult<Vec<PlaceCount>> {
        Ok(sqlx::query_as(
            "SELECT unit_id, \
             SUM(CASE WHEN status IN ('booked', 'offered') THEN 1 ELSE 0 END) AS holding, \
             SUM(CASE WHEN status = 'waitlisted' THEN 1 ELSE 0 END) AS waiting \
             FROM bookings WHERE programme_id = $1 GROUP BY unit_id",
        )
        .bind(programme.as_uuid())
        .fetch_all(&self.db)
        .await?)
    }

    async fn booking(&self, id: BookingId) -> StoreResult<Option<BookingRecord>> {
        let row: Option<BookingRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{} WHERE b.id = $1",
            BOOKING_SELECT
        )))
        .bind(id.as_uuid())
        .fetch_optional(&self.db)
        .await?;
        row.map(TryInto::try_into).transpose()
    }

    async fn person_bookings(
        &self,
        person: PersonId,
        limit: i64,
    ) -> StoreResult<Vec<BookingRecord>> {
        let rows: Vec<BookingRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{} WHERE b.person_id = $1 ORDER BY b.created_at DESC, b.id DESC LIMIT $2",
            BOOKING_SELECT
        )))
        .bind(person.as_uuid())
        .bind(limit)
        .fetch_all(&self.db)
        .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn programme_bookings(&self, programme: ProgrammeId) -> StoreResult<Vec<BookingRecord>> {
        let rows: Vec<BookingRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{} WHERE b.programme_id = $1 \
                 AND b.status IN ('booked', 'offered', 'waitlisted') ORDER BY b.seq",
            BOOKING_SELECT
        )))
        .bind(programme.as_uuid())
        .fetch_all(&self.db)
        .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn book(&self, booking: &NewBooking) -> StoreResult<Option<BookingChange>> {
        let booking_at = booking.at;
        let programme = booking.programme_id.as_uuid();
        let unit = booking.session_id.map_or(programme, |s| s.as_uuid());
        let mut tx = begin_write(self).await?;
        let Some((seq, capacity, hold)) = Self::lock_programme(&mut tx, programme).await? else {
            return Ok(None);
        };
        let offered = Self::settle_locked(&mut tx, programme, capacity, hold, booking.at).await?;
        let existing: Option<(Uuid,)> = sqlx::query_as(
            "SELECT id FROM bookings WHERE unit_id = $1 AND person_id = $2 \
             AND status IN ('booked', 'offered', 'waitlisted')",
        )
        .bind(unit)
        .bind(booking.person_id.as_uuid())
        .fetch_optional(&mut *tx)
        .await?;
        let (id, changed) = match existing {
            Some((id,)) => (id, false),
            None => {
                let (holding,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM bookings \
                     WHERE unit_id = $1 AND status IN ('booked', 'offered')",
                )
                .bind(unit)
                .fetch_one(&mut *tx)
                .await?;
                // Settling has just offered any free place to those waiting, so a free
                // place here means nobody is waiting for it.
                let status = if holding < capacity {
                    BookingStatus::Booked
                } else {
                    BookingStatus::Waitlisted
                };
                let id = BookingId::new().as_uuid();
                sqlx::query(
                    "INSERT INTO bookings (id, programme_id, session_id, unit_id, \
                     person_id, seq, status, offer_expires_at, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8, $8)",
                )
                .bind(id)
                .bind(programme)
                .bind(booking.session_id.map(|s| s.as_uuid()))
                .bind(unit)
                .bind(booking.person_id.as_uuid())
                .bind(seq)
                .bind(status.as_str())
                .bind(booking.at)
                .execute(&mut *tx)
                .await?;
                if status == BookingStatus::Booked {
                    Self::add_session_appointments(&mut tx, id, booking.at).await?;
                }
                (id, true)
            }
        };
        let booking = Self::bookings_by_id(&mut tx, [id]).await?;
        let offered = Self::bookings_by_id(&mut tx, offered).await?;
        Self::announce_offers(&mut tx, &offered, booking_at).await?;
        tx.commit().await?;
        Ok(booking.into_iter().next().map(|booking| BookingChange {
            booking,
            changed,
            offered,
        }))
    }

    async fn cancel_booking(
        &self,
        programme: ProgrammeId,
        booking: BookingId,
        at: DateTime<Utc>,
    ) -> StoreResult<Option<BookingChange>> {
        let programme = programme.as_uuid();
        let booking = booking.as_uuid();
        let mut tx = begin_write(self).await?;
        let Some((_, capacity, hold)) = Self::lock_programme(&mut tx, programme).await? else {
            return Ok(None);
        };
        let current: Option<(String,)> =
            sqlx::query_as("SELECT status FROM bookings WHERE id = $1 AND programme_id = $2")
                .bind(booking)
                .bind(programme)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((status,)) = current else {
            return Ok(None);
        };
        let changed = matches!(status.as_str(), "booked" | "offered" | "waitlisted");
        if changed {
            sqlx::query(
                "UPDATE bookings SET status = 'cancelled', offer_expires_at = NULL, \
                 updated_at = $2 WHERE id = $1",
            )
            .bind(booking)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            if status == "booked" {
                Self::cancel_session_appointments(&mut tx, booking, at).await?;
            }
        }
        let offered = Self::settle_locked(&mut tx, programme, capacity, hold, at).await?;
        let record = Self::bookings_by_id(&mut tx, [booking]).await?;
        let offered = Self::bookings_by_id(&mut tx, offered).await?;
        Self::announce_offers(&mut tx, &offered, at).await?;
        tx.commit().await?;
        Ok(record.into_iter().next().map(|booking| BookingChange {
            booking,
            changed,
            offered,
        }))
    }

    async fn answer_offer(
        &self,
        programme: ProgrammeId,
        booking: BookingId,
        decision: Decision,
        at: DateTime<Utc>,
    ) -> StoreResult<Option<BookingChange>> {
        let programme = programme.as_uuid();
        let booking = booking.as_uuid();
        let mut tx = begin_write(self).await?;
        let Some((_, capacity, hold)) = Self::lock_programme(&mut tx, programme).await? else {
            return Ok(None);
        };
        // Settle first: an offer that lapsed a moment ago cannot be accepted.
        let mut offered = Self::settle_locked(&mut tx, programme, capacity, hold, at).await?;
        let current: Option<(String,)> =
            sqlx::query_as("SELECT status FROM bookings WHERE id = $1 AND programme_id = $2")
                .bind(booking)
                .bind(programme)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((status,)) = current else {
            return Ok(None);
        };
        let changed = status == "offered";
        if changed {
            let accepted = decision == Decision::Accept;
            sqlx::query(
                "UPDATE bookings SET status = $2, offer_expires_at = NULL, \
                 updated_at = $3 WHERE id = $1",
            )
            .bind(booking)
            .bind(if accepted { "booked" } else { "declined" })
            .bind(at)
            .execute(&mut *tx)
            .await?;
            if accepted {
                Self::add_session_appointments(&mut tx, booking, at).await?;
            } else {
                offered.extend(Self::settle_locked(&mut tx, programme, capacity, hold, at).await?);
            }
        }
        // The person answering is never offered their own declined place again.
        offered.retain(|id| *id != booking);
        let record = Self::bookings_by_id(&mut tx, [booking]).await?;
        let offered = Self::bookings_by_id(&mut tx, offered).await?;
        Self::announce_offers(&mut tx, &offered, at).await?;
        tx.commit().await?;
        Ok(record.into_iter().next().map(|booking| BookingChange {
            booking,
            changed,
            offered,
        }))
    }

    async fn settle_offers(
        &self,
        programme: ProgrammeId,
        at: DateTime<Utc>,
    ) -> StoreResult<Vec<BookingRecord>> {
        let programme = programme.as_uuid();
        let (lapsed,): (bool,) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM bookings WHERE programme_id = $1 \
             AND status = 'offered' AND offer_expires_at <= $2)",
        )
        .bind(programme)
        .bind(at)
        .fetch_one(&self.db)
        .await?;
        if !lapsed {
            return Ok(Vec::new());
        }
        let mut tx = begin_write(self).await?;
        let Some((_, capacity, hold)) = Self::lock_programme(&mut tx, programme).await? else {
            return Ok(Vec::new());
        };
        let offered = Self::settle_locked(&mut tx, programme, capacity, hold, at).await?;
        let offered = Self::bookings_by_id(&mut tx, offered).await?;
        Self::announce_offers(&mut tx, &offered, at).await?;
        tx.commit().await?;
        Ok(offered)
    }

    async fn programmes_with_lapsed_offers(
        &self,
        at: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<ProgrammeId>> {
        let rows: Vec<(Uuid,)> = sqlx::query_as(
            "SELECT DISTINCT programme_id FROM bookings \
             WHERE status = 'offered' AND offer_expires_at <= $1 LIMIT $2",
        )
        .bind(at)
        .bind(limit)
        .fetch_all(&self.db)
        .await?;
        Ok(rows.into_iter().map(|(id,)| id.into()).collect())
    }
}

/// The event telling `account` (the person's) of the place `booking` now offers them.
pub fn offer_made(booking: &BookingRecord, account: UserId, at: DateTime<Utc>) -> NewEvent {
    NewEvent {
        recipient_id: Some(account),
        person_id: Some(booking.person_id),
        event: Event::WaitlistPlaceOffered(WaitlistOfferData {
            booking_id: booking.id,
            offer_expires_at: booking.offer_expires_at,
            programme_id: booking.programme_id,
            session_id: booking.session_id,
        }),
        created_at: at,
    }
}
