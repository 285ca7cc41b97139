//! Stored events: the durable side of every account's event stream, written as an outbox.
//!
//! Guarantees:
//! - **Committed with what they announce.** Events are written by the write they announce, in
//!   that write's transaction ([`append_in_tx`]): a stored write always has its events, and a
//!   write that fails, or stores nothing (a stale plan version, an activation already open), has
//!   none. Nothing appends events after a commit, so no event can be lost between the two.
//!   Telling live streams is a separate, later step that cannot fail a write
//!   ([`crate::events::EventHub::announce_committed`]).
//! - **Each recipient's ids in commit order.** An append takes the ordering lock of each of its
//!   recipients ([`Backend::append_events_then_audit`]) until its transaction commits, so a
//!   stream that has read its recipient's events up to id N can never later find a smaller id
//!   of theirs committed. Appends to other recipients do not wait: ids of *different*
//!   recipients may commit out of order on Postgres, so nothing reads everyone's events by a
//!   running id there; a process hears which events each commit stored
//!   ([`StoreNotice::EventsStored`], or their ids when there are too many to carry,
//!   [`StoreNotice::EventsAppended`]). Each write appends as its last step, so the locks are
//!   held only for the commit; on Postgres the commit also notifies every listening process.
//! - **Webhooks too.** The same append queues the webhook deliveries staff systems subscribed
//!   to ([`super::webhooks::enqueue_in_tx`]), in the same transaction.
//! - **One vocabulary, ids only.** An event is a [`livingwell_core::api::events::Event`], stored
//!   as the two halves of its wire form (`kind`, `data`) and read back typed; a row that is not a
//!   known kind is reported as corrupt, never passed on half-read. So a new kind must be
//!   readable everywhere before it is written: added in one release and written from the next,
//!   or older processes sharing the database fail to read it.

use chrono::{DateTime, Utc};
use livingwell_core::api::events::Event;
use livingwell_core::domain::{PersonId, UserId};
use serde::{Deserialize, Serialize};
use sqlx::{ColumnIndex, Executor};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::backend::{Backend, Bind, Column, SqlStore, Tx};
use super::reads_here::padded_to_power_of_two;
use super::{NewAuditEntry, StoreError, StoreResult};

/// An event to store for one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEvent {
    /// `None`: no account hears of it (a crisis plan activated by a person no one else
    /// supports, say); nothing is stored for streams or notifications, but it still happened,
    /// and staff systems' webhooks are told of it. Always `Some` in a stored record.
    pub recipient_id: Option<UserId>,
    pub person_id: Option<PersonId>,
    pub event: Event,
    /// When the write it announces was made.
    pub created_at: DateTime<Utc>,
}

/// An event as stored, with its id (the position in every stream).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRecord {
    pub id: i64,
    pub event: NewEvent,
}

/// Who hears of a write: each recipient gets one event, about one person (none for a carer's
/// own conversation).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Audience {
    pub recipients: Vec<UserId>,
    pub person_id: Option<PersonId>,
}

impl Audience {
    /// `event`, once for each recipient, dated `at` (the write's own time); with no
    /// recipient, once for no one, so that what happened is still told to webhooks.
    pub fn tell(&self, event: &Event, at: DateTime<Utc>) -> Vec<NewEvent> {
        let told = |recipient_id| NewEvent {
            recipient_id,
            person_id: self.person_id,
            event: event.clone(),
            created_at: at,
        };
        if self.recipients.is_empty() {
            return vec![told(None)];
        }
        self.recipients
            .iter()
            .map(|recipient| told(Some(*recipient)))
            .collect()
    }
}

/// An event as the `events` table holds it: the two halves of its wire form.
#[derive(Deserialize, Serialize)]
struct StoredForm {
    kind: String,
    data: serde_json::Value,
}

impl StoredForm {
    fn of(event: &Event) -> StoreResult<Self> {
        serde_json::to_value(event)
            .and_then(serde_json::from_value)
            .map_err(|_| StoreError::Corrupt("an event without a kind and data".into()))
    }

