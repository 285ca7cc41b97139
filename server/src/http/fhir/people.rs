//! The person (Patient), their carers (RelatedPerson) and their consents (Consent).

use std::collections::HashMap;

use axum::extract::State;
use chrono::{DateTime, Utc};
use livingwell_core::domain::consent::{Consent, Grantee};
use livingwell_core::domain::{ConsentId, ConsentScope, PersonId, UserId};

use super::codes::{self, CONSENT_SCOPE, CRISIS_PLAN_SECTION, Local, UK_CORE_PATIENT};
use super::model::{self, HumanName, Meta, Period, Reference, Resource};
use super::outcome::FhirResult;
use super::search::{self, page};
use super::{Fhir, FhirRequest, date_time, ids, said, subject};
use crate::http::AppState;
use crate::http::extract::Path;
use crate::http::sessions::display_names;
use crate::policy::Resource as Part;
use crate::store::{CarerLinkRecord, PersonRecord};

async fn patient(state: &AppState, person: &PersonRecord) -> FhirResult<model::Patient> {
    let team = match person.team_id {
        Some(team) => state.store.team(team).await?,
        None => None,
    };
    Ok(model::Patient {
        resource_type: model::PatientType::Patient,
        id: person.id.to_string(),
        meta: Some(Meta {
            profile: vec![UK_CORE_PATIENT.to_owned()],
            ..Meta::default()
        }),
        name: vec![HumanName {
            usage: "usual".to_owned(),
            text: person.display_name.clone(),
        }],
        managing_organization: team.map(|team| Reference::named("Organization", team.name)),
    })
}

/// The person, by id.
#[utoipa::path(get, path = "/fhir/r4/Patient/{id}", tag = "fhir", security(("bearer" = [])),
    params(("id" = String, Path, description = "The person's id")),
    responses((status = 200, body = model::Patient, content_type = "application/fhir+json",
        description = "The person (UK Core Patient); `people:read`")))]
pub(super) async fn read_patient(
    State(state): State<AppState>,
    request: FhirRequest,
    Path(id): Path<String>,
) -> FhirResult<Fhir<model::Patient>> {
    request.read_only()?;
    let person = ids::uuid(&id)
        .map(PersonId::from)
        .ok_or_else(|| request.no_such_record())?;
    request.authorize(&state, person, Part::Person).await?;
    let record = state
        .store
        .person(person)
        .await?
        .ok_or_else(|| request.no_such_record())?;
    Ok(Fhir(patient(&state, &record).await?))
}

/// The person, found by `_id` (or `patient`).
#[utoipa::path(get, path = "/fhir/r4/Patient", tag = "fhir", security(("bearer" = [])),
    params(
        ("_id" = Option<String>, Query, description = "The person's id (one of `_id` and `patient` is needed)"),
        ("patient" = Option<String>, Query, description = "The same, as `Patient/{id}` or `{id}`"),
        ("_count" = Option<i64>, Query, description = "At most this many entries (1–200; 50 if not given)"),
        ("_cursor" = Option<String>, Query, description = "Opaque: from the `next` link of the page before"),
    ),
    responses((status = 200, body = model::Bundle, content_type = "application/fhir+json",
        description = "A searchset Bundle of at most the one person")))]
pub(super) async fn search_patients(
    State(state): State<AppState>,
    request: FhirRequest,
) -> FhirResult<Fhir<model::Bundle>> {
    let search = request.search("Patient")?;
    // One person at most: there is never a next page, so no cursor was given out.
    search.cursor(|_| None::<()>)?;
    request
        .authorize(&state, search.person, Part::Person)
        .await?;
    let mut found = Vec::new();
    if let Some(record) = state.store.person(search.person).await? {
        let resource = patient(&state, &record).await?;
        found.push((
            format!("Patient/{}", resource.id),
            Resource::Patient(resource),
        ));
    }
    Ok(Fhir(search.bundle(found, None, state.clock.now())))
}

fn related_person(person: PersonId, link: &CarerLinkRecord) -> model::RelatedPerson {
    model::RelatedPerson {
        resource_type: model::RelatedPersonType::RelatedPerson,
        id: ids::related_person(person, link.carer.id),
        active: true,
        patient: subject(person),
        relationship: said(link.relationship.as_deref())
            .map(model::CodeableConcept::text)
            .into_iter()
            .collect(),
        name: vec![HumanName {
            usage: "usual".to_owned(),
            text: link.carer.display_name.clone(),
        }],
        period: Period {
            start: Some(date_time(link.linked_at)),
            end: None,
        },
    }
}

