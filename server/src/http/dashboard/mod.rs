//! The team performance dashboard: a page for practitioners in a browser, under `/reports`.
//!
//! Not part of the `/v1` API (nor of the OpenAPI document, like the docs page): HTML for people,
//! signed in the way a browser page should be.
//! - **Signing in**: a visit with no live sign-in gets 200 and a form (never a redirect); the
//!   form posts to [`SIGN_IN`], which checks the password as `/v1/auth/login` does (the same
//!   throttle per address and username, the same work for an unknown name), lets only
//!   practitioners in, and answers 303 back to the page with a cookie.
//! - **The cookie** holds an opaque random secret (`HttpOnly; SameSite=Strict; Path=/reports`,
//!   and `Secure` when the deployment's issuer is an https URL); only its SHA-256 is stored,
//!   naming an ordinary session ([`crate::store::browser_sessions`]). The session is read on
//!   every request, so signing out, a password reset or a disabled account end it at once; it
//!   lapses by itself after [`LIFETIME_HOURS`]. The cookie is not a bearer token: `/v1` never
//!   reads it, and this page never reads an `Authorization` header.
//! - **Writes** (sign-in, sign-out) are POSTs whose `Origin` must be this server's own (the
//!   issuer when it is an http(s) URL, otherwise the `Host` the browser used); SameSite=Strict
//!   keeps the cookie off cross-site requests besides.
//! - **What is shown**: the report of [`super::reports::build`] (which decides access and
//!   records the read), for a team of the caller's own or all of them; the default period is
//!   the last three full calendar months (Europe/London).
//! - Nothing here logs: the request log has the path only, never the query, a body or a cookie.

mod page;

use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Datelike, Months, NaiveDate};
use chrono_tz::Europe::London;
use livingwell_core::api::people::TeamView;
use livingwell_core::domain::{Role, TeamId};
use maud::Markup;
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::RequestId;
use crate::auth::{Caller, CallerUser, passwords};
use crate::store::SessionUser;
use crate::store::browser_sessions::NewBrowserSession;

/// The page.
pub const PAGE: &str = "/reports/performance.html";
/// Where the sign-in form posts.
pub const SIGN_IN: &str = "/reports/sign-in";
/// Where the sign-out button posts.
pub const SIGN_OUT: &str = "/reports/sign-out";
/// The cookie's name.
pub const COOKIE: &str = "lw_reports";
/// How long a browser sign-in lasts, however much it is used: a working day and then some.
pub const LIFETIME_HOURS: i64 = 12;
/// What the cookie's secret starts with, so a leaked one is recognisable for what it is.
const SECRET_PREFIX: &str = "lwb_";

/// The page needs nothing from anywhere: no scripts, fonts, images or fetches; forms post only
/// here; no one may frame it.
const POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
                      frame-ancestors 'none'; base-uri 'none'";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(PAGE, get(performance))
        .route(SIGN_IN, post(sign_in))
        .route(SIGN_OUT, post(sign_out))
}

/// An HTML answer with the page's headers.
fn html(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, Html(markup.into_string())).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POLICY),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

fn form(status: StatusCode, message: Option<&str>) -> Response {
    html(status, page::sign_in(message, ""))
}

/// 303 back to the page, setting (or clearing) the cookie.
fn back_to_page(cookie: &str) -> ApiResult<Response> {
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, PAGE)]).into_response();
    let cookie = HeaderValue::from_str(cookie).map_err(|_| ApiError::Internal("cookie"))?;
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

fn cookie_attributes(state: &AppState) -> &'static str {
    if state.keys.issuer().starts_with("https://") {
        "Path=/reports; HttpOnly; SameSite=Strict; Secure"
    } else {
        "Path=/reports; HttpOnly; SameSite=Strict"
    }
}

/// The cookie's secret, when the request carries one.
fn cookie_secret(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|value| value.starts_with(SECRET_PREFIX))
}

