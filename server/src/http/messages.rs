//! Peer-support messaging: conversations, messages, read receipts, reports, and a peer
//! worker's hours.
//!
//! Guarantees (the store keeps exactly-once and order; [`access`] decides who may do what):
//! - **Exactly once.** `POST …/messages` answers 201 the first time a `client_id` is used and
//!   200 with the same message on every retry — also concurrent ones, also months later. A
//!   client id reused for other text or another conversation is 409: it cannot be a retry.
//! - **Gap-free order** per conversation, also across server processes.
//! - **Durable before acknowledged**, with commits shared: sends are group-committed by one
//!   writer per process ([`crate::service::messaging`]), so a busy conversation does not queue
//!   for one fsync each.
//! - **Access** is decided from the database on every request and audited before anything is
//!   served; the team's oversight reads are in the person's access log.
//! - **Real time, never lost.** A stored message is announced by a `message_created` event to
//!   every participant's event stream (`GET /v1/events`; fanned out across processes by Postgres
//!   LISTEN/NOTIFY), and read and delivery receipts and reports likewise; each event is stored
//!   in the transaction of what it announces, and live streams are told after the commit.
//!   Events carry ids and numbers, never text: a device fetches messages here, where policy and
//!   audit apply. Pushes carry no content either ([`crate::service::messaging::push`]).
//! - **Out of hours.** A person's message to a peer worker who is outside their hours or away
//!   is followed, in the same transaction, by an automatic notice with the deployment's crisis
//!   lines and a pointer to the person's own crisis plan — at most once per 12 hours per
//!   conversation, so the signposting is read, not scrolled past.
//! - **Delivered** means a device of another participant has fetched the message; **read**
//!   means they marked it read. Oversight reads move neither, so a person is never told "read"
//!   because their team looked.
//! - **Limits.** Sends are rate-limited per sender (429 with `Retry-After`); bodies are at most
//!   4,000 Unicode scalar values; pages at most 200 messages.
//! - **No health data in logs or errors.** Bodies are never logged; errors are fixed sentences.

mod access;

use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use livingwell_core::api::messages::{
    AvailabilityView, ConversationList, ConversationQuery, ConversationRole, ConversationView,
    MarkReadRequest, MessagePage, MessageQuery, MessageReportView, MessageView, ReadStateView,
    ReportMessageRequest, SendMessageRequest, SetAvailabilityRequest,
};
use livingwell_core::api::paging as page;
use livingwell_core::api::{ErrorBody, FieldError};
use livingwell_core::domain::FieldErrorCode;
use livingwell_core::domain::Role;
use livingwell_core::domain::message::{
    Availability, ConversationId, ConversationKind, MessageContent, MessageId, MessageState,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(super) use self::access::CARER_MESSAGES;
use self::access::{AuthorizedConversation, AuthorizedMessage, ConversationToSend};
use super::AppState;
use super::access::{authorize, record_unscoped};
use super::error::{ApiError, ApiResult};
use super::extract::{AppUser, Query, RequestId, ValidJson};
use super::paging::{self, Paged};
use crate::auth::{Caller, CallerUser};
use crate::policy::{self, Action, Resource, Work, action};
use crate::service::messaging::{CONVERSATION_LIST_MAX, worker_availability};
use crate::store::messages::{
    ConversationScope, ConversationSummary, CursorRecord, MessageRecord, MessagesAfter, SendOutcome,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_conversations))
        .routes(routes!(list_messages, send_message))
        .routes(routes!(mark_read))
        .routes(routes!(report_message))
        .routes(routes!(get_availability, set_availability))
}

/// The caller's conversations, newest activity first, with unread counts.
#[utoipa::path(get, path = "/v1/conversations", tag = "messages", security(("bearer" = [])),
    params(ConversationQuery),
    responses((status = 200, body = ConversationList, description = "The caller's conversations"), (status = 404, body = ErrorBody)))]
