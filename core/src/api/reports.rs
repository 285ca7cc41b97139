//! The performance report (`GET /v1/reports/performance`) as staff systems and the dashboard
//! read it.
//!
//! Policy — the small-number rule: a team-level figure that rests on fewer than
//! [`SMALL_NUMBER_THRESHOLD`] people is never shown as a number, in JSON, CSV or on the
//! dashboard alike; it is [`Figure::FewerThanFive`], written `"< 5"`. Whoever builds a report
//! decides suppression once, here in the wire type, so no rendering can show what the rule hides.
//!
//! `"< 5"` marks every figure not shown: one resting on fewer than five people, and one hidden
//! beside it so that it cannot be worked out by subtracting the shown cells from a shown total
//! (secondary suppression; see the server's `service::reports`).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::people::TeamView;
use crate::domain::{TeamId, UserId};

/// Fewer people than this behind a figure, and it is shown as `"< 5"`.
pub const SMALL_NUMBER_THRESHOLD: u32 = 5;

/// What `"< 5"` is written as, everywhere.
pub const SUPPRESSED: &str = "< 5";

/// One figure of the report: a number, or `"< 5"` when it rests on fewer than five people.
/// Whole numbers (counts) are written as JSON integers: `8`, not `8.0`.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum Figure {
    Value(f64),
    FewerThanFive(Suppressed),
}

/// Below this, every whole `f64` is exactly an `i64` too (2^53).
const EXACT_INTEGER_LIMIT: f64 = 9_007_199_254_740_992.0;

impl Serialize for Figure {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match *self {
            Figure::FewerThanFive(mark) => mark.serialize(serializer),
            // Exact: the value is whole and within the range where f64 holds integers exactly.
            #[allow(clippy::cast_possible_truncation)]
            Figure::Value(value) if value.fract() == 0.0 && value.abs() < EXACT_INTEGER_LIMIT => {
                serializer.serialize_i64(value as i64)
            }
            Figure::Value(value) => serializer.serialize_f64(value),
        }
    }
}

/// The mark of a suppressed figure: always the string `"< 5"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Suppressed {
    #[serde(rename = "< 5")]
    FewerThanFive,
}

impl Figure {
    /// `value`, resting on `people` people: suppressed below the threshold.
    pub fn resting_on(value: f64, people: u64) -> Figure {
        if people < u64::from(SMALL_NUMBER_THRESHOLD) {
            Figure::FewerThanFive(Suppressed::FewerThanFive)
        } else {
            Figure::Value(value)
        }
    }

    /// A count of people, which rests on itself.
    pub fn count(people: u64) -> Figure {
        // A count of people fits an f64 exactly far beyond any caseload.
        Figure::resting_on(people as f64, people)
    }

    /// As a table cell shows it: whole numbers without a point, others to one decimal place.
    pub fn shown(&self) -> String {
        match self {
            Figure::FewerThanFive(_) => SUPPRESSED.to_owned(),
            Figure::Value(value) if value.fract() == 0.0 => format!("{value:.0}"),
            Figure::Value(value) => format!("{value:.1}"),
        }
    }
}

/// Where a referral came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReferralSource {
    /// The person themselves, from the app or the website, with no account.
    #[serde(rename = "self")]
    SelfReferral,
    /// A partner agency or GP, through a staff system.
    Partner,
}

/// What triage decided; `awaiting_triage` in the report while it has not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReportedOutcome {
    AwaitingTriage,
    Accepted,
    Signposted,
    CrisisResponse,
}

/// The query of `PerformanceQuery`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct PerformanceQuery {
    /// The first day of the period (Europe/London), inclusive.
    pub from: NaiveDate,
    /// The last day of the period (Europe/London), inclusive.
    pub to: NaiveDate,
    /// One team; absent: every team the caller may read (staff systems: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<TeamId>,
    /// `json` (the default) or `csv`; an `Accept: text/csv` header does the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

