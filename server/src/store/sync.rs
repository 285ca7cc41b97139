//! Sync cursors: what the server last told a phone, named by the cursor it gave.
//!
//! A cursor is kept while it is used: one unused for longer than the service's keeping time is
//! forgotten, and so is an account's oldest beyond a cap, so an account's cursors stay few.
//!
//! Policy — what a [`SyncFingerprint`] covers: every table a sync reads is counted by trigger
//! into one generation (migration `0024_sync_generation`), except the feeds, which a sync reads
//! after a position and which are fingerprinted by their newest ids, and the tables listed in
//! [`UNREAD_BY_SYNC`]. A table added to the schema is counted unless it is added to that list,
//! with its reason; a test fails until it is one or the other.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use livingwell_core::domain::{PersonId, UserId};
use sqlx::{ColumnIndex, Executor};
use uuid::Uuid;

use super::backend::{Backend, Bind, Column, RowsAffected, SqlStore};
use super::idempotency::begin_write;
use super::reads_here::{Columns, HereRow, Param};
use super::sql::{SessionUserRow, session_user_columns};
use super::{SessionUser, StoreResult};

/// The tables no sync reads, so writing them leaves every phone's copy as it was, each with
/// why. Every other table is counted into the sync generation.
pub const UNREAD_BY_SYNC: &[(&str, &str)] = &[
    (
        "audit_log",
        "the access-log feed: fingerprinted by its newest entry",
    ),
    (
        "events",
        "the notification feed: fingerprinted by its newest event",
    ),
    (
        "messages",
        "a conversation's feed: a new message moves its conversation's last_seq (counted); \
         a message changed or removed is counted by triggers of their own",
    ),
    (
        "sync_cursors",
        "what phones were told, not what they are told",
    ),
    ("sync_generation", "the counter itself"),
    ("idempotency_keys", "answers kept for retried writes"),
    (
        "sessions",
        "sign-ins: checked on every request, never copied to a phone",
    ),
    ("refresh_tokens", "sign-in secrets"),
    ("password_reset_codes", "sign-in secrets"),
    ("signing_keys", "the server's token keys"),
    ("browser_sessions", "the dashboard's sign-ins"),
    ("devices", "push registrations"),
    (
        "offline_reads",
        "reads a phone reported, kept so a retry is answered once",
    ),
    ("webhook_deliveries", "staff systems' delivery queue"),
];

/// What the records and feeds a sync reads were at one moment: a cursor's state worked out
/// after it was taken is what a sync would work out again while it is unchanged (and the
/// clock-driven rules have not moved; see `service::sync`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct SyncFingerprint {
    /// Writes to the tables a sync reads, counted.
    pub generation: i64,
    /// The newest notification for the account.
    pub newest_event: i64,
    /// The newest access-log entry about the account's own person (0 without one).
    pub newest_access: i64,
}

impl SyncFingerprint {
    fn to_text(self) -> String {
        format!(
            "{}.{}.{}",
            self.generation, self.newest_event, self.newest_access
        )
    }

    fn from_text(text: &str) -> Option<Self> {
        let mut parts = text.split('.').map(str::parse::<i64>);
        let fingerprint = Self {
            generation: parts.next()?.ok()?,
            newest_event: parts.next()?.ok()?,
            newest_access: parts.next()?.ok()?,
        };
        parts.next().is_none().then_some(fingerprint)
    }
}

/// A state known to be what a sync works out while the fingerprint stays as it is, until
/// `until` at the latest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unchanged {
    pub fingerprint: SyncFingerprint,
    pub until: DateTime<Utc>,
}

/// A cursor as kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncCursorRecord {
    /// What the phone was told, as the sync service wrote it.
    pub state: String,
    pub last_used_at: DateTime<Utc>,
    /// What the state was worked out at, when the phone was told everything there was.
    pub unchanged: Option<Unchanged>,
    /// The fingerprint now, read in the same statement.
    pub now: SyncFingerprint,
}

/// The columns of a [`SyncFingerprint`] for the account and person (NULL for none) the SQL
/// expressions `user` and `person` name.
fn fingerprint_columns(user: &str, person: &str) -> String {
    format!(
        "(SELECT CAST(COALESCE(SUM(generation), 0) AS BIGINT) FROM sync_generation) \
           AS generation, \
         (SELECT COALESCE(MAX(id), 0) FROM events WHERE recipient_id = {user}) \
           AS newest_event, \
         (SELECT COALESCE(MAX(seq), 0) FROM audit_log WHERE subject_id = {person}) \
           AS newest_access"
    )
}

