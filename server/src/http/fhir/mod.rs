//! The FHIR R4 facade (`/fhir/r4`): staff systems read a person's records as FHIR resources.
//!
//! What it guarantees:
//! - **Only staff systems, only with `fhir:read`, and never more than the API gives them.**
//!   Every read of a person's record is decided by [`crate::policy::decide_export`]: an account
//!   is refused (403), a client without `fhir:read` is refused naming it, and otherwise the
//!   read is decided exactly as the same read through the API (Patient, RelatedPerson and
//!   Consent as the person, their carers and consents; CarePlan, Goal and Observation as the
//!   Enablement Plan — the crisis plan as itself; Appointment as appointments). Conversations
//!   have no resource here at all: no scope exports them (SPEC §4).
//! - **Audited like any read, and shown to the person as an export.** The decision, allowed or
//!   denied, is stored before anything is read ([`crate::http::access::authorize_export`]),
//!   `via: fhir`, with the staff member the system acts for (`X-On-Behalf-Of`).
//! - **Errors are `OperationOutcome`s** with the status the API would give ([`outcome`]),
//!   also for credentials, unknown types and parameters.
//! - **Faithful, not embellished.** Each element is filled from what is stored and nothing is
//!   inferred; what has no place in a resource is left out rather than approximated. Only the
//!   Patient declares a UK Core profile: its shape is the profile's; the others are plain R4.
//!   Names and plan text are in the bodies (that is the export), never in logs or errors.

mod appointments;
mod capability;
mod codes;
mod ids;
pub mod model;
mod narrative;
pub mod outcome;
mod people;
mod plans;
mod search;

use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use livingwell_core::domain::{PersonId, StaffScope};
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::access::{Access, authorize_export};
use super::error::ApiError;
use super::extract::{RequestId, StaffSystem};
use crate::auth::Caller;
use crate::policy::Resource;
use outcome::{FhirError, FhirResult};
use search::{FORMAT, Params, Search};

/// The media type of every answer under `/fhir/r4`.
pub const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";

/// Where the facade is served.
pub const PREFIX: &str = "/fhir/r4";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(capability::metadata))
        .routes(routes!(people::search_patients))
        .routes(routes!(people::read_patient))
        .routes(routes!(people::search_related_people))
        .routes(routes!(people::read_related_person))
        .routes(routes!(people::search_consents))
        .routes(routes!(people::read_consent))
        .routes(routes!(plans::search_care_plans))
        .routes(routes!(plans::read_care_plan))
        .routes(routes!(plans::search_goals))
        .routes(routes!(plans::read_goal))
        .routes(routes!(plans::search_observations))
        .routes(routes!(plans::read_observation))
        .routes(routes!(appointments::search_appointments))
        .routes(routes!(appointments::read_appointment))
}

/// A resource (or Bundle) answered as `application/fhir+json`.
#[derive(Debug)]
pub struct Fhir<T>(pub T);

impl<T: Serialize> IntoResponse for Fhir<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => (
                [(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON))],
                body,
            )
                .into_response(),
            Err(_) => FhirError::Api(ApiError::Internal("a FHIR resource")).into_response(),
        }
    }
}

/// A request to the facade from a staff system: who, where the server is reached (for the
/// absolute URLs FHIR wants), and its parameters. Refuses accounts (403), requests without
/// credentials (401) and requests for anything but JSON (406), as `OperationOutcome`s.
#[derive(Debug)]
pub struct FhirRequest {
    caller: Caller,
    request_id: String,
    base: String,
    params: Params,
}

impl FromRequestParts<AppState> for FhirRequest {
    type Rejection = FhirError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> FhirResult<Self> {
        let StaffSystem(client) = StaffSystem::from_request_parts(parts, state).await?;
        let RequestId(request_id) = RequestId::from_request_parts(parts, state).await?;
        let (base, params) = negotiate(parts, state)?;
        Ok(Self {
            caller: Caller::StaffSystem(client),
            request_id,
            base,
            params,
        })
    }
}

/// The server's base and the request's parameters, once the request is known to want JSON.
fn negotiate(parts: &Parts, state: &AppState) -> FhirResult<(String, Params)> {
    if !accepts_json(&parts.headers) {
        return Err(FhirError::NotAcceptable);
    }
    let uri = parts
        .extensions
        .get::<OriginalUri>()
        .map_or(&parts.uri, |original| &original.0);
    let params = Params::of(uri);
    let json = ["json", "application/json", "application/fhir+json"];
    if params
        .get(FORMAT)
        .is_some_and(|format| !json.contains(&format))
    {
        return Err(FhirError::NotAcceptable);
    }
    Ok((
        super::meta::public_base(state.keys.issuer(), &parts.headers),
        params,
    ))
}

/// Whether `Accept` (absent, or any of its ranges) takes FHIR JSON.
fn accepts_json(headers: &HeaderMap) -> bool {
    let ranges: Vec<String> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|range| {
            range
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|range| !range.is_empty())
        .collect();
    ranges.is_empty()
        || ranges.iter().any(|range| {
            matches!(
                range.as_str(),
                "application/fhir+json" | "application/json" | "application/*" | "*/*"
            )
        })
}

impl FhirRequest {
    /// Decides and audits this export of `resource` of the person's record.
    async fn authorize(
        &self,
        state: &AppState,
        person: PersonId,
        resource: Resource,
    ) -> FhirResult<Access> {
        Ok(authorize_export(state, &self.caller, person, resource, &self.request_id).await?)
    }

    /// The answer for an id that names no record: a client without `fhir:read` learns only
    /// that it lacks it.
    fn no_such_record(&self) -> FhirError {
        match &self.caller {
            Caller::StaffSystem(client) if !client.scopes.contains(&StaffScope::FhirRead) => {
                FhirError::Api(ApiError::InsufficientScope(StaffScope::FhirRead))
            }
            Caller::StaffSystem(_) | Caller::User(_) => FhirError::Api(ApiError::NotFound),
        }
    }

    /// A read takes no parameter but `_format`.
    fn read_only(&self) -> FhirResult<()> {
        self.params.only(&[])
    }

    fn search(&self, resource_type: &str) -> FhirResult<Search> {
        Search::read(&self.params, resource_type, &self.base)
    }

    fn codes(&self) -> codes::Local<'_> {
        codes::Local::new(&self.base)
    }
}

/// `Patient/{id}`, as other resources refer to the person.
fn subject(person: PersonId) -> model::Reference {
    model::Reference::to(format!("Patient/{person}"))
}

/// An instant as a FHIR `dateTime`, to the second.
fn date_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Text that says something: FHIR strings may not be empty.
fn said(text: Option<&str>) -> Option<String> {
    text.map(str::trim)
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn accepting(value: Option<&str>) -> bool {
        let mut headers = HeaderMap::new();
        if let Some(value) = value {
            headers.insert(header::ACCEPT, value.parse().unwrap());
        }
        accepts_json(&headers)
    }

    #[test]
    fn json_in_any_of_its_names_is_acceptable_and_nothing_else() {
        for accepted in [
            None,
            Some("application/fhir+json"),
            Some("application/json"),
            Some("*/*"),
            Some("application/fhir+xml;q=1, application/fhir+json;q=0.9"),
            Some("Application/FHIR+JSON; fhirVersion=4.0"),
        ] {
            assert!(accepting(accepted), "{accepted:?}");
        }
        for refused in ["application/fhir+xml", "text/html", "application/xml"] {
            assert!(!accepting(Some(refused)), "{refused}");
        }
    }
}
