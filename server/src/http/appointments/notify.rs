//! Who is told of a change to appointments or bookings, and telling live streams once it is
//! committed.
//!
//! An appointment's change is stored together with the events built here; a workshop place
//! offered from the waitlist is announced by the store, in the transaction that offers it (only
//! the store knows who is offered a place). Either way live streams hear of it after the commit,
//! which cannot turn a stored change into an error (see [`crate::events`]).

use chrono::{DateTime, Utc};
use livingwell_core::api::events::{
    AppointmentChange, AppointmentChangeData, AppointmentRequestData, Event,
};
use livingwell_core::domain::appointment::RequestKind;

use super::SETTLE_BATCH;
use crate::http::AppState;
use crate::http::error::ApiResult;
use crate::store::appointments::{AppointmentRecord, BookingRecord};
use crate::store::events::{Audience, NewEvent};

/// The events telling the person (through their app account, if they have one) that an
/// appointment changed.
pub(super) async fn person_told(
    state: &AppState,
    record: &AppointmentRecord,
    change: AppointmentChange,
    at: DateTime<Utc>,
) -> ApiResult<Vec<NewEvent>> {
    let person = Audience {
        recipients: state
            .store
            .account_of_person(record.person_id)
            .await?
            .into_iter()
            .collect(),
        person_id: Some(record.person_id),
    };
    let changed = Event::AppointmentChanged(AppointmentChangeData {
        appointment_id: record.id,
        change,
    });
    Ok(person.tell(&changed, at))
}

/// The events telling the staff on an appointment that the person asked something of it.
pub(super) fn workers_told(
    record: &AppointmentRecord,
    request: RequestKind,
    at: DateTime<Utc>,
) -> Vec<NewEvent> {
    let workers = Audience {
        recipients: record.worker_ids.clone(),
        person_id: Some(record.person_id),
    };
    let asked = Event::AppointmentRequestMade(AppointmentRequestData {
        appointment_id: record.id,
        request,
    });
    workers.tell(&asked, at)
}

/// Tells live streams of the places just offered; the store stored their events with them.
pub(super) fn announce_offers(state: &AppState, offered: &[BookingRecord]) {
    if !offered.is_empty() {
        state.events.announce_committed();
    }
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
        announce_offers(state, &offered);
    }
    Ok(())
}
