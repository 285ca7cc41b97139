//! Write transactions run whole on a thread that owns its connection.
//!
//! Every audited read waits for its audit entry's batch to commit, and on SQLite that batch
//! through sqlx was four statements — `BEGIN IMMEDIATE`, the chain's head, the rows, `COMMIT` —
//! each a round trip to the connection's own thread, which on two busy cores must first be
//! scheduled. Those hops, not SQL or the fsync, were what the reads waited on (bench/README.md,
//! "Audited reads", "Where the time goes"). Here the whole transaction is one blocking call on
//! a connection the store keeps for it (rusqlite, on the runtime's blocking threads): one
//! hand-off per batch.
//!
//! It is the same transaction the pool runs: it takes the write lock first (`BEGIN IMMEDIATE`,
//! waiting the store's busy timeout for it), reads the chain's head under that lock, and commits
//! with `synchronous = FULL` and foreign keys enforced, as the pool's connections do. Values are
//! stored as sqlx stores them (ids as 16-byte BLOBs, times as RFC 3339 text), so either path
//! reads what the other wrote. What it promises:
//!
//! - **Done here or not at all.** Anything that fails — no file, the connection, the lock, a
//!   statement, the commit — leaves nothing committed: SQLite rolls a failed `COMMIT` back or
//!   leaves it open, and an open transaction is rolled back here (a connection that will not
//!   roll back is closed). The caller then runs the same batch on the pool, which reports the
//!   failure as every other write does (a full disk is [`super::StoreError::StorageFull`]), so
//!   errors are classified in one place and no database text leaves this module.
//! - **One writer at a time, woken, not polling.** SQLite has one write lock per file, and a
//!   connection that finds it taken sleeps in SQLite's busy handler (1 ms, then 2, 5, 10, …)
//!   before it looks again. With the audit batch here and a batch of sends on the pool, two
//!   writers met at almost every commit, and a send paid a millisecond asleep for each (bench/
//!   README.md, "What a send costs"). So the process's writers — transactions here and the
//!   pool's write transactions ([`super::backend::Tx`]) — take turns on one gate first
//!   ([`WritesHere::write_turn`]): a writer waits in a queue and is woken when the one before it
//!   commits. The lock itself still orders writers of other processes (a command run beside
//!   the server), who wait the busy timeout as before.
//!
//! Postgres writes nothing here: its round trips cross a socket, which a blocking call would not
//! save.

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior, params};
use tokio::sync::{Mutex as TurnLock, OwnedMutexGuard};

use super::reads_here::{NotHere, sqlx_time_text};
use super::{NewAuditEntry, StoreError, StoreResult};

/// What a database commits on a thread of its own, and how the process's writers take turns.
pub trait WritesHere: Clone + fmt::Debug + Send + Sync + 'static {
    /// Appends `entries` to the audit chain in one transaction, answering their sequence
    /// numbers; `None` when not done here, with nothing committed.
    fn append_audit(
        &self,
        entries: &[NewAuditEntry],
    ) -> impl Future<Output = Option<Vec<i64>>> + Send;

    /// Waits for this process's turn to write, where the database takes one writer at a time;
    /// held until the write transaction ends. `None` where writers do not queue here.
    fn write_turn(&self) -> impl Future<Output = StoreResult<Option<WriteTurn>>> + Send;
}

/// Postgres: nothing is written here, and writers lock only the rows they change.
impl WritesHere for NotHere {
    async fn append_audit(&self, _entries: &[NewAuditEntry]) -> Option<Vec<i64>> {
        None
    }

    async fn write_turn(&self) -> StoreResult<Option<WriteTurn>> {
        Ok(None)
    }
}

/// One writer's turn at a SQLite file (see the module note), given back when dropped.
#[derive(Debug)]
pub struct WriteTurn {
    _held: OwnedMutexGuard<()>,
}

/// The queue the process's writers to one SQLite file wait in, in order of arrival.
#[derive(Debug)]
struct WriteGate {
    turn: Arc<TurnLock<()>>,
    /// How long a writer waits for its turn: the busy timeout it would otherwise have waited
    /// for the lock.
    wait: Duration,
}

impl WriteGate {
    fn new(wait: Duration) -> Self {
        Self {
            turn: Arc::new(TurnLock::new(())),
            wait,
        }
    }

    /// The turn, or [`StoreError::Unavailable`] (answered 503, to be tried again) after `wait`,
    /// as a writer that waited out the busy timeout is answered.
    async fn take(&self) -> StoreResult<WriteTurn> {
        tokio::time::timeout(self.wait, self.turn.clone().lock_owned())
            .await
            .map(|held| WriteTurn { _held: held })
            .map_err(|_| StoreError::Unavailable(sqlx::Error::PoolTimedOut))
    }
}

/// What runs on the write connection before each transaction (tests use it to limit the file's
/// size, as they do on the pool's connections).
pub type BeforeWrite = Arc<dyn Fn(&Connection) -> rusqlite::Result<()> + Send + Sync>;

/// SQLite: one write connection of its own over a file, opened when first needed, and the
/// gate every writer of the store takes its turn at.
#[derive(Clone, Debug)]
pub struct SqliteWritesHere {
    /// `None` for a database with no file (in memory).
    writer: Option<Arc<Writer>>,
    gate: Arc<WriteGate>,
}

