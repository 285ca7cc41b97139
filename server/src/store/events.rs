//! Stored events: the durable side of every account's event stream.

use chrono::{DateTime, Utc};
use livingwell_core::domain::{PersonId, UserId};
use sqlx::{ColumnIndex, Executor};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::StoreResult;
use super::backend::{Backend, Bind, Column, SqlStore};

/// An event to store for one recipient.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    pub recipient_id: UserId,
    pub kind: String,
    pub person_id: Option<PersonId>,
    pub data: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// An event as stored, with its id (the position in every stream).
#[derive(Clone, Debug, PartialEq)]
pub struct EventRecord {
    pub id: i64,
    pub event: NewEvent,
}

#[derive(sqlx::FromRow)]
struct EventRow {
    id: i64,
    recipient_id: Uuid,
    kind: String,
    person_id: Option<Uuid>,
    data: serde_json::Value,
    created_at: DateTime<Utc>,
}

impl From<EventRow> for EventRecord {
    fn from(row: EventRow) -> Self {
        EventRecord {
            id: row.id,
            event: NewEvent {
                recipient_id: row.recipient_id.into(),
                kind: row.kind,
                person_id: row.person_id.map(Into::into),
                data: row.data,
                created_at: row.created_at,
            },
        }
    }
}

const EVENT_COLUMNS: &str = "id, recipient_id, kind, person_id, data, created_at";

#[async_trait::async_trait]
pub trait EventStore {
    /// Stores events in one transaction; they get ids in commit order. On Postgres the commit
    /// also notifies every process listening (see [`crate::events`]).
    async fn append_events(&self, events: &[NewEvent]) -> StoreResult<Vec<EventRecord>>;
    /// One recipient's events after `after`, oldest first.
    async fn events_for(
        &self,
        recipient: UserId,
        after: i64,
        limit: i64,
    ) -> StoreResult<Vec<EventRecord>>;
    /// Everyone's events after `after`, oldest first (for fanning out to live streams).
    async fn events_after(&self, after: i64, limit: i64) -> StoreResult<Vec<EventRecord>>;
    /// The newest event id, 0 when there is none.
    async fn last_event_id(&self) -> StoreResult<i64>;
    /// What every process sharing the database commits, as it commits it: new events and ended
    /// sessions, this process's own included. `None` for a database one process owns (SQLite),
    /// whose writer announces its own commits.
    async fn notices(&self) -> StoreResult<Option<mpsc::Receiver<StoreNotice>>>;
}

/// What a shared database tells each process of commits made anywhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreNotice {
    /// Events were appended, up to this id at least.
    EventsAppended,
    /// This session was revoked.
    SessionEnded(Uuid),
    /// Notices may have been missed (the connection dropped, or one could not be read): new
    /// events are to be read again, and ended sessions checked in the database.
    MaybeMissed,
}

#[async_trait::async_trait]
impl<DB> EventStore for SqlStore<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
    Uuid: Column<DB>,
    Option<Uuid>: Bind<DB>,
    i64: Column<DB>,
    String: Column<DB>,
    serde_json::Value: Column<DB>,
    DateTime<Utc>: Column<DB>,
    usize: ColumnIndex<DB::Row>,
{
    async fn append_events(&self, events: &[NewEvent]) -> StoreResult<Vec<EventRecord>> {
        let mut tx = DB::begin_write(&self.pool).await?;
        DB::lock_events(&mut tx).await?;
        let mut stored = Vec::with_capacity(events.len());
        for event in events {
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO events (recipient_id, kind, person_id, data, created_at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(event.recipient_id.as_uuid())
            .bind(&event.kind)
            .bind(event.person_id.map(|p| p.as_uuid()))
            .bind(&event.data)
            .bind(event.created_at)
            .fetch_one(&mut *tx)
            .await?;
            stored.push(EventRecord {
                id,
                event: event.clone(),
            });
        }
        if let Some(last) = stored.last() {
            DB::notify_events(&mut tx, last.id).await?;
        }
        tx.commit().await?;
        Ok(stored)
    }

    async fn events_for(
        &self,
        recipient: UserId,
        after: i64,
        limit: i64,
    ) -> StoreResult<Vec<EventRecord>> {
        let rows: Vec<EventRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE recipient_id = $1 AND id > $2 \
             ORDER BY id LIMIT $3"
        )))
        .bind(recipient.as_uuid())
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn events_after(&self, after: i64, limit: i64) -> StoreResult<Vec<EventRecord>> {
        let rows: Vec<EventRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE id > $1 ORDER BY id LIMIT $2"
        )))
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn last_event_id(&self) -> StoreResult<i64> {
        let (last,): (Option<i64>,) = sqlx::query_as("SELECT MAX(id) FROM events")
            .fetch_one(&self.pool)
            .await?;
        Ok(last.unwrap_or(0))
    }

    async fn notices(&self) -> StoreResult<Option<mpsc::Receiver<StoreNotice>>> {
        DB::listen_for_notices(&self.pool).await
    }
}
