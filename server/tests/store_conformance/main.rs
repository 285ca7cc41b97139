//! One conformance suite for both stores.
//!
//! Every case runs once on SQLite (a fresh file in a temporary directory) and once on Postgres
//! (a fresh database on the local server, dropped afterwards), through the [`Store`] trait only,
//! so the two implementations are held to the same observable behaviour. The few cases that
//! must go around the store (to try to change the audit log) use a separate pool on the same
//! database.
//!
//! The harness and the builders every store needs are here; the cases are in one module per
//! store trait (`foundation` for [`Store`] itself), each listing its own in `conformance!`.
//!
//! Postgres: `postgres://postgres@127.0.0.1:5432/postgres`, or `LIVINGWELL_TEST_POSTGRES`.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use livingwell_core::domain::consent::{Consent, Grantee};
use livingwell_core::domain::{ConsentId, ConsentScope, PersonId, Role, TeamId, UserId};
use livingwell_server::clock::Clock;
use livingwell_server::store::{self, NewAuditEntry, PersonRecord, Store, TeamRecord, UserRecord};
use livingwell_testkit::{Backend, TestDatabase};

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// The time a case stores things at: the wall clock, at the precision the store keeps.
fn now() -> DateTime<Utc> {
    Clock::System.now()
}

/// A second way into the same database, around the store, for what the store never does.
#[derive(Debug)]
enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Raw {
    async fn connect(db: &TestDatabase) -> Self {
        match db.backend() {
            Backend::Sqlite => Raw::Sqlite(
                sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect(&db.url)
                    .await
                    .unwrap(),
            ),
            Backend::Postgres => Raw::Postgres(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .connect(&db.url)
                    .await
                    .unwrap(),
            ),
        }
    }

    fn backend(&self) -> Backend {
        match self {
            Raw::Sqlite(_) => Backend::Sqlite,
            Raw::Postgres(_) => Backend::Postgres,
        }
    }

    /// Runs one statement; the rows it affected.
    async fn execute(&self, sql: &'static str) -> Result<u64, sqlx::Error> {
        match self {
            Raw::Sqlite(pool) => Ok(sqlx::query(sql).execute(pool).await?.rows_affected()),
            Raw::Postgres(pool) => Ok(sqlx::query(sql).execute(pool).await?.rows_affected()),
        }
    }

    async fn close(self) {
        match self {
            Raw::Sqlite(pool) => pool.close().await,
            Raw::Postgres(pool) => pool.close().await,
        }
    }

    /// Runs this backend's migrations up to and including `version`, as an older release did.
    async fn migrate_to(&self, version: i64) {
        let directory = match self.backend() {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        };
        let migrator = sqlx::migrate::Migrator::new(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(directory),
        )
        .await
        .unwrap();
        match self {
            Raw::Sqlite(pool) => migrator.run_to(version, pool).await.unwrap(),
            Raw::Postgres(pool) => migrator.run_to(version, pool).await.unwrap(),
        }
    }

    /// Writes to a counted table on this connection (statement-level on Postgres: counted
    /// though no row changes), then ends the connection.
    async fn count_a_write_and_close(self) {
        let sql = "UPDATE teams SET name = name WHERE 1 = 0";
        match self {
            Raw::Sqlite(pool) => {
                sqlx::query(sql).execute(&pool).await.unwrap();
                pool.close().await;
            }
            Raw::Postgres(pool) => {
                sqlx::query(sql).execute(&pool).await.unwrap();
                pool.close().await;
            }
        }
    }

    /// Every table of the schema (sqlx's own aside), and the writes (`INSERT`, `UPDATE`,
    /// `DELETE`) to each that a trigger counts into the sync generation.
    async fn sync_counted_writes(&self) -> BTreeSet<(String, String)> {
        let (tables, triggers): (Vec<(String,)>, Vec<(String, String)>) = match self {
            Raw::Sqlite(pool) => (
                sqlx::query_as(
                    "SELECT name FROM sqlite_master WHERE type = 'table' \
                     AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%'",
                )
                .fetch_all(pool)
                .await
                .unwrap(),
                sqlx::query_as(
                    "SELECT tbl_name, upper(substr(name, length(tbl_name) + 2, 6)) \
                     FROM sqlite_master WHERE type = 'trigger' AND name LIKE '%\\_sync' ESCAPE '\\' \
                     AND sql LIKE '%sync_generation%'",
                )
                .fetch_all(pool)
                .await
                .unwrap(),
            ),
            Raw::Postgres(pool) => (
                sqlx::query_as(
                    "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() \
                     AND tablename NOT LIKE '\\_sqlx%'",
                )
                .fetch_all(pool)
                .await
                .unwrap(),
                sqlx::query_as(
                    "SELECT event_object_table::text, event_manipulation::text \
                     FROM information_schema.triggers WHERE action_statement LIKE '%sync_generation%'",
                )
                .fetch_all(pool)
                .await
                .unwrap(),
            ),
        };
        let mut counted: BTreeSet<(String, String)> = triggers.into_iter().collect();
        for (table,) in tables {
            counted.insert((table, String::new()));
        }
        counted
    }

    /// Stores a session the way releases before migration 0007 did: without a refresh secret.
    async fn insert_session_before_0007(&self, session: uuid::Uuid, user: UserId) {
        let sql = "INSERT INTO sessions (id, user_id, created_at) VALUES ($1, $2, $3)";
        let now = now();
        match self {
            Raw::Sqlite(pool) => {
                let query = sqlx::query(sql).bind(session).bind(user.as_uuid());
                query.bind(now).execute(pool).await.unwrap();
            }
            Raw::Postgres(pool) => {
                let query = sqlx::query(sql).bind(session).bind(user.as_uuid());
                query.bind(now).execute(pool).await.unwrap();
            }
        };
    }
}

