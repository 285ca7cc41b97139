//! Appointments and enablement workshops: what they are, where they happen, how they may change,
//! and the reminders a phone schedules for them.
//!
//! What this module guarantees, for the server (which enforces it) and the app (which can check
//! before sending):
//! - **Sane times.** An appointment ends after it starts and lasts at most
//!   [`MAX_APPOINTMENT_HOURS`]; times lie between 2000 and 2100. Times are UTC instants; Europe/London
//!   is only for showing them ([`LONDON`]).
//! - **Who changes what.** Staff create, move and cancel; the person confirms, or asks to cancel or
//!   to reschedule ([`PersonRequest`]) and staff answer. Only an open appointment
//!   ([`AppointmentStatus::is_open`]) can be confirmed, moved or asked about.
//! - **Capacity.** A workshop place is held by a booking that is `booked` or `offered`
//!   ([`BookingStatus::holds_place`]); the server counts exactly these against
//!   [`Programme`] capacity, under a lock, so it is never exceeded. A free place is always offered
//!   to the first on the waitlist before anyone new can take it; an offer lapses after the
//!   programme's hold time and passes to the next.
//! - **Discretion.** Titles for calendars and notifications say where, not why
//!   ([`discreet_title`]): a lock screen or a shared calendar shows "Appointment at West hub",
//!   never "Medication review".

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::ids::{TeamId, id_type};
use crate::domain::FieldError;
use crate::domain::FieldErrorCode;
use crate::domain::text;

id_type!(
    /// One appointment in a person's diary.
    AppointmentId
);
id_type!(
    /// A workshop programme, e.g. a six-week WRAP group.
    ProgrammeId
);
id_type!(
    /// One dated session of a programme.
    ProgrammeSessionId
);
id_type!(
    /// One person's booking (or waitlist place) on a programme or one of its sessions.
    BookingId
);

/// The zone people live in: every time is shown, and every reminder worded, in it.
pub const LONDON: Tz = chrono_tz::Europe::London;

/// The longest appointment: a day. Anything longer is a mistake (or a programme of sessions).
pub const MAX_APPOINTMENT_HOURS: i64 = 24;

/// Most workers on one appointment.
pub const MAX_WORKERS: usize = 10;

/// Most preferred times a person may offer when asking to reschedule.
pub const MAX_PREFERRED_TIMES: usize = 5;

/// Places on a programme: at least one, at most a hall's worth.
pub const MAX_CAPACITY: i64 = 500;

/// Most sessions in one programme (a year of weekly sessions).
pub const MAX_SESSIONS: usize = 52;

/// How long an offered place is held when the programme does not say: two days.
pub const DEFAULT_OFFER_HOLD_HOURS: i64 = 48;
/// Longest an offered place may be held: a week.
pub const MAX_OFFER_HOLD_HOURS: i64 = 168;

/// What an appointment is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AppointmentKind {
    KeyWorkerSession,
    Assessment,
    Review,
    /// A session of an enablement workshop programme.
    EnablementWorkshop,
    PeerSupportMeeting,
    /// An outreach or home visit.
    OutreachVisit,
    HubDropIn,
    /// A phone or video call.
    Call,
}

impl AppointmentKind {
    pub const ALL: [AppointmentKind; 8] = [
        AppointmentKind::KeyWorkerSession,
        AppointmentKind::Assessment,
        AppointmentKind::Review,
        AppointmentKind::EnablementWorkshop,
        AppointmentKind::PeerSupportMeeting,
        AppointmentKind::OutreachVisit,
        AppointmentKind::HubDropIn,
        AppointmentKind::Call,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AppointmentKind::KeyWorkerSession => "key_worker_session",
            AppointmentKind::Assessment => "assessment",
            AppointmentKind::Review => "review",
            AppointmentKind::EnablementWorkshop => "enablement_workshop",
            AppointmentKind::PeerSupportMeeting => "peer_support_meeting",
            AppointmentKind::OutreachVisit => "outreach_visit",
            AppointmentKind::HubDropIn => "hub_drop_in",
            AppointmentKind::Call => "call",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == value)
    }

    /// Words for the person's own app (never for calendars or lock screens).
    pub fn label(self) -> &'static str {
        match self {
            AppointmentKind::KeyWorkerSession => "Key worker session",
            AppointmentKind::Assessment => "Assessment",
            AppointmentKind::Review => "Review",
            AppointmentKind::EnablementWorkshop => "Workshop session",
            AppointmentKind::PeerSupportMeeting => "Peer support meeting",
            AppointmentKind::OutreachVisit => "Visit",
            AppointmentKind::HubDropIn => "Drop-in",
            AppointmentKind::Call => "Call",
        }
    }
}

