//! Accounts the person sets up themselves: invitations, password changes and resets, and
//! turning an account off and on again.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{FieldError, Validate, collect_errors};
use crate::domain::FieldErrorCode;
use crate::domain::text::{self, NAME_MAX, PASSWORD_MAX};
use crate::domain::{PersonId, Role};

/// The longest a one-time code can be, as typed (with separators).
pub const CODE_MAX: usize = 64;

/// A one-time code, shown once to the staff member who asked for it, to give the person by hand.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OneTimeCodeView {
    /// e.g. `K7QD-2M9X-PB4T-WZ8H`; case, spaces and dashes do not matter when typed.
    pub code: String,
    pub expires_at: DateTime<Utc>,
}

debug_without_secrets!(OneTimeCodeView, expires_at);

/// Admin: invite someone who is not a person on a caseload (a carer, a worker, an admin).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateInvitationRequest {
    /// Not `service_user`: a person is invited from their record
    /// (`POST /v1/people/{id}/invitation`).
    pub role: Role,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 120))]
    pub display_name: String,
}

impl Validate for CreateInvitationRequest {
    fn field_errors(&self) -> Vec<FieldError> {
        let role = match self.role {
            Role::ServiceUser => Err(FieldError::new(
                "role",
                FieldErrorCode::InviteFromThePersonRecord,
            )),
            Role::Carer | Role::PeerWorker | Role::Practitioner | Role::Admin => Ok(()),
        };
        collect_errors([text::check_name("display_name", &self.display_name), role])
    }
}

/// First sign-in: the invited person chooses their username and password.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitationRequest {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64))]
    pub code: String,
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 3, max_length = 64, pattern = "^[a-z0-9._-]+$")
    )]
    pub username: String,
    #[cfg_attr(feature = "openapi", schema(min_length = 12, max_length = 1024))]
    pub password: String,
}

debug_without_secrets!(AcceptInvitationRequest);

impl Validate for AcceptInvitationRequest {
    fn field_errors(&self) -> Vec<FieldError> {
        collect_errors([
            text::check_required_text("code", &self.code, CODE_MAX),
            text::check_username("username", &self.username),
            text::check_new_password("password", &self.password),
        ])
    }
}

/// Change one's own password; the current one proves it is the account's owner.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 1024))]
    pub current_password: String,
    #[cfg_attr(feature = "openapi", schema(min_length = 12, max_length = 1024))]
    pub new_password: String,
}

debug_without_secrets!(ChangePasswordRequest);

impl Validate for ChangePasswordRequest {
    fn field_errors(&self) -> Vec<FieldError> {
        collect_errors([
            text::check_required_text("current_password", &self.current_password, PASSWORD_MAX),
            text::check_new_password("new_password", &self.new_password),
        ])
    }
}

/// Set a new password with the one-time code an admin made for the account.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordRequest {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 120))]
    pub username: String,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64))]
    pub code: String,
    #[cfg_attr(feature = "openapi", schema(min_length = 12, max_length = 1024))]
    pub new_password: String,
}

debug_without_secrets!(ResetPasswordRequest);

impl Validate for ResetPasswordRequest {
    fn field_errors(&self) -> Vec<FieldError> {
        collect_errors([
            text::check_required_text("username", &self.username, NAME_MAX),
            text::check_required_text("code", &self.code, CODE_MAX),
            text::check_new_password("new_password", &self.new_password),
        ])
    }
}

/// An invitation as staff see it after making it: the code, once.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InvitationView {
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_id: Option<PersonId>,
    /// To give the person by hand; single use, and only a hash of it is kept.
    pub code: String,
    pub expires_at: DateTime<Utc>,
}

debug_without_secrets!(InvitationView, role, person_id, expires_at);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_codes_or_passwords() {
        let accept = AcceptInvitationRequest {
            code: "K7QD-2M9X-PB4T-WZ8H".into(),
            username: "nova".into(),
            password: "a long secret phrase".into(),
        };
        let view = OneTimeCodeView {
            code: "K7QD-2M9X-PB4T-WZ8H".into(),
            expires_at: Utc::now(),
        };
        let shown = format!("{accept:?} {view:?}");
        assert!(
            !shown.contains("K7QD") && !shown.contains("secret phrase"),
            "{shown}"
        );
    }
}