fn digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// The live sign-in the cookie names, if any.
async fn signed_in(state: &AppState, headers: &HeaderMap) -> ApiResult<Option<SessionUser>> {
    let Some(secret) = cookie_secret(headers) else {
        return Ok(None);
    };
    let Some((session, user)) = state
        .store
        .browser_session(&digest(secret), state.clock.now())
        .await?
    else {
        return Ok(None);
    };
    Ok(state.store.session_user(session, user).await?)
}

/// Whether a POST comes from a page of this server: its `Origin` must be this server's.
fn same_origin(state: &AppState, headers: &HeaderMap) -> bool {
    let own = super::meta::public_base(state.keys.issuer(), headers);
    headers
        .get(header::ORIGIN)
        .and_then(|origin| origin.to_str().ok())
        .is_some_and(|origin| origin == own)
}

#[derive(Deserialize)]
struct SignInForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

const NOT_ACCEPTED: &str = "That username and password did not work. Please try again.";
const PRACTITIONERS_ONLY: &str = "This page is for practitioners.";
const CROSS_ORIGIN: &str = "That request did not come from this page. Please try again.";

async fn sign_in(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    if !same_origin(&state, &headers) {
        return Ok(form(StatusCode::FORBIDDEN, Some(CROSS_ORIGIN)));
    }
    let Ok(request) = serde_urlencoded::from_bytes::<SignInForm>(&body) else {
        return Ok(form(StatusCode::BAD_REQUEST, Some(NOT_ACCEPTED)));
    };
    let username = request.username.trim().to_lowercase();
    if let Err(wait) = state.throttle.check(&username, peer.ip()) {
        let minutes = wait.as_secs().div_ceil(60).max(1);
        let message = format!(
            "Too many attempts. Please wait {minutes} minute{} and try again.",
            if minutes == 1 { "" } else { "s" }
        );
        let mut response = form(StatusCode::TOO_MANY_REQUESTS, Some(&message));
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(wait.as_secs().max(1)),
        );
        return Ok(response);
    }
    let user = state.store.user_by_username(&username).await?;
    let stored_hash = match &user {
        Some(user) => user.password_hash.clone(),
        None => state.dummy_password_hash.to_string(),
    };
    let password_matches = passwords::verify(request.password, stored_hash).await?;
    let user = match user {
        Some(user) if password_matches => user,
        _ => {
            return Ok(html(
                StatusCode::UNAUTHORIZED,
                page::sign_in(Some(NOT_ACCEPTED), &username),
            ));
        }
    };
    // Told only to someone who knows the password, and no more than that.
    if user.role != Role::Practitioner || state.store.is_disabled(user.id).await? {
        return Ok(form(StatusCode::FORBIDDEN, Some(PRACTITIONERS_ONLY)));
    }
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret = format!("{SECRET_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let now = state.clock.now();
    state
        .store
        .create_browser_session(&NewBrowserSession {
            secret_hash: digest(&secret),
            session_id: uuid::Uuid::now_v7(),
            user_id: user.id,
            session_secret: crate::auth::refresh::session_secret(),
            at: now,
            expires_at: now + chrono::Duration::hours(LIFETIME_HOURS),
        })
        .await?;
    back_to_page(&format!("{COOKIE}={secret}; {}", cookie_attributes(&state)))
}

async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    if !same_origin(&state, &headers) {
        return Ok(form(StatusCode::FORBIDDEN, Some(CROSS_ORIGIN)));
    }
    if let Some(found) = signed_in(&state, &headers).await? {
        state.sessions.end(found.session_id).await?;
    }
    back_to_page(&format!(
        "{COOKIE}=; {}; Max-Age=0",
        cookie_attributes(&state)
    ))
}

/// The period and team asked for, as given (each may be absent or empty).
#[derive(Debug, Default)]
struct Asked {
    from: Option<String>,
    to: Option<String>,
    team: Option<String>,
}

fn asked(uri: &Uri) -> Asked {
    let mut asked = Asked::default();
    for (name, value) in form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        let value = Some(value.trim().to_owned()).filter(|v| !v.is_empty());
        match name.as_ref() {
            "from" => asked.from = value,
            "to" => asked.to = value,
            "team" => asked.team = value,
            _ => {}
        }
    }
    asked
}

