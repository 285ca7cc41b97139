//! The one clock the server reads for time-based rules: token issue and expiry, refresh-token
//! lifetimes, sessions and how long an event stream may stay open, and messaging's working
//! hours.
//!
//! It is the system clock except in tests, which hold a [`ManualClock`]: time stands still until
//! the test moves it, so "the token has expired" or "23:00 in London" is a fact the test states,
//! not a wait or the hour the suite happens to run. Whatever sleeps until an instant
//! ([`Clock::sleep_until`]) wakes when a manual clock is moved past it, so a test never waits
//! for real time to pass.

use std::sync::Arc;

use chrono::{DateTime, SubsecRound, Utc};
use tokio::sync::watch;

/// Where "now" comes from. Cheap to clone; clones of a manual clock share one time.
#[derive(Clone, Debug, Default)]
pub enum Clock {
    #[default]
    System,
    /// Tests: moves only when told to.
    Manual(ManualClock),
}

impl Clock {
    /// The current instant, at the precision the store keeps (microseconds), so a time written
    /// and read back compares equal.
    pub fn now(&self) -> DateTime<Utc> {
        let now = match self {
            Clock::System => Utc::now(),
            Clock::Manual(manual) => manual.now(),
        };
        now.trunc_subsecs(6)
    }

    /// Returns once this clock reads `deadline` or later.
    pub async fn sleep_until(&self, deadline: DateTime<Utc>) {
        match self {
            Clock::System => loop {
                // Tokio's timer runs on the monotonic clock; measuring again after each wake
                // keeps the deadline right if the wall clock was stepped meanwhile.
                let Ok(left) = (deadline - Utc::now()).to_std() else {
                    return;
                };
                if left.is_zero() {
                    return;
                }
                tokio::time::sleep(left).await;
            },
            Clock::Manual(manual) => manual.sleep_until(deadline).await,
        }
    }
}

impl From<ManualClock> for Clock {
    fn from(manual: ManualClock) -> Self {
        Clock::Manual(manual)
    }
}

/// A clock for tests: it reads the instant it was set to until [`advance`](Self::advance)d.
#[derive(Clone, Debug)]
pub struct ManualClock {
    // A watch channel rather than a mutex: sleepers subscribe and are woken by every move.
    time: Arc<watch::Sender<DateTime<Utc>>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            time: Arc::new(watch::Sender::new(start)),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        *self.time.borrow()
    }

    /// Moves time forward, waking whatever sleeps until an instant now passed.
    pub fn advance(&self, by: chrono::Duration) {
        self.time.send_modify(|now| *now += by);
    }

    async fn sleep_until(&self, deadline: DateTime<Utc>) {
        let mut moves = self.time.subscribe();
        // The sender lives as long as `self`, so the channel cannot close while this waits.
        let _ = moves.wait_for(|now| *now >= deadline).await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_sleeper_on_a_manual_clock_wakes_when_time_is_moved_past_its_deadline() {
        let start: DateTime<Utc> = "2026-01-14T11:00:00Z".parse().unwrap();
        let manual = ManualClock::new(start);
        let clock = Clock::from(manual.clone());
        let deadline = start + chrono::Duration::minutes(5);
        let sleeper = tokio::spawn({
            let clock = clock.clone();
            async move { clock.sleep_until(deadline).await }
        });
        manual.advance(chrono::Duration::minutes(4));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!sleeper.is_finished(), "four minutes are not five");
        manual.advance(chrono::Duration::minutes(1));
        tokio::time::timeout(Duration::from_secs(5), sleeper)
            .await
            .expect("woken by the move")
            .unwrap();
        assert_eq!(clock.now(), deadline);
    }

    #[tokio::test]
    async fn the_system_clock_sleeps_in_real_time() {
        let clock = Clock::System;
        let deadline = clock.now() + chrono::Duration::milliseconds(30);
        clock.sleep_until(deadline).await;
        assert!(clock.now() >= deadline);
        // A deadline already past returns at once.
        tokio::time::timeout(Duration::from_secs(1), clock.sleep_until(deadline))
            .await
            .unwrap();
    }
}
