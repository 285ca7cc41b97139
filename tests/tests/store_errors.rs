//! What a caller is told when the database says no: a rule already taken names the field
//! (409), and a database out of reach for a moment asks them to come back (503, `Retry-After`),
//! never with the database's own words.

use std::sync::Arc;
use std::time::Duration;

use livingwell_server::http::Settings;
use livingwell_server::store::{PgStore, SqliteStore, Store};
use livingwell_tests::{Backend, Reply, TestDatabase, TestServer, on_both_databases};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_databases!(
    a_username_in_use_is_a_conflict_on_the_username,
    a_username_in_use_at_invitation_is_a_conflict_on_the_username,
    a_team_name_in_use_is_a_conflict_on_the_name,
    an_exhausted_pool_asks_the_caller_to_retry,
);

const NEW_PASSWORD: &str = "rainy sunday allotment";

/// A 409 naming exactly `field` as `code`, saying nothing of the database.
fn assert_conflict_on(reply: &Reply, field: &str, code: &str) {
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.text);
    assert_eq!(reply.code(), "conflict");
    assert_eq!(reply.fields(), [field]);
    assert_eq!(reply.body["fields"][0]["code"], code, "{}", reply.text);
    assert_says_nothing_of_the_database(reply);
}

fn assert_says_nothing_of_the_database(reply: &Reply) {
    let text = reply.text.to_lowercase();
    for word in [
        "unique",
        "constraint",
        "_key",
        "sqlite",
        "postgres",
        "pool",
        "database",
    ] {
        assert!(!text.contains(word), "{word} in {}", reply.text);
    }
}

async fn a_username_in_use_is_a_conflict_on_the_username(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let admin = server.login("admin").await;
    let create = |username: &'static str| {
        let server = &server;
        let token = admin.access_token.clone();
        async move {
            server
                .post(
                    "/v1/users",
                    &token,
                    json!({"username": username, "password": NEW_PASSWORD,
                           "role": "carer", "display_name": "Casey Rivers"}),
                )
                .await
        }
    };
    assert_conflict_on(&create("priya").await, "username", "taken");
    // The account that had the name still signs in; a free name is taken once, then is in use.
    server.login("priya").await;
    assert_eq!(create("casey").await.status, StatusCode::CREATED);
    assert_conflict_on(&create("casey").await, "username", "taken");
}

async fn a_username_in_use_at_invitation_is_a_conflict_on_the_username(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let admin = server.login("admin").await;
    let invitation = server
        .post(
            "/v1/invitations",
            &admin.access_token,
            json!({"role": "carer", "display_name": "Casey Rivers"}),
        )
        .await;
    assert_eq!(
        invitation.status,
        StatusCode::CREATED,
        "{}",
        invitation.text
    );
    let code = invitation.body["code"].as_str().unwrap().to_owned();
    let accept = |username: &'static str| {
        let server = &server;
        let code = code.clone();
        async move {
            server
                .send(
                    Method::POST,
                    "/v1/auth/accept-invitation",
                    None,
                    Some(json!({"code": code, "username": username, "password": NEW_PASSWORD})),
                )
                .await
        }
    };
    assert_conflict_on(&accept("sam").await, "username", "taken");
    // Nothing was spent: the code still works with a name nobody has.
    let accepted = accept("casey").await;
    assert_eq!(accepted.status, StatusCode::CREATED, "{}", accepted.text);
}

async fn a_team_name_in_use_is_a_conflict_on_the_name(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let admin = server.login("admin").await;
    let team = |name: &'static str| {
        let server = &server;
        let token = admin.access_token.clone();
        async move {
            server
                .post("/v1/teams", &token, json!({"name": name}))
                .await
        }
    };
    assert_conflict_on(&team("West hub").await, "name", "taken");
    // Names are compared as stored (trimmed).
    assert_conflict_on(&team("  North hub ").await, "name", "taken");
    let teams = server.get("/v1/teams", &admin.access_token).await;
    assert_eq!(teams.body.as_array().map(Vec::len), Some(2));
}

/// The connections of a server's pool, held by the test.
enum Held {
    Sqlite(Vec<sqlx::pool::PoolConnection<sqlx::Sqlite>>),
    Postgres(Vec<sqlx::pool::PoolConnection<sqlx::Postgres>>),
}

/// A server over a small pool that gives up waiting for a connection after `wait`.
async fn start_on_small_pool(backend: Backend, wait: Duration) -> (TestServer, Pool) {
    let database = TestDatabase::create(backend).await.unwrap();
    let (store, pool): (Arc<dyn Store>, Pool) = match backend {
        Backend::Sqlite => {
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(wait)
                .connect_with(SqliteStore::connect_options(&database.url).unwrap())
                .await
                .unwrap();
            (
                Arc::new(SqliteStore::from_pool(pool.clone())),
                Pool::Sqlite(pool),
            )
        }
        // One connection more: the event listener keeps one for itself.
        Backend::Postgres => {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(2)
                .acquire_timeout(wait)
                .connect(&database.url)
                .await
                .unwrap();
            (
                Arc::new(PgStore::from_pool(pool.clone())),
                Pool::Postgres(pool),
            )
        }
    };
    let server = TestServer::start_on(database, store, Settings::default())
        .await
        .unwrap();
    (server, pool)
}

impl Held {
    fn len(&self) -> usize {
        match self {
            Held::Sqlite(held) => held.len(),
            Held::Postgres(held) => held.len(),
        }
    }
}

enum Pool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Pool {
    /// Takes every connection the pool will give.
    async fn hold_all(&self) -> Held {
        match self {
            Pool::Sqlite(pool) => {
                let mut held = Vec::new();
                while let Ok(connection) = pool.acquire().await {
                    held.push(connection);
                }
                Held::Sqlite(held)
            }
            Pool::Postgres(pool) => {
                let mut held = Vec::new();
                while let Ok(connection) = pool.acquire().await {
                    held.push(connection);
                }
                Held::Postgres(held)
            }
        }
    }
}

async fn an_exhausted_pool_asks_the_caller_to_retry(backend: Backend) {
    let (server, pool) = start_on_small_pool(backend, Duration::from_millis(500)).await;
    let admin = server.login("admin").await;
    let new_team = json!({"name": "East hub"});

    let held = pool.hold_all().await;
    assert!(held.len() >= 1, "the test holds the server's connections");
    let refused = server
        .post("/v1/teams", &admin.access_token, new_team.clone())
        .await;
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        refused.text
    );
    assert_eq!(refused.code(), "unavailable");
    assert_eq!(
        refused
            .headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    assert_says_nothing_of_the_database(&refused);

    // Once the connections are back, the same request is served: it was not half-done.
    drop(held);
    let served = server
        .post("/v1/teams", &admin.access_token, new_team)
        .await;
    assert_eq!(served.status, StatusCode::CREATED, "{}", served.text);
    let teams: Value = server.get("/v1/teams", &admin.access_token).await.body;
    assert_eq!(teams.as_array().map(Vec::len), Some(3));
}
