//! The harness for end-to-end journeys: a real server on a real database, over real HTTP.
//!
//! Every test gets its own database — a new SQLite file in a temporary directory, or a new
//! Postgres database on the local server (dropped afterwards) — with the demo people in it, and
//! its own server on a free port. [`on_both_databases!`] runs a journey once on each.

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use livingwell_core::api::auth::TokenResponse;
use livingwell_server::http::{self, AppState, Settings};
use livingwell_server::store::{self, Store};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// The demo accounts' password.
pub const PASSWORD: &str = livingwell_server::demo::DEFAULT_PASSWORD;

pub use livingwell_server::clock::ManualClock;
pub use livingwell_testkit::{Backend, TestDatabase};

/// A running server with the demo people, on its own database.
#[derive(Debug)]
pub struct TestServer {
    pub base_url: String,
    pub http: reqwest::Client,
    pub store: Arc<dyn Store>,
    pub database: TestDatabase,
    settings: Settings,
    address: SocketAddr,
    running: Option<Running>,
}

/// The server task, and how to end it and the application's background work.
#[derive(Debug)]
struct Running {
    task: tokio::task::JoinHandle<()>,
    stop: tokio_util::sync::CancellationToken,
    shutdown: tokio_util::sync::CancellationToken,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown.cancel();
            running.task.abort();
        }
    }
}

/// Serves the application on `listener` the way `serve` does, until `stop` is cancelled; then
/// open connections are closed, so a client's pooled connection cannot reach a stopped server,
/// and keyed writes still running are finished.
async fn serve(
    store: Arc<dyn Store>,
    settings: &Settings,
    listener: tokio::net::TcpListener,
) -> anyhow::Result<Running> {
    // Every sync answered "nothing new" from its fingerprint is worked out in full too, and a
    // difference fails the request: so every sync of every test checks the fingerprint.
    let settings = Settings {
        check_unchanged_syncs: true,
        ..settings.clone()
    };
    let state = AppState::new(store, &settings).await?;
    let shutdown = state.shutdown.clone();
    let stop = tokio_util::sync::CancellationToken::new();
    let stopped = stop.clone();
    let task = tokio::spawn(async move {
        let _ = http::serve_until(listener, state, async move { stopped.cancelled().await }).await;
    });
    Ok(Running {
        task,
        stop,
        shutdown,
    })
}

