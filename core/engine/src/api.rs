//! The engine's HTTP client: JSON over reqwest, and the one reading of an answer.
//!
//! Every request goes through [`ApiClient::request`], and every answer is read by
//! [`read_answer`], so the rules below hold for every route:
//!
//! - A write may carry an `Idempotency-Key` (the outbox mints it before the row is stored); the
//!   server answers a repeat with the first answer, so sending twice is harmless.
//! - A failure keeps what the server said that a caller can act on — the status, the error
//!   body's code, fields and current version, and `Retry-After` — and nothing else: no URL, no
//!   request body, no token.
//! - [`HttpFailure::class`] sorts a failure for the outbox (MOBILE.md §1): **transient**
//!   (transport errors, 5xx, 429, 408 and `409 idempotency_in_progress`: try again later,
//!   honouring `Retry-After`); **session expired** (401 `unauthorized`: refresh, or sign in);
//!   **step-up** (401 `step_up_required`: the password again, then retry); **permanent**
//!   (403, 404, 409, 410, 422 and everything else: stop this record's queue and say why).
//!   Retrying a permanent failure cannot succeed, and retrying a transient one cannot do harm,
//!   because the key makes the retry the same request.
//!
//! Paths come from the route table in `livingwell_core::api::routes`, so this module names no
//! route except the few it has typed helpers for.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use livingwell_core::api::auth::{LoginRequest, RefreshRequest, TokenResponse};
use livingwell_core::api::headers;
use livingwell_core::api::referrals::{ProofChallenge, ReferralReceipt, SelfReferralRequest};
use livingwell_core::api::{ErrorBody, ErrorCode, routes};
use reqwest::header::{self, HeaderValue};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use livingwell_core::api::accounts::AcceptInvitationRequest;
pub use livingwell_core::api::routes::{Method, Route};
pub use serde::de::IgnoredAny;

use crate::error::EngineError;

/// How long one request may take, connecting included. Long enough for a slow mobile network,
/// short enough that a dead connection frees the outbox to try again.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The event stream is held open for hours; the server ends it with the session.
const EVENT_STREAM_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

/// For a request with no body: `request(Method::Get, path, None, NO_BODY, None)`.
pub const NO_BODY: Option<&()> = None;

/// How the server could not be reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetworkFailure {
    /// No connection was made (no signal, no route, refused).
    Connect,
    /// Connecting or answering took too long.
    Timeout,
    /// The connection broke while sending or reading.
    Interrupted,
}

/// Why a request did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum HttpFailure {
    /// The server was not reached, or the answer did not arrive whole.
    #[error("the server could not be reached ({kind:?})")]
    Network { kind: NetworkFailure },
    /// The server answered with an error status.
    #[error("the server answered {status} ({code:?})", code = body.as_ref().map(|b| b.code))]
    Status {
        status: u16,
        /// The error body, when the answer carried a readable one.
        body: Option<ErrorBody>,
        /// `Retry-After`, in seconds, when given.
        retry_after: Option<Duration>,
    },
    /// A successful answer whose body is not what the route answers (a client and server that
    /// disagree about the contract).
    #[error("the server's answer ({status}) could not be read")]
    Undecodable { status: u16 },
    /// The request body could not be written as JSON.
    #[error("the request could not be encoded")]
    Unencodable,
    /// The HTTP client could not be built (the platform's TLS set-up failed); nothing was
    /// sent. Tried again at the next request.
    #[error("the HTTP client could not be built")]
    NoClient,
}

/// What the outbox does with a failure; see the module note.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureClass {
    /// Try again later: after `retry_after` if the server said, else by backoff.
    Transient { retry_after: Option<Duration> },
    /// The session is over: the person must sign in again.
    SessionExpired,
    /// The action needs the password again (`Session::reauthenticate`), then a retry.
    StepUp,
    /// Trying again cannot succeed: stop this record's queue with the reason.
    Permanent,
}

