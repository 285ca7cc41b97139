//! Webhook subscriptions and their deliveries: a durable queue, written as an outbox.
//!
//! Guarantees:
//! - **Queued with what they announce.** A delivery is written by [`enqueue_in_tx`], which
//!   every event append calls ([`super::events::append_in_tx`]) in the transaction of the write
//!   the event announces: a stored write has its deliveries, a write rolled back has none, and
//!   a server stopped at any point loses none. Events are stored once per recipient, so one
//!   happening may arrive as several rows; it is queued once per subscription.
//! - **One sender at a time.** A process takes due deliveries with a lease
//!   ([`WebhookStore::claim_deliveries`]): one statement that sets `lease_until` only where no
//!   live lease is held, re-checked on the row it updates, so two processes on one Postgres
//!   never both take a delivery (SQLite has one writer). A lease that lapses (its process
//!   stopped mid-send) lets the delivery be taken again: at least once, never lost.
//! - **An attempt is recorded by the lease that made it**; a sender whose lease was taken over
//!   records nothing.
//! - **Only ids and kinds are stored** in payloads ([`livingwell_core::api::webhooks`]); the
//!   signing secret only sealed.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use livingwell_core::api::events::{Event, EventKind, WebhookDisabledData};
use livingwell_core::api::webhooks::{
    DeliveryAttempt, DeliveryId, DeliveryState, DisabledReason, WebhookEventId, WebhookId,
    WebhookPayload, scope_to_receive,
};
use livingwell_core::domain::{Role, UserId};
use sqlx::types::Json;
use sqlx::{ColumnIndex, Executor};
use uuid::Uuid;

use super::backend::{Backend, Bind, Column, RowsAffected, SqlStore, Tx};
use super::events::{NewEvent, append_in_tx};
use super::idempotency::begin_write;
use super::reads_here::{Columns, HereRow};
use super::{StoreError, StoreResult};

/// A staff system's subscription.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookRecord {
    pub id: WebhookId,
    pub client_id: String,
    pub url: String,
    /// The signing secret, sealed ([`crate::auth::sealing`]).
    pub sealed_secret: Vec<u8>,
    pub kinds: BTreeSet<EventKind>,
    pub created_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub disabled_reason: Option<DisabledReason>,
}

// A target URL can carry a token in its path; it and the secret stay out of Debug output.
impl std::fmt::Debug for WebhookRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookRecord")
            .field("id", &self.id)
            .field("client_id", &self.client_id)
            .field("kinds", &self.kinds)
            .finish_non_exhaustive()
    }
}

/// One event for one subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub id: DeliveryId,
    pub subscription_id: WebhookId,
    pub event_id: WebhookEventId,
    pub kind: EventKind,
    /// The exact body sent on every attempt (ids only).
    pub payload: String,
    pub created_at: DateTime<Utc>,
    pub state: DeliveryState,
    pub attempts: Vec<DeliveryAttempt>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// A delivery this process holds the lease of, with where and how to send it.
#[derive(Clone, Debug)]
pub struct ClaimedDelivery {
    pub delivery: DeliveryRecord,
    pub subscription: WebhookRecord,
    /// The lease taken: the attempt is recorded only while it is still this one.
    pub lease_until: DateTime<Utc>,
}

/// What an attempt came to, as the delivery records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    Delivered,
    /// Failed; try again then.
    RetryAt(DateTime<Utc>),
    /// Failed, and the schedule is spent.
    Failed,
    /// Not sent, and never will be.
    Withheld,
}

