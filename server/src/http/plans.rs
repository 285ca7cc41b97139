//! The Enablement Plan, the WRAP and its crisis plan over HTTP: versions, co-production,
//! sharing and crisis activation.
//!
//! Writes go through [`crate::service::plans`], which stores each with the events telling
//! those who hear of it; these handlers read the version rule from `If-Match` or the body,
//! and shape what is stored into views (a carer's crisis plan cut to the sections shared).

use std::collections::{BTreeSet, HashMap};

use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use livingwell_core::api::ErrorBody;
use livingwell_core::api::headers::{none_match_names, representation_tag, version_in_tag};
use livingwell_core::api::paging as page;
use livingwell_core::api::plans::{
    ActivateRequest, ActivationView, AgreeRequest, AgreementView, AuthorView, CommentPage,
    CommentQuery, CommentRequest, CommentView, CrisisPlanView, DomainTrajectory,
    EnablementPlanSummaryView, EnablementPlanView, PutEnablementPlanRequest, PutWrapRequest,
    RatingPoint, TrajectoryView, VersionPage, VersionQuery, VersionSummary, WrapSettingsRequest,
    WrapView,
};
use livingwell_core::domain::plan::{EnablementPlan, PlanSection};
use livingwell_core::domain::wrap::Wrap;
use livingwell_core::domain::{CrisisPlanSection, PersonId};
use livingwell_core::domain::{FieldError, FieldErrorCode};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::access::{Access, Authorized};
use super::error::{ApiError, ApiResult};
use super::extract::{Json, Path, Query, ValidJson};
use super::paging::{self, Paged};
use super::printable::{self, CrisisPlanParts};
use super::sessions::display_names;
use crate::auth::Caller;
use crate::policy::{self, action, resource};
use crate::service::plans::{Agreement, NewComment, WrapWrite};
use crate::store::plans::{
    ActivationRecord, AgreementRecord, AppendOutcome, Author, CommentRecord, CrisisPlanRead,
    PlanKind, PlanVersionRecord,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_enablement_plan, put_enablement_plan))
        .routes(routes!(enablement_plan_summary))
        .routes(routes!(enablement_plan_versions))
        .routes(routes!(enablement_plan_version))
        .routes(routes!(list_comments, add_comment))
        .routes(routes!(agree))
        .routes(routes!(outcome_trajectory))
        .routes(routes!(get_wrap, put_wrap))
        .routes(routes!(wrap_settings))
        .routes(routes!(get_crisis_plan))
        .routes(routes!(activate, deactivate))
        .routes(routes!(printable_crisis_plan))
}

fn author_of(caller: &Caller) -> Author {
    Author {
        id: caller.audit_id(),
        role: caller.audit_role().to_owned(),
    }
}

fn author_view(author: &Author, names: &HashMap<String, String>) -> AuthorView {
    AuthorView {
        id: author.id.clone(),
        role: author.role.clone(),
        name: names.get(&author.id).cloned(),
    }
}

fn decode<T: DeserializeOwned>(record: &PlanVersionRecord) -> ApiResult<T> {
    record
        .body
        .decode()
        .map_err(|_| ApiError::Internal("stored plan"))
}

/// The version a write is based on: `If-Match: "n"` or `base_version` (required, one of them).
fn base_version(headers: &HeaderMap, in_body: Option<i32>) -> ApiResult<i32> {
    let from_header = match headers.get(header::IF_MATCH) {
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(version_in_tag)
                .ok_or_else(|| ApiError::invalid("if-match", FieldErrorCode::Invalid))?,
        ),
        None => None,
    };
    match from_header.or(in_body) {
        Some(version) if version >= 0 => Ok(version),
        Some(_) => Err(ApiError::invalid("base_version", FieldErrorCode::Invalid)),
        None => Err(ApiError::invalid("base_version", FieldErrorCode::Required)),
    }
}

/// The version stored, or 409 naming the version now current.
fn stored(outcome: AppendOutcome) -> ApiResult<PlanVersionRecord> {
    match outcome {
        AppendOutcome::Stored(record) => Ok(record),
        AppendOutcome::Stale { current } => Err(ApiError::StaleVersion(current.into())),
    }
}

