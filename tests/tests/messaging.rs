//! Peer-support messaging: exactly-once sends, gap-free order, who may read and write,
//! out-of-hours care, receipts, reports, real-time delivery (also across server processes),
//! rate limits and content-free pushes.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use livingwell_server::clock::{Clock, ManualClock};
use livingwell_server::http::{self, AppState, MessagingSettings, PushTarget, SendRate};
use livingwell_tests::sse::{event_data, open_stream, read_until};
use livingwell_tests::{
    Backend, PASSWORD, PushGateway, Reply, Session, TestServer, on_both_databases,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_databases!(
    the_demo_has_alexs_conversation_with_jo,
    a_send_retried_five_times_is_stored_once_with_the_same_id,
    concurrent_retries_of_one_send_store_one_message,
    a_batch_repeating_a_client_id_stores_it_once_and_numbers_stay_gap_free,
    a_client_id_reused_for_other_text_is_refused,
    concurrent_sends_from_both_sides_get_a_gap_free_order,
    an_unallocated_peer_worker_gets_not_found_and_cannot_post,
    after_reallocation_the_previous_worker_is_denied_on_the_next_request,
    carers_cannot_read_the_persons_peer_conversation_but_have_their_own,
    team_oversight_is_read_only_and_shown_in_the_persons_access_log,
    delivery_and_read_receipts_follow_the_recipient,
    out_of_hours_notice_at_23_00_and_not_at_11_00,
    out_of_hours_notice_in_summer_time_follows_london_clocks,
    a_worker_outside_their_hours_or_away_gets_a_notice_sent_for_them,
    a_message_reaches_an_open_event_stream_and_resumes_without_gaps,
    sends_beyond_the_rate_limit_get_429_with_retry_after,
    every_send_is_audited_once_stored_repeated_refused_or_held_back,
    with_the_limit_off_a_hundred_sends_in_a_row_are_all_stored,
    a_reported_message_reaches_the_team_once,
    push_notifications_carry_ids_and_no_content,
    a_burst_of_messages_wakes_the_other_phone_once_for_each,
    message_text_is_limited_in_unicode_scalar_values,
    pages_follow_the_cursor_and_the_limit_is_capped,
);

/// Wednesday 14 January 2026, 11:00 in London (GMT): inside office hours.
const WINTER_11_00: &str = "2026-01-14T11:00:00Z";
/// Wednesday 14 January 2026, 23:00 in London (GMT).
const WINTER_23_00: &str = "2026-01-14T23:00:00Z";

fn settings(clock: Clock) -> http::Settings {
    http::Settings {
        clock,
        messaging: MessagingSettings {
            send_rate: Some(SendRate {
                burst: NonZeroU32::new(10_000).unwrap(),
                replenish_every: Duration::from_millis(1),
            }),
            ..MessagingSettings::default()
        },
        ..http::Settings::default()
    }
}

/// A clock that stands at `text` (nothing here moves it).
fn at(text: &str) -> Clock {
    ManualClock::new(text.parse().unwrap()).into()
}

/// A server whose clock says it is 11:00 on a Wednesday, so no out-of-hours notice interleaves.
async fn start(backend: Backend) -> TestServer {
    TestServer::start_with(backend, settings(at(WINTER_11_00)))
        .await
        .unwrap()
}

async fn conversations(server: &TestServer, session: &Session) -> Vec<Value> {
    let reply = server.get("/v1/conversations", &session.access_token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.body["conversations"].as_array().unwrap().clone()
}

/// The id of the caller's conversation of `kind` (`peer` or `team`).
async fn conversation_id(server: &TestServer, session: &Session, kind: &str) -> String {
    conversations(server, session)
        .await
        .iter()
        .find(|c| c["kind"] == kind)
        .unwrap_or_else(|| panic!("a {kind} conversation"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn send(
    server: &TestServer,
    session: &Session,
    conversation: &str,
    client_id: &str,
    body: &str,
) -> Reply {
    server
        .post(
            &format!("/v1/conversations/{conversation}/messages"),
            &session.access_token,
            json!({"client_id": client_id, "body": body}),
        )
        .await
}

async fn page(server: &TestServer, session: &Session, conversation: &str, query: &str) -> Reply {
    server
        .get(
            &format!("/v1/conversations/{conversation}/messages{query}"),
            &session.access_token,
        )
        .await
}

/// Every message in the conversation, page by page.
async fn all_messages(server: &TestServer, session: &Session, conversation: &str) -> Vec<Value> {
    let mut messages = Vec::new();
    let mut query = "?limit=200".to_owned();
    loop {
        let reply = page(server, session, conversation, &query).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        messages.extend(reply.body["messages"].as_array().unwrap().iter().cloned());
        match reply.body["next_cursor"].as_str() {
            Some(next) => query = format!("?cursor={next}&limit=200"),
            None => return messages,
        }
    }
}

fn new_client_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn texts(messages: &[Value]) -> Vec<&str> {
    messages
        .iter()
        .filter_map(|m| m["content"]["body"].as_str())
        .collect()
}

async fn the_demo_has_alexs_conversation_with_jo(backend: Backend) {
    let server = start(backend).await;
    let alex = server.login("alex").await;
    let jo = server.login("jo").await;
    let listed = conversations(&server, &alex).await;
    let peer = listed.iter().find(|c| c["kind"] == "peer").unwrap();
    assert_eq!(peer["peer_worker_id"], jo.user_id.as_str());
    assert_eq!(peer["role"], "participant");
    assert_eq!(peer["last_seq"], 3);
    assert_eq!(peer["unread_count"], 2, "jo's two messages");
    assert_eq!(peer["peer_worker_available"], true, "11:00 on a Wednesday");
    assert!(
        listed.iter().any(|c| c["kind"] == "team"),
        "and one with the West hub team: {listed:?}"
    );
    let jos = conversation_id(&server, &jo, "peer").await;
    assert_eq!(jos, peer["id"].as_str().unwrap(), "the same conversation");
    let messages = all_messages(&server, &jo, &jos).await;
    let seqs: Vec<i64> = messages
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert_eq!(messages[1]["sender_id"], alex.user_id.as_str());
}

async fn a_send_retried_five_times_is_stored_once_with_the_same_id(backend: Backend) {
    let server = start(backend).await;
    let alex = server.login("alex").await;
    let conversation = conversation_id(&server, &alex, "peer").await;
    let client_id = new_client_id();
    let mut ids = Vec::new();
    for attempt in 0..5 {
        let reply = send(
            &server,
            &alex,
            &conversation,
            &client_id,
            "See you Thursday",
        )
        .await;
        let expected = if attempt == 0 {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        assert_eq!(reply.status, expected, "attempt {attempt}: {}", reply.text);
        assert_eq!(reply.body["client_id"], client_id.as_str());
        ids.push(reply.body["id"].as_str().unwrap().to_owned());
    }
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    let messages = all_messages(&server, &alex, &conversation).await;
    let copies = texts(&messages)
        .iter()
        .filter(|t| **t == "See you Thursday")
        .count();
    assert_eq!(copies, 1);
    assert_eq!(messages.len(), 4, "the demo's three and this one");
}

async fn concurrent_retries_of_one_send_store_one_message(backend: Backend) {
    let server = start(backend).await;
    let alex = server.login("alex").await;
    let conversation = conversation_id(&server, &alex, "peer").await;
    for round in 0..3 {
        let client_id = new_client_id();
        let body = format!("Sent from the tunnel, round {round}");
        let replies = futures_util::future::join_all(
            (0..5).map(|_| send(&server, &alex, &conversation, &client_id, &body)),
        )
        .await;
        let created = replies
            .iter()
            .filter(|r| r.status == StatusCode::CREATED)
            .count();
        let repeated = replies
            .iter()
            .filter(|r| r.status == StatusCode::OK)
            .count();
        assert_eq!((created, repeated), (1, 4), "{:?}", replies);
        let ids: Vec<&str> = replies
            .iter()
            .map(|r| r.body["id"].as_str().unwrap())
            .collect();
        assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    }
    let messages = all_messages(&server, &alex, &conversation).await;
    assert_eq!(messages.len(), 3 + 3);
}

/// The store's group commit: one transaction for many sends, a repeated client id among them.
async fn a_batch_repeating_a_client_id_stores_it_once_and_numbers_stay_gap_free(backend: Backend) {
    use livingwell_core::domain::message::{ClientMessageId, MessageId};
    use livingwell_server::store::messages::{NewMessage, NewSend, SendOutcome};

    let server = start(backend).await;
    let alex = server.login("alex").await;
    let conversation = conversation_id(&server, &alex, "peer").await;
    let send = |client_id: ClientMessageId, body: &str| NewSend {
        message: NewMessage {
            id: MessageId::new(),
            conversation_id: conversation.parse().unwrap(),
            sender_id: alex.user_id.parse().unwrap(),
            client_id,
            body: body.to_owned(),
            created_at: livingwell_server::clock::Clock::System.now(),
        },
        notice: None,
        // Straight into the store: nobody is told.
        access: None,
        audience: Default::default(),
    };
    let repeated = ClientMessageId::new();
    let outcomes = server
        .store
        .send_messages(&[
            send(repeated, "Once"),
            send(repeated, "Once"),
            send(ClientMessageId::new(), "Twice"),
        ])
        .await
        .unwrap();
    let seq_of = |outcome: &SendOutcome| match outcome {
        SendOutcome::Created { message, .. } | SendOutcome::Existing(message) => {
            (message.id, message.seq)
        }
        SendOutcome::UnknownConversation => panic!("the conversation exists"),
    };
    assert!(matches!(outcomes[0], SendOutcome::Created { .. }));
    assert!(matches!(outcomes[1], SendOutcome::Existing(_)));
    assert!(matches!(outcomes[2], SendOutcome::Created { .. }));
    assert_eq!(
        seq_of(&outcomes[0]),
        seq_of(&outcomes[1]),
        "the same message"
    );
    assert_eq!(seq_of(&outcomes[0]).1, 4);
    assert_eq!(seq_of(&outcomes[2]).1, 5, "the repeat took no number");
    // Alone, later: the same message again; the next new one follows on.
    let later = server
        .store
        .send_messages(&[
            send(repeated, "Once"),
            send(ClientMessageId::new(), "Thrice"),
        ])
        .await
        .unwrap();
    assert_eq!(seq_of(&later[0]), seq_of(&outcomes[0]));
    assert_eq!(seq_of(&later[1]).1, 6);
    let seqs: Vec<i64> = all_messages(&server, &alex, &conversation)
        .await
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6]);
    let unknown = server
        .store
        .send_messages(&[NewSend {
            message: NewMessage {
                conversation_id: uuid::Uuid::now_v7().into(),
                ..send(ClientMessageId::new(), "Nowhere").message
            },
            notice: None,
            access: None,
            audience: Default::default(),
        }])
        .await
        .unwrap();
    assert_eq!(unknown, [SendOutcome::UnknownConversation]);
}

async fn a_client_id_reused_for_other_text_is_refused(backend: Backend) {
    let server = start(backend).await;
    let alex = server.login("alex").await;
    let conversation = conversation_id(&server, &alex, "peer").await;
    let team = conversation_id(&server, &alex, "team").await;
    let client_id = new_client_id();
    let first = send(&server, &alex, &conversation, &client_id, "First words").await;
    assert_eq!(first.status, StatusCode::CREATED);
    let other_text = send(&server, &alex, &conversation, &client_id, "Other words").await;
    assert_eq!(
        other_text.status,
        StatusCode::CONFLICT,
        "{}",
        other_text.text
    );
    assert_eq!(other_text.fields(), ["client_id"]);
    assert!(!other_text.text.contains("words"), "no text echoed back");
    let other_conversation = send(&server, &alex, &team, &client_id, "First words").await;
    assert_eq!(other_conversation.status, StatusCode::CONFLICT);
    // Another sender may use the same id: ids are scoped to their sender.
    let jo = server.login("jo").await;
    let jos = send(&server, &jo, &conversation, &client_id, "First words").await;
    assert_eq!(jos.status, StatusCode::CREATED, "{}", jos.text);
}

async fn concurrent_sends_from_both_sides_get_a_gap_free_order(backend: Backend) {
    let server = start(backend).await;
    let alex = server.login("alex").await;
    let jo = server.login("jo").await;
    let conversation = conversation_id(&server, &alex, "peer").await;
    let sends = (0..200).map(|i| {
        let (who, name) = if i % 2 == 0 {
            (&alex, "alex")
        } else {
            (&jo, "jo")
        };
        let client_id = new_client_id();
        let server = &server;
        let conversation = &conversation;
        async move {
            let body = format!("{name} {i}");
            let reply = send(server, who, conversation, &client_id, &body).await;
            assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
            (body, reply.body["seq"].as_i64().unwrap())
        }
    });
    let sent = futures_util::future::join_all(sends).await;

    let as_alex = all_messages(&server, &alex, &conversation).await;
    let as_jo = all_messages(&server, &jo, &conversation).await;
    for side in [&as_alex, &as_jo] {
        let seqs: Vec<i64> = side.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
        let expected: Vec<i64> = (1..=203).collect();
        assert_eq!(seqs, expected, "gap-free, in order, nothing twice");
    }
    let ids = |side: &[Value]| -> Vec<String> {
        side.iter()
            .map(|m| m["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&as_alex), ids(&as_jo), "both sides read one order");
    // Each send's answer named the place the message holds.
    for (body, seq) in sent {
        let stored = &as_alex[usize::try_from(seq - 1).unwrap()];
        assert_eq!(stored["content"]["body"], body.as_str());
    }
}

/// Creates a second peer worker, on alex's team but not allocated to alex.
async fn second_peer_worker(server: &TestServer) -> Session {
    let admin = server.login("admin").await;
    let created = server
        .post(
            "/v1/users",
            &admin.access_token,
            json!({"username": "kit", "password": PASSWORD, "role": "peer_worker",
                   "display_name": "Kit Marlowe"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let alex = server.login("alex").await;
    let person = server
        .get(
            &format!("/v1/people/{}", alex.person_id.as_deref().unwrap()),
            &alex.access_token,
        )
        .await;
    let team = person.body["team_id"].as_str().unwrap();
    let joined = server
        .put(
            &format!(
                "/v1/teams/{team}/members/{}",
                created.body["id"].as_str().unwrap()
            ),
            &admin.access_token,
            json!({}),
        )
        .await;
    assert!(joined.status.is_success(), "{}", joined.text);
    server.login("kit").await
}

async fn an_unallocated_peer_worker_gets_not_found_and_cannot_post(backend: Backend) {
    let server = start(backend).await;
    let alex = server.login("alex").await;
    let conversation = conversation_id(&server, &alex, "peer").await;
    let kit = second_peer_worker(&server).await;
    assert!(conversations(&server, &kit).await.is_empty());
    let read = page(&server, &kit, &conversation, "").await;
    assert_eq!(read.status, StatusCode::NOT_FOUND, "{}", read.text);
    let post = send(&server, &kit, &conversation, &new_client_id(), "Hello").await;
    assert_eq!(post.status, StatusCode::NOT_FOUND, "{}", post.text);
    let mark = server
        .post(
            &format!("/v1/conversations/{conversation}/read"),
            &kit.access_token,
            json!({"up_to_seq": 1}),
        )
        .await;
    assert_eq!(mark.status, StatusCode::NOT_FOUND);
    let about = server
        .get(
            &format!(
                "/v1/conversations?person_id={}",
                alex.person_id.as_deref().unwrap()
            ),
            &kit.access_token,
        )
        .await;
    assert_eq!(about.status, StatusCode::NOT_FOUND);
    // Nothing was stored.
    assert_eq!(all_messages(&server, &alex, &conversation).await.len(), 3);
    // Nor can a practitioner of another team.
    let morgan = server.login("morgan").await;
    assert_eq!(
        page(&server, &morgan, &conversation, "").await.status,
        StatusCode::NOT_FOUND
    );
}

async fn after_reallocation_the_previous_worker_is_denied_on_the_next_request(backend: Backend) {
    let server = start(backend).await;
    let alex = server.login("alex").await;
    let jo = server.login("jo").await;
    let conversation = conversation_id(&server, &jo, "peer").await;
    let before = send(&server, &jo, &conversation, &new_client_id(), "Before I go").await;
    assert_eq!(before.status, StatusCode::CREATED);
    assert_eq!(
        page(&server, &jo, &conversation, "").await.status,
        StatusCode::OK
    );

    let kit = second_peer_worker(&server).await;
    let priya = server.login("priya").await;
    let moved = server
        .put(
            &format!(
                "/v1/people/{}/peer-allocation",
                alex.person_id.as_deref().unwrap()
            ),
            &priya.access_token,
            json!({"peer_worker_id": kit.user_id}),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.text);

    // Jo's very next request, with the same still-valid token, is refused.
    let read = page(&server, &jo, &conversation, "").await;
    assert_eq!(read.status, StatusCode::NOT_FOUND, "{}", read.text);
    let post = send(&server, &jo, &conversation, &new_client_id(), "Still here?").await;
    assert_eq!(post.status, StatusCode::NOT_FOUND);
    assert!(conversations(&server, &jo).await.is_empty());

    // Kit has the same conversation, with its history, and can answer.
    assert_eq!(conversation_id(&server, &kit, "peer").await, conversation);
    let history = all_messages(&server, &kit, &conversation).await;
    assert_eq!(history.len(), 4);
    assert!(texts(&history).contains(&"Before I go"));
    let hello = send(&server, &kit, &conversation, &new_client_id(), "Hello Alex").await;
    assert_eq!(hello.status, StatusCode::CREATED);
    assert_eq!(hello.body["seq"], 5);
    let listed = conversations(&server, &alex).await;
    let peer = listed.iter().find(|c| c["kind"] == "peer").unwrap();
    assert_eq!(peer["peer_worker_id"], kit.user_id.as_str());
}

async fn carers_cannot_read_the_persons_peer_conversation_but_have_their_own(backend: Backend) {
    let server = start(backend).await;
    let alex = server.login("alex").await;
    let sam = server.login("sam").await;
    let peer = conversation_id(&server, &alex, "peer").await;
    let alexs_team = conversation_id(&server, &alex, "team").await;
    for conversation in [&peer, &alexs_team] {
        let read = page(&server, &sam, conversation, "").await;
        assert_eq!(read.status, StatusCode::NOT_FOUND, "{}", read.text);
        let post = send(&server, &sam, conversation, &new_client_id(), "Hi").await;
        assert_eq!(post.status, StatusCode::NOT_FOUND);
    }
    let about = server
        .get(
            &format!(
                "/v1/conversations?person_id={}",
                alex.person_id.as_deref().unwrap()
            ),
            &sam.access_token,
        )
        .await;
    assert_eq!(about.status, StatusCode::NOT_FOUND);

    // Sam's own conversation with alex's team.
    let own = conversations(&server, &sam).await;
    assert_eq!(own.len(), 1, "{own:?}");
    assert_eq!(own[0]["kind"], "team");
    assert_eq!(own[0]["carer_id"], sam.user_id.as_str());
    let sams = own[0]["id"].as_str().unwrap();
    let asked = send(
        &server,
        &sam,
        sams,
        &new_client_id(),
        "Is there a carers' group?",
    )
    .await;
    assert_eq!(asked.status, StatusCode::CREATED, "{}", asked.text);
    // The team answers it; alex does not see it.
    let priya = server.login("priya").await;
    let inbox = conversations(&server, &priya).await;
    assert!(inbox.iter().any(|c| c["id"] == sams), "{inbox:?}");
    let answer = send(&server, &priya, sams, &new_client_id(), "Yes, on Mondays.").await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    assert_eq!(
        page(&server, &alex, sams, "").await.status,
        StatusCode::NOT_FOUND
    );
    assert!(
        conversations(&server, &alex)
            .await
            .iter()
            .all(|c| c["id"] != sams)
    );
}

async fn team_oversight_is_read_only_and_shown_in_the_persons_access_log(backend: Backend) {
    let server = start(backend).await;
    let alex = server.login("alex").await;
    let priya = server.login("priya").await;
    let person = alex.person_id.clone().unwrap();
    let peer = conversation_id(&server, &alex, "peer").await;

    // The team inbox lists the team conversation, not the peer one.
    let inbox = conversations(&server, &priya).await;
    assert!(inbox.iter().all(|c| c["id"] != peer.as_str()));
    let about = server
        .get(
            &format!("/v1/conversations?person_id={person}"),
            &priya.access_token,
        )
        .await;
    assert_eq!(about.status, StatusCode::OK, "{}", about.text);
    let listed = about.body["conversations"].as_array().unwrap();
    let overseen = listed.iter().find(|c| c["id"] == peer.as_str()).unwrap();
    assert_eq!(overseen["role"], "oversight");

    let read = page(&server, &priya, &peer, "").await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    assert_eq!(read.body["messages"].as_array().unwrap().len(), 3);
    let post = send(&server, &priya, &peer, &new_client_id(), "From the team").await;
    assert_eq!(post.status, StatusCode::FORBIDDEN, "{}", post.text);
    let mark = server
        .post(
            &format!("/v1/conversations/{peer}/read"),
            &priya.access_token,
            json!({"up_to_seq": 3}),
        )
        .await;
    assert_eq!(mark.status, StatusCode::FORBIDDEN);
    // Oversight does not make jo's messages "delivered".
    let jo = server.login("jo").await;
    let as_jo = all_messages(&server, &jo, &peer).await;
    assert_eq!(as_jo[2]["state"], "sent", "{:?}", as_jo[2]);

    // A practitioner elsewhere gets nothing.
    let morgan = server.login("morgan").await;
    assert_eq!(
        page(&server, &morgan, &peer, "").await.status,
        StatusCode::NOT_FOUND
    );

    let log = server
        .get(
            &format!("/v1/people/{person}/access-log"),
            &alex.access_token,
        )
        .await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.text);
    let entries = log.body["entries"].as_array().unwrap();
    let priyas_reads = entries
        .iter()
        .filter(|e| {
            e["actor_id"] == priya.user_id.as_str()
                && e["resource"] == "messages"
                && e["action"] == "read"
                && e["outcome"] == "allowed"
                && e["relationship"] == "team"
        })
        .count();
    assert!(priyas_reads >= 2, "the list and the page: {entries:?}");
    let refused = entries.iter().any(|e| {
        e["actor_id"] == priya.user_id.as_str()
            && e["resource"] == "messages"
            && e["action"] == "write"
            && e["outcome"] == "denied"
    });
    assert!(refused, "the refused write is recorded too");
    let morgans = entries
        .iter()
        .any(|e| e["actor_id"] == morgan.user_id.as_str() && e["outcome"] == "denied");
    assert!(morgans, "and the outsider's attempt");
}

async fn delivery_and_read_receipts_follow_the_recipient(backend: Backend) {
    let server = start(backend).await;
    let alex = server.login("alex").await;
    let jo = server.login("jo").await;
    let conversation = conversation_id(&server, &jo, "peer").await;
    let sent = send(
        &server,
        &jo,
        &conversation,
        &new_client_id(),
        "How are you today?",
    )
    .await;
    assert_eq!(sent.status, StatusCode::CREATED);
    assert_eq!(sent.body["state"], "sent");
    let seq = sent.body["seq"].as_i64().unwrap();
    let state_for_jo = |messages: Vec<Value>| {
        messages
            .iter()
            .find(|m| m["seq"] == seq)
            .map(|m| m["state"].as_str().unwrap().to_owned())
            .unwrap()
    };
    assert_eq!(
        state_for_jo(all_messages(&server, &jo, &conversation).await),
        "sent"
    );
    let listed = conversations(&server, &alex).await;
    let peer = listed.iter().find(|c| c["kind"] == "peer").unwrap();
    assert_eq!(peer["unread_count"], 3);

    // Alex's phone syncs: delivered.
    all_messages(&server, &alex, &conversation).await;
    assert_eq!(
        state_for_jo(all_messages(&server, &jo, &conversation).await),
        "delivered"
    );
    // jo's list says how far the others have got, so a phone can show its own messages'
    // state without fetching them again.
    let for_jo = conversations(&server, &jo).await;
    let peer_for_jo = for_jo.iter().find(|c| c["id"] == conversation).unwrap();
    assert!(peer_for_jo["others_delivered_seq"].as_i64().unwrap() >= seq);
    assert!(peer_for_jo["others_read_seq"].as_i64().unwrap() < seq);
    // Alex reads up to it: read, and nothing unread.
    let mark = server
        .post(
            &format!("/v1/conversations/{conversation}/read"),
            &alex.access_token,
            json!({"up_to_seq": seq}),
        )
        .await;
    assert_eq!(mark.status, StatusCode::OK, "{}", mark.text);
    assert_eq!(mark.body["read_seq"], seq);
    assert_eq!(mark.body["unread_count"], 0);
    assert_eq!(
        state_for_jo(all_messages(&server, &jo, &conversation).await),
        "read"
    );
    let for_jo = conversations(&server, &jo).await;
    let peer_for_jo = for_jo.iter().find(|c| c["id"] == conversation).unwrap();
    assert_eq!(peer_for_jo["others_read_seq"], seq);
    let listed = conversations(&server, &alex).await;
    let peer = listed.iter().find(|c| c["kind"] == "peer").unwrap();
    assert_eq!(peer["unread_count"], 0);
    assert_eq!(peer["read_seq"], seq);
    // A read cursor never moves back, and cannot pass the last message.
    let back = server
        .post(
            &format!("/v1/conversations/{conversation}/read"),
            &alex.access_token,
            json!({"up_to_seq": 1}),
        )
        .await;
    assert_eq!(back.body["read_seq"], seq);
    let beyond = server
        .post(
            &format!("/v1/conversations/{conversation}/read"),
            &alex.access_token,
            json!({"up_to_seq": seq + 1}),
        )
        .await;
    assert_eq!(beyond.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(beyond.fields(), ["up_to_seq"]);
}

/// Sends one message from alex at the server's clock and returns what followed it.
async fn alex_writes_late(server: &TestServer) -> Vec<Value> {
    let alex = server.login("alex").await;
    let conversation = conversation_id(server, &alex, "peer").await;
    let sent = send(
        server,
        &alex,
        &conversation,
        &new_client_id(),
        "Can't sleep",
    )
    .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.text);
    let seq = sent.body["seq"].as_i64().unwrap();
    all_messages(server, &alex, &conversation)
        .await
        .into_iter()
        .filter(|m| m["seq"].as_i64().unwrap() > seq)
        .collect()
}

fn assert_is_a_notice(followed: &[Value], person: &str) {
    assert_eq!(followed.len(), 1, "{followed:?}");
    let notice = &followed[0];
    assert!(notice.get("sender_id").is_none(), "written by the service");
    let content = &notice["content"];
    assert_eq!(content["kind"], "out_of_hours_notice");
    let text = content["text"].as_str().unwrap();
    assert!(text.contains("Samaritans: 116 123"), "{text}");
    assert!(text.contains("111, option 2"), "{text}");
    assert!(text.contains("crisis plan"), "{text}");
    assert_eq!(
        content["crisis_plan"]["path"],
        format!("/v1/people/{person}/crisis-plan")
    );
}

async fn out_of_hours_notice_at_23_00_and_not_at_11_00(backend: Backend) {
    let night = TestServer::start_with(backend, settings(at(WINTER_23_00)))
        .await
        .unwrap();
    let person = night.login("alex").await.person_id.unwrap();
    let followed = alex_writes_late(&night).await;
    assert_is_a_notice(&followed, &person);
    assert_eq!(followed[0]["content"]["reason"], "out_of_hours");
    assert_eq!(
        followed[0]["content"]["back_at"], "2026-01-15T09:00:00Z",
        "Thursday 09:00"
    );
    // A second message the same night is not followed by a second notice.
    assert!(alex_writes_late(&night).await.is_empty());
    // Jo sees the notice too, unread.
    let jo = night.login("jo").await;
    let listed = conversations(&night, &jo).await;
    assert_eq!(listed[0]["unread_count"], 4, "alex's three and the notice");

    let day = start(backend).await;
    assert!(
        alex_writes_late(&day).await.is_empty(),
        "no notice at 11:00"
    );
}

async fn out_of_hours_notice_in_summer_time_follows_london_clocks(backend: Backend) {
    // 23:00 British Summer Time is 22:00 UTC; 11:00 BST is 10:00 UTC.
    let night = TestServer::start_with(backend, settings(at("2026-07-15T22:00:00Z")))
        .await
        .unwrap();
    let person = night.login("alex").await.person_id.unwrap();
    assert_is_a_notice(&alex_writes_late(&night).await, &person);
    // 08:30 UTC is 09:30 BST: in hours, though before 09:00 in UTC.
    let morning = TestServer::start_with(backend, settings(at("2026-07-15T08:30:00Z")))
        .await
        .unwrap();
    assert!(alex_writes_late(&morning).await.is_empty());
}

async fn a_worker_outside_their_hours_or_away_gets_a_notice_sent_for_them(backend: Backend) {
    // The real clock: the worker's own hours decide.
    let server = TestServer::start_with(backend, settings(Clock::System))
        .await
        .unwrap();
    let jo = server.login("jo").await;
    let person = server.login("alex").await.person_id.unwrap();
    let every_day = |away: bool| {
        let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        json!({
            "weekly_hours": days.iter()
                .map(|d| json!({"day": d, "start": "00:00", "end": "24:00"}))
                .collect::<Vec<_>>(),
            "away": away,
        })
    };
    let set = server
        .put("/v1/me/availability", &jo.access_token, every_day(false))
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text);
    assert_eq!(set.body["available_now"], true);
    assert!(alex_writes_late(&server).await.is_empty(), "always working");

    // No hours at all: whenever now is, it is outside them.
    let none = server
        .put(
            "/v1/me/availability",
            &jo.access_token,
            json!({"weekly_hours": [], "away": false}),
        )
        .await;
    assert_eq!(none.body["available_now"], false);
    let followed = alex_writes_late(&server).await;
    assert_is_a_notice(&followed, &person);
    assert_eq!(followed[0]["content"]["reason"], "out_of_hours");

    // Away, whatever the hours: a notice (the conversation's next one, once the quiet period
    // has passed — here on a fresh server).
    let fresh = TestServer::start_with(backend, settings(Clock::System))
        .await
        .unwrap();
    let jo = fresh.login("jo").await;
    let away = fresh
        .put("/v1/me/availability", &jo.access_token, every_day(true))
        .await;
    assert_eq!(away.body["available_now"], false);
    let person = fresh.login("alex").await.person_id.unwrap();
    let followed = alex_writes_late(&fresh).await;
    assert_is_a_notice(&followed, &person);
    assert_eq!(followed[0]["content"]["reason"], "away");
    let listed = conversations(&fresh, &fresh.login("alex").await).await;
    let peer = listed.iter().find(|c| c["kind"] == "peer").unwrap();
    assert_eq!(peer["peer_worker_available"], false);

    // Only peer workers have hours; a span must end after it starts.
    let alex = fresh.login("alex").await;
    assert_eq!(
        fresh
            .put("/v1/me/availability", &alex.access_token, every_day(false))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let backwards = fresh
        .put(
            "/v1/me/availability",
            &jo.access_token,
            json!({"weekly_hours": [{"day": "mon", "start": "17:00", "end": "09:00"}], "away": false}),
        )
        .await;
    assert_eq!(backwards.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(backwards.fields(), ["weekly_hours[0].end"]);
}

async fn a_message_reaches_an_open_event_stream_and_resumes_without_gaps(backend: Backend) {
    let server = start(backend).await;
    let alex = server.login("alex").await;
    let jo = server.login("jo").await;
    let conversation = conversation_id(&server, &jo, "peer").await;
    let mut stream = open_stream(&server.base_url, &alex, None).await;
    let sent = send(
        &server,
        &jo,
        &conversation,
        &new_client_id(),
        "Private words",
    )
    .await;
    let message_id = sent.body["id"].as_str().unwrap();
    let received = read_until(&mut stream, message_id, Duration::from_secs(5)).await;
    assert!(received.contains("event: message_created"), "{received}");
    assert!(!received.contains("Private words"), "ids only: {received}");
    let event = event_data(&received, message_id);
    assert_eq!(event["data"]["conversation_id"], conversation.as_str());
    assert_eq!(event["data"]["seq"], 4);
    let first_id = event["id"].as_i64().unwrap();
    drop(stream);

    // While alex is offline, two more messages and a read receipt.
    let second = send(&server, &jo, &conversation, &new_client_id(), "Two").await;
    let third = send(&server, &jo, &conversation, &new_client_id(), "Three").await;
    // Reconnecting after the last id seen replays exactly what was missed, in order.
    let mut resumed = open_stream(&server.base_url, &alex, Some(&first_id.to_string())).await;
    let third_id = third.body["id"].as_str().unwrap();
    let replayed = read_until(&mut resumed, third_id, Duration::from_secs(5)).await;
    assert!(!replayed.contains(message_id), "nothing twice: {replayed}");
    let second_at = replayed.find(second.body["id"].as_str().unwrap()).unwrap();
    assert!(second_at < replayed.find(third_id).unwrap(), "in order");

    // Read receipts reach the sender.
    let mut jos = open_stream(&server.base_url, &jo, None).await;
    let mark = server
        .post(
            &format!("/v1/conversations/{conversation}/read"),
            &alex.access_token,
            json!({"up_to_seq": 6}),
        )
        .await;
    assert_eq!(mark.status, StatusCode::OK);
    let receipt = read_until(&mut jos, "messages_read", Duration::from_secs(5)).await;
    let event = event_data(&receipt, "up_to_seq");
    assert_eq!(event["data"]["up_to_seq"], 6);
    assert_eq!(event["data"]["user_id"], alex.user_id.as_str());
}

async fn sends_beyond_the_rate_limit_get_429_with_retry_after(backend: Backend) {
    let mut limited = settings(at(WINTER_11_00));
    limited.messaging.send_rate = Some(SendRate {
        burst: NonZeroU32::new(3).unwrap(),
        replenish_every: Duration::from_secs(30),
    });
    let server = TestServer::start_with(backend, limited).await.unwrap();
    let alex = server.login("alex").await;
    let jo = server.login("jo").await;
    let conversation = conversation_id(&server, &alex, "peer").await;
    for i in 0..3 {
        let reply = send(
            &server,
            &alex,
            &conversation,
            &new_client_id(),
            &format!("{i}"),
        )
        .await;
        assert_eq!(reply.status, StatusCode::CREATED);
    }
    let fourth = send(&server, &alex, &conversation, &new_client_id(), "3").await;
    assert_eq!(
        fourth.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        fourth.text
    );
    assert_eq!(fourth.code(), "rate_limited");
    let wait: u64 = fourth.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&wait), "{wait}");
    // Per sender: jo is not held back by alex's sending.
    let jos = send(&server, &jo, &conversation, &new_client_id(), "Hi").await;
    assert_eq!(jos.status, StatusCode::CREATED);
}

/// A send's access is committed with the message; a send answered without one (a refused
/// body, the rate limit) records it before answering. Each request has exactly one entry.
async fn every_send_is_audited_once_stored_repeated_refused_or_held_back(backend: Backend) {
    let mut limited = settings(at(WINTER_11_00));
    limited.messaging.send_rate = Some(SendRate {
        burst: NonZeroU32::new(2).unwrap(),
        replenish_every: Duration::from_secs(30),
    });
    let server = TestServer::start_with(backend, limited).await.unwrap();
    let alex = server.login("alex").await;
    let conversation = conversation_id(&server, &alex, "peer").await;
    let client_id = new_client_id();
    let stored = send(&server, &alex, &conversation, &client_id, "Hello").await;
    let repeated = send(&server, &alex, &conversation, &client_id, "Hello").await;
    let refused = send(&server, &alex, &conversation, &new_client_id(), "").await;
    let held_back = send(&server, &alex, &conversation, &new_client_id(), "Later").await;
    let statuses = [&stored, &repeated, &refused, &held_back].map(|reply| reply.status);
    assert_eq!(
        statuses,
        [
            StatusCode::CREATED,
            StatusCode::OK,
            StatusCode::UNPROCESSABLE_ENTITY,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    let person = alex.person_id.as_deref().unwrap().parse().unwrap();
    let entries = server
        .store
        .audit_for_subject(person, None, 10_000)
        .await
        .unwrap();
    for reply in [&stored, &repeated, &refused, &held_back] {
        let request_id = reply.headers["x-request-id"].to_str().unwrap();
        let audited: Vec<_> = entries
            .iter()
            .map(|line| &line.record)
            .filter(|e| e.entry.request_id.as_deref() == Some(request_id))
            .map(|e| {
                (
                    e.entry.resource.as_str(),
                    e.entry.action.as_str(),
                    e.entry.outcome.as_str(),
                )
            })
            .collect();
        assert_eq!(
            audited,
            [("messages", "write", "allowed")],
            "the {} answer",
            reply.status
        );
    }
}

/// `serve --message-rate-limit 0`: no limit, as when measured against a peer with its own off.
async fn with_the_limit_off_a_hundred_sends_in_a_row_are_all_stored(backend: Backend) {
    let mut unlimited = settings(at(WINTER_11_00));
    unlimited.messaging.send_rate = None;
    let server = TestServer::start_with(backend, unlimited).await.unwrap();
    let alex = server.login("alex").await;
    let conversation = conversation_id(&server, &alex, "peer").await;
    for i in 0..100 {
        let reply = send(
            &server,
            &alex,
            &conversation,
            &new_client_id(),
            &format!("{i}"),
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "send {i}: {}",
            reply.text
        );
    }
}

async fn a_reported_message_reaches_the_team_once(backend: Backend) {
    let server = start(backend).await;
    let alex = server.login("alex").await;
    let priya = server.login("priya").await;
    let conversation = conversation_id(&server, &alex, "peer").await;
    let messages = all_messages(&server, &alex, &conversation).await;
    let jos_message = messages[0]["id"].as_str().unwrap();
    let path = format!("/v1/messages/{jos_message}/report");
    let reported = server
        .post(&path, &alex.access_token, json!({"reason": "It upset me"}))
        .await;
    assert_eq!(reported.status, StatusCode::CREATED, "{}", reported.text);
    let again = server.post(&path, &alex.access_token, json!({})).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["id"], reported.body["id"]);

    let notifications = server.get("/v1/notifications", &priya.access_token).await;
    let reports: Vec<&Value> = notifications.body["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "message_reported")
        .collect();
    assert_eq!(reports.len(), 1, "{}", notifications.text);
    assert_eq!(reports[0]["data"]["message_id"], jos_message);
    assert!(
        !notifications.text.contains("upset"),
        "no report text in events"
    );
    // Only those in the conversation can report from it.
    let sam = server.login("sam").await;
    let carer = server.post(&path, &sam.access_token, json!({})).await;
    assert_eq!(carer.status, StatusCode::NOT_FOUND);
    let unknown = server
        .post(
            &format!("/v1/messages/{}/report", uuid::Uuid::now_v7()),
            &alex.access_token,
            json!({}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

/// A server that pushes to a test gateway, with alex and jo signed in, each on a phone
/// (`alex-phone`, `jo-phone`).
async fn phones_on_a_push_gateway(backend: Backend) -> (TestServer, PushGateway, Session, Session) {
    let gateway = PushGateway::start().await;
    let mut with_gateway = settings(at(WINTER_11_00));
    with_gateway.messaging.push = PushTarget::Webhook(gateway.url.clone());
    let server = TestServer::start_with(backend, with_gateway).await.unwrap();
    let alex = server.login("alex").await;
    let jo = server.login("jo").await;
    server.register_device(&alex, "alex-phone").await;
    server.register_device(&jo, "jo-phone").await;
    (server, gateway, alex, jo)
}

async fn push_notifications_carry_ids_and_no_content(backend: Backend) {
    let (server, mut gateway, alex, jo) = phones_on_a_push_gateway(backend).await;
    let conversation = conversation_id(&server, &jo, "peer").await;
    let sent = send(
        &server,
        &jo,
        &conversation,
        &new_client_id(),
        "Something only Alex should read",
    )
    .await;
    assert_eq!(sent.status, StatusCode::CREATED);
    let push = gateway
        .next(Duration::from_secs(5))
        .await
        .expect("a push in time");
    assert_eq!(push["token"], "alex-phone");
    assert_eq!(push["platform"], "fcm");
    assert_eq!(push["recipient_id"], alex.user_id.as_str());
    assert_eq!(push["kind"], "message_created");
    assert_eq!(push["data"]["conversation_id"], conversation.as_str());
    assert_eq!(push["data"]["message_id"], sent.body["id"]);
    let text = push.to_string();
    for private in ["Something", "Alex", "Jo", "Rivers", "Bennett"] {
        assert!(!text.contains(private), "{text}");
    }
    // Only alex's phone was woken: not jo's, who sent it.
    assert!(gateway.next(Duration::from_millis(300)).await.is_none());
}

/// Pushes wait in one queue and a burst's devices are read together: every message of a burst
/// sent from both sides at once still wakes the other's phone, once, with its own ids.
async fn a_burst_of_messages_wakes_the_other_phone_once_for_each(backend: Backend) {
    let (server, mut gateway, alex, jo) = phones_on_a_push_gateway(backend).await;
    let conversation = conversation_id(&server, &jo, "peer").await;
    let sends = (0..40).map(|i| {
        let (sender, phone) = if i % 2 == 0 {
            (&alex, "jo-phone")
        } else {
            (&jo, "alex-phone")
        };
        let (server, conversation) = (&server, &conversation);
        async move {
            let sent = send(server, sender, conversation, &new_client_id(), "Hello").await;
            assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.text);
            (
                phone.to_owned(),
                sent.body["id"].as_str().unwrap().to_owned(),
            )
        }
    });
    let mut expected: Vec<(String, String)> = futures_util::future::join_all(sends).await;
    let mut woken = Vec::new();
    while let Some(push) = gateway.next(Duration::from_secs(2)).await {
        assert_eq!(push["kind"], "message_created", "{push}");
        woken.push((
            push["token"].as_str().unwrap().to_owned(),
            push["data"]["message_id"].as_str().unwrap().to_owned(),
        ));
    }
    expected.sort();
    woken.sort();
    assert_eq!(woken, expected);
}

async fn message_text_is_limited_in_unicode_scalar_values(backend: Backend) {
    let server = start(backend).await;
    let alex = server.login("alex").await;
    let conversation = conversation_id(&server, &alex, "peer").await;
    let longest = "🌱".repeat(4_000); // 4,000 scalar values, 16,000 bytes
    let fits = send(&server, &alex, &conversation, &new_client_id(), &longest).await;
    assert_eq!(fits.status, StatusCode::CREATED, "{}", fits.code());
    assert_eq!(fits.body["content"]["body"], longest.as_str());
    let too_long = send(
        &server,
        &alex,
        &conversation,
        &new_client_id(),
        &format!("{longest}🌱"),
    )
    .await;
    assert_eq!(too_long.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(too_long.body["fields"][0]["code"], "too_long");
    for bad in ["", "   ", "nul\u{0}"] {
        let reply = send(&server, &alex, &conversation, &new_client_id(), bad).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
        assert_eq!(reply.fields(), ["body"]);
    }
    let unknown_field = server
        .post(
            &format!("/v1/conversations/{conversation}/messages"),
            &alex.access_token,
            json!({"client_id": new_client_id(), "body": "hi", "urgent": true}),
        )
        .await;
    assert_eq!(unknown_field.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown_field.fields(), ["urgent"]);
    let not_an_id = server
        .post(
            &format!("/v1/conversations/{conversation}/messages"),
            &alex.access_token,
            json!({"client_id": "retry-1", "body": "hi"}),
        )
        .await;
    assert_eq!(not_an_id.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(not_an_id.fields(), ["client_id"]);
}

async fn pages_follow_the_cursor_and_the_limit_is_capped(backend: Backend) {
    let server = start(backend).await;
    let alex = server.login("alex").await;
    let conversation = conversation_id(&server, &alex, "peer").await;
    let first = page(&server, &alex, &conversation, "?limit=2").await;
    assert_eq!(first.status, StatusCode::OK);
    let seqs = |reply: &Reply| -> Vec<i64> {
        reply.body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["seq"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(seqs(&first), [1, 2]);
    assert_eq!(first.body["last_seq"], 3);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let rest = page(
        &server,
        &alex,
        &conversation,
        &format!("?cursor={cursor}&limit=2"),
    )
    .await;
    assert_eq!(seqs(&rest), [3]);
    assert!(rest.body.get("next_cursor").is_none());
    // `after_seq`, the older name for a position, still works.
    let alias = page(&server, &alex, &conversation, "?after_seq=2&limit=2").await;
    assert_eq!(seqs(&alias), [3]);
    for bad in [
        "?limit=201",
        "?limit=0",
        "?after_seq=-1",
        "?limit=ten",
        "?cursor=two",
        "?cursor=-1",
        "?cursor=2&after_seq=2",
    ] {
        let reply = page(&server, &alex, &conversation, bad).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    let unknown = page(&server, &alex, &uuid::Uuid::now_v7().to_string(), "").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let malformed = page(&server, &alex, "not-an-id", "").await;
    assert_eq!(malformed.status, StatusCode::NOT_FOUND);
}

/// Two server processes on one Postgres database: a client subscribed on B receives, within a
/// second, a message posted on A.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_posted_on_one_process_reaches_a_stream_on_another_within_a_second() {
    let a = start(Backend::Postgres).await;
    // Process B: its own pool, its own LISTEN connection, its own event hub, the same database.
    let store_b = livingwell_server::store::connect(&a.database.url)
        .await
        .unwrap();
    let state_b = AppState::new(store_b, &settings(at(WINTER_11_00)))
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
    let jo = a.login("jo").await;
    let conversation = conversation_id(&a, &jo, "peer").await;
    let mut on_b = open_stream(&b_url, &alex, None).await;
    for i in 0..3 {
        let started = tokio::time::Instant::now();
        let sent = send(
            &a,
            &jo,
            &conversation,
            &new_client_id(),
            &format!("Hello {i}"),
        )
        .await;
        assert_eq!(sent.status, StatusCode::CREATED);
        let message_id = sent.body["id"].as_str().unwrap();
        let received = read_until(&mut on_b, message_id, Duration::from_secs(1)).await;
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(received.contains("event: message_created"), "{received}");
    }
    // And the other way: alex answers on B, jo hears on A.
    let mut on_a = open_stream(&a.base_url, &jo, None).await;
    let reply = reqwest::Client::new()
        .post(format!("{b_url}/v1/conversations/{conversation}/messages"))
        .bearer_auth(&alex.access_token)
        .json(&json!({"client_id": new_client_id(), "body": "Hi Jo"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::CREATED);
    let sent: Value = reply.json().await.unwrap();
    read_until(
        &mut on_a,
        sent["id"].as_str().unwrap(),
        Duration::from_secs(1),
    )
    .await;
    b.abort();
}
