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
//!
//! A read a phone showed offline and uploaded later is decided by the same matrix, asked about
//! the moment it was shown ([`decide_offline_read`]) with the relationship as it stood then
//! ([`relationship_at`], from the relationship history and the consents' own times): a read
//! made before a reallocation or a revocation is still accepted after it, and one made before a
//! relationship began, or after it ended, is not.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use livingwell_core::api::audit::OfflineRecord;
use livingwell_core::api::messages::ConversationRole;
use livingwell_core::domain::consent::{Consent, Grantee};
use livingwell_core::domain::message::ConversationKind;
use livingwell_core::domain::{ConsentScope, CrisisPlanSection, PersonId, Role, StaffScope};

use crate::auth::{Caller, CallerUser};
use crate::store::messages::ConversationRecord;
use crate::store::{RelationshipFacts, StoreResult};

/// The parts of a person's record that access is decided for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    /// Name, team and peer worker.
    Person,
    Carers,
    /// What the person shares, and with whom: theirs alone to give or end.
    Consents,
    /// The "people I do not want involved" list.
    Exclusions,
    PeerAllocation,
    TeamPlacement,
    /// The practitioner who holds the case.
    KeyWorker,
    AccessLog,
    EmergencyAccess,
    /// The Enablement Plan ("plan on a page"), its versions, comments and agreement.
    EnablementPlan,
    /// The summary of the current Enablement Plan a peer worker may be shown
    /// (`livingwell_core::domain::plan::PlanSummary`).
    EnablementPlanSummary,
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
            Resource::KeyWorker => "key_worker",
            Resource::AccessLog => "access_log",
            Resource::EmergencyAccess => "emergency_access",
            Resource::EnablementPlan => "enablement_plan",
            Resource::EnablementPlanSummary => "enablement_plan_summary",
            Resource::Wrap => "wrap",
            Resource::CrisisPlan => "crisis_plan",
            Resource::Appointments => "appointments",
            Resource::Messages => "messages",
        }
    }
}

/// The part of the record a phone showed offline, as the resource the policy decides.
impl From<OfflineRecord> for Resource {
    fn from(record: OfflineRecord) -> Self {
        match record {
            OfflineRecord::Person => Resource::Person,
            OfflineRecord::EnablementPlan => Resource::EnablementPlan,
            OfflineRecord::EnablementPlanSummary => Resource::EnablementPlanSummary,
            OfflineRecord::Wrap => Resource::Wrap,
            OfflineRecord::CrisisPlan => Resource::CrisisPlan,
            OfflineRecord::Appointments => Resource::Appointments,
            OfflineRecord::Messages => Resource::Messages,
            OfflineRecord::Consents => Resource::Consents,
            OfflineRecord::AccessLog => Resource::AccessLog,
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

/// A [`Resource`] named as a type, so that a handler's signature says what it touches:
/// `Authorized<resource::Wrap, action::Write>` (see [`crate::http::access::Authorized`]).
pub trait ResourceKind: Send + Sync + 'static {
    const RESOURCE: Resource;
}

/// An [`Action`] named as a type (see [`ResourceKind`]).
pub trait ActionKind: Send + Sync + 'static {
    const ACTION: Action;
}

/// One unit type per variant, implementing the kind trait with that variant.
macro_rules! kinds {
    ($kind:ident, $constant:ident, $enumeration:ident: $($variant:ident),* $(,)?) => {
        $(
            #[doc = concat!("[`", stringify!($enumeration), "::", stringify!($variant), "`], as a type.")]
            #[derive(Debug)]
            pub struct $variant;

            impl super::$kind for $variant {
                const $constant: super::$enumeration = super::$enumeration::$variant;
            }
        )*
    };
}

/// The resources, as types.
pub mod resource {
    kinds!(ResourceKind, RESOURCE, Resource:
        Person, Carers, Consents, Exclusions, PeerAllocation, TeamPlacement, KeyWorker, AccessLog,
        EmergencyAccess, EnablementPlan, EnablementPlanSummary, Wrap, CrisisPlan, Appointments,
        Messages,
    );
}

/// The actions, as types.
pub mod action {
    kinds!(ActionKind, ACTION, Action: Read, Write, Comment, Agree, Activate, Respond);
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
    /// A staff system whose token lacks the scope this needs (RFC 6750 `insufficient_scope`).
    MissingScope(StaffScope),
}

pub type Decision = Result<Grounds, Denial>;

/// Everything the policy needs to know about the caller and the person, read on this request.
#[derive(Clone, Debug, Default)]
pub struct Relationship {
    pub facts: RelationshipFacts,
    /// Consents from the person to the caller: loaded for a linked carer and for the allocated
    /// peer worker, empty otherwise.
    pub consents: Vec<Consent>,
}

impl Relationship {
    /// The consents that count for `grounds`: a carer's for a carer, a peer worker's for the
    /// allocated peer worker, none otherwise.
    fn consents_for(&self, grounds: Grounds) -> impl Iterator<Item = &Consent> {
        let related = match grounds {
            Grounds::CarerConsent => self.facts.linked_carer,
            Grounds::AllocatedPeer => self.facts.allocated_peer,
            Grounds::OwnRecord
            | Grounds::Team
            | Grounds::EmergencyAccess
            | Grounds::StaffSystemScope
            | Grounds::Unplaced => false,
        };
        self.consents.iter().filter(move |consent| {
            related
                && match consent.grantee {
                    Grantee::Carer(_) => grounds == Grounds::CarerConsent,
                    Grantee::PeerWorker(_) => grounds == Grounds::AllocatedPeer,
                }
        })
    }

