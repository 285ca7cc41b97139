//! What a person chooses to share, and with whom.
//!
//! Only the person makes, changes or ends a consent (SPEC §2); no staff role or staff system
//! can. A consent goes to a linked carer or to the person's allocated peer worker ([`Grantee`]).
//! It names scopes (crisis plan, appointments, enablement plan) and, for the crisis plan,
//! optionally which sections. It may end at a date, and the person can revoke it at any time;
//! a peer worker's consent also ends when the person is allocated another worker.
//! A consent is *in force* from when it was given until it is revoked or reaches its expiry:
//! callers ask [`Consent::in_force_at`] with the current time on every request, so an expiry
//! needs no job to take effect. Asked about a past instant (an offline read uploaded later), the
//! same rule answers for that instant: a consent revoked since was in force before its
//! revocation, and one given since was not yet.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{ConsentId, PersonId, UserId};

/// A kind of record a person can share.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ConsentScope {
    /// Read the crisis plan (all sections, or those named in the consent).
    CrisisPlan,
    /// Activate and deactivate the crisis plan on the person's behalf.
    CrisisPlanActivation,
    Appointments,
    /// Read the Enablement Plan, and agree a version with the person. For a peer worker: read
    /// its summary ([`crate::domain::plan::PlanSummary`]).
    EnablementPlan,
}

impl ConsentScope {
    /// Whether the person can share this with their peer worker. The access matrix gives a
    /// peer worker the crisis plan and a summary of the plan, nothing more (SPEC §2).
    pub fn shareable_with_peer_worker(self) -> bool {
        match self {
            ConsentScope::CrisisPlan | ConsentScope::EnablementPlan => true,
            ConsentScope::CrisisPlanActivation | ConsentScope::Appointments => false,
        }
    }
}

/// Whom a consent shares with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Grantee {
    /// A carer linked to the person.
    Carer(UserId),
    /// The peer worker allocated to the person when the consent was given.
    PeerWorker(UserId),
}

impl Grantee {
    pub fn user_id(self) -> UserId {
        match self {
            Grantee::Carer(id) | Grantee::PeerWorker(id) => id,
        }
    }
}

/// The parts of the WRAP crisis plan, as named on the wire and in consents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
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

impl CrisisPlanSection {
    pub const ALL: [CrisisPlanSection; 11] = [
        CrisisPlanSection::WhenWell,
        CrisisPlanSection::SignsOthersTakeOver,
        CrisisPlanSection::Supporters,
        CrisisPlanSection::Medication,
        CrisisPlanSection::Treatments,
        CrisisPlanSection::HomeAndRespite,
        CrisisPlanSection::TreatmentFacilities,
        CrisisPlanSection::HelpFromOthers,
        CrisisPlanSection::WhenToStopUsing,
        CrisisPlanSection::PracticalNeeds,
        CrisisPlanSection::AdvanceStatements,
    ];
}

/// A consent as stored: who may see what of whose record, and until when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consent {
    pub id: ConsentId,
    pub person_id: PersonId,
    pub grantee: Grantee,
    pub scopes: BTreeSet<ConsentScope>,
    /// The crisis-plan sections shared. Empty with the `crisis_plan` scope means every section.
    pub crisis_plan_sections: BTreeSet<CrisisPlanSection>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Consent {
    /// Whether this consent grants anything at `at`: given by then, and neither revoked nor
    /// expired by then.
    pub fn in_force_at(&self, at: DateTime<Utc>) -> bool {
        self.created_at <= at
            && self.revoked_at.is_none_or(|revoked| at < revoked)
            && self.expires_at.is_none_or(|expiry| at < expiry)
    }

    /// Whether the consent shares `scope` at `now`.
    pub fn allows(&self, scope: ConsentScope, now: DateTime<Utc>) -> bool {
        self.in_force_at(now) && self.scopes.contains(&scope)
    }

    /// The crisis-plan sections this consent shares at `now` (none when not in force).
    pub fn shared_crisis_sections(&self, now: DateTime<Utc>) -> BTreeSet<CrisisPlanSection> {
        if !self.allows(ConsentScope::CrisisPlan, now) {
            return BTreeSet::new();
        }
        if self.crisis_plan_sections.is_empty() {
            CrisisPlanSection::ALL.into_iter().collect()
        } else {
            self.crisis_plan_sections.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn consent(expires_in: Option<Duration>) -> Consent {
        let now = Utc::now();
        Consent {
            id: ConsentId::new(),
            person_id: PersonId::new(),
            grantee: Grantee::Carer(UserId::new()),
            scopes: [ConsentScope::CrisisPlan].into(),
            crisis_plan_sections: [CrisisPlanSection::WhenWell].into(),
            created_at: now,
            expires_at: expires_in.map(|d| now + d),
            revoked_at: None,
        }
    }

    #[test]
    fn expired_consent_shares_nothing() {
        let c = consent(Some(Duration::hours(1)));
        let later = Utc::now() + Duration::hours(2);
        assert!(!c.in_force_at(later));
        assert!(c.shared_crisis_sections(later).is_empty());
        assert!(c.allows(ConsentScope::CrisisPlan, Utc::now()));
    }

    #[test]
    fn revoked_consent_shares_nothing() {
        let mut c = consent(None);
        c.revoked_at = Some(Utc::now());
        assert!(!c.allows(ConsentScope::CrisisPlan, Utc::now()));
    }

    #[test]
    fn a_consent_is_judged_at_the_instant_asked_about() {
        let given = Utc::now();
        let mut c = consent(Some(Duration::hours(2)));
        c.created_at = given;
        c.expires_at = Some(given + Duration::hours(2));
        c.revoked_at = Some(given + Duration::hours(1));
        // Before it was given: nothing.
        assert!(!c.in_force_at(given - Duration::seconds(1)));
        // Between giving and revoking: in force, although revoked since.
        assert!(c.allows(ConsentScope::CrisisPlan, given));
        assert_eq!(
            c.shared_crisis_sections(given + Duration::minutes(59)),
            [CrisisPlanSection::WhenWell].into()
        );
        // From the revocation on: nothing, and expiry never revives it.
        assert!(!c.in_force_at(given + Duration::hours(1)));
        assert!(!c.in_force_at(given + Duration::minutes(90)));
        c.revoked_at = None;
        assert!(c.in_force_at(given + Duration::minutes(90)));
        assert!(!c.in_force_at(given + Duration::hours(2)));
    }

    #[test]
    fn crisis_scope_without_sections_shares_every_section() {
        let mut c = consent(None);
        c.crisis_plan_sections.clear();
        assert_eq!(
            c.shared_crisis_sections(Utc::now()).len(),
            CrisisPlanSection::ALL.len()
        );
        assert!(!c.allows(ConsentScope::Appointments, Utc::now()));
    }
}
