//! The core's own types, as the apps see them: identifiers as strings, times as the platform's
//! instant, and the WRAP and the enums mirrored field for field (`uniffi::remote`), so the
//! Kotlin, Swift and Python types are the core's, with no conversion code to drift.

use chrono::{DateTime, Utc};
use livingwell_core::domain::appointment::{
    AppointmentId, AppointmentStatus, BookingId, LocalNotification, ProgrammeId,
};
use livingwell_core::domain::message::{ClientMessageId, ConversationId, MessageId, MessageState};
use livingwell_core::domain::wrap::{
    CrisisPlan, DailyMaintenance, HelpFromOthers, Medication, Medicine, NotInvolved, PracticalNeed,
    Preferences, SignsAndActions, Supporter, Supporters, Wrap,
};
use livingwell_core::domain::{ConsentId, ConsentScope, CrisisPlanSection, PersonId, Role, UserId};

/// An instant: `java.time.Instant` in Kotlin, `Date` in Swift, `datetime` in Python.
pub type Timestamp = DateTime<Utc>;

uniffi::custom_type!(Timestamp, std::time::SystemTime, {
    remote,
    lower: |at| at.into(),
    try_lift: |at| Ok(at.into()),
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

#[uniffi::remote(Record)]
pub struct SignsAndActions {
    pub signs: Vec<String>,
    pub action_plan: Vec<String>,
}

#[uniffi::remote(Record)]
pub struct DailyMaintenance {
    pub when_well: String,
    pub every_day: Vec<String>,
    pub might_do: Vec<String>,
}

#[uniffi::remote(Record)]
pub struct Supporter {
    pub name: String,
    pub relationship: String,
    pub contact: String,
    pub role_in_crisis: String,
    pub user_id: Option<UserId>,
}

#[uniffi::remote(Record)]
pub struct NotInvolved {
    pub name: String,
    pub why: String,
    pub user_id: Option<UserId>,
}

#[uniffi::remote(Record)]
pub struct Supporters {
    pub helpers: Vec<Supporter>,
    pub not_involved: Vec<NotInvolved>,
}

#[uniffi::remote(Record)]
pub struct Medicine {
    pub name: String,
    pub dose: String,
    pub notes: String,
}

#[uniffi::remote(Record)]
pub struct Medication {
    pub current: Vec<Medicine>,
    pub acceptable: Vec<String>,
    pub avoid: Vec<String>,
}

#[uniffi::remote(Record)]
pub struct Preferences {
    pub preferred: Vec<String>,
    pub avoid: Vec<String>,
}

#[uniffi::remote(Record)]
pub struct HelpFromOthers {
    pub helps: Vec<String>,
    pub does_not_help: Vec<String>,
}

#[uniffi::remote(Record)]
pub struct PracticalNeed {
    pub need: String,
    pub arrangement: String,
}

#[uniffi::remote(Record)]
pub struct CrisisPlan {
    pub when_well: String,
    pub signs_others_take_over: Vec<String>,
    pub supporters: Supporters,
    pub medication: Medication,
    pub treatments: Preferences,
    pub home_and_respite: String,
    pub treatment_facilities: Preferences,
    pub help_from_others: HelpFromOthers,
    pub when_to_stop_using: Vec<String>,
    pub practical_needs: Vec<PracticalNeed>,
    pub advance_statements: String,
}

#[uniffi::remote(Record)]
pub struct Wrap {
    pub wellness_toolbox: Vec<String>,
    pub daily_maintenance: DailyMaintenance,
    pub triggers: SignsAndActions,
    pub early_warning_signs: SignsAndActions,
    pub breaking_down: SignsAndActions,
    pub crisis_plan: CrisisPlan,
    pub post_crisis_plan: String,
}
