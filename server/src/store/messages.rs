//! Conversations and messages.
//!
//! Guarantees:
//! - **Exactly once.** `(sender, client_id)` is unique for ever (`messages_sender_client_id`).
//!   A send inserts with `ON CONFLICT (sender_id, client_id) DO NOTHING`: when the sender
//!   already has a message with that client id — stored long ago, earlier in the same batch, or
//!   by a racing retry that the insert waits for — nothing is stored, the number it took is
//!   given back, and the send answers with the message already there.
//! - **Gap-free order.** A batch takes a conversation's numbers by incrementing
//!   `conversations.last_seq` with an `UPDATE … RETURNING`, in a transaction that holds the
//!   conversation's row lock (Postgres) or the database's write lock (SQLite) until commit.
//!   Numbers are therefore given out by one transaction at a time per conversation, and a
//!   transaction that fails rolls its numbers back with it: 1, 2, 3… with no gaps, also across
//!   server processes. `(conversation_id, seq)` is unique as a second line.
//! - **Two statements a batch, the usual way.** A batch of new messages with no notice due takes
//!   every conversation's numbers in one statement (on Postgres; on SQLite one `UPDATE` a
//!   conversation, [`Backend::take_conversation_numbers`]) and stores every message in one
//!   `INSERT`.
//!   If that `INSERT` stores a row short (a repeat) or a notice is due, the transaction is
//!   rolled back and the batch stored one send at a time, each repeat giving its number back.
//! - **Group commit.** [`MessageStore::send_messages`] stores a batch in one transaction (one
//!   fsync), locking conversations in id order so that batches of different processes cannot
//!   deadlock on each other.
//! - **Cursors only move forward.** Delivery and read cursors are per account; an update never
//!   lowers them, and read implies delivered.
//! - **Announced in the same transaction.** A stored message (and its notice) is announced to
//!   the send's audience by a `message_created` event with its number, a moved cursor by a
//!   `messages_read` or `messages_delivered` event, a new report by the events it is given — each
//!   stored in the transaction of the write, so a committed message always has its events and a
//!   repeated send or report adds none (see [`super::events`]).
//! - **Audited with the write.** A send's audit entry (the sender's access to the conversation)
//!   is appended to the chain in the batch's transaction, whatever the send's outcome: the
//!   message and the record of who wrote it commit together or not at all, with one commit
//!   where there were two, one after the other, before (bench/README.md, "What a send costs").
//! - **Nothing is deleted.** A reallocation changes who the peer worker is, never the rows.

use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use livingwell_core::api::events::{Event, MessageCreatedData, MessageReceiptData};
use livingwell_core::domain::message::{
    Availability, ClientMessageId, ConversationId, ConversationKind, MessageContent, MessageId,
    MessageReportId, OutOfHoursNotice, WorkingSpan,
};
use livingwell_core::domain::{PersonId, TeamId, UserId};
use sqlx::types::Json;
use sqlx::{ColumnIndex, Executor};
use uuid::Uuid;

use super::backend::{Backend, Bind, Column, RowsAffected as _, SqlStore, Tx};
use super::events::{Audience, NewEvent, append_in_tx, append_then_audit_in_tx};
use super::idempotency::begin_write;
use super::reads_here::{Columns, HereRow, Param};
use super::{NewAuditEntry, StoreError, StoreResult};

/// A conversation as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConversationRecord {
    pub id: ConversationId,
    pub kind: ConversationKind,
    /// The person the conversation is about.
    pub person_id: PersonId,
    /// For a carer's own conversation with the person's team: the carer.
    pub carer_id: Option<UserId>,
    pub last_seq: i64,
    pub last_message_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A conversation with who answers it now, read in one query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConversationContext {
    pub conversation: ConversationRecord,
    /// A peer conversation's worker, from the allocation now.
    pub peer_worker_id: Option<UserId>,
    /// That worker's hours, if they set any.
    pub peer_availability: Option<Availability>,
    /// A team conversation's team, from the caseload now.
    pub team_id: Option<TeamId>,
    /// The person's own account, if they have one.
    pub person_account_id: Option<UserId>,
}

/// A conversation in a list, with the viewer's place in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConversationSummary {
    pub context: ConversationContext,
    pub read_seq: i64,
    pub unread_count: i64,
    /// How far the others in the conversation have fetched and read, whoever is furthest.
    pub others: Cursor,
}

/// Which conversation: each person has one with their peer worker and one with their team, and
/// each carer one with the team of each person they care for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConversationKey {
    Peer(PersonId),
    Team(PersonId),
    Carer { person: PersonId, carer: UserId },
}

impl ConversationKey {
    pub(super) fn parts(self) -> (ConversationKind, PersonId, Option<UserId>) {
        match self {
            ConversationKey::Peer(person) => (ConversationKind::Peer, person, None),
            ConversationKey::Team(person) => (ConversationKind::Team, person, None),
            ConversationKey::Carer { person, carer } => {
                (ConversationKind::Team, person, Some(carer))
            }
        }
    }
}

/// Whose conversations a list holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConversationScope {
    /// A service user's own: with their peer worker and with their team.
    OwnAsPerson(PersonId),
    /// A peer worker's: with each person allocated to them now.
    AllocatedTo(UserId),
    /// A carer's own, with the team of each person who has a consent in force for them.
    Carer(UserId),
    /// A practitioner's team inbox: team conversations of everyone on their teams' caseloads.
    TeamInbox(UserId),
    /// Every conversation about one person (the team's oversight).
    AboutPerson(PersonId),
}

/// A message as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct MessageRecord {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub seq: i64,
    /// `None` for a notice the service wrote.
    pub sender_id: Option<UserId>,
    pub client_id: Option<ClientMessageId>,
    pub content: MessageContent,
    pub created_at: DateTime<Utc>,
}

// What a message says is health data: never in a log line or a panic message.
impl std::fmt::Debug for MessageRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.content {
            MessageContent::Text { .. } => "text",
            MessageContent::OutOfHoursNotice(_) => "out_of_hours_notice",
        };
        f.debug_struct("MessageRecord")
            .field("id", &self.id)
            .field("conversation_id", &self.conversation_id)
            .field("seq", &self.seq)
            .field("sender_id", &self.sender_id)
            .field("client_id", &self.client_id)
            .field("kind", &kind)
            .finish_non_exhaustive()
    }
}

/// A message someone sends.
#[derive(Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub sender_id: UserId,
    pub client_id: ClientMessageId,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

