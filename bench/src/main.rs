//! Messaging load harness: how many messages per second the server stores (durable,
//! idempotent, audited), and how long a message takes from the sender's request to the
//! recipient's open event stream, with 100 event streams open — on SQLite, on Postgres, and on
//! Postgres with the streams on a second server process. Then the phone's engine against the
//! same build ([`engine`]): a sync with nothing new on the wire, opening the store and reading the
//! crisis plan cold and warm, and the first sync of a person with 10,000 messages. On request
//! (`--only growth`), every path again on databases of 1,000 to 100,000 people ([`growth`]).
//!
//! Every figure is also given as a ratio to a ceiling measured in the same run on the same
//! machine (`/healthz` of the same build with the same client; `pgbench -N` for Postgres; Matrix
//! Synapse, the peer, started and driven by this harness before our phases: [`peer`]), because
//! absolute figures drift from run to run (see `TARGETS.md`). Everything runs on
//! loopback, on fresh databases made and dropped by the harness, for a bounded time, and stops
//! by itself. It is a binary, not a test: `cargo run --release -p bench`.

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use livingwell_core::api::sync::SyncResponse;
use livingwell_core::domain::message::{
    Availability, ClientMessageId, ClockTime, ConversationId, Day, MessageId, WorkingSpan,
};
use livingwell_core::domain::{PersonId, Role, TeamId, UserId};
use livingwell_server::auth::throttle::ThrottleSettings;
use livingwell_server::clock::Clock;
use livingwell_server::http::{self, AppState, MessagingSettings, Settings};
use livingwell_server::store::messages::{ConversationKey, NewMessage, NewSend};
use livingwell_server::store::{self, PersonRecord, Store, TeamRecord, UserRecord};
use livingwell_testkit::{Backend, TestDatabase};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

mod engine;
mod growth;
mod peer;
mod reads;

/// Longest a phase may be asked to run.
const MAX_SECONDS: u64 = 60;
/// The password of every bench account.
const PASSWORD: &str = "bench-password-not-secret";
/// Where the peer's scripts live: `../shared/peer-bench/` beside the repository.
const PEER_BENCH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/peer-bench");

#[derive(Debug, Parser)]
#[command(
    name = "bench",
    about = "Living Well load harness (loopback only): messaging, then the phone's engine"
)]
struct Args {
    /// Seconds per measured phase (at most 60).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Open event streams (half people, half their peer workers).
    #[arg(long, default_value_t = 100)]
    streams: usize,
    /// Concurrent senders in the throughput phase (and connections for `/healthz`).
    #[arg(long, default_value_t = 16)]
    senders: usize,
    /// Messages per second in the latency phase (paced, not saturating).
    #[arg(long, default_value_t = 100)]
    paced_rate: u32,
    /// `sqlite`, `postgres` or `both`.
    #[arg(long, default_value = "both")]
    backend: String,
    /// Skip the `pgbench -N` ceiling.
    #[arg(long)]
    no_pgbench: bool,
    /// Run one part only (all run by default: messaging, then reads, then the engine).
    #[arg(long, value_enum)]
    only: Option<Part>,
    /// Senders in the peer-shaped phase, ours and Synapse's alike (one conversation, one room).
    #[arg(long, default_value_t = 8)]
    peer_senders: usize,
    /// Skip measuring Matrix Synapse (the messaging ratios to it are then not given).
    #[arg(long)]
    no_peer: bool,
    /// The peer's scripts (`setup.sh`, `stop.sh`).
    #[arg(long, default_value = PEER_BENCH)]
    peer_bench: std::path::PathBuf,
    /// A quick check of a change (under two minutes here): 2 s phases, without the peer and
    /// the `pgbench` ceilings (and, with `--only growth`, sizes 1000,5000: about 2.5 minutes).
    #[arg(long)]
    quick: bool,
    /// People at each size of the growth part, ascending [default: 1000,10000,100000].
    #[arg(long, value_delimiter = ',')]
    sizes: Option<Vec<usize>>,
}

/// The parts of the harness.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Part {
    /// Matrix Synapse on each database first, then our messages/s (in the peer's shape too),
    /// delivery latency and the server's sync cost, with 100 open event streams (about a minute
    /// per backend at 10 s phases).
    Messaging,
    /// Audited reads — `/v1/me`, the plans, appointments, messages, the access log — at 32
    /// connections, against `/healthz` (SQLite) and `pgbench -S` (Postgres) of the same run.
    Reads,
    /// The phone's engine against the server: no-change sync bytes on the wire, open + read the
    /// crisis plan cold and warm, the first sync of 10,000 messages (under a minute per
    /// backend; not governed by --seconds).
    Engine,
    /// Every path above at 32 connections on databases of 1,000, 10,000 and 100,000 people
    /// (10M messages at the largest), and how much each p50 grows. Only run when asked for: the
    /// largest size takes minutes to seed and ~10 GB per database.
    Growth,
}

