//! Webhooks for staff systems: subscribed to, delivered signed (verified with the Standard
//! Webhooks reference library), delivered after a restart mid-retry, turned off after
//! repeated failure, never sent to a refused address, and only the client's own.

use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::serve::ListenerExt;
use livingwell_server::http::{RetrySchedule, Settings, WebhookSettings};
use livingwell_tests::{Backend, TestServer, on_both_databases};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_databases!(
    each_kind_subscribed_to_arrives_once_signed_as_standard_webhooks_verify,
    a_delivery_failing_when_the_server_restarts_arrives_once_afterwards_with_its_id,
    a_receiver_that_keeps_failing_is_turned_off_and_its_owner_and_admins_see_it,
    a_private_target_is_refused_and_never_connected_to,
    only_staff_systems_with_the_scope_manage_their_own_subscriptions,
    bad_subscriptions_are_refused_naming_the_field,
);

/// The four kinds a case system most wants.
const KINDS: [&str; 4] = [
    "crisis_plan_activated",
    "appointment_request_made",
    "message_reported",
    "enablement_plan_agreed",
];

/// One request the receiver was sent.
#[derive(Clone, Debug)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    body: String,
    /// The status it was answered with.
    answered: u16,
}

#[derive(Debug, Default)]
struct Log {
    received: Mutex<Vec<Received>>,
    /// Requests still to be answered 500.
    failures_left: AtomicUsize,
    connections: AtomicUsize,
}

/// A case system's webhook endpoint on a free local port: keeps what it is sent, fails the
/// first requests it is told to, and counts the connections made to it.
struct Receiver {
    url: String,
    log: Arc<Log>,
    server: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start(fail_first: usize) -> Self {
        let log = Arc::new(Log::default());
        log.failures_left.store(fail_first, Ordering::SeqCst);
        let app = axum::Router::new()
            .route("/hooks", axum::routing::post(receive))
            .with_state(log.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let counted = log.clone();
        let listener = listener.tap_io(move |_| {
            counted.connections.fetch_add(1, Ordering::SeqCst);
        });
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url: format!("http://{address}/hooks"),
            log,
            server,
        }
    }

    fn port(&self) -> u16 {
        self.url
            .trim_start_matches("http://127.0.0.1:")
            .trim_end_matches("/hooks")
            .parse()
            .unwrap()
    }

    fn received(&self) -> Vec<Received> {
        self.log.received.lock().unwrap().clone()
    }

    /// What was received once `done` holds of it; fails after `within`.
    async fn wait_until(
        &self,
        within: Duration,
        done: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let received = self.received();
            if done(&received) {
                return received;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "not received within {within:?}; got {received:#?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn receive(State(log): State<Arc<Log>>, headers: HeaderMap, body: String) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let fail = log
        .failures_left
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
            left.checked_sub(1)
        })
        .is_ok();
    let status = if fail {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::NO_CONTENT
    };
    log.received.lock().unwrap().push(Received {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        body,
        answered: status.as_u16(),
    });
    status
}

/// Settings for a server whose webhooks may go to this machine, retried after `waits`.
fn settings(allow_private_targets: bool, waits: &[u64]) -> Settings {
    Settings {
        webhooks: WebhookSettings {
            allow_private_targets,
            retry_schedule: RetrySchedule::new(
                waits.iter().map(|ms| Duration::from_millis(*ms)).collect(),
            ),
            request_timeout: Duration::from_secs(2),
        },
        ..Settings::default()
    }
}

/// The demo case system's token with every scope webhooks need.
async fn case_system(server: &TestServer) -> String {
    server
        .client_token(Some(
            "webhooks:manage plans:read appointments:read people:read",
        ))
        .await
}

/// Subscribes; returns the subscription's id and secret.
async fn subscribe(
    server: &TestServer,
    token: &str,
    url: &str,
    kinds: &[&str],
) -> (String, String) {
    let reply = server
        .post("/v1/webhooks", token, json!({"url": url, "kinds": kinds}))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let secret = reply.body["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    (
        reply.body["subscription"]["id"]
            .as_str()
            .unwrap()
            .to_owned(),
        secret,
    )
}