/// Room for a plan view's JSON, allocated once: the demo's plans answer 3–4 KB.
const PLAN_VIEW_BYTES: usize = 8 * 1024;

/// A plan answered with its ETag (see `livingwell_core::api::headers`), or `304` with no body
/// when the reader's `If-None-Match` names the representation it would get.
fn tagged<T: serde::Serialize>(
    request: &HeaderMap,
    version: i32,
    status: StatusCode,
    body: &T,
) -> ApiResult<Response> {
    // Written into room for a whole plan at once: grown from `to_vec`'s 128 bytes, a ~4 KB plan
    // was copied into five ever larger buffers on its way out.
    let mut bytes = Vec::with_capacity(PLAN_VIEW_BYTES);
    serde_json::to_writer(&mut bytes, body).map_err(|_| ApiError::Internal("plan view"))?;
    // Eight bytes of SHA-256: a changed representation keeps its tag only by a 1-in-2^64 chance.
    let digest = hex::encode(&Sha256::digest(&bytes)[..8]);
    let etag = HeaderValue::from_str(&representation_tag(version, &digest))
        .map_err(|_| ApiError::Internal("plan etag"))?;
    let unchanged = request
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| etag.to_str().ok().map(|etag| none_match_names(value, etag)))
        .unwrap_or(false);
    let mut response = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            bytes,
        )
            .into_response()
    };
    response.headers_mut().insert(header::ETAG, etag);
    Ok(response)
}

pub(super) async fn plan_view(
    state: &AppState,
    record: &PlanVersionRecord,
) -> ApiResult<EnablementPlanView> {
    let agreements = state
        .store
        .agreements(record.person_id, record.version)
        .await?;
    let agreed_ids: Vec<String> = agreements.iter().map(|a| a.agreed_by.to_string()).collect();
    let mut ids: Vec<&str> = agreed_ids.iter().map(String::as_str).collect();
    ids.push(&record.author.id);
    let names = display_names(state.store.as_ref(), ids.iter().copied()).await?;
    agreed_plan_view(record, &agreements, &names)
}

/// The plan as read, with who wrote and who agreed it, named from `names` (by account id).
fn agreed_plan_view(
    record: &PlanVersionRecord,
    agreements: &[AgreementRecord],
    names: &HashMap<String, String>,
) -> ApiResult<EnablementPlanView> {
    let plan: EnablementPlan = decode(record)?;
    Ok(EnablementPlanView {
        person_id: record.person_id,
        version: record.version,
        plan,
        author: author_view(&record.author, names),
        created_at: record.created_at,
        agreements: agreements
            .iter()
            .map(|a| AgreementView {
                version: a.version,
                agreed_by: author_view(
                    &Author {
                        id: a.agreed_by.to_string(),
                        role: a.agreed_role.clone(),
                    },
                    names,
                ),
                agreed_at: a.agreed_at,
            })
            .collect(),
    })
}

async fn current(
    state: &AppState,
    person: PersonId,
    kind: PlanKind,
) -> ApiResult<PlanVersionRecord> {
    state
        .store
        .current_plan(person, kind)
        .await?
        .ok_or(ApiError::NotFound)
}

/// The current Enablement Plan, with who agreed it. `ETag` carries the version.
#[utoipa::path(get, path = "/v1/people/{id}/enablement-plan", tag = "plans", security(("bearer" = [])),
    params(("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier answer: 304 while it still names what would be sent"), ("id" = PersonId, Path)),
    responses((status = 304, description = "Not modified: the ETag sent is still current"), (status = 200, body = EnablementPlanView, description = "The current Enablement Plan"), (status = 404, body = ErrorBody)))]
async fn get_enablement_plan(
    State(state): State<AppState>,
    Authorized { access, .. }: Authorized<resource::EnablementPlan, action::Read>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let agreed = state
        .store
        .current_plan_agreed(access.person, PlanKind::EnablementPlan)
        .await?
        .ok_or(ApiError::NotFound)?;
    let view = agreed_plan_view(&agreed.record, &agreed.agreements, &agreed.names)?;
    tagged(&headers, agreed.record.version, StatusCode::OK, &view)
}

