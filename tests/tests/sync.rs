//! `GET /v1/sync`: a phone's copy of what its user may see, brought up to date — and emptied of
//! what they may no longer see — over real HTTP on both databases.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, Duration, Utc};
use livingwell_core::api::sync::{SyncKind, SyncResponse, TombstoneReason};
use livingwell_core::domain::UserId;
use livingwell_core::domain::message::{ClientMessageId, MessageId};
use livingwell_server::store::messages::{NewMessage, NewSend};
use livingwell_tests::{Backend, Reply, Session, TestServer, on_both_databases};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_databases!(
    a_first_sync_holds_everything_and_the_next_only_what_changed,
    a_carer_gets_only_the_shared_sections_and_a_tombstone_when_alex_revokes,
    a_consent_that_runs_out_with_nothing_written_leaves_a_tombstone,
    a_reallocated_peer_worker_and_a_practitioner_off_the_team_are_told_to_drop_their_copies,
    ten_thousand_messages_arrive_in_pages_once_each_in_order_and_a_page_replays_the_same,
    forged_and_forgotten_cursors_answer_resync,
    sync_reads_are_audited_once_per_person_and_kind,
    a_caught_up_phone_is_answered_from_its_fingerprint_until_a_write_it_would_see,
    the_clock_alone_ends_nothing_new_when_a_consent_runs_out,
    the_clock_alone_ends_nothing_new_when_an_appointment_comes_into_the_window,
    the_clock_alone_ends_nothing_new_when_the_peer_workers_hours_end,
);

fn start_instant() -> DateTime<Utc> {
    "2026-11-03T09:00:00Z".parse().unwrap()
}

async fn sync_reply(server: &TestServer, session: &Session, since: Option<&str>) -> Reply {
    let path = match since {
        Some(cursor) => format!("/v1/sync?since={cursor}"),
        None => "/v1/sync".to_owned(),
    };
    server.get(&path, &session.access_token).await
}

async fn sync_page(server: &TestServer, session: &Session, query: &str) -> SyncResponse {
    let reply = server
        .get(&format!("/v1/sync{query}"), &session.access_token)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    serde_json::from_value(reply.body).expect("a sync response")
}

async fn sync(server: &TestServer, session: &Session, since: Option<&str>) -> SyncResponse {
    let query = since.map(|c| format!("?since={c}")).unwrap_or_default();
    sync_page(server, session, &query).await
}

/// Syncs until nothing more is waiting; answers every page.
async fn sync_all(
    server: &TestServer,
    session: &Session,
    since: Option<&str>,
) -> Vec<SyncResponse> {
    let mut pages = vec![sync(server, session, since).await];
    while pages.last().unwrap().has_more {
        let cursor = pages.last().unwrap().cursor.clone();
        pages.push(sync(server, session, Some(&cursor)).await);
    }
    pages
}

fn kinds(page: &SyncResponse) -> BTreeSet<SyncKind> {
    page.records.iter().map(|r| r.kind).collect()
}

fn of_kind(pages: &[SyncResponse], kind: SyncKind) -> Vec<&Value> {
    pages
        .iter()
        .flat_map(|p| &p.records)
        .filter(|r| r.kind == kind)
        .map(|r| &r.data)
        .collect()
}

fn tombstones(page: &SyncResponse) -> BTreeMap<SyncKind, TombstoneReason> {
    page.tombstones.iter().map(|t| (t.kind, t.reason)).collect()
}

/// `sender` writes `body` in the conversation `id`.
async fn say(server: &TestServer, sender: &Session, conversation: &str, body: &str) {
    let sent = server
        .post(
            &format!("/v1/conversations/{conversation}/messages"),
            &sender.access_token,
            json!({"client_id": ClientMessageId::new(), "body": body}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.text);
}

/// The id of alex's conversation with their team.
async fn team_conversation(server: &TestServer, alex: &Session) -> String {
    let reply = server.get("/v1/conversations", &alex.access_token).await;
    reply.body["conversations"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["kind"] == "team"))
        .and_then(|team| team["id"].as_str())
        .expect("a team conversation")
        .to_owned()
}

