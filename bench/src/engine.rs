//! The phone's engine (`livingwell-engine`) against a real server: what a sync with nothing new
//! costs on the wire, how long opening the store and reading the crisis plan takes (cold and
//! warm), and how a person with 10,000 messages is first synced.
//!
//! The server runs in this process on a fresh database with the demo people; the engine keeps
//! its store and secrets in a temporary directory. This runs on the server's machine, as a proxy
//! for a phone: its figures are this machine's, not a handset's.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use livingwell_core::api::plans::CrisisPlanView;
use livingwell_core::api::sync::SyncKind;
use livingwell_engine::engine::{Engine, EngineConfig};
use livingwell_engine::secrets::{FileSecretStore, STORE_KEY, SecretStore};
use livingwell_engine::store::{DATABASE_FILE, STORE_KEY_LEN, Store as PhoneStore};
use livingwell_server::clock::Clock;
use livingwell_server::demo;
use livingwell_server::store::messages::ConversationKey;
use livingwell_server::store::{self, Store};
use livingwell_testkit::{Backend, TestDatabase};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinSet;

use crate::{Account, Figures, Pair, ms, percentiles, say, seed_messages, serve};

/// The demo person whose phone is measured: she has a crisis plan and a peer conversation.
const PERSON: &str = "alex";
/// Her peer worker, the sender of the seeded history.
const WORKER: &str = "jo";
/// Messages seeded into her conversation for the large store.
const HISTORY: usize = 10_000;
/// Cold opens (open the store, read the crisis plan) timed per store.
const COLD_OPENS: usize = 200;
/// Warm reads of the crisis plan on an open engine, per store.
const WARM_READS: usize = 10_000;
/// No-change syncs timed one after another, per store.
const QUIET_SYNCS: usize = 100;
/// No-change syncs counted through the proxy, per store.
const COUNTED_SYNCS: usize = 20;

/// Measures the phone's engine against a server on `backend`.
pub(crate) async fn run(backend: Backend) -> anyhow::Result<Figures> {
    let database = TestDatabase::create(backend).await?;
    let server_store = store::connect(&database.url).await?;
    server_store.migrate().await?;
    demo::seed(
        server_store.as_ref(),
        demo::DEFAULT_PASSWORD,
        Clock::System.now(),
    )
    .await?;
    let server = serve(server_store.clone()).await?;
    let proxy = CountingProxy::start(server.addr).await?;
    let scratch = tempfile::tempdir()?;
    let mut figures = Figures::new();

    // A phone with the demo history: a few messages, the plans, the appointments.
    let small = Phone::new(scratch.path().join("small"), &server.url, &proxy.url)?;
    let person = small.sign_in_and_sync().await?;
    say("  engine: the demo person's phone is signed in and synced");
    let wire = no_change_bytes(&small, &proxy).await?;
    say(&format!(
        "  engine: a sync with nothing new: response {} bytes (headers {} + body {}), request {} bytes",
        wire.response_headers + wire.response_body,
        wire.response_headers,
        wire.response_body,
        wire.request
    ));
    say(&format!(
        "  engine: a sync with nothing new, the request (token's value left out):\n{}\n  and the response's head:\n{}",
        wire.request_head, wire.header_block
    ));
    figures.extend(wire.figures("demo store"));
    figures.extend(open_and_read(&small, &person, "demo store").await?);
    figures.extend(quiet_syncs(&small, "demo store").await?);
    let pair = demo_pair(server_store.as_ref()).await?;
    figures.extend(one_message_bytes(&small, &proxy, server_store.as_ref(), &pair).await?);

    // The same person with 10,000 more messages, synced by a new phone.
    seed_messages(server_store.as_ref(), &pair, HISTORY).await?;
    say(&format!("  engine: {HISTORY} messages seeded"));
    let large = Phone::new(scratch.path().join("large"), &server.url, &proxy.url)?;
    let began = Instant::now();
    let engine = large.open_direct()?;
    engine.sign_in(PERSON, demo::DEFAULT_PASSWORD).await?;
    let signed_in = began.elapsed();
    let began = Instant::now();
    let synced = engine.sync().await?;
    let first_sync = began.elapsed();
    let held = engine
        .store()
        .messages(&pair.conversation.to_string(), 0, i64::MAX)?
        .len();
    if held < HISTORY {
        bail!("the phone holds {held} messages after its first sync, not {HISTORY} or more");
    }
    let size_open = store_size(&large.config_direct.dir)?;
    let began = Instant::now();
    let next = engine.sync().await?;
    let next_sync = began.elapsed();
    if next.records != 0 {
        bail!("a sync after the first delivered {} records", next.records);
    }
    drop(engine);
    let size_closed = store_size(&large.config_direct.dir)?;
    say(&format!(
        "  engine: first sync of {held} messages: {} in {} pages ({} records); the next, with nothing new, {}",
        ms(first_sync),
        synced.pages,
        synced.records,
        ms(next_sync)
    ));
    figures.extend([
        (
            format!("first sync, {HISTORY} messages: sign-in"),
            ms(signed_in),
        ),
        (
            format!("first sync, {HISTORY} messages: wall time"),
            ms(first_sync),
        ),
        (
            format!("first sync, {HISTORY} messages: pages / records"),
            format!("{} / {}", synced.pages, synced.records),
        ),
        (
            format!("first sync, {HISTORY} messages: messages held"),
            held.to_string(),
        ),
        (
            format!("first sync, {HISTORY} messages: store on disk, open (db + WAL + shm)"),
            mib(size_open),
        ),
        (
            format!("first sync, {HISTORY} messages: store on disk, closed"),
            mib(size_closed),
        ),
        (
            format!("first sync, {HISTORY} messages: the next sync (nothing new)"),
            ms(next_sync),
        ),
    ]);
    let label = format!("{HISTORY}-message store");
    let wire = no_change_bytes(&large, &proxy).await?;
    figures.extend(wire.figures(&label));
    figures.extend(open_and_read(&large, &person, &label).await?);
    figures.extend(quiet_syncs(&large, &label).await?);
    Ok(figures)
}

