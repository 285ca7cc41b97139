//! The outbox's rows: every write the person made, kept until the server has it.
//!
//! Policy:
//! - A write is queued in the same transaction as its optimistic local change, with the
//!   idempotency key it will be sent with, before any network attempt.
//! - Writes form queues (one per record or conversation). Only a queue's oldest write may go:
//!   a write that is waiting (backing off, wedged by a refusal, or waiting for the person to
//!   sign in again) holds every later write of its queue behind it — none overtakes.
//! - A write leaves only when the server's answer is applied, in the same transaction.
//! - Reads shown offline go at a lower priority than anything the person wrote.

use std::collections::HashSet;
use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};
use livingwell_core::api::sync::{SyncKind, SyncRecord};
use livingwell_core::domain::PersonId;
use rusqlite::{OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use super::crypto::StoreKeys;
use super::{Store, StoreError, StoreResult, open_unchecked};

/// The queue of writes to one record.
pub fn queue_of(kind: SyncKind, id: &str) -> String {
    format!("{kind}:{id}")
}

/// What to send: method, path and body. Holds what the person wrote, so its `Debug` shows
/// only the method and path.
#[derive(Clone, PartialEq, Deserialize, Serialize)]
pub struct WriteRequest {
    pub method: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
}

impl std::fmt::Debug for WriteRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// A write to queue.
#[derive(Clone, Debug)]
pub struct NewWrite {
    /// The queue it waits in ([`queue_of`] the record or conversation it changes).
    pub queue: String,
    /// The person it is about, so it goes if the phone may no longer see them.
    pub person: Option<PersonId>,
    pub idempotency_key: String,
    pub request: WriteRequest,
    /// Higher goes first; reads shown offline are below zero.
    pub priority: i32,
}

/// Where a queued write stands.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum WriteState {
    /// Waiting its turn, or backing off until `not_before`.
    Queued,
    /// Refused by the server; waits for the person to retry, edit or discard it. `code` and
    /// `fields` are the server's (never text the person wrote).
    Wedged {
        status: u16,
        code: String,
        #[serde(default)]
        fields: Vec<String>,
    },
    /// Needs the password entered again before it can go ("sign in again to send").
    StepUp,
}

/// A write in the outbox.
#[derive(Clone, Debug, PartialEq)]
pub struct QueuedWrite {
    pub id: i64,
    pub queue: String,
    pub idempotency_key: String,
    pub request: WriteRequest,
    pub state: WriteState,
    pub attempts: u32,
    pub not_before: DateTime<Utc>,
    pub priority: i32,
    pub created_at: DateTime<Utc>,
}

/// What is sealed in a row: the queue's name and the request.
#[derive(Deserialize, Serialize)]
struct Sealed {
    queue: String,
    request: WriteRequest,
}

fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

const COLUMNS: &str = "id, idempotency_key, state, attempts, not_before_ms, created_ms, sealed, \
                       reason_sealed, priority";

/// A row as read, before opening.
struct Raw {
    id: i64,
    idempotency_key: String,
    state: String,
    attempts: i64,
    not_before_ms: i64,
    created_ms: i64,
    sealed: Vec<u8>,
    reason_sealed: Option<Vec<u8>>,
    priority: i64,
}

impl Raw {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            idempotency_key: row.get(1)?,
            state: row.get(2)?,
            attempts: row.get(3)?,
            not_before_ms: row.get(4)?,
            created_ms: row.get(5)?,
            sealed: row.get(6)?,
            reason_sealed: row.get(7)?,
            priority: row.get(8)?,
        })
    }

    fn open(self, keys: &StoreKeys) -> StoreResult<QueuedWrite> {
        let row = self.idempotency_key.as_bytes();
        let plain = keys.open("outbox", row, &self.sealed)?;
        let sealed: Sealed = serde_json::from_slice(&plain).map_err(|_| StoreError::Decode)?;
        let state = match (self.state.as_str(), &self.reason_sealed) {
            ("queued", _) => WriteState::Queued,
            ("step_up", _) => WriteState::StepUp,
            ("wedged", Some(reason)) => {
                let plain = keys.open("outbox-reason", row, reason)?;
                serde_json::from_slice(&plain).map_err(|_| StoreError::Decode)?
            }
            _ => return Err(StoreError::Decode),
        };
        Ok(QueuedWrite {
            id: self.id,
            queue: sealed.queue,
            idempotency_key: self.idempotency_key,
            request: sealed.request,
            state,
            attempts: u32::try_from(self.attempts).unwrap_or(u32::MAX),
            not_before: from_millis(self.not_before_ms),
            priority: i32::try_from(self.priority).unwrap_or_default(),
            created_at: from_millis(self.created_ms),
        })
    }
}