/// The last three full calendar months before `today`.
pub fn default_period(today: NaiveDate) -> (NaiveDate, NaiveDate) {
    let this_month = today.with_day(1).unwrap_or(today);
    let from = this_month
        .checked_sub_months(Months::new(3))
        .unwrap_or(this_month);
    let to = this_month.pred_opt().unwrap_or(this_month);
    (from, to)
}

async fn performance(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    headers: HeaderMap,
    uri: Uri,
) -> ApiResult<Response> {
    let Some(found) = signed_in(&state, &headers).await? else {
        return Ok(form(StatusCode::OK, None));
    };
    if found.user.role != Role::Practitioner {
        return Ok(form(StatusCode::OK, Some(PRACTITIONERS_ONLY)));
    }
    let teams: Vec<TeamView> = state
        .store
        .teams_of_user(found.user.id)
        .await?
        .iter()
        .map(super::sessions::team_view)
        .collect();
    let today = state.clock.now().with_timezone(&London).date_naive();
    let (default_from, default_to) = default_period(today);
    let asked = asked(&uri);
    let mut message = None;
    let date = |value: &Option<String>, default| match value {
        None => Some(default),
        Some(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d").ok(),
    };
    let (from, to) = match (date(&asked.from, default_from), date(&asked.to, default_to)) {
        (Some(from), Some(to)) if from <= to => (from, to),
        _ => {
            message = Some(
                "Those dates were not understood: the first must come before the last. Showing the last three full months.",
            );
            (default_from, default_to)
        }
    };
    let team = match asked.team.as_deref() {
        // A practitioner's report is of one team: with none named, their first.
        None => teams.first().map(|team| team.id),
        Some(text) => match text.parse::<TeamId>() {
            Ok(id) if teams.iter().any(|t| t.id == id) => Some(id),
            _ => {
                message = Some("You can see the reports of your own teams only.");
                None
            }
        },
    };
    let caller = Caller::User(CallerUser {
        id: found.user.id,
        role: found.user.role,
        person_id: found.user.person_id,
        session_id: found.session_id,
        authenticated_at: found.authenticated_at,
    });
    let report = if message.is_some() && asked.team.is_some() && team.is_none() {
        None
    } else {
        match super::reports::build(&state, &caller, &request_id, from, to, team).await {
            Ok(report) => Some(report),
            Err(ApiError::Forbidden | ApiError::NotFound) => {
                message = Some("That report is not yours to see.");
                None
            }
            Err(ApiError::Invalid(_) | ApiError::BadRequest(_)) => {
                message = Some("That period cannot be reported on. Try a shorter one.");
                None
            }
            Err(other) => return Err(other),
        }
    };
    Ok(html(
        StatusCode::OK,
        page::performance(&page::PageView {
            signed_in_as: &found.user.display_name,
            teams: &teams,
            team,
            from,
            to,
            message,
            report: report.as_ref(),
        }),
    ))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderMap;

    use super::*;

    #[test]
    fn the_default_period_is_the_last_three_full_months() {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(
            default_period(day(2026, 12, 3)),
            (day(2026, 9, 1), day(2026, 11, 30))
        );
        assert_eq!(
            default_period(day(2026, 1, 31)),
            (day(2025, 10, 1), day(2025, 12, 31))
        );
    }

    #[test]
    fn only_our_cookie_with_our_prefix_is_read() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::COOKIE, HeaderValue::from_str(value).unwrap());
            headers
        };
        assert_eq!(
            cookie_secret(&with("a=b; lw_reports=lwb_xyz; c=d")),
            Some("lwb_xyz")
        );
        assert_eq!(cookie_secret(&with("lw_reports=eyJhbGciOi")), None);
        assert_eq!(cookie_secret(&with("other_lw_reports=lwb_x")), None);
        assert_eq!(cookie_secret(&HeaderMap::new()), None);
    }
}
