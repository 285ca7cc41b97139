//! Growth: whether each path a phone or a practitioner uses stays as fast as the service grows
//! from 1,000 to 100,000 people (TARGETS.md: each path's p50 grows at most 1.5×).
//!
//! For each database and each size, a fresh database gets the demo people (`demo::seed`: Alex,
//! whose record is read; Sam, Alex's carer; Jo, Alex's peer worker), a long history for Alex
//! written through the store as the server would write it, and then a population written in
//! bulk (COPY on Postgres, prepared multi-row INSERTs in large transactions on SQLite), each
//! person with:
//!
//! - an account, one session with a refresh token, a team (500 people, 10 practitioners and 5
//!   peer workers each), a key worker and a peer worker; a carer with a consent for every third;
//! - 20 versions of an Enablement Plan (the last agreed) and a WRAP (the demo's texts);
//! - 24 appointments with their key worker, 18 past and 6 to come;
//! - a peer conversation of 100 messages over the year (10M at 100,000 people), with both
//!   participants' cursors and the recipient's `message_created` event for the newest ten;
//! - 52 audit entries — a year of weekly reads by the person, their key worker, peer worker or
//!   carer — in one hash chain with every other entry.
//!
//! Alex's own history is the same at every size (20 plan versions, a year of weekly
//! appointments and half a year ahead, 10,000 messages with Jo, an access log of 5,000 entries),
//! so what grows between sizes is everyone else. Then the server runs on the database and every
//! path is measured at 32 connections in a closed loop: the audited reads of [`crate::reads`]
//! (with the newest page of Alex's 10,000 messages), a sync with nothing new, and a message
//! send. The report gives each path's req/s, p50 and p99 per size, and the p50 of the largest
//! size over the smallest, flagged above 1.5×.

use std::borrow::Cow;
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, SecondsFormat, Utc};
use livingwell_core::api::events::MessageCreatedData;
use livingwell_core::domain::appointment::{
    Accessibility, AccessibilityNeed, AppointmentId, AppointmentKind, AppointmentStatus, Location,
};
use livingwell_core::domain::message::{ClientMessageId, ConversationId, MessageId};
use livingwell_core::domain::wrap::Wrap;
use livingwell_core::domain::{PersonId, Role, TeamId, UserId};
use livingwell_server::audit::{self, Verification};
use livingwell_server::clock::Clock;
use livingwell_server::demo;
use livingwell_server::policy::{Grounds, Resource};
use livingwell_server::store::appointments::AppointmentRecord;
use livingwell_server::store::events::Audience;
use livingwell_server::store::messages::{ConversationKey, NewMessage, NewSend};
use livingwell_server::store::plans::{
    AgreementRecord, AppendOutcome, Author, NewPlanVersion, PlanKind,
};
use livingwell_server::store::{self, NewAuditEntry, Store};
use livingwell_testkit::{Backend, TestDatabase};
use serde_json::json;
use sqlx::Connection as _;

use crate::reads::{CONNECTIONS, ReadPath, get_json, sign_in, token};
use crate::{
    Pgbench, Throughput, closed_loop, ms, pgbench_tps, requests_per_second, say, serve, sync_once,
};

/// People on one team's caseload.
const TEAM_SIZE: usize = 500;
/// Practitioners on each team; each is key worker to a tenth of its people.
const PRACTITIONERS: usize = 10;
/// Peer workers on each team; each is allocated a fifth of its people.
const PEER_WORKERS: usize = 5;
/// Versions of each person's Enablement Plan.
const PLAN_VERSIONS: i32 = 20;
/// Versions of each person's WRAP (its crisis plan is read from the newest). One: at 20
/// versions each, plan bodies (~4 KB of JSON a version) are half the SQLite database already.
const WRAP_VERSIONS: i32 = 1;
/// Each person's appointments in the past year, and to come.
const APPOINTMENTS_PAST: usize = 18;
const APPOINTMENTS_AHEAD: usize = 6;
/// Messages in each person's peer conversation: 10M at 100,000 people.
const MESSAGES: usize = 100;
/// Of those, the newest with the recipient's `message_created` event stored (a send stores one
/// per participant): all of them would add ~2.5 GB at 100,000 people, for a feed no measured
/// path reads beyond its own index range.
const MESSAGES_WITH_EVENTS: usize = 10;
/// Audit entries about each person: a year of weekly reads.
const AUDIT_ENTRIES: usize = 52;
/// One person in this many has a carer, with a consent to read the crisis plan.
const CARER_EVERY: usize = 3;
/// Alex's history, the same at every size.
const ALEX_MESSAGES: usize = 10_000;
const ALEX_ACCESS_LOG: usize = 5_000;
const ALEX_WEEKS_PAST: i64 = 52;
const ALEX_WEEKS_AHEAD: i64 = 26;
/// The newest page of messages is read.
const PAGE: i64 = 50;
/// Above this, the audit chain is not re-verified after seeding (it takes minutes).
const VERIFY_CHAIN_UP_TO: usize = 10_000;
/// The growth target (TARGETS.md).
const MAX_GROWTH: f64 = 1.5;
/// Rows a SQLite transaction holds before it commits during seeding.
const SQLITE_ROWS_PER_COMMIT: usize = 200_000;
/// Bytes of COPY data sent to Postgres at a time.
const COPY_CHUNK: usize = 1 << 20;

/// What one database measured at each size.
#[derive(Debug)]
pub struct Growth {
    backend: Backend,
    ceilings: Ceilings,
    sizes: Vec<SizeRun>,
}

/// The same run's ceilings each path is read against (TARGETS.md), measured once the sizes are
/// seeded and before any path: `/healthz` of the smallest size's server, with the same client
/// and connections as the paths; on Postgres, `pgbench -S` (reads) and `pgbench -N` (sends).
#[derive(Debug)]
struct Ceilings {
    healthz: f64,
    select: Option<f64>,
    write: Option<f64>,
}

/// The label of the sync with nothing new, read against `/healthz` on both databases.
const SYNC: &str = "sync, nothing new";
/// The label of sends, read against `pgbench -N` on Postgres (on SQLite, against the peer, which
/// the messaging part measures).
const SEND: &str = "message send";

/// One size on one database.
#[derive(Debug)]
struct SizeRun {
    people: usize,
    rows: u64,
    /// Everything before the server starts: migrations, the demo, Alex's history, the bulk.
    seeding: Duration,
    /// Of the seeding, the population written in bulk.
    bulk: Duration,
    /// Of the seeding, `VACUUM (ANALYZE)` (Postgres).
    vacuum: Option<Duration>,
    disk_bytes: u64,
    /// Entries in the audit chain, when it was verified after seeding.
    chain_verified: Option<u64>,
    paths: Vec<(&'static str, Throughput)>,
}

/// Measures every path at each of `sizes` (people, ascending) on `backend`.
///
/// Every size is seeded and its server started first; then each path is measured on every size
/// back to back, so a change in the load of this shared machine between paths falls on all
/// sizes alike instead of showing up as growth.
pub async fn run(
    backend: Backend,
    sizes: &[usize],
    phase: Duration,
    pgbench: bool,
) -> anyhow::Result<Growth> {
    let mut seeded = Vec::with_capacity(sizes.len());
    for &people in sizes {
        say(&format!("  {people} people:"));
        seeded.push(seed(backend, people).await?);
    }
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONNECTIONS * 2)
        .build()?;
    let mut sites = Vec::with_capacity(seeded.len());
    for size in &seeded {
        sites.push(Site::open(&client, size).await?);
    }
    let ceilings = ceilings(&client, backend, &sites, phase, pgbench).await?;
    let mut measured = measure(&client, &sites, phase).await?.into_iter();
    let mut runs = Vec::with_capacity(seeded.len());
    for size in seeded {
        let mut run = size.run;
        run.paths = measured.next().unwrap_or_default();
        runs.push(run);
    }
    Ok(Growth {
        backend,
        ceilings,
        sizes: runs,
    })
}

