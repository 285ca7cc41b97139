//! The HTTP surface: one module per resource, each owning its routes and handlers.
//!
//! [`app`] builds the whole router; tests and `serve` both call it. The OpenAPI 3.1 document
//! is generated from the handlers' annotations and served at `/openapi.json`, with a docs page
//! at `/docs` whose assets are compiled in (it works offline).

pub mod access;
pub mod accounts;
pub mod appointments;
mod caseload;
pub mod client_rate;
mod clients;
pub mod cors;
mod dashboard;
mod deadline;
mod devices;
pub mod error;
mod events;
pub mod extract;
mod fhir;
mod idempotency;
mod messages;
mod meta;
mod offline_reads;
mod paging;
mod people;
mod plans;
mod printable;
mod referrals;
pub(crate) mod reports;
mod sessions;
mod sync;
mod teams;
mod webhooks;

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::audit::AuditLog;
use crate::auth::key_ring::{self, KeyRing};
use crate::auth::sealing::KeyEncryptionKey;
use crate::auth::throttle::{LoginThrottle, ThrottleSettings};
use crate::auth::tokens::TokenKeys;
use crate::clock::Clock;
use crate::events::EventHub;
use crate::http::client_rate::ClientRates;
use crate::service::accounts::Accounts;
use crate::service::appointments::Appointments;
use crate::service::idempotency::Idempotency;
use crate::service::messaging::Messaging;
use crate::service::offline_reads::OfflineReads;
use crate::service::people::People;
use crate::service::plans::Plans;
use crate::service::push::Pusher;
use crate::service::referrals::Referrals;
use crate::service::sessions::Sessions;
use crate::service::sync::Sync;
use crate::service::webhooks::Webhooks;
use crate::store::Store;
use tokio_util::sync::CancellationToken;

pub use crate::service::messaging::{MessagingSettings, SendRate};
pub use crate::service::push::PushTarget;
pub use crate::service::referrals::ReferralSettings;
pub use crate::service::webhooks::{RetrySchedule, WebhookSettings};
pub use deadline::DEFAULT_REQUEST_TIMEOUT;

pub const REQUEST_ID_HEADER: HeaderName =
    HeaderName::from_static(livingwell_core::api::headers::REQUEST_ID);

/// Largest request body accepted. Plans are the largest records; this leaves ample room.
pub const BODY_LIMIT_BYTES: usize = 256 * 1024;

/// Deployment settings the handlers need.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The `iss` of tokens, and the base of their audiences.
    pub issuer: String,
    pub throttle: ThrottleSettings,
    /// The key that seals the token signing keys in the database. By default one for this
    /// process only (tests, benchmarks); `serve` reads it from a file.
    pub key_encryption_key: KeyEncryptionKey,
    /// How often the signing keys are read again, to follow a rotation.
    pub key_reload_interval: Duration,
    /// The labels people see for the outcome-rating domains (key → label).
    pub outcome_labels: BTreeMap<String, String>,
    /// Crisis lines for out-of-hours notices, send rate, push notifications.
    pub messaging: MessagingSettings,
    /// The system clock, or a test's.
    pub clock: Clock,
    /// Origins whose pages may call the API from a browser; none by default.
    pub cors_origins: Vec<cors::CorsOrigin>,
    /// Requests a minute a staff system may make unless an admin gave it its own budget.
    pub client_requests_per_minute: NonZeroU32,
    /// Where webhooks may go, and how they are retried.
    pub webhooks: WebhookSettings,
    /// How long a keyed write holds its `Idempotency-Key` before a retry may count it abandoned
    /// (its process killed mid-request).
    pub idempotency_lease: chrono::Duration,
    /// The front door: how hard a self-referral's proof of work is, how many an address sends.
    pub referrals: ReferralSettings,
    /// How long a request may take before it is answered 503 (event streams excepted).
    pub request_timeout: Duration,
    /// For tests: every sync answered "nothing new" from its fingerprint is also worked out in
    /// full, and a difference is answered 500, so every sync a test makes checks the
    /// fingerprint.
    pub check_unchanged_syncs: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            issuer: "urn:livingwell".to_owned(),
            throttle: ThrottleSettings::default(),
            key_encryption_key: KeyEncryptionKey::for_this_process(),
            key_reload_interval: key_ring::DEFAULT_RELOAD_INTERVAL,
            outcome_labels: livingwell_core::domain::plan::default_outcome_labels(),
            messaging: MessagingSettings::default(),
            clock: Clock::default(),
            cors_origins: Vec::new(),
            client_requests_per_minute: client_rate::DEFAULT_REQUESTS_PER_MINUTE,
            webhooks: WebhookSettings::default(),
            idempotency_lease: crate::service::idempotency::LEASE,
            referrals: ReferralSettings::default(),
            request_timeout: deadline::DEFAULT_REQUEST_TIMEOUT,
            check_unchanged_syncs: false,
        }
    }
}

