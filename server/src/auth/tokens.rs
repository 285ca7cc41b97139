//! Access tokens: JWTs signed with Ed25519 (EdDSA), published at `/.well-known/jwks.json`.
//!
//! What a valid token must have, checked on every request:
//! - header `alg` exactly `EdDSA`, `typ` exactly `at+jwt` (RFC 9068), and a `kid` we published;
//! - claims `iss` (this deployment), `aud` (the app audience or the staff-system audience),
//!   `sub`, `exp`, `nbf`, `iat`, `jti`; `exp`/`nbf` checked with at most 30 s of leeway against
//!   the application's [`Clock`](crate::clock::Clock), not jsonwebtoken's own reading of the
//!   system time, so that expiry means the same to tokens as to sessions and streams;
//! - for app tokens a session id (`sid`), for staff-system tokens a `scope`.
//!
//! Anything else — `alg: none` in any casing, an HMAC token forged with our public key, a
//! refresh token presented as an access token — fails one of these and is answered 401.
//! Signing keys live in the database, sealed ([`super::sealing`]), so every process shares
//! them; the newest signs, every key not yet retired verifies, and [`super::key_ring`] keeps
//! them up to date as they rotate.
//!
//! A token's signature is checked once: its verified claims are remembered by the SHA-256 of
//! the token (a bounded cache), and a token seen again is only checked for what can change —
//! its key still in force, its lapse and not-before against the clock. An Ed25519 verification
//! costs tens of microseconds, more than the rest of a read's own work. Nothing about the caller
//! is remembered: the session and the account are read from the database on every request.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use sha2::Digest as _;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use livingwell_core::api::auth::{JsonWebKey, JsonWebKeySet};
use serde::{Deserialize, Serialize};

/// Lifetime of an access token.
pub const ACCESS_TOKEN_SECONDS: i64 = 300;
/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECONDS: i64 = 30;
/// The `typ` header of access tokens.
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// Which kind of caller a token is for, carried in `aud`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    App,
    StaffSystem,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
    pub jti: String,
    /// App tokens: the session (refresh-token family).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<uuid::Uuid>,
    /// App tokens: when the account's owner last entered their password in this session
    /// (OpenID Connect's `auth_time`), so the app can tell when a step-up will be asked for.
    /// The server itself decides from the session as stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// Staff-system tokens: space-separated scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// The session an app token belongs to, as the token states it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppSession {
    pub id: uuid::Uuid,
    /// The last time the password was entered in this session.
    pub authenticated_at: DateTime<Utc>,
}

/// A verified token: who it names, for which audience.
#[derive(Clone, Debug)]
pub struct VerifiedToken {
    pub audience: Audience,
    pub claims: AccessClaims,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not valid")]
    Invalid,
    #[error("a token could not be signed")]
    Signing,
}

struct VerifyingKey {
    decoding: DecodingKey,
    jwk: JsonWebKey,
}

/// The keys in force at one moment: the newest signs, every one verifies.
pub(crate) struct KeySet {
    signing_kid: String,
    signing: EncodingKey,
    verifying: HashMap<String, VerifyingKey>,
}

impl KeySet {
    /// From keys and their kids, newest first.
    pub(crate) fn new(keys: &[(String, SigningKey)]) -> Result<Self, TokenError> {
        let (newest_kid, newest) = keys.first().ok_or(TokenError::Signing)?;
        let mut verifying = HashMap::new();
        for (kid, key) in keys {
            let x = URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
            let decoding = DecodingKey::from_ed_components(&x).map_err(|_| TokenError::Signing)?;
            let jwk = JsonWebKey::ed25519(kid, &x);
            verifying.insert(kid.clone(), VerifyingKey { decoding, jwk });
        }
        let der = newest.to_pkcs8_der().map_err(|_| TokenError::Signing)?;
        Ok(Self {
            signing_kid: newest_kid.clone(),
            signing: EncodingKey::from_ed_der(der.as_bytes()),
            verifying,
        })
    }
}

/// The deployment's token keys and settings.
pub struct TokenKeys {
    issuer: String,
    app_audience: String,
    staff_audience: String,
    /// Replaced whole when the keys are reloaded, so that each use sees one consistent set.
    keys: RwLock<Arc<KeySet>>,
    validation: Validation,
    /// Tokens whose signature and claims verified, by the SHA-256 of the token.
    verified: quick_cache::sync::Cache<[u8; 32], Arc<Remembered>>,
}

/// Tokens remembered at once: a few per signed-in phone or staff system at a time.
const REMEMBERED_TOKENS: usize = 16_384;

/// A verified token, and the key that signed it.
#[derive(Debug)]
struct Remembered {
    kid: String,
    token: VerifiedToken,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys")
            .field("issuer", &self.issuer)
            .field("signing_kid", &self.current().signing_kid)
            .finish_non_exhaustive()
    }
}

