//! The person's secret calendar feed: a URL a calendar app subscribes to without any header.
//!
//! Policy:
//! - **Only the person** makes, resets or turns off their feed (`POST`/`DELETE
//!   /v1/people/{id}/calendar-feed`, decided by [`policy::decide_owner_only`] and audited like
//!   any request about their record). Making one again replaces it: the old URL is 404 at once.
//! - **The secret is the credential.** 256 random bits, base64url, answered once as part of the
//!   path `/v1/calendar-feeds/lwc_<secret>.ics`. Only its SHA-256 is stored, so a database dump
//!   reveals no feed; a fetch hashes what it is given and looks the hash up by its unique index
//!   (no scan, and nothing compared byte by byte in Rust). An unknown or replaced secret is a
//!   plain 404 that says nothing more. The answer to the `POST` is never kept for an
//!   idempotent replay (see [`crate::http::idempotency`]), since a kept answer would be the
//!   secret in clear in the database.
//! - **Always discreet.** Whoever holds the URL sees the discreet feed only (titles say where,
//!   never why), whatever they ask: the URL may leak through a shared calendar.
//! - **Seen by the person.** Each fetch is recorded in the person's access log as their own
//!   read, `via: calendar_feed`, so they can see when their calendar app read it.
//! - **Never logged.** The request log shows the route template, not the secret
//!   ([`loggable_path`]); the answer asks not to be cached or to pass on a referrer.

use std::borrow::Cow;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use livingwell_core::api::ErrorBody;
use livingwell_core::api::appointments::{CalendarDetail, CalendarFeedLink, CalendarFeedQuery};
use livingwell_core::api::people::ReadVia;
use livingwell_core::domain::{PersonId, Role};
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::person::feed_response;
use crate::http::AppState;
use crate::http::access::Authorized;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{Path, RequestId};
use crate::policy::{self, Action, Grounds, Resource, action, resource};
use crate::store::NewAuditEntry;

/// Where the secret feeds are served; the segment after it is `lwc_<secret>.ics`.
const FEEDS_PREFIX: &str = "/v1/calendar-feeds/";
/// Marks the secret as ours, so secret scanners and people can tell what a leaked one is.
const SECRET_PREFIX: &str = "lwc_";
const SUFFIX: &str = ".ics";

/// A new secret and the hash to store.
fn new_secret() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret = format!("{SECRET_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = digest(&secret);
    (secret, hash)
}

/// The stored form of a secret.
fn digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// The request path as the request log may show it: a secret feed's path becomes its route
/// template, since the path itself is the credential.
pub fn loggable_path(path: &str) -> Cow<'_, str> {
    if path.starts_with(FEEDS_PREFIX) {
        Cow::Owned(format!("{FEEDS_PREFIX}{{feed}}"))
    } else {
        Cow::Borrowed(path)
    }
}

/// The person: make (or reset) their secret calendar feed. The URL is answered once; any
/// earlier one stops working at once.
#[utoipa::path(post, path = "/v1/people/{id}/calendar-feed", tag = "appointments",
    security(("bearer" = [])), params(("id" = PersonId, Path)),
    responses((status = 201, body = CalendarFeedLink, description = "The feed's path, shown this once"),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn reset_calendar_feed(
    State(state): State<AppState>,
    Authorized { access, .. }: Authorized<resource::Appointments, action::Read>,
) -> ApiResult<(
    StatusCode,
    [(header::HeaderName, HeaderValue); 1],
    axum::Json<CalendarFeedLink>,
)> {
    policy::decide_owner_only(access.grounds)?;
    let (secret, hash) = new_secret();
    state
        .store
        .set_calendar_feed(access.person, &hash, state.clock.now())
        .await?;
    Ok((
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        axum::Json(CalendarFeedLink {
            path: format!("{FEEDS_PREFIX}{secret}{SUFFIX}"),
        }),
    ))
}

/// The person: turn their secret calendar feed off; its URL is 404 from now on.
#[utoipa::path(delete, path = "/v1/people/{id}/calendar-feed", tag = "appointments",
    security(("bearer" = [])), params(("id" = PersonId, Path)),
    responses((status = 204, description = "No secret feed any more"),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn remove_calendar_feed(
    State(state): State<AppState>,
    Authorized { access, .. }: Authorized<resource::Appointments, action::Read>,
) -> ApiResult<StatusCode> {
    policy::decide_owner_only(access.grounds)?;
    state.store.remove_calendar_feed(access.person).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A calendar app's subscription: the person's appointments as a discreet iCalendar feed,
/// with no header — the secret in the path is the credential. From 30 days ago to 13 months
/// ahead.
#[utoipa::path(get, path = "/v1/calendar-feeds/{feed}", tag = "appointments",
    params(("feed" = String, Path, description = "The secret followed by `.ics`, as answered when the feed was made")),
    responses((status = 200, description = "A discreet iCalendar feed", content_type = "text/calendar", body = String,
                headers(("referrer-policy" = String, description = "`no-referrer`"))),
              (status = 404, body = ErrorBody, description = "No such feed: never made, reset or turned off")))]
pub(super) async fn subscribed_calendar_feed(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    Path(feed): Path<String>,
) -> ApiResult<Response> {
    let secret = feed.strip_suffix(SUFFIX).ok_or(ApiError::NotFound)?;
    let person = state
        .store
        .calendar_feed_person(&digest(secret))
        .await?
        .ok_or(ApiError::NotFound)?;
    // Only the person makes a feed, so they have an account; without one (since removed) the
    // feed has no owner to show the read to, and is served to no one. An account an admin has
    // turned off ends its feed too, as it ends its sessions; turned on again, the same URL
    // works again.
    let account = state
        .store
        .account_of_person(person)
        .await?
        .ok_or(ApiError::NotFound)?;
    if state.store.is_disabled(account).await? {
        return Err(ApiError::NotFound);
    }
    state
        .audit
        .record(NewAuditEntry {
            at: state.clock.now(),
            actor_id: Some(account.to_string()),
            actor_role: Role::ServiceUser.as_str().to_owned(),
            on_behalf_of: None,
            subject_id: Some(person),
            resource: Resource::Appointments.as_str().to_owned(),
            action: Action::Read.as_str().to_owned(),
            outcome: "allowed".to_owned(),
            relationship: Some(Grounds::OwnRecord.as_str().to_owned()),
            request_id: Some(request_id),
            via: Some(ReadVia::CalendarFeed.to_string()),
            read_at: None,
        })
        .await?;
    let mut response = feed_response(
        &state,
        person,
        None,
        CalendarDetail::Discreet,
        &CalendarFeedQuery::default(),
    )
    .await?;
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // A link followed from a calendar entry must not carry the feed's URL to another site.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_never_shows_a_feeds_secret() {
        let (secret, _) = new_secret();
        let path = format!("{FEEDS_PREFIX}{secret}{SUFFIX}");
        let logged = loggable_path(&path);
        assert_eq!(logged, "/v1/calendar-feeds/{feed}");
        assert!(!logged.contains(&secret));
        assert_eq!(
            loggable_path("/v1/people/p1/appointments.ics"),
            "/v1/people/p1/appointments.ics"
        );
    }

    #[test]
    fn secrets_are_256_random_bits_url_safe_and_stored_only_hashed() {
        let (one, hash) = new_secret();
        let (two, _) = new_secret();
        assert_ne!(one, two);
        let encoded = one.strip_prefix(SECRET_PREFIX).unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(encoded).unwrap().len(), 32);
        assert!(
            encoded
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(hash, digest(&one));
        assert_ne!(hash, one.as_bytes());
    }
}