    /// Whether the caller is a linked carer with a consent in force.
    pub fn carer_consent_in_force(&self, now: DateTime<Utc>) -> bool {
        self.consents_for(Grounds::CarerConsent)
            .any(|c| c.in_force_at(now))
    }

    /// Whether the person's consent to the caller, on `grounds`, covers `scope` at `now`.
    pub fn shares(&self, grounds: Grounds, scope: ConsentScope, now: DateTime<Utc>) -> bool {
        self.consents_for(grounds).any(|c| c.allows(scope, now))
    }

    /// The crisis-plan sections the caller may see on `grounds` at `now`: a carer or peer
    /// worker those the person shares with them, anyone else with access every section.
    pub fn visible_crisis_sections(
        &self,
        grounds: Grounds,
        now: DateTime<Utc>,
    ) -> BTreeSet<CrisisPlanSection> {
        match grounds {
            Grounds::CarerConsent | Grounds::AllocatedPeer => {
                self.shared_crisis_sections(grounds, now)
            }
            Grounds::OwnRecord
            | Grounds::Team
            | Grounds::EmergencyAccess
            | Grounds::StaffSystemScope
            | Grounds::Unplaced => CrisisPlanSection::ALL.into_iter().collect(),
        }
    }

    /// The crisis-plan sections the person shares with the caller on `grounds` at `now`.
    pub fn shared_crisis_sections(
        &self,
        grounds: Grounds,
        now: DateTime<Utc>,
    ) -> BTreeSet<CrisisPlanSection> {
        self.consents_for(grounds)
            .flat_map(|consent| consent.shared_crisis_sections(now))
            .collect()
    }
}

/// One cell of the access matrix: what a relationship allows for a resource and action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cell {
    Allow,
    /// The caller knows the person but may not do this: 403.
    Forbid,
    /// The caller may not know this part of the record exists: 404.
    Hide,
    /// Allowed while the person's consent to the caller covers the scope; hidden otherwise.
    Shared(ConsentScope),
    /// Never the caller's to do: 403 when a consent to `scope` lets them see this part of the
    /// record, 404 when it does not.
    SeenThrough(ConsentScope),
    /// Allowed with a consent to `scope`; otherwise as [`Cell::SeenThrough`] `seen`.
    SharedAction {
        scope: ConsentScope,
        seen: ConsentScope,
    },
    /// Allowed while the person lets their team co-author their WRAP; 403 otherwise.
    CoAuthor,
}

/// One row of the access matrix (SPEC §2): a resource and action, for every relationship.
#[derive(Clone, Copy, Debug)]
struct Row {
    own: Cell,
    team: Cell,
    emergency: Cell,
    peer: Cell,
    carer: Cell,
    /// The scope a staff system needs; `None` when no scope allows it.
    staff: Option<StaffScope>,
}

