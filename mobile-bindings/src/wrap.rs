//! The WRAP, its crisis plan and whom it is shared with: the person's own words, read from the
//! store (with their edits still queued laid over), and every change queued.

use livingwell_core::api::people::{ConsentView, GrantConsentRequest};
use livingwell_core::api::plans::{ActivateRequest, CrisisPlanView, PutWrapRequest, WrapView};
use livingwell_core::api::sync::SyncKind;
use livingwell_core::domain::wrap::{
    CrisisPlan, DailyMaintenance, HelpFromOthers, Medication, Medicine, NotInvolved, PracticalNeed,
    Preferences, SignsAndActions, Supporter, Supporters, Wrap,
};
use livingwell_core::domain::{ConsentId, ConsentScope, CrisisPlanSection, PersonId, UserId};
use livingwell_engine::engine::Keep;

use crate::client::Client;
use crate::error::ClientError;
use crate::types::Timestamp;

/// A crisis plan as the caller may see it: the sections shared with them are filled in,
/// the others are left empty and not in `shared_sections`.
#[derive(Clone, Debug, uniffi::Record)]
pub struct CrisisPlanScreen {
    pub person_id: PersonId,
    /// The WRAP version it comes from; absent before the person has written one.
    pub version: Option<i32>,
    pub shared_sections: Vec<CrisisPlanSection>,
    pub plan: CrisisPlan,
    /// In use now: since when and why.
    pub active_since: Option<Timestamp>,
    pub active_reason: Option<String>,
}

impl TryFrom<CrisisPlanView> for CrisisPlanScreen {
    type Error = ClientError;

    fn try_from(view: CrisisPlanView) -> Result<Self, ClientError> {
        let plan = serde_json::from_value(serde_json::Value::Object(view.sections))
            .map_err(|_| ClientError::Internal)?;
        Ok(Self {
            person_id: view.person_id,
            version: view.version,
            shared_sections: view.shared_sections,
            plan,
            active_since: view.activation.as_ref().map(|a| a.activated_at),
            active_reason: view.activation.map(|a| a.reason),
        })
    }
}

/// The person's whole WRAP.
#[derive(Clone, Debug, uniffi::Record)]
pub struct WrapScreen {
    pub person_id: PersonId,
    /// The version to edit on (`edit_wrap`'s `base_version`).
    pub version: i32,
    pub wrap: Wrap,
    pub team_may_coauthor: bool,
}

impl From<WrapView> for WrapScreen {
    fn from(view: WrapView) -> Self {
        Self {
            person_id: view.person_id,
            version: view.version,
            wrap: view.wrap,
            team_may_coauthor: view.team_may_coauthor,
        }
    }
}

/// A consent the person gave.
#[derive(Clone, Debug, uniffi::Record)]
pub struct Consent {
    pub id: ConsentId,
    pub person_id: PersonId,
    pub carer_id: Option<UserId>,
    pub peer_worker_id: Option<UserId>,
    pub scopes: Vec<ConsentScope>,
    /// With the crisis-plan scope: the sections shared (empty: every section).
    pub crisis_plan_sections: Vec<CrisisPlanSection>,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

impl From<ConsentView> for Consent {
    fn from(view: ConsentView) -> Self {
        Self {
            id: view.id,
            person_id: view.person_id,
            carer_id: view.carer_id,
            peer_worker_id: view.peer_worker_id,
            scopes: view.scopes.into_iter().collect(),
            crisis_plan_sections: view.crisis_plan_sections.into_iter().collect(),
            expires_at: view.expires_at,
            revoked_at: view.revoked_at,
        }
    }
}

/// Whom to share with, what, and until when.
#[derive(Clone, Debug, uniffi::Record)]
pub struct Share {
    pub carer_id: Option<UserId>,
    pub peer_worker_id: Option<UserId>,
    pub scopes: Vec<ConsentScope>,
    /// With the crisis-plan scope: the sections to share (empty: every section).
    pub crisis_plan_sections: Vec<CrisisPlanSection>,
    pub expires_at: Option<Timestamp>,
}

/// The person's WRAP edit met a newer version written meanwhile (by a co-author, or on
/// another device): both are kept until the person chooses ([`Client::resolve_wrap_conflict`]).
#[derive(Clone, Debug, uniffi::Record)]
pub struct WrapConflict {
    /// What the person wrote.
    pub mine: Wrap,
    /// The version on the server, as far as the phone has it.
    pub theirs: Option<WrapScreen>,
    pub at: Timestamp,
}

#[uniffi::remote(Enum)]
pub enum Keep {
    Mine,
    Theirs,
}

#[uniffi::remote(Record)]
pub struct SignsAndActions {
    pub signs: Vec<String>,
    pub action_plan: Vec<String>,
}

#[uniffi::remote(Record)]
pub struct DailyMaintenance {
    pub when_well: String,
    pub every_day: Vec<String>,
    pub might_do: Vec<String>,
}

#[uniffi::remote(Record)]
pub struct Supporter {
    pub name: String,
    pub relationship: String,
    pub contact: String,
    pub role_in_crisis: String,
    pub user_id: Option<UserId>,
}

#[uniffi::remote(Record)]
pub struct NotInvolved {
    pub name: String,
    pub why: String,
    pub user_id: Option<UserId>,
}

#[uniffi::remote(Record)]
pub struct Supporters {
    pub helpers: Vec<Supporter>,
    pub not_involved: Vec<NotInvolved>,
}

#[uniffi::remote(Record)]
pub struct Medicine {
    pub name: String,
    pub dose: String,
    pub notes: String,
}

#[uniffi::remote(Record)]
pub struct Medication {
    pub current: Vec<Medicine>,
    pub acceptable: Vec<String>,
    pub avoid: Vec<String>,
}

#[uniffi::remote(Record)]
pub struct Preferences {
    pub preferred: Vec<String>,
    pub avoid: Vec<String>,
}

#[uniffi::remote(Record)]
pub struct HelpFromOthers {
    pub helps: Vec<String>,
    pub does_not_help: Vec<String>,
}

#[uniffi::remote(Record)]
pub struct PracticalNeed {
    pub need: String,
    pub arrangement: String,
}

#[uniffi::remote(Record)]
pub struct CrisisPlan {
    pub when_well: String,
    pub signs_others_take_over: Vec<String>,
    pub supporters: Supporters,
    pub medication: Medication,
    pub treatments: Preferences,
    pub home_and_respite: String,
    pub treatment_facilities: Preferences,
    pub help_from_others: HelpFromOthers,
    pub when_to_stop_using: Vec<String>,
    pub practical_needs: Vec<PracticalNeed>,
    pub advance_statements: String,
}

#[uniffi::remote(Record)]
pub struct Wrap {
    pub wellness_toolbox: Vec<String>,
    pub daily_maintenance: DailyMaintenance,
    pub triggers: SignsAndActions,
    pub early_warning_signs: SignsAndActions,
    pub breaking_down: SignsAndActions,
    pub crisis_plan: CrisisPlan,
    pub post_crisis_plan: String,
}

#[uniffi::export(async_runtime = "tokio")]
impl Client {
    /// A person's crisis plan as the caller may see it, from the store.
    pub async fn crisis_plan(
        &self,
        person_id: PersonId,
    ) -> Result<Option<CrisisPlanScreen>, ClientError> {
        self.engine
            .show_as::<CrisisPlanView>(SyncKind::CrisisPlan, &person_id.to_string())
            .await?
            .map(TryInto::try_into)
            .transpose()
    }

