//! Group commit for sends: one writer per process ([`crate::group_commit`]) stores the messages
//! that arrive while a commit is in flight together, in one transaction, with the events that
//! announce them.
//!
//! Exactly-once, gap-free order and a message's events committed with it are the store's
//! guarantees ([`crate::store::messages`]); a conversation's `message_created` events are
//! stored in the order of its numbers, since a batch stores them in the order of its sends. A
//! sender is answered as soon as its batch is committed; live streams are told after that (the
//! batch's after-commit step), which cannot fail a send.

use std::sync::Arc;

use crate::events::EventHub;
use crate::group_commit::{BatchCommit, GroupCommit};
use crate::store::messages::{NewSend, SendOutcome};
use crate::store::{Store, StoreResult};

#[derive(Debug, thiserror::Error)]
#[error("the message could not be stored")]
pub struct SendUnavailableError {
    /// Because the database's storage is full (the sender is told so).
    pub storage_full: bool,
}

/// A handle to the process's send writer. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SendQueue {
    writer: GroupCommit<SendCommit>,
}

impl SendQueue {
    /// Starts the writer task, on a thread of its own where a batch is a chain of round trips
    /// to the database, each on every send's way ([`Store::writes_over_a_socket`]). It ends
    /// when every handle has been dropped.
    pub fn start(store: Arc<dyn Store>, events: EventHub) -> std::io::Result<Self> {
        let writer = if store.writes_over_a_socket() {
            GroupCommit::start_on_own_thread(move || SendCommit {
                store: store.for_writer_thread(),
                events,
            })?
        } else {
            GroupCommit::start(SendCommit { store, events })
        };
        Ok(Self { writer })
    }

    /// Stores the send durably with its events (or finds the message it repeats), then tells
    /// live streams.
    pub async fn send(&self, send: NewSend) -> Result<SendOutcome, SendUnavailableError> {
        // The writer has logged why by kind; the sender only needs to know it is not stored.
        self.writer
            .submit(send)
            .await
            .map_err(|error| SendUnavailableError {
                storage_full: error.is_storage_full(),
            })
    }
}

/// A send batch commit: the messages and their events stored in one transaction, then
/// announced to live streams.
struct SendCommit {
    store: Arc<dyn Store>,
    events: EventHub,
}

impl BatchCommit for SendCommit {
    type Item = NewSend;
    type Output = SendOutcome;
    const NAME: &'static str = "messages";
    const MAX_BATCH: usize = 128;

    async fn commit(&self, sends: &[NewSend]) -> StoreResult<Vec<SendOutcome>> {
        self.store.send_messages(sends).await
    }

    /// Tells live streams of the messages the batch created; their events are stored already.
    async fn after_commit(&self, committed: Vec<(NewSend, SendOutcome)>) -> StoreResult<()> {
        if committed
            .iter()
            .any(|(_, outcome)| matches!(outcome, SendOutcome::Created { .. }))
        {
            self.events.announce_committed();
        }
        Ok(())
    }
}
