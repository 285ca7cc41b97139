//! Appointments (Appointment): the person's diary, all of it, in start order.

use std::collections::HashMap;

use axum::extract::State;
use chrono::{TimeZone, Utc};
use livingwell_core::domain::appointment::{AppointmentId, AppointmentStatus, Location};

use super::codes::APPOINTMENT_KIND;
use super::model::{self, AppointmentParticipant, Meta, Reference, Resource};
use super::outcome::{FhirError, FhirResult};
use super::search::full_page_ends;
use super::{Fhir, FhirRequest, codes::Local, date_time, ids, said, subject};
use crate::http::AppState;
use crate::http::appointments::window::{decode_cursor, encode_cursor};
use crate::http::error::ApiError;
use crate::http::extract::Path;
use crate::http::sessions::display_names;
use crate::policy::Resource as Part;
use crate::store::TeamRecord;
use crate::store::appointments::{AppointmentRecord, AppointmentsPage, Window};

/// Who and what an appointment's participants are named by: workers' names, hubs' names.
#[derive(Debug, Default)]
struct Names {
    workers: HashMap<String, String>,
    hubs: HashMap<String, String>,
}

impl Names {
    /// The names one appointment needs: its hub's team is read here.
    async fn of_one(state: &AppState, record: &AppointmentRecord) -> FhirResult<Self> {
        let hub = match &record.location {
            Location::Hub { team_id } => state.store.team(*team_id).await?,
            _ => None,
        };
        Self::with_hubs(state, std::slice::from_ref(record), hub.as_slice()).await
    }

    /// The names a page needs: its hubs' teams came with it, so only the workers are read.
    async fn of_page(state: &AppState, page: &AppointmentsPage) -> FhirResult<Self> {
        Self::with_hubs(state, &page.appointments, &page.hubs).await
    }

    async fn with_hubs(
        state: &AppState,
        records: &[AppointmentRecord],
        hubs: &[TeamRecord],
    ) -> FhirResult<Self> {
        let workers: Vec<String> = records
            .iter()
            .flat_map(|r| r.worker_ids.iter().map(ToString::to_string))
            .collect();
        Ok(Self {
            workers: display_names(state.store.as_ref(), workers.iter().map(String::as_str))
                .await?,
            hubs: hubs
                .iter()
                .map(|team| (team.id.to_string(), team.name.clone()))
                .collect(),
        })
    }
}

fn appointment(record: &AppointmentRecord, names: &Names, codes: Local<'_>) -> model::Appointment {
    let (status, person_status) = match record.status {
        AppointmentStatus::Booked => ("booked", "needs-action"),
        AppointmentStatus::Confirmed => ("booked", "accepted"),
        AppointmentStatus::Cancelled => ("cancelled", "needs-action"),
        AppointmentStatus::Attended => ("fulfilled", "accepted"),
        AppointmentStatus::DidNotAttend => ("noshow", "needs-action"),
    };
    let mut participant = vec![AppointmentParticipant {
        actor: subject(record.person_id),
        status: person_status.to_owned(),
    }];
    participant.extend(record.worker_ids.iter().filter_map(|worker| {
        names
            .workers
            .get(&worker.to_string())
            .map(|name| AppointmentParticipant {
                actor: Reference::named("Practitioner", name.clone()),
                status: "accepted".to_owned(),
            })
    }));
    let hub = match &record.location {
        Location::Hub { team_id } => names.hubs.get(&team_id.to_string()).map(String::as_str),
        Location::Home {}
        | Location::CommunityVenue { .. }
        | Location::Phone {}
        | Location::Video { .. } => None,
    };
    participant.push(AppointmentParticipant {
        actor: Reference::named("Location", record.location.place(hub)),
        status: "accepted".to_owned(),
    });
    model::Appointment {
        resource_type: model::AppointmentType::Appointment,
        id: record.id.to_string(),
        meta: Some(Meta {
            version_id: Some(record.sequence.to_string()),
            last_updated: Some(record.updated_at),
            profile: Vec::new(),
        }),
        status: status.to_owned(),
        appointment_type: codes.concept(
            APPOINTMENT_KIND,
            record.kind.as_str(),
            Some(record.kind.label()),
        ),
        description: said(record.title.as_deref()),
        start: record.starts_at,
        end: record.ends_at,
        created: date_time(record.created_at),
        patient_instruction: said(record.notes_for_person.as_deref()),
        participant,
    }
}

/// One appointment, by id.
#[utoipa::path(get, path = "/fhir/r4/Appointment/{id}", tag = "fhir", security(("bearer" = [])),
    params(("id" = String, Path, description = "The appointment's id")),
    responses((status = 200, body = model::Appointment, content_type = "application/fhir+json",
        description = "The appointment; `appointments:read`")))]
pub(super) async fn read_appointment(
    State(state): State<AppState>,
    request: FhirRequest,
    Path(id): Path<String>,
) -> FhirResult<Fhir<model::Appointment>> {
    request.read_only()?;
    let id = ids::uuid(&id)
        .map(AppointmentId::from)
        .ok_or_else(|| request.no_such_record())?;
    let record = state
        .store
        .appointment(id)
        .await?
        .ok_or_else(|| request.no_such_record())?;
    request
        .authorize(&state, record.person_id, Part::Appointments)
        .await?;
    let names = Names::of_one(&state, &record).await?;
    Ok(Fhir(appointment(&record, &names, request.codes())))
}

/// The person's appointments, past and future, in start order.
#[utoipa::path(get, path = "/fhir/r4/Appointment", tag = "fhir", security(("bearer" = [])),
    params(
        ("patient" = String, Query, description = "The person, as `Patient/{id}` or `{id}`"),
        ("_count" = Option<i64>, Query, description = "At most this many entries (1–200; 50 if not given)"),
        ("_cursor" = Option<String>, Query, description = "Opaque: from the `next` link of the page before"),
    ),
    responses((status = 200, body = model::Bundle, content_type = "application/fhir+json",
        description = "A searchset Bundle of the person's appointments")))]
pub(super) async fn search_appointments(
    State(state): State<AppState>,
    request: FhirRequest,
) -> FhirResult<Fhir<model::Bundle>> {
    let search = request.search("Appointment")?;
    let after = search.cursor(|text| decode_cursor(text).ok())?;
    request
        .authorize(&state, search.person, Part::Appointments)
        .await?;
    // The whole diary: from the earliest to the latest instant an appointment may have.
    let (Some(from), Some(to)) = (
        Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).single(),
        Utc.with_ymd_and_hms(2200, 1, 1, 0, 0, 0).single(),
    ) else {
        return Err(FhirError::Api(ApiError::Internal("the diary's bounds")));
    };
    let page = state
        .store
        .person_appointments(
            search.person,
            &Window { from, to, after },
            None,
            search.count,
        )
        .await?;
    let next = full_page_ends(&page.appointments, search.count).map(encode_cursor);
    let names = Names::of_page(&state, &page).await?;
    let found = page
        .appointments
        .iter()
        .map(|record| {
            let resource = appointment(record, &names, request.codes());
            (
                format!("Appointment/{}", resource.id),
                Resource::Appointment(resource),
            )
        })
        .collect();
    Ok(Fhir(search.bundle(found, next, state.clock.now())))
}
