//! The embedded store: one SQLite file in WAL mode, created on first run.

use std::str::FromStr;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::types::Json;
use sqlx::{Connection as _, Sqlite};
use tokio::sync::mpsc;

use super::backend::{Backend, BindingQuery, SqlStore, Tx, bind_in_order, pending};
use super::events::{EVENT_ROWS_PER_STATEMENT, EventToStore, StoreNotice};
use super::kept::KeptConnections;
use super::messages::{NumbersTaken, NumbersToTake};
use super::reads_here::{Param, SqliteReadsHere};
use super::writes_here::{BeforeWrite, SqliteWritesHere};
use super::{NewAuditEntry, StoreResult, StoreSettings};

/// SQLite: readers in parallel, one writer at a time. Write transactions start with
/// `BEGIN IMMEDIATE`, so they take the write lock before reading and never fail half-way when
/// another writer got there first. Within the process they, and the write statements run on
/// their own ([`SqlStore::lone_write`]), first take their turn at the store's gate
/// ([`super::writes_here`]); a writer of another process waits the busy timeout.
pub type SqliteStore = SqlStore<Sqlite>;

/// Audit rows stored by one statement: 15 parameters each, well under SQLite's limit of 32,766
/// parameters a statement.
const AUDIT_ROWS_PER_STATEMENT: usize = 256;

impl SqliteStore {
    pub async fn connect(url: &str, settings: StoreSettings) -> StoreResult<Self> {
        let options = Self::connect_options(url)?.busy_timeout(settings.statement_timeout);
        let pool = Self::pool_options().connect_with(options.clone()).await?;
        let mut store = Self::from_pool(pool);
        // Writers take turns anyway (`writes_here`): on one connection of their own, each batch
        // finds the pages the last one read still in its cache, where a connection of the pool
        // finds its cache emptied by whoever wrote since it last ran.
        store.write_pool = Self::pool_options()
            .max_connections(1)
            .connect_with(options)
            .await?;
        store.write_db = KeptConnections::new(store.write_pool.clone());
        store.writes_here = SqliteWritesHere::on_file(
            store.pool.connect_options().get_filename(),
            settings.statement_timeout,
        );
        Ok(store)
    }

    /// The same store, running `hook` on the connection that commits audit batches
    /// ([`super::writes_here`]) before each transaction, as a pool's `before_acquire` does on
    /// the pool's connections (a test limiting the file's size sets both).
    pub fn before_writing_here(
        mut self,
        hook: impl Fn(&rusqlite::Connection) -> rusqlite::Result<()> + Send + Sync + 'static,
    ) -> Self {
        let hook: BeforeWrite = std::sync::Arc::new(hook);
        self.writes_here = self.writes_here.before_each(hook);
        self
    }

    /// The pool every store over a file uses. A connection handed back while sqlx still counts
    /// it in a transaction is closed, not kept: SQLite rolls a transaction back by itself on
    /// some failures (`SQLITE_FULL` among them), the `ROLLBACK` sqlx then sends fails, and sqlx
    /// would refuse every later `BEGIN` on that connection (`InvalidSavePointStatement`) for as
    /// long as it lived — after a full disk, writes would fail long after there was room again.
    /// A connection is not checked before it is handed out (sqlx's default): no server can drop
    /// a connection to a file, and the check was a hop to the connection's thread every time.
    pub fn pool_options() -> SqlitePoolOptions {
        SqlitePoolOptions::new()
            .max_connections(8)
            .test_before_acquire(false)
            .after_release(|conn, _| Box::pin(async move { Ok(!conn.is_in_transaction()) }))
    }

    /// How every connection to the file is opened: WAL, full sync, foreign keys, and a busy
    /// timeout ([`StoreSettings::statement_timeout`] when opened by [`SqliteStore::connect`]).
    pub fn connect_options(url: &str) -> StoreResult<SqliteConnectOptions> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit (an audit entry above all) survives a power cut, not only a crash.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(super::DEFAULT_STATEMENT_TIMEOUT);
        if let Some(dir) = options
            .get_filename()
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir).map_err(sqlx::Error::Io)?;
        }
        Ok(options)
    }
}

/// One process owns a SQLite file: `BEGIN IMMEDIATE` already holds its single write lock, so
/// every id commits in order, and the process announces its own commits (see
/// [`crate::events`]), so there is nothing to notify.
impl Backend for Sqlite {
    type ReadsHere = SqliteReadsHere;
    type WritesHere = SqliteWritesHere;

