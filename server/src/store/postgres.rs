//! The production store: Postgres.

use std::str::FromStr;
use std::time::Duration;

use livingwell_core::domain::UserId;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use sqlx::types::Json;
use sqlx::{Connection as _, Postgres, Row};
use tokio::sync::mpsc;

use super::backend::{Backend, BindingQuery, SqlStore, Tx, bind_in_order, pending};
use super::events::{EventToStore, StoreNotice, records_from_json};
use super::kept::KeptConnections;
use super::messages::{NumbersTaken, NumbersToTake};
use super::reads_here::{NotHere, Param};
use super::{NewAuditEntry, StoreError, StoreResult, StoreSettings};

/// Postgres: many writers; audit appends are serialised by an advisory lock so that processes
/// sharing the database extend one chain.
pub type PgStore = SqlStore<Postgres>;

/// The channel event appends notify on; the payload is the rows appended as a JSON array, or
/// when they are too long their ids in decimal, separated by commas (`events_append`,
/// migration 0027; [`appended_events`] reads it).
const EVENTS_CHANNEL: &str = "livingwell_events";
/// The longest payload a notification of events carries: Postgres refuses payloads of 8,000
/// bytes or more. Rows too long are sent as ids, ids too long as an empty payload, and every
/// stream then re-reads its own.
const EVENTS_PAYLOAD_BYTES: i32 = 7_000;
/// The channel a revoked session is announced on; the payload is the session id.
const SESSIONS_CHANNEL: &str = "livingwell_sessions";
/// How many notices may wait for the event hub before the listener waits for it.
const NOTICE_BUFFER: usize = 1_024;

/// How long a request waits for a connection before it is answered 503 with `Retry-After`.
/// While the database is out of reach, sqlx keeps trying to connect until this lapses: short,
/// so a request is told at once (within 2 s) instead of hanging, and the phone retries.
const ACQUIRE_TIMEOUT: Duration = Duration::from_millis(1500);

/// A pooled connection idle at least this long is checked with a round trip before it is used,
/// so one the database dropped meanwhile (a restart, a failover) is replaced unseen. One used
/// more recently is taken as it is: under load every connection is milliseconds from its last
/// use, and sqlx's default, a check on every acquire, was one more round trip for every request
/// and every send batch, on the way of each (bench/README.md). Kept connections
/// ([`super::kept`]) are checked after the same rest.
pub(super) const CHECK_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// The first key of the advisory locks that order each recipient's event appends ("LWEV" in
/// ASCII); the second is the recipient's [`recipient_lock_key`]. Two-key advisory locks are a
/// key space apart from the one-key lock of the audit chain.
const RECIPIENT_EVENTS_LOCKS: i32 = 0x4C57_4556;

/// The advisory lock that guards the audit chain ("LWAUDIT" in ASCII).
const AUDIT_CHAIN_LOCK: i64 = 0x004C_5741_5544_4954;

impl PgStore {
    pub async fn connect(url: &str, settings: StoreSettings) -> StoreResult<Self> {
        let millis = settings.statement_timeout.as_millis().max(1).to_string();
        let options = PgConnectOptions::from_str(url)?.options([("statement_timeout", millis)]);
        let pool = pool_options(CONNECTIONS).connect_with(options).await?;
        Ok(Self::from_pool(pool))
    }
}

/// How many connections a process's pool holds.
const CONNECTIONS: u32 = 16;

/// How many connections a writer on a thread of its own holds: it commits one batch at a time,
/// and a second lets it go on while sqlx checks the first as it is handed back.
const WRITER_CONNECTIONS: u32 = 2;