#[async_trait::async_trait]
pub trait WebhookStore {
    /// Stores a subscription with its kinds.
    async fn create_webhook(&self, webhook: &WebhookRecord) -> StoreResult<()>;
    /// A client's subscriptions, oldest first.
    async fn webhooks_of(&self, client_id: &str) -> StoreResult<Vec<WebhookRecord>>;
    /// One of a client's subscriptions; `None` for another client's.
    async fn webhook(&self, client_id: &str, id: WebhookId) -> StoreResult<Option<WebhookRecord>>;
    /// Removes a client's subscription and its deliveries; false when it has none of that id.
    async fn delete_webhook(&self, client_id: &str, id: WebhookId) -> StoreResult<bool>;
    /// Turns a client's subscription back on; its waiting deliveries are due at `at`. False
    /// when it has none of that id.
    async fn enable_webhook(
        &self,
        client_id: &str,
        id: WebhookId,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// A subscription's deliveries, newest first, older than `before`.
    async fn deliveries(
        &self,
        subscription: WebhookId,
        before: Option<DeliveryId>,
        limit: i64,
    ) -> StoreResult<Vec<DeliveryRecord>>;
    /// Takes up to `limit` deliveries due at `now` of enabled subscriptions, holding each
    /// until `lease_until`.
    async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<ClaimedDelivery>>;
    /// Records an attempt made under `claimed`'s lease; false when the lease was lost.
    async fn record_attempt(
        &self,
        claimed: &ClaimedDelivery,
        attempts: &[DeliveryAttempt],
        outcome: AttemptOutcome,
    ) -> StoreResult<bool>;
    /// Turns a subscription off because its deliveries keep failing, unless one was delivered
    /// at or after `since`; tells the deployment's admins in the same transaction. True when
    /// it was turned off now.
    async fn disable_failing_webhook(
        &self,
        subscription: WebhookId,
        since: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// When the next pending delivery of an enabled subscription is due (or its lease ends).
    async fn next_delivery_due(&self) -> StoreResult<Option<DateTime<Utc>>>;
}

/// Queues a delivery of each happening in `events` that a subscription asks for, once per
/// subscription, in the transaction that stores the events.
pub(super) async fn enqueue_in_tx<DB>(tx: &mut Tx<DB>, events: &[NewEvent]) -> StoreResult<()>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> &'a str: Bind<DB>,
    Uuid: Column<DB>,
    DateTime<Utc>: Bind<DB>,
    usize: ColumnIndex<DB::Row>,
{
    let mut told: Vec<&NewEvent> = Vec::new();
    for event in events {
        // Kinds no staff system is sent never reach the table: not even queued.
        if scope_to_receive(event.event.kind()).is_none() {
            continue;
        }
        let same = |other: &&NewEvent| {
            other.event == event.event
                && other.person_id == event.person_id
                && other.created_at == event.created_at
        };
        if !told.iter().any(same) {
            told.push(event);
        }
    }
    for event in told {
        let kind = event.event.kind();
        let subscriptions: Vec<(Uuid,)> = sqlx::query_as(
            "SELECT s.id FROM webhook_subscriptions s \
             JOIN webhook_subscription_kinds k ON k.subscription_id = s.id \
             WHERE k.kind = $1 AND s.disabled_at IS NULL ORDER BY s.id",
        )
        .bind(kind.as_str())
        .fetch_all(&mut **tx)
        .await?;
        if subscriptions.is_empty() {
            continue;
        }
        let event_id = WebhookEventId::new();
        let payload = WebhookPayload::of(event_id, &event.event, event.person_id, event.created_at);
        let payload = serde_json::to_string(&payload)
            .map_err(|_| StoreError::Corrupt("a webhook payload".into()))?;
        for (subscription,) in subscriptions {
            sqlx::query(
                "INSERT INTO webhook_deliveries (id, subscription_id, event_id, kind, payload, \
                 created_at, state, attempts, next_attempt_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'pending', '[]', $6)",
            )
            .bind(DeliveryId::new().as_uuid())
            .bind(subscription)
            .bind(event_id.as_uuid())
            .bind(kind.as_str())
            .bind(payload.as_str())
            .bind(event.created_at)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

fn kind_of(text: &str) -> StoreResult<EventKind> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|_| StoreError::Corrupt("a webhook kind".into()))
}

fn state_of(text: &str) -> StoreResult<DeliveryState> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|_| StoreError::Corrupt("a webhook delivery state".into()))
}

fn state_text(state: DeliveryState) -> &'static str {
    match state {
        DeliveryState::Pending => "pending",
        DeliveryState::Delivered => "delivered",
        DeliveryState::Failed => "failed",
        DeliveryState::Withheld => "withheld",
    }
}

fn reason_text(reason: DisabledReason) -> &'static str {
    match reason {
        DisabledReason::DeliveriesFailing => "deliveries_failing",
    }
}

#[derive(sqlx::FromRow)]
struct SubscriptionRow {
    id: Uuid,
    client_id: String,
    url: String,
    sealed_secret: Vec<u8>,
    created_at: DateTime<Utc>,
    disabled_at: Option<DateTime<Utc>>,
    disabled_reason: Option<String>,
}

