//! Bad input never hurts: every malformed, oversized, mistyped or hostile request gets a clean
//! 4xx with the shared error body naming the field at fault — never a 500 — and the database is
//! the same afterwards.

use livingwell_core::api::{ErrorBody, FieldErrorCode};
use livingwell_server::store::Store;
use livingwell_server::store::plans::PlanKind;
use livingwell_tests::{Backend, Reply, Session, TestServer, on_both_databases, read};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_databases!(
    malformed_json_is_a_bad_request,
    malformed_json_is_a_bad_request_whatever_came_before_the_error,
    wrong_content_type_is_unsupported_media_type,
    oversized_body_is_payload_too_large,
    unknown_fields_are_refused_and_named,
    duplicate_fields_are_refused_and_named,
    nul_in_a_name_is_refused_and_named,
    very_long_display_name_is_too_long,
    bidi_and_zero_width_characters_in_names_are_refused,
    wrong_types_are_refused_and_named,
    deeply_nested_json_is_refused_cleanly,
    malformed_uuid_in_a_path_is_a_json_not_found,
    unknown_route_is_a_json_not_found,
    wrong_method_is_a_json_method_not_allowed,
    bad_paging_query_is_refused_and_named,
);

/// Everything a bad request could have changed. Not the audit log: the caller's access to the
/// record is decided and audited before the body is read (they did ask for the record), so a
/// bad body to a record the caller may reach leaves an access entry and nothing else.
#[derive(Debug, PartialEq)]
struct Snapshot {
    people: i64,
    person_names: Vec<String>,
    teams: Vec<String>,
    alex_consents: usize,
    alex_plan_versions: (Option<i32>, Option<i32>),
    nova_account: bool,
}

/// The demo world, signed in.
struct World {
    server: TestServer,
    alex: Session,
    sam: Session,
    priya: Session,
    admin: Session,
    alex_person: String,
    before: Snapshot,
}

impl World {
    async fn start(backend: Backend) -> World {
        let server = TestServer::start(backend).await.unwrap();
        let alex = server.login("alex").await;
        let sam = server.login("sam").await;
        let priya = server.login("priya").await;
        let admin = server.login("admin").await;
        let alex_person = alex.person_id.clone().expect("alex has a person record");
        let before = snapshot(&server, &alex_person).await;
        World {
            server,
            alex,
            sam,
            priya,
            admin,
            alex_person,
            before,
        }
    }

    /// Fails the test if anything was stored since [`World::start`].
    async fn assert_unchanged(&self) {
        let after = snapshot(&self.server, &self.alex_person).await;
        assert_eq!(self.before, after, "the database changed");
    }

    fn consents_path(&self) -> String {
        format!("/v1/people/{}/consents", self.alex_person)
    }

    /// A valid new person, which priya may create.
    fn person(&self) -> Value {
        json!({"display_name": "Nova Quinn"})
    }

    /// A valid new account, which admin may create.
    fn user(&self) -> Value {
        json!({
            "username": "nova",
            "password": "a-long-enough-password",
            "role": "carer",
            "display_name": "Nova Quinn",
        })
    }

    /// A valid consent, which alex may give sam.
    fn consent(&self) -> Value {
        json!({"carer_id": self.sam.user_id, "scopes": ["appointments"]})
    }
}

/// The current version of one of alex's plans.
async fn plan_version(store: &dyn Store, alex_person: &str, kind: PlanKind) -> Option<i32> {
    store
        .current_plan(alex_person.parse().unwrap(), kind)
        .await
        .unwrap()
        .map(|plan| plan.version)
}

async fn snapshot(server: &TestServer, alex_person: &str) -> Snapshot {
    let store = &server.store;
    let mut person_names = store.person_display_names().await.unwrap();
    person_names.sort();
    let mut teams: Vec<String> = store
        .teams()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    teams.sort();
    Snapshot {
        people: store.count_people().await.unwrap(),
        person_names,
        teams,
        alex_consents: store
            .consents(alex_person.parse().unwrap())
            .await
            .unwrap()
            .len(),
        alex_plan_versions: (
            plan_version(store.as_ref(), alex_person, PlanKind::EnablementPlan).await,
            plan_version(store.as_ref(), alex_person, PlanKind::Wrap).await,
        ),
        nova_account: store.user_by_username("nova").await.unwrap().is_some(),
    }
}

