//! The Enablement Plan, the WRAP and the crisis plan: versions, sharing, activation.

use livingwell_tests::{Backend, Session, TestServer, on_both_databases, read};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_databases!(
    stale_staff_write_is_refused_and_leaves_the_stored_version_intact,
    history_lists_every_version_with_its_author,
    if_match_header_carries_the_base_version,
    a_reader_is_told_not_modified_until_anything_it_would_see_changes,
    carer_sees_exactly_the_consented_crisis_sections,
    revoked_carer_gets_not_found_on_the_next_request,
    expired_grant_behaves_like_a_revoked_one,
    grant_to_someone_on_the_wraps_do_not_involve_list_is_refused,
    activation_notifies_the_consented_carer_and_the_team,
    activation_reaches_an_open_event_stream,
    person_comments_disagrees_and_agrees_and_staff_see_it,
    unicode_plan_text_round_trips,
    printable_crisis_plan_escapes_what_people_typed,
    outcome_trajectory_starts_at_the_baseline,
    every_plan_read_and_write_is_audited,
    the_wrap_is_the_persons_own,
    invalid_plans_are_refused_naming_the_field,
);

struct Alex {
    server: TestServer,
    alex: Session,
    person: String,
}

async fn start(backend: Backend) -> Alex {
    alex_on(TestServer::start(backend).await.unwrap()).await
}

/// Alex signed in on `server`.
async fn alex_on(server: TestServer) -> Alex {
    let alex = server.login("alex").await;
    let person = alex.person_id.clone().unwrap();
    Alex {
        server,
        alex,
        person,
    }
}

impl Alex {
    fn path(&self, rest: &str) -> String {
        format!("/v1/people/{}{rest}", self.person)
    }
}

async fn current_plan(a: &Alex, token: &str) -> Value {
    let reply = a.server.get(&a.path("/enablement-plan"), token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.body
}

async fn put_plan(a: &Alex, token: &str, base: i64, plan: Value) -> livingwell_tests::Reply {
    a.server
        .put(
            &a.path("/enablement-plan"),
            token,
            json!({"base_version": base, "plan": plan}),
        )
        .await
}

async fn stale_staff_write_is_refused_and_leaves_the_stored_version_intact(backend: Backend) {
    let a = start(backend).await;
    let priya = a.server.login("priya").await;
    let before = current_plan(&a, &priya.access_token).await;
    assert_eq!(before["version"], 1);

    let mut plan = before["plan"].clone();
    plan["review_on"] = json!("2027-03-01");
    let first = put_plan(&a, &priya.access_token, 1, plan.clone()).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.body["version"], 2);
    let etag = first.headers["etag"].to_str().unwrap();
    assert!(etag.starts_with("\"2-"), "{etag}");

    // A second writer who opened version 1 does not overwrite version 2.
    let mut other = before["plan"].clone();
    other["review_on"] = json!("2027-04-01");
    let stale = put_plan(&a, &priya.access_token, 1, other).await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert_eq!(stale.code(), "conflict");
    assert_eq!(stale.body["current_version"], 2);
    assert_eq!(stale.fields(), ["base_version"]);
    let after = current_plan(&a, &priya.access_token).await;
    assert_eq!(after["version"], 2);
    assert_eq!(after["plan"]["review_on"], "2027-03-01");

    // Without a base version nothing is written either.
    let missing = a
        .server
        .put(
            &a.path("/enablement-plan"),
            &priya.access_token,
            json!({"plan": plan}),
        )
        .await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(missing.fields(), ["base_version"]);
}

