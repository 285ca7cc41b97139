//! Draining the outbox: each queue's oldest write sent, once, in order.
//!
//! Policy (what each answer does to a write; the rows are [`crate::store`]'s):
//! - **Sent** (2xx, or a replay of the first answer, or `409 idempotency_answer_lost`: the
//!   server applied it and lost the answer): the write leaves the outbox and the server's
//!   records replace the optimistic ones, in one transaction.
//! - **Transient** (no network, 5xx, 408, 429, `409 idempotency_in_progress`): tried again
//!   after an exponential backoff with full jitter (1 s doubling to 5 minutes), or after the
//!   server's `Retry-After` when it is longer. The queue waits; nothing overtakes.
//! - **Step-up** (`401 step_up_required`): the write waits in "sign in again to send" until the
//!   person enters their password; then it is queued again.
//! - **Refused** (403, 404, 409, 410, 422): the write is wedged with the server's code and the
//!   fields it named, and holds its queue until the person retries, edits or discards it.
//! - **Session over** (the refresh token was refused): the drain stops; nothing changes.
//!
//! A write is sent with the idempotency key it was queued with, so a write the server applied
//! whose answer was lost (the phone killed mid-request) is answered again, never applied twice.

use std::future::Future;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use livingwell_core::api::sync::SyncRecord;
use rand::Rng;

use crate::store::{QueuedWrite, Store, StoreResult, WriteState};

/// The first wait after a transient failure.
const FIRST_BACKOFF: StdDuration = StdDuration::from_secs(1);
/// The longest wait between tries.
const MAX_BACKOFF: StdDuration = StdDuration::from_secs(5 * 60);

/// What sending one write came to.
#[derive(Debug)]
pub enum Attempt {
    /// The server has it; these records are what it answered with, as the store keeps them.
    Sent(Vec<SyncRecord>),
    /// Try again later; the server may have said when.
    Transient { retry_after: Option<StdDuration> },
    /// The person must enter their password again before this can go.
    StepUp,
    /// The server refused it: its status, error code and the fields it named.
    Refused {
        status: u16,
        code: String,
        fields: Vec<String>,
    },
    /// The session is over: stop draining until the person signs in again.
    SessionOver,
}

/// How a drain ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Drained {
    pub sent: usize,
    /// Writes that will be tried again later.
    pub postponed: usize,
    /// Writes waiting for the person (refused, or needing the password).
    pub waiting: usize,
    pub session_over: bool,
}

/// How long to wait before try `attempts` (1 for the first retry): full jitter over an
/// exponential ceiling, or the server's `Retry-After` when longer.
pub fn backoff(attempts: u32, retry_after: Option<StdDuration>) -> StdDuration {
    let ceiling = FIRST_BACKOFF
        .saturating_mul(1u32 << attempts.saturating_sub(1).min(16))
        .min(MAX_BACKOFF);
    let jittered = rand::thread_rng().gen_range(StdDuration::ZERO..=ceiling);
    retry_after.map_or(jittered, |asked| asked.max(jittered))
}

/// Sends what is ready until nothing is: each queue's oldest write, through `send`, recording
/// each answer as the policy says. `now` is read before each round (a test clock, or the
/// system's).
pub async fn drain<S, F>(
    store: &Store,
    now: impl Fn() -> DateTime<Utc>,
    mut send: S,
) -> StoreResult<Drained>
where
    S: FnMut(QueuedWrite) -> F,
    F: Future<Output = Attempt>,
{
    let mut drained = Drained::default();
    loop {
        let ready = store.ready(now())?;
        if ready.is_empty() {
            return Ok(drained);
        }
        for write in ready {
            let (id, attempts) = (write.id, write.attempts);
            match send(write).await {
                Attempt::Sent(records) => {
                    store.sent(id, &records)?;
                    drained.sent += 1;
                }
                Attempt::Transient { retry_after } => {
                    let attempts = attempts.saturating_add(1);
                    let wait = backoff(attempts, retry_after);
                    let not_before =
                        now() + Duration::from_std(wait).unwrap_or_else(|_| Duration::minutes(5));
                    store.postpone(id, attempts, not_before)?;
                    drained.postponed += 1;
                }
                Attempt::StepUp => {
                    store.set_state(id, &WriteState::StepUp)?;
                    drained.waiting += 1;
                }
                Attempt::Refused {
                    status,
                    code,
                    fields,
                } => {
                    store.set_state(
                        id,
                        &WriteState::Wedged {
                            status,
                            code,
                            fields,
                        },
                    )?;
                    drained.waiting += 1;
                }
                Attempt::SessionOver => {
                    drained.session_over = true;
                    return Ok(drained);
                }
            }
        }
    }
}