/// The summary of the current Enablement Plan: goals in the person's words, level of support,
/// key contacts and review date. What a peer worker sees when the person shares the plan with
/// them; everyone who may read the plan may read its summary.
#[utoipa::path(get, path = "/v1/people/{id}/enablement-plan/summary", tag = "plans",
    security(("bearer" = [])), params(("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier answer: 304 while it still names what would be sent"), ("id" = PersonId, Path)),
    responses((status = 304, description = "Not modified: the ETag sent is still current"), (status = 200, body = EnablementPlanSummaryView, description = "The summary of the current plan"), (status = 404, body = ErrorBody)))]
async fn enablement_plan_summary(
    State(state): State<AppState>,
    Authorized { access, .. }: Authorized<resource::EnablementPlanSummary, action::Read>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let person = access.person;
    let record = current(&state, person, PlanKind::EnablementPlan).await?;
    let view = summary_view(&record)?;
    tagged(&headers, record.version, StatusCode::OK, &view)
}

pub(super) fn summary_view(record: &PlanVersionRecord) -> ApiResult<EnablementPlanSummaryView> {
    let plan: EnablementPlan = decode(record)?;
    Ok(EnablementPlanSummaryView {
        person_id: record.person_id,
        version: record.version,
        summary: plan.summary(),
        created_at: record.created_at,
    })
}

/// Staff: store a new version. The version it was based on (`If-Match: "n"` or
/// `base_version`, 0 for the first) must still be current, or nothing is stored and the
/// answer is 409 with `current_version`.
#[utoipa::path(put, path = "/v1/people/{id}/enablement-plan", tag = "plans", security(("bearer" = [])),
    params(("id" = PersonId, Path), ("If-Match" = Option<String>, Header, description = "The version this change was made on, as an ETag")),
    request_body = PutEnablementPlanRequest,
    responses((status = 200, body = EnablementPlanView, description = "The version, stored"), (status = 409, body = ErrorBody, description = "Changed meanwhile: nothing stored; `current_version` says which version is current"), (status = 422, body = ErrorBody)))]
async fn put_enablement_plan(
    State(state): State<AppState>,
    Authorized { caller, access, .. }: Authorized<resource::EnablementPlan, action::Write>,
    headers: HeaderMap,
    ValidJson(request): ValidJson<PutEnablementPlanRequest>,
) -> ApiResult<Response> {
    let base = base_version(&headers, request.base_version)?;
    let outcome = state
        .plans
        .store_enablement_plan(author_of(&caller), access.person, base, &request.plan)
        .await?;
    let record = stored(outcome)?;
    let view = plan_view(&state, &record).await?;
    // A write's answer is never Not Modified: no `If-None-Match` applies to it.
    tagged(&HeaderMap::new(), record.version, StatusCode::OK, &view)
}

/// Every version, newest first, with its author.
#[utoipa::path(get, path = "/v1/people/{id}/enablement-plan/versions", tag = "plans",
    security(("bearer" = [])), params(("id" = PersonId, Path), VersionQuery),
    responses((status = 200, body = VersionPage, description = "A page of versions", headers(("link" = String, description = "The next page, as `<…>; rel=\"next\"`; absent on the last"))), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn enablement_plan_versions(
    State(state): State<AppState>,
    Authorized { access, .. }: Authorized<resource::EnablementPlan, action::Read>,
    Query(query): Query<VersionQuery>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Paged<VersionPage>> {
    let person = access.person;
    let limit = paging::limit(query.limit, page::PLAN_VERSIONS)?;
    let before: Option<i32> = paging::cursor(query.cursor.as_deref())?;
    let versions = state
        .store
        .plan_history(person, PlanKind::EnablementPlan, before, limit)
        .await?;
    let ids: Vec<&str> = versions.iter().map(|v| v.author.id.as_str()).collect();
    let names = display_names(state.store.as_ref(), ids.iter().copied()).await?;
    let next_cursor = paging::next_cursor(&versions, limit, |v| v.version);
    let page = VersionPage {
        versions: versions
            .iter()
            .map(|v| VersionSummary {
                version: v.version,
                author: author_view(&v.author, &names),
                created_at: v.created_at,
            })
            .collect(),
        next_cursor,
    };
    Ok(Paged::new(page, &uri, &[]))
}

/// One version of the plan, as it was.
#[utoipa::path(get, path = "/v1/people/{id}/enablement-plan/versions/{version}", tag = "plans",
    security(("bearer" = [])), params(("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier answer: 304 while it still names what would be sent"), ("id" = PersonId, Path), ("version" = i32, Path)),
    responses((status = 304, description = "Not modified: the ETag sent is still current"), (status = 200, body = EnablementPlanView, description = "That version"), (status = 404, body = ErrorBody)))]
