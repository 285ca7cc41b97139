//! Liveness, readiness, keys and OAuth metadata, and answers for paths and methods that do not exist.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use livingwell_core::api::auth::{AuthorizationServerMetadata, JsonWebKeySet};
use livingwell_core::api::routes;
use livingwell_core::domain::scope::StaffScope;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ApiResult};
use crate::group_commit::WriterHealth;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(jwks))
        .routes(routes!(authorization_server_metadata))
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "meta", responses((status = 200, description = "Alive", content_type = "text/plain", body = String)))]
async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the database answers and has this version's migrations, and the audit writer is
/// neither stopped nor stuck. Ready again by itself once they are; `/healthz` stays up.
#[utoipa::path(get, path = "/readyz", tag = "meta", responses(
    (status = 200, description = "Ready", content_type = "text/plain", body = String),
    (status = 503, description = "Not ready: the database does not answer or lacks migrations, or the audit writer is stopped or stuck", body = livingwell_core::api::ErrorBody),
))]
async fn readyz(State(state): State<AppState>) -> ApiResult<&'static str> {
    // Every read waits for its audit entry (SPEC §4): a writer that is gone or stuck means no
    // read can be served, however well the database answers.
    match state.audit.writer_health() {
        WriterHealth::Stopped => {
            return Err(ApiError::NotReady(
                "Not ready: the audit writer has stopped.",
            ));
        }
        WriterHealth::Committing(for_how_long) if for_how_long > AUDIT_WRITER_STUCK_AFTER => {
            return Err(ApiError::NotReady(
                "Not ready: the audit writer has been committing one batch for too long.",
            ));
        }
        WriterHealth::Idle | WriterHealth::Committing(_) => {}
    }
    state.store.ping().await?;
    if state.store.pending_migrations().await? > 0 {
        return Err(ApiError::NotReady(
            "Not ready: the database lacks migrations this version needs.",
        ));
    }
    Ok("ready")
}

/// A batch of audit entries committing for longer than this counts as stuck: longer than any
/// statement may run.
const AUDIT_WRITER_STUCK_AFTER: std::time::Duration = std::time::Duration::from_secs(10);

/// The public keys that verify access tokens (JWKS).
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "meta", responses(
    (status = 200, description = "JSON Web Key Set", body = JsonWebKeySet),
))]
async fn jwks(State(state): State<AppState>) -> axum::Json<JsonWebKeySet> {
    axum::Json(state.keys.jwks())
}

/// OAuth 2.0 Authorization Server Metadata (RFC 8414), for staff systems' OAuth libraries.
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "meta", responses(
    (status = 200, description = "Where and how a staff system gets a token", body = AuthorizationServerMetadata),
))]
async fn authorization_server_metadata(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> axum::Json<AuthorizationServerMetadata> {
    let issuer = state.keys.issuer();
    let base = public_base(issuer, &headers);
    let strings = |items: &[&str]| items.iter().map(|item| (*item).to_owned()).collect();
    axum::Json(AuthorizationServerMetadata {
        issuer: issuer.to_owned(),
        token_endpoint: format!("{base}{}", routes::CLIENT_TOKEN.path(&[])),
        jwks_uri: format!("{base}{}", routes::JWKS.path(&[])),
        grant_types_supported: strings(&["client_credentials"]),
        token_endpoint_auth_methods_supported: strings(&[
            "client_secret_basic",
            "client_secret_post",
        ]),
        scopes_supported: StaffScope::ALL
            .iter()
            .map(|scope| scope.as_str().to_owned())
            .collect(),
        response_types_supported: Vec::new(),
        service_documentation: format!("{base}/docs"),
    })
}

/// Where this server is reached, for the absolute URLs metadata must give: the issuer when the
/// deployment made it an http(s) URL (`serve --issuer https://api.example.nhs.uk`), as it then
/// names the server; otherwise (the `urn:` default, a local run) the host the caller used.
pub(super) fn public_base(issuer: &str, headers: &HeaderMap) -> String {
    if issuer.starts_with("https://") || issuer.starts_with("http://") {
        return issuer.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        // A Host header is a name and a port; anything else is not repeated back.
        .filter(|host| {
            !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c))
        })
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// No route: 404, as an `OperationOutcome` under the FHIR facade (an unknown resource type).
pub async fn not_found(uri: Uri) -> Response {
    if under_fhir(&uri) {
        super::fhir::outcome::not_served()
    } else {
        ApiError::NotFound.into_response()
    }
}

fn under_fhir(uri: &Uri) -> bool {
    uri.path().starts_with(super::fhir::PREFIX)
}

pub async fn method_not_allowed(uri: Uri) -> Response {
    if under_fhir(&uri) {
        return super::fhir::outcome::method_not_allowed();
    }
    let body = livingwell_core::api::ErrorBody {
        code: livingwell_core::api::ErrorCode::BadRequest,
        message: "This method is not allowed here.".to_owned(),
        fields: Vec::new(),
        current_version: None,
        required_scope: None,
    };
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn host(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn an_http_issuer_names_the_server_and_otherwise_the_callers_host_does() {
        let api = host("10.0.0.7:8080");
        assert_eq!(
            public_base("https://api.example.nhs.uk/", &api),
            "https://api.example.nhs.uk"
        );
        assert_eq!(public_base("urn:livingwell", &api), "http://10.0.0.7:8080");
        assert_eq!(
            public_base("urn:livingwell", &host("evil.example/<script>")),
            "http://localhost"
        );
        assert_eq!(
            public_base("urn:livingwell", &HeaderMap::new()),
            "http://localhost"
        );
    }
}
