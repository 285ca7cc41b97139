//! The performance report: the period it covers, what it reads from the store, and the pure
//! making of its figures from those rows, with the small-number rule applied once, here.
//!
//! - **The period** is Europe/London calendar days, `from` to `to` inclusive: from midnight
//!   starting `from` to midnight ending `to`, in London time, at most [`LONGEST_PERIOD_DAYS`].
//! - **"The end of the period"** (caseload, outcome ratings, attendance's people) is that last
//!   midnight. Who is "the team's people" is its caseload then; a worker's caseload counts the
//!   people whose key worker they are now (key workers keep no history).
//! - **The small-number rule** ([`Figure::resting_on`]): every figure resting on fewer than five
//!   people is `"< 5"`. A referral is one person; a mean rests on the people averaged.
//!   Outcome domains are labelled as the deployment labels them (`default_outcome_labels` unless
//!   configured).
//! - **Secondary disclosure** ([`suppress_complements`]): where a total is shown and exactly one
//!   of the cells that add up to it is hidden, the reader could subtract; so the smallest other
//!   cell of that group is hidden too (and so on until no group has exactly one hidden cell).
//!   It applies to the referrals by source and outcome (against `received`, `triaged` and the
//!   awaiting ones they imply) and to caseload per worker (against the team's caseload). A
//!   cell hidden this way is written `"< 5"` like the rest: the mark means "not shown".

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Europe::London;
use livingwell_core::api::people::TeamView;
use livingwell_core::api::reports::{
    AttendanceFigures, CaseloadFigures, DomainChange, Figure, MonthFigure, PerformanceReport,
    RatedKind, ReferralCount, ReferralFigures, ReferralSource, ReportedOutcome,
    SMALL_NUMBER_THRESHOLD, SatisfactionFigure, Suppressed, TeamCaseload, WorkerCaseload,
};
use livingwell_core::domain::plan::{OUTCOME_DOMAINS, OutcomeRating, RatingOccasion};
use livingwell_core::domain::{FieldError, FieldErrorCode, PersonId, TeamId, UserId};

use crate::store::reports::{
    AttendanceTally, CaseloadPlace, LatestPlan, ReferralTally, SatisfactionTally, Span, TriageTime,
};
use crate::store::{Store, StoreResult, TeamRecord};

/// The longest period a report covers: two years, a leap day included.
pub const LONGEST_PERIOD_DAYS: i64 = 731;

/// The instants a period of London days covers, or the field that is wrong: `to` before `from`
/// (`not_after_from`), or longer than [`LONGEST_PERIOD_DAYS`] (`window_too_long`).
pub fn period(from: NaiveDate, to: NaiveDate) -> Result<Span, FieldError> {
    if to < from {
        return Err(FieldError::new("to", FieldErrorCode::NotAfterFrom));
    }
    if (to - from).num_days() + 1 > LONGEST_PERIOD_DAYS {
        return Err(FieldError::new("to", FieldErrorCode::WindowTooLong));
    }
    let after = to
        .succ_opt()
        .ok_or_else(|| FieldError::new("to", FieldErrorCode::OutOfRange))?;
    Ok(Span {
        start: london_midnight(from),
        end: london_midnight(after),
    })
}

/// Midnight starting `day` in London. (The clocks change at 01:00 and 02:00, so midnight is
/// never skipped or repeated; the fallback is never taken.)
fn london_midnight(day: NaiveDate) -> DateTime<Utc> {
    let local = day.and_time(NaiveTime::MIN);
    London
        .from_local_datetime(&local)
        .earliest()
        .map_or_else(|| local.and_utc(), |at| at.with_timezone(&Utc))
}

/// Everything the report reads, for one team or every team.
#[derive(Clone, Debug, Default)]
pub struct Gathered {
    pub referrals: Vec<ReferralTally>,
    pub triage: Vec<TriageTime>,
    pub caseload: Vec<CaseloadPlace>,
    pub closed: Vec<DateTime<Utc>>,
    pub plans: Vec<LatestPlan>,
    pub satisfaction: Vec<SatisfactionTally>,
    pub attendance: Vec<AttendanceTally>,
}