/// The access matrix. Every resource and every action is named: a new one does not compile
/// until its row is written here.
fn matrix(resource: Resource, action: Action) -> Row {
    use Action::{Activate, Agree, Comment, Read, Respond, Write};
    use Cell::{Allow, CoAuthor, Forbid, Hide, SeenThrough, Shared, SharedAction};
    use ConsentScope as Consented;
    use Resource::*;
    use StaffScope as Scope;
    let row = |own, team, emergency, peer, carer, staff| Row {
        own,
        team,
        emergency,
        peer,
        carer,
        staff,
    };
    let plan = Consented::EnablementPlan;
    let crisis = Consented::CrisisPlan;
    let diary = Consented::Appointments;
    #[rustfmt::skip]
    let cells = match (resource, action) {
        //                                    the person  team      emergency peer               carer              staff system
        (Person, Read) =>                 row(Allow,      Allow,    Allow,    Allow,             Allow,             Some(Scope::PeopleRead)),
        (Person, Write) =>                row(Forbid,     Allow,    Forbid,   Forbid,            Forbid,            Some(Scope::PeopleWrite)),
        (Person, Comment | Agree | Activate | Respond) =>
                                          row(Forbid,     Forbid,   Forbid,   Forbid,            Forbid,            None),
        (Carers, Read) =>                 row(Allow,      Allow,    Allow,    Forbid,            Forbid,            Some(Scope::PeopleRead)),
        // Staff link a carer the person has named to them.
        (Carers, Write) =>                row(Allow,      Allow,    Forbid,   Forbid,            Forbid,            Some(Scope::PeopleWrite)),
        (Carers, Comment | Agree | Activate | Respond) =>
                                          row(Forbid,     Forbid,   Forbid,   Forbid,            Forbid,            None),
        (Consents, Read) =>               row(Allow,      Allow,    Allow,    Forbid,            Forbid,            Some(Scope::PeopleRead)),
        // The person chooses what is shared and may revoke (SPEC §2): nobody else can.
        (Consents, Write) =>              row(Allow,      Forbid,   Forbid,   Forbid,            Forbid,            None),
        (Consents, Comment | Agree | Activate | Respond) =>
                                          row(Forbid,     Forbid,   Forbid,   Forbid,            Forbid,            None),
        (Exclusions, Read) =>             row(Allow,      Allow,    Forbid,   Forbid,            Forbid,            Some(Scope::PeopleRead)),
        // Adding someone ends every consent to them: the person's choice too.
        (Exclusions, Write) =>            row(Allow,      Forbid,   Forbid,   Forbid,            Forbid,            None),
        (Exclusions, Comment | Agree | Activate | Respond) =>
                                          row(Forbid,     Forbid,   Forbid,   Forbid,            Forbid,            None),
        (PeerAllocation | TeamPlacement | KeyWorker, Read) =>
                                          row(Forbid,     Allow,    Forbid,   Forbid,            Forbid,            Some(Scope::PeopleRead)),
        (PeerAllocation | TeamPlacement | KeyWorker, Write) =>
                                          row(Forbid,     Allow,    Forbid,   Forbid,            Forbid,            Some(Scope::PeopleWrite)),
        (PeerAllocation | TeamPlacement | KeyWorker, Comment | Agree | Activate | Respond) =>
                                          row(Forbid,     Forbid,   Forbid,   Forbid,            Forbid,            None),
        (AccessLog, Read) =>              row(Allow,      Allow,    Forbid,   Hide,              Hide,              Some(Scope::AuditRead)),
        (AccessLog, Write | Comment | Agree | Activate | Respond) =>
                                          row(Forbid,     Forbid,   Forbid,   Hide,              Hide,              None),
        // Breaking glass is decided before the matrix (any practitioner may, with a reason).
        (EmergencyAccess, Read | Write | Comment | Agree | Activate | Respond) =>
                                          row(Forbid,     Forbid,   Forbid,   Forbid,            Forbid,            None),
        (EnablementPlan, Read) =>         row(Allow,      Allow,    Allow,    Hide,              Shared(plan),      Some(Scope::PlansRead)),
        (EnablementPlan, Write) =>        row(Forbid,     Allow,    Forbid,   Hide,              SeenThrough(plan), Some(Scope::PlansWrite)),
        (EnablementPlan, Comment) =>      row(Allow,      Allow,    Forbid,   Hide,              SeenThrough(plan), Some(Scope::PlansWrite)),
        // Agreement is the person's (and a carer's they share the plan with), never a system's.
        (EnablementPlan, Agree) =>        row(Allow,      Forbid,   Forbid,   Hide,              Shared(plan),      None),
        (EnablementPlan, Activate | Respond) =>
                                          row(Forbid,     Forbid,   Forbid,   Hide,              SeenThrough(plan), None),
        (EnablementPlanSummary, Read) =>  row(Allow,      Allow,    Allow,    Shared(plan),      Shared(plan),      Some(Scope::PlansRead)),
        (EnablementPlanSummary, Write | Comment | Agree | Activate | Respond) =>
                                          row(Forbid,     Forbid,   Forbid,   SeenThrough(plan), SeenThrough(plan), None),
        // The WRAP is the person's own: the team reads it, and writes only as a co-author the
        // person has allowed.
        (Wrap, Read) =>                   row(Allow,      Allow,    Forbid,   Hide,              Hide,              Some(Scope::PlansRead)),
        (Wrap, Write) =>                  row(Allow,      CoAuthor, Forbid,   Hide,              Hide,              Some(Scope::PlansWrite)),
        (Wrap, Comment | Agree | Activate | Respond) =>
                                          row(Forbid,     Forbid,   Forbid,   Hide,              Hide,              None),
        (CrisisPlan, Read) =>             row(Allow,      Allow,    Allow,    Shared(crisis),    Shared(crisis),    Some(Scope::PlansRead)),
        (CrisisPlan, Write) =>            row(Allow,      CoAuthor, Forbid,   SeenThrough(crisis), SeenThrough(crisis), Some(Scope::PlansWrite)),
        (CrisisPlan, Activate) =>         row(Allow,      Allow,    Forbid,   SeenThrough(crisis),
                                              SharedAction { scope: Consented::CrisisPlanActivation, seen: crisis },
                                              Some(Scope::PlansWrite)),
        (CrisisPlan, Comment | Agree | Respond) =>
                                          row(Forbid,     Forbid,   Forbid,   SeenThrough(crisis), SeenThrough(crisis), None),
        // A peer worker sees only the sessions they are part of (the handler filters).
        (Appointments, Read) =>           row(Allow,      Allow,    Allow,    Allow,             Shared(diary),     Some(Scope::AppointmentsRead)),
        (Appointments, Write) =>          row(Forbid,     Allow,    Forbid,   Forbid,            SeenThrough(diary), Some(Scope::AppointmentsWrite)),
        (Appointments, Respond) =>        row(Allow,      Forbid,   Forbid,   Forbid,            SeenThrough(diary), Some(Scope::AppointmentsWrite)),
        (Appointments, Comment | Agree | Activate) =>
                                          row(Forbid,     Forbid,   Forbid,   Forbid,            SeenThrough(diary), None),
        // Which conversation is checked per conversation: the peer worker's own with the
        // person; the team's oversight reads all (audited, shown to the person) and writes in
        // its inbox. A carer's own conversation with the team is theirs; the person's are not.
        // Staff systems never see messages (SPEC §4).
        (Messages, Read | Write) =>       row(Allow,      Allow,    Forbid,   Allow,             Hide,              None),
        (Messages, Comment | Agree | Activate | Respond) =>
                                          row(Forbid,     Forbid,   Forbid,   Forbid,            Hide,              None),
    };
    cells
}