impl TokenKeys {
    pub(crate) fn new(keys: KeySet, issuer: &str) -> Self {
        let app_audience = format!("{issuer}/app");
        let staff_audience = format!("{issuer}/staff-api");
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[&app_audience, &staff_audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        // Their presence is still required above; their values are checked in `verify`, against
        // the caller's clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = true;
        Self {
            issuer: issuer.to_owned(),
            app_audience,
            staff_audience,
            keys: RwLock::new(Arc::new(keys)),
            validation,
            verified: quick_cache::sync::Cache::new(REMEMBERED_TOKENS),
        }
    }

    /// Puts a freshly loaded set of keys in force.
    pub(crate) fn replace(&self, keys: KeySet) {
        // A panic elsewhere cannot leave a half-written `Arc` behind, so a poisoned lock is fine.
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(keys);
    }

    fn current(&self) -> Arc<KeySet> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether a key with this id verifies tokens here.
    pub fn knows(&self, kid: &str) -> bool {
        self.current().verifying.contains_key(kid)
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn audience(&self, audience: Audience) -> &str {
        match audience {
            Audience::App => &self.app_audience,
            Audience::StaffSystem => &self.staff_audience,
        }
    }

    /// The JWKS document.
    pub fn jwks(&self) -> JsonWebKeySet {
        let current = self.current();
        let mut keys: Vec<_> = current.verifying.values().map(|k| k.jwk.clone()).collect();
        keys.sort_by(|a, b| a.kid.cmp(&b.kid));
        JsonWebKeySet { keys }
    }

    /// Signs an access token for `sub`: an app token names its session, a staff-system token
    /// its scope.
    pub fn issue(
        &self,
        audience: Audience,
        sub: String,
        session: Option<AppSession>,
        scope: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<String, TokenError> {
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: self.audience(audience).to_owned(),
            sub,
            exp: now.timestamp() + ACCESS_TOKEN_SECONDS,
            nbf: now.timestamp(),
            iat: now.timestamp(),
            jti: uuid::Uuid::now_v7().to_string(),
            sid: session.map(|s| s.id),
            auth_time: session.map(|s| s.authenticated_at.timestamp()),
            scope,
        };
        let keys = self.current();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(keys.signing_kid.clone());
        header.typ = Some(ACCESS_TOKEN_TYPE.to_owned());
        jsonwebtoken::encode(&header, &claims, &keys.signing).map_err(|_| TokenError::Signing)
    }

    /// Verifies a presented access token at `now`.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<VerifiedToken, TokenError> {
        let digest: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        let keys = self.current();
        let remembered = match self.verified.get(&digest) {
            Some(remembered) => remembered,
            None => {
                let remembered = Arc::new(self.verify_signed(token, &keys)?);
                self.verified.insert(digest, remembered.clone());
                remembered
            }
        };
        // What may have changed since it was first verified: the key retired, the clock moved.
        let claims = &remembered.token.claims;
        if !keys.verifying.contains_key(&remembered.kid)
            || now >= lapses_at(claims)
            || claims.nbf > now.timestamp() + LEEWAY_SECONDS
        {
            return Err(TokenError::Invalid);
        }
        Ok(remembered.token.clone())
    }

    /// The signature, header and claims of a token not seen before.
    fn verify_signed(&self, token: &str, keys: &KeySet) -> Result<Remembered, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        if header.alg != Algorithm::EdDSA || header.typ.as_deref() != Some(ACCESS_TOKEN_TYPE) {
            return Err(TokenError::Invalid);
        }
        let kid = header.kid.ok_or(TokenError::Invalid)?;
        let key = keys.verifying.get(&kid).ok_or(TokenError::Invalid)?;
        let data = jsonwebtoken::decode::<AccessClaims>(token, &key.decoding, &self.validation)
            .map_err(|_| TokenError::Invalid)?;
        let claims = data.claims;
        let audience = if claims.aud == self.app_audience && claims.sid.is_some() {
            Audience::App
        } else if claims.aud == self.staff_audience && claims.scope.is_some() {
            Audience::StaffSystem
        } else {
            return Err(TokenError::Invalid);
        };
        Ok(Remembered {
            kid,
            token: VerifiedToken { audience, claims },
        })
    }

    /// How many verified tokens are remembered now.
    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.verified.len()
    }
}

