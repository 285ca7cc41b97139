//! Messaging's service: the process's send writer, push notifications, the per-sender send
//! rate and the deployment's messaging settings.
//!
//! Guarantees:
//! - **One writer per process**, started with the service (by `AppState::new`, never lazily):
//!   sends are group-committed ([`queue`]), each durable with its `message_created` events
//!   before its sender is answered; live streams are told after the commit.
//! - **Pushes only for what is stored, and ids only.** A push goes to every other participant
//!   once a send is stored for the first time — never for a repeat — in the background, so it
//!   never holds up or fails a send; failures are logged by kind, never with content
//!   ([`push`]).
//! - **Crisis lines** appear in every out-of-hours notice; a UK default stands until the
//!   deployment names its own (`serve --crisis-line`).
//! - **Send rate** per sender is a token bucket (governor): a burst — a phone's outbox emptying
//!   after a tunnel — then one more per interval; beyond it 429 with `Retry-After`. Counts are
//!   per process, like sign-in throttling.
//!
//! Working hours are read against the application's one [`crate::clock::Clock`], so tests set
//! "23:00 in London" rather than depend on when the suite runs.

pub mod push;
pub mod queue;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use livingwell_core::api::events::EventKind;
use livingwell_core::domain::UserId;
use livingwell_core::domain::message::{CrisisLine, default_crisis_lines};

use self::push::{LogNotifier, Notifier, Push, WebhookNotifier};
use self::queue::{SendQueue, SendUnavailableError};
use crate::events::EventHub;
use crate::store::Store;
use crate::store::messages::{NewSend, SendOutcome};

/// How many messages one sender may send: a burst, then one per `replenish_every`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendRate {
    pub burst: NonZeroU32,
    pub replenish_every: Duration,
}

impl Default for SendRate {
    fn default() -> Self {
        Self {
            burst: NonZeroU32::MIN.saturating_add(59),
            replenish_every: Duration::from_secs(1),
        }
    }
}

/// Where push notifications go.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum PushTarget {
    /// A log line per push (ids only).
    #[default]
    Log,
    /// POSTed as JSON to this URL (a push gateway).
    Webhook(String),
}

// A gateway URL can carry a key; it stays out of any Debug output.
impl std::fmt::Debug for PushTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PushTarget::Log => f.write_str("Log"),
            PushTarget::Webhook(_) => f.write_str("Webhook(..)"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessagingSettings {
    /// Named in every out-of-hours notice.
    pub crisis_lines: Vec<CrisisLine>,
    pub send_rate: SendRate,
    pub push: PushTarget,
}

impl Default for MessagingSettings {
    fn default() -> Self {
        Self {
            crisis_lines: default_crisis_lines(),
            send_rate: SendRate::default(),
            push: PushTarget::default(),
        }
    }
}

/// Above this many remembered senders, those with full buckets are forgotten.
const FORGET_ABOVE_SENDERS: usize = 10_000;

/// The messaging service: one per application state.
#[derive(Debug)]
pub struct Messaging {
    crisis_lines: Vec<CrisisLine>,
    senders: DefaultKeyedRateLimiter<UserId>,
    rate_clock: DefaultClock,
    notifier: Arc<dyn Notifier>,
    /// The process's send writer (group commit).
    sends: SendQueue,
}

impl Messaging {
    /// The service, with its send writer running; the writer ends when the service is dropped.
    pub fn start(
        settings: &MessagingSettings,
        store: Arc<dyn Store>,
        events: EventHub,
    ) -> anyhow::Result<Self> {
        let notifier: Arc<dyn Notifier> = match &settings.push {
            PushTarget::Log => Arc::new(LogNotifier),
            PushTarget::Webhook(url) => {
                let url = reqwest::Url::parse(url)
                    .map_err(|_| anyhow::anyhow!("the push webhook is not a URL"))?;
                Arc::new(WebhookNotifier::new(url)?)
            }
        };
        let quota = Quota::with_period(settings.send_rate.replenish_every)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(settings.send_rate.burst);
        Ok(Self {
            crisis_lines: settings.crisis_lines.clone(),
            senders: RateLimiter::keyed(quota),
            rate_clock: DefaultClock::default(),
            notifier,
            sends: SendQueue::start(store, events),
        })
    }

    /// The crisis lines every out-of-hours notice names.
    pub fn crisis_lines(&self) -> &[CrisisLine] {
        &self.crisis_lines
    }

    /// Counts one send; `Err(wait)` when the sender must wait before the next.
    pub fn check_send(&self, sender: UserId) -> Result<(), Duration> {
        if self.senders.len() > FORGET_ABOVE_SENDERS {
            self.senders.retain_recent();
        }
        let now = self.rate_clock.now();
        self.senders
            .check_key(&sender)
            .map_err(|not_until| not_until.wait_time_from(now))
    }

    /// Stores the send durably with its events (or finds the message it repeats), then tells
    /// live streams; a message stored now is pushed to every participant but its sender.
    pub async fn send(&self, send: NewSend) -> Result<SendOutcome, SendUnavailableError> {
        let sender = send.message.sender_id;
        let recipients = send.audience.recipients.clone();
        let outcome = self.sends.send(send).await?;
        if let SendOutcome::Created { message, .. } = &outcome {
            self.push(
                recipients
                    .iter()
                    .filter(|recipient| **recipient != sender)
                    .map(|recipient| Push {
                        event: EventKind::MessageCreated,
                        recipient_id: *recipient,
                        conversation_id: message.conversation_id,
                        message_id: message.id,
                    })
                    .collect(),
            );
        }
        Ok(outcome)
    }

    /// Delivers pushes in the background; failures are logged by kind, never with content.
    fn push(&self, pushes: Vec<Push>) {
        if pushes.is_empty() {
            return;
        }
        let notifier = self.notifier.clone();
        tokio::spawn(async move {
            for push in pushes {
                if let Err(error) = notifier.notify(&push).await {
                    tracing::warn!(%error, "push notification not delivered");
                }
            }
        });
    }
}