/// The settings of every pool: `max_connections`, a short wait for one, and a check only of a
/// connection that has rested ([`CHECK_IF_IDLE_FOR`]).
fn pool_options(max_connections: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= CHECK_IF_IDLE_FOR {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
}

/// Appends `entries` to the audit chain with `audit_chain_append` (migration 0025): it takes
/// the chain's lock, reads the head after it, numbers and hashes the entries from the text the
/// server sends ([`crate::audit::chain_text_after_seq`]) and stores them — one round trip
/// where a lock, a head, an insert (and a begin and commit) were five.
async fn append_audit_in_one_statement<'c>(
    executor: impl sqlx::PgExecutor<'c>,
    entries: &[&NewAuditEntry],
) -> StoreResult<Vec<i64>> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let appended = bind_audit_entries(sqlx::query(AUDIT_CHAIN_APPEND), entries)
        .fetch_one(executor)
        .await?;
    let first_seq: i64 = appended.try_get(0)?;
    Ok((first_seq..).take(entries.len()).collect())
}

/// `audit_chain_append`'s call, its fourteen parameters numbered from `$1`.
const AUDIT_CHAIN_APPEND: &str =
    "SELECT audit_chain_append($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";

/// `events_append`'s call, its nine parameters numbered from `$1`.
const EVENTS_APPEND: &str = "SELECT events_append($1, $2, $3, $4, $5, $6, $7, $8, $9)";

/// `events_append`, then `audit_chain_append` ([`bind_events`], then [`bind_audit_entries`]):
/// the audit call is evaluated for the row the events' call returns, so the recipients' locks
/// are always taken before the chain's.
const EVENTS_APPEND_THEN_AUDIT: &str = "WITH appended AS MATERIALIZED \
     (SELECT events_append($1, $2, $3, $4, $5, $6, $7, $8, $9)) \
     SELECT audit_chain_append($10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, \
     $23) FROM appended";

type PgQuery<'q> = sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>;

