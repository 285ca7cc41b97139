//! `Idempotency-Key` on every write: the same write sent again has one effect and gets the
//! first answer (the rules are in [`crate::service::idempotency`]).
//!
//! - Applies to POST, PUT, PATCH and DELETE with the header, from a signed-in caller. Sign-in,
//!   refresh and the other `/v1/auth/…` and `/oauth/…` exchanges keep their own replay rules
//!   (their answers hold tokens, which are never kept), so the header is ignored there.
//! - A key is 1–255 visible ASCII characters (the apps send a UUID); anything else is 400.
//! - A replay gives the kept status, `Content-Type`, `ETag` and body, marked
//!   `Idempotent-Replayed: true`. It decides no access and writes no audit entry: it discloses
//!   only what the same caller was answered for the same request.
//! - The same key with another request (method, path, `If-Match` or body) is 422 naming
//!   `idempotency-key`; while the first runs, 409 `idempotency_in_progress` with `Retry-After`.
//! - A claimed write runs to its end, and its answer is kept, even when the caller hangs up
//!   half-way: the retry gets the answer at once instead of waiting out the key's lease.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use livingwell_core::api::headers::{IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED};
use livingwell_core::domain::{FieldError, FieldErrorCode};

use super::error::ApiError;
use super::{AppState, BODY_LIMIT_BYTES};
use crate::auth::Caller;
use crate::service::idempotency::fingerprint;
use crate::store::idempotency::{Claim, REQUEST_KEY, RequestKey, StoredAnswer};

/// Longest key accepted.
const KEY_MAX: usize = 255;
/// Largest answer kept for a replay; write answers are a record's view, far smaller.
const ANSWER_MAX_BYTES: usize = 1024 * 1024;

/// The middleware: runs a keyed write once per key.
pub async fn keyed_writes(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if !request.headers().contains_key(IDEMPOTENCY_KEY) {
        return next.run(request).await;
    }
    // A keyed write runs to its end, claim to kept answer, even if the caller goes away: a
    // phone killed or cut off mid-request retries with the same key and must find the answer
    // kept — not a key held by a request dropped half-way, which it would have to wait out
    // for the whole lease.
    let idempotency = state.idempotency.clone();
    let run = idempotency.run_to_end(async move {
        match run_once(&state, request, next).await {
            Ok(response) => response,
            Err(error) => error.into_response(),
        }
    });
    run.await
        .unwrap_or_else(|_| ApiError::Internal("a keyed write stopped").into_response())
}

async fn run_once(state: &AppState, request: Request, next: Next) -> Result<Response, ApiError> {
    let Some(value) = request.headers().get(IDEMPOTENCY_KEY) else {
        return Ok(next.run(request).await);
    };
    if !takes_a_key(request.method(), request.uri().path()) {
        return Ok(next.run(request).await);
    }
    let key = value
        .to_str()
        .ok()
        .filter(|key| is_valid_key(key))
        .ok_or_else(|| {
            ApiError::BadRequest(vec![FieldError::new(
                IDEMPOTENCY_KEY,
                FieldErrorCode::Invalid,
            )])
        })?
        .to_owned();
    let (mut parts, body) = request.into_parts();
    let caller = match Caller::from_request_parts(&mut parts, state).await {
        Ok(caller) => caller,
        // Not signed in (a route open to all, or a 401 the handler gives): nothing is claimed.
        Err(ApiError::NoCredentials | ApiError::Unauthorized) => {
            return Ok(next.run(Request::from_parts(parts, body)).await);
        }
        // The caller could not be read (the database out of reach): the write must not run
        // without its key, or a retry would run it twice. The caller retries this answer.
        Err(error) => return Err(error),
    };
    let body = axum::body::to_bytes(body, BODY_LIMIT_BYTES)
        .await
        .map_err(|_| ApiError::PayloadTooLarge)?;
    let if_match = parts
        .headers
        .get(header::IF_MATCH)
        .map(HeaderValue::as_bytes)
        .unwrap_or_default();
    let path = parts
        .uri
        .path_and_query()
        .map_or(parts.uri.path(), |p| p.as_str());
    let fingerprint = fingerprint(parts.method.as_str(), path, if_match, &body);
    let audit_id = caller.audit_id();
    parts.extensions.insert(caller);
    let (claim, key) = state.idempotency.claim(audit_id, key, fingerprint).await?;
    match claim {
        Claim::Claimed => {}
        Claim::Answered(answer) => return Ok(replay(answer)),
        Claim::Running => return Err(ApiError::IdempotencyInProgress),
        Claim::OtherRequest => {
            return Err(ApiError::Invalid(vec![FieldError::new(
                IDEMPOTENCY_KEY,
                FieldErrorCode::Reused,
            )]));
        }
        Claim::AppliedWithoutAnswer => return Err(ApiError::IdempotencyAnswerLost),
    }
    let request = Request::from_parts(parts, Body::from(body));
    let response = REQUEST_KEY.scope(key.clone(), next.run(request)).await;
    keep(state, &key, response).await
}

