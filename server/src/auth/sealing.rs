//! Token signing keys sealed at rest.
//!
//! **Guarantee: the database never holds a usable private key.** Each Ed25519 signing key is
//! stored sealed with XChaCha20-Poly1305 under a key-encryption key (KEK) that lives in a file,
//! never in the database. A dump, a backup or a replica of the database cannot sign a token on
//! its own; kept off the database host, the KEK file is out of reach of whoever holds that host.
//!
//! - **Stored form:** `LWSK`, a format version byte (1), a random 24-byte nonce (random nonces of
//!   this size never repeat in practice), then the key's PKCS#8 DER encrypted, with its 16-byte
//!   tag. The version lets a later format be told apart from this one and from plain DER.
//! - **Bound to its key id:** the `kid` is the associated data, so sealed bytes copied onto
//!   another row do not open; nobody who can only write the database can pass one key off as
//!   another.
//! - **A wrong KEK stops start-up.** A key that does not open is an error naming its `kid` (which
//!   is public: it is in the JWKS), never a byte of either key; the server does not start rather
//!   than sign with keys it cannot read.
//! - **The KEK file is exactly 32 raw bytes.** Anything else, hex or base64 text included, is
//!   refused with a message saying so. `serve` creates one when none is named and none exists:
//!   32 random bytes, mode 0600, written atomically and never over an existing file.
//! - **Keys from before sealing** (plain PKCS#8 DER rows) are recognised and sealed in place
//!   the next time the keys are loaded ([`super::key_ring`]).
//! - **Other secrets the server must read back** (a webhook subscription's signing secret) are
//!   sealed the same way ([`KeyEncryptionKey::seal_secret`]), bound to what they are and to
//!   their row's id.
//! - **Keys derived from the KEK** ([`KeyEncryptionKey::derive_secret`]) serve processes that
//!   share the KEK file and must agree on a key none of them stores: HMAC-SHA-256 of a purpose
//!   under the KEK, so each purpose has its own key and none reveals the KEK (the referral
//!   proof-of-work challenges are signed with one).

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{Context, bail};
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use zeroize::Zeroizing;

/// The length of a key-encryption key, and of its file.
pub const KEK_LEN: usize = 32;

/// The KEK's file name in the data directory, when no file is named.
pub const KEK_FILE_NAME: &str = "livingwell.kek";

/// What every sealed key starts with: a tag and the format version.
const SEALED_V1: &[u8] = b"LWSK\x01";
/// The tag alone, to tell a sealed key of an unknown version from a plain one.
const SEALED_TAG: &[u8] = b"LWSK";
const NONCE_LEN: usize = 24;

/// Where a sealed key's associated data begins; the `kid` follows.
const ASSOCIATED_DATA_CONTEXT: &str = "livingwell token signing key v1\n";

/// The key that seals the token signing keys. Its bytes are never shown, not even in `Debug`.
#[derive(Clone)]
pub struct KeyEncryptionKey {
    cipher: XChaCha20Poly1305,
    /// The KEK's bytes, only to derive purpose keys from ([`Self::derive_secret`]).
    bytes: Zeroizing<[u8; KEK_LEN]>,
}

impl std::fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyEncryptionKey(..)")
    }
}

/// A stored key, opened.
#[derive(Debug)]
pub enum StoredKey {
    /// Sealed, as every key should be.
    Sealed(SigningKey),
    /// Plain PKCS#8 DER, as written before keys were sealed: to be sealed in place.
    Plain(SigningKey),
}

/// Why a stored key could not be opened. Names no key material.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("the key-encryption key does not open it")]
    WrongKey,
    #[error("it is sealed in a format this version does not know")]
    UnknownFormat,
    #[error("it is not an Ed25519 private key")]
    NotAKey,
}

#[derive(Debug, thiserror::Error)]
#[error("a signing key could not be sealed")]
pub struct SealError;

