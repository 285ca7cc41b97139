//! Appointments, workshop programmes and bookings on the wire.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{FieldError, Validate};
use crate::domain::FieldErrorCode;
use crate::domain::appointment::{
    self, Accessibility, AppointmentId, AppointmentKind, AppointmentStatus, BookingId,
    BookingStatus, BookingUnit, Decision, Location, PersonRequest, ProgrammeId, ProgrammeSessionId,
    ReminderSubject, TimeRange,
};
use crate::domain::text::{self, NAME_MAX, SHORT_TEXT_MAX};
use crate::domain::{PersonId, TeamId, UserId};

fn optional_text(errors: &mut Vec<FieldError>, field: &str, value: Option<&String>, max: usize) {
    if let Some(value) = value
        && let Err(e) = text::check_text(field, value, max)
    {
        errors.push(e);
    }
}

fn check_workers(errors: &mut Vec<FieldError>, workers: &[UserId]) {
    if workers.len() > appointment::MAX_WORKERS {
        errors.push(FieldError::new("worker_ids", FieldErrorCode::TooMany));
    }
}

/// Staff: a new appointment in a person's diary.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateAppointmentRequest {
    pub kind: AppointmentKind,
    /// What it is for, in staff's words ("Medication review"). The person sees it in the app;
    /// calendars and lock screens do not, unless the person asks for detailed titles.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 120))]
    pub title: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub location: Location,
    /// The staff taking part (practitioners and peer workers).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 10))]
    pub worker_ids: Vec<UserId>,
    /// What to bring, where to go: for the person.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub notes_for_person: Option<String>,
    #[serde(default)]
    pub accessibility: Accessibility,
}

debug_without_secrets!(CreateAppointmentRequest, kind, starts_at, ends_at);

impl Validate for CreateAppointmentRequest {
    fn field_errors(&self) -> Vec<FieldError> {
        let mut errors = appointment::check_times("", self.starts_at, self.ends_at);
        optional_text(&mut errors, "title", self.title.as_ref(), NAME_MAX);
        optional_text(
            &mut errors,
            "notes_for_person",
            self.notes_for_person.as_ref(),
            SHORT_TEXT_MAX,
        );
        errors.extend(self.location.field_errors("location"));
        errors.extend(self.accessibility.field_errors("accessibility"));
        check_workers(&mut errors, &self.worker_ids);
        errors
    }
}

/// Staff: change an appointment. Absent fields stay as they are. Moving it (new times) makes
/// it `booked` again, for the person to confirm, and answers a pending reschedule request.
#[derive(Clone, Default, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateAppointmentRequest {
    #[serde(default)]
    pub kind: Option<AppointmentKind>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 120))]
    pub title: Option<String>,
    #[serde(default)]
    pub starts_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub ends_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub location: Option<Location>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 10))]
    pub worker_ids: Option<Vec<UserId>>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub notes_for_person: Option<String>,
    #[serde(default)]
    pub accessibility: Option<Accessibility>,
    /// Record the outcome once it has begun: `attended` or `did_not_attend`.
    #[serde(default)]
    pub status: Option<AppointmentStatus>,
}

debug_without_secrets!(UpdateAppointmentRequest, kind, starts_at, ends_at, status);

impl Validate for UpdateAppointmentRequest {
    /// The checks that need only the request; times are checked again against the stored
    /// appointment when only one end is given.
    fn field_errors(&self) -> Vec<FieldError> {
        let mut errors = match (self.starts_at, self.ends_at) {
            (Some(starts_at), Some(ends_at)) => appointment::check_times("", starts_at, ends_at),
            _ => Vec::new(),
        };
        optional_text(&mut errors, "title", self.title.as_ref(), NAME_MAX);
        optional_text(
            &mut errors,
            "notes_for_person",
            self.notes_for_person.as_ref(),
            SHORT_TEXT_MAX,
        );
        if let Some(location) = &self.location {
            errors.extend(location.field_errors("location"));
        }
        if let Some(accessibility) = &self.accessibility {
            errors.extend(accessibility.field_errors("accessibility"));
        }
        if let Some(workers) = &self.worker_ids {
            check_workers(&mut errors, workers);
        }
        let changes_nothing = self.kind.is_none()
            && self.title.is_none()
            && self.starts_at.is_none()
            && self.ends_at.is_none()
            && self.location.is_none()
            && self.worker_ids.is_none()
            && self.notes_for_person.is_none()
            && self.accessibility.is_none()
            && self.status.is_none();
        if changes_nothing {
            errors.push(FieldError::new("body", FieldErrorCode::NothingToChange));
        }
        if let Some(status) = self.status
            && !matches!(
                status,
                AppointmentStatus::Attended | AppointmentStatus::DidNotAttend
            )
        {
            errors.push(FieldError::new("status", FieldErrorCode::NotAnOutcome));
        }
        errors
    }
}

