//! Relationships decide access, read from the database on every request.

use livingwell_tests::{Backend, TestServer, on_both_databases};
use reqwest::StatusCode;
use serde_json::json;

on_both_databases!(
    revoked_carer_loses_access_on_next_request,
    practitioner_moved_out_of_the_team_loses_access_on_next_request,
    practitioner_elsewhere_sees_nothing_until_breaking_glass,
    grant_to_someone_on_the_do_not_involve_list_is_refused,
    expired_consent_behaves_like_a_revoked_one,
    only_the_allocated_peer_worker_sees_the_person,
    admin_manages_teams_but_reads_no_records,
    staff_system_access_follows_its_scopes,
    carer_may_see_the_person_but_not_change_their_care,
    person_moved_to_another_team_is_seen_by_the_new_team_only,
);

async fn alex_id(server: &TestServer) -> String {
    let alex = server.login("alex").await;
    alex.person_id.expect("alex has a person record")
}

async fn revoked_carer_loses_access_on_next_request(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let alex = server.login("alex").await;
    let person = alex.person_id.clone().unwrap();
    let sam = server.login("sam").await;
    let path = format!("/v1/people/{person}");
    assert_eq!(
        server.get(&path, &sam.access_token).await.status,
        StatusCode::OK
    );

    let consents = server
        .get(&format!("{path}/consents"), &alex.access_token)
        .await;
    let consent_id = consents.body[0]["id"].as_str().unwrap().to_owned();
    let revoked = server
        .delete(&format!("{path}/consents/{consent_id}"), &alex.access_token)
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);

    // The same, unexpired access token: the decision is made afresh.
    let after = server.get(&path, &sam.access_token).await;
    assert_eq!(after.status, StatusCode::NOT_FOUND);
    assert_eq!(after.code(), "not_found");
    // Revoking twice finds nothing in force.
    let again = server
        .delete(&format!("{path}/consents/{consent_id}"), &alex.access_token)
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