impl KeyEncryptionKey {
    /// Reads the KEK file; `None` when there is no such file.
    pub fn read(path: &Path) -> anyhow::Result<Option<Self>> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => Zeroizing::new(bytes),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => {
                return Err(error).with_context(|| {
                    format!("reading the key-encryption key file {}", path.display())
                });
            }
        };
        if bytes.len() != KEK_LEN {
            bail!(
                "the key-encryption key file {} must hold exactly {KEK_LEN} raw bytes (not hex \
                 or base64 text), but it holds {}; `head -c {KEK_LEN} /dev/urandom > FILE` \
                 makes one",
                path.display(),
                bytes.len()
            );
        }
        warn_if_others_can_read(path);
        let mut raw = Zeroizing::new([0u8; KEK_LEN]);
        raw.copy_from_slice(&bytes);
        Ok(Some(Self::from_bytes(raw)))
    }

    /// Creates the KEK file: 32 random bytes, mode 0600. When another process created it first,
    /// its key is the one returned.
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating the directory {}", dir.display()))?;
        }
        let key = XChaCha20Poly1305::generate_key(&mut OsRng);
        crate::files::create_new(path, &key, 0o600)
            .context("creating the key-encryption key file")?;
        Self::read(path)?.with_context(|| {
            format!(
                "the key-encryption key file {} vanished as it was created",
                path.display()
            )
        })
    }

    /// A key that lives only as long as this process: what [`crate::http::Settings`] holds
    /// unless told otherwise, for tests and benchmarks that run servers in one process. Keys
    /// sealed under it cannot be opened after a restart, so a deployment that forgot to name
    /// its KEK fails loudly at its next start rather than run on keys nobody can recover.
    pub fn for_this_process() -> Self {
        static KEY: OnceLock<KeyEncryptionKey> = OnceLock::new();
        KEY.get_or_init(|| {
            let mut raw = Zeroizing::new([0u8; KEK_LEN]);
            raw.copy_from_slice(&XChaCha20Poly1305::generate_key(&mut OsRng));
            Self::from_bytes(raw)
        })
        .clone()
    }

    fn from_bytes(bytes: Zeroizing<[u8; KEK_LEN]>) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(&(*bytes).into()),
            bytes,
        }
    }

    /// A key of its own for `purpose`, the same in every process with this KEK:
    /// HMAC-SHA-256(KEK, `livingwell derived key v1` and the purpose).
    pub fn derive_secret(&self, purpose: &str) -> Zeroizing<[u8; 32]> {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(self.bytes.as_slice())
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(b"livingwell derived key v1\n");
        mac.update(purpose.as_bytes());
        Zeroizing::new(mac.finalize().into_bytes().into())
    }

    /// Seals `key`, stored under `kid`.
    pub fn seal(&self, kid: &str, key: &SigningKey) -> Result<Vec<u8>, SealError> {
        let der = key.to_pkcs8_der().map_err(|_| SealError)?;
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let aad = associated_data(kid);
        let ciphertext = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: der.as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| SealError)?;
        let mut sealed = Vec::with_capacity(SEALED_V1.len() + NONCE_LEN + ciphertext.len());
        sealed.extend_from_slice(SEALED_V1);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        Ok(sealed)
    }

    /// Opens the key stored under `kid`, sealed or (from before sealing) plain.
    pub fn open(&self, kid: &str, stored: &[u8]) -> Result<StoredKey, OpenError> {
        let Some(body) = stored.strip_prefix(SEALED_V1) else {
            if is_sealed(stored) {
                return Err(OpenError::UnknownFormat);
            }
            return SigningKey::from_pkcs8_der(stored)
                .map(StoredKey::Plain)
                .map_err(|_| OpenError::UnknownFormat);
        };
        let (nonce, ciphertext) = body
            .split_first_chunk::<NONCE_LEN>()
            .ok_or(OpenError::UnknownFormat)?;
        let aad = associated_data(kid);
        let der = self
            .cipher
            .decrypt(
                &XNonce::from(*nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| OpenError::WrongKey)?;
        SigningKey::from_pkcs8_der(&der)
            .map(StoredKey::Sealed)
            .map_err(|_| OpenError::NotAKey)
    }
}

