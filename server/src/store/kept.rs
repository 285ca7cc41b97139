//! Connections kept between statements, so that a statement run outside a transaction costs
//! one round trip to the database, not two.
//!
//! sqlx's pool checks every connection handed back to it, in a task of its own, with a round
//! trip (`ping`: on Postgres a `Sync` and its `ReadyForQuery`, waking the connection's backend a
//! second time). The check is there for a connection left half-way: a statement cancelled before
//! its last reply was read, or a transaction dropped with its rollback still to send. A
//! statement that ran to its end outside a transaction leaves neither, and under load the check
//! was one round trip more for every statement (on Postgres, `/v1/me` made ten sends to the
//! database for five statements; bench/README.md has the figures).
//!
//! [`KeptConnections`] is an sqlx executor, used where the pool was for one statement at a time:
//!
//! - it runs the statement on a connection it keeps, or one it takes from the pool;
//! - a connection whose statement ran to its end, outside a transaction, is kept for the next;
//! - any other — a statement cancelled, one that failed, a transaction left open — is handed
//!   back to the pool, which checks it as before;
//! - at most half the pool's connections are kept idle, so the rest stay free for transactions
//!   (which take theirs from the pool, not from here), and none while the pool has no
//!   connection left to give;
//! - a kept connection that rested [`CHECK_IF_IDLE_FOR`] is checked with a round trip before
//!   use, as the pool checks one, and replaced unseen if the database dropped it; one that
//!   rested the pool's idle timeout, or outlived its lifetime, goes back to the pool, which
//!   closes it.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use futures_core::future::BoxFuture;
use futures_core::stream::BoxStream;
use futures_util::TryStreamExt;
use sqlx::pool::PoolConnection;
use sqlx::{Connection, Database, Describe, Either, Execute, Executor, Pool, SqlStr};

use super::postgres::CHECK_IF_IDLE_FOR;

/// One statement at a time on connections kept between statements (see the module note).
/// Clones share the kept connections.
pub struct KeptConnections<DB: Database> {
    shared: Arc<Shared<DB>>,
}

impl<DB: Database> Clone for KeptConnections<DB> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<DB: Database> std::fmt::Debug for KeptConnections<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeptConnections")
            .field("most_idle", &self.shared.most_idle)
            .finish_non_exhaustive()
    }
}

struct Shared<DB: Database> {
    pool: Pool<DB>,
    /// The connections kept idle, the one used last on top: it is the warmest, and the others
    /// rest until they are checked or handed back.
    idle: Mutex<Vec<Idle<DB>>>,
    /// How many connections may be kept idle: half the pool's.
    most_idle: usize,
}

struct Idle<DB: Database> {
    connection: PoolConnection<DB>,
    /// When it was taken from the pool, for the pool's lifetime of a connection.
    taken: Instant,
    /// When its last statement ended.
    since: Instant,
}

impl<DB: Database> KeptConnections<DB> {
    /// Statements on `pool`'s connections, keeping at most half of them idle.
    pub fn new(pool: Pool<DB>) -> Self {
        let most_idle = usize::try_from(pool.options().get_max_connections() / 2).unwrap_or(0);
        Self {
            shared: Arc::new(Shared {
                pool,
                idle: Mutex::new(Vec::new()),
                most_idle,
            }),
        }
    }

    /// How many connections are kept idle now.
    #[cfg(test)]
    pub(super) fn idle_count(&self) -> usize {
        self.shared.idle().len()
    }

    /// A connection for one statement: a kept one, checked first if it rested, else the pool's.
    async fn lease(&self) -> Result<Lease<DB>, sqlx::Error> {
        let options = self.shared.pool.options();
        loop {
            let Some(mut idle) = self.shared.idle().pop() else {
                break;
            };
            let rested = idle.since.elapsed();
            let spent = options
                .get_max_lifetime()
                .is_some_and(|lifetime| idle.taken.elapsed() >= lifetime);
            let idle_too_long = options
                .get_idle_timeout()
                .is_some_and(|timeout| rested >= timeout);
            if spent || idle_too_long {
                // The pool checks it, and closes it as its settings say.
                continue;
            }
            if rested < CHECK_IF_IDLE_FOR || idle.connection.ping().await.is_ok() {
                return Ok(self.lease_of(idle.connection, idle.taken));
            }
            // Dropped: the pool's check fails too, and it closes the connection.
        }
        let connection = self.shared.pool.acquire().await?;
        Ok(self.lease_of(connection, Instant::now()))
    }

