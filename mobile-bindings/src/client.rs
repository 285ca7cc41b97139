//! `Client`: the engine of one device, as the apps call it. Each export delegates to the
//! engine and converts what it answers; no rule about plans, consent or queues lives here.

use std::sync::{Arc, LazyLock};

use livingwell_core::api::devices::{PushPlatform, RegisterDeviceRequest};
use livingwell_core::api::people::{AccessLogEntry, PersonView};
use livingwell_core::api::referrals::{ContactDetails, SelfReferralRequest};
use livingwell_core::api::sync::SyncKind;
use livingwell_core::domain::message::ConversationId;
use livingwell_core::domain::{PersonId, Role, TeamId, UserId};
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

/// A person referring themselves from the app.
#[derive(Clone, uniffi::Record)]
pub struct SelfReferral {
    /// What they would like to be called.
    pub display_name: String,
    /// At least one of the phone number and the email address.
    pub phone: Option<String>,
    pub email: Option<String>,
    /// What they would like help with, in their own words.
    pub help_wanted: String,
    /// Must be true: the team contacts them to take the referral on.
    pub consent_to_contact: bool,
    /// The hub they would like; none: any hub.
    pub team_id: Option<TeamId>,
}

// Names, contact details and the person's own words never reach a log through `Debug`.
impl std::fmt::Debug for SelfReferral {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SelfReferral")
            .field("team_id", &self.team_id)
            .field("consent_to_contact", &self.consent_to_contact)
            .finish_non_exhaustive()
    }
}

/// The answer to a referral.
#[derive(Clone, Debug, uniffi::Record)]
pub struct ReferralReceipt {
    /// The referral's reference, should the person call about it.
    pub reference: String,
    pub received_at: Timestamp,
    pub what_happens_next: String,
    /// Where to turn meanwhile.
    pub crisis_lines: Vec<CrisisLineView>,
}

/// A crisis line: who answers, how to reach them, and when.
#[derive(Clone, Debug, uniffi::Record)]
pub struct CrisisLineView {
    pub name: String,
    pub contact: String,
    pub description: Option<String>,
}

impl From<livingwell_core::api::referrals::ReferralReceipt> for ReferralReceipt {
    fn from(receipt: livingwell_core::api::referrals::ReferralReceipt) -> Self {
        Self {
            reference: receipt.id.to_string(),
            received_at: receipt.received_at,
            what_happens_next: receipt.what_happens_next,
            crisis_lines: receipt
                .crisis_lines
                .into_iter()
                .map(|line| CrisisLineView {
                    name: line.name,
                    contact: line.contact,
                    description: line.description,
                })
                .collect(),
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
    EnablementPlan { person_id: PersonId },
    Appointments,
    Bookings,
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
            Screen::EnablementPlan { person_id } => {
                View::Record(SyncKind::EnablementPlan, person_id.to_string())
            }
            Screen::Appointments => View::Kind(SyncKind::Appointment),
            Screen::Bookings => View::Kind(SyncKind::Booking),
            Screen::Conversations => View::Kind(SyncKind::Conversation),
            Screen::Conversation { id } => View::Conversation(id.to_string()),
            Screen::AccessLog => View::Kind(SyncKind::AccessLogEntry),
            Screen::People => View::Kind(SyncKind::Person),
            Screen::Outbox => View::Outbox,
        }
    }
}

/// The engine of one device.
///
/// Async exports may use the network. Plain ones touch only the phone's encrypted store, on
/// the caller's thread (a few milliseconds, an fsync for a write): call them off the UI thread
/// (the Kotlin `watch` flows read on `Dispatchers.IO`).
#[derive(Debug, uniffi::Object)]
pub struct Client {
    pub(crate) engine: Arc<Engine>,
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

    /// Refers the person to the service, with no account (the front door): the phone solves
    /// the server's proof-of-work challenge (about a second) and sends the referral. The answer
    /// says what happens next and where to turn meanwhile; show both. Refused fields come back
    /// as `Invalid`, by path (`display_name`, `contact.phone`, …).
    pub async fn refer_myself(
        &self,
        referral: SelfReferral,
    ) -> Result<ReferralReceipt, ClientError> {
        let request = SelfReferralRequest {
            display_name: referral.display_name,
            contact: ContactDetails {
                phone: referral.phone,
                email: referral.email,
                ..ContactDetails::default()
            },
            help_wanted: referral.help_wanted,
            consent_to_contact: referral.consent_to_contact,
            team_id: referral.team_id,
            proof: None,
        };
        Ok(self.engine.refer_myself(request).await?.into())
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

    /// Registers this device's push token for the signed-in session (queued: it goes when
    /// the network allows). A push only says "something changed"; the app then syncs.
    pub fn register_device(
        &self,
        platform: PushPlatform,
        token: String,
    ) -> Result<i64, ClientError> {
        let request = RegisterDeviceRequest { platform, token };
        Ok(self.engine.register_device(&request)?.id)
    }
}

#[uniffi::remote(Enum)]
pub enum PushPlatform {
    Apns,
    Fcm,
}
