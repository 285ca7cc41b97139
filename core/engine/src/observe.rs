//! Observers: the app subscribes to a view and hears when what it shows may have changed.
//!
//! Policy: a change is announced only after it is committed to the store (a sync's pages, a
//! queued write with its local change, a write sent or waiting). Announcements carry what
//! changed (a kind and id), never contents: the app reads the view again from the store. A
//! subscriber that falls behind is told that something changed rather than missing it.
//! Dropping the [`Subscription`] ends it.

use livingwell_core::api::sync::{SyncKind, SyncRecord, SyncResponse};
use tokio::sync::broadcast;

/// How many announcements wait for a slow subscriber before it is told "something changed".
const BACKLOG: usize = 256;

/// What a screen shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum View {
    /// One record: a person's crisis plan, plan, WRAP.
    Record(SyncKind, String),
    /// Every record of a kind: the appointments, the conversations, the access log.
    Kind(SyncKind),
    /// One conversation and its messages, the person's queued ones included.
    Conversation(String),
    /// The writes waiting to go, and why.
    Outbox,
}

/// What was committed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Record(SyncKind, String),
    /// A message of this conversation.
    Message {
        conversation: String,
    },
    Outbox,
}

impl Change {
    fn touches(&self, view: &View) -> bool {
        match (self, view) {
            (Change::Record(kind, id), View::Record(seen_kind, seen_id)) => {
                kind == seen_kind && id == seen_id
            }
            (Change::Record(kind, _), View::Kind(seen)) => kind == seen,
            (Change::Record(SyncKind::Conversation, id), View::Conversation(seen)) => id == seen,
            (Change::Message { conversation }, View::Conversation(seen)) => conversation == seen,
            (Change::Message { .. }, View::Kind(SyncKind::Message)) => true,
            // The person's messages still queued show in their conversation.
            (Change::Outbox, View::Outbox | View::Conversation(_)) => true,
            _ => false,
        }
    }

    /// What committing `record` changed.
    pub fn of_record(record: &SyncRecord) -> Self {
        match (record.kind, record.data["conversation_id"].as_str()) {
            (SyncKind::Message, Some(conversation)) => Change::Message {
                conversation: conversation.to_owned(),
            },
            _ => Change::Record(record.kind, record.id.clone()),
        }
    }

    /// What applying `page` changed.
    pub fn of_page(page: &SyncResponse) -> Vec<Self> {
        page.records
            .iter()
            .map(Change::of_record)
            .chain(
                page.tombstones
                    .iter()
                    .map(|t| Change::Record(t.kind, t.id.clone())),
            )
            .collect()
    }
}

/// Where changes are announced. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Changes {
    sender: broadcast::Sender<Change>,
}

impl Default for Changes {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(BACKLOG).0,
        }
    }
}

impl Changes {
    /// Announces committed changes to every subscriber.
    pub fn announce(&self, changes: impl IntoIterator<Item = Change>) {
        for change in changes {
            // No subscriber is not an error.
            let _ = self.sender.send(change);
        }
    }

    /// A subscription to `view`.
    pub fn subscribe(&self, view: View) -> Subscription {
        Subscription {
            view,
            receiver: self.sender.subscribe(),
        }
    }
}

/// A screen's subscription. Dropping it ends it.
#[derive(Debug)]
pub struct Subscription {
    view: View,
    receiver: broadcast::Receiver<Change>,
}

impl Subscription {
    /// Waits until what the view shows may have changed; `false` when the engine is gone.
    pub async fn changed(&mut self) -> bool {
        loop {
            match self.receiver.recv().await {
                Ok(change) if change.touches(&self.view) => return true,
                Ok(_) => continue,
                // Some announcements were missed: one of them may have been this view's.
                Err(broadcast::error::RecvError::Lagged(_)) => return true,
                Err(broadcast::error::RecvError::Closed) => return false,
            }
        }
    }

    /// The view subscribed to.
    pub fn view(&self) -> &View {
        &self.view
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[tokio::test]
    async fn a_subscriber_hears_only_of_its_view_and_ends_with_the_engine() {
        let changes = Changes::default();
        let mut plan = changes.subscribe(View::Record(SyncKind::CrisisPlan, "alex".into()));
        let mut chat = changes.subscribe(View::Conversation("c1".into()));
        changes.announce([
            Change::Record(SyncKind::CrisisPlan, "robin".into()),
            Change::Outbox,
            Change::of_record(&SyncRecord {
                kind: SyncKind::Message,
                id: "m".into(),
                person_id: None,
                version: "v".into(),
                data: json!({"conversation_id": "c1"}),
            }),
            Change::Record(SyncKind::CrisisPlan, "alex".into()),
        ]);
        assert!(chat.changed().await);
        assert!(plan.changed().await);
        drop(changes);
        assert!(!plan.changed().await, "the engine is gone");
        assert_eq!(chat.view(), &View::Conversation("c1".into()));
    }
}
