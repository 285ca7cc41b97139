//! Appointments and enablement workshops: a person's diary, their answers to it, staff's and
//! staff systems' changes, the calendar feed, and workshop programmes with bookings and
//! waitlists.
//!
//! Access: every read or change of a person's appointments or bookings starts with
//! [`authorize`] against that person (audited before anything is served). For
//! `/v1/appointments/{id}` and bookings the record is loaded first to learn whose it is; an id
//! that does not exist is 404, like one the caller may not know of. An allocated peer worker sees
//! only the appointments they take part in.
//!
//! Capacity, the waitlist order and offers are guaranteed by the store (see
//! [`crate::store::appointments`]); this module tells people about the places they are offered
//! (`waitlist_place_offered`) and about changes to their appointments (`appointment_changed`),
//! after the change is committed. Events carry ids only.
//!
//! Offers that lapse are passed on when the programme is next touched (a booking, a read of the
//! programme, a list of programmes or of a person's bookings); see [`settle_lapsed_offers`].

mod calendar;

use std::collections::{BTreeSet, HashMap};

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, SecondsFormat, SubsecRound, TimeZone, Utc};
use livingwell_core::api::appointments::{
    AnswerRequestRequest, AppointmentPage, AppointmentResponseRequest, AppointmentView,
    BookRequest, BookingView, CalendarDetail, CreateAppointmentRequest, CreateProgrammeRequest,
    OfferAnswerRequest, ProgrammePage, ProgrammeSessionView, ProgrammeView,
    UpdateAppointmentRequest,
};
use livingwell_core::api::{ErrorBody, FieldError};
use livingwell_core::domain::appointment::{
    self, AppointmentId, AppointmentKind, AppointmentStatus, BookingId, BookingStatus, BookingUnit,
    Decision, Location, PersonRequest, ProgrammeId, ProgrammeSessionId, RequestAnswer, RequestKind,
};
use livingwell_core::domain::{PersonId, Role, StaffScope, TeamId, UserId};
use serde::Deserialize;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::access::{Access, authorize, record_unscoped};
use super::error::{ApiError, ApiResult};
use super::extract::{Json, Path, Query, RequestId, Staff, ValidJson};
use crate::auth::Caller;
use crate::policy::{Action, Grounds, Resource};
use crate::store::TeamRecord;
use crate::store::appointments::{
    AppointmentRecord, BookingChange, BookingRecord, DiaryScope, NewBooking, ProgrammeRecord,
    ProgrammeSessionRecord, Window,
};
use crate::store::events::NewEvent;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_appointments, create_appointment))
        .routes(routes!(calendar_feed))
        .routes(routes!(
            get_appointment,
            update_appointment,
            cancel_appointment
        ))
        .routes(routes!(respond))
        .routes(routes!(answer_request))
        .routes(routes!(diary))
        .routes(routes!(list_programmes, create_programme))
        .routes(routes!(get_programme))
        .routes(routes!(programme_bookings, book))
        .routes(routes!(cancel_booking))
        .routes(routes!(answer_offer))
        .routes(routes!(person_bookings))
}

/// Default and largest page of appointments.
const PAGE_DEFAULT: i64 = 50;
const PAGE_MAX: i64 = 200;
/// The widest `from`–`to` window one request may ask for: two years.
const WINDOW_MAX_DAYS: i64 = 731;
/// Most appointments in one calendar feed.
const FEED_MAX: usize = 2_000;
/// Most bookings listed for one person.
const BOOKINGS_MAX: i64 = 200;
/// Most programmes settled in one pass over lapsed offers.
const SETTLE_BATCH: i64 = 20;

// ---------------------------------------------------------------------------------------------
// Views

/// The hubs that locations name, read once per request.
#[derive(Debug, Default)]
struct Hubs(HashMap<TeamId, TeamRecord>);

impl Hubs {
    async fn load<'a>(
        state: &AppState,
        locations: impl IntoIterator<Item = &'a Location>,
    ) -> ApiResult<Self> {
        let ids: BTreeSet<TeamId> = locations
            .into_iter()
            .filter_map(|l| match l {
                Location::Hub { team_id } => Some(*team_id),
                _ => None,
            })
            .collect();
        let mut hubs = HashMap::new();
        for id in ids {
            if let Some(team) = state.store.team(id).await? {
                hubs.insert(id, team);
            }
        }
        Ok(Hubs(hubs))
    }

    fn team(&self, location: &Location) -> Option<&TeamRecord> {
        match location {
            Location::Hub { team_id } => self.0.get(team_id),
            _ => None,
        }
    }

    fn name(&self, location: &Location) -> Option<&str> {
        self.team(location).map(|t| t.name.as_str())
    }
}

fn appointment_view(record: &AppointmentRecord, hubs: &Hubs) -> AppointmentView {
    let hub = hubs.name(&record.location);
    AppointmentView {
        id: record.id,
        person_id: record.person_id,
        kind: record.kind,
        title: record.title.clone(),
        summary: appointment::discreet_title(&record.location, hub),
        starts_at: record.starts_at,
        ends_at: record.ends_at,
        location: record.location.clone(),
        place: record.location.place(hub),
        address: hubs
            .team(&record.location)
            .and_then(|t| t.hub_address.clone()),
        status: record.status,
        notes_for_person: record.notes_for_person.clone(),
        accessibility: record.accessibility.clone(),
        worker_ids: record.worker_ids.clone(),
        request: record.request.clone(),
        programme_id: record.programme_id,
        booking_id: record.booking_id,
        sequence: record.sequence,
        created_at: record.created_at,
        updated_at: record.updated_at,
    }
}