/// One phone: its store and secrets, and the server reached directly or through the proxy.
struct Phone {
    config_direct: EngineConfig,
    config_counted: EngineConfig,
    secrets: Arc<FileSecretStore>,
}

impl Phone {
    fn new(dir: PathBuf, direct: &str, counted: &str) -> anyhow::Result<Self> {
        let config = |base_url: &str| EngineConfig::new(dir.join("store"), base_url);
        Ok(Self {
            config_direct: config(direct),
            config_counted: config(counted),
            secrets: Arc::new(FileSecretStore::new(dir.join("secrets"))?),
        })
    }

    /// The engine, talking to the server directly.
    fn open_direct(&self) -> anyhow::Result<Engine> {
        Ok(Engine::open(
            self.config_direct.clone(),
            self.secrets.clone(),
        )?)
    }

    /// The engine, talking to the server through the counting proxy.
    fn open_counted(&self) -> anyhow::Result<Engine> {
        Ok(Engine::open(
            self.config_counted.clone(),
            self.secrets.clone(),
        )?)
    }

    /// Signs the demo person in and syncs: answers her person id.
    async fn sign_in_and_sync(&self) -> anyhow::Result<String> {
        let engine = self.open_direct()?;
        let user = engine.sign_in(PERSON, demo::DEFAULT_PASSWORD).await?;
        let person = user.person_id.context("the person's own account")?;
        engine.sync().await?;
        Ok(person.to_string())
    }
}

/// The demo person, her peer worker and their conversation, as the bench's seeding takes them.
async fn demo_pair(store: &dyn Store) -> anyhow::Result<Pair> {
    let account = |user: store::UserRecord| Account {
        id: user.id,
        username: user.username,
        token: String::new(),
    };
    let person = store
        .user_by_username(PERSON)
        .await?
        .context("the demo person")?;
    let worker = store
        .user_by_username(WORKER)
        .await?
        .context("the demo peer worker")?;
    let person_id = person.person_id.context("the demo person's record")?;
    let conversation = store
        .ensure_conversation(ConversationKey::Peer(person_id), Clock::System.now())
        .await?;
    Ok(Pair {
        conversation: conversation.id,
        person: account(person),
        worker: account(worker),
    })
}

