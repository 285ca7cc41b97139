//! Checkpoints of the audit chain's head, kept where the database cannot rewrite them.
//!
//! The hash chain proves that no entry *before the newest one* was changed or removed, but a
//! chain cut short is still a valid chain: whoever holds the database owner's rights can drop the
//! append-only triggers and delete the newest entries. So `serve` writes the head (the newest
//! entry's sequence number and hash) to a signed file in a directory outside the database, and
//! `livingwell audit verify --audit-checkpoint-dir` fails when the database lacks an entry a
//! checkpoint names, or holds a different one there.
//!
//! Guarantees:
//! - **A deleted tail is noticed once a checkpoint covers it.** `serve` checkpoints at least once
//!   per interval (60 s) and on shutdown, after the last request has been answered. What can go
//!   unnoticed is what was written after the newest checkpoint: at most the last interval's
//!   entries, while running or after a crash; none after a clean shutdown. A checkpoint that
//!   cannot be written is logged as an error, and the window grows until one can.
//! - **Signed with a key the database never holds.** Ed25519, the key in a file (PKCS#8 PEM,
//!   created with mode 0600), not the token keys, which live in the database.
//! - **Atomic, and never overwritten.** Each checkpoint is written to a temporary file with a name
//!   unique to the process and write, synced, renamed into place, and the directory synced; a
//!   reader sees a whole checkpoint or none. There is one file per sequence number, and an existing
//!   one is never replaced: after a rewrite, the old file is the evidence.
//! - **Append-only history, bounded.** The newest [`RETAINED`] checkpoints (by sequence number)
//!   are kept; a rewrite is noticed while a checkpoint from before it is among them.
//! - **Shared.** Several processes on one database may share the directory; each writes its own
//!   view of the head. Two views of one sequence number name the same hash unless the log was
//!   rewritten.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DateTime, SecondsFormat, Utc};
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::files::{self, sync_parent, unique_temp_path, write_synced};
use crate::store::{AuditHead, Store, StoreResult};

/// How often `serve` checkpoints the head unless told otherwise.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

/// How many checkpoints the directory keeps: about a week at one a minute, some 2.5 MB; `audit
/// verify` looks each one up.
pub const RETAINED: usize = 10_000;

/// The key's file name inside the checkpoint directory, unless a path is given.
pub const KEY_FILE_NAME: &str = "checkpoint.key";

const FILE_PREFIX: &str = "checkpoint-";
const FILE_SUFFIX: &str = ".json";

/// Binds a signature to this use, so no other signed message can pass for a checkpoint.
const SIGNING_CONTEXT: &str = "livingwell audit checkpoint v1";

/// A checkpoint file as stored. The signature covers the other fields exactly as written.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckpointFile {
    seq: i64,
    /// Hex.
    hash: String,
    /// RFC 3339, UTC.
    taken_at: String,
    /// Hex Ed25519 signature of [`signed_message`].
    signature: String,
}

fn signed_message(seq: i64, hash: &str, taken_at: &str) -> String {
    format!("{SIGNING_CONTEXT}\n{seq}\n{hash}\n{taken_at}")
}

fn file_name(seq: i64) -> String {
    format!("{FILE_PREFIX}{seq:020}{FILE_SUFFIX}")
}

/// The sequence number a checkpoint file is named after; `None` for any other file.
fn seq_named_by(file_name: &str) -> Option<i64> {
    file_name
        .strip_prefix(FILE_PREFIX)?
        .strip_suffix(FILE_SUFFIX)?
        .parse()
        .ok()
}

/// A checkpoint whose signature holds: the head as one process saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: Vec<u8>,
    pub taken_at: DateTime<Utc>,
}

/// Reads the key, creating it (mode 0600) when the file does not exist.
fn load_or_create_key(path: &Path) -> anyhow::Result<SigningKey> {
    if let Some(key) = load_key(path)? {
        return Ok(key);
    }
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    let pem = key
        .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .context("encoding the checkpoint key")?;
    // Another process may have created it meanwhile; then both use the one that is there.
    files::create_new(path, pem.as_bytes(), 0o600).context("creating the checkpoint key")?;
    load_key(path)?.with_context(|| format!("the checkpoint key {} vanished", path.display()))
}

fn load_key(path: &Path) -> anyhow::Result<Option<SigningKey>> {
    let pem = match fs::read_to_string(path) {
        Ok(pem) => pem,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(error)
                .with_context(|| format!("reading the checkpoint key {}", path.display()));
        }
    };
    let key = SigningKey::from_pkcs8_pem(&pem)
        .map_err(|_| anyhow::anyhow!("{} is not an Ed25519 key (PKCS#8 PEM)", path.display()))?;
    Ok(Some(key))
}

