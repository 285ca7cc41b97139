//! `Client`: the engine of one device, as the apps call it. Each export delegates to the
//! engine and converts what it answers; no rule about plans, consent or queues lives here.

use std::sync::{Arc, LazyLock};

use chrono::Utc;
use livingwell_core::api::appointments::AppointmentView;
use livingwell_core::api::messages::ConversationView;
use livingwell_core::api::people::{AccessLogEntry, ConsentView, GrantConsentRequest, PersonView};
use livingwell_core::api::plans::{ActivateRequest, CrisisPlanView, PutWrapRequest, WrapView};
use livingwell_core::api::sync::SyncKind;
use livingwell_core::domain::appointment::{
    AppointmentId, AppointmentStatus, LocalNotification, ReminderSettings,
};
use livingwell_core::domain::message::{
    ClientMessageId, ConversationId, MessageContent, MessageId, MessageState,
};
use livingwell_core::domain::wrap::{CrisisPlan, Wrap};
use livingwell_core::domain::{ConsentId, ConsentScope, CrisisPlanSection, PersonId, Role, UserId};
use livingwell_engine::SignedInUser;
use livingwell_engine::engine::{Engine, EngineConfig};
use livingwell_engine::observe::View;
use livingwell_engine::store::{QueuedWrite, WriteState};

use crate::error::ClientError;
use crate::platform::{Platform, SecureStorage, TaskHandle, ViewObserver};
use crate::types::Timestamp;

/// Where the engine's background work runs (observers, keeping in touch). Sync exports have
/// no runtime of their own, so one is kept for the process.
static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("livingwell-engine")
        .enable_all()
        .build()
        .unwrap_or_else(|error| panic!("the engine's runtime could not start: {error}"))
});

/// Who is signed in.
#[derive(Clone, Debug, uniffi::Record)]
pub struct SignedIn {
    pub user_id: UserId,
    pub role: Role,
    /// A service user's own person record.
    pub person_id: Option<PersonId>,
}

impl From<SignedInUser> for SignedIn {
    fn from(user: SignedInUser) -> Self {
        Self {
            user_id: user.user_id,
            role: user.role,
            person_id: user.person_id,
        }
    }
}

/// How sending what was queued went.
#[derive(Clone, Copy, Debug, uniffi::Record)]
pub struct Sent {
    pub sent: u32,
    /// Writes that will be tried again later.
    pub postponed: u32,
    /// Writes waiting for the person (refused, or needing the password).
    pub waiting: u32,
    /// The session ended: sign in again.
    pub session_over: bool,
}

impl From<livingwell_engine::outbox::Drained> for Sent {
    fn from(drained: livingwell_engine::outbox::Drained) -> Self {
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Self {
            sent: count(drained.sent),
            postponed: count(drained.postponed),
            waiting: count(drained.waiting),
            session_over: drained.session_over,
        }
    }
}

/// Someone the signed-in user supports.
#[derive(Clone, Debug, uniffi::Record)]
pub struct Person {
    pub id: PersonId,
    pub display_name: String,
}

impl From<PersonView> for Person {
    fn from(person: PersonView) -> Self {
        Self {
            id: person.id,
            display_name: person.display_name,
        }
    }
}

/// A crisis plan as the caller may see it: the sections shared with them are filled in,
/// the others are left empty and not in `shared_sections`.
#[derive(Clone, Debug, uniffi::Record)]
pub struct CrisisPlanScreen {
    pub person_id: PersonId,
    /// The WRAP version it comes from; absent before the person has written one.
    pub version: Option<i32>,
    pub shared_sections: Vec<CrisisPlanSection>,
    pub plan: CrisisPlan,
    /// In use now: since when and why.
    pub active_since: Option<Timestamp>,
    pub active_reason: Option<String>,
}

impl TryFrom<CrisisPlanView> for CrisisPlanScreen {
    type Error = ClientError;

    fn try_from(view: CrisisPlanView) -> Result<Self, ClientError> {
        let plan = serde_json::from_value(serde_json::Value::Object(view.sections))
            .map_err(|_| ClientError::Internal)?;
        Ok(Self {
            person_id: view.person_id,
            version: view.version,
            shared_sections: view.shared_sections,
            plan,
            active_since: view.activation.as_ref().map(|a| a.activated_at),
            active_reason: view.activation.map(|a| a.reason),
        })
    }
}