/// Reads what the report needs; each read is bounded by the period and the team.
pub async fn gather(store: &dyn Store, team: Option<TeamId>, span: Span) -> StoreResult<Gathered> {
    Ok(Gathered {
        referrals: store.referral_tallies(team, span).await?,
        triage: store.triage_times(team, span).await?,
        caseload: store.caseload_at(team, span.end).await?,
        closed: store.closed_cases(team, span).await?,
        plans: store.latest_plans_at(team, span.end).await?,
        satisfaction: store.satisfaction_tallies(team, span).await?,
        attendance: store.attendance(team, span).await?,
    })
}

/// What the report is of.
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The one team reported on; `None` for every team.
    pub team: Option<&'a TeamRecord>,
    /// The teams listed in the caseload per team: the one, or every team.
    pub teams: &'a [TeamRecord],
    /// The deployment's outcome domain labels (key → label).
    pub labels: &'a BTreeMap<String, String>,
    pub generated_at: DateTime<Utc>,
}

/// The report's figures from what was gathered.
pub fn compute(subject: Subject<'_>, gathered: &Gathered) -> PerformanceReport {
    PerformanceReport {
        from: subject.from,
        to: subject.to,
        team: subject.team.map(team_view),
        generated_at: subject.generated_at,
        small_number_threshold: SMALL_NUMBER_THRESHOLD,
        referrals: referral_figures(&gathered.referrals, &gathered.triage),
        caseload: caseload_figures(subject.teams, &gathered.caseload),
        cases_closed: closed_by_month(subject.from, subject.to, &gathered.closed),
        outcome_change: outcome_change(subject.to, subject.labels, &gathered.plans),
        satisfaction: satisfaction(&gathered.satisfaction),
        appointments: attendance(&gathered.attendance),
    }
}

fn team_view(team: &TeamRecord) -> TeamView {
    TeamView {
        id: team.id,
        name: team.name.clone(),
        hub_address: team.hub_address.clone(),
    }
}

const HIDDEN: Figure = Figure::FewerThanFive(Suppressed::FewerThanFive);

/// Rounded to two decimal places, as the report gives hours and means.
fn rounded(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// Which of `counts` (each a count of people) are hidden: those under the threshold, and then,
/// for each group of cells whose total is shown (`true`) and which has exactly one hidden cell,
/// its smallest shown cell too, until no such group is left.
pub fn suppress_complements(counts: &[u64], groups: &[(&[usize], bool)]) -> Vec<bool> {
    let threshold = u64::from(SMALL_NUMBER_THRESHOLD);
    let mut hidden: Vec<bool> = counts.iter().map(|count| *count < threshold).collect();
    loop {
        let mut changed = false;
        for (members, total_shown) in groups {
            if !total_shown || members.iter().filter(|i| hidden[**i]).count() != 1 {
                continue;
            }
            let smallest = members
                .iter()
                .filter(|i| !hidden[**i])
                .min_by_key(|i| counts[**i]);
            if let Some(i) = smallest {
                hidden[*i] = true;
                changed = true;
            }
        }
        if !changed {
            return hidden;
        }
    }
}

fn count_figure(count: u64, hidden: bool) -> Figure {
    if hidden {
        HIDDEN
    } else {
        // A count of people fits an f64 exactly far beyond any caseload.
        Figure::Value(count as f64)
    }
}

/// The `p`th percentile (0–1) of sorted values, interpolating linearly between the closest
/// ranks (so the median of an even number is the mean of the middle two); `None` for none.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let rank = p.clamp(0.0, 1.0) * last as f64;
    let below = rank.floor() as usize;
    let above = rank.ceil() as usize;
    let (low, high) = (sorted[below], sorted[above]);
    Some(low + (high - low) * (rank - below as f64))
}

const SOURCES: [(ReferralSource, &str); 2] = [
    (ReferralSource::SelfReferral, "self"),
    (ReferralSource::Partner, "partner"),
];

const OUTCOMES: [(ReportedOutcome, Option<&str>); 4] = [
    (ReportedOutcome::AwaitingTriage, None),
    (ReportedOutcome::Accepted, Some("accepted")),
    (ReportedOutcome::Signposted, Some("signposted")),
    (ReportedOutcome::CrisisResponse, Some("crisis_response")),
];

