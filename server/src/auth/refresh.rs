//! Opaque refresh tokens: random, stored only as a hash, rotated on every use.
//!
//! Rotation rule: a refresh token can be exchanged once. A second use of the same token within
//! [`REUSE_GRACE`] is taken to be a racing refresh from the same device (two requests in flight
//! when the app woke up) and gets a fresh pair of its own. A use after that means the token was
//! copied: the whole family (the session) is revoked, which also ends every access token issued
//! from it, and the caller must sign in again.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// How long a refresh token may be used, unused.
pub const LIFETIME: Duration = Duration::days(30);
/// How long after rotation a token is still honoured for a racing request.
pub const REUSE_GRACE: Duration = Duration::seconds(10);
const PREFIX: &str = "lwr_";

/// A new token: the secret for the client and the hash to store.
pub fn generate() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = digest(&token);
    (token, hash)
}

/// The stored form of a token.
pub fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}
