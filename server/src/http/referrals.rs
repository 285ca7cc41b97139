//! The front door: `/v1/referrals`.
//!
//! Policy:
//! - **A self-referral needs no account.** It is paid for by a proof of work
//!   (`GET /v1/referrals/challenge`, one challenge per referral) and counted per address
//!   before its body is read (429 with `Retry-After` past the limit); a body over
//!   [`BODY_MAX_BYTES`] is 413, every field is bounded (422 naming each).
//! - **A partner referral** is a staff system's with `referrals:write` (else 403
//!   `insufficient_scope`, before the body is read; app accounts 403); its own request budget
//!   applies.
//! - **Triage** is a practitioner's: the referrals of their teams and those at the front door
//!   (no hub asked for). Another team's referral is 404, as if it did not exist; any other
//!   account 403; staff systems with `referrals:read` list and read every referral, and
//!   decide none. Accepting takes the referral onto a team the practitioner is on (422
//!   `not_your_team` otherwise). A second triage is 409 naming the outcome already decided.
//! - **Audit.** A referral is not (yet) a person's record, so each receipt, read and triage is
//!   recorded as the log records what is not about one person (no subject), its resource
//!   naming the referral: `referral:{id}`, with the decision (`allowed` or `denied`). The person
//!   an acceptance makes is recorded as any person's creation is (`person`, `create`).
//! - **Who hears of it**: see [`crate::service::referrals`].

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, OriginalUri, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use livingwell_core::api::ErrorBody;
use livingwell_core::api::paging as page;
use livingwell_core::api::referrals::{
    BODY_MAX_BYTES, PartnerReferralRequest, ProofChallenge, ReferralId, ReferralPage,
    ReferralQuery, ReferralReceipt, ReferralSource, ReferralView, SelfReferralRequest,
    TriageRequest, TriageView, WHAT_HAPPENS_NEXT,
};
use livingwell_core::domain::FieldErrorCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::access::on_team;
use super::error::{ApiError, ApiResult};
use super::extract::{Path, Query, RequestId, Staff, StaffSystem, ValidJson};
use super::paging::{self, Paged};
use crate::auth::{Caller, StaffSystemCaller};
use crate::policy::{self, Resource, Work};
use crate::service::referrals::Incoming;
use crate::store::NewAuditEntry;
use crate::store::referrals::{OpenReferrals, ReferralRecord};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_referrals, refer_self))
        .routes(routes!(challenge))
        .routes(routes!(refer_partner))
        .routes(routes!(get_referral, triage))
        // Smaller than the API's limit: a referral is a few short texts.
        .layer(DefaultBodyLimit::max(BODY_MAX_BYTES))
}

/// A self-referral within its address's budget, counted before anything else of the request
/// is read: a flood from one address costs it its budget, not the server its work.
#[derive(Debug)]
struct WithinAddressBudget;

impl FromRequestParts<AppState> for WithinAddressBudget {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ConnectInfo(peer) = ConnectInfo::<SocketAddr>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::Internal("the peer's address"))?;
        state
            .referrals
            .check_address(peer.ip())
            .map_err(ApiError::RateLimited)?;
        Ok(WithinAddressBudget)
    }
}

/// A staff system holding `referrals:write`: read from the request's parts, so a caller
/// without it is refused before its body is looked at.
#[derive(Debug)]
struct Referrer(StaffSystemCaller);

impl FromRequestParts<AppState> for Referrer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let system = StaffSystem::from_request_parts(parts, state).await?;
        policy::decide_work(&Caller::StaffSystem(system.0.clone()), Work::Refer)?;
        Ok(Referrer(system.0))
    }
}

/// A proof-of-work challenge for one self-referral: solve it (about a second on a phone;
/// `livingwell_core::api::referrals::solve`, or ALTCHA's widget on a web page, whose payload
/// is this JSON in base64) and send it back, solved, as the referral's `proof`. It lapses after
/// ten minutes.
#[utoipa::path(get, path = "/v1/referrals/challenge", tag = "referrals",
    responses((status = 200, body = ProofChallenge, description = "A challenge (ALTCHA proof of work v2), signed")))]