    fn lease_of(&self, connection: PoolConnection<DB>, taken: Instant) -> Lease<DB> {
        Lease {
            connection,
            taken,
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<DB: Database> Shared<DB> {
    fn idle(&self) -> MutexGuard<'_, Vec<Idle<DB>>> {
        // The list is whole between statements of its own: a panic elsewhere leaves it usable.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<DB: Database> Shared<DB> {
    /// Whether the pool has no connection left to give without one back: every connection it
    /// may open is open and none is idle in it. Someone may be waiting for one, as a transaction
    /// can be while another part of the server holds connections for long (a listener for other
    /// processes' notices holds one for good), so a connection is handed back, not kept.
    fn pool_is_spent(&self) -> bool {
        self.pool.num_idle() == 0 && self.pool.size() >= self.pool.options().get_max_connections()
    }
}

impl<DB: Database> Drop for Shared<DB> {
    fn drop(&mut self) {
        // A connection handed back to the pool is checked in a task, which needs a runtime; with
        // none (the last store dropped after its runtime), each is closed where it is instead.
        if tokio::runtime::Handle::try_current().is_err() {
            for idle in self.idle().drain(..) {
                drop(idle.connection.detach());
            }
        }
    }
}

/// One statement's connection. Dropped, it goes back to the pool, which checks it; kept only by
/// [`Lease::finish`].
struct Lease<DB: Database> {
    connection: PoolConnection<DB>,
    taken: Instant,
    shared: Arc<Shared<DB>>,
}

impl<DB: Database> Lease<DB> {
    fn connection(&mut self) -> &mut DB::Connection {
        &mut self.connection
    }

    /// The statement ran to its end: the connection is kept for the next, if it is outside a
    /// transaction and there is room; else it goes back to the pool.
    fn finish(self) {
        let Lease {
            connection,
            taken,
            shared,
        } = self;
        if connection.is_in_transaction() || shared.pool_is_spent() {
            return;
        }
        let mut idle = shared.idle();
        if idle.len() < shared.most_idle {
            idle.push(Idle {
                connection,
                taken,
                since: Instant::now(),
            });
        }
    }
}

impl<'p, DB: Database> Executor<'p> for &'_ KeptConnections<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    type Database = DB;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<DB::QueryResult, DB::Row>, sqlx::Error>>
    where
        E: 'q + Execute<'q, DB>,
    {
        let kept = self.clone();
        Box::pin(async_stream::try_stream! {
            let mut lease = kept.lease().await?;
            {
                let mut results = lease.connection().fetch_many(query);
                while let Some(result) = results.try_next().await? {
                    yield result;
                }
            }
            lease.finish();
        })
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<DB::Row>, sqlx::Error>>
    where
        E: 'q + Execute<'q, DB>,
    {
        let kept = self.clone();
        Box::pin(async move {
            let mut lease = kept.lease().await?;
            let row = lease.connection().fetch_optional(query).await?;
            lease.finish();
            Ok(row)
        })
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [DB::TypeInfo],
    ) -> BoxFuture<'e, Result<DB::Statement, sqlx::Error>>
    where
        'p: 'e,
    {
        self.shared.pool.prepare_with(sql, parameters)
    }

    // Hidden in sqlx, and required while its `offline` feature is on (the query macros turn it
    // on): what the macros ask at build time, which the pool answers.
    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<Describe<DB>, sqlx::Error>> {
        self.shared.pool.describe(sql)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use livingwell_testkit::{Backend, TestDatabase};
    use sqlx::postgres::{PgPool, PgPoolOptions};

    use super::*;

    async fn postgres_pool(database: &TestDatabase, connections: u32) -> PgPool {
        PgPoolOptions::new()
            .max_connections(connections)
            .acquire_timeout(Duration::from_millis(500))
            .connect(&database.url)
            .await
            .unwrap()
    }

    /// A fresh database, a pool of `connections` on it, and statements kept on that pool.
    async fn kept_on_postgres(
        connections: u32,
    ) -> (TestDatabase, PgPool, KeptConnections<sqlx::Postgres>) {
        let database = TestDatabase::create(Backend::Postgres).await.unwrap();
        let pool = postgres_pool(&database, connections).await;
        let kept = KeptConnections::new(pool.clone());
        (database, pool, kept)
    }

    async fn backend_pid(kept: &KeptConnections<sqlx::Postgres>) -> i32 {
        sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(kept)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_statement_that_ran_to_its_end_keeps_its_connection_for_the_next() {
        let (_database, pool, kept) = kept_on_postgres(4).await;

        let first = backend_pid(&kept).await;
        assert_eq!(kept.idle_count(), 1);
        // The pool never had it back, so never checked it with a round trip of its own.
        assert_eq!(pool.num_idle(), 0);
        for _ in 0..5 {
            assert_eq!(backend_pid(&kept).await, first);
        }
        let rows: Vec<i32> = sqlx::query_scalar("SELECT generate_series(1, 3)")
            .fetch_all(&kept)
            .await
            .unwrap();
        assert_eq!(rows, [1, 2, 3]);
        assert_eq!(kept.idle_count(), 1);
        assert_eq!(backend_pid(&kept).await, first);
    }

    #[tokio::test]
    async fn a_statement_cancelled_or_failed_hands_its_connection_back_to_the_pool() {
        let (_database, _pool, kept) = kept_on_postgres(4).await;
        let statement = sqlx::query("SELECT pg_sleep(1)").execute(&kept);

        let cancelled = tokio::time::timeout(Duration::from_millis(100), statement).await;

        assert!(cancelled.is_err(), "the statement was cancelled half-way");
        assert_eq!(
            kept.idle_count(),
            0,
            "a connection left half-way is not kept"
        );
        let failed = sqlx::query("SELECT 1 / 0").execute(&kept).await;
        assert!(failed.is_err());
        assert_eq!(kept.idle_count(), 0, "nor one whose statement failed");
        // The next statement is answered, and answered rightly.
        let two: i32 = sqlx::query_scalar("SELECT 2")
            .fetch_one(&kept)
            .await
            .unwrap();
        assert_eq!(two, 2);
        assert_eq!(kept.idle_count(), 1);
    }

    #[tokio::test]
    async fn a_kept_connection_dropped_by_the_database_while_it_rested_is_replaced_unseen() {
        let (database, _pool, kept) = kept_on_postgres(4).await;
        let dropped = backend_pid(&kept).await;
        let mut admin = sqlx::PgConnection::connect(&database.url).await.unwrap();
        let ended: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
            .bind(dropped)
            .fetch_one(&mut admin)
            .await
            .unwrap();
        assert!(ended);

        tokio::time::sleep(CHECK_IF_IDLE_FOR + Duration::from_millis(100)).await;
        let replacement = backend_pid(&kept).await;

        assert_ne!(replacement, dropped);
    }

    #[tokio::test]
    async fn at_most_half_the_pool_is_kept_idle_so_transactions_find_theirs() {
        let (_database, pool, kept) = kept_on_postgres(6).await;
        // Six statements at once take all six connections.
        let sleep = || sqlx::query("SELECT pg_sleep(0.2)").execute(&kept);
        let done = tokio::join!(sleep(), sleep(), sleep(), sleep(), sleep(), sleep());
        for each in [done.0, done.1, done.2, done.3, done.4, done.5] {
            each.unwrap();
        }
        assert!(kept.idle_count() <= 3, "{} kept", kept.idle_count());

        // Three transactions at once, each from the pool, within its acquire timeout (500 ms).
        let (a, b, c) = tokio::join!(pool.begin(), pool.begin(), pool.begin());

        for transaction in [a, b, c] {
            transaction.unwrap().commit().await.unwrap();
        }
    }

    #[tokio::test]
    async fn none_is_kept_while_the_pool_has_no_connection_left_to_give() {
        let (_database, pool, kept) = kept_on_postgres(2).await;
        // Held for good, as the listener for other processes' notices holds one.
        let held = pool.acquire().await.unwrap();

        backend_pid(&kept).await;

        assert_eq!(kept.idle_count(), 0);
        pool.begin().await.unwrap().commit().await.unwrap();
        drop(held);
    }

    #[tokio::test]
    async fn statements_on_sqlite_keep_their_connection_too() {
        let database = TestDatabase::create(Backend::Sqlite).await.unwrap();
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(2)
            .connect(&format!("{}?mode=rwc", database.url))
            .await
            .unwrap();
        let kept = KeptConnections::new(pool.clone());

        let one: i64 = sqlx::query_scalar("SELECT 1")
            .fetch_one(&kept)
            .await
            .unwrap();

        assert_eq!(one, 1);
        assert_eq!(kept.idle_count(), 1);
        assert_eq!(pool.num_idle(), 0);
    }

    #[tokio::test]
    async fn an_audit_batch_on_postgres_keeps_its_connection_for_the_next() {
        use crate::store::{NewAuditEntry, PgStore, Store};

        let database = TestDatabase::create(Backend::Postgres).await.unwrap();
        let store = PgStore::from_pool(postgres_pool(&database, 4).await);
        store.migrate().await.unwrap();
        let entry = NewAuditEntry {
            at: chrono::Utc::now(),
            actor_id: None,
            actor_role: "system".to_owned(),
            on_behalf_of: None,
            subject_id: None,
            resource: "me".to_owned(),
            action: "read".to_owned(),
            outcome: "allowed".to_owned(),
            relationship: None,
            request_id: None,
            via: None,
            read_at: None,
        };

        let first = store
            .append_audit(std::slice::from_ref(&entry))
            .await
            .unwrap();
        let kept_after_first = store.write_db.idle_count();
        let second = store.append_audit(&[entry]).await.unwrap();

        assert_eq!(second[0], first[0] + 1);
        assert_eq!(kept_after_first, 1);
        assert_eq!(store.write_db.idle_count(), 1);
    }

    #[test]
    fn kept_connections_outliving_their_runtime_close_without_it() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let (database, kept) = runtime.block_on(async {
            let database = TestDatabase::create(Backend::Postgres).await.unwrap();
            let kept = KeptConnections::new(postgres_pool(&database, 2).await);
            backend_pid(&kept).await;
            (database, kept)
        });
        assert_eq!(kept.idle_count(), 1);
        drop(runtime);

        // Handed back to the pool, it would be checked in a task: with no runtime, a panic.
        drop(kept);
        drop(database);
    }
}
