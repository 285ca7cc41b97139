//! Idempotency keys: which keyed request holds a key, the answer it gave, and whether its
//! write took effect.
//!
//! The claim, the answer and the release are each one transaction. What makes a key safe
//! across a crash is the **applied mark**: while a keyed request runs (its [`RequestKey`] is set
//! for the task, see [`REQUEST_KEY`]), every write transaction the store opens for it marks the
//! key applied as its first statement ([`begin_write`]), so the mark commits exactly when a write
//! does and vanishes with one rolled back. A key whose request died without an answer is then
//! run again only if nothing it wrote took effect.
//!
//! A request holds its key by its claim's lease ([`RequestKey::lease_until`]). A retry that
//! takes over a key whose lease passed sets a lease of its own, so the request it replaced —
//! still running, only slower than its lease — finds the key no longer its own: its writes, its
//! answer and its release all name the lease they hold, and change nothing once it has gone.
//! Without that fence both would write.

use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Executor};

use super::backend::{Backend, Bind, Column, RowsAffected, SqlStore, Tx};
use super::error::KEY_TAKEN_OVER;
use super::{StoreError, StoreResult};

/// The request a write is made for, when it came with an `Idempotency-Key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestKey {
    /// The caller's audit id: a key is the caller's own, never shared with another account.
    pub caller: String,
    pub key: String,
    /// Until when this request holds the key: its claim's lease, which tells it from a retry
    /// that took the key over once the lease had passed.
    pub lease_until: DateTime<Utc>,
}

tokio::task_local! {
    /// Set around a keyed request's handler: every write transaction the store opens while it
    /// runs marks the key applied, in that transaction.
    pub static REQUEST_KEY: RequestKey;
}

/// A keyed request asking to hold its key.
#[derive(Clone, Debug)]
pub struct NewClaim {
    pub key: RequestKey,
    /// What the request is (method, path, version precondition, body), hashed: the same key
    /// with another request is refused.
    pub fingerprint: Vec<u8>,
    /// When it was made. The key's lease (`key.lease_until`) is until when the request counts
    /// as still running; a key held past it was abandoned.
    pub at: DateTime<Utc>,
}

/// An answer as kept for replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredAnswer {
    pub status: u16,
    pub content_type: Option<String>,
    pub etag: Option<String>,
    pub body: Vec<u8>,
}

/// What came of claiming a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The key is this request's now: run it.
    Claimed,
    /// The key was answered before: give the same answer.
    Answered(StoredAnswer),
    /// A request with this key is running now.
    Running,
    /// The key was used for another request.
    OtherRequest,
    /// A request with this key stopped without answering (the server stopped) after a write
    /// of it took effect: running it again could write twice.
    AppliedWithoutAnswer,
}

