//! FHIR R4 resources and datatypes, as JSON: only the elements this facade fills.
//!
//! Written by hand rather than taken from a FHIR crate (a whole R4 model is hundreds of
//! generated types to build on every change, for the seven resources served here). FHIR JSON
//! has rules serde does not know: no `null`, no empty arrays or objects, so every optional
//! element is skipped when absent, and an element that could be empty is an `Option` that is
//! `None` then. `scripts/fhir-check` validates what is served with `fhir.resources`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// One type per resource for its `resourceType`, so each resource's schema names its own.
macro_rules! resource_types {
    ($($name:ident: $variant:ident),* $(,)?) => {
        $(
            #[doc = concat!("`resourceType` of a ", stringify!($variant), ".")]
            #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
            pub enum $name {
                #[default]
                $variant,
            }
        )*
    };
}

resource_types!(
    PatientType: Patient,
    RelatedPersonType: RelatedPerson,
    ConsentType: Consent,
    CarePlanType: CarePlan,
    GoalType: Goal,
    ObservationType: Observation,
    AppointmentType: Appointment,
    BundleType: Bundle,
    OperationOutcomeType: OperationOutcome,
    CapabilityStatementType: CapabilityStatement,
);

/// Data about the resource: the version it shows, when that was stored, the profiles it
/// follows.
#[derive(Clone, Debug, Default, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = FhirMeta)]
pub struct Meta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub profile: Vec<String>,
}

/// A code from a code system.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[schema(as = FhirCoding)]
pub struct Coding {
    pub system: String,
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

/// Codes and/or text.
#[derive(Clone, Debug, Default, PartialEq, Serialize, ToSchema)]
#[schema(as = FhirCodeableConcept)]
pub struct CodeableConcept {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub coding: Vec<Coding>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl CodeableConcept {
    pub fn coded(coding: Coding) -> Self {
        Self {
            coding: vec![coding],
            text: None,
        }
    }

    pub fn text(text: String) -> Self {
        Self {
            coding: Vec::new(),
            text: Some(text),
        }
    }
}

/// A reference to another resource (`reference`), or to something this server does not serve
/// as a resource, named by its type and display only.
#[derive(Clone, Debug, Default, PartialEq, Serialize, ToSchema)]
#[schema(as = FhirReference)]
pub struct Reference {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

impl Reference {
    pub fn to(reference: String) -> Self {
        Self {
            reference: Some(reference),
            ..Self::default()
        }
    }

