//! Workshop programmes, their bookings, waitlists and offers.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, OriginalUri, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use livingwell_core::api::ErrorBody;
use livingwell_core::api::appointments::{
    BookRequest, BookingView, CreateProgrammeRequest, OfferAnswerRequest, ProgrammePage,
    ProgrammeQuery, ProgrammeView,
};
use livingwell_core::api::paging as page;
use livingwell_core::domain::FieldErrorCode;
use livingwell_core::domain::appointment::{BookingId, ProgrammeId};
use livingwell_core::domain::{PersonId, UserId};

use super::views::{booking_view, programme_view};
use super::{BOOKINGS_MAX, may_read, own_or_staff, worker_filter};
use crate::auth::Caller;
use crate::http::AppState;
use crate::http::access::{Authorized, authorize, on_team, record_roster_read, record_unscoped};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{Json, Path, Query, RequestId, Staff, ValidJson};
use crate::http::paging::{self, Paged};
use crate::policy::{self, Action, Resource, Work, action, resource};
use crate::store::appointments::BookingRecord;

/// Workshop programmes with their sessions and free places, in creation order.
#[utoipa::path(get, path = "/v1/programmes", tag = "workshops", security(("bearer" = [])),
    params(ProgrammeQuery),
    responses((status = 200, body = ProgrammePage, description = "A page of programmes", headers(("link" = String, description = "The next page, as `<…>; rel=\"next\"`; absent on the last"))), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn list_programmes(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ProgrammeQuery>,
    OriginalUri(uri): OriginalUri,
) -> ApiResult<Paged<ProgrammePage>> {
    policy::decide_work(&caller, Work::SeeProgrammes)?;
    let limit = paging::limit(query.limit, page::PROGRAMMES)?;
    let after: Option<ProgrammeId> = paging::cursor(query.cursor.as_deref())?;
    state.appointments.settle_lapsed_offers().await?;
    let records = state.store.programmes(query.team_id, after, limit).await?;
    let mut programmes = Vec::with_capacity(records.len());
    for record in &records {
        programmes.push(programme_view(&state, record).await?);
    }
    let next_cursor = paging::next_cursor(&records, limit, |record| record.id);
    Ok(Paged::new(
        ProgrammePage {
            programmes,
            next_cursor,
        },
        &uri,
        &[],
    ))
}

/// A practitioner of the team, or a staff system with `appointments:write`: a new programme.
#[utoipa::path(post, path = "/v1/programmes", tag = "workshops", security(("bearer" = [])),
    request_body = CreateProgrammeRequest,
    responses((status = 201, body = ProgrammeView, description = "The programme made"), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn create_programme(
    State(state): State<AppState>,
    Staff(caller): Staff,
    RequestId(request_id): RequestId,
    ValidJson(request): ValidJson<CreateProgrammeRequest>,
) -> ApiResult<(StatusCode, axum::Json<ProgrammeView>)> {
    let on_team = on_team(&state, &caller, request.team_id).await?;
    policy::decide_work(&caller, Work::StartProgramme { on_team })?;
    record_unscoped(&state, &caller, "programme", Action::Write, &request_id).await?;
    let programme = state
        .appointments
        .create_programme(request, caller.audit_id())
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(programme_view(&state, &programme).await?),
    ))
}

