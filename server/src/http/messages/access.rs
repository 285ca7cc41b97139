//! Who may open a conversation: decided from the database on every request, audited first.
//!
//! Two questions, both answered from what the database says now:
//! 1. What does the caller's relationship to the person allow at most? That is the policy's
//!    decision ([`policy::decide`] with [`Resource::Messages`]).
//! 2. Is this a conversation the caller takes part in?
//!    - **A peer conversation**: the person, and the peer worker allocated to them *now*. After
//!      a reallocation the previous worker gets 404 on their next request and the new one sees
//!      the whole history. The person's team reads it as oversight and cannot write in it.
//!    - **The person's team conversation**: the person, and the practitioners of their team now.
//!    - **A carer's own conversation with the team**: the carer, while linked with a consent in
//!      force, and the team's practitioners. It is the carer's, not the person's: their other
//!      relations never see it and it is not in the person's access log.
//!
//! Anyone else gets 404, so a conversation's existence is not revealed. Every decision, allowed
//! or denied, is in the audit log before anything is served; for the person's conversations the
//! person is its subject, so the team's oversight reads appear in the person's access log. A
//! send's allowed access is committed in the send's own transaction ([`ConversationToSend`]),
//! so the message and the record of who sent it are durable together, in one commit.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use livingwell_core::domain::message::{ConversationId, MessageId};

use crate::auth::{Caller, CallerUser};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::extract::{AppUser, Path, RequestId, app_user_with_conversation};
use crate::policy::{self, Action, ActionKind, Resource};
pub(super) use crate::service::messaging::OpenConversation;
use crate::store::messages::MessageRecord;
use crate::store::{ConversationFound, NewAuditEntry};

/// The audit log's name for a carer's own conversation with a team.
pub(in crate::http) const CARER_MESSAGES: &str = "carer_messages";

/// Reads the conversation and the caller's relationship to its person, decides, and records
/// the decision in the audit log.
/// Permission for action `A` on the conversation `{id}` in the path, decided and audited
/// against the person it is about before the handler runs (see [`open_conversation`]).
#[derive(Debug)]
pub(super) struct AuthorizedConversation<A> {
    pub user: CallerUser,
    pub open: OpenConversation,
    action: PhantomData<fn() -> A>,
}

impl<A: ActionKind> FromRequestParts<AppState> for AuthorizedConversation<A> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let now = state.clock.now();
        let (user, found) = caller_and_conversation(parts, state, now).await?;
        let RequestId(request_id) = RequestId::from_request_parts(parts, state).await?;
        let open = open_conversation(state, &user, found, now, A::ACTION, &request_id).await?;
        Ok(Self {
            user,
            open,
            action: PhantomData,
        })
    }
}

/// Permission to write about the message `{id}` in the path (report it): decided and audited
/// against the person its conversation is about before the handler runs.
#[derive(Debug)]
pub(super) struct AuthorizedMessage {
    pub user: CallerUser,
    pub message: MessageRecord,
    pub open: OpenConversation,
}

impl FromRequestParts<AppState> for AuthorizedMessage {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let AppUser(user) = AppUser::from_request_parts(parts, state).await?;
        let RequestId(request_id) = RequestId::from_request_parts(parts, state).await?;
        let Path(id) = Path::<MessageId>::from_request_parts(parts, state).await?;
        let message = state.store.message(id).await?.ok_or(ApiError::NotFound)?;
        let now = state.clock.now();
        // The conversation and what the caller is to its person, in one query.
        let found = state
            .store
            .conversation_and_facts(message.conversation_id, user.id, now)
            .await?;
        let open = open_conversation(state, &user, found, now, Action::Write, &request_id).await?;
        Ok(Self {
            user,
            message,
            open,
        })
    }
}

/// The caller and the conversation `{id}` in the path, with what the caller is to its person,
/// read in one query with the session. A malformed id is answered as before, once the caller
/// is known (401 and 403 first).
async fn caller_and_conversation(
    parts: &mut Parts,
    state: &AppState,
    now: DateTime<Utc>,
) -> Result<(CallerUser, Option<ConversationFound>), ApiError> {
    match Path::<ConversationId>::from_request_parts(parts, state).await {
        Ok(Path(id)) => app_user_with_conversation(parts, state, id, now).await,
        Err(malformed) => {
            AppUser::from_request_parts(parts, state).await?;
            Err(malformed)
        }
    }
}

