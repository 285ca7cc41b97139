//! The engine's two tiers of error.
//!
//! [`EngineError`] is the rich internal error every part of the engine returns: it keeps what
//! the server answered (status, error code, fields, `Retry-After`) so the outbox can decide
//! whether to retry, and what failed locally. [`PublicError`] is the small error the app acts
//! on (show "offline", ask to sign in again, offer retry or edit); it is worked out from an
//! `EngineError` in one place, [`PublicError::from`], and so can never drift per call site.
//!
//! Neither carries health text: the server's error bodies hold fixed sentences and field
//! paths, never what was sent, and the public error keeps only codes, field paths, versions and
//! seconds — not even the server's sentence — so nothing a person wrote can reach a log, a
//! crash report or the UI's error strings through an error.

use std::time::Duration;

use livingwell_core::api::{ErrorCode, FieldError, FieldErrorCode};

use crate::api::{FailureClass, HttpFailure};
use crate::secrets::SecretError;
use crate::store::StoreError;

/// Everything that can go wrong inside the engine.
///
/// A new part of the engine (the store, say) adds one variant with its own error type and a
/// `#[from]`, and one arm in [`EngineError::class`] and in `From<&EngineError> for
/// PublicError`; the compiler lists both places, since neither match has a catch-all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The server could not be reached, or answered with an error.
    #[error(transparent)]
    Http(#[from] HttpFailure),
    /// No one is signed in on this device (never signed in, signed out, or the session ended).
    #[error("no one is signed in")]
    SignedOut,
    /// Signing in was refused: the username or the password is wrong (the server does not
    /// say which). Not a session that expired, though the server answers both with 401.
    #[error("the username or password was not accepted")]
    SignInRefused,
    /// The platform's secret storage failed.
    #[error(transparent)]
    Secrets(#[from] SecretError),
    /// The store on the device failed (damaged, the wrong key, a full disk).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Something the engine kept (the session secret, say) could not be read back.
    #[error("a kept value could not be read: {what}")]
    Decode {
        /// Which value, never its content.
        what: &'static str,
    },
    /// What the person entered breaks the shared rules (`livingwell_core::api::Validate`),
    /// found before anything was queued: the fields, by path and code.
    #[error("invalid input")]
    Invalid { fields: Vec<FieldError> },
    /// The write is no longer in the outbox: it went, or the person discarded it.
    #[error("that write is no longer waiting")]
    NotQueued,
    /// The front door's challenge was not solved in the time the phone allows (a server asking
    /// for far more work than its default): try again later with a new one.
    #[error("the referral challenge was not solved in time")]
    ChallengeUnsolved,
    /// The engine was set up wrongly (an unusable server address, say).
    #[error("the engine is set up wrongly: {reason}")]
    Config {
        /// What is wrong, without secrets.
        reason: String,
    },
}

impl EngineError {
    /// How the outbox should treat this failure (MOBILE.md §1): retry later, wait for a new
    /// sign-in, wait for the password, or stop the record's queue with a recorded reason.
    pub fn class(&self) -> FailureClass {
        match self {
            EngineError::Http(failure) => failure.class(),
            EngineError::SignedOut => FailureClass::SessionExpired,
            // A locked device can refuse the Keychain until it is unlocked: try again later
            // rather than stopping a queue for it.
            EngineError::Secrets(_) | EngineError::ChallengeUnsolved => {
                FailureClass::Transient { retry_after: None }
            }
            // The phone's own storage: sending again will not mend it.
            EngineError::Store(_) => FailureClass::Permanent,
            EngineError::SignInRefused
            | EngineError::Invalid { .. }
            | EngineError::NotQueued
            | EngineError::Decode { .. }
            | EngineError::Config { .. } => FailureClass::Permanent,
        }
    }

    /// The server's error body, when the server answered with one.
    pub fn error_body(&self) -> Option<&livingwell_core::api::ErrorBody> {
        match self {
            EngineError::Http(failure) => failure.error_body(),
            _ => None,
        }
    }
}

/// What the app can act on. Carries codes, field paths, versions and seconds only.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PublicError {
    /// The service could not be reached (no signal, or it is down): what was done is kept and
    /// sent later.
    #[error("offline")]
    Offline,
    /// The person must sign in again.
    #[error("the session has ended; sign in again")]
    SessionExpired,
    /// The action needs the password entered again (`reauthenticate`), then a retry.
    #[error("enter the password again to do this")]
    StepUpRequired,
    #[error("not allowed")]
    Forbidden,
    #[error("not found")]
    NotFound,
    /// It conflicts with what is stored; for a stale plan edit, the version now stored.
    #[error("conflict")]
    Conflict { current_version: Option<i64> },
    /// Fields the server (or the shared rules) refused, by path and code.
    #[error("invalid input")]
    Invalid { fields: Vec<FieldError> },
    /// Too many attempts (or the same request still running): try again after this long.
    #[error("rate limited")]
    RateLimited { retry_after_secs: Option<u64> },
    #[error("internal error")]
    Internal,
}