async fn enablement_plan_version(
    State(state): State<AppState>,
    Authorized { access, .. }: Authorized<resource::EnablementPlan, action::Read>,
    Path((_, version)): Path<(PersonId, i32)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let person = access.person;
    let record = state
        .store
        .plan_version(person, PlanKind::EnablementPlan, version)
        .await?
        .ok_or(ApiError::NotFound)?;
    let view = plan_view(&state, &record).await?;
    tagged(&headers, record.version, StatusCode::OK, &view)
}

fn comment_view(
    comment: &CommentRecord,
    names: &HashMap<String, String>,
) -> ApiResult<CommentView> {
    let section: PlanSection =
        serde_json::from_value(serde_json::Value::String(comment.section.clone()))
            .map_err(|_| ApiError::Internal("stored comment section"))?;
    Ok(CommentView {
        id: comment.id,
        version: comment.version,
        section,
        body: comment.body.clone(),
        disagree: comment.disagree,
        author: author_view(&comment.author, names),
        created_at: comment.created_at,
    })
}

/// Comments on the plan, newest first (the person's, and where they disagree).
#[utoipa::path(get, path = "/v1/people/{id}/enablement-plan/comments", tag = "plans",
    security(("bearer" = [])), params(("id" = PersonId, Path), CommentQuery),
    responses((status = 200, body = CommentPage, description = "A page of comments", headers(("link" = String, description = "The next page, as `<…>; rel=\"next\"`; absent on the last"))), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn list_comments(
    State(state): State<AppState>,
    Authorized { access, .. }: Authorized<resource::EnablementPlan, action::Read>,
    Query(query): Query<CommentQuery>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Paged<CommentPage>> {
    let person = access.person;
    let limit = paging::limit(query.limit, page::PLAN_COMMENTS)?;
    let before: Option<uuid::Uuid> = paging::cursor(query.cursor.as_deref())?;
    let comments = state.store.comments(person, before, limit).await?;
    let ids: Vec<&str> = comments.iter().map(|c| c.author.id.as_str()).collect();
    let names = display_names(state.store.as_ref(), ids.iter().copied()).await?;
    let page = CommentPage {
        next_cursor: paging::next_cursor(&comments, limit, |c| c.id),
        comments: comments
            .iter()
            .map(|c| comment_view(c, &names))
            .collect::<ApiResult<_>>()?,
    };
    Ok(Paged::new(page, &uri, &[]))
}

/// The person comments on a section of the current version, or records that they disagree.
#[utoipa::path(post, path = "/v1/people/{id}/enablement-plan/comments", tag = "plans",
    security(("bearer" = [])), params(("id" = PersonId, Path)), request_body = CommentRequest,
    responses((status = 201, body = CommentView, description = "The comment, stored"), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_comment(
    State(state): State<AppState>,
    Authorized { caller, access, .. }: Authorized<resource::EnablementPlan, action::Comment>,
    ValidJson(request): ValidJson<CommentRequest>,
) -> ApiResult<(StatusCode, axum::Json<CommentView>)> {
    let comment = NewComment {
        section: request.section,
        body: request.body,
        disagree: request.disagree,
    };
    let comment = state
        .plans
        .comment(author_of(&caller), access.person, comment)
        .await?
        .ok_or(ApiError::NotFound)?;
    let names = display_names(state.store.as_ref(), [comment.author.id.as_str()]).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(comment_view(&comment, &names)?),
    ))
}

/// The person (or a carer they share the plan with) agrees a version; it must be the current one.
#[utoipa::path(post, path = "/v1/people/{id}/enablement-plan/agreement", tag = "plans",
    security(("bearer" = [])), params(("id" = PersonId, Path)), request_body = AgreeRequest,
    responses((status = 201, body = AgreementView, description = "The agreement, recorded"), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "Not the current version")))]
