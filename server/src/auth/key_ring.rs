//! The token signing keys as stored: sealed, rotated, and reloaded by every running process.
//!
//! Guarantees:
//! - **Every key is sealed at rest** ([`super::sealing`]). A key found plain — written before
//!   keys were sealed — is sealed in place when the keys are loaded, and start-up stops if the
//!   key-encryption key does not open every key in use.
//! - **Rotation signs no one out.** `livingwell keys rotate` adds a key, and the newest key signs.
//!   The keys it replaces keep verifying until every token they can have signed has expired:
//!   [`retirement_delay`] after the rotation, which is an access token's lifetime and leeway plus
//!   two reload intervals (a process signs with the old key until it next reloads, and one failed
//!   reload is tolerated). Then a key is retired: gone from the JWKS, no longer verifying, its
//!   sealed bytes deleted from the database.
//! - **Running processes follow without a restart.** Each reloads the keys every minute, and at
//!   once when a token names a kid it does not know — at most once a second, so tokens with
//!   made-up kids cannot make every request read the database. A reload that fails keeps the
//!   keys in force, is logged, and is tried again at the next interval.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use ed25519_dalek::SigningKey;
use tokio_util::sync::CancellationToken;

use super::sealing::{KeyEncryptionKey, OpenError, StoredKey};
use super::tokens::{ACCESS_TOKEN_SECONDS, KeySet, LEEWAY_SECONDS, TokenKeys, kid_for};
use crate::clock::Clock;
use crate::store::{SigningKeyRecord, Store, StoreError};

/// How often a running process reads the keys again.
pub const DEFAULT_RELOAD_INTERVAL: Duration = Duration::from_secs(60);

/// The least time between two reloads caused by tokens naming kids this process does not know.
const UNKNOWN_KID_RELOAD_GAP: Duration = Duration::from_secs(1);

/// How long after a rotation the keys it replaced keep verifying.
pub fn retirement_delay() -> TimeDelta {
    // i128 holds each constant whatever integer type it is declared with.
    let seconds = i128::from(ACCESS_TOKEN_SECONDS)
        + i128::from(LEEWAY_SECONDS)
        + 2 * i128::from(DEFAULT_RELOAD_INTERVAL.as_secs());
    TimeDelta::seconds(i64::try_from(seconds).unwrap_or(i64::MAX))
}

#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    /// The KEK does not open a key, or a key is stored in a form this version cannot read.
    #[error(
        "signing key {kid} cannot be opened: {reason} (is this the key-encryption key the \
         database's keys were sealed with?)"
    )]
    Unreadable { kid: String, reason: OpenError },
    #[error("the database holds no signing key in use")]
    NoKeys,
    #[error("a signing key could not be made")]
    Making,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What `livingwell keys rotate` did.
#[derive(Debug)]
pub struct Rotation {
    /// The new key, which signs from now on.
    pub kid: String,
    /// The keys it replaces, each with the time it is retired.
    pub retiring: Vec<(String, DateTime<Utc>)>,
}

/// This process's view of the stored keys, and the [`TokenKeys`] it keeps up to date.
#[derive(Debug)]
pub struct KeyRing {
    store: Arc<dyn Store>,
    kek: KeyEncryptionKey,
    /// Judges which keys have reached their retirement time.
    clock: Clock,
    tokens: Arc<TokenKeys>,
    /// When a token's unknown kid last made this process read the keys.
    unknown_kid_reloaded_at: tokio::sync::Mutex<Option<Instant>>,
}

impl KeyRing {
    /// Opens the stored keys — sealing plain ones, creating the first key on an empty database —
    /// and fails unless every key in use opens.
    pub async fn open(
        store: Arc<dyn Store>,
        kek: KeyEncryptionKey,
        issuer: &str,
        clock: Clock,
    ) -> Result<Arc<Self>, KeyRingError> {
        let mut keys = open_stored(store.as_ref(), &kek, clock.now()).await?;
        if keys.is_empty() {
            let key = SigningKey::generate(&mut rand::rngs::OsRng);
            store
                .insert_signing_key(&sealed_record(&kek, &key, clock.now())?)
                .await?;
            // Read back rather than use `key`: a process starting at the same moment may have
            // stored a key too, and then all of them verify and the newest signs.
            keys = open_stored(store.as_ref(), &kek, clock.now()).await?;
        }
        let set = key_set(&keys)?;
        Ok(Arc::new(Self {
            tokens: Arc::new(TokenKeys::new(set, issuer)),
            store,
            kek,
            clock,
            unknown_kid_reloaded_at: tokio::sync::Mutex::new(None),
        }))
    }

    /// The keys requests are signed and verified with.
    pub fn tokens(&self) -> Arc<TokenKeys> {
        self.tokens.clone()
    }

    /// Reads the keys again, retiring those whose time has come.
    pub async fn reload(&self) -> Result<(), KeyRingError> {
        let keys = open_stored(self.store.as_ref(), &self.kek, self.clock.now()).await?;
        self.tokens.replace(key_set(&keys)?);
        Ok(())
    }

