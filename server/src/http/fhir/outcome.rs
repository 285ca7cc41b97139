//! Refusals under `/fhir/r4`, as `OperationOutcome` resources.
//!
//! Every failure the rest of the API answers as its error body is answered here as an
//! `OperationOutcome` with the same status and headers (the RFC 6750 challenge naming a missing
//! scope, `Retry-After`): the [`ApiError`] is answered first and only its body replaced, so the
//! two surfaces cannot disagree on a status. Diagnostics are fixed sentences naming at most a
//! parameter or a scope: nothing from a record, nothing a caller wrote beyond a parameter's
//! name (cut to what a name may hold).

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::FHIR_JSON;
use super::model::{Issue, OperationOutcome, OperationOutcomeType};
use crate::http::error::ApiError;
use crate::store::StoreError;

/// What is wrong with a search or read parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParameterProblem {
    /// This interaction takes no parameter of that name.
    Unknown,
    /// Given more than once.
    Repeated,
    /// A search needs it.
    Missing,
    /// Not a value it takes.
    Invalid,
}

#[derive(Debug)]
pub enum FhirError {
    /// Whatever the rest of the API would answer: credentials, scopes, the policy, storage.
    Api(ApiError),
    Parameter {
        name: String,
        problem: ParameterProblem,
    },
    /// A resource type or interaction this server does not serve.
    NotServed,
    /// An `Accept` or `_format` asking for something other than JSON.
    NotAcceptable,
    MethodNotAllowed,
}

pub type FhirResult<T> = Result<T, FhirError>;

impl From<ApiError> for FhirError {
    fn from(error: ApiError) -> Self {
        FhirError::Api(error)
    }
}

impl From<StoreError> for FhirError {
    fn from(error: StoreError) -> Self {
        FhirError::Api(error.into())
    }
}

impl FhirError {
    pub fn parameter(name: &str, problem: ParameterProblem) -> Self {
        // A name the caller made up is repeated back only as far as a name goes.
        let name: String = name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || "_-:.".contains(*c))
            .take(64)
            .collect();
        FhirError::Parameter { name, problem }
    }

    /// The issue's code and diagnostics, and the parameter it names.
    fn issue(&self) -> (&'static str, String, Option<&str>) {
        match self {
            FhirError::Api(error) => {
                let (code, text) = api_issue(error);
                (code, text, None)
            }
            FhirError::Parameter { name, problem } => {
                let (code, text) = match problem {
                    ParameterProblem::Unknown => (
                        "not-supported",
                        format!(
                            "The parameter {name} is not supported here; see /fhir/r4/metadata."
                        ),
                    ),
                    ParameterProblem::Repeated => (
                        "invalid",
                        format!("The parameter {name} may be given once."),
                    ),
                    ParameterProblem::Missing => (
                        "required",
                        format!("The parameter {name} is required for this search."),
                    ),
                    ParameterProblem::Invalid => (
                        "value",
                        format!("The parameter {name} has a value this server does not accept."),
                    ),
                };
                (code, text, Some(name.as_str()))
            }
            FhirError::NotServed => (
                "not-supported",
                "This server serves no such resource type or interaction; see /fhir/r4/metadata."
                    .to_owned(),
                None,
            ),
            FhirError::NotAcceptable => (
                "not-supported",
                "This server answers application/fhir+json only.".to_owned(),
                None,
            ),
            FhirError::MethodNotAllowed => (
                "not-supported",
                "This server only reads: GET is the one method here.".to_owned(),
                None,
            ),
        }
    }
}

fn api_issue(error: &ApiError) -> (&'static str, String) {
    let fixed = |code, text: &str| (code, text.to_owned());
    match error {
        ApiError::NoCredentials | ApiError::Unauthorized | ApiError::StepUpRequired { .. } => {
            fixed(
                "login",
                "A staff system's bearer token is needed, or it was not accepted.",
            )
        }
        ApiError::InsufficientScope(scope) => (
            "forbidden",
            format!(
                "This client was not given the scope {} that this needs.",
                scope.as_str()
            ),
        ),
        ApiError::Forbidden | ApiError::AccountDisabled => fixed(
            "forbidden",
            "Only staff systems read the FHIR facade, with the scopes for what they read.",
        ),
        ApiError::NotFound => fixed("not-found", "No such resource here."),
        ApiError::RateLimited(_) => fixed("throttled", "Too many requests; see Retry-After."),
        ApiError::Unavailable
        | ApiError::RetryLater(_)
        | ApiError::NotReady(_)
        | ApiError::StorageFull => fixed(
            "transient",
            "The service cannot answer safely right now. Please try again.",
        ),
        ApiError::Internal(_) => fixed("exception", "Something went wrong on our side."),
        ApiError::BadRequest(_) | ApiError::Invalid(_) | ApiError::PayloadTooLarge => {
            fixed("invalid", "The request could not be read.")
        }
        ApiError::UnsupportedMediaType => fixed("not-supported", "This server only reads."),
        ApiError::Conflict(_)
        | ApiError::IdempotencyInProgress
        | ApiError::IdempotencyAnswerLost
        | ApiError::StaleVersion(_)
        | ApiError::Resync => fixed("conflict", "This conflicts with what is stored."),
    }
}

impl IntoResponse for FhirError {
    fn into_response(self) -> Response {
        let (code, diagnostics, parameter) = self.issue();
        let outcome = OperationOutcome {
            resource_type: OperationOutcomeType::OperationOutcome,
            issue: vec![Issue {
                severity: "error".to_owned(),
                code: code.to_owned(),
                diagnostics,
                expression: parameter.map(str::to_owned).into_iter().collect(),
            }],
        };
        // The status and headers the API gives the same failure; only the body is FHIR's.
        let answered = match self {
            FhirError::Api(error) => error.into_response(),
            FhirError::Parameter { .. } => StatusCode::BAD_REQUEST.into_response(),
            FhirError::NotServed => StatusCode::NOT_FOUND.into_response(),
            FhirError::NotAcceptable => StatusCode::NOT_ACCEPTABLE.into_response(),
            FhirError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED.into_response(),
        };
        let (mut parts, _) = answered.into_parts();
        parts.headers.remove(header::CONTENT_LENGTH);
        parts
            .headers
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
        match serde_json::to_vec(&outcome) {
            Ok(body) => Response::from_parts(parts, Body::from(body)),
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        }
    }
}

/// Answers a path under `/fhir/r4` that no route takes: an unknown resource type (any
/// `Communication` a client might look for among them) or interaction.
pub fn not_served() -> Response {
    FhirError::NotServed.into_response()
}

/// Answers a method other than GET on a FHIR route.
pub fn method_not_allowed() -> Response {
    FhirError::MethodNotAllowed.into_response()
}
