//! The CapabilityStatement (`GET /fhir/r4/metadata`): what the facade serves, from one table.
//!
//! [`SERVED`] is the statement's source, and `tests/tests/fhir.rs` compares the statement with
//! the routes the server answers (from its OpenAPI document), so neither can change alone.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::codes::UK_CORE_PATIENT;
use super::model::{
    CapabilityStatement, CapabilityStatementType, CodeableConcept, Coding, Implementation,
    Interaction, Rest, RestResource, RestSecurity, SearchParam, Software,
};
use super::outcome::{FhirError, FhirResult};
use super::search::{COUNT, CURSOR, ID, PATIENT};
use super::{Fhir, PREFIX, negotiate};
use crate::http::AppState;

/// A search parameter a type takes: its name, its definition (a FHIR SearchParameter) and type.
struct Param {
    name: &'static str,
    definition: Option<&'static str>,
    kind: &'static str,
    documentation: &'static str,
}

/// A resource type served: read and search-type, each with these search parameters.
struct Served {
    kind: &'static str,
    profile: Option<&'static str>,
    search: &'static [Param],
}

const CLINICAL_PATIENT: Option<&str> = Some("http://hl7.org/fhir/SearchParameter/clinical-patient");

const fn patient(definition: Option<&'static str>) -> Param {
    Param {
        name: PATIENT,
        definition,
        kind: "reference",
        documentation: "The person, as Patient/{id} or {id}. Required: every search is of one person's record.",
    }
}

const COUNT_PARAM: Param = Param {
    name: COUNT,
    definition: None,
    kind: "number",
    documentation: "At most this many entries a page, 1 to 200 (50 when not given).",
};

const CURSOR_PARAM: Param = Param {
    name: CURSOR,
    definition: None,
    kind: "string",
    documentation: "Where a page starts: opaque, given out only in a Bundle's next link.",
};

/// Every type the facade serves. No Communication: conversations are never exported.
const SERVED: [Served; 7] = [
    Served {
        kind: "Appointment",
        profile: None,
        search: &[
            patient(Some(
                "http://hl7.org/fhir/SearchParameter/Appointment-patient",
            )),
            COUNT_PARAM,
            CURSOR_PARAM,
        ],
    },
    Served {
        kind: "CarePlan",
        profile: None,
        search: &[patient(CLINICAL_PATIENT), COUNT_PARAM, CURSOR_PARAM],
    },
    Served {
        kind: "Consent",
        profile: None,
        search: &[patient(CLINICAL_PATIENT), COUNT_PARAM, CURSOR_PARAM],
    },
    Served {
        kind: "Goal",
        profile: None,
        search: &[patient(CLINICAL_PATIENT), COUNT_PARAM, CURSOR_PARAM],
    },
    Served {
        kind: "Observation",
        profile: None,
        search: &[patient(CLINICAL_PATIENT), COUNT_PARAM, CURSOR_PARAM],
    },
    Served {
        kind: "Patient",
        profile: Some(UK_CORE_PATIENT),
        search: &[
            Param {
                name: ID,
                definition: Some("http://hl7.org/fhir/SearchParameter/Resource-id"),
                kind: "token",
                documentation: "The person's id. One of _id and patient is required.",
            },
            Param {
                name: PATIENT,
                definition: None,
                kind: "reference",
                documentation: "The same as _id, as Patient/{id} or {id}, as the other types take it.",
            },
            COUNT_PARAM,
            CURSOR_PARAM,
        ],
    },
    Served {
        kind: "RelatedPerson",
        profile: None,
        search: &[
            patient(Some(
                "http://hl7.org/fhir/SearchParameter/RelatedPerson-patient",
            )),
            COUNT_PARAM,
            CURSOR_PARAM,
        ],
    },
];

/// When this statement last changed.
const DATE: &str = "2026-12-03";

fn statement(base: &str) -> CapabilityStatement {
    let text = |value: &str| value.to_owned();
    CapabilityStatement {
        resource_type: CapabilityStatementType::CapabilityStatement,
        status: text("active"),
        date: text(DATE),
        kind: text("instance"),
        software: Software {
            name: text("Living Well"),
            version: text(env!("CARGO_PKG_VERSION")),
        },
        implementation: Implementation {
            description: text("Living Well: a person's records for staff systems, read-only"),
            url: format!("{base}{PREFIX}"),
        },
        fhir_version: text("4.0.1"),
        format: vec![text("json")],
        rest: vec![Rest {
            mode: text("server"),
            security: RestSecurity {
                service: vec![CodeableConcept::coded(Coding {
                    system: text("http://terminology.hl7.org/CodeSystem/restful-security-service"),
                    code: text("OAuth"),
                    display: Some(text("OAuth")),
                })],
                description: text(
                    "Staff systems only: an OAuth 2.0 client-credentials token (POST /oauth/token) \
                     with the scope fhir:read, and the scope the API needs for each read: \
                     people:read for Patient, RelatedPerson and Consent; plans:read for CarePlan, \
                     Goal and Observation; appointments:read for Appointment. Every read is in \
                     the person's access log.",
                ),
            },
            resource: SERVED
                .iter()
                .map(|served| RestResource {
                    kind: text(served.kind),
                    supported_profile: served.profile.map(text).into_iter().collect(),
                    interaction: ["read", "search-type"]
                        .into_iter()
                        .map(|code| Interaction { code: text(code) })
                        .collect(),
                    search_param: served
                        .search
                        .iter()
                        .map(|param| SearchParam {
                            name: text(param.name),
                            definition: param.definition.map(text),
                            kind: text(param.kind),
                            documentation: text(param.documentation),
                        })
                        .collect(),
                })
                .collect(),
        }],
    }
}

/// The request for the statement: anyone may ask (it says nothing about anyone), in JSON.
#[derive(Debug)]
pub(super) struct MetadataRequest {
    base: String,
}

impl FromRequestParts<AppState> for MetadataRequest {
    type Rejection = FhirError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> FhirResult<Self> {
        let (base, params) = negotiate(parts, state)?;
        params.only(&[])?;
        Ok(Self { base })
    }
}

/// What this server serves: resource types, interactions and search parameters.
#[utoipa::path(get, path = "/fhir/r4/metadata", tag = "fhir",
    responses((status = 200, body = CapabilityStatement, content_type = "application/fhir+json",
        description = "The CapabilityStatement")))]
pub(super) async fn metadata(request: MetadataRequest) -> Fhir<CapabilityStatement> {
    Fhir(statement(&request.base))
}

#[cfg(test)]
mod tests {
    use livingwell_core::api::routes;

    use super::*;

    /// The same check the journey makes against the served document, here against the
    /// contract's route list: each type served is read and searched, and nothing else is.
    #[test]
    fn the_statement_names_the_routes_of_the_contract() {
        let mut stated: Vec<String> = Vec::new();
        for resource in &statement("http://lw").rest[0].resource {
            stated.push(format!("{PREFIX}/{}", resource.kind));
            stated.push(format!("{PREFIX}/{}/{{id}}", resource.kind));
        }
        stated.push(format!("{PREFIX}/metadata"));
        stated.sort();
        let mut routed: Vec<String> = routes::ALL
            .iter()
            .filter(|route| route.template.starts_with(PREFIX))
            .map(|route| route.template.to_owned())
            .collect();
        routed.sort();
        assert_eq!(stated, routed);
    }
}
