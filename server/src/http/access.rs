//! Glue between a handler, the policy and the audit log.
//!
//! A handler of a person's record takes [`Authorized`]`<R, A>`: before its body runs, the
//! extractor reads the person in the path, the caller's relationship to them, asks
//! [`crate::policy::decide`] about resource `R` and action `A`, and records the outcome in the
//! audit log. So what a handler may touch is in its signature, and no handler of a person's
//! record can run without the policy. Records reached by their own id (an appointment, a
//! booking) are loaded first to learn whose they are, then go through [`authorize`], the same
//! decision. If the audit entry cannot be stored the request ends with 503.

use std::marker::PhantomData;

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use livingwell_core::api::people::ReadVia;
use livingwell_core::domain::{PersonId, TeamId};

use super::AppState;
use super::error::ApiError;
use super::extract::{RequestId, caller_about};
use crate::auth::Caller;
use crate::policy::{self, Action, ActionKind, Grounds, Relationship, Resource, ResourceKind};
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

/// Permission for action `A` on resource `R` of the person named `{id}` in the path, decided
/// and audited before the handler runs (see the module notes).
#[derive(Debug)]
pub struct Authorized<R, A> {
    pub caller: Caller,
    pub access: Access,
    kind: PhantomData<fn() -> (R, A)>,
}

impl<R: ResourceKind, A: ActionKind> FromRequestParts<AppState> for Authorized<R, A> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let RequestId(request_id) = RequestId::from_request_parts(parts, state).await?;
        let person = match person_in_path(parts, state).await {
            Ok(person) => person,
            Err(error) => {
                // No such person; but a request without valid credentials is told that first.
                Caller::from_request_parts(parts, state).await?;
                return Err(error);
            }
        };
        let now = state.clock.now();
        // Authenticated already (by the idempotency layer, for a write): only the relationship
        // is left to read. Otherwise the session and the relationship are read together.
        let (caller, facts) = match parts.extensions.get::<Caller>() {
            Some(caller) => (caller.clone(), None),
            None => caller_about(parts, state, person, now).await?,
        };
        let relationship = match (&caller, facts) {
            (Caller::User(user), Some(facts)) => {
                policy::relationship_from_facts(state.store.as_ref(), user, person, facts).await?
            }
            _ => policy::relationship(state.store.as_ref(), &caller, person, now).await?,
        };
        let decided = Decided {
            person,
            resource: R::RESOURCE,
            action: A::ACTION,
            now,
            via: None,
        };
        let access = decide(state, &caller, decided, relationship, &request_id).await?;
        Ok(Self {
            caller,
            access,
            kind: PhantomData,
        })
    }
}

/// The person a route is about: its `{id}`. A malformed id is 404, since no person has it.
async fn person_in_path(parts: &mut Parts, state: &AppState) -> Result<PersonId, ApiError> {
    let params = RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|_| ApiError::Internal("path parameters"))?;
    let (_, id) = params
        .iter()
        .find(|(name, _)| *name == "id")
        .ok_or(ApiError::Internal("a person's route without {id}"))?;
    id.parse().map_err(|_| ApiError::NotFound)
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
    let decided = Decided {
        person,
        resource,
        action,
        now,
        via: None,
    };
    decide(state, caller, decided, relationship, request_id).await
}

/// Decides an action on a person's record ([`policy::decide`]) and records the decision.
async fn decide(
    state: &AppState,
    caller: &Caller,
    decided: Decided,
    relationship: Relationship,
    request_id: &str,
) -> Result<Access, ApiError> {
    let decision = policy::decide(
        caller,
        &relationship,
        decided.resource,
        decided.action,
        decided.now,
    );
    record(state, caller, decided, decision, relationship, request_id).await
}

/// [`authorize`] for a read exported through the FHIR facade ([`policy::decide_export`]),
/// recorded `via: fhir` so the person can tell an export from a read through the API.
pub async fn authorize_export(
    state: &AppState,
    caller: &Caller,
    person: PersonId,
    resource: Resource,
    request_id: &str,
) -> Result<Access, ApiError> {
    let now = state.clock.now();
    let relationship = policy::relationship(state.store.as_ref(), caller, person, now).await?;
    let decision = policy::decide_export(caller, &relationship, resource, now);
    let decided = Decided {
        person,
        resource,
        action: Action::Read,
        now,
        via: Some(ReadVia::Fhir),
    };
    record(state, caller, decided, decision, relationship, request_id).await
}

/// What a decision was about, for its audit entry.
struct Decided {
    person: PersonId,
    resource: Resource,
    action: Action,
    now: DateTime<Utc>,
    via: Option<ReadVia>,
}

/// Stores the audit entry of a decision, allowed or denied, and only then answers it.
async fn record(
    state: &AppState,
    caller: &Caller,
    decided: Decided,
    decision: policy::Decision,
    relationship: Relationship,
    request_id: &str,
) -> Result<Access, ApiError> {
    let entry = NewAuditEntry {
        at: decided.now,
        actor_id: Some(caller.audit_id()),
        actor_role: caller.audit_role().to_owned(),
        on_behalf_of: caller.on_behalf_of(),
        subject_id: Some(decided.person),
        resource: decided.resource.as_str().to_owned(),
        action: decided.action.as_str().to_owned(),
        outcome: if decision.is_ok() {
            "allowed"
        } else {
            "denied"
        }
        .to_owned(),
        relationship: decision.ok().map(|g| g.as_str().to_owned()),
        request_id: Some(request_id.to_owned()),
        via: decided.via.map(|via| via.to_string()),
        read_at: None,
    };
    state.audit.record(entry).await?;
    match decision {
        Ok(grounds) => Ok(Access {
            person: decided.person,
            grounds,
            relationship,
            at: decided.now,
        }),
        Err(denial) => Err(denial.into()),
    }
}

/// Whether the caller is on `team` (a staff system never is), for [`policy::Work`] decisions.
pub async fn on_team(state: &AppState, caller: &Caller, team: TeamId) -> Result<bool, ApiError> {
    Ok(match caller {
        Caller::User(user) => state.store.is_team_member(team, user.id).await?,
        Caller::StaffSystem(_) => false,
    })
}

/// Records that a facilitator of a workshop (not otherwise able to read the person) was shown
/// the person on its roster, which [`policy::Work::ReadRoster`] allowed: the person sees it in
/// their access log, `via: roster`.
pub async fn record_roster_read(
    state: &AppState,
    caller: &Caller,
    person: PersonId,
    request_id: &str,
) -> Result<(), ApiError> {
    state
        .audit
        .record(NewAuditEntry {
            at: state.clock.now(),
            actor_id: Some(caller.audit_id()),
            actor_role: caller.audit_role().to_owned(),
            on_behalf_of: caller.on_behalf_of(),
            subject_id: Some(person),
            resource: Resource::Appointments.as_str().to_owned(),
            action: Action::Read.as_str().to_owned(),
            outcome: "allowed".to_owned(),
            relationship: Some("facilitator".to_owned()),
            request_id: Some(request_id.to_owned()),
            via: Some(ReadVia::Roster.to_string()),
            read_at: None,
        })
        .await?;
    Ok(())
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
            via: None,
            read_at: None,
        })
        .await?;
    Ok(())
}
