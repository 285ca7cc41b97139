//! The phone's engine against the real server (SPEC §5): reading with no signal, writing in a
//! tunnel, and a carer's offline read in the person's access log — on both databases.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use livingwell_core::api::appointments::AppointmentView;
use livingwell_core::api::messages::ConversationView;
use livingwell_core::api::plans::{CrisisPlanView, EnablementPlanView};
use livingwell_core::api::sync::SyncKind;
use livingwell_core::domain::appointment::ReminderSettings;
use livingwell_core::domain::message::{MessageContent, MessageState};
use livingwell_engine::engine::{Engine, EngineConfig, Keep};
use livingwell_engine::observe::View;
use livingwell_engine::secrets::{FileSecretStore, SESSION, STORE_KEY, SecretStore};
use livingwell_engine::{EngineError, PublicError};
use livingwell_tests::sse::{open_stream, read_until};
use livingwell_tests::{Backend, PASSWORD, TestServer, on_both_databases};
use reqwest::StatusCode;

on_both_databases!(
    a_person_reads_their_crisis_plan_plan_and_next_appointment_with_no_signal,
    messages_written_in_a_tunnel_arrive_once_in_order_after_a_restart_of_the_app,
    a_carers_offline_read_is_in_the_persons_access_log_and_a_revocation_empties_her_phone,
    a_wrap_edited_offline_while_the_team_changed_it_keeps_both_until_the_person_chooses,
    signing_out_ends_the_session_and_leaves_no_store_or_key_on_the_phone,
    sharing_more_waits_for_the_password_and_stopping_sharing_never_does,
    the_event_stream_wakes_a_sync_and_the_conversation_screen_hears_of_a_new_message,
    a_case_system_plan_reaches_the_phone_and_an_offline_disagreement_reaches_the_team_once,
    a_narrowed_share_reaches_the_carers_phone_sealed_and_leaves_it_when_it_runs_out,
    the_other_actions_go_through_the_outbox_and_reach_the_server,
    a_workshop_place_is_cancelled_and_booked_again_through_the_outbox,
    a_message_shows_at_once_as_queued_then_sent_and_read_and_reading_clears_the_unread_count,
    what_was_sent_comes_back_without_a_sync_and_an_open_app_sends_what_is_due_by_itself,
    an_invited_person_joins_on_their_phone_and_takes_a_workshop_place_offered_from_the_waitlist,
    a_peer_worker_sees_their_people_offline_and_opening_a_shared_summary_is_in_the_log,
    what_the_phone_does_not_keep_is_read_from_the_server_and_a_queued_message_is_rewritten,
);

/// An engine over its own directory, as one phone.
struct Phone {
    _dir: tempfile::TempDir,
    config: EngineConfig,
    secrets: Arc<FileSecretStore>,
}

impl Phone {
    fn new(server: &TestServer) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = EngineConfig::new(dir.path().join("store"), server.base_url.clone());
        let secrets = Arc::new(FileSecretStore::new(dir.path().join("secrets")).unwrap());
        Self {
            _dir: dir,
            config,
            secrets,
        }
    }

    fn open(&self) -> Engine {
        Engine::open(self.config.clone(), self.secrets.clone()).unwrap()
    }
}

async fn signed_in(server: &TestServer, username: &str) -> (Phone, Engine) {
    let phone = Phone::new(server);
    let engine = phone.open();
    engine.sign_in(username, PASSWORD).await.unwrap();
    engine.sync().await.unwrap();
    (phone, engine)
}

async fn a_person_reads_their_crisis_plan_plan_and_next_appointment_with_no_signal(
    backend: Backend,
) {
    let mut server = TestServer::start(backend).await.unwrap();
    let (_phone, alex) = signed_in(&server, "alex").await;
    let person = alex
        .session()
        .user()
        .await
        .unwrap()
        .person_id
        .unwrap()
        .to_string();
    let conversation = server
        .peer_conversation(&server.login("alex").await.access_token)
        .await;
    server.stop().await;

    let crisis: CrisisPlanView = alex
        .show_as(SyncKind::CrisisPlan, &person)
        .await
        .unwrap()
        .expect("the crisis plan, offline");
    assert!(crisis.sections.contains_key("when_well"));
    let plan: EnablementPlanView = alex
        .show_as(SyncKind::EnablementPlan, &person)
        .await
        .unwrap()
        .expect("the plan on a page, offline");
    assert!(!plan.plan.goals.is_empty());
    let next: Vec<AppointmentView> = alex.appointments_from(Utc::now()).unwrap();
    assert!(!next.is_empty(), "the next appointment, offline");
    // Its reminders, computed on the phone: discreet, and each for an appointment held.
    let reminders = alex
        .reminders(&ReminderSettings::default(), Utc::now())
        .unwrap();
    assert!(!reminders.is_empty(), "reminders, offline");
    for reminder in &reminders {
        let of = next
            .iter()
            .find(|a| a.id == reminder.appointment_id)
            .expect("a reminder of an appointment held");
        assert_eq!(reminder.title, of.summary);
        assert!(reminder.fire_at < of.starts_at);
    }
    let too_many = ReminderSettings {
        minutes_before: vec![10; 9],
    };
    assert!(matches!(
        alex.reminders(&too_many, Utc::now()),
        Err(livingwell_engine::EngineError::Invalid { .. })
    ));
    // The conversation with jo, offline.
    let messages = alex
        .conversation(conversation.parse().unwrap(), 0, 500)
        .await
        .unwrap();
    assert!(!messages.is_empty(), "the conversation, offline");
    // Nothing of alex's own is a read to tell anyone of.
    assert!(alex.store().queued().unwrap().is_empty());
    // And a sync with no signal says so, keeping the copy.
    assert!(alex.sync().await.is_err());
    assert!(
        alex.store()
            .record(SyncKind::CrisisPlan, &person)
            .unwrap()
            .is_some()
    );
}

