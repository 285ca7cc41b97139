//! Appointments and workshops: adding and changing appointments, the person's answers and
//! staff's answers to them, programmes, bookings and offers, and passing on offers that lapse.
//!
//! Guarantees:
//! - **No lost update.** A change is stored only if nobody changed the appointment since it
//!   was read (its `sequence`); otherwise nothing is stored and the answer names
//!   `changed_meanwhile`.
//! - **Told with the change.** The person (through their app account, if they have one) hears
//!   of every change, and the staff on an appointment of every request the person makes; the
//!   events are stored in the change's transaction and live streams are told after the
//!   commit, which cannot turn a stored change into an error (see [`crate::events`]). A place
//!   offered from the waitlist is announced by the store, in the transaction that offers it
//!   (only the store knows who is offered a place).
//! - **Capacity holds.** Workshop sessions come only from bookings, never from adding an
//!   appointment, and move with their programme, never alone.
//! - **A lapsed offer is never shown as open.** Handlers that show bookings settle lapsed
//!   offers first ([`Appointments::settle_lapsed_offers`]), and a periodic job started with the
//!   service passes them on once a minute even when nobody touches the programme, at most
//!   [`SETTLE_BATCH`] programmes a pass. It ends with the application's shutdown token.
//! - **Times are the stored precision** (microseconds), so what is answered is what is kept.
//! - **No personal data in logs.** A failed pass is logged by its error kind only and retried a
//!   minute later.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use livingwell_core::api::appointments::{
    AnswerRequestRequest, AppointmentResponseRequest, CreateAppointmentRequest,
    CreateProgrammeRequest, UpdateAppointmentRequest,
};
use livingwell_core::api::events::{
    AppointmentChange, AppointmentChangeData, AppointmentRequestData, Event,
};
use livingwell_core::domain::appointment::{
    self, AppointmentId, AppointmentKind, AppointmentStatus, BookingStatus, BookingUnit, Decision,
    Location, PersonRequest, ProgrammeId, ProgrammeSessionId, RequestAnswer, RequestKind,
};
use livingwell_core::domain::{FieldError, FieldErrorCode, PersonId, UserId};
use tokio_util::sync::CancellationToken;

use super::push::Pusher;
use super::{ServiceError, ServiceResult};
use crate::clock::Clock;
use crate::events::EventHub;
use crate::store::appointments::{
    AppointmentRecord, BookingChange, BookingRecord, NewBooking, ProgrammeRecord,
    ProgrammeSessionRecord, offer_made,
};
use crate::store::events::{Audience, NewEvent};
use crate::store::{Store, StoreResult};

/// Most programmes settled in one pass over lapsed offers.
pub const SETTLE_BATCH: i64 = 20;

/// How often the periodic job passes on lapsed offers.
const PASS_ON_EVERY: Duration = Duration::from_secs(60);

/// The appointments service. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Appointments {
    store: Arc<dyn Store>,
    events: EventHub,
    clock: Clock,
    pusher: Pusher,
}

impl Appointments {
    /// The service, with its periodic job passing on lapsed offers until `shutdown`.
    pub fn start(
        store: Arc<dyn Store>,
        events: EventHub,
        clock: Clock,
        pusher: Pusher,
        shutdown: CancellationToken,
    ) -> Self {
        let service = Self {
            store,
            events,
            clock,
            pusher,
        };
        tokio::spawn(service.clone().pass_on_lapsed_offers(shutdown));
        service
    }

    /// Tells live streams of the places just offered (the store stored their events with
    /// them), and wakes the phones of those offered.
    pub async fn announce_offers(&self, offered: &[BookingRecord]) {
        if offered.is_empty() {
            return;
        }
        self.events.announce_committed();
        // The phones of those offered a place wake for it: the offer lapses if not taken up.
        let mut pushed = Vec::with_capacity(offered.len());
        for booking in offered {
            let account = match self.store.account_of_person(booking.person_id).await {
                Ok(account) => account,
                Err(error) => {
                    tracing::warn!(kind = error.kind(), "an offer's push was not sent");
                    continue;
                }
            };
            pushed.extend(account.map(|account| offer_made(booking, account, booking.updated_at)));
        }
        self.pusher.push(&pushed);
    }

    /// The events telling the person (through their app account, if they have one) that an
    /// appointment changed; stored with the change, so they are told exactly when it is.
    async fn person_told(
        &self,
        record: &AppointmentRecord,
        change: AppointmentChange,
        at: DateTime<Utc>,
    ) -> StoreResult<Vec<NewEvent>> {
        let person = Audience {
            recipients: self
                .store
                .account_of_person(record.person_id)
                .await?
                .into_iter()
                .collect(),
            person_id: Some(record.person_id),
        };
        let changed = Event::AppointmentChanged(AppointmentChangeData {
            appointment_id: record.id,
            change,
        });
        Ok(person.tell(&changed, at))
    }

