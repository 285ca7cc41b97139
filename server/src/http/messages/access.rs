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
//! person is its subject, so the team's oversight reads appear in the person's access log.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use livingwell_core::api::messages::ConversationRole;
use livingwell_core::domain::Role;
use livingwell_core::domain::message::{ConversationId, ConversationKind, MessageId};

use crate::auth::{Caller, CallerUser};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::extract::{AppUser, Path, RequestId};
use crate::policy::{self, Action, ActionKind, Denial, Grounds, Relationship, Resource};
use crate::store::NewAuditEntry;
use crate::store::messages::{ConversationContext, ConversationRecord, MessageRecord};

/// The audit log's name for a carer's own conversation with a team.
const CARER_MESSAGES: &str = "carer_messages";

/// A conversation the caller may act in, for this request only.
#[derive(Debug)]
pub(super) struct OpenConversation {
    pub context: ConversationContext,
    pub grounds: Grounds,
    pub role: ConversationRole,
}

impl OpenConversation {
    pub fn conversation(&self) -> &ConversationRecord {
        &self.context.conversation
    }
}

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
        let AppUser(user) = AppUser::from_request_parts(parts, state).await?;
        let RequestId(request_id) = RequestId::from_request_parts(parts, state).await?;
        let Path(id) = Path::<ConversationId>::from_request_parts(parts, state).await?;
        let open = open_conversation(state, &user, id, A::ACTION, &request_id).await?;
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
        let open = open_conversation(
            state,
            &user,
            message.conversation_id,
            Action::Write,
            &request_id,
        )
        .await?;
        Ok(Self {
            user,
            message,
            open,
        })
    }
}

