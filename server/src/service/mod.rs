//! Services: every write and the work that is not one request's own — background jobs, the
//! message writer, push notifications — each owned by one service per domain.
//!
//! Layers point one way: `http` → `service` → [`crate::store`]. Handlers decide access (the
//! extractors in `http::access`), call a service for every write, and may read through the
//! store's queries to shape views; services own each write's transaction, the events that tell
//! who hears of it and the announcement after the commit, and know nothing of HTTP (no
//! `AppState`, no `ApiError`): they answer [`ServiceError`], which the handlers map. Every
//! service and its background tasks are started once, by `AppState::new`, and its periodic
//! jobs end when the application's shutdown token is cancelled.

use livingwell_core::domain::{FieldError, FieldErrorCode};

use crate::auth::passwords::PasswordError;
use crate::auth::tokens::TokenError;
use crate::store::StoreError;

pub mod accounts;
pub mod appointments;
pub mod idempotency;
pub mod messaging;
pub mod offline_reads;
pub mod people;
pub mod plans;
pub mod push;
pub mod referrals;
pub mod reports;
pub mod sessions;
pub mod sync;
pub mod webhooks;

/// Why a service did not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Fields that break a rule; nothing was stored.
    #[error("invalid request")]
    Invalid(Vec<FieldError>),
    /// The request conflicts with what is stored now; nothing was stored.
    #[error("conflict with what is stored")]
    Conflict(Vec<FieldError>),
    /// What the request names does not exist.
    #[error("not found")]
    NotFound,
    /// A password could not be hashed or checked; nothing was stored.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// A writer the service needs is not running (the process is shutting down); nothing
    /// was stored.
    #[error("unavailable")]
    Unavailable,
    /// A token could not be signed; nothing was issued.
    #[error(transparent)]
    Token(#[from] TokenError),
}

impl ServiceError {
    pub fn invalid(field: &str, code: FieldErrorCode) -> Self {
        Self::Invalid(vec![FieldError::new(field, code)])
    }

    pub fn conflict(field: &str, code: FieldErrorCode) -> Self {
        Self::Conflict(vec![FieldError::new(field, code)])
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;