/// Where an appointment happens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Location {
    /// At a team's hub; its name and address come from the team.
    Hub { team_id: TeamId },
    /// At the person's home. (Empty braces: an internally tagged unit variant would accept
    /// any other field silently.)
    Home {},
    /// Somewhere in the community: a library, a café, a community centre.
    CommunityVenue {
        #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 120))]
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
        address: Option<String>,
    },
    /// By phone.
    Phone {},
    /// By video, at a link.
    Video {
        /// An `https://` link.
        #[cfg_attr(feature = "openapi", schema(min_length = 9, max_length = 2000))]
        url: String,
    },
}

/// Longest video link accepted.
pub const URL_MAX: usize = 2_000;

impl Location {
    /// Every problem with the location, each named under `field` (e.g. `location.url`).
    pub fn field_errors(&self, field: &str) -> Vec<FieldError> {
        let mut errors = Vec::new();
        match self {
            Location::Hub { .. } | Location::Home {} | Location::Phone {} => {}
            Location::CommunityVenue { name, address } => {
                if let Err(e) = text::check_name(&format!("{field}.name"), name) {
                    errors.push(e);
                }
                if let Some(address) = address
                    && let Err(e) =
                        text::check_text(&format!("{field}.address"), address, text::SHORT_TEXT_MAX)
                {
                    errors.push(e);
                }
            }
            Location::Video { url } => {
                let well_formed = url.len() > "https://".len()
                    && url.starts_with("https://")
                    && url.chars().count() <= URL_MAX
                    && !url.chars().any(|c| c.is_whitespace() || c.is_control());
                if !well_formed {
                    errors.push(FieldError::new(
                        format!("{field}.url"),
                        FieldErrorCode::InvalidUrl,
                    ));
                }
            }
        }
        errors
    }

    /// The place in a few words: "West hub", "home", "Riverside Library", "phone", "video".
    /// `hub_name` is the team's name, for a hub.
    pub fn place(&self, hub_name: Option<&str>) -> String {
        match self {
            Location::Hub { .. } => hub_name.unwrap_or("the hub").to_owned(),
            Location::Home {} => "home".to_owned(),
            Location::CommunityVenue { name, .. } => name.clone(),
            Location::Phone {} => "phone".to_owned(),
            Location::Video { .. } => "video".to_owned(),
        }
    }
}

/// The title a calendar or a lock screen shows: where, never why.
pub fn discreet_title(location: &Location, hub_name: Option<&str>) -> String {
    match location {
        Location::Phone {} => "Phone appointment".to_owned(),
        Location::Video { .. } => "Video appointment".to_owned(),
        _ => format!("Appointment at {}", location.place(hub_name)),
    }
}

/// Where an appointment stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AppointmentStatus {
    Booked,
    /// The person has said they will come.
    Confirmed,
    Cancelled,
    Attended,
    DidNotAttend,
}

impl AppointmentStatus {
    pub const ALL: [AppointmentStatus; 5] = [
        AppointmentStatus::Booked,
        AppointmentStatus::Confirmed,
        AppointmentStatus::Cancelled,
        AppointmentStatus::Attended,
        AppointmentStatus::DidNotAttend,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AppointmentStatus::Booked => "booked",
            AppointmentStatus::Confirmed => "confirmed",
            AppointmentStatus::Cancelled => "cancelled",
            AppointmentStatus::Attended => "attended",
            AppointmentStatus::DidNotAttend => "did_not_attend",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }

    /// Still to happen as planned: it can be confirmed, moved, cancelled or asked about.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            AppointmentStatus::Booked | AppointmentStatus::Confirmed
        )
    }

    /// Whether staff may record `outcome` (attended or did not attend) at `now` for an
    /// appointment starting at `starts_at`: only once it has begun, and never for a cancelled
    /// one. An outcome may be corrected.
    pub fn may_record_outcome(
        self,
        outcome: AppointmentStatus,
        starts_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> bool {
        matches!(
            outcome,
            AppointmentStatus::Attended | AppointmentStatus::DidNotAttend
        ) && self != AppointmentStatus::Cancelled
            && starts_at <= now
    }
}

