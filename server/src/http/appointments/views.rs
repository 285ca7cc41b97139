//! The views of appointments, bookings and programmes that answers carry.

use std::collections::{BTreeSet, HashMap};

use livingwell_core::api::appointments::{
    AppointmentView, BookingView, ProgrammeSessionView, ProgrammeView,
};
use livingwell_core::domain::TeamId;
use livingwell_core::domain::appointment::{self, BookingUnit, Location};

use crate::http::AppState;
use crate::http::error::ApiResult;
use crate::store::TeamRecord;
use crate::store::appointments::{
    AppointmentRecord, AppointmentsPage, BookingRecord, ProgrammeRecord,
};

/// The hubs that locations name, read once per request.
#[derive(Debug, Default)]
pub(super) struct Hubs(HashMap<TeamId, TeamRecord>);

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

    /// The hubs a page of appointments was read with.
    fn of_page(page: &AppointmentsPage) -> Self {
        Hubs(
            page.hubs
                .iter()
                .map(|team| (team.id, team.clone()))
                .collect(),
        )
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

pub(super) fn appointment_view(record: &AppointmentRecord, hubs: &Hubs) -> AppointmentView {
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

pub(super) async fn appointment_views(
    state: &AppState,
    records: &[AppointmentRecord],
) -> ApiResult<Vec<AppointmentView>> {
    let hubs = Hubs::load(state, records.iter().map(|r| &r.location)).await?;
    Ok(records.iter().map(|r| appointment_view(r, &hubs)).collect())
}

/// The views of `records`, taken from `page` (all of its appointments or some), with the hubs
/// read with it.
pub(super) fn page_views<'a>(
    page: &AppointmentsPage,
    records: impl IntoIterator<Item = &'a AppointmentRecord>,
) -> Vec<AppointmentView> {
    let hubs = Hubs::of_page(page);
    records
        .into_iter()
        .map(|r| appointment_view(r, &hubs))
        .collect()
}

pub(super) fn booking_view(record: &BookingRecord) -> BookingView {
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

pub(super) async fn programme_view(
    state: &AppState,
    programme: &ProgrammeRecord,
) -> ApiResult<ProgrammeView> {
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
