//! The engine an app holds: the session, the store and the outbox of one device.
//!
//! Every screen reads from the store, with no network; every action is queued in the outbox
//! (with its optimistic change) before any network attempt, then sent by
//! [`Engine::send_queued`]; [`Engine::sync`] brings the store up to date. Showing someone
//! else's record queues a read event ([`crate::reads`]).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use livingwell_core::api::accounts::AcceptInvitationRequest;
use livingwell_core::api::appointments::{
    AppointmentResponseRequest, AppointmentView, BookRequest, BookingView, OfferAnswerRequest,
    ProgrammePage, ProgrammeQuery,
};
use livingwell_core::api::devices::RegisterDeviceRequest;
use livingwell_core::api::messages::{
    AvailabilityView, ConversationView, MarkReadRequest, MessageView, ReportMessageRequest,
    SendMessageRequest, SetAvailabilityRequest,
};
use livingwell_core::api::people::{AccessLogEntry, ConsentView, GrantConsentRequest, PersonView};
use livingwell_core::api::plans::{
    ActivateRequest, AgreeRequest, CommentPage, CommentQuery, CommentRequest, PutWrapRequest,
};
use livingwell_core::api::referrals::{self, ReferralReceipt, SelfReferralRequest};
use livingwell_core::api::routes;
use livingwell_core::api::routes::Method;
use livingwell_core::api::sync::{SyncKind, SyncQuery, SyncRecord};
use livingwell_core::api::{ErrorCode, FieldError, Validate};
use livingwell_core::domain::appointment::{
    self, BookingStatus, LocalNotification, ReminderSettings,
};
use livingwell_core::domain::message::{ClientMessageId, ConversationId};
use livingwell_core::domain::{CrisisPlanSection, PersonId};
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use crate::api::ApiClient;
use crate::conversation::{self, ShownMessage};
use crate::error::EngineError;
use crate::observe::{Change, Changes, Subscription, View};
use crate::outbox::{self, Attempt, Drained};
use crate::reads;
use crate::secrets::{STORE_KEY, SecretStore};
use crate::session::{LogoutOutcome, Session, SignedInUser};
use crate::store::outbox_queue;

/// The longest the phone spends on the front door's challenge: the server's default takes
/// about a second on a phone; one far harder is the server asking it to come back later.
const REFERRAL_SOLVE_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);
use crate::store::{
    Conflict, NewWrite, QueuedWrite, STORE_KEY_LEN, Store, WriteRequest, WriteState, new_store_key,
};
use crate::sync::{self, Page, SyncError, Synced};

/// Which version the person keeps when their edit met a newer one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keep {
    /// Their draft, made on the server's version.
    Mine,
    /// The server's version; the draft is dropped.
    Theirs,
}

/// Where the engine keeps its store, the server it talks to, and how often it checks in.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// The app's private directory for the store's files.
    pub dir: PathBuf,
    pub base_url: String,
    /// While the app is open ([`Engine::stay_in_touch`]): how often the engine sends what is
    /// due and syncs even when the event stream says nothing, in case it missed something.
    pub keep_up_every: std::time::Duration,
}

impl EngineConfig {
    /// How often an open app checks in with nothing heard: often enough that a missed event
    /// is seen within minutes, rarely enough to cost no battery to speak of.
    pub const KEEP_UP_EVERY: std::time::Duration = std::time::Duration::from_secs(5 * 60);

    pub fn new(dir: impl Into<PathBuf>, base_url: impl Into<String>) -> Self {
        Self {
            dir: dir.into(),
            base_url: base_url.into(),
            keep_up_every: Self::KEEP_UP_EVERY,
        }
    }
}