/// What every handler can reach: the services, shared. Every extractor and handler takes its
/// own clone per request, so this is one `Arc` to count, not one per service.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Services>);

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// The services behind [`AppState`].
#[derive(Debug)]
pub struct Services {
    pub store: Arc<dyn Store>,
    pub audit: AuditLog,
    pub keys: Arc<TokenKeys>,
    /// Where `keys` come from, reloaded as they rotate.
    pub key_ring: Arc<KeyRing>,
    pub throttle: Arc<LoginThrottle>,
    pub events: EventHub,
    /// Cancelled when the server begins to shut down, so long-lived streams end.
    pub shutdown: CancellationToken,
    pub outcome_labels: Arc<BTreeMap<String, String>>,
    /// A hash checked when the username is unknown, so the answer takes as long as a real one.
    pub dummy_password_hash: Arc<str>,
    /// Workshop offers: telling of them, passing on lapsed ones (a periodic job).
    pub appointments: Appointments,
    /// The send writer, push notifications, the send rate and crisis lines.
    pub messaging: Arc<Messaging>,
    /// Plan versions, comments, agreements and crisis activations, and who is told of each.
    pub plans: Plans,
    /// People, their caseload, carers, consents, exclusions and emergency access.
    pub people: People,
    /// Accounts and teams: creating them, membership, invitations, passwords, disabling.
    pub accounts: Accounts,
    /// App sessions: starting, refreshing, marking a fresh sign-in, ending.
    pub sessions: Sessions,
    /// Idempotency keys: one effect and the first answer for a write sent again.
    pub idempotency: Idempotency,
    /// What each phone was told at its last sync, named by its cursor.
    pub sync: Sync,
    /// Reads phones showed offline, recorded once each in the access log.
    pub offline_reads: OfflineReads,
    /// What tokens, sessions, streams and working hours take as "now".
    pub clock: Clock,
    /// Origins whose pages may call the API from a browser ([`cors`]).
    pub cors_origins: Arc<[cors::CorsOrigin]>,
    /// Each staff system's request budget ([`client_rate`]).
    pub client_rates: Arc<ClientRates>,
    /// Staff systems' webhook subscriptions, and the dispatcher delivering them.
    pub webhooks: Webhooks,
    /// The front door: proof-of-work challenges, the per-address limit, receipt and triage.
    pub referrals: Arc<Referrals>,
    /// How long a request may take ([`Settings::request_timeout`]).
    pub request_timeout: Duration,
}