/// Every string in a JSON value, however deep.
fn strings(value: &Value, into: &mut Vec<String>) {
    match value {
        Value::String(text) => into.push(text.clone()),
        Value::Array(items) => items.iter().for_each(|v| strings(v, into)),
        Value::Object(fields) => fields.values().for_each(|v| strings(v, into)),
        _ => {}
    }
}

async fn a_first_sync_holds_everything_and_the_next_only_what_changed(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let alex = server.login("alex").await;
    let person = alex.person_id.clone().unwrap();
    // Jo writes: alex has a notification waiting.
    let jo = server.login("jo").await;
    let peer = server.peer_conversation(&alex.access_token).await;
    say(&server, &jo, &peer, "How did the walk go?").await;

    let first = sync_all(&server, &alex, None).await;
    let held: BTreeSet<SyncKind> = first.iter().flat_map(kinds).collect();
    for kind in [
        SyncKind::Account,
        SyncKind::Person,
        SyncKind::EnablementPlan,
        SyncKind::Wrap,
        SyncKind::CrisisPlan,
        SyncKind::Appointment,
        SyncKind::Booking,
        SyncKind::Conversation,
        SyncKind::Message,
        SyncKind::Consent,
        SyncKind::Notification,
    ] {
        assert!(held.contains(&kind), "{kind} missing from {held:?}");
    }
    // Alex's own copy: no summary made for a peer worker.
    assert!(!held.contains(&SyncKind::EnablementPlanSummary));
    let crisis = of_kind(&first, SyncKind::CrisisPlan);
    let own = server
        .get(
            &format!("/v1/people/{person}/crisis-plan"),
            &alex.access_token,
        )
        .await;
    assert_eq!(
        crisis[0]["sections"], own.body["sections"],
        "every section, as read"
    );
    assert!(
        of_kind(&first, SyncKind::Appointment).len() >= 2,
        "the two upcoming, and more"
    );
    // Every record decodes as its kind says.
    for record in first.iter().flat_map(|p| &p.records) {
        record
            .decode()
            .unwrap_or_else(|e| panic!("{}: {e}", record.kind));
    }

    // Nothing changed: empty and small. The first of these may move past the log lines alex's
    // own syncs wrote (not news to alex); after that the cursor stands still.
    let cursor = first.last().unwrap().cursor.clone();
    let quiet = sync_reply(&server, &alex, Some(&cursor)).await;
    assert_eq!(quiet.status, StatusCode::OK, "{}", quiet.text);
    assert!(
        quiet.text.len() <= 300,
        "{} bytes: {}",
        quiet.text.len(),
        quiet.text
    );
    let quiet: SyncResponse = serde_json::from_value(quiet.body).unwrap();
    assert!(quiet.records.is_empty() && quiet.tombstones.is_empty() && !quiet.has_more);
    let still = sync_reply(&server, &alex, Some(&quiet.cursor)).await;
    let head_bytes: usize = still
        .headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    assert!(
        still.text.len() <= 300,
        "{} body bytes ({head_bytes} of headers)",
        still.text.len()
    );
    let still: SyncResponse = serde_json::from_value(still.body).unwrap();
    assert!(still.records.is_empty());
    assert_eq!(still.cursor, quiet.cursor, "nothing new: the same cursor");

    // Priya writes a new version: the next sync holds exactly it (and the news of it).
    let priya = server.login("priya").await;
    let plan = server
        .get(
            &format!("/v1/people/{person}/enablement-plan"),
            &priya.access_token,
        )
        .await;
    let mut body = plan.body["plan"].clone();
    body["review_on"] = json!("2027-03-01");
    let version = plan.body["version"].as_i64().unwrap();
    let written = server
        .put(
            &format!("/v1/people/{person}/enablement-plan"),
            &priya.access_token,
            json!({"plan": body, "base_version": version}),
        )
        .await;
    assert_eq!(written.status, StatusCode::OK, "{}", written.text);
    let next = sync(&server, &alex, Some(&still.cursor)).await;
    let whole: Vec<_> = next
        .records
        .iter()
        .filter(|r| !matches!(r.kind, SyncKind::Notification | SyncKind::AccessLogEntry))
        .collect();
    assert_eq!(whole.len(), 1, "{:?}", next.records);
    assert_eq!(whole[0].kind, SyncKind::EnablementPlan);
    assert_eq!(whole[0].data["version"], version + 1);
    assert!(next.tombstones.is_empty());
    // Priya's write is in alex's log on the phone.
    assert!(
        of_kind(std::slice::from_ref(&next), SyncKind::AccessLogEntry)
            .iter()
            .any(|line| line["actor_id"] == priya.user_id.as_str()
                && line["resource"] == "enablement_plan"
                && line["action"] == "write")
    );
}