/// What one sync with nothing new put on the wire, as HTTP/1.1 on loopback.
struct Wire {
    request: usize,
    response_headers: usize,
    response_body: usize,
    /// The response's status line and headers, as sent.
    header_block: String,
    /// The request's line and headers, with the bearer token's length in place of its value.
    request_head: String,
    /// The largest response of the syncs counted.
    largest_response: usize,
}

impl Wire {
    fn figures(&self, store: &str) -> Figures {
        vec![
            (
                format!("sync with nothing new, {store}: response on the wire (headers + body)"),
                format!(
                    "{} B ({} + {}); largest of {COUNTED_SYNCS}: {} B",
                    self.response_headers + self.response_body,
                    self.response_headers,
                    self.response_body,
                    self.largest_response
                ),
            ),
            (
                format!("sync with nothing new, {store}: request on the wire"),
                format!("{} B", self.request),
            ),
        ]
    }
}

/// Counts what `COUNTED_SYNCS` syncs with nothing new put on the wire, as the engine makes them.
async fn no_change_bytes(phone: &Phone, proxy: &CountingProxy) -> anyhow::Result<Wire> {
    let engine = phone.open_counted()?;
    // Settle: a first sync through the proxy opens its connection.
    engine.sync().await?;
    let mut last = None;
    let mut largest_response = 0;
    for _ in 0..COUNTED_SYNCS {
        proxy.clear();
        let synced = engine.sync().await?;
        if synced.pages != 1 || synced.records != 0 || synced.tombstones != 0 {
            bail!("a sync with nothing new brought {synced:?}");
        }
        let tap = proxy.take();
        let wire = one_exchange(&tap)?;
        largest_response = largest_response.max(wire.response_headers + wire.response_body);
        last = Some(wire);
    }
    let mut wire = last.context("no sync counted")?;
    wire.largest_response = largest_response;
    Ok(wire)
}

/// What one sync bringing one new message (from the peer worker, written to the store) put on
/// the wire, as the engine makes it.
async fn one_message_bytes(
    phone: &Phone,
    proxy: &CountingProxy,
    store: &dyn Store,
    pair: &Pair,
) -> anyhow::Result<Figures> {
    let engine = phone.open_counted()?;
    engine.sync().await?;
    seed_messages(store, pair, 1).await?;
    proxy.clear();
    let synced = engine.sync().await?;
    if synced.pages != 1 || synced.records == 0 {
        bail!("a sync of one new message brought {synced:?}");
    }
    let wire = one_exchange(&proxy.take())?;
    say(&format!(
        "  engine: a sync of one new message: response {} bytes (headers {} + body {}), {} records",
        wire.response_headers + wire.response_body,
        wire.response_headers,
        wire.response_body,
        synced.records
    ));
    Ok(vec![(
        "sync of one new message, demo store: response on the wire (headers + body)".to_owned(),
        format!(
            "{} B ({} + {}); {} records (the message and its conversation)",
            wire.response_headers + wire.response_body,
            wire.response_headers,
            wire.response_body,
            synced.records
        ),
    )])
}

