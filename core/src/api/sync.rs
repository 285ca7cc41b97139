//! Sync: what a phone's copy needs to catch up — everything its user may see that changed since
//! it last asked, and tombstones for what it may no longer see.
//!
//! The cursor is opaque: the server keeps what it last told the phone, and a cursor names that.
//! A cursor the server does not know, or one unused for longer than [`CURSOR_KEPT_DAYS`],
//! answers `410` with code `resync`: the phone drops its copy (keeping its unsent writes) and
//! syncs from the start.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::appointments::{AppointmentView, BookingView};
use super::events::EventView;
use super::messages::{ConversationView, MessageView};
use super::people::{AccessLogEntry, ConsentView, MeView, PersonView};
use super::plans::{CrisisPlanView, EnablementPlanSummaryView, EnablementPlanView, WrapView};
use crate::domain::PersonId;

/// How long the server keeps what a cursor names after its last use; an older cursor answers
/// `410 resync`. Tombstones are kept as long, since they are worked out from it.
pub const CURSOR_KEPT_DAYS: i64 = 90;

/// The query of `GET /v1/sync`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct SyncQuery {
    /// The `cursor` of the previous sync; absent for the first, which is a full snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// At most this many records (default 200); tombstones are not counted.
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 1000))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

/// The kinds of record a sync carries.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Deserialize,
    Serialize,
    strum::Display,
    strum::EnumString,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum SyncKind {
    /// The caller's own account and connections ([`MeView`]); its id is the account's.
    Account,
    /// A person the caller is, or supports ([`PersonView`]).
    Person,
    /// The current Enablement Plan ([`EnablementPlanView`]); its id is the person's.
    EnablementPlan,
    /// The Enablement Plan's summary, for a peer worker the person shares it with
    /// ([`EnablementPlanSummaryView`]); its id is the person's.
    EnablementPlanSummary,
    /// The whole WRAP, for its owner ([`WrapView`]); its id is the person's.
    Wrap,
    /// The crisis plan, cut to the sections shared with the caller, with its activation state
    /// ([`CrisisPlanView`]); its id is the person's.
    CrisisPlan,
    /// An appointment from 30 days ago on ([`AppointmentView`]).
    Appointment,
    /// A workshop place, offer or waitlist place ([`BookingView`]).
    Booking,
    /// One of the person's consents ([`ConsentView`]), for the person.
    Consent,
    /// A conversation the caller takes part in ([`ConversationView`]). Its tombstone takes its
    /// messages with it.
    Conversation,
    /// A message, in order within its conversation ([`MessageView`]); its state is as at
    /// delivery (receipts come as notifications).
    Message,
    /// One of the caller's notifications ([`EventView`]).
    Notification,
    /// A line of the caller's own access log ([`AccessLogEntry`]): who else read or changed
    /// their record; the caller's own reads are left out.
    AccessLogEntry,
}

/// One record, whole, as it is now.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SyncRecord {
    pub kind: SyncKind,
    pub id: String,
    /// The person the record is about, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_id: Option<PersonId>,
    /// Changes whenever the record's data does; opaque.
    pub version: String,
    /// The record, shaped as its kind says ([`SyncRecord::decode`]).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub data: serde_json::Value,
}

/// A record, read as its kind.
#[derive(Clone, Debug, PartialEq)]
pub enum SyncData {
    Account(Box<MeView>),
    Person(Box<PersonView>),
    EnablementPlan(Box<EnablementPlanView>),
    EnablementPlanSummary(Box<EnablementPlanSummaryView>),
    Wrap(Box<WrapView>),
    CrisisPlan(Box<CrisisPlanView>),
    Appointment(Box<AppointmentView>),
    Booking(Box<BookingView>),
    Consent(Box<ConsentView>),
    Conversation(Box<ConversationView>),
    Message(Box<MessageView>),
    Notification(Box<EventView>),
    AccessLogEntry(Box<AccessLogEntry>),
}

impl SyncRecord {
    /// The record's data, read as its kind says.
    pub fn decode(&self) -> Result<SyncData, serde_json::Error> {
        fn read<T: DeserializeOwned>(value: &serde_json::Value) -> serde_json::Result<Box<T>> {
            T::deserialize(value).map(Box::new)
        }
        let data = &self.data;
        Ok(match self.kind {
            SyncKind::Account => SyncData::Account(read(data)?),
            SyncKind::Person => SyncData::Person(read(data)?),
            SyncKind::EnablementPlan => SyncData::EnablementPlan(read(data)?),
            SyncKind::EnablementPlanSummary => SyncData::EnablementPlanSummary(read(data)?),
            SyncKind::Wrap => SyncData::Wrap(read(data)?),
            SyncKind::CrisisPlan => SyncData::CrisisPlan(read(data)?),
            SyncKind::Appointment => SyncData::Appointment(read(data)?),
            SyncKind::Booking => SyncData::Booking(read(data)?),
            SyncKind::Consent => SyncData::Consent(read(data)?),
            SyncKind::Conversation => SyncData::Conversation(read(data)?),
            SyncKind::Message => SyncData::Message(read(data)?),
            SyncKind::Notification => SyncData::Notification(read(data)?),
            SyncKind::AccessLogEntry => SyncData::AccessLogEntry(read(data)?),
        })
    }
}

/// Why a record left the caller's copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, strum::Display)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum TombstoneReason {
    /// The record is gone.
    Deleted,
    /// The caller may no longer see it: a consent revoked, a reallocation, a move off a team.
    AccessRevoked,
    /// The consent that let the caller see it ran out.
    Expired,
}

/// A record the phone must drop.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Tombstone {
    pub kind: SyncKind,
    pub id: String,
    pub reason: TombstoneReason,
}

/// One page of changes.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SyncResponse {
    /// Records new or changed since the cursor: whole records first, then messages in
    /// conversation order, notifications and access-log lines. Absent when none, so a sync
    /// with nothing new stays small.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<SyncRecord>,
    /// Absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tombstones: Vec<Tombstone>,
    /// Pass as `since` next time. The same cursor when nothing changed.
    pub cursor: String,
    /// More changes are waiting: sync again with `cursor` now.
    pub has_more: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_as_its_kind() {
        let record = SyncRecord {
            kind: SyncKind::Notification,
            id: "7".into(),
            person_id: None,
            version: "v".into(),
            data: serde_json::json!({
                "id": 7,
                "kind": "crisis_plan_deactivated",
                "data": {"activation_id": "0192f6a4-7c1e-7b3a-9c1d-2f3e4a5b6c7d"},
                "at": "2026-11-02T09:30:00Z"
            }),
        };
        let decoded = record.decode();
        assert!(
            matches!(decoded, Ok(SyncData::Notification(ref view)) if view.id == 7),
            "{decoded:?}"
        );
        let wrong = SyncRecord {
            kind: SyncKind::Message,
            ..record
        };
        assert!(wrong.decode().is_err());
    }

    #[test]
    fn kinds_read_and_write_as_their_wire_names() {
        for (kind, name) in [
            (SyncKind::AccessLogEntry, "access_log_entry"),
            (SyncKind::EnablementPlanSummary, "enablement_plan_summary"),
            (SyncKind::CrisisPlan, "crisis_plan"),
        ] {
            assert_eq!(kind.to_string(), name);
            assert_eq!(serde_json::to_value(kind).unwrap(), name);
            assert_eq!(name.parse::<SyncKind>().unwrap(), kind);
        }
    }
}
