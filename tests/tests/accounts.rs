//! Accounts staff never set a password for: invitation, change, reset, disable.

use std::time::Duration;

use livingwell_tests::{Backend, TestServer, on_both_databases, read, sse};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_databases!(
    invited_person_chooses_their_own_sign_in,
    an_invitation_code_works_once_even_when_raced,
    weak_and_common_passwords_are_refused_by_name,
    password_change_needs_the_current_one_and_ends_other_sessions,
    admin_reset_code_works_once_and_ends_every_session,
    disabled_account_loses_its_sessions_at_once_and_cannot_sign_in,
    staff_cannot_set_a_persons_password,
    sharing_needs_a_recent_sign_in_and_revoking_never_does,
    changing_the_password_needs_a_recent_sign_in,
    invitation_and_reset_codes_lapse,
);

const NEW_PASSWORD: &str = "rainy sunday allotment";

async fn unauthenticated(server: &TestServer, path: &str, body: Value) -> livingwell_tests::Reply {
    server.send(Method::POST, path, None, Some(body)).await
}

async fn login_with(
    server: &TestServer,
    username: &str,
    password: &str,
) -> livingwell_tests::Reply {
    unauthenticated(
        server,
        "/v1/auth/login",
        json!({"username": username, "password": password}),
    )
    .await
}

