//! Extractors: how a request's parts become typed values, and who may call a handler.
//!
//! Every rejection leaves as the shared error body with the field named: a body that is not
//! JSON gets 415, unreadable JSON 400, a body too large 413, a field of the wrong type or an
//! unknown field 422. The caller extractors (`Caller`, `AppUser`, `StreamingUser`, `Admin`,
//! `Staff`) are the *who may call this at all* part of a handler's signature; what they may do
//! to a person's record is [`crate::policy`]'s decision.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Request};
use axum::http::request::Parts;
use axum::http::{Method, header};
use chrono::{DateTime, Utc};
use livingwell_core::api::{FieldError, Validate};
use livingwell_core::domain::FieldErrorCode;
use livingwell_core::domain::message::ConversationId;
use livingwell_core::domain::{PersonId, Role, StaffScope, UserId};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::AppState;
use super::client_rate::RateCell;
use super::error::ApiError;
use crate::auth::tokens::{self, Audience, VerifiedToken};
use crate::auth::{Caller, CallerUser, StaffSystemCaller};
use crate::policy::Action;
use crate::store::sync::SyncCursorRecord;
use crate::store::{ConversationFound, NewAuditEntry, RelationshipFacts, UserRecord};

/// A JSON body, read with field-level errors.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<S, T> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(request.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(body_rejection)?;
        parse_json(&bytes).map(Json)
    }
}

/// Whether the body is labelled JSON in UTF-8: `application/json`, with no charset or with
/// `charset=utf-8`. JSON between systems is UTF-8 (RFC 8259 §8.1); a body labelled with another
/// charset would be read as something it is not, so it is refused (415) rather than guessed at.
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(media_type) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
    else {
        return false;
    };
    media_type.type_() == mime::APPLICATION
        && media_type.subtype() == mime::JSON
        && media_type.suffix().is_none()
        && media_type
            .get_param(mime::CHARSET)
            .is_none_or(|charset| charset.as_str().eq_ignore_ascii_case("utf-8"))
}

fn body_rejection(rejection: BytesRejection) -> ApiError {
    if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge
    } else {
        ApiError::BadRequest(vec![FieldError::new("body", FieldErrorCode::Unreadable)])
    }
}

/// Parses JSON, naming the field at fault.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Syntax first: a text that is not JSON is a bad request whatever its fields say.
    let mut syntax = serde_json::Deserializer::from_slice(bytes);
    let value = serde_json::Value::deserialize(&mut syntax).map_err(|_| {
        ApiError::BadRequest(vec![FieldError::new("body", FieldErrorCode::MalformedJson)])
    })?;
    // Every body is an object; serde would otherwise read `[a, b]` as a struct's fields in order.
    if !value.is_object() {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "body",
            FieldErrorCode::NotAnObject,
        )]));
    }
    syntax.end().map_err(|_| {
        ApiError::BadRequest(vec![FieldError::new(
            "body",
            FieldErrorCode::TrailingCharacters,
        )])
    })?;
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().clone();
        deserialize_error(&path, error.into_inner())
    })
}

fn deserialize_error(path: &serde_path_to_error::Path, error: serde_json::Error) -> ApiError {
    // The text is JSON (checked above): whatever is wrong is a field's shape.
    let message = error.to_string();
    let segments: Vec<String> = path.iter().map(ToString::to_string).collect();
    let (code, field) = if message.starts_with("unknown field") {
        // The path ends with the raw key; name it by its sanitised form instead.
        let parent = &segments[..segments.len().saturating_sub(1)];
        (
            FieldErrorCode::UnknownField,
            join(parent, quoted_name(&message)),
        )
    } else if message.starts_with("missing field") {
        (
            FieldErrorCode::Required,
            join(&segments, quoted_name(&message)),
        )
    } else if message.starts_with("duplicate field") {
        (
            FieldErrorCode::DuplicateField,
            join(&segments, quoted_name(&message)),
        )
    } else {
        (FieldErrorCode::Invalid, join(&segments, None))
    };
    ApiError::Invalid(vec![FieldError::new(field, code)])
}