/// A carer the person has named, by id.
#[utoipa::path(get, path = "/fhir/r4/RelatedPerson/{id}", tag = "fhir", security(("bearer" = [])),
    params(("id" = String, Path, description = "The carer link's id")),
    responses((status = 200, body = model::RelatedPerson, content_type = "application/fhir+json",
        description = "The carer; `people:read`")))]
pub(super) async fn read_related_person(
    State(state): State<AppState>,
    request: FhirRequest,
    Path(id): Path<String>,
) -> FhirResult<Fhir<model::RelatedPerson>> {
    request.read_only()?;
    let (person, carer) = ids::read_related_person(&id).ok_or_else(|| request.no_such_record())?;
    request.authorize(&state, person, Part::Carers).await?;
    let links = state.store.carers(person).await?;
    let link = links
        .iter()
        .find(|link| link.carer.id == carer)
        .ok_or_else(|| request.no_such_record())?;
    Ok(Fhir(related_person(person, link)))
}

/// The person's carers.
#[utoipa::path(get, path = "/fhir/r4/RelatedPerson", tag = "fhir", security(("bearer" = [])),
    params(
        ("patient" = String, Query, description = "The person, as `Patient/{id}` or `{id}`"),
        ("_count" = Option<i64>, Query, description = "At most this many entries (1–200; 50 if not given)"),
        ("_cursor" = Option<String>, Query, description = "Opaque: from the `next` link of the page before"),
    ),
    responses((status = 200, body = model::Bundle, content_type = "application/fhir+json",
        description = "A searchset Bundle of the person's carers")))]
pub(super) async fn search_related_people(
    State(state): State<AppState>,
    request: FhirRequest,
) -> FhirResult<Fhir<model::Bundle>> {
    let search = request.search("RelatedPerson")?;
    let after: Option<UserId> = search.cursor(|text| text.parse().ok())?;
    request
        .authorize(&state, search.person, Part::Carers)
        .await?;
    // A person names a few carers: read whole, paged by the carer's account.
    let mut links = state.store.carers(search.person).await?;
    links.sort_by_key(|link| link.carer.id);
    let start = after.map_or(0, |after| links.partition_point(|l| l.carer.id <= after));
    let (links, next) = page(links, start, search.take());
    let next = next.and(links.last()).map(|link| link.carer.id.to_string());
    let found = links
        .iter()
        .map(|link| {
            let resource = related_person(search.person, link);
            (
                format!("RelatedPerson/{}", resource.id),
                Resource::RelatedPerson(resource),
            )
        })
        .collect();
    Ok(Fhir(search.bundle(found, next, state.clock.now())))
}

fn scope_display(scope: ConsentScope) -> &'static str {
    match scope {
        ConsentScope::CrisisPlan => "Crisis plan",
        ConsentScope::CrisisPlanActivation => "Putting the crisis plan into use",
        ConsentScope::Appointments => "Appointments",
        ConsentScope::EnablementPlan => "Enablement Plan",
    }
}

fn scope_key(scope: ConsentScope) -> &'static str {
    match scope {
        ConsentScope::CrisisPlan => "crisis_plan",
        ConsentScope::CrisisPlanActivation => "crisis_plan_activation",
        ConsentScope::Appointments => "appointments",
        ConsentScope::EnablementPlan => "enablement_plan",
    }
}

