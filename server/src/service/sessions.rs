//! App sessions: starting one at sign-in, refreshing its tokens, marking a fresh sign-in, and
//! ending it.
//!
//! Guarantees (the rules themselves are in [`crate::auth::refresh`]):
//! - **A refresh token works once.** Repeating it within the grace period (racing requests, a
//!   retry) gives the same successor; reusing it later, or repeating it once its successor has
//!   moved on, ends the whole session, on every server process.
//! - **A session lapses** 30 days after its last refresh and 90 days after sign-in, by the
//!   [`Clock`].
//! - **Ending a session** ends its refresh tokens, its access tokens (checked against the
//!   session on each request), its live streams (see [`EventHub::end_session`]) and pushes to
//!   its devices (registered per session; see [`crate::store::devices`]).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use livingwell_core::api::devices::PushPlatform;
use livingwell_core::domain::UserId;

use super::ServiceResult;
use crate::auth::refresh;
use crate::auth::tokens::{AppSession, Audience, TokenKeys};
use crate::clock::Clock;
use crate::events::EventHub;
use crate::store::devices::NewDevice;
use crate::store::{NewRefreshToken, Store, StoreError};

/// The sessions service. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Sessions {
    store: Arc<dyn Store>,
    events: EventHub,
    keys: Arc<TokenKeys>,
    clock: Clock,
}

/// The tokens of a session just started or refreshed.
#[derive(Debug)]
pub struct Issued {
    /// The account the session is of.
    pub user: UserId,
    pub access_token: String,
    pub refresh_token: String,
}

impl Sessions {
    pub fn new(
        store: Arc<dyn Store>,
        events: EventHub,
        keys: Arc<TokenKeys>,
        clock: Clock,
    ) -> Self {
        Self {
            store,
            events,
            keys,
            clock,
        }
    }

    /// Starts a new session for an account whose credentials were checked, with its first
    /// token pair.
    pub async fn start(&self, user: UserId) -> ServiceResult<Issued> {
        let now = self.clock.now();
        let session = uuid::Uuid::now_v7();
        self.store
            .create_session(session, user, now, &refresh::session_secret())
            .await?;
        let (refresh_token, token_hash) = refresh::generate();
        self.store
            .insert_refresh_token(&NewRefreshToken {
                id: uuid::Uuid::now_v7(),
                session_id: session,
                token_hash,
                issued_at: now,
                expires_at: refresh::expires_at(now, now),
            })
            .await?;
        let session = AppSession {
            id: session,
            authenticated_at: now,
        };
        let access_token = self.access_token(user, session, now)?;
        Ok(Issued {
            user,
            access_token,
            refresh_token,
        })
    }

    /// Exchanges a refresh token for a new pair; `None` when it is not accepted (unknown,
    /// lapsed, revoked, or reused — which ends the session).
    pub async fn refresh(&self, presented_token: &str) -> ServiceResult<Option<Issued>> {
        let now = self.clock.now();
        let Some(presented) = self
            .store
            .refresh_token_by_hash(&refresh::digest(presented_token))
            .await?
        else {
            return Ok(None);
        };
        if presented.session_revoked
            || presented.expires_at <= now
            || refresh::session_ends_at(presented.session_started_at) <= now
        {
            return Ok(None);
        }
        let first_exchange = self.store.mark_rotated(presented.id, now).await?;
        if !first_exchange {
            let rotated_at = presented.rotated_at.unwrap_or(now);
            if !refresh::within_grace(rotated_at, now) {
                self.end_on_reuse(presented.session_id).await?;
                return Ok(None);
            }
        }
        let (successor, successor_hash) =
            refresh::successor(&presented.session_secret, presented_token).map_err(|_| {
                StoreError::Corrupt("a session's refresh secret is unreadable".to_owned())
            })?;
        // Whichever exchange of `presented` comes first stores the successor; the others keep
        // it.
        self.store
            .insert_refresh_token(&NewRefreshToken {
                id: uuid::Uuid::now_v7(),
                session_id: presented.session_id,
                token_hash: successor_hash.clone(),
                issued_at: now,
                expires_at: refresh::expires_at(now, presented.session_started_at),
            })
            .await?;
        let Some(stored) = self.store.refresh_token_by_hash(&successor_hash).await? else {
            return Ok(None);
        };
        if stored.session_revoked {
            return Ok(None);
        }
        // A repeat whose successor has moved on already is not a racing request of the device
        // that holds the family now: it is a copy.
        if !first_exchange && stored.rotated_at.is_some() {
            self.end_on_reuse(presented.session_id).await?;
            return Ok(None);
        }
        let session = AppSession {
            id: presented.session_id,
            authenticated_at: presented.session_authenticated_at,
        };
        let access_token = self.access_token(presented.user_id, session, now)?;
        Ok(Some(Issued {
            user: presented.user_id,
            access_token,
            refresh_token: successor,
        }))
    }

    /// Records that the session's owner entered their password just now, and issues an access
    /// token that says so; `None` when the session has ended.
    pub async fn reauthenticated(
        &self,
        user: UserId,
        session: uuid::Uuid,
    ) -> ServiceResult<Option<String>> {
        let now = self.clock.now();
        if !self.store.reauthenticated(session, now).await? {
            return Ok(None);
        }
        let session = AppSession {
            id: session,
            authenticated_at: now,
        };
        Ok(Some(self.access_token(user, session, now)?))
    }

    /// Signs out: ends the session, its tokens, its streams and its devices' pushes.
    pub async fn end(&self, session: uuid::Uuid) -> ServiceResult<()> {
        self.store.remove_devices(session).await?;
        Ok(self.events.end_session(session, self.clock.now()).await?)
    }

    /// Registers this device's push token for the session; pushes reach it while the session
    /// is live.
    pub async fn register_device(
        &self,
        user: UserId,
        session: uuid::Uuid,
        platform: PushPlatform,
        token: String,
    ) -> ServiceResult<chrono::DateTime<Utc>> {
        let at = self.clock.now();
        self.store
            .register_device(&NewDevice {
                token,
                platform: match platform {
                    PushPlatform::Apns => "apns",
                    PushPlatform::Fcm => "fcm",
                },
                user_id: user,
                session_id: session,
                at,
            })
            .await?;
        Ok(at)
    }

    /// Removes the session's devices: no more pushes to them.
    pub async fn remove_devices(&self, session: uuid::Uuid) -> ServiceResult<()> {
        Ok(self.store.remove_devices(session).await?)
    }

    /// A spent refresh token came back: the family may be in two hands, so it ends for both.
    async fn end_on_reuse(&self, session: uuid::Uuid) -> ServiceResult<()> {
        tracing::warn!(%session, "refresh token reused; session revoked");
        self.end(session).await
    }

    fn access_token(
        &self,
        user: UserId,
        session: AppSession,
        now: DateTime<Utc>,
    ) -> ServiceResult<String> {
        Ok(self
            .keys
            .issue(Audience::App, user.to_string(), Some(session), None, now)?)
    }
}
