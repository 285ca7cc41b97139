//! The diary: appointments and their reminders from the store, the person's answers to them,
//! and enablement workshops — the catalogue from the server, the person's places from the
//! store, booking and answering an offered place queued.

use chrono::Utc;
use livingwell_core::api::appointments::{
    AppointmentResponseRequest, AppointmentView, BookRequest, BookingView, OfferAnswerRequest,
    ProgrammeQuery, ProgrammeSessionView, ProgrammeView,
};
use livingwell_core::domain::appointment::{
    AppointmentId, AppointmentKind, AppointmentStatus, BookingId, BookingStatus, BookingUnit,
    Decision, LocalNotification, PersonRequest, ProgrammeId, ProgrammeSessionId, ReminderSettings,
    RequestAnswer, RequestKind, TimeRange,
};
use livingwell_core::domain::{PersonId, TeamId};

use crate::client::Client;
use crate::error::ClientError;
use crate::types::Timestamp;

/// One appointment, as the diary shows it.
#[derive(Clone, Debug, uniffi::Record)]
pub struct Appointment {
    pub id: AppointmentId,
    pub person_id: PersonId,
    pub kind: AppointmentKind,
    /// Discreet: where, never why.
    pub summary: String,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub place: String,
    pub address: Option<String>,
    pub status: AppointmentStatus,
    pub notes_for_person: Option<String>,
    /// The person's request to cancel or move it, and staff's answer once given.
    pub request: Option<PersonRequest>,
    /// A workshop session: its programme and the person's booking.
    pub programme_id: Option<ProgrammeId>,
    pub booking_id: Option<BookingId>,
}

impl From<AppointmentView> for Appointment {
    fn from(view: AppointmentView) -> Self {
        Self {
            id: view.id,
            person_id: view.person_id,
            kind: view.kind,
            summary: view.summary,
            starts_at: view.starts_at,
            ends_at: view.ends_at,
            place: view.place,
            address: view.address,
            status: view.status,
            notes_for_person: view.notes_for_person,
            request: view.request,
            programme_id: view.programme_id,
            booking_id: view.booking_id,
        }
    }
}

/// The person's answer to an appointment.
#[derive(Clone, Debug, uniffi::Enum)]
pub enum AppointmentAnswer {
    /// "I'll be there."
    Confirm,
    /// "Please cancel this." Staff see and answer the request.
    Cancel { reason: Option<String> },
    /// "Can we move this?", with the times that would suit, best first.
    Reschedule {
        reason: Option<String>,
        preferred_times: Vec<TimeRange>,
    },
}

impl From<AppointmentAnswer> for AppointmentResponseRequest {
    fn from(answer: AppointmentAnswer) -> Self {
        match answer {
            AppointmentAnswer::Confirm => AppointmentResponseRequest::Confirm {},
            AppointmentAnswer::Cancel { reason } => {
                AppointmentResponseRequest::CancelRequest { reason }
            }
            AppointmentAnswer::Reschedule {
                reason,
                preferred_times,
            } => AppointmentResponseRequest::RescheduleRequest {
                reason,
                preferred_times,
            },
        }
    }
}

/// An enablement workshop (a course, or a series booked session by session).
#[derive(Clone, Debug, uniffi::Record)]
pub struct Workshop {
    pub id: ProgrammeId,
    pub team_id: TeamId,
    pub title: String,
    pub description: Option<String>,
    pub place: String,
    pub capacity: i64,
    pub booking_unit: BookingUnit,
    /// For a course booked as a whole: places still free, and people waiting.
    pub places_left: Option<i64>,
    pub waitlist_length: Option<i64>,
    pub sessions: Vec<ProgrammeSessionView>,
}

impl From<ProgrammeView> for Workshop {
    fn from(view: ProgrammeView) -> Self {
        Self {
            id: view.id,
            team_id: view.team_id,
            title: view.title,
            description: view.description,
            place: view.place,
            capacity: view.capacity,
            booking_unit: view.booking_unit,
            places_left: view.places_left,
            waitlist_length: view.waitlist_length,
            sessions: view.sessions,
        }
    }
}

