//! Events: stored with the write they announce, then pushed to every connected device of each
//! recipient.
//!
//! Guarantees:
//! - **Durable before delivered, and never lost.** An event is stored by the write it announces,
//!   in the same transaction (the outbox of [`crate::store::events`]); they double as the
//!   account's notifications. Live streams are told only after the commit, and a device that
//!   was offline, or a stream that missed an announcement, reads them from the database when it
//!   reconnects with `Last-Event-ID`: nothing is lost and nothing is out of order.
//! - **Announcing cannot fail a write.** After a write that stored events commits, its handler
//!   calls [`EventHub::announce_committed`], which only wakes this process's fan-out and returns
//!   at once. What goes wrong from there on (reading the new rows, a listener's dropped
//!   connection) is logged by error kind only, never content, and repaired by the next read:
//!   a stored write is never answered with an error because of its announcement.
//! - **Across processes.** A database shared by several processes tells each of them what is
//!   committed anywhere ([`StoreNotice`], from the store: on Postgres by LISTEN/NOTIFY at the
//!   commit, which only the Postgres store knows of). On SQLite (one process per file) the
//!   committing process is the only one to tell, and it tells itself. Either way one fan-out
//!   task per process passes the new rows to its own streams: on Postgres the rows each
//!   commit's notification carries, or reads them by the ids it names when they are too long
//!   to carry (appends to different people do not wait for each other there, so ids commit
//!   out of order across people, and reading "after the last id seen" could skip one); on
//!   SQLite, whose one writer commits ids in order, it reads everything after the last id it
//!   saw. When it cannot name what was committed (a notification too long, or missed), it asks
//!   every stream to read its own recipient's events, whose ids do commit in order
//!   ([`EventNews::ReadYourOwn`]). This module knows no database.
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
use tokio_util::sync::CancellationToken;

use crate::store::events::{EventRecord, StoreNotice};
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

/// What live streams hear about events.
#[derive(Clone, Debug)]
pub enum EventNews {
    /// This event was committed.
    Stored(Arc<EventRecord>),
    /// Events were committed that the hub cannot name: every stream reads its own recipient's
    /// from storage, after the last it sent.
    ReadYourOwn,
}

/// Fan-out of stored events to live streams. Cheap to clone.
#[derive(Clone, Debug)]
pub struct EventHub {
    store: Arc<dyn Store>,
    live: broadcast::Sender<EventNews>,
    sessions: broadcast::Sender<SessionNews>,
    /// How this process tells its own fan-out of its commits, on a database no other process
    /// shares (SQLite). `None` where the store's notices tell every process, this one included.
    own_commits: Option<mpsc::Sender<StoreNotice>>,
}

impl EventHub {
    /// Starts the hub and its fan-out task: fed by the store's notices on a shared database
    /// (Postgres), else by this process's own announcements. The task ends with `shutdown`, and
    /// with it the store's listener and the database connection it holds.
    pub async fn start(store: Arc<dyn Store>, shutdown: CancellationToken) -> StoreResult<Self> {
        let (live, _) = broadcast::channel(LIVE_BUFFER);
        let (sessions, _) = broadcast::channel(SESSION_BUFFER);
        let (notices, own_commits) = match store.notices().await? {
            Some(notices) => (notices, None),
            None => {
                // One waiting wake is enough: the read it starts covers every commit before it.
                let (own_commits, notices) = mpsc::channel(1);
                (notices, Some(own_commits))
            }
        };
        let last = store.last_event_id().await?;
        tokio::spawn(fan_out_notices(
            store.clone(),
            notices,
            live.clone(),
            sessions.clone(),
            last,
            shutdown,
        ));
        Ok(Self {
            store,
            live,
            sessions,
            own_commits,
        })
    }

    /// Tells live streams that a write which stored events has committed. Called by every such
    /// write after its commit; returns at once and cannot fail, so the write is answered as
    /// stored whatever happens to the announcement. On a shared database the commit's
    /// notification has told every process already.
    pub fn announce_committed(&self) {
        if let Some(own_commits) = &self.own_commits {
            // Full: a wake is already waiting, and the read it starts will include this
            // commit. Closed: the fan-out has stopped with the server; the events wait in the
            // database for the next stream to read.
            let _ = own_commits.try_send(StoreNotice::EventsAppendedInOrder);
        }
    }

    /// A live feed of every event this process learns of, from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<EventNews> {
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
        if self.own_commits.is_none() {
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
    live: broadcast::Sender<EventNews>,
    sessions: broadcast::Sender<SessionNews>,
    mut last_seen: i64,
    shutdown: CancellationToken,
) {
    // Dropping `notices` on shutdown tells the store's listener to let its connection go.
    while let Some(notice) = tokio::select! {
        notice = notices.recv() => notice,
        () = shutdown.cancelled() => None,
    } {
        match notice {
            StoreNotice::SessionEnded(session) => {
                let _ = sessions.send(SessionNews::Ended(session));
            }
            StoreNotice::EventsStored(records) => pass_on(&live, records),
            StoreNotice::EventsAppended(ids) => match store.events_by_ids(&ids).await {
                Ok(records) => pass_on(&live, records),
                Err(error) => {
                    tracing::error!(kind = error.kind(), "reading new events failed");
                    let _ = live.send(EventNews::ReadYourOwn);
                }
            },
            StoreNotice::EventsAppendedInOrder => {
                last_seen = pass_on_in_order(store.as_ref(), &live, last_seen).await;
            }
            StoreNotice::EventsAppendedUnlisted => {
                let _ = live.send(EventNews::ReadYourOwn);
            }
            // Sessions ended meanwhile are not in any table a stream could resume from, so
            // every stream checks its own; so too the events committed meanwhile.
            StoreNotice::MaybeMissed => {
                let _ = sessions.send(SessionNews::Recheck);
                let _ = live.send(EventNews::ReadYourOwn);
            }
        }
    }
}

/// Tells live streams of `records`. None may be listening: then there is nobody to tell.
fn pass_on(live: &broadcast::Sender<EventNews>, records: Vec<EventRecord>) {
    for record in records {
        let _ = live.send(EventNews::Stored(Arc::new(record)));
    }
}

/// Passes on every event after `last_seen`, on a database whose ids commit in order; returns
/// the last id passed on. A failed read is logged and left for the next wake, which reads from
/// the same place.
async fn pass_on_in_order(
    store: &dyn Store,
    live: &broadcast::Sender<EventNews>,
    mut last_seen: i64,
) -> i64 {
    const PAGE: i64 = 500;
    loop {
        let page = match store.events_after(last_seen, PAGE).await {
            Ok(page) => page,
            Err(error) => {
                tracing::error!(kind = error.kind(), "reading new events failed");
                return last_seen;
            }
        };
        let full = page.len() as i64 == PAGE;
        if let Some(last) = page.last() {
            last_seen = last.id;
        }
        pass_on(live, page);
        if !full {
            return last_seen;
        }
    }
}