fn join(segments: &[String], name: Option<String>) -> String {
    let mut out = String::new();
    for segment in segments.iter().chain(name.iter()) {
        if segment.starts_with('[') || out.is_empty() {
            out.push_str(segment);
        } else {
            out.push('.');
            out.push_str(segment);
        }
    }
    if out.is_empty() {
        "body".to_owned()
    } else {
        out
    }
}

/// serde names an unknown or missing field between backticks; keep it short and printable.
fn quoted_name(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let end = start + message[start..].find('`')?;
    let name: String = message[start..end]
        .chars()
        .filter(|c| !c.is_control())
        .take(64)
        .collect();
    Some(name)
}

/// A JSON body that must also pass its [`Validate`] rules (422 listing every failing field).
#[derive(Debug)]
pub struct ValidJson<T>(pub T);

impl<S, T> FromRequest<S> for ValidJson<T>
where
    T: DeserializeOwned + Validate,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let Json(value) = Json::<T>::from_request(request, state).await?;
        let errors = value.field_errors();
        if errors.is_empty() {
            Ok(ValidJson(value))
        } else {
            Err(ApiError::Invalid(errors))
        }
    }
}

/// Path parameters; a malformed id is 404, since no record can have it.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<S, T> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(PathRejection::FailedToDeserializePathParams(_)) => Err(ApiError::NotFound),
            Err(_) => Err(ApiError::Internal("path parameters")),
        }
    }
}

/// Query parameters, with the field at fault named.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(Query)
            .map_err(|error| {
                let path = error.path().to_string();
                let field = if path == "." {
                    "query".to_owned()
                } else {
                    path
                };
                ApiError::Invalid(vec![FieldError::new(field, FieldErrorCode::Invalid)])
            })
    }
}

/// The id this request carries in its `x-request-id` header (set by the server's middleware).
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Ok(RequestId::of(parts))
    }
}

