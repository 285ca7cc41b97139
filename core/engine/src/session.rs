//! The signed-in session: its tokens, kept by the platform, and every authorized request.
//!
//! What it guarantees:
//!
//! - **Tokens live in the platform's secret storage** ([`SecretStore`], under
//!   [`secrets::SESSION`]) and in memory, never in the engine's files or logs; `Debug` of
//!   anything holding them shows neither token, and they are zeroed when dropped.
//! - **One refresh at a time** (single flight). Refresh tokens rotate on each use, and the
//!   server ends the whole session when an old one comes back after its short grace, so two
//!   refreshes racing from one device could sign the person out. The session's state sits
//!   behind one async mutex with a generation number that moves whenever the tokens change. A
//!   caller that needs a fresh token says which generation it saw fail; the first to take the
//!   lock refreshes, and everyone who waited behind it finds the generation moved on and uses
//!   the new token without asking the server again.
//! - **A refresh runs to its end** even if the caller that started it goes away: it is spawned,
//!   so the rotated refresh token the server hands back is always kept.
//! - **A 401 refreshes once and retries once.** A request answered 401 `unauthorized` gets a
//!   fresh token and is sent again, once; with an idempotency key that is safe (the server
//!   frees a key on 401). A refresh answered 401 means the session is over: the tokens are
//!   forgotten here and in the platform's storage, and the caller gets a failure classed
//!   [`FailureClass::SessionExpired`]. A refresh that fails in any other way (no signal) keeps
//!   the session, so a phone offline for a day is still signed in when the signal returns.
//! - **Step-up is not a refresh.** 401 `step_up_required` keeps the tokens and goes back to the
//!   caller ([`FailureClass::StepUp`]) until [`Session::reauthenticate`] is called.
//! - **Signing out always forgets.** [`Session::logout`] revokes the session on the server when
//!   it can and forgets the tokens whether or not it could.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use livingwell_core::api::auth::{
    AccessTokenResponse, LoginRequest, ReauthenticateRequest, TokenResponse,
};
use livingwell_core::api::routes::{self, Method};
use livingwell_core::api::sync::{SyncQuery, SyncResponse};
use livingwell_core::domain::{PersonId, Role, UserId};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use zeroize::{Zeroize, Zeroizing};

use crate::api::{
    AcceptInvitationRequest, Answer, ApiClient, FailureClass, IgnoredAny, NO_BODY, path_with_query,
};
use crate::error::EngineError;
use crate::secrets::{self, SecretStore};

/// An access token this close to its expiry is refreshed before use rather than sent to be
/// refused: it saves a round trip, and the server's clock may run a little ahead of ours.
const EXPIRY_MARGIN: chrono::Duration = chrono::Duration::seconds(30);

/// Who is signed in: ids and role only (no name), so it can be logged and shown in `Debug`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedInUser {
    pub user_id: UserId,
    pub role: Role,
    /// The person record of a service user's own account.
    pub person_id: Option<PersonId>,
}

/// How signing out went on the server; on this device the session is forgotten in every case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogoutOutcome {
    /// The server ended the session: its refresh and access tokens no longer work anywhere.
    Revoked,
    /// The server had ended the session already (or no one was signed in).
    AlreadyEnded,
    /// The server could not be reached: the session lapses there on its own (30 days idle).
    ForgottenLocally,
}

/// The signed-in session. Cheap to clone: clones share the tokens and the single flight.
#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
}

struct Inner {
    api: ApiClient,
    secrets: Arc<dyn SecretStore>,
    state: Mutex<State>,
}

struct State {
    tokens: Option<Tokens>,
    /// Moves whenever `tokens` changes, so a caller can tell whether the token it saw fail is
    /// still the current one.
    generation: u64,
}

/// What is kept under [`secrets::SESSION`], as JSON.
#[derive(Clone, Serialize, Deserialize)]
struct Tokens {
    access_token: String,
    refresh_token: String,
    access_expires_at: DateTime<Utc>,
    user: SignedInUser,
}

