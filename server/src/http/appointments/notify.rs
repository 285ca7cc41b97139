//! Who is told of a change to an appointment: an appointment's change is stored together with
//! the events built here, and live streams hear of it after the commit, which cannot turn a
//! stored change into an error (see [`crate::events`]). Places offered from the waitlist are
//! told of by [`crate::service::appointments`].

use chrono::{DateTime, Utc};
use livingwell_core::api::events::{
    AppointmentChange, AppointmentChangeData, AppointmentRequestData, Event,
};
use livingwell_core::domain::appointment::RequestKind;

use crate::http::AppState;
use crate::http::error::ApiResult;
use crate::store::appointments::AppointmentRecord;
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
