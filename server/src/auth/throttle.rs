//! Sign-in throttling, per account and per client address.
//!
//! Both limits are token buckets (governor): a burst of attempts is allowed, then one more per
//! interval. When either is exhausted the answer is 429 with `Retry-After`, the same for known
//! and unknown accounts so the throttle reveals nothing. Counts are per process; several
//! processes each allow their own share, which still bounds guessing.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

#[derive(Clone, Copy, Debug)]
pub struct ThrottleSettings {
    /// Attempts one account may make in a burst.
    pub per_account_burst: NonZeroU32,
    /// Attempts one address may make in a burst.
    pub per_address_burst: NonZeroU32,
    /// How often one more attempt is allowed after a burst.
    pub replenish_every: Duration,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        Self {
            per_account_burst: NonZeroU32::MIN.saturating_add(4),
            per_address_burst: NonZeroU32::MIN.saturating_add(29),
            replenish_every: Duration::from_secs(12),
        }
    }
}

/// Above this many remembered keys, keys with full buckets are dropped.
const FORGET_ABOVE_KEYS: usize = 10_000;

#[derive(Debug)]
pub struct LoginThrottle {
    accounts: DefaultKeyedRateLimiter<String>,
    addresses: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
}

impl LoginThrottle {
    pub fn new(settings: ThrottleSettings) -> Self {
        let quota = |burst| {
            Quota::with_period(settings.replenish_every)
                .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
                .allow_burst(burst)
        };
        Self {
            accounts: RateLimiter::keyed(quota(settings.per_account_burst)),
            addresses: RateLimiter::keyed(quota(settings.per_address_burst)),
            clock: DefaultClock::default(),
        }
    }

    /// Counts one attempt; `Err(wait)` when the caller must wait before trying again.
    pub fn check(&self, username: &str, address: IpAddr) -> Result<(), Duration> {
        // Forget keys whose buckets are full again, so guessing many names cannot grow memory
        // without bound.
        if self.accounts.len() > FORGET_ABOVE_KEYS {
            self.accounts.retain_recent();
        }
        if self.addresses.len() > FORGET_ABOVE_KEYS {
            self.addresses.retain_recent();
        }
        let now = self.clock.now();
        self.addresses
            .check_key(&address)
            .and_then(|()| self.accounts.check_key(&username.to_lowercase()))
            .map_err(|not_until| not_until.wait_time_from(now))
    }
}