/// The subscription's deliveries once `done` holds of them; fails after `within`.
async fn deliveries_when(
    server: &TestServer,
    token: &str,
    subscription: &str,
    within: Duration,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let reply = server
            .get(&format!("/v1/webhooks/{subscription}/deliveries"), token)
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        let deliveries = reply.body["deliveries"].as_array().unwrap().clone();
        if done(&deliveries) {
            return deliveries;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "deliveries not as expected within {within:?}: {deliveries:#?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Verifies every delivery with the Standard Webhooks reference library (Python), which also
/// must refuse each with its body changed or under another secret; returns the bodies it read.
fn verify_with_reference_library(secret: &str, received: &[Received]) -> Vec<Value> {
    use std::io::Write;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/webhooks/verify_signatures.py");
    let spec = json!({
        "secret": secret,
        "deliveries": received.iter().map(|r| json!({
            "id": r.id, "timestamp": r.timestamp, "signature": r.signature, "body": r.body,
        })).collect::<Vec<_>>(),
    });
    let mut child = std::process::Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 must be installed to verify webhook signatures");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(spec.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "the Standard Webhooks reference library did not verify the deliveries (install it \
         with `python3 -m pip install standardwebhooks==1.1.0`): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Alex's crisis plan put into use, a reschedule asked for, a message reported, and a plan
/// version agreed: one of each of [`KINDS`]. Returns alex's person id.
async fn four_things_happen(server: &TestServer) -> String {
    let alex = server.login("alex").await;
    let priya = server.login("priya").await;
    let person = alex.person_id.clone().unwrap();
    let record = format!("/v1/people/{person}");

    let activated = server
        .post(
            &format!("{record}/crisis-plan/activation"),
            &alex.access_token,
            json!({"reason": "Not sleeping, voices loud"}),
        )
        .await;
    assert_eq!(activated.status, StatusCode::CREATED, "{}", activated.text);

    let person_view = server.get(&record, &priya.access_token).await;
    let starts = chrono::Utc::now() + chrono::Duration::days(5);
    let appointment = server
        .post(
            &format!("{record}/appointments"),
            &priya.access_token,
            json!({
                "kind": "review",
                "starts_at": starts,
                "ends_at": starts + chrono::Duration::minutes(30),
                "location": {"type": "hub", "team_id": person_view.body["team_id"]},
                // No staff on it: the person's request is in no account's notifications,
                // and staff systems are still told of it.
            }),
        )
        .await;
    assert_eq!(
        appointment.status,
        StatusCode::CREATED,
        "{}",
        appointment.text
    );
    let later = starts + chrono::Duration::days(1);
    let asked = server
        .post(
            &format!(
                "/v1/appointments/{}/response",
                appointment.body["id"].as_str().unwrap()
            ),
            &alex.access_token,
            json!({
                "action": "reschedule_request",
                "reason": "Hospital appointment that morning",
                "preferred_times": [{"starts_at": later, "ends_at": later + chrono::Duration::hours(1)}],
            }),
        )
        .await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.text);

    let conversation = server.peer_conversation(&alex.access_token).await;
    let messages = server
        .get(
            &format!("/v1/conversations/{conversation}/messages"),
            &alex.access_token,
        )
        .await;
    let jos_message = messages.body["messages"][0]["id"].as_str().unwrap();
    let reported = server
        .post(
            &format!("/v1/messages/{jos_message}/report"),
            &alex.access_token,
            json!({"reason": "It upset me"}),
        )
        .await;
    assert_eq!(reported.status, StatusCode::CREATED, "{}", reported.text);

    let plan_path = format!("{record}/enablement-plan");
    let current = server.get(&plan_path, &priya.access_token).await;
    let version = current.body["version"].as_i64().unwrap();
    let stored = server
        .put(
            &plan_path,
            &priya.access_token,
            json!({"base_version": version, "plan": current.body["plan"]}),
        )
        .await;
    assert_eq!(stored.status, StatusCode::OK, "{}", stored.text);
    let agreed = server
        .post(
            &format!("{plan_path}/agreement"),
            &alex.access_token,
            json!({"version": version + 1}),
        )
        .await;
    assert!(agreed.status.is_success(), "{}", agreed.text);
    person
}

async fn each_kind_subscribed_to_arrives_once_signed_as_standard_webhooks_verify(backend: Backend) {
    let receiver = Receiver::start(0).await;
    let server = TestServer::start_with(backend, settings(true, &[50, 50]))
        .await
        .unwrap();
    let token = case_system(&server).await;
    let (subscription, secret) = subscribe(&server, &token, &receiver.url, &KINDS).await;

    let person = four_things_happen(&server).await;

    let received = receiver
        .wait_until(Duration::from_secs(15), |r| r.len() >= KINDS.len())
        .await;
    // Nothing more follows: each happening once, however many people were told of it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = {
        let all = receiver.received();
        assert_eq!(all.len(), received.len(), "{all:#?}");
        all
    };
    let bodies = verify_with_reference_library(&secret, &received);
    let mut kinds: Vec<&str> = bodies.iter().map(|b| b["type"].as_str().unwrap()).collect();
    kinds.sort_unstable();
    let mut expected = KINDS.to_vec();
    expected.sort_unstable();
    assert_eq!(kinds, expected);
    for (body, request) in bodies.iter().zip(&received) {
        assert_eq!(
            body.as_object().unwrap().len(),
            3,
            "type, timestamp, data: {body}"
        );
        assert!(body["timestamp"].as_str().is_some(), "{body}");
        assert_eq!(body["data"]["person_id"], person.as_str(), "{body}");
        // Ids and kinds only: none of what anyone wrote.
        for words in ["Not sleeping", "Hospital", "upset", "voices"] {
            assert!(!request.body.contains(words), "{}", request.body);
        }
        assert_eq!(request.answered, 204);
    }
    // The delivery log says the same: each delivered at its first attempt, with its id.
    let deliveries = deliveries_when(
        &server,
        &token,
        &subscription,
        Duration::from_secs(5),
        |d| d.len() == KINDS.len() && d.iter().all(|d| d["state"] == "delivered"),
    )
    .await;
    for delivery in &deliveries {
        assert_eq!(
            delivery["attempts"].as_array().unwrap().len(),
            1,
            "{delivery}"
        );
        assert_eq!(delivery["attempts"][0]["status_code"], 204);
        assert!(delivery["delivered_at"].is_string());
        assert!(
            received
                .iter()
                .any(|r| r.id == delivery["id"].as_str().unwrap()),
            "{delivery}"
        );
    }
}

async fn a_delivery_failing_when_the_server_restarts_arrives_once_afterwards_with_its_id(
    backend: Backend,
) {
    // The first two attempts are answered 500; the server stops after the first.
    let receiver = Receiver::start(2).await;
    let mut server = TestServer::start_with(backend, settings(true, &[1_000, 300, 300, 300]))
        .await
        .unwrap();
    let token = case_system(&server).await;
    let (subscription, secret) =
        subscribe(&server, &token, &receiver.url, &["crisis_plan_activated"]).await;
    let alex = server.login("alex").await;
    let activated = server
        .post(
            &format!(
                "/v1/people/{}/crisis-plan/activation",
                alex.person_id.unwrap()
            ),
            &alex.access_token,
            json!({"reason": "Not sleeping"}),
        )
        .await;
    assert_eq!(activated.status, StatusCode::CREATED, "{}", activated.text);
    // The first attempt failed, and is recorded as failed with a retry due.
    deliveries_when(
        &server,
        &token,
        &subscription,
        Duration::from_secs(10),
        |d| d.len() == 1 && d[0]["attempts"].as_array().is_some_and(|a| a.len() == 1),
    )
    .await;
    server.stop().await;
    // Nothing is sent while the server is down.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(receiver.received().len(), 1);

    server.restart().await.unwrap();
    let received = receiver
        .wait_until(Duration::from_secs(15), |r| {
            r.iter().any(|r| r.answered == 204)
        })
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = {
        let all = receiver.received();
        assert_eq!(
            all.len(),
            received.len(),
            "nothing after the success: {all:#?}"
        );
        all
    };
    let answers: Vec<u16> = received.iter().map(|r| r.answered).collect();
    assert_eq!(answers, [500, 500, 204], "exactly once successfully");
    assert!(
        received.iter().all(|r| r.id == received[0].id),
        "one webhook-id on every attempt: {received:#?}"
    );
    verify_with_reference_library(&secret, &received);
    let deliveries = deliveries_when(
        &server,
        &token,
        &subscription,
        Duration::from_secs(5),
        |d| d[0]["state"] == "delivered",
    )
    .await;
    assert_eq!(deliveries[0]["id"], received[0].id.as_str());
    let statuses: Vec<&Value> = deliveries[0]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["status_code"])
        .collect();
    assert_eq!(statuses, [&json!(500), &json!(500), &json!(204)]);
}