async fn a_carer_gets_only_the_shared_sections_and_a_tombstone_when_alex_revokes(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let alex = server.login("alex").await;
    let sam = server.login("sam").await;
    let person = alex.person_id.clone().unwrap();
    let path = format!("/v1/people/{person}");

    let pages = sync_all(&server, &sam, None).await;
    let crisis = of_kind(&pages, SyncKind::CrisisPlan);
    assert_eq!(crisis.len(), 1);
    let shared: BTreeSet<&str> = crisis[0]["sections"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        shared,
        BTreeSet::from([
            "help_from_others",
            "signs_others_take_over",
            "supporters",
            "when_well"
        ])
    );
    // No word of any other section anywhere in what sam's phone was given.
    let whole = server
        .get(&format!("{path}/crisis-plan"), &alex.access_token)
        .await;
    let mut shared_text = Vec::new();
    let mut hidden_text = Vec::new();
    for (section, value) in whole.body["sections"].as_object().unwrap() {
        if shared.contains(section.as_str()) {
            strings(value, &mut shared_text);
        } else {
            strings(value, &mut hidden_text);
        }
    }
    let given = serde_json::to_string(&pages).unwrap();
    let hidden: Vec<_> = hidden_text
        .iter()
        .filter(|text| text.len() >= 8 && !shared_text.contains(text))
        .collect();
    assert!(
        !hidden.is_empty(),
        "the other sections have words to look for"
    );
    for text in hidden {
        assert!(
            !given.contains(text.as_str()),
            "a hidden section's words reached sam"
        );
    }
    let kinds: BTreeSet<SyncKind> = pages.iter().flat_map(kinds).collect();
    for never in [
        SyncKind::Wrap,
        SyncKind::EnablementPlan,
        SyncKind::Consent,
        SyncKind::AccessLogEntry,
        SyncKind::Appointment,
    ] {
        assert!(!kinds.contains(&never), "{never} reached a carer");
    }

    // Alex revokes: sam's next sync drops the plan and the person, and gives nothing new.
    let consents = server
        .get(&format!("{path}/consents"), &alex.access_token)
        .await;
    let consent = consents.body[0]["id"].as_str().unwrap();
    let revoked = server
        .delete(&format!("{path}/consents/{consent}"), &alex.access_token)
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.text);
    let after = sync(&server, &sam, Some(&pages.last().unwrap().cursor)).await;
    let dropped = tombstones(&after);
    assert_eq!(
        dropped.get(&SyncKind::CrisisPlan),
        Some(&TombstoneReason::AccessRevoked),
        "{after:?}"
    );
    assert_eq!(
        dropped.get(&SyncKind::Person),
        Some(&TombstoneReason::AccessRevoked)
    );
    assert!(
        after
            .tombstones
            .iter()
            .any(|t| t.kind == SyncKind::CrisisPlan && t.id == person)
    );
    assert!(
        !after
            .records
            .iter()
            .any(|r| r.kind == SyncKind::CrisisPlan || r.kind == SyncKind::Person),
        "{after:?}"
    );
    // Told once: the sync after has nothing to drop.
    let again = sync(&server, &sam, Some(&after.cursor)).await;
    assert!(again.tombstones.is_empty(), "{again:?}");
}

