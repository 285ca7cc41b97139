//! Reads a phone showed offline, as uploaded (`POST /v1/audit/offline-reads`).
//!
//! Guarantee: **each read recorded once, even across a crash.** A read's row in
//! `offline_reads`, keyed by (uploader, event id), and its audit entry are written in one
//! transaction, which holds the audit chain's lock from before it looks for the event id: an
//! upload sent again — after a lost answer, after a crash between the commit and the answer, or
//! at the same time as the first — finds the row and records nothing, and a transaction that
//! fails leaves neither.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use livingwell_core::domain::{CrisisPlanSection, PersonId, UserId};
use sqlx::types::Json;
use sqlx::{ColumnIndex, Executor};
use uuid::Uuid;

use super::backend::{Backend, Bind, Column, SqlStore};
use super::idempotency::begin_write;
use super::{NewAuditEntry, StoreResult};

/// One uploaded read, with the audit entry its decision made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewOfflineRead {
    pub uploader: UserId,
    /// The id the phone gave the read.
    pub event_id: Uuid,
    pub person_id: PersonId,
    /// The part of the record shown, as the audit log names it.
    pub record: &'static str,
    /// The crisis-plan sections the phone says it showed; empty when it named none.
    pub sections: BTreeSet<CrisisPlanSection>,
    pub read_at: DateTime<Utc>,
    /// Whether the read was accepted (recorded as a read) or refused (a denied attempt).
    pub accepted: bool,
    /// The entry for the person's access log: `via` offline, with `read_at`.
    pub entry: NewAuditEntry,
}

/// What storing one uploaded read did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OfflineReadStored {
    /// Stored now, with the audit entry at this sequence number.
    Recorded { seq: i64 },
    /// The uploader had uploaded this event id before: nothing stored.
    AlreadyRecorded,
}

#[async_trait::async_trait]
pub trait OfflineReadStore {
    /// Stores each read the uploader has not uploaded before, with its audit entry, all in one
    /// transaction under the audit chain's lock; answers for each read, in order.
    async fn record_offline_reads(
        &self,
        reads: &[NewOfflineRead],
    ) -> StoreResult<Vec<OfflineReadStored>>;
}

#[async_trait::async_trait]
impl<DB> OfflineReadStore for SqlStore<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> &'a str: Bind<DB>,
    Uuid: Column<DB>,
    Option<Uuid>: Bind<DB>,
    DateTime<Utc>: Column<DB>,
    Option<DateTime<Utc>>: Bind<DB>,
    String: Column<DB>,
    Option<String>: Bind<DB>,
    i64: Column<DB>,
    bool: Column<DB>,
    Vec<u8>: Column<DB>,
    for<'a> &'a [u8]: Bind<DB>,
    for<'a> Json<&'a BTreeSet<CrisisPlanSection>>: Bind<DB>,
    usize: ColumnIndex<DB::Row>,
{
    async fn record_offline_reads(
        &self,
        reads: &[NewOfflineRead],
    ) -> StoreResult<Vec<OfflineReadStored>> {
        let mut tx = begin_write(self).await?;
        // Taken before looking for the event ids, so two uploads of one read are decided one
        // after the other: the second finds the first's row.
        DB::lock_audit_chain(&mut tx).await?;
        let mut answers = vec![OfflineReadStored::AlreadyRecorded; reads.len()];
        let mut fresh = Vec::with_capacity(reads.len());
        let mut in_this_upload = BTreeSet::new();
        for (index, read) in reads.iter().enumerate() {
            let (known,): (bool,) = sqlx::query_as(
                "SELECT EXISTS (SELECT 1 FROM offline_reads \
                 WHERE uploader_id = $1 AND event_id = $2)",
            )
            .bind(read.uploader.as_uuid())
            .bind(read.event_id)
            .fetch_one(&mut *tx)
            .await?;
            if !known && in_this_upload.insert((read.uploader, read.event_id)) {
                fresh.push(index);
            }
        }
        let entries: Vec<&NewAuditEntry> = fresh.iter().map(|&i| &reads[i].entry).collect();
        let seqs = DB::append_audit_chain(&mut tx, &entries).await?;
        for (&index, &seq) in fresh.iter().zip(&seqs) {
            let read = &reads[index];
            sqlx::query(
                "INSERT INTO offline_reads (uploader_id, event_id, person_id, record, sections, \
                 read_at, outcome, audit_seq, uploaded_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(read.uploader.as_uuid())
            .bind(read.event_id)
            .bind(read.person_id.as_uuid())
            .bind(read.record)
            .bind(Json(&read.sections))
            .bind(read.read_at)
            .bind(if read.accepted { "recorded" } else { "refused" })
            .bind(seq)
            .bind(read.entry.at)
            .execute(&mut *tx)
            .await?;
            answers[index] = OfflineReadStored::Recorded { seq };
        }
        tx.commit().await?;
        Ok(answers)
    }
}
