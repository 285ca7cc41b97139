//! Staff-system clients, as admins manage them: registered with the scopes they may ask for,
//! given a secret shown once, rotated with an overlap, disabled at once.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{FieldError, Validate, collect_errors};
use crate::domain::text;
use crate::domain::{FieldErrorCode, StaffScope};

/// The longest overlap a rotation may give the previous secret: a week.
pub const MAX_OVERLAP_HOURS: u32 = 7 * 24;
/// The overlap when the admin names none: a day to deploy the new secret.
pub const DEFAULT_OVERLAP_HOURS: u32 = 24;

/// Register a staff system.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateClientRequest {
    /// What the system is, as admins will recognise it ("Rio case management").
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 120))]
    pub name: String,
    /// What its tokens may ask for; at least one.
    pub scopes: BTreeSet<StaffScope>,
    /// Its own budget of requests a minute (a burst of as many, then one every `60 s / n`);
    /// absent: the deployment's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 60000))]
    pub requests_per_minute: Option<u32>,
}

/// The largest budget an admin may give one client: a thousand requests a second.
pub const MAX_REQUESTS_PER_MINUTE: u32 = 60_000;

impl Validate for CreateClientRequest {
    fn field_errors(&self) -> Vec<FieldError> {
        let mut errors = collect_errors([text::check_name("name", &self.name)]);
        if self.scopes.is_empty() {
            errors.push(FieldError::new("scopes", FieldErrorCode::Required));
        }
        if self
            .requests_per_minute
            .is_some_and(|n| n == 0 || n > MAX_REQUESTS_PER_MINUTE)
        {
            errors.push(FieldError::new(
                "requests_per_minute",
                FieldErrorCode::OutOfRange,
            ));
        }
        errors
    }
}

/// Give a client a new secret; the current one keeps working for `overlap_hours` (0: stops
/// now, as after a leak).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RotateSecretRequest {
    /// At most 168; 24 when absent.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(maximum = 168))]
    pub overlap_hours: Option<u32>,
}

impl Validate for RotateSecretRequest {
    fn field_errors(&self) -> Vec<FieldError> {
        match self.overlap_hours {
            Some(hours) if hours > MAX_OVERLAP_HOURS => {
                vec![FieldError::new("overlap_hours", FieldErrorCode::OutOfRange)]
            }
            _ => Vec::new(),
        }
    }
}

/// A staff system as admins see it (never its secret).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientView {
    pub client_id: String,
    pub name: String,
    pub scopes: BTreeSet<StaffScope>,
    /// The requests a minute it may make: its own budget, or the deployment's default.
    pub requests_per_minute: u32,
    pub created_at: DateTime<Utc>,
    /// Set once disabled: its tokens and secrets are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<DateTime<Utc>>,
    /// After a rotation: until when the previous secret still works.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret_until: Option<DateTime<Utc>>,
}

/// A client with its new secret: the only time the secret is shown. Keep it in the system's
/// secret store; it cannot be read again, only replaced.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientSecretView {
    pub client: ClientView,
    pub client_secret: String,
}

debug_without_secrets!(ClientSecretView, client);

/// Every registered staff system.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientList {
    pub clients: Vec<ClientView>,
}
