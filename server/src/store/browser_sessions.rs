//! Browser sign-ins: the team dashboard's cookie, by the SHA-256 of its secret, naming an
//! ordinary session.
//!
//! A browser sign-in is a session like an app's (one row in `sessions`) with no refresh tokens:
//! its cookie is the only credential. [`BrowserSessionStore::browser_session`] answers only
//! while the session is live and the sign-in has not lapsed, so ending the session (signing
//! out, a password reset, a disabled account) ends the cookie on its next request.

use chrono::{DateTime, Utc};
use livingwell_core::domain::UserId;
use sqlx::{ColumnIndex, Executor};
use uuid::Uuid;

use super::StoreResult;
use super::backend::{Backend, Bind, Column, SqlStore};
use super::idempotency::begin_write;

/// A browser sign-in to start.
#[derive(Clone)]
pub struct NewBrowserSession {
    /// The SHA-256 of the cookie's secret.
    pub secret_hash: Vec<u8>,
    pub session_id: Uuid,
    pub user_id: UserId,
    /// The session's refresh secret (never used: a browser session has no refresh tokens, but
    /// every session carries one).
    pub session_secret: [u8; 32],
    pub at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

// The hash names a credential: it stays out of any Debug output.
impl std::fmt::Debug for NewBrowserSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewBrowserSession")
            .field("session_id", &self.session_id)
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
pub trait BrowserSessionStore {
    /// Starts a session and its browser sign-in, in one transaction.
    async fn create_browser_session(&self, new: &NewBrowserSession) -> StoreResult<()>;
    /// The session and account a cookie's secret names, while the session is live and the
    /// sign-in has not lapsed at `now`.
    async fn browser_session(
        &self,
        secret_hash: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<(Uuid, UserId)>>;
}

#[async_trait::async_trait]
impl<DB> BrowserSessionStore for SqlStore<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> &'a str: Bind<DB>,
    for<'a> &'a [u8]: Bind<DB>,
    Uuid: Column<DB>,
    DateTime<Utc>: Column<DB>,
    usize: ColumnIndex<DB::Row>,
{
    async fn create_browser_session(&self, new: &NewBrowserSession) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        sqlx::query(
            "INSERT INTO sessions (id, user_id, created_at, refresh_secret, authenticated_at) \
             VALUES ($1, $2, $3, $4, $3)",
        )
        .bind(new.session_id)
        .bind(new.user_id.as_uuid())
        .bind(new.at)
        .bind(new.session_secret.as_slice())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO browser_sessions (secret_hash, session_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(new.secret_hash.as_slice())
        .bind(new.session_id)
        .bind(new.at)
        .bind(new.expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn browser_session(
        &self,
        secret_hash: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<(Uuid, UserId)>> {
        let row: Option<(Uuid, Uuid)> = sqlx::query_as(
            "SELECT s.id, s.user_id FROM browser_sessions b \
             JOIN sessions s ON s.id = b.session_id \
             WHERE b.secret_hash = $1 AND b.expires_at > $2 AND s.revoked_at IS NULL",
        )
        .bind(secret_hash)
        .bind(now)
        .fetch_optional(&self.db)
        .await?;
        Ok(row.map(|(session, user)| (session, UserId::from(user))))
    }
}