async fn a_consent_that_runs_out_with_nothing_written_leaves_a_tombstone(backend: Backend) {
    let (server, clock) = TestServer::start_at(backend, start_instant())
        .await
        .unwrap();
    let alex = server.login("alex").await;
    let sam = server.login("sam").await;
    // Alex replaces the open-ended consent with one for the next hour.
    let until = start_instant() + Duration::hours(1);
    consent_until(
        &server,
        &alex,
        &sam,
        json!({
            "carer_id": sam.user_id,
            "scopes": ["crisis_plan"],
            "crisis_plan_sections": ["when_well", "supporters"],
            "expires_at": until,
        }),
    )
    .await;

    let pages = sync_all(&server, &sam, None).await;
    assert_eq!(of_kind(&pages, SyncKind::CrisisPlan).len(), 1);
    let cursor = pages.last().unwrap().cursor.clone();

    // Time passes; nobody writes anything.
    clock.advance(Duration::hours(2));
    let sam = server.login("sam").await;
    let after = sync(&server, &sam, Some(&cursor)).await;
    assert_eq!(
        tombstones(&after).get(&SyncKind::CrisisPlan),
        Some(&TombstoneReason::Expired),
        "{after:?}"
    );
    assert!(!after.records.iter().any(|r| r.kind == SyncKind::CrisisPlan));
}

/// Alex replaces the open-ended consent to sam with `consent` (one that runs out).
async fn consent_until(server: &TestServer, alex: &Session, sam: &Session, consent: Value) {
    let path = format!("/v1/people/{}", alex.person_id.clone().unwrap());
    let consents = server
        .get(&format!("{path}/consents"), &alex.access_token)
        .await;
    let open_ended = consents.body[0]["id"].as_str().unwrap();
    assert_eq!(consents.body[0]["carer_id"], json!(sam.user_id));
    server
        .delete(&format!("{path}/consents/{open_ended}"), &alex.access_token)
        .await;
    let granted = server
        .post(&format!("{path}/consents"), &alex.access_token, consent)
        .await;
    assert_eq!(granted.status, StatusCode::CREATED, "{}", granted.text);
}

