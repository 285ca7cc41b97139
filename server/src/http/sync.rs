//! `GET /v1/sync`: a phone's copy brought up to date.
//!
//! Each sync reads, as the policy decides **now**, everything the caller may see (their
//! account; each person they are or support, with the plans, crisis plan, consents,
//! appointments and bookings the relationship allows; the conversations they take part in),
//! and hands it to the sync service ([`crate::service::sync`]) to compare with what the
//! cursor says the phone holds. What the phone holds and may no longer see becomes a
//! tombstone, with why: the person's consent ran out (`expired`), access ended otherwise
//! (`access_revoked`), or the record is gone (`deleted`). Messages, notifications and the
//! person's own access log are feeds, read after the phone's position on an index.
//!
//! Who syncs what: a service user their own record; a carer each person they care for, as
//! their consents allow; a peer worker each person allocated to them; a practitioner only
//! their account and the conversations they take part in (their team's oversight of people
//! stays an explicit, audited read, never a copy on a phone).
//!
//! A phone that is caught up is answered "nothing new" from the fingerprint kept with its
//! cursor, in one query, without reading the snapshot ([`crate::service::sync`]); the clock's
//! rules the snapshot depends on are met in [`PhoneCopy::changes_at`]'s callers, which a rule
//! added to the policy must join.
//!
//! Audit: one entry per person and kind of record delivered in a response, `via: sync` —
//! written before the response leaves, or the sync answers 503. "Nothing new" delivers
//! nothing, so it is not audited.

use std::collections::{BTreeSet, HashMap};

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use chrono::{DateTime, Duration, Utc};
use livingwell_core::api::ErrorBody;
use livingwell_core::api::appointments::AppointmentView;
use livingwell_core::api::paging as page;
use livingwell_core::api::people::ReadVia;
use livingwell_core::api::sync::{
    SyncKind, SyncQuery, SyncRecord, SyncResponse, Tombstone, TombstoneReason,
};
use livingwell_core::domain::appointment::AppointmentId;

use livingwell_core::domain::{PersonId, Role};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::access::Access;
use super::appointments;
use super::error::{ApiError, ApiResult};
use super::events::event_view;
use super::extract::{self, Query, RequestId};
use super::messages::{CARER_MESSAGES, conversation_view, message_view, own_scope};
use super::paging;
use super::people::access_log_entries;
use super::plans::{crisis_plan_parts, plan_view, summary_view, wrap_view};
use super::sessions::{me_view, person_view};
use crate::auth::{Caller, CallerUser};
use crate::policy::{self, Action, Grounds, Relationship, Resource};
use crate::service::messaging::{OpenConversation, worker_availability};
use crate::service::sync::{Begun, Current, Gone, SyncState, message_feed, record};
use crate::store::messages::MessagesAfter;
use crate::store::plans::PlanKind;
use crate::store::{NewAuditEntry, PersonRecord};

/// The feed of the caller's notifications.
const NOTIFICATIONS: &str = "notification";
/// The feed of the caller's own access log.
const ACCESS_LOG: &str = "access_log_entry";
/// Longest cursor this server gives (22 characters); anything longer is not one of ours.
const CURSOR_MAX: usize = 64;
/// How long a sync worked out in full answers the next "nothing new" at most, whatever the
/// clock-driven rules it knows of say: a bound on staleness should a rule be added to the
/// policy and not to [`PhoneCopy::changes_at`]'s callers.
const FRESH_AT_MOST_MINUTES: i64 = 60;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(sync))
}