async fn practitioner_moved_out_of_the_team_loses_access_on_next_request(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let person = alex_id(&server).await;
    let priya = server.login("priya").await;
    let admin = server.login("admin").await;
    let path = format!("/v1/people/{person}");
    let summary = server.get(&path, &priya.access_token).await;
    assert_eq!(summary.status, StatusCode::OK);
    let team = summary.body["team_id"].as_str().unwrap().to_owned();

    let removed = server
        .delete(
            &format!("/v1/teams/{team}/members/{}", priya.user_id),
            &admin.access_token,
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    assert_eq!(
        server.get(&path, &priya.access_token).await.status,
        StatusCode::NOT_FOUND
    );
    let caseload = server
        .get(&format!("/v1/teams/{team}/caseload"), &priya.access_token)
        .await;
    assert_eq!(caseload.status, StatusCode::FORBIDDEN);

    // Back on the team, back in access.
    let added = server
        .send(
            reqwest::Method::PUT,
            &format!("/v1/teams/{team}/members/{}", priya.user_id),
            Some(&admin.access_token),
            None,
        )
        .await;
    assert_eq!(added.status, StatusCode::NO_CONTENT);
    assert_eq!(
        server.get(&path, &priya.access_token).await.status,
        StatusCode::OK
    );
}

async fn practitioner_elsewhere_sees_nothing_until_breaking_glass(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let alex = server.login("alex").await;
    let person = alex.person_id.clone().unwrap();
    let morgan = server.login("morgan").await;
    let path = format!("/v1/people/{person}");
    assert_eq!(
        server.get(&path, &morgan.access_token).await.status,
        StatusCode::NOT_FOUND
    );

    let no_reason = server
        .post(
            &format!("{path}/emergency-access"),
            &morgan.access_token,
            json!({"reason": "  "}),
        )
        .await;
    assert_eq!(no_reason.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(no_reason.fields(), ["reason"]);

    let glass = server
        .post(
            &format!("{path}/emergency-access"),
            &morgan.access_token,
            json!({"reason": "Out-of-hours crisis call; the West hub is closed", "duration_minutes": 30}),
        )
        .await;
    assert_eq!(glass.status, StatusCode::CREATED, "{}", glass.text);
    assert_eq!(
        server.get(&path, &morgan.access_token).await.status,
        StatusCode::OK
    );
    // Break glass opens the record to read, not to change the person's care.
    let allocate = server
        .put(
            &format!("{path}/peer-allocation"),
            &morgan.access_token,
            json!({"peer_worker_id": morgan.user_id}),
        )
        .await;
    assert_eq!(allocate.status, StatusCode::FORBIDDEN);

    // The person sees it in their access log.
    let log = server
        .get(&format!("{path}/access-log"), &alex.access_token)
        .await;
    assert_eq!(log.status, StatusCode::OK);
    let entries = log.body["entries"].as_array().unwrap();
    assert!(entries.iter().any(|e| e["actor_name"] == "Morgan Ellis"
        && e["relationship"] == "emergency_access"
        && e["action"] == "read"));

    // A service user cannot break glass.
    let robin = server.login("robin").await;
    let refused = server
        .post(
            &format!("{path}/emergency-access"),
            &robin.access_token,
            json!({"reason": "curious"}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

async fn grant_to_someone_on_the_do_not_involve_list_is_refused(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let alex = server.login("alex").await;
    let person = alex.person_id.clone().unwrap();
    let sam = server.login("sam").await;
    let path = format!("/v1/people/{person}");

    let excluded = server
        .post(
            &format!("{path}/do-not-involve"),
            &alex.access_token,
            json!({"user_id": sam.user_id}),
        )
        .await;
    assert_eq!(excluded.status, StatusCode::NO_CONTENT, "{}", excluded.text);
    // The existing consent ends with it.
    assert_eq!(
        server.get(&path, &sam.access_token).await.status,
        StatusCode::NOT_FOUND
    );

    let grant = server
        .post(
            &format!("{path}/consents"),
            &alex.access_token,
            json!({"carer_id": sam.user_id, "scopes": ["appointments"]}),
        )
        .await;
    assert_eq!(grant.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(grant.fields(), ["carer_id"]);
    assert_eq!(grant.body["fields"][0]["code"], "do_not_involve");
    assert_eq!(
        server.get(&path, &sam.access_token).await.status,
        StatusCode::NOT_FOUND
    );
}

async fn expired_consent_behaves_like_a_revoked_one(backend: Backend) {
    let (server, clock) = TestServer::start_at(backend, chrono::Utc::now())
        .await
        .unwrap();
    let alex = server.login("alex").await;
    let person = alex.person_id.clone().unwrap();
    let sam = server.login("sam").await;
    let path = format!("/v1/people/{person}");
    // Replace the open-ended demo consent with one that ends in two minutes.
    let consents = server
        .get(&format!("{path}/consents"), &alex.access_token)
        .await;
    let demo_consent = consents.body[0]["id"].as_str().unwrap().to_owned();
    server
        .delete(
            &format!("{path}/consents/{demo_consent}"),
            &alex.access_token,
        )
        .await;
    let expires_at = clock.now() + chrono::Duration::minutes(2);
    let grant = server
        .post(
            &format!("{path}/consents"),
            &alex.access_token,
            json!({"carer_id": sam.user_id, "scopes": ["crisis_plan"], "expires_at": expires_at}),
        )
        .await;
    assert_eq!(grant.status, StatusCode::CREATED, "{}", grant.text);
    assert_eq!(
        server.get(&path, &sam.access_token).await.status,
        StatusCode::OK
    );
    clock.advance(chrono::Duration::minutes(2));
    assert_eq!(
        server.get(&path, &sam.access_token).await.status,
        StatusCode::NOT_FOUND
    );

    // An expiry in the past is refused, naming the field.
    let past = server
        .post(
            &format!("{path}/consents"),
            &alex.access_token,
            json!({"carer_id": sam.user_id, "scopes": ["crisis_plan"], "expires_at": "2020-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(past.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(past.fields(), ["expires_at"]);
}

async fn only_the_allocated_peer_worker_sees_the_person(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let person = alex_id(&server).await;
    let path = format!("/v1/people/{person}");
    let jo = server.login("jo").await;
    let priya = server.login("priya").await;
    let admin = server.login("admin").await;
    assert_eq!(
        server.get(&path, &jo.access_token).await.status,
        StatusCode::OK
    );
    // Jo sees the summary but not who the carers are.
    assert_eq!(
        server
            .get(&format!("{path}/carers"), &jo.access_token)
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    // A second peer worker on the same team, not allocated: nothing.
    let created = server
        .post(
            "/v1/users",
            &admin.access_token,
            json!({"username": "kit", "password": "kit-demo-password", "role": "peer_worker", "display_name": "Kit Morrow"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let kit_id = created.body["id"].as_str().unwrap().to_owned();
    let team = server.get(&path, &priya.access_token).await.body["team_id"]
        .as_str()
        .unwrap()
        .to_owned();
    server
        .send(
            reqwest::Method::PUT,
            &format!("/v1/teams/{team}/members/{kit_id}"),
            Some(&admin.access_token),
            None,
        )
        .await;
    let kit = kit_login(&server).await;
    assert_eq!(server.get(&path, &kit).await.status, StatusCode::NOT_FOUND);

    // Reallocation: Kit gains access, Jo loses it on the next request.
    let moved = server
        .put(
            &format!("{path}/peer-allocation"),
            &priya.access_token,
            json!({"peer_worker_id": kit_id}),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.text);
    assert_eq!(server.get(&path, &kit).await.status, StatusCode::OK);
    assert_eq!(
        server.get(&path, &jo.access_token).await.status,
        StatusCode::NOT_FOUND
    );
}

async fn kit_login(server: &TestServer) -> String {
    let reply = server
        .send(
            reqwest::Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"username": "kit", "password": "kit-demo-password"})),
        )
        .await;
    reply.body["access_token"].as_str().unwrap().to_owned()
}

async fn admin_manages_teams_but_reads_no_records(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let person = alex_id(&server).await;
    let admin = server.login("admin").await;
    assert_eq!(
        server
            .get(&format!("/v1/people/{person}"), &admin.access_token)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let team = server
        .post(
            "/v1/teams",
            &admin.access_token,
            json!({"name": "South hub"}),
        )
        .await;
    assert_eq!(team.status, StatusCode::CREATED);
    let duplicate = server
        .post(
            "/v1/teams",
            &admin.access_token,
            json!({"name": "South hub"}),
        )
        .await;
    assert_eq!(duplicate.status, StatusCode::CONFLICT);
    assert_eq!(duplicate.fields(), ["name"]);
    let teams = server.get("/v1/teams", &admin.access_token).await;
    assert_eq!(teams.body.as_array().unwrap().len(), 3);
    // Only an admin makes teams.
    let priya = server.login("priya").await;
    assert_eq!(
        server
            .post(
                "/v1/teams",
                &priya.access_token,
                json!({"name": "East hub"})
            )
            .await
            .status,
        StatusCode::FORBIDDEN
    );
}

async fn staff_system_access_follows_its_scopes(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let person = alex_id(&server).await;
    let path = format!("/v1/people/{person}");
    let reader = server.client_token(Some("people:read")).await;
    assert_eq!(server.get(&path, &reader).await.status, StatusCode::OK);
    let no_people = server.client_token(Some("plans:read")).await;
    assert_eq!(
        server.get(&path, &no_people).await.status,
        StatusCode::FORBIDDEN
    );
    // The access log needs audit:read, which the demo client does not hold.
    assert_eq!(
        server
            .get(&format!("{path}/access-log"), &reader)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // Creating a person needs people:write.
    let body = json!({"display_name": "Casey Lund"});
    assert_eq!(
        server
            .post("/v1/people", &reader, body.clone())
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let writer = server.client_token(Some("people:write")).await;
    let created = server.post("/v1/people", &writer, body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
}

async fn carer_may_see_the_person_but_not_change_their_care(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let person = alex_id(&server).await;
    let path = format!("/v1/people/{person}");
    let sam = server.login("sam").await;
    assert_eq!(
        server.get(&path, &sam.access_token).await.status,
        StatusCode::OK
    );
    let allocate = server
        .put(
            &format!("{path}/peer-allocation"),
            &sam.access_token,
            json!({"peer_worker_id": sam.user_id}),
        )
        .await;
    assert_eq!(allocate.status, StatusCode::FORBIDDEN);
    assert_eq!(
        server
            .get(&format!("{path}/consents"), &sam.access_token)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // Sam supports Alex, and says so in /v1/me.
    let me = server.get("/v1/me", &sam.access_token).await;
    assert_eq!(me.body["people_supported"][0]["id"], person.as_str());
}

async fn person_moved_to_another_team_is_seen_by_the_new_team_only(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let person = alex_id(&server).await;
    let path = format!("/v1/people/{person}");
    let priya = server.login("priya").await;
    let morgan = server.login("morgan").await;
    let teams = server.get("/v1/teams", &priya.access_token).await;
    let north = teams
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "North hub")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let moved = server
        .put(
            &format!("{path}/team"),
            &priya.access_token,
            json!({"team_id": north}),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.text);
    assert_eq!(moved.body["team_id"], north.as_str());
    assert_eq!(
        server.get(&path, &priya.access_token).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        server.get(&path, &morgan.access_token).await.status,
        StatusCode::OK
    );
    let caseload = server
        .get(&format!("/v1/teams/{north}/caseload"), &morgan.access_token)
        .await;
    let people = caseload.body["people"].as_array().unwrap();
    assert!(people.iter().any(|p| p["id"] == person.as_str()));
}
