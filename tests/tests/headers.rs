//! What every answer says about itself: no sniffing, JSON in UTF-8, RFC 6750 challenges.

use livingwell_tests::{Backend, TestServer, on_both_databases, read};
use reqwest::header::{CONTENT_TYPE, WWW_AUTHENTICATE, X_CONTENT_TYPE_OPTIONS};
use reqwest::{Method, StatusCode};
use serde_json::json;

on_both_databases!(
    every_answer_forbids_sniffing_and_labels_json_as_utf8,
    json_in_another_charset_is_refused_and_nothing_is_stored,
    a_request_without_a_token_gets_a_challenge_without_an_error_code,
);

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