/// Everything the caller may see that changed after `since`, as whole records, and tombstones
/// for what they may no longer see. No `since`: a full snapshot, in pages (`has_more`).
#[utoipa::path(get, path = "/v1/sync", tag = "sync", security(("bearer" = [])),
    params(SyncQuery),
    responses(
        (status = 200, body = SyncResponse, description = "What changed, and tombstones for what is gone"),
        (status = 401, body = ErrorBody),
        (status = 410, body = ErrorBody, description = "`resync`: the cursor is unknown or unused for too long; drop the synced copy (keep unsent writes) and sync from the start"),
        (status = 422, body = ErrorBody),
))]
async fn sync(
    State(state): State<AppState>,
    SyncStart { user, query, begun }: SyncStart,
    RequestId(request_id): RequestId,
) -> ApiResult<axum::Json<SyncResponse>> {
    let limit = paging::limit(query.limit, page::SYNC)?;
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let Some(cursor) = begun.unchanged_at(state.clock.now()) else {
        return Ok(axum::Json(
            work_out(&state, user, &request_id, limit, &begun).await?,
        ));
    };
    let unchanged = SyncResponse {
        records: Vec::new(),
        tombstones: Vec::new(),
        cursor: cursor.to_owned(),
        has_more: false,
    };
    if state.sync.checks_unchanged() {
        let worked_out = work_out(&state, user, &request_id, limit, &begun).await?;
        if worked_out != unchanged {
            tracing::error!(
                records = worked_out.records.len(),
                tombstones = worked_out.tombstones.len(),
                "a sync answered \"nothing new\" from its fingerprint differs from one worked out"
            );
            return Err(ApiError::Internal("a sync's fingerprint"));
        }
    }
    Ok(axum::Json(unchanged))
}

/// The signed-in account (staff systems: 403), its query, and where its sync begins — the
/// session and the cursor read in one query.
struct SyncStart {
    user: CallerUser,
    query: SyncQuery,
    begun: Begun,
}

impl FromRequestParts<AppState> for SyncStart {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // The caller is known before the query is judged, as for any request: 401 first.
        let query = Query::<SyncQuery>::from_request_parts(parts, state).await;
        let since = match &query {
            Ok(Query(query)) => query.since.clone(),
            Err(_) => None,
        };
        // Anything longer than a cursor this server gives is not one of ours: not looked up.
        let cursor = since.as_deref().filter(|cursor| cursor.len() <= CURSOR_MAX);
        let (user, kept) = extract::app_user_with_sync_cursor(parts, state, cursor).await?;
        let Query(query) = query?;
        if since.is_some() && cursor.is_none() {
            return Err(ApiError::Resync);
        }
        let begun = state
            .sync
            .begin(user.id, user.person_id, cursor.map(|cursor| (cursor, kept)))
            .await?
            .ok_or(ApiError::Resync)?;
        Ok(Self { user, query, begun })
    }
}

/// The sync worked out in full: what the caller may see now, compared with what the phone
/// holds.
async fn work_out(
    state: &AppState,
    user: CallerUser,
    request_id: &str,
    limit: usize,
    begun: &Begun,
) -> ApiResult<SyncResponse> {
    let mut held = begun.held().ok_or(ApiError::Resync)?;
    let mut copy = PhoneCopy::new(state, user);
    copy.read_now().await?;
    let whole = held.take_whole(std::mem::take(&mut copy.whole), limit);
    let mut tombstones = Vec::with_capacity(whole.gone.len());
    for gone in &whole.gone {
        if let Some(reason) = copy.why_gone(gone).await? {
            tombstones.push(Tombstone {
                kind: gone.kind,
                id: gone.id.clone(),
                reason,
            });
        }
    }
    let mut records = whole.changed;
    let mut has_more = whole.more;
    if !has_more {
        let room = limit - records.len();
        has_more = copy.read_feeds(&mut held, room, &mut records).await?;
    }
    copy.audit(&records, request_id).await?;
    let cursor = state
        .sync
        .keep(copy.user.id, begun, &held, !has_more, copy.fresh_until)
        .await?;
    Ok(SyncResponse {
        records,
        tombstones,
        cursor,
        has_more,
    })
}

/// How a delivered record is entered in the audit log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct AuditAs {
    subject: Option<PersonId>,
    resource: &'static str,
    grounds: &'static str,
}

/// What the caller may see now, read for one sync.
struct PhoneCopy<'a> {
    state: &'a AppState,
    user: CallerUser,
    caller: Caller,
    now: DateTime<Utc>,
    /// Whole records, in the order a page gives them.
    whole: Vec<Current>,
    /// How each whole record is audited, by `kind:id`.
    audit_as: HashMap<(SyncKind, String), AuditAs>,
    /// The caller's relationship to each person met, read once per sync.
    relationships: HashMap<PersonId, Relationship>,
    /// The conversations the caller takes part in, for their message feeds.
    conversations: Vec<(OpenConversation, AuditAs)>,
    /// The caller's own record, whose access log is a feed.
    own_log: Option<(PersonId, AuditAs)>,
    /// The first moment a clock-driven rule may change what the caller sees, as met so far.
    fresh_until: DateTime<Utc>,
}

