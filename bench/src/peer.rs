//! The peer, Matrix Synapse, measured in the same run and by the same driver as ours.
//!
//! A ratio to a figure written down on another day means little (the peer's own rate moved 2×
//! between days on these machines), so `bench` starts Synapse itself with the scripts in
//! `../shared/peer-bench/` (pinned Synapse from PyPI in a virtualenv, every `rc_*` rate limit
//! lifted, loopback only), on SQLite and then on Postgres (its production database, a fresh
//! database dropped afterwards), and drives it with [`crate::closed_loop`] — the same senders,
//! the same closed loop and the same HTTP client that measure our sends in the same shape: senders
//! alternating between the two people of one conversation (one room), each sending one message
//! after another for the phase. Delivery is measured as the peer bench does: the recipient
//! long-polls `/sync` while the other sends one message at a time with a 20 ms gap.
//!
//! The virtualenv is kept between runs (under the system's temp directory) so a run does not
//! reinstall Synapse; its data — configuration, keys, database — is made afresh every run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::{Throughput, closed_loop, ms, percentiles, say};

/// The password of the peer's two accounts (loopback only, data deleted after).
const PEER_PASSWORD: &str = "bench-peer-only-password";
/// Messages sent before measuring, so the first measured one pays no cold cache.
const WARMUP: usize = 50;
/// The gap between the delivery phase's sends (the peer bench's default).
const DELIVERY_GAP: Duration = Duration::from_millis(20);
/// How long the last of the delivery phase's messages may take to arrive.
const DELIVERY_TAIL: Duration = Duration::from_secs(10);

/// The peer's database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerDatabase {
    Sqlite,
    Postgres,
}

impl PeerDatabase {
    fn setting(self) -> &'static str {
        match self {
            PeerDatabase::Sqlite => "sqlite",
            PeerDatabase::Postgres => "postgres",
        }
    }
}

/// The peer's figures from this run.
#[derive(Clone, Copy, Debug)]
pub struct PeerFigures {
    pub sends: Throughput,
    pub delivery_p50: Duration,
    pub delivery_p99: Duration,
    pub delivered: usize,
    pub not_delivered: usize,
}

/// A Synapse started by `setup.sh`; [`Synapse::stop`] stops it and drops its Postgres database.
struct Synapse {
    scripts: PathBuf,
    base: PathBuf,
    port: u16,
    postgres_database: Option<String>,
}

impl Synapse {
    async fn start(scripts: &Path, database: PeerDatabase) -> anyhow::Result<Synapse> {
        let base = std::env::temp_dir().join("livingwell-bench-peer");
        let port = free_port()?;
        let postgres_database = (database == PeerDatabase::Postgres)
            .then(|| format!("lw_bench_synapse_{}", std::process::id()));
        let synapse = Synapse {
            scripts: scripts.to_owned(),
            base,
            port,
            postgres_database,
        };
        // A server left by an interrupted run would be found "running" with old data: stop it,
        // then make its data afresh (the virtualenv beside it is kept).
        synapse.script("stop.sh").await?;
        let data = synapse.base.join("synapse-peer").join("data");
        if data.exists() {
            std::fs::remove_dir_all(&data).context("removing the peer's old data")?;
        }
        let mut setup = synapse.command("setup.sh");
        setup.env("SYNAPSE_DB", database.setting());
        if let Some(name) = &synapse.postgres_database {
            // The Postgres the tests and the bench use, where the database is dropped after.
            let admin = reqwest::Url::parse(&livingwell_testkit::postgres_admin_url())
                .context("LIVINGWELL_TEST_POSTGRES is not a URL")?;
            setup
                .env("SYNAPSE_PG_DB", name)
                .env("SYNAPSE_PG_HOST", admin.host_str().unwrap_or("127.0.0.1"))
                .env("SYNAPSE_PG_PORT", admin.port().unwrap_or(5432).to_string())
                .env(
                    "SYNAPSE_PG_USER",
                    Some(admin.username())
                        .filter(|user| !user.is_empty())
                        .unwrap_or("postgres"),
                );
        }
        let output = setup
            .output()
            .await
            .context("running peer-bench/setup.sh")?;
        if !output.status.success() {
            // It may have started the server before it failed.
            let _ = synapse.stop().await;
            bail!(
                "peer-bench/setup.sh failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(synapse)
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn command(&self, script: &str) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(self.scripts.join(script));
        command
            .env("TMPDIR", &self.base)
            .env("SYNAPSE_PORT", self.port.to_string())
            .kill_on_drop(true);
        command
    }

    async fn script(&self, script: &str) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.base)?;
        let output = self.command(script).output().await?;
        if !output.status.success() {
            bail!("peer-bench/{script} failed");
        }
        Ok(())
    }

