//! Messaging's service: every write to conversations (sends, delivery and read receipts,
//! reports, a peer worker's hours), the process's send writer, push notifications, the
//! per-sender send rate and the deployment's messaging settings.
//!
//! Guarantees:
//! - **Who hears of what.** A send and a read receipt are told to everyone taking part, the
//!   writer included (their other devices update); a delivery receipt to the others; a report
//!   to the person's team. Each event is stored in its write's transaction and announced after
//!   the commit.
//! - **One writer per process**, started with the service (by `AppState::new`, never lazily):
//!   sends are group-committed ([`queue`]), each durable with its `message_created` events
//!   before its sender is answered; live streams are told after the commit.
//! - **Pushes only for what is stored, and ids only.** A push goes to every other participant's
//!   devices once a send is stored for the first time — never for a repeat — in the
//!   background, so it never holds up or fails a send ([`super::push`]).
//! - **Crisis lines** appear in every out-of-hours notice; a UK default stands until the
//!   deployment names its own (`serve --crisis-line`).
//! - **Send rate** per sender is a token bucket (governor): a burst — a phone's outbox emptying
//!   after a tunnel — then one more per interval; beyond it 429 with `Retry-After`. Counts are
//!   per process, like sign-in throttling.
//!
//! Working hours are read against the application's one [`crate::clock::Clock`], so tests set
//! "23:00 in London" rather than depend on when the suite runs.

pub mod queue;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use livingwell_core::api::events::{Event, MessageCreatedData, MessageReportData};
use livingwell_core::api::messages::ConversationRole;
use livingwell_core::domain::message::{
    Availability, ClientMessageId, ConversationKind, CrisisLine, MessageId, MessageReportId,
    OutOfHoursNotice, default_crisis_lines, notice_quiet_since,
};
use livingwell_core::domain::{FieldErrorCode, PersonId, UserId};

use self::queue::SendQueue;
use super::push::{PushTarget, Pusher};
use super::{ServiceError, ServiceResult};
use crate::clock::Clock;
use crate::events::EventHub;
use crate::policy::Grounds;
use crate::store::events::{Audience, NewEvent};
use crate::store::messages::{
    ConversationContext, ConversationRecord, ConversationScope, ConversationSummary, Cursor,
    CursorRecord, MessageRecord, MessageReportRecord, NewMessage, NewSend, NoticeRequest,
    SendOutcome,
};
use crate::store::{NewAuditEntry, Store, StoreError, StoreResult};

/// Most conversations one list holds (a team inbox is the longest).
pub const CONVERSATION_LIST_MAX: i64 = 500;

/// A conversation opened to one caller, once the policy allowed it: what it is, on what
/// grounds the caller reaches it, and whether they take part or oversee.
#[derive(Debug)]
pub struct OpenConversation {
    pub context: ConversationContext,
    pub grounds: Grounds,
    pub role: ConversationRole,
}

impl OpenConversation {
    pub fn conversation(&self) -> &ConversationRecord {
        &self.context.conversation
    }

    /// The person an event about this conversation concerns; none for a carer's own.
    fn event_person(&self) -> Option<PersonId> {
        let conversation = self.conversation();
        conversation
            .carer_id
            .is_none()
            .then_some(conversation.person_id)
    }
}

/// The worker's hours as they stand: those they set, or office hours; a peer conversation
/// with nobody allocated counts as away.
pub fn worker_availability(context: &ConversationContext) -> Availability {
    match (context.peer_worker_id, &context.peer_availability) {
        (Some(_), Some(set)) => set.clone(),
        (Some(_), None) => Availability::office_hours(),
        (None, _) => Availability {
            weekly_hours: Vec::new(),
            away: true,
        },
    }
}

/// How many messages one sender may send: a burst, then one per `replenish_every`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendRate {
    pub burst: NonZeroU32,
    pub replenish_every: Duration,
}

impl Default for SendRate {
    fn default() -> Self {
        Self::per_minute(NonZeroU32::MIN.saturating_add(59))
    }
}