    fn into_event(self) -> StoreResult<Event> {
        serde_json::to_value(self)
            .and_then(serde_json::from_value)
            .map_err(|_| StoreError::Corrupt("a stored event of no known kind".into()))
    }
}

/// A stored event's columns, as read from the table or carried whole by a notification (which
/// names them alike, see [`records_from_json`]).
#[derive(Deserialize, sqlx::FromRow)]
struct EventRow {
    id: i64,
    recipient_id: Uuid,
    kind: String,
    person_id: Option<Uuid>,
    data: serde_json::Value,
    created_at: DateTime<Utc>,
}

impl TryFrom<EventRow> for EventRecord {
    type Error = StoreError;

    fn try_from(row: EventRow) -> StoreResult<Self> {
        let stored = StoredForm {
            kind: row.kind,
            data: row.data,
        };
        Ok(EventRecord {
            id: row.id,
            event: NewEvent {
                recipient_id: Some(row.recipient_id.into()),
                person_id: row.person_id.map(Into::into),
                event: stored.into_event()?,
                created_at: row.created_at,
            },
        })
    }
}

/// The events a notification carries whole: a JSON array of their rows, each an object keyed by
/// column name (Postgres's `json_agg` of the stored rows, migration 0027).
pub(super) fn records_from_json(rows: &str) -> StoreResult<Vec<EventRecord>> {
    let rows: Vec<EventRow> = serde_json::from_str(rows)
        .map_err(|_| StoreError::Corrupt("a notification's events are not rows".into()))?;
    rows.into_iter().map(TryInto::try_into).collect()
}

const EVENT_COLUMNS: &str = "id, recipient_id, kind, person_id, data, created_at";

/// Appends the events a write announces, inside that write's transaction; call it as the
/// write's last step before commit (it takes the event-ordering lock until then). On Postgres
/// the commit notifies every listening process.
pub(super) async fn append_in_tx<DB>(tx: &mut Tx<DB>, events: &[NewEvent]) -> StoreResult<()>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> &'a str: Bind<DB>,
    Uuid: Column<DB>,
    DateTime<Utc>: Bind<DB>,
    usize: ColumnIndex<DB::Row>,
{
    append_then_audit_in_tx(tx, events, &[]).await
}

/// As [`append_in_tx`], then appends `accesses` to the audit chain in the same transaction,
/// its lock taken after the recipients' (on Postgres in the same statement as the events).
pub(super) async fn append_then_audit_in_tx<DB>(
    tx: &mut Tx<DB>,
    events: &[NewEvent],
    accesses: &[&NewAuditEntry],
) -> StoreResult<()>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> &'a str: Bind<DB>,
    Uuid: Column<DB>,
    DateTime<Utc>: Bind<DB>,
    usize: ColumnIndex<DB::Row>,
{
    if !events.is_empty() {
        // The webhook deliveries of what these events tell, in the same transaction (an
        // outbox of its own): a stored write always has them too.
        super::webhooks::enqueue_in_tx(tx, events).await?;
    }
    // Only events someone hears of are stored; the rest were for webhooks alone.
    let mut forms = Vec::with_capacity(events.len());
    for event in events {
        if let Some(recipient) = event.recipient_id {
            forms.push((recipient, event, StoredForm::of(&event.event)?));
        }
    }
    let rows: Vec<EventToStore<'_>> = forms
        .iter()
        .map(|(recipient, event, form)| EventToStore {
            recipient: *recipient,
            kind: &form.kind,
            person: event.person_id,
            data: &form.data,
            created_at: event.created_at,
        })
        .collect();
    DB::append_events_then_audit(tx, &rows, accesses).await
}

/// Events stored (or read by id) by one statement: 5 parameters each, well under SQLite's limit
/// of 32,766 parameters a statement and Postgres's 65,535.
pub(super) const EVENT_ROWS_PER_STATEMENT: usize = 512;

/// One recipient's copy of an event, in the form the `events` table stores it.
#[derive(Debug)]
pub struct EventToStore<'a> {
    pub recipient: UserId,
    pub kind: &'a str,
    pub person: Option<PersonId>,
    pub data: &'a serde_json::Value,
    pub created_at: DateTime<Utc>,
}

