//! Push notifications: telling a phone that something is waiting, without saying what.
//!
//! A push travels through Apple's or Google's servers and lands on a lock screen, so it carries
//! ids only — never a message body, a name or anything else about a person's care. The phone
//! wakes, fetches through the API (policy and audit apply) and shows what it fetched.
//! [`Notifier`] is the seam: [`LogNotifier`] for development, [`WebhookNotifier`] for the push
//! gateway a deployment runs. Delivery is best-effort and never holds up a send: by then the
//! message is stored and on its way over the event stream.

use std::time::Duration;

use livingwell_core::api::events::EventKind;
use livingwell_core::domain::UserId;
use livingwell_core::domain::message::{ConversationId, MessageId};
use serde::{Deserialize, Serialize};

/// What a push says: that there is something new in a conversation, and nothing more.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Push {
    /// Always `message_created` for now.
    pub event: EventKind,
    pub recipient_id: UserId,
    pub conversation_id: ConversationId,
    pub message_id: MessageId,
}

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("the push gateway could not be reached")]
    Unreachable,
    #[error("the push gateway answered {0}")]
    Refused(u16),
}

/// Delivers pushes to the recipient's devices.
#[async_trait::async_trait]
pub trait Notifier: Send + Sync + std::fmt::Debug {
    async fn notify(&self, push: &Push) -> Result<(), PushError>;
}

/// Writes a log line per push (ids only), for development and deployments without a gateway.
#[derive(Debug, Default)]
pub struct LogNotifier;

#[async_trait::async_trait]
impl Notifier for LogNotifier {
    async fn notify(&self, push: &Push) -> Result<(), PushError> {
        tracing::info!(
            event = %push.event,
            recipient = %push.recipient_id,
            conversation = %push.conversation_id,
            "push notification"
        );
        Ok(())
    }
}

/// POSTs each push as JSON to the deployment's push gateway.
#[derive(Debug)]
pub struct WebhookNotifier {
    client: reqwest::Client,
    url: reqwest::Url,
}

impl WebhookNotifier {
    /// How long one delivery may take before it is given up.
    const TIMEOUT: Duration = Duration::from_secs(5);

    pub fn new(url: reqwest::Url) -> Result<Self, PushError> {
        let client = reqwest::Client::builder()
            .timeout(Self::TIMEOUT)
            .build()
            .map_err(|_| PushError::Unreachable)?;
        Ok(Self { client, url })
    }
}

#[async_trait::async_trait]
impl Notifier for WebhookNotifier {
    async fn notify(&self, push: &Push) -> Result<(), PushError> {
        let response = self
            .client
            .post(self.url.clone())
            .json(push)
            .send()
            .await
            .map_err(|_| PushError::Unreachable)?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(PushError::Refused(status.as_u16()))
        }
    }
}
