//! The phone's session against the real server: the engine (`livingwell-engine`) signs in,
//! sends authorized requests, shares one refresh among many callers, loses its session when a
//! copy of its refresh token was used, signs out, and steps up for sharing.
//!
//! Requests go through a small counting proxy in front of the server, so the number of
//! refreshes is what the server was actually asked, not what the engine says it did.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method as HttpMethod, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use livingwell_core::api::people::{ConsentView, MeView};
use livingwell_core::api::sync::SyncQuery;
use livingwell_core::api::{headers, routes};
use livingwell_engine::api::{IgnoredAny, NO_BODY};
use livingwell_engine::secrets::{FileSecretStore, SESSION, SecretStore};
use livingwell_engine::{
    ApiClient, EngineError, FailureClass, LogoutOutcome, PublicError, Session,
};
use livingwell_tests::{Backend, PASSWORD, TestServer, on_both_databases};
use serde_json::{Value, json};

on_both_databases!(
    a_signed_in_phone_reads_with_its_token_and_keeps_its_session,
    requests_racing_after_the_token_lapses_share_one_refresh,
    a_refresh_token_used_by_a_copy_ends_the_session_on_the_phone,
    signing_out_revokes_on_the_server_and_forgets_the_tokens,
    sharing_long_after_sign_in_asks_for_the_password_then_goes_through,
    the_servers_refusals_reach_the_app_as_what_it_can_act_on,
    a_stale_plan_edit_is_a_conflict_naming_the_version_now_stored,
);

fn start_instant() -> DateTime<Utc> {
    "2026-11-03T09:00:00Z".parse().unwrap()
}

/// Forwards every request to the server and counts refreshes.
#[derive(Clone)]
struct Proxy {
    target: String,
    http: reqwest::Client,
    refreshes: Arc<AtomicUsize>,
}

async fn forward(
    State(proxy): State<Proxy>,
    method: HttpMethod,
    uri: Uri,
    mut headers: HeaderMap,
    body: Bytes,
) -> Response {
    if uri.path() == routes::REFRESH_TOKENS.template {
        proxy.refreshes.fetch_add(1, Ordering::SeqCst);
    }
    headers.remove(axum::http::header::HOST);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let answer = proxy
        .http
        .request(method, format!("{}{path}", proxy.target))
        .headers(headers)
        .body(body)
        .send()
        .await
        .expect("the server answers the proxy");
    let status = answer.status();
    let headers = answer.headers().clone();
    let body = answer.bytes().await.expect("a whole answer");
    (status, headers, body).into_response()
}

/// A proxy in front of `server`: its address, and how many refreshes passed through it.
async fn counting_proxy(server: &TestServer) -> (String, Arc<AtomicUsize>) {
    let refreshes = Arc::new(AtomicUsize::new(0));
    let proxy = Proxy {
        target: server.base_url.clone(),
        http: reqwest::Client::new(),
        refreshes: refreshes.clone(),
    };
    let app = axum::Router::new().fallback(forward).with_state(proxy);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{address}"), refreshes)
}

/// The phone: a session over `base_url` whose secrets are files in a temporary directory.
struct Phone {
    session: Session,
    secrets: Arc<FileSecretStore>,
    _dir: tempfile::TempDir,
}

impl Phone {
    fn new(base_url: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let secrets = Arc::new(FileSecretStore::new(dir.path()).unwrap());
        let api = ApiClient::new(base_url).unwrap();
        let session = Session::open(api, secrets.clone()).unwrap();
        Self {
            session,
            secrets,
            _dir: dir,
        }
    }

    /// The kept session secret, read as the platform would hand it back.
    fn kept(&self) -> Option<Value> {
        self.secrets
            .get(SESSION)
            .unwrap()
            .map(|json| serde_json::from_slice(&json).unwrap())
    }