/// Writes the signed head of the audit chain into the checkpoint directory.
pub struct CheckpointWriter {
    store: Arc<dyn Store>,
    dir: PathBuf,
    key: SigningKey,
    interval: Duration,
    /// The head this process wrote last, so an unmoved head is not written again.
    last_written: tokio::sync::Mutex<Option<AuditHead>>,
}

impl std::fmt::Debug for CheckpointWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointWriter")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl CheckpointWriter {
    /// Creates the directory and the key when missing; [`Self::run`] checkpoints every `interval`.
    pub fn open(
        store: Arc<dyn Store>,
        dir: PathBuf,
        key_path: &Path,
        interval: Duration,
    ) -> anyhow::Result<Self> {
        fs::create_dir_all(&dir)
            .with_context(|| format!("creating the checkpoint directory {}", dir.display()))?;
        let key = load_or_create_key(key_path)?;
        Ok(Self {
            store,
            dir,
            key,
            interval,
            last_written: tokio::sync::Mutex::new(None),
        })
    }

    /// Checkpoints the head unless it has not moved since this process last did; the head's
    /// sequence number when it had moved. A file for that sequence number is left as it is: one
    /// another process wrote for the same head, and (with an error logged) one naming another.
    pub async fn checkpoint(&self) -> anyhow::Result<Option<i64>> {
        // By kind only: a database's error text is not for logs (see `StoreError::kind`).
        let head =
            self.store.audit_head().await.map_err(|error| {
                anyhow::anyhow!("reading the audit head failed ({})", error.kind())
            })?;
        let Some(head) = head else {
            return Ok(None);
        };
        let mut last_written = self.last_written.lock().await;
        if last_written.as_ref() == Some(&head) {
            return Ok(None);
        }
        if let Some(previous) = last_written.as_ref()
            && head.seq < previous.seq
        {
            tracing::error!(
                checkpointed = previous.seq,
                now = head.seq,
                "the audit log's head moved backwards: entries were deleted from the database"
            );
        }
        let file = self.sign(&head, Utc::now());
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || store_checkpoint(&dir, &file))
            .await
            .context("the checkpoint writer stopped")??;
        let seq = head.seq;
        *last_written = Some(head);
        Ok(Some(seq))
    }

    fn sign(&self, head: &AuditHead, taken_at: DateTime<Utc>) -> CheckpointFile {
        let hash = hex::encode(&head.hash);
        let taken_at = taken_at.to_rfc3339_opts(SecondsFormat::Micros, true);
        let signature = self
            .key
            .sign(signed_message(head.seq, &hash, &taken_at).as_bytes());
        CheckpointFile {
            seq: head.seq,
            hash,
            taken_at,
            signature: hex::encode(signature.to_bytes()),
        }
    }

    /// Checkpoints every interval until `shutdown`. The final checkpoint is the caller's, once
    /// the last request has been answered.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(self.interval);
        // After a stall, one checkpoint catches up; a burst would only repeat it.
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            if let Err(error) = self.checkpoint().await {
                tracing::error!("{:#}", error.context("audit checkpoint not written"));
            }
        }
    }
}

/// Stores one checkpoint file, unless one for its sequence number exists, then prunes the oldest.
fn store_checkpoint(dir: &Path, file: &CheckpointFile) -> anyhow::Result<()> {
    let target = dir.join(file_name(file.seq));
    match fs::read(&target) {
        Ok(existing) => {
            // Another process saw the same head, or the log was rewritten since: then the
            // existing file is the evidence and must stay.
            let same_head = serde_json::from_slice::<CheckpointFile>(&existing)
                .is_ok_and(|existing| existing.hash == file.hash);
            if !same_head {
                tracing::error!(
                    seq = file.seq,
                    "the audit log's entry differs from its checkpoint: the log was rewritten"
                );
            }
            return Ok(());
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => {
            return Err(error).with_context(|| format!("reading {}", target.display()));
        }
    }
    let bytes = serde_json::to_vec(file).context("encoding the checkpoint")?;
    let temp = unique_temp_path(&target);
    let written = write_synced(&temp, &bytes, 0o644).and_then(|()| fs::rename(&temp, &target));
    if let Err(error) = written {
        let _ = fs::remove_file(&temp);
        return Err(error).with_context(|| format!("writing {}", target.display()));
    }
    sync_parent(&target)?;
    prune(dir, RETAINED)
}

/// Removes all but the newest `retained` checkpoints.
fn prune(dir: &Path, retained: usize) -> anyhow::Result<()> {
    let mut seqs: Vec<i64> = fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(|entry| seq_named_by(entry.ok()?.file_name().to_str()?))
        .collect();
    if seqs.len() <= retained {
        return Ok(());
    }
    seqs.sort_unstable();
    for seq in &seqs[..seqs.len() - retained] {
        // Another process may have pruned it first.
        match fs::remove_file(dir.join(file_name(*seq))) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(error).context("pruning old checkpoints"),
        }
    }
    Ok(())
}

