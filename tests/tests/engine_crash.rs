//! Crash safety (SPEC §5, MOBILE.md §6): a phone killed at any moment loses no write it
//! accepted and sends none twice.
//!
//! A small binary using the engine (`src/bin/phone.rs`) queues messages and plan comments
//! tagged `crash-<run>-<j>` and drains its outbox; it is SIGKILLed at random points — while queueing,
//! mid-request, while draining, while the server is down or coming back — and started again on
//! the same store, hundreds of times. The server flaps (stopped and restarted on the same
//! database and address), and its clock jumps now and then, so a request abandoned by a killed
//! phone outlives its idempotency lease and access tokens lapse (refreshes are killed too). At
//! the end the phone runs to completion with the server up, and jo's view of the conversation
//! and alex's plan's comments are counted: every write the phone acknowledged is there exactly
//! once, no write is there twice, and messages are in the order they were queued.
//!
//! `LIVINGWELL_CRASH_ITERATIONS` (default 300) sets the number of starts, for long runs by
//! hand; `LIVINGWELL_CRASH_SEED` replays a run (the seed is printed first, and in every
//! failure).

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroU32;
use std::process::Stdio;
use std::time::{Duration, Instant};

use chrono::Utc;
use livingwell_server::auth::throttle::ThrottleSettings;
use livingwell_server::http::Settings;
use livingwell_server::service::messaging::{MessagingSettings, SendRate};
use livingwell_tests::crash::{parse_body, parse_tag};
use livingwell_tests::{Backend, ManualClock, TestServer, on_both_databases};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::StatusCode;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

on_both_databases!(a_phone_killed_at_random_points_loses_no_write_and_sends_none_twice);

const DEFAULT_ITERATIONS: usize = 300;
/// The longest a start lives before it is killed: long enough to queue its writes and drain
/// them (it is killed in either phase), short enough for hundreds of starts in a minute or two.
const MAX_LIFETIME_MS: u64 = 450;
/// A start's writes: between one and this many.
const MAX_WRITES: u32 = 10;
/// The final start, with the server up, must drain within this.
const FINAL_DRAIN: Duration = Duration::from_secs(90);

/// One start of the phone, and what it printed before it ended.
struct Start {
    child: Child,
    lines: tokio::task::JoinHandle<Vec<String>>,
}

/// What one start said, once it is over.
struct Record {
    lines: Vec<String>,
    /// The start ended by itself (it drained everything), rather than being killed.
    finished: bool,
    success: bool,
}

impl Record {
    fn acknowledged(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.lines
            .iter()
            .filter_map(|line| line.strip_prefix("queued "))
            .map(|tag| parse_tag(tag).expect("a tag the phone made"))
    }

    fn draining(&self) -> bool {
        self.lines.iter().any(|line| line == "phase draining")
    }

    /// Killed while a request may have been on the wire: a send started and not reported.
    fn mid_send(&self) -> bool {
        self.lines.last().is_some_and(|line| line == "sending")
    }
}

struct Phone {
    _dir: tempfile::TempDir,
    store: std::path::PathBuf,
    secrets: std::path::PathBuf,
    server: String,
    conversation: String,
    person: String,
}

impl Phone {
    fn start(&self, run: u32, writes: u32, seed: u64) -> Start {
        let mut child = Command::new(env!("CARGO_BIN_EXE_phone"))
            .arg("--store")
            .arg(&self.store)
            .arg("--secrets")
            .arg(&self.secrets)
            .args(["--server", &self.server])
            .args(["--conversation", &self.conversation])
            .args(["--person", &self.person])
            .args(["--run", &run.to_string()])
            .args(["--writes", &writes.to_string()])
            .args(["--seed", &seed.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("the phone binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        // Read as it is written, so a full pipe never holds the phone up.
        let lines = tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            let mut read = Vec::new();
            while let Ok(Some(line)) = lines.next_line().await {
                read.push(line);
            }
            read
        });
        Start { child, lines }
    }
}

impl Start {
    /// SIGKILLs the phone (if it has not ended by itself) and collects what it printed.
    async fn kill(mut self) -> Record {
        let finished = self.child.try_wait().expect("the phone's status").is_some();
        if !finished {
            // `Child::kill` sends SIGKILL on Unix and waits for the process to be gone.
            self.child.kill().await.expect("SIGKILL the phone");
        }
        let status = self.child.wait().await.expect("the phone's status");
        let lines = self.lines.await.expect("the phone's output");
        Record {
            lines,
            finished,
            success: status.success(),
        }
    }

