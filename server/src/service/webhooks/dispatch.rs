//! The dispatcher: takes due deliveries from the queue, sends them signed, records each
//! attempt and schedules the next (see the guarantees in [`super`]).

use std::error::Error as _;
use std::time::Duration;

use chrono::{DateTime, Utc};
use livingwell_core::api::webhooks::{AttemptFailure, DeliveryAttempt, scope_to_receive};
use livingwell_core::domain::StaffScope;
use rand::Rng;
use reqwest::header::{CONTENT_TYPE, HeaderValue, USER_AGENT};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::Webhooks;
use super::address::{self, AddressRefused, PublicOnlyResolver};
use super::signing;
use crate::events::{EventHub, EventNews};
use crate::store::webhooks::{AttemptOutcome, ClaimedDelivery};

/// Most deliveries taken at once; they are sent side by side.
const BATCH: i64 = 16;

/// How long the queue may go unread with nothing heard: a delivery queued or made due by
/// another process is found within this, even if its news was missed.
const POLL_EVERY: Duration = Duration::from_secs(5);

/// How long to wait before looking again when a delivery was due but none could be taken.
const PAUSE_WHEN_NONE_TAKEN: Duration = Duration::from_secs(1);

/// How long past its request timeout a taken delivery stays held.
const LEASE_MARGIN: Duration = Duration::from_secs(30);

/// The waits between attempts: each failed attempt waits the next one (give or take a fifth,
/// so receivers that failed together are not retried together), and the delivery fails when
/// they are spent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetrySchedule {
    waits: Vec<Duration>,
}

impl RetrySchedule {
    /// 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, 8 h, 8 h, 8 h: twelve attempts over
    /// about 32 hours, so a receiver down for a whole day still gets everything.
    pub fn standard() -> Self {
        const SECONDS: [u64; 11] = [
            5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800, 28800, 28800,
        ];
        Self::new(SECONDS.iter().map(|s| Duration::from_secs(*s)).collect())
    }

    /// A schedule of these waits (tests use milliseconds).
    pub fn new(waits: Vec<Duration>) -> Self {
        Self { waits }
    }

    /// When to try again after `attempts` attempts failed; `None` when they are spent.
    fn next_after(&self, attempts: usize, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let wait = self.waits.get(attempts.checked_sub(1)?)?;
        let jittered = wait.mul_f64(rand::thread_rng().gen_range(0.8..1.2));
        Some(now + chrono::Duration::from_std(jittered).unwrap_or(chrono::Duration::MAX))
    }
}

pub(super) struct Dispatcher {
    webhooks: Webhooks,
    events: EventHub,
    http: reqwest::Client,
}

impl Dispatcher {
    pub(super) fn new(webhooks: Webhooks, events: EventHub) -> anyhow::Result<Self> {
        let settings = &webhooks.settings;
        let mut http = reqwest::Client::builder()
            // A redirect would lead past the address rule, and a receiver has no need of one.
            .redirect(reqwest::redirect::Policy::none())
            // A proxy from the environment would connect for us, to anywhere.
            .no_proxy()
            .timeout(settings.request_timeout)
            .connect_timeout(settings.request_timeout.min(Duration::from_secs(5)));
        if !settings.allow_private_targets {
            http = http.dns_resolver(PublicOnlyResolver);
        }
        Ok(Self {
            http: http.build()?,
            webhooks,
            events,
        })
    }

