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
    /// The Enablement Plan ("plan on a page"), its versions, comments and agreement.
    EnablementPlan,
    /// The whole WRAP.
    Wrap,
    /// The WRAP's crisis plan and its activation state.
    CrisisPlan,
    /// Appointments and workshop bookings.
    Appointments,
    /// The person's conversations: with their peer worker and with their team. Which
    /// conversation a caller takes part in is checked against it on each request
    /// (`http/messages.rs`); this says what a relationship allows at most.
    Messages,
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
            Resource::EnablementPlan => "enablement_plan",
            Resource::Wrap => "wrap",
            Resource::CrisisPlan => "crisis_plan",
            Resource::Appointments => "appointments",
            Resource::Messages => "messages",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Read,
    Write,
    /// Comment on a plan, or record disagreement.
    Comment,
    /// Agree a version of a plan.
    Agree,
    /// Activate or deactivate the crisis plan.
    Activate,
    /// The person's own answers: confirm, ask to cancel or reschedule, book a workshop.
    Respond,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Write => "write",
            Action::Comment => "comment",
            Action::Agree => "agree",
            Action::Activate => "activate",
            Action::Respond => "respond",
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

/// The staff-system scope each resource and action needs; `None` when no scope allows it.
fn staff_scope(resource: Resource, action: Action) -> Option<StaffScope> {
    use Action::*;
    use Resource::*;
    match (resource, action) {
        (AccessLog, Read) => Some(StaffScope::AuditRead),
        (EmergencyAccess | AccessLog | Messages, _) | (Consents | Exclusions, Write) => None,
        (EnablementPlan | Wrap | CrisisPlan, Read) => Some(StaffScope::PlansRead),
        (EnablementPlan | Wrap | CrisisPlan, Write | Comment | Activate) => {
            Some(StaffScope::PlansWrite)
        }
        (Appointments, Read) => Some(StaffScope::AppointmentsRead),
        (Appointments, Write | Respond) => Some(StaffScope::AppointmentsWrite),
        // Agreement is the person's; the rest of a plan's or appointment's actions are not a
        // system's to take.
        (EnablementPlan | Wrap | CrisisPlan | Appointments, _) => None,
        (_, Read) => Some(StaffScope::PeopleRead),
        (_, _) => Some(StaffScope::PeopleWrite),
    }
}

/// What a relationship allows, before it becomes an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rule {
    Allow,
    /// The caller knows the person but may not do this: 403.
    Forbid,
    /// The caller may not know this part of the record exists: 404.
    Hide,
}

/// The access matrix (SPEC §2) for an account with a relationship to the person.
fn rule(
    grounds: Grounds,
    resource: Resource,
    action: Action,
    relationship: &Relationship,
    now: DateTime<Utc>,
) -> Rule {
    use Action::*;
    use Resource::*;
    let allow_if = |allowed: bool| if allowed { Rule::Allow } else { Rule::Forbid };
    let shared = |scope: ConsentScope| relationship.carer_shares(scope, now);
    match grounds {
        Grounds::OwnRecord => allow_if(match resource {
            Person => action == Read,
            Carers | Consents | Exclusions | Wrap => matches!(action, Read | Write),
            AccessLog => action == Read,
            EnablementPlan => matches!(action, Read | Comment | Agree),
            CrisisPlan => matches!(action, Read | Write | Activate),
            Appointments => matches!(action, Read | Respond),
            Messages => matches!(action, Read | Write),
            PeerAllocation | TeamPlacement | EmergencyAccess => false,
        }),
        Grounds::Team => allow_if(match resource {
            EnablementPlan => matches!(action, Read | Write | Comment),
            // The WRAP is the person's own: the team reads it, and writes only as a co-author
            // the person has allowed.
            Wrap => {
                action == Read || (action == Write && relationship.facts.team_may_coauthor_wrap)
            }
            CrisisPlan => {
                matches!(action, Read | Activate)
                    || (action == Write && relationship.facts.team_may_coauthor_wrap)
            }
            Appointments => matches!(action, Read | Write),
            // Oversight reads every conversation of the person (audited, shown to them); the
            // team writes only in its own inbox conversation, which the conversation checks.
            Messages => matches!(action, Read | Write),
            EmergencyAccess => false,
            _ => matches!(action, Read | Write),
        }),
        Grounds::EmergencyAccess => allow_if(
            action == Read
                && matches!(
                    resource,
                    Person | Carers | Consents | EnablementPlan | CrisisPlan | Appointments
                ),
        ),
        Grounds::AllocatedPeer => match (resource, action) {
            // Appointments: only the sessions the peer worker is part of (the handler filters).
            (Person | Appointments, Read) => Rule::Allow,
            // Their conversation with the person (the conversation checks which one).
            (Messages, Read | Write) => Rule::Allow,
            (Wrap | CrisisPlan | EnablementPlan, _) => Rule::Hide,
            _ => Rule::Forbid,
        },
        Grounds::CarerConsent => match (resource, action) {
            (Person, Read) => Rule::Allow,
            (EnablementPlan, Read | Agree) if shared(ConsentScope::EnablementPlan) => Rule::Allow,
            (CrisisPlan, Read) if shared(ConsentScope::CrisisPlan) => Rule::Allow,
            (CrisisPlan, Activate) if shared(ConsentScope::CrisisPlanActivation) => Rule::Allow,
            (CrisisPlan, Activate) if shared(ConsentScope::CrisisPlan) => Rule::Forbid,
            (Appointments, Read) if shared(ConsentScope::Appointments) => Rule::Allow,
            // A carer's own conversation with the team is theirs; the person's are not.
            (EnablementPlan | Wrap | CrisisPlan | Appointments | Messages, _) => Rule::Hide,
            _ => Rule::Forbid,
        },
        Grounds::StaffSystemScope | Grounds::Unplaced => Rule::Forbid,
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
    let is_practitioner = user.role == Role::Practitioner;
    match (grounds, resource, action) {
        // A practitioner may break glass on anyone, and place someone who is on no team yet.
        (_, Resource::EmergencyAccess, Action::Write) if is_practitioner => {
            Ok(grounds.unwrap_or(Grounds::EmergencyAccess))
        }
        (None, Resource::TeamPlacement, Action::Write)
            if is_practitioner && !facts.person_placed =>
        {
            Ok(Grounds::Unplaced)
        }
        (None, _, _) => Err(Denial::NotFound),
        (Some(grounds), resource, action) => {
            match rule(grounds, resource, action, relationship, now) {
                Rule::Allow => Ok(grounds),
                Rule::Forbid => Err(Denial::Forbidden),
                Rule::Hide => Err(Denial::NotFound),
            }
        }
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