    /// Waits for the phone to end by itself.
    async fn finish(mut self, within: Duration) -> Record {
        let status = tokio::time::timeout(within, self.child.wait()).await;
        let finished = matches!(status, Ok(Ok(_)));
        let success = matches!(status, Ok(Ok(status)) if status.success());
        if !finished {
            let _ = self.child.kill().await;
        }
        let lines = self.lines.await.expect("the phone's output");
        Record {
            lines,
            finished,
            success,
        }
    }
}

/// What the run did, to show it tested what it claims.
#[derive(Debug, Default)]
struct Tally {
    starts: usize,
    killed_queueing: usize,
    killed_draining: usize,
    killed_while_sending: usize,
    killed_offline: usize,
    drained_by_itself: usize,
    stops: usize,
    clock_jumps: usize,
    sign_ins: usize,
    acknowledged: usize,
}

fn iterations() -> usize {
    std::env::var("LIVINGWELL_CRASH_ITERATIONS")
        .ok()
        .map(|n| n.parse().expect("LIVINGWELL_CRASH_ITERATIONS is a number"))
        .unwrap_or(DEFAULT_ITERATIONS)
}

fn seed() -> u64 {
    std::env::var("LIVINGWELL_CRASH_SEED")
        .ok()
        .map(|n| n.parse().expect("LIVINGWELL_CRASH_SEED is a number"))
        .unwrap_or_else(|| rand::thread_rng().r#gen())
}

/// A server whose limits do not get in the way of hundreds of starts (the phone signs in
/// again whenever a kill cost it its session, and sends far faster than a person), and whose
/// clock the journey moves.
async fn server(backend: Backend, clock: &ManualClock) -> TestServer {
    let many = NonZeroU32::new(1_000_000).expect("not zero");
    let settings = Settings {
        throttle: ThrottleSettings {
            per_account_burst: many,
            per_address_burst: many,
            replenish_every: Duration::from_millis(1),
        },
        messaging: MessagingSettings {
            send_rate: Some(SendRate {
                burst: many,
                replenish_every: Duration::from_millis(1),
            }),
            ..MessagingSettings::default()
        },
        clock: clock.clone().into(),
        ..Settings::default()
    };
    TestServer::start_with(backend, settings).await.unwrap()
}

/// Every crash-safety message in jo's view of the conversation, oldest first: `(run, j)`.
async fn on_the_server(server: &TestServer, conversation: &str) -> Vec<(u32, u32)> {
    let jo = server.login("jo").await;
    let mut found = Vec::new();
    let mut after = 0;
    loop {
        let page = server
            .get(
                &format!("/v1/conversations/{conversation}/messages?limit=200&after_seq={after}"),
                &jo.access_token,
            )
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        let messages = page.body["messages"].as_array().unwrap();
        if messages.is_empty() {
            return found;
        }
        for message in messages {
            let seq = message["seq"].as_i64().unwrap();
            assert!(seq > after, "pages in order");
            after = seq;
            if let Some(tag) = message["content"]["body"].as_str().and_then(parse_body) {
                found.push(tag);
            }
        }
    }
}

/// Every crash-safety comment on alex's plan: `(run, j)`, in no promised order.
async fn comments_on_the_server(server: &TestServer, person: &str) -> Vec<(u32, u32)> {
    let alex = server.login("alex").await;
    let mut found = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = server
            .get(
                &format!("/v1/people/{person}/enablement-plan/comments?limit=100{cursor}"),
                &alex.access_token,
            )
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        for comment in page.body["comments"].as_array().unwrap() {
            if let Some(tag) = comment["body"].as_str().and_then(parse_body) {
                found.push(tag);
            }
        }
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return found,
        }
    }
}