impl HttpFailure {
    /// How the outbox should treat this failure.
    pub fn class(&self) -> FailureClass {
        match self {
            // Not the write's fault: it waits, queued, for a client that can be built.
            HttpFailure::Network { .. } | HttpFailure::NoClient => {
                FailureClass::Transient { retry_after: None }
            }
            HttpFailure::Undecodable { .. } | HttpFailure::Unencodable => FailureClass::Permanent,
            HttpFailure::Status {
                status,
                body,
                retry_after,
            } => {
                let transient = FailureClass::Transient {
                    retry_after: *retry_after,
                };
                match (*status, body.as_ref().map(|body| body.code)) {
                    (401, Some(ErrorCode::StepUpRequired)) => FailureClass::StepUp,
                    (401, _) => FailureClass::SessionExpired,
                    (408 | 429 | 500..=599, _) => transient,
                    (409, Some(ErrorCode::IdempotencyInProgress)) => transient,
                    _ => FailureClass::Permanent,
                }
            }
        }
    }

    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            HttpFailure::Status { status, .. } | HttpFailure::Undecodable { status } => {
                Some(*status)
            }
            HttpFailure::Network { .. } | HttpFailure::Unencodable | HttpFailure::NoClient => None,
        }
    }

    /// The server's error body, when it sent a readable one.
    pub fn error_body(&self) -> Option<&ErrorBody> {
        match self {
            HttpFailure::Status { body, .. } => body.as_ref(),
            _ => None,
        }
    }

    /// The error body's code, when there is one.
    pub fn code(&self) -> Option<ErrorCode> {
        self.error_body().map(|body| body.code)
    }

    fn from_transport(error: &reqwest::Error) -> Self {
        let kind = if error.is_timeout() {
            NetworkFailure::Timeout
        } else if error.is_connect() {
            NetworkFailure::Connect
        } else {
            NetworkFailure::Interrupted
        };
        HttpFailure::Network { kind }
    }
}

/// A successful answer: its body, and the headers a caller may need.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer<T> {
    pub status: u16,
    /// `ETag` (a plan's version, see `livingwell_core::api::headers::version_in_tag`).
    pub etag: Option<String>,
    /// The server answered a repeat of a keyed write with its first answer.
    pub replayed: bool,
    pub body: T,
}

/// The server's address and a connection pool. Cheap to clone (the pool is shared).
///
/// The pool's client is built at the first request, not with the `ApiClient`: building it
/// loads the platform's TLS roots (~2–2.5 ms here, bench/README.md "The phone's engine"), the
/// larger part of opening the engine, and a screen read from the store offline never needs it.
#[derive(Clone)]
pub struct ApiClient {
    http: Arc<OnceLock<reqwest::Client>>,
    base_url: String,
}