async fn a_reallocated_peer_worker_and_a_practitioner_off_the_team_are_told_to_drop_their_copies(
    backend: Backend,
) {
    let server = TestServer::start(backend).await.unwrap();
    let alex = server.login("alex").await;
    let person = alex.person_id.clone().unwrap();
    let path = format!("/v1/people/{person}");
    let jo = server.login("jo").await;
    let priya = server.login("priya").await;
    let admin = server.login("admin").await;
    // Alex writes to the team, so priya's inbox holds the conversation.
    let team_conversation = team_conversation(&server, &alex).await;
    say(&server, &alex, &team_conversation, "Can we move Thursday?").await;

    let jo_pages = sync_all(&server, &jo, None).await;
    let jo_kinds: BTreeSet<SyncKind> = jo_pages.iter().flat_map(kinds).collect();
    for kind in [SyncKind::Person, SyncKind::Conversation, SyncKind::Message] {
        assert!(
            jo_kinds.contains(&kind),
            "{kind} missing from jo's {jo_kinds:?}"
        );
    }
    assert!(!jo_kinds.contains(&SyncKind::EnablementPlan));
    assert!(!jo_kinds.contains(&SyncKind::Wrap));

    // A practitioner's phone holds their account and conversations, never people's records.
    let priya_pages = sync_all(&server, &priya, None).await;
    let priya_kinds: BTreeSet<SyncKind> = priya_pages.iter().flat_map(kinds).collect();
    assert!(
        priya_kinds.contains(&SyncKind::Conversation),
        "{priya_kinds:?}"
    );
    for never in [
        SyncKind::Person,
        SyncKind::EnablementPlan,
        SyncKind::CrisisPlan,
        SyncKind::Appointment,
    ] {
        assert!(
            !priya_kinds.contains(&never),
            "{never} on a practitioner's phone"
        );
    }

    // Jo is replaced by kit; priya leaves the team.
    let created = server
        .post(
            "/v1/users",
            &admin.access_token,
            json!({"username": "kit", "password": "kit-demo-password", "role": "peer_worker", "display_name": "Kit Morrow"}),
        )
        .await;
    let kit = created.body["id"].as_str().unwrap().to_owned();
    let team = server.get(&path, &priya.access_token).await.body["team_id"]
        .as_str()
        .unwrap()
        .to_owned();
    server
        .send(
            reqwest::Method::PUT,
            &format!("/v1/teams/{team}/members/{kit}"),
            Some(&admin.access_token),
            None,
        )
        .await;
    let moved = server
        .put(
            &format!("{path}/peer-allocation"),
            &priya.access_token,
            json!({"peer_worker_id": kit}),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.text);
    let removed = server
        .delete(
            &format!("/v1/teams/{team}/members/{}", priya.user_id),
            &admin.access_token,
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);

    let jo_after = sync(&server, &jo, Some(&jo_pages.last().unwrap().cursor)).await;
    let dropped = tombstones(&jo_after);
    for kind in [SyncKind::Person, SyncKind::Conversation] {
        assert_eq!(
            dropped.get(&kind),
            Some(&TombstoneReason::AccessRevoked),
            "{kind}: {jo_after:?}"
        );
    }
    assert!(
        !jo_after
            .records
            .iter()
            .any(|r| r.person_id.map(|p| p.to_string()) == Some(person.clone())),
        "{jo_after:?}"
    );

    let priya_after = sync(&server, &priya, Some(&priya_pages.last().unwrap().cursor)).await;
    let held_conversations: HashSet<String> = priya_pages
        .iter()
        .flat_map(|p| &p.records)
        .filter(|r| r.kind == SyncKind::Conversation)
        .map(|r| r.id.clone())
        .collect();
    let dropped_conversations: HashSet<String> = priya_after
        .tombstones
        .iter()
        .filter(|t| t.kind == SyncKind::Conversation && t.reason == TombstoneReason::AccessRevoked)
        .map(|t| t.id.clone())
        .collect();
    assert_eq!(dropped_conversations, held_conversations, "{priya_after:?}");
}

async fn ten_thousand_messages_arrive_in_pages_once_each_in_order_and_a_page_replays_the_same(
    backend: Backend,
) {
    const MESSAGES: usize = 10_000;
    let server = TestServer::start(backend).await.unwrap();
    let alex = server.login("alex").await;
    let jo = server.login("jo").await;
    let conversation = server.peer_conversation(&alex.access_token).await;
    let sender: UserId = jo.user_id.parse().unwrap();
    let now = livingwell_server::clock::Clock::System.now();
    // Straight into the store, a thousand at a time: the sync is what is tested here.
    for batch in 0..MESSAGES / 1_000 {
        let sends: Vec<NewSend> = (0..1_000)
            .map(|i| NewSend {
                message: NewMessage {
                    id: MessageId::new(),
                    conversation_id: conversation.parse().unwrap(),
                    sender_id: sender,
                    client_id: ClientMessageId::new(),
                    body: format!("message {}", batch * 1_000 + i),
                    created_at: now,
                },
                notice: None,
                access: None,
                audience: Default::default(),
            })
            .collect();
        server.store.send_messages(&sends).await.unwrap();
    }

    let mut pages = Vec::new();
    let mut since: Option<String> = None;
    loop {
        let query = match &since {
            Some(cursor) => format!("?since={cursor}&limit=1000"),
            None => "?limit=1000".to_owned(),
        };
        let page = sync_page(&server, &alex, &query).await;
        assert!(page.records.len() <= 1000);
        // Replaying the page from the same cursor gives the same records.
        let replay = sync_page(&server, &alex, &query).await;
        let names = |page: &SyncResponse| {
            page.records
                .iter()
                .map(|r| (r.kind, r.id.clone(), r.version.clone()))
                .collect::<Vec<_>>()
        };
        assert!(names(&replay) == names(&page), "a replayed page differs");
        let more = page.has_more;
        since = Some(page.cursor.clone());
        pages.push(page);
        if !more {
            break;
        }
        assert!(pages.len() < 50, "the pages end");
    }
    assert!(pages.len() >= 10, "{} pages", pages.len());
    let seqs: Vec<i64> = pages
        .iter()
        .flat_map(|p| &p.records)
        .filter(|r| {
            r.kind == SyncKind::Message && r.data["conversation_id"] == conversation.as_str()
        })
        .map(|r| r.data["seq"].as_i64().unwrap())
        .collect();
    let expected: Vec<i64> = (1..=seqs.len() as i64).collect();
    assert_eq!(seqs, expected, "every message once, in order");
    assert!(seqs.len() >= MESSAGES);
}