/// One HTTP answer, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    /// The `code` of an error body.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    /// The fields named by an error body.
    pub fn fields(&self) -> Vec<String> {
        self.body["fields"]
            .as_array()
            .map(|fields| {
                fields
                    .iter()
                    .filter_map(|f| f["field"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A signed-in demo account.
#[derive(Clone, Debug)]
pub struct Session {
    pub access_token: String,
    pub refresh_token: String,
    pub user_id: String,
    pub person_id: Option<String>,
}

impl TestServer {
    /// A fresh database with the demo people, and a server over it.
    pub async fn start(backend: Backend) -> anyhow::Result<Self> {
        Self::start_with(backend, Settings::default()).await
    }

    /// A server whose clock stands at `start` and moves only when the returned clock is
    /// advanced, so expiry is tested without waiting.
    pub async fn start_at(
        backend: Backend,
        start: DateTime<Utc>,
    ) -> anyhow::Result<(Self, ManualClock)> {
        let clock = ManualClock::new(start);
        let settings = Settings {
            clock: clock.clone().into(),
            ..Settings::default()
        };
        Ok((Self::start_with(backend, settings).await?, clock))
    }

    pub async fn start_with(backend: Backend, settings: Settings) -> anyhow::Result<Self> {
        let database = TestDatabase::create(backend).await?;
        let store = store::connect(&database.url).await?;
        Self::start_on(database, store, settings).await
    }

    /// A server over a store the test made on `database` (to choose its pool, say).
    pub async fn start_on(
        database: TestDatabase,
        store: Arc<dyn Store>,
        settings: Settings,
    ) -> anyhow::Result<Self> {
        store.migrate().await?;
        livingwell_server::demo::seed(store.as_ref(), PASSWORD, settings.clock.now()).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let running = serve(store.clone(), &settings, listener).await?;
        Ok(Self {
            base_url: format!("http://{address}"),
            http: reqwest::Client::new(),
            store,
            database,
            settings,
            address,
            running: Some(running),
        })
    }

    /// Stops the server, as a phone finds it when there is no signal: nothing answers on its
    /// address until [`TestServer::restart`]. Requests in flight finish first.
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop.cancel();
            running.shutdown.cancel();
            let ended = tokio::time::timeout(std::time::Duration::from_secs(10), running.task);
            if ended.await.is_err() {
                panic!("the server did not stop within 10 s");
            }
        }
    }

    /// Starts the server again on the same database and address.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop().await;
        let listener = tokio::net::TcpListener::bind(self.address).await?;
        self.running = Some(serve(self.store.clone(), &self.settings, listener).await?);
        Ok(())
    }

    /// Starts the server again on the same database and address with other settings, as a
    /// deployment restarted with other flags.
    pub async fn restart_with(&mut self, settings: Settings) -> anyhow::Result<()> {
        self.stop().await;
        self.settings = settings;
        self.restart().await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request).await
    }

    /// Sends a write with an `Idempotency-Key`.
    pub async fn send_keyed(
        &self,
        method: Method,
        path: &str,
        token: &str,
        key: &str,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self
            .http
            .request(method, self.url(path))
            .bearer_auth(token)
            .header("idempotency-key", key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.send(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> Reply {
        self.send(Method::PUT, path, Some(token), Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Reply {
        self.send(Method::DELETE, path, Some(token), None).await
    }

    /// Priya registers a new person, `name`, on alex's team and invites them: the person's
    /// id and the invitation's code. Panics (failing the test) if either is refused.
    pub async fn invite_to_alexs_team(&self, name: &str) -> (String, String) {
        let priya = self.login("priya").await;
        let alex = self.login("alex").await;
        let team = self
            .get(
                &format!("/v1/people/{}", alex.person_id.unwrap_or_default()),
                &priya.access_token,
            )
            .await
            .body["team_id"]
            .clone();
        let person = self
            .post(
                "/v1/people",
                &priya.access_token,
                serde_json::json!({"display_name": name, "team_id": team}),
            )
            .await;
        assert_eq!(person.status, StatusCode::CREATED, "{}", person.text);
        let id = person.body["id"].as_str().unwrap_or_default().to_owned();
        let invitation = self
            .post(
                &format!("/v1/people/{id}/invitation"),
                &priya.access_token,
                serde_json::json!({}),
            )
            .await;
        assert_eq!(
            invitation.status,
            StatusCode::CREATED,
            "{}",
            invitation.text
        );
        assert_eq!(invitation.body["role"], "service_user");
        assert_eq!(invitation.body["person_id"], id.as_str());
        let code = invitation.body["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        (id, code)
    }

    /// The id of the caller's peer-support conversation (the person's with their peer
    /// worker); panics (failing the test) when the caller has none.
    pub async fn peer_conversation(&self, token: &str) -> String {
        let reply = self.get("/v1/conversations", token).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply.body["conversations"]
            .as_array()
            .and_then(|all| all.iter().find(|c| c["kind"] == "peer"))
            .and_then(|peer| peer["id"].as_str())
            .expect("a peer conversation")
            .to_owned()
    }

    /// Signs in; panics (failing the test) unless the server accepts.
    pub async fn login(&self, username: &str) -> Session {
        let reply = self
            .send(
                Method::POST,
                "/v1/auth/login",
                None,
                Some(serde_json::json!({"username": username, "password": PASSWORD})),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "login of {username}: {}",
            reply.text
        );
        let tokens: TokenResponse = serde_json::from_value(reply.body).expect("token response");
        Session {
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            user_id: tokens.user.id.to_string(),
            person_id: tokens.user.person_id.map(|p| p.to_string()),
        }
    }

    /// Exchanges a refresh token for a new pair.
    pub async fn refresh(&self, refresh_token: &str) -> Reply {
        self.send(
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(serde_json::json!({"refresh_token": refresh_token})),
        )
        .await
    }

    /// A staff-system token for the demo case system, with the scopes asked for.
    pub async fn client_token(&self, scope: Option<&str>) -> String {
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", livingwell_server::demo::CLIENT_ID),
            ("client_secret", livingwell_server::demo::CLIENT_SECRET),
        ];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        let reply = read(self.http.post(self.url("/oauth/token")).form(&form)).await;
        assert_eq!(reply.status, StatusCode::OK, "client token: {}", reply.text);
        reply.body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// The number of audit entries about a person.
    pub async fn audit_count(&self, person_id: &str) -> usize {
        let person = person_id.parse().expect("person id");
        self.store
            .audit_for_subject(person, None, 10_000)
            .await
            .expect("audit entries")
            .len()
    }
}

/// Sends a prepared request and reads the whole answer.
pub async fn read(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("the server answers");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("a readable body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
        text,
    }
}

/// Event streams (Server-Sent Events) as a client reads them: text, chunk by chunk.
pub mod sse {
    use std::time::Duration;

    use futures_util::StreamExt;
    use reqwest::StatusCode;
    use serde_json::Value;

    use super::Session;

    pub type EventStream = futures_util::stream::BoxStream<'static, String>;

    /// Subscribes to the caller's event stream; returns once the server has subscribed.
    pub async fn open_stream(
        server_url: &str,
        session: &Session,
        last_event_id: Option<&str>,
    ) -> EventStream {
        let mut request = reqwest::Client::new()
            .get(format!("{server_url}/v1/events"))
            .bearer_auth(&session.access_token);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response
            .bytes_stream()
            .map(|chunk| String::from_utf8_lossy(&chunk.expect("a chunk")).into_owned())
            .boxed()
    }

    /// Reads an event stream until `wanted` appears in it, or fails after `within`.
    pub async fn read_until(stream: &mut EventStream, wanted: &str, within: Duration) -> String {
        let deadline = tokio::time::Instant::now() + within;
        let mut received = String::new();
        while !received.contains(wanted) {
            let chunk = tokio::time::timeout_at(deadline, stream.next())
                .await
                .unwrap_or_else(|_| panic!("{wanted} within {within:?}; got {received}"));
            received.push_str(&chunk.expect("the stream stays open"));
        }
        received
    }

    /// Reads an event stream until the server ends it, or fails after `within`; returns what
    /// arrived before the end.
    pub async fn read_to_end(stream: &mut EventStream, within: Duration) -> String {
        let deadline = tokio::time::Instant::now() + within;
        let mut received = String::new();
        loop {
            match tokio::time::timeout_at(deadline, stream.next()).await {
                Ok(Some(chunk)) => received.push_str(&chunk),
                Ok(None) => return received,
                Err(_) => panic!("the stream still open after {within:?}; got {received}"),
            }
        }
    }

    /// The `data:` of the event that mentions `needle`.
    pub fn event_data(received: &str, needle: &str) -> Value {
        received
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .find(|d| d.contains(needle))
            .map(|d| serde_json::from_str(d).unwrap())
            .unwrap_or_else(|| panic!("an event with {needle} in {received}"))
    }
}

/// Runs each named journey `async fn name(backend: Backend)` once on SQLite and once on
/// Postgres, as separate tests.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::Postgres).await
                }
            )*
        }
    };
}

/// A stand-in push gateway on a free port that keeps what it is sent.
pub struct PushGateway {
    /// What `serve --push-webhook` would name.
    pub url: String,
    received: tokio::sync::mpsc::UnboundedReceiver<Value>,
    server: tokio::task::JoinHandle<()>,
}

impl PushGateway {
    pub async fn start() -> Self {
        let (pushed, received) = tokio::sync::mpsc::unbounded_channel::<Value>();
        let gateway = axum::Router::new().route(
            "/push",
            axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
                let pushed = pushed.clone();
                async move {
                    let _ = pushed.send(body);
                    StatusCode::NO_CONTENT
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let address = listener.local_addr().expect("a bound address");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, gateway).await;
        });
        Self {
            url: format!("http://{address}/push"),
            received,
            server,
        }
    }

    /// The next push, if one arrives within `within`.
    pub async fn next(&mut self, within: std::time::Duration) -> Option<Value> {
        tokio::time::timeout(within, self.received.recv())
            .await
            .ok()
            .flatten()
    }
}

impl Drop for PushGateway {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl TestServer {
    /// A one-session workshop programme of `team_id` a month from now, made by `staff`;
    /// returns its id.
    pub async fn new_programme(
        &self,
        staff: &Session,
        team_id: &str,
        title: &str,
        capacity: i64,
    ) -> String {
        let starts = Utc::now() + chrono::Duration::days(30);
        let programme = self
            .post(
                "/v1/programmes",
                &staff.access_token,
                serde_json::json!({
                    "team_id": team_id,
                    "title": title,
                    "location": {"type": "phone"},
                    "capacity": capacity,
                    "sessions": [{"starts_at": starts, "ends_at": starts + chrono::Duration::hours(2)}],
                }),
            )
            .await;
        assert_eq!(programme.status, StatusCode::CREATED, "{}", programme.text);
        programme.body["id"].as_str().expect("an id").to_owned()
    }

    /// Registers a device for `session` with this push token; pushes to it carry the token.
    pub async fn register_device(&self, session: &Session, token: &str) {
        let registered = self
            .post(
                "/v1/devices",
                &session.access_token,
                serde_json::json!({"platform": "fcm", "token": token}),
            )
            .await;
        assert_eq!(
            registered.status,
            StatusCode::CREATED,
            "{}",
            registered.text
        );
    }
}

/// The tags the crash-safety journey's phone (`src/bin/phone.rs`) writes, shared by both so
/// the journey reads back exactly what the phone sent.
pub mod crash {
    /// What every crash-safety message begins with.
    const PREFIX: &str = "Crash-safety write ";

    /// Write `j` of start `run`.
    pub fn tag_of(run: u32, j: u32) -> String {
        format!("crash-{run}-{j}")
    }

    /// The message text for a tag.
    pub fn body_of(tag: &str) -> String {
        format!("{PREFIX}{tag}")
    }

    /// `(run, j)` of a crash-safety message's text; `None` for any other message.
    pub fn parse_body(body: &str) -> Option<(u32, u32)> {
        parse_tag(body.strip_prefix(PREFIX)?)
    }

    /// `(run, j)` of a tag.
    pub fn parse_tag(tag: &str) -> Option<(u32, u32)> {
        let (run, j) = tag.strip_prefix("crash-")?.split_once('-')?;
        Some((run.parse().ok()?, j.parse().ok()?))
    }
}

/// Runs the Python checker (the `icalendar` package) over a feed and returns what it parsed.
pub fn parse_ics(text: &str) -> Value {
    use std::io::Write;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/ics/check_ics.py");
    let mut child = std::process::Command::new("python3")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 must be installed to check the calendar feed");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "the iCalendar checker refused the feed (install the checker's parser with \
         `python3 -m pip install icalendar`): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}