impl fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiClient")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl ApiClient {
    /// A client of the server at `base_url` (`https://…`, or `http://…` for tests), with the
    /// default TLS set-up (rustls with the platform's verifier).
    pub fn new(base_url: &str) -> Result<Self, EngineError> {
        Self::at(base_url, OnceLock::new())
    }

    /// A client over a reqwest client the platform configured (its own roots, say: on Android
    /// the platform verifier needs JNI set-up, which `tls_certs_only` avoids).
    pub fn with_client(base_url: &str, http: reqwest::Client) -> Result<Self, EngineError> {
        Self::at(base_url, OnceLock::from(http))
    }

    fn at(base_url: &str, http: OnceLock<reqwest::Client>) -> Result<Self, EngineError> {
        let base_url = base_url.trim_end_matches('/');
        let plausible = (base_url.starts_with("https://") || base_url.starts_with("http://"))
            && reqwest::Url::parse(base_url).is_ok();
        if !plausible {
            return Err(EngineError::Config {
                reason: "the server address must be an http(s) URL".into(),
            });
        }
        Ok(Self {
            http: Arc::new(http),
            base_url: base_url.to_owned(),
        })
    }

    /// The pool's client, built now if no request has needed it yet. A failed build is not
    /// kept: the next request tries again.
    fn http(&self) -> Result<&reqwest::Client, HttpFailure> {
        if let Some(http) = self.http.get() {
            return Ok(http);
        }
        let built = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|_| HttpFailure::NoClient)?;
        // Two first requests at once may both build one; the first stored is the one kept.
        Ok(self.http.get_or_init(|| built))
    }

    /// The server's address, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Sends one request and reads its answer: the core every other call is made of.
    ///
    /// `path` is a route's path (`routes::X.path(&[ids])`, with a query if any); `bearer` the
    /// access token; `idempotency_key` the key of a write, sent as `Idempotency-Key`. A route
    /// that answers no body (204) reads as `()`; an answer whose body the caller does not need
    /// reads as [`IgnoredAny`].
    pub async fn request<B, T>(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<&B>,
        idempotency_key: Option<&str>,
    ) -> Result<Answer<T>, HttpFailure>
    where
        B: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        let mut request = self
            .http()?
            .request(http_method(method), format!("{}{path}", self.base_url))
            .header(header::ACCEPT, "application/json");
        if let Some(token) = bearer {
            // `bearer_auth` marks the header sensitive, so reqwest and hyper never log it.
            request = request.bearer_auth(token);
        }
        if let Some(key) = idempotency_key {
            request = request.header(headers::IDEMPOTENCY_KEY, key);
        }
        if let Some(body) = body {
            let json = serde_json::to_vec(body).map_err(|_| HttpFailure::Unencodable)?;
            request = request
                .header(header::CONTENT_TYPE, "application/json")
                .body(json);
        }
        let response = request
            .send()
            .await
            .map_err(|error| HttpFailure::from_transport(&error))?;
        read_answer(response).await
    }

    /// Opens `GET /v1/events`: the caller's event stream, resumed after `last_event_id`. Held
    /// open for as long as the app is in the foreground, so no request timeout applies.
    pub async fn event_stream(
        &self,
        bearer: &str,
        last_event_id: Option<&str>,
    ) -> Result<reqwest::Response, HttpFailure> {
        let route = routes::EVENT_STREAM;
        let mut request = self
            .http()?
            .request(
                http_method(route.method),
                format!("{}{}", self.base_url, route.path(&[])),
            )
            .header(header::ACCEPT, "text/event-stream")
            .timeout(EVENT_STREAM_TIMEOUT)
            .bearer_auth(bearer);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request
            .send()
            .await
            .map_err(|error| HttpFailure::from_transport(&error))?;
        if response.status().is_success() {
            Ok(response)
        } else {
            // An error answer is read like any other, for its code and `Retry-After`.
            match read_answer::<IgnoredAny>(response).await {
                Err(failure) => Err(failure),
                Ok(answer) => Err(HttpFailure::Undecodable {
                    status: answer.status,
                }),
            }
        }
    }

    /// `POST /v1/auth/login`.
    pub async fn login(&self, request: &LoginRequest) -> Result<TokenResponse, HttpFailure> {
        self.post_unauthenticated(routes::LOGIN, request).await
    }

    /// `POST /v1/auth/refresh`: a new pair for the refresh token (which is used up).
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenResponse, HttpFailure> {
        let request = RefreshRequest {
            refresh_token: refresh_token.to_owned(),
        };
        self.post_unauthenticated(routes::REFRESH_TOKENS, &request)
            .await
    }

    /// `POST /v1/auth/accept-invitation`: the invited person's first sign-in.
    pub async fn accept_invitation(
        &self,
        request: &AcceptInvitationRequest,
    ) -> Result<TokenResponse, HttpFailure> {
        self.post_unauthenticated(routes::ACCEPT_INVITATION, request)
            .await
    }

    /// The front door's proof-of-work challenge (no account needed).
    pub async fn referral_challenge(&self) -> Result<ProofChallenge, HttpFailure> {
        let route = routes::REFERRAL_CHALLENGE;
        let answer = self
            .request(route.method, &route.path(&[]), None, NO_BODY, None)
            .await?;
        Ok(answer.body)
    }

    /// Sends a self-referral with its solved challenge (no account needed).
    pub async fn refer_self(
        &self,
        request: &SelfReferralRequest,
    ) -> Result<ReferralReceipt, HttpFailure> {
        let route = routes::REFER_SELF;
        let answer = self
            .request(route.method, &route.path(&[]), None, Some(request), None)
            .await?;
        Ok(answer.body)
    }

    async fn post_unauthenticated<B: Serialize>(
        &self,
        route: Route,
        body: &B,
    ) -> Result<TokenResponse, HttpFailure> {
        let answer = self
            .request(route.method, &route.path(&[]), None, Some(body), None)
            .await?;
        Ok(answer.body)
    }
}