impl SubscriptionRow {
    fn with_kinds(self, kinds: &[(Uuid, String)]) -> StoreResult<WebhookRecord> {
        let kinds = kinds
            .iter()
            .filter(|(subscription, _)| *subscription == self.id)
            .map(|(_, kind)| kind_of(kind))
            .collect::<StoreResult<_>>()?;
        let disabled_reason = self
            .disabled_reason
            .map(|reason| {
                serde_json::from_value(serde_json::Value::String(reason))
                    .map_err(|_| StoreError::Corrupt("a webhook's disabled reason".into()))
            })
            .transpose()?;
        Ok(WebhookRecord {
            id: self.id.into(),
            client_id: self.client_id,
            url: self.url,
            sealed_secret: self.sealed_secret,
            kinds,
            created_at: self.created_at,
            disabled_at: self.disabled_at,
            disabled_reason,
        })
    }
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: Uuid,
    subscription_id: Uuid,
    event_id: Uuid,
    kind: String,
    payload: String,
    created_at: DateTime<Utc>,
    state: String,
    attempts: Json<Vec<DeliveryAttempt>>,
    next_attempt_at: Option<DateTime<Utc>>,
    delivered_at: Option<DateTime<Utc>>,
}

impl TryFrom<DeliveryRow> for DeliveryRecord {
    type Error = StoreError;

    fn try_from(row: DeliveryRow) -> StoreResult<Self> {
        Ok(DeliveryRecord {
            id: row.id.into(),
            subscription_id: row.subscription_id.into(),
            event_id: row.event_id.into(),
            kind: kind_of(&row.kind)?,
            payload: row.payload,
            created_at: row.created_at,
            state: state_of(&row.state)?,
            attempts: row.attempts.0,
            next_attempt_at: row.next_attempt_at,
            delivered_at: row.delivered_at,
        })
    }
}