/// Sends raw bytes with the content type given (none when `None`).
async fn send_raw(
    server: &TestServer,
    method: Method,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> Reply {
    let mut request = server.http.request(method, server.url(path)).body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    read(request).await
}

/// Checks a refusal: the status, the error code, a JSON body with a message, and (if given)
/// the field named.
fn assert_refused(reply: &Reply, status: StatusCode, code: &str, field: Option<&str>, what: &str) {
    assert!(
        reply.status.is_client_error(),
        "{what}: not a 4xx: {} {}",
        reply.status,
        reply.text
    );
    assert_eq!(reply.status, status, "{what}: {}", reply.text);
    assert_eq!(reply.code(), code, "{what}: {}", reply.text);
    assert!(
        reply.body["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{what}: no message: {}",
        reply.text
    );
    let content_type = reply
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        content_type.starts_with("application/json"),
        "{what}: content type {content_type:?}"
    );
    // A client reads every refusal as core's typed body, with codes it knows.
    let typed: ErrorBody = serde_json::from_value(reply.body.clone())
        .unwrap_or_else(|e| panic!("{what}: not an ErrorBody ({e}): {}", reply.text));
    assert!(
        typed
            .fields
            .iter()
            .all(|f| f.code != FieldErrorCode::Unrecognised),
        "{what}: a field code core does not know: {}",
        reply.text
    );
    if let Some(field) = field {
        // The field itself, or a part of it (`role.carer` for a bad `role`).
        let names = |f: &String| {
            f == field
                || f.strip_prefix(field)
                    .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
        };
        assert!(
            reply.fields().iter().any(names),
            "{what}: {field} not named: {}",
            reply.text
        );
    }
}

/// The code the error body gives `field`.
fn field_code(reply: &Reply, field: &str) -> String {
    reply.body["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["field"] == field)
        .and_then(|f| f["code"].as_str())
        .unwrap_or("")
        .to_owned()
}

/// Ways to break a valid JSON text, each a syntax error before any field could be read.
fn malformed_variants(valid: &Value) -> Vec<Vec<u8>> {
    let text = serde_json::to_string(valid).unwrap();
    assert!(text.starts_with("{\"") && text.ends_with('}'));
    let first_key = |prefix: &[u8]| {
        let mut bytes = b"{\"".to_vec();
        bytes.extend_from_slice(prefix);
        bytes.extend_from_slice(&text.as_bytes()[2..]);
        bytes
    };
    vec![
        text.as_bytes()[..text.len() - 1].to_vec(),
        format!("{},}}", &text[..text.len() - 1]).into_bytes(),
        text.replace('"', "'").into_bytes(),
        format!("{text} trailing").into_bytes(),
        format!("{text}{{}}").into_bytes(),
        format!("{text}}}").into_bytes(),
        first_key(b"\xff\xfe"),
        first_key(b"\\ud800"),
        b"{".to_vec(),
        b"not json".to_vec(),
        b"".to_vec(),
        b"   ".to_vec(),
    ]
}

async fn malformed_json_is_a_bad_request(backend: Backend) {
    let world = World::start(backend).await;
    let server = &world.server;
    let consents = world.consents_path();
    let login = json!({"username": "alex", "password": livingwell_tests::PASSWORD});
    let targets = [
        ("/v1/auth/login", None, login),
        (
            "/v1/people",
            Some(world.priya.access_token.as_str()),
            world.person(),
        ),
        (
            "/v1/teams",
            Some(world.admin.access_token.as_str()),
            json!({"name": "Nova Hub"}),
        ),
        (
            "/v1/users",
            Some(world.admin.access_token.as_str()),
            world.user(),
        ),
        (
            consents.as_str(),
            Some(world.alex.access_token.as_str()),
            world.consent(),
        ),
        (
            "/v1/audit/offline-reads",
            Some(world.sam.access_token.as_str()),
            json!({"reads": [{
                "event_id": uuid::Uuid::now_v7(),
                "person_id": world.alex_person,
                "record": "crisis_plan",
                "sections": ["when_well"],
                "read_at": chrono::Utc::now(),
            }]}),
        ),
    ];
    for (path, token, valid) in targets {
        for body in malformed_variants(&valid) {
            let what = format!("{path} with {:?}", String::from_utf8_lossy(&body));
            let reply = send_raw(
                server,
                Method::POST,
                path,
                token,
                Some("application/json"),
                body,
            )
            .await;
            assert_refused(
                &reply,
                StatusCode::BAD_REQUEST,
                "bad_request",
                Some("body"),
                &what,
            );
        }
    }
    world.assert_unchanged().await;
}

/// A text that is not JSON is a bad request even when a field before the syntax error is
/// unknown or of the wrong type: what is wrong with it is that it cannot be read.
async fn malformed_json_is_a_bad_request_whatever_came_before_the_error(backend: Backend) {
    let world = World::start(backend).await;
    for body in [
        &br#"{"display_name": "Nova", "nickname": "N",}"#[..],
        br#"{"nickname": "N", "display_name": "Nova""#,
        br#"{"display_name": 42,}"#,
        br#"{"display_name": "Nova", "team_id": 7"#,
    ] {
        let reply = send_raw(
            &world.server,
            Method::POST,
            "/v1/people",
            Some(&world.priya.access_token),
            Some("application/json"),
            body.to_vec(),
        )
        .await;
        let what = String::from_utf8_lossy(body).into_owned();
        assert_refused(
            &reply,
            StatusCode::BAD_REQUEST,
            "bad_request",
            Some("body"),
            &what,
        );
    }
    world.assert_unchanged().await;
}

async fn wrong_content_type_is_unsupported_media_type(backend: Backend) {
    let world = World::start(backend).await;
    let server = &world.server;
    let login = json!({"username": "alex", "password": livingwell_tests::PASSWORD});
    let consents = world.consents_path();
    // Each body is valid: only its declared type is wrong.
    let targets = [
        ("/v1/auth/login", None, login),
        (
            "/v1/people",
            Some(world.priya.access_token.as_str()),
            world.person(),
        ),
        (
            "/v1/users",
            Some(world.admin.access_token.as_str()),
            world.user(),
        ),
        (
            "/v1/teams",
            Some(world.admin.access_token.as_str()),
            json!({"name": "Nova Hub"}),
        ),
        (
            consents.as_str(),
            Some(world.alex.access_token.as_str()),
            world.consent(),
        ),
    ];
    for (path, token, body) in targets {
        for content_type in [
            Some("text/plain"),
            None,
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=x"),
            Some("application/jsonx"),
            Some("text/json"),
            Some(""),
        ] {
            let reply = send_raw(
                server,
                Method::POST,
                path,
                token,
                content_type,
                serde_json::to_vec(&body).unwrap(),
            )
            .await;
            let what = format!("{path} as {content_type:?}");
            assert_refused(
                &reply,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                None,
                &what,
            );
        }
    }
    world.assert_unchanged().await;
    // The same bodies as JSON would have been accepted: the refusals were about the type.
    let ok = server
        .post("/v1/people", &world.priya.access_token, world.person())
        .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.text);
}

async fn oversized_body_is_payload_too_large(backend: Backend) {
    let world = World::start(backend).await;
    let server = &world.server;
    let huge = "a".repeat(300 * 1024);
    let consents = world.consents_path();
    let targets = [
        (
            "/v1/auth/login",
            None,
            json!({"username": huge, "password": "x"}),
        ),
        (
            "/v1/people",
            Some(world.priya.access_token.as_str()),
            json!({"display_name": huge}),
        ),
        (
            "/v1/teams",
            Some(world.admin.access_token.as_str()),
            json!({"name": "Nova Hub", "hub_address": huge}),
        ),
        (
            consents.as_str(),
            Some(world.alex.access_token.as_str()),
            json!({"carer_id": world.sam.user_id, "scopes": ["appointments"], "padding": huge}),
        ),
    ];
    for (path, token, body) in targets {
        let bytes = serde_json::to_vec(&body).unwrap();
        assert!(bytes.len() > 256 * 1024);
        let reply = send_raw(
            server,
            Method::POST,
            path,
            token,
            Some("application/json"),
            bytes,
        )
        .await;
        assert_refused(
            &reply,
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            None,
            path,
        );
    }
    world.assert_unchanged().await;
    // The server carries on.
    server.login("alex").await;
}

async fn unknown_fields_are_refused_and_named(backend: Backend) {
    let world = World::start(backend).await;
    let server = &world.server;
    let priya = world.priya.access_token.as_str();
    let admin = world.admin.access_token.as_str();
    let alex = world.alex.access_token.as_str();
    let consents = world.consents_path();
    let with = |mut body: Value, field: &str, value: Value| {
        body.as_object_mut()
            .unwrap()
            .insert(field.to_owned(), value);
        body
    };
    let cases = [
        (
            "/v1/auth/login",
            None,
            json!({"username": "alex", "password": livingwell_tests::PASSWORD, "remember_me": true}),
            "remember_me",
        ),
        (
            "/v1/people",
            Some(priya),
            with(world.person(), "role", json!("admin")),
            "role",
        ),
        (
            "/v1/people",
            Some(priya),
            with(world.person(), "displayName", json!("Nova")),
            "displayName",
        ),
        (
            "/v1/people",
            Some(priya),
            with(
                world.person(),
                "account",
                json!({"username": "nova", "password": "a-long-enough-password"}),
            ),
            // Staff no longer set a person's password: the account comes by invitation.
            "account",
        ),
        (
            "/v1/users",
            Some(admin),
            with(world.user(), "is_admin", json!(true)),
            "is_admin",
        ),
        (
            "/v1/teams",
            Some(admin),
            json!({"name": "Nova Hub", "budget": 1}),
            "budget",
        ),
        (
            consents.as_str(),
            Some(alex),
            with(world.consent(), "forever", json!(true)),
            "forever",
        ),
        // A control character in the unknown name is not echoed.
        (
            "/v1/teams",
            Some(admin),
            json!({"name": "Nova Hub", "\u{0}evil": 1}),
            "evil",
        ),
    ];
    for (path, token, body, field) in cases {
        let reply = server.send(Method::POST, path, token, Some(body)).await;
        let what = format!("{path} with {field}");
        assert_refused(
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            Some(field),
            &what,
        );
        assert_eq!(
            field_code(&reply, field),
            "unknown_field",
            "{what}: {}",
            reply.text
        );
        assert_eq!(reply.fields().len(), 1, "{what}: {}", reply.text);
    }
    // A very long unknown name is named briefly, not echoed whole.
    let long_name = "z".repeat(10_000);
    let reply = server
        .post(
            "/v1/teams",
            admin,
            json!({"name": "Nova Hub", long_name.clone(): 1}),
        )
        .await;
    assert_refused(
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        None,
        "long name",
    );
    assert!(
        !reply.text.contains(&long_name),
        "echoed: {} bytes",
        reply.text.len()
    );
    assert!(
        reply.fields().iter().all(|f| f.len() <= 64),
        "{}",
        reply.text
    );
    world.assert_unchanged().await;
}

async fn duplicate_fields_are_refused_and_named(backend: Backend) {
    let world = World::start(backend).await;
    let body = br#"{"display_name": "Nova Quinn", "display_name": "Someone Else"}"#;
    let reply = send_raw(
        &world.server,
        Method::POST,
        "/v1/people",
        Some(&world.priya.access_token),
        Some("application/json"),
        body.to_vec(),
    )
    .await;
    assert_refused(
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
        Some("display_name"),
        "duplicate display_name",
    );
    world.assert_unchanged().await;
}

/// Posts each `(path, token, body, field)` and expects a 422 naming `field` with `code`.
async fn assert_each_invalid(
    server: &TestServer,
    cases: Vec<(String, Option<&str>, Value, &str)>,
    code: &str,
) {
    for (path, token, body, field) in cases {
        let reply = server
            .send(Method::POST, &path, token, Some(body.clone()))
            .await;
        let shown: String = body.to_string().chars().take(120).collect();
        let what = format!("{path} with {shown}");
        assert_refused(
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            Some(field),
            &what,
        );
        assert_eq!(field_code(&reply, field), code, "{what}: {}", reply.text);
    }
}

/// The name fields of the create endpoints, each set to `value`.
fn name_cases<'a>(world: &'a World, value: &str) -> Vec<(String, Option<&'a str>, Value, &'a str)> {
    let priya = Some(world.priya.access_token.as_str());
    let admin = Some(world.admin.access_token.as_str());
    let mut user = world.user();
    user["display_name"] = json!(value);
    vec![
        (
            "/v1/people".into(),
            priya,
            json!({"display_name": value}),
            "display_name",
        ),
        ("/v1/users".into(), admin, user, "display_name"),
        ("/v1/teams".into(), admin, json!({"name": value}), "name"),
    ]
}

