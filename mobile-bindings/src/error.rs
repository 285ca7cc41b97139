//! The one error the apps act on: the engine's public error, as an enum the UI can `when` over.
//! It carries codes, field paths, versions and seconds — never text from the server or the
//! person.

use livingwell_engine::{EngineError, PublicError};

/// A field the rules refused, and why (`required`, `too_long`, …).
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct FieldProblem {
    pub field: String,
    pub code: String,
}

/// What went wrong, as the app shows it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum ClientError {
    /// No signal, or the service is down: what was done is kept and sent later.
    #[error("offline")]
    Offline,
    /// The person must sign in again.
    #[error("the session has ended")]
    SessionExpired,
    /// The action needs the password entered again (`reauthenticate`), then a retry.
    #[error("enter the password again")]
    StepUpRequired,
    #[error("not allowed")]
    Forbidden,
    #[error("not found")]
    NotFound,
    /// It conflicts with what is stored; for a stale edit, the version stored now.
    #[error("conflict")]
    Conflict { current_version: Option<i64> },
    /// What the person entered breaks the rules: the fields to correct.
    #[error("invalid input")]
    Invalid { fields: Vec<FieldProblem> },
    /// Too many attempts: try again after this many seconds, if said.
    #[error("rate limited")]
    RateLimited { retry_after_secs: Option<u64> },
    /// Something on this device or in the service failed; nothing the person can correct.
    #[error("internal error")]
    Internal,
}

impl From<PublicError> for ClientError {
    fn from(error: PublicError) -> Self {
        match error {
            PublicError::Offline => ClientError::Offline,
            PublicError::SessionExpired => ClientError::SessionExpired,
            PublicError::StepUpRequired => ClientError::StepUpRequired,
            PublicError::Forbidden => ClientError::Forbidden,
            PublicError::NotFound => ClientError::NotFound,
            PublicError::Conflict { current_version } => ClientError::Conflict { current_version },
            PublicError::Invalid { fields } => ClientError::Invalid {
                fields: fields
                    .into_iter()
                    .map(|problem| FieldProblem {
                        field: problem.field,
                        code: serde_json::to_value(problem.code)
                            .ok()
                            .and_then(|code| code.as_str().map(str::to_owned))
                            .unwrap_or_default(),
                    })
                    .collect(),
            },
            PublicError::RateLimited { retry_after_secs } => {
                ClientError::RateLimited { retry_after_secs }
            }
            PublicError::Internal => ClientError::Internal,
        }
    }
}

impl From<EngineError> for ClientError {
    fn from(error: EngineError) -> Self {
        // The rich error may be logged by kind on the way (never its contents).
        tracing::debug!(class = ?error.class(), "an engine call failed");
        PublicError::from(&error).into()
    }
}

impl From<livingwell_engine::store::StoreError> for ClientError {
    fn from(error: livingwell_engine::store::StoreError) -> Self {
        EngineError::from(error).into()
    }
}

/// A platform callback failed unexpectedly (the app threw where it should not).
impl From<uniffi::UnexpectedUniFFICallbackError> for ClientError {
    fn from(_: uniffi::UnexpectedUniFFICallbackError) -> Self {
        ClientError::Internal
    }
}