async fn messages_written_in_a_tunnel_arrive_once_in_order_after_a_restart_of_the_app(
    backend: Backend,
) {
    let mut server = TestServer::start(backend).await.unwrap();
    let (phone, alex) = signed_in(&server, "alex").await;
    let conversation = server
        .peer_conversation(&server.login("alex").await.access_token)
        .await;
    server.stop().await;
    let words = ["Into the tunnel", "Still no signal", "Nearly home"];
    for text in words {
        alex.send_message(conversation.parse().unwrap(), text)
            .unwrap();
    }
    // Too long is said at once, by the shared rules, and nothing is queued.
    let refused = alex
        .send_message(conversation.parse().unwrap(), &"x".repeat(20_000))
        .unwrap_err();
    assert!(
        matches!(
            livingwell_engine::PublicError::from(&refused),
            livingwell_engine::PublicError::Invalid { ref fields } if fields[0].field == "body"
        ),
        "{refused:?}"
    );
    let tried = alex.send_queued().await.unwrap();
    assert_eq!(tried.sent, 0);
    assert_eq!(alex.store().queued().unwrap().len(), 3);
    drop(alex);

    // The app is opened again; the signal is back.
    server.restart().await.unwrap();
    let jo = server.login("jo").await;
    let mut stream = open_stream(&server.base_url, &jo, None).await;
    let alex = phone.open();
    alex.network_is_back().await.unwrap();
    assert!(alex.store().queued().unwrap().is_empty());
    // Sending again (a lost answer, a second trigger) sends nothing new.
    alex.send_queued().await.unwrap();

    let page = server
        .get(
            &format!("/v1/conversations/{conversation}/messages?limit=200"),
            &jo.access_token,
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let ours: Vec<&serde_json::Value> = page.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| {
            m["content"]["body"]
                .as_str()
                .is_some_and(|body| words.contains(&body))
        })
        .collect();
    let sent: Vec<&str> = ours
        .iter()
        .filter_map(|m| m["content"]["body"].as_str())
        .collect();
    // Jo's open stream was told of each (events carry ids, never text).
    let last_seq = ours.last().unwrap()["seq"].as_i64().unwrap();
    let received = read_until(
        &mut stream,
        &format!("\"seq\":{last_seq}"),
        Duration::from_secs(10),
    )
    .await;
    for message in &ours {
        let id = message["id"].as_str().unwrap();
        assert_eq!(received.matches(id).count(), 1, "jo's stream: {id} once");
    }
    assert_eq!(sent, words.to_vec(), "each once, in order");
}

