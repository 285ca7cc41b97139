//! The team performance dashboard in a browser's shoes: a sign-in form without a cookie, a
//! strict session cookie after signing in, the page with its charts and tables, and the edges —
//! a bearer token is not a cookie (nor the other way), a wrong password, a cross-origin POST,
//! signing out, a disabled account, and accounts that are not practitioners.

#![allow(clippy::unwrap_used)]

use livingwell_tests::{Backend, PASSWORD, TestServer, on_both_databases};
use reqwest::header::{self, HeaderMap};
use reqwest::{Method, StatusCode};

on_both_databases!(
    without_a_cookie_the_page_is_the_sign_in_form,
    signing_in_sets_a_strict_cookie_and_the_page_shows_the_report,
    a_bearer_token_is_not_a_cookie_and_a_cookie_is_not_a_bearer_token,
    a_wrong_password_gets_the_form_with_a_message_and_no_cookie,
    a_cross_origin_post_is_refused,
    signing_out_or_a_disabled_account_ends_the_browser_session,
    only_practitioners_may_use_the_page,
    a_practitioner_sees_only_their_own_teams,
);

const PAGE: &str = "/reports/performance.html";

/// A browser that does not follow redirects, so each answer is seen.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

async fn answer(request: reqwest::RequestBuilder) -> Answer {
    let reply = request.send().await.unwrap();
    Answer {
        status: reply.status(),
        headers: reply.headers().clone(),
        text: reply.text().await.unwrap(),
    }
}

fn origin(server: &TestServer) -> String {
    server.base_url.clone()
}

async fn sign_in_as(server: &TestServer, username: &str, password: &str, from: &str) -> Answer {
    answer(
        browser()
            .post(server.url("/reports/sign-in"))
            .header(header::ORIGIN, from)
            .form(&[("username", username), ("password", password)]),
    )
    .await
}

/// Signs in as a practitioner; the `name=value` to send back as the cookie.
async fn signed_in(server: &TestServer, username: &str) -> String {
    let reply = sign_in_as(server, username, PASSWORD, &origin(server)).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text);
    let cookie = reply.headers[header::SET_COOKIE].to_str().unwrap();
    cookie.split(';').next().unwrap().to_owned()
}

async fn page(server: &TestServer, cookie: Option<&str>) -> Answer {
    let mut request = browser().get(server.url(PAGE));
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    answer(request).await
}