/// The person's whole WRAP.
#[derive(Clone, Debug, uniffi::Record)]
pub struct WrapScreen {
    pub person_id: PersonId,
    /// The version to edit on (`edit_wrap`'s `base_version`).
    pub version: i32,
    pub wrap: Wrap,
    pub team_may_coauthor: bool,
}

impl From<WrapView> for WrapScreen {
    fn from(view: WrapView) -> Self {
        Self {
            person_id: view.person_id,
            version: view.version,
            wrap: view.wrap,
            team_may_coauthor: view.team_may_coauthor,
        }
    }
}

/// One appointment, as the diary shows it.
#[derive(Clone, Debug, uniffi::Record)]
pub struct Appointment {
    pub id: AppointmentId,
    pub person_id: PersonId,
    /// Discreet: where, never why.
    pub summary: String,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub place: String,
    pub address: Option<String>,
    pub status: AppointmentStatus,
    pub notes_for_person: Option<String>,
}

impl From<AppointmentView> for Appointment {
    fn from(view: AppointmentView) -> Self {
        Self {
            id: view.id,
            person_id: view.person_id,
            summary: view.summary,
            starts_at: view.starts_at,
            ends_at: view.ends_at,
            place: view.place,
            address: view.address,
            status: view.status,
            notes_for_person: view.notes_for_person,
        }
    }
}

/// A conversation in the list.
#[derive(Clone, Debug, uniffi::Record)]
pub struct Conversation {
    pub id: ConversationId,
    pub person_id: PersonId,
    /// `peer` or `team`.
    pub kind: String,
    pub last_seq: i64,
    pub read_seq: i64,
    pub unread_count: i64,
    pub last_message_at: Option<Timestamp>,
}

impl From<ConversationView> for Conversation {
    fn from(view: ConversationView) -> Self {
        Self {
            id: view.id,
            person_id: view.person_id,
            kind: serde_json::to_value(view.kind)
                .ok()
                .and_then(|kind| kind.as_str().map(str::to_owned))
                .unwrap_or_default(),
            last_seq: view.last_seq,
            read_seq: view.read_seq,
            unread_count: view.unread_count,
            last_message_at: view.last_message_at,
        }
    }
}

/// One message as the conversation shows it.
#[derive(Clone, Debug, uniffi::Record)]
pub struct Message {
    /// The server's id, once stored.
    pub id: Option<MessageId>,
    pub client_id: Option<ClientMessageId>,
    pub seq: Option<i64>,
    pub sender_id: Option<UserId>,
    pub mine: bool,
    pub at: Timestamp,
    /// What it says; for the service's out-of-hours notice, the notice as the person reads it.
    pub text: String,
    /// Written by the service (an out-of-hours notice with the crisis lines).
    pub from_service: bool,
    pub state: MessageState,
    /// Still in the outbox: the write to retry, edit or discard.
    pub outbox_id: Option<i64>,
}

impl From<livingwell_engine::conversation::ShownMessage> for Message {
    fn from(shown: livingwell_engine::conversation::ShownMessage) -> Self {
        let (text, from_service) = match shown.content {
            MessageContent::Text { body } => (body, false),
            MessageContent::OutOfHoursNotice(notice) => (notice.text, true),
        };
        Self {
            id: shown.id,
            client_id: shown.client_id,
            seq: shown.seq,
            sender_id: shown.sender_id,
            mine: shown.mine,
            at: shown.at,
            text,
            from_service,
            state: shown.state,
            outbox_id: shown.queued.map(|(id, _)| id),
        }
    }
}

