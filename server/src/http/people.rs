//! People and the relationships around them: caseload placement, peer allocation, carers,
//! consents, the "do not involve" list, emergency access and the access log.

use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use livingwell_core::api::ErrorBody;
use livingwell_core::api::paging as page;
use livingwell_core::api::people::{
    AccessLogEntry, AccessLogPage, AccessLogQuery, CarerLinkView, ConsentView, CreatePersonRequest,
    EmergencyAccessRequest, EmergencyAccessView, ExcludeUserRequest, GrantConsentRequest,
    LinkCarerRequest, PeerAllocationRequest, PersonView, PlaceOnTeamRequest,
};
use livingwell_core::domain::{ConsentId, PersonId};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::access::Authorized;
use super::error::{ApiError, ApiResult};
use super::extract::{Json, Path, Query, RequestId, Staff, ValidJson};
use super::paging::{self, Paged};
use super::sessions::{person_view, user_view};
use crate::auth::Caller;
use crate::policy::{self, Resource, Work, action, resource};
use crate::store::AccessLogLine;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_person))
        .routes(routes!(get_person))
        .routes(routes!(place_on_team, close_case))
        .routes(routes!(allocate_peer))
        .routes(routes!(list_carers, link_carer))
        .routes(routes!(list_consents, grant_consent))
        .routes(routes!(revoke_consent))
        .routes(routes!(exclude_user))
        .routes(routes!(emergency_access))
        .routes(routes!(access_log))
}

/// Staff: create a person's record, optionally on a team. Their app account comes by invitation
/// (`POST /v1/people/{id}/invitation`).
#[utoipa::path(post, path = "/v1/people", tag = "people", security(("bearer" = [])),
    request_body = CreatePersonRequest, responses(
        (status = 201, body = PersonView, description = "The person's record"),
        (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Conflicts with a stored record; `fields` names what"),
        (status = 422, body = ErrorBody),
))]
async fn create_person(
    State(state): State<AppState>,
    Staff(caller): Staff,
    RequestId(request_id): RequestId,
    ValidJson(request): ValidJson<CreatePersonRequest>,
) -> ApiResult<(StatusCode, axum::Json<PersonView>)> {
    policy::decide_work(&caller, Work::AddPerson)?;
    let member = match &caller {
        Caller::User(user) => Some(user.id),
        Caller::StaffSystem(_) => None,
    };
    let person = state.people.create(&request, member).await?;
    state
        .audit
        .record(crate::store::NewAuditEntry {
            at: person.created_at,
            actor_id: Some(caller.audit_id()),
            actor_role: caller.audit_role().to_owned(),
            on_behalf_of: caller.on_behalf_of(),
            subject_id: Some(person.id),
            resource: Resource::Person.as_str().to_owned(),
            action: "create".to_owned(),
            outcome: "allowed".to_owned(),
            relationship: Some(
                if person.team_id.is_some() {
                    "team"
                } else {
                    "unplaced"
                }
                .to_owned(),
            ),
            request_id: Some(request_id),
            via: None,
            read_at: None,
        })
        .await?;
    Ok((StatusCode::CREATED, axum::Json(person_view(&person))))
}

/// A person's summary: name, team and peer worker.
#[utoipa::path(get, path = "/v1/people/{id}", tag = "people", security(("bearer" = [])),
    params(("id" = PersonId, Path, description = "The person")),
    responses((status = 200, body = PersonView, description = "The person's summary"), (status = 404, body = ErrorBody)))]
async fn get_person(
    State(state): State<AppState>,
    Authorized { access, .. }: Authorized<resource::Person, action::Read>,
) -> ApiResult<axum::Json<PersonView>> {
    let person = access.person;
    current_view(&state, person).await
}

/// The person as stored now.
async fn current_view(state: &AppState, person: PersonId) -> ApiResult<axum::Json<PersonView>> {
    let record = state
        .store
        .person(person)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(axum::Json(person_view(&record)))
}

/// Staff: put the person on a team's caseload (taking them off any other).
#[utoipa::path(put, path = "/v1/people/{id}/team", tag = "people", security(("bearer" = [])),
    params(("id" = PersonId, Path)), request_body = PlaceOnTeamRequest,
    responses((status = 200, body = PersonView, description = "The person, on the team's caseload"), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn place_on_team(
    State(state): State<AppState>,
    Authorized { access, .. }: Authorized<resource::TeamPlacement, action::Write>,
    Json(request): Json<PlaceOnTeamRequest>,
) -> ApiResult<axum::Json<PersonView>> {
    state
        .people
        .place_on_team(access.person, request.team_id)
        .await?;
    current_view(&state, access.person).await
}

/// Staff: close the case ("easy out"). The person leaves the team's caseload (the place is
/// kept in the history as closed), and their key worker and peer worker links end (what they
/// shared with the peer worker ends with it). The person, their account and their records
/// (their WRAP is theirs) stay; a case closed already is 404, like a person on no caseload.
#[utoipa::path(delete, path = "/v1/people/{id}/team", tag = "people", security(("bearer" = [])),
    params(("id" = PersonId, Path)),
    responses((status = 204, description = "Closed"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody, description = "No such person, not the caller's to see, or on no caseload (closed already)")))]