    /// Something named only: `kind` is the resource type it would be.
    pub fn named(kind: &str, display: String) -> Self {
        Self {
            reference: None,
            kind: Some(kind.to_owned()),
            display: Some(display),
        }
    }
}

/// A time span; each end a FHIR `dateTime` (a date, or an instant).
#[derive(Clone, Debug, Default, PartialEq, Serialize, ToSchema)]
#[schema(as = FhirPeriod)]
pub struct Period {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
}

/// A name; this server knows the name a person goes by, as one text.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[schema(as = FhirHumanName)]
pub struct HumanName {
    #[serde(rename = "use")]
    pub usage: String,
    pub text: String,
}

/// A human-readable summary of the resource, as XHTML.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[schema(as = FhirNarrative)]
pub struct Narrative {
    pub status: String,
    pub div: String,
}

/// A note, and who it is from.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = FhirAnnotation)]
pub struct Annotation {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author_string: Option<String>,
    pub text: String,
}

/// A number on a scale without units.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[schema(as = FhirQuantity)]
pub struct Quantity {
    pub value: i64,
}

/// The person whose record this is.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = FhirPatient)]
pub struct Patient {
    pub resource_type: PatientType,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    pub name: Vec<HumanName>,
    /// The team (hub) whose caseload holds the person.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managing_organization: Option<Reference>,
}

/// A carer the person has named.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = FhirRelatedPerson)]
pub struct RelatedPerson {
    pub resource_type: RelatedPersonType,
    pub id: String,
    pub active: bool,
    pub patient: Reference,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub relationship: Vec<CodeableConcept>,
    pub name: Vec<HumanName>,
    pub period: Period,
}

/// What the person shares, with whom, and for how long.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = FhirConsent)]
pub struct Consent {
    pub resource_type: ConsentType,
    pub id: String,
    pub status: String,
    pub scope: CodeableConcept,
    pub category: Vec<CodeableConcept>,
    pub patient: Reference,
    pub date_time: String,
    pub performer: Vec<Reference>,
    pub policy_rule: CodeableConcept,
    pub provision: ConsentProvision,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = FhirConsentProvision)]
pub struct ConsentProvision {
    #[serde(rename = "type")]
    pub kind: String,
    pub period: Period,
    pub actor: Vec<ConsentActor>,
    pub action: Vec<CodeableConcept>,
    /// What is shared: the consent's scopes, and for the crisis plan the sections.
    pub code: Vec<CodeableConcept>,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[schema(as = FhirConsentActor)]
pub struct ConsentActor {
    pub role: CodeableConcept,
    pub reference: Reference,
}

/// The Enablement Plan, or the crisis plan of the WRAP.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = FhirCarePlan)]
pub struct CarePlan {
    pub resource_type: CarePlanType,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<Narrative>,
    pub status: String,
    pub intent: String,
    pub category: Vec<CodeableConcept>,
    pub title: String,
    pub subject: Reference,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub goal: Vec<Reference>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub activity: Vec<CarePlanActivity>,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[schema(as = FhirCarePlanActivity)]
pub struct CarePlanActivity {
    pub detail: CarePlanActivityDetail,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = FhirCarePlanActivityDetail)]
pub struct CarePlanActivityDetail {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<CodeableConcept>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub goal: Vec<Reference>,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduled_period: Option<Period>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub performer: Vec<Reference>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// One of the plan's goals.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = FhirGoal)]
pub struct Goal {
    pub resource_type: GoalType,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    pub lifecycle_status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub achievement_status: Option<CodeableConcept>,
    pub description: CodeableConcept,
    pub subject: Reference,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub note: Vec<Annotation>,
}

/// One outcome rating: a domain's score on one occasion.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = FhirObservation)]
pub struct Observation {
    pub resource_type: ObservationType,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    pub based_on: Vec<Reference>,
    pub status: String,
    pub category: Vec<CodeableConcept>,
    pub code: CodeableConcept,
    pub subject: Reference,
    pub effective_date_time: String,
    pub value_integer: i64,
    pub reference_range: Vec<ReferenceRange>,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[schema(as = FhirReferenceRange)]
pub struct ReferenceRange {
    pub low: Quantity,
    pub high: Quantity,
    pub text: String,
}

/// An appointment in the person's diary.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = FhirAppointment)]
pub struct Appointment {
    pub resource_type: AppointmentType,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    pub status: String,
    pub appointment_type: CodeableConcept,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub created: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patient_instruction: Option<String>,
    pub participant: Vec<AppointmentParticipant>,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[schema(as = FhirAppointmentParticipant)]
pub struct AppointmentParticipant {
    pub actor: Reference,
    pub status: String,
}

/// Any resource a search answers.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(untagged)]
#[schema(as = FhirResource)]
pub enum Resource {
    Patient(Patient),
    RelatedPerson(RelatedPerson),
    Consent(Consent),
    CarePlan(CarePlan),
    Goal(Goal),
    Observation(Observation),
    Appointment(Appointment),
}

/// A page of search results (`type` is `searchset`), with `self` and `next` links.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = FhirBundle)]
pub struct Bundle {
    pub resource_type: BundleType,
    #[serde(rename = "type")]
    pub kind: String,
    pub timestamp: DateTime<Utc>,
    pub link: Vec<BundleLink>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entry: Vec<BundleEntry>,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[schema(as = FhirBundleLink)]
pub struct BundleLink {
    pub relation: String,
    pub url: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = FhirBundleEntry)]
pub struct BundleEntry {
    pub full_url: String,
    pub resource: Resource,
    pub search: BundleSearch,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[schema(as = FhirBundleSearch)]
pub struct BundleSearch {
    pub mode: String,
}

/// Why a request was refused.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = FhirOperationOutcome)]
pub struct OperationOutcome {
    pub resource_type: OperationOutcomeType,
    pub issue: Vec<Issue>,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[schema(as = FhirIssue)]
pub struct Issue {
    pub severity: String,
    pub code: String,
    pub diagnostics: String,
    /// The parameter at fault, when one is.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expression: Vec<String>,
}

/// What this server serves (`GET /fhir/r4/metadata`).
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = FhirCapabilityStatement)]
pub struct CapabilityStatement {
    pub resource_type: CapabilityStatementType,
    pub status: String,
    pub date: String,
    pub kind: String,
    pub software: Software,
    pub implementation: Implementation,
    pub fhir_version: String,
    pub format: Vec<String>,
    pub rest: Vec<Rest>,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[schema(as = FhirSoftware)]
pub struct Software {
    pub name: String,
    pub version: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[schema(as = FhirImplementation)]
pub struct Implementation {
    pub description: String,
    pub url: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[schema(as = FhirRest)]
pub struct Rest {
    pub mode: String,
    pub security: RestSecurity,
    pub resource: Vec<RestResource>,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[schema(as = FhirRestSecurity)]
pub struct RestSecurity {
    pub service: Vec<CodeableConcept>,
    pub description: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = FhirRestResource)]
pub struct RestResource {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub supported_profile: Vec<String>,
    pub interaction: Vec<Interaction>,
    pub search_param: Vec<SearchParam>,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[schema(as = FhirInteraction)]
pub struct Interaction {
    pub code: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[schema(as = FhirSearchParam)]
pub struct SearchParam {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub definition: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub documentation: String,
}