async fn agree(
    State(state): State<AppState>,
    Authorized { caller, access, .. }: Authorized<resource::EnablementPlan, action::Agree>,
    Json(request): Json<AgreeRequest>,
) -> ApiResult<(StatusCode, axum::Json<AgreementView>)> {
    // Only accounts agree: the policy gives staff systems no agreement.
    let Caller::User(user) = &caller else {
        return Err(ApiError::Internal("an agreement without an account"));
    };
    let agreement = match state
        .plans
        .agree(author_of(&caller), user.id, access.person, request.version)
        .await?
    {
        Agreement::Agreed(agreement) => agreement,
        Agreement::Stale { current } => return Err(ApiError::StaleVersion(current.into())),
        Agreement::NoPlan => return Err(ApiError::NotFound),
    };
    let names = display_names(state.store.as_ref(), [user.id.to_string().as_str()]).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(AgreementView {
            version: agreement.version,
            agreed_by: author_view(
                &Author {
                    id: user.id.to_string(),
                    role: agreement.agreed_role.clone(),
                },
                &names,
            ),
            agreed_at: agreement.agreed_at,
        }),
    ))
}

/// Each outcome domain's ratings over time, baseline first: ready to chart.
#[utoipa::path(get, path = "/v1/people/{id}/enablement-plan/outcomes", tag = "plans",
    security(("bearer" = [])), params(("id" = PersonId, Path)),
    responses((status = 200, body = TrajectoryView, description = "Each domain's ratings"), (status = 404, body = ErrorBody)))]
async fn outcome_trajectory(
    State(state): State<AppState>,
    Authorized { access, .. }: Authorized<resource::EnablementPlan, action::Read>,
) -> ApiResult<axum::Json<TrajectoryView>> {
    let person = access.person;
    let record = current(&state, person, PlanKind::EnablementPlan).await?;
    let plan: EnablementPlan = decode(&record)?;
    let domains = plan
        .trajectory()
        .into_iter()
        .map(|(domain, points)| DomainTrajectory {
            domain: domain.to_owned(),
            label: state
                .outcome_labels
                .get(domain)
                .cloned()
                .unwrap_or_else(|| domain.to_owned()),
            points: points
                .into_iter()
                .map(|(rated_on, occasion, score)| RatingPoint {
                    rated_on,
                    occasion,
                    score,
                })
                .collect(),
        })
        .collect();
    Ok(axum::Json(TrajectoryView {
        person_id: person,
        version: record.version,
        domains,
    }))
}

pub(super) async fn wrap_view(state: &AppState, record: &PlanVersionRecord) -> ApiResult<WrapView> {
    let wrap: Wrap = decode(record)?;
    let names = display_names(state.store.as_ref(), [record.author.id.as_str()]).await?;
    Ok(WrapView {
        person_id: record.person_id,
        version: record.version,
        wrap,
        team_may_coauthor: state.store.wrap_coauthoring(record.person_id).await?,
        author: author_view(&record.author, &names),
        created_at: record.created_at,
    })
}

/// The whole WRAP: for its owner, and for the team to read.
#[utoipa::path(get, path = "/v1/people/{id}/wrap", tag = "plans", security(("bearer" = [])),
    params(("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier answer: 304 while it still names what would be sent"), ("id" = PersonId, Path)),
    responses((status = 304, description = "Not modified: the ETag sent is still current"), (status = 200, body = WrapView, description = "The WRAP"), (status = 404, body = ErrorBody)))]
async fn get_wrap(
    State(state): State<AppState>,
    Authorized { access, .. }: Authorized<resource::Wrap, action::Read>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let person = access.person;
    let record = current(&state, person, PlanKind::Wrap).await?;
    let view = wrap_view(&state, &record).await?;
    tagged(&headers, record.version, StatusCode::OK, &view)
}

