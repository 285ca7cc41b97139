//! What differs between the two databases, and the one store type generic over them.
//!
//! A store is ordinary generic Rust: its queries are written once, in `impl<DB> … for
//! SqlStore<DB>` or in plain functions over a [`Tx<DB>`], and run on Postgres and on SQLite.
//! [`Backend`] holds only what truly differs between the two — how a write transaction takes
//! the write lock, how event appends and audit appends are ordered, how other processes hear of
//! a commit, how a database reports the rows a statement changed, how an account id written as
//! text becomes the key it joins on, what it reads on the calling thread and commits on a
//! connection of its own instead of through the pool ([`super::reads_here`],
//! [`super::writes_here`]) — each with two implementations (`postgres.rs`, `sqlite.rs`).
//! Anything that can be written once, including
//! SQL that reads the same on both, belongs in the stores, not here: a method added to this
//! trait is a place where the two databases are allowed to behave differently.
//!
//! `Backend` is sealed. It bounds the public type [`SqlStore`], so it has to be public, but
//! only the two databases the migrations and the shared SQL are written for may implement it;
//! a third would compile against queries nobody has run on it.
//!
//! Rust implies a trait's supertraits and associated-type bounds to its users, but not its other
//! `where` clauses, so the sqlx bounds a generic query needs (an executor, and the Rust types it
//! binds and reads) cannot hide behind `DB: Backend`. They are stated per value type with
//! [`Bind`] and [`Column`], once per generic `impl` block or function.

use std::future::Future;
use std::ops::{Deref, DerefMut};

use sqlx::{Database, Decode, Encode, IntoArguments, Pool, Transaction, Type};
use tokio::sync::mpsc;

use super::events::{EventToStore, StoreNotice};
use super::kept::KeptConnections;
use super::messages::{NumbersTaken, NumbersToTake};
use super::reads_here::{HereRow, ID_LIST_MOST, Param, ReadsHere, id_list};
use super::writes_here::{WriteTurn, WritesHere};
use super::{NewAuditEntry, StoreResult};

/// A query that reads rows `R`, being bound for the pool.
pub type BindingQuery<DB, R> = sqlx::query::QueryAs<'static, DB, R, <DB as Database>::Arguments>;

/// A write transaction on one database, handed to the functions that make up a write; it
/// derefs to the connection, as sqlx's transaction does. On SQLite it also holds the process's
/// turn to write ([`super::writes_here`]), given back once the transaction has ended.
pub struct Tx<DB: Database> {
    // Declared first, so it is dropped (a rollback begun) before the turn is given back.
    transaction: Transaction<'static, DB>,
    _turn: Option<WriteTurn>,
}

impl<DB: Database> Tx<DB> {
    pub(super) fn new(transaction: Transaction<'static, DB>, turn: Option<WriteTurn>) -> Self {
        Self {
            transaction,
            _turn: turn,
        }
    }

    /// Commits, then gives the turn back.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.transaction.commit().await
    }

    /// Rolls back, then gives the turn back.
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.transaction.rollback().await
    }
}

impl<DB: Database> Deref for Tx<DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &DB::Connection {
        &self.transaction
    }
}

impl<DB: Database> DerefMut for Tx<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        &mut self.transaction
    }
}

impl<DB: Database> std::fmt::Debug for Tx<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tx").finish_non_exhaustive()
    }
}

/// A write statement's turn to write and the pool to run it on ([`SqlStore::lone_write`]).
pub(super) struct LoneWrite<'s, DB: Backend> {
    pool: &'s Pool<DB>,
    _turn: Option<WriteTurn>,
}

impl<DB: Backend> LoneWrite<'_, DB> {
    /// Where the statement runs: the pool write transactions use.
    pub(super) fn pool(&self) -> &Pool<DB> {
        self.pool
    }
}

/// A store over one database's pool; [`PgStore`](super::PgStore) and
/// [`SqliteStore`](super::SqliteStore) are its two instances.
#[derive(Debug)]
pub struct SqlStore<DB: Backend> {
    pub(super) pool: Pool<DB>,
    /// Where a statement outside a transaction runs: on `pool`'s connections, kept between
    /// statements so that each is not checked with a round trip of its own ([`super::kept`]).
    pub(super) db: KeptConnections<DB>,
    /// Where write transactions run: the pool itself, or (SQLite over a file) a pool of one
    /// connection, whose page cache no other writer empties between batches.
    pub(super) write_pool: Pool<DB>,
    /// Where a write that is one statement, a transaction of its own, runs: on `write_pool`'s
    /// connections, kept between statements ([`super::kept`]); `db` itself where the two pools
    /// are one.
    pub(super) write_db: KeptConnections<DB>,
    /// What the database answers on the calling thread, without the pool.
    pub(super) here: DB::ReadsHere,
    /// What the database commits on a thread of its own, without the pool.
    pub(super) writes_here: DB::WritesHere,
}