/// A consent the person gave.
#[derive(Clone, Debug, uniffi::Record)]
pub struct Consent {
    pub id: ConsentId,
    pub person_id: PersonId,
    pub carer_id: Option<UserId>,
    pub peer_worker_id: Option<UserId>,
    pub scopes: Vec<ConsentScope>,
    /// With the crisis-plan scope: the sections shared (empty: every section).
    pub crisis_plan_sections: Vec<CrisisPlanSection>,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

impl From<ConsentView> for Consent {
    fn from(view: ConsentView) -> Self {
        Self {
            id: view.id,
            person_id: view.person_id,
            carer_id: view.carer_id,
            peer_worker_id: view.peer_worker_id,
            scopes: view.scopes.into_iter().collect(),
            crisis_plan_sections: view.crisis_plan_sections.into_iter().collect(),
            expires_at: view.expires_at,
            revoked_at: view.revoked_at,
        }
    }
}

/// Whom to share with, what, and until when.
#[derive(Clone, Debug, uniffi::Record)]
pub struct Share {
    pub carer_id: Option<UserId>,
    pub peer_worker_id: Option<UserId>,
    pub scopes: Vec<ConsentScope>,
    /// With the crisis-plan scope: the sections to share (empty: every section).
    pub crisis_plan_sections: Vec<CrisisPlanSection>,
    pub expires_at: Option<Timestamp>,
}

/// A line of the person's access log: who else read or changed their record.
#[derive(Clone, Debug, uniffi::Record)]
pub struct AccessEntry {
    pub seq: i64,
    pub at: Timestamp,
    pub actor_id: Option<String>,
    pub actor_name: Option<String>,
    pub actor_role: String,
    pub resource: String,
    pub action: String,
    pub outcome: String,
    /// Read on the reader's phone with no signal, and told later.
    pub offline: bool,
    /// When it was read, for an offline read.
    pub read_at: Option<Timestamp>,
}

impl From<AccessLogEntry> for AccessEntry {
    fn from(entry: AccessLogEntry) -> Self {
        Self {
            seq: entry.seq,
            at: entry.at,
            actor_id: entry.actor_id,
            actor_name: entry.actor_name,
            actor_role: entry.actor_role,
            resource: entry.resource,
            action: entry.action,
            outcome: entry.outcome,
            offline: entry.via == Some(livingwell_core::api::people::ReadVia::Offline),
            read_at: entry.read_at,
        }
    }
}

/// Where a queued write stands.
#[derive(Clone, Debug, uniffi::Enum)]
pub enum OutboxState {
    /// Waiting its turn or the network.
    Queued,
    /// Refused by the server: retry, edit or discard it. The server's code and the fields it
    /// named, never text.
    Refused {
        status: u16,
        code: String,
        fields: Vec<String>,
    },
    /// Needs the password entered again ("sign in again to send").
    NeedsPassword,
}

/// A write waiting in the outbox.
#[derive(Clone, Debug, uniffi::Record)]
pub struct OutboxItem {
    pub id: i64,
    /// What it changes (`conversation:<id>`, `wrap:<person>`, …): writes of one queue go in
    /// order.
    pub queue: String,
    pub state: OutboxState,
    pub attempts: u32,
    pub created_at: Timestamp,
}

impl From<QueuedWrite> for OutboxItem {
    fn from(write: QueuedWrite) -> Self {
        Self {
            id: write.id,
            queue: write.queue,
            state: match write.state {
                WriteState::Queued => OutboxState::Queued,
                WriteState::Wedged {
                    status,
                    code,
                    fields,
                } => OutboxState::Refused {
                    status,
                    code,
                    fields,
                },
                WriteState::StepUp => OutboxState::NeedsPassword,
            },
            attempts: write.attempts,
            created_at: write.created_at,
        }
    }
}

/// What a screen shows, to be told when it changes.
#[derive(Clone, Debug, uniffi::Enum)]
pub enum Screen {
    CrisisPlan { person_id: PersonId },
    Wrap { person_id: PersonId },
    Appointments,
    Conversations,
    Conversation { id: ConversationId },
    AccessLog,
    People,
    Outbox,
}

impl From<Screen> for View {
    fn from(screen: Screen) -> Self {
        match screen {
            Screen::CrisisPlan { person_id } => {
                View::Record(SyncKind::CrisisPlan, person_id.to_string())
            }
            Screen::Wrap { person_id } => View::Record(SyncKind::Wrap, person_id.to_string()),
            Screen::Appointments => View::Kind(SyncKind::Appointment),
            Screen::Conversations => View::Kind(SyncKind::Conversation),
            Screen::Conversation { id } => View::Conversation(id.to_string()),
            Screen::AccessLog => View::Kind(SyncKind::AccessLogEntry),
            Screen::People => View::Kind(SyncKind::Person),
            Screen::Outbox => View::Outbox,
        }
    }
}

/// The engine of one device.
#[derive(Debug, uniffi::Object)]
pub struct Client {
    engine: Arc<Engine>,
}

#[uniffi::export(async_runtime = "tokio")]
impl Client {
    /// Opens the store in the app's private directory `dir` with the key kept in `storage`
    /// (made there on first use), for the service at `base_url`.
    #[uniffi::constructor]
    pub fn new(
        dir: String,
        base_url: String,
        storage: Arc<dyn SecureStorage>,
    ) -> Result<Arc<Self>, ClientError> {
        let engine = Engine::open(
            EngineConfig::new(dir, base_url),
            Arc::new(Platform(storage)),
        )?;
        Ok(Arc::new(Self {
            engine: Arc::new(engine),
        }))
    }