/// Binds `audit_chain_append`'s fourteen parameters, in order, to `query`.
fn bind_audit_entries<'q>(query: PgQuery<'q>, entries: &[&'q NewAuditEntry]) -> PgQuery<'q> {
    let column = |field: fn(&'q NewAuditEntry) -> Option<&'q str>| -> Vec<Option<&'q str>> {
        entries.iter().map(|&entry| field(entry)).collect()
    };
    query
        .bind(AUDIT_CHAIN_LOCK)
        .bind(
            entries
                .iter()
                .map(|&entry| crate::audit::chain_text_after_seq(entry))
                .collect::<Vec<_>>(),
        )
        .bind(entries.iter().map(|entry| entry.at).collect::<Vec<_>>())
        .bind(column(|entry| entry.actor_id.as_deref()))
        .bind(column(|entry| Some(&entry.actor_role)))
        .bind(column(|entry| entry.on_behalf_of.as_deref()))
        .bind(
            entries
                .iter()
                .map(|entry| entry.subject_id.map(|s| s.as_uuid()))
                .collect::<Vec<_>>(),
        )
        .bind(column(|entry| Some(&entry.resource)))
        .bind(column(|entry| Some(&entry.action)))
        .bind(column(|entry| Some(&entry.outcome)))
        .bind(column(|entry| entry.relationship.as_deref()))
        .bind(column(|entry| entry.request_id.as_deref()))
        .bind(column(|entry| entry.via.as_deref()))
        .bind(
            entries
                .iter()
                .map(|entry| entry.read_at)
                .collect::<Vec<_>>(),
        )
}

/// Binds `events_append`'s nine parameters, in order, to `query`.
fn bind_events<'q>(query: PgQuery<'q>, events: &[EventToStore<'q>]) -> PgQuery<'q> {
    query
        .bind(RECIPIENT_EVENTS_LOCKS)
        .bind(
            events
                .iter()
                .map(|event| recipient_lock_key(&event.recipient))
                .collect::<Vec<_>>(),
        )
        .bind(
            events
                .iter()
                .map(|event| event.recipient.as_uuid())
                .collect::<Vec<_>>(),
        )
        .bind(events.iter().map(|event| event.kind).collect::<Vec<_>>())
        .bind(
            events
                .iter()
                .map(|event| event.person.map(|p| p.as_uuid()))
                .collect::<Vec<_>>(),
        )
        .bind(
            events
                .iter()
                .map(|event| Json(event.data))
                .collect::<Vec<_>>(),
        )
        .bind(
            events
                .iter()
                .map(|event| event.created_at)
                .collect::<Vec<_>>(),
        )
        .bind(EVENTS_CHANNEL)
        .bind(EVENTS_PAYLOAD_BYTES)
}

impl Backend for Postgres {
    type ReadsHere = NotHere;
    type WritesHere = NotHere;

    fn bind_params<R>(query: BindingQuery<Self, R>, params: &[Param<'_>]) -> BindingQuery<Self, R> {
        bind_in_order(query, params)
    }

    fn key_is_id_in_text(key: &str, text: &str) -> String {
        // The key as text, never the text as a key: a cast of text that is no UUID would fail
        // the statement, and a guard (a regular expression) cost ~3 µs a row, more than the join
        // saved. Migration 0029 indexes `users` and `teams` by their keys as text.
        format!("CAST({key} AS text) = {text}")
    }

    fn json_text_field(column: &str, field: &str) -> String {
        format!("({column} ->> '{field}')")
    }

    fn reads_here(_pool: &PgPool) -> NotHere {
        NotHere
    }

    const WRITES_OVER_A_SOCKET: bool = true;

    fn write_pool_for_this_runtime(write_pool: &PgPool) -> PgPool {
        // Connected when first used, on the writer's runtime: a database out of reach fails
        // the writer's batches as it fails requests, not the server's start.
        pool_options(WRITER_CONNECTIONS).connect_lazy_with((*write_pool.connect_options()).clone())
    }

    fn writes_here(_pool: &PgPool) -> NotHere {
        NotHere
    }

    async fn migrate(pool: &PgPool) -> StoreResult<()> {
        // Exempt from the statement timeout: an index over years of history takes its time.
        // The connection is closed afterwards, so no pooled one ever runs without the timeout.
        let mut conn = pool.acquire().await?;
        conn.close_on_drop();
        sqlx::query("SET statement_timeout = 0")
            .execute(&mut *conn)
            .await?;
        // `run_direct` is what `run` calls once it holds a connection; `run(&mut *conn)` itself
        // trips the "`Acquire` is not general enough" limit inside this async trait method.
        sqlx::migrate!("./migrations/postgres")
            .run_direct(None, &mut *conn, false)
            .await?;
        Ok(())
    }

    async fn pending_migrations(pool: &PgPool) -> StoreResult<usize> {
        pending(&sqlx::migrate!("./migrations/postgres"), pool).await
    }

    async fn begin_write(pool: &PgPool) -> StoreResult<sqlx::Transaction<'static, Postgres>> {
        Ok(pool.begin().await?)
    }

    /// One statement, `events_append` (migrations 0026 and 0027): one lock per recipient,
    /// taken in key order by every append so that two appends to the same pair of recipients
    /// cannot each hold one and wait for the other (two recipients whose keys collide only wait
    /// for each other, as all of them once did); then the rows; then the notification carrying
    /// them, or their ids ([`appended_events`] reads it). It was three round trips: the locks,
    /// the rows, the notification. Audit entries that follow are appended in the same
    /// statement ([`EVENTS_APPEND_THEN_AUDIT`]).
    async fn append_events_then_audit(
        tx: &mut Tx<Postgres>,
        events: &[EventToStore<'_>],
        entries: &[&NewAuditEntry],
    ) -> StoreResult<()> {
        let statement = match (events.is_empty(), entries.is_empty()) {
            (true, true) => return Ok(()),
            (true, false) => {
                append_audit_in_one_statement(&mut **tx, entries).await?;
                return Ok(());
            }
            (false, true) => bind_events(sqlx::query(EVENTS_APPEND), events),
            (false, false) => bind_audit_entries(
                bind_events(sqlx::query(EVENTS_APPEND_THEN_AUDIT), events),
                entries,
            ),
        };
        statement.execute(&mut **tx).await?;
        Ok(())
    }

    /// One statement, `conversations_take_numbers` (migration 0028), where it was one round
    /// trip a conversation: it locks and numbers each row in the order given.
    async fn take_conversation_numbers(
        tx: &mut Tx<Postgres>,
        takes: &[NumbersToTake],
    ) -> StoreResult<Vec<NumbersTaken>> {
        Ok(sqlx::query_as(
            "SELECT conversation_id AS conversation, last_seq_taken AS last, \
             last_notice_sent_at AS last_notice_at FROM conversations_take_numbers($1, $2, $3)",
        )
        .bind(
            takes
                .iter()
                .map(|take| take.conversation)
                .collect::<Vec<_>>(),
        )
        .bind(takes.iter().map(|take| take.count).collect::<Vec<_>>())
        .bind(takes.iter().map(|take| take.newest).collect::<Vec<_>>())
        .fetch_all(&mut **tx)
        .await?)
    }

    async fn lock_audit_chain(tx: &mut Tx<Postgres>) -> StoreResult<()> {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(AUDIT_CHAIN_LOCK)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    async fn append_audit_chain(
        tx: &mut Tx<Postgres>,
        entries: &[&NewAuditEntry],
    ) -> StoreResult<Vec<i64>> {
        append_audit_in_one_statement(&mut **tx, entries).await
    }

    async fn append_audit_committed(
        db: &KeptConnections<Postgres>,
        entries: &[&NewAuditEntry],
    ) -> StoreResult<Option<Vec<i64>>> {
        // One statement is a transaction of its own: the lock, the head and the rows commit
        // together, in one round trip.
        Ok(Some(append_audit_in_one_statement(db, entries).await?))
    }

    async fn notify_session_ended(tx: &mut Tx<Postgres>, session: uuid::Uuid) -> StoreResult<()> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(SESSIONS_CHANNEL)
            .bind(session.to_string())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    async fn fold_sync_generation(pool: &PgPool) -> StoreResult<u64> {
        // One statement: a reader sees the rows before or after, the same sum either way. A
        // backend that ended cannot write its row again; one that reuses its pid waits on the
        // row's lock and then starts a new row.
        let (folded,): (i64,) = sqlx::query_as(
            "WITH gone AS ( \
               DELETE FROM sync_generation WHERE shard <> 0 \
                 AND shard NOT IN (SELECT pid FROM pg_stat_activity WHERE pid IS NOT NULL) \
               RETURNING generation), \
             kept AS ( \
               INSERT INTO sync_generation (shard, generation) \
               SELECT 0, COALESCE(SUM(generation), 0) FROM gone \
               ON CONFLICT (shard) DO UPDATE \
                 SET generation = sync_generation.generation + excluded.generation) \
             SELECT COUNT(*) FROM gone",
        )
        .fetch_one(pool)
        .await?;
        Ok(u64::try_from(folded).unwrap_or(0))
    }

    /// LISTENs on both channels and forwards what arrives as [`StoreNotice`]s, until the
    /// receiver is dropped.
    async fn listen_for_notices(pool: &PgPool) -> StoreResult<Option<mpsc::Receiver<StoreNotice>>> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener
            .listen_all([EVENTS_CHANNEL, SESSIONS_CHANNEL])
            .await?;
        let (notices, receiver) = mpsc::channel(NOTICE_BUFFER);
        tokio::spawn(forward_notices(listener, notices));
        Ok(Some(receiver))
    }
}

async fn forward_notices(mut listener: PgListener, notices: mpsc::Sender<StoreNotice>) {
    loop {
        // `try_recv` rather than `recv`: it says when the connection dropped (and is then
        // re-established), which `recv` hides; whatever was committed meanwhile was not heard.
        let received = tokio::select! {
            received = listener.try_recv() => received,
            // The hub has stopped (the server is shutting down): the listener's connection
            // goes back to the pool now, not at the next notification.
            () = notices.closed() => return,
        };
        let notice = match received {
            Ok(Some(notification)) if notification.channel() == SESSIONS_CHANNEL => {
                match notification.payload().parse() {
                    Ok(session) => StoreNotice::SessionEnded(session),
                    Err(_) => {
                        tracing::warn!("unreadable session notification");
                        StoreNotice::MaybeMissed
                    }
                }
            }
            Ok(Some(notification)) => appended_events(notification.payload()),
            Ok(None) => {
                tracing::warn!("notification listener reconnected");
                StoreNotice::MaybeMissed
            }
            Err(error) => {
                tracing::warn!(
                    kind = StoreError::from(error).kind(),
                    "notification listener interrupted; reconnecting"
                );
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                StoreNotice::MaybeMissed
            }
        };
        if notices.send(notice).await.is_err() {
            // The hub is gone: nobody is listening any more.
            return;
        }
    }
}

/// The advisory lock key of a recipient's event appends: its id folded to 32 bits.
fn recipient_lock_key(recipient: &UserId) -> i32 {
    let folded = recipient
        .as_uuid()
        .as_bytes()
        .chunks_exact(4)
        .map(|word| u32::from_le_bytes([word[0], word[1], word[2], word[3]]))
        .fold(0, |key, word| key ^ word);
    i32::from_le_bytes(folded.to_le_bytes())
}

/// What a notification of appended events says: the events themselves (a JSON array), which
/// events to read (their ids), or (empty, or not readable) that every stream is to read its own.
fn appended_events(payload: &str) -> StoreNotice {
    if payload.is_empty() {
        return StoreNotice::EventsAppendedUnlisted;
    }
    if payload.starts_with('[') {
        return match records_from_json(payload) {
            Ok(records) => StoreNotice::EventsStored(records),
            Err(error) => {
                tracing::warn!(kind = error.kind(), "unreadable events notification");
                StoreNotice::EventsAppendedUnlisted
            }
        };
    }
    match payload.split(',').map(str::parse).collect() {
        Ok(ids) => StoreNotice::EventsAppended(ids),
        Err(_) => {
            tracing::warn!("unreadable events notification");
            StoreNotice::EventsAppendedUnlisted
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notification_names_the_events_it_announces_or_asks_every_stream_to_read_its_own() {
        assert_eq!(
            appended_events("7,12,9000000001"),
            StoreNotice::EventsAppended(vec![7, 12, 9_000_000_001])
        );
        assert_eq!(appended_events(""), StoreNotice::EventsAppendedUnlisted);
        assert_eq!(
            appended_events("12,not-an-id"),
            StoreNotice::EventsAppendedUnlisted
        );
        // Rows carried whole, as `json_agg` writes them (its separators, an offset).
        let recipient = UserId::new();
        let rows = format!(
            r#"[{{"id":7,"recipient_id":"{recipient}","kind":"messages_delivered","person_id":null,"data":{{"conversation_id":"{conversation}","up_to_seq":3,"user_id":"{recipient}"}},"created_at":"2026-12-05T10:00:00.000001+01:00"}}, 
 {{"id":9,"recipient_id":"{recipient}","kind":"enablement_plan_updated","person_id":null,"data":{{"version":2}},"created_at":"2026-12-05T09:00:00+00:00"}}]"#,
            conversation = uuid::Uuid::now_v7(),
        );
        let StoreNotice::EventsStored(records) = appended_events(&rows) else {
            panic!("the rows read");
        };
        assert_eq!(records.iter().map(|r| r.id).collect::<Vec<_>>(), [7, 9]);
        assert!(
            records
                .iter()
                .all(|r| r.event.recipient_id == Some(recipient))
        );
        assert_eq!(
            records[0].event.created_at,
            records[1].event.created_at + chrono::Duration::microseconds(1)
        );
        // A row this release cannot read, or not rows at all.
        for unreadable in [r#"[{"id":7}]"#, "[1,2]", "[not json"] {
            assert_eq!(
                appended_events(unreadable),
                StoreNotice::EventsAppendedUnlisted
            );
        }
    }

    #[test]
    fn recipients_lock_apart_and_each_always_the_same() {
        let (first, second) = (UserId::new(), UserId::new());
        assert_eq!(recipient_lock_key(&first), recipient_lock_key(&first));
        assert_ne!(recipient_lock_key(&first), recipient_lock_key(&second));
    }
}