async fn appointment_views(
    state: &AppState,
    records: &[AppointmentRecord],
) -> ApiResult<Vec<AppointmentView>> {
    let hubs = Hubs::load(state, records.iter().map(|r| &r.location)).await?;
    Ok(records.iter().map(|r| appointment_view(r, &hubs)).collect())
}

fn booking_view(record: &BookingRecord) -> BookingView {
    BookingView {
        id: record.id,
        programme_id: record.programme_id,
        session_id: record.session_id,
        person_id: record.person_id,
        status: record.status,
        waitlist_position: record.waitlist_position,
        offer_expires_at: record.offer_expires_at,
        created_at: record.created_at,
        updated_at: record.updated_at,
    }
}

async fn programme_view(state: &AppState, programme: &ProgrammeRecord) -> ApiResult<ProgrammeView> {
    let counts: HashMap<uuid::Uuid, (i64, i64)> = state
        .store
        .place_counts(programme.id)
        .await?
        .into_iter()
        .map(|c| (c.unit_id, (c.holding, c.waiting)))
        .collect();
    let places = |unit: uuid::Uuid| {
        let (holding, waiting) = counts.get(&unit).copied().unwrap_or((0, 0));
        ((programme.capacity - holding).max(0), waiting)
    };
    let per_session = programme.booking_unit == BookingUnit::Session;
    let (places_left, waitlist_length) = if per_session {
        (None, None)
    } else {
        let (left, waiting) = places(programme.id.as_uuid());
        (Some(left), Some(waiting))
    };
    let hubs = Hubs::load(state, [&programme.location]).await?;
    Ok(ProgrammeView {
        id: programme.id,
        team_id: programme.team_id,
        title: programme.title.clone(),
        description: programme.description.clone(),
        location: programme.location.clone(),
        place: programme.location.place(hubs.name(&programme.location)),
        capacity: programme.capacity,
        booking_unit: programme.booking_unit,
        offer_hold_hours: programme.offer_hold_minutes / 60,
        places_left,
        waitlist_length,
        sessions: programme
            .sessions
            .iter()
            .map(|s| {
                let (left, waiting) = places(s.id.as_uuid());
                ProgrammeSessionView {
                    id: s.id,
                    number: s.number,
                    starts_at: s.starts_at,
                    ends_at: s.ends_at,
                    places_left: per_session.then_some(left),
                    waitlist_length: per_session.then_some(waiting),
                }
            })
            .collect(),
        created_at: programme.created_at,
    })
}

// ---------------------------------------------------------------------------------------------
// Windows and cursors

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Appointments starting at or after this (default: 90 days ago).
    from: Option<DateTime<Utc>>,
    /// …and before this (default: a year after `from`; at most two years after it).
    to: Option<DateTime<Utc>>,
    /// From `next_cursor` of the previous page.
    cursor: Option<String>,
    /// At most this many (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

/// The earliest and latest instants a window may name; outside them a date is a mistake.
fn plausible(at: DateTime<Utc>) -> bool {
    let bounds = (
        Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).single(),
        Utc.with_ymd_and_hms(2200, 1, 1, 0, 0, 0).single(),
    );
    matches!(bounds, (Some(lo), Some(hi)) if lo <= at && at < hi)
}

fn window(
    now: DateTime<Utc>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    cursor: Option<&str>,
    default_back: Duration,
    default_span: Duration,
) -> ApiResult<Window> {
    let mut errors = Vec::new();
    for (field, value) in [("from", from), ("to", to)] {
        if value.is_some_and(|v| !plausible(v)) {
            errors.push(FieldError::new(field, "out_of_range"));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let from = from.unwrap_or(now - default_back);
    let to = to.unwrap_or(from + default_span);
    if to <= from {
        return Err(ApiError::invalid("to", "not_after_from"));
    }
    if to - from > Duration::days(WINDOW_MAX_DAYS) {
        return Err(ApiError::invalid("to", "window_too_long"));
    }
    let after = cursor.map(decode_cursor).transpose()?;
    Ok(Window { from, to, after })
}

fn encode_cursor(record: &AppointmentRecord) -> String {
    URL_SAFE_NO_PAD.encode(format!(
        "{}|{}",
        record
            .starts_at
            .to_rfc3339_opts(SecondsFormat::Micros, true),
        record.id
    ))
}

fn decode_cursor(cursor: &str) -> ApiResult<(DateTime<Utc>, AppointmentId)> {
    let invalid = || ApiError::invalid("cursor", "invalid");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (at, id) = text.split_once('|').ok_or_else(invalid)?;
    let at = DateTime::parse_from_rfc3339(at).map_err(|_| invalid())?;
    let id = id.parse().map_err(|_| invalid())?;
    Ok((at.with_timezone(&Utc), id))
}

fn page_limit(limit: Option<i64>) -> ApiResult<i64> {
    let limit = limit.unwrap_or(PAGE_DEFAULT);
    if (1..=PAGE_MAX).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::invalid("limit", "out_of_range"))
    }
}