/// The queued writes that can still be read from a damaged store, in order. Reads them one
/// id at a time and skips what does not open: a damaged page loses its rows, not the rest.
pub(super) fn recover(path: &Path, keys: &StoreKeys) -> Vec<QueuedWrite> {
    let Ok(conn) = open_unchecked(path) else {
        return Vec::new();
    };
    // The highest id ever given (AUTOINCREMENT keeps it); failing that, the highest present.
    let highest: i64 = conn
        .query_row(
            "SELECT seq FROM sqlite_sequence WHERE name = 'outbox'",
            [],
            |row| row.get(0),
        )
        .or_else(|_| conn.query_row("SELECT MAX(id) FROM outbox", [], |row| row.get(0)))
        .unwrap_or(0);
    let one = format!("SELECT {COLUMNS} FROM outbox WHERE id = ?1");
    (1..=highest)
        .filter_map(|id| conn.query_row(&one, [id], Raw::read).ok())
        .filter_map(|raw| raw.open(keys).ok())
        .collect()
}

impl Store {
    fn outbox_row(&self, raw: Raw) -> StoreResult<QueuedWrite> {
        raw.open(&self.keys)
    }

    /// Queues `write` with the optimistic local change `local` (records as the person will
    /// see them until the server answers), in one transaction.
    pub fn enqueue(
        &self,
        write: &NewWrite,
        local: &[SyncRecord],
        now: DateTime<Utc>,
    ) -> StoreResult<QueuedWrite> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for record in local {
            self.put_record(&tx, record)?;
        }
        let sealed = Sealed {
            queue: write.queue.clone(),
            request: write.request.clone(),
        };
        let plain = serde_json::to_vec(&sealed).map_err(|_| StoreError::Decode)?;
        let sealed = self
            .keys
            .seal("outbox", write.idempotency_key.as_bytes(), &plain)?;
        let person = write.person.map(|p| self.hash("person", &p.to_string()));
        tx.execute(
            "INSERT INTO outbox (queue_hash, person_hash, idempotency_key, state, created_ms, \
             sealed, priority) VALUES (?1, ?2, ?3, 'queued', ?4, ?5, ?6)",
            params![
                self.hash("outbox", &write.queue),
                person,
                write.idempotency_key,
                millis(now),
                sealed,
                write.priority
            ],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        Ok(QueuedWrite {
            id,
            queue: write.queue.clone(),
            idempotency_key: write.idempotency_key.clone(),
            request: write.request.clone(),
            state: WriteState::Queued,
            attempts: 0,
            not_before: from_millis(0),
            priority: write.priority,
            created_at: now,
        })
    }

    /// Every queued write, oldest first.
    pub fn queued(&self) -> StoreResult<Vec<QueuedWrite>> {
        let conn = self.conn();
        let mut statement = conn.prepare(&format!("SELECT {COLUMNS} FROM outbox ORDER BY id"))?;
        let raws = statement
            .query_map([], Raw::read)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        drop(statement);
        drop(conn);
        raws.into_iter().map(|raw| self.outbox_row(raw)).collect()
    }