impl From<&EngineError> for PublicError {
    fn from(error: &EngineError) -> Self {
        match error {
            EngineError::Http(failure) => public_http(failure),
            EngineError::SignedOut => PublicError::SessionExpired,
            // Shown as a wrong password is shown on reauthentication (422, `password`
            // `incorrect`), so the app has one way to say it.
            EngineError::SignInRefused => PublicError::Invalid {
                fields: vec![FieldError::new("password", FieldErrorCode::Incorrect)],
            },
            EngineError::Invalid { fields } => PublicError::Invalid {
                fields: fields.clone(),
            },
            EngineError::NotQueued => PublicError::NotFound,
            // The server asked more work of the phone than it gives: "try again shortly".
            EngineError::ChallengeUnsolved => PublicError::RateLimited {
                retry_after_secs: None,
            },
            EngineError::Secrets(_)
            | EngineError::Store(_)
            | EngineError::Decode { .. }
            | EngineError::Config { .. } => PublicError::Internal,
        }
    }
}

impl From<EngineError> for PublicError {
    fn from(error: EngineError) -> Self {
        PublicError::from(&error)
    }
}

fn public_http(failure: &HttpFailure) -> PublicError {
    let (status, body, retry_after) = match failure {
        HttpFailure::Network { .. } => return PublicError::Offline,
        // A client that cannot be built is this build's fault, not the network's.
        HttpFailure::Undecodable { .. } | HttpFailure::Unencodable | HttpFailure::NoClient => {
            return PublicError::Internal;
        }
        HttpFailure::Status {
            status,
            body,
            retry_after,
        } => (*status, body.as_ref(), *retry_after),
    };
    let code = body.map(|body| body.code);
    let retry_after_secs = retry_after.as_ref().map(Duration::as_secs);
    match (status, code) {
        (401, Some(ErrorCode::StepUpRequired)) => PublicError::StepUpRequired,
        (401, _) => PublicError::SessionExpired,
        (403, _) => PublicError::Forbidden,
        (404, _) => PublicError::NotFound,
        // The same request is still running on the server: to the person, "try again shortly".
        (409, Some(ErrorCode::IdempotencyInProgress)) => {
            PublicError::RateLimited { retry_after_secs }
        }
        (409, _) => PublicError::Conflict {
            current_version: body.and_then(|body| body.current_version),
        },
        (400 | 413 | 422, _) => PublicError::Invalid {
            fields: body.map(|body| body.fields.clone()).unwrap_or_default(),
        },
        (429, _) => PublicError::RateLimited { retry_after_secs },
        // A gateway or a busy server is "cannot reach the service now" to the person; the
        // write stays queued either way.
        (408 | 502 | 503 | 504, _) => PublicError::Offline,
        // 410 (a sync cursor the server forgot) is handled by the sync engine itself; if it
        // ever reaches the app it is the engine's fault, as is any other status.
        _ => PublicError::Internal,
    }
}