async fn ceilings(
    client: &reqwest::Client,
    backend: Backend,
    sites: &[Site],
    phase: Duration,
    pgbench: bool,
) -> anyhow::Result<Ceilings> {
    let site = sites.first().context("a size to measure")?;
    let healthz = Arc::new(vec![(format!("{}/healthz", site.url), None)]);
    let took = requests_per_second(client, healthz, CONNECTIONS, phase).await;
    say(&format!(
        "    ceiling: /healthz {:.0} req/s",
        took.per_second
    ));
    let mut ceilings = Ceilings {
        healthz: took.per_second,
        select: None,
        write: None,
    };
    if backend == Backend::Postgres && pgbench {
        for (mode, flag, ceiling) in [
            (Pgbench::SelectOnly, "-S", &mut ceilings.select),
            (Pgbench::SimpleUpdate, "-N", &mut ceilings.write),
        ] {
            match pgbench_tps(mode, phase).await {
                Ok(tps) => {
                    say(&format!("    ceiling: pgbench {flag} {tps:.0} tps"));
                    *ceiling = Some(tps);
                }
                Err(error) => say(&format!("    pgbench {flag} not measured: {error:#}")),
            }
        }
    }
    Ok(ceilings)
}

/// A seeded database with its server running. The server stops before the database is dropped
/// (fields drop in order).
struct Seeded {
    server: crate::Server,
    _database: TestDatabase,
    who: Measured,
    run: SizeRun,
}

async fn seed(backend: Backend, people: usize) -> anyhow::Result<Seeded> {
    let database = TestDatabase::create(backend).await?;
    let began = Instant::now();
    let (measured, bulk) = {
        let store = store::connect(&database.url).await?;
        store.migrate().await?;
        demo::seed(store.as_ref(), demo::DEFAULT_PASSWORD, Clock::System.now()).await?;
        let measured = Measured::find(store.as_ref()).await?;
        alex_history(store.as_ref(), &measured).await?;
        let head = store
            .audit_head()
            .await?
            .map_or((0, audit::GENESIS_HASH.to_vec()), |h| (h.seq, h.hash));
        let templates = Templates::read(store.as_ref(), &measured).await?;
        (
            measured.clone(),
            Population::new(people, measured, templates, head),
        )
    };
    let bulk_began = Instant::now();
    let rows = match backend {
        Backend::Postgres => seed_postgres(&database.url, bulk).await?,
        Backend::Sqlite => {
            let path = sqlite_path(&database.url)?.to_owned();
            tokio::task::spawn_blocking(move || seed_sqlite(&path, &bulk)).await??
        }
    };
    let bulk = bulk_began.elapsed();
    let vacuum = if backend == Backend::Postgres {
        // What autovacuum would have done on a database that grew over a year; left to itself
        // it would start on the new tables in the middle of the measurements.
        let started = Instant::now();
        let mut conn = sqlx::PgConnection::connect(&database.url).await?;
        sqlx::query("VACUUM (ANALYZE)").execute(&mut conn).await?;
        Some(started.elapsed())
    } else {
        None
    };
    let seeding = began.elapsed();
    let disk_bytes = disk_bytes(&database).await?;
    say(&format!(
        "    seeded in {:.1} s: {rows} rows in bulk in {:.1} s ({:.0} rows/s){}; {} on disk",
        seeding.as_secs_f64(),
        bulk.as_secs_f64(),
        rows as f64 / bulk.as_secs_f64(),
        vacuum.map_or(String::new(), |v| format!(
            " (VACUUM ANALYZE {:.1} s)",
            v.as_secs_f64()
        )),
        gigabytes(disk_bytes)
    ));

    let store = store::connect(&database.url).await?;
    let chain_verified = if people <= VERIFY_CHAIN_UP_TO {
        match audit::verify(store.as_ref()).await? {
            Verification::Intact { entries } => Some(entries),
            Verification::Broken { seq, reason } => {
                bail!("the seeded audit chain is broken at {seq}: {reason}")
            }
        }
    } else {
        None
    };
    Ok(Seeded {
        server: serve(store).await?,
        _database: database,
        who: measured,
        run: SizeRun {
            people,
            rows,
            seeding,
            bulk,
            vacuum,
            disk_bytes,
            chain_verified,
            paths: Vec::new(),
        },
    })
}

/// The demo accounts the measurements and Alex's history name.
#[derive(Clone, Debug)]
struct Measured {
    alex: UserId,
    alex_person: PersonId,
    sam: UserId,
    jo: UserId,
    priya: UserId,
    conversation: ConversationId,
}

impl Measured {
    async fn find(store: &dyn Store) -> anyhow::Result<Self> {
        let user = |name: &'static str| async move {
            store
                .user_by_username(name)
                .await?
                .with_context(|| format!("the demo account {name}"))
        };
        let alex = user("alex").await?;
        let alex_person = alex.person_id.context("alex's person")?;
        let conversation = store
            .ensure_conversation(ConversationKey::Peer(alex_person), Clock::System.now())
            .await?;
        Ok(Self {
            alex: alex.id,
            alex_person,
            sam: user("sam").await?.id,
            jo: user("jo").await?.id,
            priya: user("priya").await?.id,
            conversation: conversation.id,
        })
    }
}

/// Alex's history beyond the demo's, through the store, as the server writes it.
async fn alex_history(store: &dyn Store, who: &Measured) -> anyhow::Result<()> {
    let now = Clock::System.now();
    let author = |id: UserId, role: Role| Author {
        id: id.to_string(),
        role: role.as_str().into(),
    };
    for (kind, versions, by) in [
        (
            PlanKind::EnablementPlan,
            PLAN_VERSIONS,
            author(who.priya, Role::Practitioner),
        ),
        (
            PlanKind::Wrap,
            WRAP_VERSIONS,
            author(who.alex, Role::ServiceUser),
        ),
    ] {
        let current = store
            .current_plan(who.alex_person, kind)
            .await?
            .context("alex's plans")?;
        for version in current.version + 1..=versions {
            let outcome = store
                .append_plan_version(
                    &NewPlanVersion {
                        person_id: who.alex_person,
                        kind,
                        base_version: version - 1,
                        body: current.body.decode()?,
                        author: by.clone(),
                        created_at: now,
                        exclude: Vec::new(),
                    },
                    &[],
                )
                .await?;
            if let AppendOutcome::Stale { current } = outcome {
                bail!("alex's plan moved to version {current} while it was seeded");
            }
        }
    }
    store
        .agree(
            &AgreementRecord {
                person_id: who.alex_person,
                version: PLAN_VERSIONS,
                agreed_by: who.alex,
                agreed_role: Role::ServiceUser.as_str().into(),
                agreed_at: now,
            },
            &[],
        )
        .await?;

    let team = store
        .person(who.alex_person)
        .await?
        .and_then(|p| p.team_id)
        .context("alex's team")?;
    for week in -ALEX_WEEKS_PAST..ALEX_WEEKS_AHEAD {
        let starts_at = now + chrono::Duration::weeks(week) + chrono::Duration::hours(1);
        let record = AppointmentRecord {
            id: AppointmentId::new(),
            person_id: who.alex_person,
            kind: AppointmentKind::KeyWorkerSession,
            title: Some("Key worker session".into()),
            starts_at,
            ends_at: starts_at + chrono::Duration::minutes(45),
            location: Location::Hub { team_id: team },
            status: if week < 0 {
                AppointmentStatus::Attended
            } else {
                AppointmentStatus::Booked
            },
            notes_for_person: Some("Ask at reception.".into()),
            accessibility: Accessibility {
                needs: [AccessibilityNeed::QuietSpace].into(),
                notes: None,
            },
            worker_ids: vec![who.priya],
            request: None,
            programme_id: None,
            programme_session_id: None,
            booking_id: None,
            sequence: 0,
            created_by: who.priya.to_string(),
            created_at: now,
            updated_at: now,
        };
        store.insert_appointment(&record, &[]).await?;
    }

    // Ten thousand messages with Jo, each told to its recipient, a few seconds apart over the
    // last day; Jo always working, so a send measured later gets no out-of-hours notice.
    let first = now - chrono::Duration::hours(20);
    let sends: Vec<NewSend> = (0..ALEX_MESSAGES)
        .map(|i| {
            let (sender, recipient) = if i % 2 == 0 {
                (who.jo, who.alex)
            } else {
                (who.alex, who.jo)
            };
            NewSend {
                message: NewMessage {
                    id: MessageId::new(),
                    conversation_id: who.conversation,
                    sender_id: sender,
                    client_id: ClientMessageId::new(),
                    body: message_body(i).into_owned(),
                    created_at: first + chrono::Duration::seconds(5 * i as i64),
                },
                notice: None,
                access: None,
                audience: Audience {
                    recipients: vec![recipient],
                    person_id: Some(who.alex_person),
                },
            }
        })
        .collect();
    for batch in sends.chunks(1_000) {
        store.send_messages(batch).await?;
    }
    let always = crate::always_available();
    store.set_availability(who.jo, &always, now).await?;
    Ok(())
}