async fn nul_in_a_name_is_refused_and_named(backend: Backend) {
    let world = World::start(backend).await;
    let server = &world.server;
    let admin = Some(world.admin.access_token.as_str());
    for name in ["Al\u{0}ex", "\u{0}", "Nova\u{0}"] {
        assert_each_invalid(server, name_cases(&world, name), "contains_nul").await;
    }
    let mut user_password = world.user();
    user_password["password"] = json!("a-long-enough-pass\u{0}word");
    assert_each_invalid(
        server,
        vec![
            (
                "/v1/auth/accept-invitation".into(),
                None,
                json!({
                    "code": "K7QD-2M9X-PB4T-WZ8H",
                    "username": "nova",
                    "password": "a-long-enough-pass\u{0}word",
                }),
                "password",
            ),
            ("/v1/users".into(), admin, user_password, "password"),
            (
                "/v1/teams".into(),
                admin,
                json!({"name": "Nova Hub", "hub_address": "1 High St\u{0}"}),
                "hub_address",
            ),
            (
                "/v1/auth/login".into(),
                None,
                json!({"username": "al\u{0}ex", "password": livingwell_tests::PASSWORD}),
                "username",
            ),
            (
                "/v1/auth/login".into(),
                None,
                json!({"username": "alex", "password": "livingwell-demo\u{0}"}),
                "password",
            ),
            (
                format!("/v1/people/{}/carers", world.alex_person),
                Some(world.alex.access_token.as_str()),
                json!({"carer_id": world.sam.user_id, "relationship": "my\u{0}friend"}),
                "relationship",
            ),
        ],
        "contains_nul",
    )
    .await;
    // A username with NUL is not a username at all.
    let mut user_name = world.user();
    user_name["username"] = json!("no\u{0}va");
    assert_each_invalid(
        server,
        vec![("/v1/users".into(), admin, user_name, "username")],
        "invalid_username",
    )
    .await;
    world.assert_unchanged().await;
    // Nothing broke: the database still answers, on Postgres too.
    let me = server.get("/v1/me", &world.priya.access_token).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
}

