//! Reads a phone showed offline, uploaded later (`POST /v1/audit/offline-reads`): the write.
//!
//! Guarantees:
//! - **Decided as of the moment shown.** Each read comes here already decided by the policy at
//!   its `read_at` (the handler asks [`crate::policy::decide_offline_read`] over
//!   [`crate::policy::relationship_at`]): an accepted read is recorded as a read, `via`
//!   offline, with both the upload time (`at`) and `read_at`; a refused one is recorded as a
//!   denied attempt (SPEC §4), never as a read.
//! - **Once per event id.** The reads are stored in one transaction that skips event ids the
//!   uploader sent before ([`crate::store::offline_reads`]), so the same upload sent again,
//!   even after a crash, records nothing twice; its answer says `already_recorded`.

use std::sync::Arc;

use livingwell_core::api::audit::{OfflineRead, OfflineReadOutcome, OfflineReadResult};
use livingwell_core::api::people::ReadVia;
use livingwell_core::domain::UserId;

use super::ServiceResult;
use crate::auth::Caller;
use crate::clock::Clock;
use crate::policy::{Action, Decision, Resource};
use crate::store::offline_reads::{NewOfflineRead, OfflineReadStored};
use crate::store::{NewAuditEntry, Store};

/// One uploaded read with the policy's decision on it.
#[derive(Clone, Debug)]
pub struct DecidedRead {
    pub read: OfflineRead,
    pub resource: Resource,
    pub decision: Decision,
}

/// The offline-reads service. Cheap to clone.
#[derive(Clone, Debug)]
pub struct OfflineReads {
    store: Arc<dyn Store>,
    clock: Clock,
}

impl OfflineReads {
    pub fn new(store: Arc<dyn Store>, clock: Clock) -> Self {
        Self { store, clock }
    }

    /// Records the reads `uploader` (the account `caller` is) uploaded, each decided already;
    /// answers each read's outcome, in order.
    pub async fn record(
        &self,
        caller: &Caller,
        uploader: UserId,
        reads: Vec<DecidedRead>,
        request_id: &str,
    ) -> ServiceResult<Vec<OfflineReadResult>> {
        let uploaded_at = self.clock.now();
        let new: Vec<NewOfflineRead> = reads
            .into_iter()
            .map(|decided| {
                let DecidedRead {
                    read,
                    resource,
                    decision,
                } = decided;
                NewOfflineRead {
                    uploader,
                    event_id: read.event_id.as_uuid(),
                    person_id: read.person_id,
                    record: resource.as_str(),
                    sections: read.sections.unwrap_or_default(),
                    read_at: read.read_at,
                    accepted: decision.is_ok(),
                    entry: NewAuditEntry {
                        at: uploaded_at,
                        actor_id: Some(caller.audit_id()),
                        actor_role: caller.audit_role().to_owned(),
                        on_behalf_of: caller.on_behalf_of(),
                        subject_id: Some(read.person_id),
                        resource: resource.as_str().to_owned(),
                        action: Action::Read.as_str().to_owned(),
                        outcome: if decision.is_ok() {
                            "allowed"
                        } else {
                            "denied"
                        }
                        .to_owned(),
                        relationship: decision.ok().map(|grounds| grounds.as_str().to_owned()),
                        request_id: Some(request_id.to_owned()),
                        via: Some(ReadVia::Offline.to_string()),
                        read_at: Some(read.read_at),
                    },
                }
            })
            .collect();
        let stored = self.store.record_offline_reads(&new).await?;
        Ok(new
            .iter()
            .zip(stored)
            .map(|(read, stored)| OfflineReadResult {
                event_id: read.event_id.into(),
                outcome: match stored {
                    OfflineReadStored::AlreadyRecorded => OfflineReadOutcome::AlreadyRecorded,
                    OfflineReadStored::Recorded { .. } if read.accepted => {
                        OfflineReadOutcome::Recorded
                    }
                    OfflineReadStored::Recorded { .. } => OfflineReadOutcome::Refused,
                },
            })
            .collect())
    }
}