fn referral_figures(tallies: &[ReferralTally], triage: &[TriageTime]) -> ReferralFigures {
    let mut cells = Vec::new();
    let mut counts = Vec::new();
    for (source, source_key) in SOURCES {
        for (outcome, outcome_key) in OUTCOMES {
            let count: i64 = tallies
                .iter()
                .filter(|t| t.source == source_key && t.outcome.as_deref() == outcome_key)
                .map(|t| t.referrals)
                .sum();
            cells.push((source, outcome));
            counts.push(u64::try_from(count).unwrap_or(0));
        }
    }
    let awaiting: Vec<usize> = (0..cells.len())
        .filter(|i| cells[*i].1 == ReportedOutcome::AwaitingTriage)
        .collect();
    let decided: Vec<usize> = (0..cells.len())
        .filter(|i| cells[*i].1 != ReportedOutcome::AwaitingTriage)
        .collect();
    let every: Vec<usize> = (0..cells.len()).collect();
    let received: u64 = counts.iter().sum();
    let triaged: u64 = decided.iter().map(|i| counts[*i]).sum();
    let received_shown = received >= u64::from(SMALL_NUMBER_THRESHOLD);
    let triaged_shown = triaged >= u64::from(SMALL_NUMBER_THRESHOLD);
    let hidden = suppress_complements(
        &counts,
        &[
            (&every, received_shown),
            (&decided, triaged_shown),
            // Received less triaged: the awaiting ones' total, shown when both are.
            (&awaiting, received_shown && triaged_shown),
        ],
    );
    let mut hours: Vec<f64> = triage
        .iter()
        .map(|t| (t.triaged_at - t.received_at).num_seconds() as f64 / 3600.0)
        .collect();
    hours.sort_by(f64::total_cmp);
    let timed = hours.len() as u64;
    let hours_figure = |p: f64| {
        percentile(&hours, p).map_or(HIDDEN, |value| Figure::resting_on(rounded(value), timed))
    };
    ReferralFigures {
        received: Figure::count(received),
        by_source_and_outcome: cells
            .iter()
            .zip(counts.iter().zip(&hidden))
            .map(|((source, outcome), (count, hidden))| ReferralCount {
                source: *source,
                outcome: *outcome,
                referrals: count_figure(*count, *hidden),
            })
            .collect(),
        triaged: Figure::count(triaged),
        median_hours_to_triage: hours_figure(0.5),
        p90_hours_to_triage: hours_figure(0.9),
    }
}

fn caseload_figures(teams: &[TeamRecord], places: &[CaseloadPlace]) -> CaseloadFigures {
    let mut by_team: BTreeMap<TeamId, BTreeSet<PersonId>> = BTreeMap::new();
    let mut by_worker: BTreeMap<UserId, (String, BTreeSet<PersonId>)> = BTreeMap::new();
    for place in places {
        by_team
            .entry(place.team_id)
            .or_default()
            .insert(place.person_id);
        if let Some((worker, name)) = &place.key_worker {
            by_worker
                .entry(*worker)
                .or_insert_with(|| (name.clone(), BTreeSet::new()))
                .1
                .insert(place.person_id);
        }
    }
    let per_team: Vec<TeamCaseload> = teams
        .iter()
        .map(|team| TeamCaseload {
            team: team_view(team),
            people: Figure::count(by_team.get(&team.id).map_or(0, |p| p.len() as u64)),
        })
        .collect();
    let mut workers: Vec<(UserId, String, u64)> = by_worker
        .into_iter()
        .map(|(id, (name, people))| (id, name, people.len() as u64))
        .collect();
    workers.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
    let counts: Vec<u64> = workers.iter().map(|w| w.2).collect();
    let every: Vec<usize> = (0..workers.len()).collect();
    let totals_shown = per_team
        .iter()
        .all(|team| matches!(team.people, Figure::Value(_)));
    let hidden = suppress_complements(&counts, &[(&every, totals_shown)]);
    CaseloadFigures {
        per_team,
        per_worker: workers
            .into_iter()
            .zip(hidden)
            .map(|((worker_id, worker_name, count), hidden)| WorkerCaseload {
                worker_id,
                worker_name,
                people: count_figure(count, hidden),
            })
            .collect(),
    }
}

/// Every month from `from`'s to `to`'s, as `YYYY-MM`, oldest first.
pub fn months(from: NaiveDate, to: NaiveDate) -> Vec<(i32, u32)> {
    let mut months = Vec::new();
    let (mut year, mut month) = (from.year(), from.month());
    while (year, month) <= (to.year(), to.month()) {
        months.push((year, month));
        (year, month) = if month == 12 {
            (year + 1, 1)
        } else {
            (year, month + 1)
        };
    }
    months
}