/// A need staff should plan for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AccessibilityNeed {
    StepFreeAccess,
    HearingLoop,
    BslInterpreter,
    LanguageInterpreter,
    LargePrint,
    EasyRead,
    QuietSpace,
    ExtraTime,
    SupportPersonWelcome,
}

/// Accessibility needs for one appointment, with anything the list does not cover.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Accessibility {
    #[serde(default)]
    pub needs: BTreeSet<AccessibilityNeed>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub notes: Option<String>,
}

impl Accessibility {
    pub fn field_errors(&self, field: &str) -> Vec<FieldError> {
        match &self.notes {
            Some(notes) => text::check_text(&format!("{field}.notes"), notes, text::SHORT_TEXT_MAX)
                .err()
                .into_iter()
                .collect(),
            None => Vec::new(),
        }
    }
}

/// A span of time: an appointment's, a session's, or a time the person would prefer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TimeRange {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

impl TimeRange {
    /// Problems with the range, named `{prefix}starts_at` / `{prefix}ends_at`.
    pub fn field_errors(&self, prefix: &str) -> Vec<FieldError> {
        check_times(prefix, self.starts_at, self.ends_at)
    }
}

/// The first instant an appointment may start (earlier is a typing mistake).
fn earliest() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The instant after the last an appointment may start.
fn latest() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2100, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Checks a start and an end: the end after the start, at most [`MAX_APPOINTMENT_HOURS`]
/// later, and the start between 2000 and 2100. Fields are named `{prefix}starts_at` and
/// `{prefix}ends_at`.
pub fn check_times(
    prefix: &str,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if starts_at < earliest() || starts_at >= latest() {
        errors.push(FieldError::new(
            format!("{prefix}starts_at"),
            FieldErrorCode::OutOfRange,
        ));
    }
    if ends_at <= starts_at {
        errors.push(FieldError::new(
            format!("{prefix}ends_at"),
            FieldErrorCode::NotAfterStart,
        ));
    } else if ends_at - starts_at > Duration::hours(MAX_APPOINTMENT_HOURS) {
        errors.push(FieldError::new(
            format!("{prefix}ends_at"),
            FieldErrorCode::TooLong,
        ));
    }
    errors
}

/// What the person asks of an appointment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    Cancel,
    Reschedule,
}

/// Staff's answer to a request, or the person's to an offered place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Accept,
    Decline,
}

/// The person's request to cancel or move an appointment, and staff's answer once given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PersonRequest {
    pub kind: RequestKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For a reschedule: the times the person would prefer, best first.
    #[serde(default)]
    pub preferred_times: Vec<TimeRange>,
    pub made_at: DateTime<Utc>,
    /// Absent while staff have not answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<RequestAnswer>,
}

impl PersonRequest {
    pub fn is_pending(&self) -> bool {
        self.answer.is_none()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RequestAnswer {
    pub decision: Decision,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub answered_at: DateTime<Utc>,
}

/// How people book onto a programme.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BookingUnit {
    /// One booking is a place at every session (a course, like a six-week WRAP group).
    #[default]
    Programme,
    /// Each session is booked on its own (a drop-in series).
    Session,
}

impl BookingUnit {
    pub fn as_str(self) -> &'static str {
        match self {
            BookingUnit::Programme => "programme",
            BookingUnit::Session => "session",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [BookingUnit::Programme, BookingUnit::Session]
            .into_iter()
            .find(|u| u.as_str() == value)
    }
}

/// A workshop programme as the booking rules see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Programme {
    pub capacity: i64,
    pub unit: BookingUnit,
    pub offer_hold: Duration,
}

/// Checks a programme's capacity: 1 to [`MAX_CAPACITY`] places.
pub fn check_capacity(field: &str, capacity: i64) -> Result<(), FieldError> {
    if capacity < 1 {
        Err(FieldError::new(field, FieldErrorCode::TooSmall))
    } else if capacity > MAX_CAPACITY {
        Err(FieldError::new(field, FieldErrorCode::TooLarge))
    } else {
        Ok(())
    }
}