/// `path` with `query` (any `Serialize` of flat fields; absent ones left out), escaped.
pub fn path_with_query<Q: Serialize>(path: String, query: &Q) -> Result<String, HttpFailure> {
    let query = serde_urlencoded::to_string(query).map_err(|_| HttpFailure::Unencodable)?;
    Ok(if query.is_empty() {
        path
    } else {
        format!("{path}?{query}")
    })
}

/// Turns an answer into its body, or into the failure it says.
pub async fn read_answer<T: DeserializeOwned>(
    response: reqwest::Response,
) -> Result<Answer<T>, HttpFailure> {
    let status = response.status().as_u16();
    let headers = response.headers();
    let retry_after = headers
        .get(header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let etag = headers
        .get(header::ETAG)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let replayed =
        headers.get(headers::IDEMPOTENT_REPLAYED) == Some(&HeaderValue::from_static("true"));
    let success = response.status().is_success();
    let bytes = response
        .bytes()
        .await
        .map_err(|error| HttpFailure::from_transport(&error))?;
    if !success {
        // A body that is not ours (a proxy's page) leaves only the status to go by.
        let body = serde_json::from_slice::<ErrorBody>(&bytes).ok();
        return Err(HttpFailure::Status {
            status,
            body,
            retry_after,
        });
    }
    // No body (204) reads as JSON `null`, which is `()` or `None` to the caller.
    let body = if bytes.is_empty() {
        T::deserialize(serde_json::Value::Null)
    } else {
        serde_json::from_slice(&bytes)
    }
    .map_err(|_| HttpFailure::Undecodable { status })?;
    Ok(Answer {
        status,
        etag,
        replayed,
        body,
    })
}

fn http_method(method: Method) -> reqwest::Method {
    match method {
        Method::Get => reqwest::Method::GET,
        Method::Post => reqwest::Method::POST,
        Method::Put => reqwest::Method::PUT,
        Method::Patch => reqwest::Method::PATCH,
        Method::Delete => reqwest::Method::DELETE,
    }
}

#[cfg(test)]
mod tests {
    use livingwell_core::api::FieldError;
    use livingwell_core::api::sync::SyncQuery;

    use super::*;

    fn answered(status: u16, code: Option<ErrorCode>, retry_after: Option<u64>) -> HttpFailure {
        HttpFailure::Status {
            status,
            body: code.map(|code| ErrorBody {
                code,
                message: String::new(),
                fields: Vec::<FieldError>::new(),
                current_version: None,
                required_scope: None,
            }),
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    #[test]
    fn failures_are_sorted_for_the_outbox() {
        use ErrorCode as C;
        use FailureClass::*;
        let later = |secs: Option<u64>| Transient {
            retry_after: secs.map(Duration::from_secs),
        };
        let cases = [
            (
                HttpFailure::Network {
                    kind: NetworkFailure::Connect,
                },
                later(None),
            ),
            (
                HttpFailure::Network {
                    kind: NetworkFailure::Timeout,
                },
                later(None),
            ),
            (answered(500, Some(C::Internal), None), later(None)),
            (answered(503, Some(C::Unavailable), Some(1)), later(Some(1))),
            (answered(502, None, None), later(None)),
            (
                answered(429, Some(C::RateLimited), Some(30)),
                later(Some(30)),
            ),
            (answered(408, None, None), later(None)),
            (
                answered(409, Some(C::IdempotencyInProgress), Some(2)),
                later(Some(2)),
            ),
            (answered(401, Some(C::Unauthorized), None), SessionExpired),
            (answered(401, None, None), SessionExpired),
            (answered(401, Some(C::StepUpRequired), None), StepUp),
            (answered(403, Some(C::Forbidden), None), Permanent),
            (answered(404, Some(C::NotFound), None), Permanent),
            (answered(409, Some(C::Conflict), None), Permanent),
            (
                answered(409, Some(C::IdempotencyAnswerLost), None),
                Permanent,
            ),
            (answered(410, Some(C::Resync), None), Permanent),
            (answered(422, Some(C::Invalid), None), Permanent),
            (answered(400, Some(C::BadRequest), None), Permanent),
            (HttpFailure::Undecodable { status: 200 }, Permanent),
            (HttpFailure::Unencodable, Permanent),
            (HttpFailure::NoClient, later(None)),
        ];
        for (failure, class) in cases {
            assert_eq!(failure.class(), class, "{failure:?}");
        }
    }

    #[test]
    fn a_query_is_escaped_and_absent_fields_left_out() {
        let path = || routes::SYNC.path(&[]);
        let first = path_with_query(path(), &SyncQuery::default()).unwrap();
        assert_eq!(first, "/v1/sync");
        let next = path_with_query(
            path(),
            &SyncQuery {
                since: Some("a+b/c=".into()),
                limit: Some(50),
            },
        )
        .unwrap();
        assert_eq!(next, "/v1/sync?since=a%2Bb%2Fc%3D&limit=50");
    }

    #[test]
    fn only_an_http_address_is_a_server() {
        assert!(ApiClient::new("https://living-well.example/").is_ok());
        assert_eq!(
            ApiClient::new("http://127.0.0.1:8080/").unwrap().base_url(),
            "http://127.0.0.1:8080"
        );
        assert!(ApiClient::new("living-well.example").is_err());
        assert!(ApiClient::new("file:///etc/passwd").is_err());
    }

    #[tokio::test]
    async fn the_pool_is_built_at_the_first_request_and_shared_by_clones() {
        let api = ApiClient::new("http://127.0.0.1:1").unwrap();
        let clone = api.clone();
        assert!(api.http.get().is_none(), "built with the ApiClient");
        // Refused at once (nothing listens on port 1), after the client was built to send it.
        let _ = clone
            .request::<_, IgnoredAny>(Method::Get, "/v1/me", None, NO_BODY, None)
            .await;
        assert!(api.http.get().is_some(), "not built by a clone's request");
        let given = ApiClient::with_client("http://127.0.0.1:1", reqwest::Client::new()).unwrap();
        assert!(given.http.get().is_some(), "the platform's client kept");
    }

    #[tokio::test]
    async fn an_unreachable_server_is_a_transient_network_failure() {
        // Port 1 on loopback: nothing listens there, so the connection is refused at once.
        let api = ApiClient::new("http://127.0.0.1:1").unwrap();
        let failure = api
            .request::<_, IgnoredAny>(Method::Get, "/v1/me", Some("token"), NO_BODY, None)
            .await
            .unwrap_err();
        assert!(
            matches!(failure, HttpFailure::Network { .. }),
            "{failure:?}"
        );
        assert_eq!(
            failure.class(),
            FailureClass::Transient { retry_after: None }
        );
    }
}