async fn invited_person_chooses_their_own_sign_in(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let (person, code) = server.invite_to_alexs_team("Nova Quinn").await;
    // Typed from a note: lower case, spaces for dashes.
    let typed = code.to_lowercase().replace('-', " ");
    let accepted = unauthenticated(
        &server,
        "/v1/auth/accept-invitation",
        json!({"code": typed, "username": "nova", "password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(accepted.status, StatusCode::CREATED, "{}", accepted.text);
    assert_eq!(accepted.body["user"]["role"], "service_user");
    assert_eq!(accepted.body["user"]["person_id"], person.as_str());
    assert_eq!(accepted.body["user"]["display_name"], "Nova Quinn");
    let token = accepted.body["access_token"].as_str().unwrap();
    let me = server.get("/v1/me", token).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(
        login_with(&server, "nova", NEW_PASSWORD).await.status,
        StatusCode::OK
    );
    // The code is spent; the person now has an account, so no second invitation either.
    let again = unauthenticated(
        &server,
        "/v1/auth/accept-invitation",
        json!({"code": code, "username": "nova2", "password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(again.fields(), ["code"]);
    let priya = server.login("priya").await;
    let second = server
        .post(
            &format!("/v1/people/{person}/invitation"),
            &priya.access_token,
            json!({}),
        )
        .await;
    assert_eq!(second.status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn an_invitation_code_works_once_even_when_raced(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let (_, code) = server.invite_to_alexs_team("Nova Quinn").await;
    let mut tasks = Vec::new();
    for n in 0..8 {
        let http = server.http.clone();
        let url = server.url("/v1/auth/accept-invitation");
        let body = json!({"code": code, "username": format!("nova{n}"), "password": NEW_PASSWORD});
        tasks.push(tokio::spawn(async move {
            read(http.post(url).json(&body)).await.status
        }));
    }
    let mut created = 0;
    for task in tasks {
        match task.await.unwrap() {
            StatusCode::CREATED => created += 1,
            StatusCode::UNPROCESSABLE_ENTITY => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(created, 1);
}

async fn weak_and_common_passwords_are_refused_by_name(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let (_, code) = server.invite_to_alexs_team("Nova Quinn").await;
    for (password, reason) in [
        ("password1234", "too_easy_to_guess"),
        ("nova12345678", "too_easy_to_guess"),
        ("qwertyuiop12", "too_easy_to_guess"),
        ("short", "too_short"),
    ] {
        let reply = unauthenticated(
            &server,
            "/v1/auth/accept-invitation",
            json!({"code": code, "username": "nova", "password": password}),
        )
        .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{password}");
        assert_eq!(reply.fields(), ["password"], "{password}");
        assert_eq!(reply.body["fields"][0]["code"], reason, "{password}");
    }
    // Nothing was spent: the code still works with a good password.
    let accepted = unauthenticated(
        &server,
        "/v1/auth/accept-invitation",
        json!({"code": code, "username": "nova", "password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(accepted.status, StatusCode::CREATED, "{}", accepted.text);
}

async fn password_change_needs_the_current_one_and_ends_other_sessions(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let phone = server.login("alex").await;
    let tablet = server.login("alex").await;
    let mut tablet_stream = sse::open_stream(&server.base_url, &tablet, None).await;
    let wrong = server
        .post(
            "/v1/auth/password",
            &phone.access_token,
            json!({"current_password": "not my password", "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(wrong.fields(), ["current_password"]);
    assert_eq!(
        server.get("/v1/me", &tablet.access_token).await.status,
        StatusCode::OK
    );

    let changed = server
        .post(
            "/v1/auth/password",
            &phone.access_token,
            json!({"current_password": livingwell_tests::PASSWORD, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.text);
    sse::read_to_end(&mut tablet_stream, Duration::from_secs(3)).await;
    // This session goes on; the other ends at once, refresh token and all.
    assert_eq!(
        server.get("/v1/me", &phone.access_token).await.status,
        StatusCode::OK
    );
    assert_eq!(
        server.get("/v1/me", &tablet.access_token).await.status,
        StatusCode::UNAUTHORIZED
    );
    let refresh = unauthenticated(
        &server,
        "/v1/auth/refresh",
        json!({"refresh_token": tablet.refresh_token}),
    )
    .await;
    assert_eq!(refresh.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        login_with(&server, "alex", livingwell_tests::PASSWORD)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    // (Signing in with the new one is left to the reset journey: six attempts on one account
    // inside a minute is what sign-in throttling exists to stop.)
}

async fn admin_reset_code_works_once_and_ends_every_session(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let alex = server.login("alex").await;
    let admin = server.login("admin").await;
    let priya = server.login("priya").await;
    let path = format!("/v1/users/{}/password-reset", alex.user_id);
    // Not a practitioner's to make.
    assert_eq!(
        server
            .post(&path, &priya.access_token, json!({}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let made = server.post(&path, &admin.access_token, json!({})).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let code = made.body["code"].as_str().unwrap().to_owned();

    // The code is alex's only.
    let for_someone_else = unauthenticated(
        &server,
        "/v1/auth/reset-password",
        json!({"username": "robin", "code": code, "new_password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(for_someone_else.status, StatusCode::UNPROCESSABLE_ENTITY);
    let reset = unauthenticated(
        &server,
        "/v1/auth/reset-password",
        json!({"username": "alex", "code": code, "new_password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT, "{}", reset.text);
    assert_eq!(
        server.get("/v1/me", &alex.access_token).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_with(&server, "alex", NEW_PASSWORD).await.status,
        StatusCode::OK
    );
    let again = unauthenticated(
        &server,
        "/v1/auth/reset-password",
        json!({"username": "alex", "code": code, "new_password": "another long phrase here"}),
    )
    .await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(again.fields(), ["code"]);
    assert_eq!(
        login_with(&server, "alex", NEW_PASSWORD).await.status,
        StatusCode::OK
    );
}

async fn disabled_account_loses_its_sessions_at_once_and_cannot_sign_in(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let priya = server.login("priya").await;
    let admin = server.login("admin").await;
    let mut stream = sse::open_stream(&server.base_url, &priya, None).await;
    let disabled = server
        .post(
            &format!("/v1/users/{}/disable", priya.user_id),
            &admin.access_token,
            json!({}),
        )
        .await;
    assert_eq!(disabled.status, StatusCode::NO_CONTENT, "{}", disabled.text);
    // The open stream ends at once, not when its token lapses.
    sse::read_to_end(&mut stream, Duration::from_secs(3)).await;
    assert_eq!(
        server.get("/v1/me", &priya.access_token).await.status,
        StatusCode::UNAUTHORIZED
    );
    let refresh = unauthenticated(
        &server,
        "/v1/auth/refresh",
        json!({"refresh_token": priya.refresh_token}),
    )
    .await;
    assert_eq!(refresh.status, StatusCode::UNAUTHORIZED);
    let sign_in = login_with(&server, "priya", livingwell_tests::PASSWORD).await;
    assert_eq!(sign_in.status, StatusCode::FORBIDDEN);
    assert_eq!(sign_in.code(), "account_disabled");
    // A wrong password learns nothing about the account.
    assert_eq!(
        login_with(&server, "priya", "not the password at all")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    // An admin cannot lock themselves out.
    let own = server
        .post(
            &format!("/v1/users/{}/disable", admin.user_id),
            &admin.access_token,
            json!({}),
        )
        .await;
    assert_eq!(own.status, StatusCode::UNPROCESSABLE_ENTITY);

    let enabled = server
        .post(
            &format!("/v1/users/{}/enable", priya.user_id),
            &admin.access_token,
            json!({}),
        )
        .await;
    assert_eq!(enabled.status, StatusCode::NO_CONTENT);
    assert_eq!(
        login_with(&server, "priya", livingwell_tests::PASSWORD)
            .await
            .status,
        StatusCode::OK
    );
}

async fn staff_cannot_set_a_persons_password(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let admin = server.login("admin").await;
    let priya = server.login("priya").await;
    let alex = server.login("alex").await;
    let person = server
        .post(
            "/v1/people",
            &priya.access_token,
            json!({"display_name": "Nova Quinn",
                   "account": {"username": "nova", "password": NEW_PASSWORD}}),
        )
        .await;
    assert_eq!(person.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(person.fields(), ["account"]);
    let user = server
        .post(
            "/v1/users",
            &admin.access_token,
            json!({"username": "nova", "password": NEW_PASSWORD, "role": "service_user",
                   "display_name": "Nova Quinn", "person_id": alex.person_id}),
        )
        .await;
    assert_eq!(user.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(user.fields().contains(&"role".to_owned()), "{}", user.text);
    // An admin invites carers and workers the same way.
    let invitation = server
        .post(
            "/v1/invitations",
            &admin.access_token,
            json!({"role": "carer", "display_name": "Casey Rivers"}),
        )
        .await;
    assert_eq!(
        invitation.status,
        StatusCode::CREATED,
        "{}",
        invitation.text
    );
    let accepted = unauthenticated(
        &server,
        "/v1/auth/accept-invitation",
        json!({"code": invitation.body["code"], "username": "casey", "password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(accepted.status, StatusCode::CREATED, "{}", accepted.text);
    assert_eq!(accepted.body["user"]["role"], "carer");
}

/// The `auth_time` an access token states.
fn auth_time(access_token: &str) -> i64 {
    use base64::Engine;
    let payload = access_token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    claims["auth_time"].as_i64().expect("an auth_time claim")
}

fn start_instant() -> chrono::DateTime<chrono::Utc> {
    "2026-11-03T09:00:00Z".parse().unwrap()
}

/// A fresh access token for the session, as the app gets one when the old one lapses.
async fn refreshed(server: &TestServer, refresh_token: &mut String) -> String {
    let reply = server.refresh(refresh_token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    *refresh_token = reply.body["refresh_token"].as_str().unwrap().to_owned();
    reply.body["access_token"].as_str().unwrap().to_owned()
}

async fn sharing_needs_a_recent_sign_in_and_revoking_never_does(backend: Backend) {
    let (server, clock) = TestServer::start_at(backend, start_instant())
        .await
        .unwrap();
    let alex = server.login("alex").await;
    let sam = server.login("sam").await;
    let person = alex.person_id.clone().unwrap();
    let consents = format!("/v1/people/{person}/consents");
    assert_eq!(auth_time(&alex.access_token), start_instant().timestamp());
    let grant = json!({"carer_id": sam.user_id, "scopes": ["appointments"]});
    // Within ten minutes of signing in, sharing just works.
    clock.advance(chrono::Duration::minutes(4));
    let early = server
        .post(&consents, &alex.access_token, grant.clone())
        .await;
    assert_eq!(early.status, StatusCode::CREATED, "{}", early.text);

    // Eleven minutes on, the session is alive (refreshed) but the sign-in is not recent.
    clock.advance(chrono::Duration::minutes(7));
    let mut refresh_token = alex.refresh_token.clone();
    let token = refreshed(&server, &mut refresh_token).await;
    assert_eq!(
        auth_time(&token),
        start_instant().timestamp(),
        "refresh keeps auth_time"
    );
    let late = server.post(&consents, &token, grant.clone()).await;
    assert_eq!(late.status, StatusCode::UNAUTHORIZED, "{}", late.text);
    assert_eq!(late.code(), "step_up_required");
    assert_eq!(
        late.headers["www-authenticate"],
        "Bearer realm=\"livingwell\", error=\"insufficient_user_authentication\", max_age=600"
    );
    // Revoking needs no step-up, now or an hour later.
    let first = early.body["id"].as_str().unwrap();
    let revoked = server.delete(&format!("{consents}/{first}"), &token).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);

    // The wrong password does not count; the right one renews the sign-in.
    let wrong = server
        .post(
            "/v1/auth/reauthenticate",
            &token,
            json!({"password": "not it at all"}),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(wrong.fields(), ["password"]);
    let renewed = server
        .post(
            "/v1/auth/reauthenticate",
            &token,
            json!({"password": livingwell_tests::PASSWORD}),
        )
        .await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.text);
    let stepped_up = renewed.body["access_token"].as_str().unwrap();
    assert_eq!(
        auth_time(stepped_up),
        (start_instant() + chrono::Duration::minutes(11)).timestamp()
    );
    let granted = server.post(&consents, stepped_up, grant.clone()).await;
    assert_eq!(granted.status, StatusCode::CREATED, "{}", granted.text);

    clock.advance(chrono::Duration::hours(1));
    let token = refreshed(&server, &mut refresh_token).await;
    let id = granted.body["id"].as_str().unwrap();
    let revoked = server.delete(&format!("{consents}/{id}"), &token).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
}

async fn changing_the_password_needs_a_recent_sign_in(backend: Backend) {
    let (server, clock) = TestServer::start_at(backend, start_instant())
        .await
        .unwrap();
    let alex = server.login("alex").await;
    clock.advance(chrono::Duration::minutes(11));
    let mut refresh_token = alex.refresh_token.clone();
    let token = refreshed(&server, &mut refresh_token).await;
    let change =
        json!({"current_password": livingwell_tests::PASSWORD, "new_password": NEW_PASSWORD});
    let late = server
        .post("/v1/auth/password", &token, change.clone())
        .await;
    assert_eq!(late.status, StatusCode::UNAUTHORIZED);
    assert_eq!(late.code(), "step_up_required");
    let renewed = server
        .post(
            "/v1/auth/reauthenticate",
            &token,
            json!({"password": livingwell_tests::PASSWORD}),
        )
        .await;
    assert_eq!(renewed.status, StatusCode::OK);
    // The server decides from the session as stored: the older token works now too.
    let changed = server.post("/v1/auth/password", &token, change).await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.text);
}

async fn invitation_and_reset_codes_lapse(backend: Backend) {
    let (server, clock) = TestServer::start_at(backend, start_instant())
        .await
        .unwrap();
    let (_, code) = server.invite_to_alexs_team("Nova Quinn").await;
    let admin = server.login("admin").await;
    let robin = server.login("robin").await;
    let reset = server
        .post(
            &format!("/v1/users/{}/password-reset", robin.user_id),
            &admin.access_token,
            json!({}),
        )
        .await;
    assert_eq!(reset.status, StatusCode::CREATED);
    let reset_code = reset.body["code"].as_str().unwrap().to_owned();

    // A day and a minute on, the reset code has lapsed; the invitation has not.
    clock.advance(chrono::Duration::hours(24) + chrono::Duration::minutes(1));
    let late_reset = unauthenticated(
        &server,
        "/v1/auth/reset-password",
        json!({"username": "robin", "code": reset_code, "new_password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(late_reset.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(late_reset.fields(), ["code"]);

    // Seven days after it was made, the invitation has too.
    clock.advance(chrono::Duration::days(6));
    let late = unauthenticated(
        &server,
        "/v1/auth/accept-invitation",
        json!({"code": code, "username": "nova", "password": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(
        late.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        late.text
    );
    assert_eq!(late.fields(), ["code"]);
}