#[async_trait::async_trait]
pub trait IdempotencyStore {
    /// Claims `claim.key` for a request, or says why not. A key abandoned by a request that
    /// wrote nothing is taken over.
    async fn claim_idempotency_key(&self, claim: &NewClaim) -> StoreResult<Claim>;
    /// Keeps the answer the key's request gave.
    async fn answer_idempotency_key(
        &self,
        key: &RequestKey,
        answer: &StoredAnswer,
    ) -> StoreResult<()>;
    /// Lets the key go, so a retry runs again — unless a write of its request took effect, in
    /// which case the key is kept and `false` returned.
    async fn release_idempotency_key(&self, key: &RequestKey) -> StoreResult<bool>;
    /// Forgets keys claimed before `before`; returns how many.
    async fn prune_idempotency_keys(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}

/// Opens a write transaction for the store's own writes. While a keyed request runs, its first
/// statement marks the key applied, so the mark commits exactly when the write does.
pub(super) async fn begin_write<DB>(store: &SqlStore<DB>) -> StoreResult<Tx<DB>>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> &'a str: Bind<DB>,
    DateTime<Utc>: Bind<DB>,
{
    let mut tx = store.write_transaction().await?;
    if let Ok(key) = REQUEST_KEY.try_with(RequestKey::clone) {
        let marked = sqlx::query(
            "UPDATE idempotency_keys SET applied = TRUE \
             WHERE caller = $1 AND key = $2 AND lease_until = $3",
        )
        .bind(key.caller.as_str())
        .bind(key.key.as_str())
        .bind(key.lease_until)
        .execute(&mut *tx)
        .await?;
        if marked.rows_affected() != 1 {
            // A retry took the key over: this request's writes must not take effect.
            return Err(StoreError::Conflict(&KEY_TAKEN_OVER));
        }
    }
    Ok(tx)
}

type KeyRow = (
    Vec<u8>,
    DateTime<Utc>,
    bool,
    Option<i32>,
    Option<String>,
    Option<String>,
    Option<Vec<u8>>,
);

#[async_trait::async_trait]
impl<DB> IdempotencyStore for SqlStore<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> &'a str: Bind<DB>,
    for<'a> &'a [u8]: Bind<DB>,
    Vec<u8>: Column<DB>,
    Option<Vec<u8>>: Column<DB>,
    DateTime<Utc>: Column<DB>,
    bool: Column<DB>,
    i32: Bind<DB>,
    Option<i32>: Column<DB>,
    Option<String>: Column<DB>,
    usize: ColumnIndex<DB::Row>,
{
    async fn claim_idempotency_key(&self, claim: &NewClaim) -> StoreResult<Claim> {
        // Not `begin_write`: claiming is not a write of the request's own.
        let mut tx = self.write_transaction().await?;
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (caller, key, fingerprint, created_at, lease_until) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (caller, key) DO NOTHING",
        )
        .bind(claim.key.caller.as_str())
        .bind(claim.key.key.as_str())
        .bind(claim.fingerprint.as_slice())
        .bind(claim.at)
        .bind(claim.key.lease_until)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 1 {
            tx.commit().await?;
            return Ok(Claim::Claimed);
        }
        let (fingerprint, lease_until, applied, status, content_type, etag, body): KeyRow =
            sqlx::query_as(
                "SELECT fingerprint, lease_until, applied, status, content_type, etag, body \
                 FROM idempotency_keys WHERE caller = $1 AND key = $2",
            )
            .bind(claim.key.caller.as_str())
            .bind(claim.key.key.as_str())
            .fetch_one(&mut *tx)
            .await?;
        let claimed = if fingerprint != claim.fingerprint {
            Claim::OtherRequest
        } else if let Some(status) = status {
            Claim::Answered(StoredAnswer {
                status: u16::try_from(status).unwrap_or(500),
                content_type,
                etag,
                body: body.unwrap_or_default(),
            })
        } else if lease_until > claim.at {
            Claim::Running
        } else if applied {
            Claim::AppliedWithoutAnswer
        } else {
            // Abandoned before anything it wrote took effect: this request takes it over, unless
            // the request it replaces marked it applied since it was read (Postgres reads the
            // row again once that request's transaction ends).
            let taken = sqlx::query(
                "UPDATE idempotency_keys SET lease_until = $3 \
                 WHERE caller = $1 AND key = $2 AND lease_until = $4 AND NOT applied",
            )
            .bind(claim.key.caller.as_str())
            .bind(claim.key.key.as_str())
            .bind(claim.key.lease_until)
            .bind(lease_until)
            .execute(&mut *tx)
            .await?;
            if taken.rows_affected() == 1 {
                Claim::Claimed
            } else {
                Claim::Running
            }
        };
        tx.commit().await?;
        Ok(claimed)
    }

    async fn answer_idempotency_key(
        &self,
        key: &RequestKey,
        answer: &StoredAnswer,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE idempotency_keys SET status = $3, content_type = $4, etag = $5, body = $6 \
             WHERE caller = $1 AND key = $2 AND lease_until = $7",
        )
        .bind(key.caller.as_str())
        .bind(key.key.as_str())
        .bind(i32::from(answer.status))
        .bind(answer.content_type.clone())
        .bind(answer.etag.clone())
        .bind(answer.body.as_slice())
        .bind(key.lease_until)
        .execute(self.lone_write().await?.pool())
        .await?;
        Ok(())
    }

    async fn release_idempotency_key(&self, key: &RequestKey) -> StoreResult<bool> {
        let released = sqlx::query(
            "DELETE FROM idempotency_keys \
             WHERE caller = $1 AND key = $2 AND lease_until = $3 AND NOT applied",
        )
        .bind(key.caller.as_str())
        .bind(key.key.as_str())
        .bind(key.lease_until)
        .execute(self.lone_write().await?.pool())
        .await?;
        Ok(released.rows_affected() == 1)
    }

    async fn prune_idempotency_keys(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let pruned = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(before)
            .execute(self.lone_write().await?.pool())
            .await?;
        Ok(pruned.rows_affected())
    }
}
