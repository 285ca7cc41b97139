//! Events: stored first, then pushed to every connected device of the recipient.
//!
//! Guarantees:
//! - **Durable before delivered.** [`EventHub::publish`] stores events (they double as the
//!   account's notifications) and only then announces them; a device that was offline reads them
//!   when it reconnects with `Last-Event-ID`, so nothing is lost and nothing is out of order.
//! - **Across processes.** On Postgres every process LISTENs on one channel; an append notifies
//!   at commit, and each process fetches the new rows and fans them out to its own streams. On
//!   SQLite (one process per file) the publishing process fans out directly.
//! - **No health data in transit to logs.** Events carry kinds and ids; a device fetches the
//!   record itself, through the policy.

use std::sync::Arc;

use sqlx::postgres::PgListener;
use tokio::sync::broadcast;

use crate::store::events::{EventRecord, NewEvent};
use crate::store::{Store, StoreResult};

/// The Postgres channel event appends notify on.
pub const POSTGRES_CHANNEL: &str = "livingwell_events";

/// How many events a slow stream may fall behind before it re-reads from the database.
const LIVE_BUFFER: usize = 1_024;

/// Fan-out of stored events to live streams. Cheap to clone.
#[derive(Clone, Debug)]
pub struct EventHub {
    store: Arc<dyn Store>,
    live: broadcast::Sender<Arc<EventRecord>>,
    /// Whether a Postgres listener announces events (including this process's own).
    listening: bool,
}

impl EventHub {
    /// Starts the hub; on Postgres, also the listener task that feeds it.
    pub async fn start(store: Arc<dyn Store>) -> StoreResult<Self> {
        let (live, _) = broadcast::channel(LIVE_BUFFER);
        let listening = match store.event_notifications() {
            Some(pool) => {
                let mut listener = PgListener::connect_with(&pool).await?;
                listener.listen(POSTGRES_CHANNEL).await?;
                let last = store.last_event_id().await?;
                tokio::spawn(fan_out_notifications(
                    store.clone(),
                    listener,
                    live.clone(),
                    last,
                ));
                true
            }
            None => false,
        };
        Ok(Self {
            store,
            live,
            listening,
        })
    }

    /// Stores events, then announces them to live streams.
    pub async fn publish(&self, events: Vec<NewEvent>) -> StoreResult<()> {
        if events.is_empty() {
            return Ok(());
        }
        let stored = self.store.append_events(&events).await?;
        if !self.listening {
            for record in stored {
                // No live stream is listening: the event waits in the database.
                let _ = self.live.send(Arc::new(record));
            }
        }
        Ok(())
    }

    /// A live feed of every event this process learns of, from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<EventRecord>> {
        self.live.subscribe()
    }
}

async fn fan_out_notifications(
    store: Arc<dyn Store>,
    mut listener: PgListener,
    live: broadcast::Sender<Arc<EventRecord>>,
    mut last_seen: i64,
) {
    const PAGE: i64 = 500;
    loop {
        // A dropped connection is re-established by the listener; events committed meanwhile
        // are caught up by the next read, which starts after the last id seen.
        if let Err(error) = listener.recv().await {
            tracing::warn!(%error, "event listener interrupted; reconnecting");
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        loop {
            let page = match store.events_after(last_seen, PAGE).await {
                Ok(page) => page,
                Err(error) => {
                    tracing::error!(kind = error.kind(), "reading new events failed");
                    break;
                }
            };
            let full = page.len() as i64 == PAGE;
            for record in page {
                last_seen = record.id;
                let _ = live.send(Arc::new(record));
            }
            if !full {
                break;
            }
        }
    }
}