/// The instant a token stops being accepted: its `exp` plus the leeway.
pub fn lapses_at(claims: &AccessClaims) -> DateTime<Utc> {
    DateTime::from_timestamp(claims.exp.saturating_add(LEEWAY_SECONDS), 0)
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// A key id derived from the public key, so it is stable and reveals nothing.
pub(crate) fn kid_for(key: &SigningKey) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(key.verifying_key().as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..12])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_key() -> (String, SigningKey) {
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        (kid_for(&key), key)
    }

    fn keys() -> TokenKeys {
        let set = KeySet::new(&[new_key()]).unwrap();
        TokenKeys::new(set, "https://livingwell.test")
    }

    // jsonwebtoken 11 compiles without a crypto backend and panics on first use; this test
    // fails if the workspace ever ends up with none or two.
    #[test]
    fn a_signed_token_verifies() {
        let keys = keys();
        let sid = uuid::Uuid::now_v7();
        let token = keys
            .issue(
                Audience::App,
                "someone".into(),
                Some(AppSession {
                    id: sid,
                    authenticated_at: Utc::now(),
                }),
                None,
                Utc::now(),
            )
            .unwrap();
        let verified = keys.verify(&token, Utc::now()).unwrap();
        assert_eq!(verified.audience, Audience::App);
        assert_eq!(verified.claims.sid, Some(sid));
    }

    #[test]
    fn a_token_from_another_key_is_refused() {
        let token = keys()
            .issue(
                Audience::App,
                "x".into(),
                Some(AppSession {
                    id: uuid::Uuid::nil(),
                    authenticated_at: Utc::now(),
                }),
                None,
                Utc::now(),
            )
            .unwrap();
        assert!(keys().verify(&token, Utc::now()).is_err());
    }

    #[test]
    fn expiry_and_not_before_are_read_against_the_given_clock() {
        let keys = keys();
        let issued: DateTime<Utc> = "2026-01-14T11:00:00Z".parse().unwrap();
        let token = keys
            .issue(
                Audience::App,
                "someone".into(),
                Some(AppSession {
                    id: uuid::Uuid::nil(),
                    authenticated_at: issued,
                }),
                None,
                issued,
            )
            .unwrap();
        let at = |seconds: i64| issued + chrono::Duration::seconds(seconds);
        let lapses = ACCESS_TOKEN_SECONDS + LEEWAY_SECONDS;
        assert!(keys.verify(&token, at(-LEEWAY_SECONDS)).is_ok());
        assert!(keys.verify(&token, at(-LEEWAY_SECONDS - 1)).is_err());
        assert!(keys.verify(&token, at(lapses - 1)).is_ok());
        assert!(keys.verify(&token, at(lapses)).is_err());
        assert_eq!(
            lapses_at(&keys.verify(&token, issued).unwrap().claims),
            at(lapses)
        );
    }

    #[test]
    fn a_token_is_verified_once_and_then_only_checked_for_its_key_and_times() {
        let keys = keys();
        let issued = Utc::now();
        let token = keys
            .issue(
                Audience::App,
                "someone".into(),
                Some(AppSession {
                    id: uuid::Uuid::nil(),
                    authenticated_at: issued,
                }),
                None,
                issued,
            )
            .unwrap();
        assert_eq!(keys.remembered(), 0);
        assert!(keys.verify(&token, issued).is_ok());
        assert_eq!(keys.remembered(), 1);
        // Seen again: remembered, not verified again, and still refused once it lapses.
        assert!(keys.verify(&token, issued).is_ok());
        assert_eq!(keys.remembered(), 1);
        let lapsed = issued + chrono::Duration::seconds(ACCESS_TOKEN_SECONDS + LEEWAY_SECONDS);
        assert!(keys.verify(&token, lapsed).is_err());
        // A token altered by one character is not the one remembered, and fails its signature.
        let at = token.rfind('.').unwrap() + 10;
        let swapped = if &token[at..=at] == "A" { "B" } else { "A" };
        let forged = format!("{}{swapped}{}", &token[..at], &token[at + 1..]);
        assert!(keys.verify(&forged, issued).is_err());
        assert_eq!(keys.remembered(), 1);
        // Its key dropped, a remembered token is refused.
        keys.replace(KeySet::new(&[new_key()]).unwrap());
        assert!(keys.verify(&token, issued).is_err());
    }

    #[test]
    fn after_a_reload_the_newest_key_signs_and_the_previous_one_verifies_until_dropped() {
        let (old, new) = (new_key(), new_key());
        let keys = TokenKeys::new(
            KeySet::new(std::slice::from_ref(&old)).unwrap(),
            "https://livingwell.test",
        );
        let sign = |keys: &TokenKeys| {
            keys.issue(
                Audience::App,
                "someone".into(),
                Some(AppSession {
                    id: uuid::Uuid::nil(),
                    authenticated_at: Utc::now(),
                }),
                None,
                Utc::now(),
            )
            .unwrap()
        };
        let kid_of = |token: &str| jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
        let before = sign(&keys);
        keys.replace(KeySet::new(&[new.clone(), old.clone()]).unwrap());
        let after = sign(&keys);
        assert_eq!(kid_of(&before), old.0);
        assert_eq!(kid_of(&after), new.0);
        assert!(keys.verify(&before, Utc::now()).is_ok());
        assert!(keys.knows(&old.0) && keys.knows(&new.0));
        assert_eq!(keys.jwks().keys.len(), 2);
        keys.replace(KeySet::new(std::slice::from_ref(&new)).unwrap());
        assert!(keys.verify(&before, Utc::now()).is_err());
        assert!(!keys.knows(&old.0));
        assert!(keys.verify(&after, Utc::now()).is_ok());
        assert_eq!(keys.jwks().keys.len(), 1);
    }
}
