//! The audit log: who touched whose record, when, why, and with what outcome.
//!
//! Guarantees:
//! - **Append-only.** The tables refuse UPDATE and DELETE (triggers), and nothing in the server
//!   issues either.
//! - **Tamper-evident.** Each entry's hash covers its sequence number, its fields and the
//!   previous entry's hash; [`verify`] recomputes the chain and names the first broken link.
//! - **Durable before served.** [`AuditLog::record`] returns only after the entry is committed; a
//!   handler that cannot record its read answers 503 instead of the data.
//! - **Group commit.** One writer task per process ([`crate::group_commit`]) collects the
//!   entries that arrive while a commit is in flight and commits them together, so concurrent
//!   reads share one fsync instead of queueing for one each. Across processes the store
//!   serialises appends (an advisory lock on Postgres, the single write lock on SQLite), so
//!   there is one chain.
//! - **Anchored outside the database.** A chain cut short is still a valid chain, so `serve`
//!   writes signed checkpoints of the head to a directory the database cannot reach
//!   ([`checkpoint`]); verifying against them shows a deleted tail, naming the missing entries.

pub mod checkpoint;

use std::sync::Arc;

use chrono::SecondsFormat;
use sha2::{Digest, Sha256};

use crate::group_commit::{BatchCommit, GroupCommit};
use crate::store::{NewAuditEntry, Store, StoreResult};

/// The `prev_hash` of the first entry.
pub const GENESIS_HASH: [u8; 32] = [0; 32];

/// The hash of one entry in the chain.
pub fn chain_hash(seq: i64, prev_hash: &[u8], entry: &NewAuditEntry) -> Vec<u8> {
    // A JSON array of the fields: unambiguous (strings are quoted and escaped) and stable.
    let canonical = serde_json::json!([
        seq,
        entry.at.to_rfc3339_opts(SecondsFormat::Micros, true),
        entry.actor_id,
        entry.actor_role,
        entry.on_behalf_of,
        entry.subject_id.map(|s| s.to_string()),
        entry.resource,
        entry.action,
        entry.outcome,
        entry.relationship,
        entry.request_id,
    ]);
    let mut hasher = Sha256::new();
    hasher.update(prev_hash);
    hasher.update(canonical.to_string().as_bytes());
    hasher.finalize().to_vec()
}

#[derive(Debug, thiserror::Error)]
#[error("the audit entry could not be stored")]
pub struct AuditUnavailableError;

/// A handle to the process's audit writer. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AuditLog {
    writer: GroupCommit<AuditAppend>,
}

impl AuditLog {
    /// Starts the writer task. It ends when every handle has been dropped.
    pub fn start(store: Arc<dyn Store>) -> Self {
        Self {
            writer: GroupCommit::start(AuditAppend { store }),
        }
    }

    /// Stores the entry durably; returns its sequence number once committed.
    pub async fn record(&self, entry: NewAuditEntry) -> Result<i64, AuditUnavailableError> {
        // The writer has logged why by kind; the caller only needs to know it is not stored.
        self.writer
            .submit(entry)
            .await
            .map_err(|_| AuditUnavailableError)
    }
}

/// An audit batch commit: the entries appended to the chain in one transaction.
struct AuditAppend {
    store: Arc<dyn Store>,
}

impl BatchCommit for AuditAppend {
    type Item = NewAuditEntry;
    /// The entry's sequence number.
    type Output = i64;
    const NAME: &'static str = "audit";
    const MAX_BATCH: usize = 512;

    async fn commit(&self, entries: &[NewAuditEntry]) -> StoreResult<Vec<i64>> {
        self.store.append_audit(entries).await
    }
}

/// The outcome of checking the chain.
#[derive(Debug, PartialEq, Eq)]
pub enum Verification {
    Intact {
        entries: u64,
    },
    /// The first entry whose stored hash or link does not match what it should be.
    Broken {
        seq: i64,
        reason: &'static str,
    },
}

/// Recomputes the whole chain, page by page.
pub async fn verify(store: &dyn Store) -> StoreResult<Verification> {
    const PAGE: i64 = 1_000;
    let mut prev_hash = GENESIS_HASH.to_vec();
    let mut last_seq = 0;
    let mut count = 0;
    loop {
        let page = store.audit_after(last_seq, PAGE).await?;
        if page.is_empty() {
            return Ok(Verification::Intact { entries: count });
        }
        for record in page {
            if record.seq != last_seq + 1 {
                return Ok(Verification::Broken {
                    seq: last_seq + 1,
                    reason: "entry missing",
                });
            }
            if record.prev_hash != prev_hash {
                return Ok(Verification::Broken {
                    seq: record.seq,
                    reason: "link to previous entry broken",
                });
            }
            if chain_hash(record.seq, &prev_hash, &record.entry) != record.hash {
                return Ok(Verification::Broken {
                    seq: record.seq,
                    reason: "entry changed",
                });
            }
            prev_hash = record.hash;
            last_seq = record.seq;
            count += 1;
        }
    }
}