/// Where one booking stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BookingStatus {
    /// Has a place.
    Booked,
    /// In the queue for a place.
    Waitlisted,
    /// A place is held for them until the offer expires; they accept or decline.
    Offered,
    Cancelled,
    /// Turned an offered place down.
    Declined,
    /// Did not answer an offer in time.
    OfferExpired,
}

impl BookingStatus {
    pub const ALL: [BookingStatus; 6] = [
        BookingStatus::Booked,
        BookingStatus::Waitlisted,
        BookingStatus::Offered,
        BookingStatus::Cancelled,
        BookingStatus::Declined,
        BookingStatus::OfferExpired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BookingStatus::Booked => "booked",
            BookingStatus::Waitlisted => "waitlisted",
            BookingStatus::Offered => "offered",
            BookingStatus::Cancelled => "cancelled",
            BookingStatus::Declined => "declined",
            BookingStatus::OfferExpired => "offer_expired",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }

    /// Counts against capacity: a place that is taken, or held for someone offered it.
    pub fn holds_place(self) -> bool {
        matches!(self, BookingStatus::Booked | BookingStatus::Offered)
    }

    /// Still in play: a place, an offer or a waitlist place. A person has at most one of these
    /// per programme (or session).
    pub fn is_active(self) -> bool {
        self.holds_place() || self == BookingStatus::Waitlisted
    }
}

/// Which local notifications to schedule, as the person has chosen (or the default).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReminderSettings {
    /// How long before each appointment to remind, in minutes. Default: a day and two hours.
    pub minutes_before: Vec<u32>,
}

/// Earliest and latest reminder, and the most reminders per appointment.
pub const REMINDER_MIN_MINUTES: u32 = 5;
pub const REMINDER_MAX_MINUTES: u32 = 7 * 24 * 60;
pub const REMINDERS_MAX: usize = 5;

impl Default for ReminderSettings {
    fn default() -> Self {
        Self {
            minutes_before: vec![24 * 60, 2 * 60],
        }
    }
}

impl ReminderSettings {
    /// Problems with a person's choice, under `minutes_before`.
    pub fn field_errors(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.minutes_before.len() > REMINDERS_MAX {
            errors.push(FieldError::new("minutes_before", FieldErrorCode::TooMany));
        }
        for (i, minutes) in self.minutes_before.iter().enumerate() {
            if !(REMINDER_MIN_MINUTES..=REMINDER_MAX_MINUTES).contains(minutes) {
                errors.push(FieldError::new(
                    format!("minutes_before[{i}]"),
                    FieldErrorCode::OutOfRange,
                ));
            }
        }
        errors
    }
}

/// What a reminder is about: the few facts of an appointment it needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReminderSubject {
    pub appointment_id: AppointmentId,
    pub starts_at: DateTime<Utc>,
    pub status: AppointmentStatus,
    /// The discreet title ([`discreet_title`]).
    pub title: String,
}

/// One notification for the phone to schedule locally, with no server involved when it fires.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LocalNotification {
    /// Stable across recomputations (`<appointment id>/<minutes before>`), so the app replaces
    /// a scheduled notification instead of adding a second one.
    pub id: String,
    pub appointment_id: AppointmentId,
    /// When to show it.
    pub fire_at: DateTime<Utc>,
    /// Discreet: where, never why.
    pub title: String,
    /// When, in Europe/London words: "Tomorrow at 10:00", "Today at 14:30".
    pub body: String,
}

/// The local notifications to schedule now: for each open appointment, one per chosen interval
/// before it, skipping those whose moment has passed. Cancelled, attended and missed
/// appointments get none, so recomputing after a change cancels their reminders. Sorted by
/// when they fire.
pub fn reminders(
    subjects: &[ReminderSubject],
    settings: &ReminderSettings,
    now: DateTime<Utc>,
) -> Vec<LocalNotification> {
    let mut minutes: Vec<u32> = settings.minutes_before.clone();
    minutes.sort_unstable();
    minutes.dedup();
    let mut out = Vec::new();
    for subject in subjects.iter().filter(|s| s.status.is_open()) {
        for &before in &minutes {
            let fire_at = subject.starts_at - Duration::minutes(i64::from(before));
            if fire_at <= now {
                continue;
            }
            out.push(LocalNotification {
                id: format!("{}/{before}", subject.appointment_id),
                appointment_id: subject.appointment_id,
                fire_at,
                title: subject.title.clone(),
                body: when_in_words(subject.starts_at, fire_at),
            });
        }
    }
    out.sort_by(|a, b| a.fire_at.cmp(&b.fire_at).then_with(|| a.id.cmp(&b.id)));
    out
}

