//! Messaging: conversations and their messages from the store (the person's own still queued
//! shown at once), sending, read receipts, reporting a message, and a peer worker's hours.

use livingwell_core::api::messages::{
    AvailabilityView, ConversationView, ReportMessageRequest, SetAvailabilityRequest,
};
use livingwell_core::domain::PersonId;
use livingwell_core::domain::UserId;
use livingwell_core::domain::message::{
    ClientMessageId, ConversationId, MessageContent, MessageId, MessageState, WorkingSpan,
};

use crate::client::Client;
use crate::error::ClientError;
use crate::types::Timestamp;

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

#[uniffi::export(async_runtime = "tokio")]
impl Client {
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

    /// Rewrites a message still in the outbox (still sent once, as the same message).
    pub fn edit_queued_message(&self, outbox_id: i64, body: String) -> Result<(), ClientError> {
        Ok(self.engine.edit_message(outbox_id, &body)?)
    }

    /// Queues reporting a message to the team (abuse, a worry), with an optional reason.
    pub fn report_message(
        &self,
        conversation_id: ConversationId,
        message_id: MessageId,
        reason: Option<String>,
    ) -> Result<i64, ClientError> {
        Ok(self
            .engine
            .report_message(
                conversation_id,
                &message_id.to_string(),
                &ReportMessageRequest { reason },
            )?
            .id)
    }

    /// A peer worker's own hours and away status, from the server (needs the network).
    pub async fn working_hours(&self) -> Result<AvailabilityView, ClientError> {
        Ok(self.engine.working_hours().await?)
    }

    /// Queues a peer worker's new weekly hours (London time) and away status.
    pub fn set_working_hours(
        &self,
        weekly_hours: Vec<WorkingSpan>,
        away: bool,
    ) -> Result<i64, ClientError> {
        let request = SetAvailabilityRequest { weekly_hours, away };
        Ok(self.engine.set_working_hours(&request)?.id)
    }
}

#[uniffi::remote(Record)]
pub struct AvailabilityView {
    /// The weekly pattern, in Europe/London wall-clock time.
    pub weekly_hours: Vec<WorkingSpan>,
    pub away: bool,
    /// Whether a message sent now would be answered without an out-of-hours notice.
    pub available_now: bool,
    /// When the hours next start (absent when away).
    pub next_start_at: Option<Timestamp>,
}