pub(super) async fn open_conversation(
    state: &AppState,
    user: &CallerUser,
    id: ConversationId,
    action: Action,
    request_id: &str,
) -> Result<OpenConversation, ApiError> {
    let context = state
        .store
        .conversation(id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let now = state.clock.now();
    let caller = Caller::User(user.clone());
    let conversation = &context.conversation;
    let relationship =
        policy::relationship(state.store.as_ref(), &caller, conversation.person_id, now).await?;
    let decision = decide(&caller, user, conversation, &relationship, action, now);
    let carers_own = conversation.carer_id.is_some();
    state
        .audit
        .record(NewAuditEntry {
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
        })
        .await?;
    match decision {
        Ok((grounds, role)) => Ok(OpenConversation {
            context,
            grounds,
            role,
        }),
        Err(Denial::NotFound) => Err(ApiError::NotFound),
        Err(Denial::Forbidden) => Err(ApiError::Forbidden),
    }
}

/// The decision for one caller, conversation and action, from the relationship read now.
pub(super) fn decide(
    caller: &Caller,
    user: &CallerUser,
    conversation: &ConversationRecord,
    relationship: &Relationship,
    action: Action,
    now: DateTime<Utc>,
) -> Result<(Grounds, ConversationRole), Denial> {
    use ConversationKind::{Peer, Team};
    use ConversationRole::{Oversight, Participant};
    if let Some(carer) = conversation.carer_id {
        return if user.id == carer && relationship.carer_consent_in_force(now) {
            Ok((Grounds::CarerConsent, Participant))
        } else if user.role == Role::Practitioner && relationship.facts.on_persons_team {
            Ok((Grounds::Team, Participant))
        } else {
            Err(Denial::NotFound)
        };
    }
    let grounds = policy::decide(caller, relationship, Resource::Messages, action, now)?;
    match (conversation.kind, grounds) {
        (_, Grounds::OwnRecord) | (Peer, Grounds::AllocatedPeer) | (Team, Grounds::Team) => {
            Ok((grounds, Participant))
        }
        (Peer, Grounds::Team) if action == Action::Read => Ok((grounds, Oversight)),
        (Peer, Grounds::Team) => Err(Denial::Forbidden),
        _ => Err(Denial::NotFound),
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use livingwell_core::domain::consent::{Consent, Grantee};
    use livingwell_core::domain::{ConsentId, ConsentScope, PersonId, UserId};

    use super::*;
    use crate::store::RelationshipFacts;

    fn caller(role: Role) -> (Caller, CallerUser) {
        let user = CallerUser {
            id: UserId::new(),
            role,
            person_id: None,
            session_id: uuid::Uuid::now_v7(),
            authenticated_at: Utc::now(),
        };
        (Caller::User(user.clone()), user)
    }

    fn conversation(kind: ConversationKind, carer: Option<UserId>) -> ConversationRecord {
        ConversationRecord {
            id: ConversationId::new(),
            kind,
            person_id: PersonId::new(),
            carer_id: carer,
            last_seq: 0,
            last_message_at: None,
            created_at: Utc::now(),
        }
    }

    fn related(facts: RelationshipFacts) -> Relationship {
        Relationship {
            facts: RelationshipFacts {
                person_placed: true,
                ..facts
            },
            consents: Vec::new(),
        }
    }

    fn consent_to(carer: UserId, revoked: bool) -> Consent {
        Consent {
            id: ConsentId::new(),
            person_id: PersonId::new(),
            grantee: Grantee::Carer(carer),
            scopes: [ConsentScope::CrisisPlan].into(),
            crisis_plan_sections: Default::default(),
            created_at: Utc::now() - Duration::days(1),
            expires_at: None,
            revoked_at: revoked.then(Utc::now),
        }
    }

    #[test]
    fn the_allocated_peer_takes_part_and_a_previous_one_is_not_told_it_exists() {
        let (caller, user) = caller(Role::PeerWorker);
        let peer = conversation(ConversationKind::Peer, None);
        let now = Utc::now();
        let allocated = related(RelationshipFacts {
            allocated_peer: true,
            on_persons_team: true,
            ..Default::default()
        });
        assert_eq!(
            decide(&caller, &user, &peer, &allocated, Action::Write, now),
            Ok((Grounds::AllocatedPeer, ConversationRole::Participant))
        );
        let reallocated = related(RelationshipFacts {
            on_persons_team: true,
            ..Default::default()
        });
        for action in [Action::Read, Action::Write] {
            assert_eq!(
                decide(&caller, &user, &peer, &reallocated, action, now),
                Err(Denial::NotFound)
            );
        }
        // Allocated, but the person's team conversation is not theirs.
        let team = conversation(ConversationKind::Team, None);
        assert_eq!(
            decide(&caller, &user, &team, &allocated, Action::Read, now),
            Err(Denial::NotFound)
        );
    }

    #[test]
    fn the_team_reads_a_peer_conversation_as_oversight_and_cannot_write() {
        let (caller, user) = caller(Role::Practitioner);
        let peer = conversation(ConversationKind::Peer, None);
        let on_team = related(RelationshipFacts {
            on_persons_team: true,
            ..Default::default()
        });
        let now = Utc::now();
        assert_eq!(
            decide(&caller, &user, &peer, &on_team, Action::Read, now),
            Ok((Grounds::Team, ConversationRole::Oversight))
        );
        assert_eq!(
            decide(&caller, &user, &peer, &on_team, Action::Write, now),
            Err(Denial::Forbidden)
        );
        let team = conversation(ConversationKind::Team, None);
        assert_eq!(
            decide(&caller, &user, &team, &on_team, Action::Write, now),
            Ok((Grounds::Team, ConversationRole::Participant))
        );
        let elsewhere = related(RelationshipFacts::default());
        assert_eq!(
            decide(&caller, &user, &peer, &elsewhere, Action::Read, now),
            Err(Denial::NotFound)
        );
    }

    #[test]
    fn a_carer_never_sees_the_persons_conversations_but_has_their_own() {
        let (caller, user) = caller(Role::Carer);
        let now = Utc::now();
        let mut with_consent = related(RelationshipFacts {
            linked_carer: true,
            ..Default::default()
        });
        with_consent.consents = vec![consent_to(user.id, false)];
        for kind in [ConversationKind::Peer, ConversationKind::Team] {
            assert_eq!(
                decide(
                    &caller,
                    &user,
                    &conversation(kind, None),
                    &with_consent,
                    Action::Read,
                    now
                ),
                Err(Denial::NotFound)
            );
        }
        let own = conversation(ConversationKind::Team, Some(user.id));
        assert_eq!(
            decide(&caller, &user, &own, &with_consent, Action::Write, now),
            Ok((Grounds::CarerConsent, ConversationRole::Participant))
        );
        let mut revoked = with_consent.clone();
        revoked.consents = vec![consent_to(user.id, true)];
        assert_eq!(
            decide(&caller, &user, &own, &revoked, Action::Read, now),
            Err(Denial::NotFound)
        );
        // The person themselves does not read their carer's conversation.
        let (person_caller, person) = self::caller(Role::ServiceUser);
        let own_record = related(RelationshipFacts {
            is_self: true,
            ..Default::default()
        });
        assert_eq!(
            decide(
                &person_caller,
                &person,
                &own,
                &own_record,
                Action::Read,
                now
            ),
            Err(Denial::NotFound)
        );
    }
}
