//! A conversation as the person sees it: the messages the store holds, then their own messages
//! still in the outbox.
//!
//! Policy:
//! - **A message shows the moment it is written.** The queued write is the local copy: the
//!   person sees it, in order after what the server has, as `queued` (or waiting, with the
//!   outbox's reason) until the server stores it. When it does, the server's answer replaces
//!   the queued write in one transaction, so a message is never shown twice or not at all.
//! - **Its state follows the others.** The person's own messages are `sent`, then `delivered`
//!   and `read` as far as the conversation's record says the others have fetched and read it
//!   (it comes with every sync); others' messages are shown as they arrived.
//! - Nothing here reaches the network.

use chrono::{DateTime, Utc};
use livingwell_core::api::messages::{ConversationView, MessageView, SendMessageRequest};
use livingwell_core::api::routes;
use livingwell_core::api::sync::{SyncKind, SyncRecord};
use livingwell_core::domain::message::{
    ClientMessageId, ConversationId, MessageContent, MessageId, MessageState,
};
use livingwell_core::domain::{PersonId, UserId};

use crate::store::{QueuedWrite, WriteState};

/// One message as the conversation screen shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShownMessage {
    /// The server's id, once it has stored the message.
    pub id: Option<MessageId>,
    /// The id the writer's device gave it.
    pub client_id: Option<ClientMessageId>,
    /// Its place in the conversation, once stored.
    pub seq: Option<i64>,
    /// Who wrote it; absent for a notice the service wrote.
    pub sender_id: Option<UserId>,
    /// Whether the signed-in person wrote it.
    pub mine: bool,
    /// When the server stored it, or when it was written on this device if not yet.
    pub at: DateTime<Utc>,
    pub content: MessageContent,
    pub state: MessageState,
    /// For a message still in the outbox: its write (to retry, edit or discard) and where it
    /// stands.
    pub queued: Option<(i64, WriteState)>,
}

/// The messages of a conversation the store holds (in order), then the person's own still
/// queued.
pub(crate) fn shown(
    me: UserId,
    conversation: Option<&ConversationView>,
    held: Vec<MessageView>,
    queued: &[QueuedWrite],
    conversation_id: ConversationId,
) -> Vec<ShownMessage> {
    let (delivered, read) = conversation
        .map(|c| (c.others_delivered_seq, c.others_read_seq))
        .unwrap_or((0, 0));
    let mut shown: Vec<ShownMessage> = held
        .into_iter()
        .map(|message| {
            let mine = message.sender_id == Some(me);
            ShownMessage {
                id: Some(message.id),
                client_id: message.client_id,
                seq: Some(message.seq),
                sender_id: message.sender_id,
                mine,
                at: message.sent_at,
                state: if mine {
                    // The state as the message arrived may be older than the conversation's.
                    message
                        .state
                        .max(MessageState::of(message.seq, delivered, read))
                } else {
                    message.state
                },
                content: message.content,
                queued: None,
            }
        })
        .collect();
    let held_ids: std::collections::HashSet<ClientMessageId> =
        shown.iter().filter_map(|m| m.client_id).collect();
    shown.extend(
        queued_sends(queued, conversation_id)
            .filter(|(_, request)| !held_ids.contains(&request.client_id))
            .map(|(write, request)| ShownMessage {
                id: None,
                client_id: Some(request.client_id),
                seq: None,
                sender_id: Some(me),
                mine: true,
                at: write.created_at,
                content: MessageContent::Text { body: request.body },
                state: MessageState::Queued,
                queued: Some((write.id, write.state.clone())),
            }),
    );
    shown
}

/// The messages queued to `conversation`, oldest first, with what each will send.
fn queued_sends(
    queued: &[QueuedWrite],
    conversation: ConversationId,
) -> impl Iterator<Item = (&QueuedWrite, SendMessageRequest)> {
    let id = conversation.to_string();
    queued.iter().filter_map(move |write| {
        if sent_to(write) != Some(id.as_str()) {
            return None;
        }
        let body = write.request.body.clone()?;
        let request = serde_json::from_value(body).ok()?;
        Some((write, request))
    })
}

/// The conversation `write` sends a message to, if it is a message.
pub(crate) fn sent_to(write: &QueuedWrite) -> Option<&str> {
    let id = write
        .queue
        .strip_prefix(SyncKind::Conversation.to_string().as_str())?
        .strip_prefix(':')?;
    (write.request.method == routes::SEND_MESSAGE.method.as_str()
        && write.request.path == routes::SEND_MESSAGE.path(&[id]))
    .then_some(id)
}

