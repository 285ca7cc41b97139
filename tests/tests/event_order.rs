//! Event appends on Postgres, where several server processes write at once: a send to one
//! person does not wait for a send to another made on another process (each recipient's appends
//! are ordered by a lock of their own, not one lock for everyone), and one person's events
//! still reach their stream in commit order.
//!
//! The database is made slow on purpose, with a trigger that sleeps while it stores an event for
//! alex, so each case is decided by which answer comes first, not by a timing threshold. Two
//! processes, because within one the sends share one writer (group commit) anyway. SQLite has
//! one writer, so its appends wait for each other by design; these cases are Postgres's.

use std::net::SocketAddr;
use std::time::Duration;

use livingwell_core::domain::{PersonId, Role, TeamId, UserId};
use livingwell_server::clock::Clock;
use livingwell_server::http::{self, AppState};
use livingwell_server::store::messages::ConversationKey;
use livingwell_server::store::{PersonRecord, TeamRecord, UserRecord};
use livingwell_tests::sse::{open_stream, read_until};
use livingwell_tests::{Backend, PASSWORD, Session, TestServer};
use reqwest::StatusCode;
use serde_json::json;
use sqlx::Connection;
use tokio::time::Instant;

/// How long the trigger holds a send to alex inside its transaction.
const HELD: Duration = Duration::from_secs(3);