impl RequestId {
    /// The id `assign_request_id` gave this request.
    fn of(parts: &Parts) -> Self {
        let id = parts
            .headers
            .get(super::REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        RequestId(id)
    }
}

/// The header a staff system names its user in, for the audit log.
pub const ON_BEHALF_OF_HEADER: &str = livingwell_core::api::headers::ON_BEHALF_OF;

fn on_behalf_of(parts: &Parts) -> Result<Option<String>, ApiError> {
    let Some(value) = parts.headers.get(ON_BEHALF_OF_HEADER) else {
        return Ok(None);
    };
    let invalid = || {
        ApiError::BadRequest(vec![FieldError::new(
            ON_BEHALF_OF_HEADER,
            FieldErrorCode::Invalid,
        )])
    };
    let text = value.to_str().map_err(|_| invalid())?.trim();
    livingwell_core::domain::text::check_name(ON_BEHALF_OF_HEADER, text).map_err(|_| invalid())?;
    Ok(Some(text.to_owned()))
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Verifies the bearer token at the application's clock and reads the caller it names, with
/// its current role and session, from the database.
async fn authenticate(
    parts: &Parts,
    state: &AppState,
) -> Result<(Caller, VerifiedToken), ApiError> {
    let (caller, verified, _) = authenticate_about(parts, state, About::Nothing).await?;
    Ok((caller, verified))
}

/// What a request reads with the caller's session, in the same query.
enum About<'a> {
    Nothing,
    /// The account itself, as the session's query reads it.
    Account,
    /// The account's relationship to a person at an instant.
    Person(PersonId, DateTime<Utc>),
    /// The account's sync cursor of this name.
    SyncCursor(&'a str),
    /// A conversation, with the account's relationship to its person at an instant.
    Conversation(ConversationId, DateTime<Utc>),
}

/// What was read with the session, as [`About`] asked.
enum ReadAlong {
    Nothing,
    Account(UserRecord),
    Facts(RelationshipFacts),
    SyncCursor(Option<SyncCursorRecord>),
    Conversation(Option<ConversationFound>),
}

/// The caller, as [`authenticate`] reads it, and — for a signed-in account and a request about
/// `person` — what decides the account's access to that person at `at`, read in the same query
/// as the session ([`crate::store::Store::session_user_and_facts`]): a read of a person's
/// record then asks the database once before its data, not twice.
pub(super) async fn caller_about(
    parts: &Parts,
    state: &AppState,
    person: PersonId,
    at: DateTime<Utc>,
) -> Result<(Caller, Option<RelationshipFacts>), ApiError> {
    let (caller, _, along) = authenticate_about(parts, state, About::Person(person, at)).await?;
    let facts = match along {
        ReadAlong::Facts(facts) => Some(facts),
        ReadAlong::Nothing
        | ReadAlong::Account(_)
        | ReadAlong::SyncCursor(_)
        | ReadAlong::Conversation(_) => None,
    };
    Ok((caller, facts))
}

/// The signed-in account (staff systems are refused with 403) and, for `cursor`, the sync
/// cursor it names as kept for the account ([`crate::service::sync::Sync::begin`]), read in
/// the same query as the session: a sync with nothing new asks the database once.
pub(super) async fn app_user_with_sync_cursor(
    parts: &Parts,
    state: &AppState,
    cursor: Option<&str>,
) -> Result<(CallerUser, Option<SyncCursorRecord>), ApiError> {
    let about = cursor.map_or(About::Nothing, About::SyncCursor);
    match authenticate_about(parts, state, about).await? {
        (Caller::User(user), _, ReadAlong::SyncCursor(kept)) => Ok((user, kept)),
        (Caller::User(user), _, _) => Ok((user, None)),
        (Caller::StaffSystem(_), _, _) => Err(ApiError::Forbidden),
    }
}

/// The signed-in account (staff systems are refused with 403) and the conversation `id` with
/// the account's relationship to its person at `at` (`None`: no such conversation), read in the
/// same query as the session ([`crate::store::Store::session_user_and_conversation`]): a send
/// or a page of messages asks the database once before its policy decision. Where the
/// idempotency layer has read the session already, only the conversation is read.
pub(super) async fn app_user_with_conversation(
    parts: &Parts,
    state: &AppState,
    id: ConversationId,
    at: DateTime<Utc>,
) -> Result<(CallerUser, Option<ConversationFound>), ApiError> {
    if let Some(caller) = parts.extensions.get::<Caller>() {
        let Caller::User(user) = caller else {
            return Err(ApiError::Forbidden);
        };
        let found = state.store.conversation_and_facts(id, user.id, at).await?;
        return Ok((user.clone(), found));
    }
    match authenticate_about(parts, state, About::Conversation(id, at)).await? {
        (Caller::User(user), _, ReadAlong::Conversation(found)) => Ok((user, found)),
        (Caller::User(_), _, _) => Err(ApiError::Unauthorized),
        (Caller::StaffSystem(_), _, _) => Err(ApiError::Forbidden),
    }
}

async fn authenticate_about(
    parts: &Parts,
    state: &AppState,
    about: About<'_>,
) -> Result<(Caller, VerifiedToken, ReadAlong), ApiError> {
    let token = bearer(parts).ok_or(ApiError::NoCredentials)?;
    let now = state.clock.now();
    let verified = match state.keys.verify(token, now) {
        Ok(verified) => verified,
        // Perhaps signed with a key another process has just added: learnt, it verifies.
        Err(_) => {
            state.key_ring.learn_kid_of(token).await;
            state.keys.verify(token, now)?
        }
    };
    // A staff system's call not yet recorded in this request.
    let mut new_call = false;
    // What was read with the session.
    let mut along = ReadAlong::Nothing;
    let caller = match verified.audience {
        Audience::App => {
            let user_id: UserId = verified
                .claims
                .sub
                .parse()
                .map_err(|_| ApiError::Unauthorized)?;
            let session = verified.claims.sid.ok_or(ApiError::Unauthorized)?;
            let (found, read) = match about {
                About::Person(person, at) => state
                    .store
                    .session_user_and_facts(session, user_id, person, at)
                    .await?
                    .map(|(found, facts)| (found, ReadAlong::Facts(facts))),
                About::SyncCursor(cursor) => state
                    .store
                    .session_user_and_sync_cursor(session, user_id, cursor)
                    .await?
                    .map(|(found, kept)| (found, ReadAlong::SyncCursor(kept))),
                About::Nothing => (state.store.session_user(session, user_id).await?)
                    .map(|found| (found, ReadAlong::Nothing)),
                About::Conversation(conversation, at) => state
                    .store
                    .session_user_and_conversation(session, user_id, conversation, at)
                    .await?
                    .map(|(found, conversation)| (found, ReadAlong::Conversation(conversation))),
                About::Account => {
                    (state.store.session_user(session, user_id).await?).map(|found| {
                        let account = found.user.clone();
                        (found, ReadAlong::Account(account))
                    })
                }
            }
            .ok_or(ApiError::Unauthorized)?;
            along = read;
            Caller::User(CallerUser {
                id: found.user.id,
                role: found.user.role,
                person_id: found.user.person_id,
                session_id: found.session_id,
                authenticated_at: found.authenticated_at,
            })
        }
        Audience::StaffSystem => {
            let client = state
                .store
                .client(&verified.claims.sub)
                .await?
                // Disabling a client ends its tokens at once, not when they lapse.
                .filter(|client| client.disabled_at.is_none())
                .ok_or(ApiError::Unauthorized)?;
            let limit = state.client_rates.limit_for(client.requests_per_minute);
            let count = || state.client_rates.check(&client.client_id, limit);
            let (outcome, first) = match parts.extensions.get::<RateCell>() {
                Some(cell) => cell.outcome(count),
                None => (count(), true),
            };
            if let Some(wait) = outcome.wait {
                return Err(ApiError::RateLimited(wait));
            }
            new_call = first;
            let granted = verified.claims.scope.as_deref().unwrap_or_default();
            // Only scopes the token was given and the client still holds.
            let scopes = client
                .scopes
                .into_iter()
                .filter(|scope| granted.split(' ').any(|g| g == scope.as_str()))
                .collect();
            Caller::StaffSystem(StaffSystemCaller {
                client_id: client.client_id,
                scopes,
                on_behalf_of: on_behalf_of(parts)?,
            })
        }
    };
    if new_call {
        audit_call(parts, state, &caller).await?;
    }
    Ok((caller, verified, along))
}

/// Records that a staff system called, once per request and before anything of it runs:
/// every call a machine makes is in the audit log with the system as the actor and the staff
/// member it names, whether or not it is about one person (what it did to a person's record is
/// recorded there too, by the policy). Calls over the request budget are refused unrecorded, so
/// a flood cannot fill the log.
async fn audit_call(parts: &Parts, state: &AppState, caller: &Caller) -> Result<(), ApiError> {
    let route = parts
        .extensions
        .get::<MatchedPath>()
        .map_or("unrouted", MatchedPath::as_str);
    let action = if parts.method == Method::GET || parts.method == Method::HEAD {
        Action::Read
    } else {
        Action::Write
    };
    state
        .audit
        .record(NewAuditEntry {
            at: state.clock.now(),
            actor_id: Some(caller.audit_id()),
            actor_role: caller.audit_role().to_owned(),
            on_behalf_of: caller.on_behalf_of(),
            subject_id: None,
            resource: format!("call {} {route}", parts.method),
            action: action.as_str().to_owned(),
            outcome: "received".to_owned(),
            relationship: None,
            request_id: Some(RequestId::of(parts).0),
            via: None,
            read_at: None,
        })
        .await?;
    Ok(())
}

/// Any authenticated caller: a signed-in account or a staff system.
impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // Authenticated already in this request (by the idempotency layer, which must know the
        // caller before the handler runs): the session is not read twice.
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        Ok(authenticate(parts, state).await?.0)
    }
}