fn next_cursor(records: &[AppointmentRecord], limit: i64) -> Option<String> {
    (records.len() as i64 == limit)
        .then(|| records.last().map(encode_cursor))
        .flatten()
}

/// A time from a request as it will be stored: microseconds, like every stored time.
fn stored(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
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

/// Loads an appointment and authorises `action` on it against its person. A missing
/// appointment, and one a peer worker does not take part in, are 404.
async fn authorized_appointment(
    state: &AppState,
    caller: &Caller,
    id: AppointmentId,
    action: Action,
    request_id: &str,
) -> ApiResult<(AppointmentRecord, Access)> {
    let record = state
        .store
        .appointment(id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let access = authorize(
        state,
        caller,
        record.person_id,
        Resource::Appointments,
        action,
        request_id,
    )
    .await?;
    if let Some(worker) = worker_filter(caller, &access)
        && !record.worker_ids.contains(&worker)
    {
        return Err(ApiError::NotFound);
    }
    Ok((record, access))
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

fn conflict(field: &str, code: &str) -> ApiError {
    ApiError::Conflict(vec![FieldError::new(field, code)])
}

/// Checks that every worker is a member of staff (a practitioner or a peer worker).
async fn check_workers(state: &AppState, workers: &[UserId]) -> ApiResult<Vec<UserId>> {
    let mut unique = Vec::with_capacity(workers.len());
    let mut errors = Vec::new();
    for (i, worker) in workers.iter().enumerate() {
        if unique.contains(worker) {
            continue;
        }
        match state.store.user_by_id(*worker).await? {
            Some(user) if user.role.is_team_staff() => unique.push(*worker),
            _ => errors.push(FieldError::new(format!("worker_ids[{i}]"), "not_staff")),
        }
    }
    if errors.is_empty() {
        Ok(unique)
    } else {
        Err(ApiError::Invalid(errors))
    }
}

/// A hub location must name a team that exists.
async fn check_location(state: &AppState, location: &Location) -> ApiResult<()> {
    if let Location::Hub { team_id } = location
        && state.store.team(*team_id).await?.is_none()
    {
        return Err(ApiError::invalid("location.team_id", "not_found"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Events

/// Stores and pushes events. The change they announce is already committed, so a failure here
/// is logged (by kind only) rather than turned into an error for a request that succeeded.
async fn publish(state: &AppState, events: Vec<NewEvent>) {
    if let Err(error) = state.events.publish(events).await {
        tracing::error!(kind = error.kind(), "storing an appointment event failed");
    }
}

/// Tells the person (through their app account, if they have one) that an appointment changed.
async fn notify_person(state: &AppState, record: &AppointmentRecord, change: &str) {
    let recipient = match state.store.account_of_person(record.person_id).await {
        Ok(Some(recipient)) => recipient,
        Ok(None) => return,
        Err(_) => {
            tracing::error!("looking up the account to notify failed");
            return;
        }
    };
    publish(
        state,
        vec![NewEvent {
            recipient_id: recipient,
            kind: "appointment_changed".into(),
            person_id: Some(record.person_id),
            data: json!({"appointment_id": record.id, "change": change}),
            created_at: state.clock.now(),
        }],
    )
    .await;
}

/// Tells the staff on an appointment that the person asked something of it.
async fn notify_workers(state: &AppState, record: &AppointmentRecord, kind: RequestKind) {
    let events = record
        .worker_ids
        .iter()
        .map(|worker| NewEvent {
            recipient_id: *worker,
            kind: "appointment_request_made".into(),
            person_id: Some(record.person_id),
            data: json!({"appointment_id": record.id, "request": kind}),
            created_at: state.clock.now(),
        })
        .collect();
    publish(state, events).await;
}

/// Tells each person offered a place, so they can accept or decline before it expires.
async fn notify_offers(state: &AppState, offered: &[BookingRecord]) {
    let mut events = Vec::with_capacity(offered.len());
    for booking in offered {
        match state.store.account_of_person(booking.person_id).await {
            Ok(Some(recipient)) => events.push(NewEvent {
                recipient_id: recipient,
                kind: "waitlist_place_offered".into(),
                person_id: Some(booking.person_id),
                data: json!({
                    "programme_id": booking.programme_id,
                    "session_id": booking.session_id,
                    "booking_id": booking.id,
                    "offer_expires_at": booking.offer_expires_at,
                }),
                created_at: state.clock.now(),
            }),
            Ok(None) => {}
            Err(_) => tracing::error!("looking up the account to notify failed"),
        }
    }
    publish(state, events).await;
}

/// Passes on places whose offers lapsed, in every programme that has one, and tells the people
/// now offered them. Called on reads that show bookings, so a lapsed offer is never shown as
/// open; a periodic task may call it too.
pub async fn settle_lapsed_offers(state: &AppState) -> ApiResult<()> {
    let now = state.clock.now();
    for programme in state
        .store
        .programmes_with_lapsed_offers(now, SETTLE_BATCH)
        .await?
    {
        let offered = state.store.settle_offers(programme, now).await?;
        notify_offers(state, &offered).await;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// A person's appointments

/// A person's appointments in start order: the person, their team, a carer with the
/// `appointments` consent, their peer worker (only those they take part in), or a staff system.
#[utoipa::path(get, path = "/v1/people/{id}/appointments", tag = "appointments",
    security(("bearer" = [])), params(("id" = PersonId, Path), ListQuery),
    responses((status = 200, body = AppointmentPage), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_appointments(
    State(state): State<AppState>,
    caller: Caller,
    RequestId(request_id): RequestId,
    Path(person): Path<PersonId>,
    Query(query): Query<ListQuery>,
) -> ApiResult<axum::Json<AppointmentPage>> {
    let access = authorize(
        &state,
        &caller,
        person,
        Resource::Appointments,
        Action::Read,
        &request_id,
    )
    .await?;
    let limit = page_limit(query.limit)?;
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
    Ok(axum::Json(AppointmentPage {
        appointments: appointment_views(&state, &records).await?,
        next_cursor: next_cursor(&records, limit),
    }))
}

/// Staff or a staff system: add an appointment to a person's diary.
#[utoipa::path(post, path = "/v1/people/{id}/appointments", tag = "appointments",
    security(("bearer" = [])), params(("id" = PersonId, Path)), request_body = CreateAppointmentRequest,
    responses((status = 201, body = AppointmentView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_appointment(
    State(state): State<AppState>,
    caller: Caller,
    RequestId(request_id): RequestId,
    Path(person): Path<PersonId>,
    ValidJson(request): ValidJson<CreateAppointmentRequest>,
) -> ApiResult<(StatusCode, axum::Json<AppointmentView>)> {
    authorize(
        &state,
        &caller,
        person,
        Resource::Appointments,
        Action::Write,
        &request_id,
    )
    .await?;
    if state.store.person(person).await?.is_none() {
        return Err(ApiError::NotFound);
    }
    if request.kind == AppointmentKind::EnablementWorkshop {
        // Workshop sessions come from bookings, so that capacity holds.
        return Err(ApiError::invalid("kind", "book_the_programme"));
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
    state.store.insert_appointment(&record).await?;
    notify_person(&state, &record, "created").await;
    let view = appointment_views(&state, std::slice::from_ref(&record)).await?;
    Ok((StatusCode::CREATED, axum::Json(one(view)?)))
}

fn non_blank(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty())
}

fn one<T>(views: Vec<T>) -> ApiResult<T> {
    views
        .into_iter()
        .next()
        .ok_or(ApiError::Internal("empty view"))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct FeedQuery {
    /// Appointments starting at or after this (default: 30 days ago).
    from: Option<DateTime<Utc>>,
    /// …and before this (default: 13 months after `from`; at most two years after it).
    to: Option<DateTime<Utc>>,
    /// `discreet` (default) or `detailed`; only the person may ask for detailed titles.
    #[param(inline)]
    detail: Option<CalendarDetail>,
}

/// The person's appointments as an iCalendar (RFC 5545) feed: times in UTC, stable UIDs,
/// cancellations as `STATUS:CANCELLED`, discreet titles unless the person asks otherwise.
#[utoipa::path(get, path = "/v1/people/{id}/appointments.ics", tag = "appointments",
    security(("bearer" = [])), params(("id" = PersonId, Path), FeedQuery),
    responses((status = 200, description = "An iCalendar feed", content_type = "text/calendar", body = String),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn calendar_feed(
    State(state): State<AppState>,
    caller: Caller,
    RequestId(request_id): RequestId,
    Path(person): Path<PersonId>,
    Query(query): Query<FeedQuery>,
) -> ApiResult<Response> {
    let access = authorize(
        &state,
        &caller,
        person,
        Resource::Appointments,
        Action::Read,
        &request_id,
    )
    .await?;
    let detail = query.detail.unwrap_or_default();
    if detail == CalendarDetail::Detailed && access.grounds != Grounds::OwnRecord {
        return Err(ApiError::Forbidden);
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
            .person_appointments(person, &window, worker, PAGE_MAX)
            .await?;
        let full = page.len() as i64 == PAGE_MAX;
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

// ---------------------------------------------------------------------------------------------
// One appointment

/// One appointment.
#[utoipa::path(get, path = "/v1/appointments/{id}", tag = "appointments",
    security(("bearer" = [])), params(("id" = AppointmentId, Path)),
    responses((status = 200, body = AppointmentView), (status = 404, body = ErrorBody)))]
async fn get_appointment(
    State(state): State<AppState>,
    caller: Caller,
    RequestId(request_id): RequestId,
    Path(id): Path<AppointmentId>,
) -> ApiResult<axum::Json<AppointmentView>> {
    let (record, _) =
        authorized_appointment(&state, &caller, id, Action::Read, &request_id).await?;
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
async fn update_appointment(
    State(state): State<AppState>,
    caller: Caller,
    RequestId(request_id): RequestId,
    Path(id): Path<AppointmentId>,
    ValidJson(request): ValidJson<UpdateAppointmentRequest>,
) -> ApiResult<axum::Json<AppointmentView>> {
    let (current, _) =
        authorized_appointment(&state, &caller, id, Action::Write, &request_id).await?;
    if current.status == AppointmentStatus::Cancelled {
        return Err(conflict("status", "cancelled"));
    }
    let reshapes = request.kind.is_some()
        || request.starts_at.is_some()
        || request.ends_at.is_some()
        || request.location.is_some();
    if current.booking_id.is_some() && reshapes {
        // A workshop session is the programme's: it moves with the programme, not alone.
        return Err(conflict("booking_id", "managed_by_booking"));
    }
    if request.kind == Some(AppointmentKind::EnablementWorkshop) {
        return Err(ApiError::invalid("kind", "book_the_programme"));
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
            return Err(conflict("status", "not_yet_begun"));
        }
        next.status = outcome;
    }
    save(
        &state,
        next,
        current.sequence,
        if moved { "moved" } else { "updated" },
    )
    .await
}

/// Stores a changed appointment if nobody changed it meanwhile, and tells the person.
async fn save(
    state: &AppState,
    mut next: AppointmentRecord,
    read_sequence: i64,
    change: &str,
) -> ApiResult<axum::Json<AppointmentView>> {
    next.sequence = read_sequence + 1;
    next.updated_at = state.clock.now();
    if !state.store.update_appointment(&next, read_sequence).await? {
        return Err(conflict("sequence", "changed_meanwhile"));
    }
    notify_person(state, &next, change).await;
    Ok(axum::Json(one(appointment_views(
        state,
        std::slice::from_ref(&next),
    )
    .await?)?))
}

/// Marks a pending request of `kind` as accepted: staff did what was asked.
fn answer_pending(record: &mut AppointmentRecord, kind: RequestKind, now: DateTime<Utc>) {
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
async fn cancel_appointment(
    State(state): State<AppState>,
    caller: Caller,
    RequestId(request_id): RequestId,
    Path(id): Path<AppointmentId>,
) -> ApiResult<axum::Json<AppointmentView>> {
    let (current, _) =
        authorized_appointment(&state, &caller, id, Action::Write, &request_id).await?;
    if current.status == AppointmentStatus::Cancelled {
        return Ok(axum::Json(one(appointment_views(
            &state,
            std::slice::from_ref(&current),
        )
        .await?)?));
    }
    if current.booking_id.is_some() {
        return Err(conflict("booking_id", "managed_by_booking"));
    }
    if !current.status.is_open() {
        return Err(conflict("status", "already_happened"));
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
    save(&state, next, current.sequence, "cancelled").await
}

/// The person (or a staff system recording what they said): confirm, ask to cancel, or ask
/// to reschedule with preferred times. Staff on the appointment are notified of a request.
#[utoipa::path(post, path = "/v1/appointments/{id}/response", tag = "appointments",
    security(("bearer" = [])), params(("id" = AppointmentId, Path)), request_body = AppointmentResponseRequest,
    responses((status = 200, body = AppointmentView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "Not open any more, already begun, or a workshop session"),
              (status = 422, body = ErrorBody)))]
async fn respond(
    State(state): State<AppState>,
    caller: Caller,
    RequestId(request_id): RequestId,
    Path(id): Path<AppointmentId>,
    ValidJson(request): ValidJson<AppointmentResponseRequest>,
) -> ApiResult<axum::Json<AppointmentView>> {
    let (current, _) =
        authorized_appointment(&state, &caller, id, Action::Respond, &request_id).await?;
    let now = state.clock.now();
    if !current.status.is_open() {
        return Err(conflict("action", "not_open"));
    }
    if current.starts_at <= now {
        return Err(conflict("action", "already_begun"));
    }
    let mut next = current.clone();
    let (kind, reason, preferred_times) = match request {
        AppointmentResponseRequest::Confirm {} => {
            next.status = AppointmentStatus::Confirmed;
            // Confirming withdraws a request the person made earlier.
            if next.request.as_ref().is_some_and(PersonRequest::is_pending) {
                next.request = None;
            }
            return save(&state, next, current.sequence, "confirmed").await;
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
        return Err(conflict("booking_id", "managed_by_booking"));
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
    let answer = save(&state, next.clone(), current.sequence, "request_made").await?;
    notify_workers(&state, &next, kind).await;
    Ok(answer)
}

/// Staff or a staff system: answer the person's pending request. Accepting a cancel request
/// cancels; accepting a reschedule request moves the appointment to the times given.
#[utoipa::path(post, path = "/v1/appointments/{id}/request-answer", tag = "appointments",
    security(("bearer" = [])), params(("id" = AppointmentId, Path)), request_body = AnswerRequestRequest,
    responses((status = 200, body = AppointmentView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "No request is waiting for an answer"),
              (status = 422, body = ErrorBody)))]
async fn answer_request(
    State(state): State<AppState>,
    caller: Caller,
    RequestId(request_id): RequestId,
    Path(id): Path<AppointmentId>,
    ValidJson(request): ValidJson<AnswerRequestRequest>,
) -> ApiResult<axum::Json<AppointmentView>> {
    let (current, _) =
        authorized_appointment(&state, &caller, id, Action::Write, &request_id).await?;
    let Some(pending) = current.request.clone().filter(PersonRequest::is_pending) else {
        return Err(conflict("request", "none_pending"));
    };
    if !current.status.is_open() {
        return Err(conflict("status", "not_open"));
    }
    let now = state.clock.now();
    let mut next = current.clone();
    if request.decision == Decision::Accept {
        match pending.kind {
            RequestKind::Cancel => next.status = AppointmentStatus::Cancelled,
            RequestKind::Reschedule => {
                let (Some(starts_at), Some(ends_at)) = (request.starts_at, request.ends_at) else {
                    return Err(ApiError::invalid("starts_at", "required"));
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
    save(&state, next, current.sequence, "request_answered").await
}

// ---------------------------------------------------------------------------------------------
// Diaries

/// Which of one person's appointments a diary may show.
#[derive(Clone, Copy, Debug)]
enum Visibility {
    All,
    /// Those this worker takes part in (an allocated peer worker).
    TakingPart(UserId),
    Hidden,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct DiaryQuery {
    /// A team's diary: everyone on its caseload (the team's practitioners, staff systems).
    team_id: Option<TeamId>,
    /// A worker's diary; staff see their own (the default for them).
    worker_id: Option<UserId>,
    /// Appointments starting at or after this (default: now).
    from: Option<DateTime<Utc>>,
    /// …and before this (default: a week after `from`; at most two years after it).
    to: Option<DateTime<Utc>>,
    cursor: Option<String>,
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// Only appointments with a request from the person waiting for an answer.
    pending_requests: Option<bool>,
}

/// Staff and staff systems: a team's or a worker's diary. Each person's appointments appear
/// only if the caller may read them (each such read is audited against that person).
#[utoipa::path(get, path = "/v1/diary", tag = "appointments", security(("bearer" = [])),
    params(DiaryQuery),
    responses((status = 200, body = AppointmentPage), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn diary(
    State(state): State<AppState>,
    Staff(caller): Staff,
    RequestId(request_id): RequestId,
    Query(query): Query<DiaryQuery>,
) -> ApiResult<axum::Json<AppointmentPage>> {
    let limit = page_limit(query.limit)?;
    let scope = match (&caller, query.team_id, query.worker_id) {
        (_, Some(_), Some(_)) => return Err(ApiError::invalid("worker_id", "with_team_id")),
        (Caller::User(user), Some(team), None) => {
            if user.role != Role::Practitioner || !state.store.is_team_member(team, user.id).await?
            {
                return Err(ApiError::Forbidden);
            }
            DiaryScope::Team(team)
        }
        (Caller::User(user), None, worker) => {
            if worker.is_some_and(|w| w != user.id) {
                return Err(ApiError::Forbidden);
            }
            DiaryScope::Worker(user.id)
        }
        (Caller::StaffSystem(client), team, worker) => {
            if !client.scopes.contains(&StaffScope::AppointmentsRead) {
                return Err(ApiError::Forbidden);
            }
            match (team, worker) {
                (Some(team), _) => DiaryScope::Team(team),
                (None, Some(worker)) => DiaryScope::Worker(worker),
                (None, None) => return Err(ApiError::invalid("team_id", "required")),
            }
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
    let records = state
        .store
        .diary(
            scope,
            &window,
            query.pending_requests.unwrap_or(false),
            limit,
        )
        .await?;
    let cursor = next_cursor(&records, limit);
    // Whose appointments the caller may see, decided (and audited) once per person.
    let mut visible: HashMap<PersonId, Visibility> = HashMap::new();
    let mut shown = Vec::with_capacity(records.len());
    for record in records {
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
    Ok(axum::Json(AppointmentPage {
        appointments: appointment_views(&state, &shown).await?,
        next_cursor: cursor,
    }))
}

// ---------------------------------------------------------------------------------------------
// Programmes

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ProgrammeQuery {
    /// Only this team's programmes.
    team_id: Option<TeamId>,
    /// From `next_after` of the previous page.
    after: Option<ProgrammeId>,
    #[param(minimum = 1, maximum = 50)]
    limit: Option<i64>,
}

/// Programmes are not anyone's record: every account may see them (to book), and staff systems
/// with an appointments scope.
fn may_see_programmes(caller: &Caller) -> bool {
    match caller {
        Caller::User(_) => true,
        Caller::StaffSystem(client) => {
            client.scopes.contains(&StaffScope::AppointmentsRead)
                || client.scopes.contains(&StaffScope::AppointmentsWrite)
        }
    }
}

/// Workshop programmes with their sessions and free places, in creation order.
#[utoipa::path(get, path = "/v1/programmes", tag = "workshops", security(("bearer" = [])),
    params(ProgrammeQuery),
    responses((status = 200, body = ProgrammePage), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_programmes(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ProgrammeQuery>,
) -> ApiResult<axum::Json<ProgrammePage>> {
    if !may_see_programmes(&caller) {
        return Err(ApiError::Forbidden);
    }
    let limit = query.limit.unwrap_or(20);
    if !(1..=50).contains(&limit) {
        return Err(ApiError::invalid("limit", "out_of_range"));
    }
    settle_lapsed_offers(&state).await?;
    let records = state
        .store
        .programmes(query.team_id, query.after, limit)
        .await?;
    let mut programmes = Vec::with_capacity(records.len());
    for record in &records {
        programmes.push(programme_view(&state, record).await?);
    }
    let next_after = (records.len() as i64 == limit)
        .then(|| records.last().map(|r| r.id))
        .flatten();
    Ok(axum::Json(ProgrammePage {
        programmes,
        next_after,
    }))
}

/// A practitioner of the team, or a staff system with `appointments:write`: a new programme.
#[utoipa::path(post, path = "/v1/programmes", tag = "workshops", security(("bearer" = [])),
    request_body = CreateProgrammeRequest,
    responses((status = 201, body = ProgrammeView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_programme(
    State(state): State<AppState>,
    Staff(caller): Staff,
    RequestId(request_id): RequestId,
    ValidJson(request): ValidJson<CreateProgrammeRequest>,
) -> ApiResult<(StatusCode, axum::Json<ProgrammeView>)> {
    let allowed = match &caller {
        Caller::User(user) => {
            user.role == Role::Practitioner
                && state.store.is_team_member(request.team_id, user.id).await?
        }
        Caller::StaffSystem(client) => client.scopes.contains(&StaffScope::AppointmentsWrite),
    };
    if !allowed {
        return Err(ApiError::Forbidden);
    }
    if state.store.team(request.team_id).await?.is_none() {
        return Err(ApiError::invalid("team_id", "not_found"));
    }
    check_location(&state, &request.location).await?;
    record_unscoped(&state, &caller, "programme", Action::Write, &request_id).await?;
    let mut sessions = request.sessions.clone();
    sessions.sort_by_key(|s| s.starts_at);
    let programme = ProgrammeRecord {
        id: ProgrammeId::new(),
        team_id: request.team_id,
        title: request.title.trim().to_owned(),
        description: non_blank(request.description),
        location: request.location,
        capacity: request.capacity,
        booking_unit: request.booking_unit,
        offer_hold_minutes: request
            .offer_hold_hours
            .unwrap_or(appointment::DEFAULT_OFFER_HOLD_HOURS)
            * 60,
        sessions: sessions
            .iter()
            .zip(1..)
            .map(|(s, number)| ProgrammeSessionRecord {
                id: ProgrammeSessionId::new(),
                number,
                starts_at: stored(s.starts_at),
                ends_at: stored(s.ends_at),
            })
            .collect(),
        created_by: caller.audit_id(),
        created_at: state.clock.now(),
    };
    state.store.insert_programme(&programme).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(programme_view(&state, &programme).await?),
    ))
}

/// One programme with its sessions and free places.
#[utoipa::path(get, path = "/v1/programmes/{id}", tag = "workshops", security(("bearer" = [])),
    params(("id" = ProgrammeId, Path)),
    responses((status = 200, body = ProgrammeView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_programme(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<ProgrammeId>,
) -> ApiResult<axum::Json<ProgrammeView>> {
    if !may_see_programmes(&caller) {
        return Err(ApiError::Forbidden);
    }
    let offered = state.store.settle_offers(id, state.clock.now()).await?;
    notify_offers(&state, &offered).await;
    let programme = state.store.programme(id).await?.ok_or(ApiError::NotFound)?;
    Ok(axum::Json(programme_view(&state, &programme).await?))
}

/// The team's practitioners and staff systems: who is booked, offered a place or waiting, in
/// arrival order. Only people the caller may read appear (each read audited).
#[utoipa::path(get, path = "/v1/programmes/{id}/bookings", tag = "workshops", security(("bearer" = [])),
    params(("id" = ProgrammeId, Path)),
    responses((status = 200, body = [BookingView]), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn programme_bookings(
    State(state): State<AppState>,
    Staff(caller): Staff,
    RequestId(request_id): RequestId,
    Path(id): Path<ProgrammeId>,
) -> ApiResult<axum::Json<Vec<BookingView>>> {
    let programme = state.store.programme(id).await?.ok_or(ApiError::NotFound)?;
    let allowed = match &caller {
        Caller::User(user) => {
            user.role == Role::Practitioner
                && state
                    .store
                    .is_team_member(programme.team_id, user.id)
                    .await?
        }
        Caller::StaffSystem(client) => client.scopes.contains(&StaffScope::AppointmentsRead),
    };
    if !allowed {
        return Err(ApiError::Forbidden);
    }
    let offered = state.store.settle_offers(id, state.clock.now()).await?;
    notify_offers(&state, &offered).await;
    let mut shown = Vec::new();
    let mut seen: HashMap<PersonId, bool> = HashMap::new();
    for booking in state.store.programme_bookings(id).await? {
        let may = match seen.get(&booking.person_id) {
            Some(may) => *may,
            None => {
                let may = may_read(&state, &caller, booking.person_id, &request_id)
                    .await?
                    .is_some();
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

/// Book onto a programme (or one session of a programme booked session by session): a place
/// if one is free, else a place on the waitlist. Booking again returns the booking already held.
#[utoipa::path(post, path = "/v1/programmes/{id}/bookings", tag = "workshops", security(("bearer" = [])),
    params(("id" = ProgrammeId, Path)), request_body = BookRequest,
    responses((status = 201, body = BookingView, description = "Booked or waitlisted"),
              (status = 200, body = BookingView, description = "Already booked, offered or waitlisted"),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn book(
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
            .ok_or_else(|| ApiError::invalid("person_id", "required"))?,
        (None, Caller::StaffSystem(_)) => return Err(ApiError::invalid("person_id", "required")),
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
    let programme = state.store.programme(id).await?.ok_or(ApiError::NotFound)?;
    match (programme.booking_unit, request.session_id) {
        (BookingUnit::Programme, Some(_)) => {
            return Err(ApiError::invalid("session_id", "book_the_programme"));
        }
        (BookingUnit::Session, None) => return Err(ApiError::invalid("session_id", "required")),
        (BookingUnit::Session, Some(session))
            if !programme.sessions.iter().any(|s| s.id == session) =>
        {
            return Err(ApiError::invalid("session_id", "not_found"));
        }
        _ => {}
    }
    if state.store.person(person).await?.is_none() {
        return Err(ApiError::NotFound);
    }
    let change = state
        .store
        .book(&NewBooking {
            programme_id: id,
            session_id: request.session_id,
            person_id: person,
            at: state.clock.now(),
        })
        .await?
        .ok_or(ApiError::NotFound)?;
    notify_offers(&state, &change.offered).await;
    let status = if change.changed {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(booking_view(&change.booking))))
}

/// A booking of this programme, authorised for the person or staff acting for them.
async fn authorized_booking(
    state: &AppState,
    caller: &Caller,
    programme: ProgrammeId,
    booking: BookingId,
    request_id: &str,
) -> ApiResult<BookingRecord> {
    let record = state
        .store
        .booking(booking)
        .await?
        .filter(|b| b.programme_id == programme)
        .ok_or(ApiError::NotFound)?;
    authorize(
        state,
        caller,
        record.person_id,
        Resource::Appointments,
        own_or_staff(caller, record.person_id),
        request_id,
    )
    .await?;
    Ok(record)
}

/// Cancel a booking, an offered place or a waitlist place. A freed place is offered to the
/// next person waiting, who is notified.
#[utoipa::path(delete, path = "/v1/programmes/{id}/bookings/{booking_id}", tag = "workshops",
    security(("bearer" = [])), params(("id" = ProgrammeId, Path), ("booking_id" = BookingId, Path)),
    responses((status = 200, body = BookingView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn cancel_booking(
    State(state): State<AppState>,
    caller: Caller,
    RequestId(request_id): RequestId,
    Path((id, booking)): Path<(ProgrammeId, BookingId)>,
) -> ApiResult<axum::Json<BookingView>> {
    authorized_booking(&state, &caller, id, booking, &request_id).await?;
    let change = state
        .store
        .cancel_booking(id, booking, state.clock.now())
        .await?
        .ok_or(ApiError::NotFound)?;
    notify_offers(&state, &change.offered).await;
    Ok(axum::Json(booking_view(&change.booking)))
}

/// Accept or decline an offered place before the offer expires. Declining passes the place to
/// the next person waiting.
#[utoipa::path(post, path = "/v1/programmes/{id}/bookings/{booking_id}/offer", tag = "workshops",
    security(("bearer" = [])), params(("id" = ProgrammeId, Path), ("booking_id" = BookingId, Path)),
    request_body = OfferAnswerRequest,
    responses((status = 200, body = BookingView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "No open offer: it expired, or was never made"),
              (status = 422, body = ErrorBody)))]
async fn answer_offer(
    State(state): State<AppState>,
    caller: Caller,
    RequestId(request_id): RequestId,
    Path((id, booking)): Path<(ProgrammeId, BookingId)>,
    Json(request): Json<OfferAnswerRequest>,
) -> ApiResult<axum::Json<BookingView>> {
    authorized_booking(&state, &caller, id, booking, &request_id).await?;
    let change: BookingChange = state
        .store
        .answer_offer(id, booking, request.decision, state.clock.now())
        .await?
        .ok_or(ApiError::NotFound)?;
    notify_offers(&state, &change.offered).await;
    if !change.changed {
        let code = if change.booking.status == BookingStatus::OfferExpired {
            "offer_expired"
        } else {
            "not_offered"
        };
        return Err(conflict("decision", code));
    }
    Ok(axum::Json(booking_view(&change.booking)))
}

/// A person's bookings, newest first: places, offers (answer before they expire) and waitlist
/// places with their position.
#[utoipa::path(get, path = "/v1/people/{id}/bookings", tag = "workshops", security(("bearer" = [])),
    params(("id" = PersonId, Path)),
    responses((status = 200, body = [BookingView]), (status = 404, body = ErrorBody)))]
async fn person_bookings(
    State(state): State<AppState>,
    caller: Caller,
    RequestId(request_id): RequestId,
    Path(person): Path<PersonId>,
) -> ApiResult<axum::Json<Vec<BookingView>>> {
    let access = authorize(
        &state,
        &caller,
        person,
        Resource::Appointments,
        Action::Read,
        &request_id,
    )
    .await?;
    if worker_filter(&caller, &access).is_some() {
        // A peer worker sees only sessions they take part in; bookings name no workers.
        return Ok(axum::Json(Vec::new()));
    }
    settle_lapsed_offers(&state).await?;
    let bookings = state.store.person_bookings(person, BOOKINGS_MAX).await?;
    Ok(axum::Json(bookings.iter().map(booking_view).collect()))
}
