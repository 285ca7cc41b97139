//! Opaque refresh tokens: stored only as a hash, rotated on every use, and never more than one
//! live branch per session (token family).
//!
//! - **Derived successors.** A session's first token is random. Each later one is derived from
//!   the token it replaces: `lwr_` + base64url(HMAC-SHA256(session secret, parent token)), the
//!   secret random per session and kept with it. Only hashes of tokens are stored, yet the
//!   successor of a presented token can be computed again at any time.
//! - **Idempotent within the grace.** A token is exchanged once. Presenting it again within
//!   [`REUSE_GRACE`] — requests racing when the app woke up, or a retry after a lost answer —
//!   returns the *same* successor (with a fresh access token of the same session): the first
//!   exchange stores the successor's hash, the others find it (insert-or-ignore on the unique
//!   hash), so ten parallel refreshes leave one live token, not ten.
//! - **Reuse revokes.** A spent token presented after the grace, or within it once its successor
//!   has itself been exchanged, is a copy being replayed: the whole family is revoked, which
//!   ends every access token and event stream of the session, and the caller signs in again.
//! - **Expiry.** A family is refused once its current token has gone unused for [`LIFETIME`]
//!   (idle expiry) and, however busy, [`ABSOLUTE_LIFETIME`] after sign-in (absolute expiry).
//!   Both are read on the application's clock.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// How long a refresh token may go unused before its family lapses (idle expiry).
pub const LIFETIME: Duration = Duration::days(30);
/// How long a session lasts from sign-in however often it is refreshed (absolute expiry): a
/// stolen family kept alive by an attacker still dies, and every account proves its password
/// at least once a quarter. 90 days is one quarter, long enough that a person who uses the app
/// daily is rarely asked.
pub const ABSOLUTE_LIFETIME: Duration = Duration::days(90);
/// How long after rotation a token is still honoured for a racing request.
pub const REUSE_GRACE: Duration = Duration::seconds(10);
const PREFIX: &str = "lwr_";

/// A session's first token: the secret for the client and the hash to store.
pub fn generate() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    encode(&bytes)
}

/// A new session's secret, from which its tokens' successors are derived.
pub fn session_secret() -> [u8; 32] {
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    secret
}

/// The token that replaces `parent` in the session with `session_secret`, and its hash; the
/// same every time it is asked for.
pub fn successor(
    session_secret: &[u8],
    parent: &str,
) -> Result<(String, Vec<u8>), hmac::digest::InvalidLength> {
    let mut mac = Hmac::<Sha256>::new_from_slice(session_secret)?;
    mac.update(parent.as_bytes());
    Ok(encode(&mac.finalize().into_bytes()))
}

fn encode(bytes: &[u8]) -> (String, Vec<u8>) {
    let token = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = digest(&token);
    (token, hash)
}

/// The stored form of a token.
pub fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The instant a session begun at `started` can no longer be refreshed.
pub fn session_ends_at(started: DateTime<Utc>) -> DateTime<Utc> {
    started + ABSOLUTE_LIFETIME
}

/// When a token issued `now` in a session begun at `started` lapses if unused.
pub fn expires_at(now: DateTime<Utc>, started: DateTime<Utc>) -> DateTime<Utc> {
    (now + LIFETIME).min(session_ends_at(started))
}

/// Whether a token spent at `rotated_at` is still honoured at `now` (as a racing request).
pub fn within_grace(rotated_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now - rotated_at <= REUSE_GRACE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_successor_is_the_same_each_time_and_differs_by_session_and_parent() {
        let secret = session_secret();
        let (parent, _) = generate();
        let (first, first_hash) = successor(&secret, &parent).unwrap();
        let (again, again_hash) = successor(&secret, &parent).unwrap();
        assert_eq!((&first, &first_hash), (&again, &again_hash));
        assert!(first.starts_with(PREFIX));
        assert_eq!(first_hash, digest(&first));
        assert_ne!(successor(&session_secret(), &parent).unwrap().0, first);
        assert_ne!(successor(&secret, &first).unwrap().0, first);
    }

    #[test]
    fn a_token_never_outlives_its_session() {
        let started: DateTime<Utc> = "2026-01-14T11:00:00Z".parse().unwrap();
        assert_eq!(expires_at(started, started), started + LIFETIME);
        let late = started + Duration::days(80);
        assert_eq!(expires_at(late, started), started + ABSOLUTE_LIFETIME);
    }
}
