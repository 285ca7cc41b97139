//! Reads a phone showed offline, uploaded later: each is judged as of the moment it was shown
//! and appears once in the person's access log — as an offline read with both times, or as a
//! refused attempt.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use livingwell_core::domain::{Role, UserId};
use livingwell_server::store::UserRecord;
use livingwell_tests::{Backend, Reply, Session, TestServer, on_both_databases};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_databases!(
    an_offline_read_uploaded_twice_appears_once_marked_offline_with_both_times,
    a_read_made_before_a_reallocation_is_still_accepted_after_it,
    a_read_the_uploader_could_not_see_then_is_refused_and_logged_as_denied,
    a_consent_revoked_after_the_read_still_covers_it,
    bad_uploads_are_refused_naming_the_field_and_record_nothing,
    an_upload_replayed_with_its_idempotency_key_is_answered_once,
);

const PATH: &str = "/v1/audit/offline-reads";

/// The instant the demo people are made at; every test's clock starts here.
fn start() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

fn read(person: &str, record: &str, sections: Option<&[&str]>, read_at: DateTime<Utc>) -> Value {
    let mut read = json!({
        "event_id": uuid::Uuid::now_v7(),
        "person_id": person,
        "record": record,
        "read_at": read_at,
    });
    if let Some(sections) = sections {
        read["sections"] = json!(sections);
    }
    read
}

async fn upload(server: &TestServer, session: &Session, reads: &[Value]) -> Reply {
    server
        .post(PATH, &session.access_token, json!({ "reads": reads }))
        .await
}

/// The outcome named for each read, in order.
fn outcomes(reply: &Reply) -> Vec<String> {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.body["reads"]
        .as_array()
        .expect("reads")
        .iter()
        .map(|r| r["outcome"].as_str().expect("an outcome").to_owned())
        .collect()
}

/// The person's access-log entries that came from offline reads, newest first, as the person
/// sees them.
async fn offline_entries(server: &TestServer, reader: &Session, person: &str) -> Vec<Value> {
    let log = server
        .get(
            &format!("/v1/people/{person}/access-log?limit=200"),
            &reader.access_token,
        )
        .await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.text);
    log.body["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["via"] == "offline")
        .cloned()
        .collect()
}

fn time(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .expect("a time")
        .parse()
        .expect("an RFC 3339 time")
}

async fn an_offline_read_uploaded_twice_appears_once_marked_offline_with_both_times(
    backend: Backend,
) {
    let start = start();
    let (server, clock) = TestServer::start_at(backend, start).await.unwrap();
    // Sam read alex's crisis plan on a train; the phone uploads it an hour later.
    let read_at = start + Duration::minutes(10);
    clock.advance(Duration::hours(1));
    let uploaded_at = start + Duration::hours(1);
    let sam = server.login("sam").await;
    let alex = server.login("alex").await;
    let person = alex.person_id.clone().unwrap();
    let shown = read(
        &person,
        "crisis_plan",
        Some(&["when_well", "supporters"]),
        read_at,
    );

    let first = upload(&server, &sam, std::slice::from_ref(&shown)).await;
    assert_eq!(outcomes(&first), ["recorded"]);
    assert_eq!(first.body["reads"][0]["event_id"], shown["event_id"]);
    let again = upload(&server, &sam, std::slice::from_ref(&shown)).await;
    assert_eq!(outcomes(&again), ["already_recorded"]);

    let entries = offline_entries(&server, &alex, &person).await;
    assert_eq!(
        entries.len(),
        1,
        "one entry however often uploaded: {entries:?}"
    );
    let entry = &entries[0];
    assert_eq!(entry["actor_id"], json!(sam.user_id));
    assert_eq!(entry["actor_role"], "carer");
    assert_eq!(entry["resource"], "crisis_plan");
    assert_eq!(entry["action"], "read");
    assert_eq!(entry["outcome"], "allowed");
    assert_eq!(entry["relationship"], "carer_consent");
    assert_eq!(time(&entry["read_at"]), read_at, "when the phone showed it");
    assert_eq!(time(&entry["at"]), uploaded_at, "when it was uploaded");
}

/// A peer worker account besides jo, made straight in the store (it never signs in here).
async fn another_peer_worker(server: &TestServer) -> UserId {
    let id = UserId::new();
    server
        .store
        .create_user(
            &UserRecord {
                id,
                username: "kit".to_owned(),
                password_hash: "$argon2id$not-used".to_owned(),
                role: Role::PeerWorker,
                display_name: "Kit Ashby".to_owned(),
                person_id: None,
            },
            Utc::now(),
        )
        .await
        .unwrap();
    id
}

