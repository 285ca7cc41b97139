//! Accounts staff do not set passwords for: invitations, password changes and resets, and
//! disabling an account.
//!
//! - A person's account is made by **invitation**: staff get a one-time code (7 days, single
//!   use, only its hash stored) to give the person, who then chooses a username and password.
//! - A forgotten password is **reset** with a one-time code an admin makes (24 hours); using it
//!   ends every session of the account.
//! - **Changing** a password needs the current one and ends the account's other sessions.
//! - **Disabling** an account ends all its sessions at once and refuses sign-in until it is
//!   enabled again. Each of these is audited.
//!
//! New passwords must pass the strength rule in [`crate::auth::passwords`].

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use chrono::Duration;
use livingwell_core::api::ErrorBody;
use livingwell_core::api::accounts::{
    AcceptInvitationRequest, ChangePasswordRequest, CreateInvitationRequest, InvitationView,
    OneTimeCodeView, ResetPasswordRequest,
};
use livingwell_core::api::auth::{AccessTokenResponse, ReauthenticateRequest, TokenResponse};
use livingwell_core::domain::FieldErrorCode;
use livingwell_core::domain::{PersonId, UserId};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::access::{Authorized, record_unscoped};
use super::error::{ApiError, ApiResult};
use super::extract::{Admin, AppUser, Path, RequestId, ValidJson};
use super::sessions::start_session;
use crate::auth::tokens::ACCESS_TOKEN_SECONDS;
use crate::auth::{Caller, passwords};
use crate::policy::{Action, action, resource};
use crate::store::UserRecord;

/// How recent a sign-in must be for what widens access or takes over an account: granting a
/// consent, changing the password. Narrowing never needs one: the person can always revoke.
pub const STEP_UP_WINDOW: Duration = Duration::minutes(10);

/// Refuses with 401 `step_up_required` unless the caller entered their password within
/// [`STEP_UP_WINDOW`], as their session records it.
pub(super) fn require_recent_sign_in(state: &AppState, caller: &Caller) -> ApiResult<()> {
    match caller {
        Caller::User(user) if state.clock.now() - user.authenticated_at <= STEP_UP_WINDOW => Ok(()),
        Caller::User(_) => Err(ApiError::StepUpRequired {
            max_age: STEP_UP_WINDOW.num_seconds(),
        }),
        // A staff system has no password to enter; what it may do is decided by its scopes.
        Caller::StaffSystem(_) => Ok(()),
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(invite_person))
        .routes(routes!(invite))
        .routes(routes!(accept_invitation))
        .routes(routes!(change_password))
        .routes(routes!(reauthenticate))
        .routes(routes!(make_reset_code))
        .routes(routes!(reset_password))
        .routes(routes!(disable))
        .routes(routes!(enable))
}

/// Staff on the person's team: a one-time code for the person's first sign-in. The person
/// chooses their own username and password with it (`POST /v1/auth/accept-invitation`).
#[utoipa::path(post, path = "/v1/people/{id}/invitation", tag = "accounts",
    security(("bearer" = [])), params(("id" = PersonId, Path)),
    responses((status = 201, body = InvitationView, description = "The invitation, with its one-time code"), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody, description = "The person already has an account")))]
async fn invite_person(
    State(state): State<AppState>,
    Authorized { caller, access, .. }: Authorized<resource::Person, action::Write>,
) -> ApiResult<(StatusCode, axum::Json<InvitationView>)> {
    let view = state
        .accounts
        .invite_person(access.person, caller.audit_id())
        .await?;
    Ok((StatusCode::CREATED, axum::Json(view)))
}

