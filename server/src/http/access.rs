//! Glue between a handler, the policy and the audit log.
//!
//! [`authorize`] is the first thing every handler of a person's record does: it reads the
//! relationship, asks [`crate::policy::decide`], and records the outcome in the audit log
//! *before* anything is served. If the audit entry cannot be stored the request ends with 503.

use chrono::{DateTime, Utc};
use livingwell_core::domain::PersonId;

use super::AppState;
use super::error::ApiError;
use crate::auth::Caller;
use crate::policy::{self, Action, Denial, Grounds, Relationship, Resource};
use crate::store::NewAuditEntry;

/// Permission to act on one person's record, for this request only.
#[derive(Debug)]
pub struct Access {
    pub person: PersonId,
    pub grounds: Grounds,
    pub relationship: Relationship,
    /// When access was decided: the instant time-limited grounds (a consent, emergency access)
    /// were judged at, and so the one that judges what they show.
    pub at: DateTime<Utc>,
}

pub async fn authorize(
    state: &AppState,
    caller: &Caller,
    person: PersonId,
    resource: Resource,
    action: Action,
    request_id: &str,
) -> Result<Access, ApiError> {
    let now = state.clock.now();
    let relationship = policy::relationship(state.store.as_ref(), caller, person, now).await?;
    let decision = policy::decide(caller, &relationship, resource, action, now);
    let entry = NewAuditEntry {
        at: now,
        actor_id: Some(caller.audit_id()),
        actor_role: caller.audit_role().to_owned(),
        on_behalf_of: caller.on_behalf_of(),
        subject_id: Some(person),
        resource: resource.as_str().to_owned(),
        action: action.as_str().to_owned(),
        outcome: if decision.is_ok() {
            "allowed"
        } else {
            "denied"
        }
        .to_owned(),
        relationship: decision.ok().map(|g| g.as_str().to_owned()),
        request_id: Some(request_id.to_owned()),
    };
    state.audit.record(entry).await?;
    match decision {
        Ok(grounds) => Ok(Access {
            person,
            grounds,
            relationship,
            at: now,
        }),
        Err(Denial::NotFound) => Err(ApiError::NotFound),
        Err(Denial::Forbidden) => Err(ApiError::Forbidden),
    }
}

/// Records an access that is not about one person (a caseload, the caller's own overview).
pub async fn record_unscoped(
    state: &AppState,
    caller: &Caller,
    resource: &str,
    action: Action,
    request_id: &str,
) -> Result<(), ApiError> {
    state
        .audit
        .record(NewAuditEntry {
            at: state.clock.now(),
            actor_id: Some(caller.audit_id()),
            actor_role: caller.audit_role().to_owned(),
            on_behalf_of: caller.on_behalf_of(),
            subject_id: None,
            resource: resource.to_owned(),
            action: action.as_str().to_owned(),
            outcome: "allowed".to_owned(),
            relationship: None,
            request_id: Some(request_id.to_owned()),
        })
        .await?;
    Ok(())
}