async fn challenge(State(state): State<AppState>) -> ApiResult<axum::Json<ProofChallenge>> {
    let challenge = state
        .referrals
        .challenge()
        .map_err(|_| ApiError::Internal("a proof-of-work challenge"))?;
    Ok(axum::Json(challenge))
}

/// Refer yourself: no account needed. Name, how to contact you, what you would like help
/// with, your consent to be contacted, optionally the hub you would like, and a solved
/// challenge. The answer says what happens next and where to turn meanwhile.
#[utoipa::path(post, path = "/v1/referrals", tag = "referrals",
    request_body = SelfReferralRequest,
    responses((status = 201, body = ReferralReceipt, description = "Received: what happens next, and the crisis lines"),
              (status = 409, body = ErrorBody, description = "The challenge (`proof`) paid for a referral already"),
              (status = 413, body = ErrorBody, description = "Body larger than 16 KiB"),
              (status = 422, body = ErrorBody, description = "Invalid fields, each named; `proof` missing, not solved, not ours or `expired`"),
              (status = 429, body = ErrorBody, description = "Too many referrals from this address; see Retry-After")))]
async fn refer_self(
    State(state): State<AppState>,
    _budget: WithinAddressBudget,
    RequestId(request_id): RequestId,
    ValidJson(request): ValidJson<SelfReferralRequest>,
) -> ApiResult<(StatusCode, axum::Json<ReferralReceipt>)> {
    let proof = request
        .proof
        .as_ref()
        .ok_or_else(|| ApiError::invalid("proof", FieldErrorCode::Required))?;
    let proof_id = state.referrals.verify(proof)?;
    let referral = state
        .referrals
        .receive(Incoming {
            source: ReferralSource::SelfReferral,
            referrer_client_id: None,
            referrer: None,
            display_name: request.display_name,
            contact: request.contact,
            help_wanted: request.help_wanted,
            team_id: request.team_id,
            proof_id: Some(proof_id),
        })
        .await?;
    record(&state, None, referral.id, "create", true, &request_id).await?;
    Ok((StatusCode::CREATED, axum::Json(receipt(&state, &referral))))
}

/// A partner agency or GP refers someone, through a staff system with `referrals:write`.
#[utoipa::path(post, path = "/v1/referrals/partner", tag = "referrals",
    security(("bearer" = [])), request_body = PartnerReferralRequest,
    responses((status = 201, body = ReferralReceipt, description = "Received: what happens next, and the crisis lines"),
              (status = 403, body = ErrorBody, description = "Not a staff system, or without `referrals:write`"),
              (status = 413, body = ErrorBody, description = "Body larger than 16 KiB"),
              (status = 422, body = ErrorBody, description = "Invalid fields, each named")))]
async fn refer_partner(
    State(state): State<AppState>,
    Referrer(system): Referrer,
    RequestId(request_id): RequestId,
    ValidJson(request): ValidJson<PartnerReferralRequest>,
) -> ApiResult<(StatusCode, axum::Json<ReferralReceipt>)> {
    let referral = state
        .referrals
        .receive(Incoming {
            source: ReferralSource::Partner,
            referrer_client_id: Some(system.client_id.clone()),
            referrer: Some(request.referrer),
            display_name: request.display_name,
            contact: request.contact,
            help_wanted: request.help_wanted,
            team_id: request.team_id,
            proof_id: None,
        })
        .await?;
    let caller = Caller::StaffSystem(system);
    record(
        &state,
        Some(&caller),
        referral.id,
        "create",
        true,
        &request_id,
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(receipt(&state, &referral))))
}