    /// Who is signed in on this device, if anyone.
    pub async fn signed_in(&self) -> Option<SignedIn> {
        self.engine.session().user().await.map(Into::into)
    }

    pub async fn sign_in(
        &self,
        username: String,
        password: String,
    ) -> Result<SignedIn, ClientError> {
        Ok(self.engine.sign_in(&username, &password).await?.into())
    }

    /// Joins with the code the team gave: the person chooses their username and password.
    pub async fn accept_invitation(
        &self,
        code: String,
        username: String,
        password: String,
    ) -> Result<SignedIn, ClientError> {
        let request = serde_json::from_value(serde_json::json!({
            "code": code, "username": username, "password": password,
        }))
        .map_err(|_| ClientError::Internal)?;
        Ok(self.engine.accept_invitation(&request).await?.into())
    }

    /// Enters the password again; writes waiting for it go.
    pub async fn reauthenticate(&self, password: String) -> Result<Sent, ClientError> {
        Ok(self.engine.reauthenticate(&password).await?.into())
    }

    /// Signs out: the session ends, and the store and its key leave the device. This client is
    /// spent; make a new one to sign in again.
    pub async fn logout(&self) -> Result<(), ClientError> {
        self.engine.logout().await?;
        Ok(())
    }

    /// Brings the store up to date.
    pub async fn sync(&self) -> Result<(), ClientError> {
        self.engine.sync().await?;
        Ok(())
    }

    /// Sends what the outbox holds, as far as the network allows.
    pub async fn send_queued(&self) -> Result<Sent, ClientError> {
        Ok(self.engine.send_queued().await?.into())
    }

    /// The platform says the network is back: what waited goes, then the store catches up.
    pub async fn network_is_back(&self) -> Result<Sent, ClientError> {
        Ok(self.engine.network_is_back().await?.into())
    }

    /// While the app is open: keeps the phone up to date from the event stream, and sends what
    /// is due. Ends when the handle is cancelled or dropped, or the session ends.
    pub fn keep_in_touch(&self) -> Arc<TaskHandle> {
        let engine = self.engine.clone();
        TaskHandle::new(RUNTIME.spawn(async move { engine.stay_in_touch().await }))
    }

    /// Calls `observer` whenever what `screen` shows may have changed; the screen reads it
    /// again. Ends when the handle is cancelled or dropped.
    pub fn subscribe(&self, screen: Screen, observer: Arc<dyn ViewObserver>) -> Arc<TaskHandle> {
        let mut subscription = self.engine.subscribe(screen.into());
        TaskHandle::new(RUNTIME.spawn(async move {
            while subscription.changed().await {
                observer.changed();
            }
        }))
    }

