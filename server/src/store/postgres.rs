//! The production store: Postgres.

use std::str::FromStr;
use std::time::Duration;

use sqlx::Postgres;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use tokio::sync::mpsc;

use super::backend::{Backend, SqlStore, Tx, pending};
use super::events::StoreNotice;
use super::{StoreError, StoreResult, StoreSettings};

/// Postgres: many writers; audit appends are serialised by an advisory lock so that processes
/// sharing the database extend one chain.
pub type PgStore = SqlStore<Postgres>;

/// The channel event appends notify on; the payload is the newest id appended.
const EVENTS_CHANNEL: &str = "livingwell_events";
/// The channel a revoked session is announced on; the payload is the session id.
const SESSIONS_CHANNEL: &str = "livingwell_sessions";
/// How many notices may wait for the event hub before the listener waits for it.
const NOTICE_BUFFER: usize = 1_024;

/// How long a request waits for a connection before it is answered 503 with `Retry-After`.
/// While the database is out of reach, sqlx keeps trying to connect until this lapses: short,
/// so a request is told at once (within 2 s) instead of hanging, and the phone retries.
const ACQUIRE_TIMEOUT: Duration = Duration::from_millis(1500);

/// The advisory lock that orders event appends ("LWEVENT" in ASCII).
const EVENTS_LOCK: i64 = 0x004C_5745_5645_4E54;

/// The advisory lock that guards the audit chain ("LWAUDIT" in ASCII).
const AUDIT_CHAIN_LOCK: i64 = 0x004C_5741_5544_4954;

impl PgStore {
    pub async fn connect(url: &str, settings: StoreSettings) -> StoreResult<Self> {
        let millis = settings.statement_timeout.as_millis().max(1).to_string();
        let options = PgConnectOptions::from_str(url)?.options([("statement_timeout", millis)]);
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }
}

impl Backend for Postgres {
    async fn migrate(pool: &PgPool) -> StoreResult<()> {
        // Exempt from the statement timeout: an index over years of history takes its time.
        // The connection is closed afterwards, so no pooled one ever runs without the timeout.
        let mut conn = pool.acquire().await?;
        conn.close_on_drop();
        sqlx::query("SET statement_timeout = 0")
            .execute(&mut *conn)
            .await?;
        // `run_direct` is what `run` calls once it holds a connection; `run(&mut *conn)` itself
        // trips the "`Acquire` is not general enough" limit inside this async trait method.
        sqlx::migrate!("./migrations/postgres")
            .run_direct(None, &mut *conn, false)
            .await?;
        Ok(())
    }

    async fn pending_migrations(pool: &PgPool) -> StoreResult<usize> {
        pending(&sqlx::migrate!("./migrations/postgres"), pool).await
    }

    async fn begin_write(pool: &PgPool) -> StoreResult<Tx<Postgres>> {
        Ok(pool.begin().await?)
    }

    async fn lock_events(tx: &mut Tx<Postgres>) -> StoreResult<()> {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(EVENTS_LOCK)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    async fn lock_audit_chain(tx: &mut Tx<Postgres>) -> StoreResult<()> {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(AUDIT_CHAIN_LOCK)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    async fn notify_events(tx: &mut Tx<Postgres>, last_id: i64) -> StoreResult<()> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(EVENTS_CHANNEL)
            .bind(last_id.to_string())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    async fn notify_session_ended(tx: &mut Tx<Postgres>, session: uuid::Uuid) -> StoreResult<()> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(SESSIONS_CHANNEL)
            .bind(session.to_string())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// LISTENs on both channels and forwards what arrives as [`StoreNotice`]s, until the
    /// receiver is dropped.
    async fn listen_for_notices(pool: &PgPool) -> StoreResult<Option<mpsc::Receiver<StoreNotice>>> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener
            .listen_all([EVENTS_CHANNEL, SESSIONS_CHANNEL])
            .await?;
        let (notices, receiver) = mpsc::channel(NOTICE_BUFFER);
        tokio::spawn(forward_notices(listener, notices));
        Ok(Some(receiver))
    }
}

async fn forward_notices(mut listener: PgListener, notices: mpsc::Sender<StoreNotice>) {
    loop {
        // `try_recv` rather than `recv`: it says when the connection dropped (and is then
        // re-established), which `recv` hides; whatever was committed meanwhile was not heard.
        let received = tokio::select! {
            received = listener.try_recv() => received,
            // The hub has stopped (the server is shutting down): the listener's connection
            // goes back to the pool now, not at the next notification.
            () = notices.closed() => return,
        };
        let notice = match received {
            Ok(Some(notification)) if notification.channel() == SESSIONS_CHANNEL => {
                match notification.payload().parse() {
                    Ok(session) => StoreNotice::SessionEnded(session),
                    Err(_) => {
                        tracing::warn!("unreadable session notification");
                        StoreNotice::MaybeMissed
                    }
                }
            }
            Ok(Some(_)) => StoreNotice::EventsAppended,
            Ok(None) => {
                tracing::warn!("notification listener reconnected");
                StoreNotice::MaybeMissed
            }
            Err(error) => {
                tracing::warn!(
                    kind = StoreError::from(error).kind(),
                    "notification listener interrupted; reconnecting"
                );
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                StoreNotice::MaybeMissed
            }
        };
        if notices.send(notice).await.is_err() {
            // The hub is gone: nobody is listening any more.
            return;
        }
    }
}
