//! One appointment: reading, changing and cancelling it, and the answers to its requests (the
//! person's, and staff's to the person's).

use axum::extract::State;
use chrono::{DateTime, Utc};
use livingwell_core::api::ErrorBody;
use livingwell_core::api::appointments::{
    AnswerRequestRequest, AppointmentResponseRequest, AppointmentView, UpdateAppointmentRequest,
};
use livingwell_core::api::events::AppointmentChange;
use livingwell_core::domain::FieldErrorCode;
use livingwell_core::domain::appointment::{
    self, AppointmentId, AppointmentKind, AppointmentStatus, Decision, PersonRequest,
    RequestAnswer, RequestKind,
};

use super::person::{non_blank, one};
use super::views::appointment_views;
use super::window::stored;
use super::{AuthorizedAppointment, check_location, check_workers, conflict};
use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::ValidJson;
use crate::policy::action;
use crate::service::appointments::workers_told;
use crate::store::appointments::AppointmentRecord;

/// One appointment.
#[utoipa::path(get, path = "/v1/appointments/{id}", tag = "appointments",
    security(("bearer" = [])), params(("id" = AppointmentId, Path)),
    responses((status = 200, body = AppointmentView), (status = 404, body = ErrorBody)))]
pub(super) async fn get_appointment(
    State(state): State<AppState>,
    AuthorizedAppointment { record, .. }: AuthorizedAppointment<action::Read>,
) -> ApiResult<axum::Json<AppointmentView>> {
    Ok(axum::Json(one(appointment_views(
        &state,
        std::slice::from_ref(&record),
    )
    .await?)?))
}

/// Staff or a staff system: change an appointment. New times move it (the person confirms
/// again) and answer a pending reschedule request; `status` records whether the person came.
#[utoipa::path(patch, path = "/v1/appointments/{id}", tag = "appointments",
    security(("bearer" = [])), params(("id" = AppointmentId, Path)), request_body = UpdateAppointmentRequest,
    responses((status = 200, body = AppointmentView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "Cancelled, a workshop session, too early for an outcome, or changed meanwhile"),
              (status = 422, body = ErrorBody)))]
pub(super) async fn update_appointment(
    State(state): State<AppState>,
    AuthorizedAppointment {
        record: current, ..
    }: AuthorizedAppointment<action::Write>,
    ValidJson(request): ValidJson<UpdateAppointmentRequest>,
) -> ApiResult<axum::Json<AppointmentView>> {
    if current.status == AppointmentStatus::Cancelled {
        return Err(conflict("status", FieldErrorCode::Cancelled));
    }
    let reshapes = request.kind.is_some()
        || request.starts_at.is_some()
        || request.ends_at.is_some()
        || request.location.is_some();
    if current.booking_id.is_some() && reshapes {
        // A workshop session is the programme's: it moves with the programme, not alone.
        return Err(conflict("booking_id", FieldErrorCode::ManagedByBooking));
    }
    if request.kind == Some(AppointmentKind::EnablementWorkshop) {
        return Err(ApiError::invalid("kind", FieldErrorCode::BookTheProgramme));
    }
    let now = state.clock.now();
    let mut next = current.clone();
    let starts_at = request.starts_at.map_or(current.starts_at, stored);
    let ends_at = request.ends_at.map_or(current.ends_at, stored);
    let errors = appointment::check_times("", starts_at, ends_at);
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let moved = (starts_at, ends_at) != (current.starts_at, current.ends_at);
    if moved {
        next.starts_at = starts_at;
        next.ends_at = ends_at;
        next.status = AppointmentStatus::Booked;
        answer_pending(&mut next, RequestKind::Reschedule, now);
    }
    if let Some(kind) = request.kind {
        next.kind = kind;
    }
    if let Some(title) = request.title {
        next.title = non_blank(Some(title));
    }
    if let Some(location) = request.location {
        check_location(&state, &location).await?;
        next.location = location;
    }
    if let Some(workers) = &request.worker_ids {
        next.worker_ids = check_workers(&state, workers).await?;
    }
    if let Some(notes) = request.notes_for_person {
        next.notes_for_person = non_blank(Some(notes));
    }
    if let Some(accessibility) = request.accessibility {
        next.accessibility = accessibility;
    }
    if let Some(outcome) = request.status {
        if !next.status.may_record_outcome(outcome, next.starts_at, now) {
            return Err(conflict("status", FieldErrorCode::NotYetBegun));
        }
        next.status = outcome;
    }
    let change = if moved {
        AppointmentChange::Moved
    } else {
        AppointmentChange::Updated
    };
    save(&state, next, current.sequence, change, None).await
}