/// The referrals waiting for triage that the caller may triage, oldest first: for a
/// practitioner, their teams' and those at the front door (no hub asked for); for a staff
/// system with `referrals:read`, every one.
#[utoipa::path(get, path = "/v1/referrals", tag = "referrals", security(("bearer" = [])),
    params(ReferralQuery),
    responses((status = 200, body = ReferralPage, description = "A page of referrals waiting for triage", headers(("link" = String, description = "The next page, as `<…>; rel=\"next\"`; absent on the last"))),
              (status = 403, body = ErrorBody, description = "Not a practitioner, or without `referrals:read`")))]
async fn list_referrals(
    State(state): State<AppState>,
    Staff(caller): Staff,
    RequestId(request_id): RequestId,
    Query(query): Query<ReferralQuery>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Paged<ReferralPage>> {
    let limit = paging::limit(query.limit, page::REFERRALS)?;
    let after: Option<ReferralId> = paging::cursor(query.cursor.as_deref())?;
    policy::decide_work(&caller, Work::ListReferrals)?;
    super::access::record_unscoped(
        &state,
        &caller,
        "referrals",
        policy::Action::Read,
        &request_id,
    )
    .await?;
    let visible = match &caller {
        Caller::User(user) => OpenReferrals::OfMember(user.id),
        Caller::StaffSystem(_) => OpenReferrals::All,
    };
    let referrals = state.store.open_referrals(visible, after, limit).await?;
    let next_cursor = paging::next_cursor(&referrals, limit, |referral| referral.id);
    let page = ReferralPage {
        referrals: referrals.iter().map(referral_view).collect(),
        next_cursor,
    };
    Ok(Paged::new(page, &uri, &[]))
}

/// One referral: for a practitioner on the team that holds it (any practitioner while it
/// waits at the front door), or a staff system with `referrals:read`.
#[utoipa::path(get, path = "/v1/referrals/{id}", tag = "referrals", security(("bearer" = [])),
    params(("id" = ReferralId, Path, description = "The referral")),
    responses((status = 200, body = ReferralView, description = "The referral"),
              (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "No such referral, or another team's")))]
async fn get_referral(
    State(state): State<AppState>,
    Staff(caller): Staff,
    RequestId(request_id): RequestId,
    Path(id): Path<ReferralId>,
) -> ApiResult<axum::Json<ReferralView>> {
    let referral = decided(&state, &caller, id, Decide::Read, &request_id).await?;
    Ok(axum::Json(referral_view(&referral)))
}

/// Triage: the referral's one outcome. `accepted` makes the person's record on the team's
/// caseload and an invitation whose code is in the answer, shown this once (no email or text
/// is sent: give it to the person); `signposted` says where to; `crisis_response` tells every
/// member of the team at once. A referral is triaged once.
#[utoipa::path(patch, path = "/v1/referrals/{id}", tag = "referrals", security(("bearer" = [])),
    params(("id" = ReferralId, Path, description = "The referral")), request_body = TriageRequest,
    responses((status = 200, body = TriageView, description = "Triaged; for an acceptance, with the invitation"),
              (status = 403, body = ErrorBody, description = "Not a practitioner"),
              (status = 404, body = ErrorBody, description = "No such referral, or another team's"),
              (status = 409, body = ErrorBody, description = "Triaged already: `outcome` is `already_accepted`, `already_signposted` or `already_crisis_response`"),
              (status = 422, body = ErrorBody, description = "Invalid; or `team_id` missing (the referral asked for no hub), unknown or not the caller's")))]