async fn forged_and_forgotten_cursors_answer_resync(backend: Backend) {
    let (server, clock) = TestServer::start_at(backend, start_instant())
        .await
        .unwrap();
    let alex = server.login("alex").await;
    let sam = server.login("sam").await;
    let pages = sync_all(&server, &alex, None).await;
    let cursor = pages.last().unwrap().cursor.clone();

    for forged in [
        "AAAAAAAAAAAAAAAAAAAAAA".to_owned(),
        format!("{}x", &cursor[..cursor.len() - 1]),
        "x".repeat(500),
    ] {
        let reply = sync_reply(&server, &alex, Some(&forged)).await;
        assert_eq!(reply.status, StatusCode::GONE, "{}", reply.text);
        assert_eq!(reply.code(), "resync");
    }
    // A cursor is the account's own.
    let borrowed = sync_reply(&server, &sam, Some(&cursor)).await;
    assert_eq!(borrowed.status, StatusCode::GONE);
    let bad_limit = server.get("/v1/sync?limit=0", &alex.access_token).await;
    assert_eq!(bad_limit.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad_limit.fields(), ["limit"]);

    // Used within the period: kept. Unused for longer: forgotten.
    clock.advance(Duration::days(89));
    let alex = server.login("alex").await;
    let kept = sync_reply(&server, &alex, Some(&cursor)).await;
    assert_eq!(kept.status, StatusCode::OK, "{}", kept.text);
    let recent = kept.body["cursor"].as_str().unwrap().to_owned();
    clock.advance(Duration::days(91));
    let alex = server.login("alex").await;
    let old = sync_reply(&server, &alex, Some(&recent)).await;
    assert_eq!(old.status, StatusCode::GONE, "{}", old.text);
    assert_eq!(old.code(), "resync");
    // Starting again works.
    assert_eq!(
        sync_reply(&server, &alex, None).await.status,
        StatusCode::OK
    );
}

async fn sync_reads_are_audited_once_per_person_and_kind(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let alex = server.login("alex").await;
    let person = alex.person_id.clone().unwrap();
    let jo = server.login("jo").await;
    // Ten new messages for jo to sync.
    let conversation = server.peer_conversation(&alex.access_token).await;
    for i in 0..10 {
        say(&server, &alex, &conversation, &format!("Hello {i}")).await;
    }
    let pages = sync_all(&server, &jo, None).await;
    assert!(of_kind(&pages, SyncKind::Message).len() >= 10);

    let log = server
        .get(
            &format!("/v1/people/{person}/access-log?limit=200"),
            &alex.access_token,
        )
        .await;
    let synced: Vec<&Value> = log.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor_id"] == jo.user_id.as_str() && e["via"] == "sync")
        .collect();
    let mut per_resource: BTreeMap<&str, usize> = BTreeMap::new();
    for entry in &synced {
        assert_eq!(entry["action"], "read");
        assert_eq!(entry["relationship"], "allocated_peer");
        *per_resource
            .entry(entry["resource"].as_str().unwrap())
            .or_default() += 1;
    }
    assert_eq!(per_resource.get("messages"), Some(&1), "{per_resource:?}");
    assert_eq!(per_resource.get("person"), Some(&1), "{per_resource:?}");
    // Alex's phone shows jo's sync in the log it keeps.
    let alex_pages = sync_all(&server, &alex, None).await;
    assert!(
        of_kind(&alex_pages, SyncKind::AccessLogEntry)
            .iter()
            .any(|line| line["actor_id"] == jo.user_id.as_str() && line["via"] == "sync")
    );
    // …but not alex's own reads.
    assert!(
        !of_kind(&alex_pages, SyncKind::AccessLogEntry)
            .iter()
            .any(|line| line["actor_id"] == alex.user_id.as_str())
    );
}