/// Stores a changed appointment if nobody changed it meanwhile, with the events telling the
/// person and, for their `request`, the staff on it.
pub(super) async fn save(
    state: &AppState,
    mut next: AppointmentRecord,
    read_sequence: i64,
    change: AppointmentChange,
    request: Option<RequestKind>,
) -> ApiResult<axum::Json<AppointmentView>> {
    next.sequence = read_sequence + 1;
    next.updated_at = state.clock.now();
    let mut told = state
        .appointments
        .person_told(&next, change, next.updated_at)
        .await?;
    if let Some(request) = request {
        told.extend(workers_told(&next, request, next.updated_at));
    }
    if !state
        .store
        .update_appointment(&next, read_sequence, &told)
        .await?
    {
        return Err(conflict("sequence", FieldErrorCode::ChangedMeanwhile));
    }
    state.events.announce_committed();
    Ok(axum::Json(one(appointment_views(
        state,
        std::slice::from_ref(&next),
    )
    .await?)?))
}

/// Marks a pending request of `kind` as accepted: staff did what was asked.
pub(super) fn answer_pending(
    record: &mut AppointmentRecord,
    kind: RequestKind,
    now: DateTime<Utc>,
) {
    if let Some(request) = &mut record.request
        && request.is_pending()
        && request.kind == kind
    {
        request.answer = Some(RequestAnswer {
            decision: Decision::Accept,
            message: None,
            answered_at: now,
        });
    }
}

/// Staff or a staff system: cancel an appointment. It stays in the diary and the calendar
/// feed as cancelled; a pending cancel request is answered.
#[utoipa::path(delete, path = "/v1/appointments/{id}", tag = "appointments",
    security(("bearer" = [])), params(("id" = AppointmentId, Path)),
    responses((status = 200, body = AppointmentView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "Already happened, or a workshop session (cancel the booking)")))]
pub(super) async fn cancel_appointment(
    State(state): State<AppState>,
    AuthorizedAppointment {
        record: current, ..
    }: AuthorizedAppointment<action::Write>,
) -> ApiResult<axum::Json<AppointmentView>> {
    if current.status == AppointmentStatus::Cancelled {
        return Ok(axum::Json(one(appointment_views(
            &state,
            std::slice::from_ref(&current),
        )
        .await?)?));
    }
    if current.booking_id.is_some() {
        return Err(conflict("booking_id", FieldErrorCode::ManagedByBooking));
    }
    if !current.status.is_open() {
        return Err(conflict("status", FieldErrorCode::AlreadyHappened));
    }
    let mut next = current.clone();
    next.status = AppointmentStatus::Cancelled;
    // A cancel request is granted; a reschedule request can no longer be.
    if let Some(request) = &mut next.request
        && request.is_pending()
    {
        request.answer = Some(RequestAnswer {
            decision: match request.kind {
                RequestKind::Cancel => Decision::Accept,
                RequestKind::Reschedule => Decision::Decline,
            },
            message: None,
            answered_at: state.clock.now(),
        });
    }
    save(
        &state,
        next,
        current.sequence,
        AppointmentChange::Cancelled,
        None,
    )
    .await
}

/// The person (or a staff system recording what they said): confirm, ask to cancel, or ask
/// to reschedule with preferred times. Staff on the appointment are notified of a request.
#[utoipa::path(post, path = "/v1/appointments/{id}/response", tag = "appointments",
    security(("bearer" = [])), params(("id" = AppointmentId, Path)), request_body = AppointmentResponseRequest,
    responses((status = 200, body = AppointmentView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "Not open any more, already begun, or a workshop session"),
              (status = 422, body = ErrorBody)))]
