//! The phone's store: what its user may see, the writes waiting to be sent, and the sync
//! cursor, in one SQLite file (WAL) under the app's directory.
//!
//! Policy:
//! - **Sealed at rest** ([`crypto`]): contents are sealed, bound to their table and row; ids that
//!   could name a person are keyed hashes. The key is the platform's ([`crate::secrets`]).
//! - **One transaction per change**: a write is queued in the same transaction as its
//!   optimistic local change; a sync page, its tombstones' purges (the record, its messages,
//!   the person's queued writes) and its cursor commit together. Commits are durable
//!   (`synchronous = FULL`), since the outbox promises never to lose a write.
//! - **A damaged store is never deleted.** Opening one answers [`StoreError::Corrupt`] with the
//!   queued writes that could still be read; the app may [`Store::set_aside`] the files (they
//!   are renamed, kept) and start a new store with those writes queued again.
//! - **Versioned schema** ([`schema`]); a store from a newer app is refused.

mod conflicts;
pub mod crypto;
mod outbox;
pub(crate) mod schema;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use livingwell_core::api::sync::{SyncKind, SyncRecord, SyncResponse, TombstoneReason};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction, params};

pub use self::conflicts::Conflict;
use self::crypto::StoreKeys;
pub use self::crypto::{CryptoError, STORE_KEY_LEN, new_store_key};
pub use self::outbox::{NewWrite, QueuedWrite, WriteRequest, WriteState, queue_of as outbox_queue};
use self::schema::SchemaError;

/// The store's database file, in the directory the app gives.
pub const DATABASE_FILE: &str = "livingwell.sqlite3";
/// Files SQLite keeps beside the database: all hold store pages, so all are wiped together.
const COMPANION_SUFFIXES: [&str; 3] = ["-wal", "-shm", "-journal"];

/// A sealed value the store knows, to tell the right key from the wrong one.
const KEY_CHECK: &str = "key-check";
const CURSOR: &str = "cursor";

/// Why the store could not do what was asked. Carries no contents.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file is damaged. `recovered` holds the queued writes that could still be read, in
    /// order; nothing has been deleted.
    #[error("the store is damaged; {} queued writes were recovered", recovered.len())]
    Corrupt { recovered: Vec<QueuedWrite> },
    /// The key given does not open this store.
    #[error("the store's key does not open it")]
    WrongKey,
    #[error("the store was written by a newer version of the app (schema {0})")]
    TooNew(i64),
    #[error("store database: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("store files: {0}")]
    Io(std::io::ErrorKind),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// A stored value opened but could not be read as what it should be.
    #[error("a stored value could not be read")]
    Decode,
}

impl From<SchemaError> for StoreError {
    fn from(error: SchemaError) -> Self {
        match error {
            SchemaError::TooNew(version) => StoreError::TooNew(version),
            SchemaError::Database(e) => StoreError::Database(e),
        }
    }
}

impl From<std::io::Error> for StoreError {
    fn from(error: std::io::Error) -> Self {
        StoreError::Io(error.kind())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The store. One per signed-in account on the device.
#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
    keys: StoreKeys,
}

/// Whether a SQLite error says the file is not a sound database.
fn is_damage(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
    )
}

impl Store {
    /// Opens (or makes) the store in `dir` with the platform's key.
    pub fn open(dir: &Path, key: &[u8; STORE_KEY_LEN]) -> StoreResult<Self> {
        std::fs::create_dir_all(dir)?;
        let keys = StoreKeys::derive(key);
        let path = dir.join(DATABASE_FILE);
        match Self::open_sound(&path, keys) {
            Err(StoreError::Database(e)) if is_damage(&e) => Err(StoreError::Corrupt {
                recovered: outbox::recover(&path, &StoreKeys::derive(key)),
            }),
            other => other,
        }
    }

