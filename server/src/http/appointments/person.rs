//! A person's appointments: the list, adding one, and the calendar feed.

use axum::extract::{OriginalUri, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Duration;
use livingwell_core::api::ErrorBody;
use livingwell_core::api::appointments::{
    AppointmentListQuery, AppointmentPage, AppointmentView, CalendarDetail, CalendarFeedQuery,
    CreateAppointmentRequest,
};
use livingwell_core::api::paging as page;
use livingwell_core::domain::{PersonId, UserId};

use super::calendar;
use super::views::{appointment_views, page_views};
use super::window::{next_cursor, window};
use super::{FEED_MAX, worker_filter};
use crate::http::AppState;
use crate::http::access::Authorized;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{Query, ValidJson};
use crate::http::paging::{self, Paged};
use crate::policy::{self, action, resource};

/// A person's appointments in start order: the person, their team, a carer with the
/// `appointments` consent, their peer worker (only those they take part in), or a staff system.
#[utoipa::path(get, path = "/v1/people/{id}/appointments", tag = "appointments",
    security(("bearer" = [])), params(("id" = PersonId, Path), AppointmentListQuery),
    responses((status = 200, body = AppointmentPage, description = "A page of the person's appointments", headers(("link" = String, description = "The next page, as `<…>; rel=\"next\"`; absent on the last"))), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub(super) async fn list_appointments(
    State(state): State<AppState>,
    Authorized { caller, access, .. }: Authorized<resource::Appointments, action::Read>,
    Query(query): Query<AppointmentListQuery>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Paged<AppointmentPage>> {
    let person = access.person;
    let limit = paging::limit(query.limit, page::APPOINTMENTS)?;
    let window = window(
        state.clock.now(),
        query.from,
        query.to,
        query.cursor.as_deref(),
        Duration::days(90),
        Duration::days(365),
    )?;
    let page = state
        .store
        .person_appointments(person, &window, worker_filter(&caller, &access), limit)
        .await?;
    let answer = AppointmentPage {
        appointments: page_views(&page, &page.appointments),
        next_cursor: next_cursor(&page.appointments, limit),
    };
    Ok(Paged::new(answer, &uri, &[]))
}

/// Staff or a staff system: add an appointment to a person's diary.
#[utoipa::path(post, path = "/v1/people/{id}/appointments", tag = "appointments",
    security(("bearer" = [])), params(("id" = PersonId, Path)), request_body = CreateAppointmentRequest,
    responses((status = 201, body = AppointmentView, description = "The appointment made"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn create_appointment(
    State(state): State<AppState>,
    Authorized { caller, access, .. }: Authorized<resource::Appointments, action::Write>,
    ValidJson(request): ValidJson<CreateAppointmentRequest>,
) -> ApiResult<(StatusCode, axum::Json<AppointmentView>)> {
    let record = state
        .appointments
        .create(access.person, request, caller.audit_id())
        .await?;
    let view = appointment_views(&state, std::slice::from_ref(&record)).await?;
    Ok((StatusCode::CREATED, axum::Json(one(view)?)))
}

pub(super) fn one<T>(views: Vec<T>) -> ApiResult<T> {
    views
        .into_iter()
        .next()
        .ok_or(ApiError::Internal("empty view"))
}

/// The person's appointments as an iCalendar (RFC 5545) feed: times in UTC, stable UIDs,
/// cancellations as `STATUS:CANCELLED`, discreet titles unless the person asks otherwise.
#[utoipa::path(get, path = "/v1/people/{id}/appointments.ics", tag = "appointments",
    security(("bearer" = [])), params(("id" = PersonId, Path), CalendarFeedQuery),
    responses((status = 200, description = "An iCalendar feed", content_type = "text/calendar", body = String),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn calendar_feed(
    State(state): State<AppState>,
    Authorized { caller, access, .. }: Authorized<resource::Appointments, action::Read>,
    Query(query): Query<CalendarFeedQuery>,
) -> ApiResult<Response> {
    let detail = query.detail.unwrap_or_default();
    if detail == CalendarDetail::Detailed {
        policy::decide_owner_only(access.grounds)?;
    }
    let worker = worker_filter(&caller, &access);
    feed_response(&state, access.person, worker, detail, &query).await
}

/// The feed of `person`'s appointments (only those `worker` takes part in, if given) in the
/// window `query` asks for, as an answer: shared by the signed-in feed and the secret one.
pub(super) async fn feed_response(
    state: &AppState,
    person: PersonId,
    worker: Option<UserId>,
    detail: CalendarDetail,
    query: &CalendarFeedQuery,
) -> ApiResult<Response> {
    let mut window = window(
        state.clock.now(),
        query.from,
        query.to,
        None,
        Duration::days(30),
        Duration::days(395),
    )?;
    let mut views = Vec::new();
    loop {
        let page = state
            .store
            .person_appointments(person, &window, worker, page::APPOINTMENTS.max)
            .await?;
        let full = page.appointments.len() as i64 == page::APPOINTMENTS.max;
        window.after = page.appointments.last().map(|r| (r.starts_at, r.id));
        views.extend(page_views(&page, &page.appointments));
        if !full || views.len() >= FEED_MAX {
            break;
        }
    }
    let text = calendar::feed(&views, detail).map_err(|_| ApiError::Internal("calendar"))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "inline; filename=\"appointments.ics\"",
            ),
        ],
        text,
    )
        .into_response())
}
