//! Writes that met a newer version on the server: both kept, for the person to choose.
//!
//! A plan or WRAP edited offline while someone else changed it is never silently overwritten
//! either way: the person's draft and the server's version are kept side by side (sealed, like
//! everything else) until the person keeps one, and the write waits, wedged, meanwhile.

use chrono::{DateTime, Utc};
use livingwell_core::api::sync::{SyncKind, SyncRecord};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, StoreResult};

/// The person's draft and the server's version of one record.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct Conflict {
    pub kind: SyncKind,
    pub id: String,
    /// The queued write that met the newer version.
    pub write_id: i64,
    /// What the person wrote (the write's body).
    pub draft: serde_json::Value,
    /// The version on the server when the write was refused, as far as the phone has it.
    pub server: Option<SyncRecord>,
    pub at: DateTime<Utc>,
}

impl Store {
    /// Keeps `conflict`, replacing any kept for the same record.
    pub fn keep_conflict(&self, conflict: &Conflict) -> StoreResult<()> {
        let row = self.record_row(conflict.kind, &conflict.id);
        let plain = serde_json::to_vec(conflict).map_err(|_| StoreError::Decode)?;
        let sealed = self.keys.seal("conflicts", &row, &plain)?;
        self.conn().execute(
            "INSERT INTO conflicts (record_hash, created_ms, sealed) VALUES (?1, ?2, ?3) \
             ON CONFLICT (record_hash) DO UPDATE SET created_ms = excluded.created_ms, \
             sealed = excluded.sealed",
            params![row, conflict.at.timestamp_millis(), sealed],
        )?;
        Ok(())
    }

    /// The conflict kept for a record, if any.
    pub fn conflict(&self, kind: SyncKind, id: &str) -> StoreResult<Option<Conflict>> {
        let row = self.record_row(kind, id);
        let sealed: Option<Vec<u8>> = self
            .conn()
            .query_row(
                "SELECT sealed FROM conflicts WHERE record_hash = ?1",
                [&row],
                |r| r.get(0),
            )
            .optional()?;
        sealed
            .map(|sealed| {
                let plain = self.keys.open("conflicts", &row, &sealed)?;
                serde_json::from_slice(&plain).map_err(|_| StoreError::Decode)
            })
            .transpose()
    }

    /// The person chose: the conflict is forgotten.
    pub fn clear_conflict(&self, kind: SyncKind, id: &str) -> StoreResult<()> {
        self.conn().execute(
            "DELETE FROM conflicts WHERE record_hash = ?1",
            [self.record_row(kind, id)],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::new_store_key;

    #[test]
    fn both_versions_are_kept_until_the_person_chooses() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &new_store_key()).unwrap();
        assert_eq!(store.conflict(SyncKind::Wrap, "p").unwrap(), None);
        let conflict = Conflict {
            kind: SyncKind::Wrap,
            id: "p".into(),
            write_id: 7,
            draft: json!({"wrap": "mine"}),
            server: Some(SyncRecord {
                kind: SyncKind::Wrap,
                id: "p".into(),
                person_id: None,
                version: "v9".into(),
                data: json!({"wrap": "theirs"}),
            }),
            at: Utc::now(),
        };
        store.keep_conflict(&conflict).unwrap();
        assert_eq!(store.conflict(SyncKind::Wrap, "p").unwrap(), Some(conflict));
        store.clear_conflict(SyncKind::Wrap, "p").unwrap();
        assert_eq!(store.conflict(SyncKind::Wrap, "p").unwrap(), None);
    }
}
