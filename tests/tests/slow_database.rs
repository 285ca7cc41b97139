//! A slow database (issue: faults): a statement that cannot finish gives up after the store's
//! statement timeout, and a request that cannot answer is answered at its deadline, both as 503
//! with `Retry-After` and promptly — no request hangs. Once the database moves again the same
//! server serves as before (the pool recovers; no restart), and a keyed write caught at its
//! deadline is finished once, its retry given the kept answer.
//!
//! The slowness is a transaction held behind the server's back that keeps it from claiming
//! idempotency keys (on SQLite, from writing at all): every keyed write waits on it.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use livingwell_server::http::Settings;
use livingwell_server::store::{self, StoreSettings};
use livingwell_testkit::TestDatabase;
use livingwell_tests::{Backend, TestServer, on_both_databases};
use reqwest::{Method, StatusCode};
use serde_json::json;

on_both_databases!(
    a_statement_that_cannot_finish_gives_up_and_the_server_serves_again_after,
    a_request_that_cannot_answer_is_answered_at_its_deadline_and_finished_once,
);

/// A server whose statements give up after `statement` and whose requests after `request`.
async fn server_with(backend: Backend, statement: Duration, request: Duration) -> TestServer {
    let database = TestDatabase::create(backend).await.unwrap();
    let store = store::connect_with(
        &database.url,
        StoreSettings {
            statement_timeout: statement,
        },
    )
    .await
    .unwrap();
    let settings = Settings {
        request_timeout: request,
        ..Settings::default()
    };
    TestServer::start_on(database, store, settings)
        .await
        .unwrap()
}

fn comment(text: &str) -> serde_json::Value {
    json!({"section": "goals", "body": text, "disagree": false})
}

async fn a_statement_that_cannot_finish_gives_up_and_the_server_serves_again_after(
    backend: Backend,
) {
    let server = server_with(backend, Duration::from_millis(500), Duration::from_secs(30)).await;
    let alex = server.login("alex").await;
    let person = alex.person_id.clone().unwrap();
    let comments = format!("/v1/people/{person}/enablement-plan/comments");

    let hold = server.database.hold_key_claims().await.unwrap();
    let started = Instant::now();
    let refused = server
        .send_keyed(
            Method::POST,
            &comments,
            &alex.access_token,
            &uuid::Uuid::new_v4().to_string(),
            Some(comment("While the database is stuck")),
        )
        .await;
    let took = started.elapsed();
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        refused.text
    );
    assert_eq!(refused.code(), "unavailable");
    assert!(refused.headers.contains_key("retry-after"));
    assert!(
        took < Duration::from_secs(5),
        "the statement gave up after its timeout, not the request's deadline: {took:?}"
    );
    hold.release().await.unwrap();

    // The same server, the same pool: the write goes now.
    let written = server
        .send_keyed(
            Method::POST,
            &comments,
            &alex.access_token,
            &uuid::Uuid::new_v4().to_string(),
            Some(comment("Once it moves again")),
        )
        .await;
    assert_eq!(written.status, StatusCode::CREATED, "{}", written.text);
    let listed = server.get(&comments, &alex.access_token).await;
    assert!(!listed.text.contains("While the database is stuck"));
    assert_eq!(listed.text.matches("Once it moves again").count(), 1);
}

async fn a_request_that_cannot_answer_is_answered_at_its_deadline_and_finished_once(
    backend: Backend,
) {
    // Statements wait longer than requests: the deadline answers first.
    let server = server_with(backend, Duration::from_secs(20), Duration::from_secs(1)).await;
    let alex = server.login("alex").await;
    let person = alex.person_id.clone().unwrap();
    let comments = format!("/v1/people/{person}/enablement-plan/comments");
    let key = uuid::Uuid::new_v4().to_string();
    let body = comment("Said while the database was slow");

    let hold = server.database.hold_key_claims().await.unwrap();
    let started = Instant::now();
    let late = server
        .send_keyed(
            Method::POST,
            &comments,
            &alex.access_token,
            &key,
            Some(body.clone()),
        )
        .await;
    let took = started.elapsed();
    assert_eq!(
        late.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        late.text
    );
    assert!(late.headers.contains_key("retry-after"));
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "answered at the 1 s deadline: {took:?}"
    );
    // Health is not the database's to decide.
    let health = reqwest::get(server.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    hold.release().await.unwrap();

    // The write went on past its deadline; the phone's retry with its key gets it, once.
    let deadline = Instant::now() + Duration::from_secs(10);
    let retry = loop {
        let retry = server
            .send_keyed(
                Method::POST,
                &comments,
                &alex.access_token,
                &key,
                Some(body.clone()),
            )
            .await;
        if retry.status != StatusCode::CONFLICT || Instant::now() > deadline {
            break retry;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(retry.status, StatusCode::CREATED, "{}", retry.text);
    let listed = server.get(&comments, &alex.access_token).await;
    assert_eq!(
        listed
            .text
            .matches("Said while the database was slow")
            .count(),
        1
    );
}
