//! The harness itself: a stopped server answers nothing, even on a client's pooled
//! connection, and a restarted one serves the same database at the same address.

use livingwell_tests::{Backend, TestServer, on_both_databases};
use reqwest::StatusCode;

on_both_databases!(
    a_stopped_server_answers_nothing_until_it_restarts,
    a_server_restarted_more_times_than_its_pool_has_connections_still_serves,
);

async fn a_stopped_server_answers_nothing_until_it_restarts(backend: Backend) {
    let mut server = TestServer::start(backend).await.unwrap();
    let alex = server.login("alex").await;
    // A kept-alive connection from before the stop must not reach it either.
    let client = reqwest::Client::new();
    let url = server.url("/v1/me");
    let me = || client.get(&url).bearer_auth(&alex.access_token).send();
    assert_eq!(me().await.unwrap().status(), StatusCode::OK);
    server.stop().await;
    assert!(me().await.is_err(), "a stopped server answered");
    server.restart().await.unwrap();
    let again = me().await.unwrap();
    assert_eq!(again.status(), StatusCode::OK, "same database, same token");
}

/// Each life of the server on one database must give back every connection it held, its
/// notification listener's included: the pool holds 16, and a leak of one per life once
/// starved the crash-safety journey of connections after its fourteenth restart.
async fn a_server_restarted_more_times_than_its_pool_has_connections_still_serves(
    backend: Backend,
) {
    let mut server = TestServer::start(backend).await.unwrap();
    let alex = server.login("alex").await;
    for _ in 0..20 {
        server.restart().await.unwrap();
    }
    let me = server.get("/v1/me", &alex.access_token).await;
    assert_eq!(me.status, StatusCode::OK);
}