/// The person's answer to an appointment.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum AppointmentResponseRequest {
    /// "I'll be there." (Empty braces, so that a stray field is refused.)
    Confirm {},
    /// "Please cancel this." Staff see and answer the request.
    CancelRequest {
        #[serde(default)]
        #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
        reason: Option<String>,
    },
    /// "Can we move this?", with the times that would suit, best first.
    RescheduleRequest {
        #[serde(default)]
        #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
        reason: Option<String>,
        #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 5))]
        preferred_times: Vec<TimeRange>,
    },
}

debug_without_secrets!(AppointmentResponseRequest);

impl Validate for AppointmentResponseRequest {
    fn field_errors(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        match self {
            AppointmentResponseRequest::Confirm {} => {}
            AppointmentResponseRequest::CancelRequest { reason } => {
                optional_text(&mut errors, "reason", reason.as_ref(), SHORT_TEXT_MAX);
            }
            AppointmentResponseRequest::RescheduleRequest {
                reason,
                preferred_times,
            } => {
                optional_text(&mut errors, "reason", reason.as_ref(), SHORT_TEXT_MAX);
                if preferred_times.is_empty() {
                    errors.push(FieldError::new("preferred_times", FieldErrorCode::Required));
                } else if preferred_times.len() > appointment::MAX_PREFERRED_TIMES {
                    errors.push(FieldError::new("preferred_times", FieldErrorCode::TooMany));
                }
                for (i, range) in preferred_times.iter().enumerate() {
                    errors.extend(range.field_errors(&format!("preferred_times[{i}].")));
                }
            }
        }
        errors
    }
}

/// Staff: answer the person's pending request. Accepting a cancel request cancels the
/// appointment; accepting a reschedule request moves it to `starts_at`/`ends_at` (usually one
/// of the preferred times).
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AnswerRequestRequest {
    pub decision: Decision,
    /// A word to the person ("Thursday works, see you then").
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub message: Option<String>,
    #[serde(default)]
    pub starts_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub ends_at: Option<DateTime<Utc>>,
}

debug_without_secrets!(AnswerRequestRequest, decision, starts_at, ends_at);

impl Validate for AnswerRequestRequest {
    fn field_errors(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        optional_text(
            &mut errors,
            "message",
            self.message.as_ref(),
            SHORT_TEXT_MAX,
        );
        match (self.starts_at, self.ends_at) {
            (Some(starts_at), Some(ends_at)) => {
                errors.extend(appointment::check_times("", starts_at, ends_at));
            }
            (Some(_), None) => errors.push(FieldError::new("ends_at", FieldErrorCode::Required)),
            (None, Some(_)) => errors.push(FieldError::new("starts_at", FieldErrorCode::Required)),
            (None, None) => {}
        }
        errors
    }
}

/// An appointment as its readers see it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppointmentView {
    pub id: AppointmentId,
    pub person_id: PersonId,
    pub kind: AppointmentKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The discreet title for calendars and notifications: "Appointment at West hub".
    pub summary: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub location: Location,
    /// The place in a few words: "West hub", "home", "phone".
    pub place: String,
    /// The hub's address, for a hub.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    pub status: AppointmentStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes_for_person: Option<String>,
    pub accessibility: Accessibility,
    pub worker_ids: Vec<UserId>,
    /// The person's latest request and staff's answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<PersonRequest>,
    /// For a workshop session: its programme and the booking that put it here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub programme_id: Option<ProgrammeId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub booking_id: Option<BookingId>,
    /// Grows with every change (the iCalendar `SEQUENCE`).
    pub sequence: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl AppointmentView {
    /// What the reminder rules need of it ([`appointment::reminders`]).
    pub fn reminder_subject(&self) -> ReminderSubject {
        ReminderSubject {
            appointment_id: self.id,
            starts_at: self.starts_at,
            status: self.status,
            title: self.summary.clone(),
        }
    }
}