/// "Today at 10:00", "Tomorrow at 10:00" or "Monday 26 October at 10:00", as seen in London
/// at the moment `seen_at` (when the notification shows).
pub fn when_in_words(at: DateTime<Utc>, seen_at: DateTime<Utc>) -> String {
    let local = at.with_timezone(&LONDON);
    let seen = seen_at.with_timezone(&LONDON).date_naive();
    let time = local.format("%H:%M");
    let days = (local.date_naive() - seen).num_days();
    match days {
        0 => format!("Today at {time}"),
        1 => format!("Tomorrow at {time}"),
        _ => format!(
            "{} {} {} at {time}",
            local.format("%A"),
            local.day(),
            local.format("%B")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn london(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        LONDON
            .with_ymd_and_hms(y, m, d, h, min, 0)
            .single()
            .unwrap()
            .with_timezone(&Utc)
    }

    fn subject(starts_at: DateTime<Utc>, status: AppointmentStatus) -> ReminderSubject {
        ReminderSubject {
            appointment_id: AppointmentId::new(),
            starts_at,
            status,
            title: "Appointment at West hub".into(),
        }
    }

    #[test]
    fn default_reminders_are_a_day_and_two_hours_before() {
        let start = london(2026, 7, 15, 10, 0);
        let now = london(2026, 7, 1, 9, 0);
        let s = subject(start, AppointmentStatus::Booked);
        let got = reminders(std::slice::from_ref(&s), &ReminderSettings::default(), now);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].fire_at, start - Duration::hours(24));
        assert_eq!(got[0].body, "Tomorrow at 10:00");
        assert_eq!(got[1].fire_at, start - Duration::hours(2));
        assert_eq!(got[1].body, "Today at 10:00");
        assert_eq!(got[0].id, format!("{}/1440", s.appointment_id));
        assert_eq!(got[0].title, "Appointment at West hub");
    }

    #[test]
    fn reminders_are_configurable_and_skip_moments_already_past() {
        let start = london(2026, 7, 15, 10, 0);
        let settings = ReminderSettings {
            minutes_before: vec![30, 7 * 24 * 60, 30],
        };
        // Three hours before: the week-ahead reminder has passed, the half-hour one has not.
        let now = start - Duration::hours(3);
        let got = reminders(
            &[subject(start, AppointmentStatus::Confirmed)],
            &settings,
            now,
        );
        assert_eq!(
            got.len(),
            1,
            "duplicates collapse and past moments are skipped"
        );
        assert_eq!(got[0].fire_at, start - Duration::minutes(30));
    }

    #[test]
    fn cancelled_and_finished_appointments_get_no_reminders() {
        let start = london(2026, 7, 15, 10, 0);
        let now = london(2026, 7, 1, 9, 0);
        for status in [
            AppointmentStatus::Cancelled,
            AppointmentStatus::Attended,
            AppointmentStatus::DidNotAttend,
        ] {
            assert!(
                reminders(&[subject(start, status)], &ReminderSettings::default(), now).is_empty()
            );
        }
    }

    #[test]
    fn reminder_words_follow_london_time_across_the_clock_change() {
        // 26 October 2026 is after the clocks go back (25 October): 10:00 in London is 10:00Z;
        // on 24 October it is 09:00Z.
        let after = london(2026, 10, 26, 10, 0);
        assert_eq!(after.to_rfc3339(), "2026-10-26T10:00:00+00:00");
        let before = london(2026, 10, 24, 10, 0);
        assert_eq!(before.to_rfc3339(), "2026-10-24T09:00:00+00:00");
        let got = reminders(
            &[subject(after, AppointmentStatus::Booked)],
            &ReminderSettings::default(),
            london(2026, 10, 20, 9, 0),
        );
        // The clocks went back at 01:00Z on the 25th, so a day before is 10:00 local too.
        assert_eq!(got[0].body, "Tomorrow at 10:00");
        assert_eq!(
            when_in_words(after, london(2026, 10, 20, 9, 0)),
            "Monday 26 October at 10:00"
        );
    }

    #[test]
    fn reminder_settings_are_bounded() {
        let bad = ReminderSettings {
            minutes_before: vec![1, 60, 20_000],
        };
        let fields: Vec<String> = bad.field_errors().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["minutes_before[0]", "minutes_before[2]"]);
        assert!(ReminderSettings::default().field_errors().is_empty());
    }

    #[test]
    fn times_must_end_after_they_start_and_last_at_most_a_day() {
        let start = london(2026, 7, 15, 10, 0);
        let codes = |end| -> Vec<(String, String)> {
            check_times("", start, end)
                .into_iter()
                .map(|e| (e.field, e.code.to_string()))
                .collect()
        };
        assert!(codes(start + Duration::hours(1)).is_empty());
        assert_eq!(codes(start), [("ends_at".into(), "not_after_start".into())]);
        assert_eq!(
            codes(start - Duration::hours(1)),
            [("ends_at".into(), "not_after_start".into())]
        );
        assert_eq!(
            codes(start + Duration::days(3650)),
            [("ends_at".into(), "too_long".into())]
        );
        let ancient = Utc.with_ymd_and_hms(1900, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(
            check_times("sessions[0].", ancient, ancient + Duration::hours(1))[0].field,
            "sessions[0].starts_at"
        );
    }

    #[test]
    fn capacity_must_be_positive_and_bounded() {
        assert_eq!(
            check_capacity("capacity", 0).unwrap_err().code,
            FieldErrorCode::TooSmall
        );
        assert_eq!(
            check_capacity("capacity", -3).unwrap_err().code,
            FieldErrorCode::TooSmall
        );
        assert_eq!(
            check_capacity("capacity", 501).unwrap_err().code,
            FieldErrorCode::TooLarge
        );
        assert!(check_capacity("capacity", 12).is_ok());
    }

    #[test]
    fn only_booked_and_offered_places_count_against_capacity() {
        let holding: Vec<_> = BookingStatus::ALL
            .into_iter()
            .filter(|s| s.holds_place())
            .collect();
        assert_eq!(holding, [BookingStatus::Booked, BookingStatus::Offered]);
        assert!(BookingStatus::Waitlisted.is_active());
        assert!(!BookingStatus::Declined.is_active());
        for status in BookingStatus::ALL {
            assert_eq!(BookingStatus::parse(status.as_str()), Some(status));
        }
    }

    #[test]
    fn discreet_titles_say_where_not_why() {
        let hub = Location::Hub {
            team_id: TeamId::new(),
        };
        assert_eq!(
            discreet_title(&hub, Some("West hub")),
            "Appointment at West hub"
        );
        assert_eq!(
            discreet_title(&Location::Home {}, None),
            "Appointment at home"
        );
        assert_eq!(
            discreet_title(&Location::Phone {}, None),
            "Phone appointment"
        );
        let video = Location::Video {
            url: "https://meet.example/abc".into(),
        };
        assert_eq!(discreet_title(&video, None), "Video appointment");
    }

    #[test]
    fn locations_carry_their_own_data_and_refuse_what_they_do_not_know() {
        let venue: Location = serde_json::from_str(
            r#"{"type":"community_venue","name":"Riverside Library","address":"1 Quay St"}"#,
        )
        .unwrap();
        assert_eq!(venue.place(None), "Riverside Library");
        assert!(serde_json::from_str::<Location>(r#"{"type":"home","url":"x"}"#).is_err());
        assert!(serde_json::from_str::<Location>(r#"{"type":"moon"}"#).is_err());
        let insecure = Location::Video {
            url: "http://meet.example/abc".into(),
        };
        assert_eq!(insecure.field_errors("location")[0].field, "location.url");
    }

    #[test]
    fn outcomes_are_recorded_only_once_an_appointment_has_begun() {
        let start = london(2026, 7, 15, 10, 0);
        let booked = AppointmentStatus::Booked;
        assert!(!booked.may_record_outcome(
            AppointmentStatus::Attended,
            start,
            start - Duration::minutes(1)
        ));
        assert!(booked.may_record_outcome(AppointmentStatus::DidNotAttend, start, start));
        assert!(!AppointmentStatus::Cancelled.may_record_outcome(
            AppointmentStatus::Attended,
            start,
            start
        ));
        assert!(!booked.may_record_outcome(AppointmentStatus::Confirmed, start, start));
    }
}