async fn close_case(
    State(state): State<AppState>,
    Authorized { access, .. }: Authorized<resource::TeamPlacement, action::Write>,
) -> ApiResult<StatusCode> {
    state
        .store
        .close_case(access.person, state.clock.now())
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Staff: allocate (or reallocate) the person's peer worker.
#[utoipa::path(put, path = "/v1/people/{id}/peer-allocation", tag = "people", security(("bearer" = [])),
    params(("id" = PersonId, Path)), request_body = PeerAllocationRequest,
    responses((status = 200, body = PersonView, description = "The person, with their peer worker"), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn allocate_peer(
    State(state): State<AppState>,
    Authorized { access, .. }: Authorized<resource::PeerAllocation, action::Write>,
    Json(request): Json<PeerAllocationRequest>,
) -> ApiResult<axum::Json<PersonView>> {
    state
        .people
        .allocate_peer(access.person, request.peer_worker_id)
        .await?;
    current_view(&state, access.person).await
}

/// The person's carers.
#[utoipa::path(get, path = "/v1/people/{id}/carers", tag = "people", security(("bearer" = [])),
    params(("id" = PersonId, Path)),
    responses((status = 200, body = [CarerLinkView], description = "The person's carers"), (status = 404, body = ErrorBody)))]
async fn list_carers(
    State(state): State<AppState>,
    Authorized { access, .. }: Authorized<resource::Carers, action::Read>,
) -> ApiResult<axum::Json<Vec<CarerLinkView>>> {
    let person = access.person;
    let links = state.store.carers(person).await?;
    Ok(axum::Json(
        links
            .iter()
            .map(|link| CarerLinkView {
                carer: user_view(&link.carer),
                relationship: link.relationship.clone(),
                linked_at: link.linked_at,
            })
            .collect(),
    ))
}

/// The person (or their team, recording the person's wish) names a carer.
#[utoipa::path(post, path = "/v1/people/{id}/carers", tag = "people", security(("bearer" = [])),
    params(("id" = PersonId, Path)), request_body = LinkCarerRequest,
    responses((status = 201, description = "Linked"), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn link_carer(
    State(state): State<AppState>,
    Authorized { access, .. }: Authorized<resource::Carers, action::Write>,
    ValidJson(request): ValidJson<LinkCarerRequest>,
) -> ApiResult<StatusCode> {
    state
        .people
        .link_carer(
            access.person,
            request.carer_id,
            request.relationship.as_deref(),
        )
        .await?;
    Ok(StatusCode::CREATED)
}

/// Every consent the person has given, in force or not.
#[utoipa::path(get, path = "/v1/people/{id}/consents", tag = "people", security(("bearer" = [])),
    params(("id" = PersonId, Path)),
    responses((status = 200, body = [ConsentView], description = "The person's consents"), (status = 404, body = ErrorBody)))]
async fn list_consents(
    State(state): State<AppState>,
    Authorized { access, .. }: Authorized<resource::Consents, action::Read>,
) -> ApiResult<axum::Json<Vec<ConsentView>>> {
    let person = access.person;
    let consents = state.store.consents(person).await?;
    Ok(axum::Json(consents.iter().map(ConsentView::from).collect()))
}

/// The person shares part of their record with a linked carer, or with their allocated peer
/// worker (the crisis plan and a summary of the Enablement Plan), optionally until a date. Only
/// the person can: staff and staff systems are refused.
#[utoipa::path(post, path = "/v1/people/{id}/consents", tag = "people", security(("bearer" = [])),
    params(("id" = PersonId, Path)), request_body = GrantConsentRequest,
    responses(
        (status = 201, body = ConsentView, description = "The consent, given"),
        (status = 404, body = ErrorBody),
        (status = 401, body = ErrorBody, description = "Not signed in, or `step_up_required`: enter the password again (`POST /v1/auth/reauthenticate`)"),
        (status = 403, body = ErrorBody, description = "Only the person can share their record"),
        (status = 422, body = ErrorBody, description = "Invalid; the grantee is on the person's do-not-involve list, not a linked carer, or not the allocated peer worker"),
))]
async fn grant_consent(
    State(state): State<AppState>,
    Authorized { caller, access, .. }: Authorized<resource::Consents, action::Write>,
    Json(request): Json<GrantConsentRequest>,
) -> ApiResult<(StatusCode, axum::Json<ConsentView>)> {
    // Sharing more widens who sees the record: it needs the password entered recently, so a
    // phone left unlocked cannot be used to share the person's plan. Revoking never does.
    super::accounts::require_recent_sign_in(&state, &caller)?;
    let consent = state.people.grant_consent(access.person, request).await?;
    Ok((StatusCode::CREATED, axum::Json(ConsentView::from(&consent))))
}

