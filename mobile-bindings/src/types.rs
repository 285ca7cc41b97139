//! The core's own types, as the apps see them: identifiers as strings, times as the platform's
//! instant, dates as ISO text (`java.time.LocalDate` in Kotlin, `uniffi.toml`), and the shared
//! enums mirrored variant for variant (`uniffi::remote`), so the Kotlin, Swift and Python types
//! are the core's, with no conversion code to drift. The records of one area are mirrored in
//! its module ([`crate::plan`], [`crate::wrap`], …).

use chrono::{DateTime, NaiveDate, Utc};
use livingwell_core::domain::appointment::{
    AppointmentId, AppointmentStatus, BookingId, BookingStatus, Decision, LocalNotification,
    ProgrammeId, ProgrammeSessionId, TimeRange,
};
use livingwell_core::domain::message::{
    ClientMessageId, ClockTime, ConversationId, Day, MessageId, MessageState, WorkingSpan,
};
use livingwell_core::domain::{
    ConsentId, ConsentScope, CrisisPlanSection, PersonId, Role, TeamId, UserId,
};
use uuid::Uuid;

/// An instant: `java.time.Instant` in Kotlin, `Date` in Swift, `datetime` in Python.
pub type Timestamp = DateTime<Utc>;

uniffi::custom_type!(Timestamp, std::time::SystemTime, {
    remote,
    lower: |at| at.into(),
    try_lift: |at| Ok(at.into()),
});

// A calendar date, as `YYYY-MM-DD`.
uniffi::custom_type!(NaiveDate, String, {
    remote,
    lower: |date| date.format("%Y-%m-%d").to_string(),
    try_lift: |text| Ok(NaiveDate::parse_from_str(&text, "%Y-%m-%d")?),
});

// A time of day on the London wall clock, as `HH:MM` (`24:00` ends a day).
uniffi::custom_type!(ClockTime, String, {
    remote,
    lower: |time| time.to_string(),
    try_lift: |text| text.parse().map_err(uniffi::deps::anyhow::Error::msg),
});

// A server-made identifier with no type of its own (a comment's), as its text.
uniffi::custom_type!(Uuid, String, {
    remote,
    lower: |id| id.to_string(),
    try_lift: |text| Ok(text.parse()?),
});

/// Identifiers cross as their UUID's text; one that does not parse is refused at the boundary.
macro_rules! id_as_string {
    ($($id:ident),* $(,)?) => {$(
        uniffi::custom_type!($id, String, {
            remote,
            lower: |id| id.to_string(),
            try_lift: |text| Ok(text.parse()?),
        });
    )*};
}

id_as_string!(
    PersonId,
    UserId,
    ConsentId,
    ConversationId,
    MessageId,
    ClientMessageId,
    AppointmentId,
    BookingId,
    ProgrammeId,
    ProgrammeSessionId,
    TeamId,
);

#[uniffi::remote(Enum)]
pub enum Role {
    ServiceUser,
    Carer,
    PeerWorker,
    Practitioner,
    Admin,
}

#[uniffi::remote(Enum)]
pub enum CrisisPlanSection {
    WhenWell,
    SignsOthersTakeOver,
    Supporters,
    Medication,
    Treatments,
    HomeAndRespite,
    TreatmentFacilities,
    HelpFromOthers,
    WhenToStopUsing,
    PracticalNeeds,
    AdvanceStatements,
}

#[uniffi::remote(Enum)]
pub enum ConsentScope {
    CrisisPlan,
    CrisisPlanActivation,
    Appointments,
    EnablementPlan,
}

#[uniffi::remote(Enum)]
pub enum AppointmentStatus {
    Booked,
    Confirmed,
    Cancelled,
    Attended,
    DidNotAttend,
}

#[uniffi::remote(Enum)]
pub enum MessageState {
    Queued,
    Sent,
    Delivered,
    Read,
}

#[uniffi::remote(Record)]
pub struct LocalNotification {
    pub id: String,
    pub appointment_id: AppointmentId,
    pub fire_at: Timestamp,
    pub title: String,
    pub body: String,
}

#[uniffi::remote(Enum)]
pub enum BookingStatus {
    Booked,
    Waitlisted,
    Offered,
    Cancelled,
    Declined,
    OfferExpired,
}

#[uniffi::remote(Enum)]
pub enum Decision {
    Accept,
    Decline,
}

#[uniffi::remote(Record)]
pub struct TimeRange {
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
}

#[uniffi::remote(Enum)]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

#[uniffi::remote(Record)]
pub struct WorkingSpan {
    pub day: Day,
    pub start: ClockTime,
    pub end: ClockTime,
}