async fn a_read_made_before_a_reallocation_is_still_accepted_after_it(backend: Backend) {
    let start = start();
    let (server, clock) = TestServer::start_at(backend, start).await.unwrap();
    let alex = server.login("alex").await;
    let person = alex.person_id.clone().unwrap();
    let jo = server.login("jo").await;
    // Alex shares the supporters section with jo, their peer worker.
    let shared = server
        .post(
            &format!("/v1/people/{person}/consents"),
            &alex.access_token,
            json!({"peer_worker_id": jo.user_id, "scopes": ["crisis_plan"],
                   "crisis_plan_sections": ["supporters"]}),
        )
        .await;
    assert_eq!(shared.status, StatusCode::CREATED, "{}", shared.text);

    // Jo's phone shows alex's messages and the shared section offline...
    let before = start + Duration::minutes(10);
    let shown_before = [
        read(&person, "messages", None, before),
        read(&person, "person", None, before),
        read(&person, "crisis_plan", Some(&["supporters"]), before),
    ];
    // ...then alex is reallocated to kit...
    clock.advance(Duration::minutes(20));
    let kit = another_peer_worker(&server).await;
    let priya = server.login("priya").await;
    let reallocated = server
        .put(
            &format!("/v1/people/{person}/peer-allocation"),
            &priya.access_token,
            json!({"peer_worker_id": kit}),
        )
        .await;
    assert!(reallocated.status.is_success(), "{}", reallocated.text);
    // ...and jo's phone, still offline, shows the messages once more before it drops them.
    let after = start + Duration::minutes(25);
    let shown_after = read(&person, "messages", None, after);
    clock.advance(Duration::minutes(10));

    let jo = server.login("jo").await;
    let mut reads = shown_before.to_vec();
    reads.push(shown_after);
    let reply = upload(&server, &jo, &reads).await;
    assert_eq!(
        outcomes(&reply),
        ["recorded", "recorded", "recorded", "refused"]
    );
    let alex = server.login("alex").await;
    let entries = offline_entries(&server, &alex, &person).await;
    let accepted: Vec<(&str, DateTime<Utc>)> = entries
        .iter()
        .filter(|e| e["outcome"] == "allowed")
        .map(|e| (e["resource"].as_str().unwrap(), time(&e["read_at"])))
        .collect();
    assert_eq!(
        accepted,
        [
            ("crisis_plan", before),
            ("person", before),
            ("messages", before)
        ]
    );
    assert!(
        entries
            .iter()
            .filter(|e| e["outcome"] == "allowed")
            .all(|e| e["relationship"] == "allocated_peer")
    );
    let refused: Vec<_> = entries
        .iter()
        .filter(|e| e["outcome"] == "denied")
        .collect();
    assert_eq!(refused.len(), 1);
    assert_eq!(time(&refused[0]["read_at"]), after);
}

async fn a_read_the_uploader_could_not_see_then_is_refused_and_logged_as_denied(backend: Backend) {
    let start = start();
    let (server, clock) = TestServer::start_at(backend, start).await.unwrap();
    clock.advance(Duration::minutes(30));
    let sam = server.login("sam").await;
    let alex = server.login("alex").await;
    let robin = server.login("robin").await;
    let person = alex.person_id.clone().unwrap();
    let robins = robin.person_id.clone().unwrap();
    let at = start + Duration::minutes(10);
    let reads = [
        // A section alex never shared with sam.
        read(&person, "crisis_plan", Some(&["medication"]), at),
        // Shared sections and one more: the whole read is refused.
        read(
            &person,
            "crisis_plan",
            Some(&["when_well", "treatments"]),
            at,
        ),
        // The WRAP is alex's own.
        read(&person, "wrap", None, at),
        // Before alex had given sam anything (the demo consent is from the start).
        read(
            &person,
            "crisis_plan",
            Some(&["when_well"]),
            start - Duration::minutes(1),
        ),
        // Someone sam has nothing to do with.
        read(&robins, "person", None, at),
    ];
    let reply = upload(&server, &sam, &reads).await;
    assert_eq!(outcomes(&reply), ["refused"; 5]);

    let entries = offline_entries(&server, &alex, &person).await;
    assert_eq!(entries.len(), 4, "{entries:?}");
    for entry in &entries {
        assert_eq!(entry["outcome"], "denied", "never recorded as a read");
        assert_eq!(entry["action"], "read");
        assert_eq!(entry["actor_id"], json!(sam.user_id));
        assert!(entry.get("relationship").is_none());
        assert!(entry.get("read_at").is_some());
    }
    // Robin sees the refused attempt on their record too.
    let robins_entries = offline_entries(&server, &robin, &robins).await;
    assert_eq!(robins_entries.len(), 1);
    assert_eq!(robins_entries[0]["outcome"], "denied");
    assert_eq!(robins_entries[0]["resource"], "person");
}