/// Admin: a one-time code for a new carer, worker or admin account.
#[utoipa::path(post, path = "/v1/invitations", tag = "accounts", security(("bearer" = [])),
    request_body = CreateInvitationRequest,
    responses((status = 201, body = InvitationView, description = "The invitation, with its one-time code"), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn invite(
    State(state): State<AppState>,
    Admin(admin): Admin,
    RequestId(request_id): RequestId,
    ValidJson(request): ValidJson<CreateInvitationRequest>,
) -> ApiResult<(StatusCode, axum::Json<InvitationView>)> {
    let caller = Caller::User(admin);
    record_unscoped(&state, &caller, "invitation", Action::Write, &request_id).await?;
    let view = state
        .accounts
        .invite(
            request.role,
            None,
            request.display_name.trim().to_owned(),
            caller.audit_id(),
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(view)))
}

/// First sign-in with an invitation code: the person chooses a username and password, and is
/// signed in. A code works once, for seven days.
#[utoipa::path(post, path = "/v1/auth/accept-invitation", tag = "accounts",
    request_body = AcceptInvitationRequest,
    responses((status = 201, body = TokenResponse, description = "The account is made and signed in"),
              (status = 409, body = ErrorBody, description = "The username is taken"),
              (status = 422, body = ErrorBody, description = "Invalid; or the code is not valid (used, expired or unknown)"),
              (status = 429, body = ErrorBody)))]
async fn accept_invitation(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ValidJson(request): ValidJson<AcceptInvitationRequest>,
) -> ApiResult<(StatusCode, axum::Json<TokenResponse>)> {
    let username = request.username.trim().to_lowercase();
    state
        .throttle
        .check(&username, peer.ip())
        .map_err(ApiError::RateLimited)?;
    let user = state
        .accounts
        .accept_invitation(&request.code, username, request.password)
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(start_session(&state, &user).await?),
    ))
}

/// The caller's account, once `password` (the request's `field`) is shown to be its password.
/// Guessing through these forms is throttled like signing in.
async fn own_password_checked(
    state: &AppState,
    caller: &crate::auth::CallerUser,
    peer: SocketAddr,
    field: &str,
    password: String,
) -> ApiResult<UserRecord> {
    let user = state
        .store
        .user_by_id(caller.id)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    state
        .throttle
        .check(&user.username, peer.ip())
        .map_err(ApiError::RateLimited)?;
    if !passwords::verify(password, user.password_hash.clone()).await? {
        return Err(ApiError::invalid(field, FieldErrorCode::Incorrect));
    }
    Ok(user)
}

/// Change the caller's password. Needs the current password and a recent sign-in (else 401
/// `step_up_required`); every other session of the account ends (this one stays signed in).
#[utoipa::path(post, path = "/v1/auth/password", tag = "accounts", security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses((status = 204, description = "Changed"),
              (status = 401, body = ErrorBody, description = "Not signed in, or `step_up_required`"),
              (status = 422, body = ErrorBody, description = "The current password is wrong, or the new one is not accepted"),
              (status = 429, body = ErrorBody)))]
async fn change_password(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    AppUser(caller): AppUser,
    RequestId(request_id): RequestId,
    ValidJson(request): ValidJson<ChangePasswordRequest>,
) -> ApiResult<StatusCode> {
    require_recent_sign_in(&state, &Caller::User(caller.clone()))?;
    let user = own_password_checked(
        &state,
        &caller,
        peer,
        "current_password",
        request.current_password,
    )
    .await?;
    state
        .accounts
        .change_password(&user, caller.session_id, request.new_password)
        .await?;
    record_unscoped(
        &state,
        &Caller::User(caller),
        "password",
        Action::Write,
        &request_id,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Enter the password again for an action that needs a recent sign-in. The session counts as
/// freshly signed in for ten minutes; the answer is a new access token that says so.
#[utoipa::path(post, path = "/v1/auth/reauthenticate", tag = "accounts",
    security(("bearer" = [])), request_body = ReauthenticateRequest,
    responses((status = 200, body = AccessTokenResponse, description = "A new access token that counts as freshly signed in"),
              (status = 422, body = ErrorBody, description = "The password is wrong"),
              (status = 429, body = ErrorBody)))]