impl Drop for Tokens {
    fn drop(&mut self) {
        self.access_token.zeroize();
        self.refresh_token.zeroize();
    }
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("access_expires_at", &self.access_expires_at)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl Tokens {
    fn issued(response: &TokenResponse, now: DateTime<Utc>) -> Self {
        Self {
            access_token: response.access_token.clone(),
            refresh_token: response.refresh_token.clone(),
            access_expires_at: expires_at(now, response.expires_in),
            user: SignedInUser {
                user_id: response.user.id,
                role: response.user.role,
                person_id: response.user.person_id,
            },
        }
    }

    fn fresh_at(&self, now: DateTime<Utc>) -> bool {
        now + EXPIRY_MARGIN < self.access_expires_at
    }
}

fn expires_at(now: DateTime<Utc>, expires_in: u64) -> DateTime<Utc> {
    let seconds = i64::try_from(expires_in).unwrap_or(i64::MAX);
    now.checked_add_signed(chrono::Duration::seconds(seconds))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `try_lock` so that printing never waits on a refresh; the tokens are never shown.
        let user = self
            .inner
            .state
            .try_lock()
            .ok()
            .map(|state| state.tokens.as_ref().map(|tokens| tokens.user.clone()));
        f.debug_struct("Session")
            .field("api", &self.inner.api)
            .field("user", &user)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// The session kept on this device, if any (signed out otherwise).
    pub fn open(api: ApiClient, secrets: Arc<dyn SecretStore>) -> Result<Self, EngineError> {
        let tokens = match secrets.get(secrets::SESSION)? {
            Some(json) => Some(
                serde_json::from_slice::<Tokens>(&json)
                    .map_err(|_| EngineError::Decode { what: "session" })?,
            ),
            None => None,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                api,
                secrets,
                state: Mutex::new(State {
                    tokens,
                    generation: 0,
                }),
            }),
        })
    }

    /// The server this session talks to.
    pub fn api(&self) -> &ApiClient {
        &self.inner.api
    }

    /// Who is signed in, or `None`.
    pub async fn user(&self) -> Option<SignedInUser> {
        let state = self.inner.state.lock().await;
        state.tokens.as_ref().map(|tokens| tokens.user.clone())
    }

    /// Signs in with a username and password, replacing any session kept before (which is
    /// not revoked by this: sign out first to end it on the server). A wrong username or
    /// password is [`EngineError::SignInRefused`].
    pub async fn sign_in(
        &self,
        username: &str,
        password: &str,
    ) -> Result<SignedInUser, EngineError> {
        let request = LoginRequest {
            username: username.to_owned(),
            password: password.to_owned(),
        };
        let response =
            self.inner
                .api
                .login(&request)
                .await
                .map_err(|failure| match failure.status() {
                    Some(401) => EngineError::SignInRefused,
                    _ => EngineError::Http(failure),
                })?;
        self.inner.start(&response).await
    }

    /// Accepts an invitation (the invited person chooses their username and password) and
    /// signs in with the new account.
    pub async fn accept_invitation(
        &self,
        request: &AcceptInvitationRequest,
    ) -> Result<SignedInUser, EngineError> {
        let response = self.inner.api.accept_invitation(request).await?;
        self.inner.start(&response).await
    }

    /// Enters the password again for an action that needs a recent sign-in (a failure classed
    /// [`FailureClass::StepUp`]); the action can then be retried. A wrong password is a 422
    /// naming `password`.
    pub async fn reauthenticate(&self, password: &str) -> Result<(), EngineError> {
        let request = ReauthenticateRequest {
            password: password.to_owned(),
        };
        let route = routes::REAUTHENTICATE;
        let answer: Answer<AccessTokenResponse> = self
            .authorized(route.method, &route.path(&[]), Some(&request), None)
            .await?;
        let now = Utc::now();
        let mut state = self.inner.state.lock().await;
        let Some(tokens) = state.tokens.as_ref() else {
            return Err(EngineError::SignedOut);
        };
        let mut renewed = tokens.clone();
        renewed.access_token.clone_from(&answer.body.access_token);
        renewed.access_expires_at = expires_at(now, answer.body.expires_in);
        self.inner.keep(&mut state, Some(renewed))
    }

    /// Signs out: revokes the session on the server if it can be reached, and forgets the
    /// tokens on this device in every case.
    pub async fn logout(&self) -> Result<LogoutOutcome, EngineError> {
        let route = routes::LOGOUT;
        let revoked = self
            .authorized::<(), IgnoredAny>(route.method, &route.path(&[]), NO_BODY, None)
            .await;
        let outcome = match revoked {
            Ok(_) => LogoutOutcome::Revoked,
            Err(error) => match error.class() {
                FailureClass::SessionExpired => LogoutOutcome::AlreadyEnded,
                class => {
                    tracing::info!(?class, "signing out on this device only");
                    LogoutOutcome::ForgottenLocally
                }
            },
        };
        let mut state = self.inner.state.lock().await;
        self.inner.keep(&mut state, None)?;
        Ok(outcome)
    }

    /// `GET /v1/sync`: one page of changes after `query.since`.
    pub async fn sync(&self, query: &SyncQuery) -> Result<SyncResponse, EngineError> {
        self.fetch(routes::SYNC.path(&[]), query).await
    }

    /// A read straight from the server (`GET path?query`), for what the phone does not keep.
    pub async fn fetch<Q, T>(&self, path: String, query: &Q) -> Result<T, EngineError>
    where
        Q: Serialize,
        T: DeserializeOwned,
    {
        let path = path_with_query(path, query)?;
        let answer = self.authorized(Method::Get, &path, NO_BODY, None).await?;
        Ok(answer.body)
    }

    /// Sends one request as the signed-in user: the path every store, outbox and sync call
    /// takes. Attaches the current access token (refreshed first when it is about to lapse),
    /// and on a 401 `unauthorized` refreshes once and sends once more. The failure, if any,
    /// is classified by [`EngineError::class`].
    pub async fn authorized<B, T>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        idempotency_key: Option<&str>,
    ) -> Result<Answer<T>, EngineError>
    where
        B: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        let (token, generation) = self.access_token().await?;
        let first = self
            .inner
            .api
            .request(method, path, Some(&token), body, idempotency_key)
            .await;
        match first {
            Err(failure) if failure.class() == FailureClass::SessionExpired => {
                let (token, _) = self.refreshed(generation).await?;
                Ok(self
                    .inner
                    .api
                    .request(method, path, Some(&token), body, idempotency_key)
                    .await?)
            }
            answered => Ok(answered?),
        }
    }

    /// Opens the caller's event stream (`GET /v1/events`) after `last_event_id`, refreshing the
    /// token once if the server says it lapsed.
    pub async fn events(
        &self,
        last_event_id: Option<&str>,
    ) -> Result<reqwest::Response, EngineError> {
        let (token, generation) = self.access_token().await?;
        match self.inner.api.event_stream(&token, last_event_id).await {
            Err(failure) if failure.class() == FailureClass::SessionExpired => {
                let (token, _) = self.refreshed(generation).await?;
                Ok(self.inner.api.event_stream(&token, last_event_id).await?)
            }
            opened => Ok(opened?),
        }
    }

    /// The current access token and its generation, refreshed first when about to lapse.
    async fn access_token(&self) -> Result<(Zeroizing<String>, u64), EngineError> {
        let generation = {
            let state = self.inner.state.lock().await;
            let tokens = state.tokens.as_ref().ok_or(EngineError::SignedOut)?;
            if tokens.fresh_at(Utc::now()) {
                return Ok((
                    Zeroizing::new(tokens.access_token.clone()),
                    state.generation,
                ));
            }
            state.generation
        };
        self.refreshed(generation).await
    }

    /// A token newer than the one of `seen_generation`: the one another caller's refresh
    /// brought, or one this call refreshes for. Spawned, so that a refresh the server has
    /// answered is always kept, even if this caller is dropped meanwhile.
    async fn refreshed(
        &self,
        seen_generation: u64,
    ) -> Result<(Zeroizing<String>, u64), EngineError> {
        let inner = Arc::clone(&self.inner);
        tokio::spawn(async move { inner.refresh(seen_generation).await })
            .await
            .map_err(|_| EngineError::Config {
                reason: "the refresh task stopped (the runtime is shutting down)".into(),
            })?
    }
}

