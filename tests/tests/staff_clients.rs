//! Admins manage the staff systems that call the API: registered with scopes, a secret shown
//! once, rotated with an overlap, disabled at once — on both databases.

use livingwell_tests::{Backend, TestServer, on_both_databases, read};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_databases!(
    an_admin_registers_a_staff_system_whose_secret_is_shown_once,
    a_rotated_secret_overlaps_the_old_one_for_as_long_as_the_admin_said,
    a_disabled_staff_system_is_refused_at_once_with_the_tokens_it_holds,
    a_client_is_told_the_scope_it_lacks_and_is_kept_off_the_apps_routes,
    a_clients_read_is_in_the_persons_access_log_with_the_staff_member_it_acted_for,
    each_client_spends_its_own_request_budget_and_is_told_what_is_left,
);

/// A client-credentials token for `client_id`, or the status the token endpoint answered.
async fn token(server: &TestServer, client_id: &str, secret: &str) -> Result<String, StatusCode> {
    let reply = read(
        server
            .http
            .post(server.url("/oauth/token"))
            .basic_auth(client_id, Some(secret))
            .form(&[("grant_type", "client_credentials")]),
    )
    .await;
    match reply.status {
        StatusCode::OK => Ok(reply.body["access_token"].as_str().unwrap().to_owned()),
        status => Err(status),
    }
}

/// The client as `GET /v1/clients` listed it.
fn listed_entry(listed: &livingwell_tests::Reply, client_id: &str) -> Value {
    listed.body["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client_id"] == client_id)
        .unwrap()
        .clone()
}

