//! Request rates for staff systems: each client has its own budget of requests per minute (its
//! own, set by an admin, or the deployment's default), so one busy case system cannot crowd out
//! the others or the apps.
//!
//! - **A token bucket per client** (governor's GCRA): the whole minute's budget may be spent at
//!   once, then one more request is allowed every `60 s / limit`. Counts are per process; with
//!   several processes each allows its own share.
//! - **Counted once per request**, when the caller is authenticated, however many extractors
//!   ask who it is: the request carries a [`RateCell`] that the first authentication fills.
//! - **Told on every answer** to a staff system (IETF `draft-ietf-httpapi-ratelimit-headers`):
//!   `RateLimit-Policy: "client";q=600;w=60` (the budget) and `RateLimit: "client";r=599;t=1`
//!   (requests left now, and the seconds until the budget is whole again). Over the budget the
//!   answer is 429 with `Retry-After`, and nothing of the request runs.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use governor::clock::{Clock as _, DefaultClock, QuantaInstant};
use governor::middleware::StateInformationMiddleware;
use governor::{Quota, RateLimiter};

/// The deployment's default: ten requests a second, on average, per staff system.
pub const DEFAULT_REQUESTS_PER_MINUTE: NonZeroU32 = NonZeroU32::MIN.saturating_add(599);

pub const RATE_LIMIT: HeaderName = HeaderName::from_static("ratelimit");
pub const RATE_LIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");

/// The policy's name in both headers.
const POLICY: &str = "client";

type Bucket = RateLimiter<
    governor::state::NotKeyed,
    governor::state::InMemoryState,
    DefaultClock,
    StateInformationMiddleware,
>;

/// What one request was allowed, or told to wait for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateOutcome {
    pub limit: NonZeroU32,
    /// Requests still allowed now.
    pub remaining: u32,
    /// Until the budget is whole again.
    pub full_in: Duration,
    /// `Some` when this request is over the budget: how long until one more is allowed.
    pub wait: Option<Duration>,
}

/// Every staff system's bucket in this process.
#[derive(Debug)]
pub struct ClientRates {
    default_per_minute: NonZeroU32,
    buckets: Mutex<HashMap<String, (NonZeroU32, Arc<Bucket>)>>,
    clock: DefaultClock,
}

impl ClientRates {
    pub fn new(default_per_minute: NonZeroU32) -> Self {
        Self {
            default_per_minute,
            buckets: Mutex::new(HashMap::new()),
            clock: DefaultClock::default(),
        }
    }

    /// The budget a client has: its own, or the deployment's.
    pub fn limit_for(&self, own: Option<NonZeroU32>) -> NonZeroU32 {
        own.unwrap_or(self.default_per_minute)
    }

    /// Counts one request by `client_id`, whose budget is `limit` a minute.
    pub fn check(&self, client_id: &str, limit: NonZeroU32) -> RateOutcome {
        let bucket = self.bucket(client_id, limit);
        let quota = Quota::per_minute(limit);
        let interval = quota.replenish_interval();
        match bucket.check() {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                RateOutcome {
                    limit,
                    remaining,
                    full_in: interval.saturating_mul(limit.get().saturating_sub(remaining)),
                    wait: None,
                }
            }
            Err(not_until) => RateOutcome {
                limit,
                remaining: 0,
                full_in: interval.saturating_mul(limit.get()),
                wait: Some(not_until.wait_time_from(self.now())),
            },
        }
    }

    fn now(&self) -> QuantaInstant {
        self.clock.now()
    }

    /// The client's bucket, made anew when its budget has changed. Only authenticated clients
    /// get one, and a deployment registers few, so the map stays small.
    fn bucket(&self, client_id: &str, limit: NonZeroU32) -> Arc<Bucket> {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match buckets.get(client_id) {
            Some((held, bucket)) if *held == limit => bucket.clone(),
            _ => {
                let bucket = Arc::new(
                    RateLimiter::direct(Quota::per_minute(limit))
                        .with_middleware::<StateInformationMiddleware>(),
                );
                buckets.insert(client_id.to_owned(), (limit, bucket.clone()));
                bucket
            }
        }
    }
}

/// Filled by the first authentication of a staff system in a request (see
/// `extract::authenticate`), read when its answer leaves.
#[derive(Clone, Debug, Default)]
pub struct RateCell(Arc<OnceLock<RateOutcome>>);

impl RateCell {
    /// This request's outcome, counting the request the first time only; `true` with it when
    /// this was that first time.
    pub fn outcome(&self, count: impl FnOnce() -> RateOutcome) -> (RateOutcome, bool) {
        let mut first = false;
        let outcome = *self.0.get_or_init(|| {
            first = true;
            count()
        });
        (outcome, first)
    }
}

/// Gives each request a [`RateCell`] and writes what it says onto the answer.
pub async fn rate_headers(mut request: Request, next: Next) -> Response {
    let cell = RateCell::default();
    request.extensions_mut().insert(cell.clone());
    let mut response = next.run(request).await;
    if let Some(outcome) = cell.0.get() {
        let headers = response.headers_mut();
        let policy = format!("\"{POLICY}\";q={};w=60", outcome.limit);
        let now = format!(
            "\"{POLICY}\";r={};t={}",
            outcome.remaining,
            whole_seconds(outcome.full_in)
        );
        for (name, value) in [(RATE_LIMIT_POLICY, policy), (RATE_LIMIT, now)] {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
    }
    response
}

/// Seconds, rounded up: a client that waits this long is never early.
fn whole_seconds(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_spends_its_own_budget_and_is_told_how_long_to_wait() {
        let rates = ClientRates::new(DEFAULT_REQUESTS_PER_MINUTE);
        let three = NonZeroU32::new(3).unwrap();
        let outcomes: Vec<_> = (0..4).map(|_| rates.check("case-system", three)).collect();
        assert_eq!(
            outcomes.iter().map(|o| o.remaining).collect::<Vec<_>>(),
            [2, 1, 0, 0]
        );
        assert!(outcomes[..3].iter().all(|o| o.wait.is_none()));
        let wait = outcomes[3].wait.unwrap();
        assert!(wait > Duration::from_secs(19) && wait <= Duration::from_secs(20));
        // Another client's budget is its own.
        assert_eq!(rates.check("scheduler", three).remaining, 2);
        // A new budget starts a new bucket.
        let more = NonZeroU32::new(10).unwrap();
        assert_eq!(rates.check("case-system", more).remaining, 9);
        assert_eq!(rates.limit_for(None), DEFAULT_REQUESTS_PER_MINUTE);
        assert_eq!(rates.limit_for(Some(three)), three);
    }

    #[test]
    fn a_request_is_counted_once_however_often_it_is_authenticated() {
        let rates = ClientRates::new(DEFAULT_REQUESTS_PER_MINUTE);
        let two = NonZeroU32::new(2).unwrap();
        let cell = RateCell::default();
        let firsts: Vec<bool> = (0..3)
            .map(|_| cell.outcome(|| rates.check("case-system", two)).1)
            .collect();
        assert_eq!(firsts, [true, false, false]);
        assert_eq!(rates.check("case-system", two).remaining, 0);
    }
}
