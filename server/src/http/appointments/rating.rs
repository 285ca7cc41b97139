//! The person's rating of a workshop session or a review they had: 1–5, an optional comment,
//! and whether the team may see their name with it. One per appointment, changeable by the
//! person for [`RATING_EDITABLE_DAYS`] from the first rating; then 409 `rating_locked`.
//!
//! Only the person rates, and reads their rating back: anyone else the appointment is known to
//! (their team, the peer worker on it, a carer they share their diary with, a staff system) is
//! refused with 403; anyone it is not known to gets 404, as for the appointment itself. The
//! team reads its ratings as a list (`GET /v1/teams/{id}/ratings`).

use axum::extract::State;
use chrono::Duration;
use livingwell_core::api::ErrorBody;
use livingwell_core::api::caseload::{RATING_EDITABLE_DAYS, RatingRequest, RatingView, rated_kind};
use livingwell_core::domain::appointment::{AppointmentId, AppointmentStatus};
use livingwell_core::domain::{FieldError, FieldErrorCode};

use super::AuthorizedAppointment;
use crate::auth::Caller;
use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::ValidJson;
use crate::policy::action;
use crate::store::StoreError;
use crate::store::appointments::AppointmentRecord;
use crate::store::caseload::RatingRecord;

/// The person's own rating of their appointment.
#[utoipa::path(get, path = "/v1/appointments/{id}/rating", tag = "appointments",
    security(("bearer" = [])), params(("id" = AppointmentId, Path)),
    responses((status = 200, body = RatingView, description = "The person's rating"), (status = 403, body = ErrorBody, description = "Not the person's own appointment"), (status = 404, body = ErrorBody, description = "No such appointment, or not rated yet")))]
pub(super) async fn get_rating(
    State(state): State<AppState>,
    caller: Caller,
    AuthorizedAppointment { record, .. }: AuthorizedAppointment<action::Read>,
) -> ApiResult<axum::Json<RatingView>> {
    own(&caller, &record)?;
    let rating = state
        .store
        .rating(record.person_id, record.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(axum::Json(view(&rating)?))
}

/// The person rates a workshop session or review they had (once it has started, and unless it
/// was cancelled), or changes their rating within a week of first giving it.
#[utoipa::path(put, path = "/v1/appointments/{id}/rating", tag = "appointments",
    security(("bearer" = [])), params(("id" = AppointmentId, Path)), request_body = RatingRequest,
    responses((status = 200, body = RatingView, description = "The rating, as stored"), (status = 403, body = ErrorBody, description = "Not the person's own appointment"), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "Not a workshop session or review (`kind`: `not_rated`), cancelled (`status`), not begun yet (`starts_at`), or rated more than a week ago (`rated_at`: `rating_locked`)"),
              (status = 422, body = ErrorBody)))]
pub(super) async fn rate(
    State(state): State<AppState>,
    caller: Caller,
    AuthorizedAppointment { record, .. }: AuthorizedAppointment<action::Respond>,
    ValidJson(request): ValidJson<RatingRequest>,
) -> ApiResult<axum::Json<RatingView>> {
    own(&caller, &record)?;
    let conflict = |field: &str, code| Err(ApiError::Conflict(vec![FieldError::new(field, code)]));
    if rated_kind(record.kind).is_none() {
        return conflict("kind", FieldErrorCode::NotRated);
    }
    if record.status == AppointmentStatus::Cancelled {
        return conflict("status", FieldErrorCode::Cancelled);
    }
    let now = state.clock.now();
    if record.starts_at > now {
        return conflict("starts_at", FieldErrorCode::NotYetBegun);
    }
    let comment = request
        .comment
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty());
    let stored = match state.store.rating(record.person_id, record.id).await? {
        Some(current) => {
            if now >= current.rated_at + Duration::days(RATING_EDITABLE_DAYS) {
                return conflict("rated_at", FieldErrorCode::RatingLocked);
            }
            let changed = RatingRecord {
                score: request.score,
                comment,
                name_shared: request.name_shared,
                updated_at: now,
                ..current
            };
            state.store.update_rating(&changed).await?;
            changed
        }
        None => {
            let team_id = state
                .store
                .person(record.person_id)
                .await?
                .and_then(|person| person.team_id);
            let new = RatingRecord {
                id: uuid::Uuid::now_v7(),
                person_id: record.person_id,
                appointment_id: record.id,
                kind: record.kind,
                team_id,
                score: request.score,
                comment,
                name_shared: request.name_shared,
                rated_at: now,
                updated_at: now,
            };
            state.store.insert_rating(&new).await?;
            new
        }
    };
    Ok(axum::Json(view(&stored)?))
}

/// Only the person themselves rates their appointment and reads the rating.
fn own(caller: &Caller, record: &AppointmentRecord) -> ApiResult<()> {
    match caller {
        Caller::User(user) if user.person_id == Some(record.person_id) => Ok(()),
        _ => Err(ApiError::Forbidden),
    }
}

fn view(rating: &RatingRecord) -> ApiResult<RatingView> {
    let kind = rated_kind(rating.kind)
        .ok_or_else(|| StoreError::Corrupt("a rating of an unrated kind".into()))?;
    Ok(RatingView {
        appointment_id: rating.appointment_id,
        kind,
        score: rating.score,
        comment: rating.comment.clone(),
        name_shared: rating.name_shared,
        rated_at: rating.rated_at,
        updated_at: rating.updated_at,
        editable_until: rating.rated_at + Duration::days(RATING_EDITABLE_DAYS),
    })
}