/// Keeps the answer for replays, or lets the key go when the answer says "try again".
async fn keep(
    state: &AppState,
    key: &RequestKey,
    response: Response,
) -> Result<Response, ApiError> {
    if is_transient(response.status()) {
        if state.idempotency.release(key).await? {
            return Ok(response);
        }
        // A write of it took effect before the failure: it must not run again.
        let lost = ApiError::IdempotencyAnswerLost.into_response();
        let (parts, body) = lost.into_parts();
        let body = axum::body::to_bytes(body, ANSWER_MAX_BYTES)
            .await
            .map_err(|_| ApiError::Internal("an error body"))?;
        state
            .idempotency
            .answer(key, &answer_of(parts.status, &parts.headers, &body))
            .await?;
        return Ok(Response::from_parts(parts, Body::from(body)));
    }
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, ANSWER_MAX_BYTES)
        .await
        .map_err(|_| ApiError::Internal("an answer too large to keep"))?;
    if let Err(error) = state
        .idempotency
        .answer(key, &answer_of(parts.status, &parts.headers, &body))
        .await
    {
        // The write stands and its answer goes out; a retry finds the key applied, unanswered.
        tracing::warn!(kind = error.kind(), "an idempotent answer was not kept");
    }
    Ok(Response::from_parts(parts, Body::from(body)))
}

fn answer_of(status: StatusCode, headers: &axum::http::HeaderMap, body: &Bytes) -> StoredAnswer {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    StoredAnswer {
        status: status.as_u16(),
        content_type: text(header::CONTENT_TYPE),
        etag: text(header::ETAG),
        body: body.to_vec(),
    }
}

fn replay(answer: StoredAnswer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, answer.body).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, answer.content_type),
        (header::ETAG, answer.etag),
    ] {
        if let Some(value) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
            headers.insert(name, value);
        }
    }
    headers.insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    response
}

/// Writes outside the sign-in exchanges, and not answering a secret shown once.
fn takes_a_key(method: &Method, path: &str) -> bool {
    let shows_a_secret = *method == Method::POST && answers_a_secret(path);
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    ) && !path.starts_with("/v1/auth/")
        && !path.starts_with("/oauth/")
        && !shows_a_secret
}

/// Whether a POST to `path` (or its template) answers a secret shown once — a calendar feed's
/// URL, stored only hashed. Such an answer is never kept for a replay (that would store the
/// secret in clear); a retry simply makes a new feed, replacing the first.
pub(super) fn answers_a_secret(path: &str) -> bool {
    path.starts_with("/v1/people/") && path.ends_with("/calendar-feed")
}

fn is_valid_key(key: &str) -> bool {
    (1..=KEY_MAX).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

/// Answers that say "try again later", which a retry must be free to run anew.
fn is_transient(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::UNAUTHORIZED
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_visible_ascii_of_bounded_length() {
        assert!(is_valid_key("6f1c1f7e-3b9a-4c55-9f0e-6a1d2b3c4d5e"));
        assert!(!is_valid_key(""));
        assert!(!is_valid_key("with space"));
        assert!(!is_valid_key(&"k".repeat(KEY_MAX + 1)));
    }

    #[test]
    fn sign_in_exchanges_and_reads_take_no_key() {
        assert!(takes_a_key(&Method::POST, "/v1/people/x/consents"));
        assert!(takes_a_key(&Method::DELETE, "/v1/people/x/consents/y"));
        assert!(!takes_a_key(&Method::GET, "/v1/people/x"));
        assert!(!takes_a_key(&Method::POST, "/v1/auth/refresh"));
        assert!(!takes_a_key(&Method::POST, "/oauth/token"));
    }

    #[test]
    fn a_secret_shown_once_is_never_kept_for_a_replay() {
        assert!(!takes_a_key(&Method::POST, "/v1/people/x/calendar-feed"));
        assert!(answers_a_secret("/v1/people/{id}/calendar-feed"));
        // Turning the feed off answers nothing secret, so it is keyed like any write.
        assert!(takes_a_key(&Method::DELETE, "/v1/people/x/calendar-feed"));
        assert!(takes_a_key(&Method::POST, "/v1/people/x/appointments"));
    }
}