    /// One queued write, by its id; `None` once it went or was discarded.
    pub fn queued_write(&self, id: i64) -> StoreResult<Option<QueuedWrite>> {
        let raw = self
            .conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM outbox WHERE id = ?1"),
                [id],
                Raw::read,
            )
            .optional()?;
        raw.map(|raw| self.outbox_row(raw)).transpose()
    }

    /// The writes waiting in one queue, oldest first (a screen laying the person's own writes
    /// over what it shows reads only its record's queue, by its index).
    pub fn queued_in(&self, queue: &str) -> StoreResult<Vec<QueuedWrite>> {
        let conn = self.conn();
        let mut statement = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM outbox WHERE queue_hash = ?1 ORDER BY id"
        ))?;
        let raws = statement
            .query_map([self.hash("outbox", queue)], Raw::read)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        drop(statement);
        drop(conn);
        raws.into_iter().map(|raw| self.outbox_row(raw)).collect()
    }

    /// The writes that may go now: the oldest of each queue, when it is queued and due,
    /// highest priority first, then oldest. A queue whose oldest write is waiting sends
    /// nothing.
    pub fn ready(&self, now: DateTime<Utc>) -> StoreResult<Vec<QueuedWrite>> {
        let mut seen = HashSet::new();
        let mut ready: Vec<QueuedWrite> = self
            .queued()?
            .into_iter()
            .filter(|write| seen.insert(write.queue.clone()))
            .filter(|write| write.state == WriteState::Queued && write.not_before <= now)
            .collect();
        ready.sort_by_key(|write| (std::cmp::Reverse(write.priority), write.id));
        Ok(ready)
    }

    /// The server has the write: it leaves the outbox and the records the server answered
    /// with replace the local ones, in one transaction.
    pub fn sent(&self, id: i64, answered: &[SyncRecord]) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute("DELETE FROM outbox WHERE id = ?1", [id])?;
        for record in answered {
            self.put_record(&tx, record)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// A transient failure: try again from `not_before`.
    pub fn postpone(&self, id: i64, attempts: u32, not_before: DateTime<Utc>) -> StoreResult<()> {
        self.conn().execute(
            "UPDATE outbox SET attempts = ?2, not_before_ms = ?3 WHERE id = ?1",
            params![id, attempts, millis(not_before)],
        )?;
        Ok(())
    }

    /// The network is back: every write backing off may go now.
    pub fn clear_backoff(&self) -> StoreResult<()> {
        self.conn().execute(
            "UPDATE outbox SET not_before_ms = 0 WHERE state = 'queued'",
            [],
        )?;
        Ok(())
    }

    /// Sets where a write stands (a refusal, or waiting for the password), or back to queued.
    pub fn set_state(&self, id: i64, state: &WriteState) -> StoreResult<()> {
        let conn = self.conn();
        let key: String = conn.query_row(
            "SELECT idempotency_key FROM outbox WHERE id = ?1",
            [id],
            |row| row.get(0),
        )?;
        let (name, reason) = match state {
            WriteState::Queued => ("queued", None),
            WriteState::StepUp => ("step_up", None),
            WriteState::Wedged { .. } => {
                let plain = serde_json::to_vec(state).map_err(|_| StoreError::Decode)?;
                (
                    "wedged",
                    Some(self.keys.seal("outbox-reason", key.as_bytes(), &plain)?),
                )
            }
        };
        conn.execute(
            "UPDATE outbox SET state = ?2, reason_sealed = ?3, not_before_ms = 0 WHERE id = ?1",
            params![id, name, reason],
        )?;
        Ok(())
    }

    /// Replaces a waiting write's body (the person edited it) and queues it again.
    pub fn edit(&self, id: i64, body: serde_json::Value) -> StoreResult<()> {
        let current = self.queued_write(id)?.ok_or(StoreError::Decode)?;
        // A new body is a new request: it must not be answered as the old one was.
        let key = uuid::Uuid::new_v4().to_string();
        let sealed = Sealed {
            queue: current.queue,
            request: WriteRequest {
                body: Some(body),
                ..current.request
            },
        };
        let plain = serde_json::to_vec(&sealed).map_err(|_| StoreError::Decode)?;
        let resealed = self.keys.seal("outbox", key.as_bytes(), &plain)?;
        self.conn().execute(
            "UPDATE outbox SET sealed = ?2, idempotency_key = ?3, state = 'queued', \
             reason_sealed = NULL, attempts = 0, not_before_ms = 0 WHERE id = ?1",
            params![id, resealed, key],
        )?;
        Ok(())
    }

    /// Drops a waiting write (the person discarded it).
    pub fn discard(&self, id: i64) -> StoreResult<()> {
        self.conn()
            .execute("DELETE FROM outbox WHERE id = ?1", [id])?;
        Ok(())
    }
}