#[async_trait::async_trait]
impl<DB> WebhookStore for SqlStore<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> &'a str: Bind<DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
    for<'a> &'a [u8]: Bind<DB>,
    Uuid: Column<DB>,
    Option<Uuid>: Bind<DB>,
    String: Column<DB>,
    Option<String>: Column<DB>,
    Vec<u8>: Column<DB>,
    i64: Column<DB>,
    DateTime<Utc>: Column<DB>,
    Option<DateTime<Utc>>: Column<DB>,
    Json<Vec<DeliveryAttempt>>: Column<DB>,
    for<'a> Json<&'a [DeliveryAttempt]>: Bind<DB>,
    Option<Uuid>: Column<DB>,
    for<'a> Json<&'a serde_json::Value>: Bind<DB>,
    usize: ColumnIndex<DB::Row>,
{
    async fn create_webhook(&self, webhook: &WebhookRecord) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        sqlx::query(
            "INSERT INTO webhook_subscriptions (id, client_id, url, sealed_secret, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(webhook.id.as_uuid())
        .bind(webhook.client_id.as_str())
        .bind(webhook.url.as_str())
        .bind(webhook.sealed_secret.as_slice())
        .bind(webhook.created_at)
        .execute(&mut *tx)
        .await?;
        for kind in &webhook.kinds {
            sqlx::query(
                "INSERT INTO webhook_subscription_kinds (subscription_id, kind) VALUES ($1, $2)",
            )
            .bind(webhook.id.as_uuid())
            .bind(kind.as_str())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn webhooks_of(&self, client_id: &str) -> StoreResult<Vec<WebhookRecord>> {
        let rows: Vec<SubscriptionRow> = sqlx::query_as(
            "SELECT id, client_id, url, sealed_secret, created_at, disabled_at, disabled_reason \
             FROM webhook_subscriptions WHERE client_id = $1 ORDER BY id",
        )
        .bind(client_id)
        .fetch_all(&self.db)
        .await?;
        let kinds: Vec<(Uuid, String)> = sqlx::query_as(
            "SELECT k.subscription_id, k.kind FROM webhook_subscription_kinds k \
             JOIN webhook_subscriptions s ON s.id = k.subscription_id WHERE s.client_id = $1",
        )
        .bind(client_id)
        .fetch_all(&self.db)
        .await?;
        rows.into_iter().map(|row| row.with_kinds(&kinds)).collect()
    }

    async fn webhook(&self, client_id: &str, id: WebhookId) -> StoreResult<Option<WebhookRecord>> {
        let row: Option<SubscriptionRow> = sqlx::query_as(
            "SELECT id, client_id, url, sealed_secret, created_at, disabled_at, disabled_reason \
             FROM webhook_subscriptions WHERE id = $1 AND client_id = $2",
        )
        .bind(id.as_uuid())
        .bind(client_id)
        .fetch_optional(&self.db)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let kinds: Vec<(Uuid, String)> = sqlx::query_as(
            "SELECT subscription_id, kind FROM webhook_subscription_kinds \
             WHERE subscription_id = $1",
        )
        .bind(id.as_uuid())
        .fetch_all(&self.db)
        .await?;
        row.with_kinds(&kinds).map(Some)
    }

    async fn delete_webhook(&self, client_id: &str, id: WebhookId) -> StoreResult<bool> {
        let mut tx = begin_write(self).await?;
        // By hand rather than by cascade alone: SQLite enforces ON DELETE CASCADE only with
        // foreign keys on, which every connection sets, but the order here is plain to read.
        let owned: Option<(Uuid,)> =
            sqlx::query_as("SELECT id FROM webhook_subscriptions WHERE id = $1 AND client_id = $2")
                .bind(id.as_uuid())
                .bind(client_id)
                .fetch_optional(&mut *tx)
                .await?;
        if owned.is_none() {
            return Ok(false);
        }
        for statement in [
            "DELETE FROM webhook_deliveries WHERE subscription_id = $1",
            "DELETE FROM webhook_subscription_kinds WHERE subscription_id = $1",
            "DELETE FROM webhook_subscriptions WHERE id = $1",
        ] {
            sqlx::query(statement)
                .bind(id.as_uuid())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn enable_webhook(
        &self,
        client_id: &str,
        id: WebhookId,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut tx = begin_write(self).await?;
        let found = sqlx::query(
            "UPDATE webhook_subscriptions SET disabled_at = NULL, disabled_reason = NULL \
             WHERE id = $1 AND client_id = $2",
        )
        .bind(id.as_uuid())
        .bind(client_id)
        .execute(&mut *tx)
        .await?;
        if found.rows_affected() == 0 {
            return Ok(false);
        }
        // What waited while it was off goes now, not at whatever time its backoff had reached.
        sqlx::query(
            "UPDATE webhook_deliveries SET next_attempt_at = $2 \
             WHERE subscription_id = $1 AND state = 'pending' AND next_attempt_at > $2",
        )
        .bind(id.as_uuid())
        .bind(at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn deliveries(
        &self,
        subscription: WebhookId,
        before: Option<DeliveryId>,
        limit: i64,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        let rows: Vec<DeliveryRow> = sqlx::query_as(
            "SELECT id, subscription_id, event_id, kind, payload, created_at, state, attempts, \
             next_attempt_at, delivered_at FROM webhook_deliveries \
             WHERE subscription_id = $1 AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
        )
        .bind(subscription.as_uuid())
        .bind(before.map(|b| b.as_uuid()))
        .bind(limit)
        .fetch_all(&self.db)
        .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        let mut tx = begin_write(self).await?;
        // The lease conditions stand in the outer WHERE too: on Postgres a row another process
        // leased while this statement waited for it is re-checked there and skipped.
        let rows: Vec<DeliveryRow> = sqlx::query_as(
            "UPDATE webhook_deliveries SET lease_until = $2 \
             WHERE id IN (SELECT d.id FROM webhook_deliveries d \
                 JOIN webhook_subscriptions s ON s.id = d.subscription_id \
                 WHERE d.state = 'pending' AND s.disabled_at IS NULL \
                 AND d.next_attempt_at <= $1 \
                 AND (d.lease_until IS NULL OR d.lease_until <= $1) \
                 ORDER BY d.next_attempt_at LIMIT $3) \
             AND state = 'pending' AND (lease_until IS NULL OR lease_until <= $1) \
             RETURNING id, subscription_id, event_id, kind, payload, created_at, state, \
             attempts, next_attempt_at, delivered_at",
        )
        .bind(now)
        .bind(lease_until)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let mut claimed = Vec::with_capacity(rows.len());
        let mut subscriptions: Vec<WebhookRecord> = Vec::new();
        for row in rows {
            let delivery = DeliveryRecord::try_from(row)?;
            let known = subscriptions
                .iter()
                .find(|s| s.id == delivery.subscription_id)
                .cloned();
            let subscription = match known {
                Some(subscription) => subscription,
                None => {
                    let row: SubscriptionRow = sqlx::query_as(
                        "SELECT id, client_id, url, sealed_secret, created_at, disabled_at, \
                         disabled_reason FROM webhook_subscriptions WHERE id = $1",
                    )
                    .bind(delivery.subscription_id.as_uuid())
                    .fetch_one(&mut *tx)
                    .await?;
                    let kinds: Vec<(Uuid, String)> = sqlx::query_as(
                        "SELECT subscription_id, kind FROM webhook_subscription_kinds \
                         WHERE subscription_id = $1",
                    )
                    .bind(delivery.subscription_id.as_uuid())
                    .fetch_all(&mut *tx)
                    .await?;
                    let subscription = row.with_kinds(&kinds)?;
                    subscriptions.push(subscription.clone());
                    subscription
                }
            };
            claimed.push(ClaimedDelivery {
                delivery,
                subscription,
                lease_until,
            });
        }
        tx.commit().await?;
        Ok(claimed)
    }

    async fn record_attempt(
        &self,
        claimed: &ClaimedDelivery,
        attempts: &[DeliveryAttempt],
        outcome: AttemptOutcome,
    ) -> StoreResult<bool> {
        let (state, next_attempt_at, delivered_at) = match outcome {
            AttemptOutcome::Delivered => (
                DeliveryState::Delivered,
                None,
                attempts.last().map(|a| a.at),
            ),
            AttemptOutcome::RetryAt(at) => (DeliveryState::Pending, Some(at), None),
            AttemptOutcome::Failed => (DeliveryState::Failed, None, None),
            AttemptOutcome::Withheld => (DeliveryState::Withheld, None, None),
        };
        let mut tx = begin_write(self).await?;
        let recorded = sqlx::query(
            "UPDATE webhook_deliveries SET state = $3, attempts = $4, next_attempt_at = $5, \
             delivered_at = $6, lease_until = NULL WHERE id = $1 AND lease_until = $2",
        )
        .bind(claimed.delivery.id.as_uuid())
        .bind(claimed.lease_until)
        .bind(state_text(state))
        .bind(Json(attempts))
        .bind(next_attempt_at)
        .bind(delivered_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(recorded.rows_affected() == 1)
    }

    async fn disable_failing_webhook(
        &self,
        subscription: WebhookId,
        since: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut tx = begin_write(self).await?;
        let (delivered,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM webhook_deliveries \
             WHERE subscription_id = $1 AND delivered_at >= $2",
        )
        .bind(subscription.as_uuid())
        .bind(since)
        .fetch_one(&mut *tx)
        .await?;
        if delivered > 0 {
            return Ok(false);
        }
        let owner: Option<(String,)> = sqlx::query_as(
            "UPDATE webhook_subscriptions SET disabled_at = $2, disabled_reason = $3 \
             WHERE id = $1 AND disabled_at IS NULL RETURNING client_id",
        )
        .bind(subscription.as_uuid())
        .bind(at)
        .bind(reason_text(DisabledReason::DeliveriesFailing))
        .fetch_optional(&mut *tx)
        .await?;
        let Some((client_id,)) = owner else {
            return Ok(false);
        };
        let admins: Vec<(Uuid,)> =
            sqlx::query_as("SELECT id FROM users WHERE role = $1 AND disabled_at IS NULL")
                .bind(Role::Admin.as_str())
                .fetch_all(&mut *tx)
                .await?;
        let event = Event::WebhookSubscriptionDisabled(WebhookDisabledData {
            client_id,
            subscription_id: subscription,
        });
        let told: Vec<NewEvent> = admins
            .into_iter()
            .map(|(admin,)| NewEvent {
                recipient_id: Some(UserId::from(admin)),
                person_id: None,
                event: event.clone(),
                created_at: at,
            })
            .collect();
        append_in_tx(&mut tx, &told).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn next_delivery_due(&self) -> StoreResult<Option<DateTime<Utc>>> {
        // Read on every burst of events: on SQLite on the calling thread.
        let row: Option<DueRow> = self
            .fetch_optional_row(
                "SELECT MIN(CASE WHEN d.lease_until IS NOT NULL \
                 AND d.lease_until > d.next_attempt_at \
                 THEN d.lease_until ELSE d.next_attempt_at END) AS due \
                 FROM webhook_deliveries d \
                 JOIN webhook_subscriptions s ON s.id = d.subscription_id \
                 WHERE d.state = 'pending' AND s.disabled_at IS NULL",
                &[],
            )
            .await?;
        Ok(row.and_then(|row| row.due))
    }
}

/// When the next delivery is due, as [`WebhookStore::next_delivery_due`] reads it.
#[derive(sqlx::FromRow)]
struct DueRow {
    due: Option<DateTime<Utc>>,
}

impl HereRow for DueRow {
    fn from_here(row: &Columns<'_>) -> Option<Self> {
        Some(DueRow {
            due: row.optional_time("due")?,
        })
    }
}