impl<'a> PhoneCopy<'a> {
    fn new(state: &'a AppState, user: CallerUser) -> Self {
        let now = state.clock.now();
        Self {
            state,
            caller: Caller::User(user.clone()),
            user,
            now,
            fresh_until: now + Duration::minutes(FRESH_AT_MOST_MINUTES),
            whole: Vec::new(),
            audit_as: HashMap::new(),
            relationships: HashMap::new(),
            conversations: Vec::new(),
            own_log: None,
        }
    }

    fn push(
        &mut self,
        kind: SyncKind,
        id: String,
        person: Option<PersonId>,
        data: impl serde::Serialize,
        audit: Option<AuditAs>,
    ) -> ApiResult<()> {
        let data = to_value(&data)?;
        if let Some(audit) = audit {
            self.audit_as.insert((kind, id.clone()), audit);
        }
        self.whole.push(Current {
            kind,
            id,
            person,
            data,
        });
        Ok(())
    }

    /// What the caller sees may change by the clock alone at `moment`.
    fn changes_at(&mut self, moment: DateTime<Utc>) {
        if moment > self.now && moment < self.fresh_until {
            self.fresh_until = moment;
        }
    }

    async fn relationship(&mut self, person: PersonId) -> ApiResult<Relationship> {
        if let Some(known) = self.relationships.get(&person) {
            return Ok(known.clone());
        }
        let relationship =
            policy::relationship(self.state.store.as_ref(), &self.caller, person, self.now).await?;
        // Consents begin, run out and are revoked ahead of time; emergency access lapses.
        let consent_times = relationship
            .consents
            .iter()
            .flat_map(|c| [Some(c.created_at), c.expires_at, c.revoked_at])
            .flatten();
        for moment in consent_times.chain(relationship.facts.emergency_access_until) {
            self.changes_at(moment);
        }
        self.relationships.insert(person, relationship.clone());
        Ok(relationship)
    }

    /// Reads every whole record the caller may see now.
    async fn read_now(&mut self) -> ApiResult<()> {
        let state = self.state;
        let account = state
            .store
            .user_by_id(self.user.id)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        let me = me_view(state, &self.user, account).await?;
        self.push(SyncKind::Account, self.user.id.to_string(), None, me, None)?;
        for person in self.people().await? {
            self.read_person(&person).await?;
        }
        self.read_conversations().await
    }

    /// The people whose records the caller's phone may hold: by role, then decided per record.
    async fn people(&self) -> ApiResult<Vec<PersonRecord>> {
        let store = &self.state.store;
        Ok(match self.user.role {
            Role::ServiceUser => match self.user.person_id {
                Some(id) => store.person(id).await?.into_iter().collect(),
                None => Vec::new(),
            },
            Role::Carer => store.people_cared_for(self.user.id).await?,
            Role::PeerWorker => store.people_allocated(self.user.id).await?,
            Role::Practitioner | Role::Admin => Vec::new(),
        })
    }