impl NewMessage {
    /// The message as stored with the number `seq`.
    fn stored_as(&self, seq: i64) -> MessageRecord {
        MessageRecord {
            id: self.id,
            conversation_id: self.conversation_id,
            seq,
            sender_id: Some(self.sender_id),
            client_id: Some(self.client_id),
            content: MessageContent::Text {
                body: self.body.clone(),
            },
            created_at: self.created_at,
        }
    }
}

// The body is health data: never in a log line or a panic message.
impl std::fmt::Debug for NewMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewMessage")
            .field("id", &self.id)
            .field("conversation_id", &self.conversation_id)
            .field("sender_id", &self.sender_id)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// An automatic notice to add after the message, unless the conversation had one recently.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoticeRequest {
    pub id: MessageId,
    pub notice: OutOfHoursNotice,
    /// No notice is added if the conversation had one after this instant.
    pub unless_noticed_since: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendOutcome {
    /// Stored now, with the notice that followed it, if any.
    Created {
        message: MessageRecord,
        notice: Option<MessageRecord>,
    },
    /// The sender had already sent a message with this client id: this one, unchanged.
    Existing(MessageRecord),
    /// No conversation has the id (conversations are never deleted, so only a bad id).
    UnknownConversation,
}

/// One send: a message, the notice to follow it if the worker is not there, who hears of what
/// is stored, and the sender's access to the conversation, audited in the same transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewSend {
    pub message: NewMessage,
    pub notice: Option<NoticeRequest>,
    pub audience: Audience,
    /// The audit entry of the request's access; `None` for messages stored without a request
    /// (demo data, seeding).
    pub access: Option<NewAuditEntry>,
}

/// How far one account has fetched and read one conversation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cursor {
    pub delivered_seq: i64,
    pub read_seq: i64,
}

