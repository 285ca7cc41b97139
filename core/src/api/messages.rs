//! Messaging: conversations, messages, read receipts, reports and a peer worker's hours.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{FieldError, Validate, collect_errors};
use crate::domain::FieldErrorCode;
use crate::domain::message::{
    Availability, ClientMessageId, ConversationId, ConversationKind, MessageContent, MessageId,
    MessageReportId, MessageState, WorkingSpan, check_body,
};
use crate::domain::text::{self, SHORT_TEXT_MAX};
use crate::domain::{PersonId, TeamId, UserId};

/// How the caller takes part in a conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ConversationRole {
    /// Writes and reads: the person, their peer worker, a carer, or the team answering its inbox.
    Participant,
    /// Reads only, as the person's team: recorded and shown in the person's access log.
    Oversight,
}

/// One conversation, as the caller sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConversationView {
    pub id: ConversationId,
    pub kind: ConversationKind,
    /// The person the conversation is about.
    pub person_id: PersonId,
    /// For a carer's own conversation with the team: the carer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carer_id: Option<UserId>,
    /// For a peer conversation: the peer worker allocated now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_worker_id: Option<UserId>,
    /// For a team conversation: the team whose caseload the person is on now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<TeamId>,
    /// For a peer conversation: whether the worker is working now (not away, within hours).
    /// When not, a message gets an automatic notice with crisis lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_worker_available: Option<bool>,
    pub role: ConversationRole,
    /// The newest message's number (0 when there is none).
    pub last_seq: i64,
    /// How far the caller has read.
    pub read_seq: i64,
    /// Messages after `read_seq` that the caller did not write.
    pub unread_count: i64,
    /// How far the others in the conversation have fetched it, whoever has got furthest: the
    /// caller's own messages up to this number are delivered.
    pub others_delivered_seq: i64,
    /// How far the others have read it: the caller's own messages up to this number are read.
    pub others_read_seq: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConversationList {
    /// Newest activity first.
    pub conversations: Vec<ConversationView>,
}

/// One message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageView {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    /// Its place in the conversation: 1, 2, 3… without gaps.
    pub seq: i64,
    /// Who wrote it; absent for a notice the service wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_id: Option<UserId>,
    /// The id the sender's device gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<ClientMessageId>,
    pub sent_at: DateTime<Utc>,
    /// How far it has got with the others in the conversation.
    pub state: MessageState,
    pub content: MessageContent,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessagePage {
    /// Oldest first.
    pub messages: Vec<MessageView>,
    /// The conversation's newest message number when read.
    pub last_seq: i64,
    /// Pass as `cursor` for the next page; absent when this page reached the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A new message. Send again with the same `client_id` until the server answers: the message
/// is stored once.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SendMessageRequest {
    /// Made by the device before its first attempt; the same on every retry.
    pub client_id: ClientMessageId,
    /// At most 4,000 characters (Unicode scalar values).
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 4000))]
    pub body: String,
}

debug_without_secrets!(SendMessageRequest, client_id);

impl Validate for SendMessageRequest {
    fn field_errors(&self) -> Vec<FieldError> {
        collect_errors([check_body("body", &self.body)])
    }
}

/// Marks the conversation read up to and including `up_to_seq`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MarkReadRequest {
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub up_to_seq: i64,
}

impl Validate for MarkReadRequest {
    fn field_errors(&self) -> Vec<FieldError> {
        if self.up_to_seq < 0 {
            vec![FieldError::new("up_to_seq", FieldErrorCode::OutOfRange)]
        } else {
            Vec::new()
        }
    }
}

/// The caller's place in a conversation after marking it read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReadStateView {
    pub conversation_id: ConversationId,
    pub read_seq: i64,
    pub unread_count: i64,
}

/// Reports a message to the team, e.g. one that worried or upset the reader.
#[derive(Clone, Default, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReportMessageRequest {
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub reason: Option<String>,
}

debug_without_secrets!(ReportMessageRequest);

impl Validate for ReportMessageRequest {
    fn field_errors(&self) -> Vec<FieldError> {
        match &self.reason {
            Some(reason) => collect_errors([text::check_text("reason", reason, SHORT_TEXT_MAX)]),
            None => Vec::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageReportView {
    pub id: MessageReportId,
    pub message_id: MessageId,
    pub conversation_id: ConversationId,
    pub reported_at: DateTime<Utc>,
}

/// A peer worker's hours and away status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AvailabilityView {
    /// The weekly pattern, in Europe/London wall-clock time.
    pub weekly_hours: Vec<WorkingSpan>,
    pub away: bool,
    /// Whether a message sent now would be answered without an out-of-hours notice.
    pub available_now: bool,
    /// When the hours next start (absent when away).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_start_at: Option<DateTime<Utc>>,
}

/// Sets the caller's (a peer worker's) hours and away status.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SetAvailabilityRequest {
    #[cfg_attr(feature = "openapi", schema(max_items = 50))]
    pub weekly_hours: Vec<WorkingSpan>,
    pub away: bool,
}

impl SetAvailabilityRequest {
    pub fn into_availability(self) -> Availability {
        Availability {
            weekly_hours: self.weekly_hours,
            away: self.away,
        }
    }
}

impl Validate for SetAvailabilityRequest {
    fn field_errors(&self) -> Vec<FieldError> {
        Availability {
            weekly_hours: self.weekly_hours.clone(),
            away: self.away,
        }
        .field_errors()
    }
}

/// The query of `ConversationQuery`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct ConversationQuery {
    /// Every conversation about this person that the caller may see — for the person's team,
    /// the oversight view (audited, and shown in the person's access log).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_id: Option<PersonId>,
}

/// The query of `MessageQuery`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct MessageQuery {
    /// From `next_cursor` of the previous page (default: from the first message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// The older name for a cursor: only messages numbered after this. Not with `cursor`.
    #[cfg_attr(feature = "openapi", param(minimum = 0))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_seq: Option<i64>,
    /// At most this many (default 50).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 200))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_send_request_refuses_unknown_fields_and_blank_bodies() {
        let unknown = serde_json::from_str::<SendMessageRequest>(
            r#"{"client_id":"0192f0c4-6a3e-7b1c-9d2e-3f4a5b6c7d8e","body":"hi","extra":1}"#,
        );
        assert!(unknown.is_err());
        let blank: SendMessageRequest = serde_json::from_str(
            r#"{"client_id":"0192f0c4-6a3e-7b1c-9d2e-3f4a5b6c7d8e","body":"   "}"#,
        )
        .expect("well-formed");
        assert_eq!(
            blank.field_errors(),
            vec![FieldError::new("body", FieldErrorCode::Required)]
        );
    }

    #[test]
    fn debug_of_a_send_request_leaves_out_the_body() {
        let request = SendMessageRequest {
            client_id: ClientMessageId::new(),
            body: "something private".into(),
        };
        assert!(!format!("{request:?}").contains("private"));
    }
}
