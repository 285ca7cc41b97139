//! Appointments and enablement workshops: a person's diary, their answers to it, staff's and
//! staff systems' changes, the calendar feed (signed in, or by a secret URL: see [`feed`]),
//! and workshop programmes with bookings, waitlists and facilitators.
//!
//! Access: every read or change of a person's appointments or bookings starts with
//! [`authorize`] against that person (audited before anything is served). For
//! `/v1/appointments/{id}` and bookings the record is loaded first to learn whose it is; an id
//! that does not exist is 404, like one the caller may not know of. An allocated peer worker sees
//! only the appointments they take part in.
//!
//! Capacity, the waitlist order and offers are guaranteed by the store (see
//! [`crate::store::appointments`]), which also stores the events telling people of the places
//! they are offered (`waitlist_place_offered`) with the offers. Changes to appointments are
//! stored with the events telling the person (`appointment_changed`) and, for a request, the
//! staff on it (`appointment_request_made`). Live streams hear of both after the commit. Events
//! carry ids only.
//!
//! Offers that lapse are passed on when the programme is next touched (a booking, a read of the
//! programme, a list of programmes or of a person's bookings) and once a minute regardless; see
//! [`crate::service::appointments`].

mod by_id;
mod calendar;
mod diary;
mod feed;
mod person;
mod programmes;
mod rating;
mod views;
pub(super) mod window;

pub(super) use feed::loggable_path;

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chrono::Duration;
use livingwell_core::api::appointments::{AppointmentView, BookingView};
use livingwell_core::api::paging as page;
use livingwell_core::domain::appointment::AppointmentId;
use livingwell_core::domain::{PersonId, UserId};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::access::{Access, authorize};
use super::error::{ApiError, ApiResult};
use super::extract::{Path, RequestId};
use crate::auth::Caller;
use crate::policy::{Action, ActionKind, Grounds, Resource};
use crate::store::appointments::{AppointmentRecord, Window};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(
            person::list_appointments,
            person::create_appointment
        ))
        .routes(routes!(person::calendar_feed))
        .routes(routes!(
            feed::reset_calendar_feed,
            feed::remove_calendar_feed
        ))
        .routes(routes!(feed::subscribed_calendar_feed))
        .routes(routes!(
            by_id::get_appointment,
            by_id::update_appointment,
            by_id::cancel_appointment
        ))
        .routes(routes!(by_id::respond))
        .routes(routes!(rating::get_rating, rating::rate))
        .routes(routes!(by_id::answer_request))
        .routes(routes!(diary::diary))
        .routes(routes!(
            programmes::list_programmes,
            programmes::create_programme
        ))
        .routes(routes!(programmes::get_programme))
        .routes(routes!(programmes::programme_bookings, programmes::book))
        .routes(routes!(programmes::cancel_booking))
        .routes(routes!(programmes::answer_offer))
        .routes(routes!(
            programmes::add_facilitator,
            programmes::remove_facilitator
        ))
        .routes(routes!(programmes::person_bookings))
}

/// The widest `from`–`to` window one request may ask for: two years.
const WINDOW_MAX_DAYS: i64 = 731;
/// Most appointments in one calendar feed.
const FEED_MAX: usize = 2_000;
/// Most bookings listed for one person.
const BOOKINGS_MAX: i64 = 200;

/// How far back a phone keeps appointments; older ones it drops by itself, untold.
pub(super) const PHONE_KEEPS_DAYS: i64 = 30;
/// How far ahead a phone is given appointments.
pub(super) const PHONE_AHEAD_DAYS: i64 = 365;

/// A person's appointments and bookings as a phone keeps them (for a sync): appointments from
/// [`PHONE_KEEPS_DAYS`] ago to a year ahead — for a peer worker only those they take part in,
/// and no bookings — and the person's bookings.
pub(super) async fn phone_copy(
    state: &AppState,
    caller: &Caller,
    access: &Access,
) -> ApiResult<(Vec<AppointmentView>, Vec<BookingView>)> {
    let now = state.clock.now();
    let window = Window {
        from: now - Duration::days(PHONE_KEEPS_DAYS),
        to: now + Duration::days(PHONE_AHEAD_DAYS),
        after: None,
    };
    let worker = worker_filter(caller, access);
    let page = state
        .store
        .person_appointments(access.person, &window, worker, page::APPOINTMENTS.max)
        .await?;
    let appointments = views::page_views(&page, &page.appointments);
    if worker.is_some() {
        return Ok((appointments, Vec::new()));
    }
    state.appointments.settle_lapsed_offers().await?;
    let bookings = state
        .store
        .person_bookings(access.person, BOOKINGS_MAX)
        .await?;
    Ok((
        appointments,
        bookings.iter().map(views::booking_view).collect(),
    ))
}

// ---------------------------------------------------------------------------------------------
// Access helpers

/// An allocated peer worker sees only the appointments they take part in.
fn worker_filter(caller: &Caller, access: &Access) -> Option<UserId> {
    match (access.grounds, caller) {
        (Grounds::AllocatedPeer, Caller::User(user)) => Some(user.id),
        _ => None,
    }
}

/// Permission for action `A` on the appointment `{id}` in the path: the appointment is loaded
/// to learn whose it is, then decided and audited against that person like any record of
/// theirs, before the handler runs.
#[derive(Debug)]
struct AuthorizedAppointment<A> {
    record: AppointmentRecord,
    action: PhantomData<fn() -> A>,
}

impl<A: ActionKind> FromRequestParts<AppState> for AuthorizedAppointment<A> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let RequestId(request_id) = RequestId::from_request_parts(parts, state).await?;
        let Path(id) = Path::<AppointmentId>::from_request_parts(parts, state).await?;
        let record = state
            .store
            .appointment(id)
            .await?
            .ok_or(ApiError::NotFound)?;
        let access = authorize(
            state,
            &caller,
            record.person_id,
            Resource::Appointments,
            A::ACTION,
            &request_id,
        )
        .await?;
        // A missing appointment, and one a peer worker does not take part in, are both 404.
        if let Some(worker) = worker_filter(&caller, &access)
            && !record.worker_ids.contains(&worker)
        {
            return Err(ApiError::NotFound);
        }
        Ok(Self {
            record,
            action: PhantomData,
        })
    }
}

/// The person answers for themselves; anyone else acting on their bookings is staff.
fn own_or_staff(caller: &Caller, person: PersonId) -> Action {
    match caller {
        Caller::User(user) if user.person_id == Some(person) => Action::Respond,
        _ => Action::Write,
    }
}

/// Authorises a read for one person among many (a diary, a roster): `Ok(None)` when the
/// caller may not see them (recorded as denied), an error only when the answer cannot be given.
async fn may_read(
    state: &AppState,
    caller: &Caller,
    person: PersonId,
    request_id: &str,
) -> ApiResult<Option<Access>> {
    match authorize(
        state,
        caller,
        person,
        Resource::Appointments,
        Action::Read,
        request_id,
    )
    .await
    {
        Ok(access) => Ok(Some(access)),
        Err(ApiError::NotFound | ApiError::Forbidden) => Ok(None),
        Err(other) => Err(other),
    }
}
