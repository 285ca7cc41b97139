//! Audited reads: every read a phone or a practitioner makes of a person's record, with its
//! token check, its policy decided from the database, and a durable audit entry (SPEC §4: a read
//! is answered only once its entry is stored) — measured at 32 connections, as TARGETS.md asks,
//! against ceilings of the same run: `/healthz` of the same build with the same client (SQLite),
//! and `pgbench -S` on the same Postgres.
//!
//! The database holds the demo people (`demo::seed`): Alex, whose records are read; Sam, the
//! carer Alex shares parts of the crisis plan with; Jo, Alex's peer worker. Beside the reads,
//! the sync a caught-up phone makes every minute (nothing new), against the same ceiling.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use livingwell_server::clock::Clock;
use livingwell_server::{demo, store};
use livingwell_testkit::{Backend, TestDatabase};
use serde_json::{Value, json};

use crate::{Figures, ms, requests_per_second, say, serve};

/// Connections, as TARGETS.md measures audited reads.
pub const CONNECTIONS: usize = 32;
/// The label of the sync with nothing new: read against `/healthz` on both databases, as its
/// target is (TARGETS.md), where the audited reads are read against `pgbench -S` on Postgres.
const SYNC: &str = "a sync with nothing new";
/// Syncs a phone makes at most to catch up before its sync with nothing new is measured.
const CATCH_UP_SYNCS: usize = 10;

/// One path measured, as one account.
pub(crate) struct ReadPath {
    pub(crate) label: &'static str,
    pub(crate) path: String,
    pub(crate) token: String,
}