    async fn read_person(&mut self, person: &PersonRecord) -> ApiResult<()> {
        let state = self.state;
        let id = person.id;
        let relationship = self.relationship(id).await?;
        let now = self.now;
        let caller = self.caller.clone();
        let read = |resource| policy::decide(&caller, &relationship, resource, Action::Read, now);
        let access = |grounds| Access {
            person: id,
            grounds,
            relationship: relationship.clone(),
            at: now,
        };
        let audit = |resource: Resource, grounds: Grounds| AuditAs {
            subject: Some(id),
            resource: resource.as_str(),
            grounds: grounds.as_str(),
        };
        let key = id.to_string();
        let Ok(grounds) = read(Resource::Person) else {
            return Ok(());
        };
        let as_person = audit(Resource::Person, grounds);
        self.push(
            SyncKind::Person,
            key.clone(),
            Some(id),
            person_view(person),
            Some(as_person),
        )?;
        let whole_plan = read(Resource::EnablementPlan);
        let summary = read(Resource::EnablementPlanSummary);
        let plan = if whole_plan.is_ok() || summary.is_ok() {
            state
                .store
                .current_plan(id, PlanKind::EnablementPlan)
                .await?
        } else {
            None
        };
        if let (Ok(grounds), Some(record)) = (whole_plan, &plan) {
            let view = plan_view(state, record).await?;
            let as_plan = audit(Resource::EnablementPlan, grounds);
            self.push(
                SyncKind::EnablementPlan,
                key.clone(),
                Some(id),
                view,
                Some(as_plan),
            )?;
        } else if let (Ok(grounds), Some(record)) = (summary, &plan) {
            let view = summary_view(record)?;
            let as_summary = audit(Resource::EnablementPlanSummary, grounds);
            self.push(
                SyncKind::EnablementPlanSummary,
                key.clone(),
                Some(id),
                view,
                Some(as_summary),
            )?;
        }
        if let Ok(grounds) = read(Resource::Wrap)
            && let Some(record) = state.store.current_plan(id, PlanKind::Wrap).await?
        {
            let view = wrap_view(state, &record).await?;
            let as_wrap = audit(Resource::Wrap, grounds);
            self.push(SyncKind::Wrap, key.clone(), Some(id), view, Some(as_wrap))?;
        }
        if let Ok(grounds) = read(Resource::CrisisPlan) {
            let view = crisis_plan_parts(state, &access(grounds)).await?.view;
            let as_crisis = audit(Resource::CrisisPlan, grounds);
            self.push(
                SyncKind::CrisisPlan,
                key.clone(),
                Some(id),
                view,
                Some(as_crisis),
            )?;
        }
        if let Ok(grounds) = read(Resource::Consents) {
            let as_consents = audit(Resource::Consents, grounds);
            for consent in state.store.consents(id).await? {
                let view = livingwell_core::api::people::ConsentView::from(&consent);
                let consent_id = consent.id.to_string();
                self.push(
                    SyncKind::Consent,
                    consent_id,
                    Some(id),
                    view,
                    Some(as_consents),
                )?;
            }
        }
        if let Ok(grounds) = read(Resource::Appointments) {
            let as_diary = audit(Resource::Appointments, grounds);
            let (diary, bookings) =
                appointments::phone_copy(state, &caller, &access(grounds)).await?;
            self.appointments_change_by_clock(id, &diary, !bookings.is_empty())
                .await?;
            for view in diary {
                let item = view.id.to_string();
                self.push(SyncKind::Appointment, item, Some(id), view, Some(as_diary))?;
            }
            for view in bookings {
                let item = view.id.to_string();
                self.push(SyncKind::Booking, item, Some(id), view, Some(as_diary))?;
            }
        }
        // The access log is the person's own to keep on their phone.
        if let Ok(grounds @ Grounds::OwnRecord) = read(Resource::AccessLog) {
            self.own_log = Some((id, audit(Resource::AccessLog, grounds)));
        }
        Ok(())
    }

    /// When the person's appointments a phone keeps change by the clock alone: one leaves the
    /// window a phone keeps, one further ahead comes into it, a workshop offer lapses (passing
    /// a place on).
    async fn appointments_change_by_clock(
        &mut self,
        person: PersonId,
        diary: &[AppointmentView],
        bookings: bool,
    ) -> ApiResult<()> {
        let store = &self.state.store;
        let keeps = Duration::days(appointments::PHONE_KEEPS_DAYS);
        let ahead = Duration::days(appointments::PHONE_AHEAD_DAYS);
        let leaves = diary.iter().map(|view| view.starts_at + keeps).min();
        let comes = store
            .next_appointment_start(person, self.now + ahead)
            .await?
            .map(|start| start - ahead);
        let lapses = if bookings {
            store.next_offer_lapse(self.now).await?
        } else {
            None
        };
        for moment in [leaves, comes, lapses].into_iter().flatten() {
            self.changes_at(moment);
        }
        Ok(())
    }

