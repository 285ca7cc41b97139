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

use crate::group_commit::{BatchCommit, GroupCommit, GroupCommitError, WriterHealth};
use crate::store::{NewAuditEntry, Store, StoreResult};

/// The `prev_hash` of the first entry.
pub const GENESIS_HASH: [u8; 32] = [0; 32];

/// The hash of one entry in the chain: SHA-256 of the previous entry's hash followed by the
/// entry's fields as a JSON array, its sequence number first.
pub fn chain_hash(seq: i64, prev_hash: &[u8], entry: &NewAuditEntry) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash);
    hasher.update(format!("[{seq},").as_bytes());
    hasher.update(chain_text_after_seq(entry));
    hasher.finalize().to_vec()
}

/// The hashed text of an entry after its sequence number and the comma that follows it: the
/// rest of the JSON array [`chain_hash`] covers, closing bracket included. Postgres appends a
/// batch in one statement (`audit_chain_append`, migration 0025) from this text, prefixing the
/// numbers it assigns, so what is hashed is written in this one place.
pub fn chain_text_after_seq(entry: &NewAuditEntry) -> Vec<u8> {
    use serde_json::json;
    let micros =
        |at: chrono::DateTime<chrono::Utc>| at.to_rfc3339_opts(SecondsFormat::Micros, true);
    // A JSON array of the fields: unambiguous (strings are quoted and escaped) and stable.
    let mut fields = vec![
        json!(micros(entry.at)),
        json!(entry.actor_id),
        json!(entry.actor_role),
        json!(entry.on_behalf_of),
        json!(entry.subject_id.map(|s| s.to_string())),
        json!(entry.resource),
        json!(entry.action),
        json!(entry.outcome),
        json!(entry.relationship),
        json!(entry.request_id),
    ];
    // Fields added later join the array only when set, so every entry written before them
    // keeps its hash.
    if entry.via.is_some() || entry.read_at.is_some() {
        fields.push(json!(entry.via));
        fields.push(json!(entry.read_at.map(micros)));
    }
    // `[a,b,…]` without its opening bracket: compact JSON joins elements with a bare comma, so
    // `[` + the number + `,` + this is the array with the number first.
    let mut text = serde_json::Value::Array(fields).to_string().into_bytes();
    text.remove(0);
    text
}

#[derive(Debug, thiserror::Error)]
#[error("the audit entry could not be stored")]
pub struct AuditUnavailableError {
    /// Because the database's storage is full (the answer says so).
    pub storage_full: bool,
}

impl From<GroupCommitError> for AuditUnavailableError {
    fn from(error: GroupCommitError) -> Self {
        Self {
            storage_full: error.is_storage_full(),
        }
    }
}

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

    /// Whether the writer is idle, committing, or gone (readiness: reads wait on it).
    pub fn writer_health(&self) -> WriterHealth {
        self.writer.health()
    }

    /// Stores the entry durably; returns its sequence number once committed.
    pub async fn record(&self, entry: NewAuditEntry) -> Result<i64, AuditUnavailableError> {
        // The writer has logged why by kind; the caller only needs to know it is not stored.
        self.writer
            .submit(entry)
            .await
            .map_err(AuditUnavailableError::from)
    }

    /// Stores the entries durably, together (one commit when the writer is idle).
    pub async fn record_all(
        &self,
        entries: Vec<NewAuditEntry>,
    ) -> Result<(), AuditUnavailableError> {
        self.writer
            .submit_all(entries)
            .await
            .map(drop)
            .map_err(AuditUnavailableError::from)
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

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn entry() -> NewAuditEntry {
        NewAuditEntry {
            at: chrono::Utc.with_ymd_and_hms(2026, 11, 2, 9, 30, 0).unwrap(),
            actor_id: Some("user-1".into()),
            actor_role: "carer".into(),
            on_behalf_of: None,
            subject_id: None,
            resource: "crisis_plan".into(),
            action: "read".into(),
            outcome: "allowed".into(),
            relationship: Some("carer_consent".into()),
            request_id: Some("req-1".into()),
            via: None,
            read_at: None,
        }
    }

    #[test]
    fn entries_without_the_later_fields_keep_the_hash_they_were_written_with() {
        // The canonical form every entry had before `via` and `read_at` existed.
        let before = r#"[7,"2026-11-02T09:30:00.000000Z","user-1","carer",null,null,"crisis_plan","read","allowed","carer_consent","req-1"]"#;
        let mut hasher = Sha256::new();
        hasher.update(GENESIS_HASH);
        hasher.update(before.as_bytes());
        assert_eq!(
            chain_hash(7, &GENESIS_HASH, &entry()),
            hasher.finalize().to_vec()
        );
    }

    #[test]
    fn how_and_when_a_read_was_shown_are_covered_by_the_hash() {
        let plain = chain_hash(7, &GENESIS_HASH, &entry());
        let synced = NewAuditEntry {
            via: Some("sync".into()),
            ..entry()
        };
        let offline = NewAuditEntry {
            via: Some("offline".into()),
            read_at: Some(chrono::Utc.with_ymd_and_hms(2026, 11, 1, 8, 0, 0).unwrap()),
            ..entry()
        };
        let offline_later = NewAuditEntry {
            read_at: Some(chrono::Utc.with_ymd_and_hms(2026, 11, 1, 8, 0, 1).unwrap()),
            ..offline.clone()
        };
        let hashes = [
            plain,
            chain_hash(7, &GENESIS_HASH, &synced),
            chain_hash(7, &GENESIS_HASH, &offline),
            chain_hash(7, &GENESIS_HASH, &offline_later),
        ];
        for (i, a) in hashes.iter().enumerate() {
            for b in &hashes[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }
}
