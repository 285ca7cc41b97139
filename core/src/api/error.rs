//! The one error body every 4xx and 5xx answer carries.
//!
//! Messages are fixed, safe sentences: they never echo what was sent, so no plan text, name or
//! token can leak through an error.

use serde::{Deserialize, Serialize};

use crate::domain::StaffScope;

pub use crate::domain::field_error::{FieldError, FieldErrorCode};

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
    /// A staff system's token lacks the scope this needs, named in `required_scope`
    /// (RFC 6750 §3.1).
    InsufficientScope,
    NotFound,
    Conflict,
    /// A request with this `Idempotency-Key` is still running: retry after `Retry-After`.
    /// Transient, unlike `conflict`.
    IdempotencyInProgress,
    /// A request with this `Idempotency-Key` took effect, but its answer was lost (the server
    /// stopped): do not send it again; read (or sync) to see the result.
    IdempotencyAnswerLost,
    Invalid,
    /// The sync cursor is unknown or too old (`410`): drop the synced copy, keep unsent
    /// writes, and sync again from the start.
    Resync,
    RateLimited,
    PayloadTooLarge,
    UnsupportedMediaType,
    Unavailable,
    /// The server's storage is full (`503`): nothing was written — and a read was not shown,
    /// since its audit entry could not be kept. Try again after `Retry-After`, once there is
    /// room again; the server needs no restart.
    StorageFull,
    Internal,
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
    /// On `insufficient_scope`: the scope the client needs for this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_scope: Option<StaffScope>,
}