#[cfg(test)]
mod tests {
    use livingwell_core::api::ErrorBody;

    use super::*;
    use crate::api::NetworkFailure;

    fn answered(status: u16, code: ErrorCode) -> EngineError {
        EngineError::Http(HttpFailure::Status {
            status,
            body: Some(ErrorBody {
                code,
                message: "A fixed sentence from the server.".into(),
                fields: vec![FieldError::new("title", FieldErrorCode::TooLong)],
                current_version: Some(7),
                required_scope: None,
            }),
            retry_after: Some(Duration::from_secs(3)),
        })
    }

    #[test]
    fn each_answer_reaches_the_app_as_what_it_can_act_on() {
        use PublicError as P;
        let cases = [
            (answered(401, ErrorCode::Unauthorized), P::SessionExpired),
            (answered(401, ErrorCode::StepUpRequired), P::StepUpRequired),
            (answered(403, ErrorCode::Forbidden), P::Forbidden),
            (answered(403, ErrorCode::AccountDisabled), P::Forbidden),
            (answered(404, ErrorCode::NotFound), P::NotFound),
            (
                answered(409, ErrorCode::Conflict),
                P::Conflict {
                    current_version: Some(7),
                },
            ),
            (
                answered(409, ErrorCode::IdempotencyInProgress),
                P::RateLimited {
                    retry_after_secs: Some(3),
                },
            ),
            (
                answered(422, ErrorCode::Invalid),
                P::Invalid {
                    fields: vec![FieldError::new("title", FieldErrorCode::TooLong)],
                },
            ),
            (
                answered(429, ErrorCode::RateLimited),
                P::RateLimited {
                    retry_after_secs: Some(3),
                },
            ),
            (answered(503, ErrorCode::Unavailable), P::Offline),
            (answered(500, ErrorCode::Internal), P::Internal),
            (answered(410, ErrorCode::Resync), P::Internal),
            (
                EngineError::Http(HttpFailure::Network {
                    kind: NetworkFailure::Connect,
                }),
                P::Offline,
            ),
            (EngineError::Http(HttpFailure::NoClient), P::Internal),
            (EngineError::SignedOut, P::SessionExpired),
            (
                EngineError::ChallengeUnsolved,
                P::RateLimited {
                    retry_after_secs: None,
                },
            ),
            (
                EngineError::SignInRefused,
                P::Invalid {
                    fields: vec![FieldError::new("password", FieldErrorCode::Incorrect)],
                },
            ),
            (
                EngineError::Invalid {
                    fields: vec![FieldError::new("body", FieldErrorCode::TooLong)],
                },
                P::Invalid {
                    fields: vec![FieldError::new("body", FieldErrorCode::TooLong)],
                },
            ),
            (EngineError::Decode { what: "session" }, P::Internal),
        ];
        for (engine, public) in cases {
            assert_eq!(PublicError::from(&engine), public, "{engine:?}");
        }
    }

    #[test]
    fn a_public_error_never_carries_the_servers_sentence() {
        let error = answered(422, ErrorCode::Invalid);
        let public = PublicError::from(&error);
        let shown = format!("{public:?} {public}");
        assert!(!shown.contains("fixed sentence"), "{shown}");
        assert!(shown.contains("title"), "field paths are kept: {shown}");
    }

    #[test]
    fn local_failures_are_classified_for_the_outbox() {
        assert_eq!(EngineError::SignedOut.class(), FailureClass::SessionExpired);
        assert_eq!(
            EngineError::Secrets(SecretError {
                reason: "locked".into()
            })
            .class(),
            FailureClass::Transient { retry_after: None }
        );
        assert_eq!(
            EngineError::Decode { what: "session" }.class(),
            FailureClass::Permanent
        );
    }
}