impl AppState {
    /// Opens the signing keys (and keeps reloading them), starts the audit writer and the
    /// services with their background tasks (the send writer, passing on lapsed offers, the
    /// webhook dispatcher), all
    /// ending with `shutdown` or when the state is dropped. Migrations must have run.
    pub async fn new(store: Arc<dyn Store>, settings: &Settings) -> anyhow::Result<Self> {
        let key_ring = KeyRing::open(
            store.clone(),
            settings.key_encryption_key.clone(),
            &settings.issuer,
            settings.clock.clone(),
        )
        .await
        .context("opening the token signing keys")?;
        let shutdown = CancellationToken::new();
        tokio::spawn(
            key_ring
                .clone()
                .reload_every(settings.key_reload_interval, shutdown.clone()),
        );
        let dummy = crate::auth::passwords::hash(uuid::Uuid::new_v4().to_string()).await?;
        let events = EventHub::start(store.clone(), shutdown.clone()).await?;
        let pusher = Pusher::new(&settings.messaging.push, store.clone())?;
        let messaging = Messaging::start(
            &settings.messaging,
            store.clone(),
            events.clone(),
            settings.clock.clone(),
            pusher.clone(),
        )?;
        let appointments = Appointments::start(
            store.clone(),
            events.clone(),
            settings.clock.clone(),
            pusher.clone(),
            shutdown.clone(),
        );
        let plans = Plans::new(
            store.clone(),
            events.clone(),
            settings.clock.clone(),
            pusher.clone(),
        );
        let accounts = Accounts::new(store.clone(), events.clone(), settings.clock.clone());
        let idempotency = Idempotency::start(
            store.clone(),
            settings.clock.clone(),
            settings.idempotency_lease,
            shutdown.clone(),
        );
        let sync = Sync::start(
            store.clone(),
            settings.clock.clone(),
            settings.check_unchanged_syncs,
            shutdown.clone(),
        );
        let webhooks = Webhooks::start(
            store.clone(),
            events.clone(),
            settings.clock.clone(),
            settings.key_encryption_key.clone(),
            &settings.webhooks,
            shutdown.clone(),
        )?;
        let referrals = Referrals::new(
            settings.referrals,
            store.clone(),
            events.clone(),
            settings.clock.clone(),
            pusher.clone(),
            &settings.key_encryption_key,
        );
        let sessions = Sessions::new(
            store.clone(),
            events.clone(),
            key_ring.tokens(),
            settings.clock.clone(),
        );
        Ok(Self(Arc::new(Services {
            audit: AuditLog::start(store.clone()),
            events,
            shutdown,
            outcome_labels: Arc::new(settings.outcome_labels.clone()),
            keys: key_ring.tokens(),
            key_ring,
            throttle: Arc::new(LoginThrottle::new(settings.throttle)),
            dummy_password_hash: dummy.into(),
            appointments,
            messaging: Arc::new(messaging),
            plans,
            people: People::new(store.clone(), settings.clock.clone()),
            accounts,
            sessions,
            idempotency,
            sync,
            offline_reads: OfflineReads::new(store.clone(), settings.clock.clone()),
            clock: settings.clock.clone(),
            cors_origins: settings.cors_origins.clone().into(),
            client_rates: Arc::new(ClientRates::new(settings.client_requests_per_minute)),
            webhooks,
            referrals: Arc::new(referrals),
            request_timeout: settings.request_timeout,
            store,
        })))
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Living Well API",
        description = "For the Living Well apps and for staff systems. Errors always carry `{code, message, fields}`.",
        version = env!("CARGO_PKG_VERSION"),
        contact(name = "Living Well"),
    ),
    // Relative: the document describes the server that serves it.
    servers((url = "/", description = "This deployment")),
    tags(
        (name = "auth", description = "Signing in: accounts (password, refresh tokens) and staff systems (client credentials)"),
        (name = "accounts", description = "Invitations, passwords, step-up and disabling accounts"),
        (name = "clients", description = "Staff systems, as admins register, rotate and disable them"),
        (name = "people", description = "A person's record: carers, consents, exclusions, team, peer worker, access log"),
        (name = "plans", description = "The Enablement Plan, the WRAP and its crisis plan"),
        (name = "appointments", description = "Appointments, requests to move or cancel them, diaries and calendar feeds"),
        (name = "workshops", description = "Enablement workshop programmes, bookings and waitlists"),
        (name = "messages", description = "Conversations with peer workers and the team"),
        (name = "events", description = "What happened, as a live stream and as notifications"),
        (name = "sync", description = "The phone's copy of what its account may see"),
        (name = "audit", description = "Reads a phone showed offline, for the access log"),
        (name = "devices", description = "Push tokens"),
        (name = "teams", description = "Hubs, their members and caseloads"),
        (name = "referrals", description = "The front door: self-referrals (a proof of work, no account), partner referrals and triage"),
        (name = "meta", description = "Health, signing keys and OAuth metadata"),
        (name = "fhir", description = "FHIR R4 resources for staff systems"),
        (name = "webhooks", description = "Staff systems told of events, signed"),
        (name = "reports", description = "A team's performance figures, small numbers hidden"),
    ),
    modifiers(&BearerAuth),
    components(schemas(livingwell_core::api::ErrorBody)),
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Documents the `Idempotency-Key` header on every write that takes one (see
/// [`idempotency`]), and the 409 a replay can meet.
struct IdempotencyKeys;

impl utoipa::Modify for IdempotencyKeys {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::{ContentBuilder, ObjectBuilder, Ref, RefOr, ResponseBuilder, Type};
        const KEYED_CONFLICT: &str = "`idempotency_in_progress` (retry after Retry-After) or \
                                      `idempotency_answer_lost` for a keyed request";
        let body = ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .build();
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !path.starts_with("/v1/") || path.starts_with("/v1/auth/") {
                continue;
            }
            // A secret answered once is never kept for a replay, so takes no key.
            let post = if idempotency::answers_a_secret(path) {
                None
            } else {
                item.post.as_mut()
            };
            let writes = [
                item.put.as_mut(),
                post,
                item.delete.as_mut(),
                item.patch.as_mut(),
            ];
            for operation in writes.into_iter().flatten() {
                let key = ParameterBuilder::new()
                    .name(livingwell_core::api::headers::IDEMPOTENCY_KEY)
                    .parameter_in(ParameterIn::Header)
                    .description(Some(
                        "A client-made key (a UUID; 1–255 visible ASCII characters): the same \
                         write sent again with it has one effect and gets the first answer, \
                         marked `Idempotent-Replayed: true`; the same key with another request \
                         is 422. Kept at least 7 days.",
                    ))
                    .schema(Some(
                        ObjectBuilder::new()
                            .schema_type(Type::String)
                            .min_length(Some(1))
                            .max_length(Some(255)),
                    ))
                    .build();
                operation
                    .parameters
                    .get_or_insert_with(Vec::new)
                    .push(utoipa::openapi::RefOr::T(key));
                let conflict = operation
                    .responses
                    .responses
                    .entry("409".to_owned())
                    .or_insert_with(|| {
                        ResponseBuilder::new()
                            .content("application/json", body.clone())
                            .build()
                            .into()
                    });
                // An operation's own conflicts stay described; a keyed request can meet these too.
                if let RefOr::T(conflict) = conflict {
                    conflict.description = if conflict.description.is_empty() {
                        KEYED_CONFLICT.to_owned()
                    } else {
                        format!("{}; or {KEYED_CONFLICT}", conflict.description)
                    };
                }
            }
        }
    }
}

