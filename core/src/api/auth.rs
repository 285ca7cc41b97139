use serde::{Deserialize, Serialize};

use super::{FieldError, Validate, collect_errors};
use crate::domain::text::{self, NAME_MAX, PASSWORD_MAX};
use crate::domain::{PersonId, Role, UserId};

#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 120))]
    pub username: String,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 1024))]
    pub password: String,
}

debug_without_secrets!(LoginRequest);

impl Validate for LoginRequest {
    fn field_errors(&self) -> Vec<FieldError> {
        collect_errors([
            text::check_required_text("username", &self.username, NAME_MAX),
            text::check_required_text("password", &self.password, PASSWORD_MAX),
        ])
    }
}

#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub refresh_token: String,
}

debug_without_secrets!(RefreshRequest);

impl Validate for RefreshRequest {
    fn field_errors(&self) -> Vec<FieldError> {
        collect_errors([text::check_required_text(
            "refresh_token",
            &self.refresh_token,
            200,
        )])
    }
}

/// The signed-in account, as the app shows it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserView {
    pub id: UserId,
    pub username: String,
    pub role: Role,
    pub display_name: String,
    /// The person record of a service user's own account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_id: Option<PersonId>,
}

#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenResponse {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub user: UserView,
}

debug_without_secrets!(TokenResponse, user);

/// A new access token for the same session, e.g. after reauthenticating.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessTokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

debug_without_secrets!(AccessTokenResponse, expires_in);

/// Enter the password again, for an action that needs a recent sign-in.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReauthenticateRequest {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 1024))]
    pub password: String,
}

debug_without_secrets!(ReauthenticateRequest);

impl Validate for ReauthenticateRequest {
    fn field_errors(&self) -> Vec<FieldError> {
        collect_errors([text::check_required_text(
            "password",
            &self.password,
            PASSWORD_MAX,
        )])
    }
}

/// `POST /oauth/token` form body (client credentials).
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientTokenRequest {
    /// Always `client_credentials`.
    #[cfg_attr(feature = "openapi", schema(pattern = "^client_credentials$"))]
    pub grant_type: String,
    /// The client id; may also come in HTTP Basic authentication.
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Space-separated scopes asked for; all of the client's scopes when absent.
    #[serde(default)]
    pub scope: Option<String>,
}

debug_without_secrets!(ClientTokenRequest, grant_type);

#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientTokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    /// Space-separated scopes granted.
    pub scope: String,
}

debug_without_secrets!(ClientTokenResponse, scope);

/// OAuth 2.0 Authorization Server Metadata (RFC 8414) for staff systems: where to get a token,
/// how to authenticate for it, which scopes exist, and where the keys that verify it are.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuthorizationServerMetadata {
    /// The `iss` of every token this server signs.
    pub issuer: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    /// Only `client_credentials`: people sign in to the apps, not through OAuth.
    pub grant_types_supported: Vec<String>,
    /// `client_secret_basic` and `client_secret_post`.
    pub token_endpoint_auth_methods_supported: Vec<String>,
    pub scopes_supported: Vec<String>,
    /// Required by RFC 8414 and empty: there is no authorization endpoint, so no response type.
    pub response_types_supported: Vec<String>,
    /// The API's documentation (the OpenAPI document's viewer).
    pub service_documentation: String,
}

/// The public keys that verify access tokens (a JSON Web Key Set, RFC 7517), newest and still
/// verifying ones alike.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JsonWebKeySet {
    pub keys: Vec<JsonWebKey>,
}

/// One Ed25519 public key (RFC 8037).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JsonWebKey {
    /// `OKP`.
    pub kty: String,
    /// `Ed25519`.
    pub crv: String,
    /// `EdDSA`.
    pub alg: String,
    /// `sig`.
    #[serde(rename = "use")]
    pub use_: String,
    /// The `kid` in the header of the tokens this key verifies.
    pub kid: String,
    /// The public key, base64url without padding.
    pub x: String,
}

impl JsonWebKey {
    /// The JWK of an Ed25519 public key `x` (base64url) named `kid`.
    pub fn ed25519(kid: &str, x: &str) -> Self {
        Self {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            alg: "EdDSA".into(),
            use_: "sig".into(),
            kid: kid.into(),
            x: x.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_written_with_the_names_rfc_8037_gives_it() {
        let written = serde_json::to_value(JsonWebKey::ed25519("k1", "abc")).unwrap();
        assert_eq!(
            written,
            serde_json::json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
                               "kid": "k1", "x": "abc"})
        );
    }

    #[test]
    fn debug_output_never_shows_passwords_or_tokens() {
        let login = LoginRequest {
            username: "alex".into(),
            password: "hunter2-hunter2".into(),
        };
        let refresh = RefreshRequest {
            refresh_token: "lwr_secret".into(),
        };
        let shown = format!("{login:?} {refresh:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("lwr_secret"),
            "{shown}"
        );
        assert!(shown.contains("LoginRequest"));
    }
}