    async fn stop(self) -> anyhow::Result<()> {
        self.script("stop.sh").await?;
        if let Some(name) = &self.postgres_database {
            let admin = livingwell_testkit::postgres_admin_url();
            tokio::process::Command::new("psql")
                .arg(&admin)
                .arg("-qc")
                .arg(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .status()
                .await?;
        }
        Ok(())
    }
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// One of the peer's accounts.
#[derive(Clone, Debug)]
struct PeerAccount {
    token: String,
    user_id: String,
}

async fn register(
    client: &reqwest::Client,
    url: &str,
    username: &str,
) -> anyhow::Result<PeerAccount> {
    let reply: Value = client
        .post(format!("{url}/_matrix/client/v3/register"))
        .json(&json!({
            "username": username,
            "password": PEER_PASSWORD,
            "auth": {"type": "m.login.dummy"},
            "initial_device_display_name": "bench",
        }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(PeerAccount {
        token: reply["access_token"]
            .as_str()
            .context("an access token")?
            .to_owned(),
        user_id: reply["user_id"].as_str().context("a user id")?.to_owned(),
    })
}

/// A path segment, percent-encoded (room ids hold `!` and `:`).
fn segment(text: &str) -> String {
    text.bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
                char::from(byte).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}

async fn send_to_room(
    client: &reqwest::Client,
    url: &str,
    room: &str,
    account: &PeerAccount,
    transaction: &str,
    body: &str,
) -> anyhow::Result<()> {
    client
        .put(format!(
            "{url}/_matrix/client/v3/rooms/{}/send/m.room.message/{}",
            segment(room),
            segment(transaction)
        ))
        .bearer_auth(&account.token)
        .json(&json!({"msgtype": "m.text", "body": body}))
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?;
    Ok(())
}

/// Starts the peer on `database`, measures it, and stops it.
pub async fn measure(
    scripts: &Path,
    database: PeerDatabase,
    senders: usize,
    phase: Duration,
) -> anyhow::Result<PeerFigures> {
    say(&format!(
        "  starting Matrix Synapse on {} (peer-bench/setup.sh) …",
        database.setting()
    ));
    let synapse = Synapse::start(scripts, database).await?;
    let figures = drive(&synapse.url(), senders, phase).await;
    synapse.stop().await?;
    figures
}

async fn drive(url: &str, senders: usize, phase: Duration) -> anyhow::Result<PeerFigures> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(senders * 2)
        .build()?;
    let alice = register(&client, url, "alice").await?;
    let bob = register(&client, url, "bob").await?;
    let created: Value = client
        .post(format!("{url}/_matrix/client/v3/createRoom"))
        .bearer_auth(&alice.token)
        .json(&json!({"preset": "private_chat", "is_direct": true, "invite": [bob.user_id]}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let room = created["room_id"].as_str().context("a room id")?.to_owned();
    client
        .post(format!("{url}/_matrix/client/v3/join/{}", segment(&room)))
        .bearer_auth(&bob.token)
        .json(&json!({}))
        .send()
        .await?
        .error_for_status()?;
    for n in 0..WARMUP {
        let from = if n % 2 == 0 { &alice } else { &bob };
        send_to_room(&client, url, &room, from, &format!("warm-{n}"), "warm-up").await?;
    }

    let accounts = Arc::new([alice.clone(), bob.clone()]);
    let (loop_client, loop_url, loop_room) = (client.clone(), url.to_owned(), room.clone());
    let sends = closed_loop(senders, phase, move |worker, n| {
        let (client, url, room, accounts) = (
            loop_client.clone(),
            loop_url.clone(),
            loop_room.clone(),
            accounts.clone(),
        );
        async move {
            let from = &accounts[worker % 2];
            let transaction = format!("tp-{n}");
            send_to_room(
                &client,
                &url,
                &room,
                from,
                &transaction,
                "How are you getting on today?",
            )
            .await
        }
    })
    .await;
    say(&format!(
        "  Synapse: {:.1} msg/s, p50 {}, p99 {}, errors {}",
        sends.per_second,
        ms(sends.p50),
        ms(sends.p99),
        sends.errors
    ));

    let (delivery_p50, delivery_p99, delivered, not_delivered) =
        delivery(&client, url, &room, &alice, &bob, phase).await?;
    Ok(PeerFigures {
        sends,
        delivery_p50,
        delivery_p99,
        delivered,
        not_delivered,
    })
}

/// Bob long-polls `/sync`; Alice sends one message at a time, 20 ms apart, for the phase.
/// Returns p50, p99, delivered and not delivered.
async fn delivery(
    client: &reqwest::Client,
    url: &str,
    room: &str,
    alice: &PeerAccount,
    bob: &PeerAccount,
    phase: Duration,
) -> anyhow::Result<(Duration, Duration, usize, usize)> {
    let filter = json!({
        "room": {
            "rooms": [room],
            "timeline": {"limit": 1000, "types": ["m.room.message"]},
            "state": {"types": []}, "ephemeral": {"types": []}, "account_data": {"types": []},
        },
        "presence": {"types": []},
        "account_data": {"types": []},
    })
    .to_string();
    let sync = format!("{url}/_matrix/client/v3/sync");
    let first: Value = client
        .get(reqwest::Url::parse_with_params(
            &sync,
            [("filter", filter.as_str()), ("timeout", "0")],
        )?)
        .bearer_auth(&bob.token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let mut since = first["next_batch"]
        .as_str()
        .context("a sync token")?
        .to_owned();
    let arrived: Arc<Mutex<HashMap<usize, Instant>>> = Arc::default();
    let syncer = {
        let (client, room, token, arrived) = (
            client.clone(),
            room.to_owned(),
            bob.token.clone(),
            arrived.clone(),
        );
        tokio::spawn(async move {
            loop {
                let Ok(next) = reqwest::Url::parse_with_params(
                    &sync,
                    [
                        ("filter", filter.as_str()),
                        ("since", since.as_str()),
                        ("timeout", "30000"),
                    ],
                ) else {
                    return;
                };
                let Ok(response) = client.get(next).bearer_auth(&token).send().await else {
                    continue;
                };
                let Ok(body) = response.json::<Value>().await else {
                    continue;
                };
                let now = Instant::now();
                if let Some(next) = body["next_batch"].as_str() {
                    since = next.to_owned();
                }
                let events = &body["rooms"]["join"][room.as_str()]["timeline"]["events"];
                for event in events.as_array().into_iter().flatten() {
                    let Some(n) = event["content"]["body"]
                        .as_str()
                        .and_then(|body| body.strip_prefix("lat "))
                        .and_then(|n| n.parse::<usize>().ok())
                    else {
                        continue;
                    };
                    if let Ok(mut arrived) = arrived.lock() {
                        arrived.entry(n).or_insert(now);
                    }
                }
            }
        })
    };
    // Bob's first long poll reaches the server before the first send.
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Each send its own number, answered or not, so a failed one is never confused with the
    // next (Synapse would take a reused transaction id for a retry).
    let mut started: HashMap<usize, Instant> = HashMap::new();
    let end = Instant::now() + phase;
    for n in 0.. {
        if Instant::now() >= end {
            break;
        }
        let began = Instant::now();
        if send_to_room(
            client,
            url,
            room,
            alice,
            &format!("lat-{n}"),
            &format!("lat {n}"),
        )
        .await
        .is_ok()
        {
            started.insert(n, began);
        }
        tokio::time::sleep(DELIVERY_GAP).await;
    }
    let tail = Instant::now() + DELIVERY_TAIL;
    while Instant::now() < tail
        && arrived.lock().map(|a| a.len()).unwrap_or_default() < started.len()
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    syncer.abort();
    let arrived = arrived.lock().map(|a| a.clone()).unwrap_or_default();
    let took: Vec<Duration> = started
        .iter()
        .filter_map(|(n, began)| {
            arrived
                .get(n)
                .map(|at| at.saturating_duration_since(*began))
        })
        .collect();
    let delivered = took.len();
    let (p50, p99) = percentiles(took);
    Ok((p50, p99, delivered, started.len() - delivered))
}
