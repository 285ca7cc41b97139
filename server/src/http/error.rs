//! The one mapping from failures to HTTP answers.
//!
//! Every failure leaves as the shared [`ErrorBody`]. Messages are fixed sentences: nothing a
//! caller sent, no SQL, no paths and no health data. Internal failures are logged by kind only.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use livingwell_core::api::{ErrorBody, ErrorCode, FieldError};
use livingwell_core::domain::{FieldErrorCode, StaffScope};

use crate::audit::AuditUnavailableError;
use crate::auth::passwords::PasswordError;
use crate::auth::tokens::TokenError;
use crate::policy::Denial;
use crate::service::ServiceError;
use crate::store::StoreError;

/// How long a client is asked to wait when the database is busy or out of reach for a moment.
pub const RETRY_AFTER_UNAVAILABLE: Duration = Duration::from_secs(1);
/// Room is made by an operator, not in a second: retries come slowly meanwhile.
const RETRY_AFTER_STORAGE_FULL: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("bad request")]
    BadRequest(Vec<FieldError>),
    /// The request carried no credentials at all.
    #[error("no credentials")]
    NoCredentials,
    /// Credentials were given and not accepted: a bad, expired or revoked token, or a failed
    /// sign-in.
    #[error("unauthorized")]
    Unauthorized,
    /// The caller is signed in, but this needs the password entered within the last
    /// `max_age` seconds (RFC 9470).
    #[error("step-up required")]
    StepUpRequired { max_age: i64 },
    #[error("forbidden")]
    Forbidden,
    /// A staff system whose token lacks the scope this needs.
    #[error("insufficient scope")]
    InsufficientScope(StaffScope),
    /// The right password for an account an administrator has turned off.
    #[error("account disabled")]
    AccountDisabled,
    #[error("not found")]
    NotFound,
    #[error("conflict")]
    Conflict(Vec<FieldError>),
    /// A request with the same `Idempotency-Key` is running now.
    #[error("idempotency key in use")]
    IdempotencyInProgress,
    /// A request with the same `Idempotency-Key` took effect, but its answer was lost.
    #[error("idempotent answer lost")]
    IdempotencyAnswerLost,
    /// A write based on an old version; carries the version now stored.
    #[error("stale version")]
    StaleVersion(i64),
    #[error("invalid")]
    Invalid(Vec<FieldError>),
    /// The sync cursor is unknown or too old: the phone must start again.
    #[error("resync")]
    Resync,
    #[error("rate limited")]
    RateLimited(Duration),
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("unavailable")]
    Unavailable,
    /// Not ready to serve (readiness): says what is wrong, in words fit for an operator.
    #[error("not ready")]
    NotReady(&'static str),
    /// Unavailable for a moment (the database is busy or out of reach): retry after the wait.
    #[error("unavailable for now")]
    RetryLater(Duration),
    /// The database's storage is full: nothing was written, and no read served unaudited.
    #[error("storage full")]
    StorageFull,
    #[error("internal: {0}")]
    Internal(&'static str),
}

impl ApiError {
    pub fn invalid(field: &str, code: FieldErrorCode) -> Self {
        ApiError::Invalid(vec![FieldError::new(field, code)])
    }

    fn parts(&self) -> (StatusCode, ErrorCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (
                StatusCode::BAD_REQUEST,
                ErrorCode::BadRequest,
                "The request could not be read.",
            ),
            ApiError::NoCredentials | ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                ErrorCode::Unauthorized,
                "Sign-in is needed, or the credentials were not accepted.",
            ),
            ApiError::StepUpRequired { .. } => (
                StatusCode::UNAUTHORIZED,
                ErrorCode::StepUpRequired,
                "Please enter your password again to do this.",
            ),
            ApiError::Forbidden => (
                StatusCode::FORBIDDEN,
                ErrorCode::Forbidden,
                "You may not do this.",
            ),
            ApiError::InsufficientScope(_) => (
                StatusCode::FORBIDDEN,
                ErrorCode::InsufficientScope,
                "This client was not given the scope this needs (see required_scope).",
            ),
            ApiError::AccountDisabled => (
                StatusCode::FORBIDDEN,
                ErrorCode::AccountDisabled,
                "This account has been turned off. Please contact your team.",
            ),
            ApiError::NotFound => (
                StatusCode::NOT_FOUND,
                ErrorCode::NotFound,
                "Nothing is here.",
            ),
            ApiError::StaleVersion(_) => (
                StatusCode::CONFLICT,
                ErrorCode::Conflict,
                "Someone changed this since you opened it. Nothing was saved; reopen the current version.",
            ),
            ApiError::Conflict(_) => (
                StatusCode::CONFLICT,
                ErrorCode::Conflict,
                "This conflicts with what is already stored.",
            ),
            ApiError::IdempotencyInProgress => (
                StatusCode::CONFLICT,
                ErrorCode::IdempotencyInProgress,
                "This request is still being handled. Please try again shortly.",
            ),
            ApiError::IdempotencyAnswerLost => (
                StatusCode::CONFLICT,
                ErrorCode::IdempotencyAnswerLost,
                "This request was saved, but its answer was lost. Do not send it again; refresh to see it.",
            ),
            ApiError::Invalid(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::Invalid,
                "Some fields are not valid.",
            ),
            ApiError::Resync => (
                StatusCode::GONE,
                ErrorCode::Resync,
                "This sync cursor is no longer known. Sync again from the start.",
            ),
            ApiError::RateLimited(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::RateLimited,
                "Too many attempts. Please wait and try again.",
            ),
            ApiError::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::PayloadTooLarge,
                "The request body is too large.",
            ),
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
                "The request body must be JSON (Content-Type: application/json).",
            ),
            ApiError::Unavailable | ApiError::RetryLater(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
                "The service cannot answer safely right now. Please try again.",
            ),
            ApiError::StorageFull => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::StorageFull,
                "The service has no room to store this right now; nothing was changed. Please try again later.",
            ),
            ApiError::NotReady(why) => {
                (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Unavailable, why)
            }
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::Internal,
                "Something went wrong on our side.",
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.parts();
        let fields = match &self {
            ApiError::BadRequest(fields)
            | ApiError::Conflict(fields)
            | ApiError::Invalid(fields) => fields.clone(),
            ApiError::StaleVersion(_) => {
                vec![FieldError::new("base_version", FieldErrorCode::Stale)]
            }
            _ => Vec::new(),
        };
        let current_version = match &self {
            ApiError::StaleVersion(version) => Some(*version),
            _ => None,
        };
        if let ApiError::Internal(what) = &self {
            tracing::error!(what, "internal error");
        }
        let body = ErrorBody {
            code,
            message: message.to_owned(),
            fields,
            current_version,
            required_scope: match &self {
                ApiError::InsufficientScope(scope) => Some(*scope),
                _ => None,
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        match self {
            // RFC 6750 §3.1: no error code when the request had no credentials at all.
            ApiError::NoCredentials => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"livingwell\""),
                );
            }
            ApiError::Unauthorized => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(
                        "Bearer realm=\"livingwell\", error=\"invalid_token\"",
                    ),
                );
            }
            // RFC 9470: the token is fine; a more recent authentication is what is missing.
            ApiError::StepUpRequired { max_age } => {
                let challenge = format!(
                    "Bearer realm=\"livingwell\", error=\"insufficient_user_authentication\", \
                     max_age={max_age}"
                );
                if let Ok(value) = HeaderValue::from_str(&challenge) {
                    headers.insert(header::WWW_AUTHENTICATE, value);
                }
            }
            ApiError::InsufficientScope(scope) => {
                let challenge = format!(
                    "Bearer realm=\"livingwell\", error=\"insufficient_scope\", scope=\"{}\"",
                    scope.as_str()
                );
                if let Ok(value) = HeaderValue::from_str(&challenge) {
                    headers.insert(header::WWW_AUTHENTICATE, value);
                }
            }
            ApiError::IdempotencyInProgress => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(1));
            }
            ApiError::StorageFull => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(RETRY_AFTER_STORAGE_FULL.as_secs()),
                );
            }
            ApiError::RateLimited(wait) | ApiError::RetryLater(wait) => {
                let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
            }
            _ => {}
        }
        response
    }
}