    /// Passes on the places of one programme whose offers lapsed, and tells the people now
    /// offered them: before the programme or its roster is shown, so a lapsed offer never shows
    /// as open.
    pub async fn settle_offers(&self, programme: ProgrammeId) -> StoreResult<()> {
        let offered = self
            .store
            .settle_offers(programme, self.clock.now())
            .await?;
        self.announce_offers(&offered).await;
        Ok(())
    }

    /// Passes on places whose offers lapsed, in every programme that has one, and tells the
    /// people now offered them. Called on reads that show bookings, so a lapsed offer is never
    /// shown as open, and by the periodic job.
    pub async fn settle_lapsed_offers(&self) -> StoreResult<()> {
        let now = self.clock.now();
        for programme in self
            .store
            .programmes_with_lapsed_offers(now, SETTLE_BATCH)
            .await?
        {
            let offered = self.store.settle_offers(programme, now).await?;
            self.announce_offers(&offered).await;
        }
        Ok(())
    }

    /// Adds an appointment to a person's diary, made by `created_by` (an audit id); the person
    /// is told. Workshop sessions come from bookings instead, so that capacity holds.
    pub async fn create(
        &self,
        person: PersonId,
        request: CreateAppointmentRequest,
        created_by: String,
    ) -> ServiceResult<AppointmentRecord> {
        if self.store.person(person).await?.is_none() {
            return Err(ServiceError::NotFound);
        }
        if request.kind == AppointmentKind::EnablementWorkshop {
            // Workshop sessions come from bookings, so that capacity holds.
            return Err(ServiceError::invalid(
                "kind",
                FieldErrorCode::BookTheProgramme,
            ));
        }
        let worker_ids = self.check_workers(&request.worker_ids).await?;
        self.check_location(&request.location).await?;
        let now = self.clock.now();
        let record = AppointmentRecord {
            id: AppointmentId::new(),
            person_id: person,
            kind: request.kind,
            title: non_blank(request.title),
            starts_at: stored(request.starts_at),
            ends_at: stored(request.ends_at),
            location: request.location,
            status: AppointmentStatus::Booked,
            notes_for_person: non_blank(request.notes_for_person),
            accessibility: request.accessibility,
            worker_ids,
            request: None,
            programme_id: None,
            programme_session_id: None,
            booking_id: None,
            sequence: 0,
            created_by,
            created_at: now,
            updated_at: now,
        };
        let told = self
            .person_told(&record, AppointmentChange::Created, now)
            .await?;
        self.store.insert_appointment(&record, &told).await?;
        self.events.announce_committed();
        self.pusher.push(&told);
        Ok(record)
    }

    /// Changes an appointment. New times move it (the person confirms again) and answer a
    /// pending reschedule request; `status` records whether the person came.
    pub async fn update(
        &self,
        current: AppointmentRecord,
        request: UpdateAppointmentRequest,
    ) -> ServiceResult<AppointmentRecord> {
        if current.status == AppointmentStatus::Cancelled {
            return Err(ServiceError::conflict("status", FieldErrorCode::Cancelled));
        }
        let reshapes = request.kind.is_some()
            || request.starts_at.is_some()
            || request.ends_at.is_some()
            || request.location.is_some();
        if current.booking_id.is_some() && reshapes {
            // A workshop session is the programme's: it moves with the programme, not alone.
            return Err(ServiceError::conflict(
                "booking_id",
                FieldErrorCode::ManagedByBooking,
            ));
        }
        if request.kind == Some(AppointmentKind::EnablementWorkshop) {
            return Err(ServiceError::invalid(
                "kind",
                FieldErrorCode::BookTheProgramme,
            ));
        }
        let now = self.clock.now();
        let mut next = current.clone();
        let starts_at = request.starts_at.map_or(current.starts_at, stored);
        let ends_at = request.ends_at.map_or(current.ends_at, stored);
        let errors = appointment::check_times("", starts_at, ends_at);
        if !errors.is_empty() {
            return Err(ServiceError::Invalid(errors));
        }
        let moved = (starts_at, ends_at) != (current.starts_at, current.ends_at);
        if moved {
            next.starts_at = starts_at;
            next.ends_at = ends_at;
            next.status = AppointmentStatus::Booked;
            answer_pending(&mut next, RequestKind::Reschedule, now);
        }
        if let Some(kind) = request.kind {
            next.kind = kind;
        }
        if let Some(title) = request.title {
            next.title = non_blank(Some(title));
        }
        if let Some(location) = request.location {
            self.check_location(&location).await?;
            next.location = location;
        }
        if let Some(workers) = &request.worker_ids {
            next.worker_ids = self.check_workers(workers).await?;
        }
        if let Some(notes) = request.notes_for_person {
            next.notes_for_person = non_blank(Some(notes));
        }
        if let Some(accessibility) = request.accessibility {
            next.accessibility = accessibility;
        }
        if let Some(outcome) = request.status {
            if !next.status.may_record_outcome(outcome, next.starts_at, now) {
                return Err(ServiceError::conflict(
                    "status",
                    FieldErrorCode::NotYetBegun,
                ));
            }
            next.status = outcome;
        }
        let change = if moved {
            AppointmentChange::Moved
        } else {
            AppointmentChange::Updated
        };
        self.save(next, current.sequence, change, None).await
    }