    /// The conversations the caller takes part in, decided one by one as when opened.
    async fn read_conversations(&mut self) -> ApiResult<()> {
        let Some(scope) = own_scope(&self.user) else {
            return Ok(());
        };
        let mut summaries = self
            .state
            .messaging
            .own_conversations(self.user.id, scope)
            .await?;
        summaries.sort_by_key(|summary| summary.context.conversation.id);
        for summary in summaries {
            let conversation = &summary.context.conversation;
            let person = conversation.person_id;
            let relationship = self.relationship(person).await?;
            let Ok((grounds, role)) = policy::decide_conversation(
                &self.caller,
                &self.user,
                conversation,
                &relationship,
                Action::Read,
                self.now,
            ) else {
                continue;
            };
            // A carer's own conversation is theirs, not the person's: not in the person's log.
            let carers_own = conversation.carer_id.is_some();
            let audit = AuditAs {
                subject: (!carers_own).then_some(person),
                resource: if carers_own {
                    CARER_MESSAGES
                } else {
                    Resource::Messages.as_str()
                },
                grounds: grounds.as_str(),
            };
            let view = conversation_view(&summary, role, self.now);
            if view.peer_worker_available.is_some()
                && let Some(moment) =
                    worker_availability(&summary.context).next_change_after(self.now)
            {
                self.changes_at(moment);
            }
            self.push(
                SyncKind::Conversation,
                conversation.id.to_string(),
                Some(person),
                view,
                Some(audit),
            )?;
            let open = OpenConversation {
                context: summary.context,
                grounds,
                role,
            };
            self.conversations.push((open, audit));
        }
        Ok(())
    }

    /// Why the phone must drop `gone`, or `None` when it drops it by itself (an appointment
    /// older than a phone keeps).
    async fn why_gone(&mut self, gone: &Gone) -> ApiResult<Option<TombstoneReason>> {
        if gone.kind == SyncKind::Appointment {
            let record = match gone.id.parse::<AppointmentId>() {
                Ok(id) => self.state.store.appointment(id).await?,
                Err(_) => None,
            };
            let kept_from = self.now - Duration::days(appointments::PHONE_KEEPS_DAYS);
            match record {
                None => return Ok(Some(TombstoneReason::Deleted)),
                Some(record) if record.starts_at < kept_from => return Ok(None),
                Some(_) => {}
            }
        }
        let Some(person) = gone.person else {
            return Ok(Some(TombstoneReason::Deleted));
        };
        let relationship = self.relationship(person).await?;
        let still_seen = policy::decide(
            &self.caller,
            &relationship,
            resource_of(gone.kind),
            Action::Read,
            self.now,
        )
        .is_ok();
        Ok(Some(match gone.kind {
            // Still readable, yet no longer the caller's: taken off the appointment.
            SyncKind::Appointment if still_seen => TombstoneReason::AccessRevoked,
            _ if still_seen => TombstoneReason::Deleted,
            _ if self.consent_ran_out(&relationship) => TombstoneReason::Expired,
            _ => TombstoneReason::AccessRevoked,
        }))
    }

    /// Whether the person's consent to the caller ended by running out rather than by being
    /// revoked, with none other in force.
    fn consent_ran_out(&self, relationship: &Relationship) -> bool {
        let now = self.now;
        let consents = &relationship.consents;
        !consents.iter().any(|c| c.in_force_at(now))
            && consents.iter().any(|c| match (c.expires_at, c.revoked_at) {
                (Some(expiry), None) => expiry <= now,
                (Some(expiry), Some(revoked)) => expiry <= now && expiry <= revoked,
                (None, _) => false,
            })
    }