async fn a_phone_killed_at_random_points_loses_no_write_and_sends_none_twice(backend: Backend) {
    let seed = seed();
    let iterations = iterations();
    eprintln!("crash safety on {backend:?}: seed {seed}, {iterations} starts");
    let began = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed);
    let clock = ManualClock::new(Utc::now());
    let mut server = server(backend, &clock).await;
    let alex = server.login("alex").await;
    let conversation = server.peer_conversation(&alex.access_token).await;
    let person = alex.person_id.clone().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let phone = Phone {
        store: dir.path().join("store"),
        secrets: dir.path().join("secrets"),
        _dir: dir,
        server: server.base_url.clone(),
        conversation: conversation.clone(),
        person: person.clone(),
    };

    let mut acknowledged: BTreeSet<(u32, u32)> = BTreeSet::new();
    let mut planned: BTreeMap<u32, u32> = BTreeMap::new();
    let mut tally = Tally::default();
    let mut up = true;
    // Starts left before the server's state flips (down for a few, up for many).
    let mut flip_in = rng.gen_range(5..20);
    for run in 0..iterations {
        let run = u32::try_from(run).unwrap();
        let writes = rng.gen_range(1..=MAX_WRITES);
        planned.insert(run, writes);
        let lifetime = Duration::from_millis(rng.gen_range(0..MAX_LIFETIME_MS));
        let start = phone.start(run, writes, rng.r#gen());

        flip_in -= 1;
        let was_up = up;
        if flip_in == 0 {
            // The server goes down or comes back at a random point of this start's life, so
            // kills land mid-request, while offline and just after the signal returns.
            let at = lifetime.mul_f64(rng.gen_range(0.0..1.0));
            tokio::time::sleep(at).await;
            if up {
                server.stop().await;
                tally.stops += 1;
                flip_in = rng.gen_range(2..7);
            } else {
                server.restart().await.unwrap();
                flip_in = rng.gen_range(10..30);
            }
            up = !up;
            tokio::time::sleep(lifetime.saturating_sub(at)).await;
        } else {
            tokio::time::sleep(lifetime).await;
        }
        let record = start.kill().await;
        tally.starts += 1;

        if record.finished {
            assert!(
                record.success,
                "seed {seed}: start {run} ended by itself and failed: {:?}",
                record.lines
            );
            tally.drained_by_itself += 1;
        } else if record.draining() {
            tally.killed_draining += 1;
        } else {
            tally.killed_queueing += 1;
        }
        if !record.finished && (!up || !was_up) {
            tally.killed_offline += 1;
        }
        if !record.finished && record.mid_send() {
            tally.killed_while_sending += 1;
        }
        tally.sign_ins += record.lines.iter().filter(|l| *l == "signed-in").count();
        for tag in record.acknowledged() {
            assert_eq!(tag.0, run, "seed {seed}: start {run} wrote {tag:?}");
            acknowledged.insert(tag);
        }

        // Now and then the server's clock jumps past the idempotency lease (a request a
        // killed phone abandoned is let go) and, every other time, past the access token's
        // life (the phone must refresh, and may be killed doing it).
        if rng.gen_range(0..25) == 0 {
            clock.advance(chrono::Duration::minutes(3));
            tally.clock_jumps += 1;
        }
    }

    // The signal is back for good; the phone runs until its outbox is empty.
    if !up {
        server.restart().await.unwrap();
    }
    clock.advance(chrono::Duration::minutes(3));
    let last = u32::try_from(iterations).unwrap();
    let record = phone.start(last, 0, 0).finish(FINAL_DRAIN).await;
    assert!(
        record.finished && record.success && record.lines.last().is_some_and(|l| l == "empty"),
        "seed {seed}: the final start did not drain within {FINAL_DRAIN:?}: {:?}",
        record.lines
    );
    tally.acknowledged = acknowledged.len();

    // Counted on the server: jo's view of the conversation, and alex's plan's comments.
    let found = on_the_server(&server, &conversation).await;
    let comments = comments_on_the_server(&server, &person).await;
    let mut counts: BTreeMap<(u32, u32), usize> = BTreeMap::new();
    for tag in found.iter().chain(&comments) {
        *counts.entry(*tag).or_default() += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "seed {seed}: sent more than once: {twice:?}"
    );
    let lost: Vec<_> = acknowledged
        .iter()
        .filter(|tag| !counts.contains_key(tag))
        .collect();
    assert!(
        lost.is_empty(),
        "seed {seed}: acknowledged and lost: {lost:?}"
    );
    // One conversation is one queue: the server holds its messages in the order they were
    // queued, start after start.
    assert!(
        found.windows(2).all(|pair| pair[0] < pair[1]),
        "seed {seed}: out of order: {found:?}"
    );
    // A start's writes are queued one after another, so what reached the server of a start
    // is a prefix of its plan: a gap would be a write lost though it never said so.
    for (run, writes) in &planned {
        let sent: Vec<u32> = counts
            .keys()
            .filter(|(r, _)| r == run)
            .map(|(_, j)| *j)
            .collect();
        assert!(
            sent.iter()
                .copied()
                .eq(0..u32::try_from(sent.len()).unwrap()),
            "seed {seed}: start {run} reached the server as {sent:?}"
        );
        assert!(sent.len() <= *writes as usize);
    }

    eprintln!(
        "crash safety on {backend:?}: seed {seed}, {} messages and {} comments on the server, \
         {:?}, {:.1?}",
        found.len(),
        comments.len(),
        tally,
        began.elapsed()
    );
    // The run tested what it claims: kills in each phase, mid-request and while offline
    // (a short run by hand may not reach them all).
    assert_eq!(tally.starts, iterations);
    if iterations < DEFAULT_ITERATIONS {
        return;
    }
    assert!(tally.killed_queueing > 0, "seed {seed}: {tally:?}");
    assert!(tally.killed_draining > 0, "seed {seed}: {tally:?}");
    assert!(tally.killed_while_sending > 0, "seed {seed}: {tally:?}");
    assert!(tally.killed_offline > 0, "seed {seed}: {tally:?}");
    assert!(tally.stops > 0, "seed {seed}: {tally:?}");
    assert!(tally.acknowledged > 0, "seed {seed}: {tally:?}");
    assert!(!comments.is_empty(), "seed {seed}: {tally:?}");
}
