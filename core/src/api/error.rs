//! The one error body every 4xx and 5xx answer carries.
//!
//! Messages are fixed, safe sentences: they never echo what was sent, so no plan text, name or
//! token can leak through an error.

use serde::{Deserialize, Serialize};

/// A stable, machine-readable error class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    Unauthorized,
    /// The action needs a recent sign-in: `POST /v1/auth/reauthenticate`, then try again.
    StepUpRequired,
    /// The account has been turned off by an administrator.
    AccountDisabled,
    Forbidden,
    NotFound,
    Conflict,
    Invalid,
    RateLimited,
    PayloadTooLarge,
    UnsupportedMediaType,
    Unavailable,
    Internal,
}

/// One problem with one field of a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    /// The field's path in the request, e.g. `scopes[1]` or `display_name`.
    pub field: String,
    /// What is wrong, e.g. `required`, `too_long`, `contains_nul`, `unknown_field`.
    pub code: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code: code.into(),
        }
    }
}

/// `{code, message, fields}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    #[serde(default)]
    pub fields: Vec<FieldError>,
    /// On a `conflict` over a stale version: the version now stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_version: Option<i64>,
}