/// The owner (or a co-author they allow) stores a new version of the WRAP. Accounts on the
/// "people I do not want involved" list lose any consent at once and can be granted none.
#[utoipa::path(put, path = "/v1/people/{id}/wrap", tag = "plans", security(("bearer" = [])),
    params(("id" = PersonId, Path), ("If-Match" = Option<String>, Header, description = "The version this change was made on")),
    request_body = PutWrapRequest,
    responses((status = 200, body = WrapView, description = "The version, stored"), (status = 409, body = ErrorBody, description = "Changed meanwhile: nothing stored; `current_version` says which version is current"), (status = 422, body = ErrorBody)))]
async fn put_wrap(
    State(state): State<AppState>,
    Authorized { caller, access, .. }: Authorized<resource::Wrap, action::Write>,
    headers: HeaderMap,
    ValidJson(request): ValidJson<PutWrapRequest>,
) -> ApiResult<Response> {
    let base = base_version(&headers, request.base_version)?;
    let outcome = match state
        .plans
        .store_wrap(author_of(&caller), access.person, base, &request.wrap)
        .await?
    {
        WrapWrite::Stored(outcome) => outcome,
        WrapWrite::UnknownAccount(unknown) => {
            let listed = request
                .wrap
                .crisis_plan
                .supporters
                .not_involved
                .iter()
                .position(|p| p.user_id == Some(unknown));
            let field = format!(
                "wrap.crisis_plan.supporters.not_involved[{}].user_id",
                listed.unwrap_or(0)
            );
            return Err(ApiError::invalid(&field, FieldErrorCode::NotFound));
        }
    };
    let record = stored(outcome)?;
    let view = wrap_view(&state, &record).await?;
    // A write's answer is never Not Modified: no `If-None-Match` applies to it.
    tagged(&HeaderMap::new(), record.version, StatusCode::OK, &view)
}

/// The owner decides whether their team may co-author the WRAP.
#[utoipa::path(put, path = "/v1/people/{id}/wrap/settings", tag = "plans", security(("bearer" = [])),
    params(("id" = PersonId, Path)), request_body = WrapSettingsRequest,
    responses((status = 204, description = "Saved"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn wrap_settings(
    State(state): State<AppState>,
    Authorized { access, .. }: Authorized<resource::Wrap, action::Write>,
    Json(request): Json<WrapSettingsRequest>,
) -> ApiResult<StatusCode> {
    let person = access.person;
    // A co-author may edit the WRAP, but only its owner decides who co-authors it.
    policy::decide_owner_only(access.grounds)?;
    state
        .plans
        .set_wrap_coauthoring(person, request.team_may_coauthor)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The crisis-plan sections this access may see: a carer or peer worker those the person
/// shares with them, everyone else with access every section.
pub(super) fn visible_sections(access: &Access) -> BTreeSet<CrisisPlanSection> {
    access
        .relationship
        .visible_crisis_sections(access.grounds, access.at)
}

fn activation_view(record: &ActivationRecord, names: &HashMap<String, String>) -> ActivationView {
    ActivationView {
        id: record.id,
        activated_by: author_view(&record.activated_by, names),
        reason: record.reason.clone(),
        activated_at: record.activated_at,
        deactivated_by: record
            .deactivated_by
            .as_ref()
            .map(|a| author_view(a, names)),
        deactivated_at: record.deactivated_at,
    }
}

pub(super) async fn crisis_plan_parts(
    state: &AppState,
    access: &Access,
) -> ApiResult<CrisisPlanParts> {
    let person = access.person;
    let sections = visible_sections(access);
    let CrisisPlanRead {
        wrap,
        activations: history,
        names,
    } = state.store.crisis_plan_read(person, 20).await?;
    let (version, plan) = match &wrap {
        Some(record) => (
            Some(record.version),
            Some(decode::<Wrap>(record)?.crisis_plan),
        ),
        None => (None, None),
    };
    let activation = history
        .iter()
        .find(|a| a.deactivated_at.is_none())
        .map(|a| activation_view(a, &names));
    let view = CrisisPlanView {
        person_id: person,
        version,
        sections: plan
            .as_ref()
            .map(|p| p.shared_sections(&sections))
            .unwrap_or_default(),
        shared_sections: sections.iter().copied().collect(),
        activation,
        history: history.iter().map(|a| activation_view(a, &names)).collect(),
    };
    Ok(CrisisPlanParts {
        view,
        plan,
        sections,
    })
}

/// The crisis plan: a carer sees only the sections the person shared with them (the others are
/// absent), and everyone allowed sees whether it is active.
#[utoipa::path(get, path = "/v1/people/{id}/crisis-plan", tag = "plans", security(("bearer" = [])),
    params(("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier answer: 304 while it still names what would be sent"), ("id" = PersonId, Path)),
    responses((status = 304, description = "Not modified: the ETag sent is still current"), (status = 200, body = CrisisPlanView, description = "The crisis plan"), (status = 404, body = ErrorBody)))]
async fn get_crisis_plan(
    State(state): State<AppState>,
    Authorized { access, .. }: Authorized<resource::CrisisPlan, action::Read>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let view = crisis_plan_parts(&state, &access).await?.view;
    // Before the person writes a WRAP its crisis plan is version 0: nothing to base a write on.
    tagged(&headers, view.version.unwrap_or(0), StatusCode::OK, &view)
}

/// Put the crisis plan into use, with the reason. Supporters and the team are told at once.
#[utoipa::path(post, path = "/v1/people/{id}/crisis-plan/activation", tag = "plans",
    security(("bearer" = [])), params(("id" = PersonId, Path)), request_body = ActivateRequest,
    responses((status = 201, body = ActivationView, description = "The crisis plan is in use"), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "Already active")))]