/// A signed-in account (any role); staff systems are refused with 403.
#[derive(Clone, Debug)]
pub struct AppUser(pub CallerUser);

impl FromRequestParts<AppState> for AppUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Caller::from_request_parts(parts, state).await? {
            Caller::User(user) => Ok(AppUser(user)),
            Caller::StaffSystem(_) => Err(ApiError::Forbidden),
        }
    }
}

/// A signed-in account (any role) with its account as the session's query read it, for a
/// request that answers with the account: it is not read a second time. Staff systems get 403.
#[derive(Clone, Debug)]
pub struct AppAccount {
    pub caller: CallerUser,
    pub account: UserRecord,
}

impl FromRequestParts<AppState> for AppAccount {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match authenticate_about(parts, state, About::Account).await? {
            (Caller::User(caller), _, ReadAlong::Account(account)) => {
                Ok(AppAccount { caller, account })
            }
            (Caller::User(_), _, _) => Err(ApiError::Unauthorized),
            (Caller::StaffSystem(_), _, _) => Err(ApiError::Forbidden),
        }
    }
}

/// A signed-in account that holds its connection open (an event stream), with the instant its
/// access token lapses: the connection must not outlive the token, or a stream would go on
/// delivering after the credential that opened it is no longer accepted. Staff systems get 403.
#[derive(Clone, Debug)]
pub struct StreamingUser {
    pub user: CallerUser,
    pub token_lapses_at: DateTime<Utc>,
}

