//! People and the relationships around them: creating a person, caseload placement, peer
//! allocation, carers, consents, the "do not involve" list and emergency access.
//!
//! Guarantees:
//! - **A consent rides on a relationship.** It is granted only to a linked carer or the
//!   allocated peer worker, never to an account on the do-not-involve list, checked in the
//!   write's own transaction (see [`crate::store::Store::grant_consent`]); a
//!   reallocation or an exclusion ends the consents it undoes in the same transaction.
//! - **Times are the stored precision.** A consent's end is kept to the microsecond, so it
//!   ends at the same instant on both databases.
//! - **Consents end by the clock.** A consent past its `expires_at` stops counting at the
//!   next decision that reads it ([`livingwell_core::domain::consent::Consent::allows`]); no
//!   job has to run for access to end.

use std::sync::Arc;

use chrono::{Duration, SubsecRound};
use livingwell_core::api::Validate;
use livingwell_core::api::people::{
    CreatePersonRequest, EMERGENCY_ACCESS_DEFAULT_MINUTES, EmergencyAccessRequest,
    GrantConsentRequest,
};
use livingwell_core::domain::FieldErrorCode;
use livingwell_core::domain::consent::{Consent, Grantee};
use livingwell_core::domain::{ConsentId, EmergencyAccessId, PersonId, Role, TeamId, UserId};

use super::{ServiceError, ServiceResult};
use crate::clock::Clock;
use crate::store::{EmergencyAccessRecord, GrantRefusal, PersonRecord, Store};

/// The people service. Cheap to clone.
#[derive(Clone, Debug)]
pub struct People {
    store: Arc<dyn Store>,
    clock: Clock,
}

impl People {
    pub fn new(store: Arc<dyn Store>, clock: Clock) -> Self {
        Self { store, clock }
    }

    /// Creates a person, on a team's caseload if one is named. A practitioner may place them
    /// only on a team they belong to (`member` is their account); a staff system on any.
    pub async fn create(
        &self,
        request: &CreatePersonRequest,
        member: Option<UserId>,
    ) -> ServiceResult<PersonRecord> {
        if let Some(team) = request.team_id {
            if self.store.team(team).await?.is_none() {
                return Err(ServiceError::invalid("team_id", FieldErrorCode::NotFound));
            }
            if let Some(member) = member
                && !self.store.is_team_member(team, member).await?
            {
                return Err(ServiceError::invalid(
                    "team_id",
                    FieldErrorCode::NotYourTeam,
                ));
            }
        }
        let person = PersonRecord {
            id: PersonId::new(),
            display_name: request.display_name.trim().to_owned(),
            team_id: request.team_id,
            peer_worker_id: None,
            created_at: self.clock.now(),
        };
        self.store.create_person(&person, None).await?;
        Ok(person)
    }

    /// Puts the person on a team's caseload, taking them off any other.
    pub async fn place_on_team(&self, person: PersonId, team: TeamId) -> ServiceResult<()> {
        if self.store.team(team).await?.is_none() {
            return Err(ServiceError::invalid("team_id", FieldErrorCode::NotFound));
        }
        Ok(self
            .store
            .place_on_team(person, team, self.clock.now())
            .await?)
    }

    /// Allocates (or reallocates) the person's peer worker; what the person shared with the
    /// previous one ends.
    pub async fn allocate_peer(&self, person: PersonId, peer: UserId) -> ServiceResult<()> {
        let account = self.store.user_by_id(peer).await?;
        if account.is_none_or(|p| p.role != Role::PeerWorker) {
            return Err(ServiceError::invalid(
                "peer_worker_id",
                FieldErrorCode::NotAPeerWorker,
            ));
        }
        Ok(self
            .store
            .allocate_peer(person, peer, self.clock.now())
            .await?)
    }