/// The checkpoints found in a directory.
#[derive(Debug, Default)]
pub struct CheckpointHistory {
    /// Ascending by sequence number.
    pub valid: Vec<Checkpoint>,
    /// Files that look like checkpoints but are not valid ones, each with the reason.
    pub invalid: Vec<(PathBuf, &'static str)>,
}

/// Reads and checks every checkpoint in `dir` against the key at `key_path`.
pub fn read_history(dir: &Path, key_path: &Path) -> anyhow::Result<CheckpointHistory> {
    let mut paths: Vec<(i64, PathBuf)> = fs::read_dir(dir)
        .with_context(|| format!("listing the checkpoint directory {}", dir.display()))?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            Some((seq_named_by(entry.file_name().to_str()?)?, entry.path()))
        })
        .collect();
    let mut history = CheckpointHistory::default();
    if paths.is_empty() {
        return Ok(history);
    }
    let Some(key) = load_key(key_path)? else {
        bail!(
            "the checkpoint key {} is missing, so the checkpoints cannot be checked",
            key_path.display()
        );
    };
    let verifying_key = key.verifying_key();
    paths.sort_unstable();
    for (named_seq, path) in paths {
        match read_checkpoint(&path, named_seq, &verifying_key) {
            Ok(checkpoint) => history.valid.push(checkpoint),
            Err(reason) => history.invalid.push((path, reason)),
        }
    }
    Ok(history)
}

fn read_checkpoint(
    path: &Path,
    named_seq: i64,
    key: &VerifyingKey,
) -> Result<Checkpoint, &'static str> {
    let bytes = fs::read(path).map_err(|_| "unreadable")?;
    let file: CheckpointFile = serde_json::from_slice(&bytes).map_err(|_| "not a checkpoint")?;
    let signature = hex::decode(&file.signature)
        .ok()
        .and_then(|bytes| Signature::from_slice(&bytes).ok())
        .ok_or("bad signature")?;
    key.verify(
        signed_message(file.seq, &file.hash, &file.taken_at).as_bytes(),
        &signature,
    )
    .map_err(|_| "bad signature")?;
    if file.seq != named_seq {
        return Err("its name and its sequence number differ");
    }
    Ok(Checkpoint {
        seq: file.seq,
        hash: hex::decode(&file.hash).map_err(|_| "not a checkpoint")?,
        taken_at: DateTime::parse_from_rfc3339(&file.taken_at)
            .map_err(|_| "not a checkpoint")?
            .with_timezone(&Utc),
    })
}

/// How the database's chain stands against the checkpoints.
#[derive(Debug, PartialEq, Eq)]
pub enum Anchoring {
    /// There are no checkpoints to compare with.
    NoCheckpoints,
    /// The database holds every checkpoint's entry, with its hash.
    Anchored { newest: Checkpoint },
    /// The database ends before the newest checkpoint: entries `database_ends_at + 1 ..=
    /// checkpoint.seq` are gone.
    Truncated {
        checkpoint: Checkpoint,
        database_ends_at: i64,
    },
    /// The database's entry at `checkpoint.seq`, the oldest checkpoint it fails, is not the one
    /// checkpointed (or is absent inside the chain): the log was rewritten from there or before.
    Rewritten {
        checkpoint: Checkpoint,
        /// The checkpoint before it, which the database still matches, if any.
        last_matching: Option<Checkpoint>,
    },
}