/// One line of the report: `(label, value)`.
type Figures = Vec<(String, String)>;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    if args.quick {
        args.seconds = 2;
        args.no_peer = true;
        args.no_pgbench = true;
    }
    if args.seconds == 0 || args.seconds > MAX_SECONDS {
        bail!("--seconds must be 1..={MAX_SECONDS}");
    }
    if args.streams < 2 || !args.streams.is_multiple_of(2) {
        bail!("--streams must be an even number of at least 2");
    }
    let phase = Duration::from_secs(args.seconds);
    let mut report: Vec<(String, Figures)> = Vec::new();

    let messaging = args.only.is_none_or(|only| only == Part::Messaging);
    let reads = args.only.is_none_or(|only| only == Part::Reads);
    let engine = args.only.is_none_or(|only| only == Part::Engine);
    let growth = args.only == Some(Part::Growth);
    let mut sizes = args.sizes.clone().unwrap_or_else(|| {
        if args.quick {
            vec![1_000, 5_000]
        } else {
            vec![1_000, 10_000, 100_000]
        }
    });
    sizes.sort_unstable();
    if sizes.first().is_none_or(|&smallest| smallest == 0) {
        bail!("--sizes must name at least one size, each of at least one person");
    }
    let pgbench = if messaging && args.backend != "sqlite" && !args.no_pgbench {
        say("measuring the pgbench -N ceiling …");
        match pgbench_tps(Pgbench::SimpleUpdate, phase).await {
            Ok(tps) => Some(tps),
            Err(error) => {
                say(&format!("  pgbench not measured: {error:#}"));
                None
            }
        }
    } else {
        None
    };

    // The peer first, on each database our runs use, so every ratio to it is to this run's.
    let mut peers: Vec<(Backend, peer::PeerFigures)> = Vec::new();
    if messaging && !args.no_peer {
        let databases: &[(Backend, peer::PeerDatabase)] = match args.backend.as_str() {
            "sqlite" => &[(Backend::Sqlite, peer::PeerDatabase::Sqlite)],
            "postgres" => &[(Backend::Postgres, peer::PeerDatabase::Postgres)],
            _ => &[
                (Backend::Sqlite, peer::PeerDatabase::Sqlite),
                (Backend::Postgres, peer::PeerDatabase::Postgres),
            ],
        };
        for (backend, database) in databases {
            say(&format!("== Matrix Synapse on {database:?}"));
            match peer::measure(&args.peer_bench, *database, args.peer_senders, phase).await {
                Ok(figures) => {
                    peers.push((*backend, figures));
                }
                Err(error) => say(&format!("  Synapse not measured: {error:#}")),
            }
        }
    }

    let runs: &[(&str, Backend, bool)] = match args.backend.as_str() {
        "sqlite" => &[("SQLite, one process", Backend::Sqlite, false)],
        "postgres" => &[
            ("Postgres, one process", Backend::Postgres, false),
            (
                "Postgres, streams on a second process",
                Backend::Postgres,
                true,
            ),
        ],
        "both" => &[
            ("SQLite, one process", Backend::Sqlite, false),
            ("Postgres, one process", Backend::Postgres, false),
            (
                "Postgres, streams on a second process",
                Backend::Postgres,
                true,
            ),
        ],
        other => bail!("unknown backend {other:?}"),
    };
    if messaging {
        for (name, backend, two_processes) in runs {
            say(&format!("== {name}"));
            let figures = run(
                &args,
                *backend,
                *two_processes,
                phase,
                pgbench,
                peers
                    .iter()
                    .find(|(measured, _)| measured == backend)
                    .map(|(_, figures)| *figures),
            )
            .await?;
            report.push(((*name).to_owned(), figures));
        }
    }
    if reads {
        let pgbench_select = if args.backend != "sqlite" && !args.no_pgbench {
            say("measuring the pgbench -S ceiling …");
            pgbench_tps(Pgbench::SelectOnly, phase)
                .await
                .inspect_err(|error| say(&format!("  pgbench -S not measured: {error:#}")))
                .ok()
        } else {
            None
        };
        for (name, backend, two_processes) in runs {
            if *two_processes {
                continue;
            }
            let name = format!("Audited reads, {name}");
            say(&format!("== {name}"));
            let figures = reads::run(*backend, phase, pgbench_select).await?;
            report.push((name, figures));
        }
    }
    if engine {
        for (name, backend, two_processes) in runs {
            // The engine talks to one server: a second process adds nothing to measure.
            if *two_processes {
                continue;
            }
            let name = format!("The phone's engine, server on {name}");
            say(&format!("== {name}"));
            let figures = engine::run(*backend).await?;
            report.push((name, figures));
        }
    }

    let mut growths = Vec::new();
    if growth {
        for (name, backend, two_processes) in runs {
            // Growth is about the database, not how processes share it.
            if *two_processes {
                continue;
            }
            say(&format!("== Growth, {name}"));
            growths.push(growth::run(*backend, &sizes, phase, !args.no_pgbench).await?);
        }
    }

    say("");
    say(&machine_and_command());
    if messaging {
        say(&format!(
            "Messaging benchmark: {} open event streams, {} senders, {} s per phase, paced latency at {} msg/s",
            args.streams, args.senders, args.seconds, args.paced_rate
        ));
    }
    if let Some(tps) = pgbench {
        say(&format!("pgbench -N -c16 -j2 ceiling: {tps:.0} tps"));
    }
    for (name, figures) in report {
        say("");
        say(&format!("### {name}"));
        say("| figure | value |");
        say("|---|---|");
        for (label, value) in figures {
            say(&format!("| {label} | {value} |"));
        }
    }
    for growth in growths {
        say("");
        say(&growth.markdown());
    }
    Ok(())
}

