//! Admin: the staff systems allowed to call the API (OAuth 2.0 client credentials).
//!
//! Policy: only an admin registers, lists, rotates or disables a client, and each of these is
//! audited. A secret is made here (256 random bits), shown once in the answer that made it and
//! stored only as a hash. Rotating keeps the previous secret working for an overlap the admin
//! chooses (a day unless told; none after a leak), so the system is given its new secret without
//! an outage. Disabling refuses the client's secrets and every token it holds at once.

use std::num::NonZeroU32;

use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use livingwell_core::api::ErrorBody;
use livingwell_core::api::clients::{
    ClientList, ClientSecretView, ClientView, CreateClientRequest, DEFAULT_OVERLAP_HOURS,
    RotateSecretRequest,
};
use rand::RngCore;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::access::record_unscoped;
use super::error::{ApiError, ApiResult};
use super::extract::{Admin, Path, RequestId, ValidJson};
use crate::auth::{Caller, CallerUser, passwords};
use crate::policy::Action;
use crate::store::OAuthClientRecord;

/// What a made secret starts with, so a leaked one is recognised by secret scanners.
const SECRET_PREFIX: &str = "lws_";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_clients, create_client))
        .routes(routes!(rotate_secret))
        .routes(routes!(disable_client))
}

/// Admin: every registered staff system, disabled ones too (never their secrets).
#[utoipa::path(get, path = "/v1/clients", tag = "clients", security(("bearer" = [])),
    responses((status = 200, description = "The registered staff systems", body = ClientList),
              (status = 403, description = "Not an admin", body = ErrorBody)))]
async fn list_clients(
    State(state): State<AppState>,
    Admin(admin): Admin,
    RequestId(request_id): RequestId,
) -> ApiResult<axum::Json<ClientList>> {
    audit(&state, admin, "staff_clients", Action::Read, &request_id).await?;
    let clients = state.store.clients().await?;
    Ok(axum::Json(ClientList {
        clients: clients
            .iter()
            .map(|client| client_view(&state, client))
            .collect(),
    }))
}

/// Admin: register a staff system with the scopes it may ask for. The answer holds its secret,
/// shown this once.
#[utoipa::path(post, path = "/v1/clients", tag = "clients", security(("bearer" = [])),
    request_body = CreateClientRequest,
    responses((status = 201, description = "Registered; the secret is shown only here", body = ClientSecretView),
              (status = 403, description = "Not an admin", body = ErrorBody),
              (status = 422, description = "A field is refused", body = ErrorBody)))]
async fn create_client(
    State(state): State<AppState>,
    Admin(admin): Admin,
    RequestId(request_id): RequestId,
    ValidJson(request): ValidJson<CreateClientRequest>,
) -> ApiResult<(StatusCode, axum::Json<ClientSecretView>)> {
    audit(&state, admin, "staff_client", Action::Write, &request_id).await?;
    let secret = new_secret();
    let client = OAuthClientRecord {
        client_id: format!("sys-{}", uuid::Uuid::now_v7().simple()),
        name: request.name,
        secret_hash: passwords::hash(secret.clone()).await?,
        scopes: request.scopes,
        created_at: state.clock.now(),
        disabled_at: None,
        previous_secret: None,
        // Validated: 1 to the maximum.
        requests_per_minute: request.requests_per_minute.and_then(NonZeroU32::new),
    };
    state.store.create_client(&client).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(ClientSecretView {
            client: client_view(&state, &client),
            client_secret: secret,
        }),
    ))
}

/// Admin: give a staff system a new secret, shown this once. The current secret keeps working
/// for `overlap_hours` (24 unless given; 0 after a leak).
#[utoipa::path(post, path = "/v1/clients/{id}/secret", tag = "clients", security(("bearer" = [])),
    params(("id" = String, Path, description = "The client id")),
    request_body = RotateSecretRequest,
    responses((status = 200, description = "The new secret, shown only here", body = ClientSecretView),
              (status = 403, description = "Not an admin", body = ErrorBody),
              (status = 404, description = "No enabled client has this id", body = ErrorBody),
              (status = 422, description = "A field is refused", body = ErrorBody)))]
async fn rotate_secret(
    State(state): State<AppState>,
    Admin(admin): Admin,
    RequestId(request_id): RequestId,
    Path(client_id): Path<String>,
    ValidJson(request): ValidJson<RotateSecretRequest>,
) -> ApiResult<axum::Json<ClientSecretView>> {
    audit(
        &state,
        admin,
        "staff_client_secret",
        Action::Write,
        &request_id,
    )
    .await?;
    let secret = new_secret();
    let overlap = request.overlap_hours.unwrap_or(DEFAULT_OVERLAP_HOURS);
    let until = state.clock.now() + Duration::hours(i64::from(overlap));
    let hash = passwords::hash(secret.clone()).await?;
    if !state
        .store
        .rotate_client_secret(&client_id, &hash, until)
        .await?
    {
        return Err(ApiError::NotFound);
    }
    let client = state
        .store
        .client(&client_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(axum::Json(ClientSecretView {
        client: client_view(&state, &client),
        client_secret: secret,
    }))
}

/// Admin: turn a staff system off. Its secrets and every token it holds are refused at once.
#[utoipa::path(post, path = "/v1/clients/{id}/disable", tag = "clients", security(("bearer" = [])),
    params(("id" = String, Path, description = "The client id")),
    responses((status = 204, description = "Disabled"),
              (status = 403, description = "Not an admin", body = ErrorBody),
              (status = 404, description = "No client has this id", body = ErrorBody)))]
async fn disable_client(
    State(state): State<AppState>,
    Admin(admin): Admin,
    RequestId(request_id): RequestId,
    Path(client_id): Path<String>,
) -> ApiResult<StatusCode> {
    audit(
        &state,
        admin,
        "staff_client_disable",
        Action::Write,
        &request_id,
    )
    .await?;
    if state
        .store
        .disable_client(&client_id, state.clock.now())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}

fn client_view(state: &AppState, client: &OAuthClientRecord) -> ClientView {
    ClientView {
        client_id: client.client_id.clone(),
        name: client.name.clone(),
        scopes: client.scopes.clone(),
        requests_per_minute: state
            .client_rates
            .limit_for(client.requests_per_minute)
            .get(),
        created_at: client.created_at,
        disabled_at: client.disabled_at,
        previous_secret_until: client
            .previous_secret
            .as_ref()
            .map(|previous| previous.until),
    }
}

/// 256 random bits, URL-safe: `lws_` and 43 characters.
fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

async fn audit(
    state: &AppState,
    admin: CallerUser,
    resource: &str,
    action: Action,
    request_id: &str,
) -> ApiResult<()> {
    record_unscoped(state, &Caller::User(admin), resource, action, request_id).await
}
