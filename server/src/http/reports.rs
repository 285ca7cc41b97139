//! PLACEHOLDER until the performance report is merged: `build` with the agreed signature,
//! answering one fixed report, so the dashboard can be built and tested against the wire type.
//! The integrator drops this commit and takes the real module.

use chrono::{Datelike, NaiveDate, Utc};
use livingwell_core::api::people::TeamView;
use livingwell_core::api::reports::{
    AttendanceFigures, CaseloadFigures, DomainChange, Figure, MonthFigure, PerformanceReport,
    RatedKind, ReferralCount, ReferralFigures, ReferralSource, ReportedOutcome,
    SMALL_NUMBER_THRESHOLD, SatisfactionFigure, TeamCaseload, WorkerCaseload,
};
use livingwell_core::domain::{TeamId, UserId};

use super::AppState;
use super::error::ApiResult;
use crate::auth::Caller;

/// A fixed, realistic report for the period asked (PLACEHOLDER).
pub(crate) async fn build(
    state: &AppState,
    caller: &Caller,
    _request_id: &str,
    from: NaiveDate,
    to: NaiveDate,
    team: Option<TeamId>,
) -> ApiResult<PerformanceReport> {
    let teams = match caller {
        Caller::User(user) => state.store.teams_of_user(user.id).await?,
        Caller::StaffSystem(_) => state.store.teams().await?,
    };
    let shown: Vec<TeamView> = teams
        .iter()
        .filter(|t| team.is_none_or(|id| t.id == id))
        .map(|t| TeamView {
            id: t.id,
            name: t.name.clone(),
            hub_address: t.hub_address.clone(),
        })
        .collect();
    let mut by_source_and_outcome = Vec::new();
    let counts = [12, 31, 6, 2, 3, 9, 0, 1];
    let mut n = 0;
    for source in [ReferralSource::SelfReferral, ReferralSource::Partner] {
        for outcome in [
            ReportedOutcome::AwaitingTriage,
            ReportedOutcome::Accepted,
            ReportedOutcome::Signposted,
            ReportedOutcome::CrisisResponse,
        ] {
            by_source_and_outcome.push(ReferralCount {
                source,
                outcome,
                referrals: Figure::count(counts[n % counts.len()]),
            });
            n += 1;
        }
    }
    let mut cases_closed = Vec::new();
    let mut month = from.with_day0(0).unwrap_or(from);
    let mut i = 0u64;
    while month <= to {
        cases_closed.push(MonthFigure {
            month: month.format("%Y-%m").to_string(),
            closed: Figure::count([7, 3, 11, 9][(i % 4) as usize]),
        });
        i += 1;
        month = month
            .checked_add_months(chrono::Months::new(1))
            .unwrap_or(to + chrono::Days::new(1));
    }
    let domain = |key: &str, label: &str, people, baseline: f64, latest: f64| DomainChange {
        domain: key.to_owned(),
        label: label.to_owned(),
        people: Figure::count(people),
        mean_baseline: Figure::resting_on(baseline, people),
        mean_latest: Figure::resting_on(latest, people),
        mean_change: Figure::resting_on(latest - baseline, people),
    };
    Ok(PerformanceReport {
        from,
        to,
        team: if team.is_some() {
            shown.first().cloned()
        } else {
            None
        },
        generated_at: Utc::now(),
        small_number_threshold: SMALL_NUMBER_THRESHOLD,
        referrals: ReferralFigures {
            received: Figure::count(64),
            by_source_and_outcome,
            triaged: Figure::count(52),
            median_hours_to_triage: Figure::resting_on(18.5, 52),
            p90_hours_to_triage: Figure::resting_on(61.0, 52),
        },
        caseload: CaseloadFigures {
            per_team: shown
                .iter()
                .enumerate()
                .map(|(i, team)| TeamCaseload {
                    team: team.clone(),
                    people: Figure::count(if i % 2 == 0 { 23 } else { 3 }),
                })
                .collect(),
            per_worker: vec![
                WorkerCaseload {
                    worker_id: UserId::from(uuid::Uuid::from_u128(1)),
                    worker_name: "Priya Shah".to_owned(),
                    people: Figure::count(14),
                },
                WorkerCaseload {
                    worker_id: UserId::from(uuid::Uuid::from_u128(2)),
                    worker_name: "Morgan Lee".to_owned(),
                    people: Figure::count(2),
                },
            ],
        },
        cases_closed,
        outcome_change: vec![
            domain(
                "managing_mental_health",
                "Managing mental health",
                21,
                4.2,
                6.1,
            ),
            domain("physical_health", "Physical health", 17, 5.0, 5.6),
            domain("work_and_learning", "Work and learning", 4, 3.0, 4.5),
        ],
        satisfaction: vec![
            SatisfactionFigure {
                kind: RatedKind::WorkshopSession,
                ratings: Figure::count(38),
                people: Figure::count(19),
                mean_score: Figure::resting_on(4.3, 19),
            },
            SatisfactionFigure {
                kind: RatedKind::Review,
                ratings: Figure::count(4),
                people: Figure::count(4),
                mean_score: Figure::resting_on(4.8, 4),
            },
        ],
        appointments: AttendanceFigures {
            attended: Figure::count(142),
            did_not_attend: Figure::count(17),
            people: Figure::count(58),
        },
    })
}
