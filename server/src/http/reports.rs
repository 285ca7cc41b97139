//! The performance report (`GET /v1/reports/performance`), as JSON or CSV, and [`build`], which
//! the dashboard calls too: one access decision, one audit entry and one set of figures for
//! both.
//!
//! Who reads it: a practitioner, for a team they are a member of (they must name it: with no
//! `team`, 422 naming `team`), and a staff system with `reports:read`, for any team or, with no
//! `team`, every team together. Everyone else is refused (403; a staff system without the
//! scope, `insufficient_scope`). The read is recorded in the audit log like other staff reads
//! that are no one person's record (`performance_report`, `read`).

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use livingwell_core::api::ErrorBody;
use livingwell_core::api::reports::{Figure, PerformanceQuery, PerformanceReport};
use livingwell_core::domain::{FieldError, FieldErrorCode, Role, TeamId};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::access::{on_team, record_unscoped};
use super::error::{ApiError, ApiResult};
use super::extract::{Query, RequestId};
use crate::auth::Caller;
use crate::policy::{self, Action, Work};
use crate::service::reports::{self as figures, Subject};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(performance))
}

/// The performance report for a period (Europe/London days, both inclusive, at most two years)
/// and a team, or every team. Figures resting on fewer than five people are `"< 5"`, and so is
/// a figure that would let one be worked out from a total. As CSV with `format=csv` or
/// `Accept: text/csv`: one figure a row, `section,breakdown,measure,value`.
#[utoipa::path(get, path = "/v1/reports/performance", tag = "reports", security(("bearer" = [])),
    params(PerformanceQuery),
    responses(
        (status = 200, description = "The report", content(
            (PerformanceReport = "application/json"),
            (String = "text/csv"),
        ), headers(("content-disposition" = String, description = "With CSV: `attachment; filename=\"performance-….csv\"`"))),
        (status = 403, body = ErrorBody, description = "Not a practitioner of the team, or a staff system without `reports:read`"),
        (status = 404, body = ErrorBody, description = "No such team"),
        (status = 422, body = ErrorBody, description = "A bad date, `to` before `from`, a period over two years, or no `team` from a practitioner")))]
async fn performance(
    State(state): State<AppState>,
    caller: Caller,
    RequestId(request_id): RequestId,
    Query(query): Query<PerformanceQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let csv = match query.format.as_deref() {
        Some("csv") => true,
        Some("json") => false,
        Some(_) => {
            return Err(ApiError::Invalid(vec![FieldError::new(
                "format",
                FieldErrorCode::Invalid,
            )]));
        }
        None => headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .any(|value| value.to_ascii_lowercase().contains("text/csv")),
    };
    let report = build(
        &state,
        &caller,
        &request_id,
        query.from,
        query.to,
        query.team,
    )
    .await?;
    if !csv {
        return Ok(axum::Json(report).into_response());
    }
    let text = as_csv(&report).map_err(|_| ApiError::Internal("csv"))?;
    let filename = format!(
        "attachment; filename=\"performance-{}-to-{}.csv\"",
        report.from, report.to
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, filename),
        ],
        text,
    )
        .into_response())
}

/// The report for `from`–`to` (London days, inclusive) and `team` (`None`: every team, for
/// staff systems), after deciding the caller may read it and recording that they did.
pub(crate) async fn build(
    state: &AppState,
    caller: &Caller,
    request_id: &str,
    from: NaiveDate,
    to: NaiveDate,
    team: Option<TeamId>,
) -> ApiResult<PerformanceReport> {
    let span = figures::period(from, to).map_err(|error| ApiError::Invalid(vec![error]))?;
    let practitioner = matches!(caller, Caller::User(user) if user.role == Role::Practitioner);
    if practitioner && team.is_none() {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "team",
            FieldErrorCode::Required,
        )]));
    }
    let on_team = match team {
        Some(team) => on_team(state, caller, team).await?,
        None => false,
    };
    policy::decide_work(caller, Work::ReadReport { on_team })?;
    let record = match team {
        Some(team) => Some(state.store.team(team).await?.ok_or(ApiError::NotFound)?),
        None => None,
    };
    let teams = match &record {
        Some(team) => vec![team.clone()],
        None => state.store.teams().await?,
    };
    record_unscoped(
        state,
        caller,
        "performance_report",
        Action::Read,
        request_id,
    )
    .await?;
    let gathered = figures::gather(&*state.store, team, span).await?;
    Ok(figures::compute(
        Subject {
            from,
            to,
            team: record.as_ref(),
            teams: &teams,
            labels: &state.outcome_labels,
            generated_at: state.clock.now(),
        },
        &gathered,
    ))
}

