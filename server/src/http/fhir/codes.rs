//! The codings the facade writes.
//!
//! FHIR's own code systems where one says what is meant (an observation category, a consent's
//! scope and policy, who receives information). The project's own vocabularies — plan kinds,
//! levels of support, enablement modules, outcome domains, appointment kinds, what a consent
//! shares — are local code systems under the server's base (`{base}/fhir/CodeSystem/{name}`),
//! and their codes are the keys the API already uses on the wire, which never change; the
//! labels a deployment words its own way (the outcome domains) are only the `display`.

use super::model::{CodeableConcept, Coding};

pub const CARE_PLAN_CATEGORY: &str = "care-plan-category";
pub const SUPPORT_LEVEL: &str = "support-level";
pub const ENABLEMENT_MODULE: &str = "enablement-module";
pub const OUTCOME_DOMAIN: &str = "outcome-domain";
pub const RATING_OCCASION: &str = "rating-occasion";
pub const APPOINTMENT_KIND: &str = "appointment-kind";
pub const CONSENT_SCOPE: &str = "consent-scope";
pub const CRISIS_PLAN_SECTION: &str = "crisis-plan-section";

pub const UK_CORE_PATIENT: &str = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient";

const OBSERVATION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
const GOAL_ACHIEVEMENT: &str = "http://terminology.hl7.org/CodeSystem/goal-achievement";
const CONSENT_SCOPE_HL7: &str = "http://terminology.hl7.org/CodeSystem/consentscope";
const CONSENT_ACTION: &str = "http://terminology.hl7.org/CodeSystem/consentaction";
const ACT_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
const PARTICIPATION_TYPE: &str = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";
const LOINC: &str = "http://loinc.org";

/// Codings of this server's local code systems, under its base.
#[derive(Clone, Copy, Debug)]
pub struct Local<'a> {
    base: &'a str,
}

impl<'a> Local<'a> {
    /// `base` is where the server is reached (`https://api.example.nhs.uk`).
    pub fn new(base: &'a str) -> Self {
        Self { base }
    }

    pub fn concept(self, system: &str, code: &str, display: Option<&str>) -> CodeableConcept {
        CodeableConcept::coded(Coding {
            system: format!("{}/fhir/CodeSystem/{system}", self.base),
            code: code.to_owned(),
            display: display.map(str::to_owned),
        })
    }
}

fn hl7(system: &str, code: &str, display: &str) -> CodeableConcept {
    CodeableConcept::coded(Coding {
        system: system.to_owned(),
        code: code.to_owned(),
        display: Some(display.to_owned()),
    })
}

/// Observation category: the outcome ratings are a rating scale, filled in with the person.
pub fn survey() -> CodeableConcept {
    hl7(OBSERVATION_CATEGORY, "survey", "Survey")
}

pub fn goal_achievement(code: &str, display: &str) -> CodeableConcept {
    hl7(GOAL_ACHIEVEMENT, code, display)
}

/// Consent scope: sharing the person's information (a privacy consent).
pub fn privacy_consent() -> CodeableConcept {
    hl7(CONSENT_SCOPE_HL7, "patient-privacy", "Privacy Consent")
}

/// Consent category: a patient's consent (LOINC 59284-0).
pub fn patient_consent() -> CodeableConcept {
    CodeableConcept::coded(Coding {
        system: LOINC.to_owned(),
        code: "59284-0".to_owned(),
        display: None,
    })
}

/// The person opts in to sharing: nothing is shared without their consent.
pub fn opt_in() -> CodeableConcept {
    hl7(ACT_CODE, "OPTIN", "opt-in")
}

/// What a consent permits: access to (reading) the parts of the record named.
pub fn access() -> CodeableConcept {
    hl7(CONSENT_ACTION, "access", "Access")
}

/// The role of whom a consent shares with: they receive the information.
pub fn information_recipient() -> CodeableConcept {
    hl7(PARTICIPATION_TYPE, "IRCP", "information recipient")
}