/// Opens the conversation `found` (as read with the caller's relationship to its person) to the
/// caller for `action` once the decision is in the audit log (see [`decide`]).
async fn open_conversation(
    state: &AppState,
    user: &CallerUser,
    found: Option<ConversationFound>,
    now: DateTime<Utc>,
    action: Action,
    request_id: &str,
) -> Result<OpenConversation, ApiError> {
    let (decision, entry) = decide(state, user, found, now, action, request_id).await?;
    state.audit.record(entry).await?;
    decision
}

/// Permission to send to the conversation `{id}` in the path, decided before the handler
/// runs. A denial is in the audit log before it is answered, as for [`AuthorizedConversation`];
/// an allowed access's entry is handed to the handler ([`UnrecordedAccess`]), which commits it
/// in the send's own transaction, or records it before answering when nothing is sent.
#[derive(Debug)]
pub(super) struct ConversationToSend {
    pub user: CallerUser,
    pub open: OpenConversation,
    pub access: UnrecordedAccess,
}

impl FromRequestParts<AppState> for ConversationToSend {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let now = state.clock.now();
        let (user, found) = caller_and_conversation(parts, state, now).await?;
        let RequestId(request_id) = RequestId::from_request_parts(parts, state).await?;
        let (decision, entry) =
            decide(state, &user, found, now, Action::Write, &request_id).await?;
        match decision {
            Ok(open) => Ok(Self {
                user,
                open,
                access: UnrecordedAccess(entry),
            }),
            Err(denied) => {
                state.audit.record(entry).await?;
                Err(denied)
            }
        }
    }
}

/// The audit entry of an allowed access, not in the audit log yet: the handler that holds it
/// commits it with its write ([`Self::entry`]) or records it ([`Self::record`]) before it
/// answers.
#[derive(Debug)]
pub(super) struct UnrecordedAccess(NewAuditEntry);

impl UnrecordedAccess {
    /// The entry, for the write whose transaction commits it.
    pub fn entry(&self) -> &NewAuditEntry {
        &self.0
    }

    /// Records it on its own, durably: for a request answered without its write.
    pub async fn record(self, state: &AppState) -> Result<(), ApiError> {
        state.audit.record(self.0).await?;
        Ok(())
    }
}

/// Decides on the conversation `found` as read with the caller's relationship to its person
/// (404 if there is no such conversation): the decision, and the audit entry that records it.
async fn decide(
    state: &AppState,
    user: &CallerUser,
    found: Option<ConversationFound>,
    now: DateTime<Utc>,
    action: Action,
    request_id: &str,
) -> Result<(Result<OpenConversation, ApiError>, NewAuditEntry), ApiError> {
    let (context, facts) = found.ok_or(ApiError::NotFound)?;
    let caller = Caller::User(user.clone());
    let conversation = &context.conversation;
    let relationship =
        policy::relationship_from_facts(state.store.as_ref(), user, conversation.person_id, facts)
            .await?;
    let decision =
        policy::decide_conversation(&caller, user, conversation, &relationship, action, now);
    let carers_own = conversation.carer_id.is_some();
    let entry = NewAuditEntry {
        at: now,
        actor_id: Some(caller.audit_id()),
        actor_role: caller.audit_role().to_owned(),
        on_behalf_of: None,
        subject_id: (!carers_own).then_some(conversation.person_id),
        resource: if carers_own {
            CARER_MESSAGES
        } else {
            Resource::Messages.as_str()
        }
        .to_owned(),
        action: action.as_str().to_owned(),
        outcome: if decision.is_ok() {
            "allowed"
        } else {
            "denied"
        }
        .to_owned(),
        relationship: decision.ok().map(|(g, _)| g.as_str().to_owned()),
        request_id: Some(request_id.to_owned()),
        via: None,
        read_at: None,
    };
    let decision = match decision {
        Ok((grounds, role)) => Ok(OpenConversation {
            context,
            grounds,
            role,
        }),
        Err(denial) => Err(denial.into()),
    };
    Ok((decision, entry))
}