async fn list_conversations(
    State(state): State<AppState>,
    AppUser(user): AppUser,
    RequestId(request_id): RequestId,
    Query(query): Query<ConversationQuery>,
) -> ApiResult<axum::Json<ConversationList>> {
    let now = state.clock.now();
    let caller = Caller::User(user.clone());
    let listed: Vec<(ConversationSummary, ConversationRole)> = match query.person_id {
        Some(person) => {
            let access = authorize(
                &state,
                &caller,
                person,
                Resource::Messages,
                Action::Read,
                &request_id,
            )
            .await?;
            let about = state
                .store
                .conversations(
                    user.id,
                    ConversationScope::AboutPerson(person),
                    now,
                    CONVERSATION_LIST_MAX,
                )
                .await?;
            // Only those this caller takes part in or oversees: a peer worker sees their
            // conversation with the person, not the person's with the team.
            about
                .into_iter()
                .filter_map(|summary| {
                    policy::decide_conversation(
                        &caller,
                        &user,
                        &summary.context.conversation,
                        &access.relationship,
                        Action::Read,
                        now,
                    )
                    .ok()
                    .map(|(_, role)| (summary, role))
                })
                .collect()
        }
        None => {
            record_unscoped(&state, &caller, "conversations", Action::Read, &request_id).await?;
            match own_scope(&user) {
                Some(scope) => state
                    .messaging
                    .own_conversations(user.id, scope)
                    .await?
                    .into_iter()
                    .map(|summary| (summary, ConversationRole::Participant))
                    .collect(),
                None => Vec::new(),
            }
        }
    };
    let at = state.clock.now();
    Ok(axum::Json(ConversationList {
        conversations: listed
            .iter()
            .map(|(summary, role)| conversation_view(summary, *role, at))
            .collect(),
    }))
}

/// The conversations an account takes part in, by its role.
pub(super) fn own_scope(user: &CallerUser) -> Option<ConversationScope> {
    match user.role {
        Role::ServiceUser => user.person_id.map(ConversationScope::OwnAsPerson),
        Role::PeerWorker => Some(ConversationScope::AllocatedTo(user.id)),
        Role::Carer => Some(ConversationScope::Carer(user.id)),
        Role::Practitioner => Some(ConversationScope::TeamInbox(user.id)),
        Role::Admin => None,
    }
}

pub(super) fn conversation_view(
    summary: &ConversationSummary,
    role: ConversationRole,
    at: chrono::DateTime<chrono::Utc>,
) -> ConversationView {
    let context = &summary.context;
    let conversation = &context.conversation;
    let is_peer = conversation.kind == ConversationKind::Peer;
    ConversationView {
        id: conversation.id,
        kind: conversation.kind,
        person_id: conversation.person_id,
        carer_id: conversation.carer_id,
        peer_worker_id: context.peer_worker_id,
        team_id: context.team_id,
        peer_worker_available: is_peer.then(|| worker_availability(context).available_at(at)),
        role,
        last_seq: conversation.last_seq,
        read_seq: summary.read_seq,
        unread_count: summary.unread_count,
        others_delivered_seq: summary.others.delivered_seq,
        others_read_seq: summary.others.read_seq,
        last_message_at: conversation.last_message_at,
    }
}

pub(super) fn message_view(record: &MessageRecord, cursors: &[CursorRecord]) -> MessageView {
    // Delivered and read are about the others in the conversation, not the sender.
    let others = || {
        cursors
            .iter()
            .filter(|c| Some(c.user_id) != record.sender_id)
    };
    let delivered = others().map(|c| c.cursor.delivered_seq).max().unwrap_or(0);
    let read = others().map(|c| c.cursor.read_seq).max().unwrap_or(0);
    MessageView {
        id: record.id,
        conversation_id: record.conversation_id,
        seq: record.seq,
        sender_id: record.sender_id,
        client_id: record.client_id,
        sent_at: record.created_at,
        state: MessageState::of(record.seq, delivered, read),
        content: record.content.clone(),
    }
}