/// The person revokes a consent; the carer or peer worker loses access on their next request.
/// Only the person can.
#[utoipa::path(delete, path = "/v1/people/{id}/consents/{consent_id}", tag = "people",
    security(("bearer" = [])),
    params(("id" = PersonId, Path), ("consent_id" = ConsentId, Path)),
    responses((status = 204, description = "Revoked"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn revoke_consent(
    State(state): State<AppState>,
    Authorized { access, .. }: Authorized<resource::Consents, action::Write>,
    Path((_, consent)): Path<(PersonId, ConsentId)>,
) -> ApiResult<StatusCode> {
    state.people.revoke_consent(access.person, consent).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Add someone to the person's "people I do not want involved" list. Any consent to them is
/// revoked at once, and none can be granted while they are on it.
#[utoipa::path(post, path = "/v1/people/{id}/do-not-involve", tag = "people",
    security(("bearer" = [])), params(("id" = PersonId, Path)), request_body = ExcludeUserRequest,
    responses((status = 204, description = "Added"), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn exclude_user(
    State(state): State<AppState>,
    Authorized { access, .. }: Authorized<resource::Exclusions, action::Write>,
    Json(request): Json<ExcludeUserRequest>,
) -> ApiResult<StatusCode> {
    state.people.exclude(access.person, request.user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Break glass: a practitioner outside the person's team opens the record for a stated reason,
/// for a limited time. The grant is flagged in the audit log and shown to the person.
#[utoipa::path(post, path = "/v1/people/{id}/emergency-access", tag = "people",
    security(("bearer" = [])), params(("id" = PersonId, Path)), request_body = EmergencyAccessRequest,
    responses((status = 201, body = EmergencyAccessView, description = "The emergency access, granted"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn emergency_access(
    State(state): State<AppState>,
    Authorized { caller, access, .. }: Authorized<resource::EmergencyAccess, action::Write>,
    Json(request): Json<EmergencyAccessRequest>,
) -> ApiResult<(StatusCode, axum::Json<EmergencyAccessView>)> {
    // The policy allows breaking glass to practitioners only.
    let Caller::User(user) = &caller else {
        return Err(ApiError::Internal(
            "emergency access without a practitioner",
        ));
    };
    let grant = state
        .people
        .break_glass(access.person, user.id, &request)
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(EmergencyAccessView {
            id: grant.id,
            person_id: grant.person_id,
            practitioner_id: grant.practitioner_id,
            reason: grant.reason,
            granted_at: grant.granted_at,
            expires_at: grant.expires_at,
        }),
    ))
}

/// Who has seen or changed the person's record, newest first.
#[utoipa::path(get, path = "/v1/people/{id}/access-log", tag = "people", security(("bearer" = [])),
    params(("id" = PersonId, Path), AccessLogQuery),
    responses((status = 200, body = AccessLogPage, description = "A page of the access log", headers(("link" = String, description = "The next page, as `<…>; rel=\"next\"`; absent on the last"))), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn access_log(
    State(state): State<AppState>,
    Authorized { access, .. }: Authorized<resource::AccessLog, action::Read>,
    Query(query): Query<AccessLogQuery>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Paged<AccessLogPage>> {
    let person = access.person;
    let limit = paging::limit(query.limit, page::ACCESS_LOG)?;
    let before: Option<i64> = paging::cursor(query.cursor.as_deref())?;
    let records = state.store.audit_for_subject(person, before, limit).await?;
    let next_cursor = paging::next_cursor(&records, limit, |line| line.record.seq);
    let entries = access_log_entries(records);
    Ok(Paged::new(
        AccessLogPage {
            entries,
            next_cursor,
        },
        &uri,
        &[],
    ))
}

/// Lines of an access log as the person sees them, with the names they know the actors by.
pub(super) fn access_log_entries(lines: Vec<AccessLogLine>) -> Vec<AccessLogEntry> {
    lines
        .into_iter()
        .map(|line| {
            let AccessLogLine { record, actor_name } = line;
            let entry = record.entry;
            AccessLogEntry {
                seq: record.seq,
                at: entry.at,
                actor_name,
                actor_id: entry.actor_id,
                actor_role: entry.actor_role,
                on_behalf_of: entry.on_behalf_of,
                resource: entry.resource,
                action: entry.action,
                outcome: entry.outcome,
                relationship: entry.relationship,
                via: entry.via.as_deref().and_then(|via| via.parse().ok()),
                read_at: entry.read_at,
            }
        })
        .collect()
}