    /// Cancels an appointment, which stays in the diary as cancelled; a pending cancel request
    /// is granted and a reschedule request declined. Cancelling twice is no change.
    pub async fn cancel(&self, current: AppointmentRecord) -> ServiceResult<AppointmentRecord> {
        if current.status == AppointmentStatus::Cancelled {
            return Ok(current);
        }
        if current.booking_id.is_some() {
            return Err(ServiceError::conflict(
                "booking_id",
                FieldErrorCode::ManagedByBooking,
            ));
        }
        if !current.status.is_open() {
            return Err(ServiceError::conflict(
                "status",
                FieldErrorCode::AlreadyHappened,
            ));
        }
        let mut next = current.clone();
        next.status = AppointmentStatus::Cancelled;
        // A cancel request is granted; a reschedule request can no longer be.
        if let Some(request) = &mut next.request
            && request.is_pending()
        {
            request.answer = Some(RequestAnswer {
                decision: match request.kind {
                    RequestKind::Cancel => Decision::Accept,
                    RequestKind::Reschedule => Decision::Decline,
                },
                message: None,
                answered_at: self.clock.now(),
            });
        }
        self.save(next, current.sequence, AppointmentChange::Cancelled, None)
            .await
    }

    /// The person's answer: confirm, ask to cancel, or ask to reschedule with preferred times.
    /// Staff on the appointment are told of a request.
    pub async fn respond(
        &self,
        current: AppointmentRecord,
        request: AppointmentResponseRequest,
    ) -> ServiceResult<AppointmentRecord> {
        let now = self.clock.now();
        if !current.status.is_open() {
            return Err(ServiceError::conflict("action", FieldErrorCode::NotOpen));
        }
        if current.starts_at <= now {
            return Err(ServiceError::conflict(
                "action",
                FieldErrorCode::AlreadyBegun,
            ));
        }
        let mut next = current.clone();
        let (kind, reason, preferred_times) = match request {
            AppointmentResponseRequest::Confirm {} => {
                next.status = AppointmentStatus::Confirmed;
                // Confirming withdraws a request the person made earlier.
                if next.request.as_ref().is_some_and(PersonRequest::is_pending) {
                    next.request = None;
                }
                return self
                    .save(next, current.sequence, AppointmentChange::Confirmed, None)
                    .await;
            }
            AppointmentResponseRequest::CancelRequest { reason } => {
                (RequestKind::Cancel, reason, Vec::new())
            }
            AppointmentResponseRequest::RescheduleRequest {
                reason,
                preferred_times,
            } => (RequestKind::Reschedule, reason, preferred_times),
        };
        if current.booking_id.is_some() {
            // The person cancels a workshop place by cancelling the booking.
            return Err(ServiceError::conflict(
                "booking_id",
                FieldErrorCode::ManagedByBooking,
            ));
        }
        next.request = Some(PersonRequest {
            kind,
            reason: non_blank(reason),
            preferred_times: preferred_times
                .into_iter()
                .map(|t| appointment::TimeRange {
                    starts_at: stored(t.starts_at),
                    ends_at: stored(t.ends_at),
                })
                .collect(),
            made_at: now,
            answer: None,
        });
        self.save(
            next,
            current.sequence,
            AppointmentChange::RequestMade,
            Some(kind),
        )
        .await
    }

