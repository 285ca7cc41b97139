//! Idempotency keys: a write sent again with the same `Idempotency-Key` has one effect and gets
//! the first answer.
//!
//! Guarantees (the HTTP side is `http::idempotency`; the store side, with the applied mark
//! that carries them across a crash, is [`crate::store::idempotency`]):
//! - **One effect.** The first request with a key claims it; a retry while it runs is told to
//!   wait ([`Claim::Running`]), one after it is given the kept answer ([`Claim::Answered`]).
//! - **One request per key.** A key is the caller's own, and bound to the request it was first
//!   sent with (its [`fingerprint`]): the same key with another request is refused.
//! - **Transient failures are not kept.** An answer that says "try again" (a database that
//!   cannot answer, a rate limit, a lapsed token) lets the key go so the retry runs — unless a
//!   write of the request took effect, which is then kept as written and never run twice.
//! - **After a crash.** A request that held its key past its lease ([`LEASE`] unless the
//!   deployment says otherwise) was abandoned:
//!   a retry runs it again if nothing it wrote took effect, and is told its effect was kept but
//!   its answer lost if something did ([`Claim::AppliedWithoutAnswer`]). The request the
//!   retry replaced may still be running: holding the key by an older lease, it can no longer
//!   write, answer or free it (the fence is the store's, [`crate::store::idempotency`]).
//! - **Finished before the process ends.** A claimed request runs to its end even when its
//!   caller hangs up ([`Idempotency::run_to_end`]), and a shutting-down server waits for those
//!   still running ([`Idempotency::finish_running`]): a graceful restart leaves no key held by
//!   a request that was dropped half-way, which a retry would have to wait out for the lease.
//! - **Kept at least 7 days** ([`KEEP_FOR`]); a job started with the service forgets older keys
//!   once an hour, and ends with the application's shutdown token.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::Duration;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::Clock;
use crate::store::idempotency::{Claim, NewClaim, RequestKey, StoredAnswer};
use crate::store::{Store, StoreResult};

/// How long a key and its answer are kept: a week, and a day to spare.
pub const KEEP_FOR: Duration = Duration::days(8);
/// How long a request holds its key before it counts as abandoned. Longer than any request
/// runs: the database's own timeouts end a stuck one well before.
pub const LEASE: Duration = Duration::minutes(2);
/// How often keys past [`KEEP_FOR`] are forgotten.
const PRUNE_EVERY: StdDuration = StdDuration::from_secs(60 * 60);

/// The idempotency service. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Idempotency {
    store: Arc<dyn Store>,
    clock: Clock,
    lease: Duration,
    /// Keyed requests running to their end, waited for at shutdown.
    running: TaskTracker,
}

impl Idempotency {
    /// The service, with its job forgetting old keys running until `shutdown`. A request holds
    /// its key for `lease` (normally [`LEASE`]) before a retry may count it abandoned.
    pub fn start(
        store: Arc<dyn Store>,
        clock: Clock,
        lease: Duration,
        shutdown: CancellationToken,
    ) -> Self {
        let service = Self {
            store,
            clock,
            lease,
            running: TaskTracker::new(),
        };
        tokio::spawn(service.clone().forget_old_keys(shutdown));
        service
    }

    /// Claims `caller`'s `key` for a request with this fingerprint, or says why not. The key as
    /// this request holds it comes back beside the answer: its writes, its answer and its
    /// release name the lease it holds.
    pub async fn claim(
        &self,
        caller: String,
        key: String,
        fingerprint: Vec<u8>,
    ) -> StoreResult<(Claim, RequestKey)> {
        let at = self.clock.now();
        let key = RequestKey {
            caller,
            key,
            lease_until: at + self.lease,
        };
        let claim = self
            .store
            .claim_idempotency_key(&NewClaim {
                key: key.clone(),
                fingerprint,
                at,
            })
            .await?;
        Ok((claim, key))
    }

    /// Keeps the answer the key's request gave.
    pub async fn answer(&self, key: &RequestKey, answer: &StoredAnswer) -> StoreResult<()> {
        self.store.answer_idempotency_key(key, answer).await
    }

    /// Lets the key go after a transient failure, so a retry runs again; `false` when a write
    /// of the request took effect, and the key is kept.
    pub async fn release(&self, key: &RequestKey) -> StoreResult<bool> {
        self.store.release_idempotency_key(key).await
    }

    /// Runs a keyed request to its end, claim to kept answer, whether or not its caller waits
    /// for it: a phone killed mid-request retries with the same key and must find the answer
    /// kept, not a key held by a request dropped half-way.
    pub fn run_to_end<F>(&self, request: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.running.spawn(request)
    }

    /// At shutdown, once no new request is taken: waits for the keyed requests still running
    /// (at most `limit`, since a database that stopped answering could hold them for ever).
    /// Returns whether all finished.
    pub async fn finish_running(&self, limit: StdDuration) -> bool {
        self.running.close();
        tokio::time::timeout(limit, self.running.wait())
            .await
            .is_ok()
    }

    async fn forget_old_keys(self, shutdown: CancellationToken) {
        let mut every_hour = tokio::time::interval(PRUNE_EVERY);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = every_hour.tick() => {}
            }
            let before = self.clock.now() - KEEP_FOR;
            if let Err(error) = self.store.prune_idempotency_keys(before).await {
                tracing::warn!(
                    kind = error.kind(),
                    "forgetting old idempotency keys failed; retrying in an hour"
                );
            }
        }
    }
}

/// What a request is, for telling a retry from another request under the same key: its
/// method, path and query, the version it was made on (`If-Match`) and its body.
pub fn fingerprint(method: &str, path_and_query: &str, if_match: &[u8], body: &[u8]) -> Vec<u8> {
    let mut hash = Sha256::new();
    for part in [method.as_bytes(), path_and_query.as_bytes(), if_match, body] {
        // Each part's length first, so no two different requests run together the same way.
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    hash.finalize().to_vec()
}
