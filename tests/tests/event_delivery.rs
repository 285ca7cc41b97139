//! A stored change is never answered as a failure because telling live streams failed, and
//! never loses its event: the event is stored in the change's own transaction, and live streams
//! are told after the commit.
//!
//! The faults are real, on each database:
//! - **Postgres.** The process hears of commits over `LISTEN`; the test terminates that session
//!   (`pg_terminate_backend`), so fan-out is broken while the plan is written. On its own that
//!   would not have failed the old design either (it appended events in a transaction of their
//!   own after the write, and a dead listener does not stop an insert), so the test also gives
//!   the database a rule it enforces: an event may only be inserted by a transaction that
//!   stored a plan version. An event appended after the version's commit is refused, as any
//!   failing insert would be; an event stored with its version passes.
//! - **SQLite.** One process owns the file and tells its own streams, in memory: there is no
//!   connection to cut between the commit and the announcement, so the SQLite half checks the
//!   outbox guarantee from the other side, with a rule checked at commit (a deferred foreign
//!   key): a plan version can only commit together with its event. A version committed first
//!   and announced afterwards is refused at its commit; a version stored with its event passes.
//!
//! Either way the write answers 200, the version is stored once (a retry on the same base is
//! the usual stale-version conflict), the event is in the notifications and reaches a stream
//! that was open all along.

use std::time::Duration;

use livingwell_tests::sse::{event_data, open_stream, read_until};
use livingwell_tests::{Backend, TestServer, on_both_databases};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection;

on_both_databases!(a_plan_version_stored_while_fan_out_fails_is_answered_and_keeps_its_event);

/// Long enough for a listener to reconnect and a stream to catch up.
const PROMPTLY: Duration = Duration::from_secs(10);

/// Statements that make the database refuse an event not stored with its plan version.
const POSTGRES_EVENTS_ONLY_WITH_THEIR_VERSION: [&str; 4] = [
    "CREATE FUNCTION test_mark_plan_written() RETURNS trigger LANGUAGE plpgsql AS $$ \
     BEGIN PERFORM set_config('test.plan_written', 'yes', true); RETURN NEW; END $$",
    "CREATE TRIGGER test_mark_plan_written AFTER INSERT ON plan_versions \
     FOR EACH ROW EXECUTE FUNCTION test_mark_plan_written()",
    "CREATE FUNCTION test_refuse_lone_events() RETURNS trigger LANGUAGE plpgsql AS $$ \
     BEGIN \
       IF current_setting('test.plan_written', true) IS DISTINCT FROM 'yes' THEN \
         RAISE EXCEPTION 'an event without the write it announces'; \
       END IF; \
       RETURN NEW; \
     END $$",
    "CREATE TRIGGER test_refuse_lone_events BEFORE INSERT ON events \
     FOR EACH ROW EXECUTE FUNCTION test_refuse_lone_events()",
];

/// Statements that make SQLite refuse, at commit, an Enablement Plan version without its event.
const SQLITE_VERSIONS_ONLY_WITH_THEIR_EVENT: [&str; 4] = [
    "CREATE TABLE test_version_announced (person_id BLOB NOT NULL, version INTEGER NOT NULL, \
     PRIMARY KEY (person_id, version))",
    "CREATE TABLE test_version_needs_event (person_id BLOB NOT NULL, version INTEGER NOT NULL, \
     FOREIGN KEY (person_id, version) REFERENCES test_version_announced (person_id, version) \
     DEFERRABLE INITIALLY DEFERRED)",
    "CREATE TRIGGER test_version_needs_event AFTER INSERT ON plan_versions \
     WHEN NEW.kind = 'enablement_plan' BEGIN \
     INSERT INTO test_version_needs_event VALUES (NEW.person_id, NEW.version); END",
    "CREATE TRIGGER test_event_announces_version AFTER INSERT ON events \
     WHEN NEW.kind = 'enablement_plan_updated' BEGIN \
     INSERT OR IGNORE INTO test_version_announced \
     VALUES (NEW.person_id, json_extract(NEW.data, '$.version')); END",
];