#[async_trait::async_trait]
pub trait EventStore {
    /// One recipient's events after `after`, oldest first.
    async fn events_for(
        &self,
        recipient: UserId,
        after: i64,
        limit: i64,
    ) -> StoreResult<Vec<EventRecord>>;
    /// Everyone's events after `after`, oldest first (for fanning out to live streams). Only
    /// on a database with one writer do all ids commit in order: see
    /// [`StoreNotice::EventsAppendedInOrder`].
    async fn events_after(&self, after: i64, limit: i64) -> StoreResult<Vec<EventRecord>>;
    /// The events `ids` that are stored, oldest first (for fanning out what a notification
    /// named).
    async fn events_by_ids(&self, ids: &[i64]) -> StoreResult<Vec<EventRecord>>;
    /// The newest event id, 0 when there is none.
    async fn last_event_id(&self) -> StoreResult<i64>;
    /// The newest of one recipient's event ids, 0 when there is none: where a stream opened
    /// without `Last-Event-ID` starts. None of theirs committed later can be smaller.
    async fn last_event_id_for(&self, recipient: UserId) -> StoreResult<i64>;
    /// What every process sharing the database commits, as it commits it: new events and ended
    /// sessions, this process's own included. `None` for a database one process owns (SQLite),
    /// whose writer announces its own commits.
    async fn notices(&self) -> StoreResult<Option<mpsc::Receiver<StoreNotice>>>;
}

/// What a shared database tells each process of commits made anywhere.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreNotice {
    /// These events were committed (by any process sharing the database), carried whole.
    EventsStored(Vec<EventRecord>),
    /// The events of these ids were committed (by any process sharing the database), too many
    /// to carry whole: they are to be read.
    EventsAppended(Vec<i64>),
    /// Events were committed on a database with one writer, where ids commit in order:
    /// everything after the last id read is new.
    EventsAppendedInOrder,
    /// Events were committed, too many to name in a notification: every stream reads its own.
    EventsAppendedUnlisted,
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
    i64: Column<DB>,
    String: Column<DB>,
    serde_json::Value: Column<DB>,
    DateTime<Utc>: Column<DB>,
    usize: ColumnIndex<DB::Row>,
{
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
        .fetch_all(&self.db)
        .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn events_after(&self, after: i64, limit: i64) -> StoreResult<Vec<EventRecord>> {
        let rows: Vec<EventRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE id > $1 ORDER BY id LIMIT $2"
        )))
        .bind(after)
        .bind(limit)
        .fetch_all(&self.db)
        .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn events_by_ids(&self, ids: &[i64]) -> StoreResult<Vec<EventRecord>> {
        let mut records = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(EVENT_ROWS_PER_STATEMENT) {
            let mut select = sqlx::QueryBuilder::<DB>::new(format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE id IN ("
            ));
            let mut listed = select.separated(", ");
            for id in padded_to_power_of_two(chunk) {
                listed.push_bind(id);
            }
            select.push(") ORDER BY id");
            let rows: Vec<EventRow> = select.build_query_as().fetch_all(&self.db).await?;
            for row in rows {
                records.push(row.try_into()?);
            }
        }
        Ok(records)
    }

    async fn last_event_id(&self) -> StoreResult<i64> {
        let (last,): (Option<i64>,) = sqlx::query_as("SELECT MAX(id) FROM events")
            .fetch_one(&self.db)
            .await?;
        Ok(last.unwrap_or(0))
    }

    async fn last_event_id_for(&self, recipient: UserId) -> StoreResult<i64> {
        let (last,): (Option<i64>,) =
            sqlx::query_as("SELECT MAX(id) FROM events WHERE recipient_id = $1")
                .bind(recipient.as_uuid())
                .fetch_one(&self.db)
                .await?;
        Ok(last.unwrap_or(0))
    }

    async fn notices(&self) -> StoreResult<Option<mpsc::Receiver<StoreNotice>>> {
        DB::listen_for_notices(&self.pool).await
    }
}