/// Texts copied from the demo's rows, so every seeded value is one the server wrote or reads.
struct Templates {
    password_hash: String,
    plan: String,
    wrap: String,
    consent_scopes: String,
    consent_sections: String,
    accessibility: String,
}

impl Templates {
    async fn read(store: &dyn Store, who: &Measured) -> anyhow::Result<Self> {
        let alex = store.user_by_id(who.alex).await?.context("alex")?;
        let plan = |kind| async move {
            store
                .current_plan(who.alex_person, kind)
                .await?
                .context("alex's plan")
        };
        let mut wrap: Wrap = plan(PlanKind::Wrap).await?.body.decode()?;
        // Alex's WRAP names Sam as a helper; nobody else's names an account.
        for helper in &mut wrap.crisis_plan.supporters.helpers {
            helper.user_id = None;
        }
        let consent = store
            .consents(who.alex_person)
            .await?
            .into_iter()
            .next()
            .context("sam's consent")?;
        Ok(Self {
            password_hash: alex.password_hash,
            plan: plan(PlanKind::EnablementPlan)
                .await?
                .body
                .json_text()
                .to_owned(),
            wrap: serde_json::to_string(&wrap)?,
            consent_scopes: serde_json::to_string(&consent.scopes)?,
            consent_sections: serde_json::to_string(&consent.crisis_plan_sections)?,
            accessibility: serde_json::to_string(&Accessibility {
                needs: [AccessibilityNeed::StepFreeAccess].into(),
                notes: None,
            })?,
        })
    }
}

/// One value of a seeded row, written as each database stores what the server binds: ids as
/// 16-byte blobs on SQLite and `uuid` on Postgres, times as sqlx writes them (RFC 3339 text on
/// SQLite), JSON as text.
#[derive(Clone, Debug)]
enum Value {
    Null,
    Int(i64),
    Bool(bool),
    Text(Cow<'static, str>),
    Id(uuid::Uuid),
    Time(DateTime<Utc>),
    Bytes(Vec<u8>),
}

use Value::{Bool, Bytes, Id, Int, Null, Text, Time};

fn text(s: impl Into<Cow<'static, str>>) -> Value {
    Text(s.into())
}

fn optional_text(s: Option<String>) -> Value {
    s.map_or(Null, |s| Text(s.into()))
}

/// Where seeded rows go: one table at a time, in an order foreign keys allow.
trait Sink {
    fn start(
        &mut self,
        table: &'static str,
        columns: &'static [&'static str],
    ) -> anyhow::Result<()>;
    fn row(&mut self, values: &[Value]) -> anyhow::Result<()>;
    fn end(&mut self) -> anyhow::Result<()>;
}

/// What kind of thing an id names: ids are made from it and the thing's numbers, so every table
/// can name a row of another without keeping the ids.
#[derive(Clone, Copy)]
enum Kind {
    Team = 1,
    Practitioner,
    PeerWorker,
    Person,
    Account,
    Carer,
    Consent,
    Session,
    RefreshToken,
    Appointment,
    Conversation,
    Message,
    ClientId,
    Request,
}

/// The population written in bulk.
struct Population {
    people: usize,
    now: DateTime<Utc>,
    /// A year before `now`: the population's history runs from here.
    start: DateTime<Utc>,
    templates: Templates,
    who: Measured,
    /// The audit chain's head before the population's entries.
    audit_head: (i64, Vec<u8>),
}

impl Population {
    fn new(people: usize, who: Measured, templates: Templates, audit_head: (i64, Vec<u8>)) -> Self {
        let now = Clock::System.now();
        Self {
            people,
            now,
            start: now - chrono::Duration::days(365),
            templates,
            who,
            audit_head,
        }
    }

    fn teams(&self) -> usize {
        self.people.div_ceil(TEAM_SIZE)
    }

    /// A time-ordered (v7) id, the same every time it is asked for.
    fn id(&self, kind: Kind, a: usize, b: usize) -> uuid::Uuid {
        let a = a as u64;
        let mut bytes = [0u8; 10];
        // The builder overwrites the version nibble of byte 0 and the variant bits of byte 2.
        bytes[0] = kind as u8 & 0x0f;
        bytes[3..7].copy_from_slice(&(a as u32).to_be_bytes());
        bytes[7..10].copy_from_slice(&(b as u32).to_be_bytes()[1..]);
        let millis = u64::try_from(self.start.timestamp_millis()).unwrap_or_default() + (a >> 32);
        uuid::Builder::from_unix_timestamp_millis(millis, &bytes).into_uuid()
    }

    /// A moment `numerator / denominator` of the way through the year before now.
    fn during_year(&self, numerator: usize, denominator: usize) -> DateTime<Utc> {
        let year_ms = (self.now - self.start).num_milliseconds();
        let offset = (year_ms as i128 * numerator as i128 / denominator.max(1) as i128) as i64;
        self.start + chrono::Duration::milliseconds(offset)
    }

    fn team_of(person: usize) -> usize {
        person / TEAM_SIZE
    }

    fn key_worker(&self, person: usize) -> uuid::Uuid {
        self.id(
            Kind::Practitioner,
            Self::team_of(person),
            person % PRACTITIONERS,
        )
    }

    fn peer_worker(&self, person: usize) -> uuid::Uuid {
        self.id(
            Kind::PeerWorker,
            Self::team_of(person),
            person % PEER_WORKERS,
        )
    }

    fn carer(&self, person: usize) -> Option<uuid::Uuid> {
        person
            .is_multiple_of(CARER_EVERY)
            .then(|| self.id(Kind::Carer, person, 0))
    }

    /// Every table, parents before children.
    fn write(&self, sink: &mut dyn Sink) -> anyhow::Result<()> {
        self.staff(sink)?;
        self.people_and_accounts(sink)?;
        self.relationships(sink)?;
        self.sessions(sink)?;
        self.plans(sink)?;
        self.appointments(sink)?;
        self.conversations(sink)?;
        self.audit_log(sink)
    }

