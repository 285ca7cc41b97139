//! The engine an app holds: the session, the store and the outbox of one device.
//!
//! Every screen reads from the store, with no network; every action is queued in the outbox
//! (with its optimistic change) before any network attempt, then sent by
//! [`Engine::send_queued`]; [`Engine::sync`] brings the store up to date. Showing someone
//! else's record queues a read event ([`crate::reads`]).

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use livingwell_core::api::ErrorCode;
use livingwell_core::api::messages::SendMessageRequest;
use livingwell_core::api::plans::CommentRequest;
use livingwell_core::api::routes;
use livingwell_core::api::routes::Method;
use livingwell_core::api::sync::{SyncKind, SyncQuery, SyncRecord};
use livingwell_core::domain::PersonId;
use livingwell_core::domain::message::{ClientMessageId, ConversationId};
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use crate::api::ApiClient;
use crate::error::EngineError;
use crate::outbox::{self, Attempt, Drained};
use crate::reads;
use crate::secrets::{STORE_KEY, SecretStore};
use crate::session::{LogoutOutcome, Session, SignedInUser};
use crate::store::outbox_queue;
use crate::store::{NewWrite, QueuedWrite, STORE_KEY_LEN, Store, WriteRequest, new_store_key};
use crate::sync::{self, Page, SyncError, Synced};

/// Where the engine keeps its store, and the server it talks to.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// The app's private directory for the store's files.
    pub dir: PathBuf,
    pub base_url: String,
}

/// The engine of one device.
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    secrets: Arc<dyn SecretStore>,
    session: Session,
    store: Store,
}

