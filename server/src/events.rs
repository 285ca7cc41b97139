//! Events: stored first, then pushed to every connected device of the recipient.
//!
//! Guarantees:
//! - **Durable before delivered.** [`EventHub::publish`] stores events (they double as the
//!   account's notifications) and only then announces them; a device that was offline reads them
//!   when it reconnects with `Last-Event-ID`, so nothing is lost and nothing is out of order.
//! - **Across processes.** A database shared by several processes tells each of them what is
//!   committed anywhere ([`StoreNotice`], from the store: on Postgres by LISTEN/NOTIFY, which
//!   only the Postgres store knows of); each process then fetches the new rows and fans them out
//!   to its own streams. On SQLite (one process per file) the publishing process fans out
//!   directly. This module knows no database.
//! - **Streams end with their session.** A session revoked (sign-out, or its family revoked on
//!   refresh-token reuse, a password change, a disabled account) is announced through the hub
//!   ([`EventHub::end_session`], [`EventHub::sessions_ended`]): on a shared database by the
//!   store's notice at the revoking commit, on SQLite by the revoking process itself. Streams of
//!   that session end within milliseconds. Should notices be missed (the store's connection
//!   dropped), every stream is asked to check its session in the database
//!   ([`SessionNews::Recheck`]). A stream
//!   also ends when its access token lapses (see `http/events.rs`), which bounds any miss.
//! - **No health data in transit to logs.** Events carry kinds and ids; a device fetches the
//!   record itself, through the policy.

use std::sync::Arc;

use tokio::sync::{broadcast, mpsc};

use crate::store::events::{EventRecord, NewEvent, StoreNotice};
use crate::store::{Store, StoreResult};

/// How many events a slow stream may fall behind before it re-reads from the database.
const LIVE_BUFFER: usize = 1_024;

/// How many session announcements a stream may miss before it checks its session itself.
const SESSION_BUFFER: usize = 256;

/// What live streams hear about sessions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionNews {
    /// This session was revoked: its streams end.
    Ended(uuid::Uuid),
    /// Announcements may have been missed: every stream checks its session in the database.
    Recheck,
}

/// Fan-out of stored events to live streams. Cheap to clone.
#[derive(Clone, Debug)]
pub struct EventHub {
    store: Arc<dyn Store>,
    live: broadcast::Sender<Arc<EventRecord>>,
    sessions: broadcast::Sender<SessionNews>,
    /// Whether a Postgres listener announces events (including this process's own).
    listening: bool,
}

impl EventHub {
    /// Starts the hub; on Postgres, also the listener task that feeds it.
    pub async fn start(store: Arc<dyn Store>) -> StoreResult<Self> {
        let (live, _) = broadcast::channel(LIVE_BUFFER);
        let (sessions, _) = broadcast::channel(SESSION_BUFFER);
        let listening = match store.notices().await? {
            Some(notices) => {
                let last = store.last_event_id().await?;
                tokio::spawn(fan_out_notices(
                    store.clone(),
                    notices,
                    live.clone(),
                    sessions.clone(),
                    last,
                ));
                true
            }
            None => false,
        };
        Ok(Self {
            store,
            live,
            sessions,
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

    /// Revokes a session and announces it, so that its live streams end, in every process.
    pub async fn end_session(
        &self,
        session: uuid::Uuid,
        at: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<()> {
        // On Postgres the store's commit notifies every listener, this process's included.
        self.store.revoke_session(session, at).await?;
        self.sessions_ended(&[session]);
        Ok(())
    }

    /// Ends the live streams of sessions the store has just revoked (a password change or
    /// reset, a disabled account). On Postgres the revoking commit already announced them to
    /// every process; without a listener this process announces them to its own streams.
    pub fn sessions_ended(&self, sessions: &[uuid::Uuid]) {
        if self.listening {
            return;
        }
        for session in sessions {
            // No stream may be listening; then there is nothing to end.
            let _ = self.sessions.send(SessionNews::Ended(*session));
        }
    }

    /// News of sessions ended from now on.
    pub fn subscribe_sessions(&self) -> broadcast::Receiver<SessionNews> {
        self.sessions.subscribe()
    }
}

async fn fan_out_notices(
    store: Arc<dyn Store>,
    mut notices: mpsc::Receiver<StoreNotice>,
    live: broadcast::Sender<Arc<EventRecord>>,
    sessions: broadcast::Sender<SessionNews>,
    mut last_seen: i64,
) {
    const PAGE: i64 = 500;
    while let Some(notice) = notices.recv().await {
        match notice {
            StoreNotice::SessionEnded(session) => {
                let _ = sessions.send(SessionNews::Ended(session));
                continue;
            }
            StoreNotice::EventsAppended => {}
            // Events committed meanwhile are caught up by the read below, which starts after
            // the last id seen; sessions ended meanwhile are not in any table a stream could
            // resume from, so every stream checks its own.
            StoreNotice::MaybeMissed => {
                let _ = sessions.send(SessionNews::Recheck);
            }
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