/// The engine of one device.
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    secrets: Arc<dyn SecretStore>,
    session: Session,
    store: Store,
    changes: Changes,
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
            changes: Changes::default(),
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

    /// Refers the person to the service from the app, with no account (the front door): the
    /// referral is checked against the shared rules, the server's proof-of-work challenge is
    /// fetched and solved off the async threads, and both are sent. The answer says what
    /// happens next and gives the crisis lines. Not queued: the person waits for that answer,
    /// and a referral that did not go is theirs to send again.
    pub async fn refer_myself(
        &self,
        mut request: SelfReferralRequest,
    ) -> Result<ReferralReceipt, EngineError> {
        // The proof is this call's to make; every other field is the person's.
        request.proof = None;
        refused_if_any(
            request
                .field_errors()
                .into_iter()
                .filter(|error| error.field != "proof")
                .collect(),
        )?;
        let api = self.session.api();
        let challenge = api.referral_challenge().await?;
        let proof =
            tokio::task::spawn_blocking(move || referrals::solve(&challenge, REFERRAL_SOLVE_LIMIT))
                .await
                .map_err(|_| EngineError::Config {
                    reason: "the challenge solver stopped (the runtime is shutting down)".into(),
                })?
                .map_err(|_| EngineError::ChallengeUnsolved)?;
        request.proof = Some(proof);
        Ok(api.refer_self(&request).await?)
    }

    /// Accepts an invitation from the team: the person chooses their username and password,
    /// and is signed in with the new account.
    pub async fn accept_invitation(
        &self,
        request: &AcceptInvitationRequest,
    ) -> Result<SignedInUser, EngineError> {
        self.session.accept_invitation(request).await
    }

    /// Signs out: the session ends on the server (when reachable), and the store's files and
    /// its key are gone from the device. The engine is spent: every later call fails, and the
    /// app opens a new one for the next sign-in.
    pub async fn logout(&self) -> Result<LogoutOutcome, EngineError> {
        let outcome = self.session.logout().await?;
        self.store.close()?;
        Store::wipe(&self.config.dir)?;
        self.secrets.delete(STORE_KEY)?;
        Ok(outcome)
    }

    /// Brings the store up to date, page by page.
    pub async fn sync(&self) -> Result<Synced, EngineError> {
        let session = &self.session;
        let applied = std::sync::Mutex::new(Vec::new());
        let applied_ref = &applied;
        let synced = sync::sync(&self.store, |since| async move {
            match session.sync(&SyncQuery { since, limit: None }).await {
                Ok(page) => {
                    if let Ok(mut applied) = applied_ref.lock() {
                        applied.extend(Change::of_page(&page));
                    }
                    Page::Got(page)
                }
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
        // Announced once the pages are committed (a page that failed to apply is announced
        // too: subscribers only read again).
        if let Ok(applied) = applied.into_inner() {
            self.changes.announce(applied);
        }
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
        let store = &self.store;
        let drained = outbox::drain(&self.store, Utc::now, |write| async move {
            match attempt(session, &write).await {
                Ok(answer) => {
                    // A message keeps the server's answer, so it shows as sent at once.
                    let person = match conversation::sent_to(&write) {
                        Some(id) => store
                            .record(SyncKind::Conversation, id)
                            .ok()
                            .flatten()
                            .and_then(|held| held.person_id),
                        None => None,
                    };
                    Attempt::Sent(conversation::answered_records(&write, answer, person))
                }
                Err(error) => failed(&error),
            }
        })
        .await;
        self.changes.announce([Change::Outbox]);
        let drained = drained?;
        self.keep_conflicts().await?;
        if drained.sent > 0 {
            // What was sent comes back as the server keeps it (a plan with the new comment,
            // a booking's place), with whatever else changed meanwhile. A failure here is
            // not the writes' failure: they are sent, and the next sync catches up.
            self.wake().await;
        }
        Ok(drained)
    }

    /// The network is back (the platform says so, or a request got through): what waited for
    /// it goes now, then the store catches up.
    pub async fn network_is_back(&self) -> Result<Drained, EngineError> {
        self.store.clear_backoff()?;
        let drained = self.send_queued().await?;
        if drained.sent == 0 {
            // (A drain that sent something has synced already.)
            self.sync().await?;
        }
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
        checked(&request)?;
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

    /// Queues a new version of the person's WRAP, made on `base_version` (the version the
    /// person was editing). If someone changed it meanwhile, the server refuses it as stale:
    /// [`Engine::send_queued`] then keeps the person's draft and the server's version side by
    /// side ([`Engine::conflict`]) until the person chooses ([`Engine::resolve_conflict`]).
    pub fn edit_wrap(
        &self,
        person: PersonId,
        request: &PutWrapRequest,
    ) -> Result<QueuedWrite, EngineError> {
        checked(request)?;
        let id = person.to_string();
        self.queue(
            outbox_queue(SyncKind::Wrap, &id),
            Some(person),
            uuid::Uuid::new_v4().to_string(),
            routes::PUT_WRAP.method.as_str(),
            routes::PUT_WRAP.path(&[&id]),
            request,
        )
    }

    /// The draft and server version kept for a record, if a write met a newer version.
    pub fn conflict(&self, kind: SyncKind, id: &str) -> Result<Option<Conflict>, EngineError> {
        Ok(self.store.conflict(kind, id)?)
    }

    /// The person chose between their draft and the server's version. Keeping theirs sends the
    /// draft again, made on the server's version (so it replaces it knowingly); keeping the
    /// server's drops the draft. Either way nothing is overwritten unseen.
    pub fn resolve_conflict(
        &self,
        kind: SyncKind,
        id: &str,
        keep: Keep,
    ) -> Result<(), EngineError> {
        let Some(conflict) = self.store.conflict(kind, id)? else {
            return Ok(());
        };
        match keep {
            Keep::Mine => {
                let server_version = conflict
                    .server
                    .as_ref()
                    .and_then(|record| record.data["version"].as_i64());
                let mut draft = conflict.draft.clone();
                if let Some(version) = server_version {
                    draft["base_version"] = serde_json::json!(version);
                }
                self.store.edit(conflict.write_id, draft)?;
            }
            Keep::Theirs => self.store.discard(conflict.write_id)?,
        }
        self.store.clear_conflict(kind, id)?;
        Ok(())
    }

    /// Writes refused as stale become conflicts: the draft and the server's version (fetched
    /// by a sync) kept side by side.
    async fn keep_conflicts(&self) -> Result<(), EngineError> {
        let stale: Vec<QueuedWrite> = self
            .store
            .queued()?
            .into_iter()
            .filter(|write| {
                matches!(&write.state, WriteState::Wedged { status: 409, code, .. } if code == "conflict")
            })
            .collect();
        if stale.is_empty() {
            return Ok(());
        }
        // The server's version, as the phone may see it.
        if let Err(error) = self.sync().await {
            tracing::info!(class = ?error.class(), "the server's version could not be fetched yet");
        }
        for write in stale {
            let Some((kind, id)) = write
                .queue
                .split_once(':')
                .and_then(|(kind, id)| Some((kind.parse::<SyncKind>().ok()?, id.to_owned())))
            else {
                continue;
            };
            if self.store.conflict(kind, &id)?.is_some() {
                continue;
            }
            self.store.keep_conflict(&Conflict {
                kind,
                id: id.clone(),
                write_id: write.id,
                draft: write.request.body.clone().unwrap_or_default(),
                server: self.store.record(kind, &id)?,
                at: Utc::now(),
            })?;
        }
        Ok(())
    }

    /// Enters the password again (a write met `step_up_required`): writes waiting for it are
    /// queued again and sent.
    pub async fn reauthenticate(&self, password: &str) -> Result<Drained, EngineError> {
        self.session.reauthenticate(password).await?;
        outbox::release_step_ups(&self.store)?;
        self.send_queued().await
    }

    /// Queues the person's sharing of part of their record (with a carer or their peer
    /// worker). Sharing more needs a recent password: the write may wait for it.
    pub fn share(
        &self,
        person: PersonId,
        request: &GrantConsentRequest,
    ) -> Result<QueuedWrite, EngineError> {
        refused_if_any(request.field_errors_at(Utc::now()))?;
        let id = person.to_string();
        self.queue_route(
            routes::GRANT_CONSENT,
            &[&id],
            format!("consent-grants:{id}"),
            Some(person),
            request,
        )
    }

    /// Queues the end of a consent. Never needs the password, and never waits behind a grant
    /// that does: each consent's revocation has a queue of its own.
    pub fn revoke(&self, person: PersonId, consent: &str) -> Result<QueuedWrite, EngineError> {
        let id = person.to_string();
        self.queue_route(
            routes::REVOKE_CONSENT,
            &[&id, consent],
            outbox_queue(SyncKind::Consent, consent),
            Some(person),
            &(),
        )
    }

    /// Queues putting the crisis plan into use, with the reason.
    pub fn activate_crisis_plan(
        &self,
        person: PersonId,
        request: &ActivateRequest,
    ) -> Result<QueuedWrite, EngineError> {
        checked(request)?;
        let id = person.to_string();
        self.queue_route(
            routes::ACTIVATE,
            &[&id],
            outbox_queue(SyncKind::CrisisPlan, &id),
            Some(person),
            request,
        )
    }

    /// Queues the person's answer to an appointment (coming, or asking to move or cancel).
    pub fn respond_to_appointment(
        &self,
        appointment: &str,
        request: &AppointmentResponseRequest,
    ) -> Result<QueuedWrite, EngineError> {
        checked(request)?;
        self.queue_route(
            routes::RESPOND,
            &[appointment],
            outbox_queue(SyncKind::Appointment, appointment),
            None,
            request,
        )
    }

    /// Queues a read receipt: the conversation read up to `up_to_seq`.
    pub async fn mark_read(
        &self,
        conversation: ConversationId,
        up_to_seq: i64,
    ) -> Result<QueuedWrite, EngineError> {
        checked(&MarkReadRequest { up_to_seq })?;
        let id = conversation.to_string();
        // Read at once on this device: the conversation's unread count drops as the
        // receipt is queued, not when it reaches the server.
        let me = self.session.user().await.map(|user| user.user_id);
        let local = match (self.store.record(SyncKind::Conversation, &id)?, me) {
            (Some(mut held), Some(me)) => {
                let read_seq = held.data["read_seq"].as_i64().unwrap_or(0).max(up_to_seq);
                let unread = self
                    .store
                    .messages(&id, read_seq, i64::MAX)?
                    .iter()
                    .filter(|message| message.data["sender_id"] != me.to_string().as_str())
                    .count();
                held.data["read_seq"] = read_seq.into();
                held.data["unread_count"] = unread.into();
                vec![held]
            }
            _ => Vec::new(),
        };
        let route = routes::MARK_READ;
        self.queue_with(
            NewWrite {
                queue: outbox_queue(SyncKind::Conversation, &id),
                person: None,
                idempotency_key: uuid::Uuid::new_v4().to_string(),
                request: write_request(
                    route.method.as_str(),
                    route.path(&[&id]),
                    &MarkReadRequest { up_to_seq },
                )?,
                priority: 0,
            },
            &local,
        )
    }

    /// A conversation's messages after `after_seq`, at most `limit`, from the store; when that
    /// reaches the newest held, the person's own still queued follow ([`crate::conversation`]).
    pub async fn conversation(
        &self,
        conversation: ConversationId,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<ShownMessage>, EngineError> {
        let me = self
            .session
            .user()
            .await
            .ok_or(EngineError::SignedOut)?
            .user_id;
        let id = conversation.to_string();
        let view = self
            .show_as::<ConversationView>(SyncKind::Conversation, &id)
            .await?;
        let page = i64::try_from(limit).unwrap_or(i64::MAX);
        let held = self
            .store
            .messages(&id, after_seq, page)?
            .into_iter()
            .map(|record| {
                serde_json::from_value(record.data).map_err(|_| EngineError::Decode {
                    what: "a stored message",
                })
            })
            .collect::<Result<Vec<MessageView>, _>>()?;
        let queued = if held.len() < limit {
            self.store
                .queued_in(&outbox_queue(SyncKind::Conversation, &id))?
        } else {
            Vec::new()
        };
        Ok(conversation::shown(
            me,
            view.as_ref(),
            held,
            &queued,
            conversation,
        ))
    }

    /// Queues a report of a message to the team.
    pub fn report_message(
        &self,
        conversation: ConversationId,
        message: &str,
        request: &ReportMessageRequest,
    ) -> Result<QueuedWrite, EngineError> {
        checked(request)?;
        self.queue_route(
            routes::REPORT_MESSAGE,
            &[message],
            outbox_queue(SyncKind::Conversation, &conversation.to_string()),
            None,
            request,
        )
    }

    /// Queues the person's agreement to their Enablement Plan (a version).
    pub fn agree_to_plan(
        &self,
        person: PersonId,
        request: &AgreeRequest,
    ) -> Result<QueuedWrite, EngineError> {
        let id = person.to_string();
        self.queue_route(
            routes::AGREE,
            &[&id],
            outbox_queue(SyncKind::EnablementPlan, &id),
            Some(person),
            request,
        )
    }

    /// Queues taking the crisis plan out of use.
    pub fn deactivate_crisis_plan(&self, person: PersonId) -> Result<QueuedWrite, EngineError> {
        let id = person.to_string();
        self.queue_route(
            routes::DEACTIVATE,
            &[&id],
            outbox_queue(SyncKind::CrisisPlan, &id),
            Some(person),
            &(),
        )
    }

    /// Queues a workshop booking (a place, or the waitlist when full).
    pub fn book(&self, programme: &str, request: &BookRequest) -> Result<QueuedWrite, EngineError> {
        self.queue_route(
            routes::BOOK,
            &[programme],
            format!("programme:{programme}"),
            request.person_id,
            request,
        )
    }

    /// Queues the answer to a workshop place offered from the waitlist.
    pub fn answer_offer(
        &self,
        programme: &str,
        booking: &str,
        request: &OfferAnswerRequest,
    ) -> Result<QueuedWrite, EngineError> {
        self.queue_route(
            routes::ANSWER_OFFER,
            &[programme, booking],
            outbox_queue(SyncKind::Booking, booking),
            None,
            request,
        )
    }

    /// Queues cancelling a workshop booking.
    pub fn cancel_booking(
        &self,
        programme: &str,
        booking: &str,
    ) -> Result<QueuedWrite, EngineError> {
        self.queue_route(
            routes::CANCEL_BOOKING,
            &[programme, booking],
            outbox_queue(SyncKind::Booking, booking),
            None,
            &(),
        )
    }

    /// Queues a peer worker's working hours.
    pub fn set_working_hours(
        &self,
        request: &SetAvailabilityRequest,
    ) -> Result<QueuedWrite, EngineError> {
        checked(request)?;
        self.queue_route(
            routes::SET_AVAILABILITY,
            &[],
            "availability".to_owned(),
            None,
            request,
        )
    }

    /// Registers this device's push token for the signed-in session.
    pub fn register_device(
        &self,
        request: &RegisterDeviceRequest,
    ) -> Result<QueuedWrite, EngineError> {
        checked(request)?;
        self.queue_route(
            routes::REGISTER_DEVICE,
            &[],
            "device".to_owned(),
            None,
            request,
        )
    }

    /// The person retries a write that was refused or is waiting (it goes again as it was).
    pub fn retry(&self, write: i64) -> Result<(), EngineError> {
        self.store.set_state(write, &WriteState::Queued)?;
        self.changes.announce([Change::Outbox]);
        Ok(())
    }

    /// The person edited a waiting write: it goes again with the new body, as a new request.
    pub fn edit(&self, write: i64, body: serde_json::Value) -> Result<(), EngineError> {
        self.store.edit(write, body)?;
        self.changes.announce([Change::Outbox]);
        Ok(())
    }

    /// The person rewrote a message still in the outbox: the same message (its client id
    /// stays, so it is still sent once) with new text, checked as a new one would be.
    pub fn edit_message(&self, write: i64, body: &str) -> Result<(), EngineError> {
        let queued = self
            .store
            .queued_write(write)?
            .ok_or(EngineError::NotQueued)?;
        let mut request: SendMessageRequest = queued
            .request
            .body
            .and_then(|body| serde_json::from_value(body).ok())
            .ok_or(EngineError::Decode {
                what: "the queued message to edit",
            })?;
        request.body = body.to_owned();
        checked(&request)?;
        let body = serde_json::to_value(&request).map_err(|_| EngineError::Decode {
            what: "an edited message",
        })?;
        self.edit(write, body)
    }

    /// The person discarded a waiting write.
    pub fn discard(&self, write: i64) -> Result<(), EngineError> {
        self.store.discard(write)?;
        self.changes.announce([Change::Outbox]);
        Ok(())
    }

    /// Queues any write on `route` (its `{…}` filled from `ids`) in `queue`.
    fn queue_route(
        &self,
        route: routes::Route,
        ids: &[&str],
        queue: String,
        person: Option<PersonId>,
        body: &impl serde::Serialize,
    ) -> Result<QueuedWrite, EngineError> {
        self.queue(
            queue,
            person,
            uuid::Uuid::new_v4().to_string(),
            route.method.as_str(),
            route.path(ids),
            body,
        )
    }

    /// Queues a comment on a person's Enablement Plan ("where I disagree" when `disagree`).
    pub fn comment_on_plan(
        &self,
        person: PersonId,
        request: &CommentRequest,
    ) -> Result<QueuedWrite, EngineError> {
        checked(request)?;
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
        let write = NewWrite {
            queue,
            person,
            idempotency_key,
            request: write_request(method, path, body)?,
            priority: 0,
        };
        self.queue_with(write, &[])
    }

    /// Queues `write` with its optimistic local change, in one transaction, and tells the
    /// screens showing either.
    fn queue_with(
        &self,
        write: NewWrite,
        local: &[SyncRecord],
    ) -> Result<QueuedWrite, EngineError> {
        let queued = self.store.enqueue(&write, local, Utc::now())?;
        self.changes
            .announce(local.iter().map(Change::of_record).chain([Change::Outbox]));
        Ok(queued)
    }

    /// While the app is open: holds the event stream (`GET /v1/events`) and keeps the phone up
    /// to date. The stream only wakes the engine, it never writes the store. On each
    /// (re)connection, which is the app's start or the signal's return, what waited for the
    /// network is sent and the store catches up, so nothing missed while disconnected stays
    /// missed; each event syncs; and every [`EngineConfig::keep_up_every`] with nothing heard
    /// it does both anyway. Reconnects with backoff, after the last event seen
    /// (`Last-Event-ID`). Returns when the session is over; otherwise runs until the future
    /// is dropped.
    pub async fn stay_in_touch(&self) {
        let mut last_event: Option<String> = None;
        let mut attempts: u32 = 0;
        loop {
            match self.session.events(last_event.as_deref()).await {
                Ok(response) => {
                    attempts = 0;
                    self.catch_up().await;
                    let mut events = response.bytes_stream().eventsource();
                    let period = self.config.keep_up_every;
                    let mut timer =
                        tokio::time::interval_at(tokio::time::Instant::now() + period, period);
                    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    loop {
                        tokio::select! {
                            event = events.next() => match event {
                                Some(Ok(event)) => {
                                    if !event.id.is_empty() {
                                        last_event = Some(event.id);
                                    }
                                    self.wake().await;
                                }
                                // The stream ended or broke: reconnect.
                                _ => break,
                            },
                            _ = timer.tick() => self.catch_up().await,
                        }
                    }
                }
                Err(error) if error.class() == crate::api::FailureClass::SessionExpired => return,
                Err(error) => {
                    tracing::info!(class = ?error.class(), "the event stream is not open")
                }
            }
            attempts = attempts.saturating_add(1);
            tokio::time::sleep(outbox::backoff(attempts, None)).await;
        }
    }

    /// Connected, or time to check in: what is due goes, then the store catches up (a failure
    /// waits for the next time).
    async fn catch_up(&self) {
        match self.send_queued().await {
            // A drain that sent something has synced already.
            Ok(drained) if drained.sent > 0 => {}
            Ok(_) => self.wake().await,
            Err(error) => {
                tracing::info!(class = ?error.class(), "sending what was queued failed");
                self.wake().await;
            }
        }
    }

    /// Something happened on the server: catch up (a failure waits for the next wake).
    async fn wake(&self) {
        if let Err(error) = self.sync().await {
            tracing::info!(class = ?error.class(), "a sync failed; the next wake tries again");
        }
    }

    /// Subscribes to what a screen shows; dropping the subscription ends it.
    pub fn subscribe(&self, view: View) -> Subscription {
        self.changes.subscribe(view)
    }

    /// A record from the store, with no network. Showing someone else's record queues a
    /// read event.
    pub async fn show(&self, kind: SyncKind, id: &str) -> Result<Option<SyncRecord>, EngineError> {
        let Some(mut record) = self.store.record(kind, id)? else {
            return Ok(None);
        };
        self.overlay_queued_edit(&mut record)?;
        let own = self.session.user().await.and_then(|user| user.person_id);
        if let Some(read) = reads::read_event(&record, own, Utc::now()) {
            self.store.enqueue(&read, &[], Utc::now())?;
            self.changes.announce([Change::Outbox]);
        }
        Ok(Some(record))
    }

    /// The person's WRAP edit still in the outbox is what they see of their WRAP and crisis
    /// plan until the server has it (or they choose between it and a newer version): the
    /// newest queued version is laid over the record held, at reading, so a sync meanwhile
    /// never hides it. The crisis plan keeps the sections the record holds.
    fn overlay_queued_edit(&self, record: &mut SyncRecord) -> Result<(), EngineError> {
        if !matches!(record.kind, SyncKind::Wrap | SyncKind::CrisisPlan) {
            return Ok(());
        }
        let path = routes::PUT_WRAP.path(&[&record.id]);
        let Some(edit) = self
            .store
            .queued_in(&outbox_queue(SyncKind::Wrap, &record.id))?
            .into_iter()
            .rev()
            .find(|write| write.request.path == path)
            .and_then(|write| write.request.body)
        else {
            return Ok(());
        };
        let Ok(edit) = serde_json::from_value::<PutWrapRequest>(edit) else {
            return Ok(());
        };
        if record.kind == SyncKind::Wrap {
            record.data["wrap"] =
                serde_json::to_value(&edit.wrap).map_err(|_| EngineError::Decode {
                    what: "a queued WRAP",
                })?;
        } else {
            let held: BTreeSet<CrisisPlanSection> = record.data["sections"]
                .as_object()
                .map(|sections| {
                    sections
                        .keys()
                        .filter_map(|key| serde_json::from_value(key.as_str().into()).ok())
                        .collect()
                })
                .unwrap_or_default();
            record.data["sections"] = edit.wrap.crisis_plan.shared_sections(&held).into();
        }
        Ok(())
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

    /// The people the signed-in user supports (a peer worker's people, the people a carer
    /// cares for), by name, from the store. A list of names opens no one's record, so it
    /// records no read; opening one ([`Engine::show`]) does.
    pub async fn people(&self) -> Result<Vec<PersonView>, EngineError> {
        let own = self.session.user().await.and_then(|user| user.person_id);
        let mut people: Vec<PersonView> = self.held(SyncKind::Person, "a stored person")?;
        people.retain(|person| Some(person.id) != own);
        people.sort_by(|a, b| a.display_name.cmp(&b.display_name).then(a.id.cmp(&b.id)));
        Ok(people)
    }

    /// The person's own access log as the phone holds it (who else read or changed their
    /// record, offline reads included once uploaded), newest first.
    pub fn access_log(&self) -> Result<Vec<AccessLogEntry>, EngineError> {
        let mut entries: Vec<AccessLogEntry> =
            self.held(SyncKind::AccessLogEntry, "a stored access-log entry")?;
        entries.sort_by_key(|entry| std::cmp::Reverse(entry.seq));
        Ok(entries)
    }

    /// The conversations held, newest activity first.
    pub fn conversations(&self) -> Result<Vec<ConversationView>, EngineError> {
        let mut conversations: Vec<ConversationView> =
            self.held(SyncKind::Conversation, "a stored conversation")?;
        conversations.sort_by_key(|conversation| std::cmp::Reverse(conversation.last_message_at));
        Ok(conversations)
    }

    /// The person's consents, as held.
    pub fn consents(&self) -> Result<Vec<ConsentView>, EngineError> {
        self.held(SyncKind::Consent, "a stored consent")
    }

    /// The person's workshop places, offers and waitlist places, as held: offers first (they
    /// lapse), then by when they last changed, newest first.
    pub fn bookings(&self) -> Result<Vec<BookingView>, EngineError> {
        let mut bookings: Vec<BookingView> = self.held(SyncKind::Booking, "a stored booking")?;
        bookings.sort_by_key(|booking| {
            (
                booking.status != BookingStatus::Offered,
                std::cmp::Reverse(booking.updated_at),
            )
        });
        Ok(bookings)
    }

    /// A page of the workshops on offer, from the server. The catalogue is not kept on the
    /// phone: it is the same for everyone, holds nothing of the person's, and its places left
    /// change by the hour; booking one is queued like any write.
    pub async fn workshops(&self, query: &ProgrammeQuery) -> Result<ProgrammePage, EngineError> {
        self.session
            .fetch(routes::LIST_PROGRAMMES.path(&[]), query)
            .await
    }

    /// A page of the comments on a person's Enablement Plan, newest first, from the server
    /// (each read is audited there). The person's own comments still queued are in
    /// [`Engine::store`]'s outbox.
    pub async fn plan_comments(
        &self,
        person: PersonId,
        query: &CommentQuery,
    ) -> Result<CommentPage, EngineError> {
        self.session
            .fetch(routes::LIST_COMMENTS.path(&[&person.to_string()]), query)
            .await
    }

    /// The peer worker's own working hours and away status, from the server (what messages
    /// sent to them now would meet). Changing them is queued ([`Engine::set_working_hours`]).
    pub async fn working_hours(&self) -> Result<AvailabilityView, EngineError> {
        self.session
            .fetch(routes::GET_AVAILABILITY.path(&[]), &())
            .await
    }

    /// Every record of `kind` the store holds, read as `T`; `what` names it if one does not
    /// read (never its content).
    fn held<T: DeserializeOwned>(
        &self,
        kind: SyncKind,
        what: &'static str,
    ) -> Result<Vec<T>, EngineError> {
        self.store
            .records(kind)?
            .into_iter()
            .map(|record| {
                serde_json::from_value(record.data).map_err(|_| EngineError::Decode { what })
            })
            .collect()
    }

    /// The local notifications to schedule now for the appointments on this phone (the
    /// person's own; a worker's, those they take part in), as the person chose them: computed
    /// here, with no network, so they fire on time in a tunnel. Scheduling replaces by id.
    pub fn reminders(
        &self,
        settings: &ReminderSettings,
        now: DateTime<Utc>,
    ) -> Result<Vec<LocalNotification>, EngineError> {
        refused_if_any(settings.field_errors())?;
        let subjects: Vec<_> = self
            .appointments_from(now)?
            .iter()
            .map(AppointmentView::reminder_subject)
            .collect();
        Ok(appointment::reminders(&subjects, settings, now))
    }

    /// The appointments held, soonest first, from `from` on.
    pub fn appointments_from(
        &self,
        from: DateTime<Utc>,
    ) -> Result<Vec<AppointmentView>, EngineError> {
        let mut upcoming: Vec<AppointmentView> = self
            .store
            .records(SyncKind::Appointment)?
            .into_iter()
            .filter_map(|record| serde_json::from_value(record.data).ok())
            .filter(|view: &AppointmentView| view.starts_at >= from)
            .collect();
        upcoming.sort_by_key(|view| view.starts_at);
        Ok(upcoming)
    }
}

/// The shared rules' verdict on what the person entered, before anything is queued: a write
/// the server would refuse is refused now, with the fields to correct, rather than waiting in
/// the outbox to be refused later.
fn checked(request: &impl Validate) -> Result<(), EngineError> {
    refused_if_any(request.field_errors())
}

/// `Invalid` naming `fields`, unless there are none.
fn refused_if_any(fields: Vec<FieldError>) -> Result<(), EngineError> {
    if fields.is_empty() {
        Ok(())
    } else {
        Err(EngineError::Invalid { fields })
    }
}

/// What a write will send.
fn write_request(
    method: &str,
    path: String,
    body: &impl serde::Serialize,
) -> Result<WriteRequest, EngineError> {
    let body = serde_json::to_value(body).map_err(|_| EngineError::Decode {
        what: "a write to queue",
    })?;
    Ok(WriteRequest {
        method: method.to_owned(),
        path,
        // A write with nothing to say (a revocation) sends no body.
        body: (!body.is_null()).then_some(body),
    })
}

/// Sends one queued write as the signed-in user; the server's answer, if any.
async fn attempt(session: &Session, write: &QueuedWrite) -> Result<serde_json::Value, EngineError> {
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
        return Err(EngineError::Decode {
            what: "a queued write's method",
        });
    };
    session
        .authorized::<serde_json::Value, serde_json::Value>(
            method,
            &write.request.path,
            write.request.body.as_ref(),
            Some(&write.idempotency_key),
        )
        .await
        .map(|answer| answer.body)
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
                required_scope: None,
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