/// A page of a conversation's messages and the cursors its views are made with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MessagesAfter {
    pub messages: Vec<MessageRecord>,
    pub cursors: Vec<CursorRecord>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CursorRecord {
    pub user_id: UserId,
    pub cursor: Cursor,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageReportRecord {
    pub id: MessageReportId,
    pub message_id: MessageId,
    pub reporter_id: UserId,
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
pub(super) struct ContextRow {
    id: Uuid,
    kind: String,
    person_id: Uuid,
    carer_id: Option<Uuid>,
    last_seq: i64,
    last_message_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    peer_worker_id: Option<Uuid>,
    team_id: Option<Uuid>,
    person_account_id: Option<Uuid>,
    weekly_hours: Option<Json<Vec<WorkingSpan>>>,
    away: Option<bool>,
}

impl HereRow for ContextRow {
    fn from_here(row: &Columns<'_>) -> Option<Self> {
        Some(ContextRow {
            id: row.id("id")?,
            kind: row.text("kind")?,
            person_id: row.id("person_id")?,
            carer_id: row.optional_id("carer_id")?,
            last_seq: row.int("last_seq")?,
            last_message_at: row.optional_time("last_message_at")?,
            created_at: row.time("created_at")?,
            peer_worker_id: row.optional_id("peer_worker_id")?,
            team_id: row.optional_id("team_id")?,
            person_account_id: row.optional_id("person_account_id")?,
            weekly_hours: row.optional_json("weekly_hours")?,
            away: row.optional_flag("away")?,
        })
    }
}

impl TryFrom<ContextRow> for ConversationContext {
    type Error = StoreError;
    fn try_from(row: ContextRow) -> Result<Self, StoreError> {
        let kind = ConversationKind::parse(&row.kind)
            .ok_or_else(|| StoreError::Corrupt(format!("conversation kind {:?}", row.kind)))?;
        Ok(ConversationContext {
            conversation: ConversationRecord {
                id: row.id.into(),
                kind,
                person_id: row.person_id.into(),
                carer_id: row.carer_id.map(Into::into),
                last_seq: row.last_seq,
                last_message_at: row.last_message_at,
                created_at: row.created_at,
            },
            peer_worker_id: row.peer_worker_id.map(Into::into),
            peer_availability: row.weekly_hours.map(|hours| Availability {
                weekly_hours: hours.0,
                away: row.away.unwrap_or(false),
            }),
            team_id: row.team_id.map(Into::into),
            person_account_id: row.person_account_id.map(Into::into),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct SummaryRow {
    #[sqlx(flatten)]
    context: ContextRow,
    read_seq: i64,
    unread_count: i64,
    others_delivered_seq: i64,
    others_read_seq: i64,
}

impl TryFrom<SummaryRow> for ConversationSummary {
    type Error = StoreError;
    fn try_from(row: SummaryRow) -> Result<Self, StoreError> {
        Ok(ConversationSummary {
            context: row.context.try_into()?,
            read_seq: row.read_seq,
            unread_count: row.unread_count,
            others: Cursor {
                delivered_seq: row.others_delivered_seq,
                read_seq: row.others_read_seq,
            },
        })
    }
}

/// A conversation with its current worker, team and the worker's hours. Followed by `WHERE`.
pub(super) const CONTEXT_SELECT: &str = "SELECT c.id, c.kind, c.person_id, c.carer_id, \
     c.last_seq, c.last_message_at, c.created_at, a.peer_worker_id, cl.team_id, \
     pu.id AS person_account_id, pa.weekly_hours, pa.away FROM conversations c \
     LEFT JOIN users pu ON pu.person_id = c.person_id \
     LEFT JOIN peer_allocations a ON a.person_id = c.person_id AND c.kind = 'peer' \
     LEFT JOIN caseloads cl ON cl.person_id = c.person_id AND c.kind = 'team' \
     LEFT JOIN peer_availability pa ON pa.user_id = a.peer_worker_id";

#[derive(sqlx::FromRow)]
pub(super) struct MessageRow {
    id: Uuid,
    conversation_id: Uuid,
    seq: i64,
    sender_id: Option<Uuid>,
    client_id: Option<Uuid>,
    kind: String,
    body: String,
    notice: Option<Json<OutOfHoursNotice>>,
    created_at: DateTime<Utc>,
}

impl HereRow for MessageRow {
    fn from_here(row: &Columns<'_>) -> Option<Self> {
        Some(MessageRow {
            id: row.id("id")?,
            conversation_id: row.id("conversation_id")?,
            seq: row.int("seq")?,
            sender_id: row.optional_id("sender_id")?,
            client_id: row.optional_id("client_id")?,
            kind: row.text("kind")?,
            body: row.text("body")?,
            notice: row.optional_json("notice")?,
            created_at: row.time("created_at")?,
        })
    }
}

/// [`MessageStore::messages_after`]'s query: the page's messages (`part` = `message`) and the
/// conversation's cursors (`cursor`) when the page has any message, in no particular order; the
/// other part's columns are NULL. One statement: the cursors were a second round trip on every
/// page.
static MESSAGES_AFTER: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH page AS (SELECT {MESSAGE_COLUMNS} FROM messages \
                       WHERE conversation_id = $1 AND seq > $2 ORDER BY seq LIMIT $3) \
         SELECT 'message' AS part, {MESSAGE_COLUMNS}, NULL AS user_id, \
                NULL AS delivered_seq, NULL AS read_seq FROM page \
         UNION ALL \
         SELECT 'cursor', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
                user_id, delivered_seq, read_seq FROM conversation_cursors \
         WHERE conversation_id = $1 AND EXISTS (SELECT 1 FROM page)"
    )
});

/// One row of [`MessageStore::messages_after`]: a message or a cursor, by `part`.
#[derive(sqlx::FromRow)]
struct MessagePartRow {
    part: String,
    id: Option<Uuid>,
    conversation_id: Option<Uuid>,
    seq: Option<i64>,
    sender_id: Option<Uuid>,
    client_id: Option<Uuid>,
    kind: Option<String>,
    body: Option<String>,
    notice: Option<Json<OutOfHoursNotice>>,
    created_at: Option<DateTime<Utc>>,
    user_id: Option<Uuid>,
    delivered_seq: Option<i64>,
    read_seq: Option<i64>,
}

impl HereRow for MessagePartRow {
    fn from_here(row: &Columns<'_>) -> Option<Self> {
        Some(MessagePartRow {
            part: row.text("part")?,
            id: row.optional_id("id")?,
            conversation_id: row.optional_id("conversation_id")?,
            seq: row.optional_int("seq")?,
            sender_id: row.optional_id("sender_id")?,
            client_id: row.optional_id("client_id")?,
            kind: row.optional_text("kind")?,
            body: row.optional_text("body")?,
            notice: row.optional_json("notice")?,
            created_at: row.optional_time("created_at")?,
            user_id: row.optional_id("user_id")?,
            delivered_seq: row.optional_int("delivered_seq")?,
            read_seq: row.optional_int("read_seq")?,
        })
    }
}

impl MessagePartRow {
    /// Files the row under its part of `page`.
    fn file_into(self, page: &mut MessagesAfter) -> StoreResult<()> {
        let missing = |column: &str| StoreError::Corrupt(format!("{} without {column}", self.part));
        match self.part.as_str() {
            "message" => page.messages.push(MessageRecord::try_from(MessageRow {
                id: self.id.ok_or_else(|| missing("id"))?,
                conversation_id: self
                    .conversation_id
                    .ok_or_else(|| missing("conversation_id"))?,
                seq: self.seq.ok_or_else(|| missing("seq"))?,
                sender_id: self.sender_id,
                client_id: self.client_id,
                kind: self.kind.ok_or_else(|| missing("kind"))?,
                body: self.body.ok_or_else(|| missing("body"))?,
                notice: self.notice,
                created_at: self.created_at.ok_or_else(|| missing("created_at"))?,
            })?),
            "cursor" => page.cursors.push(CursorRecord {
                user_id: self.user_id.ok_or_else(|| missing("user_id"))?.into(),
                cursor: Cursor {
                    delivered_seq: self.delivered_seq.ok_or_else(|| missing("delivered_seq"))?,
                    read_seq: self.read_seq.ok_or_else(|| missing("read_seq"))?,
                },
            }),
            other => return Err(StoreError::Corrupt(format!("unknown part {other:?}"))),
        }
        Ok(())
    }
}

/// An account's cursor in a conversation, as [`MessageStore::cursors`] reads it.
#[derive(sqlx::FromRow)]
struct ConversationCursorRow {
    user_id: Uuid,
    delivered_seq: i64,
    read_seq: i64,
}

impl HereRow for ConversationCursorRow {
    fn from_here(row: &Columns<'_>) -> Option<Self> {
        Some(ConversationCursorRow {
            user_id: row.id("user_id")?,
            delivered_seq: row.int("delivered_seq")?,
            read_seq: row.int("read_seq")?,
        })
    }
}

impl TryFrom<MessageRow> for MessageRecord {
    type Error = StoreError;
    fn try_from(row: MessageRow) -> Result<Self, StoreError> {
        let content = match (row.kind.as_str(), row.notice) {
            ("text", _) => MessageContent::Text { body: row.body },
            ("out_of_hours_notice", Some(notice)) => MessageContent::OutOfHoursNotice(notice.0),
            _ => return Err(StoreError::Corrupt(format!("message kind {:?}", row.kind))),
        };
        Ok(MessageRecord {
            id: row.id.into(),
            conversation_id: row.conversation_id.into(),
            seq: row.seq,
            sender_id: row.sender_id.map(Into::into),
            client_id: row.client_id.map(Into::into),
            content,
            created_at: row.created_at,
        })
    }
}

pub(super) const MESSAGE_COLUMNS: &str =
    "id, conversation_id, seq, sender_id, client_id, kind, body, notice, created_at";

#[derive(sqlx::FromRow)]
pub(super) struct ReportRow {
    id: Uuid,
    message_id: Uuid,
    reporter_id: Uuid,
    reason: Option<String>,
    created_at: DateTime<Utc>,
}

impl From<ReportRow> for MessageReportRecord {
    fn from(row: ReportRow) -> Self {
        MessageReportRecord {
            id: row.id.into(),
            message_id: row.message_id.into(),
            reporter_id: row.reporter_id.into(),
            reason: row.reason,
            created_at: row.created_at,
        }
    }
}

/// The `WHERE` of a conversation list and whether it needs the time (`$4`). `$1` is the viewer,
/// `$2` the scope's id, `$3` the limit.
pub(super) fn scope_condition(scope: ConversationScope) -> (&'static str, Uuid, bool) {
    match scope {
        ConversationScope::OwnAsPerson(person) => (
            "c.person_id = $2 AND c.carer_id IS NULL",
            person.as_uuid(),
            false,
        ),
        ConversationScope::AllocatedTo(peer) => (
            "c.kind = 'peer' AND a.peer_worker_id = $2",
            peer.as_uuid(),
            false,
        ),
        ConversationScope::Carer(carer) => (
            "c.carer_id = $2 \
             AND EXISTS (SELECT 1 FROM carer_links l WHERE l.person_id = c.person_id AND l.carer_id = $2) \
             AND EXISTS (SELECT 1 FROM consents k WHERE k.person_id = c.person_id \
                         AND k.grantee_id = $2 AND k.grantee_role = 'carer' AND k.revoked_at IS NULL \
                         AND (k.expires_at IS NULL OR k.expires_at > $4))",
            carer.as_uuid(),
            true,
        ),
        ConversationScope::TeamInbox(practitioner) => (
            "c.kind = 'team' AND cl.team_id IN (SELECT team_id FROM team_members WHERE user_id = $2)",
            practitioner.as_uuid(),
            false,
        ),
        ConversationScope::AboutPerson(person) => ("c.person_id = $2", person.as_uuid(), false),
    }
}

/// Storage for peer-support messaging.
#[async_trait::async_trait]
pub trait MessageStore {
    /// The conversation, creating it if it does not exist yet.
    async fn ensure_conversation(
        &self,
        key: ConversationKey,
        at: DateTime<Utc>,
    ) -> StoreResult<ConversationRecord>;
    /// Creates the conversations an account in `scope` should have and does not yet: with the
    /// peer worker of each allocated person who has an account, with the team of each placed
    /// person, and with the team for each carer whose consent is in force.
    async fn open_missing_conversations(
        &self,
        scope: ConversationScope,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// A conversation with its current worker and team.
    async fn conversation(&self, id: ConversationId) -> StoreResult<Option<ConversationContext>>;
    /// The conversations in `scope` with `viewer`'s read position, newest activity first.
    async fn conversations(
        &self,
        viewer: UserId,
        scope: ConversationScope,
        at: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<ConversationSummary>>;
    /// Stores each message (and its notice, unless the conversation had one recently) with its
    /// conversation's next numbers and the events that tell its audience, in one transaction;
    /// or finds the sender's message with that client id (and tells nobody again). Outcomes
    /// come in the order of `sends`.
    async fn send_messages(&self, sends: &[NewSend]) -> StoreResult<Vec<SendOutcome>>;
    /// Messages after `after_seq`, oldest first, with every account's cursor in the
    /// conversation as the same statement saw them (none when there are no messages).
    async fn messages_after(
        &self,
        conversation: ConversationId,
        after_seq: i64,
        limit: i64,
    ) -> StoreResult<MessagesAfter>;
    async fn message(&self, id: MessageId) -> StoreResult<Option<MessageRecord>>;
    /// Every account's cursor in a conversation.
    async fn cursors(&self, conversation: ConversationId) -> StoreResult<Vec<CursorRecord>>;
    /// Moves an account's cursor forward (never back); returns it before and after. A move is
    /// announced to `audience` in the same transaction: as read when the read cursor moved,
    /// else as delivered when the delivery cursor did.
    async fn advance_cursor(
        &self,
        conversation: ConversationId,
        user: UserId,
        to: Cursor,
        at: DateTime<Utc>,
        audience: &Audience,
    ) -> StoreResult<(Cursor, Cursor)>;
    /// Messages after `read_seq` that `user` did not write.
    async fn unread_count(
        &self,
        conversation: ConversationId,
        user: UserId,
        read_seq: i64,
    ) -> StoreResult<i64>;
    /// The accounts taking part in a conversation now: the person's own account (or the
    /// carer), and the allocated peer worker or the team's practitioners.
    async fn conversation_participants(
        &self,
        conversation: &ConversationRecord,
    ) -> StoreResult<Vec<UserId>>;
    /// The practitioners of the team whose caseload the person is on.
    async fn team_practitioners(&self, person: PersonId) -> StoreResult<Vec<UserId>>;
    /// Records a report with the events that announce it; reporting the same message twice
    /// returns the first report and false, and announces nothing.
    async fn report_message(
        &self,
        report: &MessageReportRecord,
        announce: &[NewEvent],
    ) -> StoreResult<(MessageReportRecord, bool)>;
    /// A peer worker's hours, if they set any.
    async fn availability(&self, user: UserId) -> StoreResult<Option<Availability>>;
    async fn set_availability(
        &self,
        user: UserId,
        availability: &Availability,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
}

impl<DB> SqlStore<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> &'a str: Bind<DB>,
    Uuid: Column<DB>,
    DateTime<Utc>: Column<DB>,
    String: Column<DB>,
    i64: Column<DB>,
    bool: Column<DB>,
    Json<Vec<WorkingSpan>>: Column<DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
    async fn find_conversation(
        &self,
        key: ConversationKey,
    ) -> StoreResult<Option<ConversationRecord>> {
        let (kind, person, carer) = key.parts();
        let condition = match carer {
            None => "c.person_id = $1 AND c.kind = $2 AND c.carer_id IS NULL",
            Some(_) => "c.person_id = $1 AND c.kind = $2 AND c.carer_id = $3",
        };
        let sql = format!("{} WHERE {condition}", CONTEXT_SELECT);
        let mut query = sqlx::query_as::<_, ContextRow>(sqlx::AssertSqlSafe(sql))
            .bind(person.as_uuid())
            .bind(kind.as_str());
        if let Some(carer) = carer {
            query = query.bind(carer.as_uuid());
        }
        let row = query.fetch_optional(&self.db).await?;
        Ok(row
            .map(ConversationContext::try_from)
            .transpose()?
            .map(|context| context.conversation))
    }
}

/// A send batch's take of one conversation's next numbers
/// ([`Backend::take_conversation_numbers`]).
#[derive(Clone, Copy, Debug)]
pub struct NumbersToTake {
    pub conversation: Uuid,
    /// How many numbers: one for each of the batch's sends to the conversation.
    pub count: i64,
    /// When its newest message was sent.
    pub newest: DateTime<Utc>,
}

/// What a conversation gave a take ([`Backend::take_conversation_numbers`]).
#[derive(Clone, Copy, Debug, sqlx::FromRow)]
pub struct NumbersTaken {
    pub conversation: Uuid,
    /// Its last number after the take: the take's numbers end here.
    pub last: i64,
    /// When it last sent an out-of-hours notice.
    pub last_notice_at: Option<DateTime<Utc>>,
}

/// The batch stored the quick way, in the transaction `tx`, when every send is a new message
/// and no notice is due: one statement takes every conversation's numbers (on SQLite one
/// `UPDATE` a conversation), and one `INSERT` stores every message, where one send at a time
/// costs two statements each (on SQLite each a hop to the connection's thread; on Postgres a
/// round trip). `None` when a send repeats a stored message (or another in the batch) or a
/// notice is due: then `tx` holds numbers that must not stand, and is rolled back.
async fn store_new_sends<DB>(
    tx: &mut Tx<DB>,
    sends: &[NewSend],
) -> StoreResult<Option<Vec<SendOutcome>>>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    Uuid: Bind<DB>,
    i64: Column<DB>,
    String: Bind<DB>,
    DateTime<Utc>: Column<DB>,
    Option<DateTime<Utc>>: Column<DB>,
    usize: ColumnIndex<DB::Row>,
{
    // In conversation id order, as every send batch locks them; a stable sort keeps each
    // conversation's sends in batch order, which is the order of their numbers.
    let mut order: Vec<usize> = (0..sends.len()).collect();
    order.sort_by_key(|&i| sends[i].message.conversation_id);
    let groups: Vec<&[usize]> = order
        .chunk_by(|&a, &b| sends[a].message.conversation_id == sends[b].message.conversation_id)
        .collect();
    let mut takes = Vec::with_capacity(groups.len());
    for group in &groups {
        takes.push(NumbersToTake {
            conversation: sends[group[0]].message.conversation_id.as_uuid(),
            count: i64::try_from(group.len())
                .map_err(|_| StoreError::Corrupt("a send batch beyond counting".into()))?,
            newest: sends[group[group.len() - 1]].message.created_at,
        });
    }
    // Takes each conversation's row lock until commit, and its next numbers.
    let taken: HashMap<Uuid, NumbersTaken> = DB::take_conversation_numbers(tx, &takes)
        .await?
        .into_iter()
        .map(|taken| (taken.conversation, taken))
        .collect();
    let mut numbered: Vec<(usize, i64)> = Vec::with_capacity(sends.len());
    for (group, take) in groups.iter().zip(&takes) {
        // No such conversation: its sends are answered so, storing nothing.
        let Some(&NumbersTaken {
            last,
            last_notice_at,
            ..
        }) = taken.get(&take.conversation)
        else {
            continue;
        };
        let notice_due = group.iter().any(|&i| {
            sends[i].notice.as_ref().is_some_and(|request| {
                last_notice_at.is_none_or(|noticed| noticed <= request.unless_noticed_since)
            })
        });
        if notice_due {
            return Ok(None);
        }
        numbered.extend(
            (last - take.count + 1..)
                .zip(group.iter())
                .map(|(seq, &i)| (i, seq)),
        );
    }
    for chunk in numbered.chunks(SEND_ROWS_PER_STATEMENT) {
        let mut insert = sqlx::QueryBuilder::<DB>::new(
            "INSERT INTO messages (id, conversation_id, seq, sender_id, client_id, kind, body, \
             notice, created_at) ",
        );
        insert.push_values(chunk, |mut row, &(i, seq)| {
            let message = &sends[i].message;
            row.push_bind(message.id.as_uuid())
                .push_bind(message.conversation_id.as_uuid())
                .push_bind(seq)
                .push_bind(message.sender_id.as_uuid())
                .push_bind(message.client_id.as_uuid())
                .push("'text'")
                .push_bind(message.body.clone())
                .push("NULL")
                .push_bind(message.created_at);
        });
        // A repeat is stored by nobody: it shows as a row short.
        insert.push(" ON CONFLICT (sender_id, client_id) DO NOTHING");
        let stored = insert.build().execute(&mut **tx).await?.rows_affected();
        if usize::try_from(stored).ok() != Some(chunk.len()) {
            return Ok(None);
        }
    }
    let mut outcomes = vec![SendOutcome::UnknownConversation; sends.len()];
    for (i, seq) in numbered {
        outcomes[i] = SendOutcome::Created {
            message: sends[i].message.stored_as(seq),
            notice: None,
        };
    }
    Ok(Some(outcomes))
}

/// Messages stored by one statement of a quick send batch (nine columns, seven bound: well
/// inside both databases' limits on bound values).
const SEND_ROWS_PER_STATEMENT: usize = 256;

/// The batch stored one send at a time, in the transaction `tx`: each send takes its number
/// (and its notice's), and a repeat gives its number back and finds the message it repeats.
async fn store_each_send<DB>(tx: &mut Tx<DB>, sends: &[NewSend]) -> StoreResult<Vec<SendOutcome>>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    Uuid: Column<DB>,
    i64: Column<DB>,
    String: Column<DB>,
    DateTime<Utc>: Column<DB>,
    Json<OutOfHoursNotice>: Column<DB>,
    for<'a> Json<&'a OutOfHoursNotice>: Bind<DB>,
    usize: ColumnIndex<DB::Row>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
    // Conversations' rows are locked in id order, so two processes' batches never
    // wait on each other in a cycle; one conversation's sends keep their order.
    let mut order: Vec<usize> = (0..sends.len()).collect();
    order.sort_by_key(|&i| sends[i].message.conversation_id);
    let mut outcomes: Vec<Option<SendOutcome>> = vec![None; sends.len()];
    for i in order {
        let message = &sends[i].message;
        let conversation = message.conversation_id.as_uuid();
        // Takes the conversation's row lock until commit: numbers are given one at
        // a time.
        let taken: Option<(i64, Option<DateTime<Utc>>)> = sqlx::query_as(
            "UPDATE conversations SET last_seq = last_seq + 1, \
                 last_message_at = $2 WHERE id = $1 \
                 RETURNING last_seq, last_notice_at",
        )
        .bind(conversation)
        .bind(message.created_at)
        .fetch_optional(&mut **tx)
        .await?;
        let Some((seq, last_notice_at)) = taken else {
            outcomes[i] = Some(SendOutcome::UnknownConversation);
            continue;
        };
        // Stored unless the sender already has a message with this client id —
        // stored long ago, earlier in this batch, or by a racing send that this
        // insert waits for.
        let inserted: Option<(Uuid,)> = sqlx::query_as(
            "INSERT INTO messages (id, conversation_id, seq, sender_id, client_id, \
             kind, body, notice, created_at) \
             VALUES ($1, $2, $3, $4, $5, 'text', $6, NULL, $7) \
             ON CONFLICT (sender_id, client_id) DO NOTHING RETURNING id",
        )
        .bind(message.id.as_uuid())
        .bind(conversation)
        .bind(seq)
        .bind(message.sender_id.as_uuid())
        .bind(message.client_id.as_uuid())
        .bind(&message.body)
        .bind(message.created_at)
        .fetch_optional(&mut **tx)
        .await?;
        if inserted.is_none() {
            // Give the number back (it is the newest, and the row is still locked):
            // the order stays gap-free.
            sqlx::query("UPDATE conversations SET last_seq = last_seq - 1 WHERE id = $1")
                .bind(conversation)
                .execute(&mut **tx)
                .await?;
            let existing: MessageRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {} FROM messages WHERE sender_id = $1 AND client_id = $2",
                MESSAGE_COLUMNS
            )))
            .bind(message.sender_id.as_uuid())
            .bind(message.client_id.as_uuid())
            .fetch_one(&mut **tx)
            .await?;
            outcomes[i] = Some(SendOutcome::Existing(existing.try_into()?));
            continue;
        }
        let stored = message.stored_as(seq);
        let mut added_notice = None;
        if let Some(request) = &sends[i].notice
            && last_notice_at.is_none_or(|last| last <= request.unless_noticed_since)
        {
            let (notice_seq,): (i64,) = sqlx::query_as(
                "UPDATE conversations SET last_seq = last_seq + 1, \
                 last_notice_at = $2 WHERE id = $1 RETURNING last_seq",
            )
            .bind(conversation)
            .bind(message.created_at)
            .fetch_one(&mut **tx)
            .await?;
            sqlx::query(
                "INSERT INTO messages (id, conversation_id, seq, sender_id, \
                 client_id, kind, body, notice, created_at) \
                 VALUES ($1, $2, $3, NULL, NULL, 'out_of_hours_notice', $4, $5, $6)",
            )
            .bind(request.id.as_uuid())
            .bind(conversation)
            .bind(notice_seq)
            .bind(&request.notice.text)
            .bind(Json(&request.notice))
            .bind(message.created_at)
            .execute(&mut **tx)
            .await?;
            added_notice = Some(MessageRecord {
                id: request.id,
                conversation_id: message.conversation_id,
                seq: notice_seq,
                sender_id: None,
                client_id: None,
                content: MessageContent::OutOfHoursNotice(request.notice.clone()),
                created_at: message.created_at,
            });
        }
        outcomes[i] = Some(SendOutcome::Created {
            message: stored,
            notice: added_notice,
        });
    }
    outcomes
        .into_iter()
        .map(|o| o.ok_or_else(|| StoreError::Corrupt("a send without an outcome".into())))
        .collect()
}

#[async_trait::async_trait]
impl<DB> MessageStore for SqlStore<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> &'a str: Bind<DB>,
    Uuid: Column<DB>,
    Option<Uuid>: Bind<DB>,
    DateTime<Utc>: Column<DB>,
    String: Column<DB>,
    Option<String>: Bind<DB>,
    i64: Column<DB>,
    bool: Column<DB>,
    Vec<u8>: Column<DB>,
    for<'a> &'a [u8]: Bind<DB>,
    Option<DateTime<Utc>>: Bind<DB>,
    Json<OutOfHoursNotice>: Column<DB>,
    Json<Vec<WorkingSpan>>: Column<DB>,
    for<'a> Json<&'a OutOfHoursNotice>: Bind<DB>,
    for<'a> Json<&'a Vec<WorkingSpan>>: Bind<DB>,
    for<'a> Json<&'a serde_json::Value>: Bind<DB>,
    usize: ColumnIndex<DB::Row>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
    async fn ensure_conversation(
        &self,
        key: ConversationKey,
        at: DateTime<Utc>,
    ) -> StoreResult<ConversationRecord> {
        if let Some(found) = self.find_conversation(key).await? {
            return Ok(found);
        }
        let (kind, person, carer) = key.parts();
        // Two first opens may race; the unique indexes keep one and the other reads it.
        sqlx::query(
            "INSERT INTO conversations (id, kind, person_id, carer_id, last_seq, created_at) \
             VALUES ($1, $2, $3, $4, 0, $5) ON CONFLICT DO NOTHING",
        )
        .bind(ConversationId::new().as_uuid())
        .bind(kind.as_str())
        .bind(person.as_uuid())
        .bind(carer.map(|c| c.as_uuid()))
        .bind(at)
        .execute(self.lone_write().await?.pool())
        .await?;
        self.find_conversation(key)
            .await?
            .ok_or(StoreError::MissingReference)
    }

    async fn open_missing_conversations(
        &self,
        scope: ConversationScope,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let missing: Vec<ConversationKey> = match scope {
            ConversationScope::OwnAsPerson(person) => {
                let kinds: Vec<(String,)> = sqlx::query_as(
                    "SELECT 'peer' FROM peer_allocations a WHERE a.person_id = $1 \
                     AND NOT EXISTS (SELECT 1 FROM conversations c WHERE c.person_id = $1 \
                                     AND c.kind = 'peer' AND c.carer_id IS NULL) \
                     UNION ALL \
                     SELECT 'team' FROM caseloads cl WHERE cl.person_id = $1 \
                     AND NOT EXISTS (SELECT 1 FROM conversations c WHERE c.person_id = $1 \
                                     AND c.kind = 'team' AND c.carer_id IS NULL)",
                )
                .bind(person.as_uuid())
                .fetch_all(&self.db)
                .await?;
                kinds
                    .into_iter()
                    .map(|(kind,)| {
                        if kind == "peer" {
                            ConversationKey::Peer(person)
                        } else {
                            ConversationKey::Team(person)
                        }
                    })
                    .collect()
            }
            ConversationScope::AllocatedTo(peer) => {
                let people: Vec<(Uuid,)> = sqlx::query_as(
                    "SELECT a.person_id FROM peer_allocations a WHERE a.peer_worker_id = $1 \
                     AND EXISTS (SELECT 1 FROM users u WHERE u.person_id = a.person_id) \
                     AND NOT EXISTS (SELECT 1 FROM conversations c \
                                     WHERE c.person_id = a.person_id AND c.kind = 'peer' \
                                     AND c.carer_id IS NULL)",
                )
                .bind(peer.as_uuid())
                .fetch_all(&self.db)
                .await?;
                people
                    .into_iter()
                    .map(|(person,)| ConversationKey::Peer(person.into()))
                    .collect()
            }
            ConversationScope::Carer(carer) => {
                let people: Vec<(Uuid,)> = sqlx::query_as(
                    "SELECT l.person_id FROM carer_links l \
                     JOIN caseloads cl ON cl.person_id = l.person_id \
                     WHERE l.carer_id = $1 \
                     AND EXISTS (SELECT 1 FROM consents k WHERE k.person_id = l.person_id \
                                 AND k.grantee_id = $1 AND k.grantee_role = 'carer' AND k.revoked_at IS NULL \
                                 AND (k.expires_at IS NULL OR k.expires_at > $2)) \
                     AND NOT EXISTS (SELECT 1 FROM conversations c \
                                     WHERE c.carer_id = $1 AND c.person_id = l.person_id)",
                )
                .bind(carer.as_uuid())
                .bind(at)
                .fetch_all(&self.db)
                .await?;
                people
                    .into_iter()
                    .map(|(person,)| ConversationKey::Carer {
                        person: person.into(),
                        carer,
                    })
                    .collect()
            }
            ConversationScope::TeamInbox(_) | ConversationScope::AboutPerson(_) => Vec::new(),
        };
        for key in missing {
            self.ensure_conversation(key, at).await?;
        }
        Ok(())
    }

    async fn conversation(&self, id: ConversationId) -> StoreResult<Option<ConversationContext>> {
        let row: Option<ContextRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{} WHERE c.id = $1",
            CONTEXT_SELECT
        )))
        .bind(id.as_uuid())
        .fetch_optional(&self.db)
        .await?;
        row.map(TryInto::try_into).transpose()
    }

    async fn conversations(
        &self,
        viewer: UserId,
        scope: ConversationScope,
        at: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<ConversationSummary>> {
        let (condition, id, needs_time) = scope_condition(scope);
        let sql = format!(
            "SELECT q.*, COALESCE(r.read_seq, 0) AS read_seq, \
             (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = q.id \
              AND m.seq > COALESCE(r.read_seq, 0) \
              AND (m.sender_id IS NULL OR m.sender_id <> $1)) AS unread_count, \
             (SELECT COALESCE(MAX(o.delivered_seq), 0) FROM conversation_cursors o \
              WHERE o.conversation_id = q.id AND o.user_id <> $1) AS others_delivered_seq, \
             (SELECT COALESCE(MAX(o.read_seq), 0) FROM conversation_cursors o \
              WHERE o.conversation_id = q.id AND o.user_id <> $1) AS others_read_seq \
             FROM ({} WHERE {condition}) q \
             LEFT JOIN conversation_cursors r ON r.conversation_id = q.id AND r.user_id = $1 \
             ORDER BY COALESCE(q.last_message_at, q.created_at) DESC, q.id LIMIT $3",
            CONTEXT_SELECT
        );
        let mut query = sqlx::query_as::<_, SummaryRow>(sqlx::AssertSqlSafe(sql))
            .bind(viewer.as_uuid())
            .bind(id)
            .bind(limit);
        if needs_time {
            query = query.bind(at);
        }
        let rows = query.fetch_all(&self.db).await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn send_messages(&self, sends: &[NewSend]) -> StoreResult<Vec<SendOutcome>> {
        let mut tx = begin_write(self).await?;
        let outcomes = match store_new_sends(&mut tx, sends).await? {
            Some(outcomes) => outcomes,
            None => {
                // A repeat or a notice due: nothing of the quick way is kept.
                tx.rollback().await?;
                tx = begin_write(self).await?;
                store_each_send(&mut tx, sends).await?
            }
        };
        // In the order of `sends`, message before notice: a conversation's events follow its
        // numbers.
        let mut events = Vec::new();
        for (send, outcome) in sends.iter().zip(&outcomes) {
            if let SendOutcome::Created { message, notice } = outcome {
                for stored in std::iter::once(message).chain(notice) {
                    let event = Event::MessageCreated(MessageCreatedData {
                        conversation_id: stored.conversation_id,
                        message_id: stored.id,
                        seq: stored.seq,
                    });
                    events.extend(send.audience.tell(&event, send.message.created_at));
                }
            }
        }
        // Every send's access, whatever its outcome, after the events (one statement on
        // Postgres). The chain's lock is taken last, after the conversations' rows and the
        // recipients' event locks, and held only through the commit: a write holding it never
        // waits for another lock (no cycle), and the deployment's audited reads wait for a
        // send's commit, never for the rest of it.
        let accesses: Vec<&NewAuditEntry> = sends
            .iter()
            .filter_map(|send| send.access.as_ref())
            .collect();
        append_then_audit_in_tx(&mut tx, &events, &accesses).await?;
        tx.commit().await?;
        Ok(outcomes)
    }

    async fn messages_after(
        &self,
        conversation: ConversationId,
        after_seq: i64,
        limit: i64,
    ) -> StoreResult<MessagesAfter> {
        let rows: Vec<MessagePartRow> = self
            .fetch_rows(
                &MESSAGES_AFTER,
                &[
                    Param::Id(conversation.as_uuid()),
                    Param::Int(after_seq),
                    Param::Int(limit),
                ],
            )
            .await?;
        let mut page = MessagesAfter::default();
        for row in rows {
            row.file_into(&mut page)?;
        }
        // In order here rather than by a sort round the `UNION ALL`: the rows come in order as
        // a rule, which this finds in one pass.
        page.messages.sort_by_key(|message| message.seq);
        Ok(page)
    }

    async fn message(&self, id: MessageId) -> StoreResult<Option<MessageRecord>> {
        let row: Option<MessageRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM messages WHERE id = $1",
            MESSAGE_COLUMNS
        )))
        .bind(id.as_uuid())
        .fetch_optional(&self.db)
        .await?;
        row.map(TryInto::try_into).transpose()
    }

    async fn cursors(&self, conversation: ConversationId) -> StoreResult<Vec<CursorRecord>> {
        let rows: Vec<ConversationCursorRow> = self
            .fetch_rows(
                "SELECT user_id, delivered_seq, read_seq FROM conversation_cursors \
                 WHERE conversation_id = $1",
                &[Param::Id(conversation.as_uuid())],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| CursorRecord {
                user_id: row.user_id.into(),
                cursor: Cursor {
                    delivered_seq: row.delivered_seq,
                    read_seq: row.read_seq,
                },
            })
            .collect())
    }

    async fn advance_cursor(
        &self,
        conversation: ConversationId,
        user: UserId,
        to: Cursor,
        at: DateTime<Utc>,
        audience: &Audience,
    ) -> StoreResult<(Cursor, Cursor)> {
        use Cursor;
        let mut tx = begin_write(self).await?;
        let before: Option<(i64, i64)> = sqlx::query_as(
            "SELECT delivered_seq, read_seq FROM conversation_cursors \
             WHERE conversation_id = $1 AND user_id = $2",
        )
        .bind(conversation.as_uuid())
        .bind(user.as_uuid())
        .fetch_optional(&mut *tx)
        .await?;
        let before = before
            .map(|(delivered_seq, read_seq)| Cursor {
                delivered_seq,
                read_seq,
            })
            .unwrap_or_default();
        let read_seq = before.read_seq.max(to.read_seq);
        let after = Cursor {
            read_seq,
            // What was read was delivered.
            delivered_seq: before.delivered_seq.max(to.delivered_seq).max(read_seq),
        };
        if after == before {
            return Ok((before, after));
        }
        // The upsert keeps the larger values, should a concurrent update have moved them.
        let (delivered_seq, read_seq): (i64, i64) = sqlx::query_as(
            "INSERT INTO conversation_cursors (conversation_id, user_id, delivered_seq, \
             read_seq, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (conversation_id, user_id) DO UPDATE SET \
             delivered_seq = CASE WHEN excluded.delivered_seq > conversation_cursors.delivered_seq \
                             THEN excluded.delivered_seq ELSE conversation_cursors.delivered_seq END, \
             read_seq = CASE WHEN excluded.read_seq > conversation_cursors.read_seq \
                        THEN excluded.read_seq ELSE conversation_cursors.read_seq END, \
             updated_at = excluded.updated_at \
             RETURNING delivered_seq, read_seq",
        )
        .bind(conversation.as_uuid())
        .bind(user.as_uuid())
        .bind(after.delivered_seq)
        .bind(after.read_seq)
        .bind(at)
        .fetch_one(&mut *tx)
        .await?;
        let receipt = |up_to_seq| MessageReceiptData {
            conversation_id: conversation,
            up_to_seq,
            user_id: user,
        };
        let moved = if read_seq > before.read_seq {
            Some(Event::MessagesRead(receipt(read_seq)))
        } else if delivered_seq > before.delivered_seq {
            Some(Event::MessagesDelivered(receipt(delivered_seq)))
        } else {
            None
        };
        if let Some(event) = moved {
            append_in_tx(&mut tx, &audience.tell(&event, at)).await?;
        }
        tx.commit().await?;
        Ok((
            before,
            Cursor {
                delivered_seq,
                read_seq,
            },
        ))
    }

    async fn unread_count(
        &self,
        conversation: ConversationId,
        user: UserId,
        read_seq: i64,
    ) -> StoreResult<i64> {
        let (count,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM messages WHERE conversation_id = $1 AND seq > $2 \
             AND (sender_id IS NULL OR sender_id <> $3)",
        )
        .bind(conversation.as_uuid())
        .bind(read_seq)
        .bind(user.as_uuid())
        .fetch_one(&self.db)
        .await?;
        Ok(count)
    }

    async fn conversation_participants(
        &self,
        conversation: &ConversationRecord,
    ) -> StoreResult<Vec<UserId>> {
        use ConversationKind;
        let person = conversation.person_id.as_uuid();
        let mut participants: Vec<UserId> = Vec::new();
        let others: Vec<(Uuid,)> = match (conversation.kind, conversation.carer_id) {
            (ConversationKind::Peer, _) => {
                sqlx::query_as(
                    "SELECT id FROM users WHERE person_id = $1 \
                     UNION SELECT peer_worker_id FROM peer_allocations WHERE person_id = $1",
                )
                .bind(person)
                .fetch_all(&self.db)
                .await?
            }
            (ConversationKind::Team, carer) => {
                if let Some(carer) = carer {
                    participants.push(carer);
                }
                sqlx::query_as(
                    "SELECT u.id FROM caseloads cl \
                     JOIN team_members m ON m.team_id = cl.team_id \
                     JOIN users u ON u.id = m.user_id \
                     WHERE cl.person_id = $1 AND u.role = 'practitioner' \
                     UNION SELECT id FROM users WHERE person_id = $1 AND $2",
                )
                .bind(person)
                .bind(carer.is_none())
                .fetch_all(&self.db)
                .await?
            }
        };
        participants.extend(others.into_iter().map(|(id,)| UserId::from(id)));
        participants.sort();
        participants.dedup();
        Ok(participants)
    }

    async fn team_practitioners(&self, person: PersonId) -> StoreResult<Vec<UserId>> {
        let rows: Vec<(Uuid,)> = sqlx::query_as(
            "SELECT u.id FROM caseloads cl JOIN team_members m ON m.team_id = cl.team_id \
             JOIN users u ON u.id = m.user_id \
             WHERE cl.person_id = $1 AND u.role = 'practitioner' ORDER BY u.id",
        )
        .bind(person.as_uuid())
        .fetch_all(&self.db)
        .await?;
        Ok(rows.into_iter().map(|(id,)| id.into()).collect())
    }

    async fn report_message(
        &self,
        report: &MessageReportRecord,
        announce: &[NewEvent],
    ) -> StoreResult<(MessageReportRecord, bool)> {
        let mut tx = begin_write(self).await?;
        let done = sqlx::query(
            "INSERT INTO message_reports (id, message_id, reporter_id, reason, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (message_id, reporter_id) DO NOTHING",
        )
        .bind(report.id.as_uuid())
        .bind(report.message_id.as_uuid())
        .bind(report.reporter_id.as_uuid())
        .bind(report.reason.clone())
        .bind(report.created_at)
        .execute(&mut *tx)
        .await?;
        let row: ReportRow = sqlx::query_as(
            "SELECT id, message_id, reporter_id, reason, created_at FROM message_reports \
             WHERE message_id = $1 AND reporter_id = $2",
        )
        .bind(report.message_id.as_uuid())
        .bind(report.reporter_id.as_uuid())
        .fetch_one(&mut *tx)
        .await?;
        let created = done.rows_affected() == 1;
        if created {
            append_in_tx(&mut tx, announce).await?;
        }
        tx.commit().await?;
        Ok((row.into(), created))
    }

    async fn availability(&self, user: UserId) -> StoreResult<Option<Availability>> {
        let row: Option<(Json<Vec<WorkingSpan>>, bool)> =
            sqlx::query_as("SELECT weekly_hours, away FROM peer_availability WHERE user_id = $1")
                .bind(user.as_uuid())
                .fetch_optional(&self.db)
                .await?;
        Ok(row.map(|(hours, away)| Availability {
            weekly_hours: hours.0,
            away,
        }))
    }

    async fn set_availability(
        &self,
        user: UserId,
        availability: &Availability,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        sqlx::query(
            "INSERT INTO peer_availability (user_id, weekly_hours, away, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (user_id) DO UPDATE SET \
             weekly_hours = excluded.weekly_hours, away = excluded.away, \
             updated_at = excluded.updated_at",
        )
        .bind(user.as_uuid())
        .bind(Json(&availability.weekly_hours))
        .bind(availability.away)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