// By hand: deriving would ask `DB: Clone`, and the marker types are not.
impl<DB: Backend> Clone for SqlStore<DB> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            db: self.db.clone(),
            write_pool: self.write_pool.clone(),
            write_db: self.write_db.clone(),
            here: self.here.clone(),
            writes_here: self.writes_here.clone(),
        }
    }
}

impl<DB: Backend> SqlStore<DB> {
    /// A store over a pool the caller made, for tests that need to size it or hold its
    /// connections (on SQLite, made with [`SqliteStore::connect_options`](super::SqliteStore)).
    pub fn from_pool(pool: Pool<DB>) -> Self {
        let db = KeptConnections::new(pool.clone());
        Self {
            here: DB::reads_here(&pool),
            writes_here: DB::writes_here(&pool),
            write_pool: pool.clone(),
            write_db: db.clone(),
            db,
            pool,
        }
    }

    /// A transaction holding the write lock from its first statement, begun in the process's
    /// turn to write where the database takes one writer at a time ([`super::writes_here`]).
    /// The turn comes first, so a writer waiting for it holds no connection meanwhile.
    pub(super) async fn write_transaction(&self) -> StoreResult<Tx<DB>> {
        let turn = self.writes_here.write_turn().await?;
        Ok(Tx::new(DB::begin_write(&self.write_pool).await?, turn))
    }

