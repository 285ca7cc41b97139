//! Sign-in, refresh, sign-out, staff-system tokens and `/v1/me`.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use livingwell_core::api::auth::{
    ClientTokenRequest, ClientTokenResponse, LoginRequest, RefreshRequest, TokenResponse, UserView,
};
use livingwell_core::api::people::{CarerLinkView, MeView, PersonView, TeamView};
use livingwell_core::api::{ErrorBody, FieldError};
use livingwell_core::domain::FieldErrorCode;
use livingwell_core::domain::StaffScope;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::access::record_unscoped;
use super::error::{ApiError, ApiResult};
use super::extract::{AppAccount, AppUser, RequestId, ValidJson};
use crate::auth::tokens::{ACCESS_TOKEN_SECONDS, Audience};
use crate::auth::{Caller, CallerUser, passwords};
use crate::policy::Action;
use crate::service::sessions::Issued;
use crate::store::{PersonRecord, TeamRecord, UserRecord};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(refresh_tokens))
        .routes(routes!(logout))
        .routes(routes!(client_token))
        .routes(routes!(me))
}

pub(super) fn user_view(user: &UserRecord) -> UserView {
    UserView {
        id: user.id,
        username: user.username.clone(),
        role: user.role,
        display_name: user.display_name.clone(),
        person_id: user.person_id,
    }
}

/// Display names of the accounts among `ids`, by id; ids that are not accounts (staff
/// systems' `client:…`) are left out. One query.
pub(super) async fn display_names<'a>(
    store: &dyn crate::store::Store,
    ids: impl IntoIterator<Item = &'a str>,
) -> ApiResult<std::collections::HashMap<String, String>> {
    let mut users: Vec<livingwell_core::domain::UserId> =
        ids.into_iter().filter_map(|id| id.parse().ok()).collect();
    users.sort();
    users.dedup();
    Ok(store
        .users_by_ids(&users)
        .await?
        .into_iter()
        .map(|user| (user.id.to_string(), user.display_name))
        .collect())
}

pub(super) fn person_view(person: &PersonRecord) -> PersonView {
    PersonView {
        id: person.id,
        display_name: person.display_name.clone(),
        team_id: person.team_id,
        peer_worker_id: person.peer_worker_id,
        created_at: person.created_at,
    }
}

pub(super) fn team_view(team: &TeamRecord) -> TeamView {
    TeamView {
        id: team.id,
        name: team.name.clone(),
        hub_address: team.hub_address.clone(),
    }
}

/// Starts a new session for the account and issues its first token pair.
pub(super) async fn start_session(state: &AppState, user: &UserRecord) -> ApiResult<TokenResponse> {
    let issued = state.sessions.start(user.id).await?;
    Ok(token_response(user, issued))
}

/// What a device is given for a session's tokens.
fn token_response(user: &UserRecord, issued: Issued) -> TokenResponse {
    TokenResponse {
        access_token: issued.access_token,
        refresh_token: issued.refresh_token,
        token_type: "Bearer".to_owned(),
        expires_in: ACCESS_TOKEN_SECONDS.unsigned_abs(),
        user: user_view(user),
    }
}

/// Sign in with username and password.
///
/// An unknown username and a wrong password get the same answer, after the same work.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = LoginRequest, responses(
    (status = 200, body = TokenResponse, description = "Signed in: an access token and a refresh token"),
    (status = 401, body = ErrorBody),
    (status = 422, body = ErrorBody),
    (status = 429, body = ErrorBody, description = "Too many attempts; see Retry-After"),
))]
async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ValidJson(request): ValidJson<LoginRequest>,
) -> ApiResult<axum::Json<TokenResponse>> {
    let username = request.username.trim().to_lowercase();
    state
        .throttle
        .check(&username, peer.ip())
        .map_err(ApiError::RateLimited)?;
    let user = state.store.user_by_username(&username).await?;
    let stored_hash = match &user {
        Some(user) => user.password_hash.clone(),
        None => state.dummy_password_hash.to_string(),
    };
    let password_matches = passwords::verify(request.password, stored_hash).await?;
    let user = match user {
        Some(user) if password_matches => user,
        _ => return Err(ApiError::Unauthorized),
    };
    // Told only to someone who knows the password: the account exists but is turned off.
    if state.store.is_disabled(user.id).await? {
        return Err(ApiError::AccountDisabled);
    }
    Ok(axum::Json(start_session(&state, &user).await?))
}

/// Exchange a refresh token for a new pair. Each refresh token works once; repeating it within
/// seconds (racing requests, a retry) returns the same new refresh token again, and reusing it
/// later ends the whole session. A session lapses 30 days after its last refresh and 90 days
/// after sign-in.
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth", request_body = RefreshRequest, responses(
    (status = 200, body = TokenResponse, description = "A new access token and refresh token"),
    (status = 401, body = ErrorBody),
))]
async fn refresh_tokens(
    State(state): State<AppState>,
    ValidJson(request): ValidJson<RefreshRequest>,
) -> ApiResult<axum::Json<TokenResponse>> {
    let issued = state
        .sessions
        .refresh(&request.refresh_token)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    let user = state
        .store
        .user_by_id(issued.user)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    Ok(axum::Json(token_response(&user, issued)))
}

