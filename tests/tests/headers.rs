//! What every answer says about itself: no sniffing, JSON in UTF-8, RFC 6750 challenges, and
//! CORS only for the origins the deployment names.

use livingwell_server::http::Settings;
use livingwell_tests::{Backend, TestServer, on_both_databases, read};
use reqwest::header::{CONTENT_TYPE, WWW_AUTHENTICATE, X_CONTENT_TYPE_OPTIONS};
use reqwest::{Method, StatusCode};
use serde_json::json;

on_both_databases!(
    every_answer_forbids_sniffing_and_labels_json_as_utf8,
    json_in_another_charset_is_refused_and_nothing_is_stored,
    a_request_without_a_token_gets_a_challenge_without_an_error_code,
    a_named_origins_page_may_call_the_api_and_no_other_origin_is_told_it_may,
    with_no_origin_named_no_page_on_another_origin_may_call_the_api,
);

const STAFF_TOOL: &str = "https://tool.example.nhs.uk";

/// A browser's preflight for a staff tool's `GET /v1/me` with a bearer token.
async fn preflight(server: &TestServer, origin: &str) -> reqwest::Response {
    reqwest::Client::new()
        .request(Method::OPTIONS, server.url("/v1/me"))
        .header("origin", origin)
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap()
}

/// A page of `origin` calling `GET /v1/me` with `token`.
async fn call_from(server: &TestServer, origin: &str, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(server.url("/v1/me"))
        .header("origin", origin)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn a_named_origins_page_may_call_the_api_and_no_other_origin_is_told_it_may(
    backend: Backend,
) {
    let settings = Settings {
        cors_origins: vec![STAFF_TOOL.parse().unwrap()],
        ..Settings::default()
    };
    let server = TestServer::start_with(backend, settings).await.unwrap();

    let allowed = preflight(&server, STAFF_TOOL).await;
    assert!(allowed.status().is_success(), "{}", allowed.status());
    let headers = allowed.headers();
    assert_eq!(headers["access-control-allow-origin"], STAFF_TOOL);
    let methods = headers["access-control-allow-methods"].to_str().unwrap();
    assert!(
        methods.contains("GET") && methods.contains("PUT"),
        "{methods}"
    );
    let asked = headers["access-control-allow-headers"].to_str().unwrap();
    assert!(asked.contains("authorization"), "{asked}");
    assert!(headers.get("access-control-allow-credentials").is_none());

    // The call itself: the answer names the origin and lets the page read the request id.
    let token = server.login("priya").await.access_token;
    let call = call_from(&server, STAFF_TOOL, &token).await;
    assert_eq!(call.status(), StatusCode::OK);
    assert_eq!(call.headers()["access-control-allow-origin"], STAFF_TOOL);
    let exposed = call.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap();
    assert!(
        exposed.contains("x-request-id") && exposed.contains("etag"),
        "{exposed}"
    );

    for other in [
        "https://evil.example",
        "https://tool.example.nhs.uk.evil.example",
    ] {
        let refused = preflight(&server, other).await;
        assert!(
            refused
                .headers()
                .get("access-control-allow-origin")
                .is_none(),
            "{other}: {:?}",
            refused.headers()
        );
    }
}

async fn with_no_origin_named_no_page_on_another_origin_may_call_the_api(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let refused = preflight(&server, STAFF_TOOL).await;
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none(),
        "{:?}",
        refused.headers()
    );
    let token = server.login("priya").await.access_token;
    let call = call_from(&server, STAFF_TOOL, &token).await;
    assert!(call.headers().get("access-control-allow-origin").is_none());
}

async fn every_answer_forbids_sniffing_and_labels_json_as_utf8(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let alex = server.login("alex").await;
    let person = alex.person_id.clone().unwrap();
    let token = alex.access_token.as_str();
    let json_answers = [
        ("/openapi.json", None),
        ("/.well-known/jwks.json", None),
        ("/v1/me", Some(token)),
        ("/v1/me", None),
        ("/v1/no-such-route", Some(token)),
    ];
    for (path, token) in json_answers {
        let reply = server.send(Method::GET, path, token, None).await;
        assert_eq!(
            reply.headers[X_CONTENT_TYPE_OPTIONS], "nosniff",
            "{path}: {:?}",
            reply.headers
        );
        assert_eq!(
            reply.headers[CONTENT_TYPE], "application/json; charset=utf-8",
            "{path} ({})",
            reply.status
        );
    }
    let other_answers = [
        "/healthz".to_owned(),
        "/readyz".to_owned(),
        format!("/v1/people/{person}/crisis-plan.html"),
        format!("/v1/people/{person}/appointments.ics"),
        "/docs/".to_owned(),
    ];
    for path in other_answers {
        let reply = server.get(&path, token).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        assert_eq!(reply.headers[X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
        assert!(
            !reply.headers[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{path}"
        );
    }
}

async fn json_in_another_charset_is_refused_and_nothing_is_stored(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let alex = server.login("alex").await;
    let person = alex.person_id.clone().unwrap();
    let sam = server.login("sam").await;
    let path = format!("/v1/people/{person}/consents");
    let before = server.get(&path, &alex.access_token).await.body;
    let body = json!({"carer_id": sam.user_id, "scopes": ["appointments"]}).to_string();
    for content_type in [
        "application/json; charset=utf-16",
        "application/json; charset=iso-8859-1",
    ] {
        let reply = read(
            server
                .http
                .post(server.url(&path))
                .bearer_auth(&alex.access_token)
                .header(CONTENT_TYPE, content_type)
                .body(body.clone()),
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type}"
        );
        assert_eq!(reply.code(), "unsupported_media_type");
    }
    assert_eq!(server.get(&path, &alex.access_token).await.body, before);
    // UTF-8, named in any spelling, is read.
    let reply = read(
        server
            .http
            .post(server.url(&path))
            .bearer_auth(&alex.access_token)
            .header(CONTENT_TYPE, "application/json; charset=UTF-8")
            .body(body),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
}

async fn a_request_without_a_token_gets_a_challenge_without_an_error_code(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let bare = server.send(Method::GET, "/v1/me", None, None).await;
    assert_eq!(bare.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        bare.headers[WWW_AUTHENTICATE],
        "Bearer realm=\"livingwell\""
    );
    // A token that is not accepted names the error (RFC 6750 §3.1).
    let bad = server
        .send(Method::GET, "/v1/me", Some("not-a-token"), None)
        .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        bad.headers[WWW_AUTHENTICATE],
        "Bearer realm=\"livingwell\", error=\"invalid_token\""
    );
    // Another scheme is no bearer token at all.
    let basic = read(
        server
            .http
            .get(server.url("/v1/me"))
            .basic_auth("alex", Some("livingwell-demo")),
    )
    .await;
    assert_eq!(basic.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        basic.headers[WWW_AUTHENTICATE],
        "Bearer realm=\"livingwell\""
    );
}
