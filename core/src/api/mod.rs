//! Wire types: the bodies the server answers with and the client sends.
//!
//! Request types refuse unknown fields, so a misspelt field is an error rather than silently
//! ignored, and each implements [`Validate`] so the same field rules hold on both sides.

/// `Debug` that shows only the named fields, for bodies that carry passwords, tokens or
/// names: such a value can then be logged or put in a panic message without leaking them.
macro_rules! debug_without_secrets {
    ($type:ident $(, $field:ident)*) => {
        impl std::fmt::Debug for $type {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($type))
                    $(.field(stringify!($field), &self.$field))*
                    .finish_non_exhaustive()
            }
        }
    };
}

pub mod accounts;
pub mod appointments;
pub mod audit;
pub mod auth;
pub mod caseload;
pub mod clients;
pub mod devices;
pub mod error;
pub mod events;
pub mod headers;
pub mod messages;
pub mod paging;
pub mod people;
pub mod plans;
pub mod referrals;
pub mod reports;
pub mod routes;
pub mod sync;
pub mod webhooks;

pub use error::{ErrorBody, ErrorCode, FieldError, FieldErrorCode};

/// Field-level checks of a request body, shared by the server (which enforces them) and the
/// client (which can tell the person before sending).
pub trait Validate {
    /// Every problem found, each naming its field. Empty when the request is valid.
    fn field_errors(&self) -> Vec<FieldError>;
}

/// Runs checks and collects every failure, so a person sees all problems at once.
pub fn collect_errors<const N: usize>(checks: [Result<(), FieldError>; N]) -> Vec<FieldError> {
    checks.into_iter().filter_map(Result::err).collect()
}