async fn triage(
    State(state): State<AppState>,
    Staff(caller): Staff,
    RequestId(request_id): RequestId,
    Path(id): Path<ReferralId>,
    ValidJson(request): ValidJson<TriageRequest>,
) -> ApiResult<axum::Json<TriageView>> {
    let referral = decided(&state, &caller, id, Decide::Triage, &request_id).await?;
    let Caller::User(practitioner) = &caller else {
        return Err(ApiError::Forbidden);
    };
    let (triaged, invitation) = state
        .referrals
        .triage(&referral, &request, practitioner.id, caller.audit_id())
        .await?;
    if let Some(person) = triaged.person_id {
        // The person made is recorded as any person's creation is: on the caller's team.
        state
            .audit
            .record(NewAuditEntry {
                at: triaged.triaged_at.unwrap_or_else(|| state.clock.now()),
                actor_id: Some(caller.audit_id()),
                actor_role: caller.audit_role().to_owned(),
                on_behalf_of: caller.on_behalf_of(),
                subject_id: Some(person),
                resource: Resource::Person.as_str().to_owned(),
                action: "create".to_owned(),
                outcome: "allowed".to_owned(),
                relationship: Some("team".to_owned()),
                request_id: Some(request_id),
                via: None,
                read_at: None,
            })
            .await?;
    }
    Ok(axum::Json(TriageView {
        referral: referral_view(&triaged),
        invitation,
    }))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decide {
    Read,
    Triage,
}

/// The referral `id`, once the policy allowed the caller this with it; the decision, either
/// way, recorded first. An unknown referral is 404 with nothing recorded.
async fn decided(
    state: &AppState,
    caller: &Caller,
    id: ReferralId,
    decide: Decide,
    request_id: &str,
) -> ApiResult<ReferralRecord> {
    let referral = state.store.referral(id).await?.ok_or(ApiError::NotFound)?;
    let visible = match referral.team_id {
        None => true,
        Some(team) => on_team(state, caller, team).await?,
    };
    let (work, action) = match decide {
        Decide::Read => (Work::ReadReferral { visible }, "read"),
        Decide::Triage => (Work::TriageReferral { visible }, "write"),
    };
    let decision = policy::decide_work(caller, work);
    record(
        state,
        Some(caller),
        id,
        action,
        decision.is_ok(),
        request_id,
    )
    .await?;
    decision?;
    Ok(referral)
}

/// Records what was done with a referral: no subject (it is no one's record yet), the
/// resource naming it.
async fn record(
    state: &AppState,
    caller: Option<&Caller>,
    id: ReferralId,
    action: &str,
    allowed: bool,
    request_id: &str,
) -> ApiResult<()> {
    state
        .audit
        .record(NewAuditEntry {
            at: state.clock.now(),
            actor_id: caller.map(Caller::audit_id),
            // A self-referral's sender has no account.
            actor_role: caller.map_or("anonymous", Caller::audit_role).to_owned(),
            on_behalf_of: caller.and_then(Caller::on_behalf_of),
            subject_id: None,
            resource: format!("referral:{id}"),
            action: action.to_owned(),
            outcome: if allowed { "allowed" } else { "denied" }.to_owned(),
            relationship: None,
            request_id: Some(request_id.to_owned()),
            via: None,
            read_at: None,
        })
        .await?;
    Ok(())
}

fn receipt(state: &AppState, referral: &ReferralRecord) -> ReferralReceipt {
    ReferralReceipt {
        id: referral.id,
        received_at: referral.received_at,
        what_happens_next: WHAT_HAPPENS_NEXT.to_owned(),
        crisis_lines: state.messaging.crisis_lines().to_vec(),
    }
}

fn referral_view(referral: &ReferralRecord) -> ReferralView {
    ReferralView {
        id: referral.id,
        source: referral.source,
        referrer: referral.referrer.clone(),
        referrer_client_id: referral.referrer_client_id.clone(),
        display_name: referral.display_name.clone(),
        contact: referral.contact.clone(),
        help_wanted: referral.help_wanted.clone(),
        consent_to_contact: referral.consent_to_contact,
        team_id: referral.team_id,
        received_at: referral.received_at,
        outcome: referral.outcome,
        triaged_at: referral.triaged_at,
        triaged_by: referral.triaged_by,
        person_id: referral.person_id,
        signposted_to: referral.signposted_to.clone(),
    }
}
