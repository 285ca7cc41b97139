//! One problem with one field: what the domain's rules report, and what an error body lists.
//!
//! It lives with the rules (a plan, a WRAP, a name, an appointment) that find the problems;
//! the wire types in `api` carry it as it is.

use serde::{Deserialize, Serialize};

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
