//! People, accounts, teams and the relationships that decide who sees what.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::auth::UserView;
use super::{FieldError, Validate, collect_errors};
use crate::domain::FieldErrorCode;
use crate::domain::consent::{Consent, Grantee};
use crate::domain::text::{self, SHORT_TEXT_MAX};
use crate::domain::{
    ConsentId, ConsentScope, CrisisPlanSection, EmergencyAccessId, PersonId, Role, TeamId, UserId,
};

/// A new account, made by an admin (or by staff together with a person record).
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 3, max_length = 64, pattern = "^[a-z0-9._-]+$")
    )]
    pub username: String,
    #[cfg_attr(feature = "openapi", schema(min_length = 12, max_length = 1024))]
    pub password: String,
    pub role: Role,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 120))]
    pub display_name: String,
    /// For a service user's account: the person record it belongs to.
    #[serde(default)]
    pub person_id: Option<PersonId>,
}

debug_without_secrets!(CreateUserRequest, role);

impl Validate for CreateUserRequest {
    fn field_errors(&self) -> Vec<FieldError> {
        // A person's own account is made by invitation, so that staff never know its password.
        let person_matches_role = match (self.role, self.person_id) {
            (Role::ServiceUser, _) => Err(FieldError::new(
                "role",
                FieldErrorCode::InviteFromThePersonRecord,
            )),
            (_, None) => Ok(()),
            (_, Some(_)) => Err(FieldError::new(
                "person_id",
                FieldErrorCode::OnlyForServiceUsers,
            )),
        };
        collect_errors([
            text::check_username("username", &self.username),
            text::check_new_password("password", &self.password),
            text::check_name("display_name", &self.display_name),
            person_matches_role,
        ])
    }
}

#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreatePersonRequest {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 120))]
    pub display_name: String,
    /// The team whose caseload the person joins. The person's app account comes later, by
    /// invitation (`POST /v1/people/{id}/invitation`): staff never set a person's password.
    #[serde(default)]
    pub team_id: Option<TeamId>,
}

debug_without_secrets!(CreatePersonRequest, team_id);

impl Validate for CreatePersonRequest {
    fn field_errors(&self) -> Vec<FieldError> {
        collect_errors([text::check_name("display_name", &self.display_name)])
    }
}

/// A person who receives support, as any reader allowed to see them is shown.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PersonView {
    pub id: PersonId,
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<TeamId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_worker_id: Option<UserId>,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateTeamRequest {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 120))]
    pub name: String,
    #[serde(default)]
    pub hub_address: Option<String>,
}