/// What `cell` means for this caller and relationship.
fn resolve(
    cell: Cell,
    grounds: Grounds,
    relationship: &Relationship,
    now: DateTime<Utc>,
) -> Result<(), Denial> {
    let shared = |scope: ConsentScope| relationship.shares(grounds, scope, now);
    let seen_through = |scope: ConsentScope| {
        if shared(scope) {
            Err(Denial::Forbidden)
        } else {
            Err(Denial::NotFound)
        }
    };
    match cell {
        Cell::Allow => Ok(()),
        Cell::Forbid => Err(Denial::Forbidden),
        Cell::Hide => Err(Denial::NotFound),
        Cell::Shared(scope) if shared(scope) => Ok(()),
        Cell::Shared(_) => Err(Denial::NotFound),
        Cell::SeenThrough(scope) => seen_through(scope),
        Cell::SharedAction { scope, .. } if shared(scope) => Ok(()),
        Cell::SharedAction { seen, .. } => seen_through(seen),
        Cell::CoAuthor if relationship.facts.team_may_coauthor_wrap => Ok(()),
        Cell::CoAuthor => Err(Denial::Forbidden),
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
    let row = matrix(resource, action);
    let user = match caller {
        Caller::StaffSystem(client) => {
            return match row.staff {
                Some(needed) if client.scopes.contains(&needed) => Ok(Grounds::StaffSystemScope),
                Some(needed) => Err(Denial::MissingScope(needed)),
                None => Err(Denial::Forbidden),
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
        Role::ServiceUser | Role::Practitioner | Role::PeerWorker | Role::Carer | Role::Admin => {
            None
        }
    };
    let is_practitioner = user.role == Role::Practitioner;
    let grounds = match (grounds, resource, action) {
        // A practitioner may break glass on anyone, and place someone who is on no team yet.
        // Breaking glass is a practitioner's act alone: anyone else is refused outright, whatever
        // their relationship (the route says nothing about the person).
        (_, Resource::EmergencyAccess, Action::Write) if is_practitioner => {
            return Ok(grounds.unwrap_or(Grounds::EmergencyAccess));
        }
        (_, Resource::EmergencyAccess, Action::Write) => return Err(Denial::Forbidden),
        (None, Resource::TeamPlacement, Action::Write)
            if is_practitioner && !facts.person_placed =>
        {
            return Ok(Grounds::Unplaced);
        }
        (None, _, _) => return Err(Denial::NotFound),
        (Some(grounds), _, _) => grounds,
    };
    let cell = match grounds {
        Grounds::OwnRecord => row.own,
        Grounds::Team => row.team,
        Grounds::EmergencyAccess => row.emergency,
        Grounds::AllocatedPeer => row.peer,
        Grounds::CarerConsent => row.carer,
        // Not grounds an account is found to have above.
        Grounds::StaffSystemScope | Grounds::Unplaced => Cell::Forbid,
    };
    resolve(cell, grounds, relationship, now).map(|()| grounds)
}

/// Reads the relationship between the caller and the person: one query for the facts, and the
/// caller's consents when the caller is a linked carer or the allocated peer worker.
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
    relationship_from_facts(store, user, person, facts).await
}

/// The relationship of `user` to `person`, from its facts already read: the consents the person
/// gave are read too when the account is their linked carer or their allocated peer worker.
pub async fn relationship_from_facts(
    store: &dyn crate::store::Store,
    user: &CallerUser,
    person: PersonId,
    facts: RelationshipFacts,
) -> StoreResult<Relationship> {
    let consents = if (user.role == Role::Carer && facts.linked_carer)
        || (user.role == Role::PeerWorker && facts.allocated_peer)
    {
        store.consents_to(person, user.id).await?
    } else {
        Vec::new()
    };
    Ok(Relationship { facts, consents })
}

/// Reads the relationship between an account and the person as it stood at the past instant
/// `at`: the relationships in force then (ended ones from the relationship history) and the
/// consents the person had given the account and not yet revoked then, for a linked carer or
/// the allocated peer worker of that time.
pub async fn relationship_at(
    store: &dyn crate::store::Store,
    user: &CallerUser,
    person: PersonId,
    at: DateTime<Utc>,
) -> StoreResult<Relationship> {
    let facts = store.relationship_facts_at(user.id, person, at).await?;
    let consents = if (user.role == Role::Carer && facts.linked_carer)
        || (user.role == Role::PeerWorker && facts.allocated_peer)
    {
        store.consents_to_at(person, user.id, at).await?
    } else {
        Vec::new()
    };
    Ok(Relationship { facts, consents })
}

/// The decision on a read a phone showed offline at `read_at` and uploaded later: [`decide`]
/// for [`Action::Read`] at `read_at`, over `relationship` as it stood then
/// ([`relationship_at`]). For the crisis plan, every section the phone says it showed must
/// have been visible to the reader then; a section beyond that is refused (403: the reader
/// could see the plan, not that part of it). With no sections named, the read counts for
/// whatever part the reader could see.
pub fn decide_offline_read(
    caller: &Caller,
    relationship: &Relationship,
    resource: Resource,
    sections: Option<&BTreeSet<CrisisPlanSection>>,
    read_at: DateTime<Utc>,
) -> Decision {
    let grounds = decide(caller, relationship, resource, Action::Read, read_at)?;
    if let Some(shown) = sections
        && resource == Resource::CrisisPlan
        && !shown.is_subset(&relationship.visible_crisis_sections(grounds, read_at))
    {
        return Err(Denial::Forbidden);
    }
    Ok(grounds)
}

/// A read exported through the FHIR facade (`/fhir/r4`). Exporting a record is a staff
/// system's act only (an account is refused outright: it reads through the API itself), and
/// takes `fhir:read` on top of the scope the same read through the API needs — so a client is
/// never given by FHIR what the matrix would refuse it, and `fhir:read` alone gives nothing.
pub fn decide_export(
    caller: &Caller,
    relationship: &Relationship,
    resource: Resource,
    now: DateTime<Utc>,
) -> Decision {
    match caller {
        Caller::User(_) => Err(Denial::Forbidden),
        Caller::StaffSystem(client) if !client.scopes.contains(&StaffScope::FhirRead) => {
            Err(Denial::MissingScope(StaffScope::FhirRead))
        }
        Caller::StaffSystem(_) => decide(caller, relationship, resource, Action::Read, now),
    }
}

/// Work that is not about one person's record — the hubs, adding someone to the service, a
/// team's caseload, diary and workshops, one's own working hours — decided here too, by role,
/// team membership (read by the caller on this request) or a staff system's scope. Each person
/// such work then shows is decided separately, like any read of their record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    /// The list of hubs: team staff and admins, and any staff system.
    ListTeams,
    /// Add someone to the service: a practitioner, or a staff system with `people:write`.
    AddPerson,
    /// A team's caseload: its practitioners, or a staff system with `people:read`.
    ReadCaseload { on_team: bool },
    /// Workshop programmes: every account (to book), and staff systems with an appointments
    /// scope.
    SeeProgrammes,
    /// Start a programme for a team: its practitioners, or `appointments:write`.
    StartProgramme { on_team: bool },
    /// Who is booked on a team's programme: its practitioners, the staff (practitioners or
    /// peer workers, of any team or a partner) named as its facilitators, or
    /// `appointments:read`. Being a facilitator opens that programme's roster only.
    ReadRoster { on_team: bool, facilitator: bool },
    /// Name or remove a programme's facilitators: its team's practitioners, or
    /// `appointments:write`.
    ManageFacilitators { on_team: bool },
    /// A team's diary: its practitioners, or `appointments:read`.
    ReadTeamDiary { on_team: bool },
    /// A worker's diary: the worker, or `appointments:read`.
    ReadWorkerDiary { own: bool },
    /// One's own working hours and away status: peer workers.
    OwnHours,
    /// The satisfaction ratings a team's people gave: its practitioners only (comments are the
    /// people's words; a staff system reads the report's figures instead).
    ReadTeamRatings { on_team: bool },
    /// A team's performance report: its practitioners, or `reports:read` (any team, or all).
    ReadReport { on_team: bool },
    /// Refer someone to the service on a partner's behalf: a staff system with
    /// `referrals:write` (a person refers themselves with no account at all).
    Refer,
    /// The referrals waiting for triage: practitioners (those of their teams and the front
    /// door's), or `referrals:read` (all).
    ListReferrals,
    /// One referral: a practitioner on the team that holds it, or any practitioner while it
    /// waits at the front door (`visible`); or `referrals:read`. Another team's referral is
    /// not revealed to exist (404).
    ReadReferral { visible: bool },
    /// Triage a referral: a practitioner who may read it. Staff systems read triage; they do
    /// not decide it (an acceptance makes a person's record on a team's caseload).
    TriageReferral { visible: bool },
}

/// Whether the caller may do `work`; refused with 403, since the work itself is no secret.
pub fn decide_work(caller: &Caller, work: Work) -> Result<(), Denial> {
    let user = match caller {
        Caller::StaffSystem(client) => {
            let holds = |scope: StaffScope| client.scopes.contains(&scope);
            let needed = match work {
                Work::ListTeams => return Ok(()),
                Work::OwnHours | Work::ReadTeamRatings { .. } => return Err(Denial::Forbidden),
                // Seeing programmes is part of either appointments scope.
                Work::SeeProgrammes if holds(StaffScope::AppointmentsWrite) => return Ok(()),
                Work::AddPerson => StaffScope::PeopleWrite,
                Work::ReadCaseload { .. } => StaffScope::PeopleRead,
                Work::ReadReport { .. } => StaffScope::ReportsRead,
                Work::StartProgramme { .. } | Work::ManageFacilitators { .. } => {
                    StaffScope::AppointmentsWrite
                }
                Work::SeeProgrammes
                | Work::ReadRoster { .. }
                | Work::ReadTeamDiary { .. }
                | Work::ReadWorkerDiary { .. } => StaffScope::AppointmentsRead,
                Work::Refer => StaffScope::ReferralsWrite,
                Work::ListReferrals | Work::ReadReferral { .. } => StaffScope::ReferralsRead,
                Work::TriageReferral { .. } => return Err(Denial::Forbidden),
            };
            return if holds(needed) {
                Ok(())
            } else {
                Err(Denial::MissingScope(needed))
            };
        }
        Caller::User(user) => user,
    };
    let practitioner = user.role == Role::Practitioner;
    let allowed = match work {
        Work::ListTeams => user.role.is_team_staff() || user.role == Role::Admin,
        Work::AddPerson => practitioner,
        Work::ReadCaseload { on_team }
        | Work::StartProgramme { on_team }
        | Work::ManageFacilitators { on_team }
        | Work::ReadTeamDiary { on_team }
        | Work::ReadTeamRatings { on_team }
        | Work::ReadReport { on_team } => practitioner && on_team,
        // A facilitator's role is checked again here: an account that has since become
        // something other than staff no longer reads the roster it was named on.
        Work::ReadRoster {
            on_team,
            facilitator,
        } => (practitioner && on_team) || (facilitator && user.role.is_team_staff()),
        Work::SeeProgrammes => true,
        Work::ReadWorkerDiary { own } => own,
        Work::OwnHours => user.role == Role::PeerWorker,
        Work::Refer => false,
        Work::ListReferrals => practitioner,
        Work::ReadReferral { visible } | Work::TriageReferral { visible } => {
            if practitioner && !visible {
                return Err(Denial::NotFound);
            }
            practitioner
        }
    };
    if allowed {
        Ok(())
    } else {
        Err(Denial::Forbidden)
    }
}

/// What only the person decides or sees on their own record, whoever else may read it: who
/// co-authors their WRAP, and a calendar feed with the details in.
pub fn decide_owner_only(grounds: Grounds) -> Result<(), Denial> {
    if grounds == Grounds::OwnRecord {
        Ok(())
    } else {
        Err(Denial::Forbidden)
    }
}

/// The decision for one account, one of the person's conversations and an action, from the
/// relationship read now, and the part the caller takes in it. A carer's conversation is the
/// carer's (while the person's consent is in force) and the team's; otherwise the row of
/// [`Resource::Messages`] decides, and the conversation's kind says who takes part: the person
/// in both, the allocated peer worker in the peer conversation, the team in the team
/// conversation — and the team may read (oversee) the peer conversation, never write in it.
pub fn decide_conversation(
    caller: &Caller,
    user: &CallerUser,
    conversation: &ConversationRecord,
    relationship: &Relationship,
    action: Action,
    now: DateTime<Utc>,
) -> Result<(Grounds, ConversationRole), Denial> {
    use ConversationKind::{Peer, Team};
    use ConversationRole::{Oversight, Participant};
    if let Some(carer) = conversation.carer_id {
        return if user.id == carer && relationship.carer_consent_in_force(now) {
            Ok((Grounds::CarerConsent, Participant))
        } else if user.role == Role::Practitioner && relationship.facts.on_persons_team {
            Ok((Grounds::Team, Participant))
        } else {
            Err(Denial::NotFound)
        };
    }
    let grounds = decide(caller, relationship, Resource::Messages, action, now)?;
    match (conversation.kind, grounds) {
        (_, Grounds::OwnRecord) | (Peer, Grounds::AllocatedPeer) | (Team, Grounds::Team) => {
            Ok((grounds, Participant))
        }
        (Peer, Grounds::Team) if action == Action::Read => Ok((grounds, Oversight)),
        (Peer, Grounds::Team) => Err(Denial::Forbidden),
        _ => Err(Denial::NotFound),
    }
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
            authenticated_at: Utc::now(),
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
    fn work_beyond_one_record_is_decided_by_role_membership_and_scope() {
        let system = |scopes: &[StaffScope]| {
            Caller::StaffSystem(StaffSystemCaller {
                client_id: "case-system".into(),
                scopes: scopes.iter().copied().collect(),
                on_behalf_of: None,
            })
        };
        let practitioner = user(Role::Practitioner);
        let peer = user(Role::PeerWorker);
        let person = user(Role::ServiceUser);
        let allowed = |caller: &Caller, work| decide_work(caller, work).is_ok();
        // A team's work is its practitioners', not a practitioner's elsewhere or a peer's.
        for work in [
            Work::ReadCaseload { on_team: true },
            Work::StartProgramme { on_team: true },
            Work::ReadRoster {
                on_team: true,
                facilitator: false,
            },
            Work::ManageFacilitators { on_team: true },
            Work::ReadTeamDiary { on_team: true },
        ] {
            assert!(allowed(&practitioner, work), "{work:?}");
            assert!(!allowed(&peer, work), "{work:?}");
        }
        // A facilitator, of any team, reads that programme's roster; only staff can be one.
        let facilitating = Work::ReadRoster {
            on_team: false,
            facilitator: true,
        };
        assert!(allowed(&peer, facilitating));
        assert!(allowed(&practitioner, facilitating));
        assert!(!allowed(&person, facilitating));
        assert!(!allowed(
            &practitioner,
            Work::ReadRoster {
                on_team: false,
                facilitator: false,
            }
        ));
        assert!(!allowed(&peer, Work::ManageFacilitators { on_team: false }));
        assert!(!allowed(
            &practitioner,
            Work::ReadCaseload { on_team: false }
        ));
        // Staff systems by scope only.
        assert!(allowed(
            &system(&[StaffScope::PeopleRead]),
            Work::ReadCaseload { on_team: false }
        ));
        assert!(!allowed(
            &system(&[StaffScope::PeopleRead]),
            Work::AddPerson
        ));
        assert!(allowed(
            &system(&[StaffScope::PeopleWrite]),
            Work::AddPerson
        ));
        assert!(!allowed(
            &system(&[StaffScope::AppointmentsRead]),
            Work::StartProgramme { on_team: false }
        ));
        assert!(allowed(
            &system(&[StaffScope::AppointmentsWrite]),
            Work::SeeProgrammes
        ));
        assert!(!allowed(
            &system(&[StaffScope::PeopleRead]),
            Work::SeeProgrammes
        ));
        // Every account may see programmes (to book); only a worker reads their own diary.
        assert!(allowed(&person, Work::SeeProgrammes));
        assert!(allowed(&peer, Work::ReadWorkerDiary { own: true }));
        assert!(!allowed(&peer, Work::ReadWorkerDiary { own: false }));
        assert!(allowed(&peer, Work::OwnHours));
        assert!(!allowed(&practitioner, Work::OwnHours));
        assert!(!allowed(&person, Work::ListTeams));
        assert!(allowed(&user(Role::Admin), Work::ListTeams));
        // The performance report: the team's practitioners, or `reports:read`.
        assert!(allowed(&practitioner, Work::ReadReport { on_team: true }));
        assert!(!allowed(&practitioner, Work::ReadReport { on_team: false }));
        assert!(!allowed(&peer, Work::ReadReport { on_team: true }));
        assert!(!allowed(
            &user(Role::Admin),
            Work::ReadReport { on_team: false }
        ));
        assert!(allowed(
            &system(&[StaffScope::ReportsRead]),
            Work::ReadReport { on_team: false }
        ));
        assert_eq!(
            decide_work(
                &system(&[StaffScope::PeopleRead]),
                Work::ReadReport { on_team: false }
            ),
            Err(Denial::MissingScope(StaffScope::ReportsRead))
        );
        // Referrals: practitioners triage what they may read; another team's is not revealed.
        assert!(allowed(&practitioner, Work::ListReferrals));
        assert!(!allowed(&peer, Work::ListReferrals));
        assert!(allowed(
            &practitioner,
            Work::TriageReferral { visible: true }
        ));
        assert_eq!(
            decide_work(&practitioner, Work::TriageReferral { visible: false }),
            Err(Denial::NotFound)
        );
        assert_eq!(
            decide_work(&peer, Work::ReadReferral { visible: true }),
            Err(Denial::Forbidden)
        );
        assert!(!allowed(&practitioner, Work::Refer));
        assert!(allowed(
            &system(&[StaffScope::ReferralsRead]),
            Work::ReadReferral { visible: false }
        ));
        assert_eq!(
            decide_work(&system(&[StaffScope::ReferralsRead]), Work::Refer),
            Err(Denial::MissingScope(StaffScope::ReferralsWrite))
        );
        assert_eq!(
            decide_work(
                &system(&StaffScope::ALL),
                Work::TriageReferral { visible: true }
            ),
            Err(Denial::Forbidden)
        );
        // What only the person decides.
        assert_eq!(decide_owner_only(Grounds::OwnRecord), Ok(()));
        assert_eq!(decide_owner_only(Grounds::Team), Err(Denial::Forbidden));
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
    fn offline_record_kinds_are_the_resources_of_the_same_name() {
        use livingwell_core::api::audit::OfflineRecord;
        for record in OfflineRecord::all() {
            assert_eq!(Resource::from(*record).as_str(), record.to_string());
        }
    }

    #[test]
    fn an_offline_crisis_plan_read_must_show_only_sections_shared_then() {
        use livingwell_core::domain::consent::{Consent, Grantee};
        use livingwell_core::domain::{ConsentId, CrisisPlanSection as Section};
        let carer = user(Role::Carer);
        let Caller::User(account) = &carer else {
            unreachable!("a user")
        };
        let given = Utc::now() - Duration::days(2);
        let revoked = given + Duration::days(1);
        let relationship = Relationship {
            facts: RelationshipFacts {
                linked_carer: true,
                person_placed: true,
                ..Default::default()
            },
            consents: vec![Consent {
                id: ConsentId::new(),
                person_id: PersonId::new(),
                grantee: Grantee::Carer(account.id),
                scopes: [ConsentScope::CrisisPlan].into(),
                crisis_plan_sections: [Section::WhenWell, Section::Supporters].into(),
                created_at: given,
                expires_at: None,
                revoked_at: Some(revoked),
            }],
        };
        let shown = |sections: &[Section], at| {
            let sections: BTreeSet<Section> = sections.iter().copied().collect();
            decide_offline_read(
                &carer,
                &relationship,
                Resource::CrisisPlan,
                Some(&sections),
                at,
            )
        };
        let then = given + Duration::hours(1);
        assert_eq!(
            shown(&[Section::WhenWell, Section::Supporters], then),
            Ok(Grounds::CarerConsent)
        );
        assert_eq!(
            shown(&[Section::WhenWell, Section::Medication], then),
            Err(Denial::Forbidden)
        );
        // Revoked since: it counted then, not after.
        assert_eq!(shown(&[Section::WhenWell], revoked), Err(Denial::NotFound));
        assert_eq!(
            decide_offline_read(&carer, &relationship, Resource::CrisisPlan, None, then),
            Ok(Grounds::CarerConsent)
        );
        assert_eq!(
            decide_offline_read(&carer, &relationship, Resource::Wrap, None, then),
            Err(Denial::NotFound)
        );
        // The team sees every section.
        let team = rel(RelationshipFacts {
            on_persons_team: true,
            ..Default::default()
        });
        let all: BTreeSet<Section> = Section::ALL.into_iter().collect();
        assert_eq!(
            decide_offline_read(
                &user(Role::Practitioner),
                &team,
                Resource::CrisisPlan,
                Some(&all),
                then
            ),
            Ok(Grounds::Team)
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
        // Missing a scope is told by name; what no scope grants is plainly forbidden.
        assert_eq!(
            decide(&client, &none, Resource::AccessLog, Action::Read, now),
            Err(Denial::MissingScope(StaffScope::AuditRead))
        );
        assert_eq!(
            decide(&client, &none, Resource::Messages, Action::Read, now),
            Err(Denial::Forbidden)
        );
    }

    #[test]
    fn an_export_needs_fhir_read_and_then_the_scope_of_the_same_read() {
        let system = |scopes: &[StaffScope]| {
            Caller::StaffSystem(StaffSystemCaller {
                client_id: "case-system".into(),
                scopes: scopes.iter().copied().collect(),
                on_behalf_of: None,
            })
        };
        let none = Relationship::default();
        let now = Utc::now();
        let export = |caller: &Caller, resource| decide_export(caller, &none, resource, now);
        assert_eq!(
            export(&system(&[StaffScope::PlansRead]), Resource::EnablementPlan),
            Err(Denial::MissingScope(StaffScope::FhirRead))
        );
        assert_eq!(
            export(&system(&[StaffScope::FhirRead]), Resource::EnablementPlan),
            Err(Denial::MissingScope(StaffScope::PlansRead))
        );
        assert_eq!(
            export(
                &system(&[StaffScope::FhirRead, StaffScope::PlansRead]),
                Resource::CrisisPlan
            ),
            Ok(Grounds::StaffSystemScope)
        );
        // No scope exports conversations; no account exports anything.
        assert_eq!(
            export(&system(&StaffScope::ALL), Resource::Messages),
            Err(Denial::Forbidden)
        );
        assert_eq!(
            export(&user(Role::Practitioner), Resource::Person),
            Err(Denial::Forbidden)
        );
    }

    #[test]
    fn staff_work_refused_for_want_of_a_scope_names_the_scope() {
        let system = |scopes: &[StaffScope]| {
            Caller::StaffSystem(StaffSystemCaller {
                client_id: "case-system".into(),
                scopes: scopes.iter().copied().collect(),
                on_behalf_of: None,
            })
        };
        assert_eq!(
            decide_work(&system(&[StaffScope::PeopleRead]), Work::AddPerson),
            Err(Denial::MissingScope(StaffScope::PeopleWrite))
        );
        assert_eq!(
            decide_work(&system(&[]), Work::SeeProgrammes),
            Err(Denial::MissingScope(StaffScope::AppointmentsRead))
        );
        assert_eq!(
            decide_work(&system(&StaffScope::ALL), Work::OwnHours),
            Err(Denial::Forbidden)
        );
    }
}

#[cfg(test)]
mod conversation_tests {
    use chrono::Duration;
    use livingwell_core::domain::consent::{Consent, Grantee};
    use livingwell_core::domain::message::ConversationId;
    use livingwell_core::domain::{ConsentId, ConsentScope, PersonId, UserId};

    use super::*;
    use crate::store::RelationshipFacts;

    fn caller(role: Role) -> (Caller, CallerUser) {
        let user = CallerUser {
            id: UserId::new(),
            role,
            person_id: None,
            session_id: uuid::Uuid::now_v7(),
            authenticated_at: Utc::now(),
        };
        (Caller::User(user.clone()), user)
    }

    fn conversation(kind: ConversationKind, carer: Option<UserId>) -> ConversationRecord {
        ConversationRecord {
            id: ConversationId::new(),
            kind,
            person_id: PersonId::new(),
            carer_id: carer,
            last_seq: 0,
            last_message_at: None,
            created_at: Utc::now(),
        }
    }

    fn related(facts: RelationshipFacts) -> Relationship {
        Relationship {
            facts: RelationshipFacts {
                person_placed: true,
                ..facts
            },
            consents: Vec::new(),
        }
    }

    fn consent_to(carer: UserId, revoked: bool) -> Consent {
        Consent {
            id: ConsentId::new(),
            person_id: PersonId::new(),
            grantee: Grantee::Carer(carer),
            scopes: [ConsentScope::CrisisPlan].into(),
            crisis_plan_sections: Default::default(),
            created_at: Utc::now() - Duration::days(1),
            expires_at: None,
            revoked_at: revoked.then(|| Utc::now() - Duration::hours(1)),
        }
    }

    #[test]
    fn the_allocated_peer_takes_part_and_a_previous_one_is_not_told_it_exists() {
        let (caller, user) = caller(Role::PeerWorker);
        let peer = conversation(ConversationKind::Peer, None);
        let now = Utc::now();
        let allocated = related(RelationshipFacts {
            allocated_peer: true,
            on_persons_team: true,
            ..Default::default()
        });
        assert_eq!(
            decide_conversation(&caller, &user, &peer, &allocated, Action::Write, now),
            Ok((Grounds::AllocatedPeer, ConversationRole::Participant))
        );
        let reallocated = related(RelationshipFacts {
            on_persons_team: true,
            ..Default::default()
        });
        for action in [Action::Read, Action::Write] {
            assert_eq!(
                decide_conversation(&caller, &user, &peer, &reallocated, action, now),
                Err(Denial::NotFound)
            );
        }
        // Allocated, but the person's team conversation is not theirs.
        let team = conversation(ConversationKind::Team, None);
        assert_eq!(
            decide_conversation(&caller, &user, &team, &allocated, Action::Read, now),
            Err(Denial::NotFound)
        );
    }

    #[test]
    fn the_team_reads_a_peer_conversation_as_oversight_and_cannot_write() {
        let (caller, user) = caller(Role::Practitioner);
        let peer = conversation(ConversationKind::Peer, None);
        let on_team = related(RelationshipFacts {
            on_persons_team: true,
            ..Default::default()
        });
        let now = Utc::now();
        assert_eq!(
            decide_conversation(&caller, &user, &peer, &on_team, Action::Read, now),
            Ok((Grounds::Team, ConversationRole::Oversight))
        );
        assert_eq!(
            decide_conversation(&caller, &user, &peer, &on_team, Action::Write, now),
            Err(Denial::Forbidden)
        );
        let team = conversation(ConversationKind::Team, None);
        assert_eq!(
            decide_conversation(&caller, &user, &team, &on_team, Action::Write, now),
            Ok((Grounds::Team, ConversationRole::Participant))
        );
        let elsewhere = related(RelationshipFacts::default());
        assert_eq!(
            decide_conversation(&caller, &user, &peer, &elsewhere, Action::Read, now),
            Err(Denial::NotFound)
        );
    }

    #[test]
    fn a_carer_never_sees_the_persons_conversations_but_has_their_own() {
        let (caller, user) = caller(Role::Carer);
        let now = Utc::now();
        let mut with_consent = related(RelationshipFacts {
            linked_carer: true,
            ..Default::default()
        });
        with_consent.consents = vec![consent_to(user.id, false)];
        for kind in [ConversationKind::Peer, ConversationKind::Team] {
            assert_eq!(
                decide_conversation(
                    &caller,
                    &user,
                    &conversation(kind, None),
                    &with_consent,
                    Action::Read,
                    now
                ),
                Err(Denial::NotFound)
            );
        }
        let own = conversation(ConversationKind::Team, Some(user.id));
        assert_eq!(
            decide_conversation(&caller, &user, &own, &with_consent, Action::Write, now),
            Ok((Grounds::CarerConsent, ConversationRole::Participant))
        );
        let mut revoked = with_consent.clone();
        revoked.consents = vec![consent_to(user.id, true)];
        assert_eq!(
            decide_conversation(&caller, &user, &own, &revoked, Action::Read, now),
            Err(Denial::NotFound)
        );
        // The person themselves does not read their carer's conversation.
        let (person_caller, person) = self::caller(Role::ServiceUser);
        let own_record = related(RelationshipFacts {
            is_self: true,
            ..Default::default()
        });
        assert_eq!(
            decide_conversation(
                &person_caller,
                &person,
                &own,
                &own_record,
                Action::Read,
                now
            ),
            Err(Denial::NotFound)
        );
    }
}