async fn reauthenticate(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    AppUser(caller): AppUser,
    ValidJson(request): ValidJson<ReauthenticateRequest>,
) -> ApiResult<axum::Json<AccessTokenResponse>> {
    own_password_checked(&state, &caller, peer, "password", request.password).await?;
    let access_token = state
        .sessions
        .reauthenticated(caller.id, caller.session_id)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    Ok(axum::Json(AccessTokenResponse {
        access_token,
        token_type: "Bearer".to_owned(),
        expires_in: ACCESS_TOKEN_SECONDS.unsigned_abs(),
    }))
}

/// Admin: a one-time code with which the account's owner sets a new password
/// (`POST /v1/auth/reset-password`); a practitioner can pass it on. Any earlier code ends.
#[utoipa::path(post, path = "/v1/users/{id}/password-reset", tag = "accounts",
    security(("bearer" = [])), params(("id" = UserId, Path)),
    responses((status = 201, body = OneTimeCodeView, description = "The one-time reset code"), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn make_reset_code(
    State(state): State<AppState>,
    Admin(admin): Admin,
    RequestId(request_id): RequestId,
    Path(user): Path<UserId>,
) -> ApiResult<(StatusCode, axum::Json<OneTimeCodeView>)> {
    let caller = Caller::User(admin);
    record_unscoped(
        &state,
        &caller,
        "password_reset",
        Action::Write,
        &request_id,
    )
    .await?;
    let view = state.accounts.reset_code(user, caller.audit_id()).await?;
    Ok((StatusCode::CREATED, axum::Json(view)))
}

/// Set a new password with a reset code. Every session of the account ends; sign in again.
#[utoipa::path(post, path = "/v1/auth/reset-password", tag = "accounts",
    request_body = ResetPasswordRequest,
    responses((status = 204, description = "Changed"),
              (status = 422, body = ErrorBody, description = "Invalid; or the code is not valid for this account"),
              (status = 429, body = ErrorBody)))]
async fn reset_password(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ValidJson(request): ValidJson<ResetPasswordRequest>,
) -> ApiResult<StatusCode> {
    let username = request.username.trim().to_lowercase();
    state
        .throttle
        .check(&username, peer.ip())
        .map_err(ApiError::RateLimited)?;
    state
        .accounts
        .reset_password(&username, &request.code, request.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Admin: turn an account off. Every session ends at once and sign-in is refused until it is
/// enabled again (a leaver, a lost phone).
#[utoipa::path(post, path = "/v1/users/{id}/disable", tag = "accounts",
    security(("bearer" = [])), params(("id" = UserId, Path)),
    responses((status = 204, description = "Disabled"), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody, description = "An admin cannot disable their own account")))]
async fn disable(
    State(state): State<AppState>,
    Admin(admin): Admin,
    RequestId(request_id): RequestId,
    Path(user): Path<UserId>,
) -> ApiResult<StatusCode> {
    if user == admin.id {
        return Err(ApiError::invalid("id", FieldErrorCode::Yourself));
    }
    set_disabled(&state, admin, &request_id, user, true).await
}

/// Admin: let a disabled account sign in again.
#[utoipa::path(post, path = "/v1/users/{id}/enable", tag = "accounts",
    security(("bearer" = [])), params(("id" = UserId, Path)),
    responses((status = 204, description = "Enabled"), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn enable(
    State(state): State<AppState>,
    Admin(admin): Admin,
    RequestId(request_id): RequestId,
    Path(user): Path<UserId>,
) -> ApiResult<StatusCode> {
    set_disabled(&state, admin, &request_id, user, false).await
}

async fn set_disabled(
    state: &AppState,
    admin: crate::auth::CallerUser,
    request_id: &str,
    user: UserId,
    disabled: bool,
) -> ApiResult<StatusCode> {
    let resource = if disabled {
        "account_disable"
    } else {
        "account_enable"
    };
    record_unscoped(
        state,
        &Caller::User(admin),
        resource,
        Action::Write,
        request_id,
    )
    .await?;
    state.accounts.set_disabled(user, disabled).await?;
    Ok(StatusCode::NO_CONTENT)
}
