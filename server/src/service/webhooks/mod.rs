//! Webhooks for staff systems: subscriptions, and the dispatcher that delivers what they
//! subscribed to.
//!
//! Guarantees:
//! - **Never lost to a stopped server.** Deliveries are queued in the transaction of the write
//!   whose event they tell of ([`crate::store::webhooks`]); the dispatcher ([`dispatch`]) only
//!   ever reads the queue, so whatever was queued before a stop is sent after the start.
//! - **At least once, the same `webhook-id` every time.** A delivery is taken with a lease,
//!   sent, and its attempt recorded; a process stopped between sending and recording sends it
//!   again once the lease lapses, with the same id, so a receiver can drop the repeat.
//! - **Retried for more than a day, then the subscription is turned off** ([`RetrySchedule`]):
//!   when every attempt of one delivery failed and no other delivery to the subscription got
//!   through meanwhile, the subscription is disabled with its reason (the staff system sees it
//!   on the subscription) and every admin is told by an event (`webhook_subscription_disabled`,
//!   their notifications and event streams). Enabling it again sends what waited.
//! - **Only while allowed.** Each delivery is sent only if, when it is due, the staff system is
//!   enabled and still holds `webhooks:manage` and the scope its kind needs; otherwise it is
//!   withheld, never sent.
//! - **Only to public addresses** ([`address`]), unless the deployment allows private ones.
//! - **No health data, no secrets in logs**: payloads carry ids; logs carry ids and classes.

pub mod address;
mod dispatch;
pub mod signing;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use livingwell_core::api::webhooks::{CreateWebhookRequest, WebhookId};
use tokio_util::sync::CancellationToken;
use zeroize::Zeroizing;

use super::{ServiceError, ServiceResult};
use crate::auth::sealing::KeyEncryptionKey;
use crate::clock::Clock;
use crate::events::EventHub;
use crate::store::Store;
use crate::store::webhooks::WebhookRecord;

pub use dispatch::RetrySchedule;

/// What signing secrets are sealed as (the associated data beside the subscription's id).
const SEALED_PURPOSE: &str = "webhook signing secret";

/// How a deployment sends webhooks.
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    /// Send to loopback, private and other non-public addresses too (`serve
    /// --webhook-allow-private-targets`): for a case system on the deployment's own network.
    pub allow_private_targets: bool,
    /// How long to wait after each failed attempt.
    pub retry_schedule: RetrySchedule,
    /// How long one attempt may take, connecting included.
    pub request_timeout: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            allow_private_targets: false,
            retry_schedule: RetrySchedule::standard(),
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// Subscriptions and their deliveries. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Webhooks {
    store: Arc<dyn Store>,
    clock: Clock,
    kek: KeyEncryptionKey,
    settings: Arc<WebhookSettings>,
}

impl Webhooks {
    /// The service, with its dispatcher delivering until `shutdown`.
    pub fn start(
        store: Arc<dyn Store>,
        events: EventHub,
        clock: Clock,
        kek: KeyEncryptionKey,
        settings: &WebhookSettings,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        let service = Self {
            store,
            clock,
            kek,
            settings: Arc::new(settings.clone()),
        };
        let dispatcher = dispatch::Dispatcher::new(service.clone(), events)?;
        tokio::spawn(dispatcher.run(shutdown));
        Ok(service)
    }

    /// Subscribes a staff system; returns the subscription and its secret (`whsec_…`), to
    /// be shown this once. The caller has checked the scopes its kinds need.
    pub async fn subscribe(
        &self,
        client_id: &str,
        request: CreateWebhookRequest,
    ) -> ServiceResult<(WebhookRecord, String)> {
        let url = address::parse_target(&request.url)
            .map_err(|refusal| ServiceError::invalid("url", refusal.code()))?;
        address::check_target(&url, self.settings.allow_private_targets)
            .await
            .map_err(|refusal| ServiceError::invalid("url", refusal.code()))?;
        let id = WebhookId::new();
        let secret = signing::new_secret();
        let sealed_secret = self
            .kek
            .seal_secret(SEALED_PURPOSE, &id.to_string(), &secret)
            .map_err(|_| ServiceError::Unavailable)?;
        let webhook = WebhookRecord {
            id,
            client_id: client_id.to_owned(),
            url: url.to_string(),
            sealed_secret,
            kinds: request.kinds,
            created_at: self.clock.now(),
            disabled_at: None,
            disabled_reason: None,
        };
        self.store.create_webhook(&webhook).await?;
        Ok((webhook, signing::secret_text(&secret)))
    }

    /// Turns a client's subscription back on; what waited is due now.
    pub async fn enable(&self, client_id: &str, id: WebhookId) -> ServiceResult<WebhookRecord> {
        if !self
            .store
            .enable_webhook(client_id, id, self.clock.now())
            .await?
        {
            return Err(ServiceError::NotFound);
        }
        self.store
            .webhook(client_id, id)
            .await?
            .ok_or(ServiceError::NotFound)
    }

    /// Removes a client's subscription with its deliveries, sent or not.
    pub async fn delete(&self, client_id: &str, id: WebhookId) -> ServiceResult<()> {
        if self.store.delete_webhook(client_id, id).await? {
            Ok(())
        } else {
            Err(ServiceError::NotFound)
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The signing secret of a subscription, opened.
    fn secret_of(&self, webhook: &WebhookRecord) -> Option<Zeroizing<Vec<u8>>> {
        self.kek
            .open_secret(
                SEALED_PURPOSE,
                &webhook.id.to_string(),
                &webhook.sealed_secret,
            )
            .ok()
    }
}
