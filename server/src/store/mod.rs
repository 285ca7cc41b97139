//! Storage: one trait, two databases.
//!
//! [`Store`] is everything the server keeps. It has a Postgres implementation (production) and a
//! SQLite implementation (the embedded default): one generic [`SqlStore`] whose queries are
//! ordinary Rust written once ([`sql`], [`plans`], [`appointments`], [`messages`], [`events`],
//! [`accounts`], [`referrals`]), so the two cannot drift. What differs (connecting, migrating, the write lock,
//! notifications) is in [`Backend`] and the two backend modules; see `backend.rs`.
//! Each has its own migrations (`migrations/postgres`, `migrations/sqlite`), run at start-up.
//!
//! A write that announces itself stores its events in its own transaction (an outbox, see
//! [`events`]): there is no way to append events after a write has committed.
//!
//! Representation, chosen once: ids are UUIDs (`uuid` on Postgres, 16-byte BLOBs on SQLite),
//! times are UTC truncated to microseconds (`timestamptz`; RFC 3339 text on SQLite, which sorts
//! correctly because every value is written by the same encoder with a `+00:00` offset), sets are
//! JSON arrays.

pub mod accounts;
pub mod appointments;
mod backend;
pub mod browser_sessions;
pub mod caseload;
pub mod devices;
mod error;
pub mod events;
pub mod idempotency;
mod kept;
pub mod messages;
pub mod offline_reads;
pub mod plans;
mod postgres;
mod reads_here;
pub mod referrals;
pub mod reports;
mod sql;
mod sqlite;
pub mod sync;
pub mod webhooks;
mod writes_here;

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use livingwell_core::domain::consent::Consent;
use livingwell_core::domain::{
    ConsentId, EmergencyAccessId, PersonId, Role, StaffScope, TeamId, UserId,
};

use livingwell_core::domain::message::ConversationId;

pub use backend::{Backend, SqlStore};
pub use error::{StoreError, UNIQUE_CONSTRAINTS, UNLISTED, UniqueConstraint};
use messages::ConversationContext;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRecord {
    pub id: UserId,
    pub username: String,
    pub password_hash: String,
    pub role: Role,
    pub display_name: String,
    pub person_id: Option<PersonId>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersonRecord {
    pub id: PersonId,
    pub display_name: String,
    pub team_id: Option<TeamId>,
    pub peer_worker_id: Option<UserId>,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TeamRecord {
    pub id: TeamId,
    pub name: String,
    pub hub_address: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CarerLinkRecord {
    pub carer: UserRecord,
    pub relationship: Option<String>,
    pub linked_at: DateTime<Utc>,
}

/// A carer linked to a person, as the person's own view names them: the account without its
/// password hash, which `/v1/me` has no use for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkedCarer {
    pub id: UserId,
    pub username: String,
    pub role: Role,
    pub display_name: String,
    pub person_id: Option<PersonId>,
    pub relationship: Option<String>,
    pub linked_at: DateTime<Utc>,
}

/// Everything an account is connected to, as `/v1/me` shows it, read in one statement.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MeParts {
    /// The account's own person record (a service user's).
    pub person: Option<PersonRecord>,
    /// That person's carers, in the order they were linked.
    pub carers: Vec<LinkedCarer>,
    /// The teams the account is a member of, by name.
    pub teams: Vec<TeamRecord>,
    /// The people a carer supports under a consent in force, or a peer worker is allocated,
    /// by name.
    pub people_supported: Vec<PersonRecord>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmergencyAccessRecord {
    pub id: EmergencyAccessId,
    pub person_id: PersonId,
    pub practitioner_id: UserId,
    pub reason: String,
    pub granted_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A conversation as opening it reads it: its context, and what the reader is to its person.
pub type ConversationFound = (ConversationContext, RelationshipFacts);

/// What the database says about one account's relationship to one person, right now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RelationshipFacts {
    /// The account is the person's own.
    pub is_self: bool,
    /// The account belongs to the team whose caseload holds the person.
    pub on_persons_team: bool,
    /// The account is the person's allocated peer worker.
    pub allocated_peer: bool,
    /// The account is linked to the person as a carer.
    pub linked_carer: bool,
    /// An emergency grant in force, if any.
    pub emergency_access_until: Option<DateTime<Utc>>,
    /// The person is on some team's caseload.
    pub person_placed: bool,
    /// The person lets their team co-author their WRAP.
    pub team_may_coauthor_wrap: bool,
}

/// A signed-in account together with the session (refresh-token family) its token belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionUser {
    pub user: UserRecord,
    pub session_id: uuid::Uuid,
    /// When the password was last entered in this session.
    pub authenticated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    pub id: uuid::Uuid,
    pub session_id: uuid::Uuid,
    pub user_id: UserId,
    pub expires_at: DateTime<Utc>,
    pub rotated_at: Option<DateTime<Utc>>,
    pub session_revoked: bool,
    /// When the session (the family) began, at sign-in.
    pub session_started_at: DateTime<Utc>,
    /// The session's secret its tokens' successors are derived with.
    pub session_secret: Vec<u8>,
    /// When the password was last entered in the session.
    pub session_authenticated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRefreshToken {
    pub id: uuid::Uuid,
    pub session_id: uuid::Uuid,
    pub token_hash: Vec<u8>,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthClientRecord {
    pub client_id: String,
    pub name: String,
    pub secret_hash: String,
    pub scopes: BTreeSet<StaffScope>,
    pub created_at: DateTime<Utc>,
    /// Set when an admin turned it off: its tokens and secrets are refused from then on.
    pub disabled_at: Option<DateTime<Utc>>,
    /// The secret it had before the last rotation, still accepted until the time given.
    pub previous_secret: Option<PreviousSecret>,
    /// Its own request rate; `None` takes the deployment's default.
    pub requests_per_minute: Option<NonZeroU32>,
}

/// A rotated-out client secret and the end of its overlap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreviousSecret {
    pub secret_hash: String,
    pub until: DateTime<Utc>,
}

/// A token signing key in use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningKeyRecord {
    pub kid: String,
    /// The private key as stored: sealed (see [`crate::auth::sealing`]), or plain PKCS#8 DER in
    /// rows from before sealing, until they are sealed in place.
    pub sealed_private_key: Vec<u8>,
    pub created_at: DateTime<Utc>,
    /// Set once a newer key signs: from then on this key only verifies, until this time.
    pub retire_after: Option<DateTime<Utc>>,
}

/// A signing key in the history `livingwell keys list` shows, retired ones included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningKeySummary {
    pub kid: String,
    pub created_at: DateTime<Utc>,
    pub retire_after: Option<DateTime<Utc>>,
    pub retired_at: Option<DateTime<Utc>>,
}