    /// The way to the database for one write statement run as a transaction of its own, taken
    /// in the process's turn to write as [`Self::write_transaction`] is: on SQLite a lone write
    /// then waits its turn, woken when the writer before it commits, instead of meeting that
    /// writer at the write lock and sleeping in SQLite's busy handler. The turn is held until
    /// the [`LoneWrite`] is dropped, so the statement must run on [`LoneWrite::pool`] before.
    pub(super) async fn lone_write(&self) -> StoreResult<LoneWrite<'_, DB>> {
        Ok(LoneWrite {
            pool: &self.write_pool,
            _turn: self.writes_here.write_turn().await?,
        })
    }

    /// The one row or none that `sql` reads with `params` bound to its `$n`: answered on the
    /// calling thread where the database can ([`super::reads_here`]), else by the pool.
    pub(super) async fn fetch_optional_row<R>(
        &self,
        sql: &str,
        params: &[Param<'_>],
    ) -> StoreResult<Option<R>>
    where
        R: HereRow + for<'r> sqlx::FromRow<'r, DB::Row> + Send + Unpin,
        for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    {
        if let Some(answer) = self.here.fetch_optional(sql, params) {
            return Ok(answer);
        }
        Ok(DB::bind_params(
            sqlx::query_as::<DB, R>(sqlx::AssertSqlSafe(sql.to_owned())),
            params,
        )
        .fetch_optional(&self.db)
        .await?)
    }

    /// Every row that `sql` reads with `params`, as [`Self::fetch_optional_row`] reads one.
    pub(super) async fn fetch_rows<R>(&self, sql: &str, params: &[Param<'_>]) -> StoreResult<Vec<R>>
    where
        R: HereRow + for<'r> sqlx::FromRow<'r, DB::Row> + Send + Unpin,
        for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    {
        if let Some(answer) = self.here.fetch_all(sql, params) {
            return Ok(answer);
        }
        Ok(DB::bind_params(
            sqlx::query_as::<DB, R>(sqlx::AssertSqlSafe(sql.to_owned())),
            params,
        )
        .fetch_all(&self.db)
        .await?)
    }

    /// Every row that `select` reads for `ids`, which it names in an `IN (…)` list: `select` is
    /// given the list's placeholders ([`id_list`]), for at most [`ID_LIST_MOST`] ids at a time.
    pub(super) async fn fetch_rows_for_ids<R>(
        &self,
        select: impl Fn(&str) -> String,
        ids: &[uuid::Uuid],
    ) -> StoreResult<Vec<R>>
    where
        R: HereRow + for<'r> sqlx::FromRow<'r, DB::Row> + Send + Unpin,
        for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    {
        let mut rows = Vec::new();
        for list in ids.chunks(ID_LIST_MOST) {
            let (placeholders, params) = id_list(list);
            rows.extend(
                self.fetch_rows::<R>(&select(&placeholders), &params)
                    .await?,
            );
        }
        Ok(rows)
    }
}

/// `query` with `params` bound in order: [`Backend::bind_params`] for either database.
pub(super) fn bind_in_order<DB, R>(
    mut query: BindingQuery<DB, R>,
    params: &[Param<'_>],
) -> BindingQuery<DB, R>
where
    DB: Backend,
    uuid::Uuid: Bind<DB>,
    String: Bind<DB>,
    chrono::DateTime<chrono::Utc>: Bind<DB>,
    i64: Bind<DB>,
    bool: Bind<DB>,
    Option<uuid::Uuid>: Bind<DB>,
{
    for param in params {
        query = match *param {
            Param::Id(id) => query.bind(id),
            Param::Text(text) => query.bind(text.to_owned()),
            Param::Time(at) => query.bind(at),
            Param::Int(value) => query.bind(value),
            Param::Flag(value) => query.bind(value),
            Param::OptionalId(id) => query.bind(id),
        };
    }
    query
}

/// Everything that differs between Postgres and SQLite (see the module note).
pub trait Backend:
    Database<Arguments: IntoArguments<Self>, QueryResult: RowsAffected> + sealed::Sealed
{
    /// What this database answers on the calling thread ([`super::reads_here`]).
    type ReadsHere: ReadsHere;

    /// Reads on the calling thread for the database `pool` connects to.
    fn reads_here(pool: &Pool<Self>) -> Self::ReadsHere;

    /// What this database commits on a thread of its own ([`super::writes_here`]).
    type WritesHere: WritesHere;

    /// Writes on a thread of their own for the database `pool` connects to, waiting the
    /// default busy timeout for the write lock.
    fn writes_here(pool: &Pool<Self>) -> Self::WritesHere;

    /// Whether a write transaction is a chain of round trips to a database server, which a
    /// writer waits for in turn: then a group-commit writer runs on a thread of its own
    /// ([`crate::group_commit::GroupCommit::start_on_own_thread`]). Postgres: yes (a send
    /// batch 2.0 → 1.5 ms). SQLite: no; its connections are threads of this process already,
    /// and a writer on a thread of its own measured 8 % fewer sends a second (bench/README.md).
    const WRITES_OVER_A_SOCKET: bool;

    /// The write pool for a writer on a thread and runtime of its own
    /// ([`crate::group_commit::GroupCommit::start_on_own_thread`]), made on that runtime from
    /// the store's `write_pool`. Postgres: a pool of its own with the same settings, whose
    /// connections are opened on the calling runtime, so their replies wake the writer's thread.
    /// SQLite: `write_pool` itself, whose writers must keep sharing one turn to write.
    fn write_pool_for_this_runtime(write_pool: &Pool<Self>) -> Pool<Self>;

    /// `query` with `params` bound in order, as `$1`, `$2`, …: the same for both (see
    /// [`bind_in_order`]), here because only a concrete database states the types it binds.
    fn bind_params<R>(query: BindingQuery<Self, R>, params: &[Param<'_>]) -> BindingQuery<Self, R>;

    /// SQL that is true where `key`, an account's or a team's key, is the id written as text in
    /// `text` — an author, who may instead be a staff system (`client:…`); the team a location
    /// names — so that a statement can join the account or team; false (or NULL) where the text
    /// is no id. Ids are Postgres `uuid`s but 16-byte BLOBs on SQLite, so the two compare
    /// differently.
    fn key_is_id_in_text(key: &str, text: &str) -> String;

    /// SQL for the text of `field` (a literal name) in the JSON object stored in `column`
    /// (`jsonb` on Postgres, text on SQLite); NULL where there is no such field.
    fn json_text_field(column: &str, field: &str) -> String;

    /// Brings the schema up to date with this database's own migrations.
    fn migrate(pool: &Pool<Self>) -> impl Future<Output = StoreResult<()>> + Send;

    /// How many of this build's migrations the database has not applied (a database restored
    /// from before an upgrade, under a server that migrated it at start).
    fn pending_migrations(pool: &Pool<Self>) -> impl Future<Output = StoreResult<usize>> + Send;

    /// A transaction that holds the write lock from its first statement.
    fn begin_write(
        pool: &Pool<Self>,
    ) -> impl Future<Output = StoreResult<Transaction<'static, Self>>> + Send;

    /// Stores the events a write announces inside `tx`, as its last step before commit, then
    /// appends `entries` to the audit chain (either may be empty; on Postgres both are one
    /// statement). Each recipient's ids become visible in order: appends to the same recipient
    /// wait for each other until commit, so a stream resuming after id N can never later find
    /// one of its own ids below N committed; appends to other recipients do not wait. The
    /// chain's lock is taken after the recipients', never before, so that no two writes each
    /// hold a lock the other waits for. At commit every listening process is told which events
    /// were stored (Postgres; on SQLite the writing process tells itself,
    /// [`crate::events::EventHub::announce_committed`]).
    fn append_events_then_audit(
        tx: &mut Tx<Self>,
        events: &[EventToStore<'_>],
        entries: &[&NewAuditEntry],
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Takes the next numbers of each conversation `takes` names inside `tx`, which holds its
    /// row (Postgres) or the write lock (SQLite) from then to the commit, in the order given:
    /// every batch gives them in conversation id order, so that batches of different processes
    /// cannot deadlock. One [`NumbersTaken`] for each conversation that exists.
    fn take_conversation_numbers(
        tx: &mut Tx<Self>,
        takes: &[NumbersToTake],
    ) -> impl Future<Output = StoreResult<Vec<NumbersTaken>>> + Send;

    /// Serialises appends to the audit chain across processes, from here to the commit.
    fn lock_audit_chain(tx: &mut Tx<Self>) -> impl Future<Output = StoreResult<()>> + Send;

    /// Appends `entries` to the audit chain inside `tx`, taking the chain's lock if `tx` does
    /// not hold it yet (held to the commit); returns their sequence numbers, in order.
    fn append_audit_chain(
        tx: &mut Tx<Self>,
        entries: &[&NewAuditEntry],
    ) -> impl Future<Output = StoreResult<Vec<i64>>> + Send;

    /// Appends `entries` to the audit chain as a transaction of their own, committed when this
    /// returns, where one statement can (Postgres); `None`, having done nothing, where it takes
    /// a write transaction ([`Self::append_audit_chain`] in one). The statement runs on `db`,
    /// whose connection is kept for the next batch ([`super::kept`]): the store's write pool.
    fn append_audit_committed(
        db: &KeptConnections<Self>,
        entries: &[&NewAuditEntry],
    ) -> impl Future<Output = StoreResult<Option<Vec<i64>>>> + Send;

    /// Tells every listening process, at commit, that `session` ended, so their event streams
    /// of it close.
    fn notify_session_ended(
        tx: &mut Tx<Self>,
        session: uuid::Uuid,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Folds the sync generation's rows of connections that have ended into one row, keeping
    /// their sum, so the sum a sync reads stays a few rows long; returns how many were folded.
    /// Postgres counts into a row per connection (so no two writers share one); SQLite into
    /// one row, with nothing to fold.
    fn fold_sync_generation(pool: &Pool<Self>) -> impl Future<Output = StoreResult<u64>> + Send;

    /// What every process sharing the database commits; `None` for a database one process owns.
    fn listen_for_notices(
        pool: &Pool<Self>,
    ) -> impl Future<Output = StoreResult<Option<mpsc::Receiver<StoreNotice>>>> + Send;
}

/// How many rows a statement changed. Each database's result type answers this with a method
/// of its own; sqlx has no trait for it.
pub trait RowsAffected {
    fn rows_affected(&self) -> u64;
}

impl RowsAffected for sqlx::postgres::PgQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}

impl RowsAffected for sqlx::sqlite::SqliteQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}

/// A Rust type a query on `DB` can bind.
pub trait Bind<DB: Database>: for<'q> Encode<'q, DB> + Type<DB> {}

impl<DB: Database, T> Bind<DB> for T where T: for<'q> Encode<'q, DB> + Type<DB> {}

/// A Rust type a query on `DB` can bind and read back from a row.
pub trait Column<DB: Database>: Bind<DB> + for<'r> Decode<'r, DB> {}

impl<DB: Database, T> Column<DB> for T where T: Bind<DB> + for<'r> Decode<'r, DB> {}

mod sealed {
    /// Implemented for `sqlx::Postgres` and `sqlx::Sqlite` only.
    pub trait Sealed {}

    impl Sealed for sqlx::Postgres {}
    impl Sealed for sqlx::Sqlite {}
}

/// This build's migrations that `pool`'s database has not applied successfully.
pub(super) async fn pending<DB>(
    migrator: &sqlx::migrate::Migrator,
    pool: &Pool<DB>,
) -> StoreResult<usize>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    i64: Column<DB>,
    bool: Column<DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    let applied: Vec<(i64, bool)> = sqlx::query_as("SELECT version, success FROM _sqlx_migrations")
        .fetch_all(pool)
        .await?;
    Ok(migrator
        .iter()
        .filter(|migration| !migration.migration_type.is_down_migration())
        .filter(|migration| !applied.contains(&(migration.version, true)))
        .count())
}