    /// Names a carer of the person, with how they are related (blank is none).
    pub async fn link_carer(
        &self,
        person: PersonId,
        carer: UserId,
        relationship: Option<&str>,
    ) -> ServiceResult<()> {
        let account = self.store.user_by_id(carer).await?;
        if account.is_none_or(|c| c.role != Role::Carer) {
            return Err(ServiceError::invalid("carer_id", FieldErrorCode::NotACarer));
        }
        let relationship = relationship.map(str::trim).filter(|r| !r.is_empty());
        Ok(self
            .store
            .link_carer(person, carer, relationship, self.clock.now())
            .await?)
    }

    /// The person shares part of their record with a linked carer or their allocated peer
    /// worker, optionally until a time.
    pub async fn grant_consent(
        &self,
        person: PersonId,
        request: GrantConsentRequest,
    ) -> ServiceResult<Consent> {
        let now = self.clock.now();
        let errors = request.field_errors_at(now);
        let Some(grantee) = request.grantee().filter(|_| errors.is_empty()) else {
            return Err(ServiceError::Invalid(errors));
        };
        let consent = Consent {
            id: ConsentId::new(),
            person_id: person,
            grantee,
            scopes: request.scopes,
            crisis_plan_sections: request.crisis_plan_sections,
            created_at: now,
            // Kept at the precision every stored time has, so the consent ends at the same
            // instant on both databases (Postgres would round a finer time, SQLite keep it).
            expires_at: request.expires_at.map(|at| at.trunc_subsecs(6)),
            revoked_at: None,
        };
        let field = match grantee {
            Grantee::Carer(_) => "carer_id",
            Grantee::PeerWorker(_) => "peer_worker_id",
        };
        match self.store.grant_consent(&consent).await? {
            Ok(()) => Ok(consent),
            Err(GrantRefusal::Excluded) => {
                Err(ServiceError::invalid(field, FieldErrorCode::DoNotInvolve))
            }
            Err(GrantRefusal::NotRelated) => Err(ServiceError::invalid(
                field,
                match grantee {
                    Grantee::Carer(_) => FieldErrorCode::NotLinked,
                    Grantee::PeerWorker(_) => FieldErrorCode::NotAllocated,
                },
            )),
        }
    }

    /// Revokes one of the person's consents still in force.
    pub async fn revoke_consent(&self, person: PersonId, consent: ConsentId) -> ServiceResult<()> {
        if self
            .store
            .revoke_consent(person, consent, self.clock.now())
            .await?
        {
            Ok(())
        } else {
            Err(ServiceError::NotFound)
        }
    }

    /// Puts an account on the person's do-not-involve list, ending any consent to it.
    pub async fn exclude(&self, person: PersonId, user: UserId) -> ServiceResult<()> {
        if self.store.user_by_id(user).await?.is_none() {
            return Err(ServiceError::invalid("user_id", FieldErrorCode::NotFound));
        }
        Ok(self
            .store
            .exclude_user(person, user, self.clock.now())
            .await?)
    }

    /// Break glass: opens the record to a practitioner outside the person's team, for a
    /// stated reason and a limited time.
    pub async fn break_glass(
        &self,
        person: PersonId,
        practitioner: UserId,
        request: &EmergencyAccessRequest,
    ) -> ServiceResult<EmergencyAccessRecord> {
        let errors = request.field_errors();
        if !errors.is_empty() {
            return Err(ServiceError::Invalid(errors));
        }
        if self.store.person(person).await?.is_none() {
            return Err(ServiceError::NotFound);
        }
        let now = self.clock.now();
        let minutes = request
            .duration_minutes
            .unwrap_or(EMERGENCY_ACCESS_DEFAULT_MINUTES);
        let grant = EmergencyAccessRecord {
            id: EmergencyAccessId::new(),
            person_id: person,
            practitioner_id: practitioner,
            reason: request.reason.trim().to_owned(),
            granted_at: now,
            expires_at: now + Duration::minutes(i64::from(minutes)),
        };
        self.store.grant_emergency_access(&grant).await?;
        Ok(grant)
    }
}