/// Makes the next `times` events stored for `recipient` sleep for [`HELD`] each, inside the
/// transaction that appends them: after its locks are taken, before it commits. Each sleep takes
/// a row of `test_slow_events`, skipping one another transaction has taken, so the trigger
/// itself never makes a write wait.
async fn slow_down_events_for(server: &TestServer, recipient: &str, times: usize) {
    let held = HELD.as_secs();
    let mut raw = sqlx::PgConnection::connect(&server.database.url)
        .await
        .unwrap();
    for statement in [
        "CREATE TABLE test_slow_events (n int)".to_owned(),
        format!(
            "CREATE FUNCTION test_slow_events() RETURNS trigger LANGUAGE plpgsql AS $$ \
             DECLARE taken int; \
             BEGIN \
               IF NEW.recipient_id = '{recipient}' THEN \
                 DELETE FROM test_slow_events WHERE n = (SELECT n FROM test_slow_events \
                   ORDER BY n LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING n INTO taken; \
                 IF taken IS NOT NULL THEN PERFORM pg_sleep({held}); END IF; \
               END IF; \
               RETURN NEW; \
             END $$"
        ),
        "CREATE TRIGGER test_slow_events BEFORE INSERT ON events \
         FOR EACH ROW EXECUTE FUNCTION test_slow_events()"
            .to_owned(),
        format!("INSERT INTO test_slow_events SELECT generate_series(1, {times})"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(&mut raw)
            .await
            .unwrap();
    }
}

/// Another person with a peer worker of their own and their conversation, apart from the demo
/// people: none of alex's or jo's events are theirs. Returns the two, signed in.
async fn another_pair(server: &TestServer) -> (Session, Session) {
    let store = server.store.as_ref();
    let now = Clock::System.now();
    let hash = livingwell_server::auth::passwords::hash(PASSWORD.to_owned())
        .await
        .unwrap();
    let team = TeamRecord {
        id: TeamId::new(),
        name: "East hub".into(),
        hub_address: None,
    };
    store.create_team(&team, now).await.unwrap();
    let person = PersonRecord {
        id: PersonId::new(),
        display_name: "Casey".into(),
        team_id: Some(team.id),
        peer_worker_id: None,
        created_at: now,
    };
    let account = |username: &str, role, person_id| UserRecord {
        id: UserId::new(),
        username: username.into(),
        password_hash: hash.clone(),
        role,
        display_name: username.into(),
        person_id,
    };
    let casey = account("casey", Role::ServiceUser, Some(person.id));
    let kit = account("kit", Role::PeerWorker, None);
    store.create_person(&person, Some(&casey)).await.unwrap();
    store.create_user(&kit, now).await.unwrap();
    store.allocate_peer(person.id, kit.id, now).await.unwrap();
    store
        .ensure_conversation(ConversationKey::Peer(person.id), now)
        .await
        .unwrap();
    (server.login("casey").await, server.login("kit").await)
}

/// A second server process on `server`'s database: its own pool, listener, event hub and send
/// writer. Returns its address and its task.
async fn second_process(server: &TestServer) -> (String, tokio::task::JoinHandle<()>) {
    let store = livingwell_server::store::connect(&server.database.url)
        .await
        .unwrap();
    let state = AppState::new(store, &http::Settings::default())
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            http::app(state).into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    (url, task)
}

/// Sends `body` in the sender's peer conversation through the server at `url`; returns the
/// message id and when the answer came.
async fn send(server: &TestServer, url: &str, sender: &Session, body: &str) -> (String, Instant) {
    let conversation = server.peer_conversation(&sender.access_token).await;
    let sent = livingwell_tests::read(
        server
            .http
            .post(format!("{url}/v1/conversations/{conversation}/messages"))
            .bearer_auth(&sender.access_token)
            .json(&json!({"client_id": uuid::Uuid::now_v7().to_string(), "body": body})),
    )
    .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.text);
    let id = sent.body["id"].as_str().unwrap().to_owned();
    (id, Instant::now())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_send_to_one_person_does_not_wait_for_a_slow_send_to_another() {
    let server = TestServer::start(Backend::Postgres).await.unwrap();
    let (b, b_task) = second_process(&server).await;
    let (jo, alex) = (server.login("jo").await, server.login("alex").await);
    let (casey, _kit) = another_pair(&server).await;
    slow_down_events_for(&server, &alex.user_id, 1).await;

    let ((_, slow_answered), (_, quick_answered)) = tokio::join!(
        send(&server, &server.base_url, &jo, "held while it is stored"),
        async {
            // Well inside the slow send's transaction, which holds its recipients' locks.
            tokio::time::sleep(HELD / 3).await;
            send(&server, &b, &casey, "to someone else").await
        },
    );
    // Answered while the send to alex was still held, not as it let go.
    assert!(
        quick_answered + HELD / 3 < slow_answered,
        "the send to kit waited for the send to alex"
    );
    b_task.abort();
}

/// Two writes telling alex, on two processes, that share nothing else (a message from jo, a
/// plan version from priya): the second waits for the first's lock on alex's events, so alex's
/// stream, which has passed the second's id, can never be handed the first's below it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_persons_events_reach_their_stream_in_commit_order_when_writes_overlap() {
    let server = TestServer::start(Backend::Postgres).await.unwrap();
    let (b, b_task) = second_process(&server).await;
    let (jo, alex, priya) = (
        server.login("jo").await,
        server.login("alex").await,
        server.login("priya").await,
    );
    let plan_path = format!(
        "/v1/people/{}/enablement-plan",
        alex.person_id.as_deref().unwrap()
    );
    let plan = server.get(&plan_path, &priya.access_token).await.body;
    let mut stream = open_stream(&server.base_url, &alex, None).await;
    slow_down_events_for(&server, &alex.user_id, 1).await;

    let ((message, _), plan_stored) = tokio::join!(
        send(&server, &server.base_url, &jo, "held while it is stored"),
        async {
            tokio::time::sleep(HELD / 3).await;
            livingwell_tests::read(
                server
                    .http
                    .put(format!("{b}{plan_path}"))
                    .bearer_auth(&priya.access_token)
                    .json(&json!({"base_version": plan["version"], "plan": plan["plan"]})),
            )
            .await
        },
    );
    assert_eq!(plan_stored.status, StatusCode::OK, "{}", plan_stored.text);
    let received = read_until(&mut stream, "enablement_plan_updated", HELD * 2).await;
    let received = match received.find(&message) {
        Some(_) => received,
        // Not yet read: it may follow in the next chunk (if it was not skipped).
        None => received + &read_until(&mut stream, &message, HELD).await,
    };
    let at_message = received.find(&message).unwrap();
    let at_plan = received.find("enablement_plan_updated").unwrap();
    assert!(at_message < at_plan, "in commit order: {received}");

    // And in alex's stored events: the first write's below the second's.
    let notifications = server.get("/v1/notifications", &alex.access_token).await;
    let position = |kind: &str| {
        notifications.body["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .rfind(|n| n["kind"] == kind)
            .and_then(|n| n["id"].as_i64())
            .unwrap()
    };
    assert!(
        position("message_created") < position("enablement_plan_updated"),
        "{}",
        notifications.text
    );
    b_task.abort();
}