impl FromRequestParts<AppState> for StreamingUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match authenticate(parts, state).await? {
            (Caller::User(user), verified) => Ok(StreamingUser {
                user,
                token_lapses_at: tokens::lapses_at(&verified.claims),
            }),
            (Caller::StaffSystem(_), _) => Err(ApiError::Forbidden),
        }
    }
}

/// An admin: manages accounts and teams, reads no records.
#[derive(Clone, Debug)]
pub struct Admin(pub CallerUser);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let AppUser(user) = AppUser::from_request_parts(parts, state).await?;
        if user.role == Role::Admin {
            Ok(Admin(user))
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

/// Staff: a practitioner, a peer worker or a staff system.
#[derive(Clone, Debug)]
pub struct Staff(pub Caller);

impl FromRequestParts<AppState> for Staff {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        match &caller {
            Caller::User(user) if !user.role.is_team_staff() => Err(ApiError::Forbidden),
            _ => Ok(Staff(caller)),
        }
    }
}

/// A staff system, for the routes only machine clients call (webhook subscriptions, the FHIR
/// facade): signed-in accounts are refused with 403.
#[derive(Clone, Debug)]
pub struct StaffSystem(pub StaffSystemCaller);

impl StaffSystem {
    /// Refuses with 403 `insufficient_scope`, naming `scope`, unless the client holds it.
    pub fn require(&self, scope: StaffScope) -> Result<(), ApiError> {
        if self.0.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(ApiError::InsufficientScope(scope))
        }
    }
}

impl FromRequestParts<AppState> for StaffSystem {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Caller::from_request_parts(parts, state).await? {
            Caller::StaffSystem(client) => Ok(StaffSystem(client)),
            Caller::User(_) => Err(ApiError::Forbidden),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue, header};

    use super::is_json;

    fn labelled(content_type: &str) -> bool {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(content_type).unwrap(),
        );
        is_json(&headers)
    }

    #[test]
    fn json_in_utf8_is_accepted_in_any_spelling() {
        for accepted in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            "application/json;charset=UTF-8",
            "application/json; charset=\"utf-8\"",
        ] {
            assert!(labelled(accepted), "{accepted}");
        }
    }

    #[test]
    fn another_charset_or_type_is_refused() {
        for refused in [
            "application/json; charset=utf-16",
            "application/json; charset=iso-8859-1",
            "application/jsonx",
            "application/problem+json",
            "text/json",
            "text/plain",
            "",
        ] {
            assert!(!labelled(refused), "{refused}");
        }
        assert!(!is_json(&HeaderMap::new()));
    }
}