    /// Staff's answer to the person's pending request. Accepting a cancel request cancels;
    /// accepting a reschedule request moves the appointment to the times given.
    pub async fn answer_request(
        &self,
        current: AppointmentRecord,
        request: AnswerRequestRequest,
    ) -> ServiceResult<AppointmentRecord> {
        let Some(pending) = current.request.clone().filter(PersonRequest::is_pending) else {
            return Err(ServiceError::conflict(
                "request",
                FieldErrorCode::NonePending,
            ));
        };
        if !current.status.is_open() {
            return Err(ServiceError::conflict("status", FieldErrorCode::NotOpen));
        }
        let now = self.clock.now();
        let mut next = current.clone();
        if request.decision == Decision::Accept {
            match pending.kind {
                RequestKind::Cancel => next.status = AppointmentStatus::Cancelled,
                RequestKind::Reschedule => {
                    let (Some(starts_at), Some(ends_at)) = (request.starts_at, request.ends_at)
                    else {
                        return Err(ServiceError::invalid("starts_at", FieldErrorCode::Required));
                    };
                    next.starts_at = stored(starts_at);
                    next.ends_at = stored(ends_at);
                    next.status = AppointmentStatus::Booked;
                }
            }
        }
        next.request = Some(PersonRequest {
            answer: Some(RequestAnswer {
                decision: request.decision,
                message: non_blank(request.message),
                answered_at: now,
            }),
            ..pending
        });
        self.save(
            next,
            current.sequence,
            AppointmentChange::RequestAnswered,
            None,
        )
        .await
    }

    /// Stores a changed appointment if nobody changed it meanwhile, with the events telling
    /// the person and, for their `request`, the staff on it.
    async fn save(
        &self,
        mut next: AppointmentRecord,
        read_sequence: i64,
        change: AppointmentChange,
        request: Option<RequestKind>,
    ) -> ServiceResult<AppointmentRecord> {
        next.sequence = read_sequence + 1;
        next.updated_at = self.clock.now();
        let mut told = self.person_told(&next, change, next.updated_at).await?;
        if let Some(request) = request {
            told.extend(workers_told(&next, request, next.updated_at));
        }
        if !self
            .store
            .update_appointment(&next, read_sequence, &told)
            .await?
        {
            return Err(ServiceError::conflict(
                "sequence",
                FieldErrorCode::ChangedMeanwhile,
            ));
        }
        self.events.announce_committed();
        self.pusher.push(&told);
        Ok(next)
    }

    /// A new workshop programme of the team, made by `created_by` (an audit id).
    pub async fn create_programme(
        &self,
        request: CreateProgrammeRequest,
        created_by: String,
    ) -> ServiceResult<ProgrammeRecord> {
        if self.store.team(request.team_id).await?.is_none() {
            return Err(ServiceError::invalid("team_id", FieldErrorCode::NotFound));
        }
        self.check_location(&request.location).await?;
        let mut sessions = request.sessions.clone();
        sessions.sort_by_key(|s| s.starts_at);
        let programme = ProgrammeRecord {
            id: ProgrammeId::new(),
            team_id: request.team_id,
            title: request.title.trim().to_owned(),
            description: non_blank(request.description),
            location: request.location,
            capacity: request.capacity,
            booking_unit: request.booking_unit,
            offer_hold_minutes: request
                .offer_hold_hours
                .unwrap_or(appointment::DEFAULT_OFFER_HOLD_HOURS)
                * 60,
            sessions: sessions
                .iter()
                .zip(1..)
                .map(|(s, number)| ProgrammeSessionRecord {
                    id: ProgrammeSessionId::new(),
                    number,
                    starts_at: stored(s.starts_at),
                    ends_at: stored(s.ends_at),
                })
                .collect(),
            created_by,
            created_at: self.clock.now(),
        };
        self.store.insert_programme(&programme).await?;
        Ok(programme)
    }

    /// Books the person onto a programme (or one session of it): a place if one is free, else
    /// the waitlist. Booking again finds the active booking (`changed` is false).
    pub async fn book(
        &self,
        id: ProgrammeId,
        person: PersonId,
        session_id: Option<ProgrammeSessionId>,
    ) -> ServiceResult<BookingChange> {
        let programme = self
            .store
            .programme(id)
            .await?
            .ok_or(ServiceError::NotFound)?;
        match (programme.booking_unit, session_id) {
            (BookingUnit::Programme, Some(_)) => {
                return Err(ServiceError::invalid(
                    "session_id",
                    FieldErrorCode::BookTheProgramme,
                ));
            }
            (BookingUnit::Session, None) => {
                return Err(ServiceError::invalid(
                    "session_id",
                    FieldErrorCode::Required,
                ));
            }
            (BookingUnit::Session, Some(session))
                if !programme.sessions.iter().any(|s| s.id == session) =>
            {
                return Err(ServiceError::invalid(
                    "session_id",
                    FieldErrorCode::NotFound,
                ));
            }
            _ => {}
        }
        if self.store.person(person).await?.is_none() {
            return Err(ServiceError::NotFound);
        }
        let change = self
            .store
            .book(&NewBooking {
                programme_id: id,
                session_id,
                person_id: person,
                at: self.clock.now(),
            })
            .await?
            .ok_or(ServiceError::NotFound)?;
        self.announce_offers(&change.offered).await;
        Ok(change)
    }