    fn staff(&self, sink: &mut dyn Sink) -> anyhow::Result<()> {
        let t = &self.templates;
        sink.start("teams", &["id", "name", "hub_address", "created_at"])?;
        for team in 0..self.teams() {
            sink.row(&[
                Id(self.id(Kind::Team, team, 0)),
                text(format!("Growth hub {team}")),
                text(format!("{team} Growth Street")),
                Time(self.start),
            ])?;
        }
        sink.end()?;
        sink.start("users", USER_COLUMNS)?;
        for team in 0..self.teams() {
            for (kind, count, role) in [
                (Kind::Practitioner, PRACTITIONERS, Role::Practitioner),
                (Kind::PeerWorker, PEER_WORKERS, Role::PeerWorker),
            ] {
                for k in 0..count {
                    sink.row(&[
                        Id(self.id(kind, team, k)),
                        text(format!("growth-{}-{team}-{k}", role.as_str())),
                        text(t.password_hash.clone()),
                        text(role.as_str()),
                        text(format!("Worker {team}-{k}")),
                        Null,
                        Time(self.start),
                    ])?;
                }
            }
        }
        sink.end()?;
        sink.start("team_members", &["team_id", "user_id", "added_at"])?;
        for team in 0..self.teams() {
            for (kind, count) in [
                (Kind::Practitioner, PRACTITIONERS),
                (Kind::PeerWorker, PEER_WORKERS),
            ] {
                for k in 0..count {
                    sink.row(&[
                        Id(self.id(Kind::Team, team, 0)),
                        Id(self.id(kind, team, k)),
                        Time(self.start),
                    ])?;
                }
            }
        }
        sink.end()
    }

    fn people_and_accounts(&self, sink: &mut dyn Sink) -> anyhow::Result<()> {
        sink.start("people", &["id", "display_name", "created_at"])?;
        for p in 0..self.people {
            sink.row(&[
                Id(self.id(Kind::Person, p, 0)),
                text(format!("Person {p}")),
                Time(self.start),
            ])?;
        }
        sink.end()?;
        sink.start("users", USER_COLUMNS)?;
        for p in 0..self.people {
            sink.row(&[
                Id(self.id(Kind::Account, p, 0)),
                text(format!("growth-person-{p}")),
                text(self.templates.password_hash.clone()),
                text(Role::ServiceUser.as_str()),
                text(format!("Person {p}")),
                Id(self.id(Kind::Person, p, 0)),
                Time(self.start),
            ])?;
            if let Some(carer) = self.carer(p) {
                sink.row(&[
                    Id(carer),
                    text(format!("growth-carer-{p}")),
                    text(self.templates.password_hash.clone()),
                    text(Role::Carer.as_str()),
                    text(format!("Carer of person {p}")),
                    Null,
                    Time(self.start),
                ])?;
            }
        }
        sink.end()
    }

    fn relationships(&self, sink: &mut dyn Sink) -> anyhow::Result<()> {
        let person = |p| Id(self.id(Kind::Person, p, 0));
        sink.start("caseloads", &["person_id", "team_id", "since"])?;
        for p in 0..self.people {
            sink.row(&[
                person(p),
                Id(self.id(Kind::Team, Self::team_of(p), 0)),
                Time(self.start),
            ])?;
        }
        sink.end()?;
        sink.start("key_workers", &["person_id", "user_id", "since"])?;
        for p in 0..self.people {
            sink.row(&[person(p), Id(self.key_worker(p)), Time(self.start)])?;
        }
        sink.end()?;
        sink.start(
            "peer_allocations",
            &["person_id", "peer_worker_id", "allocated_at"],
        )?;
        for p in 0..self.people {
            sink.row(&[person(p), Id(self.peer_worker(p)), Time(self.start)])?;
        }
        sink.end()?;
        sink.start(
            "carer_links",
            &["person_id", "carer_id", "relationship", "linked_at"],
        )?;
        for p in 0..self.people {
            if let Some(carer) = self.carer(p) {
                sink.row(&[person(p), Id(carer), text("parent"), Time(self.start)])?;
            }
        }
        sink.end()?;
        sink.start(
            "consents",
            &[
                "id",
                "person_id",
                "grantee_id",
                "grantee_role",
                "scopes",
                "crisis_plan_sections",
                "created_at",
                "expires_at",
                "revoked_at",
            ],
        )?;
        for p in 0..self.people {
            if let Some(carer) = self.carer(p) {
                sink.row(&[
                    Id(self.id(Kind::Consent, p, 0)),
                    person(p),
                    Id(carer),
                    text("carer"),
                    text(self.templates.consent_scopes.clone()),
                    text(self.templates.consent_sections.clone()),
                    Time(self.start),
                    Null,
                    Null,
                ])?;
            }
        }
        sink.end()
    }

    /// One session with one refresh token per person's account: sessions are read on every
    /// request.
    fn sessions(&self, sink: &mut dyn Sink) -> anyhow::Result<()> {
        sink.start(
            "sessions",
            &[
                "id",
                "user_id",
                "created_at",
                "revoked_at",
                "refresh_secret",
                "authenticated_at",
            ],
        )?;
        // 32 random bytes: a refresh secret, or the hash of a refresh token.
        let random = || {
            let mut bytes = Vec::with_capacity(32);
            bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
            bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
            bytes
        };
        for p in 0..self.people {
            let at = self.during_year(p, self.people);
            sink.row(&[
                Id(self.id(Kind::Session, p, 0)),
                Id(self.id(Kind::Account, p, 0)),
                Time(at),
                Null,
                Bytes(random()),
                Time(at),
            ])?;
        }
        sink.end()?;
        sink.start(
            "refresh_tokens",
            &[
                "id",
                "session_id",
                "token_hash",
                "issued_at",
                "expires_at",
                "rotated_at",
            ],
        )?;
        for p in 0..self.people {
            sink.row(&[
                Id(self.id(Kind::RefreshToken, p, 0)),
                Id(self.id(Kind::Session, p, 0)),
                Bytes(random()),
                Time(self.now),
                Time(self.now + chrono::Duration::days(30)),
                Null,
            ])?;
        }
        sink.end()
    }

    fn plans(&self, sink: &mut dyn Sink) -> anyhow::Result<()> {
        sink.start(
            "plan_versions",
            &[
                "person_id",
                "kind",
                "version",
                "body",
                "author_id",
                "author_role",
                "created_at",
            ],
        )?;
        for p in 0..self.people {
            let person = Id(self.id(Kind::Person, p, 0));
            for (kind, versions, body, author, role) in [
                (
                    PlanKind::EnablementPlan,
                    PLAN_VERSIONS,
                    &self.templates.plan,
                    self.key_worker(p),
                    Role::Practitioner,
                ),
                (
                    PlanKind::Wrap,
                    WRAP_VERSIONS,
                    &self.templates.wrap,
                    self.id(Kind::Account, p, 0),
                    Role::ServiceUser,
                ),
            ] {
                for version in 1..=versions {
                    sink.row(&[
                        person.clone(),
                        text(kind.as_str()),
                        Int(version.into()),
                        text(body.clone()),
                        text(author.to_string()),
                        text(role.as_str()),
                        Time(self.during_year(version as usize, versions as usize + 1)),
                    ])?;
                }
            }
        }
        sink.end()?;
        sink.start(
            "plan_agreements",
            &[
                "person_id",
                "version",
                "agreed_by",
                "agreed_role",
                "agreed_at",
            ],
        )?;
        for p in 0..self.people {
            sink.row(&[
                Id(self.id(Kind::Person, p, 0)),
                Int(PLAN_VERSIONS.into()),
                Id(self.id(Kind::Account, p, 0)),
                text(Role::ServiceUser.as_str()),
                Time(self.now - chrono::Duration::days(1)),
            ])?;
        }
        sink.end()
    }