    /// The person's own WRAP, from the store (with their edit still queued, if any).
    pub async fn wrap(&self, person_id: PersonId) -> Result<Option<WrapScreen>, ClientError> {
        Ok(self
            .engine
            .show_as::<WrapView>(SyncKind::Wrap, &person_id.to_string())
            .await?
            .map(Into::into))
    }

    /// Queues a new version of the WRAP, made on `base_version`.
    pub fn edit_wrap(
        &self,
        person_id: PersonId,
        base_version: i32,
        wrap: Wrap,
    ) -> Result<i64, ClientError> {
        let request = PutWrapRequest {
            base_version: Some(base_version),
            wrap,
        };
        Ok(self.engine.edit_wrap(person_id, &request)?.id)
    }

    /// Queues putting the crisis plan in use, with why.
    pub fn activate_crisis_plan(
        &self,
        person_id: PersonId,
        reason: String,
    ) -> Result<i64, ClientError> {
        Ok(self
            .engine
            .activate_crisis_plan(person_id, &ActivateRequest { reason })?
            .id)
    }

    pub fn deactivate_crisis_plan(&self, person_id: PersonId) -> Result<i64, ClientError> {
        Ok(self.engine.deactivate_crisis_plan(person_id)?.id)
    }

    /// The person's consents, from the store.
    pub fn consents(&self) -> Result<Vec<Consent>, ClientError> {
        Ok(self
            .engine
            .consents()?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Queues sharing with a carer or the peer worker (may need the password: the write
    /// then waits as `NeedsPassword`).
    pub fn share(&self, person_id: PersonId, share: Share) -> Result<i64, ClientError> {
        let request = GrantConsentRequest {
            carer_id: share.carer_id,
            peer_worker_id: share.peer_worker_id,
            scopes: share.scopes.into_iter().collect(),
            crisis_plan_sections: share.crisis_plan_sections.into_iter().collect(),
            expires_at: share.expires_at,
        };
        Ok(self.engine.share(person_id, &request)?.id)
    }

    /// Queues ending a consent (never needs the password).
    pub fn revoke(&self, person_id: PersonId, consent_id: ConsentId) -> Result<i64, ClientError> {
        Ok(self.engine.revoke(person_id, &consent_id.to_string())?.id)
    }

    /// The person's WRAP edit that met a newer version, if any.
    pub fn wrap_conflict(&self, person_id: PersonId) -> Result<Option<WrapConflict>, ClientError> {
        let Some(conflict) = self
            .engine
            .conflict(SyncKind::Wrap, &person_id.to_string())?
        else {
            return Ok(None);
        };
        let mine: PutWrapRequest =
            serde_json::from_value(conflict.draft).map_err(|_| ClientError::Internal)?;
        let theirs = conflict
            .server
            .map(|record| serde_json::from_value::<WrapView>(record.data))
            .transpose()
            .map_err(|_| ClientError::Internal)?;
        Ok(Some(WrapConflict {
            mine: mine.wrap,
            theirs: theirs.map(Into::into),
            at: conflict.at,
        }))
    }

    /// The person chose: their draft goes again, made on the newer version, or it is dropped.
    pub fn resolve_wrap_conflict(
        &self,
        person_id: PersonId,
        keep: Keep,
    ) -> Result<(), ClientError> {
        Ok(self
            .engine
            .resolve_conflict(SyncKind::Wrap, &person_id.to_string(), keep)?)
    }
}