    /// Reads the feeds after the phone's positions into `records`, at most `room` more; says
    /// whether more are waiting.
    async fn read_feeds(
        &mut self,
        held: &mut SyncState,
        mut room: usize,
        records: &mut Vec<SyncRecord>,
    ) -> ApiResult<bool> {
        let state = self.state;
        let conversations = std::mem::take(&mut self.conversations);
        for (open, audit) in &conversations {
            let conversation = open.conversation();
            let id = conversation.id.to_string();
            let feed = message_feed(&id);
            let position = held.position(&feed);
            // Nothing new: no query, however long the history.
            if conversation.last_seq <= position {
                continue;
            }
            if room == 0 {
                return Ok(true);
            }
            let asked = room as i64;
            let MessagesAfter { messages, cursors } = state
                .store
                .messages_after(conversation.id, position, asked)
                .await?;
            let Some(newest) = messages.last().map(|m| m.seq) else {
                continue;
            };
            // Delivered first, so the states shown are those a replay of this page shows.
            let cursors = state
                .messaging
                .cursors_after_delivery(self.user.id, open, cursors, Some(newest))
                .await?;
            for message in &messages {
                let view = message_view(message, &cursors);
                records.push(self.feed_record(
                    SyncKind::Message,
                    message.id.to_string(),
                    Some(conversation.person_id),
                    view,
                    *audit,
                )?);
            }
            room -= messages.len();
            held.advance(feed, newest);
            if newest < conversation.last_seq && room == 0 {
                return Ok(true);
            }
        }
        if room == 0 {
            return Ok(true);
        }
        let position = held.position(NOTIFICATIONS);
        let events = state
            .store
            .events_for(self.user.id, position, room as i64)
            .await?;
        if let Some(newest) = events.last().map(|e| e.id) {
            held.advance(NOTIFICATIONS.to_owned(), newest);
        }
        let full = events.len() == room;
        room -= events.len();
        for event in &events {
            let view = event_view(event);
            records.push(record(
                SyncKind::Notification,
                event.id.to_string(),
                event.event.person_id,
                to_value(&view)?,
            ));
        }
        if full {
            return Ok(true);
        }
        let Some((person, audit)) = self.own_log else {
            return Ok(false);
        };
        let position = held.position(ACCESS_LOG);
        let lines = state
            .store
            .audit_for_subject_after(person, position, room as i64)
            .await?;
        let full = lines.len() == room;
        if let Some(newest) = lines.last().map(|line| line.record.seq) {
            held.advance(ACCESS_LOG.to_owned(), newest);
        }
        // The person's own reads (this sync's among them) are not news to them.
        let own = self.caller.audit_id();
        let others: Vec<_> = lines
            .into_iter()
            .filter(|line| line.record.entry.actor_id.as_deref() != Some(own.as_str()))
            .collect();
        for entry in access_log_entries(others) {
            records.push(self.feed_record(
                SyncKind::AccessLogEntry,
                entry.seq.to_string(),
                Some(person),
                entry,
                audit,
            )?);
        }
        Ok(full)
    }

    fn feed_record(
        &mut self,
        kind: SyncKind,
        id: String,
        person: Option<PersonId>,
        data: impl serde::Serialize,
        audit: AuditAs,
    ) -> ApiResult<SyncRecord> {
        self.audit_as.insert((kind, id.clone()), audit);
        Ok(record(kind, id, person, to_value(&data)?))
    }

    /// One entry per person and kind of record delivered, before the response leaves.
    async fn audit(&self, records: &[SyncRecord], request_id: &str) -> ApiResult<()> {
        let delivered: BTreeSet<AuditAs> = records
            .iter()
            .filter_map(|r| self.audit_as.get(&(r.kind, r.id.clone())).copied())
            .collect();
        if delivered.is_empty() {
            return Ok(());
        }
        let entries = delivered
            .into_iter()
            .map(|audit| NewAuditEntry {
                at: self.now,
                actor_id: Some(self.caller.audit_id()),
                actor_role: self.caller.audit_role().to_owned(),
                on_behalf_of: None,
                subject_id: audit.subject,
                resource: audit.resource.to_owned(),
                action: Action::Read.as_str().to_owned(),
                outcome: "allowed".to_owned(),
                relationship: Some(audit.grounds.to_owned()),
                request_id: Some(request_id.to_owned()),
                via: Some(ReadVia::Sync.to_string()),
                read_at: None,
            })
            .collect();
        self.state.audit.record_all(entries).await?;
        Ok(())
    }
}

fn to_value(data: &impl serde::Serialize) -> ApiResult<serde_json::Value> {
    serde_json::to_value(data).map_err(|_| ApiError::Internal("a record to sync"))
}

/// The part of a person's record a kind of synced record is.
fn resource_of(kind: SyncKind) -> Resource {
    match kind {
        SyncKind::Account | SyncKind::Person => Resource::Person,
        SyncKind::EnablementPlan => Resource::EnablementPlan,
        SyncKind::EnablementPlanSummary => Resource::EnablementPlanSummary,
        SyncKind::Wrap => Resource::Wrap,
        SyncKind::CrisisPlan => Resource::CrisisPlan,
        SyncKind::Appointment | SyncKind::Booking => Resource::Appointments,
        SyncKind::Consent => Resource::Consents,
        SyncKind::Conversation | SyncKind::Message | SyncKind::Notification => Resource::Messages,
        SyncKind::AccessLogEntry => Resource::AccessLog,
    }
}