/// When, where and how the figures were made: the date, the machine's cores and CPU, and the
/// exact command, for the head of a table in bench/README.md.
fn machine_and_command() -> String {
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "CPU not known".to_owned());
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let mut command = "cargo run --release -p bench".to_owned();
    if !arguments.is_empty() {
        command.push_str(" -- ");
        command.push_str(&arguments.join(" "));
    }
    format!(
        "Measured {} UTC on {cores} cores ({cpu}): `{command}`",
        chrono::Utc::now().format("%Y-%m-%d %H:%M"),
    )
}

/// The harness's output is its interface.
fn say(line: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// A running server over the bench database.
struct Server {
    url: String,
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn bench_settings() -> Settings {
    Settings {
        throttle: ThrottleSettings {
            per_account_burst: NonZeroU32::MIN.saturating_add(1_000),
            per_address_burst: NonZeroU32::MIN.saturating_add(10_000),
            replenish_every: Duration::from_millis(1),
        },
        // Off, as `serve --message-rate-limit 0` sets it and as the peer runs (its `rc_message`
        // lifted): a limiter with a huge budget would still cost its check on every send.
        messaging: MessagingSettings {
            send_rate: None,
            ..MessagingSettings::default()
        },
        ..Settings::default()
    }
}

async fn serve(store: Arc<dyn Store>) -> anyhow::Result<Server> {
    let state = AppState::new(store, &bench_settings()).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let url = format!("http://{addr}");
    let app = http::app(state).into_make_service_with_connect_info::<SocketAddr>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(Server { url, addr, task })
}

/// Working hours of every hour of every day, so that no out-of-hours notice joins the measured
/// messages.
fn always_available() -> Availability {
    Availability {
        weekly_hours: [
            Day::Mon,
            Day::Tue,
            Day::Wed,
            Day::Thu,
            Day::Fri,
            Day::Sat,
            Day::Sun,
        ]
        .into_iter()
        .map(|day| WorkingSpan::new(day, ClockTime::MIDNIGHT, ClockTime::END_OF_DAY))
        .collect(),
        away: false,
    }
}

/// One person and their peer worker, with the conversation between them.
#[derive(Clone, Debug)]
struct Pair {
    conversation: ConversationId,
    person: Account,
    worker: Account,
}

#[derive(Clone, Debug)]
struct Account {
    id: UserId,
    username: String,
    token: String,
}

async fn create_pairs(store: &dyn Store, pairs: usize) -> anyhow::Result<Vec<Pair>> {
    let now = Clock::System.now();
    let hash = livingwell_server::auth::passwords::hash(PASSWORD.to_owned()).await?;
    let team = TeamRecord {
        id: TeamId::new(),
        name: "Bench hub".into(),
        hub_address: None,
    };
    store.create_team(&team, now).await?;
    let always = always_available();
    let mut created = Vec::with_capacity(pairs);
    for i in 0..pairs {
        let person = PersonRecord {
            id: PersonId::new(),
            display_name: format!("Bench person {i}"),
            team_id: Some(team.id),
            peer_worker_id: None,
            created_at: now,
        };
        let account = |username: String, role, person_id| UserRecord {
            id: UserId::new(),
            username,
            password_hash: hash.clone(),
            role,
            display_name: format!("Bench account {i}"),
            person_id,
        };
        let person_account = account(
            format!("bench-person-{i}"),
            Role::ServiceUser,
            Some(person.id),
        );
        let worker = account(format!("bench-worker-{i}"), Role::PeerWorker, None);
        store.create_person(&person, Some(&person_account)).await?;
        store.create_user(&worker, now).await?;
        store.allocate_peer(person.id, worker.id, now).await?;
        // Always working, so no out-of-hours notice joins the measured messages.
        store.set_availability(worker.id, &always, now).await?;
        let conversation = store
            .ensure_conversation(ConversationKey::Peer(person.id), now)
            .await?;
        let blank = |user: &UserRecord| Account {
            id: user.id,
            username: user.username.clone(),
            token: String::new(),
        };
        created.push(Pair {
            conversation: conversation.id,
            person: blank(&person_account),
            worker: blank(&worker),
        });
    }
    Ok(created)
}

async fn login(client: &reqwest::Client, url: &str, account: &mut Account) -> anyhow::Result<()> {
    let reply: Value = client
        .post(format!("{url}/v1/auth/login"))
        .json(&json!({"username": account.username, "password": PASSWORD}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    account.token = reply["access_token"]
        .as_str()
        .context("an access token")?
        .to_owned();
    Ok(())
}

/// When each message reached each account's stream.
type Arrivals = mpsc::UnboundedSender<(String, UserId, Instant)>;

/// Holds one event stream open and reports every `message_created` it carries.
async fn stream_events(
    client: reqwest::Client,
    url: String,
    account: Account,
    arrivals: Arrivals,
    ready: mpsc::UnboundedSender<()>,
) -> anyhow::Result<()> {
    let mut response = client
        .get(format!("{url}/v1/events"))
        .bearer_auth(&account.token)
        .send()
        .await?
        .error_for_status()?;
    let _ = ready.send(());
    let mut buffer = String::new();
    while let Some(chunk) = response.chunk().await? {
        let now = Instant::now();
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            if !event.contains("event: message_created") {
                continue;
            }
            let Some(data) = event.lines().find_map(|l| l.strip_prefix("data: ")) else {
                continue;
            };
            let parsed: Value = serde_json::from_str(data)?;
            if let Some(id) = parsed["data"]["message_id"].as_str() {
                let _ = arrivals.send((id.to_owned(), account.id, now));
            }
        }
    }
    Ok(())
}

/// A sent message: when its request started, and who should receive it.
type Sent = Arc<Mutex<HashMap<String, (Instant, UserId)>>>;

async fn send_one(
    client: &reqwest::Client,
    url: &str,
    pair: &Pair,
    from_person: bool,
    sent: &Sent,
) -> anyhow::Result<()> {
    let (sender, recipient) = if from_person {
        (&pair.person, &pair.worker)
    } else {
        (&pair.worker, &pair.person)
    };
    let started = Instant::now();
    let reply: Value = client
        .post(format!(
            "{url}/v1/conversations/{}/messages",
            pair.conversation
        ))
        .bearer_auth(&sender.token)
        .json(&json!({"client_id": uuid::Uuid::now_v7(), "body": "How are you getting on today?"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let id = reply["id"].as_str().context("a message id")?.to_owned();
    if let Ok(mut sent) = sent.lock() {
        sent.insert(id, (started, recipient.id));
    }
    Ok(())
}

struct Latencies {
    delivered: usize,
    missing: usize,
    p50: Duration,
    p99: Duration,
}

/// Matches sends to arrivals at their recipients.
fn latencies(sent: &Sent, arrived: &HashMap<(String, UserId), Instant>) -> Latencies {
    let sent = sent.lock().map(|s| s.clone()).unwrap_or_default();
    let mut samples: Vec<Duration> = Vec::with_capacity(sent.len());
    let mut missing = 0;
    for (id, (started, recipient)) in &sent {
        match arrived.get(&(id.clone(), *recipient)) {
            Some(at) => samples.push(at.saturating_duration_since(*started)),
            None => missing += 1,
        }
    }
    samples.sort();
    let quantile = |q: f64| {
        if samples.is_empty() {
            return Duration::ZERO;
        }
        // Nearest rank.
        let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
        samples[rank - 1]
    };
    Latencies {
        delivered: samples.len(),
        missing,
        p50: quantile(0.50),
        p99: quantile(0.99),
    }
}

/// Collects arrivals until the channel closes.
fn collect_arrivals(
    mut receiver: mpsc::UnboundedReceiver<(String, UserId, Instant)>,
) -> tokio::task::JoinHandle<HashMap<(String, UserId), Instant>> {
    tokio::spawn(async move {
        let mut arrived = HashMap::new();
        while let Some((id, user, at)) = receiver.recv().await {
            arrived.entry((id, user)).or_insert(at);
        }
        arrived
    })
}

fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1_000.0)
}

async fn run(
    args: &Args,
    backend: Backend,
    two_processes: bool,
    phase: Duration,
    pgbench: Option<f64>,
    synapse: Option<peer::PeerFigures>,
) -> anyhow::Result<Figures> {
    let database = TestDatabase::create(backend).await?;
    let store = store::connect(&database.url).await?;
    store.migrate().await?;
    let mut pairs = create_pairs(store.as_ref(), args.streams / 2).await?;
    let sending = serve(store.clone()).await?;
    let streaming = if two_processes {
        Some(serve(store::connect(&database.url).await?).await?)
    } else {
        None
    };
    let stream_url = streaming.as_ref().map_or(&sending.url, |s| &s.url).clone();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.senders * 2)
        .build()?;
    for pair in &mut pairs {
        login(&client, &sending.url, &mut pair.person).await?;
        login(&client, &sending.url, &mut pair.worker).await?;
    }

    // The ceiling: the same build's `/healthz`, same client, same concurrency.
    let healthz_target = Arc::new(vec![(format!("{}/healthz", sending.url), None)]);
    let healthz = requests_per_second(&client, healthz_target, args.senders, phase)
        .await
        .per_second;
    say(&format!("  /healthz: {healthz:.0} req/s"));

    // The peer's shape: senders alternating between the two people of one conversation, with
    // no stream open (the peer's throughput phase has no one syncing).
    let peer_shaped = {
        let (client, url, pair) = (client.clone(), sending.url.clone(), pairs[0].clone());
        let sent: Sent = Arc::default();
        closed_loop(args.peer_senders, phase, move |worker, _| {
            let (client, url, pair, sent) =
                (client.clone(), url.clone(), pair.clone(), sent.clone());
            async move { send_one(&client, &url, &pair, worker % 2 == 0, &sent).await }
        })
        .await
    };
    say(&format!(
        "  {} senders on one conversation: {:.0} msg/s, p50 {} p99 {}",
        args.peer_senders,
        peer_shaped.per_second,
        ms(peer_shaped.p50),
        ms(peer_shaped.p99)
    ));

    // What a phone's sync costs as a person's history grows.
    let sync_figures = sync_cost(&client, &sending.url, store.as_ref(), &pairs[0]).await?;

    // 100 open event streams, each its own connection.
    let (arrivals, arrivals_rx) = mpsc::unbounded_channel();
    let (ready, mut ready_rx) = mpsc::unbounded_channel();
    let mut streams = JoinSet::new();
    let stream_client = reqwest::Client::new();
    for pair in &pairs {
        for account in [&pair.person, &pair.worker] {
            streams.spawn(stream_events(
                stream_client.clone(),
                stream_url.clone(),
                account.clone(),
                arrivals.clone(),
                ready.clone(),
            ));
        }
    }
    drop(arrivals);
    for _ in 0..args.streams {
        tokio::time::timeout(Duration::from_secs(30), ready_rx.recv())
            .await
            .context("event streams opening")?;
    }
    let collector = collect_arrivals(arrivals_rx);
    say(&format!("  {} event streams open", args.streams));

    // Throughput: senders in a closed loop for the phase.
    let pairs = Arc::new(pairs);
    let sent_saturated: Sent = Arc::default();
    let counter = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + phase;
    let started = Instant::now();
    let mut senders = JoinSet::new();
    for _ in 0..args.senders {
        let (client, url, pairs, sent, counter, errors) = (
            client.clone(),
            sending.url.clone(),
            pairs.clone(),
            sent_saturated.clone(),
            counter.clone(),
            errors.clone(),
        );
        senders.spawn(async move {
            while Instant::now() < deadline {
                let n = counter.fetch_add(1, Ordering::Relaxed) as usize;
                let pair = &pairs[n % pairs.len()];
                let from_person = (n / pairs.len()).is_multiple_of(2);
                if send_one(&client, &url, pair, from_person, &sent)
                    .await
                    .is_err()
                {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    while senders.join_next().await.is_some() {}
    let elapsed = started.elapsed();
    let stored = sent_saturated.lock().map(|s| s.len()).unwrap_or(0);
    let rate = stored as f64 / elapsed.as_secs_f64();
    say(&format!("  throughput: {rate:.0} msg/s"));

    // Latency at a steady pace below saturation.
    let sent_paced: Sent = Arc::default();
    let interval = Duration::from_secs_f64(1.0 / f64::from(args.paced_rate.max(1)));
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let paced_end = Instant::now() + phase;
    let mut paced = JoinSet::new();
    let mut n = 0usize;
    while Instant::now() < paced_end {
        ticker.tick().await;
        let (client, url, pairs, sent, errors) = (
            client.clone(),
            sending.url.clone(),
            pairs.clone(),
            sent_paced.clone(),
            errors.clone(),
        );
        paced.spawn(async move {
            let pair = &pairs[n % pairs.len()];
            let from_person = (n / pairs.len()).is_multiple_of(2);
            if send_one(&client, &url, pair, from_person, &sent)
                .await
                .is_err()
            {
                errors.fetch_add(1, Ordering::Relaxed);
            }
        });
        n += 1;
    }
    while paced.join_next().await.is_some() {}
    // Let the last deliveries land, then close the streams.
    tokio::time::sleep(Duration::from_secs(2)).await;
    streams.abort_all();
    while streams.join_next().await.is_some() {}
    let arrived = collector.await?;
    let under_load = latencies(&sent_saturated, &arrived);
    let steady = latencies(&sent_paced, &arrived);
    say(&format!(
        "  paced latency: p50 {} p99 {}",
        ms(steady.p50),
        ms(steady.p99)
    ));

    let mut figures: Figures = vec![
        (
            "messages stored (throughput phase)".into(),
            stored.to_string(),
        ),
        (
            "send errors".into(),
            errors.load(Ordering::Relaxed).to_string(),
        ),
        ("messages/s".into(), format!("{rate:.0}")),
        ("`/healthz` ceiling, req/s".into(), format!("{healthz:.0}")),
        (
            "messages/s ÷ `/healthz` req/s".into(),
            format!("{:.1} %", 100.0 * rate / healthz),
        ),
    ];
    figures.extend(peer_figures(args.peer_senders, &peer_shaped, rate, synapse));
    if backend == Backend::Postgres
        && let Some(tps) = pgbench
    {
        figures.push((
            "messages/s ÷ `pgbench -N` tps".into(),
            format!("{:.1} %", 100.0 * rate / tps),
        ));
    }
    figures.extend([
        (
            format!("latency at {} msg/s: p50", args.paced_rate),
            ms(steady.p50),
        ),
        (
            format!("latency at {} msg/s: p99", args.paced_rate),
            ms(steady.p99),
        ),
        (
            "latency at saturation: p50 / p99".into(),
            format!("{} / {}", ms(under_load.p50), ms(under_load.p99)),
        ),
        (
            "delivered to the recipient's stream / not delivered".into(),
            format!(
                "{} / {}",
                steady.delivered + under_load.delivered,
                steady.missing + under_load.missing
            ),
        ),
    ]);
    figures.extend(sync_figures);
    drop(streaming);
    drop(sending);
    Ok(figures)
}

/// Ours beside the peer's, both from this run.
fn peer_figures(
    senders: usize,
    ours: &Throughput,
    ours_saturated: f64,
    synapse: Option<peer::PeerFigures>,
) -> Figures {
    let mut figures: Figures = vec![
        (
            format!("{senders} senders on one conversation: messages/s"),
            format!("{:.0}", ours.per_second),
        ),
        (
            format!("{senders} senders on one conversation: send p50 / p99"),
            format!("{} / {}", ms(ours.p50), ms(ours.p99)),
        ),
    ];
    let Some(synapse) = synapse else {
        figures.push(("Matrix Synapse (same run)".into(), "not measured".into()));
        return figures;
    };
    figures.extend([
        (
            format!("Synapse, {senders} senders in one room (same run): messages/s"),
            format!("{:.1}", synapse.sends.per_second),
        ),
        (
            "Synapse send p50 / p99".into(),
            format!("{} / {}", ms(synapse.sends.p50), ms(synapse.sends.p99)),
        ),
        (
            "Synapse delivery to a waiting `/sync`, sends 20 ms apart: p50 / p99".into(),
            format!(
                "{} / {}",
                ms(synapse.delivery_p50),
                ms(synapse.delivery_p99)
            ),
        ),
        (
            "Synapse delivered / not delivered".into(),
            format!("{} / {}", synapse.delivered, synapse.not_delivered),
        ),
        (
            format!("**same shape ({senders} senders, one conversation) ÷ Synapse**"),
            format!("**{:.1}×**", ours.per_second / synapse.sends.per_second),
        ),
        (
            "messages/s (all conversations) ÷ Synapse".into(),
            format!("{:.1}×", ours_saturated / synapse.sends.per_second),
        ),
    ]);
    figures
}

/// Sizes of history the sync is measured at.
const SYNC_HISTORIES: [usize; 2] = [1_000, 10_000];
/// Syncs timed at each size, one after another.
const SYNC_SAMPLES: usize = 200;

/// How long `GET /v1/sync` takes for a person whose conversation holds 1,000 and then 10,000
/// messages: with nothing new (the phone's every-minute check) and with one new message.
async fn sync_cost(
    client: &reqwest::Client,
    url: &str,
    store: &dyn Store,
    pair: &Pair,
) -> anyhow::Result<Figures> {
    let mut figures = Figures::new();
    let mut held = 0;
    let mut cursor: Option<String> = None;
    let mut quiet_p50 = Vec::new();
    for history in SYNC_HISTORIES {
        seed_messages(store, pair, history - held).await?;
        held = history;
        // Catch up: the pages of the history so far.
        loop {
            let (page, _) = sync_once(client, url, &pair.person.token, cursor.as_deref()).await?;
            cursor = Some(page.cursor.clone());
            if !page.has_more {
                break;
            }
        }
        // The person opens the conversation, as the app marks it read: what grows here is the
        // history, not a backlog of unread messages (whose count each sync reads).
        client
            .post(format!("{url}/v1/conversations/{}/read", pair.conversation))
            .bearer_auth(&pair.person.token)
            .json(&json!({"up_to_seq": held}))
            .send()
            .await?
            .error_for_status()?;
        let (page, _) = sync_once(client, url, &pair.person.token, cursor.as_deref()).await?;
        cursor = Some(page.cursor);
        let mut quiet = Vec::with_capacity(SYNC_SAMPLES);
        for _ in 0..SYNC_SAMPLES {
            let (page, took) =
                sync_once(client, url, &pair.person.token, cursor.as_deref()).await?;
            if !page.records.is_empty() {
                bail!(
                    "a sync with nothing new delivered {} records",
                    page.records.len()
                );
            }
            cursor = Some(page.cursor);
            quiet.push(took);
        }
        let mut one_new = Vec::with_capacity(SYNC_SAMPLES);
        for _ in 0..SYNC_SAMPLES {
            seed_messages(store, pair, 1).await?;
            held += 1;
            let (page, took) =
                sync_once(client, url, &pair.person.token, cursor.as_deref()).await?;
            cursor = Some(page.cursor);
            one_new.push(took);
        }
        let (quiet, one_new) = (percentiles(quiet), percentiles(one_new));
        quiet_p50.push(quiet.0);
        say(&format!(
            "  sync at {history} messages: nothing new p50 {} p99 {}; one new p50 {} p99 {}",
            ms(quiet.0),
            ms(quiet.1),
            ms(one_new.0),
            ms(one_new.1)
        ));
        figures.push((
            format!("sync, {history} messages: nothing new p50 / p99"),
            format!("{} / {}", ms(quiet.0), ms(quiet.1)),
        ));
        figures.push((
            format!("sync, {history} messages: one new p50 / p99"),
            format!("{} / {}", ms(one_new.0), ms(one_new.1)),
        ));
    }
    if let [small, large] = quiet_p50[..] {
        figures.push((
            "sync with nothing new, 10k ÷ 1k messages (p50)".into(),
            format!("{:.2}", large.as_secs_f64() / small.as_secs_f64()),
        ));
    }
    Ok(figures)
}

/// One sync, timed.
async fn sync_once(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    since: Option<&str>,
) -> anyhow::Result<(SyncResponse, Duration)> {
    // Cursors are URL-safe base64: no escaping needed.
    let query = since.map(|c| format!("&since={c}")).unwrap_or_default();
    let request = client
        .get(format!("{url}/v1/sync?limit=1000{query}"))
        .bearer_auth(token);
    let began = Instant::now();
    let page = request.send().await?.error_for_status()?.json().await?;
    Ok((page, began.elapsed()))
}

/// `count` messages from the worker to the person, straight into the store.
async fn seed_messages(store: &dyn Store, pair: &Pair, count: usize) -> anyhow::Result<()> {
    let now = Clock::System.now();
    for chunk in (0..count).collect::<Vec<_>>().chunks(1_000) {
        let sends: Vec<NewSend> = chunk
            .iter()
            .map(|i| NewSend {
                message: NewMessage {
                    id: MessageId::new(),
                    conversation_id: pair.conversation,
                    sender_id: pair.worker.id,
                    client_id: ClientMessageId::new(),
                    body: format!("History {i}"),
                    created_at: now,
                },
                notice: None,
                access: None,
                audience: Default::default(),
            })
            .collect();
        store.send_messages(&sends).await?;
    }
    Ok(())
}

/// The p50 and p99 of `took`.
fn percentiles(mut took: Vec<Duration>) -> (Duration, Duration) {
    took.sort_unstable();
    let at = |share: usize| {
        took.get(took.len().saturating_mul(share) / 100)
            .copied()
            .unwrap_or_default()
    };
    (at(50), at(99))
}

/// What a closed loop of senders (or readers) achieved.
#[derive(Clone, Copy, Debug)]
struct Throughput {
    /// Sends answered with success, per second of the phase.
    per_second: f64,
    p50: Duration,
    p99: Duration,
    errors: u64,
}

/// `senders` workers, each sending one message after another until `phase` is over.
/// `send(worker, n)` sends the `n`-th message of the run from worker `worker`.
async fn closed_loop<F, Fut>(senders: usize, phase: Duration, send: F) -> Throughput
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let send = Arc::new(send);
    let counter = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + phase;
    let mut workers = JoinSet::new();
    for worker in 0..senders {
        let (send, counter, errors) = (send.clone(), counter.clone(), errors.clone());
        workers.spawn(async move {
            let mut took = Vec::new();
            while Instant::now() < deadline {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let began = Instant::now();
                match send(worker, n).await {
                    Ok(()) => took.push(began.elapsed()),
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            took
        });
    }
    let mut all = Vec::new();
    while let Some(took) = workers.join_next().await {
        all.extend(took.unwrap_or_default());
    }
    let per_second = all.len() as f64 / started.elapsed().as_secs_f64();
    let (p50, p99) = percentiles(all);
    Throughput {
        per_second,
        p50,
        p99,
        errors: errors.load(Ordering::Relaxed),
    }
}

/// GETs to `targets` (worker *i* uses target *i mod n*, with its bearer token if any), from
/// `connections` closed-loop workers, for the phase; only answers with success count.
async fn requests_per_second(
    client: &reqwest::Client,
    targets: Arc<Vec<(String, Option<String>)>>,
    connections: usize,
    phase: Duration,
) -> Throughput {
    let client = client.clone();
    closed_loop(connections, phase, move |worker, _| {
        let (client, targets) = (client.clone(), targets.clone());
        async move {
            let (url, token) = &targets[worker % targets.len()];
            let mut request = client.get(url);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            request.send().await?.error_for_status()?.bytes().await?;
            Ok(())
        }
    })
    .await
}

/// What `pgbench` runs: the ceilings TARGETS.md names.
#[derive(Clone, Copy, Debug)]
enum Pgbench {
    /// `-S`: one indexed SELECT per transaction (the ceiling for audited reads).
    SelectOnly,
    /// `-N`: the TPC-B-like write transaction without its contended updates (for sends).
    SimpleUpdate,
}

/// `pgbench -S` or `-N`, `-c16 -j2` (scale 10) on a scratch database, for the phase's length.
async fn pgbench_tps(mode: Pgbench, phase: Duration) -> anyhow::Result<f64> {
    let admin = livingwell_testkit::postgres_admin_url();
    let base = admin
        .rsplit_once('/')
        .map_or(admin.as_str(), |(base, _)| base);
    let name = format!("lw_bench_pgbench_{}", std::process::id());
    let url = format!("{base}/{name}");
    let psql = |sql: String| {
        tokio::process::Command::new("psql")
            .arg(&admin)
            .arg("-qc")
            .arg(sql)
            .status()
    };
    if !psql(format!("CREATE DATABASE {name}")).await?.success() {
        bail!("could not create the pgbench database");
    }
    let result = async {
        let init = tokio::process::Command::new("pgbench")
            .args(["-i", "-s", "10", "-q"])
            .arg(&url)
            .output()
            .await
            .context("running pgbench (is it installed?)")?;
        if !init.status.success() {
            bail!("pgbench -i failed");
        }
        let run = tokio::process::Command::new("pgbench")
            .arg(match mode {
                Pgbench::SelectOnly => "-S",
                Pgbench::SimpleUpdate => "-N",
            })
            .args(["-c", "16", "-j", "2", "-T"])
            .arg(phase.as_secs().to_string())
            .arg(&url)
            .output()
            .await?;
        let text = String::from_utf8_lossy(&run.stdout);
        text.lines()
            .find_map(|l| l.strip_prefix("tps = "))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|tps| tps.parse::<f64>().ok())
            .context("pgbench printed no tps")
    }
    .await;
    let _ = psql(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
    result
}
