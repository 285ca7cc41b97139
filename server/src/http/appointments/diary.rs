//! Staff diaries: a team's or a worker's appointments across people.

use std::collections::HashMap;

use axum::extract::{OriginalUri, State};
use chrono::Duration;
use livingwell_core::api::ErrorBody;
use livingwell_core::api::appointments::{AppointmentPage, DiaryQuery};
use livingwell_core::api::paging as page;
use livingwell_core::domain::FieldErrorCode;
use livingwell_core::domain::{PersonId, UserId};

use super::views::page_views;
use super::window::{next_cursor, window};
use super::{may_read, worker_filter};
use crate::auth::Caller;
use crate::http::AppState;
use crate::http::access::on_team;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{Query, RequestId, Staff};
use crate::http::paging::{self, Paged};
use crate::policy::{self, Work};
use crate::store::appointments::DiaryScope;

/// Which of one person's appointments a diary may show.
#[derive(Clone, Copy, Debug)]
pub(super) enum Visibility {
    All,
    /// Those this worker takes part in (an allocated peer worker).
    TakingPart(UserId),
    Hidden,
}

/// Staff and staff systems: a team's or a worker's diary. Each person's appointments appear
/// only if the caller may read them (each such read is audited against that person).
#[utoipa::path(get, path = "/v1/diary", tag = "appointments", security(("bearer" = [])),
    params(DiaryQuery),
    responses((status = 200, body = AppointmentPage, description = "A page of the diary", headers(("link" = String, description = "The next page, as `<…>; rel=\"next\"`; absent on the last"))), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub(super) async fn diary(
    State(state): State<AppState>,
    Staff(caller): Staff,
    RequestId(request_id): RequestId,
    Query(query): Query<DiaryQuery>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Paged<AppointmentPage>> {
    let limit = paging::limit(query.limit, page::APPOINTMENTS)?;
    let scope = match (&caller, query.team_id, query.worker_id) {
        (Caller::User(_), Some(_), Some(_)) => {
            return Err(ApiError::invalid("worker_id", FieldErrorCode::WithTeamId));
        }
        (_, Some(team), _) => {
            let on_team = on_team(&state, &caller, team).await?;
            policy::decide_work(&caller, Work::ReadTeamDiary { on_team })?;
            DiaryScope::Team(team)
        }
        (Caller::User(user), None, worker) => {
            let own = worker.is_none_or(|w| w == user.id);
            policy::decide_work(&caller, Work::ReadWorkerDiary { own })?;
            DiaryScope::Worker(user.id)
        }
        (Caller::StaffSystem(_), None, worker) => {
            policy::decide_work(&caller, Work::ReadWorkerDiary { own: false })?;
            DiaryScope::Worker(
                worker.ok_or_else(|| ApiError::invalid("team_id", FieldErrorCode::Required))?,
            )
        }
    };
    let window = window(
        state.clock.now(),
        query.from,
        query.to,
        query.cursor.as_deref(),
        Duration::zero(),
        Duration::days(7),
    )?;
    let page = state
        .store
        .diary(
            scope,
            &window,
            query.pending_requests.unwrap_or(false),
            limit,
        )
        .await?;
    let cursor = next_cursor(&page.appointments, limit);
    // Whose appointments the caller may see, decided (and audited) once per person.
    let mut visible: HashMap<PersonId, Visibility> = HashMap::new();
    let mut shown = Vec::with_capacity(page.appointments.len());
    for record in &page.appointments {
        let visibility = match visible.get(&record.person_id) {
            Some(visibility) => *visibility,
            None => {
                let visibility =
                    match may_read(&state, &caller, record.person_id, &request_id).await? {
                        None => Visibility::Hidden,
                        Some(access) => match worker_filter(&caller, &access) {
                            None => Visibility::All,
                            Some(worker) => Visibility::TakingPart(worker),
                        },
                    };
                visible.insert(record.person_id, visibility);
                visibility
            }
        };
        let show = match visibility {
            Visibility::All => true,
            Visibility::TakingPart(worker) => record.worker_ids.contains(&worker),
            Visibility::Hidden => false,
        };
        if show {
            shown.push(record);
        }
    }
    let answer = AppointmentPage {
        appointments: page_views(&page, shown),
        next_cursor: cursor,
    };
    Ok(Paged::new(answer, &uri, &[]))
}