async fn a_receiver_that_keeps_failing_is_turned_off_and_its_owner_and_admins_see_it(
    backend: Backend,
) {
    let receiver = Receiver::start(usize::MAX).await;
    let server = TestServer::start_with(backend, settings(true, &[30, 30]))
        .await
        .unwrap();
    let token = case_system(&server).await;
    let (subscription, _) =
        subscribe(&server, &token, &receiver.url, &["crisis_plan_activated"]).await;
    let alex = server.login("alex").await;
    let person = alex.person_id.clone().unwrap();
    let activation = format!("/v1/people/{person}/crisis-plan/activation");
    let activated = server
        .post(
            &activation,
            &alex.access_token,
            json!({"reason": "Not sleeping"}),
        )
        .await;
    assert_eq!(activated.status, StatusCode::CREATED, "{}", activated.text);

    // Three attempts (the first and two retries), all 500: the delivery fails.
    let deliveries = deliveries_when(
        &server,
        &token,
        &subscription,
        Duration::from_secs(10),
        |d| d.len() == 1 && d[0]["state"] == "failed",
    )
    .await;
    let attempts = deliveries[0]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3, "{attempts:?}");
    assert!(
        attempts
            .iter()
            .all(|a| a["status_code"] == 500 && a["failure"] == "status")
    );
    assert!(deliveries[0].get("next_attempt_at").is_none());
    assert_eq!(receiver.received().len(), 3);

    // The owner sees its subscription off, and why: turned off just after the failure is
    // recorded (a transaction of its own), so looked for until it shows.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let seen = loop {
        let seen = server
            .get(&format!("/v1/webhooks/{subscription}"), &token)
            .await;
        assert_eq!(seen.status, StatusCode::OK);
        if seen.body["disabled_at"].is_string() || std::time::Instant::now() > deadline {
            break seen;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(seen.body["disabled_at"].is_string(), "{}", seen.text);
    assert_eq!(seen.body["disabled_reason"], "deliveries_failing");
    let listed = server.get("/v1/webhooks", &token).await;
    assert_eq!(
        listed.body["subscriptions"][0]["disabled_reason"],
        "deliveries_failing"
    );

    // The deployment's admins are told, by ids.
    let admin = server.login("admin").await;
    let notifications = server.get("/v1/notifications", &admin.access_token).await;
    let told: Vec<&Value> = notifications.body["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "webhook_subscription_disabled")
        .collect();
    assert_eq!(told.len(), 1, "{}", notifications.text);
    assert_eq!(told[0]["data"]["subscription_id"], subscription.as_str());
    assert_eq!(told[0]["data"]["client_id"], "case-system");

    // While it is off nothing is queued or sent.
    let ended = server.delete(&activation, &alex.access_token).await;
    assert_eq!(ended.status, StatusCode::OK);
    let again = server
        .post(&activation, &alex.access_token, json!({"reason": "Again"}))
        .await;
    assert_eq!(again.status, StatusCode::CREATED);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 3);

    // Enabled again, it is on, and what happens next is sent.
    let enabled = server
        .post(
            &format!("/v1/webhooks/{subscription}/enable"),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(enabled.status, StatusCode::OK, "{}", enabled.text);
    assert!(
        enabled.body.get("disabled_at").is_none(),
        "{}",
        enabled.text
    );
    receiver.log.failures_left.store(0, Ordering::SeqCst);
    server.delete(&activation, &alex.access_token).await;
    let third = server
        .post(&activation, &alex.access_token, json!({"reason": "Third"}))
        .await;
    assert_eq!(third.status, StatusCode::CREATED);
    receiver
        .wait_until(Duration::from_secs(10), |r| {
            r.iter().any(|r| r.answered == 204)
        })
        .await;
}

async fn a_private_target_is_refused_and_never_connected_to(backend: Backend) {
    let receiver = Receiver::start(0).await;
    let port = receiver.port();
    let by_address = format!("http://127.0.0.1:{port}/hooks");
    let by_name = format!("http://localhost:{port}/hooks");

    // A deployment that allows private targets takes both…
    let mut server = TestServer::start_with(backend, settings(true, &[30, 30]))
        .await
        .unwrap();
    let token = case_system(&server).await;
    let (literal, _) = subscribe(&server, &token, &by_address, &["crisis_plan_activated"]).await;
    let (named, _) = subscribe(&server, &token, &by_name, &["crisis_plan_activated"]).await;

    // …and once restarted without the flag it refuses both, and never connects to them.
    server
        .restart_with(settings(false, &[30, 30]))
        .await
        .unwrap();
    let token = case_system(&server).await;
    for url in [&by_address, &by_name, &"http://[::1]:9/hooks".to_owned()] {
        let refused = server
            .post(
                "/v1/webhooks",
                &token,
                json!({"url": url, "kinds": ["crisis_plan_activated"]}),
            )
            .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{url}");
        assert_eq!(refused.fields(), ["url"], "{url}: {}", refused.text);
        assert_eq!(refused.body["fields"][0]["code"], "private_address");
    }
    let alex = server.login("alex").await;
    let activated = server
        .post(
            &format!(
                "/v1/people/{}/crisis-plan/activation",
                alex.person_id.unwrap()
            ),
            &alex.access_token,
            json!({"reason": "Not sleeping"}),
        )
        .await;
    assert_eq!(activated.status, StatusCode::CREATED, "{}", activated.text);
    for subscription in [&literal, &named] {
        let deliveries = deliveries_when(
            &server,
            &token,
            subscription,
            Duration::from_secs(10),
            |d| d.len() == 1 && d[0]["state"] == "failed",
        )
        .await;
        let attempts = deliveries[0]["attempts"].as_array().unwrap();
        assert_eq!(attempts.len(), 3);
        assert!(
            attempts
                .iter()
                .all(|a| a["failure"] == "address_refused" && a.get("status_code").is_none()),
            "{attempts:?}"
        );
    }
    assert_eq!(receiver.log.connections.load(Ordering::SeqCst), 0);
    assert!(receiver.received().is_empty());
}

async fn only_staff_systems_with_the_scope_manage_their_own_subscriptions(backend: Backend) {
    let server = TestServer::start_with(backend, settings(true, &[30]))
        .await
        .unwrap();
    let body = json!({"url": "http://127.0.0.1:9/hooks", "kinds": ["crisis_plan_activated"]});
    // An app account, even an admin's, is not a staff system.
    let admin = server.login("admin").await;
    let refused = server
        .post("/v1/webhooks", &admin.access_token, body.clone())
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.code(), "forbidden");
    // A staff system without webhooks:manage is refused naming it.
    let reader = server.client_token(Some("plans:read")).await;
    let refused = server.post("/v1/webhooks", &reader, body.clone()).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.code(), "insufficient_scope");
    assert_eq!(refused.body["required_scope"], "webhooks:manage");
    // With it but without plans:read, a plan kind is refused naming the scope it needs.
    let manager = server.client_token(Some("webhooks:manage")).await;
    let refused = server.post("/v1/webhooks", &manager, body.clone()).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    assert_eq!(refused.body["required_scope"], "plans:read");

    let token = case_system(&server).await;
    let (subscription, _) = subscribe(&server, &token, "http://127.0.0.1:9/hooks", &KINDS).await;
    let mine = server
        .get(&format!("/v1/webhooks/{subscription}"), &token)
        .await;
    assert_eq!(mine.status, StatusCode::OK);
    assert!(
        mine.body.get("secret").is_none(),
        "the secret is shown once"
    );

    // Another staff system, registered by the admin, knows nothing of it.
    let registered = server
        .post(
            "/v1/clients",
            &admin.access_token,
            json!({"name": "Scheduler", "scopes": ["webhooks:manage", "plans:read"]}),
        )
        .await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.text
    );
    let form = [
        ("grant_type", "client_credentials"),
        (
            "client_id",
            registered.body["client"]["client_id"].as_str().unwrap(),
        ),
        (
            "client_secret",
            registered.body["client_secret"].as_str().unwrap(),
        ),
        ("scope", "webhooks:manage plans:read"),
    ];
    let other =
        livingwell_tests::read(server.http.post(server.url("/oauth/token")).form(&form)).await;
    let other = other.body["access_token"].as_str().unwrap().to_owned();
    for (method, path) in [
        (reqwest::Method::GET, format!("/v1/webhooks/{subscription}")),
        (
            reqwest::Method::GET,
            format!("/v1/webhooks/{subscription}/deliveries"),
        ),
        (
            reqwest::Method::POST,
            format!("/v1/webhooks/{subscription}/enable"),
        ),
        (
            reqwest::Method::DELETE,
            format!("/v1/webhooks/{subscription}"),
        ),
    ] {
        let reply = server.send(method.clone(), &path, Some(&other), None).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{method} {path}");
    }
    let theirs = server.get("/v1/webhooks", &other).await;
    assert_eq!(theirs.body["subscriptions"], json!([]));

    // Its owner removes it.
    let removed = server
        .delete(&format!("/v1/webhooks/{subscription}"), &token)
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    let gone = server
        .get(&format!("/v1/webhooks/{subscription}"), &token)
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