/// Sign out: ends the session, its refresh tokens, its access tokens and its event streams.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth", security(("bearer" = [])), responses(
    (status = 204, description = "Signed out"),
    (status = 401, body = ErrorBody),
))]
async fn logout(State(state): State<AppState>, AppUser(user): AppUser) -> ApiResult<StatusCode> {
    state.sessions.end(user.session_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Staff systems: OAuth 2.0 client credentials (form-encoded; client id and secret in HTTP
/// Basic or in the body). No refresh token is issued.
#[utoipa::path(post, path = "/oauth/token", tag = "auth",
    request_body(content = ClientTokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, body = ClientTokenResponse, description = "An access token for the staff system"),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 415, body = ErrorBody),
))]
async fn client_token(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<axum::Json<ClientTokenResponse>> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(ApiError::UnsupportedMediaType);
    }
    let request: ClientTokenRequest = serde_urlencoded::from_bytes(&body).map_err(|_| {
        ApiError::BadRequest(vec![FieldError::new("body", FieldErrorCode::MalformedForm)])
    })?;
    if request.grant_type != "client_credentials" {
        return Err(ApiError::BadRequest(vec![FieldError::new(
            "grant_type",
            FieldErrorCode::UnsupportedGrantType,
        )]));
    }
    let (client_id, secret) =
        client_credentials(&headers, &request).ok_or(ApiError::Unauthorized)?;
    state
        .throttle
        .check(&format!("client:{client_id}"), peer.ip())
        .map_err(ApiError::RateLimited)?;
    let client = state.store.client(&client_id).await?;
    let stored_hash = match &client {
        Some(client) => client.secret_hash.clone(),
        None => state.dummy_password_hash.to_string(),
    };
    let mut secret_matches = passwords::verify(secret.clone(), stored_hash).await?;
    // During a rotation's overlap the previous secret still works, so the system can be given
    // the new one without an outage.
    if !secret_matches
        && let Some(previous) = client.as_ref().and_then(|c| c.previous_secret.clone())
        && state.clock.now() < previous.until
    {
        secret_matches = passwords::verify(secret, previous.secret_hash).await?;
    }
    // A disabled client is refused as a wrong secret is: nothing to learn from the answer.
    let client = match client {
        Some(client) if secret_matches && client.disabled_at.is_none() => client,
        _ => return Err(ApiError::Unauthorized),
    };
    let granted: BTreeSet<StaffScope> = match request.scope.as_deref().map(str::trim) {
        None | Some("") => client.scopes.clone(),
        Some(asked) => {
            let mut granted = BTreeSet::new();
            for name in asked.split_whitespace() {
                match StaffScope::parse(name).filter(|s| client.scopes.contains(s)) {
                    Some(scope) => granted.insert(scope),
                    None => {
                        return Err(ApiError::BadRequest(vec![FieldError::new(
                            "scope",
                            FieldErrorCode::InvalidScope,
                        )]));
                    }
                };
            }
            granted
        }
    };
    let scope = granted
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let access_token = state.keys.issue(
        Audience::StaffSystem,
        client.client_id.clone(),
        None,
        Some(scope.clone()),
        state.clock.now(),
    )?;
    Ok(axum::Json(ClientTokenResponse {
        access_token,
        token_type: "Bearer".to_owned(),
        expires_in: ACCESS_TOKEN_SECONDS.unsigned_abs(),
        scope,
    }))
}

/// The client id and secret, from HTTP Basic authentication or the form body.
fn client_credentials(
    headers: &HeaderMap,
    request: &ClientTokenRequest,
) -> Option<(String, String)> {
    if let Some(basic) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    {
        let decoded = String::from_utf8(STANDARD.decode(basic.trim()).ok()?).ok()?;
        let (id, secret) = decoded.split_once(':')?;
        return Some((id.to_owned(), secret.to_owned()));
    }
    Some((request.client_id.clone()?, request.client_secret.clone()?))
}

/// The caller: account, own record, and everyone they are connected to.
#[utoipa::path(get, path = "/v1/me", tag = "people", security(("bearer" = [])), responses(
    (status = 200, body = MeView, description = "The caller"),
    (status = 401, body = ErrorBody),
))]
async fn me(
    State(state): State<AppState>,
    AppAccount { caller, account }: AppAccount,
    RequestId(request_id): RequestId,
) -> ApiResult<axum::Json<MeView>> {
    record_unscoped(
        &state,
        &Caller::User(caller.clone()),
        "me",
        Action::Read,
        &request_id,
    )
    .await?;
    Ok(axum::Json(me_view(&state, &caller, account).await?))
}

/// The caller's account and everyone they are connected to now, read in one statement.
pub(super) async fn me_view(
    state: &AppState,
    caller: &CallerUser,
    account: UserRecord,
) -> ApiResult<MeView> {
    let parts = state
        .store
        .me_parts(caller.id, caller.role, caller.person_id, state.clock.now())
        .await?;
    let carers = parts
        .carers
        .into_iter()
        .map(|link| CarerLinkView {
            carer: UserView {
                id: link.id,
                username: link.username,
                role: link.role,
                display_name: link.display_name,
                person_id: link.person_id,
            },
            relationship: link.relationship,
            linked_at: link.linked_at,
        })
        .collect();
    Ok(MeView {
        user: user_view(&account),
        person: parts.person.as_ref().map(person_view),
        people_supported: parts.people_supported.iter().map(person_view).collect(),
        carers,
        teams: parts.teams.iter().map(team_view).collect(),
    })
}
