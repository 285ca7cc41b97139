//! Reads the phone shows from its store of someone else's record, told to the server later.
//!
//! Policy (SPEC §4, §5): the person sees who read their record, also when it was read on a
//! phone with no signal. Showing a record the reader does not own (a carer opening alex's
//! crisis plan, a peer worker a person's summary) queues a read event in the outbox: at a lower
//! priority than anything the reader wrote, in a queue of its own, with the id it is recorded
//! under (so sending it twice records it once), the moment it was shown and, for the crisis
//! plan, the sections shown. The server decides whether the reader could see it then.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use livingwell_core::api::audit::{OfflineRead, OfflineReadId, OfflineReadsRequest, OfflineRecord};
use livingwell_core::api::routes;
use livingwell_core::api::sync::{SyncKind, SyncRecord};
use livingwell_core::domain::{CrisisPlanSection, PersonId};

use crate::store::{NewWrite, WriteRequest};

/// The queue read events wait in: after every write of the reader's own.
pub const READS_QUEUE: &str = "offline-reads";
/// Below anything the person wrote.
pub const READS_PRIORITY: i32 = -10;

/// The part of a record an offline read names, for the kinds that are someone's record.
fn offline_record(kind: SyncKind) -> Option<OfflineRecord> {
    Some(match kind {
        SyncKind::Person => OfflineRecord::Person,
        SyncKind::EnablementPlan => OfflineRecord::EnablementPlan,
        SyncKind::EnablementPlanSummary => OfflineRecord::EnablementPlanSummary,
        SyncKind::Wrap => OfflineRecord::Wrap,
        SyncKind::CrisisPlan => OfflineRecord::CrisisPlan,
        SyncKind::Appointment | SyncKind::Booking => OfflineRecord::Appointments,
        SyncKind::Conversation | SyncKind::Message => OfflineRecord::Messages,
        SyncKind::Consent => OfflineRecord::Consents,
        SyncKind::AccessLogEntry => OfflineRecord::AccessLog,
        // The reader's own account and notifications are nobody else's record.
        SyncKind::Account | SyncKind::Notification => return None,
    })
}

/// The read event for showing `record` to a reader whose own record is `own` (none for staff
/// and carers), or `None` when it is the reader's own.
pub fn read_event(
    record: &SyncRecord,
    own: Option<PersonId>,
    shown_at: DateTime<Utc>,
) -> Option<NewWrite> {
    let person = record.person_id?;
    if Some(person) == own {
        return None;
    }
    let kind = offline_record(record.kind)?;
    // For the crisis plan: exactly the sections the phone holds, which are those it shows.
    let sections = (kind == OfflineRecord::CrisisPlan).then(|| {
        record.data["sections"]
            .as_object()
            .map(|shown| {
                shown
                    .keys()
                    .filter_map(|name| {
                        serde_json::from_value::<CrisisPlanSection>(serde_json::json!(name)).ok()
                    })
                    .collect::<BTreeSet<_>>()
            })
            .unwrap_or_default()
    });
    // A crisis plan with nothing shared shows nothing: not a read.
    if sections.as_ref().is_some_and(BTreeSet::is_empty) {
        return None;
    }
    let event_id = OfflineReadId::new();
    let request = OfflineReadsRequest {
        reads: vec![OfflineRead {
            event_id,
            person_id: person,
            record: kind,
            sections,
            read_at: shown_at,
        }],
    };
    Some(NewWrite {
        queue: READS_QUEUE.to_owned(),
        person: Some(person),
        idempotency_key: event_id.to_string(),
        request: WriteRequest {
            method: routes::UPLOAD_OFFLINE_READS.method.as_str().to_owned(),
            path: routes::UPLOAD_OFFLINE_READS.template.to_owned(),
            body: serde_json::to_value(&request).ok(),
        },
        priority: READS_PRIORITY,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn record(kind: SyncKind, person: PersonId, data: serde_json::Value) -> SyncRecord {
        SyncRecord {
            kind,
            id: person.to_string(),
            person_id: Some(person),
            version: "v".into(),
            data,
        }
    }

    #[test]
    fn someone_elses_record_makes_a_read_event_naming_the_sections_shown() {
        let alex = PersonId::new();
        let now = Utc::now();
        let plan = record(
            SyncKind::CrisisPlan,
            alex,
            json!({"sections": {"when_well": "…", "supporters": {}}}),
        );
        let write = read_event(&plan, None, now).unwrap();
        assert_eq!(write.priority, READS_PRIORITY);
        assert_eq!(write.request.path, "/v1/audit/offline-reads");
        let body: OfflineReadsRequest =
            serde_json::from_value(write.request.body.unwrap()).unwrap();
        let read = &body.reads[0];
        assert_eq!(read.person_id, alex);
        assert_eq!(read.record, OfflineRecord::CrisisPlan);
        assert_eq!(read.read_at, now);
        assert_eq!(
            read.sections,
            Some(BTreeSet::from([
                CrisisPlanSection::WhenWell,
                CrisisPlanSection::Supporters
            ]))
        );
        assert_eq!(write.idempotency_key, read.event_id.to_string());
    }

    #[test]
    fn the_readers_own_record_and_an_empty_share_are_not_reads() {
        let alex = PersonId::new();
        let now = Utc::now();
        let plan = record(
            SyncKind::CrisisPlan,
            alex,
            json!({"sections": {"when_well": "…"}}),
        );
        assert!(read_event(&plan, Some(alex), now).is_none());
        let nothing = record(SyncKind::CrisisPlan, alex, json!({"sections": {}}));
        assert!(read_event(&nothing, None, now).is_none());
        let appointment = record(SyncKind::Appointment, alex, json!({}));
        let write = read_event(&appointment, None, now).unwrap();
        assert!(write.request.body.unwrap()["reads"][0]["sections"].is_null());
    }
}
