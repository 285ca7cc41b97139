//! What the app provides: the platform's secure storage (Keychain on iOS, Keystore-wrapped
//! storage on Android), and observers the engine calls when what a screen shows has changed.

use std::sync::Arc;

use livingwell_engine::secrets::{SecretError, SecretStore};
use zeroize::Zeroizing;

/// The platform failed to keep or read a secret (a locked device, say).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum StorageError {
    #[error("secure storage failed: {reason}")]
    Failed { reason: String },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for StorageError {
    fn from(error: uniffi::UnexpectedUniFFICallbackError) -> Self {
        StorageError::Failed {
            reason: error.reason,
        }
    }
}

/// Where the app keeps the engine's secrets: the session's tokens and the store's key. Never
/// in a file the engine writes.
#[uniffi::export(foreign)]
pub trait SecureStorage: Send + Sync {
    /// The secret `name`, if kept.
    fn get(&self, name: String) -> Result<Option<Vec<u8>>, StorageError>;
    /// Keeps `value` as the secret `name`, replacing any before.
    fn set(&self, name: String, value: Vec<u8>) -> Result<(), StorageError>;
    /// Forgets the secret `name`; forgetting one not kept is not an error.
    fn delete(&self, name: String) -> Result<(), StorageError>;
}

/// The app's storage as the engine's [`SecretStore`].
pub(crate) struct Platform(pub(crate) Arc<dyn SecureStorage>);

impl std::fmt::Debug for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Platform")
    }
}

fn failed(error: StorageError) -> SecretError {
    let StorageError::Failed { reason } = error;
    SecretError { reason }
}

impl SecretStore for Platform {
    fn get(&self, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>, SecretError> {
        Ok(self
            .0
            .get(name.to_owned())
            .map_err(failed)?
            .map(Zeroizing::new))
    }

    fn set(&self, name: &str, value: &[u8]) -> Result<(), SecretError> {
        self.0.set(name.to_owned(), value.to_vec()).map_err(failed)
    }

    fn delete(&self, name: &str) -> Result<(), SecretError> {
        self.0.delete(name.to_owned()).map_err(failed)
    }
}

/// Told when what a screen shows may have changed; the screen reads it again.
#[uniffi::export(foreign)]
pub trait ViewObserver: Send + Sync {
    fn changed(&self);
}

/// A subscription, or the engine keeping in touch: ends when closed or dropped.
#[derive(Debug, uniffi::Object)]
pub struct TaskHandle(tokio::task::JoinHandle<()>);

impl TaskHandle {
    pub(crate) fn new(task: tokio::task::JoinHandle<()>) -> Arc<Self> {
        Arc::new(Self(task))
    }
}

#[uniffi::export]
impl TaskHandle {
    /// Ends it now (dropping the handle does too).
    pub fn cancel(&self) {
        self.0.abort();
    }

    pub fn is_finished(&self) -> bool {
        self.0.is_finished()
    }
}

impl Drop for TaskHandle {
    fn drop(&mut self) {
        self.0.abort();
    }
}