/// What the store keeps of the server's answer to `write`: a message it stored, so the
/// message shows as sent before the next sync. Other writes' answers are left to the sync.
pub(crate) fn answered_records(
    write: &QueuedWrite,
    answer: serde_json::Value,
    person: Option<PersonId>,
) -> Vec<SyncRecord> {
    if sent_to(write).is_none() {
        return Vec::new();
    }
    let Ok(message) = serde_json::from_value::<MessageView>(answer.clone()) else {
        return Vec::new();
    };
    vec![SyncRecord {
        kind: SyncKind::Message,
        id: message.id.to_string(),
        person_id: person,
        // Messages are never compared by version: the feed brings each once, in order.
        version: String::new(),
        data: answer,
    }]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::{WriteRequest, outbox_queue};

    const ME: &str = "00000000-0000-7000-8000-000000000001";
    const JO: &str = "00000000-0000-7000-8000-000000000002";
    const CONVERSATION: &str = "00000000-0000-7000-8000-0000000000c0";

    fn message(seq: i64, sender: &str, state: &str, client_id: &str) -> MessageView {
        serde_json::from_value(json!({
            "id": format!("00000000-0000-7000-8000-{seq:012}"),
            "conversation_id": CONVERSATION,
            "seq": seq,
            "sender_id": sender,
            "client_id": client_id,
            "sent_at": "2026-12-03T09:00:00Z",
            "state": state,
            "content": {"kind": "text", "body": format!("message {seq}")},
        }))
        .unwrap()
    }

    fn conversation(delivered: i64, read: i64) -> ConversationView {
        serde_json::from_value(json!({
            "id": CONVERSATION,
            "kind": "peer",
            "person_id": "00000000-0000-7000-8000-0000000000a1",
            "role": "participant",
            "last_seq": 3,
            "read_seq": 3,
            "unread_count": 0,
            "others_delivered_seq": delivered,
            "others_read_seq": read,
        }))
        .unwrap()
    }

    fn queued(id: i64, client_id: &str, body: &str) -> QueuedWrite {
        QueuedWrite {
            id,
            queue: outbox_queue(SyncKind::Conversation, CONVERSATION),
            idempotency_key: client_id.to_owned(),
            request: WriteRequest {
                method: "POST".into(),
                path: routes::SEND_MESSAGE.path(&[CONVERSATION]),
                body: Some(json!({"client_id": client_id, "body": body})),
            },
            state: WriteState::Queued,
            attempts: 0,
            not_before: DateTime::UNIX_EPOCH,
            priority: 0,
            created_at: DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn own_messages_follow_the_others_and_queued_ones_follow_the_held_once() {
        let me: UserId = ME.parse().unwrap();
        let conversation_id: ConversationId = CONVERSATION.parse().unwrap();
        let held = vec![
            message(1, ME, "sent", "00000000-0000-7000-8000-00000000c001"),
            message(2, JO, "sent", "00000000-0000-7000-8000-00000000c002"),
            message(3, ME, "sent", "00000000-0000-7000-8000-00000000c003"),
        ];
        let outbox = vec![
            // Sent, and brought by a sync before its write left the outbox: shown once.
            queued(7, "00000000-0000-7000-8000-00000000c003", "message 3"),
            queued(8, "00000000-0000-7000-8000-00000000c004", "not yet"),
        ];
        let shown = shown(
            me,
            Some(&conversation(3, 1)),
            held,
            &outbox,
            conversation_id,
        );
        let states: Vec<(Option<i64>, MessageState, bool)> =
            shown.iter().map(|m| (m.seq, m.state, m.mine)).collect();
        assert_eq!(
            states,
            vec![
                (Some(1), MessageState::Read, true),
                // jo's message keeps the state it arrived with.
                (Some(2), MessageState::Sent, false),
                (Some(3), MessageState::Delivered, true),
                (None, MessageState::Queued, true),
            ]
        );
        assert_eq!(shown[3].queued, Some((8, WriteState::Queued)));
    }

    #[test]
    fn only_a_message_sent_keeps_the_servers_answer() {
        let answer = serde_json::to_value(message(
            4,
            ME,
            "sent",
            "00000000-0000-7000-8000-00000000c004",
        ))
        .unwrap();
        let send = queued(8, "00000000-0000-7000-8000-00000000c004", "message 4");
        let kept = answered_records(&send, answer.clone(), None);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].kind, SyncKind::Message);
        let mut receipt = send.clone();
        receipt.request.path = routes::MARK_READ.path(&[CONVERSATION]);
        assert!(answered_records(&receipt, answer, None).is_empty());
    }
}