/// An audit entry before it takes its place in the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAuditEntry {
    pub at: DateTime<Utc>,
    pub actor_id: Option<String>,
    pub actor_role: String,
    pub on_behalf_of: Option<String>,
    pub subject_id: Option<PersonId>,
    pub resource: String,
    pub action: String,
    pub outcome: String,
    pub relationship: Option<String>,
    pub request_id: Option<String>,
    /// How a read reached the reader when not by a request for the record
    /// ([`livingwell_core::api::people::ReadVia`]): delivered in a sync, shown offline, …
    pub via: Option<String>,
    /// For a read shown offline: when the phone showed it (`at` is when it was uploaded).
    pub read_at: Option<DateTime<Utc>>,
}

/// An audit entry as stored, with its place in the hash chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    pub seq: i64,
    pub entry: NewAuditEntry,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

/// A line of a person's access log: the entry, and the name its actor's account goes by, read
/// with it in one statement (`None` for a staff system, the server itself, or an account no
/// longer there).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessLogLine {
    pub record: AuditRecord,
    pub actor_name: Option<String>,
}

/// The newest entry of the chain: its sequence number and hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditHead {
    pub seq: i64,
    pub hash: Vec<u8>,
}

/// Why a consent could not be granted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantRefusal {
    /// The grantee is on the person's "people I do not want involved" list.
    Excluded,
    /// The account is not the person's linked carer, or not their allocated peer worker.
    NotRelated,
}