/// The performance report for a period and a team (or every team).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PerformanceReport {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The team reported on; absent when the report covers every team.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<TeamView>,
    pub generated_at: DateTime<Utc>,
    /// Figures resting on fewer people than this are `"< 5"`.
    pub small_number_threshold: u32,
    pub referrals: ReferralFigures,
    pub caseload: CaseloadFigures,
    /// Cases closed in each month of the period, oldest first (every month, zeros included).
    pub cases_closed: Vec<MonthFigure>,
    /// For each outcome domain: the change from each person's baseline to their latest review.
    pub outcome_change: Vec<DomainChange>,
    pub satisfaction: Vec<SatisfactionFigure>,
    pub appointments: AttendanceFigures,
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReferralFigures {
    /// Referrals received in the period.
    pub received: Figure,
    /// Every source × outcome pair, zeros included, in a fixed order.
    pub by_source_and_outcome: Vec<ReferralCount>,
    /// Referrals received in the period and triaged (by now).
    pub triaged: Figure,
    /// Hours from receipt to triage, over the referrals triaged.
    pub median_hours_to_triage: Figure,
    pub p90_hours_to_triage: Figure,
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReferralCount {
    pub source: ReferralSource,
    pub outcome: ReportedOutcome,
    pub referrals: Figure,
}

/// Caseloads at the end of the period.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CaseloadFigures {
    pub per_team: Vec<TeamCaseload>,
    /// Each key worker's caseload, by name; people with no key worker are not counted here.
    pub per_worker: Vec<WorkerCaseload>,
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TeamCaseload {
    pub team: TeamView,
    pub people: Figure,
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkerCaseload {
    pub worker_id: UserId,
    pub worker_name: String,
    pub people: Figure,
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MonthFigure {
    /// `YYYY-MM`.
    pub month: String,
    pub closed: Figure,
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DomainChange {
    /// The domain's key (`managing_mental_health`, …).
    pub domain: String,
    /// The deployment's label for it.
    pub label: String,
    /// People with a baseline and a later review.
    pub people: Figure,
    pub mean_baseline: Figure,
    pub mean_latest: Figure,
    /// `mean_latest − mean_baseline`, on the 1–10 scale.
    pub mean_change: Figure,
}

/// What was rated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RatedKind {
    WorkshopSession,
    Review,
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SatisfactionFigure {
    pub kind: RatedKind,
    /// Ratings given in the period.
    pub ratings: Figure,
    /// People who gave them.
    pub people: Figure,
    /// Mean of the 1–5 scores.
    pub mean_score: Figure,
}

/// Appointments that were due in the period, by what happened.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttendanceFigures {
    pub attended: Figure,
    pub did_not_attend: Figure,
    /// People with an appointment marked either way.
    pub people: Figure,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_figure_on_fewer_than_five_people_is_written_as_less_than_five() {
        let hidden = Figure::resting_on(9.5, 4);
        assert_eq!(
            serde_json::to_value(hidden).unwrap(),
            serde_json::json!("< 5")
        );
        assert_eq!(hidden.shown(), "< 5");
        assert_eq!(Figure::count(4), hidden);
        let shown = Figure::resting_on(2.25, 5);
        assert_eq!(
            serde_json::to_value(shown).unwrap(),
            serde_json::json!(2.25)
        );
        assert_eq!(shown.shown(), "2.2");
        assert_eq!(Figure::count(12).shown(), "12");
        assert_eq!(serde_json::to_string(&Figure::count(12)).unwrap(), "12");
    }

    #[test]
    fn a_figure_reads_back_as_written() {
        for figure in [
            Figure::count(3),
            Figure::count(40),
            Figure::resting_on(-1.5, 8),
        ] {
            let json = serde_json::to_string(&figure).unwrap();
            assert_eq!(serde_json::from_str::<Figure>(&json).unwrap(), figure);
        }
    }
}
