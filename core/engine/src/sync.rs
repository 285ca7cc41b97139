//! Bringing the store up to date from `GET /v1/sync`.
//!
//! Policy:
//! - Each page is applied with its cursor in one transaction ([`Store::apply_sync`]), so a
//!   phone killed mid-sync resumes from the last page it kept, and a page applied twice
//!   changes nothing more.
//! - Tombstones always win: the record goes with its messages and every write queued for it,
//!   in the page's transaction.
//! - `410 resync` (a cursor the server no longer knows): the synced copy is forgotten — the
//!   outbox is kept — and the sync starts again from a full snapshot.
//! - The event stream only wakes a sync; it never writes the store itself.

use std::future::Future;

use livingwell_core::api::sync::SyncResponse;

use crate::store::{Store, StoreError};

/// What fetching one page came to.
#[derive(Debug)]
pub enum Page<E> {
    Got(SyncResponse),
    /// The server no longer knows the cursor.
    Resync,
    /// Anything else: the sync stops here, keeping every page applied so far.
    Failed(E),
}

/// Why a sync stopped early.
#[derive(Debug, thiserror::Error)]
pub enum SyncError<E> {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("fetching a page failed")]
    Fetch(E),
    #[error("the server kept answering resync")]
    ResyncLoop,
}

/// How a sync went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Synced {
    pub pages: usize,
    pub records: usize,
    pub tombstones: usize,
    /// The copy was dropped and fetched again from the start.
    pub restarted: bool,
}

/// Syncs until the server has nothing more, fetching each page after the store's cursor.
pub async fn sync<E, G, F>(store: &Store, mut fetch: G) -> Result<Synced, SyncError<E>>
where
    G: FnMut(Option<String>) -> F,
    F: Future<Output = Page<E>>,
{
    let mut synced = Synced::default();
    loop {
        match fetch(store.cursor()?).await {
            Page::Got(page) => {
                store.apply_sync(&page)?;
                synced.pages += 1;
                synced.records += page.records.len();
                synced.tombstones += page.tombstones.len();
                if !page.has_more {
                    return Ok(synced);
                }
            }
            // Once: a server that refuses a fresh start too is not going to be caught up with.
            Page::Resync if !synced.restarted => {
                store.forget_synced()?;
                synced.restarted = true;
            }
            Page::Resync => return Err(SyncError::ResyncLoop),
            Page::Failed(error) => return Err(SyncError::Fetch(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use livingwell_core::api::sync::{SyncKind, SyncRecord};
    use serde_json::json;

    use super::*;
    use crate::store::new_store_key;

    fn page(cursor: &str, id: &str, has_more: bool) -> SyncResponse {
        SyncResponse {
            records: vec![SyncRecord {
                kind: SyncKind::Notification,
                id: id.into(),
                person_id: None,
                version: "v".into(),
                data: json!({}),
            }],
            tombstones: Vec::new(),
            cursor: cursor.into(),
            has_more,
        }
    }

    #[tokio::test]
    async fn pages_are_fetched_after_the_kept_cursor_and_a_resync_starts_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &new_store_key()).unwrap();
        let mut asked = Vec::new();
        let synced = sync::<(), _, _>(&store, |since| {
            asked.push(since.clone());
            let answer = match since.as_deref() {
                None => Page::Got(page("c1", "1", true)),
                Some("c1") => Page::Got(page("c2", "2", false)),
                Some(_) => Page::Failed(()),
            };
            async move { answer }
        })
        .await
        .unwrap();
        assert_eq!(asked, [None, Some("c1".to_owned())]);
        assert_eq!(synced.pages, 2);
        assert_eq!(store.records(SyncKind::Notification).unwrap().len(), 2);

        // The server forgot c2: the copy is dropped and fetched from the start.
        let mut asked = Vec::new();
        let synced = sync::<(), _, _>(&store, |since| {
            asked.push(since.clone());
            let answer = match since.as_deref() {
                Some("c2") => Page::Resync,
                None => Page::Got(page("c3", "3", false)),
                Some(_) => Page::Failed(()),
            };
            async move { answer }
        })
        .await
        .unwrap();
        assert!(synced.restarted);
        assert_eq!(asked, [Some("c2".to_owned()), None]);
        let held: Vec<String> = store
            .records(SyncKind::Notification)
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(held, ["3"], "only what the fresh snapshot holds");
        assert_eq!(store.cursor().unwrap().as_deref(), Some("c3"));
    }
}