#[async_trait]
/// Everything the server keeps. The people-and-relationships methods are here; each other
/// aggregate has its own trait (plans, appointments, events), all implemented by both stores.
pub trait Store:
    accounts::AccountStore
    + plans::PlanStore
    + appointments::AppointmentStore
    + events::EventStore
    + messages::MessageStore
    + idempotency::IdempotencyStore
    + devices::DeviceStore
    + sync::SyncStore
    + offline_reads::OfflineReadStore
    + webhooks::WebhookStore
    + caseload::CaseloadStore
    + reports::ReportStore
    + browser_sessions::BrowserSessionStore
    + referrals::ReferralStore
    + Send
    + Sync
    + std::fmt::Debug
{
    /// Runs this database's migrations.
    async fn migrate(&self) -> StoreResult<()>;
    /// Whether the database answers.
    async fn ping(&self) -> StoreResult<()>;
    /// How many of this build's migrations the database lacks.
    async fn pending_migrations(&self) -> StoreResult<usize>;
    /// Whether a write transaction is a chain of round trips to a database server (Postgres),
    /// so that a group-commit writer belongs on a thread of its own
    /// ([`crate::group_commit::GroupCommit::start_on_own_thread`]).
    fn writes_over_a_socket(&self) -> bool;
    /// The store for a writer on a thread and runtime of its own: the same database, with
    /// write transactions on connections that belong to the calling runtime where the database
    /// is a server (Postgres). Call it on that runtime.
    fn for_writer_thread(&self) -> Arc<dyn Store>;

    // Accounts.
    async fn create_user(&self, user: &UserRecord, at: DateTime<Utc>) -> StoreResult<()>;
    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<UserRecord>>;
    async fn user_by_username(&self, username: &str) -> StoreResult<Option<UserRecord>>;
    async fn users_by_ids(&self, ids: &[UserId]) -> StoreResult<Vec<UserRecord>>;

    // People.
    /// Creates a person, with their account and caseload place when given, in one transaction.
    async fn create_person(
        &self,
        person: &PersonRecord,
        account: Option<&UserRecord>,
    ) -> StoreResult<()>;
    async fn person(&self, id: PersonId) -> StoreResult<Option<PersonRecord>>;
    async fn count_people(&self) -> StoreResult<i64>;
    async fn person_display_names(&self) -> StoreResult<Vec<String>>;

    // Teams.
    async fn create_team(&self, team: &TeamRecord, at: DateTime<Utc>) -> StoreResult<()>;
    async fn team(&self, id: TeamId) -> StoreResult<Option<TeamRecord>>;
    async fn teams(&self) -> StoreResult<Vec<TeamRecord>>;
    async fn teams_of_user(&self, user: UserId) -> StoreResult<Vec<TeamRecord>>;
    async fn is_team_member(&self, team: TeamId, user: UserId) -> StoreResult<bool>;
    /// Returns whether the member was newly added.
    async fn add_team_member(
        &self,
        team: TeamId,
        user: UserId,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Returns whether a membership was removed. The membership that ends is kept in the
    /// relationship history with its start and `at`, in the same transaction.
    async fn remove_team_member(
        &self,
        team: TeamId,
        user: UserId,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// The team's caseload in id order, `limit` at most, after the cursor (a person id).
    async fn caseload(
        &self,
        team: TeamId,
        after: Option<PersonId>,
        limit: i64,
    ) -> StoreResult<Vec<PersonRecord>>;
    /// Puts the person on the team's caseload, taking them off any other; the placement that
    /// ends is kept in the relationship history, in the same transaction. The same team again
    /// is no change (the placement keeps its start).
    async fn place_on_team(
        &self,
        person: PersonId,
        team: TeamId,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;

    // Relationships.
    /// Allocates the person's peer worker; a previous allocation ends (kept in the relationship
    /// history) and the consents given to that worker are revoked, in the same transaction.
    async fn allocate_peer(
        &self,
        person: PersonId,
        peer: UserId,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
    async fn link_carer(
        &self,
        person: PersonId,
        carer: UserId,
        relationship: Option<&str>,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
    async fn carers(&self, person: PersonId) -> StoreResult<Vec<CarerLinkRecord>>;
    /// People the account is linked to as a carer.
    async fn people_cared_for(&self, carer: UserId) -> StoreResult<Vec<PersonRecord>>;
    /// People the account is allocated to as peer worker.
    async fn people_allocated(&self, peer: UserId) -> StoreResult<Vec<PersonRecord>>;
    /// What the account `user` (of `role`, with its own `person` record if any) is connected
    /// to at `at`: its person, that person's carers, its teams, and the people it supports.
    async fn me_parts(
        &self,
        user: UserId,
        role: Role,
        person: Option<PersonId>,
        at: DateTime<Utc>,
    ) -> StoreResult<MeParts>;
    /// Grants a consent unless the grantee is excluded, or is not a linked carer (for a carer's
    /// consent) or the allocated peer worker (for a peer worker's), checked in the same
    /// transaction as the insert.
    async fn grant_consent(&self, consent: &Consent) -> StoreResult<Result<(), GrantRefusal>>;
    async fn consents(&self, person: PersonId) -> StoreResult<Vec<Consent>>;
    /// A page of the person's consents in id (and so creation) order, after `after`: revoked
    /// ones stay, so the list grows with the person's history and is paged by the key.
    async fn consents_after(
        &self,
        person: PersonId,
        after: Option<ConsentId>,
        limit: i64,
    ) -> StoreResult<Vec<Consent>>;
    /// One consent, in force or not.
    async fn consent(&self, id: ConsentId) -> StoreResult<Option<Consent>>;
    /// Consents from `person` to the account `grantee` that are not revoked (expired ones
    /// included: the caller checks [`Consent::in_force_at`]).
    async fn consents_to(&self, person: PersonId, grantee: UserId) -> StoreResult<Vec<Consent>>;
    /// Consents from `person` to the account `grantee` that had been given by `at` and not
    /// revoked by then, for judging access at a past instant (expired ones included: the caller
    /// checks [`Consent::in_force_at`] with `at`).
    async fn consents_to_at(
        &self,
        person: PersonId,
        grantee: UserId,
        at: DateTime<Utc>,
    ) -> StoreResult<Vec<Consent>>;
    /// Returns whether a consent in force was revoked.
    async fn revoke_consent(
        &self,
        person: PersonId,
        consent: ConsentId,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Adds the account to the person's "do not involve" list and revokes every consent to it.
    async fn exclude_user(
        &self,
        person: PersonId,
        user: UserId,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
    async fn grant_emergency_access(&self, grant: &EmergencyAccessRecord) -> StoreResult<()>;
    /// Everything that decides `user`'s access to `person`, in one query.
    async fn relationship_facts(
        &self,
        user: UserId,
        person: PersonId,
        at: DateTime<Utc>,
    ) -> StoreResult<RelationshipFacts>;

    /// What decided `user`'s access to `person` at the past instant `at`, in one query: the
    /// relationships in force then, ended ones included (from the relationship history), and
    /// emergency grants open at `at`. Whether the team may co-author the WRAP is as it is now
    /// (it decides writes, never reads). Relationships that ended before the history began
    /// (migration 0013) are not known.
    async fn relationship_facts_at(
        &self,
        user: UserId,
        person: PersonId,
        at: DateTime<Utc>,
    ) -> StoreResult<RelationshipFacts>;

    // Sign-in.
    /// Starts a session; `refresh_secret` (32 bytes) derives its refresh tokens' successors.
    async fn create_session(
        &self,
        id: uuid::Uuid,
        user: UserId,
        at: DateTime<Utc>,
        refresh_secret: &[u8],
    ) -> StoreResult<()>;
    /// The account of a live (not revoked) session.
    async fn session_user(
        &self,
        session: uuid::Uuid,
        user: UserId,
    ) -> StoreResult<Option<SessionUser>>;
    /// [`Store::session_user`] and [`Store::relationship_facts`] of its account to `person`, in
    /// one query: what a read of a person's record needs before its data.
    async fn session_user_and_facts(
        &self,
        session: uuid::Uuid,
        user: UserId,
        person: PersonId,
        at: DateTime<Utc>,
    ) -> StoreResult<Option<(SessionUser, RelationshipFacts)>>;
    /// The conversation (as [`messages::MessageStore::conversation`] reads it) and
    /// [`Store::relationship_facts`] of `user` to the person it is about, in one query: what
    /// opening a conversation needs before its policy decision.
    async fn conversation_and_facts(
        &self,
        conversation: ConversationId,
        user: UserId,
        at: DateTime<Utc>,
    ) -> StoreResult<Option<ConversationFound>>;
    /// [`Store::session_user`] and, when it is live, [`Store::conversation_and_facts`] for its
    /// account: what a request about a conversation (a send, a page of messages) needs before
    /// its policy decision, in one query when both are found. `None` when the session is not
    /// live; `Some((account, None))` when the conversation does not exist.
    async fn session_user_and_conversation(
        &self,
        session: uuid::Uuid,
        user: UserId,
        conversation: ConversationId,
        at: DateTime<Utc>,
    ) -> StoreResult<Option<(SessionUser, Option<ConversationFound>)>>;
    /// Ends a session. On Postgres the commit also notifies every listening process, so their
    /// event streams of that session end (see [`crate::events`]).
    async fn revoke_session(&self, session: uuid::Uuid, at: DateTime<Utc>) -> StoreResult<()>;
    /// Stores a refresh token; one already stored under the same hash is kept as it is (a racing
    /// refresh derived the same successor first).
    async fn insert_refresh_token(&self, token: &NewRefreshToken) -> StoreResult<()>;
    async fn refresh_token_by_hash(&self, hash: &[u8]) -> StoreResult<Option<RefreshTokenRecord>>;
    /// Marks the token rotated; false when another request rotated it first.
    async fn mark_rotated(&self, token: uuid::Uuid, at: DateTime<Utc>) -> StoreResult<bool>;
    async fn create_client(&self, client: &OAuthClientRecord) -> StoreResult<()>;
    async fn client(&self, client_id: &str) -> StoreResult<Option<OAuthClientRecord>>;
    /// Every staff-system client, disabled ones too, by name.
    async fn clients(&self) -> StoreResult<Vec<OAuthClientRecord>>;
    /// Turns a client off (once; a second call keeps the first time). False when there is none.
    async fn disable_client(&self, client_id: &str, at: DateTime<Utc>) -> StoreResult<bool>;
    /// Gives an enabled client a new secret; the current one becomes the previous, accepted
    /// until `previous_until`. False when there is no enabled client of that id.
    async fn rotate_client_secret(
        &self,
        client_id: &str,
        secret_hash: &str,
        previous_until: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Every signing key not yet retired, newest first.
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>>;
    /// Stores a key unless one with its kid exists already.
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()>;
    /// Stores a new key and, in the same transaction, gives every other key in use that has no
    /// retirement time yet `retire_others_after`.
    async fn rotate_signing_key(
        &self,
        key: &SigningKeyRecord,
        retire_others_after: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Replaces a key's stored bytes, if they are still `was`; false when they were not (another
    /// process sealed it first, or it was retired).
    async fn reseal_signing_key(&self, kid: &str, was: &[u8], sealed: &[u8]) -> StoreResult<bool>;
    /// Retires the keys whose retirement time is at or before `at`: marks them and deletes
    /// their sealed bytes. Returns their kids.
    async fn retire_signing_keys(&self, at: DateTime<Utc>) -> StoreResult<Vec<String>>;
    /// Every signing key ever stored, retired ones included, newest first.
    async fn signing_key_history(&self) -> StoreResult<Vec<SigningKeySummary>>;

    // Audit.
    /// Appends entries to the chain in one transaction, holding the chain's write lock, and
    /// returns their sequence numbers.
    async fn append_audit(&self, entries: &[NewAuditEntry]) -> StoreResult<Vec<i64>>;
    /// Entries about one person, newest first, before `before`, with their actors' names.
    async fn audit_for_subject(
        &self,
        subject: PersonId,
        before: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<AccessLogLine>>;
    /// Entries about one person, oldest first, after `after` (a sync's feed of the log), with
    /// their actors' names.
    async fn audit_for_subject_after(
        &self,
        subject: PersonId,
        after: i64,
        limit: i64,
    ) -> StoreResult<Vec<AccessLogLine>>;
    /// Entries in chain order after `after`.
    async fn audit_after(&self, after: i64, limit: i64) -> StoreResult<Vec<AuditRecord>>;
    /// The newest entry's place in the chain; `None` while the log is empty.
    async fn audit_head(&self) -> StoreResult<Option<AuditHead>>;
}

/// How the store's connections behave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreSettings {
    /// How long one statement may run (Postgres `statement_timeout`) or wait for SQLite's write
    /// lock (its busy timeout) before it gives up, and the request answers 503 with
    /// `Retry-After`. A slow or stuck database then costs a request seconds, not the server
    /// its connections. Migrations are exempt: building an index may take longer.
    pub statement_timeout: std::time::Duration,
}

/// What `serve` uses unless told otherwise (`--statement-timeout-secs`).
pub const DEFAULT_STATEMENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
        }
    }
}

/// Opens the database a URL names: `postgres://…` or `sqlite://…` (created when missing), with
/// the default [`StoreSettings`].
pub async fn connect(url: &str) -> StoreResult<Arc<dyn Store>> {
    connect_with(url, StoreSettings::default()).await
}

/// Opens the database a URL names with `settings`.
pub async fn connect_with(url: &str, settings: StoreSettings) -> StoreResult<Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::connect(url, settings).await?))
    } else {
        Ok(Arc::new(SqliteStore::connect(url, settings).await?))
    }
}
