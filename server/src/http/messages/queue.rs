//! Group commit for sends: one writer per process ([`crate::group_commit`]) stores the messages
//! that arrive while a commit is in flight together, in one transaction, then announces them in
//! one event append.
//!
//! Exactly-once and gap-free order are the store's guarantees ([`crate::store::messages`]); the
//! writer adds that a conversation's `message_created` events are appended in the order of its
//! numbers, because it appends one batch's events (its after-commit step) before it stores the
//! next batch. A sender is answered as soon as its batch is committed; the events follow.

use std::sync::Arc;

use livingwell_core::domain::{PersonId, UserId};

use crate::clock::Clock;
use crate::events::EventHub;
use crate::group_commit::{BatchCommit, GroupCommit};
use crate::store::events::NewEvent;
use crate::store::messages::{NewSend, SendOutcome};
use crate::store::{Store, StoreResult};

#[derive(Debug, thiserror::Error)]
#[error("the message could not be stored")]
pub struct SendUnavailableError;

/// A handle to the process's send writer. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SendQueue {
    writer: GroupCommit<SendCommit>,
}

impl SendQueue {
    /// Starts the writer task. It ends when every handle has been dropped.
    pub fn start(store: Arc<dyn Store>, events: EventHub, clock: Clock) -> Self {
        Self {
            writer: GroupCommit::start(SendCommit {
                store,
                events,
                clock,
            }),
        }
    }

    /// Stores the send durably (or finds the message it repeats) and then announces it to
    /// `recipients`.
    pub async fn send(
        &self,
        send: NewSend,
        recipients: Vec<UserId>,
        person: Option<PersonId>,
    ) -> Result<SendOutcome, SendUnavailableError> {
        let queued = QueuedSend {
            send,
            recipients,
            person,
        };
        // The writer has logged why by kind; the sender only needs to know it is not stored.
        self.writer
            .submit(queued)
            .await
            .map_err(|_| SendUnavailableError)
    }
}

struct QueuedSend {
    send: NewSend,
    /// Who hears of it on their event streams.
    recipients: Vec<UserId>,
    person: Option<PersonId>,
}

/// A send batch commit: the messages stored in one transaction, then announced.
struct SendCommit {
    store: Arc<dyn Store>,
    events: EventHub,
    /// Dates the events that announce a batch.
    clock: Clock,
}

impl BatchCommit for SendCommit {
    type Item = QueuedSend;
    type Output = SendOutcome;
    const NAME: &'static str = "messages";
    const MAX_BATCH: usize = 128;

    async fn commit(&self, queued: &[QueuedSend]) -> StoreResult<Vec<SendOutcome>> {
        let sends: Vec<NewSend> = queued.iter().map(|queued| queued.send.clone()).collect();
        self.store.send_messages(&sends).await
    }

    /// Announces the messages the batch created. Stored already: a failure here only delays
    /// devices until they next fetch.
    async fn after_commit(&self, committed: Vec<(QueuedSend, SendOutcome)>) -> StoreResult<()> {
        let now = self.clock.now();
        let mut announced = Vec::new();
        for (queued, outcome) in &committed {
            if let SendOutcome::Created { message, notice } = outcome {
                for stored in std::iter::once(message).chain(notice) {
                    let data = serde_json::json!({
                        "conversation_id": stored.conversation_id,
                        "message_id": stored.id,
                        "seq": stored.seq,
                    });
                    announced.extend(queued.recipients.iter().map(|recipient| NewEvent {
                        recipient_id: *recipient,
                        kind: "message_created".to_owned(),
                        person_id: queued.person,
                        data: data.clone(),
                        created_at: now,
                    }));
                }
            }
        }
        self.events.publish(announced).await
    }
}