/// One programme with its sessions and free places.
#[utoipa::path(get, path = "/v1/programmes/{id}", tag = "workshops", security(("bearer" = [])),
    params(("id" = ProgrammeId, Path)),
    responses((status = 200, body = ProgrammeView, description = "The programme"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn get_programme(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<ProgrammeId>,
) -> ApiResult<axum::Json<ProgrammeView>> {
    policy::decide_work(&caller, Work::SeeProgrammes)?;
    state.appointments.settle_offers(id).await?;
    let programme = state.store.programme(id).await?.ok_or(ApiError::NotFound)?;
    Ok(axum::Json(programme_view(&state, &programme).await?))
}

/// The team's practitioners, the programme's facilitators and staff systems: who is booked,
/// offered a place or waiting, in arrival order. The team and staff systems see only people
/// they may read (each read audited); a facilitator sees everyone on this programme's roster,
/// each shown recorded in that person's access log (`via: roster`).
#[utoipa::path(get, path = "/v1/programmes/{id}/bookings", tag = "workshops", security(("bearer" = [])),
    params(("id" = ProgrammeId, Path)),
    responses((status = 200, body = [BookingView], description = "The programme's bookings"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn programme_bookings(
    State(state): State<AppState>,
    Staff(caller): Staff,
    RequestId(request_id): RequestId,
    Path(id): Path<ProgrammeId>,
) -> ApiResult<axum::Json<Vec<BookingView>>> {
    let programme = state.store.programme(id).await?.ok_or(ApiError::NotFound)?;
    let on_team = on_team(&state, &caller, programme.team_id).await?;
    let facilitator = match &caller {
        Caller::User(user) => state.store.is_facilitator(id, user.id).await?,
        Caller::StaffSystem(_) => false,
    };
    // Whether the caller reads the roster as the team does (each person decided as a read of
    // their record), or only as the programme's facilitator.
    let as_team = policy::decide_work(
        &caller,
        Work::ReadRoster {
            on_team,
            facilitator: false,
        },
    )
    .is_ok();
    policy::decide_work(
        &caller,
        Work::ReadRoster {
            on_team,
            facilitator,
        },
    )?;
    state.appointments.settle_offers(id).await?;
    let mut shown = Vec::new();
    let mut seen: HashMap<PersonId, bool> = HashMap::new();
    for booking in state.store.programme_bookings(id).await? {
        let may = match seen.get(&booking.person_id) {
            Some(may) => *may,
            None => {
                let may = if as_team {
                    may_read(&state, &caller, booking.person_id, &request_id)
                        .await?
                        .is_some()
                } else {
                    record_roster_read(&state, &caller, booking.person_id, &request_id).await?;
                    true
                };
                seen.insert(booking.person_id, may);
                may
            }
        };
        if may {
            shown.push(booking_view(&booking));
        }
    }
    Ok(axum::Json(shown))
}

/// The programme's team's practitioners, or a staff system with `appointments:write`: name a
/// practitioner or peer worker (of any team, or a partner organisation) as a facilitator, who
/// may then read this programme's roster. Naming one twice is no change.
#[utoipa::path(put, path = "/v1/programmes/{id}/facilitators/{user_id}", tag = "workshops",
    security(("bearer" = [])), params(("id" = ProgrammeId, Path), ("user_id" = UserId, Path)),
    responses((status = 204, description = "A facilitator"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody, description = "`user_id` is not a practitioner's or peer worker's account")))]
pub(super) async fn add_facilitator(
    State(state): State<AppState>,
    Staff(caller): Staff,
    RequestId(request_id): RequestId,
    Path((id, user)): Path<(ProgrammeId, UserId)>,
) -> ApiResult<StatusCode> {
    manage_facilitators(&state, &caller, id, &request_id).await?;
    let account = state.store.user_by_id(user).await?;
    if account.is_none_or(|a| !a.role.is_team_staff()) {
        return Err(ApiError::invalid("user_id", FieldErrorCode::NotTeamStaff));
    }
    state
        .store
        .add_facilitator(id, user, state.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// As for naming one: the account no longer reads this programme's roster. Removing one who
/// is not a facilitator is no change.
#[utoipa::path(delete, path = "/v1/programmes/{id}/facilitators/{user_id}", tag = "workshops",
    security(("bearer" = [])), params(("id" = ProgrammeId, Path), ("user_id" = UserId, Path)),
    responses((status = 204, description = "Not a facilitator"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn remove_facilitator(
    State(state): State<AppState>,
    Staff(caller): Staff,
    RequestId(request_id): RequestId,
    Path((id, user)): Path<(ProgrammeId, UserId)>,
) -> ApiResult<StatusCode> {
    manage_facilitators(&state, &caller, id, &request_id).await?;
    state.store.remove_facilitator(id, user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Decides and audits a change to programme `id`'s facilitators; 404 for no such programme.
async fn manage_facilitators(
    state: &AppState,
    caller: &Caller,
    id: ProgrammeId,
    request_id: &str,
) -> ApiResult<()> {
    let programme = state.store.programme(id).await?.ok_or(ApiError::NotFound)?;
    let on_team = on_team(state, caller, programme.team_id).await?;
    policy::decide_work(caller, Work::ManageFacilitators { on_team })?;
    record_unscoped(
        state,
        caller,
        "programme_facilitators",
        Action::Write,
        request_id,
    )
    .await
}

/// Book onto a programme (or one session of a programme booked session by session): a place
/// if one is free, else a place on the waitlist. Booking again returns the booking already held.
#[utoipa::path(post, path = "/v1/programmes/{id}/bookings", tag = "workshops", security(("bearer" = [])),
    params(("id" = ProgrammeId, Path)), request_body = BookRequest,
    responses((status = 201, body = BookingView, description = "Booked or waitlisted"),
              (status = 200, body = BookingView, description = "Already booked, offered or waitlisted"),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn book(
    State(state): State<AppState>,
    caller: Caller,
    RequestId(request_id): RequestId,
    Path(id): Path<ProgrammeId>,
    Json(request): Json<BookRequest>,
) -> ApiResult<(StatusCode, axum::Json<BookingView>)> {
    let person = match (request.person_id, &caller) {
        (Some(person), _) => person,
        (None, Caller::User(user)) => user
            .person_id
            .ok_or_else(|| ApiError::invalid("person_id", FieldErrorCode::Required))?,
        (None, Caller::StaffSystem(_)) => {
            return Err(ApiError::invalid("person_id", FieldErrorCode::Required));
        }
    };
    authorize(
        &state,
        &caller,
        person,
        Resource::Appointments,
        own_or_staff(&caller, person),
        &request_id,
    )
    .await?;
    let change = state
        .appointments
        .book(id, person, request.session_id)
        .await?;
    let status = if change.changed {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(booking_view(&change.booking))))
}

/// Permission to act on the booking `{booking_id}` of programme `{id}` in the path: the booking
/// is loaded to learn whose it is, then decided and audited against that person before the
/// handler runs — as the person's own answer (`respond`) or as staff acting for them (`write`).
#[derive(Debug)]
pub(super) struct AuthorizedBooking(BookingRecord);

impl FromRequestParts<AppState> for AuthorizedBooking {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let RequestId(request_id) = RequestId::from_request_parts(parts, state).await?;
        let Path((programme, booking)) =
            Path::<(ProgrammeId, BookingId)>::from_request_parts(parts, state).await?;
        let record = state
            .store
            .booking(booking)
            .await?
            .filter(|b| b.programme_id == programme)
            .ok_or(ApiError::NotFound)?;
        authorize(
            state,
            &caller,
            record.person_id,
            Resource::Appointments,
            own_or_staff(&caller, record.person_id),
            &request_id,
        )
        .await?;
        Ok(Self(record))
    }
}

/// Cancel a booking, an offered place or a waitlist place. A freed place is offered to the
/// next person waiting, who is notified.
#[utoipa::path(delete, path = "/v1/programmes/{id}/bookings/{booking_id}", tag = "workshops",
    security(("bearer" = [])), params(("id" = ProgrammeId, Path), ("booking_id" = BookingId, Path)),
    responses((status = 200, body = BookingView, description = "The booking, cancelled"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn cancel_booking(
    State(state): State<AppState>,
    AuthorizedBooking(record): AuthorizedBooking,
) -> ApiResult<axum::Json<BookingView>> {
    let change = state.appointments.cancel_booking(&record).await?;
    Ok(axum::Json(booking_view(&change.booking)))
}

/// Accept or decline an offered place before the offer expires. Declining passes the place to
/// the next person waiting.
#[utoipa::path(post, path = "/v1/programmes/{id}/bookings/{booking_id}/offer", tag = "workshops",
    security(("bearer" = [])), params(("id" = ProgrammeId, Path), ("booking_id" = BookingId, Path)),
    request_body = OfferAnswerRequest,
    responses((status = 200, body = BookingView, description = "The booking with the answer"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "No open offer: it expired, or was never made"),
              (status = 422, body = ErrorBody)))]
pub(super) async fn answer_offer(
    State(state): State<AppState>,
    AuthorizedBooking(record): AuthorizedBooking,
    Json(request): Json<OfferAnswerRequest>,
) -> ApiResult<axum::Json<BookingView>> {
    let booking = state
        .appointments
        .answer_offer(&record, request.decision)
        .await?;
    Ok(axum::Json(booking_view(&booking)))
}

/// A person's bookings, newest first: places, offers (answer before they expire) and waitlist
/// places with their position.
#[utoipa::path(get, path = "/v1/people/{id}/bookings", tag = "workshops", security(("bearer" = [])),
    params(("id" = PersonId, Path)),
    responses((status = 200, body = [BookingView], description = "The person's bookings"), (status = 404, body = ErrorBody)))]
pub(super) async fn person_bookings(
    State(state): State<AppState>,
    Authorized { caller, access, .. }: Authorized<resource::Appointments, action::Read>,
) -> ApiResult<axum::Json<Vec<BookingView>>> {
    let person = access.person;
    if worker_filter(&caller, &access).is_some() {
        // A peer worker sees only sessions they take part in; bookings name no workers.
        return Ok(axum::Json(Vec::new()));
    }
    state.appointments.settle_lapsed_offers().await?;
    let bookings = state.store.person_bookings(person, BOOKINGS_MAX).await?;
    Ok(axum::Json(bookings.iter().map(booking_view).collect()))
}