/// The policy's refusals: 404 where the record is not to be revealed, 403 where it is.
impl From<Denial> for ApiError {
    fn from(denial: Denial) -> Self {
        match denial {
            Denial::NotFound => ApiError::NotFound,
            Denial::Forbidden => ApiError::Forbidden,
            Denial::MissingScope(scope) => ApiError::InsufficientScope(scope),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(rule) => {
                ApiError::Conflict(vec![FieldError::new(rule.field, rule.code)])
            }
            StoreError::MissingReference => ApiError::invalid("id", FieldErrorCode::NotFound),
            StoreError::Unavailable(_) => {
                tracing::error!(kind = error.kind(), "database unavailable");
                ApiError::RetryLater(RETRY_AFTER_UNAVAILABLE)
            }
            StoreError::StorageFull => {
                tracing::error!("the database's storage is full; nothing was written");
                ApiError::StorageFull
            }
            StoreError::Database(_) => {
                tracing::error!(kind = error.kind(), "database error");
                ApiError::Unavailable
            }
            StoreError::Corrupt(_) | StoreError::Migrate(_) => ApiError::Internal("stored data"),
        }
    }
}

/// A service's refusals keep their fields; its store errors are answered as any store error.
impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::Store(error) => error.into(),
            ServiceError::Invalid(fields) => ApiError::Invalid(fields),
            ServiceError::Conflict(fields) => ApiError::Conflict(fields),
            ServiceError::NotFound => ApiError::NotFound,
            ServiceError::Password(error) => error.into(),
            ServiceError::Token(error) => error.into(),
            ServiceError::Unavailable => ApiError::Unavailable,
        }
    }
}

