//! Secrets the platform keeps for the engine: the session's tokens and the store's key.
//!
//! On a phone the app implements [`SecretStore`] over the Keychain (iOS) or Keystore-wrapped
//! storage (Android), so secrets never sit in the engine's files. [`FileSecretStore`] keeps them
//! in files readable by the owner only: for tests and desktop tools, never for a phone.

use std::fmt::Debug;
use std::io::Write;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

/// The name of the secret holding the signed-in session (its tokens).
pub const SESSION: &str = "session";
/// The name of the secret holding the store's 32-byte key.
pub const STORE_KEY: &str = "store-key";

/// Why a secret could not be read or kept.
#[derive(Debug, thiserror::Error)]
#[error("the platform's secret storage failed: {reason}")]
pub struct SecretError {
    /// What failed, without the secret.
    pub reason: String,
}

/// Where the platform keeps the engine's secrets.
pub trait SecretStore: Send + Sync + Debug {
    /// The secret `name`, if kept.
    fn get(&self, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>, SecretError>;
    /// Keeps `value` as the secret `name`, replacing any before.
    fn set(&self, name: &str, value: &[u8]) -> Result<(), SecretError>;
    /// Forgets the secret `name`; forgetting one not kept is not an error.
    fn delete(&self, name: &str) -> Result<(), SecretError>;
}

/// Secrets in files under a directory, readable by the owner only. For tests and desktop.
#[derive(Debug, Clone)]
pub struct FileSecretStore {
    dir: PathBuf,
}

impl FileSecretStore {
    /// Secrets kept in `dir` (made if missing).
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, SecretError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|e| io_error("making the directory", &e))?;
        Ok(Self { dir })
    }

    fn path(&self, name: &str) -> Result<PathBuf, SecretError> {
        let plain = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !plain {
            return Err(SecretError {
                reason: "a secret's name must be letters, digits, '-' or '_'".into(),
            });
        }
        Ok(self.dir.join(name))
    }
}

fn io_error(doing: &str, error: &std::io::Error) -> SecretError {
    SecretError {
        reason: format!("{doing}: {}", error.kind()),
    }
}

impl SecretStore for FileSecretStore {
    fn get(&self, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>, SecretError> {
        match std::fs::read(self.path(name)?) {
            Ok(bytes) => Ok(Some(Zeroizing::new(bytes))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error("reading a secret", &e)),
        }
    }

    fn set(&self, name: &str, value: &[u8]) -> Result<(), SecretError> {
        let path = self.path(name)?;
        write_private(&path, value).map_err(|e| io_error("writing a secret", &e))
    }

    fn delete(&self, name: &str) -> Result<(), SecretError> {
        match std::fs::remove_file(self.path(name)?) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("deleting a secret", &e)),
        }
    }
}

/// Writes `value` to `path` atomically (a temporary file renamed over it), owner-only.
fn write_private(path: &Path, value: &[u8]) -> std::io::Result<()> {
    let temporary = path.with_extension("new");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&temporary)?;
    file.write_all(value)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_kept_replaced_and_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = FileSecretStore::new(dir.path()).unwrap();
        assert!(secrets.get(STORE_KEY).unwrap().is_none());
        secrets.set(STORE_KEY, b"first").unwrap();
        secrets.set(STORE_KEY, b"second").unwrap();
        assert_eq!(
            secrets.get(STORE_KEY).unwrap().unwrap().as_slice(),
            b"second"
        );
        secrets.delete(STORE_KEY).unwrap();
        secrets.delete(STORE_KEY).unwrap();
        assert!(secrets.get(STORE_KEY).unwrap().is_none());
        assert!(secrets.set("../escape", b"x").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn secret_files_are_the_owners_alone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let secrets = FileSecretStore::new(dir.path()).unwrap();
        secrets.set(SESSION, b"tokens").unwrap();
        let mode = std::fs::metadata(dir.path().join(SESSION))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0);
    }
}