impl SendRate {
    /// `per_minute` sends a minute, sustained, with a burst of as many (`serve
    /// --message-rate-limit`).
    pub fn per_minute(per_minute: NonZeroU32) -> Self {
        Self {
            burst: per_minute,
            replenish_every: Duration::from_secs(60) / per_minute.get(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessagingSettings {
    /// Named in every out-of-hours notice.
    pub crisis_lines: Vec<CrisisLine>,
    /// `None`: no limit (a deployment measured against a peer with its limits off, say).
    pub send_rate: Option<SendRate>,
    pub push: PushTarget,
}

impl Default for MessagingSettings {
    fn default() -> Self {
        Self {
            crisis_lines: default_crisis_lines(),
            send_rate: Some(SendRate::default()),
            push: PushTarget::default(),
        }
    }
}

/// Above this many remembered senders, those with full buckets are forgotten.
const FORGET_ABOVE_SENDERS: usize = 10_000;

/// The messaging service: one per application state.
#[derive(Debug)]
pub struct Messaging {
    store: Arc<dyn Store>,
    events: EventHub,
    clock: Clock,
    crisis_lines: Vec<CrisisLine>,
    /// `None` when the deployment sets no limit.
    senders: Option<DefaultKeyedRateLimiter<UserId>>,
    rate_clock: DefaultClock,
    pusher: Pusher,
    /// The process's send writer (group commit).
    sends: SendQueue,
}

impl Messaging {
    /// The service, with its send writer running; the writer ends when the service is dropped.
    pub fn start(
        settings: &MessagingSettings,
        store: Arc<dyn Store>,
        events: EventHub,
        clock: Clock,
        pusher: Pusher,
    ) -> anyhow::Result<Self> {
        let senders = settings.send_rate.map(|rate| {
            let quota = Quota::with_period(rate.replenish_every)
                .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
                .allow_burst(rate.burst);
            RateLimiter::keyed(quota)
        });
        Ok(Self {
            crisis_lines: settings.crisis_lines.clone(),
            senders,
            rate_clock: DefaultClock::default(),
            pusher,
            sends: SendQueue::start(store.clone(), events.clone())?,
            store,
            events,
            clock,
        })
    }

    /// The deployment's crisis lines, as out-of-hours notices name them (the front door's
    /// answer names them too).
    pub fn crisis_lines(&self) -> &[CrisisLine] {
        &self.crisis_lines
    }

    /// Counts one send; `Err(wait)` when the sender must wait before the next.
    pub fn check_send(&self, sender: UserId) -> Result<(), Duration> {
        let Some(senders) = &self.senders else {
            return Ok(());
        };
        if senders.len() > FORGET_ABOVE_SENDERS {
            senders.retain_recent();
        }
        let now = self.rate_clock.now();
        senders
            .check_key(&sender)
            .map_err(|not_until| not_until.wait_time_from(now))
    }

    /// The conversations an account takes part in, opening those its role should have and
    /// does not yet (a new allocation, a new carer link).
    pub async fn own_conversations(
        &self,
        user: UserId,
        scope: ConversationScope,
    ) -> StoreResult<Vec<ConversationSummary>> {
        let now = self.clock.now();
        self.store.open_missing_conversations(scope, now).await?;
        self.store
            .conversations(user, scope, now, CONVERSATION_LIST_MAX)
            .await
    }

    /// Sends `body` to the conversation as `sender`, once per `client_id`: stored durably with
    /// its events (and an out-of-hours notice when due), or the message it repeats found, and
    /// `access` (the audit entry of the sender's access) in the same transaction either way.
    /// Everyone taking part hears of it, the sender included; a message stored now is pushed
    /// to every participant but its sender.
    pub async fn send(
        &self,
        sender: UserId,
        open: &OpenConversation,
        client_id: ClientMessageId,
        body: String,
        access: NewAuditEntry,
    ) -> ServiceResult<SendOutcome> {
        let now = self.clock.now();
        let audience = Audience {
            recipients: self.participants(&open.context).await?,
            person_id: open.event_person(),
        };
        let recipients = audience.recipients.clone();
        let send = NewSend {
            message: NewMessage {
                id: MessageId::new(),
                conversation_id: open.conversation().id,
                sender_id: sender,
                client_id,
                body,
                created_at: now,
            },
            notice: self.out_of_hours_notice(open, now),
            audience,
            access: Some(access),
        };
        let outcome = self.sends.send(send).await.map_err(|error| {
            if error.storage_full {
                ServiceError::Store(StoreError::StorageFull)
            } else {
                ServiceError::Unavailable
            }
        })?;
        if let SendOutcome::Created { message, .. } = &outcome {
            // Every participant's phone but the sender's wakes for it.
            let created = Event::MessageCreated(MessageCreatedData {
                conversation_id: message.conversation_id,
                message_id: message.id,
                seq: message.seq,
            });
            let others: Vec<NewEvent> = recipients
                .iter()
                .filter(|recipient| **recipient != sender)
                .map(|recipient| NewEvent {
                    recipient_id: Some(*recipient),
                    person_id: open.event_person(),
                    event: created.clone(),
                    created_at: now,
                })
                .collect();
            self.pusher.push(&others);
        }
        Ok(outcome)
    }

    /// The conversation's cursors (`cursors`, as read with the page) once the messages up to
    /// `newest` (the last of a page, if it holds any) have reached `reader`. A page that moves
    /// the reader's delivery cursor records it ([`Self::mark_delivered`]); a page read again
    /// moves nothing, so nothing is written.
    pub async fn cursors_after_delivery(
        &self,
        reader: UserId,
        open: &OpenConversation,
        mut cursors: Vec<CursorRecord>,
        newest: Option<i64>,
    ) -> StoreResult<Vec<CursorRecord>> {
        let own = cursors.iter().position(|c| c.user_id == reader);
        let delivered = own.map_or(0, |at| cursors[at].cursor.delivered_seq);
        let Some(newest) = newest.filter(|newest| *newest > delivered) else {
            return Ok(cursors);
        };
        if let Some(after) = self.mark_delivered(reader, open, newest).await? {
            match own {
                Some(at) => cursors[at].cursor = after,
                None => cursors.push(CursorRecord {
                    user_id: reader,
                    cursor: after,
                }),
            }
        }
        Ok(cursors)
    }

    /// Records that messages up to `newest` reached `reader`; the others taking part hear of
    /// it. Only participants: oversight moves no receipt (`None`). Returns the reader's cursor.
    async fn mark_delivered(
        &self,
        reader: UserId,
        open: &OpenConversation,
        newest: i64,
    ) -> StoreResult<Option<Cursor>> {
        if open.role != ConversationRole::Participant {
            return Ok(None);
        }
        let mut others = self.participants(&open.context).await?;
        others.retain(|p| *p != reader);
        let others = Audience {
            recipients: others,
            person_id: open.event_person(),
        };
        let cursor = Cursor {
            delivered_seq: newest,
            read_seq: 0,
        };
        Ok(Some(self.advance(reader, open, cursor, &others).await?))
    }

    /// Marks the conversation read by `reader` up to `up_to`; everyone hears of the receipt,
    /// the reader included (their other devices clear the badge). Returns the reader's cursor.
    pub async fn mark_read(
        &self,
        reader: UserId,
        open: &OpenConversation,
        up_to: i64,
    ) -> ServiceResult<Cursor> {
        if up_to > open.conversation().last_seq {
            return Err(ServiceError::invalid(
                "up_to_seq",
                FieldErrorCode::OutOfRange,
            ));
        }
        let everyone = Audience {
            recipients: self.participants(&open.context).await?,
            person_id: open.event_person(),
        };
        let cursor = Cursor {
            delivered_seq: up_to,
            read_seq: up_to,
        };
        Ok(self.advance(reader, open, cursor, &everyone).await?)
    }

    /// Moves `reader`'s cursor forward (never back); `told` hears of a receipt the store
    /// wrote. Returns the cursor as it now stands.
    async fn advance(
        &self,
        reader: UserId,
        open: &OpenConversation,
        cursor: Cursor,
        told: &Audience,
    ) -> StoreResult<Cursor> {
        let (before, after) = self
            .store
            .advance_cursor(
                open.conversation().id,
                reader,
                cursor,
                self.clock.now(),
                told,
            )
            .await?;
        if after != before {
            self.events.announce_committed();
        }
        Ok(after)
    }

    /// Reports a message to the person's team; reporting it again finds the first report.
    /// Returns the report and whether it was made now.
    pub async fn report(
        &self,
        reporter: UserId,
        message: &MessageRecord,
        open: &OpenConversation,
        reason: Option<String>,
    ) -> StoreResult<(MessageReportRecord, bool)> {
        let report = MessageReportRecord {
            id: MessageReportId::new(),
            message_id: message.id,
            reporter_id: reporter,
            reason,
            created_at: self.clock.now(),
        };
        let team = Audience {
            recipients: self
                .store
                .team_practitioners(open.conversation().person_id)
                .await?,
            person_id: open.event_person(),
        };
        let reported = Event::MessageReported(MessageReportData {
            conversation_id: message.conversation_id,
            message_id: message.id,
            report_id: report.id,
        });
        let (report, created) = self
            .store
            .report_message(&report, &team.tell(&reported, report.created_at))
            .await?;
        if created {
            self.events.announce_committed();
        }
        Ok((report, created))
    }

    /// Sets a peer worker's own hours and away status.
    pub async fn set_availability(
        &self,
        worker: UserId,
        availability: &Availability,
    ) -> StoreResult<()> {
        self.store
            .set_availability(worker, availability, self.clock.now())
            .await
    }

    /// The accounts taking part in the conversation now. A peer conversation's are in its
    /// context already (the person's account and the allocated worker); a team's are read.
    async fn participants(&self, context: &ConversationContext) -> StoreResult<Vec<UserId>> {
        if context.conversation.kind == ConversationKind::Peer {
            return Ok(context
                .person_account_id
                .into_iter()
                .chain(context.peer_worker_id)
                .collect());
        }
        self.store
            .conversation_participants(&context.conversation)
            .await
    }

    /// The notice to follow a person's message to a peer worker who is not there to answer.
    fn out_of_hours_notice(
        &self,
        open: &OpenConversation,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<NoticeRequest> {
        let conversation = open.conversation();
        if conversation.kind != ConversationKind::Peer || open.grounds != Grounds::OwnRecord {
            return None;
        }
        let notice = OutOfHoursNotice::for_message(
            &worker_availability(&open.context),
            now,
            &self.crisis_lines,
            conversation.person_id,
        )?;
        Some(NoticeRequest {
            id: MessageId::new(),
            notice,
            unless_noticed_since: notice_quiet_since(now),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_per_minute_is_a_burst_of_as_many_refilled_evenly() {
        let sixty = SendRate::per_minute(NonZeroU32::new(60).unwrap());
        assert_eq!(sixty, SendRate::default());
        assert_eq!(sixty.replenish_every, Duration::from_secs(1));
        let many = SendRate::per_minute(NonZeroU32::new(6_000).unwrap());
        assert_eq!(many.burst.get(), 6_000);
        assert_eq!(many.replenish_every, Duration::from_millis(10));
    }
}