/// Messages in a conversation, oldest first, after a number. Fetching them marks them
/// delivered to the caller (unless the caller only oversees the conversation).
#[utoipa::path(get, path = "/v1/conversations/{id}/messages", tag = "messages",
    security(("bearer" = [])), params(("id" = ConversationId, Path), MessageQuery),
    responses((status = 200, body = MessagePage, description = "A page of messages", headers(("link" = String, description = "The next page, as `<…>; rel=\"next\"`; absent on the last"))), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn list_messages(
    State(state): State<AppState>,
    AuthorizedConversation { user, open, .. }: AuthorizedConversation<action::Read>,
    Query(query): Query<MessageQuery>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Paged<MessagePage>> {
    let id = open.conversation().id;
    let limit = paging::limit(query.limit, page::MESSAGES)?;
    let after_seq = match (
        paging::cursor::<i64>(query.cursor.as_deref())?,
        query.after_seq,
    ) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "after_seq",
                FieldErrorCode::ConflictsWithCursor,
            ));
        }
        (Some(seq), None) | (None, Some(seq)) if seq < 0 => {
            return Err(ApiError::invalid(
                if query.cursor.is_some() {
                    "cursor"
                } else {
                    "after_seq"
                },
                FieldErrorCode::OutOfRange,
            ));
        }
        (Some(seq), None) | (None, Some(seq)) => seq,
        (None, None) => 0,
    };
    let MessagesAfter {
        messages: records,
        cursors,
    } = state.store.messages_after(id, after_seq, limit).await?;
    let newest = records.last().map(|r| r.seq);
    let cursors = state
        .messaging
        .cursors_after_delivery(user.id, &open, cursors, newest)
        .await?;
    let last_seq = open.conversation().last_seq.max(newest.unwrap_or(0));
    // A page that ends before the conversation's newest message has a next one, full or not.
    let next_cursor = newest
        .filter(|n| records.len() as i64 == limit || *n < last_seq)
        .map(|n| n.to_string());
    Ok(Paged::new(
        MessagePage {
            messages: records.iter().map(|r| message_view(r, &cursors)).collect(),
            last_seq,
            next_cursor,
        },
        &uri,
        &["after_seq"],
    ))
}

