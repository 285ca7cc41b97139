//! Sync cursors: what the server last told a phone, named by the cursor it gave.
//!
//! A cursor is kept while it is used: one unused for longer than the service's keeping time is
//! forgotten, and so is an account's oldest beyond a cap, so an account's cursors stay few.

use chrono::{DateTime, Utc};
use livingwell_core::domain::UserId;
use sqlx::{ColumnIndex, Executor};
use uuid::Uuid;

use super::StoreResult;
use super::backend::{Backend, Bind, Column, RowsAffected, SqlStore};
use super::idempotency::begin_write;

/// A cursor as kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncCursorRecord {
    /// What the phone was told, as the sync service wrote it.
    pub state: String,
    pub last_used_at: DateTime<Utc>,
}

#[async_trait::async_trait]
pub trait SyncStore {
    /// The account's cursor `id`, if kept.
    async fn sync_cursor(&self, user: UserId, id: &str) -> StoreResult<Option<SyncCursorRecord>>;
    /// Keeps `state` under `id` for the account, used `at`; a cursor kept before under the id
    /// (a replayed page) is marked used.
    async fn save_sync_cursor(
        &self,
        user: UserId,
        id: &str,
        state: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Forgets cursors last used before `before`, and each account's beyond its newest
    /// `keep_per_account`; returns how many.
    async fn prune_sync_cursors(
        &self,
        before: DateTime<Utc>,
        keep_per_account: i64,
    ) -> StoreResult<u64>;
}

#[async_trait::async_trait]
impl<DB> SyncStore for SqlStore<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> &'a str: Bind<DB>,
    Uuid: Column<DB>,
    String: Column<DB>,
    DateTime<Utc>: Column<DB>,
    i64: Column<DB>,
    usize: ColumnIndex<DB::Row>,
{
    async fn sync_cursor(&self, user: UserId, id: &str) -> StoreResult<Option<SyncCursorRecord>> {
        let row: Option<(String, DateTime<Utc>)> = sqlx::query_as(
            "SELECT state, last_used_at FROM sync_cursors WHERE user_id = $1 AND id = $2",
        )
        .bind(user.as_uuid())
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(state, last_used_at)| SyncCursorRecord {
            state,
            last_used_at,
        }))
    }

    async fn save_sync_cursor(
        &self,
        user: UserId,
        id: &str,
        state: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = begin_write(&self.pool).await?;
        sqlx::query(
            "INSERT INTO sync_cursors (user_id, id, state, created_at, last_used_at) \
             VALUES ($1, $2, $3, $4, $4) \
             ON CONFLICT (user_id, id) DO UPDATE SET last_used_at = excluded.last_used_at",
        )
        .bind(user.as_uuid())
        .bind(id)
        .bind(state)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn prune_sync_cursors(
        &self,
        before: DateTime<Utc>,
        keep_per_account: i64,
    ) -> StoreResult<u64> {
        let mut tx = begin_write(&self.pool).await?;
        let unused = sqlx::query("DELETE FROM sync_cursors WHERE last_used_at < $1")
            .bind(before)
            .execute(&mut *tx)
            .await?;
        let beyond_cap = sqlx::query(
            "DELETE FROM sync_cursors WHERE (user_id, id) IN ( \
               SELECT user_id, id FROM ( \
                 SELECT user_id, id, ROW_NUMBER() OVER ( \
                   PARTITION BY user_id ORDER BY last_used_at DESC, id) AS newest \
                 FROM sync_cursors) ranked \
               WHERE newest > $1)",
        )
        .bind(keep_per_account)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(unused.rows_affected() + beyond_cap.rows_affected())
    }
}