impl Inner {
    async fn start(&self, response: &TokenResponse) -> Result<SignedInUser, EngineError> {
        let tokens = Tokens::issued(response, Utc::now());
        let user = tokens.user.clone();
        let mut state = self.state.lock().await;
        self.keep(&mut state, Some(tokens))?;
        Ok(user)
    }

    async fn refresh(&self, seen_generation: u64) -> Result<(Zeroizing<String>, u64), EngineError> {
        let mut state = self.state.lock().await;
        let tokens = state.tokens.as_ref().ok_or(EngineError::SignedOut)?;
        if state.generation != seen_generation {
            // Someone refreshed (or signed in again) while this caller waited: use theirs.
            return Ok((
                Zeroizing::new(tokens.access_token.clone()),
                state.generation,
            ));
        }
        let refresh_token = Zeroizing::new(tokens.refresh_token.clone());
        // The lock is held across the call on purpose: that is the single flight.
        match self.api.refresh(&refresh_token).await {
            Ok(response) => {
                let tokens = Tokens::issued(&response, Utc::now());
                let access = Zeroizing::new(tokens.access_token.clone());
                self.keep(&mut state, Some(tokens))?;
                Ok((access, state.generation))
            }
            Err(failure) if failure.class() == FailureClass::SessionExpired => {
                tracing::info!("the session has ended on the server");
                // The caller must hear that the session ended even if the platform could not
                // delete the secret now; memory is cleared either way, and a kept copy of an
                // ended session fails the same way at its next refresh.
                if let Err(error) = self.keep(&mut state, None) {
                    tracing::warn!(%error, "the ended session could not be forgotten");
                }
                Err(failure.into())
            }
            Err(failure) => Err(failure.into()),
        }
    }