async fn register(server: &TestServer, admin: &str, scopes: Value) -> (String, String) {
    let created = server
        .post(
            "/v1/clients",
            admin,
            json!({"name": "Rio case management", "scopes": scopes}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    (
        created.body["client"]["client_id"]
            .as_str()
            .unwrap()
            .to_owned(),
        created.body["client_secret"].as_str().unwrap().to_owned(),
    )
}

async fn an_admin_registers_a_staff_system_whose_secret_is_shown_once(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let admin = server.login("admin").await.access_token;
    let priya = server.login("priya").await.access_token;

    let refused = server
        .post(
            "/v1/clients",
            &priya,
            json!({"name": "Mine", "scopes": ["people:read"]}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    for (body, field) in [
        (json!({"name": "", "scopes": ["people:read"]}), "name"),
        (json!({"name": "Rio", "scopes": []}), "scopes"),
    ] {
        let bad = server.post("/v1/clients", &admin, body).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);
        assert_eq!(bad.fields(), [field]);
    }
    let unknown_scope = server
        .post(
            "/v1/clients",
            &admin,
            json!({"name": "Rio", "scopes": ["everything"]}),
        )
        .await;
    assert!(
        unknown_scope.status.is_client_error(),
        "{}",
        unknown_scope.text
    );

    let (client_id, secret) = register(&server, &admin, json!(["appointments:read"])).await;
    assert!(secret.starts_with("lws_") && secret.len() == 47, "{secret}");
    let listed = server.get("/v1/clients", &admin).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert!(
        !listed.text.contains(&secret),
        "a secret is never shown again"
    );
    let entry = listed_entry(&listed, &client_id);
    assert_eq!(entry["scopes"], json!(["appointments:read"]));
    assert_eq!(
        server.get("/v1/clients", &priya).await.status,
        StatusCode::FORBIDDEN
    );

    // It signs in with what it was given, for what it was given.
    let token = token(&server, &client_id, &secret).await.unwrap();
    assert_eq!(server.get("/v1/teams", &token).await.status, StatusCode::OK);
    let person = server.login("alex").await.person_id.unwrap();
    let plan = server
        .get(&format!("/v1/people/{person}/enablement-plan"), &token)
        .await;
    assert_eq!(plan.status, StatusCode::FORBIDDEN, "{}", plan.text);
}

async fn a_rotated_secret_overlaps_the_old_one_for_as_long_as_the_admin_said(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let admin = server.login("admin").await.access_token;
    let (client_id, first) = register(&server, &admin, json!(["people:read"])).await;

    let path = format!("/v1/clients/{client_id}/secret");
    let too_long = server
        .post(&path, &admin, json!({"overlap_hours": 169}))
        .await;
    assert_eq!(too_long.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(too_long.fields(), ["overlap_hours"]);
    let rotated = server.post(&path, &admin, json!({})).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    let second = rotated.body["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    assert!(rotated.body["client"]["previous_secret_until"].is_string());
    assert!(
        token(&server, &client_id, &first).await.is_ok(),
        "within the day's overlap"
    );
    assert!(token(&server, &client_id, &second).await.is_ok());

    // After a leak: the new secret alone, at once.
    let leaked = server
        .post(&path, &admin, json!({"overlap_hours": 0}))
        .await;
    let third = leaked.body["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(
        token(&server, &client_id, &second).await,
        Err(StatusCode::UNAUTHORIZED)
    );
    assert_eq!(
        token(&server, &client_id, &first).await,
        Err(StatusCode::UNAUTHORIZED)
    );
    assert!(token(&server, &client_id, &third).await.is_ok());
    let nobody = server
        .post("/v1/clients/sys-nobody/secret", &admin, json!({}))
        .await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND);
}

async fn a_disabled_staff_system_is_refused_at_once_with_the_tokens_it_holds(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let admin = server.login("admin").await.access_token;
    let (client_id, secret) = register(&server, &admin, json!(["people:read"])).await;
    let held = token(&server, &client_id, &secret).await.unwrap();
    assert_eq!(server.get("/v1/teams", &held).await.status, StatusCode::OK);

    let path = format!("/v1/clients/{client_id}/disable");
    let disabled = server.post(&path, &admin, json!({})).await;
    assert_eq!(disabled.status, StatusCode::NO_CONTENT, "{}", disabled.text);
    assert_eq!(
        server.get("/v1/teams", &held).await.status,
        StatusCode::UNAUTHORIZED,
        "the token it holds stops before it lapses"
    );
    assert_eq!(
        token(&server, &client_id, &secret).await,
        Err(StatusCode::UNAUTHORIZED)
    );
    let rotate = server
        .post(
            &format!("/v1/clients/{client_id}/secret"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(rotate.status, StatusCode::NOT_FOUND, "no new secret for it");
    let listed = server.get("/v1/clients", &admin).await;
    let entry = listed_entry(&listed, &client_id);
    assert!(entry["disabled_at"].is_string());
    let nobody = server
        .post("/v1/clients/sys-nobody/disable", &admin, json!({}))
        .await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND);
}

async fn a_client_is_told_the_scope_it_lacks_and_is_kept_off_the_apps_routes(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let admin = server.login("admin").await.access_token;
    let (client_id, secret) = register(
        &server,
        &admin,
        json!(["appointments:read", "appointments:write"]),
    )
    .await;
    let token = token(&server, &client_id, &secret).await.unwrap();
    let alex = server.login("alex").await;
    let person = alex.person_id.clone().unwrap();

    for (path, needed) in [
        (format!("/v1/people/{person}/enablement-plan"), "plans:read"),
        (format!("/v1/people/{person}/access-log"), "audit:read"),
    ] {
        let refused = server.get(&path, &token).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
        assert_eq!(refused.code(), "insufficient_scope");
        assert_eq!(refused.body["required_scope"], needed);
        assert_eq!(
            refused.headers[reqwest::header::WWW_AUTHENTICATE],
            format!(
                "Bearer realm=\"livingwell\", error=\"insufficient_scope\", scope=\"{needed}\""
            )
        );
    }
    let writes = server
        .post("/v1/people", &token, json!({"display_name": "Sam Example"}))
        .await;
    assert_eq!(writes.code(), "insufficient_scope", "{}", writes.text);
    assert_eq!(writes.body["required_scope"], "people:write");

    // Conversations are no staff system's, whatever its scopes: refused, with no scope to ask
    // for; and the app's own routes are for accounts.
    let conversation = server.peer_conversation(&alex.access_token).await;
    let messages = server
        .get(
            &format!("/v1/conversations/{conversation}/messages"),
            &token,
        )
        .await;
    assert_eq!(messages.status, StatusCode::FORBIDDEN, "{}", messages.text);
    assert_eq!(messages.code(), "forbidden");
    assert!(messages.body.get("required_scope").is_none());
    for path in [
        "/v1/me",
        "/v1/sync",
        "/v1/notifications",
        "/v1/conversations",
    ] {
        let refused = server.get(path, &token).await;
        assert_eq!(
            refused.status,
            StatusCode::FORBIDDEN,
            "{path}: {}",
            refused.text
        );
    }
}

async fn a_clients_read_is_in_the_persons_access_log_with_the_staff_member_it_acted_for(
    backend: Backend,
) {
    let server = TestServer::start(backend).await.unwrap();
    let admin = server.login("admin").await.access_token;
    let (client_id, secret) = register(&server, &admin, json!(["plans:read"])).await;
    let token = token(&server, &client_id, &secret).await.unwrap();
    let alex = server.login("alex").await;
    let person = alex.person_id.clone().unwrap();

    let read = |on_behalf_of: &'static str| {
        server
            .http
            .get(server.url(&format!("/v1/people/{person}/enablement-plan")))
            .bearer_auth(&token)
            .header("X-On-Behalf-Of", on_behalf_of)
    };
    assert_eq!(
        livingwell_tests::read(read("Priya Shah (care coordinator)"))
            .await
            .status,
        StatusCode::OK
    );
    let unreadable = livingwell_tests::read(read("")).await;
    assert_eq!(
        unreadable.status,
        StatusCode::BAD_REQUEST,
        "{}",
        unreadable.text
    );
    assert_eq!(unreadable.fields(), ["x-on-behalf-of"]);

    let log = server
        .get(
            &format!("/v1/people/{person}/access-log"),
            &alex.access_token,
        )
        .await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.text);
    let entries = log.body["entries"].as_array().unwrap();
    let by_client = entries
        .iter()
        .find(|entry| entry["on_behalf_of"] == "Priya Shah (care coordinator)")
        .unwrap_or_else(|| panic!("{}", log.text));
    assert_eq!(by_client["actor_role"], "staff_system", "{by_client}");

    // Every call is recorded, about one person or not, before it runs, and once: a call
    // counted against the budget by two extractors is still one entry.
    let teams = livingwell_tests::read(
        server
            .http
            .get(server.url("/v1/teams"))
            .bearer_auth(&token)
            .header("X-On-Behalf-Of", "Priya Shah (care coordinator)"),
    )
    .await;
    assert_eq!(teams.status, StatusCode::OK);
    let request_id = teams.headers["x-request-id"].to_str().unwrap();
    let entries = server.store.audit_after(0, 10_000).await.unwrap();
    let calls: Vec<_> = entries
        .iter()
        .map(|record| &record.entry)
        .filter(|entry| entry.request_id.as_deref() == Some(request_id))
        .collect();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].resource, "call GET /v1/teams");
    assert_eq!(calls[0].action, "read");
    assert_eq!(
        calls[0].actor_id.as_deref(),
        Some(&*format!("client:{client_id}"))
    );
    assert_eq!(
        calls[0].on_behalf_of.as_deref(),
        Some("Priya Shah (care coordinator)")
    );
    let plan_reads = entries
        .iter()
        .filter(|record| record.entry.resource == "call GET /v1/people/{id}/enablement-plan")
        .count();
    assert_eq!(
        plan_reads, 1,
        "the refused call (a bad header) is not counted"
    );
}

async fn each_client_spends_its_own_request_budget_and_is_told_what_is_left(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let admin = server.login("admin").await.access_token;
    for bad in [0, 60_001] {
        let refused = server
            .post(
                "/v1/clients",
                &admin,
                json!({"name": "Rio", "scopes": ["people:read"], "requests_per_minute": bad}),
            )
            .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(refused.fields(), ["requests_per_minute"]);
    }
    let created = server
        .post(
            "/v1/clients",
            &admin,
            json!({"name": "Scheduler", "scopes": ["people:read"], "requests_per_minute": 3}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.body["client"]["requests_per_minute"], 3);
    let (client_id, secret) = (
        created.body["client"]["client_id"].as_str().unwrap(),
        created.body["client_secret"].as_str().unwrap(),
    );
    let (other_id, other_secret) = register(&server, &admin, json!(["people:read"])).await;
    let listed = server.get("/v1/clients", &admin).await;
    assert_eq!(
        listed_entry(&listed, &other_id)["requests_per_minute"],
        600,
        "the deployment's default"
    );

    let busy = token(&server, client_id, secret).await.unwrap();
    for left in [2, 1, 0] {
        let reply = server.get("/v1/teams", &busy).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.headers["ratelimit-policy"], "\"client\";q=3;w=60");
        let now = reply.headers["ratelimit"].to_str().unwrap();
        assert!(now.starts_with(&format!("\"client\";r={left};t=")), "{now}");
    }
    let over = server.get("/v1/teams", &busy).await;
    assert_eq!(over.status, StatusCode::TOO_MANY_REQUESTS, "{}", over.text);
    assert_eq!(over.code(), "rate_limited");
    let wait: u64 = over.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=20).contains(&wait), "one request every 20 s: {wait}");
    assert!(
        over.headers["ratelimit"]
            .to_str()
            .unwrap()
            .starts_with("\"client\";r=0;")
    );

    // Another system's budget is untouched, and the apps are not counted or told.
    let other = token(&server, &other_id, &other_secret).await.unwrap();
    let reply = server.get("/v1/teams", &other).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply.headers["ratelimit"]
            .to_str()
            .unwrap()
            .starts_with("\"client\";r=599;")
    );
    let app = server.get("/v1/me", &admin).await;
    assert_eq!(app.status, StatusCode::OK);
    assert!(app.headers.get("ratelimit").is_none());
}