    /// Delivers until `shutdown`: whatever is due, then sleeps until the next is due, an event
    /// is stored (it may have queued one), or [`POLL_EVERY`] passes.
    ///
    /// Each pass first reads when the next delivery is due, and claims only when one is due
    /// now. Claiming is a write transaction, and on SQLite the one writer at a time: a claim
    /// made for every burst of events, with nothing to deliver, kept a busy server's sends
    /// waiting their turn behind it.
    pub(super) async fn run(self, shutdown: CancellationToken) {
        let mut news = self.events.subscribe();
        let this = std::sync::Arc::new(self);
        while !shutdown.is_cancelled() {
            let due = match this.webhooks.store.next_delivery_due().await {
                Ok(due) => due,
                Err(error) => {
                    tracing::warn!(kind = error.kind(), "reading when webhooks are due failed");
                    None
                }
            };
            if due.is_some_and(|due| due <= this.webhooks.now()) {
                // Not cut short by shutdown: sends in flight end within their timeout and are
                // recorded, rather than left leased until their lease lapses. Then the next
                // pass reads again: more may be due, and what was sent is not.
                let taken = this.clone().deliver_due().await;
                if taken.is_none_or(|taken| taken == 0) {
                    // Due, yet none taken (another process took them first), or taking failed:
                    // a pause before the next look, not a spin.
                    tokio::select! {
                        () = tokio::time::sleep(PAUSE_WHEN_NONE_TAKEN) => {}
                        () = shutdown.cancelled() => return,
                    }
                }
                continue;
            }
            let clock = this.webhooks.clock.clone();
            let until_due = async move {
                match due {
                    Some(due) => clock.sleep_until(due).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = until_due => {}
                () = news_that_may_have_queued_one(&mut news) => {}
                () = tokio::time::sleep(POLL_EVERY) => {}
                () = shutdown.cancelled() => return,
            }
            // The next pass covers every event stored so far, however many were told: one pass
            // for a burst, not one for each event in it.
            while matches!(news.try_recv(), Ok(_) | Err(TryRecvError::Lagged(_))) {}
        }
    }

    /// Sends one batch of due deliveries side by side; how many were taken, or `None` when
    /// taking them failed.
    async fn deliver_due(self: std::sync::Arc<Self>) -> Option<usize> {
        let now = self.webhooks.now();
        let lease = self.webhooks.settings.request_timeout + LEASE_MARGIN;
        let lease_until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
        let claimed = match self
            .webhooks
            .store
            .claim_deliveries(now, lease_until, BATCH)
            .await
        {
            Ok(claimed) => claimed,
            Err(error) => {
                tracing::warn!(kind = error.kind(), "taking due webhooks failed");
                return None;
            }
        };
        let taken = claimed.len();
        let mut sends = JoinSet::new();
        for delivery in claimed {
            sends.spawn(self.clone().deliver(delivery));
        }
        while sends.join_next().await.is_some() {}
        Some(taken)
    }

    async fn deliver(self: std::sync::Arc<Self>, claimed: ClaimedDelivery) {
        let delivery = &claimed.delivery;
        // Unknown (the database did not answer): left for the lease to lapse.
        let Some(allowed) = self.allowed(&claimed).await else {
            return;
        };
        let outcome = if allowed {
            let Some(secret) = self.webhooks.secret_of(&claimed.subscription) else {
                // Not the receiver's fault: left for its lease to lapse and be tried again
                // once the deployment's key-encryption key is put right.
                tracing::error!(
                    subscription = %claimed.subscription.id,
                    "a webhook's signing secret does not open with this key-encryption key"
                );
                return;
            };
            let attempt = self.attempt(&claimed, &secret).await;
            let mut attempts = delivery.attempts.clone();
            attempts.push(attempt);
            let outcome = match attempt.failure {
                None => AttemptOutcome::Delivered,
                Some(_) => match self
                    .webhooks
                    .settings
                    .retry_schedule
                    .next_after(attempts.len(), attempt.at)
                {
                    Some(at) => AttemptOutcome::RetryAt(at),
                    None => AttemptOutcome::Failed,
                },
            };
            self.record(&claimed, &attempts, outcome).await;
            outcome
        } else {
            self.record(&claimed, &delivery.attempts, AttemptOutcome::Withheld)
                .await;
            AttemptOutcome::Withheld
        };
        if outcome == AttemptOutcome::Failed {
            self.disable_if_failing(&claimed).await;
        }
    }

    /// Whether the staff system may still be sent this delivery: enabled, holding
    /// `webhooks:manage` and the scope of its kind, as the database says now; `None` when
    /// the database cannot say.
    async fn allowed(&self, claimed: &ClaimedDelivery) -> Option<bool> {
        let client = match self
            .webhooks
            .store
            .client(&claimed.subscription.client_id)
            .await
        {
            Ok(client) => client,
            Err(error) => {
                tracing::warn!(
                    kind = error.kind(),
                    "reading a webhook's staff system failed"
                );
                return None;
            }
        };
        let Some(client) = client.filter(|client| client.disabled_at.is_none()) else {
            return Some(false);
        };
        let needed = scope_to_receive(claimed.delivery.kind);
        Some(
            client.scopes.contains(&StaffScope::WebhooksManage)
                && needed.is_some_and(|scope| client.scopes.contains(&scope)),
        )
    }

    /// One signed POST; what came of it.
    async fn attempt(&self, claimed: &ClaimedDelivery, secret: &[u8]) -> DeliveryAttempt {
        let failed = |failure| DeliveryAttempt {
            at: self.webhooks.now(),
            status_code: None,
            failure: Some(failure),
        };
        let Ok(url) = address::parse_target(&claimed.subscription.url) else {
            return failed(AttemptFailure::Transport);
        };
        // An IP literal is connected to without resolving: the resolver's filter never sees it.
        if !self.webhooks.settings.allow_private_targets
            && address::literal_address(&url).is_some_and(|ip| !address::is_public(ip))
        {
            return failed(AttemptFailure::AddressRefused);
        }
        let id = claimed.delivery.id.to_string();
        let timestamp = self.webhooks.now().timestamp();
        let body = claimed.delivery.payload.clone();
        let signature = signing::signature(secret, &id, timestamp, &body);
        let sent = self
            .http
            .post(url)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(
                USER_AGENT,
                HeaderValue::from_static(concat!(
                    "LivingWell-Webhooks/",
                    env!("CARGO_PKG_VERSION")
                )),
            )
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        let at = self.webhooks.now();
        match sent {
            // The answer's body is never read: only its status counts.
            Ok(response) => {
                let status = response.status();
                DeliveryAttempt {
                    at,
                    status_code: Some(status.as_u16()),
                    failure: (!status.is_success()).then_some(AttemptFailure::Status),
                }
            }
            Err(error) => DeliveryAttempt {
                at,
                status_code: None,
                failure: Some(failure_class(&error)),
            },
        }
    }

    async fn record(
        &self,
        claimed: &ClaimedDelivery,
        attempts: &[DeliveryAttempt],
        outcome: AttemptOutcome,
    ) {
        match self
            .webhooks
            .store
            .record_attempt(claimed, attempts, outcome)
            .await
        {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                delivery = %claimed.delivery.id,
                "a webhook's lease lapsed before its attempt was recorded; it will be sent again"
            ),
            Err(error) => tracing::warn!(
                kind = error.kind(),
                delivery = %claimed.delivery.id,
                "a webhook attempt could not be recorded; it will be sent again"
            ),
        }
    }