    fn appointments(&self, sink: &mut dyn Sink) -> anyhow::Result<()> {
        sink.start(
            "appointments",
            &[
                "id",
                "person_id",
                "kind",
                "title",
                "starts_at",
                "ends_at",
                "location",
                "status",
                "notes_for_person",
                "accessibility",
                "worker_ids",
                "request",
                "request_pending",
                "programme_id",
                "programme_session_id",
                "booking_id",
                "sequence",
                "created_by",
                "created_at",
                "updated_at",
            ],
        )?;
        for p in 0..self.people {
            let worker = self.key_worker(p);
            let location = serde_json::to_string(&Location::Hub {
                team_id: TeamId::from(self.id(Kind::Team, Self::team_of(p), 0)),
            })?;
            let worker_ids = serde_json::to_string(&[UserId::from(worker)])?;
            for a in 0..APPOINTMENTS_PAST + APPOINTMENTS_AHEAD {
                let starts_at = self.appointment_start(p, a);
                let created_at = (starts_at - chrono::Duration::days(14)).min(self.now);
                sink.row(&[
                    Id(self.id(Kind::Appointment, p, a)),
                    Id(self.id(Kind::Person, p, 0)),
                    text(AppointmentKind::KeyWorkerSession.as_str()),
                    text("Key worker session"),
                    Time(starts_at),
                    Time(starts_at + chrono::Duration::minutes(45)),
                    text(location.clone()),
                    text(
                        if a < APPOINTMENTS_PAST {
                            AppointmentStatus::Attended
                        } else {
                            AppointmentStatus::Booked
                        }
                        .as_str(),
                    ),
                    text("Ask at reception."),
                    text(self.templates.accessibility.clone()),
                    text(worker_ids.clone()),
                    Null,
                    Bool(false),
                    Null,
                    Null,
                    Null,
                    Int(0),
                    text(worker.to_string()),
                    Time(created_at),
                    Time(created_at),
                ])?;
            }
        }
        sink.end()?;
        sink.start("appointment_workers", &["appointment_id", "user_id"])?;
        for p in 0..self.people {
            for a in 0..APPOINTMENTS_PAST + APPOINTMENTS_AHEAD {
                sink.row(&[Id(self.id(Kind::Appointment, p, a)), Id(self.key_worker(p))])?;
            }
        }
        sink.end()
    }

    /// The past ones spread over the year, the rest over the next three months, each on an
    /// hour of its own in the working day.
    fn appointment_start(&self, person: usize, a: usize) -> DateTime<Utc> {
        let day = if a < APPOINTMENTS_PAST {
            self.during_year(a + 1, APPOINTMENTS_PAST + 1)
        } else {
            self.now + chrono::Duration::days(15 * (a - APPOINTMENTS_PAST + 1) as i64)
        };
        day + chrono::Duration::minutes((person % 480) as i64)
    }

    fn message_sender(&self, person: usize, seq: usize) -> uuid::Uuid {
        if seq % 2 == 1 {
            self.id(Kind::Account, person, 0)
        } else {
            self.peer_worker(person)
        }
    }

    fn message_recipient(&self, person: usize, seq: usize) -> uuid::Uuid {
        self.message_sender(person, seq + 1)
    }

    fn message_at(&self, person: usize, seq: usize) -> DateTime<Utc> {
        self.during_year(seq, MESSAGES + 1) + chrono::Duration::seconds((person % 3_600) as i64)
    }

    fn conversations(&self, sink: &mut dyn Sink) -> anyhow::Result<()> {
        sink.start(
            "conversations",
            &[
                "id",
                "kind",
                "person_id",
                "carer_id",
                "last_seq",
                "last_message_at",
                "last_notice_at",
                "created_at",
            ],
        )?;
        for p in 0..self.people {
            sink.row(&[
                Id(self.id(Kind::Conversation, p, 0)),
                text("peer"),
                Id(self.id(Kind::Person, p, 0)),
                Null,
                Int(MESSAGES as i64),
                Time(self.message_at(p, MESSAGES)),
                Null,
                Time(self.start),
            ])?;
        }
        sink.end()?;
        sink.start(
            "messages",
            &[
                "id",
                "conversation_id",
                "seq",
                "sender_id",
                "client_id",
                "kind",
                "body",
                "notice",
                "created_at",
            ],
        )?;
        for p in 0..self.people {
            let conversation = Id(self.id(Kind::Conversation, p, 0));
            for seq in 1..=MESSAGES {
                sink.row(&[
                    Id(self.id(Kind::Message, p, seq)),
                    conversation.clone(),
                    Int(seq as i64),
                    Id(self.message_sender(p, seq)),
                    Id(self.id(Kind::ClientId, p, seq)),
                    text("text"),
                    Text(message_body(p + seq)),
                    Null,
                    Time(self.message_at(p, seq)),
                ])?;
            }
        }
        sink.end()?;
        sink.start(
            "conversation_cursors",
            &[
                "conversation_id",
                "user_id",
                "delivered_seq",
                "read_seq",
                "updated_at",
            ],
        )?;
        for p in 0..self.people {
            for user in [self.id(Kind::Account, p, 0), self.peer_worker(p)] {
                sink.row(&[
                    Id(self.id(Kind::Conversation, p, 0)),
                    Id(user),
                    Int(MESSAGES as i64),
                    Int(MESSAGES as i64),
                    Time(self.message_at(p, MESSAGES)),
                ])?;
            }
        }
        sink.end()?;
        // The recipient's notification of the newest messages, as a send stores it.
        sink.start(
            "events",
            &["recipient_id", "kind", "person_id", "data", "created_at"],
        )?;
        for p in 0..self.people {
            for seq in MESSAGES - MESSAGES_WITH_EVENTS + 1..=MESSAGES {
                let data = MessageCreatedData {
                    conversation_id: ConversationId::from(self.id(Kind::Conversation, p, 0)),
                    message_id: MessageId::from(self.id(Kind::Message, p, seq)),
                    seq: seq as i64,
                };
                sink.row(&[
                    Id(self.message_recipient(p, seq)),
                    text("message_created"),
                    Id(self.id(Kind::Person, p, 0)),
                    text(serde_json::to_string(&data)?),
                    Time(self.message_at(p, seq)),
                ])?;
            }
        }
        sink.end()
    }