async fn history_lists_every_version_with_its_author(backend: Backend) {
    let a = start(backend).await;
    let priya = a.server.login("priya").await;
    let plan = current_plan(&a, &priya.access_token).await["plan"].clone();
    put_plan(&a, &priya.access_token, 1, plan.clone()).await;
    // The current plan names its author where the author is an account.
    let read = current_plan(&a, &a.alex.access_token).await;
    assert_eq!(read["author"]["name"], "Priya Natarajan");
    let system = a.server.client_token(Some("plans:write plans:read")).await;
    let by_system = put_plan(&a, &system, 2, plan).await;
    assert_eq!(by_system.status, StatusCode::OK, "{}", by_system.text);
    let read = current_plan(&a, &a.alex.access_token).await;
    assert_eq!(read["author"]["id"], "client:case-system");
    assert_eq!(read["author"].get("name"), None, "{read}");

    let history = a
        .server
        .get(&a.path("/enablement-plan/versions"), &a.alex.access_token)
        .await;
    assert_eq!(history.status, StatusCode::OK, "{}", history.text);
    let versions = history.body["versions"].as_array().unwrap();
    let listed: Vec<(i64, &str)> = versions
        .iter()
        .map(|v| {
            (
                v["version"].as_i64().unwrap(),
                v["author"]["role"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            (3, "staff_system"),
            (2, "practitioner"),
            (1, "practitioner")
        ]
    );
    assert_eq!(versions[1]["author"]["name"], "Priya Natarajan");
    assert_eq!(versions[0]["author"]["id"], "client:case-system");
    let first = a
        .server
        .get(&a.path("/enablement-plan/versions/1"), &a.alex.access_token)
        .await;
    assert_eq!(first.body["version"], 1);
    let none = a
        .server
        .get(&a.path("/enablement-plan/versions/9"), &a.alex.access_token)
        .await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
}

async fn if_match_header_carries_the_base_version(backend: Backend) {
    let a = start(backend).await;
    let priya = a.server.login("priya").await;
    let plan = current_plan(&a, &priya.access_token).await["plan"].clone();
    let send = |etag: &'static str| {
        a.server
            .http
            .put(a.server.url(&a.path("/enablement-plan")))
            .bearer_auth(&priya.access_token)
            .header("if-match", etag)
            .json(&json!({"plan": plan}))
    };
    assert_eq!(read(send("\"1\"")).await.status, StatusCode::OK);
    let stale = read(send("\"1\"")).await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert_eq!(stale.body["current_version"], 2);
}

/// A read sent with `If-None-Match`.
async fn get_if_none_match(
    a: &Alex,
    path: &str,
    token: &str,
    etag: &str,
) -> livingwell_tests::Reply {
    read(
        a.server
            .http
            .get(a.server.url(&a.path(path)))
            .bearer_auth(token)
            .header("if-none-match", etag),
    )
    .await
}

fn etag_of(reply: &livingwell_tests::Reply) -> String {
    reply.headers["etag"].to_str().unwrap().to_owned()
}

async fn a_reader_is_told_not_modified_until_anything_it_would_see_changes(backend: Backend) {
    let a = start(backend).await;
    let token = a.alex.access_token.clone();
    let priya = a.server.login("priya").await;
    let opened = a.server.get(&a.path("/enablement-plan"), &token).await;
    let first = etag_of(&opened);
    assert!(first.starts_with("\"1-"), "{first}");

    let audited = a.server.audit_count(&a.person).await;
    let unchanged = get_if_none_match(&a, "/enablement-plan", &token, &first).await;
    assert_eq!(unchanged.status, StatusCode::NOT_MODIFIED);
    assert!(unchanged.text.is_empty());
    assert_eq!(etag_of(&unchanged), first);
    assert_eq!(
        a.server.audit_count(&a.person).await,
        audited + 1,
        "a read answered 304 is still a read of the record"
    );
    let listed = format!("\"0-00\", W/{first}");
    assert_eq!(
        get_if_none_match(&a, "/enablement-plan", &token, &listed)
            .await
            .status,
        StatusCode::NOT_MODIFIED
    );

    // The tag as given is a base for a write.
    let written = read(
        a.server
            .http
            .put(a.server.url(&a.path("/enablement-plan")))
            .bearer_auth(&priya.access_token)
            .header("if-match", &first)
            .json(&json!({"plan": opened.body["plan"]})),
    )
    .await;
    assert_eq!(written.status, StatusCode::OK, "{}", written.text);
    let second = etag_of(&written);
    assert!(second.starts_with("\"2-"), "{second}");
    assert_eq!(
        get_if_none_match(&a, "/enablement-plan", &token, &first)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        get_if_none_match(&a, "/enablement-plan", &token, &second)
            .await
            .status,
        StatusCode::NOT_MODIFIED
    );

    // Agreeing adds to what is shown without a new version: the tag no longer matches.
    let agreed = a
        .server
        .post(
            &a.path("/enablement-plan/agreement"),
            &token,
            json!({"version": 2}),
        )
        .await;
    assert_eq!(agreed.status, StatusCode::CREATED, "{}", agreed.text);
    let after = get_if_none_match(&a, "/enablement-plan", &token, &second).await;
    assert_eq!(after.status, StatusCode::OK);
    assert_eq!(after.body["agreements"][0]["version"], 2);
    let third = etag_of(&after);
    assert!(third.starts_with("\"2-") && third != second, "{third}");

    // The crisis plan changes when it is put into use, with no new WRAP version.
    let crisis = crisis_plan_as(&a, &token).await;
    let before = etag_of(&crisis);
    assert_eq!(
        get_if_none_match(&a, "/crisis-plan", &token, &before)
            .await
            .status,
        StatusCode::NOT_MODIFIED
    );
    let activated = a
        .server
        .post(
            &a.path("/crisis-plan/activation"),
            &token,
            json!({"reason": "Things are getting hard"}),
        )
        .await;
    assert_eq!(activated.status, StatusCode::CREATED, "{}", activated.text);
    let active = get_if_none_match(&a, "/crisis-plan", &token, &before).await;
    assert_eq!(active.status, StatusCode::OK);
    assert!(active.body["activation"].is_object());
    assert_ne!(etag_of(&active), before);
}

async fn crisis_plan_as(a: &Alex, token: &str) -> livingwell_tests::Reply {
    a.server.get(&a.path("/crisis-plan"), token).await
}

async fn carer_sees_exactly_the_consented_crisis_sections(backend: Backend) {
    let a = start(backend).await;
    let sam = a.server.login("sam").await;
    let reply = crisis_plan_as(&a, &sam.access_token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let sections = reply.body["sections"].as_object().unwrap();
    let mut keys: Vec<&str> = sections.keys().map(String::as_str).collect();
    keys.sort_unstable();
    // Sections 1–3 and 8 of the crisis plan; medication and the rest are absent, not null.
    assert_eq!(
        keys,
        [
            "help_from_others",
            "signs_others_take_over",
            "supporters",
            "when_well"
        ]
    );
    assert!(!reply.text.contains("medication"));
    assert!(!reply.text.contains("Sertraline"));
    // The person sees all of it.
    let own = crisis_plan_as(&a, &a.alex.access_token).await;
    assert_eq!(own.body["sections"].as_object().unwrap().len(), 11);
    assert!(own.text.contains("Sertraline"));
    // Sam does not see the rest of the WRAP, nor the enablement plan (not shared).
    assert_eq!(
        a.server
            .get(&a.path("/wrap"), &sam.access_token)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        a.server
            .get(&a.path("/enablement-plan"), &sam.access_token)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

async fn consent_id(a: &Alex) -> String {
    let consents = a
        .server
        .get(&a.path("/consents"), &a.alex.access_token)
        .await;
    consents.body[0]["id"].as_str().unwrap().to_owned()
}

async fn revoked_carer_gets_not_found_on_the_next_request(backend: Backend) {
    let a = start(backend).await;
    let sam = a.server.login("sam").await;
    assert_eq!(
        crisis_plan_as(&a, &sam.access_token).await.status,
        StatusCode::OK
    );
    let id = consent_id(&a).await;
    a.server
        .delete(&a.path(&format!("/consents/{id}")), &a.alex.access_token)
        .await;
    let after = crisis_plan_as(&a, &sam.access_token).await;
    assert_eq!(after.status, StatusCode::NOT_FOUND);
    assert!(!after.text.contains("allotment"));
}

async fn expired_grant_behaves_like_a_revoked_one(backend: Backend) {
    let (server, clock) = TestServer::start_at(backend, chrono::Utc::now())
        .await
        .unwrap();
    let a = alex_on(server).await;
    let sam = a.server.login("sam").await;
    let id = consent_id(&a).await;
    a.server
        .delete(&a.path(&format!("/consents/{id}")), &a.alex.access_token)
        .await;
    let expires_at = clock.now() + chrono::Duration::minutes(2);
    let grant = a
        .server
        .post(
            &a.path("/consents"),
            &a.alex.access_token,
            json!({"carer_id": sam.user_id, "scopes": ["crisis_plan"], "crisis_plan_sections": ["when_well"], "expires_at": expires_at}),
        )
        .await;
    assert_eq!(grant.status, StatusCode::CREATED, "{}", grant.text);
    let during = crisis_plan_as(&a, &sam.access_token).await;
    assert_eq!(during.body["sections"].as_object().unwrap().len(), 1);
    clock.advance(chrono::Duration::minutes(2));
    assert_eq!(
        crisis_plan_as(&a, &sam.access_token).await.status,
        StatusCode::NOT_FOUND
    );
}

async fn grant_to_someone_on_the_wraps_do_not_involve_list_is_refused(backend: Backend) {
    let a = start(backend).await;
    let sam = a.server.login("sam").await;
    let wrap = a.server.get(&a.path("/wrap"), &a.alex.access_token).await;
    assert_eq!(wrap.status, StatusCode::OK, "{}", wrap.text);
    let mut body = wrap.body["wrap"].clone();
    // Sam moves from supporter to "people I do not want involved".
    body["crisis_plan"]["supporters"]["helpers"]
        .as_array_mut()
        .unwrap()
        .remove(0);
    body["crisis_plan"]["supporters"]["not_involved"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "Sam Rivers", "why": "Not right now.", "user_id": sam.user_id}));
    let saved = a
        .server
        .put(
            &a.path("/wrap"),
            &a.alex.access_token,
            json!({"base_version": 1, "wrap": body}),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.text);
    // Sam's consent ended with it.
    assert_eq!(
        crisis_plan_as(&a, &sam.access_token).await.status,
        StatusCode::NOT_FOUND
    );
    let grant = a
        .server
        .post(
            &a.path("/consents"),
            &a.alex.access_token,
            json!({"carer_id": sam.user_id, "scopes": ["crisis_plan"]}),
        )
        .await;
    assert_eq!(grant.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(grant.fields(), ["carer_id"]);
    assert_eq!(grant.body["fields"][0]["code"], "do_not_involve");
}

async fn notifications(server: &TestServer, token: &str) -> Vec<Value> {
    let reply = server.get("/v1/notifications", token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.body["notifications"].as_array().unwrap().clone()
}

async fn activation_notifies_the_consented_carer_and_the_team(backend: Backend) {
    let a = start(backend).await;
    let sam = a.server.login("sam").await;
    let priya = a.server.login("priya").await;
    let jo = a.server.login("jo").await;
    let morgan = a.server.login("morgan").await;
    let activated = a
        .server
        .post(
            &a.path("/crisis-plan/activation"),
            &a.alex.access_token,
            json!({"reason": "Not sleeping, scared"}),
        )
        .await;
    assert_eq!(activated.status, StatusCode::CREATED, "{}", activated.text);
    for session in [&sam, &priya, &jo] {
        let events = notifications(&a.server, &session.access_token).await;
        let event = events
            .iter()
            .find(|e| e["kind"] == "crisis_plan_activated")
            .expect("notified");
        assert_eq!(event["person_id"], a.person.as_str());
        // Ids only: the reason is read through the API, by those allowed.
        assert!(!event.to_string().contains("scared"));
    }
    assert!(
        notifications(&a.server, &morgan.access_token)
            .await
            .is_empty()
    );
    assert!(
        notifications(&a.server, &a.alex.access_token)
            .await
            .is_empty(),
        "not told of own act"
    );

    // The state is part of the record, for everyone who may read it.
    let state = crisis_plan_as(&a, &sam.access_token).await;
    assert_eq!(state.body["activation"]["reason"], "Not sleeping, scared");
    let again = a
        .server
        .post(
            &a.path("/crisis-plan/activation"),
            &priya.access_token,
            json!({"reason": "Again"}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);

    // Sam's consent does not include activation; the team may deactivate.
    let refused = a
        .server
        .delete(&a.path("/crisis-plan/activation"), &sam.access_token)
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let done = a
        .server
        .delete(&a.path("/crisis-plan/activation"), &priya.access_token)
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    assert_eq!(done.body["deactivated_by"]["name"], "Priya Natarajan");
    let history = crisis_plan_as(&a, &a.alex.access_token).await;
    assert!(history.body.get("activation").is_none());
    assert_eq!(history.body["history"].as_array().unwrap().len(), 1);
    let told = notifications(&a.server, &a.alex.access_token).await;
    assert!(told.iter().any(|e| e["kind"] == "crisis_plan_deactivated"));

    // When the person allows it, their carer can put the plan into use.
    let grant = a
        .server
        .post(
            &a.path("/consents"),
            &a.alex.access_token,
            json!({"carer_id": sam.user_id, "scopes": ["crisis_plan", "crisis_plan_activation"], "crisis_plan_sections": ["when_well"]}),
        )
        .await;
    assert_eq!(grant.status, StatusCode::CREATED, "{}", grant.text);
    let by_sam = a
        .server
        .post(
            &a.path("/crisis-plan/activation"),
            &sam.access_token,
            json!({"reason": "Alex asked me to"}),
        )
        .await;
    assert_eq!(by_sam.status, StatusCode::CREATED, "{}", by_sam.text);
    assert_eq!(by_sam.body["activated_by"]["role"], "carer");
    let alex_told = notifications(&a.server, &a.alex.access_token).await;
    assert!(
        alex_told
            .iter()
            .any(|e| e["kind"] == "crisis_plan_activated")
    );
}

async fn activation_reaches_an_open_event_stream(backend: Backend) {
    use futures_util::StreamExt;
    let a = start(backend).await;
    let sam = a.server.login("sam").await;
    let response = a
        .server
        .http
        .get(a.server.url("/v1/events"))
        .bearer_auth(&sam.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut stream = response.bytes_stream();
    let activated = a
        .server
        .post(
            &a.path("/crisis-plan/activation"),
            &a.alex.access_token,
            json!({"reason": "Need help"}),
        )
        .await;
    assert_eq!(activated.status, StatusCode::CREATED);
    let mut received = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while !received.contains("crisis_plan_activated") {
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("an event in time");
        received.push_str(&String::from_utf8_lossy(&chunk.unwrap().unwrap()));
    }
    assert!(
        received.contains("event: crisis_plan_activated"),
        "{received}"
    );
    let id: i64 = received
        .lines()
        .find_map(|l| l.strip_prefix("id: "))
        .and_then(|id| id.trim().parse().ok())
        .expect("an event id");

    // Reconnecting after that id replays nothing twice; before it, replays it.
    let replay = a
        .server
        .http
        .get(a.server.url("/v1/events"))
        .bearer_auth(&sam.access_token)
        .header("last-event-id", (id - 1).to_string())
        .send()
        .await
        .unwrap();
    let mut replayed = replay.bytes_stream();
    let chunk = tokio::time::timeout(std::time::Duration::from_secs(5), replayed.next())
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&chunk.unwrap().unwrap()).contains(&format!("id: {id}")));
}

async fn person_comments_disagrees_and_agrees_and_staff_see_it(backend: Backend) {
    let a = start(backend).await;
    let priya = a.server.login("priya").await;
    let comment = a
        .server
        .post(
            &a.path("/enablement-plan/comments"),
            &a.alex.access_token,
            json!({"section": "goals", "body": "I don't agree with this goal", "disagree": true}),
        )
        .await;
    assert_eq!(comment.status, StatusCode::CREATED, "{}", comment.text);
    assert_eq!(comment.body["version"], 1);
    let seen = a
        .server
        .get(&a.path("/enablement-plan/comments"), &priya.access_token)
        .await;
    let newest = &seen.body["comments"][0];
    assert_eq!(newest["body"], "I don't agree with this goal");
    assert_eq!(newest["disagree"], true);
    assert_eq!(newest["author"]["role"], "service_user");
    let told = notifications(&a.server, &priya.access_token).await;
    assert!(
        told.iter()
            .any(|e| e["kind"] == "enablement_plan_commented")
    );

    // A new version by staff; the person agrees it; agreeing an old one is refused.
    let plan = current_plan(&a, &priya.access_token).await["plan"].clone();
    put_plan(&a, &priya.access_token, 1, plan).await;
    let old = a
        .server
        .post(
            &a.path("/enablement-plan/agreement"),
            &a.alex.access_token,
            json!({"version": 1}),
        )
        .await;
    assert_eq!(old.status, StatusCode::CONFLICT);
    let agreed = a
        .server
        .post(
            &a.path("/enablement-plan/agreement"),
            &a.alex.access_token,
            json!({"version": 2}),
        )
        .await;
    assert_eq!(agreed.status, StatusCode::CREATED, "{}", agreed.text);
    let view = current_plan(&a, &priya.access_token).await;
    assert_eq!(view["agreements"][0]["agreed_by"]["name"], "Alex Rivers");
    // Staff cannot agree for the person.
    let staff = a
        .server
        .post(
            &a.path("/enablement-plan/agreement"),
            &priya.access_token,
            json!({"version": 2}),
        )
        .await;
    assert_eq!(staff.status, StatusCode::FORBIDDEN);
    let unknown = a
        .server
        .post(
            &a.path("/enablement-plan/comments"),
            &a.alex.access_token,
            json!({"section": "nonsense", "body": "x"}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown.fields(), ["section"]);
}

async fn unicode_plan_text_round_trips(backend: Backend) {
    let a = start(backend).await;
    let priya = a.server.login("priya").await;
    let mut plan = current_plan(&a, &priya.access_token).await["plan"].clone();
    let texts = [
        "Family time 👩‍👩‍👧 matters",
        "أريد أن أعود إلى العمل",
        "Zoe\u{0301} likes cafe\u{0301}s",
        "שלום — mixed עברית and English",
    ];
    plan["about_me"]["what_matters_to_me"]["person"] = json!(texts[0]);
    plan["about_me"]["strengths"]["person"] = json!(texts[1]);
    plan["about_me"]["cultural_needs"]["person"] = json!(texts[2]);
    plan["housing"]["needs"]["person"] = json!(texts[3]);
    assert_eq!(
        put_plan(&a, &priya.access_token, 1, plan).await.status,
        StatusCode::OK
    );
    let stored = current_plan(&a, &a.alex.access_token).await;
    assert_eq!(
        stored["plan"]["about_me"]["what_matters_to_me"]["person"],
        texts[0]
    );
    assert_eq!(stored["plan"]["about_me"]["strengths"]["person"], texts[1]);
    assert_eq!(
        stored["plan"]["about_me"]["cultural_needs"]["person"],
        texts[2]
    );
    assert_eq!(stored["plan"]["housing"]["needs"]["person"], texts[3]);
}

async fn printable_crisis_plan_escapes_what_people_typed(backend: Backend) {
    let a = start(backend).await;
    let wrap = a.server.get(&a.path("/wrap"), &a.alex.access_token).await;
    let mut body = wrap.body["wrap"].clone();
    body["crisis_plan"]["when_well"] = json!("<script>alert('x')</script> & \"quotes\"");
    let saved = a
        .server
        .put(
            &a.path("/wrap"),
            &a.alex.access_token,
            json!({"base_version": 1, "wrap": body}),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.text);
    let page = read(
        a.server
            .http
            .get(a.server.url(&a.path("/crisis-plan.html")))
            .bearer_auth(&a.alex.access_token),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(!page.text.contains("<script>"));
    assert!(
        page.text
            .contains("&lt;script&gt;alert('x')&lt;/script&gt; &amp; &quot;quotes&quot;")
    );
    assert!(
        page.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    // A carer's printout holds only the shared sections.
    let sam = a.server.login("sam").await;
    let shared = read(
        a.server
            .http
            .get(a.server.url(&a.path("/crisis-plan.html")))
            .bearer_auth(&sam.access_token),
    )
    .await;
    assert!(shared.text.contains("Signs that others need to take over"));
    assert!(!shared.text.contains("Sertraline"));
}

async fn outcome_trajectory_starts_at_the_baseline(backend: Backend) {
    let a = start(backend).await;
    let reply = a
        .server
        .get(&a.path("/enablement-plan/outcomes"), &a.alex.access_token)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let domains = reply.body["domains"].as_array().unwrap();
    assert_eq!(domains.len(), 10);
    let social = domains
        .iter()
        .find(|d| d["domain"] == "social_networks")
        .unwrap();
    assert_eq!(social["label"], "Social networks");
    let points = social["points"].as_array().unwrap();
    assert_eq!(points[0]["occasion"], "baseline");
    assert_eq!(
        (points[0]["score"].as_i64(), points[1]["score"].as_i64()),
        (Some(2), Some(4))
    );
}

async fn every_plan_read_and_write_is_audited(backend: Backend) {
    let a = start(backend).await;
    let priya = a.server.login("priya").await;
    let sam = a.server.login("sam").await;
    let plan = current_plan(&a, &priya.access_token).await["plan"].clone();
    let steps: Vec<(Method, String, &str, Option<Value>)> = vec![
        (
            Method::GET,
            a.path("/enablement-plan"),
            priya.access_token.as_str(),
            None,
        ),
        (
            Method::PUT,
            a.path("/enablement-plan"),
            priya.access_token.as_str(),
            Some(json!({"base_version": 1, "plan": plan})),
        ),
        (
            Method::GET,
            a.path("/enablement-plan/versions"),
            a.alex.access_token.as_str(),
            None,
        ),
        (
            Method::GET,
            a.path("/wrap"),
            a.alex.access_token.as_str(),
            None,
        ),
        (
            Method::GET,
            a.path("/crisis-plan"),
            sam.access_token.as_str(),
            None,
        ),
        (
            Method::GET,
            a.path("/crisis-plan.html"),
            sam.access_token.as_str(),
            None,
        ),
        (
            Method::GET,
            a.path("/enablement-plan"),
            sam.access_token.as_str(),
            None,
        ),
        (
            Method::POST,
            a.path("/crisis-plan/activation"),
            a.alex.access_token.as_str(),
            Some(json!({"reason": "test"})),
        ),
    ];
    for (method, path, token, body) in steps {
        let before = a.server.audit_count(&a.person).await;
        let reply = a
            .server
            .send(method.clone(), &path, Some(token), body)
            .await;
        assert!(
            reply.status.as_u16() < 500,
            "{method} {path}: {}",
            reply.text
        );
        assert_eq!(
            a.server.audit_count(&a.person).await,
            before + 1,
            "{method} {path}"
        );
    }
    let log = a
        .server
        .get(&a.path("/access-log?limit=20"), &a.alex.access_token)
        .await;
    let entries = log.body["entries"].as_array().unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e["resource"] == "crisis_plan" && e["actor_name"] == "Sam Rivers")
    );
    // Sam asking for the enablement plan he was not shared is recorded as denied.
    assert!(
        entries
            .iter()
            .any(|e| e["resource"] == "enablement_plan" && e["outcome"] == "denied")
    );
}

async fn the_wrap_is_the_persons_own(backend: Backend) {
    let a = start(backend).await;
    let priya = a.server.login("priya").await;
    let wrap = a.server.get(&a.path("/wrap"), &priya.access_token).await;
    assert_eq!(wrap.status, StatusCode::OK, "the team reads the WRAP");
    let body = json!({"base_version": 1, "wrap": wrap.body["wrap"].clone()});
    assert_eq!(
        a.server
            .put(&a.path("/wrap"), &priya.access_token, body.clone())
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // The person lets the team co-author; then the team may write, but not change the setting.
    let allow = a
        .server
        .put(
            &a.path("/wrap/settings"),
            &a.alex.access_token,
            json!({"team_may_coauthor": true}),
        )
        .await;
    assert_eq!(allow.status, StatusCode::NO_CONTENT);
    let written = a
        .server
        .put(&a.path("/wrap"), &priya.access_token, body)
        .await;
    assert_eq!(written.status, StatusCode::OK, "{}", written.text);
    assert_eq!(written.body["author"]["role"], "practitioner");
    let setting = a
        .server
        .put(
            &a.path("/wrap/settings"),
            &priya.access_token,
            json!({"team_may_coauthor": true}),
        )
        .await;
    assert_eq!(setting.status, StatusCode::FORBIDDEN);
    // A staff system with plans:read reads; the peer worker does not see the WRAP at all.
    let jo = a.server.login("jo").await;
    assert_eq!(
        a.server
            .get(&a.path("/wrap"), &jo.access_token)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        crisis_plan_as(&a, &jo.access_token).await.status,
        StatusCode::NOT_FOUND
    );
}

async fn invalid_plans_are_refused_naming_the_field(backend: Backend) {
    let a = start(backend).await;
    let priya = a.server.login("priya").await;
    let plan = current_plan(&a, &priya.access_token).await["plan"].clone();
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"level": "brief", "starts_on": "2026-11-01", "ends_on": "2027-03-01"}),
            "plan.support_level.ends_on",
        ),
        (json!({"level": "unheard_of"}), "plan.support_level.level"),
    ];
    for (level, field) in cases {
        let mut bad = plan.clone();
        bad["support_level"] = level;
        let reply = put_plan(&a, &priya.access_token, 1, bad).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            reply.text
        );
        assert_eq!(reply.fields(), [field]);
    }
    let mut bad = plan.clone();
    bad["outcome_ratings"][0]["scores"]["work"] = json!(11);
    let reply = put_plan(&a, &priya.access_token, 1, bad).await;
    assert_eq!(reply.fields(), ["plan.outcome_ratings[0].scores.work"]);
    let mut bad = plan.clone();
    bad["goals"][0]["outcome"]["person"] = json!("a\u{0000}b");
    let reply = put_plan(&a, &priya.access_token, 1, bad).await;
    assert_eq!(reply.fields(), ["plan.goals[0].outcome.person"]);
    let mut bad = plan;
    bad["about_me"]["what_matters_to_me"]["person"] = json!("x".repeat(100_000));
    let reply = put_plan(&a, &priya.access_token, 1, bad).await;
    assert_eq!(reply.fields(), ["plan.about_me.what_matters_to_me.person"]);
    // Nothing was stored by any of them.
    assert_eq!(current_plan(&a, &priya.access_token).await["version"], 1);
}
