//! `Idempotency-Key`: every write the apps make, sent again with its key, has one effect and
//! gets the first answer; the same key with another request is refused; a retry while the
//! first runs is told to wait; a key abandoned by a crash runs again only if nothing it wrote
//! took effect.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use livingwell_server::http::{SendRate, Settings};
use livingwell_server::service::idempotency::fingerprint;
use livingwell_server::store::idempotency::{Claim, NewClaim, REQUEST_KEY, RequestKey};
use livingwell_server::store::plans::{Author, CommentRecord};
use livingwell_tests::{Backend, Reply, Session, TestServer, on_both_databases};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_databases!(
    every_app_write_sent_again_with_its_key_has_one_effect,
    ten_at_once_with_one_key_have_one_effect,
    the_same_key_with_another_request_is_refused,
    a_retry_while_the_first_runs_is_told_to_wait,
    a_key_abandoned_by_a_crash_runs_again_only_if_nothing_took_effect,
    an_answer_that_says_try_again_frees_the_key,
    a_caller_who_hangs_up_mid_write_finds_its_answer_kept,
    a_server_stopping_finishes_a_hung_up_write_before_it_ends,
);

fn new_key() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Sends a write twice with one key; the second must be the first answer, replayed.
async fn twice(
    server: &TestServer,
    method: Method,
    path: &str,
    session: &Session,
    body: Option<Value>,
) -> Reply {
    let key = new_key();
    let first = server
        .send_keyed(
            method.clone(),
            path,
            &session.access_token,
            &key,
            body.clone(),
        )
        .await;
    assert!(
        first.status.is_success(),
        "{method} {path}: {} {}",
        first.status,
        first.text
    );
    let again = server
        .send_keyed(method.clone(), path, &session.access_token, &key, body)
        .await;
    assert_eq!(
        again.status, first.status,
        "{method} {path}: {}",
        again.text
    );
    assert_eq!(again.text, first.text, "{method} {path}: the same answer");
    assert_eq!(
        again.headers["idempotent-replayed"], "true",
        "{method} {path}: marked as a replay"
    );
    assert!(
        first.headers.get("idempotent-replayed").is_none(),
        "{method} {path}: the first answer is not a replay"
    );
    first
}

fn count(reply: &Reply, list: &str) -> usize {
    reply.body[list].as_array().map_or(0, Vec::len)
}