/// One row of the CSV: section, breakdown, measure, value.
type Row = (&'static str, String, &'static str, Figure);

/// Every figure of the report as a row, in the order the JSON gives them.
fn rows(report: &PerformanceReport) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    let referrals = &report.referrals;
    rows.push(("referrals", String::new(), "received", referrals.received));
    for cell in &referrals.by_source_and_outcome {
        rows.push((
            "referrals",
            format!("{}/{}", name(&cell.source), name(&cell.outcome)),
            "referrals",
            cell.referrals,
        ));
    }
    rows.push(("referrals", String::new(), "triaged", referrals.triaged));
    rows.push((
        "referrals",
        String::new(),
        "median_hours_to_triage",
        referrals.median_hours_to_triage,
    ));
    rows.push((
        "referrals",
        String::new(),
        "p90_hours_to_triage",
        referrals.p90_hours_to_triage,
    ));
    for team in &report.caseload.per_team {
        rows.push((
            "caseload_per_team",
            team.team.name.clone(),
            "people",
            team.people,
        ));
    }
    for worker in &report.caseload.per_worker {
        rows.push((
            "caseload_per_worker",
            worker.worker_name.clone(),
            "people",
            worker.people,
        ));
    }
    for month in &report.cases_closed {
        rows.push(("cases_closed", month.month.clone(), "closed", month.closed));
    }
    for domain in &report.outcome_change {
        let key = &domain.domain;
        rows.push(("outcome_change", key.clone(), "people", domain.people));
        rows.push((
            "outcome_change",
            key.clone(),
            "mean_baseline",
            domain.mean_baseline,
        ));
        rows.push((
            "outcome_change",
            key.clone(),
            "mean_latest",
            domain.mean_latest,
        ));
        rows.push((
            "outcome_change",
            key.clone(),
            "mean_change",
            domain.mean_change,
        ));
    }
    for kind in &report.satisfaction {
        let of = name(&kind.kind);
        rows.push(("satisfaction", of.clone(), "ratings", kind.ratings));
        rows.push(("satisfaction", of.clone(), "people", kind.people));
        rows.push(("satisfaction", of, "mean_score", kind.mean_score));
    }
    let seen = &report.appointments;
    rows.push(("appointments", String::new(), "attended", seen.attended));
    rows.push((
        "appointments",
        String::new(),
        "did_not_attend",
        seen.did_not_attend,
    ));
    rows.push(("appointments", String::new(), "people", seen.people));
    rows
}

/// A value's wire name (its serde string).
fn name<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

/// Text a spreadsheet would read as a formula (`=`, `+`, `-`, `@`, or a tab or return first)
/// starts with an apostrophe instead, so it stays text. Only names are text; values are
/// numbers or `< 5`, written by the server.
fn inert(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

/// A figure as the CSV writes it: the JSON's number (in Rust's shortest form) or `< 5`.
fn value(figure: Figure) -> String {
    match figure {
        Figure::Value(value) => value.to_string(),
        Figure::FewerThanFive(_) => figure.shown(),
    }
}

fn as_csv(report: &PerformanceReport) -> Result<String, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(["section", "breakdown", "measure", "value"])?;
    for (section, breakdown, measure, figure) in rows(report) {
        writer.write_record([section, &inert(&breakdown), measure, &value(figure)])?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|error| csv::Error::from(error.into_error()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn names_that_look_like_formulas_stay_text() {
        for name in ["=HYPERLINK(\"x\")", "+1", "-1", "@SUM(A1)", "\tx"] {
            assert!(inert(name).starts_with('\''), "{name}");
        }
        assert_eq!(inert("Sam O'Neill"), "Sam O'Neill");
        assert_eq!(value(Figure::Value(5.0)), "5");
        assert_eq!(value(Figure::Value(-1.25)), "-1.25");
        assert_eq!(value(Figure::count(4)), "< 5");
    }
}