async fn open_store(db: &TestDatabase) -> Arc<dyn Store> {
    let store = store::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    store
}

/// Runs a case on a fresh, migrated database of `backend`.
async fn run<F, Fut>(backend: Backend, case: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    let db = TestDatabase::create(backend).await.unwrap();
    case(open_store(&db).await).await;
    drop(db);
}

/// Runs a case that also needs a connection around the store.
async fn run_raw<F, Fut>(backend: Backend, case: F)
where
    F: FnOnce(Arc<dyn Store>, Raw) -> Fut,
    Fut: Future<Output = ()>,
{
    let db = TestDatabase::create(backend).await.unwrap();
    let store = open_store(&db).await;
    let raw = Raw::connect(&db).await;
    case(store, raw).await;
    drop(db);
}

/// Generates `sqlite::<case>` and `postgres::<case>` tests in the module that invokes it: `store`
/// cases are `async fn(Arc<dyn Store>)`, `raw` cases (optional) `async fn(Arc<dyn Store>, Raw)`.
macro_rules! conformance {
    (store: [$($case:ident),* $(,)?] $(, raw: [$($raw:ident),* $(,)?])? $(,)?) => {
        conformance!(@backend sqlite, Sqlite, [$($case),*], [$($($raw),*)?]);
        conformance!(@backend postgres, Postgres, [$($case),*], [$($($raw),*)?]);
    };
    (@backend $module:ident, $backend:ident, [$($case:ident),*], [$($raw:ident),*]) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    crate::run(crate::Backend::$backend, super::$case).await
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $raw() {
                    crate::run_raw(crate::Backend::$backend, super::$raw).await
                }
            )*
        }
    };
}

// One module per store trait; each invokes `conformance!` for its own cases.
mod accounts;
mod appointments;
mod events;
mod foundation;
mod history;
mod idempotency;
mod messages;
mod plans;
mod reports;
mod sync;

// ---------------------------------------------------------------------------------------------
// Builders
// ---------------------------------------------------------------------------------------------

fn user_record(role: Role, username: &str, person_id: Option<PersonId>) -> UserRecord {
    UserRecord {
        id: UserId::new(),
        username: username.to_owned(),
        password_hash: format!("$argon2id$fake${username}"),
        role,
        display_name: format!("{username} display"),
        person_id,
    }
}

/// A staff or carer account (no person).
async fn new_user(store: &dyn Store, role: Role, username: &str) -> UserRecord {
    let user = user_record(role, username, None);
    store.create_user(&user, now()).await.unwrap();
    user
}

async fn new_team(store: &dyn Store, name: &str) -> TeamRecord {
    let team = TeamRecord {
        id: TeamId::new(),
        name: name.to_owned(),
        hub_address: Some(format!("{name} hub, 1 High Street")),
    };
    store.create_team(&team, now()).await.unwrap();
    team
}

fn person_record(name: &str, team: Option<TeamId>) -> PersonRecord {
    PersonRecord {
        id: PersonId::new(),
        display_name: name.to_owned(),
        team_id: team,
        peer_worker_id: None,
        created_at: now(),
    }
}

/// A person without an account.
async fn new_person(store: &dyn Store, name: &str, team: Option<TeamId>) -> PersonRecord {
    let person = person_record(name, team);
    store.create_person(&person, None).await.unwrap();
    person
}

fn consent(person: PersonId, carer: UserId, scopes: &[ConsentScope]) -> Consent {
    Consent {
        id: ConsentId::new(),
        person_id: person,
        grantee: Grantee::Carer(carer),
        scopes: scopes.iter().copied().collect(),
        crisis_plan_sections: BTreeSet::new(),
        created_at: now(),
        expires_at: None,
        revoked_at: None,
    }
}

fn audit_entry(subject: Option<PersonId>, action: &str) -> NewAuditEntry {
    NewAuditEntry {
        at: now(),
        actor_id: Some(UserId::new().to_string()),
        actor_role: "practitioner".to_owned(),
        on_behalf_of: None,
        subject_id: subject,
        resource: "crisis_plan".to_owned(),
        action: action.to_owned(),
        outcome: "allowed".to_owned(),
        relationship: Some("team".to_owned()),
        request_id: Some(uuid::Uuid::new_v4().to_string()),
        via: None,
        read_at: None,
    }
}

/// A fixed instant with a microsecond part, for exact comparisons.
fn instant(h: u32, m: u32, s: u32, micros: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 30, h, m, s).unwrap() + Duration::microseconds(micros.into())
}
