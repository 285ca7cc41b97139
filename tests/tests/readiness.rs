//! `/readyz` says not ready while the database lacks this version's migrations, and ready again
//! by itself once it has them; `/healthz` answers throughout. (The database out of reach is the
//! fault harness's: `faults/`, which stops a Postgres of its own.)

#![allow(clippy::unwrap_used)]

use livingwell_tests::{Backend, TestServer, on_both_databases};
use reqwest::StatusCode;

on_both_databases!(not_ready_while_the_database_lacks_a_migration_and_ready_again_after);

async fn status_of(server: &TestServer, path: &str) -> (StatusCode, String) {
    let reply = reqwest::get(server.url(path)).await.unwrap();
    (reply.status(), reply.text().await.unwrap())
}

async fn not_ready_while_the_database_lacks_a_migration_and_ready_again_after(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    assert_eq!(status_of(&server, "/readyz").await.0, StatusCode::OK);

    // As a database restored from before the newest migration would read.
    server
        .database
        .execute(
            "UPDATE _sqlx_migrations SET success = FALSE \
             WHERE version = (SELECT max(version) FROM _sqlx_migrations)",
        )
        .await
        .unwrap();
    let (status, body) = status_of(&server, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["code"], "unavailable");
    assert!(
        body["message"].as_str().unwrap().contains("migrations"),
        "{body}"
    );
    assert_eq!(status_of(&server, "/healthz").await.0, StatusCode::OK);

    server
        .database
        .execute(
            "UPDATE _sqlx_migrations SET success = TRUE \
             WHERE version = (SELECT max(version) FROM _sqlx_migrations)",
        )
        .await
        .unwrap();
    assert_eq!(status_of(&server, "/readyz").await.0, StatusCode::OK);
}