impl Engine {
    /// Opens the store with the platform's key (made on first use) and the session kept.
    pub fn open(config: EngineConfig, secrets: Arc<dyn SecretStore>) -> Result<Self, EngineError> {
        let key = store_key(secrets.as_ref())?;
        let store = Store::open(&config.dir, &key)?;
        let session = Session::open(ApiClient::new(&config.base_url)?, secrets.clone())?;
        Ok(Self {
            config,
            secrets,
            session,
            store,
        })
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub async fn sign_in(
        &self,
        username: &str,
        password: &str,
    ) -> Result<SignedInUser, EngineError> {
        self.session.sign_in(username, password).await
    }

    /// Signs out: the session ends on the server (when reachable), and the store's files and
    /// its key are gone from the device.
    pub async fn logout(self) -> Result<LogoutOutcome, EngineError> {
        let outcome = self.session.logout().await?;
        let Self {
            config,
            secrets,
            store,
            ..
        } = self;
        drop(store);
        Store::wipe(&config.dir)?;
        secrets.delete(STORE_KEY)?;
        Ok(outcome)
    }

    /// Brings the store up to date, page by page.
    pub async fn sync(&self) -> Result<Synced, EngineError> {
        let session = &self.session;
        let synced = sync::sync(&self.store, |since| async move {
            match session.sync(&SyncQuery { since, limit: None }).await {
                Ok(page) => Page::Got(page),
                Err(error)
                    if error.error_body().map(|b| b.code)
                        == Some(livingwell_core::api::ErrorCode::Resync) =>
                {
                    Page::Resync
                }
                Err(error) => Page::Failed(error),
            }
        })
        .await;
        match synced {
            Ok(synced) => Ok(synced),
            Err(SyncError::Store(error)) => Err(error.into()),
            Err(SyncError::Fetch(error)) => Err(error),
            Err(SyncError::ResyncLoop) => Err(EngineError::Decode {
                what: "a sync the server keeps restarting",
            }),
        }
    }

    /// Sends what the outbox holds, each queue in order, as far as the network allows.
    pub async fn send_queued(&self) -> Result<Drained, EngineError> {
        let session = &self.session;
        let drained = outbox::drain(&self.store, Utc::now, |write| async move {
            attempt(session, &write).await
        })
        .await?;
        Ok(drained)
    }

    /// The network is back (the platform says so, or a request got through): what waited for
    /// it goes now, then the store catches up.
    pub async fn network_is_back(&self) -> Result<Drained, EngineError> {
        self.store.clear_backoff()?;
        let drained = self.send_queued().await?;
        self.sync().await?;
        Ok(drained)
    }

    /// Queues a message to a conversation: sent once, in order, when the network allows.
    pub fn send_message(
        &self,
        conversation: ConversationId,
        body: &str,
    ) -> Result<QueuedWrite, EngineError> {
        let client_id = ClientMessageId::new();
        let request = SendMessageRequest {
            client_id,
            body: body.to_owned(),
        };
        let id = conversation.to_string();
        self.queue(
            outbox_queue(SyncKind::Conversation, &id),
            None,
            client_id.to_string(),
            routes::SEND_MESSAGE.method.as_str(),
            routes::SEND_MESSAGE.path(&[&id]),
            &request,
        )
    }

    /// Queues a comment on a person's Enablement Plan ("where I disagree" when `disagree`).
    pub fn comment_on_plan(
        &self,
        person: PersonId,
        request: &CommentRequest,
    ) -> Result<QueuedWrite, EngineError> {
        let id = person.to_string();
        self.queue(
            outbox_queue(SyncKind::EnablementPlan, &id),
            Some(person),
            uuid::Uuid::new_v4().to_string(),
            routes::ADD_COMMENT.method.as_str(),
            routes::ADD_COMMENT.path(&[&id]),
            request,
        )
    }

    fn queue(
        &self,
        queue: String,
        person: Option<PersonId>,
        idempotency_key: String,
        method: &str,
        path: String,
        body: &impl serde::Serialize,
    ) -> Result<QueuedWrite, EngineError> {
        let body = serde_json::to_value(body).map_err(|_| EngineError::Decode {
            what: "a write to queue",
        })?;
        let write = NewWrite {
            queue,
            person,
            idempotency_key,
            request: WriteRequest {
                method: method.to_owned(),
                path,
                body: Some(body),
            },
            priority: 0,
        };
        Ok(self.store.enqueue(&write, &[], Utc::now())?)
    }

    /// A record from the store, with no network. Showing someone else's record queues a
    /// read event.
    pub async fn show(&self, kind: SyncKind, id: &str) -> Result<Option<SyncRecord>, EngineError> {
        let Some(record) = self.store.record(kind, id)? else {
            return Ok(None);
        };
        let own = self.session.user().await.and_then(|user| user.person_id);
        if let Some(read) = reads::read_event(&record, own, Utc::now()) {
            self.store.enqueue(&read, &[], Utc::now())?;
        }
        Ok(Some(record))
    }

    /// A record from the store read as `T` (a view from `livingwell_core::api`).
    pub async fn show_as<T: DeserializeOwned>(
        &self,
        kind: SyncKind,
        id: &str,
    ) -> Result<Option<T>, EngineError> {
        self.show(kind, id)
            .await?
            .map(|record| {
                serde_json::from_value(record.data).map_err(|_| EngineError::Decode {
                    what: "a stored record",
                })
            })
            .transpose()
    }

    /// The appointments held, soonest first, from `from` on.
    pub fn appointments_from(
        &self,
        from: DateTime<Utc>,
    ) -> Result<Vec<livingwell_core::api::appointments::AppointmentView>, EngineError> {
        let mut upcoming: Vec<livingwell_core::api::appointments::AppointmentView> = self
            .store
            .records(SyncKind::Appointment)?
            .into_iter()
            .filter_map(|record| serde_json::from_value(record.data).ok())
            .filter(
                |view: &livingwell_core::api::appointments::AppointmentView| view.starts_at >= from,
            )
            .collect();
        upcoming.sort_by_key(|view| view.starts_at);
        Ok(upcoming)
    }
}

/// Sends one queued write as the signed-in user, and sorts the answer for the outbox.
async fn attempt(session: &Session, write: &QueuedWrite) -> Attempt {
    let method = [
        Method::Get,
        Method::Post,
        Method::Put,
        Method::Patch,
        Method::Delete,
    ]
    .into_iter()
    .find(|method| method.as_str() == write.request.method);
    let Some(method) = method else {
        return Attempt::Refused {
            status: 0,
            code: "bad_request".into(),
            fields: Vec::new(),
        };
    };
    let answered = session
        .authorized::<serde_json::Value, serde::de::IgnoredAny>(
            method,
            &write.request.path,
            write.request.body.as_ref(),
            Some(&write.idempotency_key),
        )
        .await;
    match answered {
        // The next sync brings the records as the server keeps them.
        Ok(_) => Attempt::Sent(Vec::new()),
        Err(error) => failed(&error),
    }
}

/// Sorts a failed send for the outbox.
fn failed(error: &EngineError) -> Attempt {
    // The server applied this write and lost its answer (the phone was killed mid-request
    // and the request outlived its idempotency lease). The server has it: it is sent, and
    // the next sync brings the record. Wedging it instead would hold every later write of
    // its queue behind a write that already went, for ever (the crash journey found this).
    if error.error_body().map(|body| body.code) == Some(ErrorCode::IdempotencyAnswerLost) {
        return Attempt::Sent(Vec::new());
    }
    match error.class() {
        crate::api::FailureClass::Transient { retry_after } => Attempt::Transient { retry_after },
        crate::api::FailureClass::StepUp => Attempt::StepUp,
        crate::api::FailureClass::SessionExpired => Attempt::SessionOver,
        crate::api::FailureClass::Permanent => Attempt::Refused {
            status: match error {
                EngineError::Http(failure) => failure.status().unwrap_or(0),
                _ => 0,
            },
            code: error
                .error_body()
                .map(|body| serde_json::to_value(body.code).ok())
                .and_then(|code| code.and_then(|c| c.as_str().map(str::to_owned)))
                .unwrap_or_else(|| "unknown".to_owned()),
            fields: error
                .error_body()
                .map(|body| body.fields.iter().map(|f| f.field.clone()).collect())
                .unwrap_or_default(),
        },
    }
}

/// The store's key from the platform, made and kept there on first use.
fn store_key(secrets: &dyn SecretStore) -> Result<Zeroizing<[u8; STORE_KEY_LEN]>, EngineError> {
    match secrets.get(STORE_KEY)? {
        Some(kept) => {
            let key: [u8; STORE_KEY_LEN] =
                kept.as_slice()
                    .try_into()
                    .map_err(|_| EngineError::Decode {
                        what: "the store's key",
                    })?;
            Ok(Zeroizing::new(key))
        }
        None => {
            let key = new_store_key();
            secrets.set(STORE_KEY, key.as_ref())?;
            Ok(key)
        }
    }
}

#[cfg(test)]
mod tests {
    use livingwell_core::api::ErrorBody;

    use super::*;
    use crate::api::HttpFailure;

    fn answered(status: u16, code: ErrorCode) -> EngineError {
        EngineError::Http(HttpFailure::Status {
            status,
            body: Some(ErrorBody {
                code,
                message: String::new(),
                fields: Vec::new(),
                current_version: None,
            }),
            retry_after: None,
        })
    }

    #[test]
    fn a_write_the_server_applied_but_lost_the_answer_to_has_gone_not_wedged() {
        assert!(matches!(
            failed(&answered(409, ErrorCode::IdempotencyAnswerLost)),
            Attempt::Sent(records) if records.is_empty()
        ));
        // A write still running on the server waits; a real conflict still wedges.
        assert!(matches!(
            failed(&answered(409, ErrorCode::IdempotencyInProgress)),
            Attempt::Transient { .. }
        ));
        assert!(matches!(
            failed(&answered(409, ErrorCode::Conflict)),
            Attempt::Refused { status: 409, .. }
        ));
    }
}
