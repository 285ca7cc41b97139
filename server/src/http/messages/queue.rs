//! Group commit for sends: one writer per process stores the messages that arrive while a
//! commit is in flight together, in one transaction, then announces them in one event append.
//!
//! Why: a send is acknowledged only once it is durable, and a commit (an fsync) costs more than
//! everything else a send does. Sharing commits lets throughput grow with the number of people
//! sending instead of queueing them for one fsync each; a lone send on an idle server is
//! committed at once, so latency does not grow. Exactly-once and gap-free order are the store's
//! guarantees ([`crate::store::messages`]); the writer adds that a conversation's
//! `message_created` events are appended in the order of its numbers, because it appends one
//! batch's events before it stores the next batch. A sender is answered as soon as its batch is
//! committed; the events follow.

use std::sync::Arc;

use livingwell_core::domain::{PersonId, UserId};
use tokio::sync::{mpsc, oneshot};

use crate::events::EventHub;
use crate::store::Store;
use crate::store::events::NewEvent;
use crate::store::messages::{NewSend, SendOutcome};

/// Most sends stored in one transaction.
const MAX_BATCH: usize = 128;

#[derive(Debug, thiserror::Error)]
#[error("the message could not be stored")]
pub struct SendUnavailableError;

struct QueuedSend {
    send: NewSend,
    /// Who hears of it on their event streams.
    recipients: Vec<UserId>,
    person: Option<PersonId>,
    stored: oneshot::Sender<Result<SendOutcome, SendUnavailableError>>,
}

/// A handle to the process's send writer. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SendQueue {
    queue: mpsc::Sender<QueuedSend>,
}

impl SendQueue {
    /// Starts the writer task. It ends when every handle has been dropped.
    pub fn start(store: Arc<dyn Store>, events: EventHub) -> Self {
        let (queue, receiver) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(write_batches(store, events, receiver));
        Self { queue }
    }

    /// Stores the send durably (or finds the message it repeats) and then announces it to
    /// `recipients`.
    pub async fn send(
        &self,
        send: NewSend,
        recipients: Vec<UserId>,
        person: Option<PersonId>,
    ) -> Result<SendOutcome, SendUnavailableError> {
        let (stored, committed) = oneshot::channel();
        self.queue
            .send(QueuedSend {
                send,
                recipients,
                person,
                stored,
            })
            .await
            .map_err(|_| SendUnavailableError)?;
        committed.await.map_err(|_| SendUnavailableError)?
    }
}

async fn write_batches(
    store: Arc<dyn Store>,
    events: EventHub,
    mut receiver: mpsc::Receiver<QueuedSend>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let sends: Vec<NewSend> = batch.iter().map(|queued| queued.send.clone()).collect();
        match store.send_messages(&sends).await {
            Ok(outcomes) => {
                let now = crate::clock::Clock::System.now();
                let mut announced = Vec::new();
                for (queued, outcome) in batch.drain(..).zip(outcomes) {
                    if let SendOutcome::Created { message, notice } = &outcome {
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
                    // The sender may have gone away; their message is stored all the same.
                    let _ = queued.stored.send(Ok(outcome));
                }
                // Stored already: a failure here delays devices until they next fetch.
                if let Err(error) = events.publish(announced).await {
                    tracing::warn!(kind = error.kind(), "message events not published");
                }
            }
            Err(error) => {
                tracing::error!(
                    kind = error.kind(),
                    sends = batch.len(),
                    "message batch not stored"
                );
                for queued in batch.drain(..) {
                    let _ = queued.stored.send(Err(SendUnavailableError));
                }
            }
        }
    }
}