/// The session of the database the server listens on, if one is listening now.
async fn listener_pid(database_url: &str) -> Option<i32> {
    let mut raw = sqlx::PgConnection::connect(database_url).await.unwrap();
    sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()",
    )
    .fetch_optional(&mut raw)
    .await
    .unwrap()
}

/// Cuts the server's LISTEN session; returns its pid.
async fn terminate_listener(database_url: &str) -> i32 {
    let pid = listener_pid(database_url)
        .await
        .expect("the server listens for commits");
    let mut raw = sqlx::PgConnection::connect(database_url).await.unwrap();
    let terminated: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .fetch_one(&mut raw)
        .await
        .unwrap();
    assert!(terminated, "the listener's session was ended");
    pid
}

async fn break_fan_out(server: &TestServer, backend: Backend) -> Option<i32> {
    let (rules, cut) = match backend {
        Backend::Postgres => (
            POSTGRES_EVENTS_ONLY_WITH_THEIR_VERSION,
            Some(terminate_listener(&server.database.url).await),
        ),
        Backend::Sqlite => (SQLITE_VERSIONS_ONLY_WITH_THEIR_EVENT, None),
    };
    for rule in rules {
        server.database.execute(rule).await.unwrap();
    }
    cut
}

fn plan_updates(notifications: &Value) -> Vec<Value> {
    notifications["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "enablement_plan_updated")
        .cloned()
        .collect()
}

async fn a_plan_version_stored_while_fan_out_fails_is_answered_and_keeps_its_event(
    backend: Backend,
) {
    let server = TestServer::start(backend).await.unwrap();
    let alex = server.login("alex").await;
    let priya = server.login("priya").await;
    let person = alex.person_id.clone().unwrap();
    let plan_path = format!("/v1/people/{person}/enablement-plan");
    let current = server.get(&plan_path, &priya.access_token).await;
    assert_eq!(current.status, StatusCode::OK, "{}", current.text);
    assert_eq!(current.body["version"], 1);
    // Alex's phone is connected throughout.
    let mut phone = open_stream(&server.base_url, &alex, None).await;

    let cut = break_fan_out(&server, backend).await;
    let mut plan = current.body["plan"].clone();
    plan["review_on"] = json!("2027-03-01");
    let change = json!({"base_version": 1, "plan": plan});
    let stored = server
        .put(&plan_path, &priya.access_token, change.clone())
        .await;
    assert_eq!(stored.status, StatusCode::OK, "{}", stored.text);
    assert_eq!(stored.body["version"], 2);

    // The same change again, as a client unsure of its first try would send it: the usual
    // stale-version answer, and nothing stored twice.
    let retried = server.put(&plan_path, &priya.access_token, change).await;
    assert_eq!(retried.status, StatusCode::CONFLICT, "{}", retried.text);
    assert_eq!(retried.body["current_version"], 2);
    let history = server
        .get(&format!("{plan_path}/versions"), &priya.access_token)
        .await;
    let versions: Vec<i64> = history.body["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [2, 1], "version 2 once: {}", history.text);

    // The event is stored, once, with the version it announces.
    let notifications = server.get("/v1/notifications", &alex.access_token).await;
    assert_eq!(
        notifications.status,
        StatusCode::OK,
        "{}",
        notifications.text
    );
    let updates = plan_updates(&notifications.body);
    assert_eq!(updates.len(), 1, "{}", notifications.text);
    assert_eq!(updates[0]["data"], json!({"version": 2}));
    assert_eq!(updates[0]["person_id"], person.as_str());
    // Whoever wrote it is not told of their own change.
    let priyas = server.get("/v1/notifications", &priya.access_token).await;
    assert!(plan_updates(&priyas.body).is_empty(), "{}", priyas.text);

    // And the open stream hears of it once fan-out recovers (on Postgres, a new LISTEN).
    let received = read_until(&mut phone, "enablement_plan_updated", PROMPTLY).await;
    let streamed = event_data(&received, "enablement_plan_updated");
    assert_eq!(streamed["id"], updates[0]["id"]);
    assert_eq!(streamed["data"], json!({"version": 2}));
    if let Some(cut) = cut {
        let listening = listener_pid(&server.database.url).await;
        assert!(
            listening.is_some_and(|pid| pid != cut),
            "listening again on a new session, not {cut}: {listening:?}"
        );
    }
}
