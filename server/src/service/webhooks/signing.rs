//! Signing deliveries as Standard Webhooks do, so any of their verifiers accepts them.
//!
//! The secret is `whsec_` and the base64 of 32 random bytes; the bytes key HMAC-SHA256 over
//! `{webhook-id}.{webhook-timestamp}.{body}`, sent as `webhook-signature: v1,<base64>`. The id
//! is the delivery's own, the same on every attempt, so a receiver can drop a repeat; the
//! timestamp is the attempt's, so a receiver can refuse an old one replayed.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use livingwell_core::api::webhooks::SECRET_PREFIX;
use rand::RngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

/// The number of random bytes in a secret (Standard Webhooks asks for 24 to 64).
pub const SECRET_BYTES: usize = 32;

/// A new secret's bytes, to seal and keep.
pub fn new_secret() -> Zeroizing<Vec<u8>> {
    let mut bytes = Zeroizing::new(vec![0u8; SECRET_BYTES]);
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
}

/// The secret as the staff system is given it: `whsec_…`.
pub fn secret_text(bytes: &[u8]) -> String {
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

/// The `webhook-signature` value for one attempt.
pub fn signature(secret: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    // HMAC takes a key of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The example in the Standard Webhooks specification and its reference libraries' tests.
    #[test]
    fn the_specifications_example_signs_as_the_reference_libraries_do() {
        let secret = STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            signature(&secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_secret_is_whsec_and_base64_of_32_random_bytes() {
        let bytes = new_secret();
        let text = secret_text(&bytes);
        let encoded = text.strip_prefix("whsec_").unwrap();
        assert_eq!(
            STANDARD.decode(encoded).unwrap().as_slice(),
            bytes.as_slice()
        );
        assert_ne!(new_secret().as_slice(), bytes.as_slice());
    }
}