async fn very_long_display_name_is_too_long(backend: Backend) {
    let world = World::start(backend).await;
    for length in [121, 1_000, 100_000] {
        let name = "N".repeat(length);
        assert_each_invalid(&world.server, name_cases(&world, &name), "too_long").await;
    }
    // Counted in characters, not bytes: 121 accented letters are too long too.
    let name = "é".repeat(121);
    assert_each_invalid(&world.server, name_cases(&world, &name), "too_long").await;
    world.assert_unchanged().await;
}

async fn bidi_and_zero_width_characters_in_names_are_refused(backend: Backend) {
    let world = World::start(backend).await;
    for name in [
        "Sam\u{202E}ailuJ",
        "Sa\u{200B}m",
        "\u{200B}",
        "\u{2066}Jo\u{2069}",
        "Al\u{FEFF}ex",
        "Pri\u{200D}ya",
        "Mor\u{2060}gan",
        "A\nB",
        "Tab\there",
        "Bell\u{7}",
    ] {
        assert_each_invalid(
            &world.server,
            name_cases(&world, name),
            "invalid_characters",
        )
        .await;
    }
    world.assert_unchanged().await;
}

async fn wrong_types_are_refused_and_named(backend: Backend) {
    let world = World::start(backend).await;
    let priya = Some(world.priya.access_token.as_str());
    let admin = Some(world.admin.access_token.as_str());
    let alex = Some(world.alex.access_token.as_str());
    let consents = world.consents_path();
    let set = |mut body: Value, field: &str, value: Value| {
        body[field] = value;
        body
    };
    let person = world.person();
    let user = world.user();
    let consent = world.consent();
    let cases: Vec<(String, Option<&str>, Value, &str)> = vec![
        (
            "/v1/people".into(),
            priya,
            json!({"display_name": 42}),
            "display_name",
        ),
        (
            "/v1/people".into(),
            priya,
            json!({"display_name": ["Nova"]}),
            "display_name",
        ),
        (
            "/v1/people".into(),
            priya,
            json!({"display_name": null}),
            "display_name",
        ),
        (
            "/v1/people".into(),
            priya,
            json!({"display_name": {"first": "Nova"}}),
            "display_name",
        ),
        (
            "/v1/people".into(),
            priya,
            set(person.clone(), "team_id", json!(7)),
            "team_id",
        ),
        (
            "/v1/people".into(),
            priya,
            set(person.clone(), "team_id", json!("not-a-uuid")),
            "team_id",
        ),
        (
            "/v1/auth/accept-invitation".into(),
            None,
            json!({"code": "K7QD-2M9X-PB4T-WZ8H", "username": 7, "password": "a-long-enough-password"}),
            "username",
        ),
        (
            "/v1/people".into(),
            priya,
            set(person, "team_id", json!(["not", "one"])),
            "team_id",
        ),
        ("/v1/people".into(), priya, json!({}), "display_name"),
        (
            "/v1/auth/login".into(),
            None,
            json!({"username": "alex", "password": ["x"]}),
            "password",
        ),
        (
            "/v1/auth/login".into(),
            None,
            json!({"username": true, "password": "x"}),
            "username",
        ),
        (
            "/v1/users".into(),
            admin,
            set(user.clone(), "role", json!("superuser")),
            "role",
        ),
        (
            "/v1/users".into(),
            admin,
            set(user.clone(), "role", json!(1)),
            "role",
        ),
        (
            "/v1/users".into(),
            admin,
            set(user.clone(), "role", json!(null)),
            "role",
        ),
        (
            "/v1/users".into(),
            admin,
            set(user.clone(), "role", json!(["carer"])),
            "role",
        ),
        (
            "/v1/users".into(),
            admin,
            set(user.clone(), "role", json!({"carer": true})),
            "role",
        ),
        (
            "/v1/users".into(),
            admin,
            set(user.clone(), "person_id", json!("abc")),
            "person_id",
        ),
        (
            "/v1/users".into(),
            admin,
            set(user, "password", json!(123_456_789_012_i64)),
            "password",
        ),
        ("/v1/teams".into(), admin, json!({"name": 3.5}), "name"),
        (
            "/v1/teams".into(),
            admin,
            json!({"name": "Nova Hub", "hub_address": false}),
            "hub_address",
        ),
        (
            consents.clone(),
            alex,
            set(consent.clone(), "scopes", json!("all")),
            "scopes",
        ),
        (
            consents.clone(),
            alex,
            set(consent.clone(), "carer_id", json!(12)),
            "carer_id",
        ),
        (
            consents.clone(),
            alex,
            set(consent.clone(), "carer_id", json!("sam")),
            "carer_id",
        ),
        (
            consents.clone(),
            alex,
            set(consent.clone(), "expires_at", json!("tomorrow")),
            "expires_at",
        ),
        (
            consents.clone(),
            alex,
            set(consent.clone(), "expires_at", json!(1_700_000_000)),
            "expires_at",
        ),
        (
            consents.clone(),
            alex,
            set(
                consent.clone(),
                "crisis_plan_sections",
                json!({"when_well": true}),
            ),
            "crisis_plan_sections",
        ),
        (
            consents.clone(),
            alex,
            set(consent.clone(), "crisis_plan_sections", json!([true])),
            "crisis_plan_sections[0]",
        ),
    ];
    for (path, token, body, field) in cases {
        let reply = world
            .server
            .send(Method::POST, &path, token, Some(body.clone()))
            .await;
        let what = format!("{path} with {body}");
        assert_refused(
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            Some(field),
            &what,
        );
    }
    // An element of the wrong kind is named with its place in the list.
    for (scopes, field) in [
        (json!(["appointments", "everything"]), "scopes[1]"),
        (json!([1]), "scopes[0]"),
        (json!(["appointments", null]), "scopes[1]"),
    ] {
        let reply = world
            .server
            .post(
                &consents,
                &world.alex.access_token,
                set(consent.clone(), "scopes", scopes.clone()),
            )
            .await;
        assert_refused(
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            Some(field),
            &format!("scopes {scopes}"),
        );
    }
    // A body that is not an object at all.
    for body in [json!([]), json!("Nova"), json!(null), json!(42)] {
        let reply = world
            .server
            .post("/v1/people", &world.priya.access_token, body.clone())
            .await;
        assert_refused(
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            Some("body"),
            &body.to_string(),
        );
    }
    world.assert_unchanged().await;
}