/// Documents the answers any `/v1` or `/oauth` operation can give besides its own: a body
/// that cannot be read, failed sign-in, refusals, a body too large, the wrong media type,
/// invalid fields, throttling and a database (or audit log) that cannot answer.
///
/// An operation may list one of these itself, to say it is an answer it expects to give
/// (`(status = 404, body = ErrorBody)`); without a description of its own it gets the one here.
/// OpenAPI requires every response to have a description but utoipa lets a response leave it
/// out (and then writes none), and these mean the same on every operation: worded once, here.
struct CommonErrors;

impl utoipa::Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        const COMMON: [(&str, &str); 10] = [
            ("400", "The request could not be read"),
            ("401", "Sign-in needed or not accepted"),
            ("403", "Not allowed"),
            ("404", "Not found, or not yours to know of"),
            ("405", "Method not allowed"),
            ("413", "Body too large"),
            ("415", "Body is not JSON"),
            ("422", "Invalid fields"),
            (
                "429",
                "Too many requests; see Retry-After (a staff system also gets RateLimit and RateLimit-Policy on every answer)",
            ),
            ("503", "Cannot answer safely right now"),
        ];
        let body = ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .build();
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !(path.starts_with("/v1/") || path.starts_with("/oauth/")) {
                continue;
            }
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                for (status, description) in COMMON {
                    let response = operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| {
                            ResponseBuilder::new()
                                .content("application/json", body.clone())
                                .build()
                                .into()
                        });
                    if let RefOr::T(response) = response
                        && response.description.is_empty()
                    {
                        description.clone_into(&mut response.description);
                    }
                }
            }
        }
    }
}