/// A page of the workshops on offer.
#[derive(Clone, Debug, uniffi::Record)]
pub struct WorkshopPage {
    pub workshops: Vec<Workshop>,
    /// Pass to `workshops` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

#[uniffi::export(async_runtime = "tokio")]
impl Client {
    /// The appointments held, soonest first, from now on.
    pub fn appointments(&self) -> Result<Vec<Appointment>, ClientError> {
        Ok(self
            .engine
            .appointments_from(Utc::now())?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// The local notifications to schedule now, `minutes_before` each appointment.
    pub fn reminders(
        &self,
        minutes_before: Vec<u32>,
    ) -> Result<Vec<LocalNotification>, ClientError> {
        Ok(self
            .engine
            .reminders(&ReminderSettings { minutes_before }, Utc::now())?)
    }

    /// Queues the person's answer to an appointment.
    pub fn respond_to_appointment(
        &self,
        appointment_id: AppointmentId,
        answer: AppointmentAnswer,
    ) -> Result<i64, ClientError> {
        Ok(self
            .engine
            .respond_to_appointment(&appointment_id.to_string(), &answer.into())?
            .id)
    }

    /// A page of the workshops on offer, from the server (needs the network); `cursor` is the
    /// previous page's `next_cursor`.
    pub async fn workshops(&self, cursor: Option<String>) -> Result<WorkshopPage, ClientError> {
        let query = ProgrammeQuery {
            cursor,
            ..ProgrammeQuery::default()
        };
        let page = self.engine.workshops(&query).await?;
        Ok(WorkshopPage {
            workshops: page.programmes.into_iter().map(Into::into).collect(),
            next_cursor: page.next_cursor,
        })
    }

    /// The person's workshop places, offers and waitlist places, offers first.
    pub fn bookings(&self) -> Result<Vec<BookingView>, ClientError> {
        Ok(self.engine.bookings()?)
    }

    /// Queues booking a workshop for the signed-in person (a place, or the waitlist when
    /// full); `session_id` for one booked session by session.
    pub fn book_workshop(
        &self,
        workshop_id: ProgrammeId,
        session_id: Option<ProgrammeSessionId>,
    ) -> Result<i64, ClientError> {
        let request = BookRequest {
            session_id,
            person_id: None,
        };
        Ok(self.engine.book(&workshop_id.to_string(), &request)?.id)
    }

    /// Queues the answer to a place offered from the waitlist.
    pub fn answer_offer(
        &self,
        workshop_id: ProgrammeId,
        booking_id: BookingId,
        decision: Decision,
    ) -> Result<i64, ClientError> {
        Ok(self
            .engine
            .answer_offer(
                &workshop_id.to_string(),
                &booking_id.to_string(),
                &OfferAnswerRequest { decision },
            )?
            .id)
    }

    /// Queues giving up a place (or leaving the waitlist).
    pub fn cancel_booking(
        &self,
        workshop_id: ProgrammeId,
        booking_id: BookingId,
    ) -> Result<i64, ClientError> {
        Ok(self
            .engine
            .cancel_booking(&workshop_id.to_string(), &booking_id.to_string())?
            .id)
    }
}

#[uniffi::remote(Enum)]
pub enum AppointmentKind {
    KeyWorkerSession,
    Assessment,
    Review,
    EnablementWorkshop,
    PeerSupportMeeting,
    OutreachVisit,
    HubDropIn,
    Call,
}

#[uniffi::remote(Enum)]
pub enum RequestKind {
    Cancel,
    Reschedule,
}

#[uniffi::remote(Record)]
pub struct RequestAnswer {
    pub decision: Decision,
    pub message: Option<String>,
    pub answered_at: Timestamp,
}

#[uniffi::remote(Record)]
pub struct PersonRequest {
    pub kind: RequestKind,
    pub reason: Option<String>,
    pub preferred_times: Vec<TimeRange>,
    pub made_at: Timestamp,
    pub answer: Option<RequestAnswer>,
}

#[uniffi::remote(Enum)]
pub enum BookingUnit {
    Programme,
    Session,
}

#[uniffi::remote(Record)]
pub struct ProgrammeSessionView {
    pub id: ProgrammeSessionId,
    /// 1 for the first session.
    pub number: i64,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub places_left: Option<i64>,
    pub waitlist_length: Option<i64>,
}

#[uniffi::remote(Record)]
pub struct BookingView {
    pub id: BookingId,
    pub programme_id: ProgrammeId,
    pub session_id: Option<ProgrammeSessionId>,
    pub person_id: PersonId,
    pub status: BookingStatus,
    /// While waitlisted: 1 is next in line.
    pub waitlist_position: Option<i64>,
    /// While offered: answer before this, or the place passes to the next person.
    pub offer_expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}