impl From<AuditUnavailableError> for ApiError {
    fn from(error: AuditUnavailableError) -> Self {
        if error.storage_full {
            ApiError::StorageFull
        } else {
            ApiError::Unavailable
        }
    }
}

impl From<TokenError> for ApiError {
    fn from(error: TokenError) -> Self {
        match error {
            TokenError::Invalid => ApiError::Unauthorized,
            TokenError::Signing => ApiError::Internal("token signing"),
        }
    }
}

impl From<PasswordError> for ApiError {
    fn from(_: PasswordError) -> Self {
        ApiError::Internal("password hashing")
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::store::{UNIQUE_CONSTRAINTS, UNLISTED};

    fn answer(error: StoreError) -> (StatusCode, Option<String>, ErrorBody) {
        let response = ApiError::from(error).into_response();
        let status = response.status();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = read_body(response);
        (status, retry_after, body)
    }

    fn read_body(response: Response) -> ErrorBody {
        let bytes = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(axum::body::to_bytes(response.into_body(), usize::MAX))
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn a_listed_rule_names_its_field_and_an_unlisted_one_the_request() {
        let username = UNIQUE_CONSTRAINTS
            .iter()
            .find(|c| c.postgres == "users_username_key")
            .unwrap();
        let (status, retry_after, body) = answer(StoreError::Conflict(username));
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(retry_after, None);
        assert_eq!(
            body.fields,
            [FieldError::new("username", FieldErrorCode::Taken)]
        );

        let (status, _, body) = answer(StoreError::Conflict(&UNLISTED));
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(
            body.fields,
            [FieldError::new("request", FieldErrorCode::Conflict)]
        );
    }

    #[test]
    fn a_database_out_of_reach_for_now_asks_for_a_retry_and_other_failures_do_not() {
        let (status, retry_after, body) = answer(StoreError::from(sqlx::Error::PoolTimedOut));
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(retry_after.as_deref(), Some("1"));
        assert_eq!(body.code, ErrorCode::Unavailable);

        let (status, retry_after, _) = answer(StoreError::from(sqlx::Error::RowNotFound));
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(retry_after, None);

        let (status, _, body) = answer(StoreError::from(sqlx::Error::Protocol(
            "users.username = 'sam'".into(),
        )));
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(!body.message.contains("sam"));
    }
}