async fn every_app_write_sent_again_with_its_key_has_one_effect(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let alex = server.login("alex").await;
    let priya = server.login("priya").await;
    let sam = server.login("sam").await;
    let person = alex.person_id.clone().unwrap();
    let record = format!("/v1/people/{person}");

    // Plans: a new version, a comment, an agreement, the WRAP.
    let plan = server
        .get(&format!("{record}/enablement-plan"), &priya.access_token)
        .await;
    let version = plan.body["version"].as_i64().unwrap();
    let stored = twice(
        &server,
        Method::PUT,
        &format!("{record}/enablement-plan"),
        &priya,
        Some(json!({"base_version": version, "plan": plan.body["plan"]})),
    )
    .await;
    let versions = server
        .get(
            &format!("{record}/enablement-plan/versions"),
            &priya.access_token,
        )
        .await;
    assert_eq!(
        versions.body["versions"][0]["version"], stored.body["version"],
        "one new version"
    );
    assert_eq!(stored.body["version"].as_i64(), Some(version + 1));

    let comments = format!("{record}/enablement-plan/comments");
    let before = count(&server.get(&comments, &alex.access_token).await, "comments");
    twice(
        &server,
        Method::POST,
        &comments,
        &alex,
        Some(json!({"section": "goals", "body": "Once only", "disagree": false})),
    )
    .await;
    let after = count(&server.get(&comments, &alex.access_token).await, "comments");
    assert_eq!(after, before + 1, "one comment");

    twice(
        &server,
        Method::POST,
        &format!("{record}/enablement-plan/agreement"),
        &alex,
        Some(json!({"version": version + 1})),
    )
    .await;

    let wrap = server
        .get(&format!("{record}/wrap"), &alex.access_token)
        .await;
    let wrap_version = wrap.body["version"].as_i64().unwrap();
    let stored = twice(
        &server,
        Method::PUT,
        &format!("{record}/wrap"),
        &alex,
        Some(json!({"base_version": wrap_version, "wrap": wrap.body["wrap"]})),
    )
    .await;
    assert_eq!(stored.body["version"].as_i64(), Some(wrap_version + 1));

    // The crisis plan put into use and out of it, once each.
    let activation = format!("{record}/crisis-plan/activation");
    twice(
        &server,
        Method::POST,
        &activation,
        &alex,
        Some(json!({"reason": "Not sleeping"})),
    )
    .await;
    twice(&server, Method::DELETE, &activation, &alex, None).await;
    let crisis = server
        .get(&format!("{record}/crisis-plan"), &alex.access_token)
        .await;
    assert_eq!(
        count(&crisis, "history"),
        1,
        "one activation: {}",
        crisis.text
    );

    // Consents: one granted, then revoked.
    let consents = format!("{record}/consents");
    let before = server.get(&consents, &alex.access_token).await;
    let granted = twice(
        &server,
        Method::POST,
        &consents,
        &alex,
        Some(json!({"carer_id": sam.user_id, "scopes": ["appointments"]})),
    )
    .await;
    let after = server.get(&consents, &alex.access_token).await;
    assert_eq!(
        after.body.as_array().unwrap().len(),
        before.body.as_array().unwrap().len() + 1,
        "one consent"
    );
    let consent = granted.body["id"].as_str().unwrap();
    twice(
        &server,
        Method::DELETE,
        &format!("{consents}/{consent}"),
        &alex,
        None,
    )
    .await;

    // Appointments: the person's answer, and a workshop booking.
    let appointments = server
        .get(&format!("{record}/appointments"), &alex.access_token)
        .await;
    let appointment = appointments.body["appointments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["programme_id"].is_null())
        .expect("a one-to-one appointment")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    twice(
        &server,
        Method::POST,
        &format!("/v1/appointments/{appointment}/response"),
        &alex,
        Some(json!({"action": "confirm"})),
    )
    .await;
    let team = server.get(&record, &priya.access_token).await.body["team_id"].clone();
    let programme = server
        .new_programme(&priya, team.as_str().unwrap(), "Recovery College taster", 8)
        .await;
    let booked = twice(
        &server,
        Method::POST,
        &format!("/v1/programmes/{programme}/bookings"),
        &alex,
        Some(json!({})),
    )
    .await;
    assert_eq!(
        booked.status,
        StatusCode::CREATED,
        "booked once, not found again"
    );

    // Messaging: a send, a read receipt, a report.
    let conversation = server.peer_conversation(&alex.access_token).await;
    let messages = format!("/v1/conversations/{conversation}/messages");
    let before = server.get(&messages, &alex.access_token).await;
    let sent = twice(
        &server,
        Method::POST,
        &messages,
        &alex,
        Some(json!({"client_id": uuid::Uuid::now_v7(), "body": "Once"})),
    )
    .await;
    let after = server.get(&messages, &alex.access_token).await;
    // Alex's own (an out-of-hours notice may follow a send, from nobody).
    let alexs = |reply: &Reply| {
        reply.body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["sender_id"] == alex.user_id.as_str())
            .count()
    };
    assert_eq!(alexs(&after), alexs(&before) + 1, "one message");
    twice(
        &server,
        Method::POST,
        &format!("/v1/conversations/{conversation}/read"),
        &alex,
        Some(json!({"up_to_seq": sent.body["seq"]})),
    )
    .await;
    let jos = before.body["messages"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    twice(
        &server,
        Method::POST,
        &format!("/v1/messages/{jos}/report"),
        &alex,
        Some(json!({"reason": "It upset me"})),
    )
    .await;
}

async fn ten_at_once_with_one_key_have_one_effect(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let alex = server.login("alex").await;
    let person = alex.person_id.clone().unwrap();
    let comments = format!("/v1/people/{person}/enablement-plan/comments");
    let before = count(&server.get(&comments, &alex.access_token).await, "comments");
    let key = new_key();
    let body = json!({"section": "goals", "body": "Said once", "disagree": false});
    let replies = futures_util::future::join_all((0..10).map(|_| {
        server.send_keyed(
            Method::POST,
            &comments,
            &alex.access_token,
            &key,
            Some(body.clone()),
        )
    }))
    .await;
    let mut answers = Vec::new();
    for reply in &replies {
        match reply.status {
            StatusCode::CREATED => answers.push(reply.text.clone()),
            StatusCode::CONFLICT => {
                assert_eq!(reply.code(), "idempotency_in_progress", "{}", reply.text);
                assert!(reply.headers.contains_key("retry-after"));
            }
            other => panic!("unexpected {other}: {}", reply.text),
        }
    }
    assert!(!answers.is_empty());
    assert!(answers.iter().all(|a| *a == answers[0]), "one answer");
    let after = count(&server.get(&comments, &alex.access_token).await, "comments");
    assert_eq!(
        after,
        before + 1,
        "ten sends with one key store one comment"
    );
}

async fn the_same_key_with_another_request_is_refused(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let alex = server.login("alex").await;
    let priya = server.login("priya").await;
    let person = alex.person_id.clone().unwrap();
    let comments = format!("/v1/people/{person}/enablement-plan/comments");
    let key = new_key();
    let say = |text: &str| Some(json!({"section": "goals", "body": text, "disagree": false}));
    let first = server
        .send_keyed(
            Method::POST,
            &comments,
            &alex.access_token,
            &key,
            say("One"),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let other = server
        .send_keyed(
            Method::POST,
            &comments,
            &alex.access_token,
            &key,
            say("Two"),
        )
        .await;
    assert_eq!(
        other.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        other.text
    );
    assert_eq!(other.body["fields"][0]["field"], "idempotency-key");
    assert_eq!(other.body["fields"][0]["code"], "reused");
    // A key is the caller's own: another account's same key is another request.
    let priyas = server
        .send_keyed(
            Method::POST,
            &comments,
            &priya.access_token,
            &key,
            say("One"),
        )
        .await;
    assert_eq!(priyas.status, StatusCode::CREATED, "{}", priyas.text);
    assert_ne!(priyas.body["id"], first.body["id"]);
    // A method the route does not take is 405 whatever key it carries.
    let wrong_method = server
        .send_keyed(Method::PUT, &comments, &alex.access_token, &key, say("One"))
        .await;
    assert_eq!(
        wrong_method.status,
        StatusCode::METHOD_NOT_ALLOWED,
        "{}",
        wrong_method.text
    );
    // A key that is not visible ASCII is refused before anything runs.
    let bad = server
        .send_keyed(
            Method::POST,
            &comments,
            &alex.access_token,
            "two words",
            say("Three"),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.body["fields"][0]["field"], "idempotency-key");
}

/// The claim a keyed comment by `session` makes, as the server fingerprints it, holding the
/// key until `lease_until`.
fn comment_claim(
    session: &Session,
    path: &str,
    body: &Value,
    key: &str,
    lease_until: DateTime<Utc>,
) -> (RequestKey, Vec<u8>) {
    let bytes = serde_json::to_vec(body).unwrap();
    (
        RequestKey {
            caller: session.user_id.clone(),
            key: key.to_owned(),
            lease_until,
        },
        fingerprint("POST", path, b"", &bytes),
    )
}

async fn a_retry_while_the_first_runs_is_told_to_wait(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let alex = server.login("alex").await;
    let person = alex.person_id.clone().unwrap();
    let comments = format!("/v1/people/{person}/enablement-plan/comments");
    let body = json!({"section": "goals", "body": "Slow", "disagree": false});
    let key = new_key();
    // The first request holds the key, as it does while its handler runs.
    let now = Utc::now();
    let (request_key, fingerprint) =
        comment_claim(&alex, &comments, &body, &key, now + Duration::minutes(2));
    let held = server
        .store
        .claim_idempotency_key(&NewClaim {
            key: request_key,
            fingerprint,
            at: now,
        })
        .await
        .unwrap();
    assert_eq!(held, Claim::Claimed);
    let retry = server
        .send_keyed(
            Method::POST,
            &comments,
            &alex.access_token,
            &key,
            Some(body),
        )
        .await;
    assert_eq!(retry.status, StatusCode::CONFLICT, "{}", retry.text);
    assert_eq!(retry.code(), "idempotency_in_progress");
    assert_eq!(retry.headers["retry-after"], "1");
}

/// A keyed comment whose request died holding its key, its lease long past: the key, the body
/// and the request's key.
async fn abandoned_comment(
    server: &TestServer,
    session: &Session,
    comments: &str,
    text: &str,
) -> (String, Value, RequestKey) {
    let body = json!({"section": "goals", "body": text, "disagree": false});
    let key = new_key();
    let (request_key, fingerprint) = comment_claim(
        session,
        comments,
        &body,
        &key,
        Utc::now() - Duration::minutes(8),
    );
    let claimed = server
        .store
        .claim_idempotency_key(&NewClaim {
            key: request_key.clone(),
            fingerprint,
            at: Utc::now() - Duration::minutes(10),
        })
        .await
        .unwrap();
    assert_eq!(claimed, Claim::Claimed);
    (key, body, request_key)
}

async fn a_key_abandoned_by_a_crash_runs_again_only_if_nothing_took_effect(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let alex = server.login("alex").await;
    let person = alex.person_id.clone().unwrap();
    let comments = format!("/v1/people/{person}/enablement-plan/comments");
    let count_comments =
        || async { count(&server.get(&comments, &alex.access_token).await, "comments") };
    // Died before writing anything: the retry runs it.
    let (key, body, _) = abandoned_comment(&server, &alex, &comments, "Lost in a crash").await;
    let before = count_comments().await;
    let retry = server
        .send_keyed(
            Method::POST,
            &comments,
            &alex.access_token,
            &key,
            Some(body),
        )
        .await;
    assert_eq!(retry.status, StatusCode::CREATED, "{}", retry.text);
    assert_eq!(count_comments().await, before + 1);

    // Died after its write committed: the write marked the key in its own transaction, so
    // the retry does not write again.
    let (key, body, request_key) =
        abandoned_comment(&server, &alex, &comments, "Saved, then a crash").await;
    let plan_version = server
        .get(
            &format!("/v1/people/{person}/enablement-plan"),
            &alex.access_token,
        )
        .await
        .body["version"]
        .as_i64()
        .unwrap();
    let written = CommentRecord {
        id: uuid::Uuid::now_v7(),
        person_id: person.parse().unwrap(),
        version: i32::try_from(plan_version).unwrap(),
        section: "goals".to_owned(),
        body: "Saved, then a crash".to_owned(),
        disagree: false,
        author: Author {
            id: alex.user_id.clone(),
            role: "service_user".to_owned(),
        },
        created_at: Utc::now(),
    };
    REQUEST_KEY
        .scope(request_key, server.store.add_comment(&written, &[]))
        .await
        .unwrap();
    let before = count_comments().await;
    let retry = server
        .send_keyed(
            Method::POST,
            &comments,
            &alex.access_token,
            &key,
            Some(body),
        )
        .await;
    assert_eq!(retry.status, StatusCode::CONFLICT, "{}", retry.text);
    assert_eq!(retry.code(), "idempotency_answer_lost");
    assert_eq!(count_comments().await, before, "not written twice");
}

async fn an_answer_that_says_try_again_frees_the_key(backend: Backend) {
    let settings = {
        let mut settings = Settings::default();
        settings.messaging.send_rate = Some(SendRate {
            burst: std::num::NonZeroU32::MIN,
            replenish_every: StdDuration::from_millis(500),
        });
        settings
    };
    let server = TestServer::start_with(backend, settings).await.unwrap();
    let alex = server.login("alex").await;
    let conversation = server.peer_conversation(&alex.access_token).await;
    let messages = format!("/v1/conversations/{conversation}/messages");
    let first = server
        .send_keyed(
            Method::POST,
            &messages,
            &alex.access_token,
            &new_key(),
            Some(json!({"client_id": uuid::Uuid::now_v7(), "body": "First"})),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    let key = new_key();
    let body = json!({"client_id": uuid::Uuid::now_v7(), "body": "Second"});
    let limited = server
        .send_keyed(
            Method::POST,
            &messages,
            &alex.access_token,
            &key,
            Some(body.clone()),
        )
        .await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.text
    );
    tokio::time::sleep(StdDuration::from_millis(600)).await;
    // Not the kept 429: the key was let go, and the send runs now.
    let retried = server
        .send_keyed(
            Method::POST,
            &messages,
            &alex.access_token,
            &key,
            Some(body),
        )
        .await;
    assert_eq!(retried.status, StatusCode::CREATED, "{}", retried.text);
}

/// A phone killed or cut off while its write runs: the write still runs to its end and its
/// answer is kept, so the retry is answered at once — not told to wait out the key's lease.
/// Hanging up lands at a different point of each of the twenty writes; every retry must be
/// answered within seconds, and each comment be there once.
async fn a_caller_who_hangs_up_mid_write_finds_its_answer_kept(backend: Backend) {
    use tokio::io::AsyncWriteExt;

    let server = TestServer::start(backend).await.unwrap();
    let alex = server.login("alex").await;
    let person = alex.person_id.clone().unwrap();
    let comments = format!("/v1/people/{person}/enablement-plan/comments");
    let address = server.base_url.trim_start_matches("http://").to_owned();
    for attempt in 0..20 {
        let key = new_key();
        let text = format!("Hung up {attempt}");
        let body = json!({"section": "goals", "body": text, "disagree": false}).to_string();
        let request = format!(
            "POST {comments} HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {}\r\n\
             idempotency-key: {key}\r\ncontent-type: application/json\r\n\
             content-length: {}\r\n\r\n{body}",
            alex.access_token,
            body.len()
        );
        let mut phone = tokio::net::TcpStream::connect(&address).await.unwrap();
        phone.write_all(request.as_bytes()).await.unwrap();
        // Killed: the connection goes with no answer read, a little later each time.
        tokio::time::sleep(StdDuration::from_micros(250 * attempt)).await;
        drop(phone);

        let deadline = tokio::time::Instant::now() + StdDuration::from_secs(5);
        let retry = loop {
            let retry = server
                .send_keyed(
                    Method::POST,
                    &comments,
                    &alex.access_token,
                    &key,
                    Some(serde_json::from_str(&body).unwrap()),
                )
                .await;
            if retry.status != StatusCode::CONFLICT {
                break retry;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "attempt {attempt}: the retry still waits on a key its hung-up request held"
            );
            tokio::time::sleep(StdDuration::from_millis(50)).await;
        };
        assert_eq!(retry.status, StatusCode::CREATED, "{}", retry.text);
        let listed = server.get(&comments, &alex.access_token).await;
        assert_eq!(
            listed.text.matches(&text).count(),
            1,
            "attempt {attempt}: once"
        );
    }
}

/// A graceful stop (a deploy, a restart) while a phone's write runs for a caller that hung up:
/// the server finishes it before it ends, so after the restart the phone's retry gets the kept
/// answer at once, instead of waiting out the two-minute lease of a key whose request the
/// stopping process dropped half-way (found by the Python crash loop, whose phone was held
/// behind such a key for the whole of its final drain).
async fn a_server_stopping_finishes_a_hung_up_write_before_it_ends(backend: Backend) {
    use tokio::io::AsyncWriteExt;

    let mut server = TestServer::start(backend).await.unwrap();
    let alex = server.login("alex").await;
    let person = alex.person_id.clone().unwrap();
    let comments = format!("/v1/people/{person}/enablement-plan/comments");
    let address = server.base_url.trim_start_matches("http://").to_owned();
    let key = new_key();
    let body = json!({"section": "goals", "body": "Said as the server stopped", "disagree": false});
    let text = body.to_string();
    let request = format!(
        "POST {comments} HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {}\r\n\
         idempotency-key: {key}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{text}",
        alex.access_token,
        text.len()
    );

    // The write is caught claiming its key, and its caller hangs up.
    let hold = server.database.hold_key_claims().await.unwrap();
    let mut phone = tokio::net::TcpStream::connect(&address).await.unwrap();
    phone.write_all(request.as_bytes()).await.unwrap();
    tokio::time::sleep(StdDuration::from_millis(200)).await;
    drop(phone);

    // The server is told to stop: it must not end while the write still runs.
    let stopping = tokio::spawn(async move {
        server.stop().await;
        server
    });
    tokio::time::sleep(StdDuration::from_millis(300)).await;
    assert!(
        !stopping.is_finished(),
        "the server ended with a keyed write still running"
    );
    hold.release().await.unwrap();
    let mut server = stopping.await.unwrap();

    server.restart().await.unwrap();
    let retry = server
        .send_keyed(
            Method::POST,
            &comments,
            &alex.access_token,
            &key,
            Some(body),
        )
        .await;
    assert_eq!(retry.status, StatusCode::CREATED, "{}", retry.text);
    assert_eq!(
        retry
            .headers
            .get("idempotent-replayed")
            .map(|v| v.as_bytes()),
        Some(&b"true"[..]),
        "the answer kept before the server ended"
    );
    let listed = server.get(&comments, &alex.access_token).await;
    assert_eq!(listed.text.matches("Said as the server stopped").count(), 1);
}
