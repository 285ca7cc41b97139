//! Only the person decides what is shared: with a carer, or with their allocated peer worker.

use livingwell_tests::{Backend, TestServer, on_both_databases};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_databases!(
    practitioner_cannot_grant_or_revoke_the_persons_consents,
    staff_system_cannot_grant_or_revoke_consents,
    person_shares_crisis_sections_and_plan_summary_with_their_peer_worker,
    reallocation_ends_what_was_shared_with_the_previous_peer_worker,
    peer_worker_consents_are_checked_field_by_field,
);

async fn consents_of(server: &TestServer, person: &str, token: &str) -> Vec<Value> {
    let reply = server
        .get(&format!("/v1/people/{person}/consents"), token)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.body.as_array().unwrap().clone()
}

async fn practitioner_cannot_grant_or_revoke_the_persons_consents(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let alex = server.login("alex").await;
    let person = alex.person_id.clone().unwrap();
    let sam = server.login("sam").await;
    let priya = server.login("priya").await;
    let path = format!("/v1/people/{person}");

    // The request from the finding: a practitioner widening the carer's view.
    let grant = server
        .post(
            &format!("{path}/consents"),
            &priya.access_token,
            json!({
                "carer_id": sam.user_id,
                "scopes": ["crisis_plan", "enablement_plan", "appointments"],
                "crisis_plan_sections": ["medication", "treatments"],
            }),
        )
        .await;
    assert_eq!(grant.status, StatusCode::FORBIDDEN, "{}", grant.text);
    assert_eq!(grant.code(), "forbidden");
    // Sam still sees only the four sections alex chose; no medication, no plan, no diary.
    let crisis = server
        .get(&format!("{path}/crisis-plan"), &sam.access_token)
        .await;
    assert_eq!(crisis.status, StatusCode::OK);
    assert!(
        crisis.body["sections"].get("medication").is_none(),
        "{}",
        crisis.text
    );
    assert!(
        crisis.body["sections"].get("when_well").is_some(),
        "{}",
        crisis.text
    );
    for part in ["/enablement-plan", "/appointments"] {
        assert_eq!(
            server
                .get(&format!("{path}{part}"), &sam.access_token)
                .await
                .status,
            StatusCode::NOT_FOUND,
            "{part}"
        );
    }

    // Nor may the practitioner end alex's choice.
    let consents = consents_of(&server, &person, &alex.access_token).await;
    assert_eq!(consents.len(), 1);
    let id = consents[0]["id"].as_str().unwrap();
    let revoke = server
        .delete(&format!("{path}/consents/{id}"), &priya.access_token)
        .await;
    assert_eq!(revoke.status, StatusCode::FORBIDDEN);
    assert_eq!(
        consents_of(&server, &person, &alex.access_token).await,
        consents,
        "nothing changed"
    );
    assert_eq!(
        server.get(&path, &sam.access_token).await.status,
        StatusCode::OK
    );

    // Nor put sam on alex's do-not-involve list, which would end alex's consent to sam.
    let excluded = server
        .post(
            &format!("{path}/do-not-involve"),
            &priya.access_token,
            json!({"user_id": sam.user_id}),
        )
        .await;
    assert_eq!(excluded.status, StatusCode::FORBIDDEN);
    assert_eq!(
        server.get(&path, &sam.access_token).await.status,
        StatusCode::OK
    );

    // Every refusal is in alex's access log.
    let log = server
        .get(&format!("{path}/access-log"), &alex.access_token)
        .await;
    let denied_consent_writes = log.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource"] == "consents" && e["outcome"] != "allowed")
        .count();
    assert_eq!(denied_consent_writes, 2, "{}", log.text);
}