// ---------------------------------------------------------------------------------------------
// "Nothing new" from the fingerprint. The test server works every such answer out in full as
// well and fails the request on a difference, so each case below shows the fingerprint's
// answer was the right one: a rule of the clock it missed would fail with a 500.

/// Syncs from `cursor` until a sync changes nothing, and answers the cursor it settled on,
/// checked to be one the next sync may answer from its fingerprint.
async fn catch_up(server: &TestServer, session: &Session, cursor: &str) -> String {
    let mut cursor = cursor.to_owned();
    for _ in 0..5 {
        let page = sync(server, session, Some(&cursor)).await;
        let settled = page.records.is_empty() && page.tombstones.is_empty();
        if settled && page.cursor == cursor {
            assert_answered_from_fingerprint(server, session, &cursor).await;
            return cursor;
        }
        cursor = page.cursor;
    }
    panic!("the phone never caught up");
}

/// The cursor is kept as known unchanged by the records' fingerprint as it is now.
async fn assert_answered_from_fingerprint(server: &TestServer, session: &Session, cursor: &str) {
    let user: UserId = session.user_id.parse().unwrap();
    let person = session.person_id.as_ref().map(|p| p.parse().unwrap());
    let kept = server
        .store
        .sync_cursor(user, person, cursor)
        .await
        .unwrap()
        .expect("the cursor is kept");
    let unchanged = kept.unchanged.expect("known unchanged");
    assert_eq!(unchanged.fingerprint, kept.now, "nothing written since");
}

async fn a_caught_up_phone_is_answered_from_its_fingerprint_until_a_write_it_would_see(
    backend: Backend,
) {
    let server = TestServer::start(backend).await.unwrap();
    let alex = server.login("alex").await;
    let sam = server.login("sam").await;
    let first = sync_all(&server, &sam, None).await;
    let cursor = catch_up(&server, &sam, &first.last().unwrap().cursor).await;
    // Reads and audit entries elsewhere change nothing sam's phone holds.
    let person = alex.person_id.clone().unwrap();
    let plan = server
        .get(
            &format!("/v1/people/{person}/enablement-plan"),
            &alex.access_token,
        )
        .await;
    assert_eq!(plan.status, StatusCode::OK, "{}", plan.text);
    assert_answered_from_fingerprint(&server, &sam, &cursor).await;
    let again = sync(&server, &sam, Some(&cursor)).await;
    assert_eq!(again.cursor, cursor);
    assert!(again.records.is_empty() && again.tombstones.is_empty());

    // Alex activates the crisis plan sam is shown: the next sync has it.
    let activated = server
        .post(
            &format!("/v1/people/{person}/crisis-plan/activation"),
            &alex.access_token,
            json!({"reason": "Not sleeping; asked for help."}),
        )
        .await;
    assert!(activated.status.is_success(), "{}", activated.text);
    let after = sync(&server, &sam, Some(&cursor)).await;
    assert!(
        after.records.iter().any(|r| r.kind == SyncKind::CrisisPlan),
        "{after:?}"
    );
}

/// Signs in again once the clock moved past the access token's life, and shows that writes
/// nothing a sync reads: only the clock can have ended the cursor's "nothing new".
async fn sign_in_again(server: &TestServer, username: &str, cursor: &str) -> Session {
    let session = server.login(username).await;
    assert_answered_from_fingerprint(server, &session, cursor).await;
    session
}

