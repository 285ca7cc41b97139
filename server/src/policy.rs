//! The one place access to a person's record is decided.
//!
//! Every decision is made from relationships read from the database on this request (team
//! membership and caseload, peer allocation, carer link and consents, emergency grants), never
//! from token claims, so a change — a revoked consent, a practitioner leaving a team — takes
//! effect on the very next request. The token says only who is calling.
//!
//! Answers follow SPEC §2: a caller with no relationship to the person gets **404** (the record
//! is not revealed to exist); a caller who may see the person but not do this gets **403**.
//! Every decision, allowed or denied, is written to the audit log before anything is served.

use chrono::{DateTime, Utc};
use livingwell_core::domain::consent::Consent;
use livingwell_core::domain::{ConsentScope, PersonId, Role, StaffScope};

use crate::auth::Caller;
use crate::store::{RelationshipFacts, StoreResult};

/// The parts of a person's record that the foundation knows about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    /// Name, team and peer worker.
    Person,
    Carers,
    Consents,
    /// The "people I do not want involved" list.
    Exclusions,
    PeerAllocation,
    TeamPlacement,
    AccessLog,
    EmergencyAccess,
}

impl Resource {
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Person => "person",
            Resource::Carers => "carers",
            Resource::Consents => "consents",
            Resource::Exclusions => "exclusions",
            Resource::PeerAllocation => "peer_allocation",
            Resource::TeamPlacement => "team_placement",
            Resource::AccessLog => "access_log",
            Resource::EmergencyAccess => "emergency_access",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Read,
    Write,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Write => "write",
        }
    }
}

/// Why access was allowed; recorded in the audit log and shown to the person.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grounds {
    OwnRecord,
    Team,
    AllocatedPeer,
    CarerConsent,
    EmergencyAccess,
    StaffSystemScope,
    /// A practitioner placing a person who is on no team's caseload yet.
    Unplaced,
}

