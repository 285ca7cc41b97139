//! Registering this device for push (`POST /v1/devices`) and removing it (`DELETE`), for the
//! session it is signed in with. See [`crate::service::push`] for what a push carries.

use axum::extract::State;
use axum::http::StatusCode;
use livingwell_core::api::ErrorBody;
use livingwell_core::api::devices::{DeviceView, RegisterDeviceRequest};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::ApiResult;
use super::extract::{AppUser, ValidJson};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(register_device, remove_device))
}

/// Registers this device's push token (APNs or FCM) for the caller's session: a crisis plan
/// put into use, a new message, an appointment change or a waitlist offer then reaches the
/// phone with the app closed, as kind and ids only. Signing out ends it.
#[utoipa::path(post, path = "/v1/devices", tag = "devices", security(("bearer" = [])),
    request_body = RegisterDeviceRequest,
    responses((status = 201, body = DeviceView, description = "The device, registered"), (status = 422, body = ErrorBody)))]
async fn register_device(
    State(state): State<AppState>,
    AppUser(user): AppUser,
    ValidJson(request): ValidJson<RegisterDeviceRequest>,
) -> ApiResult<(StatusCode, axum::Json<DeviceView>)> {
    let registered_at = state
        .sessions
        .register_device(user.id, user.session_id, request.platform, request.token)
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(DeviceView {
            platform: request.platform,
            registered_at,
        }),
    ))
}

/// Removes this session's device: no more pushes reach it.
#[utoipa::path(delete, path = "/v1/devices", tag = "devices", security(("bearer" = [])),
    responses((status = 204, description = "Removed")))]
async fn remove_device(
    State(state): State<AppState>,
    AppUser(user): AppUser,
) -> ApiResult<StatusCode> {
    state.sessions.remove_devices(user.session_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