    fn bind_params<R>(query: BindingQuery<Self, R>, params: &[Param<'_>]) -> BindingQuery<Self, R> {
        bind_in_order(query, params)
    }

    fn key_is_id_in_text(key: &str, text: &str) -> String {
        // The UUID's 32 hex digits as its 16 bytes; `unhex` is NULL for text that is not hex.
        format!("{key} = CASE WHEN length({text}) = 36 THEN unhex(replace({text}, '-', '')) END")
    }

    fn json_text_field(column: &str, field: &str) -> String {
        format!("json_extract({column}, '$.{field}')")
    }

    fn reads_here(pool: &SqlitePool) -> SqliteReadsHere {
        SqliteReadsHere::on_file(pool.connect_options().get_filename())
    }

    const WRITES_OVER_A_SOCKET: bool = false;

    fn write_pool_for_this_runtime(write_pool: &SqlitePool) -> SqlitePool {
        write_pool.clone()
    }

    fn writes_here(pool: &SqlitePool) -> SqliteWritesHere {
        SqliteWritesHere::on_file(
            pool.connect_options().get_filename(),
            super::DEFAULT_STATEMENT_TIMEOUT,
        )
    }

    async fn migrate(pool: &SqlitePool) -> StoreResult<()> {
        sqlx::migrate!("./migrations/sqlite").run(pool).await?;
        Ok(())
    }

    async fn pending_migrations(pool: &SqlitePool) -> StoreResult<usize> {
        pending(&sqlx::migrate!("./migrations/sqlite"), pool).await
    }

    async fn begin_write(pool: &SqlitePool) -> StoreResult<sqlx::Transaction<'static, Sqlite>> {
        Ok(pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// One writer at a time: ids commit in order with no lock of their own, and the writing
    /// process tells its own streams (there is no other process to tell).
    /// The events' inserts, then the chain's: the transaction holds the database's one write
    /// lock, which orders both.
    async fn append_events_then_audit(
        tx: &mut Tx<Sqlite>,
        events: &[EventToStore<'_>],
        entries: &[&NewAuditEntry],
    ) -> StoreResult<()> {
        for chunk in events.chunks(EVENT_ROWS_PER_STATEMENT) {
            let mut insert = sqlx::QueryBuilder::<Sqlite>::new(
                "INSERT INTO events (recipient_id, kind, person_id, data, created_at) ",
            );
            insert.push_values(chunk, |mut row, event| {
                row.push_bind(event.recipient.as_uuid())
                    .push_bind(event.kind)
                    .push_bind(event.person.map(|p| p.as_uuid()))
                    .push_bind(Json(event.data))
                    .push_bind(event.created_at);
            });
            insert.build().execute(&mut **tx).await?;
        }
        if !entries.is_empty() {
            Self::append_audit_chain(tx, entries).await?;
        }
        Ok(())
    }

    /// One `UPDATE` a conversation: the transaction holds the database's one write lock, so the
    /// order does not matter here.
    async fn take_conversation_numbers(
        tx: &mut Tx<Sqlite>,
        takes: &[NumbersToTake],
    ) -> StoreResult<Vec<NumbersTaken>> {
        let mut taken = Vec::with_capacity(takes.len());
        for take in takes {
            let row: Option<NumbersTaken> = sqlx::query_as(
                "UPDATE conversations SET last_seq = last_seq + $3, last_message_at = $2 \
                 WHERE id = $1 RETURNING id AS conversation, last_seq AS last, last_notice_at",
            )
            .bind(take.conversation)
            .bind(take.newest)
            .bind(take.count)
            .fetch_optional(&mut **tx)
            .await?;
            taken.extend(row);
        }
        Ok(taken)
    }

    async fn lock_audit_chain(_tx: &mut Tx<Sqlite>) -> StoreResult<()> {
        Ok(())
    }

    async fn append_audit_chain(
        tx: &mut Tx<Sqlite>,
        entries: &[&NewAuditEntry],
    ) -> StoreResult<Vec<i64>> {
        // The transaction holds the database's one write lock, which is the chain's lock.
        let last: Option<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut **tx)
                .await?;
        let (mut seq, mut prev_hash) =
            last.unwrap_or_else(|| (0, crate::audit::GENESIS_HASH.to_vec()));
        // Chained first, then stored a chunk of rows per statement: one hop to SQLite's
        // connection thread for a chunk, not one per entry.
        let mut chained = Vec::with_capacity(entries.len());
        for &entry in entries {
            seq += 1;
            let hash = crate::audit::chain_hash(seq, &prev_hash, entry);
            chained.push((seq, entry, prev_hash, hash.clone()));
            prev_hash = hash;
        }
        for chunk in chained.chunks(AUDIT_ROWS_PER_STATEMENT) {
            let mut insert = sqlx::QueryBuilder::<Sqlite>::new(
                "INSERT INTO audit_log (seq, at, actor_id, actor_role, on_behalf_of, \
                 subject_id, resource, action, outcome, relationship, request_id, via, \
                 read_at, prev_hash, hash) ",
            );
            insert.push_values(chunk, |mut row, (seq, entry, prev_hash, hash)| {
                row.push_bind(*seq)
                    .push_bind(entry.at)
                    .push_bind(&entry.actor_id)
                    .push_bind(&entry.actor_role)
                    .push_bind(&entry.on_behalf_of)
                    .push_bind(entry.subject_id.map(|s| s.as_uuid()))
                    .push_bind(&entry.resource)
                    .push_bind(&entry.action)
                    .push_bind(&entry.outcome)
                    .push_bind(&entry.relationship)
                    .push_bind(&entry.request_id)
                    .push_bind(&entry.via)
                    .push_bind(entry.read_at)
                    .push_bind(prev_hash.as_slice())
                    .push_bind(hash.as_slice());
            });
            insert.build().execute(&mut **tx).await?;
        }
        Ok(chained.into_iter().map(|(seq, ..)| seq).collect())
    }

    async fn append_audit_committed(
        _db: &KeptConnections<Sqlite>,
        _entries: &[&NewAuditEntry],
    ) -> StoreResult<Option<Vec<i64>>> {
        // The head must be read under the write lock: a write transaction it is.
        Ok(None)
    }

    async fn notify_session_ended(_tx: &mut Tx<Sqlite>, _session: uuid::Uuid) -> StoreResult<()> {
        Ok(())
    }

    async fn fold_sync_generation(_pool: &SqlitePool) -> StoreResult<u64> {
        Ok(0)
    }

    async fn listen_for_notices(
        _pool: &SqlitePool,
    ) -> StoreResult<Option<mpsc::Receiver<StoreNotice>>> {
        Ok(None)
    }
}