/// [`SyncStore::sync_fingerprint`]'s query.
static FINGERPRINT: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {}", fingerprint_columns("$1", "$2")));

/// [`SyncStore::sync_cursor`]'s query.
static CURSOR: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT state, last_used_at, fingerprint, fresh_until, {} \
         FROM sync_cursors WHERE user_id = $1 AND id = $3",
        fingerprint_columns("$1", "$2")
    )
});

/// [`SyncStore::session_user_and_sync_cursor`]'s query: the session's account (as
/// `Store::session_user` reads it), its cursor `$3` if kept, and the fingerprint for it.
static SESSION_AND_CURSOR: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {}, c.state, c.last_used_at, c.fingerprint, c.fresh_until, {} \
         FROM sessions s JOIN users u ON u.id = s.user_id \
         LEFT JOIN sync_cursors c ON c.user_id = u.id AND c.id = $3 \
         WHERE s.id = $1 AND s.user_id = $2 AND s.revoked_at IS NULL",
        session_user_columns!(),
        fingerprint_columns("u.id", "u.person_id")
    )
});

#[derive(sqlx::FromRow)]
struct CursorRow {
    state: Option<String>,
    last_used_at: Option<DateTime<Utc>>,
    fingerprint: Option<String>,
    fresh_until: Option<DateTime<Utc>>,
    #[sqlx(flatten)]
    now: SyncFingerprint,
}

impl CursorRow {
    /// The cursor, when one was found.
    fn kept(self) -> Option<SyncCursorRecord> {
        let (state, last_used_at) = self.state.zip(self.last_used_at)?;
        Some(SyncCursorRecord {
            unchanged: self
                .fingerprint
                .as_deref()
                .and_then(SyncFingerprint::from_text)
                .zip(self.fresh_until)
                .map(|(fingerprint, until)| Unchanged { fingerprint, until }),
            state,
            last_used_at,
            now: self.now,
        })
    }
}

impl HereRow for SyncFingerprint {
    fn from_here(row: &Columns<'_>) -> Option<Self> {
        Some(SyncFingerprint {
            generation: row.int("generation")?,
            newest_event: row.int("newest_event")?,
            newest_access: row.int("newest_access")?,
        })
    }
}

