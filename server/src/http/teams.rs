//! Teams (hubs), their members and caseloads, and accounts. Admins manage accounts and teams
//! but read no records; practitioners read their own team's caseload.

use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use livingwell_core::api::ErrorBody;
use livingwell_core::api::auth::UserView;
use livingwell_core::api::paging as page;
use livingwell_core::api::people::{
    CaseloadQuery, CaseloadView, CreateTeamRequest, CreateUserRequest, TeamView,
};
use livingwell_core::domain::{PersonId, TeamId, UserId};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::access::{on_team, record_unscoped};
use super::error::{ApiError, ApiResult};
use super::extract::{Admin, Path, Query, RequestId, Staff, ValidJson};
use super::paging::{self, Paged};
use super::sessions::{team_view, user_view};
use crate::auth::Caller;
use crate::policy::{self, Action, Work};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_teams, create_team))
        .routes(routes!(caseload))
        .routes(routes!(add_member, remove_member))
        .routes(routes!(create_user))
}

/// Every team (hub). For staff and admins.
#[utoipa::path(get, path = "/v1/teams", tag = "teams", security(("bearer" = [])),
    responses((status = 200, body = [TeamView], description = "Every team"), (status = 403, body = ErrorBody)))]
async fn list_teams(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<axum::Json<Vec<TeamView>>> {
    policy::decide_work(&caller, Work::ListTeams)?;
    Ok(axum::Json(
        state.store.teams().await?.iter().map(team_view).collect(),
    ))
}

/// Admin: create a team (a hub).
#[utoipa::path(post, path = "/v1/teams", tag = "teams", security(("bearer" = [])),
    request_body = CreateTeamRequest,
    responses((status = 201, body = TeamView, description = "The team, made"), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody, description = "The name is taken"), (status = 422, body = ErrorBody)))]
async fn create_team(
    State(state): State<AppState>,
    Admin(_admin): Admin,
    ValidJson(request): ValidJson<CreateTeamRequest>,
) -> ApiResult<(StatusCode, axum::Json<TeamView>)> {
    let team = state.accounts.create_team(request).await?;
    Ok((StatusCode::CREATED, axum::Json(team_view(&team))))
}

/// The team's caseload: for the team's practitioners and staff systems with `people:read`.
/// Each person with their level of support, key worker, peer worker, next appointment,
/// review date and crisis-plan state (`none`: nothing written; `written`: a crisis plan to
/// follow, not active; `active`: activated now).
#[utoipa::path(get, path = "/v1/teams/{id}/caseload", tag = "teams", security(("bearer" = [])),
    params(("id" = TeamId, Path), CaseloadQuery),
    responses((status = 200, body = CaseloadView, description = "A page of the caseload", headers(("link" = String, description = "The next page, as `<…>; rel=\"next\"`; absent on the last"))), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn caseload(
    State(state): State<AppState>,
    Staff(caller): Staff,
    RequestId(request_id): RequestId,
    Path(team_id): Path<TeamId>,
    Query(query): Query<CaseloadQuery>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Paged<CaseloadView>> {
    let limit = paging::limit(query.limit, page::CASELOAD)?;
    let after: Option<PersonId> = paging::cursor(query.cursor.as_deref())?;
    let team = state.store.team(team_id).await?.ok_or(ApiError::NotFound)?;
    let on_team = on_team(&state, &caller, team_id).await?;
    policy::decide_work(&caller, Work::ReadCaseload { on_team })?;
    record_unscoped(&state, &caller, "caseload", Action::Read, &request_id).await?;
    let now = state.clock.now();
    let people = state
        .store
        .caseload_page(team_id, after, limit, now)
        .await?;
    let next_cursor = paging::next_cursor(&people, limit, |entry| entry.person.id);
    let page = CaseloadView {
        team: team_view(&team),
        people: people
            .into_iter()
            .map(|entry| super::caseload::caseload_person(entry, now))
            .collect(),
        next_cursor,
    };
    Ok(Paged::new(page, &uri, &[]))
}

/// Admin: add a practitioner or peer worker to a team. Effective on their next request.
#[utoipa::path(put, path = "/v1/teams/{id}/members/{user_id}", tag = "teams", security(("bearer" = [])),
    params(("id" = TeamId, Path), ("user_id" = UserId, Path)),
    responses((status = 204, description = "Member"), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_member(
    State(state): State<AppState>,
    Admin(admin): Admin,
    RequestId(request_id): RequestId,
    Path((team, user)): Path<(TeamId, UserId)>,
) -> ApiResult<StatusCode> {
    state.accounts.add_member(team, user).await?;
    record_unscoped(
        &state,
        &Caller::User(admin),
        "team_membership",
        Action::Write,
        &request_id,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Admin: remove a member from a team. They lose access to its caseload on their next request.
#[utoipa::path(delete, path = "/v1/teams/{id}/members/{user_id}", tag = "teams", security(("bearer" = [])),
    params(("id" = TeamId, Path), ("user_id" = UserId, Path)),
    responses((status = 204, description = "Removed"), (status = 404, body = ErrorBody)))]
async fn remove_member(
    State(state): State<AppState>,
    Admin(admin): Admin,
    RequestId(request_id): RequestId,
    Path((team, user)): Path<(TeamId, UserId)>,
) -> ApiResult<StatusCode> {
    state.accounts.remove_member(team, user).await?;
    record_unscoped(
        &state,
        &Caller::User(admin),
        "team_membership",
        Action::Write,
        &request_id,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Admin: create an account.
#[utoipa::path(post, path = "/v1/users", tag = "teams", security(("bearer" = [])),
    request_body = CreateUserRequest,
    responses((status = 201, body = UserView, description = "The account, made"), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody, description = "The username is taken, or the person has an account already"), (status = 422, body = ErrorBody)))]
async fn create_user(
    State(state): State<AppState>,
    Admin(_admin): Admin,
    ValidJson(request): ValidJson<CreateUserRequest>,
) -> ApiResult<(StatusCode, axum::Json<UserView>)> {
    let user = state.accounts.create_user(request).await?;
    Ok((StatusCode::CREATED, axum::Json(user_view(&user))))
}