/// Splits what the proxy saw into one request and one response, or says it was not that.
fn one_exchange(tap: &Tap) -> anyhow::Result<Wire> {
    let requests = count(&tap.up, b"HTTP/1.1\r\n");
    if requests != 1 {
        bail!("expected one request through the proxy, saw {requests}");
    }
    let end = find(&tap.down, b"\r\n\r\n").context("a response's headers")? + 4;
    let (head, body) = tap.down.split_at(end);
    let head = String::from_utf8_lossy(head).into_owned();
    if !head.starts_with("HTTP/1.1 200") {
        bail!(
            "a sync answered {}",
            head.lines().next().unwrap_or_default()
        );
    }
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .context("a Content-Length (a chunked answer would be counted differently)")?;
    if length != body.len() {
        bail!(
            "the response's body is {} bytes on the wire, but says {length}",
            body.len()
        );
    }
    let request_head = String::from_utf8_lossy(&tap.up)
        .lines()
        .take_while(|line| !line.is_empty())
        .map(|line| match line.split_once(':') {
            Some((name, value)) if name.eq_ignore_ascii_case("authorization") => {
                format!("{name}: <{} bytes>", value.trim().len())
            }
            // The cursor is opaque and not secret, but long: its length says enough.
            _ if line.starts_with("GET ") => line
                .split_once("since=")
                .map(|(before, rest)| {
                    let cursor = rest.split([' ', '&']).next().unwrap_or_default();
                    format!(
                        "{before}since=<{} bytes>{}",
                        cursor.len(),
                        &rest[cursor.len()..]
                    )
                })
                .unwrap_or_else(|| line.to_owned()),
            _ => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    Ok(Wire {
        request: tap.up.len(),
        response_headers: head.len(),
        response_body: body.len(),
        header_block: head.trim_end().to_owned(),
        request_head,
        largest_response: 0,
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|window| *window == needle)
        .count()
}

/// Cold: a new engine over the synced store (the one before dropped) and its first read of the
/// crisis plan. Warm: the read again on the open engine.
async fn open_and_read(phone: &Phone, person: &str, store: &str) -> anyhow::Result<Figures> {
    let mut cold = Vec::with_capacity(COLD_OPENS);
    let mut opens = Vec::with_capacity(COLD_OPENS);
    for _ in 0..COLD_OPENS {
        let began = Instant::now();
        let engine = phone.open_direct()?;
        let opened = began.elapsed();
        let plan = engine
            .show_as::<CrisisPlanView>(SyncKind::CrisisPlan, person)
            .await?;
        let took = began.elapsed();
        plan.context("the crisis plan in the store")?;
        cold.push(took);
        opens.push(opened);
        drop(engine);
    }
    let first = cold.first().copied().unwrap_or_default();
    // Where the open's time goes: the store alone (key check, integrity check, schema), and
    // the integrity check alone on a connection of its own.
    let key = phone.secrets.get(STORE_KEY)?.context("the store's key")?;
    let key: [u8; STORE_KEY_LEN] = key
        .as_slice()
        .try_into()
        .context("a store key of the right length")?;
    let mut store_opens = Vec::with_capacity(COLD_OPENS);
    let mut checks = Vec::with_capacity(COLD_OPENS);
    let mut clients = Vec::with_capacity(COLD_OPENS);
    for _ in 0..COLD_OPENS {
        // The engine's HTTP client, built as `ApiClient` builds it at its first request (no
        // longer at open): what the first sync after an open pays on top.
        let began = Instant::now();
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .build()?;
        clients.push(began.elapsed());
        drop(client);
        let began = Instant::now();
        let store = PhoneStore::open(&phone.config_direct.dir, &key)?;
        store_opens.push(began.elapsed());
        drop(store);
        let began = Instant::now();
        let connection = rusqlite::Connection::open(phone.config_direct.dir.join(DATABASE_FILE))?;
        let check: String = connection.query_row("PRAGMA quick_check", [], |row| row.get(0))?;
        checks.push(began.elapsed());
        if check != "ok" {
            bail!("the store's integrity check said {check}");
        }
    }
    let engine = phone.open_direct()?;
    let mut warm = Vec::with_capacity(WARM_READS);
    for _ in 0..WARM_READS {
        let began = Instant::now();
        let plan = engine
            .show_as::<CrisisPlanView>(SyncKind::CrisisPlan, person)
            .await?;
        let took = began.elapsed();
        plan.context("the crisis plan in the store")?;
        warm.push(took);
    }
    drop(engine);
    let (cold, opens, warm) = (percentiles(cold), percentiles(opens), percentiles(warm));
    let (store_opens, checks) = (percentiles(store_opens), percentiles(checks));
    let clients = percentiles(clients);
    say(&format!(
        "  engine, {store}: cold open + crisis plan p50 {} p99 {} (first {}); warm read p50 {} p99 {}",
        ms(cold.0),
        ms(cold.1),
        ms(first),
        micros(warm.0),
        micros(warm.1)
    ));
    Ok(vec![
        (
            format!("open + read the crisis plan, cold, {store}: p50 / p99 of {COLD_OPENS}"),
            format!("{} / {}", ms(cold.0), ms(cold.1)),
        ),
        (
            format!("… of which `Engine::open`, {store}: p50 / p99"),
            format!("{} / {}", ms(opens.0), ms(opens.1)),
        ),
        (
            format!(
                "… `Store::open` alone (key check, `PRAGMA quick_check`, schema), {store}: p50 / p99"
            ),
            format!("{} / {}", ms(store_opens.0), ms(store_opens.1)),
        ),
        (
            format!("… a new connection + `PRAGMA quick_check` alone, {store}: p50 / p99"),
            format!("{} / {}", ms(checks.0), ms(checks.1)),
        ),
        (
            format!(
                "building the engine's reqwest client (rustls), at its first request since an open, {store}: p50 / p99"
            ),
            format!("{} / {}", ms(clients.0), ms(clients.1)),
        ),
        (
            format!("open + read the crisis plan, the first in this process, {store}"),
            ms(first),
        ),
        (
            format!("read the crisis plan, warm, {store}: p50 / p99 of {WARM_READS}"),
            format!("{} / {}", micros(warm.0), micros(warm.1)),
        ),
    ])
}

/// Syncs with nothing new, one after another, on an open engine.
async fn quiet_syncs(phone: &Phone, store: &str) -> anyhow::Result<Figures> {
    let engine = phone.open_direct()?;
    let mut took = Vec::with_capacity(QUIET_SYNCS);
    for _ in 0..QUIET_SYNCS {
        let began = Instant::now();
        let synced = engine.sync().await?;
        took.push(began.elapsed());
        if synced.records != 0 {
            bail!(
                "a sync with nothing new delivered {} records",
                synced.records
            );
        }
    }
    let (p50, p99) = percentiles(took);
    Ok(vec![(
        format!("engine sync with nothing new, {store}: p50 / p99 of {QUIET_SYNCS}"),
        format!("{} / {}", ms(p50), ms(p99)),
    )])
}

/// The bytes of the store's files (database, WAL, shared memory) in `dir`.
fn store_size(dir: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            total += entry.metadata()?.len();
        }
    }
    Ok(total)
}

fn mib(bytes: u64) -> String {
    format!("{:.2} MiB ({bytes} B)", bytes as f64 / (1024.0 * 1024.0))
}

fn micros(duration: Duration) -> String {
    format!("{:.1} µs", duration.as_secs_f64() * 1_000_000.0)
}

/// What crossed the proxy since it was last cleared: client to server, and back.
#[derive(Debug, Default)]
struct Tap {
    up: Vec<u8>,
    down: Vec<u8>,
}

/// A TCP proxy on loopback that keeps every byte it forwards, to count what a request and its
/// answer take on the wire (HTTP/1.1 as sent; TCP/IP and TLS framing are not included).
struct CountingProxy {
    url: String,
    tap: Arc<Mutex<Tap>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        // Its connections' tasks are held by the accept task, so they end with it.
        self.task.abort();
    }
}