async fn staff_system_cannot_grant_or_revoke_consents(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let alex = server.login("alex").await;
    let person = alex.person_id.clone().unwrap();
    let sam = server.login("sam").await;
    let system = server
        .client_token(Some("people:read people:write plans:write"))
        .await;
    let path = format!("/v1/people/{person}/consents");
    let grant = server
        .post(
            &path,
            &system,
            json!({"carer_id": sam.user_id, "scopes": ["appointments"]}),
        )
        .await;
    assert_eq!(grant.status, StatusCode::FORBIDDEN, "{}", grant.text);
    let consents = consents_of(&server, &person, &system).await;
    let id = consents[0]["id"].as_str().unwrap();
    let revoke = server.delete(&format!("{path}/{id}"), &system).await;
    assert_eq!(revoke.status, StatusCode::FORBIDDEN);
    assert_eq!(
        consents_of(&server, &person, &alex.access_token).await,
        consents
    );
}

async fn person_shares_crisis_sections_and_plan_summary_with_their_peer_worker(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let alex = server.login("alex").await;
    let person = alex.person_id.clone().unwrap();
    let jo = server.login("jo").await;
    let path = format!("/v1/people/{person}");
    for part in [
        "/crisis-plan",
        "/enablement-plan/summary",
        "/crisis-plan.html",
    ] {
        assert_eq!(
            server
                .get(&format!("{path}{part}"), &jo.access_token)
                .await
                .status,
            StatusCode::NOT_FOUND,
            "{part} before sharing"
        );
    }

    let shared = server
        .post(
            &format!("{path}/consents"),
            &alex.access_token,
            json!({
                "peer_worker_id": jo.user_id,
                "scopes": ["crisis_plan", "enablement_plan"],
                "crisis_plan_sections": ["when_well", "help_from_others"],
            }),
        )
        .await;
    assert_eq!(shared.status, StatusCode::CREATED, "{}", shared.text);
    assert_eq!(shared.body["peer_worker_id"], jo.user_id.as_str());
    assert!(shared.body.get("carer_id").is_none());

    let crisis = server
        .get(&format!("{path}/crisis-plan"), &jo.access_token)
        .await;
    assert_eq!(crisis.status, StatusCode::OK, "{}", crisis.text);
    let mut sections: Vec<&str> = crisis.body["sections"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    sections.sort_unstable();
    assert_eq!(sections, ["help_from_others", "when_well"]);
    let printable = server
        .get(&format!("{path}/crisis-plan.html"), &jo.access_token)
        .await;
    assert_eq!(printable.status, StatusCode::OK);

    // The summary: goals in alex's words, support, contacts, review date; no worker's words.
    let summary = server
        .get(&format!("{path}/enablement-plan/summary"), &jo.access_token)
        .await;
    assert_eq!(summary.status, StatusCode::OK, "{}", summary.text);
    let full = server
        .get(&format!("{path}/enablement-plan"), &alex.access_token)
        .await;
    assert_eq!(summary.body["version"], full.body["version"]);
    let goals = full.body["plan"]["goals"].as_array().unwrap();
    assert!(!goals.is_empty());
    for (goal, summarised) in goals
        .iter()
        .zip(summary.body["summary"]["goals"].as_array().unwrap())
    {
        assert_eq!(summarised["outcome"], goal["outcome"]["person"]);
        if let Some(worker) = goal["outcome"]["worker"].as_str() {
            assert!(!summary.text.contains(worker), "worker's words leaked");
        }
    }
    for absent in [
        "about_me",
        "outcome_ratings",
        "eligibility",
        "housing",
        "modules",
    ] {
        assert!(summary.body["summary"].get(absent).is_none(), "{absent}");
    }
    // The full plan, its history and comments stay with the team.
    for part in [
        "/enablement-plan",
        "/enablement-plan/versions",
        "/enablement-plan/comments",
        "/enablement-plan/outcomes",
        "/wrap",
    ] {
        assert_eq!(
            server
                .get(&format!("{path}{part}"), &jo.access_token)
                .await
                .status,
            StatusCode::NOT_FOUND,
            "{part}"
        );
    }
    // Reading is what sharing allows: the peer worker cannot activate the plan.
    let activate = server
        .post(
            &format!("{path}/crisis-plan/activation"),
            &jo.access_token,
            json!({"reason": "Worried"}),
        )
        .await;
    assert_eq!(activate.status, StatusCode::FORBIDDEN);

    // Alex revokes: the next request is refused.
    let id = shared.body["id"].as_str().unwrap();
    let revoked = server
        .delete(&format!("{path}/consents/{id}"), &alex.access_token)
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    assert_eq!(
        server
            .get(&format!("{path}/crisis-plan"), &jo.access_token)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

async fn reallocation_ends_what_was_shared_with_the_previous_peer_worker(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let alex = server.login("alex").await;
    let person = alex.person_id.clone().unwrap();
    let jo = server.login("jo").await;
    let priya = server.login("priya").await;
    let admin = server.login("admin").await;
    let path = format!("/v1/people/{person}");
    let shared = server
        .post(
            &format!("{path}/consents"),
            &alex.access_token,
            json!({"peer_worker_id": jo.user_id, "scopes": ["crisis_plan"]}),
        )
        .await;
    assert_eq!(shared.status, StatusCode::CREATED, "{}", shared.text);
    assert_eq!(
        server
            .get(&format!("{path}/crisis-plan"), &jo.access_token)
            .await
            .status,
        StatusCode::OK
    );

    let created = server
        .post(
            "/v1/users",
            &admin.access_token,
            json!({"username": "kit", "password": livingwell_tests::PASSWORD,
                   "role": "peer_worker", "display_name": "Kit Moss"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let kit = server.login("kit").await;
    let allocate = |peer: String| {
        let server = &server;
        let path = &path;
        let token = priya.access_token.clone();
        async move {
            let reply = server
                .put(
                    &format!("{path}/peer-allocation"),
                    &token,
                    json!({"peer_worker_id": peer}),
                )
                .await;
            assert!(reply.status.is_success(), "{}", reply.text);
        }
    };
    allocate(kit.user_id.clone()).await;
    // The consent was to jo: ended by the reallocation, not passed to kit.
    let consents = consents_of(&server, &person, &alex.access_token).await;
    let to_jo = consents
        .iter()
        .find(|c| c["peer_worker_id"] == jo.user_id.as_str())
        .unwrap();
    assert!(to_jo["revoked_at"].is_string(), "{to_jo}");
    assert_eq!(
        server
            .get(&format!("{path}/crisis-plan"), &kit.access_token)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // Allocating jo again does not bring the old consent back.
    allocate(jo.user_id.clone()).await;
    assert_eq!(
        server
            .get(&format!("{path}/crisis-plan"), &jo.access_token)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

async fn peer_worker_consents_are_checked_field_by_field(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let alex = server.login("alex").await;
    let person = alex.person_id.clone().unwrap();
    let jo = server.login("jo").await;
    let sam = server.login("sam").await;
    let priya = server.login("priya").await;
    let path = format!("/v1/people/{person}/consents");
    let before = consents_of(&server, &person, &alex.access_token).await;
    let cases = [
        (
            json!({"peer_worker_id": jo.user_id, "scopes": ["appointments"]}),
            "scopes",
            "not_for_peer_worker",
        ),
        (
            json!({"peer_worker_id": jo.user_id, "scopes": ["crisis_plan_activation"]}),
            "scopes",
            "not_for_peer_worker",
        ),
        (
            json!({"carer_id": sam.user_id, "peer_worker_id": jo.user_id, "scopes": ["crisis_plan"]}),
            "peer_worker_id",
            "conflicts_with_carer_id",
        ),
        (json!({"scopes": ["crisis_plan"]}), "carer_id", "required"),
        // A practitioner is not alex's allocated peer worker.
        (
            json!({"peer_worker_id": priya.user_id, "scopes": ["crisis_plan"]}),
            "peer_worker_id",
            "not_allocated",
        ),
    ];
    for (body, field, code) in cases {
        let reply = server.post(&path, &alex.access_token, body.clone()).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            reply.text
        );
        assert_eq!(reply.fields(), [field], "{body}");
        assert_eq!(reply.body["fields"][0]["code"], code, "{body}");
    }
    assert_eq!(
        consents_of(&server, &person, &alex.access_token).await,
        before
    );
}
