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
use livingwell_core::api::events::AppointmentChange;
use livingwell_core::api::paging as page;
use livingwell_core::domain::FieldErrorCode;
use livingwell_core::domain::PersonId;
use livingwell_core::domain::appointment::{AppointmentId, AppointmentKind, AppointmentStatus};

use super::calendar;
use super::views::appointment_views;
use super::window::{next_cursor, stored, window};
use super::{FEED_MAX, check_location, check_workers, worker_filter};
use crate::http::AppState;
use crate::http::access::Authorized;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{Query, ValidJson};
use crate::http::paging::{self, Paged};
use crate::policy::{self, action, resource};
use crate::store::appointments::AppointmentRecord;

/// A person's appointments in start order: the person, their team, a carer with the
/// `appointments` consent, their peer worker (only those they take part in), or a staff system.
#[utoipa::path(get, path = "/v1/people/{id}/appointments", tag = "appointments",
    security(("bearer" = [])), params(("id" = PersonId, Path), AppointmentListQuery),
    responses((status = 200, body = AppointmentPage, headers(("link" = String, description = "The next page, as `<…>; rel=\"next\"`; absent on the last"))), (status = 404, body = ErrorBody),
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
    let records = state
        .store
        .person_appointments(person, &window, worker_filter(&caller, &access), limit)
        .await?;
    let page = AppointmentPage {
        appointments: appointment_views(&state, &records).await?,
        next_cursor: next_cursor(&records, limit),
    };
    Ok(Paged::new(page, &uri, &[]))
}

/// Staff or a staff system: add an appointment to a person's diary.
#[utoipa::path(post, path = "/v1/people/{id}/appointments", tag = "appointments",
    security(("bearer" = [])), params(("id" = PersonId, Path)), request_body = CreateAppointmentRequest,
    responses((status = 201, body = AppointmentView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn create_appointment(
    State(state): State<AppState>,
    Authorized { caller, access, .. }: Authorized<resource::Appointments, action::Write>,
    ValidJson(request): ValidJson<CreateAppointmentRequest>,
) -> ApiResult<(StatusCode, axum::Json<AppointmentView>)> {
    let person = access.person;
    if state.store.person(person).await?.is_none() {
        return Err(ApiError::NotFound);
    }
    if request.kind == AppointmentKind::EnablementWorkshop {
        // Workshop sessions come from bookings, so that capacity holds.
        return Err(ApiError::invalid("kind", FieldErrorCode::BookTheProgramme));
    }
    let worker_ids = check_workers(&state, &request.worker_ids).await?;
    check_location(&state, &request.location).await?;
    let now = state.clock.now();
    let record = AppointmentRecord {
        id: AppointmentId::new(),
        person_id: person,
        kind: request.kind,
        title: non_blank(request.title),
        starts_at: stored(request.starts_at),
        ends_at: stored(request.ends_at),
        location: request.location,
        status: AppointmentStatus::Booked,
        notes_for_person: non_blank(request.notes_for_person),
        accessibility: request.accessibility,
        worker_ids,
        request: None,
        programme_id: None,
        programme_session_id: None,
        booking_id: None,
        sequence: 0,
        created_by: caller.audit_id(),
        created_at: now,
        updated_at: now,
    };
    let told = state
        .appointments
        .person_told(&record, AppointmentChange::Created, now)
        .await?;
    state.store.insert_appointment(&record, &told).await?;
    state.events.announce_committed();
    let view = appointment_views(&state, std::slice::from_ref(&record)).await?;
    Ok((StatusCode::CREATED, axum::Json(one(view)?)))
}

pub(super) fn non_blank(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty())
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
    let person = access.person;
    let detail = query.detail.unwrap_or_default();
    if detail == CalendarDetail::Detailed {
        policy::decide_owner_only(access.grounds)?;
    }
    let mut window = window(
        state.clock.now(),
        query.from,
        query.to,
        None,
        Duration::days(30),
        Duration::days(395),
    )?;
    let worker = worker_filter(&caller, &access);
    let mut records = Vec::new();
    loop {
        let page = state
            .store
            .person_appointments(person, &window, worker, page::APPOINTMENTS.max)
            .await?;
        let full = page.len() as i64 == page::APPOINTMENTS.max;
        window.after = page.last().map(|r| (r.starts_at, r.id));
        records.extend(page);
        if !full || records.len() >= FEED_MAX {
            break;
        }
    }
    let views = appointment_views(&state, &records).await?;
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
