//! Liveness, readiness, keys, and answers for paths and methods that do not exist.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ApiResult};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(jwks))
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "meta", responses((status = 200, description = "Alive", content_type = "text/plain", body = String)))]
async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the database answers.
#[utoipa::path(get, path = "/readyz", tag = "meta", responses(
    (status = 200, description = "Ready", content_type = "text/plain", body = String),
    (status = 503, description = "The database does not answer", body = livingwell_core::api::ErrorBody),
))]
async fn readyz(State(state): State<AppState>) -> ApiResult<&'static str> {
    state.store.ping().await?;
    Ok("ready")
}

/// The public keys that verify access tokens (JWKS).
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "meta", responses(
    (status = 200, description = "JSON Web Key Set", content_type = "application/json"),
))]
async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    axum::Json(state.keys.jwks())
}

pub async fn not_found() -> ApiError {
    ApiError::NotFound
}

pub async fn method_not_allowed() -> impl IntoResponse {
    let body = livingwell_core::api::ErrorBody {
        code: livingwell_core::api::ErrorCode::BadRequest,
        message: "This method is not allowed here.".to_owned(),
        fields: Vec::new(),
        current_version: None,
    };
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(body))
}