impl KeyEncryptionKey {
    /// Seals a secret the server must read back, bound to `purpose` and `id` (associated
    /// data), in the same format as a signing key.
    pub fn seal_secret(
        &self,
        purpose: &str,
        id: &str,
        secret: &[u8],
    ) -> Result<Vec<u8>, SealError> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let aad = secret_associated_data(purpose, id);
        let ciphertext = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: secret,
                    aad: &aad,
                },
            )
            .map_err(|_| SealError)?;
        let mut sealed = Vec::with_capacity(SEALED_V1.len() + NONCE_LEN + ciphertext.len());
        sealed.extend_from_slice(SEALED_V1);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        Ok(sealed)
    }

    /// Opens a secret sealed by [`Self::seal_secret`] with the same `purpose` and `id`.
    pub fn open_secret(
        &self,
        purpose: &str,
        id: &str,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, OpenError> {
        let body = sealed
            .strip_prefix(SEALED_V1)
            .ok_or(OpenError::UnknownFormat)?;
        let (nonce, ciphertext) = body
            .split_first_chunk::<NONCE_LEN>()
            .ok_or(OpenError::UnknownFormat)?;
        let aad = secret_associated_data(purpose, id);
        self.cipher
            .decrypt(
                &XNonce::from(*nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| OpenError::WrongKey)
    }
}

fn secret_associated_data(purpose: &str, id: &str) -> Vec<u8> {
    format!("livingwell secret v1\n{purpose}\n{id}").into_bytes()
}

/// Whether stored key bytes are sealed (in any format version), rather than plain.
pub fn is_sealed(stored: &[u8]) -> bool {
    stored.starts_with(SEALED_TAG)
}

fn associated_data(kid: &str) -> Vec<u8> {
    format!("{ASSOCIATED_DATA_CONTEXT}{kid}").into_bytes()
}

/// The KEK is as secret as every signing key together; say so when the file is not private.
fn warn_if_others_can_read(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(metadata) = std::fs::metadata(path)
            && metadata.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                path = %path.display(),
                "the key-encryption key file is open to other users; make it mode 0600"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kek() -> KeyEncryptionKey {
        let mut raw = Zeroizing::new([0u8; KEK_LEN]);
        raw.copy_from_slice(&XChaCha20Poly1305::generate_key(&mut OsRng));
        KeyEncryptionKey::from_bytes(raw)
    }

    #[test]
    fn a_derived_secret_is_the_same_for_one_kek_and_purpose_only() {
        let ours = kek();
        let again = KeyEncryptionKey::from_bytes(ours.bytes.clone());
        assert_eq!(
            *ours.derive_secret("referral proof"),
            *again.derive_secret("referral proof")
        );
        assert_ne!(
            *ours.derive_secret("referral proof"),
            *ours.derive_secret("other")
        );
        assert_ne!(
            *ours.derive_secret("referral proof"),
            *kek().derive_secret("referral proof")
        );
        assert_ne!(
            ours.derive_secret("referral proof").as_slice(),
            ours.bytes.as_slice()
        );
    }

    fn opened(stored: StoredKey) -> SigningKey {
        match stored {
            StoredKey::Sealed(key) => key,
            StoredKey::Plain(_) => panic!("a sealed key read as plain"),
        }
    }

    #[test]
    fn a_sealed_secret_opens_only_for_its_purpose_and_id() {
        let ours = kek();
        let sealed = ours.seal_secret("webhook", "w1", b"shh").unwrap();
        assert!(!sealed.windows(3).any(|w| w == b"shh"));
        let opened = ours.open_secret("webhook", "w1", &sealed).unwrap();
        assert_eq!(opened.as_slice(), b"shh");
        assert!(ours.open_secret("webhook", "w2", &sealed).is_err());
        assert!(ours.open_secret("other", "w1", &sealed).is_err());
        assert!(kek().open_secret("webhook", "w1", &sealed).is_err());
    }

    #[test]
    fn a_sealed_key_opens_under_its_kid_and_is_not_der() {
        let kek = kek();
        let key = SigningKey::generate(&mut OsRng);
        let sealed = kek.seal("kid-1", &key).unwrap();
        assert!(SigningKey::from_pkcs8_der(&sealed).is_err());
        let der = key.to_pkcs8_der().unwrap();
        assert!(
            !sealed
                .windows(der.as_bytes().len())
                .any(|w| w == der.as_bytes())
        );
        assert_eq!(
            opened(kek.open("kid-1", &sealed).unwrap()).to_bytes(),
            key.to_bytes()
        );
        // Two seals of one key differ (fresh nonce).
        assert_ne!(kek.seal("kid-1", &key).unwrap(), sealed);
    }

    #[test]
    fn a_sealed_key_does_not_open_under_another_kid_or_kek() {
        let kek = kek();
        let sealed = kek
            .seal("kid-1", &SigningKey::generate(&mut OsRng))
            .unwrap();
        assert!(matches!(
            kek.open("kid-2", &sealed),
            Err(OpenError::WrongKey)
        ));
        assert!(matches!(
            super::tests::kek().open("kid-1", &sealed),
            Err(OpenError::WrongKey)
        ));
        let mut later = sealed.clone();
        later[4] = 2;
        assert!(matches!(
            kek.open("kid-1", &later),
            Err(OpenError::UnknownFormat)
        ));
        assert!(matches!(
            kek.open("kid-1", &sealed[..10]),
            Err(OpenError::UnknownFormat)
        ));
    }

    #[test]
    fn a_plain_der_key_is_recognised_as_unsealed() {
        let key = SigningKey::generate(&mut OsRng);
        let der = key.to_pkcs8_der().unwrap();
        assert!(matches!(
            kek().open("kid-1", der.as_bytes()),
            Ok(StoredKey::Plain(plain)) if plain.to_bytes() == key.to_bytes()
        ));
        assert!(matches!(
            kek().open("kid-1", b"garbage"),
            Err(OpenError::UnknownFormat)
        ));
    }

    #[test]
    fn the_kek_file_is_created_private_once_and_must_be_32_raw_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys").join(KEK_FILE_NAME);
        assert!(KeyEncryptionKey::read(&path).unwrap().is_none());
        let created = KeyEncryptionKey::create(&path).unwrap();
        let key = SigningKey::generate(&mut OsRng);
        let sealed = created.seal("kid", &key).unwrap();
        let reread = KeyEncryptionKey::read(&path).unwrap().unwrap();
        assert!(matches!(
            reread.open("kid", &sealed),
            Ok(StoredKey::Sealed(_))
        ));
        // A second create keeps the first file.
        let again = KeyEncryptionKey::create(&path).unwrap();
        assert!(again.open("kid", &sealed).is_ok());
        assert_eq!(std::fs::read(&path).unwrap().len(), KEK_LEN);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let hex = dir.path().join("hex.kek");
        std::fs::write(&hex, format!("{}\n", "ab".repeat(KEK_LEN))).unwrap();
        let refused = KeyEncryptionKey::read(&hex).unwrap_err().to_string();
        assert!(refused.contains("exactly 32 raw bytes"), "{refused}");
        assert!(refused.contains("holds 65"), "{refused}");
        assert!(!refused.contains("abab"), "{refused}");
    }
}