pub(crate) async fn sign_in(
    client: &reqwest::Client,
    url: &str,
    username: &str,
) -> anyhow::Result<Value> {
    let reply: Value = client
        .post(format!("{url}/v1/auth/login"))
        .json(&json!({"username": username, "password": demo::DEFAULT_PASSWORD}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(reply)
}

pub(crate) fn token(reply: &Value) -> anyhow::Result<String> {
    Ok(reply["access_token"]
        .as_str()
        .context("an access token")?
        .to_owned())
}

/// `url` read as `token`'s account, refused unless answered with success.
pub(crate) async fn get_json(
    client: &reqwest::Client,
    url: &str,
    token: &str,
) -> anyhow::Result<Value> {
    Ok(client
        .get(url)
        .bearer_auth(token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?)
}

/// Every path TARGETS.md and issue 17 name, each as the account that reads it.
async fn paths(client: &reqwest::Client, url: &str) -> anyhow::Result<Vec<ReadPath>> {
    let alex = sign_in(client, url, "alex").await?;
    let sam = sign_in(client, url, "sam").await?;
    let person = alex["user"]["person_id"]
        .as_str()
        .context("alex's person id")?
        .to_owned();
    let (alex, sam) = (token(&alex)?, token(&sam)?);
    let conversations = get_json(client, &format!("{url}/v1/conversations"), &alex).await?;
    let conversation = conversations["conversations"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["kind"] == "peer")
        .and_then(|c| c["id"].as_str())
        .context("alex's peer conversation")?
        .to_owned();
    // Alex's phone caught up: what it asks every minute is a sync with nothing new. It syncs
    // until a sync brings nothing and answers the cursor it was given (the first pages' own
    // audit entries move the person's access log, which the next sync reads past).
    let mut cursor: Option<String> = None;
    for _ in 0..CATCH_UP_SYNCS {
        let since = cursor
            .as_deref()
            .map(|c| format!("&since={c}"))
            .unwrap_or_default();
        let page = get_json(client, &format!("{url}/v1/sync?limit=1000{since}"), &alex).await?;
        let next = page["cursor"].as_str().context("a sync cursor")?.to_owned();
        let brought = |field: &str| page[field].as_array().is_some_and(|list| !list.is_empty());
        let settled = page["has_more"] != true && !brought("records") && !brought("tombstones");
        if settled && cursor.as_deref() == Some(next.as_str()) {
            break;
        }
        cursor = Some(next);
    }
    let cursor = cursor.context("a sync cursor")?;
    let read = |label, path: String, token: &String| ReadPath {
        label,
        path,
        token: token.clone(),
    };
    // The sync first: every read after it writes to the access log its phone holds, and a
    // sync after those has news (the entries of sam's reads).
    Ok(vec![
        read(SYNC, format!("/v1/sync?limit=1000&since={cursor}"), &alex),
        read("`/v1/me`", "/v1/me".into(), &alex),
        read(
            "enablement plan",
            format!("/v1/people/{person}/enablement-plan"),
            &alex,
        ),
        read(
            "crisis plan, as the person",
            format!("/v1/people/{person}/crisis-plan"),
            &alex,
        ),
        read(
            "crisis plan, as a carer",
            format!("/v1/people/{person}/crisis-plan"),
            &sam,
        ),
        read(
            "appointments",
            format!("/v1/people/{person}/appointments"),
            &alex,
        ),
        read(
            "a page of messages",
            format!("/v1/conversations/{conversation}/messages?limit=50"),
            &alex,
        ),
        read(
            "the access log",
            format!("/v1/people/{person}/access-log"),
            &alex,
        ),
    ])
}

/// Measures every audited read on a fresh database of `backend`; `pgbench_select` is the same
/// run's `pgbench -S` (Postgres).
pub async fn run(
    backend: Backend,
    phase: Duration,
    pgbench_select: Option<f64>,
) -> anyhow::Result<Figures> {
    let database = TestDatabase::create(backend).await?;
    let store = store::connect(&database.url).await?;
    store.migrate().await?;
    demo::seed(store.as_ref(), demo::DEFAULT_PASSWORD, Clock::System.now()).await?;
    let server = serve(store).await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONNECTIONS * 2)
        .build()?;

    let healthz = Arc::new(vec![(format!("{}/healthz", server.url), None)]);
    let ceiling = requests_per_second(&client, healthz, CONNECTIONS, phase).await;
    say(&format!(
        "  /healthz: {:.0} req/s, p50 {} p99 {}",
        ceiling.per_second,
        ms(ceiling.p50),
        ms(ceiling.p99)
    ));
    let mut figures: Figures = vec![(
        format!("`/healthz`, {CONNECTIONS} connections: req/s, p50 / p99"),
        format!(
            "{:.0}, {} / {}",
            ceiling.per_second,
            ms(ceiling.p50),
            ms(ceiling.p99)
        ),
    )];
    if let (Backend::Postgres, Some(tps)) = (backend, pgbench_select) {
        figures.push(("`pgbench -S -c16 -j2`, tps".into(), format!("{tps:.0}")));
    }
    for read in paths(&client, &server.url).await? {
        let url = format!("{}{}", server.url, read.path);
        // Answered, and with a body: a refusal measured fast would be no measurement.
        let answer = client.get(&url).bearer_auth(&read.token).send().await?;
        if !answer.status().is_success() {
            bail!("{} answered {}", read.label, answer.status());
        }
        let targets = Arc::new(vec![(url, Some(read.token.clone()))]);
        let measured = requests_per_second(&client, targets, CONNECTIONS, phase).await;
        // The sync's target is `/healthz` on both databases; the reads' is `pgbench -S` on
        // Postgres.
        let ratio = if read.label == SYNC || backend == Backend::Sqlite {
            format!(
                "{:.1} % of `/healthz`",
                100.0 * measured.per_second / ceiling.per_second
            )
        } else {
            match pgbench_select {
                Some(tps) => format!("{:.1} % of `pgbench -S`", 100.0 * measured.per_second / tps),
                None => "`pgbench -S` not measured".into(),
            }
        };
        say(&format!(
            "  {}: {:.0} req/s, p50 {} p99 {}, {ratio}",
            read.label,
            measured.per_second,
            ms(measured.p50),
            ms(measured.p99)
        ));
        figures.push((
            format!("{}: req/s, p50 / p99, ratio", read.label),
            format!(
                "{:.0}, {} / {}, {ratio}",
                measured.per_second,
                ms(measured.p50),
                ms(measured.p99)
            ),
        ));
    }
    Ok(figures)
}