    fn open_sound(path: &Path, keys: StoreKeys) -> StoreResult<Self> {
        let mut conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // Each commit reaches the disk before it is answered: the outbox's promise.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let check: String = conn.query_row("PRAGMA quick_check", [], |row| row.get(0))?;
        if check != "ok" {
            return Err(StoreError::Database(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
                None,
            )));
        }
        schema::migrate_to(&mut conn, schema::CURRENT)?;
        let store = Self {
            conn: Mutex::new(conn),
            keys,
        };
        store.check_key()?;
        Ok(store)
    }

    /// The first open seals a known value; every later open must be able to open it.
    fn check_key(&self) -> StoreResult<()> {
        let conn = self.conn();
        let sealed: Option<Vec<u8>> = conn
            .query_row(
                "SELECT sealed FROM meta WHERE name = ?1",
                [KEY_CHECK],
                |row| row.get(0),
            )
            .optional()?;
        match sealed {
            Some(sealed) => self
                .keys
                .open("meta", KEY_CHECK.as_bytes(), &sealed)
                .map(drop)
                .map_err(|_| StoreError::WrongKey),
            None => {
                let sealed = self
                    .keys
                    .seal("meta", KEY_CHECK.as_bytes(), b"living well")?;
                conn.execute(
                    "INSERT INTO meta (name, sealed) VALUES (?1, ?2)",
                    params![KEY_CHECK, sealed],
                )?;
                Ok(())
            }
        }
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (transactions roll back).
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Closes the store's file at sign-out: every later call fails (an empty database in
    /// memory takes its place), so nothing can write the files once they are wiped.
    pub fn close(&self) -> StoreResult<()> {
        let closed = std::mem::replace(&mut *self.conn(), Connection::open_in_memory()?);
        closed
            .close()
            .map_err(|(_, error)| StoreError::Database(error))
    }

    /// Removes the store's files (database, WAL, shared memory, journal): at sign-out.
    pub fn wipe(dir: &Path) -> StoreResult<()> {
        for path in store_files(dir) {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Moves a damaged store's files aside (renamed with `.damaged-<unix time>`, never deleted),
    /// so a new store can be opened in `dir`. Answers where the database file went.
    pub fn set_aside(dir: &Path, now: DateTime<Utc>) -> StoreResult<PathBuf> {
        let suffix = format!(".damaged-{}", now.timestamp());
        let mut moved = dir.join(DATABASE_FILE);
        for path in store_files(dir) {
            if path.exists() {
                let mut target = path.clone().into_os_string();
                target.push(&suffix);
                let target = PathBuf::from(target);
                std::fs::rename(&path, &target)?;
                if path.ends_with(DATABASE_FILE) {
                    moved = target;
                }
            }
        }
        Ok(moved)
    }

    fn hash(&self, table: &str, value: &str) -> Vec<u8> {
        self.keys.lookup(table, value)
    }

    fn record_row(&self, kind: SyncKind, id: &str) -> Vec<u8> {
        self.hash("records", &format!("{kind}:{id}"))
    }

    /// Stores `record` (new or replacing the one held) within `tx`.
    fn put_record(&self, tx: &Transaction<'_>, record: &SyncRecord) -> StoreResult<()> {
        let id_hash = self.record_row(record.kind, &record.id);
        let plain = serde_json::to_vec(record).map_err(|_| StoreError::Decode)?;
        let sealed = self.keys.seal("records", &id_hash, &plain)?;
        let person = record
            .person_id
            .map(|p| self.hash("person", &p.to_string()));
        // Messages are found by their conversation, in order.
        let (parent, position) = match record.kind {
            SyncKind::Message => (
                record.data["conversation_id"]
                    .as_str()
                    .map(|c| self.hash("conversation", c)),
                record.data["seq"].as_i64(),
            ),
            _ => (None, None),
        };
        tx.execute(
            "INSERT INTO records (kind, id_hash, person_hash, parent_hash, position, sealed) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (kind, id_hash) DO UPDATE SET person_hash = excluded.person_hash, \
             parent_hash = excluded.parent_hash, position = excluded.position, \
             sealed = excluded.sealed",
            params![
                record.kind.to_string(),
                id_hash,
                person,
                parent,
                position,
                sealed
            ],
        )?;
        Ok(())
    }

    fn open_record(&self, id_hash: &[u8], sealed: &[u8]) -> StoreResult<SyncRecord> {
        let plain = self.keys.open("records", id_hash, sealed)?;
        serde_json::from_slice(&plain).map_err(|_| StoreError::Decode)
    }

    /// The record held of `kind` with `id`.
    pub fn record(&self, kind: SyncKind, id: &str) -> StoreResult<Option<SyncRecord>> {
        let id_hash = self.record_row(kind, id);
        let sealed: Option<Vec<u8>> = self
            .conn()
            .query_row(
                "SELECT sealed FROM records WHERE kind = ?1 AND id_hash = ?2",
                params![kind.to_string(), id_hash],
                |row| row.get(0),
            )
            .optional()?;
        sealed
            .map(|sealed| self.open_record(&id_hash, &sealed))
            .transpose()
    }

    /// Every record held of `kind`.
    pub fn records(&self, kind: SyncKind) -> StoreResult<Vec<SyncRecord>> {
        let conn = self.conn();
        let mut statement = conn.prepare("SELECT id_hash, sealed FROM records WHERE kind = ?1")?;
        let rows = statement.query_map([kind.to_string()], |row| {
            Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, Vec<u8>>(1)?))
        })?;
        let mut records = Vec::new();
        for row in rows {
            let (id_hash, sealed) = row?;
            records.push(self.open_record(&id_hash, &sealed)?);
        }
        Ok(records)
    }

    /// The messages held of a conversation, in order, after `after_seq`, at most `limit`.
    pub fn messages(
        &self,
        conversation: &str,
        after_seq: i64,
        limit: i64,
    ) -> StoreResult<Vec<SyncRecord>> {
        let parent = self.hash("conversation", conversation);
        let conn = self.conn();
        let mut statement = conn.prepare(
            "SELECT id_hash, sealed FROM records \
             WHERE kind = ?1 AND parent_hash = ?2 AND position > ?3 ORDER BY position LIMIT ?4",
        )?;
        let rows = statement.query_map(
            params![SyncKind::Message.to_string(), parent, after_seq, limit],
            |row| Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, Vec<u8>>(1)?)),
        )?;
        let mut records = Vec::new();
        for row in rows {
            let (id_hash, sealed) = row?;
            records.push(self.open_record(&id_hash, &sealed)?);
        }
        Ok(records)
    }

    /// The cursor of the last sync applied.
    pub fn cursor(&self) -> StoreResult<Option<String>> {
        let sealed: Option<Vec<u8>> = self
            .conn()
            .query_row("SELECT sealed FROM meta WHERE name = ?1", [CURSOR], |row| {
                row.get(0)
            })
            .optional()?;
        sealed
            .map(|sealed| {
                let plain = self.keys.open("meta", CURSOR.as_bytes(), &sealed)?;
                String::from_utf8(plain.to_vec()).map_err(|_| StoreError::Decode)
            })
            .transpose()
    }

    /// Applies one page of a sync and its cursor, in one transaction. Tombstones win: the
    /// record goes, with a conversation's messages, and every write queued for it (for a
    /// person, every write queued about them). Applying a page again changes nothing more.
    pub fn apply_sync(&self, page: &SyncResponse) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for record in &page.records {
            self.put_record(&tx, record)?;
        }
        for tombstone in &page.tombstones {
            let held = self.record_row(tombstone.kind, &tombstone.id);
            tx.execute(
                "DELETE FROM records WHERE kind = ?1 AND id_hash = ?2",
                params![tombstone.kind.to_string(), held],
            )?;
            let queue = outbox::queue_of(tombstone.kind, &tombstone.id);
            tx.execute(
                "DELETE FROM outbox WHERE queue_hash = ?1",
                [self.hash("outbox", &queue)],
            )?;
            match tombstone.kind {
                SyncKind::Conversation => {
                    tx.execute(
                        "DELETE FROM records WHERE kind = ?1 AND parent_hash = ?2",
                        params![
                            SyncKind::Message.to_string(),
                            self.hash("conversation", &tombstone.id)
                        ],
                    )?;
                }
                // No longer seeing the person: nothing of theirs stays, nor goes out.
                SyncKind::Person if tombstone.reason != TombstoneReason::Deleted => {
                    let person = self.hash("person", &tombstone.id);
                    tx.execute("DELETE FROM records WHERE person_hash = ?1", [&person])?;
                    tx.execute("DELETE FROM outbox WHERE person_hash = ?1", [&person])?;
                }
                _ => {}
            }
            // A conflict kept for the record goes with it.
            tx.execute("DELETE FROM conflicts WHERE record_hash = ?1", [&held])?;
        }
        let sealed = self
            .keys
            .seal("meta", CURSOR.as_bytes(), page.cursor.as_bytes())?;
        tx.execute(
            "INSERT INTO meta (name, sealed) VALUES (?1, ?2) \
             ON CONFLICT (name) DO UPDATE SET sealed = excluded.sealed",
            params![CURSOR, sealed],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Forgets the cursor and every synced record, keeping queued writes: after `410 resync`.
    pub fn forget_synced(&self) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute("DELETE FROM records", [])?;
        tx.execute("DELETE FROM meta WHERE name = ?1", [CURSOR])?;
        tx.commit()?;
        Ok(())
    }
}

/// The database file and its companions, in `dir`.
fn store_files(dir: &Path) -> Vec<PathBuf> {
    let database = dir.join(DATABASE_FILE);
    let mut files = vec![database.clone()];
    for suffix in COMPANION_SUFFIXES {
        let mut name = database.clone().into_os_string();
        name.push(suffix);
        files.push(PathBuf::from(name));
    }
    files
}

/// Opens the file without any check or migration, for recovery (nothing is written).
fn open_unchecked(path: &Path) -> rusqlite::Result<Connection> {
    Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
}