/// After the person entered their password: writes waiting for it are queued again.
pub fn release_step_ups(store: &Store) -> StoreResult<usize> {
    let waiting: Vec<QueuedWrite> = store
        .queued()?
        .into_iter()
        .filter(|write| write.state == WriteState::StepUp)
        .collect();
    for write in &waiting {
        store.set_state(write.id, &WriteState::Queued)?;
    }
    Ok(waiting.len())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::{NewWrite, WriteRequest, new_store_key};

    #[test]
    fn backoff_grows_to_a_ceiling_and_honours_retry_after() {
        for attempts in 1..30 {
            assert!(backoff(attempts, None) <= MAX_BACKOFF);
        }
        assert!(backoff(1, None) <= FIRST_BACKOFF);
        assert!(backoff(3, None) <= FIRST_BACKOFF * 4);
        let asked = StdDuration::from_secs(7);
        assert!(backoff(1, Some(asked)) >= asked);
    }

    fn queued(store: &Store, queue: &str, text: &str) -> i64 {
        store
            .enqueue(
                &NewWrite {
                    queue: queue.into(),
                    person: None,
                    idempotency_key: uuid::Uuid::new_v4().to_string(),
                    request: WriteRequest {
                        method: "POST".into(),
                        path: "/v1/x".into(),
                        body: Some(json!({"text": text})),
                    },
                    priority: 0,
                },
                &[],
                Utc::now(),
            )
            .unwrap()
            .id
    }

    #[tokio::test]
    async fn each_answer_moves_the_write_as_the_policy_says_and_order_holds() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &new_store_key()).unwrap();
        let a1 = queued(&store, "a", "a1");
        let a2 = queued(&store, "a", "a2");
        let b1 = queued(&store, "b", "b1");
        let c1 = queued(&store, "c", "c1");
        let mut seen = Vec::new();
        let drained = drain(&store, Utc::now, |write| {
            seen.push(write.id);
            let answer = match write.queue.as_str() {
                "a" => Attempt::Sent(Vec::new()),
                "b" => Attempt::Transient {
                    retry_after: Some(StdDuration::from_secs(60)),
                },
                _ => Attempt::Refused {
                    status: 422,
                    code: "invalid".into(),
                    fields: vec!["text".into()],
                },
            };
            async move { answer }
        })
        .await
        .unwrap();
        // a1 before a2; b1 tried once and waits a minute; c1 wedged.
        assert_eq!(seen, [a1, b1, c1, a2]);
        assert_eq!(
            drained,
            Drained {
                sent: 2,
                postponed: 1,
                waiting: 1,
                session_over: false
            }
        );
        let left = store.queued().unwrap();
        assert_eq!(left.iter().map(|w| w.id).collect::<Vec<_>>(), [b1, c1]);
        assert!(left[0].not_before >= Utc::now() + Duration::seconds(59));
        assert!(matches!(
            left[1].state,
            WriteState::Wedged { status: 422, .. }
        ));

        // The session ends: the drain stops with the write untouched.
        let later = || Utc::now() + Duration::minutes(2);
        let drained = drain(&store, later, |_| async { Attempt::SessionOver })
            .await
            .unwrap();
        assert!(drained.session_over);
        assert_eq!(store.queued().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_write_needing_the_password_waits_and_goes_once_it_is_entered() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &new_store_key()).unwrap();
        let grant = queued(&store, "consents", "share");
        let after = queued(&store, "consents", "share more");
        drain(&store, Utc::now, |_| async { Attempt::StepUp })
            .await
            .unwrap();
        assert_eq!(store.queued().unwrap()[0].state, WriteState::StepUp);
        assert!(
            store.ready(Utc::now()).unwrap().is_empty(),
            "the queue waits"
        );
        assert_eq!(release_step_ups(&store).unwrap(), 1);
        let mut sent = Vec::new();
        drain(&store, Utc::now, |write| {
            sent.push(write.id);
            async { Attempt::Sent(Vec::new()) }
        })
        .await
        .unwrap();
        assert_eq!(sent, [grant, after]);
    }
}
