//! Devices registered for push, each held for the session it signed in with.
//!
//! Pushes go only to devices whose session is live: the query joins the session, so signing
//! out, a password reset or a disabled account (each ends the sessions) stop pushes at once,
//! with no second write to forget.

use chrono::{DateTime, Utc};
use livingwell_core::domain::UserId;
use sqlx::{ColumnIndex, Executor};
use uuid::Uuid;

use super::StoreResult;
use super::backend::{Backend, Bind, Column, SqlStore};
use super::idempotency::begin_write;
use super::reads_here::{Columns, HereRow};

/// A device to register.
#[derive(Clone, Debug)]
pub struct NewDevice {
    pub token: String,
    /// `apns` or `fcm`.
    pub platform: &'static str,
    pub user_id: UserId,
    pub session_id: Uuid,
    pub at: DateTime<Utc>,
}

/// A device a push can go to.
#[derive(Clone, PartialEq, Eq)]
pub struct PushDevice {
    pub token: String,
    pub platform: String,
    pub user_id: UserId,
}

// The token addresses a phone: it stays out of any Debug output.
impl std::fmt::Debug for PushDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushDevice")
            .field("platform", &self.platform)
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
pub trait DeviceStore {
    /// Registers a push token for a session; a token registered before (the phone signed in
    /// again, or as someone else) moves to this session.
    async fn register_device(&self, device: &NewDevice) -> StoreResult<()>;
    /// Removes the devices registered for a session.
    async fn remove_devices(&self, session: Uuid) -> StoreResult<()>;
    /// The devices of these accounts whose sessions are live.
    async fn push_devices(&self, users: &[UserId]) -> StoreResult<Vec<PushDevice>>;
}

#[async_trait::async_trait]
impl<DB> DeviceStore for SqlStore<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> &'a str: Bind<DB>,
    Uuid: Column<DB>,
    String: Column<DB>,
    DateTime<Utc>: Column<DB>,
    usize: ColumnIndex<DB::Row>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
    async fn register_device(&self, device: &NewDevice) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        sqlx::query(
            "INSERT INTO devices (token, platform, user_id, session_id, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (token) DO UPDATE SET \
             platform = excluded.platform, user_id = excluded.user_id, \
             session_id = excluded.session_id, created_at = excluded.created_at",
        )
        .bind(device.token.as_str())
        .bind(device.platform)
        .bind(device.user_id.as_uuid())
        .bind(device.session_id)
        .bind(device.at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn remove_devices(&self, session: Uuid) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        sqlx::query("DELETE FROM devices WHERE session_id = $1")
            .bind(session)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn push_devices(&self, users: &[UserId]) -> StoreResult<Vec<PushDevice>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        // The recipients of a burst of writes. Only placeholders are formatted in. On SQLite
        // read on the calling thread.
        let ids: Vec<Uuid> = users.iter().map(UserId::as_uuid).collect();
        let rows: Vec<DeviceRow> = self
            .fetch_rows_for_ids(
                |placeholders| {
                    format!(
                        "SELECT d.token, d.platform, d.user_id FROM devices d \
                         JOIN sessions s ON s.id = d.session_id \
                         WHERE s.revoked_at IS NULL AND d.user_id IN ({placeholders})"
                    )
                },
                &ids,
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| PushDevice {
                token: row.token,
                platform: row.platform,
                user_id: UserId::from(row.user_id),
            })
            .collect())
    }
}

/// A device as [`DeviceStore::push_devices`] reads it.
#[derive(sqlx::FromRow)]
struct DeviceRow {
    token: String,
    platform: String,
    user_id: Uuid,
}

impl HereRow for DeviceRow {
    fn from_here(row: &Columns<'_>) -> Option<Self> {
        Some(DeviceRow {
            token: row.text("token")?,
            platform: row.text("platform")?,
            user_id: row.id("user_id")?,
        })
    }
}