pub(super) async fn respond(
    State(state): State<AppState>,
    AuthorizedAppointment {
        record: current, ..
    }: AuthorizedAppointment<action::Respond>,
    ValidJson(request): ValidJson<AppointmentResponseRequest>,
) -> ApiResult<axum::Json<AppointmentView>> {
    let now = state.clock.now();
    if !current.status.is_open() {
        return Err(conflict("action", FieldErrorCode::NotOpen));
    }
    if current.starts_at <= now {
        return Err(conflict("action", FieldErrorCode::AlreadyBegun));
    }
    let mut next = current.clone();
    let (kind, reason, preferred_times) = match request {
        AppointmentResponseRequest::Confirm {} => {
            next.status = AppointmentStatus::Confirmed;
            // Confirming withdraws a request the person made earlier.
            if next.request.as_ref().is_some_and(PersonRequest::is_pending) {
                next.request = None;
            }
            return save(
                &state,
                next,
                current.sequence,
                AppointmentChange::Confirmed,
                None,
            )
            .await;
        }
        AppointmentResponseRequest::CancelRequest { reason } => {
            (RequestKind::Cancel, reason, Vec::new())
        }
        AppointmentResponseRequest::RescheduleRequest {
            reason,
            preferred_times,
        } => (RequestKind::Reschedule, reason, preferred_times),
    };
    if current.booking_id.is_some() {
        // The person cancels a workshop place by cancelling the booking.
        return Err(conflict("booking_id", FieldErrorCode::ManagedByBooking));
    }
    next.request = Some(PersonRequest {
        kind,
        reason: non_blank(reason),
        preferred_times: preferred_times
            .into_iter()
            .map(|t| appointment::TimeRange {
                starts_at: stored(t.starts_at),
                ends_at: stored(t.ends_at),
            })
            .collect(),
        made_at: now,
        answer: None,
    });
    save(
        &state,
        next,
        current.sequence,
        AppointmentChange::RequestMade,
        Some(kind),
    )
    .await
}

/// Staff or a staff system: answer the person's pending request. Accepting a cancel request
/// cancels; accepting a reschedule request moves the appointment to the times given.
#[utoipa::path(post, path = "/v1/appointments/{id}/request-answer", tag = "appointments",
    security(("bearer" = [])), params(("id" = AppointmentId, Path)), request_body = AnswerRequestRequest,
    responses((status = 200, body = AppointmentView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "No request is waiting for an answer"),
              (status = 422, body = ErrorBody)))]
pub(super) async fn answer_request(
    State(state): State<AppState>,
    AuthorizedAppointment {
        record: current, ..
    }: AuthorizedAppointment<action::Write>,
    ValidJson(request): ValidJson<AnswerRequestRequest>,
) -> ApiResult<axum::Json<AppointmentView>> {
    let Some(pending) = current.request.clone().filter(PersonRequest::is_pending) else {
        return Err(conflict("request", FieldErrorCode::NonePending));
    };
    if !current.status.is_open() {
        return Err(conflict("status", FieldErrorCode::NotOpen));
    }
    let now = state.clock.now();
    let mut next = current.clone();
    if request.decision == Decision::Accept {
        match pending.kind {
            RequestKind::Cancel => next.status = AppointmentStatus::Cancelled,
            RequestKind::Reschedule => {
                let (Some(starts_at), Some(ends_at)) = (request.starts_at, request.ends_at) else {
                    return Err(ApiError::invalid("starts_at", FieldErrorCode::Required));
                };
                next.starts_at = stored(starts_at);
                next.ends_at = stored(ends_at);
                next.status = AppointmentStatus::Booked;
            }
        }
    }
    next.request = Some(PersonRequest {
        answer: Some(RequestAnswer {
            decision: request.decision,
            message: non_blank(request.message),
            answered_at: now,
        }),
        ..pending
    });
    save(
        &state,
        next,
        current.sequence,
        AppointmentChange::RequestAnswered,
        None,
    )
    .await
}
