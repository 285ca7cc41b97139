//! Sealing the store's contents and hashing its lookup keys.
//!
//! Policy:
//! - **Contents sealed.** Every record, queued write and cursor is sealed with
//!   XChaCha20-Poly1305 under a key derived from the store's one key (kept by the platform,
//!   never in the store's files), with a random 24-byte nonce, and bound to its table and row as
//!   associated data — a sealed value moved to another row, or another table, does not open.
//! - **Lookup keys hashed.** Anything a row is found by that could identify a person (a
//!   record's id, the person it is about, its conversation) is an HMAC-SHA256 keyed hash,
//!   separated by table, so the files show only opaque, unlinkable values.
//! - The two keys are derived with HKDF-SHA256 from the store's key, so one secret is kept.

use chacha20poly1305::aead::{Aead, KeyInit as _, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

/// The length of the store's key, as the platform keeps it.
pub const STORE_KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;

/// The keys the store works with, derived from its one key.
pub(crate) struct StoreKeys {
    seal: XChaCha20Poly1305,
    lookup: Zeroizing<[u8; 32]>,
}

// The keys never appear in any Debug output.
impl std::fmt::Debug for StoreKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreKeys(..)")
    }
}

/// A value could not be sealed (too long for the cipher), or a sealed value did not open (the
/// wrong key, or a value damaged or moved to another row).
#[derive(Debug, thiserror::Error)]
#[error("a value could not be sealed or opened")]
pub struct CryptoError;

impl StoreKeys {
    pub(crate) fn derive(store_key: &[u8; STORE_KEY_LEN]) -> Self {
        let hkdf = Hkdf::<Sha256>::new(Some(b"living-well phone store v1"), store_key);
        let mut seal = Zeroizing::new([0u8; 32]);
        let mut lookup = Zeroizing::new([0u8; 32]);
        // Expanding 32 bytes from SHA-256 cannot fail (the limit is 255 × 32).
        let _ = hkdf.expand(b"seal", seal.as_mut());
        let _ = hkdf.expand(b"lookup", lookup.as_mut());
        Self {
            seal: XChaCha20Poly1305::new(seal.as_ref().into()),
            lookup,
        }
    }

    /// `plain`, sealed for `row` of `table`: the nonce, then the ciphertext and tag.
    pub(crate) fn seal(
        &self,
        table: &str,
        row: &[u8],
        plain: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::thread_rng().fill_bytes(&mut nonce);
        let aad = associated_data(table, row);
        let sealed = self
            .seal
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plain,
                    aad: &aad,
                },
            )
            .map_err(|_| CryptoError)?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens a value sealed for `row` of `table`.
    pub(crate) fn open(
        &self,
        table: &str,
        row: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if sealed.len() < NONCE_LEN {
            return Err(CryptoError);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CryptoError)?;
        let aad = associated_data(table, row);
        self.seal
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| CryptoError)
    }

    /// The keyed hash a row of `table` is found by, for `value`.
    pub(crate) fn lookup(&self, table: &str, value: &str) -> Vec<u8> {
        // HMAC takes a key of any length.
        let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(self.lookup.as_ref()) else {
            return Vec::new();
        };
        mac.update(&(table.len() as u64).to_be_bytes());
        mac.update(table.as_bytes());
        mac.update(value.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

/// Table and row, unambiguously: the table's length first.
fn associated_data(table: &str, row: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(8 + table.len() + row.len());
    aad.extend_from_slice(&(table.len() as u64).to_be_bytes());
    aad.extend_from_slice(table.as_bytes());
    aad.extend_from_slice(row);
    aad
}

/// A new random store key, for the platform to keep.
pub fn new_store_key() -> Zeroizing<[u8; STORE_KEY_LEN]> {
    let mut key = Zeroizing::new([0u8; STORE_KEY_LEN]);
    rand::thread_rng().fill_bytes(key.as_mut());
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> StoreKeys {
        StoreKeys::derive(&new_store_key())
    }

    #[test]
    fn a_sealed_value_opens_only_in_its_own_row_and_table_under_its_key() {
        let keys = keys();
        let sealed = keys.seal("records", b"row-1", b"crisis plan").unwrap();
        assert_eq!(
            keys.open("records", b"row-1", &sealed).unwrap().as_slice(),
            b"crisis plan"
        );
        assert!(keys.open("records", b"row-2", &sealed).is_err());
        assert!(keys.open("outbox", b"row-1", &sealed).is_err());
        assert!(self::keys().open("records", b"row-1", &sealed).is_err());
        let mut damaged = sealed.clone();
        let last = damaged.len() - 1;
        damaged[last] ^= 1;
        assert!(keys.open("records", b"row-1", &damaged).is_err());
        assert!(keys.open("records", b"row-1", &sealed[..10]).is_err());
        // A fresh nonce each time: the same text never seals the same way twice.
        assert_ne!(
            sealed,
            keys.seal("records", b"row-1", b"crisis plan").unwrap()
        );
    }

    #[test]
    fn lookups_are_stable_per_key_and_table_and_unlinkable_across_them() {
        let keys = keys();
        let a = keys.lookup("records", "person-1");
        assert_eq!(a, keys.lookup("records", "person-1"));
        assert_ne!(a, keys.lookup("outbox", "person-1"));
        assert_ne!(a, self::keys().lookup("records", "person-1"));
        assert_eq!(a.len(), 32);
    }
}