    /// A year of reads, oldest first, in one hash chain continuing the demo's entries. The
    /// chain is computed as the server computes it ([`audit::chain_hash`]): `audit verify`
    /// checks it, and the server's next entry links to the last one here.
    fn audit_log(&self, sink: &mut dyn Sink) -> anyhow::Result<()> {
        sink.start(
            "audit_log",
            &[
                "seq",
                "at",
                "actor_id",
                "actor_role",
                "on_behalf_of",
                "subject_id",
                "resource",
                "action",
                "outcome",
                "relationship",
                "request_id",
                "via",
                "read_at",
                "prev_hash",
                "hash",
            ],
        )?;
        let (mut seq, mut prev_hash) = self.audit_head.clone();
        let total = self.people * AUDIT_ENTRIES + ALEX_ACCESS_LOG;
        for k in 0..total {
            // Alex's entries are spread evenly among everyone else's.
            let about_alex = (k + 1) * ALEX_ACCESS_LOG / total != k * ALEX_ACCESS_LOG / total;
            let person = k % self.people;
            let (subject, actors) = if about_alex {
                let w = &self.who;
                (
                    w.alex_person.as_uuid(),
                    [
                        Some(w.alex.as_uuid()),
                        Some(w.priya.as_uuid()),
                        Some(w.jo.as_uuid()),
                        Some(w.sam.as_uuid()),
                    ],
                )
            } else {
                (
                    self.id(Kind::Person, person, 0),
                    [
                        Some(self.id(Kind::Account, person, 0)),
                        Some(self.key_worker(person)),
                        Some(self.peer_worker(person)),
                        self.carer(person),
                    ],
                )
            };
            // Who reads what, in turn: the person (half of it through a sync), their key worker,
            // their peer worker, their carer (or the person again).
            let (actor, role, grounds, resource, via) = match (k / self.people) % 4 {
                1 => (
                    actors[1],
                    Role::Practitioner,
                    Grounds::Team,
                    Resource::EnablementPlan,
                    None,
                ),
                2 => (
                    actors[2],
                    Role::PeerWorker,
                    Grounds::AllocatedPeer,
                    Resource::Messages,
                    None,
                ),
                3 if actors[3].is_some() => (
                    actors[3],
                    Role::Carer,
                    Grounds::CarerConsent,
                    Resource::CrisisPlan,
                    None,
                ),
                _ => (
                    actors[0],
                    Role::ServiceUser,
                    Grounds::OwnRecord,
                    [Resource::CrisisPlan, Resource::Appointments][k % 2],
                    (k % 3 == 0).then(|| "sync".to_owned()),
                ),
            };
            let entry = NewAuditEntry {
                at: self.during_year(k, total),
                actor_id: actor.map(|a| a.to_string()),
                actor_role: role.as_str().to_owned(),
                on_behalf_of: None,
                subject_id: Some(PersonId::from(subject)),
                resource: resource.as_str().to_owned(),
                action: "read".to_owned(),
                outcome: "allowed".to_owned(),
                relationship: Some(grounds.as_str().to_owned()),
                request_id: Some(self.id(Kind::Request, k, 0).to_string()),
                via,
                read_at: None,
            };
            seq += 1;
            let hash = audit::chain_hash(seq, &prev_hash, &entry);
            sink.row(&[
                Int(seq),
                Time(entry.at),
                optional_text(entry.actor_id),
                text(entry.actor_role),
                Null,
                Id(subject),
                text(entry.resource),
                text(entry.action),
                text(entry.outcome),
                optional_text(entry.relationship),
                optional_text(entry.request_id),
                optional_text(entry.via),
                Null,
                Bytes(std::mem::replace(&mut prev_hash, hash.clone())),
                Bytes(hash),
            ])?;
        }
        sink.end()
    }
}

const USER_COLUMNS: &[&str] = &[
    "id",
    "username",
    "password_hash",
    "role",
    "display_name",
    "person_id",
    "created_at",
];

/// What people write to their peer worker and back (synthetic).
fn message_body(n: usize) -> Cow<'static, str> {
    const BODIES: [&str; 8] = [
        "How are you getting on today?",
        "Better than yesterday, thanks. I got out for a walk.",
        "That's good to hear. Shall we meet at the hub on Thursday?",
        "Thursday works. Could we make it after lunch?",
        "Of course. I'll book the quiet room.",
        "I didn't sleep well, but I'm doing the things on my plan.",
        "Well done for sticking with it. Want a call later?",
        "A text is easier for me this week, if that's alright.",
    ];
    Cow::Borrowed(BODIES[n % BODIES.len()])
}

/// Writes the population to Postgres with one COPY per table; the rows are made on a thread of
/// their own while the database takes the previous chunk. The number of rows written.
async fn seed_postgres(url: &str, population: Population) -> anyhow::Result<u64> {
    let mut conn = sqlx::PgConnection::connect(url).await?;
    // The bench database is thrown away after the run; a crash during seeding loses nothing.
    sqlx::query("SET synchronous_commit = off")
        .execute(&mut conn)
        .await?;
    // Foreign keys are not checked row by row here (their triggers do not fire for a replica):
    // that halves the time of the largest COPYs. The same rows, from the same generator, are
    // checked by SQLite (`PRAGMA foreign_keys = ON` in `seed_sqlite`). Needs a superuser, as
    // the tests' Postgres is; without one the checks stay on and seeding is slower.
    if let Err(error) = sqlx::query("SET session_replication_role = replica")
        .execute(&mut conn)
        .await
    {
        say(&format!(
            "    foreign keys checked while seeding ({error}): slower"
        ));
    }
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Copy>(8);
    let generator = tokio::task::spawn_blocking(move || {
        let mut sink = CopySink {
            sender,
            buffer: Vec::with_capacity(COPY_CHUNK * 2),
            rows: 0,
        };
        population.write(&mut sink)?;
        anyhow::Ok(sink.rows)
    });
    let copied = async {
        while let Some(message) = receiver.recv().await {
            let Copy::Start(statement) = message else {
                bail!("COPY data before its table");
            };
            let mut copy = conn.copy_in_raw(&statement).await?;
            loop {
                match receiver.recv().await {
                    Some(Copy::Data(data)) => {
                        copy.send(data).await?;
                    }
                    Some(Copy::End) => break,
                    _ => {
                        copy.abort("the rows stopped coming").await?;
                        bail!("the rows for {statement} stopped coming");
                    }
                }
            }
            copy.finish().await?;
        }
        anyhow::Ok(())
    }
    .await;
    // A failed COPY drops the receiver, which stops the generator with an error of its own:
    // the COPY's is the one that says why.
    let generated = generator.await?;
    copied?;
    generated
}

enum Copy {
    Start(String),
    Data(Vec<u8>),
    End,
}

/// Rows in COPY's text format, sent a chunk at a time.
struct CopySink {
    sender: tokio::sync::mpsc::Sender<Copy>,
    buffer: Vec<u8>,
    rows: u64,
}

impl CopySink {
    fn send(&self, message: Copy) -> anyhow::Result<()> {
        self.sender
            .blocking_send(message)
            .ok()
            .context("the COPY stopped")
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        if !self.buffer.is_empty() {
            let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(COPY_CHUNK * 2));
            self.send(Copy::Data(chunk))?;
        }
        Ok(())
    }
}

impl Sink for CopySink {
    fn start(
        &mut self,
        table: &'static str,
        columns: &'static [&'static str],
    ) -> anyhow::Result<()> {
        self.send(Copy::Start(format!(
            "COPY {table} ({}) FROM STDIN",
            columns.join(", ")
        )))
    }

    fn row(&mut self, values: &[Value]) -> anyhow::Result<()> {
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                self.buffer.push(b'\t');
            }
            copy_text(&mut self.buffer, value)?;
        }
        self.buffer.push(b'\n');
        self.rows += 1;
        if self.buffer.len() >= COPY_CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    fn end(&mut self) -> anyhow::Result<()> {
        self.flush()?;
        self.send(Copy::End)
    }
}

/// One value in COPY's text format: `\N` for NULL, backslash escapes in text, `\\x` hex for
/// bytea.
fn copy_text(out: &mut Vec<u8>, value: &Value) -> std::io::Result<()> {
    match value {
        Null => out.extend_from_slice(b"\\N"),
        Int(i) => write!(out, "{i}")?,
        Bool(b) => out.push(if *b { b't' } else { b'f' }),
        Text(s) => {
            for byte in s.bytes() {
                match byte {
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    other => out.push(other),
                }
            }
        }
        Id(id) => write!(out, "{id}")?,
        Time(at) => {
            out.extend_from_slice(at.to_rfc3339_opts(SecondsFormat::Micros, true).as_bytes())
        }
        Bytes(bytes) => {
            out.extend_from_slice(b"\\\\x");
            for byte in bytes {
                write!(out, "{byte:02x}")?;
            }
        }
    }
    Ok(())
}