    async fn disable_if_failing(&self, claimed: &ClaimedDelivery) {
        let subscription = claimed.subscription.id;
        let since = claimed.delivery.created_at;
        match self
            .webhooks
            .store
            .disable_failing_webhook(subscription, since, self.webhooks.now())
            .await
        {
            Ok(true) => {
                tracing::warn!(
                    %subscription,
                    client = claimed.subscription.client_id,
                    "a webhook subscription was turned off: its deliveries keep failing"
                );
                // The admins' event was stored with it.
                self.events.announce_committed();
            }
            Ok(false) => {}
            Err(error) => tracing::warn!(
                kind = error.kind(),
                %subscription,
                "a failing webhook subscription could not be turned off"
            ),
        }
    }
}

/// What kind of failure a transport error is, from the errors it wraps.
fn failure_class(error: &reqwest::Error) -> AttemptFailure {
    let mut source = error.source();
    while let Some(cause) = source {
        if cause.downcast_ref::<AddressRefused>().is_some() {
            return AttemptFailure::AddressRefused;
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::NotFound
        {
            return AttemptFailure::Unresolvable;
        }
        source = cause.source();
    }
    if error.is_timeout() {
        AttemptFailure::Timeout
    } else if error.is_connect() {
        AttemptFailure::Connect
    } else {
        AttemptFailure::Transport
    }
}

/// Waits for news that may have queued a delivery: an event of a kind some staff system may
/// receive ([`scope_to_receive`], the rule that decides what is queued), events the hub cannot
/// name, a lag, or the hub gone with the server. Messages and their receipts are never a staff
/// system's, and each commit of a busy conversation would otherwise wake the dispatcher to read
/// the queue for nothing.
async fn news_that_may_have_queued_one(news: &mut broadcast::Receiver<EventNews>) {
    while !may_have_queued_a_delivery(&news.recv().await) {}
}

fn may_have_queued_a_delivery(news: &Result<EventNews, RecvError>) -> bool {
    match news {
        Ok(EventNews::Stored(record)) => scope_to_receive(record.event.event.kind()).is_some(),
        Ok(EventNews::ReadYourOwn) | Err(RecvError::Lagged(_) | RecvError::Closed) => true,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_standard_schedule_retries_for_more_than_a_day_then_stops() {
        let schedule = RetrySchedule::standard();
        let start: DateTime<Utc> = "2026-01-14T11:00:00Z".parse().unwrap();
        let mut at = start;
        let mut attempts = 1;
        while let Some(next) = schedule.next_after(attempts, at) {
            assert!(next > at);
            at = next;
            attempts += 1;
        }
        assert_eq!(attempts, 12);
        assert!(at - start > chrono::Duration::hours(24), "{}", at - start);
        assert!(at - start < chrono::Duration::hours(40), "{}", at - start);
    }

    #[test]
    fn each_wait_is_jittered_within_a_fifth() {
        let schedule = RetrySchedule::new(vec![Duration::from_secs(100)]);
        let now: DateTime<Utc> = "2026-01-14T11:00:00Z".parse().unwrap();
        for _ in 0..100 {
            let wait = schedule.next_after(1, now).unwrap() - now;
            assert!(wait >= chrono::Duration::seconds(80), "{wait}");
            assert!(wait <= chrono::Duration::seconds(120), "{wait}");
        }
        assert_eq!(schedule.next_after(2, now), None);
    }

    #[test]
    fn only_news_of_what_a_staff_system_may_receive_wakes_the_dispatcher() {
        use livingwell_core::api::events::{
            AppointmentChange, AppointmentChangeData, Event, MessageCreatedData,
        };
        use livingwell_core::domain::UserId;
        use livingwell_core::domain::appointment::AppointmentId;
        use livingwell_core::domain::message::{ConversationId, MessageId};

        use crate::store::events::{EventRecord, NewEvent};

        let stored = |event: Event| {
            Ok(EventNews::Stored(std::sync::Arc::new(EventRecord {
                id: 1,
                event: NewEvent {
                    recipient_id: Some(UserId::new()),
                    person_id: None,
                    event,
                    created_at: Utc::now(),
                },
            })))
        };
        let message = stored(Event::MessageCreated(MessageCreatedData {
            conversation_id: ConversationId::new(),
            message_id: MessageId::new(),
            seq: 1,
        }));
        assert!(!may_have_queued_a_delivery(&message));
        let appointment = stored(Event::AppointmentChanged(AppointmentChangeData {
            appointment_id: AppointmentId::new(),
            change: AppointmentChange::Moved,
        }));
        assert!(may_have_queued_a_delivery(&appointment));
        assert!(may_have_queued_a_delivery(&Ok(EventNews::ReadYourOwn)));
        assert!(may_have_queued_a_delivery(&Err(RecvError::Lagged(3))));
        assert!(may_have_queued_a_delivery(&Err(RecvError::Closed)));
    }
}