impl HereRow for CursorRow {
    fn from_here(row: &Columns<'_>) -> Option<Self> {
        Some(CursorRow {
            state: row.optional_text("state")?,
            last_used_at: row.optional_time("last_used_at")?,
            fingerprint: row.optional_text("fingerprint")?,
            fresh_until: row.optional_time("fresh_until")?,
            now: SyncFingerprint::from_here(row)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct SessionCursorRow {
    #[sqlx(flatten)]
    session: SessionUserRow,
    #[sqlx(flatten)]
    cursor: CursorRow,
}

impl HereRow for SessionCursorRow {
    fn from_here(row: &Columns<'_>) -> Option<Self> {
        Some(SessionCursorRow {
            session: SessionUserRow::from_here(row)?,
            cursor: CursorRow::from_here(row)?,
        })
    }
}

#[async_trait::async_trait]
pub trait SyncStore {
    /// The account's cursor `id`, if kept, with the fingerprint now for the account and its
    /// own `person`.
    async fn sync_cursor(
        &self,
        user: UserId,
        person: Option<PersonId>,
        id: &str,
    ) -> StoreResult<Option<SyncCursorRecord>>;
    /// The live session's account (as `Store::session_user` reads it) and its cursor `id`, if
    /// kept, with the fingerprint now, in one query: what a sync from a cursor needs first.
    async fn session_user_and_sync_cursor(
        &self,
        session: Uuid,
        user: UserId,
        id: &str,
    ) -> StoreResult<Option<(SessionUser, Option<SyncCursorRecord>)>>;
    /// The fingerprint now for the account and its own `person`.
    async fn sync_fingerprint(
        &self,
        user: UserId,
        person: Option<PersonId>,
    ) -> StoreResult<SyncFingerprint>;
    /// Keeps `state` under `id` for the account, used `at`, with what it is known unchanged
    /// by; a cursor kept before under the id (a replayed page) is marked used and takes it.
    async fn save_sync_cursor(
        &self,
        user: UserId,
        id: &str,
        state: &str,
        at: DateTime<Utc>,
        unchanged: Option<Unchanged>,
    ) -> StoreResult<()>;
    /// The earliest start of one of the person's appointments after `after`.
    async fn next_appointment_start(
        &self,
        person: PersonId,
        after: DateTime<Utc>,
    ) -> StoreResult<Option<DateTime<Utc>>>;
    /// The earliest moment after `after` at which a workshop offer anyone holds lapses.
    async fn next_offer_lapse(&self, after: DateTime<Utc>) -> StoreResult<Option<DateTime<Utc>>>;
    /// Folds the sync generation's rows of ended connections into one, keeping the sum;
    /// returns how many were folded.
    async fn fold_sync_generation(&self) -> StoreResult<u64>;
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
    Option<Uuid>: Bind<DB>,
    String: Column<DB>,
    Option<String>: Column<DB>,
    DateTime<Utc>: Column<DB>,
    Option<DateTime<Utc>>: Column<DB>,
    i64: Column<DB>,
    usize: ColumnIndex<DB::Row>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
    async fn sync_cursor(
        &self,
        user: UserId,
        person: Option<PersonId>,
        id: &str,
    ) -> StoreResult<Option<SyncCursorRecord>> {
        let row: Option<CursorRow> = sqlx::query_as(sqlx::AssertSqlSafe(CURSOR.as_str()))
            .bind(user.as_uuid())
            .bind(person.map(|p| p.as_uuid()))
            .bind(id)
            .fetch_optional(&self.db)
            .await?;
        Ok(row.and_then(CursorRow::kept))
    }

    async fn session_user_and_sync_cursor(
        &self,
        session: Uuid,
        user: UserId,
        id: &str,
    ) -> StoreResult<Option<(SessionUser, Option<SyncCursorRecord>)>> {
        let row: Option<SessionCursorRow> = self
            .fetch_optional_row(
                SESSION_AND_CURSOR.as_str(),
                &[
                    Param::Id(session),
                    Param::Id(user.as_uuid()),
                    Param::Text(id),
                ],
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some((
            row.session.into_session_user(session)?,
            row.cursor.kept(),
        )))
    }

    async fn sync_fingerprint(
        &self,
        user: UserId,
        person: Option<PersonId>,
    ) -> StoreResult<SyncFingerprint> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(FINGERPRINT.as_str()))
            .bind(user.as_uuid())
            .bind(person.map(|p| p.as_uuid()))
            .fetch_one(&self.db)
            .await?)
    }

    async fn save_sync_cursor(
        &self,
        user: UserId,
        id: &str,
        state: &str,
        at: DateTime<Utc>,
        unchanged: Option<Unchanged>,
    ) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        sqlx::query(
            "INSERT INTO sync_cursors \
               (user_id, id, state, created_at, last_used_at, fingerprint, fresh_until) \
             VALUES ($1, $2, $3, $4, $4, $5, $6) \
             ON CONFLICT (user_id, id) DO UPDATE SET last_used_at = excluded.last_used_at, \
               fingerprint = excluded.fingerprint, fresh_until = excluded.fresh_until",
        )
        .bind(user.as_uuid())
        .bind(id)
        .bind(state)
        .bind(at)
        .bind(unchanged.map(|u| u.fingerprint.to_text()))
        .bind(unchanged.map(|u| u.until))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn next_appointment_start(
        &self,
        person: PersonId,
        after: DateTime<Utc>,
    ) -> StoreResult<Option<DateTime<Utc>>> {
        let (start,): (Option<DateTime<Utc>>,) = sqlx::query_as(
            "SELECT MIN(starts_at) FROM appointments WHERE person_id = $1 AND starts_at > $2",
        )
        .bind(person.as_uuid())
        .bind(after)
        .fetch_one(&self.db)
        .await?;
        Ok(start)
    }

    async fn next_offer_lapse(&self, after: DateTime<Utc>) -> StoreResult<Option<DateTime<Utc>>> {
        let (lapse,): (Option<DateTime<Utc>>,) = sqlx::query_as(
            "SELECT MIN(offer_expires_at) FROM bookings \
             WHERE status = 'offered' AND offer_expires_at > $1",
        )
        .bind(after)
        .fetch_one(&self.db)
        .await?;
        Ok(lapse)
    }

    async fn fold_sync_generation(&self) -> StoreResult<u64> {
        DB::fold_sync_generation(&self.pool).await
    }

    async fn prune_sync_cursors(
        &self,
        before: DateTime<Utc>,
        keep_per_account: i64,
    ) -> StoreResult<u64> {
        let mut tx = begin_write(self).await?;
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