impl Grounds {
    pub fn as_str(self) -> &'static str {
        match self {
            Grounds::OwnRecord => "self",
            Grounds::Team => "team",
            Grounds::AllocatedPeer => "allocated_peer",
            Grounds::CarerConsent => "carer_consent",
            Grounds::EmergencyAccess => "emergency_access",
            Grounds::StaffSystemScope => "staff_system_scope",
            Grounds::Unplaced => "unplaced",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denial {
    /// The caller may not know the record exists.
    NotFound,
    /// The caller may see the person but may not do this.
    Forbidden,
}

pub type Decision = Result<Grounds, Denial>;

/// Everything the policy needs to know about the caller and the person, read on this request.
#[derive(Clone, Debug, Default)]
pub struct Relationship {
    pub facts: RelationshipFacts,
    /// Consents from the person to the caller (only loaded for carers).
    pub consents: Vec<Consent>,
}

impl Relationship {
    fn carer_consent_in_force(&self, now: DateTime<Utc>) -> bool {
        self.facts.linked_carer && self.consents.iter().any(|c| c.in_force_at(now))
    }

    /// Whether the caller's consent covers `scope` at `now`.
    pub fn carer_shares(&self, scope: ConsentScope, now: DateTime<Utc>) -> bool {
        self.facts.linked_carer && self.consents.iter().any(|c| c.allows(scope, now))
    }
}

/// The staff-system scope each resource and action needs.
fn staff_scope(resource: Resource, action: Action) -> Option<StaffScope> {
    match (resource, action) {
        (Resource::AccessLog, Action::Read) => Some(StaffScope::AuditRead),
        (Resource::EmergencyAccess, _) => None,
        (_, Action::Read) => Some(StaffScope::PeopleRead),
        (Resource::Consents | Resource::Exclusions, Action::Write) => None,
        (_, Action::Write) => Some(StaffScope::PeopleWrite),
    }
}

/// Decides whether `caller` may do `action` on `resource` of a person, given what the database
/// says now.
pub fn decide(
    caller: &Caller,
    relationship: &Relationship,
    resource: Resource,
    action: Action,
    now: DateTime<Utc>,
) -> Decision {
    let user = match caller {
        Caller::StaffSystem(client) => {
            return match staff_scope(resource, action) {
                Some(needed) if client.scopes.contains(&needed) => Ok(Grounds::StaffSystemScope),
                _ => Err(Denial::Forbidden),
            };
        }
        Caller::User(user) => user,
    };
    let facts = &relationship.facts;
    let grounds = match user.role {
        Role::ServiceUser if facts.is_self => Some(Grounds::OwnRecord),
        Role::Practitioner if facts.on_persons_team => Some(Grounds::Team),
        Role::Practitioner
            if facts
                .emergency_access_until
                .is_some_and(|until| now < until) =>
        {
            Some(Grounds::EmergencyAccess)
        }
        Role::PeerWorker if facts.allocated_peer => Some(Grounds::AllocatedPeer),
        Role::Carer if relationship.carer_consent_in_force(now) => Some(Grounds::CarerConsent),
        _ => None,
    };
    let allowed = match (grounds, resource, action) {
        // A practitioner may break glass on anyone, and place someone who is on no team yet.
        (_, Resource::EmergencyAccess, Action::Write) if user.role == Role::Practitioner => {
            return Ok(grounds.unwrap_or(Grounds::EmergencyAccess));
        }
        (None, Resource::TeamPlacement, Action::Write)
            if user.role == Role::Practitioner && !relationship.facts.person_placed =>
        {
            return Ok(Grounds::Unplaced);
        }
        (None, _, _) => return Err(Denial::NotFound),
        (Some(Grounds::OwnRecord), resource, _) => !matches!(
            resource,
            Resource::PeerAllocation | Resource::TeamPlacement | Resource::EmergencyAccess
        ),
        (Some(Grounds::Team), resource, _) => resource != Resource::EmergencyAccess,
        (Some(Grounds::EmergencyAccess), resource, Action::Read) => resource != Resource::AccessLog,
        (Some(Grounds::AllocatedPeer | Grounds::CarerConsent), Resource::Person, Action::Read) => {
            true
        }
        _ => false,
    };
    match (allowed, grounds) {
        (true, Some(grounds)) => Ok(grounds),
        _ => Err(Denial::Forbidden),
    }
}

/// Reads the relationship between the caller and the person: one query for the facts, and the
/// caller's consents when the caller is a carer.
pub async fn relationship(
    store: &dyn crate::store::Store,
    caller: &Caller,
    person: PersonId,
    now: DateTime<Utc>,
) -> StoreResult<Relationship> {
    let Caller::User(user) = caller else {
        return Ok(Relationship::default());
    };
    let facts = store.relationship_facts(user.id, person, now).await?;
    let consents = if user.role == Role::Carer && facts.linked_carer {
        store.consents_to(person, user.id).await?
    } else {
        Vec::new()
    };
    Ok(Relationship { facts, consents })
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use livingwell_core::domain::UserId;

    use super::*;
    use crate::auth::{CallerUser, StaffSystemCaller};

    fn user(role: Role) -> Caller {
        Caller::User(CallerUser {
            id: UserId::new(),
            role,
            person_id: None,
            session_id: uuid::Uuid::now_v7(),
        })
    }

    fn rel(facts: RelationshipFacts) -> Relationship {
        Relationship {
            facts: RelationshipFacts {
                person_placed: true,
                ..facts
            },
            consents: Vec::new(),
        }
    }

    #[test]
    fn admin_is_not_a_reader_of_records() {
        let decision = decide(
            &user(Role::Admin),
            &rel(RelationshipFacts::default()),
            Resource::Person,
            Action::Read,
            Utc::now(),
        );
        assert_eq!(decision, Err(Denial::NotFound));
    }

    #[test]
    fn peer_worker_on_the_team_but_not_allocated_sees_nothing() {
        let facts = RelationshipFacts {
            on_persons_team: true,
            ..Default::default()
        };
        let decision = decide(
            &user(Role::PeerWorker),
            &rel(facts),
            Resource::Person,
            Action::Read,
            Utc::now(),
        );
        assert_eq!(decision, Err(Denial::NotFound));
    }

    #[test]
    fn expired_emergency_access_is_no_access() {
        let now = Utc::now();
        let facts = RelationshipFacts {
            emergency_access_until: Some(now - Duration::seconds(1)),
            ..Default::default()
        };
        let practitioner = user(Role::Practitioner);
        assert_eq!(
            decide(
                &practitioner,
                &rel(facts.clone()),
                Resource::Person,
                Action::Read,
                now
            ),
            Err(Denial::NotFound)
        );
        let live = RelationshipFacts {
            emergency_access_until: Some(now + Duration::minutes(5)),
            ..facts
        };
        assert_eq!(
            decide(
                &practitioner,
                &rel(live.clone()),
                Resource::Person,
                Action::Read,
                now
            ),
            Ok(Grounds::EmergencyAccess)
        );
        assert_eq!(
            decide(
                &practitioner,
                &rel(live),
                Resource::PeerAllocation,
                Action::Write,
                now
            ),
            Err(Denial::Forbidden)
        );
    }

    #[test]
    fn staff_system_needs_the_scope() {
        let client = Caller::StaffSystem(StaffSystemCaller {
            client_id: "case-system".into(),
            scopes: [StaffScope::PeopleRead].into(),
            on_behalf_of: None,
        });
        let none = Relationship::default();
        let now = Utc::now();
        assert_eq!(
            decide(&client, &none, Resource::Person, Action::Read, now),
            Ok(Grounds::StaffSystemScope)
        );
        assert_eq!(
            decide(&client, &none, Resource::AccessLog, Action::Read, now),
            Err(Denial::Forbidden)
        );
    }
}