/// Writes the population to the SQLite file with prepared multi-row INSERTs, committing every
/// [`SQLITE_ROWS_PER_COMMIT`] rows, on a connection of its own (the server is not running yet).
fn seed_sqlite(path: &Path, population: &Population) -> anyhow::Result<u64> {
    let conn = rusqlite::Connection::open(path)?;
    // Foreign keys checked as the server's connections check them; the rest is for speed only
    // (a bench database, thrown away after the run): no fsync, a large page cache.
    conn.execute_batch(
        "PRAGMA foreign_keys = ON; PRAGMA synchronous = OFF; PRAGMA cache_size = -2000000; \
         PRAGMA temp_store = MEMORY; BEGIN",
    )?;
    let mut sink = SqliteSink {
        conn,
        table: "",
        columns: &[],
        pending: Vec::new(),
        rows: 0,
        uncommitted: 0,
    };
    population.write(&mut sink)?;
    sink.conn
        .execute_batch("COMMIT; PRAGMA wal_checkpoint(TRUNCATE)")?;
    Ok(sink.rows)
}

struct SqliteSink {
    conn: rusqlite::Connection,
    table: &'static str,
    columns: &'static [&'static str],
    pending: Vec<Value>,
    rows: u64,
    uncommitted: usize,
}

impl SqliteSink {
    /// Rows per INSERT: as many as SQLite's limit on parameters allows, at most 500.
    fn rows_per_statement(&self) -> usize {
        (32_766 / self.columns.len().max(1)).min(500)
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let width = self.columns.len();
        let rows = self.pending.len() / width;
        let row = format!("({})", vec!["?"; width].join(", "));
        let sql = format!(
            "INSERT INTO {} ({}) VALUES {}",
            self.table,
            self.columns.join(", "),
            vec![row; rows].join(", ")
        );
        self.conn
            .prepare_cached(&sql)?
            .execute(rusqlite::params_from_iter(self.pending.iter()))
            .with_context(|| format!("inserting into {}", self.table))?;
        self.pending.clear();
        self.uncommitted += rows;
        if self.uncommitted >= SQLITE_ROWS_PER_COMMIT {
            self.conn.execute_batch("COMMIT; BEGIN")?;
            self.uncommitted = 0;
        }
        Ok(())
    }
}

impl Sink for SqliteSink {
    fn start(
        &mut self,
        table: &'static str,
        columns: &'static [&'static str],
    ) -> anyhow::Result<()> {
        self.table = table;
        self.columns = columns;
        Ok(())
    }

    fn row(&mut self, values: &[Value]) -> anyhow::Result<()> {
        self.pending.extend_from_slice(values);
        self.rows += 1;
        if self.pending.len() / self.columns.len().max(1) >= self.rows_per_statement() {
            self.flush()?;
        }
        Ok(())
    }

    fn end(&mut self) -> anyhow::Result<()> {
        self.flush()
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value as Owned, ValueRef};
        Ok(match self {
            Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Bool(b) => ToSqlOutput::Borrowed(ValueRef::Integer(i64::from(*b))),
            Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Id(id) => ToSqlOutput::Borrowed(ValueRef::Blob(id.as_bytes())),
            // As sqlx's SQLite driver writes a `DateTime<Utc>`, so the server's comparisons of
            // times as text hold between seeded rows and its own.
            Time(at) => ToSqlOutput::Owned(Owned::Text(
                at.to_rfc3339_opts(SecondsFormat::AutoSi, false),
            )),
            Bytes(bytes) => ToSqlOutput::Borrowed(ValueRef::Blob(bytes)),
        })
    }
}

fn sqlite_path(url: &str) -> anyhow::Result<&Path> {
    url.strip_prefix("sqlite://")
        .map(Path::new)
        .context("a SQLite URL")
}

/// The database's size on disk: the SQLite file with its WAL, or `pg_database_size`.
async fn disk_bytes(database: &TestDatabase) -> anyhow::Result<u64> {
    match database.backend() {
        Backend::Sqlite => {
            let path = sqlite_path(&database.url)?;
            let mut bytes = std::fs::metadata(path)?.len();
            for suffix in ["-wal", "-shm"] {
                let mut name = path.as_os_str().to_owned();
                name.push(suffix);
                bytes += std::fs::metadata(&name).map_or(0, |m| m.len());
            }
            Ok(bytes)
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&database.url).await?;
            let (bytes,): (i64,) = sqlx::query_as("SELECT pg_database_size(current_database())")
                .fetch_one(&mut conn)
                .await?;
            Ok(u64::try_from(bytes)?)
        }
    }
}

fn gigabytes(bytes: u64) -> String {
    format!("{:.2} GB", bytes as f64 / 1e9)
}

/// One seeded size's server, signed in as the measured accounts, with the reads to make.
struct Site {
    people: usize,
    url: String,
    alex: String,
    conversation: ConversationId,
    reads: Vec<ReadPath>,
}

impl Site {
    async fn open(client: &reqwest::Client, seeded: &Seeded) -> anyhow::Result<Self> {
        let url = seeded.server.url.clone();
        let who = &seeded.who;
        let alex = token(&sign_in(client, &url, "alex").await?)?;
        let sam = token(&sign_in(client, &url, "sam").await?)?;
        let person = who.alex_person;
        let conversation = who.conversation;
        let newest = get_json(
            client,
            &format!("{url}/v1/conversations/{conversation}/messages?limit=1"),
            &alex,
        )
        .await?;
        let last_seq = newest["last_seq"].as_i64().context("the newest message")?;
        let request = |label, path: String, token: &String| ReadPath {
            label,
            path,
            token: token.clone(),
        };
        let reads = vec![
            request("`/v1/me`", "/v1/me".into(), &alex),
            request(
                "enablement plan",
                format!("/v1/people/{person}/enablement-plan"),
                &alex,
            ),
            request(
                "crisis plan, as the person",
                format!("/v1/people/{person}/crisis-plan"),
                &alex,
            ),
            request(
                "crisis plan, as a carer",
                format!("/v1/people/{person}/crisis-plan"),
                &sam,
            ),
            request(
                "appointments",
                format!("/v1/people/{person}/appointments"),
                &alex,
            ),
            request(
                "newest page of 50 messages",
                format!(
                    "/v1/conversations/{conversation}/messages?after_seq={}&limit={PAGE}",
                    (last_seq - PAGE).max(0)
                ),
                &alex,
            ),
            request(
                "the access log",
                format!("/v1/people/{person}/access-log"),
                &alex,
            ),
        ];
        Ok(Self {
            people: seeded.run.people,
            url,
            alex,
            conversation,
            reads,
        })
    }
}

