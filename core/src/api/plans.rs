//! The Enablement Plan, the WRAP and the crisis plan on the wire.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{FieldError, Validate};
use crate::domain::check::Checker;
use crate::domain::plan::{EnablementPlan, PlanSection, PlanSummary, RatingOccasion};
use crate::domain::text;
use crate::domain::wrap::Wrap;
use crate::domain::{CrisisPlanSection, PersonId};

/// Who wrote a version, a comment or an agreement.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuthorView {
    /// A user id, or `client:<id>` for a staff system.
    pub id: String,
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgreementView {
    pub version: i32,
    pub agreed_by: AuthorView,
    pub agreed_at: DateTime<Utc>,
}

/// The current Enablement Plan (or one version of it).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnablementPlanView {
    pub person_id: PersonId,
    pub version: i32,
    pub plan: EnablementPlan,
    pub author: AuthorView,
    pub created_at: DateTime<Utc>,
    /// Who agreed this version.
    pub agreements: Vec<AgreementView>,
}

/// The summary of the current Enablement Plan (what the person may share with their peer
/// worker): no worker's words, ratings, eligibility or needs.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnablementPlanSummaryView {
    pub person_id: PersonId,
    /// The plan version summarised.
    pub version: i32,
    pub summary: PlanSummary,
    pub created_at: DateTime<Utc>,
}

/// A new version. The version it was based on comes here or in `If-Match`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PutEnablementPlanRequest {
    /// The version this change was made on; 0 when creating the first.
    #[serde(default)]
    pub base_version: Option<i32>,
    pub plan: EnablementPlan,
}

impl Validate for PutEnablementPlanRequest {
    fn field_errors(&self) -> Vec<FieldError> {
        let mut checker = Checker::new();
        self.plan.check(&mut checker, "plan.");
        checker.into_errors()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionSummary {
    pub version: i32,
    pub author: AuthorView,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionPage {
    /// Newest first.
    pub versions: Vec<VersionSummary>,
    /// Pass as `cursor` for the next (older) page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Comments on a plan, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CommentPage {
    pub comments: Vec<CommentView>,
    /// Pass as `cursor` for the next (older) page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CommentRequest {
    pub section: PlanSection,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 4000))]
    pub body: String,
    /// "Where I disagree".
    #[serde(default)]
    pub disagree: bool,
}

impl Validate for CommentRequest {
    fn field_errors(&self) -> Vec<FieldError> {
        let mut checker = Checker::new();
        checker.required_text("body", &self.body);
        checker.into_errors()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CommentView {
    pub id: uuid::Uuid,
    /// The version commented on.
    pub version: i32,
    pub section: PlanSection,
    pub body: String,
    pub disagree: bool,
    pub author: AuthorView,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AgreeRequest {
    pub version: i32,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WrapView {
    pub person_id: PersonId,
    pub version: i32,
    pub wrap: Wrap,
    /// Whether the person lets their team co-author the WRAP.
    pub team_may_coauthor: bool,
    pub author: AuthorView,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PutWrapRequest {
    #[serde(default)]
    pub base_version: Option<i32>,
    pub wrap: Wrap,
}

impl Validate for PutWrapRequest {
    fn field_errors(&self) -> Vec<FieldError> {
        let mut checker = Checker::new();
        self.wrap.check(&mut checker, "wrap.");
        checker.into_errors()
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WrapSettingsRequest {
    pub team_may_coauthor: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActivationView {
    pub id: uuid::Uuid,
    pub activated_by: AuthorView,
    pub reason: String,
    pub activated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deactivated_by: Option<AuthorView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deactivated_at: Option<DateTime<Utc>>,
}

/// The crisis plan as the caller may see it.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CrisisPlanView {
    pub person_id: PersonId,
    /// The WRAP version it comes from; absent before the person has written one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
    /// The sections the caller may see, keyed as in `CrisisPlanSection`; others are absent.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub sections: serde_json::Map<String, serde_json::Value>,
    pub shared_sections: Vec<CrisisPlanSection>,
    /// Whether the plan is in use now, and since when and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation: Option<ActivationView>,
    /// Past activations, newest first.
    pub history: Vec<ActivationView>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ActivateRequest {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 2000))]
    pub reason: String,
}

impl Validate for ActivateRequest {
    fn field_errors(&self) -> Vec<FieldError> {
        text::check_required_text("reason", &self.reason, text::SHORT_TEXT_MAX)
            .err()
            .into_iter()
            .collect()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RatingPoint {
    pub rated_on: NaiveDate,
    pub occasion: RatingOccasion,
    pub score: u8,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DomainTrajectory {
    pub domain: String,
    pub label: String,
    /// Baseline first, then reviews in date order.
    pub points: Vec<RatingPoint>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TrajectoryView {
    pub person_id: PersonId,
    pub version: i32,
    pub domains: Vec<DomainTrajectory>,
}

/// The query of `HistoryQuery`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct VersionQuery {
    /// From `next_cursor` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 100))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

/// The query of `CommentQuery`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct CommentQuery {
    /// From `next_cursor` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 100))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}