    /// Cancels a booking, an offered place or a waitlist place; a freed place is offered to
    /// the next person waiting, who is told.
    pub async fn cancel_booking(&self, booking: &BookingRecord) -> ServiceResult<BookingChange> {
        let change = self
            .store
            .cancel_booking(booking.programme_id, booking.id, self.clock.now())
            .await?
            .ok_or(ServiceError::NotFound)?;
        self.announce_offers(&change.offered).await;
        Ok(change)
    }

    /// Accepts or declines an offered place before the offer lapses; declining passes it on.
    pub async fn answer_offer(
        &self,
        booking: &BookingRecord,
        decision: Decision,
    ) -> ServiceResult<BookingRecord> {
        let change = self
            .store
            .answer_offer(booking.programme_id, booking.id, decision, self.clock.now())
            .await?
            .ok_or(ServiceError::NotFound)?;
        self.announce_offers(&change.offered).await;
        if !change.changed {
            let code = if change.booking.status == BookingStatus::OfferExpired {
                FieldErrorCode::OfferExpired
            } else {
                FieldErrorCode::NotOffered
            };
            return Err(ServiceError::conflict("decision", code));
        }
        Ok(change.booking)
    }

    /// Checks that every worker is a member of staff (a practitioner or a peer worker).
    async fn check_workers(&self, workers: &[UserId]) -> ServiceResult<Vec<UserId>> {
        let mut unique = Vec::with_capacity(workers.len());
        let mut errors = Vec::new();
        for (i, worker) in workers.iter().enumerate() {
            if unique.contains(worker) {
                continue;
            }
            match self.store.user_by_id(*worker).await? {
                Some(user) if user.role.is_team_staff() => unique.push(*worker),
                _ => errors.push(FieldError::new(
                    format!("worker_ids[{i}]"),
                    FieldErrorCode::NotStaff,
                )),
            }
        }
        if errors.is_empty() {
            Ok(unique)
        } else {
            Err(ServiceError::Invalid(errors))
        }
    }

    /// A hub location must name a team that exists.
    async fn check_location(&self, location: &Location) -> ServiceResult<()> {
        if let Location::Hub { team_id } = location
            && self.store.team(*team_id).await?.is_none()
        {
            return Err(ServiceError::invalid(
                "location.team_id",
                FieldErrorCode::NotFound,
            ));
        }
        Ok(())
    }

    /// Offers of a freed workshop place last a limited time; once a minute, lapsed ones pass to
    /// the next person waiting (and they are told), even if nobody touches the programme.
    async fn pass_on_lapsed_offers(self, shutdown: CancellationToken) {
        let mut every_minute = tokio::time::interval(PASS_ON_EVERY);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = every_minute.tick() => {}
            }
            if let Err(error) = self.settle_lapsed_offers().await {
                tracing::warn!(
                    kind = error.kind(),
                    "passing on lapsed waitlist offers failed; retrying in a minute"
                );
            }
        }
    }
}

/// The events telling the staff on an appointment that the person asked something of it.
fn workers_told(
    record: &AppointmentRecord,
    request: RequestKind,
    at: DateTime<Utc>,
) -> Vec<NewEvent> {
    let workers = Audience {
        recipients: record.worker_ids.clone(),
        person_id: Some(record.person_id),
    };
    let asked = Event::AppointmentRequestMade(AppointmentRequestData {
        appointment_id: record.id,
        request,
    });
    workers.tell(&asked, at)
}

/// Marks a pending request of `kind` as accepted: staff did what was asked.
fn answer_pending(record: &mut AppointmentRecord, kind: RequestKind, now: DateTime<Utc>) {
    if let Some(request) = &mut record.request
        && request.is_pending()
        && request.kind == kind
    {
        request.answer = Some(RequestAnswer {
            decision: Decision::Accept,
            message: None,
            answered_at: now,
        });
    }
}

/// Free text as stored: trimmed, and none when blank.
fn non_blank(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty())
}

/// A time from a request as it will be stored: microseconds, like every stored time.
fn stored(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}
