//! The team's view of its caseload: the row each person gets, key workers, and what people
//! thought of the sessions and reviews they had (the team's ratings). Closing a case is with
//! the placement it ends (`people.rs`); a person rates an appointment of theirs under
//! `appointments/rating.rs`.

use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use livingwell_core::api::ErrorBody;
use livingwell_core::api::caseload::{
    CaseloadPerson, KeyWorkerRequest, NextAppointment, RatedBy, ReviewDue, TeamRatingPage,
    TeamRatingView, TeamRatingsQuery, WorkerRef, rated_kind,
};
use livingwell_core::api::paging as page;
use livingwell_core::domain::{FieldErrorCode, PersonId, TeamId};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::access::{Authorized, on_team, record_unscoped};
use super::error::{ApiError, ApiResult};
use super::extract::{Path, Query, RequestId, Staff, ValidJson};
use super::paging::{self, Paged};
use crate::policy::{self, Action, Work, action, resource};
use crate::store::StoreError;
use crate::store::caseload::{CaseloadEntry, KeyWorkerOutcome};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(set_key_worker, end_key_worker))
        .routes(routes!(team_ratings))
}

/// A caseload row as the wire shows it; `now` decides whether the review is overdue.
pub(super) fn caseload_person(entry: CaseloadEntry, now: DateTime<Utc>) -> CaseloadPerson {
    let person = entry.person;
    CaseloadPerson {
        id: person.id,
        display_name: person.display_name,
        team_id: person.team_id,
        peer_worker_id: person.peer_worker_id,
        created_at: person.created_at,
        support_level: entry.support_level,
        key_worker: entry
            .key_worker
            .map(|(id, display_name)| WorkerRef { id, display_name }),
        peer_worker: person
            .peer_worker_id
            .zip(entry.peer_worker_name)
            .map(|(id, display_name)| WorkerRef { id, display_name }),
        next_appointment: entry
            .next_appointment
            .map(|(id, kind, starts_at)| NextAppointment {
                id,
                kind,
                starts_at,
            }),
        review: entry.review_on.map(|on| ReviewDue {
            on,
            overdue: on < now.date_naive(),
        }),
        crisis_plan: entry.crisis_plan,
    }
}

/// Staff: name the person's key worker, a practitioner on the person's team.
#[utoipa::path(put, path = "/v1/people/{id}/key-worker", tag = "people", security(("bearer" = [])),
    params(("id" = PersonId, Path)), request_body = KeyWorkerRequest,
    responses((status = 204, description = "Named"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody, description = "`user_id` is not a practitioner on the person's team")))]
async fn set_key_worker(
    State(state): State<AppState>,
    Authorized { access, .. }: Authorized<resource::KeyWorker, action::Write>,
    ValidJson(request): ValidJson<KeyWorkerRequest>,
) -> ApiResult<StatusCode> {
    let outcome = state
        .store
        .set_key_worker(access.person, request.user_id, state.clock.now())
        .await?;
    match outcome {
        KeyWorkerOutcome::Named => Ok(StatusCode::NO_CONTENT),
        // On no caseload: the case is no team's to give a key worker.
        KeyWorkerOutcome::NotPlaced => Err(ApiError::NotFound),
        KeyWorkerOutcome::NotOnTeam => {
            Err(ApiError::invalid("user_id", FieldErrorCode::NotTeamStaff))
        }
    }
}

/// Staff: the person has no key worker any more.
#[utoipa::path(delete, path = "/v1/people/{id}/key-worker", tag = "people", security(("bearer" = [])),
    params(("id" = PersonId, Path)),
    responses((status = 204, description = "Ended, or there was none"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn end_key_worker(
    State(state): State<AppState>,
    Authorized { access, .. }: Authorized<resource::KeyWorker, action::Write>,
) -> ApiResult<StatusCode> {
    state.store.end_key_worker(access.person).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The team's practitioners: how people rated the workshop sessions and reviews they had,
/// newest first. Who rated is shown only when they chose to share their name.
#[utoipa::path(get, path = "/v1/teams/{id}/ratings", tag = "teams", security(("bearer" = [])),
    params(("id" = TeamId, Path), TeamRatingsQuery),
    responses((status = 200, body = TeamRatingPage, description = "A page of the team's ratings", headers(("link" = String, description = "The next page, as `<…>; rel=\"next\"`; absent on the last"))), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn team_ratings(
    State(state): State<AppState>,
    Staff(caller): Staff,
    RequestId(request_id): RequestId,
    Path(team_id): Path<TeamId>,
    Query(query): Query<TeamRatingsQuery>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Paged<TeamRatingPage>> {
    let limit = paging::limit(query.limit, page::TEAM_RATINGS)?;
    let before: Option<uuid::Uuid> = paging::cursor(query.cursor.as_deref())?;
    state.store.team(team_id).await?.ok_or(ApiError::NotFound)?;
    let on_team = on_team(&state, &caller, team_id).await?;
    policy::decide_work(&caller, Work::ReadTeamRatings { on_team })?;
    record_unscoped(&state, &caller, "ratings", Action::Read, &request_id).await?;
    let records = state.store.team_ratings(team_id, before, limit).await?;
    let next_cursor = paging::next_cursor(&records, limit, |record| record.rating.id);
    let ratings = records
        .into_iter()
        .map(|record| {
            let rating = record.rating;
            let kind = rated_kind(rating.kind)
                .ok_or_else(|| StoreError::Corrupt("a rating of an unrated kind".into()))?;
            Ok(TeamRatingView {
                kind,
                score: rating.score,
                comment: rating.comment,
                rated_at: rating.rated_at,
                person: rating.name_shared.then_some(RatedBy {
                    id: rating.person_id,
                    display_name: record.display_name,
                }),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Paged::new(
        TeamRatingPage {
            ratings,
            next_cursor,
        },
        &uri,
        &[],
    ))
}