    /// Reloads every `interval` until `shutdown`.
    pub async fn reload_every(self: Arc<Self>, interval: Duration, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate, and the keys have just been loaded.
        ticks.tick().await;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            if let Err(error) = self.reload().await {
                log_failed_reload(&error);
            }
        }
    }

    /// Before `token` is verified: if it names a kid this process does not know, perhaps a key
    /// another process has just added, reloads the keys — unless a token did so less than
    /// [`UNKNOWN_KID_RELOAD_GAP`] ago. Concurrent requests with a new kid wait for one reload.
    pub async fn learn_kid_of(&self, token: &str) {
        let Some(kid) = jsonwebtoken::decode_header(token)
            .ok()
            .and_then(|header| header.kid)
        else {
            return;
        };
        if self.tokens.knows(&kid) {
            return;
        }
        let mut reloaded_at = self.unknown_kid_reloaded_at.lock().await;
        if self.tokens.knows(&kid)
            || reloaded_at.is_some_and(|at| at.elapsed() < UNKNOWN_KID_RELOAD_GAP)
        {
            return;
        }
        *reloaded_at = Some(Instant::now());
        if let Err(error) = self.reload().await {
            log_failed_reload(&error);
        }
    }
}

/// Adds a new key that signs from now on; the keys in use before it retire once every token
/// they can have signed has expired. `now` is when the rotation happens.
pub async fn rotate(
    store: &dyn Store,
    kek: &KeyEncryptionKey,
    now: DateTime<Utc>,
) -> Result<Rotation, KeyRingError> {
    // Opening the stored keys first proves this is the deployment's KEK: a key sealed under
    // another would be one the running servers cannot open.
    let previous = open_stored(store, kek, now).await?;
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    let record = sealed_record(kek, &key, now)?;
    let retire_after = now + retirement_delay();
    store.rotate_signing_key(&record, retire_after).await?;
    // Keys already retiring keep their earlier time.
    let retiring = store
        .signing_keys()
        .await?
        .into_iter()
        .filter(|stored| previous.iter().any(|(kid, _)| *kid == stored.kid))
        .filter_map(|stored| Some((stored.kid, stored.retire_after?)))
        .collect();
    Ok(Rotation {
        kid: record.kid,
        retiring,
    })
}

/// Whether any key in use is sealed, and so needs the key-encryption key it was sealed with.
pub async fn holds_sealed_keys(store: &dyn Store) -> Result<bool, StoreError> {
    Ok(store
        .signing_keys()
        .await?
        .iter()
        .any(|key| super::sealing::is_sealed(&key.sealed_private_key)))
}

fn key_set(keys: &[(String, SigningKey)]) -> Result<KeySet, KeyRingError> {
    if keys.is_empty() {
        return Err(KeyRingError::NoKeys);
    }
    KeySet::new(keys).map_err(|_| KeyRingError::Making)
}

fn sealed_record(
    kek: &KeyEncryptionKey,
    key: &SigningKey,
    created_at: DateTime<Utc>,
) -> Result<SigningKeyRecord, KeyRingError> {
    let kid = kid_for(key);
    Ok(SigningKeyRecord {
        sealed_private_key: kek.seal(&kid, key).map_err(|_| KeyRingError::Making)?,
        kid,
        created_at,
        retire_after: None,
    })
}

/// The keys in use at `now`, newest first, opened. Keys whose retirement time has passed are
/// retired on the way; plain keys are sealed in place.
async fn open_stored(
    store: &dyn Store,
    kek: &KeyEncryptionKey,
    now: DateTime<Utc>,
) -> Result<Vec<(String, SigningKey)>, KeyRingError> {
    let due = |record: &SigningKeyRecord| record.retire_after.is_some_and(|at| at <= now);
    let records = store.signing_keys().await?;
    // Retiring writes; most loads find nothing due and write nothing.
    if records.iter().any(due) {
        for kid in store.retire_signing_keys(now).await? {
            tracing::info!(
                kid,
                "signing key retired: every token it signed has expired"
            );
        }
    }
    let mut keys = Vec::with_capacity(records.len());
    for record in records.into_iter().filter(|record| !due(record)) {
        let key = match kek.open(&record.kid, &record.sealed_private_key) {
            Ok(StoredKey::Sealed(key)) => key,
            Ok(StoredKey::Plain(key)) => {
                let sealed = kek
                    .seal(&record.kid, &key)
                    .map_err(|_| KeyRingError::Making)?;
                // Unless another process sealed it first: either seal opens with this KEK.
                if store
                    .reseal_signing_key(&record.kid, &record.sealed_private_key, &sealed)
                    .await?
                {
                    tracing::warn!(
                        kid = record.kid,
                        "signing key was stored unsealed (before keys were sealed); sealed it \
                         in place. Rotate the keys so that it retires: copies of the database \
                         from before this hold it in the clear"
                    );
                }
                key
            }
            Err(reason) => {
                return Err(KeyRingError::Unreadable {
                    kid: record.kid,
                    reason,
                });
            }
        };
        keys.push((record.kid, key));
    }
    Ok(keys)
}

fn log_failed_reload(error: &KeyRingError) {
    match error {
        // A database's own error text can quote stored values; its kind is enough here.
        KeyRingError::Store(error) => tracing::warn!(
            kind = error.kind(),
            "reloading the token signing keys failed; the keys in force stay in force"
        ),
        error => tracing::warn!(
            %error,
            "reloading the token signing keys failed; the keys in force stay in force"
        ),
    }
}