/// Compares the database with the checkpoints (ascending by sequence number).
///
/// Every checkpoint is looked up, not only the newest: after a tail is deleted and new entries
/// take its sequence numbers, the newest checkpoints match the new chain and only the older
/// ones show the rewrite.
pub async fn compare(store: &dyn Store, checkpoints: &[Checkpoint]) -> StoreResult<Anchoring> {
    let Some(newest) = checkpoints.last() else {
        return Ok(Anchoring::NoCheckpoints);
    };
    let database_ends_at = store.audit_head().await?.map_or(0, |head| head.seq);
    if database_ends_at < newest.seq {
        return Ok(Anchoring::Truncated {
            checkpoint: newest.clone(),
            database_ends_at,
        });
    }
    let mut last_matching = None;
    for checkpoint in checkpoints {
        let entry = store.audit_after(checkpoint.seq - 1, 1).await?;
        let matches = entry
            .first()
            .is_some_and(|record| record.seq == checkpoint.seq && record.hash == checkpoint.hash);
        if !matches {
            return Ok(Anchoring::Rewritten {
                checkpoint: checkpoint.clone(),
                last_matching,
            });
        }
        last_matching = Some(checkpoint.clone());
    }
    Ok(Anchoring::Anchored {
        newest: newest.clone(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use livingwell_testkit::{Backend, TestDatabase};

    use super::*;
    use crate::clock::Clock;
    use crate::store::{self, NewAuditEntry};

    fn reads(count: usize) -> Vec<NewAuditEntry> {
        (0..count)
            .map(|_| NewAuditEntry {
                at: Clock::System.now(),
                actor_id: Some("alex".to_owned()),
                actor_role: "service_user".to_owned(),
                on_behalf_of: None,
                subject_id: None,
                resource: "overview".to_owned(),
                action: "read".to_owned(),
                outcome: "allowed".to_owned(),
                relationship: Some("self".to_owned()),
                request_id: None,
                via: None,
                read_at: None,
            })
            .collect()
    }

    #[tokio::test]
    async fn a_tail_replaced_by_new_entries_is_caught_by_the_checkpoint_before_it() {
        let db = TestDatabase::create(Backend::Sqlite).await.unwrap();
        let store = store::connect(&db.url).await.unwrap();
        store.migrate().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join(KEY_FILE_NAME);
        let writer =
            CheckpointWriter::open(store.clone(), dir.path().into(), &key, DEFAULT_INTERVAL)
                .unwrap();
        assert_eq!(
            writer.checkpoint().await.unwrap(),
            None,
            "nothing to anchor yet"
        );
        store.append_audit(&reads(5)).await.unwrap();
        assert_eq!(writer.checkpoint().await.unwrap(), Some(5));
        assert_eq!(
            writer.checkpoint().await.unwrap(),
            None,
            "the head has not moved"
        );

        // Entries 3-5 are deleted and five new ones take their place and more.
        db.execute("DROP TRIGGER audit_log_no_delete")
            .await
            .unwrap();
        db.execute("DELETE FROM audit_log WHERE seq > 2")
            .await
            .unwrap();
        store.append_audit(&reads(5)).await.unwrap();
        assert_eq!(writer.checkpoint().await.unwrap(), Some(7));

        let history = read_history(dir.path(), &key).unwrap();
        assert!(history.invalid.is_empty());
        assert_eq!(
            history.valid.iter().map(|c| c.seq).collect::<Vec<_>>(),
            vec![5, 7]
        );
        // The newest checkpoint matches the new chain; the one before it does not.
        match compare(store.as_ref(), &history.valid).await.unwrap() {
            Anchoring::Rewritten {
                checkpoint,
                last_matching,
            } => {
                assert_eq!(checkpoint.seq, 5);
                assert_eq!(last_matching, None);
            }
            other => panic!("expected a rewrite, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_checkpoint_naming_another_hash_is_kept() {
        let db = TestDatabase::create(Backend::Sqlite).await.unwrap();
        let store = store::connect(&db.url).await.unwrap();
        store.migrate().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join(KEY_FILE_NAME);
        let writer =
            CheckpointWriter::open(store.clone(), dir.path().into(), &key, DEFAULT_INTERVAL)
                .unwrap();
        store.append_audit(&reads(3)).await.unwrap();
        writer.checkpoint().await.unwrap();
        let original = fs::read(dir.path().join(file_name(3))).unwrap();

        // The tail is replaced by as many new entries: the head is at 3 again, another hash.
        db.execute("DROP TRIGGER audit_log_no_delete")
            .await
            .unwrap();
        db.execute("DELETE FROM audit_log WHERE seq > 1")
            .await
            .unwrap();
        store.append_audit(&reads(2)).await.unwrap();
        assert_eq!(writer.checkpoint().await.unwrap(), Some(3));

        assert_eq!(fs::read(dir.path().join(file_name(3))).unwrap(), original);
        let history = read_history(dir.path(), &key).unwrap();
        assert!(matches!(
            compare(store.as_ref(), &history.valid).await.unwrap(),
            Anchoring::Rewritten { checkpoint, .. } if checkpoint.seq == 3
        ));
    }

    #[test]
    fn the_key_is_created_private_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE_NAME);
        let created = load_or_create_key(&path).unwrap();
        let reused = load_or_create_key(&path).unwrap();
        assert_eq!(created.verifying_key(), reused.verifying_key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn pruning_keeps_the_newest_checkpoints_and_other_files() {
        let dir = tempfile::tempdir().unwrap();
        for seq in 1..=5 {
            fs::write(dir.path().join(file_name(seq)), b"{}").unwrap();
        }
        fs::write(dir.path().join(KEY_FILE_NAME), b"key").unwrap();
        prune(dir.path(), 3).unwrap();
        let mut left: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            vec![
                file_name(3),
                file_name(4),
                file_name(5),
                KEY_FILE_NAME.to_owned()
            ]
        );
    }
}