impl CountingProxy {
    async fn start(target: SocketAddr) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let tap: Arc<Mutex<Tap>> = Arc::default();
        let kept = tap.clone();
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((inbound, _)) = listener.accept().await {
                let Ok(outbound) = tokio::net::TcpStream::connect(target).await else {
                    continue;
                };
                let _ = inbound.set_nodelay(true);
                let _ = outbound.set_nodelay(true);
                let (client_read, client_write) = inbound.into_split();
                let (server_read, server_write) = outbound.into_split();
                connections.spawn(pump(client_read, server_write, kept.clone(), true));
                connections.spawn(pump(server_read, client_write, kept.clone(), false));
                // Forget the connections that ended.
                while connections.try_join_next().is_some() {}
            }
        });
        Ok(Self { url, tap, task })
    }

    fn clear(&self) {
        if let Ok(mut tap) = self.tap.lock() {
            *tap = Tap::default();
        }
    }

    fn take(&self) -> Tap {
        self.tap
            .lock()
            .map(|mut tap| std::mem::take(&mut *tap))
            .unwrap_or_default()
    }
}

/// Copies one direction of a connection, keeping each byte before it is forwarded (so a reply
/// the client has read is already counted).
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    tap: Arc<Mutex<Tap>>,
    upstream: bool,
) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        let chunk = &buffer[..read];
        if let Ok(mut tap) = tap.lock() {
            if upstream {
                tap.up.extend_from_slice(chunk);
            } else {
                tap.down.extend_from_slice(chunk);
            }
        }
        if to.write_all(chunk).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}