async fn activate(
    State(state): State<AppState>,
    Authorized { caller, access, .. }: Authorized<resource::CrisisPlan, action::Activate>,
    ValidJson(request): ValidJson<ActivateRequest>,
) -> ApiResult<(StatusCode, axum::Json<ActivationView>)> {
    let record = state
        .plans
        .activate_crisis_plan(author_of(&caller), access.person, &request.reason)
        .await?
        .ok_or_else(|| {
            ApiError::Conflict(vec![FieldError::new(
                "activation",
                FieldErrorCode::AlreadyActive,
            )])
        })?;
    let names = display_names(state.store.as_ref(), [record.activated_by.id.as_str()]).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(activation_view(&record, &names)),
    ))
}

/// Stop using the crisis plan; who and when are recorded, and everyone told.
#[utoipa::path(delete, path = "/v1/people/{id}/crisis-plan/activation", tag = "plans",
    security(("bearer" = [])), params(("id" = PersonId, Path)),
    responses((status = 200, body = ActivationView, description = "The crisis plan is no longer in use"), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "Not active")))]
async fn deactivate(
    State(state): State<AppState>,
    Authorized { caller, access, .. }: Authorized<resource::CrisisPlan, action::Activate>,
) -> ApiResult<axum::Json<ActivationView>> {
    let record = state
        .plans
        .deactivate_crisis_plan(author_of(&caller), access.person)
        .await?
        .ok_or_else(|| {
            ApiError::Conflict(vec![FieldError::new(
                "activation",
                FieldErrorCode::NotActive,
            )])
        })?;
    let mut ids = vec![record.activated_by.id.as_str()];
    ids.extend(record.deactivated_by.as_ref().map(|d| d.id.as_str()));
    let names = display_names(state.store.as_ref(), ids.iter().copied()).await?;
    Ok(axum::Json(activation_view(&record, &names)))
}

/// A one-page, print-ready crisis plan to hand to a crisis team: the sections the caller may
/// see, every piece of the person's text escaped.
#[utoipa::path(get, path = "/v1/people/{id}/crisis-plan.html", tag = "plans", security(("bearer" = [])),
    params(("id" = PersonId, Path)),
    responses((status = 200, description = "A printable page (HTML)", content_type = "text/html", body = String), (status = 404, body = ErrorBody)))]
async fn printable_crisis_plan(
    State(state): State<AppState>,
    Authorized { access, .. }: Authorized<resource::CrisisPlan, action::Read>,
) -> ApiResult<Response> {
    let person = access.person;
    let parts = crisis_plan_parts(&state, &access).await?;
    let record = state
        .store
        .person(person)
        .await?
        .ok_or(ApiError::NotFound)?;
    let page = printable::crisis_plan(&record.display_name, &parts, state.clock.now());
    let mut response = axum::response::Html(page.into_string()).into_response();
    // The page needs nothing from anywhere: no scripts, no fetches.
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    Ok(response)
}