/// A page of appointments, in start-time order.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppointmentPage {
    pub appointments: Vec<AppointmentView>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Staff: a new workshop programme with its sessions.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateProgrammeRequest {
    /// The team (hub) that runs it.
    pub team_id: TeamId,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 120))]
    pub title: String,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub description: Option<String>,
    pub location: Location,
    /// Places: 1 to 500.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 500))]
    pub capacity: i64,
    #[serde(default)]
    pub booking_unit: BookingUnit,
    /// How long an offered place is held for the person it is offered to (default 48 hours).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 168))]
    pub offer_hold_hours: Option<i64>,
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 52))]
    pub sessions: Vec<TimeRange>,
}

debug_without_secrets!(CreateProgrammeRequest, team_id, capacity, booking_unit);

impl Validate for CreateProgrammeRequest {
    fn field_errors(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if let Err(e) = text::check_name("title", &self.title) {
            errors.push(e);
        }
        optional_text(
            &mut errors,
            "description",
            self.description.as_ref(),
            SHORT_TEXT_MAX,
        );
        errors.extend(self.location.field_errors("location"));
        if let Err(e) = appointment::check_capacity("capacity", self.capacity) {
            errors.push(e);
        }
        if let Some(hours) = self.offer_hold_hours
            && !(1..=appointment::MAX_OFFER_HOLD_HOURS).contains(&hours)
        {
            errors.push(FieldError::new(
                "offer_hold_hours",
                FieldErrorCode::OutOfRange,
            ));
        }
        if self.sessions.is_empty() {
            errors.push(FieldError::new("sessions", FieldErrorCode::Required));
        } else if self.sessions.len() > appointment::MAX_SESSIONS {
            errors.push(FieldError::new("sessions", FieldErrorCode::TooMany));
        }
        for (i, session) in self.sessions.iter().enumerate() {
            errors.extend(session.field_errors(&format!("sessions[{i}].")));
        }
        errors
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProgrammeSessionView {
    pub id: ProgrammeSessionId,
    /// 1 for the first session.
    pub number: i64,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// For programmes booked session by session: places still free, and people waiting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub places_left: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waitlist_length: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProgrammeView {
    pub id: ProgrammeId,
    pub team_id: TeamId,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub location: Location,
    pub place: String,
    pub capacity: i64,
    pub booking_unit: BookingUnit,
    pub offer_hold_hours: i64,
    /// For programmes booked as a whole: places still free, and people waiting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub places_left: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waitlist_length: Option<i64>,
    pub sessions: Vec<ProgrammeSessionView>,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProgrammePage {
    pub programmes: Vec<ProgrammeView>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Book onto a programme (or, for one booked session by session, a session).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BookRequest {
    /// Only for programmes booked session by session: the session.
    #[serde(default)]
    pub session_id: Option<ProgrammeSessionId>,
    /// Staff book for a person; a person books for themselves and may leave it out.
    #[serde(default)]
    pub person_id: Option<PersonId>,
}

/// The person's answer to an offered place.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OfferAnswerRequest {
    pub decision: Decision,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BookingView {
    pub id: BookingId,
    pub programme_id: ProgrammeId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<ProgrammeSessionId>,
    pub person_id: PersonId,
    pub status: BookingStatus,
    /// While waitlisted: 1 is next in line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waitlist_position: Option<i64>,
    /// While offered: answer before this, or the place passes to the next person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// How much a calendar feed says about each appointment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CalendarDetail {
    /// "Appointment at West hub", no description: safe on a shared screen.
    #[default]
    Discreet,
    /// The appointment's own title and the notes for the person. Only the person may ask.
    Detailed,
}

/// The query of `ListQuery`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct AppointmentListQuery {
    /// Appointments starting at or after this (default: 90 days ago).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<DateTime<Utc>>,
    /// …and before this (default: a year after `from`; at most two years after it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<DateTime<Utc>>,
    /// From `next_cursor` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// At most this many (default 50).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 200))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

/// The query of `FeedQuery`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct CalendarFeedQuery {
    /// Appointments starting at or after this (default: 30 days ago).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<DateTime<Utc>>,
    /// …and before this (default: 13 months after `from`; at most two years after it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<DateTime<Utc>>,
    /// `discreet` (default) or `detailed`; only the person may ask for detailed titles.
    #[cfg_attr(feature = "openapi", param(inline))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<CalendarDetail>,
}

/// The person's secret calendar feed, answered once when it is made or reset: only its hash
/// is kept, so the URL cannot be shown again (reset to get a new one).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CalendarFeedLink {
    /// The path to subscribe to (`/v1/calendar-feeds/{secret}.ics`), relative to the API's
    /// base URL; it needs no header. Anyone holding it sees the discreet feed.
    pub path: String,
}

/// The query of `DiaryQuery`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct DiaryQuery {
    /// A team's diary: everyone on its caseload (the team's practitioners, staff systems).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<TeamId>,
    /// A worker's diary; staff see their own (the default for them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_id: Option<UserId>,
    /// Appointments starting at or after this (default: now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<DateTime<Utc>>,
    /// …and before this (default: a week after `from`; at most two years after it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 200))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// Only appointments with a request from the person waiting for an answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_requests: Option<bool>,
}

/// The query of `ProgrammeQuery`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct ProgrammeQuery {
    /// Only this team's programmes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<TeamId>,
    /// From `next_cursor` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 50))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;