/// Documents the answers any operation of the FHIR facade can give besides its own, each an
/// `OperationOutcome` in `application/fhir+json` (see [`fhir::outcome`]).
struct FhirErrors;

impl utoipa::Modify for FhirErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use fhir::model::OperationOutcome;
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        use utoipa::{PartialSchema, ToSchema};
        const ANSWERS: [(&str, &str); 9] = [
            (
                "400",
                "A parameter this interaction does not take, or a value it does not",
            ),
            (
                "401",
                "A staff system's token is needed, or was not accepted",
            ),
            (
                "403",
                "Not a staff system, or a scope is missing (named, with the RFC 6750 challenge)",
            ),
            ("404", "No such resource, or resource type"),
            ("405", "Only GET is served"),
            ("406", "Only application/fhir+json is served"),
            ("429", "Too many requests; see Retry-After"),
            ("500", "Something went wrong on our side"),
            ("503", "Cannot answer safely right now"),
        ];
        let components = openapi.components.get_or_insert_with(Default::default);
        // The outcome and the types it is made of (no route's success names them).
        let mut schemas = vec![(
            OperationOutcome::name().into_owned(),
            OperationOutcome::schema(),
        )];
        OperationOutcome::schemas(&mut schemas);
        components.schemas.extend(schemas);
        let body = ContentBuilder::new()
            .schema(Some(Ref::from_schema_name(OperationOutcome::name())))
            .build();
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !path.starts_with(fhir::PREFIX) {
                continue;
            }
            for operation in [&mut item.get].into_iter().flatten() {
                for (status, description) in ANSWERS {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| {
                            ResponseBuilder::new()
                                .description(description)
                                .content("application/fhir+json", body.clone())
                                .build()
                                .into()
                        });
                }
            }
        }
    }
}

/// The routes and the OpenAPI document that describes them.
pub fn routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(meta::router())
        .merge(sessions::router())
        .merge(accounts::router())
        .merge(clients::router())
        .merge(people::router())
        .merge(plans::router())
        .merge(teams::router())
        .merge(caseload::router())
        .merge(referrals::router())
        .merge(events::router())
        .merge(appointments::router())
        .merge(messages::router())
        .merge(devices::router())
        .merge(sync::router())
        .merge(offline_reads::router())
        .merge(webhooks::router())
        .merge(fhir::router())
        .merge(reports::router())
        .split_for_parts();
    // After the merge: only now does the document hold every operation.
    utoipa::Modify::modify(&IdempotencyKeys, &mut openapi);
    utoipa::Modify::modify(&CommonErrors, &mut openapi);
    utoipa::Modify::modify(&FhirErrors, &mut openapi);
    (router, openapi)
}

/// How long a stopping server waits, after its last answer, for keyed writes whose callers
/// hung up; past it they are left to their lease (a database that stopped answering could
/// hold them for ever).
const FINISH_KEYED_WRITES: Duration = Duration::from_secs(30);

/// Serves the application on `listener` until `stop` completes; then takes no new request,
/// ends event streams, answers the requests in flight, and waits for the keyed writes still
/// running for callers that hung up, so a graceful restart strands no `Idempotency-Key`.
/// `serve` and the tests' servers both stop this way.
pub async fn serve_until(
    listener: tokio::net::TcpListener,
    state: AppState,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let shutdown = state.shutdown.clone();
    let idempotency = state.idempotency.clone();
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        stop.await;
        // Event streams would otherwise hold the graceful shutdown open for ever.
        shutdown.cancel();
    })
    .await?;
    if !idempotency.finish_running(FINISH_KEYED_WRITES).await {
        tracing::warn!("keyed writes still running at shutdown were left to their lease");
    }
    Ok(())
}