async fn deeply_nested_json_is_refused_cleanly(backend: Backend) {
    let world = World::start(backend).await;
    let server = &world.server;
    let depth = 100_000;
    let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    for body in [
        nested.clone(),
        format!("{{\"display_name\": {nested}}}"),
        format!("{{\"display_name\": \"Nova\", \"team_id\": {nested}}}"),
        format!("{{\"display_name\": \"Nova\", \"account\": {nested}}}"),
        format!("{}{}", "{\"a\":".repeat(depth / 5), "}".repeat(depth / 5)),
    ] {
        let reply = send_raw(
            server,
            Method::POST,
            "/v1/people",
            Some(&world.priya.access_token),
            Some("application/json"),
            body,
        )
        .await;
        assert!(
            matches!(
                reply.status,
                StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY
            ),
            "{} {}",
            reply.status,
            reply.text
        );
        assert!(!reply.code().is_empty(), "{}", reply.text);
        assert!(!reply.fields().is_empty(), "{}", reply.text);
    }
    world.assert_unchanged().await;
    server.login("alex").await;
}

async fn malformed_uuid_in_a_path_is_a_json_not_found(backend: Backend) {
    let world = World::start(backend).await;
    let server = &world.server;
    let priya = world.priya.access_token.as_str();
    let alex = world.alex.access_token.as_str();
    for id in [
        "not-a-uuid",
        "123",
        "00000000-0000-0000-0000-00000000000g",
        "%00",
        "'%20OR%20'1'='1",
        "..%2F..%2Fetc%2Fpasswd",
        &format!("{}x", world.alex_person),
        &"f".repeat(5_000),
    ] {
        for (method, path, token, body) in [
            (Method::GET, format!("/v1/people/{id}"), priya, None),
            (Method::GET, format!("/v1/people/{id}/consents"), alex, None),
            (
                Method::POST,
                format!("/v1/people/{id}/consents"),
                alex,
                Some(world.consent()),
            ),
            (
                Method::GET,
                format!("/v1/people/{id}/access-log"),
                alex,
                None,
            ),
            (
                Method::DELETE,
                format!("/v1/people/{}/consents/{id}", world.alex_person),
                alex,
                None,
            ),
            (
                Method::PUT,
                format!("/v1/people/{id}/team"),
                priya,
                Some(json!({"team_id": uuid::Uuid::new_v4()})),
            ),
        ] {
            let reply = server.send(method.clone(), &path, Some(token), body).await;
            let shown: String = path.chars().take(80).collect();
            assert_refused(
                &reply,
                StatusCode::NOT_FOUND,
                "not_found",
                None,
                &format!("{method} {shown}"),
            );
        }
    }
    world.assert_unchanged().await;
}