async fn the_clock_alone_ends_nothing_new_when_a_consent_runs_out(backend: Backend) {
    let (server, clock) = TestServer::start_at(backend, start_instant())
        .await
        .unwrap();
    let alex = server.login("alex").await;
    let sam = server.login("sam").await;
    consent_until(
        &server,
        &alex,
        &sam,
        json!({
            "carer_id": sam.user_id,
            "scopes": ["crisis_plan"],
            "expires_at": start_instant() + Duration::minutes(10),
        }),
    )
    .await;
    let first = sync_all(&server, &sam, None).await;
    assert_eq!(of_kind(&first, SyncKind::CrisisPlan).len(), 1);
    let cursor = catch_up(&server, &sam, &first.last().unwrap().cursor).await;

    // Eleven minutes on (within the hour a "nothing new" is trusted at most), nothing written.
    clock.advance(Duration::minutes(11));
    let sam = sign_in_again(&server, "sam", &cursor).await;
    let after = sync(&server, &sam, Some(&cursor)).await;
    assert_eq!(
        tombstones(&after).get(&SyncKind::CrisisPlan),
        Some(&TombstoneReason::Expired),
        "{after:?}"
    );
}

async fn the_clock_alone_ends_nothing_new_when_an_appointment_comes_into_the_window(
    backend: Backend,
) {
    let (server, clock) = TestServer::start_at(backend, start_instant())
        .await
        .unwrap();
    let alex = server.login("alex").await;
    let priya = server.login("priya").await;
    let person = alex.person_id.clone().unwrap();
    // A year and five minutes ahead: beyond the year a phone is given.
    let starts = start_instant() + Duration::days(365) + Duration::minutes(5);
    let made = server
        .post(
            &format!("/v1/people/{person}/appointments"),
            &priya.access_token,
            json!({
                "kind": "review",
                "title": "Annual review",
                "starts_at": starts,
                "ends_at": starts + Duration::hours(1),
                "location": {"type": "phone"},
            }),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let id = made.body["id"].as_str().unwrap().to_owned();
    let first = sync_all(&server, &alex, None).await;
    let ids = |pages: &[SyncResponse]| -> Vec<String> {
        pages
            .iter()
            .flat_map(|page| &page.records)
            .filter(|r| r.kind == SyncKind::Appointment)
            .map(|r| r.id.clone())
            .collect()
    };
    assert!(!ids(&first).contains(&id));
    let cursor = catch_up(&server, &alex, &first.last().unwrap().cursor).await;

    clock.advance(Duration::minutes(6));
    let alex = sign_in_again(&server, "alex", &cursor).await;
    let after = sync(&server, &alex, Some(&cursor)).await;
    assert!(ids(&[after]).contains(&id));
}

async fn the_clock_alone_ends_nothing_new_when_the_peer_workers_hours_end(backend: Backend) {
    // Tuesday 16:55 in London (GMT): five minutes before the demo peer worker's hours end.
    let start: DateTime<Utc> = "2026-11-03T16:55:00Z".parse().unwrap();
    let (server, clock) = TestServer::start_at(backend, start).await.unwrap();
    let alex = server.login("alex").await;
    let conversation = server.peer_conversation(&alex.access_token).await;
    let first = sync_all(&server, &alex, None).await;
    let available = |pages: &[SyncResponse]| {
        pages
            .iter()
            .flat_map(|page| &page.records)
            .find(|r| r.kind == SyncKind::Conversation && r.id == conversation)
            .map(|r| r.data["peer_worker_available"].clone())
    };
    assert_eq!(available(&first), Some(json!(true)));
    let cursor = catch_up(&server, &alex, &first.last().unwrap().cursor).await;

    clock.advance(Duration::minutes(6));
    let alex = sign_in_again(&server, "alex", &cursor).await;
    let after = sync(&server, &alex, Some(&cursor)).await;
    assert_eq!(available(&[after]), Some(json!(false)));
}
