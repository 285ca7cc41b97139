//! Push notifications: telling a phone that something needs the person's attention, without
//! saying what.
//!
//! A push travels through Apple's or Google's servers and lands on a lock screen, so it carries
//! an event's kind and ids only — never a message body, a name or anything else about a
//! person's care; the phone shows a neutral "Something needs your attention in Living Well",
//! then fetches through the API (policy and audit apply).
//!
//! Guarantees:
//! - **What wakes a phone:** a crisis plan put into use, a new message, a change to an
//!   appointment, a waitlist place offered and a referral answered as a crisis (to the team)
//!   ([`WAKES_THE_PHONE`]); other events wait for the app to open.
//! - **Only what is stored, to live sessions.** Services push after their commit, to the
//!   devices registered for the recipients' live sessions (see [`crate::store::devices`]).
//! - **Best-effort, in the background.** A push never holds up or fails a write; failures are
//!   logged by kind, never with a token or content. Pushes wait in a bounded queue for their
//!   devices to be read, one read per burst of writes ([`Pusher`]); a full queue drops pushes,
//!   logged by count: the phone learns of the event when the app next syncs.
//! - **Gathered for 10 ms.** The first push of a burst waits [`Pusher::GATHER`] for others
//!   to join its devices read (a burst already full does not wait). A push crosses Apple's or
//!   Google's servers, which take far longer; a busy server then reads devices at most a
//!   hundred times a second, where it read them for every two sends (the machine's time a
//!   Postgres send fell by ~10 %, bench/README.md).
//!
//! [`Notifier`] is the seam: [`LogNotifier`] for development, [`WebhookNotifier`] for the push
//! gateway a deployment runs (`serve --push-webhook`).

use std::sync::Arc;
use std::time::Duration;

use livingwell_core::api::events::{Event, EventKind};
use livingwell_core::domain::UserId;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::store::Store;
use crate::store::devices::PushDevice;
use crate::store::events::NewEvent;

/// The events worth waking a phone for.
pub const WAKES_THE_PHONE: [EventKind; 5] = [
    EventKind::CrisisPlanActivated,
    EventKind::MessageCreated,
    EventKind::AppointmentChanged,
    EventKind::WaitlistPlaceOffered,
    // A referred person needs help now: the team is told at once.
    EventKind::ReferralCrisisResponse,
];

/// What a push gateway is given: where to send it and which event, by kind and ids.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Push {
    /// `apns` or `fcm`.
    pub platform: String,
    pub token: String,
    pub recipient_id: UserId,
    #[serde(flatten)]
    pub event: Event,
}

// The token addresses a phone: it stays out of any Debug output.
impl std::fmt::Debug for Push {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Push")
            .field("platform", &self.platform)
            .field("recipient_id", &self.recipient_id)
            .field("kind", &self.event.kind())
            .finish_non_exhaustive()
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

/// Pushes stored events to the recipients' devices. Cheap to clone.
///
/// Writes hand their pushes to one queue; a task gathers them for [`Self::GATHER`], reads the
/// devices of everyone that burst of writes told in one query, then delivers the burst in the
/// background while it gathers the next. A busy conversation's sends thus cost one devices read
/// per burst, not one each.
#[derive(Clone, Debug)]
pub struct Pusher {
    queue: mpsc::Sender<Queued>,
}

/// What a pusher's queue holds: one write's pushes, each a recipient and the event.
type Queued = Vec<(UserId, Event)>;

impl Pusher {
    /// Writes' pushes waiting for their devices to be read; beyond it, pushes are dropped (and
    /// logged): they are best-effort, and the events they announce are stored all the same.
    const QUEUE: usize = 4_096;
    /// Most writes' pushes whose devices are read in one query.
    const BURST: usize = 256;
    /// How long the first push of a burst waits for others to join its devices read.
    const GATHER: Duration = Duration::from_millis(10);

    /// A pusher whose queue is served by a task of its own (started here, so within a
    /// runtime); it ends once every handle has been dropped.
    pub fn new(target: &PushTarget, store: Arc<dyn Store>) -> anyhow::Result<Self> {
        let notifier: Arc<dyn Notifier> = match target {
            PushTarget::Log => Arc::new(LogNotifier),
            PushTarget::Webhook(url) => {
                let url = reqwest::Url::parse(url)
                    .map_err(|_| anyhow::anyhow!("the push webhook is not a URL"))?;
                Arc::new(WebhookNotifier::new(url)?)
            }
        };
        let (queue, queued) = mpsc::channel(Self::QUEUE);
        tokio::spawn(deliver_queued(store, notifier, queued));
        Ok(Self { queue })
    }

