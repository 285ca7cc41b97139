//! The store's schema, one numbered step at a time (`PRAGMA user_version`).
//!
//! Each step runs in the transaction that sets the version, so a store is always at one version
//! whole. A store at a newer version than this app knows is refused, never "repaired".

use rusqlite::Connection;

/// The version this app writes.
pub(crate) const CURRENT: i64 = 2;

/// Each version's step, from the one before it.
const STEPS: [&str; 2] = [
    // 1: what the phone holds, its queue of writes, and its cursor. Kinds, states and counts are
    // in clear; every id that could name a person is a keyed hash; contents are sealed.
    "CREATE TABLE meta (
         name   TEXT PRIMARY KEY,
         sealed BLOB NOT NULL
     );
     CREATE TABLE records (
         kind        TEXT NOT NULL,
         id_hash     BLOB NOT NULL,
         person_hash BLOB,
         parent_hash BLOB,
         position    INTEGER,
         sealed      BLOB NOT NULL,
         PRIMARY KEY (kind, id_hash)
     );
     CREATE INDEX records_person ON records(person_hash);
     CREATE INDEX records_parent ON records(kind, parent_hash, position);
     CREATE TABLE outbox (
         id              INTEGER PRIMARY KEY AUTOINCREMENT,
         queue_hash      BLOB NOT NULL,
         person_hash     BLOB,
         idempotency_key TEXT NOT NULL UNIQUE,
         state           TEXT NOT NULL,
         attempts        INTEGER NOT NULL DEFAULT 0,
         not_before_ms   INTEGER NOT NULL DEFAULT 0,
         created_ms      INTEGER NOT NULL,
         sealed          BLOB NOT NULL,
         reason_sealed   BLOB
     );
     CREATE INDEX outbox_queue ON outbox(queue_hash, id);
     CREATE INDEX outbox_person ON outbox(person_hash);",
    // 2: writes get a priority (reads shown offline go after everything the person wrote), and a
    // write that met a newer version on the server keeps both for the person to choose.
    "ALTER TABLE outbox ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
     CREATE TABLE conflicts (
         record_hash BLOB PRIMARY KEY,
         created_ms  INTEGER NOT NULL,
         sealed      BLOB NOT NULL
     );",
];

/// Why the schema could not be brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("the store was written by a newer version of the app (schema {0})")]
    TooNew(i64),
    #[error(transparent)]
    Database(#[from] rusqlite::Error),
}

/// Brings the store up to `target` (at most [`CURRENT`]).
pub(crate) fn migrate_to(conn: &mut Connection, target: i64) -> Result<(), SchemaError> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if found > CURRENT {
        return Err(SchemaError::TooNew(found));
    }
    for version in (found + 1)..=target.min(CURRENT) {
        let Some(step) = usize::try_from(version - 1).ok().and_then(|i| STEPS.get(i)) else {
            break;
        };
        let tx = conn.transaction()?;
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
    }
    Ok(())
}