impl Validate for CreateTeamRequest {
    fn field_errors(&self) -> Vec<FieldError> {
        let address = match &self.hub_address {
            Some(address) => text::check_text("hub_address", address, SHORT_TEXT_MAX),
            None => Ok(()),
        };
        collect_errors([text::check_name("name", &self.name), address])
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TeamView {
    pub id: TeamId,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hub_address: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CaseloadView {
    pub team: TeamView,
    pub people: Vec<super::caseload::CaseloadPerson>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PlaceOnTeamRequest {
    pub team_id: TeamId,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PeerAllocationRequest {
    pub peer_worker_id: UserId,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LinkCarerRequest {
    pub carer_id: UserId,
    /// How the carer is related to the person, in the person's words ("my sister").
    #[serde(default)]
    pub relationship: Option<String>,
}

impl Validate for LinkCarerRequest {
    fn field_errors(&self) -> Vec<FieldError> {
        let relationship = match &self.relationship {
            Some(text) => text::check_text("relationship", text, text::NAME_MAX),
            None => Ok(()),
        };
        collect_errors([relationship])
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CarerLinkView {
    pub carer: UserView,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relationship: Option<String>,
    pub linked_at: DateTime<Utc>,
}

/// The person shares part of their record with a linked carer or with their allocated peer
/// worker: exactly one of `carer_id` and `peer_worker_id`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GrantConsentRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carer_id: Option<UserId>,
    /// The allocated peer worker; only `crisis_plan` and `enablement_plan` (its summary) can be
    /// shared with them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_worker_id: Option<UserId>,
    pub scopes: BTreeSet<ConsentScope>,
    /// Only with the `crisis_plan` scope; absent or empty shares every section.
    #[serde(default)]
    pub crisis_plan_sections: BTreeSet<CrisisPlanSection>,
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

impl GrantConsentRequest {
    /// Whom the consent is for; `None` when the request names neither or both (see
    /// [`GrantConsentRequest::field_errors_at`]).
    pub fn grantee(&self) -> Option<Grantee> {
        match (self.carer_id, self.peer_worker_id) {
            (Some(carer), None) => Some(Grantee::Carer(carer)),
            (None, Some(peer)) => Some(Grantee::PeerWorker(peer)),
            (None, None) | (Some(_), Some(_)) => None,
        }
    }

    /// Checks that need the current time as well as the request.
    pub fn field_errors_at(&self, now: DateTime<Utc>) -> Vec<FieldError> {
        let mut errors = Vec::new();
        match (self.carer_id, self.peer_worker_id) {
            (None, None) => errors.push(FieldError::new("carer_id", FieldErrorCode::Required)),
            (Some(_), Some(_)) => errors.push(FieldError::new(
                "peer_worker_id",
                FieldErrorCode::ConflictsWithCarerId,
            )),
            (Some(_), None) => {}
            (None, Some(_)) => {
                if self
                    .scopes
                    .iter()
                    .any(|scope| !scope.shareable_with_peer_worker())
                {
                    errors.push(FieldError::new("scopes", FieldErrorCode::NotForPeerWorker));
                }
            }
        }
        if self.scopes.is_empty() {
            errors.push(FieldError::new("scopes", FieldErrorCode::Required));
        }
        if !self.crisis_plan_sections.is_empty() && !self.scopes.contains(&ConsentScope::CrisisPlan)
        {
            errors.push(FieldError::new(
                "crisis_plan_sections",
                FieldErrorCode::NeedsCrisisPlanScope,
            ));
        }
        if self.expires_at.is_some_and(|expiry| expiry <= now) {
            errors.push(FieldError::new("expires_at", FieldErrorCode::InThePast));
        }
        errors
    }
}

/// A consent as shown to the person and to staff: for a carer (`carer_id`) or for the
/// allocated peer worker (`peer_worker_id`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsentView {
    pub id: ConsentId,
    pub person_id: PersonId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carer_id: Option<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_worker_id: Option<UserId>,
    pub scopes: BTreeSet<ConsentScope>,
    /// The crisis-plan sections shared. Empty with the `crisis_plan` scope means every section.
    pub crisis_plan_sections: BTreeSet<CrisisPlanSection>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<&Consent> for ConsentView {
    fn from(consent: &Consent) -> Self {
        let (carer_id, peer_worker_id) = match consent.grantee {
            Grantee::Carer(id) => (Some(id), None),
            Grantee::PeerWorker(id) => (None, Some(id)),
        };
        ConsentView {
            id: consent.id,
            person_id: consent.person_id,
            carer_id,
            peer_worker_id,
            scopes: consent.scopes.clone(),
            crisis_plan_sections: consent.crisis_plan_sections.clone(),
            created_at: consent.created_at,
            expires_at: consent.expires_at,
            revoked_at: consent.revoked_at,
        }
    }
}

/// A person's "people I do not want involved" entry for someone with an account.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ExcludeUserRequest {
    pub user_id: UserId,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EmergencyAccessRequest {
    /// Why the record must be opened; shown to the person.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 2000))]
    pub reason: String,
    /// How long access lasts, in minutes (default 60, at most 480).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 480))]
    pub duration_minutes: Option<u32>,
}

/// Longest emergency grant: one working shift.
pub const EMERGENCY_ACCESS_MAX_MINUTES: u32 = 480;
pub const EMERGENCY_ACCESS_DEFAULT_MINUTES: u32 = 60;

impl Validate for EmergencyAccessRequest {
    fn field_errors(&self) -> Vec<FieldError> {
        let duration = match self.duration_minutes {
            Some(0) => Err(FieldError::new(
                "duration_minutes",
                FieldErrorCode::TooSmall,
            )),
            Some(m) if m > EMERGENCY_ACCESS_MAX_MINUTES => Err(FieldError::new(
                "duration_minutes",
                FieldErrorCode::TooLarge,
            )),
            _ => Ok(()),
        };
        collect_errors([
            text::check_required_text("reason", &self.reason, SHORT_TEXT_MAX),
            duration,
        ])
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EmergencyAccessView {
    pub id: EmergencyAccessId,
    pub person_id: PersonId,
    pub practitioner_id: UserId,
    pub reason: String,
    pub granted_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// One line of "who has seen my record".
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessLogEntry {
    pub seq: i64,
    pub at: DateTime<Utc>,
    /// The account or staff system that acted, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<String>,
    /// The name the person knows them by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_name: Option<String>,
    /// `service_user`, `carer`, …, or `staff_system`.
    pub actor_role: String,
    /// For a staff system: the staff member it acted for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<String>,
    pub resource: String,
    pub action: String,
    /// `allowed` or `denied`.
    pub outcome: String,
    /// Why access was allowed: `self`, `carer_consent`, `team`, `emergency_access`, ….
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relationship: Option<String>,
    /// How the record reached the reader, when not by asking for it: in a phone's sync,
    /// shown by a phone with no network (uploaded later), exported as FHIR to a staff system,
    /// fetched by the person's calendar app through their secret feed, or shown on the roster
    /// of a workshop the reader facilitates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<ReadVia>,
    /// For a read shown offline: when the phone showed it (`at` is when it was uploaded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_at: Option<DateTime<Utc>>,
}

/// How a read reached the reader when not by a request for the record.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, strum::Display, strum::EnumString,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ReadVia {
    /// Delivered to the reader's phone in a sync (`GET /v1/sync`).
    Sync,
    /// Shown by the reader's phone from its store while offline, and uploaded later
    /// (`POST /v1/audit/offline-reads`).
    Offline,
    /// Exported to a staff system as FHIR R4 resources (`/fhir/r4`).
    Fhir,
    /// Fetched by a calendar app through the person's own secret feed URL
    /// (`GET /v1/calendar-feeds/{secret}.ics`): the person's own read, discreet.
    CalendarFeed,
    /// Shown on the roster of a workshop the reader facilitates
    /// (`GET /v1/programmes/{id}/bookings`).
    Roster,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessLogPage {
    pub entries: Vec<AccessLogEntry>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The caller and everyone they are connected to.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MeView {
    pub user: UserView,
    /// A service user's own record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<PersonView>,
    /// People the caller supports: as carer (with consent in force) or allocated peer worker.
    pub people_supported: Vec<PersonView>,
    /// A service user's carers.
    pub carers: Vec<CarerLinkView>,
    pub teams: Vec<TeamView>,
}

/// The query of `CaseloadQuery`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct CaseloadQuery {
    /// From `next_cursor` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// At most this many people (default 100).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 200))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

/// The query of `AccessLogQuery`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct AccessLogQuery {
    /// From `next_cursor` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// At most this many entries (default 50).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 200))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}