/// The consent: whom it shares with — a carer as their RelatedPerson, the peer worker by
/// name — what (the scopes, and the crisis plan's sections when it names them), and from when
/// until it was revoked or runs out.
fn consent(
    consent: &Consent,
    codes: Local<'_>,
    names: &HashMap<String, String>,
    now: DateTime<Utc>,
) -> model::Consent {
    let person = consent.person_id;
    let recipient = match consent.grantee {
        Grantee::Carer(carer) => Reference::to(format!(
            "RelatedPerson/{}",
            ids::related_person(person, carer)
        )),
        Grantee::PeerWorker(worker) => Reference {
            reference: None,
            kind: Some("Practitioner".to_owned()),
            display: names.get(&worker.to_string()).cloned(),
        },
    };
    let ends = match (consent.revoked_at, consent.expires_at) {
        (Some(revoked), Some(expires)) => Some(revoked.min(expires)),
        (revoked, expires) => revoked.or(expires),
    };
    let mut shared: Vec<model::CodeableConcept> = consent
        .scopes
        .iter()
        .map(|scope| {
            codes.concept(
                CONSENT_SCOPE,
                scope_key(*scope),
                Some(scope_display(*scope)),
            )
        })
        .collect();
    shared.extend(
        consent.crisis_plan_sections.iter().map(|section| {
            codes.concept(CRISIS_PLAN_SECTION, section.key(), Some(section.title()))
        }),
    );
    model::Consent {
        resource_type: model::ConsentType::Consent,
        id: consent.id.to_string(),
        status: if consent.in_force_at(now) {
            "active"
        } else {
            "inactive"
        }
        .to_owned(),
        scope: codes::privacy_consent(),
        category: vec![codes::patient_consent()],
        patient: subject(person),
        date_time: date_time(consent.created_at),
        // Only the person gives their consents (SPEC §2).
        performer: vec![subject(person)],
        policy_rule: codes::opt_in(),
        provision: model::ConsentProvision {
            kind: "permit".to_owned(),
            period: Period {
                start: Some(date_time(consent.created_at)),
                end: ends.map(date_time),
            },
            actor: vec![model::ConsentActor {
                role: codes::information_recipient(),
                reference: recipient,
            }],
            action: vec![codes::access()],
            code: shared,
        },
    }
}

/// The names of the peer workers consents go to (a carer is referred to as a RelatedPerson).
async fn worker_names(
    state: &AppState,
    consents: &[Consent],
) -> FhirResult<HashMap<String, String>> {
    let workers: Vec<String> = consents
        .iter()
        .filter_map(|c| match c.grantee {
            Grantee::PeerWorker(worker) => Some(worker.to_string()),
            Grantee::Carer(_) => None,
        })
        .collect();
    Ok(display_names(state.store.as_ref(), workers.iter().map(String::as_str)).await?)
}

/// One of the person's consents, by id.
#[utoipa::path(get, path = "/fhir/r4/Consent/{id}", tag = "fhir", security(("bearer" = [])),
    params(("id" = String, Path, description = "The consent's id")),
    responses((status = 200, body = model::Consent, content_type = "application/fhir+json",
        description = "The consent, in force or not; `people:read`")))]
pub(super) async fn read_consent(
    State(state): State<AppState>,
    request: FhirRequest,
    Path(id): Path<String>,
) -> FhirResult<Fhir<model::Consent>> {
    request.read_only()?;
    let id = ids::uuid(&id)
        .map(ConsentId::from)
        .ok_or_else(|| request.no_such_record())?;
    let found = state
        .store
        .consent(id)
        .await?
        .ok_or_else(|| request.no_such_record())?;
    request
        .authorize(&state, found.person_id, Part::Consents)
        .await?;
    let names = worker_names(&state, std::slice::from_ref(&found)).await?;
    Ok(Fhir(consent(
        &found,
        request.codes(),
        &names,
        state.clock.now(),
    )))
}

/// Every consent the person has given, in force or not, oldest first.
#[utoipa::path(get, path = "/fhir/r4/Consent", tag = "fhir", security(("bearer" = [])),
    params(
        ("patient" = String, Query, description = "The person, as `Patient/{id}` or `{id}`"),
        ("_count" = Option<i64>, Query, description = "At most this many entries (1–200; 50 if not given)"),
        ("_cursor" = Option<String>, Query, description = "Opaque: from the `next` link of the page before"),
    ),
    responses((status = 200, body = model::Bundle, content_type = "application/fhir+json",
        description = "A searchset Bundle of the person's consents")))]
pub(super) async fn search_consents(
    State(state): State<AppState>,
    request: FhirRequest,
) -> FhirResult<Fhir<model::Bundle>> {
    let search = request.search("Consent")?;
    let after: Option<ConsentId> = search.cursor(|text| ids::uuid(text).map(ConsentId::from))?;
    request
        .authorize(&state, search.person, Part::Consents)
        .await?;
    let consents = state
        .store
        .consents_after(search.person, after, search.count)
        .await?;
    let next = search::full_page_ends(&consents, search.count).map(|c| c.id.to_string());
    let names = worker_names(&state, &consents).await?;
    let now = state.clock.now();
    let found = consents
        .iter()
        .map(|c| {
            let resource = consent(c, request.codes(), &names, now);
            (
                format!("Consent/{}", resource.id),
                Resource::Consent(resource),
            )
        })
        .collect();
    Ok(Fhir(search.bundle(found, next, now)))
}