fn closed_by_month(from: NaiveDate, to: NaiveDate, closed: &[DateTime<Utc>]) -> Vec<MonthFigure> {
    let mut by_month: BTreeMap<(i32, u32), u64> = BTreeMap::new();
    for ended in closed {
        let local = ended.with_timezone(&London);
        *by_month.entry((local.year(), local.month())).or_default() += 1;
    }
    months(from, to)
        .into_iter()
        .map(|(year, month)| MonthFigure {
            month: format!("{year:04}-{month:02}"),
            closed: Figure::count(by_month.get(&(year, month)).copied().unwrap_or(0)),
        })
        .collect()
}

/// Each domain's baseline and latest later review, over the people whose plan has both (rated
/// on or before `to`).
fn outcome_change(
    to: NaiveDate,
    labels: &BTreeMap<String, String>,
    plans: &[LatestPlan],
) -> Vec<DomainChange> {
    // Only the ratings are read, so a version stored under an older shape of the rest of the
    // plan still counts.
    let plans: Vec<Vec<OutcomeRating>> = plans
        .iter()
        .filter_map(|plan| serde::Deserialize::deserialize(plan.body.get("outcome_ratings")?).ok())
        .collect();
    OUTCOME_DOMAINS
        .iter()
        .map(|domain| {
            let pairs: Vec<(f64, f64)> = plans
                .iter()
                .filter_map(|plan| baseline_and_latest(plan, domain, to))
                .collect();
            let people = pairs.len() as u64;
            let n = pairs.len().max(1) as f64;
            let baseline = pairs.iter().map(|p| p.0).sum::<f64>() / n;
            let latest = pairs.iter().map(|p| p.1).sum::<f64>() / n;
            DomainChange {
                domain: (*domain).to_owned(),
                label: labels.get(*domain).cloned().unwrap_or_default(),
                people: Figure::count(people),
                mean_baseline: Figure::resting_on(rounded(baseline), people),
                mean_latest: Figure::resting_on(rounded(latest), people),
                mean_change: Figure::resting_on(rounded(latest - baseline), people),
            }
        })
        .collect()
}

/// One person's baseline score in `domain` and their latest review's after it, both rated on
/// or before `to`.
pub fn baseline_and_latest(
    ratings: &[OutcomeRating],
    domain: &str,
    to: NaiveDate,
) -> Option<(f64, f64)> {
    let baseline = ratings
        .iter()
        .find(|r| r.occasion == RatingOccasion::Baseline && r.rated_on <= to)?;
    let base = *baseline.scores.get(domain)?;
    let latest = ratings
        .iter()
        .filter(|r| {
            r.occasion == RatingOccasion::Review
                && r.rated_on > baseline.rated_on
                && r.rated_on <= to
                && r.scores.contains_key(domain)
        })
        .max_by_key(|r| r.rated_on)?;
    let last = *latest.scores.get(domain)?;
    Some((f64::from(base), f64::from(last)))
}

/// The rated kind of an appointment kind: reviews, and workshop sessions (the diary's
/// `enablement_workshop`; `enablement_workshop_session` is read the same).
fn rated_kind(kind: &str) -> Option<RatedKind> {
    match kind {
        "review" => Some(RatedKind::Review),
        "enablement_workshop" | "enablement_workshop_session" => Some(RatedKind::WorkshopSession),
        _ => None,
    }
}

fn satisfaction(tallies: &[SatisfactionTally]) -> Vec<SatisfactionFigure> {
    [RatedKind::WorkshopSession, RatedKind::Review]
        .into_iter()
        .map(|kind| {
            let of_kind = tallies.iter().filter(|t| rated_kind(&t.kind) == Some(kind));
            let (ratings, people, sum) = of_kind.fold((0i64, 0i64, 0i64), |acc, t| {
                (acc.0 + t.ratings, acc.1 + t.people, acc.2 + t.score_sum)
            });
            let people = u64::try_from(people).unwrap_or(0);
            let mean = if ratings > 0 {
                sum as f64 / ratings as f64
            } else {
                0.0
            };
            SatisfactionFigure {
                kind,
                ratings: Figure::resting_on(ratings as f64, people),
                people: Figure::count(people),
                mean_score: Figure::resting_on(rounded(mean), people),
            }
        })
        .collect()
}