async fn a_carers_offline_read_is_in_the_persons_access_log_and_a_revocation_empties_her_phone(
    backend: Backend,
) {
    let mut server = TestServer::start(backend).await.unwrap();
    let alex = server.login("alex").await;
    let person = alex.person_id.clone().unwrap();
    let (_phone, sam) = signed_in(&server, "sam").await;
    server.stop().await;
    let shared: CrisisPlanView = sam
        .show_as(SyncKind::CrisisPlan, &person)
        .await
        .unwrap()
        .expect("alex's shared crisis plan on sam's phone");
    assert!(
        !shared.sections.contains_key("medication"),
        "only what alex shares"
    );
    assert_eq!(sam.store().queued().unwrap().len(), 1, "the read, queued");
    server.restart().await.unwrap();
    sam.network_is_back().await.unwrap();
    assert!(sam.store().queued().unwrap().is_empty());

    let log = server
        .get(
            &format!("/v1/people/{person}/access-log?limit=200"),
            &alex.access_token,
        )
        .await;
    let sam_id = sam.session().user().await.unwrap().user_id.to_string();
    let offline: Vec<_> = log.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor_id"] == sam_id.as_str() && e["via"] == "offline")
        .collect();
    assert_eq!(offline.len(), 1, "{}", log.text);
    assert_eq!(offline[0]["resource"], "crisis_plan");
    assert_eq!(offline[0]["outcome"], "allowed");
    assert!(offline[0]["read_at"].is_string());

    // Alex revokes: sam's next sync empties her phone of alex.
    let consents = server
        .get(&format!("/v1/people/{person}/consents"), &alex.access_token)
        .await;
    let consent = consents.body[0]["id"].as_str().unwrap();
    let revoked = server
        .delete(
            &format!("/v1/people/{person}/consents/{consent}"),
            &alex.access_token,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    // The screen showing alex's plan hears of it once the purge is committed.
    let mut screen = sam.subscribe(View::Record(SyncKind::CrisisPlan, person.clone()));
    let mut outbox = sam.subscribe(View::Outbox);
    sam.sync().await.unwrap();
    let told = tokio::time::timeout(Duration::from_secs(5), screen.changed()).await;
    assert_eq!(told.ok(), Some(true), "the crisis-plan screen was told");
    assert!(
        tokio::time::timeout(Duration::from_millis(200), outbox.changed())
            .await
            .is_err(),
        "a sync does not touch the outbox screen"
    );
    assert!(
        sam.store()
            .record(SyncKind::CrisisPlan, &person)
            .unwrap()
            .is_none()
    );
    assert!(
        sam.store()
            .record(SyncKind::Person, &person)
            .unwrap()
            .is_none()
    );
}

async fn a_wrap_edited_offline_while_the_team_changed_it_keeps_both_until_the_person_chooses(
    backend: Backend,
) {
    let mut server = TestServer::start(backend).await.unwrap();
    let alex_http = server.login("alex").await;
    let person = alex_http.person_id.clone().unwrap();
    let path = format!("/v1/people/{person}/wrap");
    let allowed = server
        .put(
            &format!("{path}/settings"),
            &alex_http.access_token,
            serde_json::json!({"team_may_coauthor": true}),
        )
        .await;
    assert_eq!(allowed.status, StatusCode::NO_CONTENT, "{}", allowed.text);
    let (_phone, alex) = signed_in(&server, "alex").await;
    let held = alex
        .store()
        .record(SyncKind::Wrap, &person)
        .unwrap()
        .unwrap();
    let version = held.data["version"].as_i64().unwrap();

    // On the train: alex adds to their toolbox.
    server.stop().await;
    let mut mine = held.data["wrap"].clone();
    mine["wellness_toolbox"]
        .as_array_mut()
        .unwrap()
        .push("Alex's offline idea".into());
    mine["crisis_plan"]["when_well"] = "Calm, sleeping, seeing friends".into();
    let request =
        serde_json::from_value(serde_json::json!({"base_version": version, "wrap": mine})).unwrap();
    alex.edit_wrap(person.parse().unwrap(), &request).unwrap();
    alex.send_queued().await.unwrap();
    // Her WRAP screen shows her edit at once, before the server has it.
    let shown: livingwell_core::api::plans::WrapView = alex
        .show_as(SyncKind::Wrap, &person)
        .await
        .unwrap()
        .unwrap();
    assert!(
        shown
            .wrap
            .wellness_toolbox
            .contains(&"Alex's offline idea".to_owned())
    );
    let crisis: CrisisPlanView = alex
        .show_as(SyncKind::CrisisPlan, &person)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        crisis.sections["when_well"], "Calm, sleeping, seeing friends",
        "and her crisis plan, which is part of it"
    );

    // Meanwhile priya, co-authoring, changes it on the server.
    server.restart().await.unwrap();
    let priya = server.login("priya").await;
    let mut theirs = held.data["wrap"].clone();
    theirs["wellness_toolbox"]
        .as_array_mut()
        .unwrap()
        .push("Priya's suggestion".into());
    let changed = server
        .put(
            &path,
            &priya.access_token,
            serde_json::json!({"base_version": version, "wrap": theirs}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);

    alex.network_is_back().await.unwrap();
    let conflict = alex
        .conflict(SyncKind::Wrap, &person)
        .unwrap()
        .expect("both versions kept");
    assert!(conflict.draft.to_string().contains("Alex's offline idea"));
    let server_version = conflict.server.expect("the server's version");
    assert!(
        server_version
            .data
            .to_string()
            .contains("Priya's suggestion")
    );
    // Nothing was overwritten: the server still has priya's.
    let now = server.get(&path, &priya.access_token).await;
    assert!(now.text.contains("Priya's suggestion"));
    assert!(!now.text.contains("Alex's offline idea"));

    // Alex keeps theirs, knowingly made on priya's version.
    alex.resolve_conflict(SyncKind::Wrap, &person, Keep::Mine)
        .unwrap();
    alex.send_queued().await.unwrap();
    assert!(alex.store().queued().unwrap().is_empty());
    assert!(alex.conflict(SyncKind::Wrap, &person).unwrap().is_none());
    let kept = server.get(&path, &priya.access_token).await;
    assert!(kept.text.contains("Alex's offline idea"));
    assert_eq!(kept.body["version"].as_i64(), Some(version + 2));
}

async fn signing_out_ends_the_session_and_leaves_no_store_or_key_on_the_phone(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let (phone, alex) = signed_in(&server, "alex").await;
    let conversation = server
        .peer_conversation(&server.login("alex").await.access_token)
        .await;
    alex.send_message(conversation.parse().unwrap(), "unsent at sign-out")
        .unwrap();
    let files = std::fs::read_dir(&phone.config.dir).unwrap().count();
    assert!(files >= 1);
    alex.logout().await.unwrap();
    assert_eq!(
        std::fs::read_dir(&phone.config.dir).unwrap().count(),
        0,
        "database, WAL and shared memory all gone"
    );
    assert!(phone.secrets.get(STORE_KEY).unwrap().is_none());
    assert!(phone.secrets.get(SESSION).unwrap().is_none());
    // A new engine on the phone starts empty and signed out.
    let again = phone.open();
    assert!(again.session().user().await.is_none());
    assert!(again.store().queued().unwrap().is_empty());
}

async fn sharing_more_waits_for_the_password_and_stopping_sharing_never_does(backend: Backend) {
    let (server, clock) = TestServer::start_at(backend, Utc::now()).await.unwrap();
    let sam = server.login("sam").await;
    let (_phone, alex) = signed_in(&server, "alex").await;
    let person = alex.session().user().await.unwrap().person_id.unwrap();
    let path = format!("/v1/people/{person}/consents");
    let before = server
        .get(&path, &server.login("alex").await.access_token)
        .await;
    let open_ended = before.body[0]["id"].as_str().unwrap().to_owned();

    // Eleven minutes after signing in: sharing more needs the password again.
    clock.advance(chrono::Duration::minutes(11));
    let grant = serde_json::from_value(serde_json::json!({
        "carer_id": sam.user_id,
        "scopes": ["crisis_plan"],
        "crisis_plan_sections": ["when_well", "supporters", "help_from_others"],
    }))
    .unwrap();
    alex.share(person, &grant).unwrap();
    alex.revoke(person, &open_ended).unwrap();
    let drained = alex.send_queued().await.unwrap();
    assert_eq!(drained.sent, 1, "the revocation went at once");
    assert_eq!(drained.waiting, 1);
    let waiting = alex.store().queued().unwrap();
    assert_eq!(waiting.len(), 1);
    assert_eq!(
        waiting[0].state,
        livingwell_engine::store::WriteState::StepUp,
        "sign in again to send"
    );

    alex.reauthenticate(PASSWORD).await.unwrap();
    assert!(alex.store().queued().unwrap().is_empty());
    let after = server
        .get(&path, &server.login("alex").await.access_token)
        .await;
    let consents = after.body.as_array().unwrap();
    let in_force: Vec<_> = consents
        .iter()
        .filter(|c| c["revoked_at"].is_null())
        .collect();
    assert_eq!(in_force.len(), 1, "{}", after.text);
    assert_eq!(
        in_force[0]["crisis_plan_sections"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

async fn the_event_stream_wakes_a_sync_and_the_conversation_screen_hears_of_a_new_message(
    backend: Backend,
) {
    let server = TestServer::start(backend).await.unwrap();
    let (_phone, alex) = signed_in(&server, "alex").await;
    let conversation = server
        .peer_conversation(&server.login("alex").await.access_token)
        .await;
    let jo = server.login("jo").await;
    let mut screen = alex.subscribe(View::Conversation(conversation.clone()));
    let listening = alex.stay_in_touch();
    tokio::pin!(listening);
    let arrived = async {
        // Jo writes while alex's app is open; nobody asks alex's phone to sync.
        let sent = server
            .post(
                &format!("/v1/conversations/{conversation}/messages"),
                &jo.access_token,
                serde_json::json!({"client_id": uuid::Uuid::now_v7(), "body": "Are you around at 3?"}),
            )
            .await;
        assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.text);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let held = alex.store().messages(&conversation, 0, 500).unwrap();
            if held
                .iter()
                .any(|m| m.data["content"]["body"] == "Are you around at 3?")
            {
                return;
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            assert!(
                tokio::time::timeout(left, screen.changed()).await.is_ok(),
                "the stream did not bring jo's message within 10 s"
            );
        }
    };
    tokio::select! {
        () = &mut listening => panic!("the engine stopped listening"),
        () = arrived => {}
    }
}

async fn a_case_system_plan_reaches_the_phone_and_an_offline_disagreement_reaches_the_team_once(
    backend: Backend,
) {
    let mut server = TestServer::start(backend).await.unwrap();
    let (_phone, alex) = signed_in(&server, "alex").await;
    let person = alex.session().user().await.unwrap().person_id.unwrap();
    let path = format!("/v1/people/{person}/enablement-plan");

    // The team's case system writes a new version.
    let system = server.client_token(Some("plans:write plans:read")).await;
    let current = server.get(&path, &system).await;
    assert_eq!(current.status, StatusCode::OK, "{}", current.text);
    let version = current.body["version"].as_i64().unwrap();
    let mut plan = current.body["plan"].clone();
    plan["review_on"] = serde_json::json!("2027-04-01");
    let written = server
        .put(
            &path,
            &system,
            serde_json::json!({"base_version": version, "plan": plan}),
        )
        .await;
    assert_eq!(written.status, StatusCode::OK, "{}", written.text);

    alex.sync().await.unwrap();
    let seen: EnablementPlanView = alex
        .show_as(SyncKind::EnablementPlan, &person.to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(i64::from(seen.version), version + 1);

    // On the bus, alex disagrees with a goal.
    server.stop().await;
    let comment = serde_json::from_value(serde_json::json!({
        "section": "goals",
        "body": "I don't agree with this goal",
        "disagree": true,
    }))
    .unwrap();
    alex.comment_on_plan(person, &comment).unwrap();
    alex.send_queued().await.unwrap();
    server.restart().await.unwrap();
    alex.network_is_back().await.unwrap();
    // A second drain (a lost answer retried) adds nothing.
    alex.network_is_back().await.unwrap();

    let priya = server.login("priya").await;
    let comments = server
        .get(&format!("{path}/comments"), &priya.access_token)
        .await;
    assert_eq!(comments.status, StatusCode::OK, "{}", comments.text);
    let disagreements = comments
        .text
        .matches("I don't agree with this goal")
        .count();
    assert_eq!(disagreements, 1, "reaches the team once");
}

async fn a_narrowed_share_reaches_the_carers_phone_sealed_and_leaves_it_when_it_runs_out(
    backend: Backend,
) {
    let start = Utc::now();
    let (server, clock) = TestServer::start_at(backend, start).await.unwrap();
    let (_alex_phone, alex) = signed_in(&server, "alex").await;
    let person = alex.session().user().await.unwrap().person_id.unwrap();
    let sam_http = server.login("sam").await;
    let consents = server
        .get(
            &format!("/v1/people/{person}/consents"),
            &server.login("alex").await.access_token,
        )
        .await;
    let open_ended = consents.body[0]["id"].as_str().unwrap().to_owned();

    // Alex narrows sam's share to three sections, for the next hour.
    alex.revoke(person, &open_ended).unwrap();
    let narrower = serde_json::from_value(serde_json::json!({
        "carer_id": sam_http.user_id,
        "scopes": ["crisis_plan"],
        "crisis_plan_sections": ["when_well", "supporters", "help_from_others"],
        "expires_at": start + chrono::Duration::hours(1),
    }))
    .unwrap();
    alex.share(person, &narrower).unwrap();
    let drained = alex.send_queued().await.unwrap();
    assert_eq!(drained.sent, 2, "{drained:?}");

    let (sam_phone, sam) = signed_in(&server, "sam").await;
    let held = sam
        .store()
        .record(SyncKind::CrisisPlan, &person.to_string())
        .unwrap()
        .expect("the shared crisis plan");
    let sections: Vec<&String> = held.data["sections"].as_object().unwrap().keys().collect();
    assert_eq!(sections, ["help_from_others", "supporters", "when_well"]);
    // Nothing of the plan is readable in sam's files: not the shared sections, not the rest.
    let whole = alex
        .store()
        .record(SyncKind::CrisisPlan, &person.to_string())
        .unwrap()
        .unwrap();
    let mut texts = Vec::new();
    collect_strings(&whole.data["sections"], &mut texts);
    let texts: Vec<String> = texts.into_iter().filter(|t| t.len() >= 12).collect();
    assert!(!texts.is_empty());
    for entry in std::fs::read_dir(&sam_phone.config.dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        for text in &texts {
            assert!(
                !bytes.windows(text.len()).any(|w| w == text.as_bytes()),
                "a crisis-plan text is readable in sam's files"
            );
        }
    }

    // The hour passes with nothing written: sam's next sync takes the plan off her phone.
    clock.advance(chrono::Duration::hours(2));
    sam.sync().await.unwrap();
    assert!(
        sam.store()
            .record(SyncKind::CrisisPlan, &person.to_string())
            .unwrap()
            .is_none()
    );
}

/// Every string in a JSON value.
fn collect_strings(value: &serde_json::Value, into: &mut Vec<String>) {
    match value {
        serde_json::Value::String(text) => into.push(text.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_strings(v, into)),
        serde_json::Value::Object(fields) => fields.values().for_each(|v| collect_strings(v, into)),
        _ => {}
    }
}

async fn the_other_actions_go_through_the_outbox_and_reach_the_server(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let (_alex_phone, alex) = signed_in(&server, "alex").await;
    let (_jo_phone, jo) = signed_in(&server, "jo").await;
    let person = alex.session().user().await.unwrap().person_id.unwrap();
    let id = person.to_string();
    let plan: EnablementPlanView = alex
        .show_as(SyncKind::EnablementPlan, &id)
        .await
        .unwrap()
        .unwrap();

    let activate = serde_json::from_value(serde_json::json!({"reason": "A hard night"})).unwrap();
    alex.activate_crisis_plan(person, &activate).unwrap();
    alex.deactivate_crisis_plan(person).unwrap();
    let agree = serde_json::from_value(serde_json::json!({"version": plan.version})).unwrap();
    alex.agree_to_plan(person, &agree).unwrap();
    let device = serde_json::from_value(
        serde_json::json!({"platform": "fcm", "token": "engine-journey-device-token"}),
    )
    .unwrap();
    alex.register_device(&device).unwrap();
    let drained = alex.send_queued().await.unwrap();
    assert_eq!(drained.sent, 4, "{drained:?}");
    assert!(alex.store().queued().unwrap().is_empty());

    let hours = serde_json::from_value(serde_json::json!({
        "weekly_hours": [{"day": "mon", "start": "09:00", "end": "13:00"}],
        "away": false,
    }))
    .unwrap();
    jo.set_working_hours(&hours).unwrap();
    assert_eq!(jo.send_queued().await.unwrap().sent, 1);

    // On the server: one activation, ended; the agreement; jo's hours.
    let priya = server.login("priya").await;
    let crisis = server
        .get(&format!("/v1/people/{id}/crisis-plan"), &priya.access_token)
        .await;
    let history = crisis.body["history"].as_array().unwrap();
    assert_eq!(history.len(), 1, "{}", crisis.text);
    assert!(history[0]["deactivated_at"].is_string());
    assert!(crisis.body["activation"].is_null());
    let agreed = server
        .get(
            &format!("/v1/people/{id}/enablement-plan"),
            &priya.access_token,
        )
        .await;
    assert!(
        agreed.body["agreements"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["version"] == plan.version && a["agreed_by"]["role"] == "service_user")
    );
    let jo_http = server.login("jo").await;
    let set = server
        .get("/v1/me/availability", &jo_http.access_token)
        .await;
    assert_eq!(
        set.body["weekly_hours"].as_array().unwrap().len(),
        1,
        "{}",
        set.text
    );

    // A refused write waits for the person, who discards it.
    let nowhere = serde_json::from_value(serde_json::json!({"version": 999})).unwrap();
    alex.agree_to_plan(person, &nowhere).unwrap();
    let drained = alex.send_queued().await.unwrap();
    assert_eq!(drained.waiting, 1, "{drained:?}");
    let refused = alex.store().queued().unwrap().remove(0);
    assert!(matches!(
        refused.state,
        livingwell_engine::store::WriteState::Wedged { .. }
    ));
    alex.discard(refused.id).unwrap();
    assert!(alex.store().queued().unwrap().is_empty());
}

async fn a_workshop_place_is_cancelled_and_booked_again_through_the_outbox(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let (_phone, alex) = signed_in(&server, "alex").await;
    let person = alex.session().user().await.unwrap().person_id.unwrap();
    let booking = alex
        .store()
        .records(SyncKind::Booking)
        .unwrap()
        .into_iter()
        .find(|b| b.data["status"] == "booked")
        .expect("alex's place on the WRAP group");
    let programme = booking.data["programme_id"].as_str().unwrap().to_owned();

    alex.cancel_booking(&programme, &booking.id).unwrap();
    assert_eq!(alex.send_queued().await.unwrap().sent, 1);
    alex.sync().await.unwrap();
    let cancelled = alex
        .store()
        .record(SyncKind::Booking, &booking.id)
        .unwrap()
        .unwrap();
    assert_eq!(cancelled.data["status"], "cancelled", "{}", cancelled.data);

    let again = serde_json::from_value(serde_json::json!({})).unwrap();
    alex.book(&programme, &again).unwrap();
    assert_eq!(alex.send_queued().await.unwrap().sent, 1);
    let bookings = server
        .get(
            &format!("/v1/people/{person}/bookings"),
            &server.login("alex").await.access_token,
        )
        .await;
    let live = bookings
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["programme_id"] == programme.as_str() && b["status"] != "cancelled")
        .count();
    assert_eq!(live, 1, "{}", bookings.text);
}

async fn a_message_shows_at_once_as_queued_then_sent_and_read_and_reading_clears_the_unread_count(
    backend: Backend,
) {
    let mut server = TestServer::start(backend).await.unwrap();
    let (_phone, alex) = signed_in(&server, "alex").await;
    let conversation = server
        .peer_conversation(&server.login("alex").await.access_token)
        .await;
    let id: livingwell_core::domain::message::ConversationId = conversation.parse().unwrap();
    let mut screen = alex.subscribe(View::Conversation(conversation.clone()));

    // In the tunnel: the message is on the screen the moment it is written.
    server.stop().await;
    alex.send_message(id, "On my way").unwrap();
    tokio::time::timeout(Duration::from_secs(1), screen.changed())
        .await
        .expect("the conversation screen hears of the queued message");
    let shown = alex.conversation(id, 0, 500).await.unwrap();
    let last = shown.last().unwrap();
    assert_eq!(
        last.content,
        MessageContent::Text {
            body: "On my way".into()
        }
    );
    assert!(last.mine);
    assert_eq!(last.state, MessageState::Queued);
    assert_eq!(last.seq, None);
    assert!(
        last.queued.is_some(),
        "it can be retried, edited or discarded"
    );

    // The signal returns: sent, once, in its place.
    server.restart().await.unwrap();
    alex.network_is_back().await.unwrap();
    let shown = alex.conversation(id, 0, 500).await.unwrap();
    let ours: Vec<_> = shown.iter().filter(|m| m.content == last.content).collect();
    assert_eq!(ours.len(), 1, "shown once: {shown:?}");
    let seq = ours[0].seq.expect("the server's number");
    assert_eq!(ours[0].state, MessageState::Sent);
    assert_eq!(ours[0].client_id, last.client_id);
    assert!(ours[0].queued.is_none());

    // jo reads it; alex's next sync shows it read.
    let jo = server.login("jo").await;
    let read = server
        .post(
            &format!("/v1/conversations/{conversation}/read"),
            &jo.access_token,
            serde_json::json!({"up_to_seq": seq}),
        )
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    alex.sync().await.unwrap();
    let shown = alex.conversation(id, seq - 1, 1).await.unwrap();
    assert_eq!(shown.len(), 1, "a page of one");
    assert_eq!(shown[0].state, MessageState::Read);

    // jo answers; alex opens the conversation offline, and it is read at once on her phone.
    let answer = server
        .post(
            &format!("/v1/conversations/{conversation}/messages"),
            &jo.access_token,
            serde_json::json!({"client_id": uuid::Uuid::now_v7(), "body": "See you soon"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    alex.sync().await.unwrap();
    let unread = |alex: &Engine| {
        let held = alex
            .store()
            .record(SyncKind::Conversation, &conversation)
            .unwrap()
            .unwrap();
        serde_json::from_value::<ConversationView>(held.data).unwrap()
    };
    let before = unread(&alex);
    assert!(before.unread_count >= 1, "{before:?}");
    server.stop().await;
    alex.mark_read(id, before.last_seq).await.unwrap();
    let after = unread(&alex);
    assert_eq!((after.read_seq, after.unread_count), (before.last_seq, 0));
    server.restart().await.unwrap();
    alex.network_is_back().await.unwrap();
    let listed = server
        .get(
            "/v1/conversations",
            &server.login("alex").await.access_token,
        )
        .await;
    let on_server = listed.body["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == conversation.as_str())
        .unwrap()
        .clone();
    assert_eq!(on_server["read_seq"], before.last_seq);
    assert_eq!(on_server["unread_count"], 0);
}

async fn what_was_sent_comes_back_without_a_sync_and_an_open_app_sends_what_is_due_by_itself(
    backend: Backend,
) {
    let server = TestServer::start(backend).await.unwrap();
    let mut phone = Phone::new(&server);
    phone.config.keep_up_every = Duration::from_millis(300);
    let alex = phone.open();
    alex.sign_in("alex", PASSWORD).await.unwrap();
    alex.sync().await.unwrap();
    let person = alex.session().user().await.unwrap().person_id.unwrap();

    // After the outbox drains, the store catches up: the crisis plan shows in use, with no
    // sync asked for.
    let request = serde_json::from_value(serde_json::json!({"reason": "Not sleeping"})).unwrap();
    alex.activate_crisis_plan(person, &request).unwrap();
    let drained = alex.send_queued().await.unwrap();
    assert_eq!(drained.sent, 1);
    let plan: CrisisPlanView = alex
        .store()
        .record(SyncKind::CrisisPlan, &person.to_string())
        .unwrap()
        .map(|held| serde_json::from_value(held.data).unwrap())
        .unwrap();
    assert!(
        plan.activation.is_some(),
        "in use, from the sync after the drain"
    );

    // While the app is open, a write queued with nothing else happening goes by itself.
    let conversation = server
        .peer_conversation(&server.login("alex").await.access_token)
        .await;
    let listening = alex.stay_in_touch();
    tokio::pin!(listening);
    let sent = async {
        alex.send_message(conversation.parse().unwrap(), "Checking in")
            .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !alex.store().queued().unwrap().is_empty() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the open app did not send its queued message within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::select! {
        () = &mut listening => panic!("the engine stopped listening"),
        () = sent => {}
    }
    let jo = server.login("jo").await;
    let page = server
        .get(
            &format!("/v1/conversations/{conversation}/messages?limit=200"),
            &jo.access_token,
        )
        .await;
    assert_eq!(page.text.matches("Checking in").count(), 1);
}

async fn an_invited_person_joins_on_their_phone_and_takes_a_workshop_place_offered_from_the_waitlist(
    backend: Backend,
) {
    let server = TestServer::start(backend).await.unwrap();
    let accept = |code: String, username: &str| {
        serde_json::from_value::<livingwell_core::api::accounts::AcceptInvitationRequest>(
            serde_json::json!({"code": code, "username": username, "password": PASSWORD}),
        )
        .unwrap()
    };

    // Nova is invited, and joins on her phone with the code priya gave her.
    let (_, code) = server.invite_to_alexs_team("Nova Quinn").await;
    let phone = Phone::new(&server);
    let nova = phone.open();
    let joined = nova.accept_invitation(&accept(code, "nova")).await.unwrap();
    assert_eq!(joined.role, livingwell_core::domain::Role::ServiceUser);
    let person = joined.person_id.expect("her own person record");
    nova.sync().await.unwrap();
    assert!(
        nova.store()
            .record(SyncKind::Account, &joined.user_id.to_string())
            .unwrap()
            .is_some(),
        "her account is on her phone"
    );

    // The WRAP group's last place goes to someone else; nova joins the waitlist.
    let alex = server.login("alex").await;
    let programmes = server.get("/v1/programmes", &alex.access_token).await;
    let group = programmes.body["programmes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["title"] == "WRAP group")
        .cloned()
        .expect("the demo WRAP group");
    let programme = group["id"].as_str().unwrap().to_owned();
    assert_eq!(group["places_left"], 1, "{group}");
    let (_, other_code) = server.invite_to_alexs_team("Remy Shaw").await;
    let other_phone = Phone::new(&server);
    let other = other_phone.open();
    other
        .accept_invitation(&accept(other_code, "remy"))
        .await
        .unwrap();
    other
        .book(
            &programme,
            &serde_json::from_value(serde_json::json!({})).unwrap(),
        )
        .unwrap();
    assert_eq!(other.send_queued().await.unwrap().sent, 1);
    nova.book(
        &programme,
        &serde_json::from_value(serde_json::json!({})).unwrap(),
    )
    .unwrap();
    assert_eq!(nova.send_queued().await.unwrap().sent, 1);
    let waiting = nova.store().records(SyncKind::Booking).unwrap();
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    assert_eq!(
        waiting[0].data["status"], "waitlisted",
        "{}",
        waiting[0].data
    );
    let booking = waiting[0].id.clone();

    // Alex gives up her place: it is offered to nova, whose next sync shows the offer.
    let (_alex_phone, alex_engine) = signed_in(&server, "alex").await;
    let held = alex_engine
        .store()
        .records(SyncKind::Booking)
        .unwrap()
        .into_iter()
        .find(|b| b.data["status"] == "booked" && b.data["programme_id"] == programme.as_str())
        .expect("alex's place on the WRAP group");
    alex_engine.cancel_booking(&programme, &held.id).unwrap();
    assert_eq!(alex_engine.send_queued().await.unwrap().sent, 1);
    nova.sync().await.unwrap();
    let offered = nova
        .store()
        .record(SyncKind::Booking, &booking)
        .unwrap()
        .unwrap();
    assert_eq!(offered.data["status"], "offered", "{}", offered.data);

    // She takes it, through the outbox.
    let yes = serde_json::from_value(serde_json::json!({"decision": "accept"})).unwrap();
    nova.answer_offer(&programme, &booking, &yes).unwrap();
    assert_eq!(nova.send_queued().await.unwrap().sent, 1);
    let taken = nova
        .store()
        .record(SyncKind::Booking, &booking)
        .unwrap()
        .unwrap();
    assert_eq!(taken.data["status"], "booked", "{}", taken.data);
    let on_server = server
        .get(
            &format!("/v1/people/{person}/bookings"),
            &server.login("nova").await.access_token,
        )
        .await;
    assert_eq!(on_server.status, StatusCode::OK, "{}", on_server.text);
    assert!(on_server.text.contains("\"booked\""), "{}", on_server.text);
}

async fn a_peer_worker_sees_their_people_offline_and_opening_a_shared_summary_is_in_the_log(
    backend: Backend,
) {
    let mut server = TestServer::start(backend).await.unwrap();
    let (_alex_phone, alex) = signed_in(&server, "alex").await;
    let person = alex.session().user().await.unwrap().person_id.unwrap();
    let (_jo_phone, jo) = signed_in(&server, "jo").await;
    let jo_id = jo.session().user().await.unwrap().user_id;

    // Alex shares her plan with jo, who sees its summary (SPEC §2).
    let share = serde_json::from_value(serde_json::json!({
        "peer_worker_id": jo_id,
        "scopes": ["enablement_plan"],
    }))
    .unwrap();
    alex.share(person, &share).unwrap();
    assert_eq!(alex.send_queued().await.unwrap().sent, 1);
    jo.sync().await.unwrap();

    // On a home visit with no signal: jo's people, and alex's summary.
    server.stop().await;
    let people = jo.people().await.unwrap();
    assert!(
        people.iter().any(|p| p.id == person),
        "alex among jo's people: {people:?}"
    );
    assert!(
        jo.store().queued().unwrap().is_empty(),
        "a list of names is no read"
    );
    let summary = jo
        .show(SyncKind::EnablementPlanSummary, &person.to_string())
        .await
        .unwrap();
    assert!(
        summary.is_some(),
        "the summary alex shares is on jo's phone"
    );
    assert!(
        jo.show(SyncKind::EnablementPlan, &person.to_string())
            .await
            .unwrap()
            .is_none(),
        "never the whole plan"
    );
    assert_eq!(jo.store().queued().unwrap().len(), 1, "the read, queued");
    server.restart().await.unwrap();
    jo.network_is_back().await.unwrap();

    let log = server
        .get(
            &format!("/v1/people/{person}/access-log?limit=200"),
            &server.login("alex").await.access_token,
        )
        .await;
    let offline: Vec<_> = log.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor_id"] == jo_id.to_string().as_str() && e["via"] == "offline")
        .collect();
    assert_eq!(offline.len(), 1, "{}", log.text);
    assert_eq!(offline[0]["resource"], "enablement_plan_summary");
    assert_eq!(offline[0]["outcome"], "allowed");

    // Alex's phone shows it in her access log after her next sync, newest first.
    alex.sync().await.unwrap();
    let shown = alex.access_log().unwrap();
    assert!(
        shown.windows(2).all(|pair| pair[0].seq > pair[1].seq),
        "newest first"
    );
    assert!(
        shown.iter().any(
            |entry| entry.actor_id.as_deref() == Some(jo_id.to_string().as_str())
                && entry.resource == "enablement_plan_summary"
        ),
        "jo's offline read on alex's phone: {shown:?}"
    );
}

async fn what_the_phone_does_not_keep_is_read_from_the_server_and_a_queued_message_is_rewritten(
    backend: Backend,
) {
    let server = TestServer::start(backend).await.unwrap();
    let (_alex_phone, alex) = signed_in(&server, "alex").await;
    let (_jo_phone, jo) = signed_in(&server, "jo").await;
    let person = alex.session().user().await.unwrap().person_id.unwrap();

    // The workshop catalogue and the plan's comments come from the server; the person's own
    // places from the store.
    let workshops = alex.workshops(&Default::default()).await.unwrap();
    let group = workshops
        .programmes
        .iter()
        .find(|p| p.title == "WRAP group")
        .expect("the demo's WRAP group");
    assert_eq!(group.places_left, Some(1));
    let bookings = alex.bookings().unwrap();
    assert_eq!(bookings.len(), 1);
    assert_eq!(bookings[0].programme_id, group.id);
    let comments = alex
        .plan_comments(person, &Default::default())
        .await
        .unwrap();
    assert_eq!(comments.comments.len(), 1, "the demo's comment");
    assert_eq!(jo.working_hours().await.unwrap().weekly_hours.len(), 5);
    let refused = alex.working_hours().await.unwrap_err();
    assert_eq!(
        PublicError::from(&refused),
        PublicError::Forbidden,
        "only a peer worker has hours"
    );

    // A queued message rewritten before it went is sent once, as rewritten.
    let peer = alex
        .conversations()
        .unwrap()
        .into_iter()
        .find(|c| c.kind == livingwell_core::domain::message::ConversationKind::Peer)
        .unwrap();
    let queued = alex.send_message(peer.id, "Helo Jo").unwrap();
    alex.edit_message(queued.id, "Hello Jo").unwrap();
    let empty = alex.edit_message(queued.id, "").unwrap_err();
    assert!(matches!(empty, EngineError::Invalid { .. }), "{empty:?}");
    let gone = alex.edit_message(queued.id + 1_000, "Hello").unwrap_err();
    assert!(matches!(gone, EngineError::NotQueued), "{gone:?}");
    assert_eq!(alex.send_queued().await.unwrap().sent, 1);
    jo.sync().await.unwrap();
    let texts: Vec<String> = jo
        .conversation(peer.id, 0, 500)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|shown| match shown.content {
            MessageContent::Text { body } if body.starts_with("Hel") => Some(body),
            _ => None,
        })
        .collect();
    assert_eq!(texts, ["Hello Jo"]);
}