    fn request(json: serde_json::Value) -> Result<CreateAppointmentRequest, serde_json::Error> {
        serde_json::from_value(json)
    }

    #[test]
    fn a_ten_year_appointment_is_refused_naming_ends_at() {
        let start = Utc.with_ymd_and_hms(2026, 7, 1, 9, 0, 0).unwrap();
        let body = request(serde_json::json!({
            "kind": "review",
            "starts_at": start,
            "ends_at": start + Duration::days(3653),
            "location": {"type": "phone"},
        }))
        .unwrap();
        let fields: Vec<_> = body.field_errors().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["ends_at"]);
    }

    #[test]
    fn unknown_kinds_and_fields_are_refused() {
        let start = Utc.with_ymd_and_hms(2026, 7, 1, 9, 0, 0).unwrap();
        let mut json = serde_json::json!({
            "kind": "séance",
            "starts_at": start,
            "ends_at": start + Duration::hours(1),
            "location": {"type": "phone"},
        });
        assert!(request(json.clone()).is_err());
        json["kind"] = "review".into();
        assert!(request(json.clone()).is_ok());
        json["colour"] = "red".into();
        assert!(request(json).is_err());
    }

    #[test]
    fn a_reschedule_request_needs_valid_preferred_times() {
        let start = Utc.with_ymd_and_hms(2026, 7, 1, 9, 0, 0).unwrap();
        let none: AppointmentResponseRequest = serde_json::from_value(
            serde_json::json!({"action": "reschedule_request", "preferred_times": []}),
        )
        .unwrap();
        assert_eq!(none.field_errors()[0].field, "preferred_times");
        let backwards: AppointmentResponseRequest = serde_json::from_value(serde_json::json!({
            "action": "reschedule_request",
            "preferred_times": [{"starts_at": start, "ends_at": start - Duration::hours(1)}],
        }))
        .unwrap();
        assert_eq!(
            backwards.field_errors()[0].field,
            "preferred_times[0].ends_at"
        );
        assert!(
            serde_json::from_value::<AppointmentResponseRequest>(
                serde_json::json!({"action": "confirm", "reason": "x"})
            )
            .is_err(),
            "a confirmation carries nothing else"
        );
    }

    #[test]
    fn programme_capacity_must_be_positive() {
        let start = Utc.with_ymd_and_hms(2026, 7, 1, 9, 0, 0).unwrap();
        for capacity in [0, -1] {
            let body: CreateProgrammeRequest = serde_json::from_value(serde_json::json!({
                "team_id": TeamId::new(),
                "title": "WRAP group",
                "location": {"type": "home"},
                "capacity": capacity,
                "sessions": [{"starts_at": start, "ends_at": start + Duration::hours(2)}],
            }))
            .unwrap();
            let fields: Vec<_> = body.field_errors().into_iter().map(|e| e.field).collect();
            assert_eq!(fields, ["capacity"]);
        }
    }
}