    /// Pushes, in the background, those of `events` that wake a phone, to every live device
    /// of each recipient. Call after the commit that stored them.
    pub fn push(&self, events: &[NewEvent]) {
        let wanted: Vec<(UserId, Event)> = events
            .iter()
            .filter(|e| WAKES_THE_PHONE.contains(&e.event.kind()))
            .filter_map(|e| Some((e.recipient_id?, e.event.clone())))
            .collect();
        if wanted.is_empty() {
            return;
        }
        if let Err(error) = self.queue.try_send(wanted) {
            let dropped = match &error {
                mpsc::error::TrySendError::Full(wanted)
                | mpsc::error::TrySendError::Closed(wanted) => wanted.len(),
            };
            tracing::warn!(
                dropped,
                "push notifications dropped: the queue is full or closed"
            );
        }
    }
}

/// Serves the pushers' queue: for each burst gathered ([`gather`]), one read of the recipients'
/// devices, then the burst's deliveries in a task of their own (a slow gateway holds up only
/// its own burst).
async fn deliver_queued(
    store: Arc<dyn Store>,
    notifier: Arc<dyn Notifier>,
    mut queued: mpsc::Receiver<Queued>,
) {
    let mut bursts = Vec::with_capacity(Pusher::BURST);
    while gather(&mut queued, &mut bursts, Pusher::GATHER).await > 0 {
        let wanted: Vec<(UserId, Event)> = bursts.drain(..).flatten().collect();
        let mut recipients: Vec<UserId> = wanted.iter().map(|(user, _)| *user).collect();
        recipients.sort();
        recipients.dedup();
        let devices: Vec<PushDevice> = match store.push_devices(&recipients).await {
            Ok(devices) => devices,
            Err(error) => {
                tracing::warn!(kind = error.kind(), "push devices could not be read");
                continue;
            }
        };
        if devices.is_empty() {
            continue;
        }
        tokio::spawn(deliver(notifier.clone(), wanted, devices));
    }
}

/// Waits for the first writes' pushes, then for `window`, and takes every write's pushes
/// queued by then, up to [`Pusher::BURST`] in all; returns how many writes' pushes `bursts`
/// holds. 0 once every handle has been dropped and nothing is left.
async fn gather(
    queued: &mut mpsc::Receiver<Queued>,
    bursts: &mut Vec<Queued>,
    window: Duration,
) -> usize {
    if queued.recv_many(bursts, Pusher::BURST).await == 0 {
        return 0;
    }
    // A burst already full reads its devices at once.
    if bursts.len() < Pusher::BURST {
        tokio::time::sleep(window).await;
    }
    while bursts.len() < Pusher::BURST {
        match queued.try_recv() {
            Ok(pushes) => bursts.push(pushes),
            Err(_) => break,
        }
    }
    bursts.len()
}

/// Delivers each wanted push to every device of its recipient.
async fn deliver(
    notifier: Arc<dyn Notifier>,
    wanted: Vec<(UserId, Event)>,
    devices: Vec<PushDevice>,
) {
    for (recipient, event) in wanted {
        for device in devices.iter().filter(|d| d.user_id == recipient) {
            let push = Push {
                platform: device.platform.clone(),
                token: device.token.clone(),
                recipient_id: recipient,
                event: event.clone(),
            };
            if let Err(error) = notifier.notify(&push).await {
                tracing::warn!(%error, "push notification not delivered");
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("the push gateway could not be reached")]
    Unreachable,
    #[error("the push gateway answered {0}")]
    Refused(u16),
}

/// Delivers one push to one device.
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
            kind = %push.event.kind(),
            recipient = %push.recipient_id,
            platform = push.platform,
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

#[cfg(test)]
mod tests {
    use livingwell_core::api::events::MessageCreatedData;
    use livingwell_core::domain::message::{ConversationId, MessageId};

    use super::*;

    fn one_write(seq: i64) -> Queued {
        let event = Event::MessageCreated(MessageCreatedData {
            conversation_id: ConversationId::new(),
            message_id: MessageId::new(),
            seq,
        });
        vec![(UserId::new(), event)]
    }

    #[tokio::test]
    async fn pushes_queued_within_the_window_join_the_first_ones_read() {
        let (queue, mut queued) = mpsc::channel(Pusher::QUEUE);
        queue.send(one_write(1)).await.unwrap();
        let gathering = tokio::spawn(async move {
            let mut bursts = Vec::new();
            let gathered = gather(&mut queued, &mut bursts, Duration::from_millis(200)).await;
            (gathered, bursts, queued)
        });
        // The first write's pushes are taken; these come while the window is open.
        tokio::time::sleep(Duration::from_millis(20)).await;
        for seq in 2..=4 {
            queue.send(one_write(seq)).await.unwrap();
        }
        let (gathered, bursts, mut queued) = gathering.await.unwrap();
        assert_eq!(gathered, 4, "one read for the four writes");
        assert_eq!(bursts.len(), 4);

        // A write after the window starts the next burst.
        queue.send(one_write(5)).await.unwrap();
        let mut next = Vec::new();
        assert_eq!(gather(&mut queued, &mut next, Duration::ZERO).await, 1);
    }

    #[tokio::test]
    async fn a_burst_holds_at_most_its_limit_and_the_rest_wait_for_the_next() {
        let (queue, mut queued) = mpsc::channel(Pusher::QUEUE);
        for seq in 0..300 {
            queue.send(one_write(seq)).await.unwrap();
        }
        let mut bursts = Vec::new();
        // Full at once, the burst does not wait out its window.
        let full = gather(&mut queued, &mut bursts, Duration::from_secs(60));
        let gathered = tokio::time::timeout(Duration::from_secs(5), full)
            .await
            .expect("a full burst read at once");
        assert_eq!(gathered, Pusher::BURST);
        let mut next = Vec::new();
        assert_eq!(
            gather(&mut queued, &mut next, Duration::from_millis(1)).await,
            300 - Pusher::BURST
        );
    }

    #[tokio::test]
    async fn gathering_ends_once_every_pusher_is_gone() {
        let (queue, mut queued) = mpsc::channel::<Queued>(Pusher::QUEUE);
        drop(queue);
        let mut bursts = Vec::new();
        assert_eq!(
            gather(&mut queued, &mut bursts, Duration::from_secs(60)).await,
            0
        );
    }
}