    /// Replaces the tokens in memory and in the platform's storage (`None` forgets them).
    ///
    /// Memory changes first: after a refresh the server has already used up the old refresh
    /// token, so the new one must be used even if the platform cannot store it right now.
    fn keep(&self, state: &mut State, tokens: Option<Tokens>) -> Result<(), EngineError> {
        state.generation += 1;
        state.tokens = tokens;
        match &state.tokens {
            Some(tokens) => {
                let json = Zeroizing::new(
                    serde_json::to_vec(tokens)
                        .map_err(|_| EngineError::Decode { what: "session" })?,
                );
                self.secrets.set(secrets::SESSION, &json)?;
            }
            None => self.secrets.delete(secrets::SESSION)?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use livingwell_core::api::auth::UserView;

    use super::*;
    use crate::error::PublicError;
    use crate::secrets::FileSecretStore;

    fn token_response() -> TokenResponse {
        TokenResponse {
            access_token: "at-secret-access".into(),
            refresh_token: "lwr_secret-refresh".into(),
            token_type: "Bearer".into(),
            expires_in: 300,
            user: UserView {
                id: UserId::new(),
                username: "alex".into(),
                role: Role::ServiceUser,
                display_name: "Alex Example".into(),
                person_id: Some(PersonId::new()),
            },
        }
    }

    /// A session kept on disk, over a server that cannot be reached.
    async fn offline_session(dir: &std::path::Path) -> (Session, Arc<FileSecretStore>) {
        let secrets = Arc::new(FileSecretStore::new(dir).unwrap());
        let api = ApiClient::new("http://127.0.0.1:1").unwrap();
        let session = Session::open(api, secrets.clone()).unwrap();
        session.inner.start(&token_response()).await.unwrap();
        (session, secrets)
    }

    #[tokio::test]
    async fn a_kept_session_is_opened_again_without_the_network() {
        let dir = tempfile::tempdir().unwrap();
        let (session, secrets) = offline_session(dir.path()).await;
        let user = session.user().await.unwrap();
        let reopened = Session::open(session.api().clone(), secrets).unwrap();
        assert_eq!(reopened.user().await, Some(user));
    }

    #[tokio::test]
    async fn debug_output_never_shows_tokens_or_names() {
        let dir = tempfile::tempdir().unwrap();
        let (session, _) = offline_session(dir.path()).await;
        let state = session.inner.state.lock().await;
        let shown = format!("{session:?} {:?}", state.tokens);
        drop(state);
        let shown = format!("{shown} {session:?}");
        for secret in [
            "at-secret-access",
            "lwr_secret-refresh",
            "Alex Example",
            "alex\"",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("ServiceUser"), "{shown}");
    }

    #[tokio::test]
    async fn offline_a_request_fails_as_offline_and_keeps_the_session() {
        let dir = tempfile::tempdir().unwrap();
        let (session, secrets) = offline_session(dir.path()).await;
        let error = session
            .authorized::<(), IgnoredAny>(Method::Get, "/v1/me", NO_BODY, None)
            .await
            .unwrap_err();
        assert_eq!(PublicError::from(&error), PublicError::Offline);
        assert!(matches!(error.class(), FailureClass::Transient { .. }));
        assert!(session.user().await.is_some());
        assert!(secrets.get(secrets::SESSION).unwrap().is_some());
    }

    #[tokio::test]
    async fn signing_out_offline_still_forgets_the_session() {
        let dir = tempfile::tempdir().unwrap();
        let (session, secrets) = offline_session(dir.path()).await;
        assert_eq!(
            session.logout().await.unwrap(),
            LogoutOutcome::ForgottenLocally
        );
        assert!(secrets.get(secrets::SESSION).unwrap().is_none());
        assert!(session.user().await.is_none());
        let error = session
            .authorized::<(), IgnoredAny>(Method::Get, "/v1/me", NO_BODY, None)
            .await
            .unwrap_err();
        assert_eq!(PublicError::from(&error), PublicError::SessionExpired);
    }

    #[tokio::test]
    async fn an_unreadable_kept_session_is_an_error_not_a_silent_sign_out() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = Arc::new(FileSecretStore::new(dir.path()).unwrap());
        secrets.set(secrets::SESSION, b"not json").unwrap();
        let api = ApiClient::new("http://127.0.0.1:1").unwrap();
        let error = Session::open(api, secrets).unwrap_err();
        assert!(matches!(error, EngineError::Decode { what: "session" }));
    }
}