/// Every path at 32 connections on every site, each after a short unrecorded warm-up: the
/// reads, then a sync with nothing new, then sends (last, as they lengthen Alex's
/// conversation). What each site measured, in the order of `sites`.
async fn measure(
    client: &reqwest::Client,
    sites: &[Site],
    phase: Duration,
) -> anyhow::Result<Vec<Vec<(&'static str, Throughput)>>> {
    // Unrecorded load before each measured path, so none pays for caches another left cold.
    let warm_up = (phase / 4).clamp(Duration::from_millis(500), Duration::from_secs(1));
    let mut measured: Vec<Vec<(&'static str, Throughput)>> = vec![Vec::new(); sites.len()];
    let reads = sites.first().map_or(0, |site| site.reads.len());
    for i in 0..reads {
        for (site, measured) in sites.iter().zip(&mut measured) {
            let read = &site.reads[i];
            let target = format!("{}{}", site.url, read.path);
            let answer = client.get(&target).bearer_auth(&read.token).send().await?;
            if !answer.status().is_success() {
                bail!("{} answered {}", read.label, answer.status());
            }
            let targets = Arc::new(vec![(target, Some(read.token.clone()))]);
            requests_per_second(client, targets.clone(), CONNECTIONS, warm_up).await;
            let took = requests_per_second(client, targets, CONNECTIONS, phase).await;
            report_path(site.people, read.label, &took);
            measured.push((read.label, took));
        }
    }

    for (site, measured) in sites.iter().zip(&mut measured) {
        // The phone catches up (the reads above are news in Alex's access log) until a sync
        // brings nothing and answers the cursor it was given, then asks again with nothing
        // new.
        let mut cursor: Option<String> = None;
        loop {
            let (page, _) = sync_once(client, &site.url, &site.alex, cursor.as_deref()).await?;
            let caught_up = !page.has_more
                && page.records.is_empty()
                && page.tombstones.is_empty()
                && cursor.as_deref() == Some(page.cursor.as_str());
            cursor = Some(page.cursor);
            if caught_up {
                break;
            }
        }
        let since = cursor.context("a sync cursor")?;
        let targets = Arc::new(vec![(
            format!("{}/v1/sync?limit=1000&since={since}", site.url),
            Some(site.alex.clone()),
        )]);
        requests_per_second(client, targets.clone(), CONNECTIONS, warm_up).await;
        let took = requests_per_second(client, targets, CONNECTIONS, phase).await;
        let (page, _) = sync_once(client, &site.url, &site.alex, Some(&since)).await?;
        if !page.records.is_empty() {
            bail!(
                "a sync with nothing new delivered {} records",
                page.records.len()
            );
        }
        report_path(site.people, SYNC, &took);
        measured.push((SYNC, took));
    }

    for (site, measured) in sites.iter().zip(&mut measured) {
        let send = Arc::new({
            let (client, token) = (client.clone(), site.alex.clone());
            let url = format!(
                "{}/v1/conversations/{}/messages",
                site.url, site.conversation
            );
            move |_: usize, _: u64| {
                let (client, url, token) = (client.clone(), url.clone(), token.clone());
                async move {
                    client
                        .post(url)
                        .bearer_auth(token)
                        .json(&json!({"client_id": uuid::Uuid::now_v7(), "body": "How are you getting on today?"}))
                        .send()
                        .await?
                        .error_for_status()?;
                    Ok(())
                }
            }
        });
        let warm = send.clone();
        closed_loop(CONNECTIONS, warm_up, move |w, n| warm(w, n)).await;
        let took = closed_loop(CONNECTIONS, phase, move |w, n| send(w, n)).await;
        report_path(site.people, SEND, &took);
        measured.push((SEND, took));
    }
    Ok(measured)
}

fn report_path(people: usize, label: &str, took: &Throughput) {
    say(&format!(
        "    {people} people, {label}: {:.0} req/s, p50 {} p99 {}{}",
        took.per_second,
        ms(took.p50),
        ms(took.p99),
        if took.errors > 0 {
            format!(", {} errors", took.errors)
        } else {
            String::new()
        }
    ));
}

impl Growth {
    /// The ceiling `label`'s path is read against, and its name; `None` where the run has none.
    fn ceiling_of(&self, label: &str) -> Option<(f64, &'static str)> {
        let ceilings = &self.ceilings;
        let healthz = Some((ceilings.healthz, "`/healthz`"));
        match (self.backend, label) {
            (_, SYNC) => healthz,
            (Backend::Sqlite, SEND) => None,
            (Backend::Sqlite, _) => healthz,
            (Backend::Postgres, SEND) => ceilings.write.map(|tps| (tps, "`pgbench -N`")),
            (Backend::Postgres, _) => ceilings.select.map(|tps| (tps, "`pgbench -S`")),
        }
    }

    /// The report's table for this database: each path at each size, and how much its p50
    /// grew from the smallest size to the largest.
    pub fn markdown(&self) -> String {
        let name = match self.backend {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "Postgres",
        };
        let mut out = format!("### Growth, {name}\n\n| |");
        for size in &self.sizes {
            out.push_str(&format!(" {} people |", thousands(size.people as u64)));
        }
        out.push_str(" p50, largest ÷ smallest |\n|---|");
        for _ in &self.sizes {
            out.push_str("---|");
        }
        out.push_str("---|\n");
        let mut line = |label: &str, cells: Vec<String>, last: &str| {
            out.push_str(&format!("| {label} | {} | {last} |\n", cells.join(" | ")));
        };
        line(
            "rows written in bulk",
            self.sizes.iter().map(|s| thousands(s.rows)).collect(),
            "",
        );
        line(
            "seeding, wall time: all (the bulk write; `VACUUM (ANALYZE)`)",
            self.sizes
                .iter()
                .map(|s| {
                    format!(
                        "{:.0} s ({:.0} s{})",
                        s.seeding.as_secs_f64(),
                        s.bulk.as_secs_f64(),
                        s.vacuum
                            .map_or(String::new(), |v| format!("; {:.0} s", v.as_secs_f64()))
                    )
                })
                .collect(),
            "",
        );
        line(
            "database on disk",
            self.sizes.iter().map(|s| gigabytes(s.disk_bytes)).collect(),
            "",
        );
        line(
            "audit chain verified after seeding",
            self.sizes
                .iter()
                .map(|s| {
                    s.chain_verified.map_or("not checked".into(), |n| {
                        format!("{} entries", thousands(n))
                    })
                })
                .collect(),
            "",
        );
        let ceilings = &self.ceilings;
        let tps = |tps: Option<f64>| match (self.backend, tps) {
            (_, Some(tps)) => format!("{tps:.0} tps"),
            (Backend::Sqlite, None) => "—".to_owned(),
            (Backend::Postgres, None) => "not measured".to_owned(),
        };
        line(
            "ceilings of the run: `/healthz`; `pgbench -S`; `pgbench -N`",
            // Of the run, not of a size: in the first column.
            std::iter::once(format!(
                "{:.0} req/s; {}; {}",
                ceilings.healthz,
                tps(ceilings.select),
                tps(ceilings.write)
            ))
            .chain(self.sizes.iter().skip(1).map(|_| String::new()))
            .collect(),
            "",
        );
        let Some((first, last)) = self.sizes.first().zip(self.sizes.last()) else {
            return out;
        };
        for (i, (label, _)) in first.paths.iter().enumerate() {
            let cells = self
                .sizes
                .iter()
                .map(|s| {
                    s.paths.get(i).map_or("—".into(), |(_, t)| {
                        let ratio =
                            self.ceiling_of(label)
                                .map_or(String::new(), |(ceiling, name)| {
                                    format!(" ({:.1} % of {name})", 100.0 * t.per_second / ceiling)
                                });
                        format!(
                            "{:.0} req/s{ratio}, {} / {}",
                            t.per_second,
                            ms(t.p50),
                            ms(t.p99)
                        )
                    })
                })
                .collect();
            let growth = last.paths.get(i).map_or(String::new(), |(_, t)| {
                let factor = t.p50.as_secs_f64() / first.paths[i].1.p50.as_secs_f64().max(1e-9);
                if factor > MAX_GROWTH {
                    format!("**{factor:.2}× (over {MAX_GROWTH}×)**")
                } else {
                    format!("{factor:.2}×")
                }
            });
            line(&format!("{label}: req/s, p50 / p99"), cells, &growth);
        }
        out
    }
}

/// `12345678` as `12,345,678`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}