fn attendance(tallies: &[AttendanceTally]) -> AttendanceFigures {
    let figures = |status: &str| {
        let marked: Vec<&AttendanceTally> = tallies.iter().filter(|t| t.status == status).collect();
        let people: BTreeSet<PersonId> = marked.iter().map(|t| t.person_id).collect();
        let appointments: i64 = marked.iter().map(|t| t.appointments).sum();
        Figure::resting_on(appointments as f64, people.len() as u64)
    };
    let attended = figures("attended");
    let did_not_attend = figures("did_not_attend");
    let people: BTreeSet<PersonId> = tallies.iter().map(|t| t.person_id).collect();
    AttendanceFigures {
        attended,
        did_not_attend,
        people: Figure::count(people.len() as u64),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use livingwell_core::domain::plan::default_outcome_labels;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_period_is_london_days_inclusive_and_refused_naming_the_field() {
        // Summer: London is an hour ahead of UTC.
        let span = period(date("2026-07-01"), date("2026-07-31")).unwrap();
        assert_eq!(span.start.to_rfc3339(), "2026-06-30T23:00:00+00:00");
        assert_eq!(span.end.to_rfc3339(), "2026-07-31T23:00:00+00:00");
        // Winter: the same as UTC; one day is 24 hours.
        let day = period(date("2026-01-15"), date("2026-01-15")).unwrap();
        assert_eq!(day.end - day.start, chrono::Duration::hours(24));
        // The day the clocks go forward is 23 hours long.
        let spring = period(date("2026-03-29"), date("2026-03-29")).unwrap();
        assert_eq!(spring.end - spring.start, chrono::Duration::hours(23));
        let backwards = period(date("2026-02-02"), date("2026-02-01")).unwrap_err();
        assert_eq!(
            backwards,
            FieldError::new("to", FieldErrorCode::NotAfterFrom)
        );
        assert!(period(date("2025-01-01"), date("2026-12-31")).is_ok());
        let long = period(date("2025-01-01"), date("2027-01-02")).unwrap_err();
        assert_eq!(long, FieldError::new("to", FieldErrorCode::WindowTooLong));
    }

    #[test]
    fn percentiles_interpolate_between_the_closest_ranks() {
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&[7.0], 0.9), Some(7.0));
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 0.5), Some(2.5));
        assert_eq!(percentile(&[1.0, 2.0, 3.0], 0.5), Some(2.0));
        let p90 = percentile(&[1.0, 2.0, 3.0, 4.0], 0.9).unwrap();
        assert!((p90 - 3.7).abs() < 1e-9);
        let tens: Vec<f64> = (1..=10).map(f64::from).collect();
        assert!((percentile(&tens, 0.9).unwrap() - 9.1).abs() < 1e-9);
    }

    #[test]
    fn every_month_of_the_period_is_listed_oldest_first() {
        assert_eq!(
            months(date("2025-11-20"), date("2026-02-03")),
            vec![(2025, 11), (2025, 12), (2026, 1), (2026, 2)]
        );
        assert_eq!(
            months(date("2026-05-01"), date("2026-05-31")),
            vec![(2026, 5)]
        );
        // A case closed at 23:30 UTC on 31 July closed on 1 August in London (summer time).
        let closed = [
            "2026-07-31T23:30:00Z".parse().unwrap(),
            "2026-07-15T10:00:00Z".parse().unwrap(),
        ];
        let figures = closed_by_month(date("2026-07-01"), date("2026-08-31"), &closed);
        assert_eq!(
            figures.iter().map(|m| m.month.as_str()).collect::<Vec<_>>(),
            ["2026-07", "2026-08"]
        );
        assert_eq!(figures[0].closed, HIDDEN);
    }

    #[test]
    fn four_people_are_fewer_than_five_and_five_are_shown() {
        let place = |n: u8, team: TeamId| CaseloadPlace {
            person_id: PersonId::from(uuid::Uuid::from_bytes([n; 16])),
            team_id: team,
            key_worker: None,
        };
        let team = TeamRecord {
            id: TeamId::from(uuid::Uuid::from_bytes([99; 16])),
            name: "North".into(),
            hub_address: None,
        };
        let four: Vec<CaseloadPlace> = (1..=4).map(|n| place(n, team.id)).collect();
        let five: Vec<CaseloadPlace> = (1..=5).map(|n| place(n, team.id)).collect();
        let teams = [team];
        assert_eq!(caseload_figures(&teams, &four).per_team[0].people, HIDDEN);
        assert_eq!(
            caseload_figures(&teams, &five).per_team[0].people,
            Figure::Value(5.0)
        );
        let tally = |person: u8, status: &str, appointments: i64| AttendanceTally {
            person_id: PersonId::from(uuid::Uuid::from_bytes([person; 16])),
            status: status.into(),
            appointments,
        };
        // Twelve appointments attended, but by four people: hidden.
        let four_people: Vec<AttendanceTally> = (1..=4).map(|n| tally(n, "attended", 3)).collect();
        let shown = attendance(&four_people);
        assert_eq!(shown.attended, HIDDEN);
        assert_eq!(shown.people, HIDDEN);
        let five_people: Vec<AttendanceTally> = (1..=5).map(|n| tally(n, "attended", 2)).collect();
        let shown = attendance(&five_people);
        assert_eq!(shown.attended, Figure::Value(10.0));
        assert_eq!(shown.people, Figure::Value(5.0));
        assert_eq!(shown.did_not_attend, HIDDEN);
    }

    #[test]
    fn satisfaction_means_rest_on_the_people_who_rated() {
        let tallies = [
            SatisfactionTally {
                kind: "review".into(),
                ratings: 6,
                people: 5,
                score_sum: 25,
            },
            SatisfactionTally {
                kind: "enablement_workshop".into(),
                ratings: 9,
                people: 3,
                score_sum: 40,
            },
        ];
        let figures = satisfaction(&tallies);
        assert_eq!(figures[0].kind, RatedKind::WorkshopSession);
        assert_eq!(figures[0].ratings, HIDDEN);
        assert_eq!(figures[0].mean_score, HIDDEN);
        assert_eq!(figures[1].ratings, Figure::Value(6.0));
        assert_eq!(figures[1].mean_score, Figure::Value(4.17));
    }

    #[test]
    fn outcome_change_takes_the_baseline_and_the_latest_later_review() {
        let rating = |on: &str, occasion: RatingOccasion, score: u8| OutcomeRating {
            rated_on: date(on),
            occasion,
            scores: [("work".to_owned(), score)].into_iter().collect(),
            agreed_with_person: true,
        };
        let plan = |ratings| {
            let mut body = serde_json::json!({"support_level": "standard"});
            body["outcome_ratings"] = serde_json::to_value::<Vec<OutcomeRating>>(ratings).unwrap();
            body
        };
        let body = plan(vec![
            rating("2026-01-10", RatingOccasion::Baseline, 3),
            rating("2026-03-10", RatingOccasion::Review, 5),
            rating("2026-06-10", RatingOccasion::Review, 7),
            // After the period: not counted.
            rating("2026-09-10", RatingOccasion::Review, 10),
        ]);
        let parsed: Vec<OutcomeRating> =
            serde_json::from_value(body["outcome_ratings"].clone()).unwrap();
        assert_eq!(
            baseline_and_latest(&parsed, "work", date("2026-06-30")),
            Some((3.0, 7.0))
        );
        assert_eq!(
            baseline_and_latest(&parsed, "work", date("2026-02-01")),
            None
        );
        assert_eq!(
            baseline_and_latest(&parsed, "relationships", date("2026-06-30")),
            None
        );
        let plans = |n: u8| -> Vec<LatestPlan> {
            (0..n)
                .map(|i| LatestPlan {
                    person_id: PersonId::from(uuid::Uuid::from_bytes([i; 16])),
                    body: body.clone(),
                })
                .collect()
        };
        let work = |n| {
            outcome_change(date("2026-06-30"), &default_outcome_labels(), &plans(n))
                .into_iter()
                .find(|d| d.domain == "work")
                .unwrap()
        };
        let four = work(4);
        assert_eq!(four.label, "Work");
        assert_eq!(
            (four.people, four.mean_baseline, four.mean_change),
            (HIDDEN, HIDDEN, HIDDEN)
        );
        let five = work(5);
        assert_eq!(five.people, Figure::Value(5.0));
        assert_eq!(five.mean_baseline, Figure::Value(3.0));
        assert_eq!(five.mean_latest, Figure::Value(7.0));
        assert_eq!(five.mean_change, Figure::Value(4.0));
    }

    #[test]
    fn one_hidden_cell_beside_a_shown_total_hides_the_next_smallest_too() {
        // 2 + 9 + 6 = 17 shown: 2 alone hidden would be 17 − 9 − 6.
        let hidden = suppress_complements(&[2, 9, 6], &[(&[0, 1, 2], true)]);
        assert_eq!(hidden, [true, false, true]);
        // With the total not shown, nothing more is hidden.
        let hidden = suppress_complements(&[2, 9, 6], &[(&[0, 1, 2], false)]);
        assert_eq!(hidden, [true, false, false]);
        // Two hidden already: nothing to subtract to.
        let hidden = suppress_complements(&[2, 3, 6], &[(&[0, 1, 2], true)]);
        assert_eq!(hidden, [true, true, false]);
        // A cell hidden for one group can leave another with one hidden: followed through.
        let hidden = suppress_complements(&[1, 7, 8, 20], &[(&[0, 1], true), (&[1, 2, 3], true)]);
        assert_eq!(hidden, [true, true, true, false]);
    }

    #[test]
    fn referrals_list_every_pair_and_cannot_be_worked_out_by_subtraction() {
        let tally = |source: &str, outcome: Option<&str>, referrals| ReferralTally {
            source: source.into(),
            outcome: outcome.map(Into::into),
            referrals,
        };
        let figures = referral_figures(
            &[
                tally("self", Some("accepted"), 8),
                tally("self", None, 2),
                tally("partner", Some("accepted"), 6),
                tally("partner", Some("signposted"), 5),
            ],
            &[],
        );
        assert_eq!(figures.by_source_and_outcome.len(), 8);
        assert_eq!(figures.received, Figure::Value(21.0));
        assert_eq!(figures.triaged, Figure::Value(19.0));
        let cell = |source, outcome| {
            figures
                .by_source_and_outcome
                .iter()
                .find(|c| c.source == source && c.outcome == outcome)
                .unwrap()
                .referrals
        };
        // Awaiting: 2 (self) and 0 (partner) are both under five; no complement needed there.
        assert_eq!(
            cell(
                ReferralSource::SelfReferral,
                ReportedOutcome::AwaitingTriage
            ),
            HIDDEN
        );
        // Triaged: the zeros are hidden, two or more of them, so the shown ones stay.
        assert_eq!(
            cell(ReferralSource::SelfReferral, ReportedOutcome::Accepted),
            Figure::Value(8.0)
        );
        assert_eq!(figures.median_hours_to_triage, HIDDEN);
        // One hidden cell among the decided: 8 + 6 + 5 + 3 = 22 triaged.
        let figures = referral_figures(
            &[
                tally("self", Some("accepted"), 8),
                tally("self", Some("signposted"), 5),
                tally("self", Some("crisis_response"), 5),
                tally("partner", Some("accepted"), 6),
                tally("partner", Some("signposted"), 5),
                tally("partner", Some("crisis_response"), 3),
                tally("self", None, 5),
                tally("partner", None, 7),
            ],
            &[],
        );
        // The 3 is hidden; then a 5 beside it among all, a 5 among the decided, and the other
        // awaiting cell: no total is left with exactly one hidden cell to subtract.
        let hidden: Vec<bool> = figures
            .by_source_and_outcome
            .iter()
            .map(|c| c.referrals == HIDDEN)
            .collect();
        assert_eq!(hidden, [true, false, true, false, true, false, false, true]);
        for group in [
            &[0usize, 4][..],
            &[1, 2, 3, 5, 6, 7],
            &[0, 1, 2, 3, 4, 5, 6, 7],
        ] {
            assert_ne!(group.iter().filter(|i| hidden[**i]).count(), 1);
        }
    }

    #[test]
    fn hours_to_triage_rest_on_the_referrals_triaged() {
        let at = |h: i64| -> DateTime<Utc> {
            "2026-04-01T09:00:00Z".parse::<DateTime<Utc>>().unwrap() + chrono::Duration::hours(h)
        };
        let times: Vec<TriageTime> = [1, 2, 3, 4, 30]
            .into_iter()
            .map(|h| TriageTime {
                received_at: at(0),
                triaged_at: at(h),
            })
            .collect();
        let figures = referral_figures(&[], &times);
        assert_eq!(figures.median_hours_to_triage, Figure::Value(3.0));
        assert_eq!(figures.p90_hours_to_triage, Figure::Value(19.6));
        let figures = referral_figures(&[], &times[..4]);
        assert_eq!(figures.median_hours_to_triage, HIDDEN);
    }
}
