//! Sign-in journeys: login, refresh rotation, racing refreshes, reuse detection, idle and
//! absolute expiry, logout, throttling, staff systems.

use std::collections::BTreeSet;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use livingwell_tests::{Backend, Reply, TestServer, on_both_databases, read};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_databases!(
    demo_person_signs_in_and_sees_themselves,
    unknown_user_and_wrong_password_get_the_same_answer,
    refresh_rotates_the_token,
    reusing_a_rotated_refresh_token_revokes_the_whole_family,
    ten_racing_refreshes_get_one_successor_and_the_family_one_branch,
    a_repeat_within_grace_after_the_successor_was_used_revokes_the_family,
    a_session_unused_for_30_days_is_refused,
    a_session_ends_90_days_after_sign_in_however_often_it_is_refreshed,
    logout_ends_the_session_and_its_access_tokens,
    repeated_failed_logins_are_throttled_with_retry_after,
    many_accounts_tried_from_one_address_are_throttled,
    staff_system_gets_a_scoped_token_without_refresh,
    staff_system_with_wrong_secret_is_refused,
    a_staff_systems_oauth_library_finds_the_token_endpoint_and_keys_in_the_metadata,
);

/// RFC 8414: what an OAuth client library reads first; every URL in it works as given.
async fn a_staff_systems_oauth_library_finds_the_token_endpoint_and_keys_in_the_metadata(
    backend: Backend,
) {
    let server = TestServer::start(backend).await.unwrap();
    let http = reqwest::Client::new();
    let metadata =
        livingwell_tests::read(http.get(server.url("/.well-known/oauth-authorization-server")))
            .await;
    assert_eq!(metadata.status, StatusCode::OK, "{}", metadata.text);
    let body = &metadata.body;
    assert_eq!(body["issuer"], "urn:livingwell");
    assert_eq!(
        body["grant_types_supported"],
        serde_json::json!(["client_credentials"])
    );
    let scopes = body["scopes_supported"].as_array().unwrap();
    assert!(scopes.contains(&"audit:read".into()), "{scopes:?}");
    assert_eq!(body["response_types_supported"], serde_json::json!([]));

    let token_endpoint = body["token_endpoint"].as_str().unwrap();
    assert_eq!(token_endpoint, server.url("/oauth/token"));
    let token = livingwell_tests::read(
        http.post(token_endpoint)
            .basic_auth(
                livingwell_server::demo::CLIENT_ID,
                Some(livingwell_server::demo::CLIENT_SECRET),
            )
            .form(&[("grant_type", "client_credentials")]),
    )
    .await;
    assert_eq!(token.status, StatusCode::OK, "{}", token.text);
    let keys = livingwell_tests::read(http.get(body["jwks_uri"].as_str().unwrap())).await;
    assert_eq!(keys.status, StatusCode::OK);
    assert!(!keys.body["keys"].as_array().unwrap().is_empty());
}

async fn demo_person_signs_in_and_sees_themselves(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let alex = server.login("alex").await;
    let me = server.get("/v1/me", &alex.access_token).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.body["user"]["username"], "alex");
    assert_eq!(me.body["user"]["role"], "service_user");
    assert_eq!(me.body["person"]["display_name"], "Alex Rivers");
    assert_eq!(me.body["carers"][0]["carer"]["username"], "sam");
    assert_eq!(me.headers["cache-control"], "no-store");
    assert!(me.headers.contains_key("x-request-id"));
}

async fn unknown_user_and_wrong_password_get_the_same_answer(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let wrong = server
        .send(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"username": "alex", "password": "not-the-password"})),
        )
        .await;
    let unknown = server
        .send(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"username": "nobody-here", "password": "not-the-password"})),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(
        wrong.headers["www-authenticate"],
        unknown.headers["www-authenticate"]
    );
}

/// Wednesday 14 January 2026, 11:00 UTC: where the clock of the timed journeys starts.
const START: &str = "2026-01-14T11:00:00Z";

fn start_instant() -> DateTime<Utc> {
    START.parse().unwrap()
}

async fn refresh(server: &TestServer, token: &str) -> Reply {
    server.refresh(token).await
}

/// The session (`sid`) an access token belongs to, read from its payload.
fn session_of(access_token: &str) -> String {
    let payload = access_token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["sid"].as_str().unwrap().to_owned()
}

/// `n` refreshes of `token` at once.
async fn refresh_in_parallel(server: &TestServer, token: &str, n: usize) -> Vec<Reply> {
    futures_util::future::join_all((0..n).map(|_| refresh(server, token))).await
}

async fn refresh_rotates_the_token(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let alex = server.login("alex").await;
    let first = refresh(&server, &alex.refresh_token).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let new_refresh = first.body["refresh_token"].as_str().unwrap();
    assert_ne!(new_refresh, alex.refresh_token);
    let new_access = first.body["access_token"].as_str().unwrap();
    assert_eq!(
        server.get("/v1/me", new_access).await.status,
        StatusCode::OK
    );
    let second = refresh(&server, new_refresh).await;
    assert_eq!(second.status, StatusCode::OK);
}