async fn unknown_route_is_a_json_not_found(backend: Backend) {
    let world = World::start(backend).await;
    let server = &world.server;
    for path in [
        "/v1/nothing-here",
        "/v2/people",
        "/",
        "/v1",
        "/v1/people/x/y/z",
        "/v1/../../etc/passwd",
        "/.well-known/other.json",
    ] {
        for token in [None, Some(world.priya.access_token.as_str())] {
            for method in [Method::GET, Method::POST] {
                let reply = server.send(method.clone(), path, token, None).await;
                let what = format!("{method} {path} signed in: {}", token.is_some());
                assert_refused(&reply, StatusCode::NOT_FOUND, "not_found", None, &what);
            }
        }
    }
    world.assert_unchanged().await;
}

async fn wrong_method_is_a_json_method_not_allowed(backend: Backend) {
    let world = World::start(backend).await;
    let server = &world.server;
    let person = format!("/v1/people/{}", world.alex_person);
    for (method, path) in [
        (Method::DELETE, "/v1/auth/login"),
        (Method::GET, "/v1/auth/login"),
        (Method::PUT, "/v1/me"),
        (Method::POST, "/v1/me"),
        (Method::PATCH, "/v1/teams"),
        (Method::DELETE, "/v1/teams"),
        (Method::DELETE, person.as_str()),
        (Method::PUT, "/.well-known/jwks.json"),
    ] {
        let reply = server
            .send(method.clone(), path, Some(&world.admin.access_token), None)
            .await;
        let what = format!("{method} {path}");
        assert_eq!(
            reply.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{what}: {}",
            reply.text
        );
        assert!(
            !reply.code().is_empty(),
            "{what}: no JSON error body: {}",
            reply.text
        );
        assert!(
            reply.body["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{what}: {}",
            reply.text
        );
        assert!(
            reply.headers.contains_key("allow"),
            "{what}: a 405 must say which methods are allowed"
        );
    }
    world.assert_unchanged().await;
}

async fn bad_paging_query_is_refused_and_named(backend: Backend) {
    let world = World::start(backend).await;
    let server = &world.server;
    let log = format!("/v1/people/{}/access-log", world.alex_person);
    for (query, field) in [
        ("limit=100000", "limit"),
        ("limit=abc", "limit"),
        ("limit=0", "limit"),
        ("limit=-1", "limit"),
        ("limit=201", "limit"),
        ("limit=1.5", "limit"),
        ("limit=", "limit"),
        ("limit=99999999999999999999999", "limit"),
        ("limit=%00", "limit"),
        ("cursor=abc", "cursor"),
        ("cursor=%27%20OR%201=1", "cursor"),
    ] {
        let reply = server
            .get(&format!("{log}?{query}"), &world.alex.access_token)
            .await;
        assert_refused(
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            Some(field),
            &format!("access log ?{query}"),
        );
    }
    // The caseload's paging too.
    let priya_id = world.priya.user_id.parse().unwrap();
    let team = server.store.teams_of_user(priya_id).await.unwrap()[0].id;
    for (query, field) in [
        ("limit=100000", "limit"),
        ("limit=abc", "limit"),
        ("cursor=not-a-uuid", "cursor"),
    ] {
        let reply = server
            .get(
                &format!("/v1/teams/{team}/caseload?{query}"),
                &world.priya.access_token,
            )
            .await;
        assert_refused(
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            Some(field),
            &format!("caseload ?{query}"),
        );
    }
    // Refused before anything was read: no access-log entry was written either.
    world.assert_unchanged().await;
    // The control: a good limit is served.
    let ok = server
        .get(&format!("{log}?limit=5"), &world.alex.access_token)
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
}