    /// The people the signed-in user supports, by name.
    pub async fn people(&self) -> Result<Vec<Person>, ClientError> {
        Ok(self
            .engine
            .people()
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// A person's crisis plan as the caller may see it, from the store.
    pub async fn crisis_plan(
        &self,
        person_id: PersonId,
    ) -> Result<Option<CrisisPlanScreen>, ClientError> {
        self.engine
            .show_as::<CrisisPlanView>(SyncKind::CrisisPlan, &person_id.to_string())
            .await?
            .map(TryInto::try_into)
            .transpose()
    }

    /// The person's own WRAP, from the store (with their edit still queued, if any).
    pub async fn wrap(&self, person_id: PersonId) -> Result<Option<WrapScreen>, ClientError> {
        Ok(self
            .engine
            .show_as::<WrapView>(SyncKind::Wrap, &person_id.to_string())
            .await?
            .map(Into::into))
    }

    /// Queues a new version of the WRAP, made on `base_version`.
    pub fn edit_wrap(
        &self,
        person_id: PersonId,
        base_version: i32,
        wrap: Wrap,
    ) -> Result<i64, ClientError> {
        let request = PutWrapRequest {
            base_version: Some(base_version),
            wrap,
        };
        Ok(self.engine.edit_wrap(person_id, &request)?.id)
    }

    /// Queues putting the crisis plan in use, with why.
    pub fn activate_crisis_plan(
        &self,
        person_id: PersonId,
        reason: String,
    ) -> Result<i64, ClientError> {
        Ok(self
            .engine
            .activate_crisis_plan(person_id, &ActivateRequest { reason })?
            .id)
    }

    pub fn deactivate_crisis_plan(&self, person_id: PersonId) -> Result<i64, ClientError> {
        Ok(self.engine.deactivate_crisis_plan(person_id)?.id)
    }

    /// The person's consents, from the store.
    pub fn consents(&self) -> Result<Vec<Consent>, ClientError> {
        Ok(self
            .engine
            .consents()?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Queues sharing with a carer or the peer worker (may need the password: the write
    /// then waits as `NeedsPassword`).
    pub fn share(&self, person_id: PersonId, share: Share) -> Result<i64, ClientError> {
        let request = GrantConsentRequest {
            carer_id: share.carer_id,
            peer_worker_id: share.peer_worker_id,
            scopes: share.scopes.into_iter().collect(),
            crisis_plan_sections: share.crisis_plan_sections.into_iter().collect(),
            expires_at: share.expires_at,
        };
        Ok(self.engine.share(person_id, &request)?.id)
    }

    /// Queues ending a consent (never needs the password).
    pub fn revoke(&self, person_id: PersonId, consent_id: ConsentId) -> Result<i64, ClientError> {
        Ok(self.engine.revoke(person_id, &consent_id.to_string())?.id)
    }

    /// The appointments held, soonest first, from now on.
    pub fn appointments(&self) -> Result<Vec<Appointment>, ClientError> {
        Ok(self
            .engine
            .appointments_from(Utc::now())?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// The local notifications to schedule now, `minutes_before` each appointment.
    pub fn reminders(
        &self,
        minutes_before: Vec<u32>,
    ) -> Result<Vec<LocalNotification>, ClientError> {
        Ok(self
            .engine
            .reminders(&ReminderSettings { minutes_before }, Utc::now())?)
    }

    /// The conversations held, newest activity first.
    pub fn conversations(&self) -> Result<Vec<Conversation>, ClientError> {
        Ok(self
            .engine
            .conversations()?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// A conversation's messages after `after_seq`, at most `limit`; the person's own still
    /// queued follow the newest.
    pub async fn messages(
        &self,
        conversation_id: ConversationId,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<Message>, ClientError> {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        Ok(self
            .engine
            .conversation(conversation_id, after_seq, limit)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Queues a message: shown at once, sent once, in order.
    pub fn send_message(
        &self,
        conversation_id: ConversationId,
        body: String,
    ) -> Result<i64, ClientError> {
        Ok(self.engine.send_message(conversation_id, &body)?.id)
    }

    /// Read up to `up_to_seq`: the unread count drops now, the receipt goes when it can.
    pub async fn mark_read(
        &self,
        conversation_id: ConversationId,
        up_to_seq: i64,
    ) -> Result<i64, ClientError> {
        Ok(self.engine.mark_read(conversation_id, up_to_seq).await?.id)
    }

    /// The person's own access log, newest first.
    pub fn access_log(&self) -> Result<Vec<AccessEntry>, ClientError> {
        Ok(self
            .engine
            .access_log()?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// The writes waiting to go, oldest first.
    pub fn outbox(&self) -> Result<Vec<OutboxItem>, ClientError> {
        Ok(self
            .engine
            .store()
            .queued()?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Tries a refused or waiting write again, as it was.
    pub fn retry(&self, outbox_id: i64) -> Result<(), ClientError> {
        Ok(self.engine.retry(outbox_id)?)
    }

    /// Drops a write the person no longer wants sent.
    pub fn discard(&self, outbox_id: i64) -> Result<(), ClientError> {
        Ok(self.engine.discard(outbox_id)?)
    }
}