async fn reusing_a_rotated_refresh_token_revokes_the_whole_family(backend: Backend) {
    let (server, clock) = TestServer::start_at(backend, start_instant())
        .await
        .unwrap();
    let alex = server.login("alex").await;
    let rotated = refresh(&server, &alex.refresh_token).await;
    let current_refresh = rotated.body["refresh_token"].as_str().unwrap().to_owned();
    let current_access = rotated.body["access_token"].as_str().unwrap().to_owned();

    // A stolen copy used after the grace window.
    clock.advance(Duration::seconds(11));

    let reuse = refresh(&server, &alex.refresh_token).await;
    assert_eq!(reuse.status, StatusCode::UNAUTHORIZED);
    // The legitimate holder's tokens from the same family no longer work either.
    assert_eq!(
        refresh(&server, &current_refresh).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        server.get("/v1/me", &current_access).await.status,
        StatusCode::UNAUTHORIZED
    );
    // A new sign-in still works.
    let again = server.login("alex").await;
    assert_eq!(
        server.get("/v1/me", &again.access_token).await.status,
        StatusCode::OK
    );
}

/// An app waking with several requests in flight refreshes the same token many times at once:
/// every answer carries the same successor, so the session keeps one live branch.
async fn ten_racing_refreshes_get_one_successor_and_the_family_one_branch(backend: Backend) {
    let (server, clock) = TestServer::start_at(backend, start_instant())
        .await
        .unwrap();
    let alex = server.login("alex").await;
    let session = session_of(&alex.access_token);

    let replies = refresh_in_parallel(&server, &alex.refresh_token, 10).await;
    let mut successors = BTreeSet::new();
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        successors.insert(reply.body["refresh_token"].as_str().unwrap().to_owned());
        let access = reply.body["access_token"].as_str().unwrap();
        assert_eq!(session_of(access), session, "the same session");
        assert_eq!(server.get("/v1/me", access).await.status, StatusCode::OK);
    }
    assert_eq!(successors.len(), 1, "one successor: {successors:?}");
    let successor = successors.pop_first().unwrap();
    assert_ne!(successor, alex.refresh_token);

    // Each copy of it refreshes once more, again into one token.
    let copies: Vec<&str> = replies
        .iter()
        .map(|r| r.body["refresh_token"].as_str().unwrap())
        .collect();
    let next: Vec<Reply> =
        futures_util::future::join_all(copies.iter().map(|token| refresh(&server, token))).await;
    let mut next_tokens = BTreeSet::new();
    for reply in &next {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        next_tokens.insert(reply.body["refresh_token"].as_str().unwrap().to_owned());
    }
    assert_eq!(next_tokens.len(), 1, "one branch: {next_tokens:?}");
    let current = next_tokens.pop_first().unwrap();
    assert_ne!(current, successor);
    let onwards = refresh(&server, &current).await;
    assert_eq!(onwards.status, StatusCode::OK, "{}", onwards.text);
    let newest = onwards.body["refresh_token"].as_str().unwrap().to_owned();

    // Once the grace has passed, the spent successor is a replayed copy: the family ends.
    clock.advance(Duration::seconds(11));
    assert_eq!(
        refresh(&server, &successor).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&server, &newest).await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// Within the grace a repeat gets the successor only while nobody has used it yet; after that
/// the repeat is a copy being replayed.
async fn a_repeat_within_grace_after_the_successor_was_used_revokes_the_family(backend: Backend) {
    let (server, _clock) = TestServer::start_at(backend, start_instant())
        .await
        .unwrap();
    let alex = server.login("alex").await;
    let first = refresh(&server, &alex.refresh_token).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let successor = first.body["refresh_token"].as_str().unwrap().to_owned();
    let second = refresh(&server, &successor).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.text);
    let current = second.body["refresh_token"].as_str().unwrap().to_owned();
    let access = second.body["access_token"].as_str().unwrap().to_owned();

    // No time has passed, yet the original's successor is spent.
    let replay = refresh(&server, &alex.refresh_token).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        refresh(&server, &current).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        server.get("/v1/me", &access).await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// Idle expiry: a refresh token lasts 30 days unused; each refresh starts the 30 days again.
async fn a_session_unused_for_30_days_is_refused(backend: Backend) {
    let (server, clock) = TestServer::start_at(backend, start_instant())
        .await
        .unwrap();
    let alex = server.login("alex").await;
    clock.advance(Duration::days(30) - Duration::seconds(1));
    let last_day = refresh(&server, &alex.refresh_token).await;
    assert_eq!(last_day.status, StatusCode::OK, "{}", last_day.text);
    let token = last_day.body["refresh_token"].as_str().unwrap().to_owned();

    clock.advance(Duration::days(30));
    let lapsed = refresh(&server, &token).await;
    assert_eq!(lapsed.status, StatusCode::UNAUTHORIZED, "{}", lapsed.text);
    // Signing in again starts a new session.
    let again = server.login("alex").await;
    assert_eq!(
        refresh(&server, &again.refresh_token).await.status,
        StatusCode::OK
    );
}