    fn kept_token(&self, which: &str) -> String {
        self.kept().expect("a kept session")[which]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn me(&self) -> Result<MeView, EngineError> {
        let route = routes::ME;
        let answer = self
            .session
            .authorized(route.method, &route.path(&[]), NO_BODY, None)
            .await?;
        Ok(answer.body)
    }
}

async fn a_signed_in_phone_reads_with_its_token_and_keeps_its_session(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let phone = Phone::new(&server.base_url);
    assert!(matches!(phone.me().await, Err(EngineError::SignedOut)));

    let alex = phone.session.sign_in("alex", PASSWORD).await.unwrap();
    let person = alex.person_id.expect("alex is a service user");
    let me = phone.me().await.unwrap();
    assert_eq!(me.user.id, alex.user_id);

    // A typed read of a route from the table, and the sync helper, with the same token.
    let plan = phone
        .session
        .authorized::<(), Value>(
            routes::GET_CRISIS_PLAN.method,
            &routes::GET_CRISIS_PLAN.path(&[&person.to_string()]),
            NO_BODY,
            None,
        )
        .await
        .unwrap();
    assert_eq!(plan.status, 200);
    let page = phone.session.sync(&SyncQuery::default()).await.unwrap();
    assert!(!page.records.is_empty(), "a first sync is a snapshot");

    // Reopened (the app restarted), the phone is still signed in, from the platform's secret.
    let reopened = Session::open(
        ApiClient::new(&server.base_url).unwrap(),
        phone.secrets.clone(),
    )
    .unwrap();
    assert_eq!(reopened.user().await, Some(alex));
    let route = routes::ME;
    let again: MeView = reopened
        .authorized(route.method, &route.path(&[]), NO_BODY, None)
        .await
        .unwrap()
        .body;
    assert_eq!(again.user.id, me.user.id);

    // The wrong password is refused as the app shows it, and the phone stays signed out.
    let other = Phone::new(&server.base_url);
    let refused = other.session.sign_in("alex", "not the password").await;
    let PublicError::Invalid { fields } = PublicError::from(refused.unwrap_err()) else {
        panic!("a wrong password is invalid input, not an expired session");
    };
    assert_eq!(fields[0].field, "password");
    assert!(other.kept().is_none());
}

async fn requests_racing_after_the_token_lapses_share_one_refresh(backend: Backend) {
    let (server, clock) = TestServer::start_at(backend, start_instant())
        .await
        .unwrap();
    let (proxy, refreshes) = counting_proxy(&server).await;
    let phone = Phone::new(&proxy);
    phone.session.sign_in("alex", PASSWORD).await.unwrap();
    let first_refresh_token = phone.kept_token("refresh_token");

    for wave in 1..=2 {
        // Past the five-minute access token: every request below is refused once.
        clock.advance(Duration::minutes(6));
        let racing = (0..10).map(|_| {
            let session = phone.session.clone();
            tokio::spawn(async move {
                let route = routes::ME;
                session
                    .authorized::<(), MeView>(route.method, &route.path(&[]), NO_BODY, None)
                    .await
            })
        });
        for answer in futures_util::future::join_all(racing).await {
            let answer = answer.unwrap();
            assert!(answer.is_ok(), "wave {wave}: {answer:?}");
        }
        assert_eq!(
            refreshes.load(Ordering::SeqCst),
            wave,
            "one refresh per lapsed token, however many requests met it"
        );
    }
    assert_ne!(phone.kept_token("refresh_token"), first_refresh_token);
    // The kept refresh token is the live one: the server exchanges it.
    let kept = phone.kept_token("refresh_token");
    assert_eq!(server.refresh(&kept).await.status, StatusCode::OK);
}

async fn a_refresh_token_used_by_a_copy_ends_the_session_on_the_phone(backend: Backend) {
    let (server, clock) = TestServer::start_at(backend, start_instant())
        .await
        .unwrap();
    let phone = Phone::new(&server.base_url);
    phone.session.sign_in("alex", PASSWORD).await.unwrap();

    // Someone with a copy of the phone's refresh token uses it first.
    let copied = phone.kept_token("refresh_token");
    let stolen = server.refresh(&copied).await;
    assert_eq!(stolen.status, StatusCode::OK, "{}", stolen.text);
    let successor = stolen.body["refresh_token"].as_str().unwrap().to_owned();

    // Past the reuse grace and the access token's lifetime: the phone must refresh, and its
    // spent token gives the reuse away.
    clock.advance(Duration::minutes(6));
    let error = phone.me().await.unwrap_err();
    assert_eq!(error.class(), FailureClass::SessionExpired, "{error:?}");
    assert_eq!(PublicError::from(&error), PublicError::SessionExpired);
    assert!(phone.kept().is_none(), "the ended session is forgotten");
    assert!(phone.session.user().await.is_none());
    assert!(matches!(phone.me().await, Err(EngineError::SignedOut)));
    // The whole family ended, the copy's branch too.
    assert_eq!(
        server.refresh(&successor).await.status,
        StatusCode::UNAUTHORIZED
    );
}

async fn signing_out_revokes_on_the_server_and_forgets_the_tokens(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let phone = Phone::new(&server.base_url);
    phone.session.sign_in("alex", PASSWORD).await.unwrap();
    let refresh_token = phone.kept_token("refresh_token");
    let access_token = phone.kept_token("access_token");

    assert_eq!(
        phone.session.logout().await.unwrap(),
        LogoutOutcome::Revoked
    );
    assert!(phone.kept().is_none(), "the SESSION secret is deleted");
    assert!(phone.session.user().await.is_none());
    assert_eq!(
        server.refresh(&refresh_token).await.status,
        StatusCode::UNAUTHORIZED,
        "the refresh token no longer works anywhere"
    );
    assert_eq!(
        server.get("/v1/me", &access_token).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Signing out again is harmless.
    assert_eq!(
        phone.session.logout().await.unwrap(),
        LogoutOutcome::AlreadyEnded
    );
}

async fn sharing_long_after_sign_in_asks_for_the_password_then_goes_through(backend: Backend) {
    let (server, clock) = TestServer::start_at(backend, start_instant())
        .await
        .unwrap();
    let phone = Phone::new(&server.base_url);
    let alex = phone.session.sign_in("alex", PASSWORD).await.unwrap();
    let sam = server.login("sam").await;
    let consents = routes::GRANT_CONSENT.path(&[&alex.person_id.unwrap().to_string()]);
    let grant = json!({"carer_id": sam.user_id, "scopes": ["appointments"]});
    let key = uuid::Uuid::now_v7().to_string();

    // Eleven minutes on, the access token has lapsed (refreshed on the way) and the sign-in is
    // no longer recent.
    clock.advance(Duration::minutes(11));
    let send = || {
        phone.session.authorized::<Value, ConsentView>(
            routes::GRANT_CONSENT.method,
            &consents,
            Some(&grant),
            Some(&key),
        )
    };
    let error = send().await.unwrap_err();
    assert_eq!(error.class(), FailureClass::StepUp, "{error:?}");
    assert_eq!(PublicError::from(&error), PublicError::StepUpRequired);
    assert!(phone.kept().is_some(), "step-up keeps the session");

    let wrong = phone.session.reauthenticate("not the password").await;
    let PublicError::Invalid { fields } = PublicError::from(wrong.unwrap_err()) else {
        panic!("a wrong password is invalid input");
    };
    assert_eq!(fields[0].field, "password");

    phone.session.reauthenticate(PASSWORD).await.unwrap();
    let granted = send().await.unwrap();
    assert_eq!(granted.status, 201);
    assert_eq!(
        granted.body.carer_id.map(|id| id.to_string()),
        Some(sam.user_id)
    );
    assert!(!granted.replayed);
    // The key went with the write: sent again, the server answers with the first answer.
    let again = send().await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.body.id, granted.body.id);

    // Revoking never needs the password.
    clock.advance(Duration::hours(1));
    let revoke = routes::REVOKE_CONSENT.path(&[
        &alex.person_id.unwrap().to_string(),
        &granted.body.id.to_string(),
    ]);
    let revoked = phone
        .session
        .authorized::<(), IgnoredAny>(routes::REVOKE_CONSENT.method, &revoke, NO_BODY, None)
        .await
        .unwrap();
    assert_eq!(revoked.status, 204);
}

async fn the_servers_refusals_reach_the_app_as_what_it_can_act_on(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let phone = Phone::new(&server.base_url);
    let alex = phone.session.sign_in("alex", PASSWORD).await.unwrap();

    // Someone alex has no relationship with: not found, and no use retrying.
    let stranger = uuid::Uuid::now_v7().to_string();
    let route = routes::GET_CRISIS_PLAN;
    let missing = phone
        .session
        .authorized::<(), IgnoredAny>(route.method, &route.path(&[&stranger]), NO_BODY, None)
        .await
        .unwrap_err();
    assert_eq!(missing.class(), FailureClass::Permanent);
    assert_eq!(PublicError::from(&missing), PublicError::NotFound);

    // A grant with no carer: invalid, naming the field, with no sentence from the server.
    let consents = routes::GRANT_CONSENT.path(&[&alex.person_id.unwrap().to_string()]);
    let invalid = phone
        .session
        .authorized::<Value, IgnoredAny>(
            routes::GRANT_CONSENT.method,
            &consents,
            Some(&json!({"scopes": ["appointments"]})),
            Some(&uuid::Uuid::now_v7().to_string()),
        )
        .await
        .unwrap_err();
    assert_eq!(invalid.class(), FailureClass::Permanent);
    let PublicError::Invalid { fields } = PublicError::from(&invalid) else {
        panic!("invalid input: {invalid:?}");
    };
    assert_eq!(
        fields.iter().map(|f| f.field.as_str()).collect::<Vec<_>>(),
        ["carer_id"]
    );

    // Guessing priya's password: refused five times, then throttled with Retry-After.
    let guesser = Phone::new(&server.base_url);
    let mut last = None;
    for _ in 0..6 {
        last = guesser
            .session
            .sign_in("priya", "guess-guess-guess")
            .await
            .err();
    }
    let throttled = last.expect("the sixth guess is refused");
    assert!(
        matches!(throttled.class(), FailureClass::Transient { retry_after: Some(wait) } if wait.as_secs() >= 1),
        "{throttled:?}"
    );
    let PublicError::RateLimited {
        retry_after_secs: Some(wait),
    } = PublicError::from(&throttled)
    else {
        panic!("rate limited with a wait: {throttled:?}");
    };
    assert!(wait >= 1);
}

async fn a_stale_plan_edit_is_a_conflict_naming_the_version_now_stored(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let alex = server.login("alex").await.person_id.unwrap();
    let phone = Phone::new(&server.base_url);
    phone.session.sign_in("priya", PASSWORD).await.unwrap();
    let path = routes::GET_ENABLEMENT_PLAN.path(&[&alex]);

    let opened = phone
        .session
        .authorized::<(), Value>(routes::GET_ENABLEMENT_PLAN.method, &path, NO_BODY, None)
        .await
        .unwrap();
    let version_of = |etag: Option<&str>| etag.and_then(headers::version_in_tag);
    assert_eq!(version_of(opened.etag.as_deref()), Some(1));
    let put = |review_on: &str| {
        let mut plan = opened.body["plan"].clone();
        plan["review_on"] = json!(review_on);
        json!({"base_version": 1, "plan": plan})
    };
    let first = phone
        .session
        .authorized::<Value, IgnoredAny>(
            routes::PUT_ENABLEMENT_PLAN.method,
            &path,
            Some(&put("2027-03-01")),
            Some(&uuid::Uuid::now_v7().to_string()),
        )
        .await
        .unwrap();
    assert_eq!(version_of(first.etag.as_deref()), Some(2));

    // An edit made on version 1, sent after version 2 was stored.
    let stale = phone
        .session
        .authorized::<Value, IgnoredAny>(
            routes::PUT_ENABLEMENT_PLAN.method,
            &path,
            Some(&put("2027-04-01")),
            Some(&uuid::Uuid::now_v7().to_string()),
        )
        .await
        .unwrap_err();
    assert_eq!(stale.class(), FailureClass::Permanent);
    assert_eq!(
        PublicError::from(&stale),
        PublicError::Conflict {
            current_version: Some(2)
        }
    );
}
