//! Event streams end with what opened them: sign-out, a family revoked for reuse, an access token
//! that has lapsed (also across server processes); a reconnect with a fresh token and
//! `Last-Event-ID` receives everything sent in between.

use std::net::SocketAddr;
use std::time::Duration;

use livingwell_server::auth::tokens::{ACCESS_TOKEN_SECONDS, LEEWAY_SECONDS};
use livingwell_server::http::{self, AppState};
use livingwell_tests::sse::{EventStream, event_data, open_stream, read_to_end, read_until};
use livingwell_tests::{Backend, ManualClock, Reply, Session, TestServer, on_both_databases};
use reqwest::{Method, StatusCode};
use serde_json::json;

on_both_databases!(
    signing_out_ends_the_sessions_open_stream_and_no_other,
    a_family_revoked_for_reuse_ends_its_stream,
    a_stream_ends_when_its_token_lapses_and_a_reconnect_misses_nothing,
);

/// Long enough for a stream to end on a signal that takes milliseconds; short enough to keep
/// the suite quick.
const PROMPTLY: Duration = Duration::from_secs(3);

/// A server whose clock stands at Wednesday 14 January 2026, 11:00 in London (office hours, as
/// in the messaging journeys) and moves only when a test moves it.
async fn start(backend: Backend) -> (TestServer, ManualClock) {
    TestServer::start_at(backend, "2026-01-14T11:00:00Z".parse().unwrap())
        .await
        .unwrap()
}

/// Jo writes to alex in their peer conversation; returns the message id.
async fn jo_writes(server: &TestServer, jo: &Session, text: &str) -> String {
    let conversation = server.peer_conversation(&jo.access_token).await;
    let sent = server
        .post(
            &format!("/v1/conversations/{conversation}/messages"),
            &jo.access_token,
            json!({"client_id": uuid::Uuid::now_v7().to_string(), "body": text}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.text);
    sent.body["id"].as_str().unwrap().to_owned()
}

async fn logout(server: &TestServer, session: &Session) -> Reply {
    server
        .send(
            Method::POST,
            "/v1/auth/logout",
            Some(&session.access_token),
            None,
        )
        .await
}

/// A stream that is still open delivers: proven by a message arriving on it.
async fn assert_delivers(
    server: &TestServer,
    jo: &Session,
    stream: &mut EventStream,
    text: &str,
) -> String {
    let id = jo_writes(server, jo, text).await;
    read_until(stream, &id, PROMPTLY).await
}

async fn signing_out_ends_the_sessions_open_stream_and_no_other(backend: Backend) {
    let (server, _clock) = start(backend).await;
    let phone = server.login("alex").await;
    let tablet = server.login("alex").await;
    let jo = server.login("jo").await;
    let mut on_phone = open_stream(&server.base_url, &phone, None).await;
    let mut on_tablet = open_stream(&server.base_url, &tablet, None).await;
    assert_delivers(&server, &jo, &mut on_phone, "Before").await;

    assert_eq!(logout(&server, &phone).await.status, StatusCode::NO_CONTENT);
    read_to_end(&mut on_phone, PROMPTLY).await;
    // The other device's session, and its stream, go on.
    assert_delivers(&server, &jo, &mut on_tablet, "After").await;
    // The signed-out session cannot open a new one.
    assert_eq!(
        server.get("/v1/events", &phone.access_token).await.status,
        StatusCode::UNAUTHORIZED
    );
}

async fn a_family_revoked_for_reuse_ends_its_stream(backend: Backend) {
    let (server, clock) = start(backend).await;
    let alex = server.login("alex").await;
    let jo = server.login("jo").await;
    let mut stream = open_stream(&server.base_url, &alex, None).await;
    let rotated = server.refresh(&alex.refresh_token).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    assert_delivers(&server, &jo, &mut stream, "Still here").await;

    // A copy of the spent token, replayed after the grace: the family is revoked. The stream's
    // access token has minutes left; the stream ends anyway.
    clock.advance(chrono::Duration::seconds(11));
    let replay = server.refresh(&alex.refresh_token).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    read_to_end(&mut stream, PROMPTLY).await;
}

async fn a_stream_ends_when_its_token_lapses_and_a_reconnect_misses_nothing(backend: Backend) {
    let (server, clock) = start(backend).await;
    let alex = server.login("alex").await;
    let jo = server.login("jo").await;
    let mut stream = open_stream(&server.base_url, &alex, None).await;
    let first = jo_writes(&server, &jo, "One").await;
    read_until(&mut stream, &first, PROMPTLY).await;

    // The last second the token is accepted (it lapses at exp plus the leeway): the stream
    // still delivers.
    clock.advance(chrono::Duration::seconds(
        ACCESS_TOKEN_SECONDS + LEEWAY_SECONDS - 1,
    ));
    let second = jo_writes(&server, &jo, "Two").await;
    let received = read_until(&mut stream, &second, PROMPTLY).await;
    let last_seen = event_data(&received, &second)["id"].as_i64().unwrap();

    // A second later the token has lapsed, and the stream ends of itself.
    clock.advance(chrono::Duration::seconds(1));
    let tail = read_to_end(&mut stream, PROMPTLY).await;
    assert!(!tail.contains("message_created"), "nothing more: {tail}");
    assert_eq!(
        server.get("/v1/events", &alex.access_token).await.status,
        StatusCode::UNAUTHORIZED,
        "the lapsed token opens no new stream"
    );

    // Meanwhile jo (signed in afresh, as jo's token lapsed too) writes twice more.
    let jo = server.login("jo").await;
    let third = jo_writes(&server, &jo, "Three").await;
    let fourth = jo_writes(&server, &jo, "Four").await;

    // Alex's app refreshes and reconnects from the last event it saw: both arrive, in order,
    // and nothing twice.
    let renewed = server.refresh(&alex.refresh_token).await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.text);
    let alex = Session {
        access_token: renewed.body["access_token"].as_str().unwrap().to_owned(),
        refresh_token: renewed.body["refresh_token"].as_str().unwrap().to_owned(),
        ..alex
    };
    let mut resumed = open_stream(&server.base_url, &alex, Some(&last_seen.to_string())).await;
    let replayed = read_until(&mut resumed, &fourth, PROMPTLY).await;
    assert!(!replayed.contains(&second), "nothing twice: {replayed}");
    let third_at = replayed.find(&third).expect("the third message");
    assert!(third_at < replayed.find(&fourth).unwrap(), "in order");
}

/// Two server processes on one Postgres database: signing out on A ends, within a second, the
/// session's stream held open on B.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_on_one_process_ends_the_stream_on_another_within_a_second() {
    let a = TestServer::start(Backend::Postgres).await.unwrap();
    // Process B: its own pool, its own LISTEN connection, its own event hub, the same database.
    let store_b = livingwell_server::store::connect(&a.database.url)
        .await
        .unwrap();
    let state_b = AppState::new(store_b, &http::Settings::default())
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let b_url = format!("http://{}", listener.local_addr().unwrap());
    let b = tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            http::app(state_b).into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });

    let alex = a.login("alex").await;
    let mut on_b = open_stream(&b_url, &alex, None).await;
    assert_eq!(logout(&a, &alex).await.status, StatusCode::NO_CONTENT);
    read_to_end(&mut on_b, Duration::from_secs(1)).await;
    b.abort();
}