/// Sends a message. The first time a `client_id` is used: 201 with the message; a retry with
/// it: 200 with the same message, and nothing new stored.
#[utoipa::path(post, path = "/v1/conversations/{id}/messages", tag = "messages",
    security(("bearer" = [])), params(("id" = ConversationId, Path)),
    request_body = SendMessageRequest,
    responses((status = 201, body = MessageView, description = "Stored now"),
              (status = 200, body = MessageView, description = "Stored before, by a send with this client_id"),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "The client_id was already used for another message (`reused`)"), (status = 422, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn send_message(
    State(state): State<AppState>,
    ConversationToSend { user, open, access }: ConversationToSend,
    // Taken as it came: the access is in the audit log before a bad body is refused.
    request: Result<ValidJson<SendMessageRequest>, ApiError>,
) -> ApiResult<(StatusCode, axum::Json<MessageView>)> {
    let id = open.conversation().id;
    let request = match request {
        Ok(ValidJson(request)) => request,
        Err(refused) => {
            access.record(&state).await?;
            return Err(refused);
        }
    };
    if let Err(wait) = state.messaging.check_send(user.id) {
        access.record(&state).await?;
        return Err(ApiError::RateLimited(wait));
    }
    let body = request.body;
    let sent = state
        .messaging
        .send(
            user.id,
            &open,
            request.client_id,
            body.clone(),
            access.entry().clone(),
        )
        .await;
    let outcome = match sent {
        Ok(outcome) => outcome,
        Err(failed) => {
            // Nothing was committed, the access with it: recorded on its own if the database
            // takes it (a failure is logged by kind by the audit writer); the send's own
            // failure is the answer.
            let _ = access.record(&state).await;
            return Err(failed.into());
        }
    };
    match outcome {
        SendOutcome::Created { message, .. } => {
            Ok((StatusCode::CREATED, axum::Json(message_view(&message, &[]))))
        }
        SendOutcome::Existing(existing) => {
            let same = existing.conversation_id == id
                && matches!(&existing.content, MessageContent::Text { body: stored } if *stored == body);
            if !same {
                return Err(ApiError::Conflict(vec![FieldError::new(
                    "client_id",
                    FieldErrorCode::Reused,
                )]));
            }
            let cursors = state.store.cursors(id).await?;
            Ok((
                StatusCode::OK,
                axum::Json(message_view(&existing, &cursors)),
            ))
        }
        SendOutcome::UnknownConversation => Err(ApiError::NotFound),
    }
}

/// Marks the conversation read up to a message; the others in it see the receipt.
#[utoipa::path(post, path = "/v1/conversations/{id}/read", tag = "messages",
    security(("bearer" = [])), params(("id" = ConversationId, Path)),
    request_body = MarkReadRequest,
    responses((status = 200, body = ReadStateView, description = "How far the caller has read"), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn mark_read(
    State(state): State<AppState>,
    // Moving a read cursor is the participants' own act: oversight cannot (403).
    AuthorizedConversation { user, open, .. }: AuthorizedConversation<action::Write>,
    ValidJson(request): ValidJson<MarkReadRequest>,
) -> ApiResult<axum::Json<ReadStateView>> {
    let id = open.conversation().id;
    let after = state
        .messaging
        .mark_read(user.id, &open, request.up_to_seq)
        .await?;
    let unread_count = state
        .store
        .unread_count(id, user.id, after.read_seq)
        .await?;
    Ok(axum::Json(ReadStateView {
        conversation_id: id,
        read_seq: after.read_seq,
        unread_count,
    }))
}

/// Reports a message to the person's team. Reporting it again returns the first report (200).
#[utoipa::path(post, path = "/v1/messages/{id}/report", tag = "messages",
    security(("bearer" = [])), params(("id" = MessageId, Path)),
    request_body = ReportMessageRequest,
    responses((status = 201, body = MessageReportView, description = "Reported now"),
              (status = 200, body = MessageReportView, description = "Reported before by the caller"),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn report_message(
    State(state): State<AppState>,
    AuthorizedMessage {
        user,
        message,
        open,
    }: AuthorizedMessage,
    ValidJson(request): ValidJson<ReportMessageRequest>,
) -> ApiResult<(StatusCode, axum::Json<MessageReportView>)> {
    let id = message.id;
    let (report, created) = state
        .messaging
        .report(user.id, &message, &open, request.reason)
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        axum::Json(MessageReportView {
            id: report.id,
            message_id: id,
            conversation_id: message.conversation_id,
            reported_at: report.created_at,
        }),
    ))
}

fn availability_view(state: &AppState, availability: Availability) -> AvailabilityView {
    let now = state.clock.now();
    AvailabilityView {
        available_now: availability.available_at(now),
        next_start_at: availability.next_start_after(now),
        weekly_hours: availability.weekly_hours,
        away: availability.away,
    }
}

fn require_peer_worker(user: &CallerUser) -> ApiResult<()> {
    Ok(policy::decide_work(
        &Caller::User(user.clone()),
        Work::OwnHours,
    )?)
}

/// A peer worker's own hours (Europe/London) and away status. Office hours until set.
#[utoipa::path(get, path = "/v1/me/availability", tag = "messages", security(("bearer" = [])),
    responses((status = 200, body = AvailabilityView, description = "The peer worker's hours and away status"), (status = 403, body = ErrorBody)))]
async fn get_availability(
    State(state): State<AppState>,
    AppUser(user): AppUser,
) -> ApiResult<axum::Json<AvailabilityView>> {
    require_peer_worker(&user)?;
    let availability = state
        .store
        .availability(user.id)
        .await?
        .unwrap_or_else(Availability::office_hours);
    Ok(axum::Json(availability_view(&state, availability)))
}

/// Sets a peer worker's own hours and away status; messages sent outside them get a notice.
#[utoipa::path(put, path = "/v1/me/availability", tag = "messages", security(("bearer" = [])),
    request_body = SetAvailabilityRequest,
    responses((status = 200, body = AvailabilityView, description = "The hours and away status, saved"), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn set_availability(
    State(state): State<AppState>,
    AppUser(user): AppUser,
    ValidJson(request): ValidJson<SetAvailabilityRequest>,
) -> ApiResult<axum::Json<AvailabilityView>> {
    require_peer_worker(&user)?;
    let availability = request.into_availability();
    state
        .messaging
        .set_availability(user.id, &availability)
        .await?;
    Ok(axum::Json(availability_view(&state, availability)))
}
