//! One appointment: reading, changing and cancelling it, and the answers to its requests (the
//! person's, and staff's to the person's).

use axum::extract::State;
use livingwell_core::api::ErrorBody;
use livingwell_core::api::appointments::{
    AnswerRequestRequest, AppointmentResponseRequest, AppointmentView, UpdateAppointmentRequest,
};
use livingwell_core::domain::appointment::AppointmentId;

use super::AuthorizedAppointment;
use super::person::one;
use super::views::appointment_views;
use crate::http::AppState;
use crate::http::error::ApiResult;
use crate::http::extract::ValidJson;
use crate::policy::action;

/// One appointment.
#[utoipa::path(get, path = "/v1/appointments/{id}", tag = "appointments",
    security(("bearer" = [])), params(("id" = AppointmentId, Path)),
    responses((status = 200, body = AppointmentView, description = "The appointment"), (status = 404, body = ErrorBody)))]
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
    responses((status = 200, body = AppointmentView, description = "The appointment as changed"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "Cancelled, a workshop session, too early for an outcome, or changed meanwhile"),
              (status = 422, body = ErrorBody)))]
pub(super) async fn update_appointment(
    State(state): State<AppState>,
    AuthorizedAppointment {
        record: current, ..
    }: AuthorizedAppointment<action::Write>,
    ValidJson(request): ValidJson<UpdateAppointmentRequest>,
) -> ApiResult<axum::Json<AppointmentView>> {
    let record = state.appointments.update(current, request).await?;
    Ok(axum::Json(one(appointment_views(
        &state,
        std::slice::from_ref(&record),
    )
    .await?)?))
}

/// Staff or a staff system: cancel an appointment. It stays in the diary and the calendar
/// feed as cancelled; a pending cancel request is answered.
#[utoipa::path(delete, path = "/v1/appointments/{id}", tag = "appointments",
    security(("bearer" = [])), params(("id" = AppointmentId, Path)),
    responses((status = 200, body = AppointmentView, description = "The appointment, cancelled"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "Already happened, or a workshop session (cancel the booking)")))]
pub(super) async fn cancel_appointment(
    State(state): State<AppState>,
    AuthorizedAppointment {
        record: current, ..
    }: AuthorizedAppointment<action::Write>,
) -> ApiResult<axum::Json<AppointmentView>> {
    let record = state.appointments.cancel(current).await?;
    Ok(axum::Json(one(appointment_views(
        &state,
        std::slice::from_ref(&record),
    )
    .await?)?))
}

/// The person (or a staff system recording what they said): confirm, ask to cancel, or ask
/// to reschedule with preferred times. Staff on the appointment are notified of a request.
#[utoipa::path(post, path = "/v1/appointments/{id}/response", tag = "appointments",
    security(("bearer" = [])), params(("id" = AppointmentId, Path)), request_body = AppointmentResponseRequest,
    responses((status = 200, body = AppointmentView, description = "The appointment with the person's answer"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "Not open any more, already begun, or a workshop session"),
              (status = 422, body = ErrorBody)))]
pub(super) async fn respond(
    State(state): State<AppState>,
    AuthorizedAppointment {
        record: current, ..
    }: AuthorizedAppointment<action::Respond>,
    ValidJson(request): ValidJson<AppointmentResponseRequest>,
) -> ApiResult<axum::Json<AppointmentView>> {
    let record = state.appointments.respond(current, request).await?;
    Ok(axum::Json(one(appointment_views(
        &state,
        std::slice::from_ref(&record),
    )
    .await?)?))
}

/// Staff or a staff system: answer the person's pending request. Accepting a cancel request
/// cancels; accepting a reschedule request moves the appointment to the times given.
#[utoipa::path(post, path = "/v1/appointments/{id}/request-answer", tag = "appointments",
    security(("bearer" = [])), params(("id" = AppointmentId, Path)), request_body = AnswerRequestRequest,
    responses((status = 200, body = AppointmentView, description = "The appointment with the request answered"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "No request is waiting for an answer"),
              (status = 422, body = ErrorBody)))]
pub(super) async fn answer_request(
    State(state): State<AppState>,
    AuthorizedAppointment {
        record: current, ..
    }: AuthorizedAppointment<action::Write>,
    ValidJson(request): ValidJson<AnswerRequestRequest>,
) -> ApiResult<axum::Json<AppointmentView>> {
    let record = state.appointments.answer_request(current, request).await?;
    Ok(axum::Json(one(appointment_views(
        &state,
        std::slice::from_ref(&record),
    )
    .await?)?))
}