fn is_sign_in_form(text: &str) -> bool {
    text.contains(r#"action="/reports/sign-in""#)
        && text.contains(r#"name="password""#)
        && !text.contains("<svg")
}

fn is_report(text: &str) -> bool {
    text.contains("<svg") && text.contains(r#"role="img""#) && text.contains("<table")
}

async fn without_a_cookie_the_page_is_the_sign_in_form(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let reply = page(&server, None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(is_sign_in_form(&reply.text), "{}", reply.text);
    assert!(
        reply.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let policy = reply.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(policy.contains("default-src 'none'"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert_eq!(reply.headers[header::CACHE_CONTROL], "no-store");
    assert!(reply.headers.get(header::LOCATION).is_none());
    // A made-up cookie is no sign-in either.
    let reply = page(&server, Some("lw_reports=lwb_madeup")).await;
    assert!(is_sign_in_form(&reply.text));
}

async fn signing_in_sets_a_strict_cookie_and_the_page_shows_the_report(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let reply = sign_in_as(&server, "priya", PASSWORD, &origin(&server)).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    // Back to the page itself: no token, no query.
    assert_eq!(reply.headers[header::LOCATION], PAGE);
    let set = reply.headers[header::SET_COOKIE].to_str().unwrap();
    let attributes: Vec<&str> = set.split(';').map(str::trim).collect();
    assert!(attributes[0].starts_with("lw_reports=lwb_"), "{set}");
    assert!(attributes.contains(&"HttpOnly"), "{set}");
    assert!(attributes.contains(&"SameSite=Strict"), "{set}");
    assert!(attributes.contains(&"Path=/reports"), "{set}");
    // The test server's issuer is not an https URL.
    assert!(!attributes.contains(&"Secure"), "{set}");
    let cookie = attributes[0];

    let reply = page(&server, Some(cookie)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(is_report(&reply.text), "{}", reply.text);
    assert!(reply.text.contains("Signed in as"));
    assert!(reply.text.contains(r#"action="/reports/sign-out""#));
    let svgs = reply.text.matches("<svg").count();
    assert!(svgs >= 7, "{svgs} charts");
    assert_eq!(reply.text.matches(r#"role="img""#).count(), svgs);
    assert_eq!(reply.text.matches("<table").count(), svgs);
    assert_eq!(reply.text.matches("<desc").count(), svgs);
    // A period chosen in the form.
    let reply = answer(
        browser()
            .get(server.url(&format!("{PAGE}?from=2026-01-01&to=2026-03-31&team=")))
            .header(header::COOKIE, cookie),
    )
    .await;
    assert!(is_report(&reply.text));
    assert!(reply.text.contains(r#"value="2026-01-01""#));
}

async fn a_bearer_token_is_not_a_cookie_and_a_cookie_is_not_a_bearer_token(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let priya = server.login("priya").await;
    let reply = answer(
        browser()
            .get(server.url(PAGE))
            .bearer_auth(&priya.access_token),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(is_sign_in_form(&reply.text));

    let cookie = signed_in(&server, "priya").await;
    for path in ["/v1/me", "/v1/teams"] {
        let reply = answer(
            browser()
                .get(server.url(path))
                .header(header::COOKIE, &cookie),
        )
        .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{path}");
    }
    // Nor is the cookie's secret a bearer token, or a refresh token.
    let secret = cookie.split_once('=').unwrap().1;
    let reply = server.send(Method::GET, "/v1/me", Some(secret), None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let reply = server.refresh(secret).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

async fn a_wrong_password_gets_the_form_with_a_message_and_no_cookie(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    for username in ["priya", "nobody-by-this-name"] {
        let reply = sign_in_as(&server, username, "not the password", &origin(&server)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert!(is_sign_in_form(&reply.text));
        assert!(reply.text.contains("did not work"), "{}", reply.text);
        assert!(reply.headers.get(header::SET_COOKIE).is_none());
        assert!(!reply.text.contains("not the password"));
    }
}

async fn a_cross_origin_post_is_refused(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    for from in ["https://evil.example", "null"] {
        let reply = sign_in_as(&server, "priya", PASSWORD, from).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{from}");
        assert!(reply.headers.get(header::SET_COOKIE).is_none());
    }
    // No Origin at all is not taken as this page's.
    let reply = answer(
        browser()
            .post(server.url("/reports/sign-in"))
            .form(&[("username", "priya"), ("password", PASSWORD)]),
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);

    // A cross-origin sign-out does not end the session.
    let cookie = signed_in(&server, "priya").await;
    let reply = answer(
        browser()
            .post(server.url("/reports/sign-out"))
            .header(header::ORIGIN, "https://evil.example")
            .header(header::COOKIE, &cookie),
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(is_report(&page(&server, Some(&cookie)).await.text));
    // Reading the page is a GET, and changes nothing.
    let reply = answer(browser().get(server.url("/reports/sign-out"))).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
}

async fn signing_out_or_a_disabled_account_ends_the_browser_session(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let cookie = signed_in(&server, "priya").await;
    assert!(is_report(&page(&server, Some(&cookie)).await.text));
    let reply = answer(
        browser()
            .post(server.url("/reports/sign-out"))
            .header(header::ORIGIN, origin(&server))
            .header(header::COOKIE, &cookie),
    )
    .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.headers[header::LOCATION], PAGE);
    let cleared = reply.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cleared.starts_with("lw_reports=;"), "{cleared}");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    // The old cookie, kept by someone, is worth nothing now.
    assert!(is_sign_in_form(&page(&server, Some(&cookie)).await.text));

    // Disabling the account ends a browser sign-in at its next request.
    let cookie = signed_in(&server, "priya").await;
    assert!(is_report(&page(&server, Some(&cookie)).await.text));
    let admin = server.login("admin").await;
    let priya = server.login("priya").await;
    let reply = server
        .post(
            &format!("/v1/users/{}/disable", priya.user_id),
            &admin.access_token,
            serde_json::json!({}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text);
    assert!(is_sign_in_form(&page(&server, Some(&cookie)).await.text));
    let reply = sign_in_as(&server, "priya", PASSWORD, &origin(&server)).await;
    assert!(reply.headers.get(header::SET_COOKIE).is_none());
}

async fn only_practitioners_may_use_the_page(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    for username in ["alex", "sam", "jo", "admin"] {
        let reply = sign_in_as(&server, username, PASSWORD, &origin(&server)).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{username}");
        assert!(is_sign_in_form(&reply.text), "{username}");
        assert!(reply.text.contains("This page is for practitioners."));
        assert!(
            reply.headers.get(header::SET_COOKIE).is_none(),
            "{username}"
        );
    }
}

async fn a_practitioner_sees_only_their_own_teams(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let teams = server.store.teams().await.unwrap();
    let west = teams.iter().find(|t| t.name == "West hub").unwrap();
    let north = teams.iter().find(|t| t.name == "North hub").unwrap();
    let cookie = signed_in(&server, "priya").await;
    let reply = page(&server, Some(&cookie)).await;
    assert!(reply.text.contains(&format!(r#"value="{}""#, west.id)));
    // The picker offers their own teams only.
    assert!(!reply.text.contains(&format!(r#"value="{}""#, north.id)));
    // Another team's report, asked for by its id: a plain message, no report.
    let reply = answer(
        browser()
            .get(server.url(&format!("{PAGE}?team={}", north.id)))
            .header(header::COOKIE, &cookie),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.text.contains("your own teams only"));
    assert!(!reply.text.contains("<svg"));
    // Their own team's: the report.
    let reply = answer(
        browser()
            .get(server.url(&format!("{PAGE}?team={}", west.id)))
            .header(header::COOKIE, &cookie),
    )
    .await;
    assert!(is_report(&reply.text));
}