async fn a_consent_revoked_after_the_read_still_covers_it(backend: Backend) {
    let start = start();
    let (server, clock) = TestServer::start_at(backend, start).await.unwrap();
    clock.advance(Duration::minutes(10));
    let alex = server.login("alex").await;
    let person = alex.person_id.clone().unwrap();
    let consents = server
        .get(&format!("/v1/people/{person}/consents"), &alex.access_token)
        .await;
    let consent = consents.body[0]["id"].as_str().unwrap().to_owned();
    let revoked = server
        .delete(
            &format!("/v1/people/{person}/consents/{consent}"),
            &alex.access_token,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    clock.advance(Duration::minutes(10));

    let sam = server.login("sam").await;
    let reads = [
        // Shown while the consent was in force, uploaded after the revocation.
        read(
            &person,
            "crisis_plan",
            Some(&["supporters"]),
            start + Duration::minutes(5),
        ),
        // Shown after the revocation: the phone should have dropped its copy.
        read(
            &person,
            "crisis_plan",
            Some(&["supporters"]),
            start + Duration::minutes(15),
        ),
    ];
    assert_eq!(
        outcomes(&upload(&server, &sam, &reads).await),
        ["recorded", "refused"]
    );
}

async fn bad_uploads_are_refused_naming_the_field_and_record_nothing(backend: Backend) {
    let start = start();
    let (server, _clock) = TestServer::start_at(backend, start).await.unwrap();
    let sam = server.login("sam").await;
    let alex = server.login("alex").await;
    let person = alex.person_id.clone().unwrap();
    let before = server.audit_count(&person).await;
    let now = start;
    let good = read(&person, "crisis_plan", Some(&["when_well"]), now);
    let twice = [good.clone(), good.clone()];
    let many: Vec<Value> = (0..201)
        .map(|_| read(&person, "person", None, now))
        .collect();
    let mut unknown_record = good.clone();
    unknown_record["record"] = json!("diary");
    unknown_record["event_id"] = json!(uuid::Uuid::now_v7());
    let mut extra_field = read(&person, "person", None, now);
    extra_field["note"] = json!("on the train");
    let mut not_a_time = read(&person, "person", None, now);
    not_a_time["read_at"] = json!("yesterday");
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!({"reads": []}), "reads", "required"),
        (json!({"reads": many}), "reads", "too_many"),
        (json!({"reads": twice}), "reads[1].event_id", "taken"),
        (
            json!({"reads": [read(&person, "appointments", Some(&["when_well"]), now)]}),
            "reads[0].sections",
            "only_for_crisis_plan",
        ),
        (
            json!({"reads": [read(&person, "crisis_plan", Some(&[]), now)]}),
            "reads[0].sections",
            "required",
        ),
        (
            json!({"reads": [read(&person, "person", None, now + Duration::hours(1))]}),
            "reads[0].read_at",
            "in_the_future",
        ),
        (
            json!({"reads": [read(&person, "person", None, now - Duration::days(100))]}),
            "reads[0].read_at",
            "too_long_ago",
        ),
        (
            json!({"reads": [unknown_record]}),
            "reads[0].record",
            "invalid",
        ),
        (
            json!({"reads": [extra_field]}),
            "reads[0].note",
            "unknown_field",
        ),
        (
            json!({"reads": [not_a_time]}),
            "reads[0].read_at",
            "invalid",
        ),
        (json!({}), "reads", "required"),
    ];
    for (body, field, code) in cases {
        let reply = server.post(PATH, &sam.access_token, body).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}: {}",
            reply.text
        );
        assert_eq!(reply.code(), "invalid");
        assert_eq!(reply.fields(), [field], "{}", reply.text);
        assert_eq!(reply.body["fields"][0]["code"], code, "{}", reply.text);
    }
    // Staff systems have no phone to read on.
    let system = server.client_token(Some("people:read")).await;
    let refused = server
        .post(PATH, &system, json!({"reads": [good.clone()]}))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let anonymous = server
        .send(Method::POST, PATH, None, Some(json!({"reads": [good]})))
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        server.audit_count(&person).await,
        before,
        "nothing recorded for a refused upload"
    );
}

async fn an_upload_replayed_with_its_idempotency_key_is_answered_once(backend: Backend) {
    let start = start();
    let (server, clock) = TestServer::start_at(backend, start).await.unwrap();
    clock.advance(Duration::minutes(5));
    let sam = server.login("sam").await;
    let alex = server.login("alex").await;
    let person = alex.person_id.clone().unwrap();
    let body = json!({"reads": [
        read(&person, "crisis_plan", Some(&["help_from_others"]), start + Duration::minutes(1)),
        read(&person, "appointments", None, start + Duration::minutes(2)),
    ]});
    let key = uuid::Uuid::now_v7().to_string();
    let first = server
        .send_keyed(
            Method::POST,
            PATH,
            &sam.access_token,
            &key,
            Some(body.clone()),
        )
        .await;
    // Sam's consent covers the crisis plan, not appointments.
    assert_eq!(outcomes(&first), ["recorded", "refused"]);
    let replay = server
        .send_keyed(
            Method::POST,
            PATH,
            &sam.access_token,
            &key,
            Some(body.clone()),
        )
        .await;
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    assert_eq!(replay.body, first.body, "the first answer, again");
    assert_eq!(offline_entries(&server, &alex, &person).await.len(), 2);

    // The same key with another upload is refused.
    let other = json!({"reads": [read(&person, "person", None, start)]});
    let reused = server
        .send_keyed(Method::POST, PATH, &sam.access_token, &key, Some(other))
        .await;
    assert_eq!(reused.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Without the key, the same reads are known by their event ids.
    let unkeyed = server.post(PATH, &sam.access_token, body).await;
    assert_eq!(outcomes(&unkeyed), ["already_recorded", "already_recorded"]);
    assert_eq!(offline_entries(&server, &alex, &person).await.len(), 2);
}