async fn bad_subscriptions_are_refused_naming_the_field(backend: Backend) {
    let server = TestServer::start_with(backend, settings(false, &[30]))
        .await
        .unwrap();
    let token = case_system(&server).await;
    let long = format!("https://case.example.org/{}", "a".repeat(2048));
    for (body, field, code) in [
        (
            json!({"url": "ftp://case.example.org/", "kinds": ["crisis_plan_activated"]}),
            "url",
            "invalid_url",
        ),
        (
            json!({"url": "https://user:pw@case.example.org/", "kinds": ["crisis_plan_activated"]}),
            "url",
            "invalid_url",
        ),
        (
            json!({"url": long, "kinds": ["crisis_plan_activated"]}),
            "url",
            "too_long",
        ),
        (
            json!({"url": "https://case.example.org/", "kinds": []}),
            "kinds",
            "required",
        ),
        (
            json!({"url": "https://case.example.org/", "kinds": ["message_created"]}),
            "kinds",
            "not_for_staff_systems",
        ),
        (
            json!({"url": "https://case.example.org/", "kinds": ["messages_read", "crisis_plan_activated"]}),
            "kinds",
            "not_for_staff_systems",
        ),
        (
            json!({"url": "https://case.example.org/", "kinds": ["plan_deleted"]}),
            "kinds[0]",
            "invalid",
        ),
        (
            json!({"url": "https://case.example.org/", "kinds": ["crisis_plan_activated"], "secret": "mine"}),
            "secret",
            "unknown_field",
        ),
        (
            json!({"kinds": ["crisis_plan_activated"]}),
            "url",
            "required",
        ),
        (
            json!({"url": "https://169.254.169.254/latest/", "kinds": ["crisis_plan_activated"]}),
            "url",
            "private_address",
        ),
    ] {
        let reply = server.post("/v1/webhooks", &token, body.clone()).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            reply.text
        );
        assert_eq!(reply.fields(), [field], "{body}: {}", reply.text);
        assert_eq!(
            reply.body["fields"][0]["code"], code,
            "{body}: {}",
            reply.text
        );
    }
    // A delivery log's page size and cursor are checked like every list's.
    let (subscription, _) = {
        let reply = server
            .post(
                "/v1/webhooks",
                &token,
                json!({"url": "https://8.8.8.8/hooks", "kinds": ["crisis_plan_activated"]}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        (
            reply.body["subscription"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
            (),
        )
    };
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("cursor=x", "cursor"),
    ] {
        let reply = server
            .get(
                &format!("/v1/webhooks/{subscription}/deliveries?{query}"),
                &token,
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_eq!(reply.fields(), [field], "{query}");
    }
    // A malformed id is no subscription.
    let reply = server.get("/v1/webhooks/not-an-id", &token).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}