/// Absolute expiry: 90 days after sign-in the session ends, however recently it was used.
async fn a_session_ends_90_days_after_sign_in_however_often_it_is_refreshed(backend: Backend) {
    let (server, clock) = TestServer::start_at(backend, start_instant())
        .await
        .unwrap();
    let alex = server.login("alex").await;
    let mut token = alex.refresh_token;
    for day in [20, 40, 60, 80] {
        clock.advance(Duration::days(20));
        let reply = refresh(&server, &token).await;
        assert_eq!(reply.status, StatusCode::OK, "day {day}: {}", reply.text);
        token = reply.body["refresh_token"].as_str().unwrap().to_owned();
    }
    // Day 90 less a second: still in.
    clock.advance(Duration::days(10) - Duration::seconds(1));
    let reply = refresh(&server, &token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    token = reply.body["refresh_token"].as_str().unwrap().to_owned();
    // Day 90: out, though the token is a second old.
    clock.advance(Duration::seconds(1));
    let ended = refresh(&server, &token).await;
    assert_eq!(ended.status, StatusCode::UNAUTHORIZED, "{}", ended.text);
}

async fn logout_ends_the_session_and_its_access_tokens(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let alex = server.login("alex").await;
    let other_device = server.login("alex").await;
    let out = server
        .send(
            Method::POST,
            "/v1/auth/logout",
            Some(&alex.access_token),
            None,
        )
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert_eq!(
        server.get("/v1/me", &alex.access_token).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&server, &alex.refresh_token).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Only that session ends: the other device stays signed in.
    assert_eq!(
        server
            .get("/v1/me", &other_device.access_token)
            .await
            .status,
        StatusCode::OK
    );
}

async fn repeated_failed_logins_are_throttled_with_retry_after(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let attempt = json!({"username": "priya", "password": "guess-guess-guess"});
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let reply = server
            .send(Method::POST, "/v1/auth/login", None, Some(attempt.clone()))
            .await;
        statuses.push(reply.status);
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(reply.code(), "rate_limited");
            let wait: u64 = reply.headers["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(wait >= 1);
        }
    }
    assert_eq!(&statuses[..5], &[StatusCode::UNAUTHORIZED; 5]);
    assert_eq!(statuses[5], StatusCode::TOO_MANY_REQUESTS);
    // Even the right password waits: the throttle is per account.
    let right = server
        .send(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"username": "priya", "password": livingwell_tests::PASSWORD})),
        )
        .await;
    assert_eq!(right.status, StatusCode::TOO_MANY_REQUESTS);
    // Another account is not affected.
    server.login("jo").await;
}

async fn staff_system_gets_a_scoped_token_without_refresh(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let reply = read(
        server
            .http
            .post(server.url("/oauth/token"))
            .basic_auth("case-system", Some("case-system-demo-secret"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", "people:read"),
            ]),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["scope"], "people:read");
    assert_eq!(reply.body["token_type"], "Bearer");
    assert!(reply.body.get("refresh_token").is_none());
    // A scope the client does not hold is refused, naming the field.
    let greedy = read(
        server
            .http
            .post(server.url("/oauth/token"))
            .basic_auth("case-system", Some("case-system-demo-secret"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", "audit:read"),
            ]),
    )
    .await;
    assert_eq!(greedy.status, StatusCode::BAD_REQUEST);
    assert_eq!(greedy.fields(), ["scope"]);
    // An app token is not a staff-system token: /v1/me is for accounts.
    let token = reply.body["access_token"].as_str().unwrap();
    assert_eq!(
        server.get("/v1/me", token).await.status,
        StatusCode::FORBIDDEN
    );
}

async fn staff_system_with_wrong_secret_is_refused(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let reply = read(server.http.post(server.url("/oauth/token")).form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "case-system"),
        ("client_secret", "wrong"),
    ]))
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let grant = read(
        server
            .http
            .post(server.url("/oauth/token"))
            .form(&[("grant_type", "password")]),
    )
    .await;
    assert_eq!(grant.status, StatusCode::BAD_REQUEST);
    assert_eq!(grant.fields(), ["grant_type"]);
}

async fn many_accounts_tried_from_one_address_are_throttled(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let mut throttled = None;
    // Spraying one password across many accounts trips the per-address limit.
    for attempt in 0..40 {
        let body = json!({"username": format!("guess{attempt}"), "password": "Winter2026!!"});
        let reply = server
            .send(Method::POST, "/v1/auth/login", None, Some(body))
            .await;
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            throttled = Some(attempt);
            break;
        }
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        throttled,
        Some(30),
        "the 31st attempt from one address waits"
    );
}