/// The whole application.
pub fn app(state: AppState) -> Router {
    // The deadline layer is given only this: no copy of the whole state per request.
    let request_timeout = state.request_timeout;
    let (router, openapi) = routes();
    let cors = cors::layer(&state.cors_origins);
    let router = router
        // Only requests a route takes: an unknown path or method is answered 404 or 405
        // whatever key it carries.
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            idempotency::keyed_writes,
        ))
        .merge(SwaggerUi::new("/docs").url("/openapi.json", openapi))
        // HTML for people in a browser, signed in by cookie; not part of the API or its document.
        .merge(dashboard::router())
        .fallback(meta::not_found)
        .method_not_allowed_fallback(meta::method_not_allowed)
        // Inside the layers below, so a late answer carries their headers (CORS included).
        .layer(middleware::from_fn_with_state(
            request_timeout,
            deadline::deadline,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        // Personal data must not sit in caches; nothing here is worth caching anyway.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        // Browsers must take every answer as the type it is labelled, never sniff it into HTML.
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(middleware::map_response(label_json_as_utf8))
        // Outside the idempotency layer, which may be the first to authenticate the caller.
        .layer(middleware::from_fn(client_rate::rate_headers));
    // Outside the routes: a preflight is answered before routing would say 405.
    let router = match cors {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router
        .layer(
            TraceLayer::new_for_http()
                .on_response(DefaultOnResponse::new().level(Level::INFO))
                .make_span_with(|request: &Request| {
                    // Method, path and request id only: no query, no headers, no bodies, and
                    // no path that is itself a credential (a secret calendar feed's).
                    let request_id = request
                        .headers()
                        .get(&REQUEST_ID_HEADER)
                        .and_then(|v| v.to_str().ok());
                    tracing::info_span!(
                        "request",
                        method = %request.method(),
                        path = %appointments::loggable_path(request.uri().path()),
                        request_id,
                    )
                }),
        )
        .layer(middleware::from_fn(assign_request_id))
        .with_state(state)
}

/// Names the charset of JSON answers (`application/json; charset=utf-8`), as the contract says.
async fn label_json_as_utf8(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let bare_json = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"application/json"));
    if bare_json {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
    }
    response
}

/// Gives every request a fresh id (any id a client sent is replaced, so the audit log holds
/// only ids we made) and returns it in the response.
async fn assign_request_id(mut request: Request, next: Next) -> Response {
    let id = uuid::Uuid::now_v7().to_string();
    let value = HeaderValue::from_str(&id).unwrap_or(HeaderValue::from_static("unknown"));
    request
        .headers_mut()
        .insert(REQUEST_ID_HEADER, value.clone());
    let mut response = next.run(request).await;
    response.headers_mut().insert(REQUEST_ID_HEADER, value);
    response
}

#[cfg(test)]
mod tests {
    use super::routes;

    /// The document's own promises, checked without a server; `scripts/openapi-check` runs the
    /// validator and a client generator over the served copy.
    #[test]
    fn every_answer_is_described_and_says_what_its_body_is() {
        let (_, openapi) = routes();
        let document = serde_json::to_value(&openapi).unwrap();
        let mut faults = Vec::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let Some(responses) = operation["responses"].as_object() else {
                    continue;
                };
                for (status, response) in responses {
                    let at = format!("{method} {path} {status}");
                    if response["description"].as_str().is_none_or(str::is_empty) {
                        faults.push(format!("{at}: no description"));
                    }
                    let content = response["content"].as_object().into_iter().flatten();
                    for (media_type, body) in content {
                        // JSON bodies name their types; FHIR JSON its resource's; any other
                        // body (HTML, iCalendar, an event stream, plain text) is text, and says so.
                        let named = body["schema"]["$ref"]
                            .as_str()
                            .is_some_and(|r| !r.is_empty());
                        match media_type.as_str() {
                            "application/json" => {}
                            "application/fhir+json" if named => {}
                            "application/fhir+json" => {
                                faults.push(format!("{at}: FHIR JSON names no resource"));
                            }
                            _ if body["schema"]["type"] == "string" => {}
                            _ => {
                                faults.push(format!("{at}: {media_type} is not described as text"))
                            }
                        }
                    }
                }
            }
        }
        assert!(faults.is_empty(), "{faults:#?}");
    }
}