struct Writer {
    path: PathBuf,
    busy_timeout: Duration,
    before_write: Option<BeforeWrite>,
    /// `None` until opened, and again after a failure left it in doubt.
    connection: Mutex<Option<Connection>>,
}

// By hand: the hook has no `Debug`, and the connection shows nothing worth logging.
impl fmt::Debug for Writer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Writer")
            .field("busy_timeout", &self.busy_timeout)
            .finish_non_exhaustive()
    }
}

impl SqliteWritesHere {
    /// Writes here on the file at `path` (none for a database with no file: in memory), waiting
    /// up to `busy_timeout` for a turn and for the write lock.
    pub fn on_file(path: &Path, busy_timeout: Duration) -> Self {
        Self {
            writer: path.is_file().then(|| {
                Arc::new(Writer {
                    path: path.to_owned(),
                    busy_timeout,
                    before_write: None,
                    connection: Mutex::new(None),
                })
            }),
            gate: Arc::new(WriteGate::new(busy_timeout)),
        }
    }

    /// The same writer, running `hook` on its connection before each transaction; it opens a
    /// connection of its own, and keeps the gate.
    pub fn before_each(self, hook: BeforeWrite) -> Self {
        Self {
            writer: self.writer.map(|writer| {
                Arc::new(Writer {
                    path: writer.path.clone(),
                    busy_timeout: writer.busy_timeout,
                    before_write: Some(hook),
                    connection: Mutex::new(None),
                })
            }),
            gate: self.gate,
        }
    }
}

impl WritesHere for SqliteWritesHere {
    async fn append_audit(&self, entries: &[NewAuditEntry]) -> Option<Vec<i64>> {
        let writer = self.writer.clone()?;
        // Held until the blocking call has committed or given up.
        let turn = self.gate.take().await.ok()?;
        let entries = entries.to_vec();
        let appended = tokio::task::spawn_blocking(move || {
            writer.in_transaction(|tx| append_audit(tx, &entries))
        })
        .await;
        drop(turn);
        appended.ok().flatten()
    }

    async fn write_turn(&self) -> StoreResult<Option<WriteTurn>> {
        self.gate.take().await.map(Some)
    }
}

impl Writer {
    /// Runs `write` in one `BEGIN IMMEDIATE` transaction and commits it; `None`, with nothing
    /// committed, if any of it failed.
    fn in_transaction<T>(
        &self,
        write: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Option<T> {
        let mut slot = self.connection.lock().ok()?;
        if slot.is_none() {
            *slot = Some(self.open()?);
        }
        let connection = slot.as_mut()?;
        let outcome = self.commit(connection, write);
        // A failure may leave a transaction open that dropping it could not roll back (SQLite
        // rolls some back by itself, and then refuses the `ROLLBACK`); a connection in doubt is
        // not used again.
        if outcome.is_err() && !connection.is_autocommit() {
            *slot = None;
        }
        outcome.ok()
    }

    fn commit<T>(
        &self,
        connection: &mut Connection,
        write: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        if let Some(hook) = &self.before_write {
            hook(connection)?;
        }
        let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let written = write(&tx)?;
        // On failure the transaction is dropped, which rolls back what is still open.
        tx.commit()?;
        Ok(written)
    }

    fn open(&self) -> Option<Connection> {
        // The file exists (the pool made it, in WAL mode); never create one.
        let connection = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .ok()?;
        // As the pool's connections (`SqliteStore::connect_options`): a commit survives a power
        // cut, and references are checked.
        connection
            .execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
            .ok()?;
        connection.busy_timeout(self.busy_timeout).ok()?;
        Some(connection)
    }
}

/// The entries chained after the head and stored, inside the caller's write transaction.
fn append_audit(
    tx: &rusqlite::Transaction<'_>,
    entries: &[NewAuditEntry],
) -> rusqlite::Result<Vec<i64>> {
    let head = tx
        .prepare_cached("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")?
        .query_map([], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?))
        })?
        .next()
        .transpose()?;
    let (mut seq, mut prev_hash) = head.unwrap_or_else(|| (0, crate::audit::GENESIS_HASH.to_vec()));
    let mut insert = tx.prepare_cached(
        "INSERT INTO audit_log (seq, at, actor_id, actor_role, on_behalf_of, subject_id, \
         resource, action, outcome, relationship, request_id, via, read_at, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )?;
    let mut seqs = Vec::with_capacity(entries.len());
    for entry in entries {
        seq += 1;
        let hash = crate::audit::chain_hash(seq, &prev_hash, entry);
        insert.execute(params![
            seq,
            sqlx_time_text(entry.at),
            entry.actor_id,
            entry.actor_role,
            entry.on_behalf_of,
            entry.subject_id.map(|id| id.as_uuid().into_bytes()),
            entry.resource,
            entry.action,
            entry.outcome,
            entry.relationship,
            entry.request_id,
            entry.via,
            entry.read_at.map(sqlx_time_text),
            prev_hash,
            hash,
        ])?;
        seqs.push(seq);
        prev_hash = hash;
    }
    Ok(seqs)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn a_writer_kept_waiting_past_the_busy_timeout_is_answered_unavailable() {
        let gate = WriteGate::new(Duration::from_millis(50));
        let held = gate.take().await.unwrap();
        let refused = gate.take().await.unwrap_err();
        assert!(matches!(refused, StoreError::Unavailable(_)), "{refused:?}");
        drop(held);
        gate.take().await.unwrap();
    }
}
