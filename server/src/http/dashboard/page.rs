//! The dashboard's HTML: the sign-in form and the performance page.
//!
//! Rendered with maud, which escapes every interpolated string (team and worker names, labels),
//! so nothing anyone typed can become markup. Self-contained: inline styles, inline SVG, no
//! scripts, fonts, images or fetches.
//!
//! Every chart is a `figure` holding an SVG with `role="img"` whose `<title>` and `<desc>` state
//! every figure in words, and under it a `<table>` with the same figures. A figure that rests
//! on fewer than five people ("< 5") is never drawn: its row has no bar, the words "< 5, not
//! shown", and the chart carries a visible note saying why.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Europe::London;
use livingwell_core::api::people::TeamView;
use livingwell_core::api::reports::{
    Figure, PerformanceReport, RatedKind, ReferralSource, ReportedOutcome, SUPPRESSED,
};
use livingwell_core::domain::TeamId;
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::{PAGE, SIGN_IN, SIGN_OUT};

const STYLE: &str = "
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; color: #1d2a33; background: #f3f6f8; }
header.top { background: #004c6d; color: #fff; padding: 14px 28px; display: flex; align-items: center; justify-content: space-between; gap: 16px; flex-wrap: wrap; }
header.top h1 { margin: 0; font-size: 21px; font-weight: 650; }
header.top .who { font-size: 13px; opacity: .9; display: flex; align-items: center; gap: 10px; }
header.top button { background: transparent; color: #fff; border: 1px solid rgba(255,255,255,.7); border-radius: 6px; padding: 5px 12px; font: inherit; cursor: pointer; }
main { max-width: 1120px; margin: 0 auto; padding: 20px 28px 40px; }
form.period { display: flex; gap: 14px; align-items: flex-end; flex-wrap: wrap; background: #fff; border: 1px solid #d5dee4; border-radius: 10px; padding: 14px 18px; }
form.period label { display: flex; flex-direction: column; font-size: 13px; font-weight: 600; color: #3b4c57; gap: 4px; }
input, select { font: inherit; padding: 6px 8px; border: 1px solid #9fb2bf; border-radius: 6px; background: #fff; color: inherit; }
button.primary { background: #006d8f; color: #fff; border: 0; border-radius: 6px; padding: 8px 18px; font: inherit; font-weight: 600; cursor: pointer; }
.context { margin: 16px 2px 6px; color: #3b4c57; }
.context strong { color: #1d2a33; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 12px; margin: 14px 0 6px; }
.tile { background: #fff; border: 1px solid #d5dee4; border-radius: 10px; padding: 12px 16px; }
.tile .n { font-size: 26px; font-weight: 700; color: #004c6d; }
.tile .l { font-size: 13px; color: #52646f; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(480px, 1fr)); gap: 16px; margin-top: 16px; }
section.card { background: #fff; border: 1px solid #d5dee4; border-radius: 10px; padding: 16px 18px; }
section.card h2 { margin: 0 0 2px; font-size: 17px; color: #004c6d; }
section.card p.about { margin: 0 0 10px; font-size: 13px; color: #52646f; }
figure { margin: 0 0 14px; }
figcaption { font-weight: 600; font-size: 14px; margin: 0 0 4px; }
svg { display: block; width: 100%; height: auto; }
svg .bar { fill: #2a8fb5; }
svg .bar.neg { fill: #c2571a; }
svg .label { font-size: 13px; fill: #1d2a33; }
svg .value { font-size: 13px; fill: #1d2a33; font-weight: 600; }
svg .hidden { font-size: 13px; fill: #6b7c86; font-style: italic; }
svg .axis { stroke: #9fb2bf; stroke-width: 1; }
table { border-collapse: collapse; width: 100%; font-size: 13.5px; margin-top: 6px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid #e3e9ed; }
thead th { color: #3b4c57; font-weight: 600; border-bottom: 2px solid #cfd9df; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.hidden { color: #6b7c86; font-style: italic; }
p.note { font-size: 12.5px; color: #52646f; background: #f6f3e8; border-left: 3px solid #c9a227; padding: 5px 9px; margin: 6px 0 0; }
.message { background: #fff4e5; border: 1px solid #e0a24a; border-radius: 8px; padding: 10px 14px; margin: 14px 0; }
footer { margin-top: 22px; font-size: 12.5px; color: #52646f; }
.signin { max-width: 380px; margin: 60px auto; background: #fff; border: 1px solid #d5dee4; border-radius: 12px; padding: 26px 28px; }
.signin h1 { margin: 0 0 4px; font-size: 21px; color: #004c6d; }
.signin p { margin: 0 0 16px; color: #52646f; font-size: 14px; }
.signin label { display: block; font-weight: 600; font-size: 14px; margin: 12px 0 4px; }
.signin input { width: 100%; }
.signin button { margin-top: 18px; width: 100%; }
";

/// The shell every page shares.
fn shell(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en-GB" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                // Same-origin: a POST carries its Origin (Chromium sends `null` under no-referrer).
                meta name="referrer" content="same-origin";
                title { (title) " · Living Well" }
                style { (PreEscaped(STYLE)) }
            }
            body { (body) }
        }
    }
}

/// The sign-in form, with a plain message when there is one to give.
pub fn sign_in(message: Option<&str>, username: &str) -> Markup {
    shell(
        "Sign in",
        html! {
            main {
                form.signin method="post" action=(SIGN_IN) {
                    h1 { "Team performance" }
                    p { "Sign in with your Living Well practitioner account." }
                    @if let Some(message) = message {
                        div.message role="alert" { (message) }
                    }
                    label for="username" { "Username" }
                    input #username name="username" type="text" autocomplete="username" required value=(username);
                    label for="password" { "Password" }
                    input #password name="password" type="password" autocomplete="current-password" required;
                    button.primary type="submit" { "Sign in" }
                }
            }
        },
    )
}

/// What the performance page shows.
pub struct PageView<'a> {
    /// Who is signed in (their display name).
    pub signed_in_as: &'a str,
    /// The teams the picker offers: the caller's own.
    pub teams: &'a [TeamView],
    pub team: Option<TeamId>,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// A plain message instead of (or above) the report.
    pub message: Option<&'a str>,
    pub report: Option<&'a PerformanceReport>,
}

/// The performance page: the period and team form, then each section's charts and tables.
pub fn performance(view: &PageView<'_>) -> Markup {
    shell(
        "Team performance",
        html! {
            header.top {
                h1 { "Team performance" }
                div.who {
                    span { "Signed in as " (view.signed_in_as) }
                    form method="post" action=(SIGN_OUT) {
                        button type="submit" { "Sign out" }
                    }
                }
            }
            main {
                (period_form(view))
                @if let Some(message) = view.message {
                    div.message role="alert" { (message) }
                }
                @if let Some(report) = view.report {
                    (report_body(report))
                }
            }
        },
    )
}

fn period_form(view: &PageView<'_>) -> Markup {
    html! {
        form.period method="get" action=(PAGE) aria-label="Period and team" {
            label { "From" input name="from" type="date" required value=(view.from.to_string()); }
            label { "To" input name="to" type="date" required value=(view.to.to_string()); }
            label {
                "Team"
                select name="team" {
                    option value="" selected[view.team.is_none()] { "All my teams" }
                    @for team in view.teams {
                        option value=(team.id.to_string()) selected[view.team == Some(team.id)] { (team.name) }
                    }
                }
            }
            button.primary type="submit" { "Show" }
        }
    }
}

fn long_date(date: NaiveDate) -> String {
    date.format("%-d %B %Y").to_string()
}

fn uk_time(at: DateTime<Utc>) -> String {
    at.with_timezone(&London)
        .format("%-d %B %Y at %H:%M")
        .to_string()
}

fn source_label(source: ReferralSource) -> &'static str {
    match source {
        ReferralSource::SelfReferral => "Self-referral",
        ReferralSource::Partner => "Partner or GP",
    }
}

fn outcome_label(outcome: ReportedOutcome) -> &'static str {
    match outcome {
        ReportedOutcome::AwaitingTriage => "awaiting triage",
        ReportedOutcome::Accepted => "accepted",
        ReportedOutcome::Signposted => "signposted",
        ReportedOutcome::CrisisResponse => "crisis response",
    }
}

fn kind_label(kind: RatedKind) -> &'static str {
    match kind {
        RatedKind::WorkshopSession => "Workshop sessions",
        RatedKind::Review => "Reviews",
    }
}

fn month_label(month: &str) -> String {
    NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d")
        .map_or_else(|_| month.to_owned(), |d| d.format("%b %Y").to_string())
}

fn report_body(report: &PerformanceReport) -> Markup {
    let referrals = &report.referrals;
    let scope = report
        .team
        .as_ref()
        .map_or("All my teams", |team| team.name.as_str());
    html! {
        p.context {
            strong { (scope) } " · "
            (long_date(report.from)) " to " (long_date(report.to))
        }
        div.tiles {
            (tile(&referrals.received, "referrals received"))
            (tile(&referrals.triaged, "referrals triaged"))
            (tile(&referrals.median_hours_to_triage, "median hours to triage"))
            (tile(&report.appointments.attended, "appointments attended"))
        }
        div.grid {
            (referrals_section(report))
            (triage_section(report))
            (caseload_section(report))
            (closed_section(report))
            (outcome_section(report))
            (satisfaction_section(report))
            (attendance_section(report))
        }
        footer {
            "Figures that rest on fewer than " (report.small_number_threshold)
            " people are shown as “" (SUPPRESSED) "” and never drawn. Report made "
            (uk_time(report.generated_at)) " (UK time)."
        }
    }
}

fn tile(figure: &Figure, label: &str) -> Markup {
    html! {
        div.tile { div.n { (figure.shown()) } div.l { (label) } }
    }
}

fn section(title: &str, about: &str, body: Markup) -> Markup {
    html! {
        section.card {
            h2 { (title) }
            p.about { (about) }
            (body)
        }
    }
}

/// One bar of a chart.
struct Bar {
    label: String,
    figure: Figure,
}

fn bar(label: impl Into<String>, figure: Figure) -> Bar {
    Bar {
        label: label.into(),
        figure,
    }
}

/// A table: a heading row, then rows whose first cell names the row.
struct Table {
    headings: Vec<&'static str>,
    rows: Vec<(String, Vec<Figure>)>,
}

/// What an empty chart and its table say.
const NONE_IN_PERIOD: &str = "None in this period.";

/// A chart and the table of the same figures: one `figure`.
fn chart(id: &str, caption: &str, unit: &str, bars: &[Bar], table: &Table) -> Markup {
    const WIDTH: f64 = 520.0;
    const LABEL_WIDTH: f64 = 215.0;
    const VALUE_WIDTH: f64 = 55.0;
    const ROW: f64 = 30.0;
    let area = WIDTH - LABEL_WIDTH - VALUE_WIDTH;
    let values: Vec<f64> = bars
        .iter()
        .filter_map(|b| match b.figure {
            Figure::Value(v) if v.is_finite() => Some(v),
            _ => None,
        })
        .collect();
    let low = values.iter().copied().fold(0.0_f64, f64::min);
    let high = values.iter().copied().fold(0.0_f64, f64::max);
    let span = if high - low > 0.0 { high - low } else { 1.0 };
    let zero = LABEL_WIDTH + area * (-low / span);
    let height = ROW * bars.len() as f64 + 8.0;
    let hidden = bars
        .iter()
        .any(|b| matches!(b.figure, Figure::FewerThanFive(_)));
    let title_id = format!("{id}-title");
    let desc_id = format!("{id}-desc");
    let words: Vec<String> = bars
        .iter()
        .map(|b| match b.figure {
            Figure::FewerThanFive(_) => format!("{}: fewer than 5, not shown", b.label),
            Figure::Value(_) => format!("{}: {}{}", b.label, b.figure.shown(), unit),
        })
        .collect();
    html! {
        figure id=(id) {
            figcaption { (caption) }
            svg xmlns="http://www.w3.org/2000/svg" role="img"
                aria-labelledby={ (title_id) " " (desc_id) }
                viewBox={ "0 0 " (WIDTH) " " (height) } preserveAspectRatio="xMinYMin meet" {
                title id=(title_id) { (caption) }
                desc id=(desc_id) {
                    @if words.is_empty() { (NONE_IN_PERIOD) } @else { (words.join("; ")) "." }
                }
                line.axis x1=(zero) x2=(zero) y1="2" y2=(height - 4.0) {}
                @for (i, b) in bars.iter().enumerate() {
                    @let y = ROW * i as f64 + 4.0;
                    text.label x=(LABEL_WIDTH - 8.0) y=(y + 18.0) text-anchor="end" { (b.label) }
                    @match b.figure {
                        Figure::Value(v) => {
                            @let w = (area * v.abs() / span).max(if v == 0.0 { 0.0 } else { 1.5 });
                            @let x = if v < 0.0 { zero - w } else { zero };
                            rect.bar.neg[v < 0.0] x=(x) y=(y + 4.0) width=(w) height=(ROW - 10.0) rx="3" {}
                            text.value x=(if v < 0.0 { x - 6.0 } else { x + w + 6.0 }) y=(y + 18.0)
                                text-anchor=(if v < 0.0 { "end" } else { "start" }) { (b.figure.shown()) }
                        }
                        Figure::FewerThanFive(_) => {
                            text.hidden x=(zero + 6.0) y=(y + 18.0) { (SUPPRESSED) ", not shown" }
                        }
                    }
                }
            }
            @if hidden {
                p.note { "“" (SUPPRESSED) "”: fewer than 5 people, too few to show without risk of identifying someone, so no bar is drawn." }
            }
            (figures_table(table))
        }
    }
}

fn figures_table(table: &Table) -> Markup {
    html! {
        table {
            thead {
                tr {
                    @for (i, heading) in table.headings.iter().enumerate() {
                        th scope="col" class=(if i == 0 { "" } else { "num" }) { (heading) }
                    }
                }
            }
            tbody {
                // A list with nothing in it (no key worker held a case at the period's end,
                // say) still says so, in a row of its own.
                @if table.rows.is_empty() {
                    tr { td colspan=(table.headings.len()) { (NONE_IN_PERIOD) } }
                }
                @for (label, figures) in &table.rows {
                    tr {
                        th scope="row" { (label) }
                        @for figure in figures {
                            @match figure {
                                Figure::FewerThanFive(_) => td.num.hidden { (SUPPRESSED) },
                                Figure::Value(_) => td.num { (figure.shown()) },
                            }
                        }
                    }
                }
            }
        }
    }
}

fn referrals_section(report: &PerformanceReport) -> Markup {
    let rows = &report.referrals.by_source_and_outcome;
    let bars: Vec<Bar> = rows
        .iter()
        .map(|r| {
            bar(
                format!("{}, {}", source_label(r.source), outcome_label(r.outcome)),
                r.referrals,
            )
        })
        .collect();
    let table = Table {
        headings: vec!["Source and outcome", "Referrals"],
        rows: bars
            .iter()
            .map(|b| (b.label.clone(), vec![b.figure]))
            .collect(),
    };
    section(
        "Referrals by source and outcome",
        "Referrals received in the period, by where they came from and what triage decided.",
        chart(
            "referrals",
            "Referrals by source and outcome",
            "",
            &bars,
            &table,
        ),
    )
}

fn triage_section(report: &PerformanceReport) -> Markup {
    let referrals = &report.referrals;
    let bars = vec![
        bar("Median", referrals.median_hours_to_triage),
        bar("90th percentile", referrals.p90_hours_to_triage),
    ];
    let table = Table {
        headings: vec!["Time to triage", "Hours"],
        rows: bars
            .iter()
            .map(|b| (b.label.clone(), vec![b.figure]))
            .collect(),
    };
    section(
        "Time to triage",
        "Hours from a referral arriving to its triage decision, over the referrals triaged.",
        chart("triage", "Hours to triage", " hours", &bars, &table),
    )
}

fn caseload_section(report: &PerformanceReport) -> Markup {
    let teams: Vec<Bar> = report
        .caseload
        .per_team
        .iter()
        .map(|t| bar(t.team.name.clone(), t.people))
        .collect();
    let workers: Vec<Bar> = report
        .caseload
        .per_worker
        .iter()
        .map(|w| bar(w.worker_name.clone(), w.people))
        .collect();
    let team_table = Table {
        headings: vec!["Team", "People"],
        rows: teams
            .iter()
            .map(|b| (b.label.clone(), vec![b.figure]))
            .collect(),
    };
    let worker_table = Table {
        headings: vec!["Key worker", "People"],
        rows: workers
            .iter()
            .map(|b| (b.label.clone(), vec![b.figure]))
            .collect(),
    };
    section(
        "Caseload",
        "People on each caseload at the end of the period.",
        html! {
            (chart("caseload-teams", "Caseload per team", " people", &teams, &team_table))
            (chart("caseload-workers", "Caseload per key worker", " people", &workers, &worker_table))
        },
    )
}

fn closed_section(report: &PerformanceReport) -> Markup {
    let bars: Vec<Bar> = report
        .cases_closed
        .iter()
        .map(|m| bar(month_label(&m.month), m.closed))
        .collect();
    let table = Table {
        headings: vec!["Month", "Cases closed"],
        rows: bars
            .iter()
            .map(|b| (b.label.clone(), vec![b.figure]))
            .collect(),
    };
    section(
        "Cases closed",
        "Cases closed in each month of the period.",
        chart("closed", "Cases closed per month", "", &bars, &table),
    )
}

fn outcome_section(report: &PerformanceReport) -> Markup {
    let bars: Vec<Bar> = report
        .outcome_change
        .iter()
        .map(|d| bar(d.label.clone(), d.mean_change))
        .collect();
    let table = Table {
        headings: vec!["Domain", "People", "Baseline", "Latest", "Change"],
        rows: report
            .outcome_change
            .iter()
            .map(|d| {
                (
                    d.label.clone(),
                    vec![d.people, d.mean_baseline, d.mean_latest, d.mean_change],
                )
            })
            .collect(),
    };
    section(
        "Outcome ratings",
        "Mean change from each person's baseline to their latest review, on the 1–10 scale.",
        chart(
            "outcomes",
            "Change in outcome ratings per domain",
            " points",
            &bars,
            &table,
        ),
    )
}

fn satisfaction_section(report: &PerformanceReport) -> Markup {
    let bars: Vec<Bar> = report
        .satisfaction
        .iter()
        .map(|s| bar(kind_label(s.kind), s.mean_score))
        .collect();
    let table = Table {
        headings: vec!["Rated", "Ratings", "People", "Mean score"],
        rows: report
            .satisfaction
            .iter()
            .map(|s| {
                (
                    kind_label(s.kind).to_owned(),
                    vec![s.ratings, s.people, s.mean_score],
                )
            })
            .collect(),
    };
    section(
        "Satisfaction",
        "Mean of the 1–5 scores people gave in the period.",
        chart(
            "satisfaction",
            "Mean satisfaction score",
            " out of 5",
            &bars,
            &table,
        ),
    )
}

fn attendance_section(report: &PerformanceReport) -> Markup {
    let attendance = &report.appointments;
    let bars = vec![
        bar("Attended", attendance.attended),
        bar("Did not attend", attendance.did_not_attend),
    ];
    let mut rows: Vec<(String, Vec<Figure>)> = bars
        .iter()
        .map(|b| (b.label.clone(), vec![b.figure]))
        .collect();
    rows.push((
        "People with an appointment".to_owned(),
        vec![attendance.people],
    ));
    let table = Table {
        headings: vec!["Appointments due in the period", "Number"],
        rows,
    };
    section(
        "Attendance",
        "Appointments that were due in the period, by what happened.",
        chart("attendance", "Attendance", " appointments", &bars, &table),
    )
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use livingwell_core::api::reports::{
        AttendanceFigures, CaseloadFigures, DomainChange, MonthFigure, ReferralCount,
        ReferralFigures, SMALL_NUMBER_THRESHOLD, SatisfactionFigure, TeamCaseload, WorkerCaseload,
    };
    use livingwell_core::domain::UserId;

    use super::*;

    const HOSTILE: &str = "<script>alert(1)</script>\"'&";

    /// A report whose every figure is `figure`, with hostile names in every name.
    fn report(figure: Figure) -> PerformanceReport {
        let team = TeamView {
            id: TeamId::from(uuid::Uuid::from_u128(7)),
            name: format!("Team {HOSTILE}"),
            hub_address: None,
        };
        PerformanceReport {
            from: NaiveDate::from_ymd_opt(2026, 9, 1).unwrap(),
            to: NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
            team: Some(team.clone()),
            generated_at: Utc.with_ymd_and_hms(2026, 12, 3, 9, 0, 0).unwrap(),
            small_number_threshold: SMALL_NUMBER_THRESHOLD,
            referrals: ReferralFigures {
                received: figure,
                by_source_and_outcome: vec![
                    ReferralCount {
                        source: ReferralSource::SelfReferral,
                        outcome: ReportedOutcome::Accepted,
                        referrals: figure,
                    },
                    ReferralCount {
                        source: ReferralSource::Partner,
                        outcome: ReportedOutcome::Signposted,
                        referrals: figure,
                    },
                ],
                triaged: figure,
                median_hours_to_triage: figure,
                p90_hours_to_triage: figure,
            },
            caseload: CaseloadFigures {
                per_team: vec![TeamCaseload {
                    team,
                    people: figure,
                }],
                per_worker: vec![WorkerCaseload {
                    worker_id: UserId::from(uuid::Uuid::from_u128(8)),
                    worker_name: format!("Worker {HOSTILE}"),
                    people: figure,
                }],
            },
            cases_closed: vec![
                MonthFigure {
                    month: "2026-09".to_owned(),
                    closed: figure,
                },
                MonthFigure {
                    month: "2026-10".to_owned(),
                    closed: figure,
                },
            ],
            outcome_change: vec![DomainChange {
                domain: "managing_mental_health".to_owned(),
                label: format!("Domain {HOSTILE}"),
                people: figure,
                mean_baseline: figure,
                mean_latest: figure,
                mean_change: figure,
            }],
            satisfaction: vec![SatisfactionFigure {
                kind: RatedKind::Review,
                ratings: figure,
                people: figure,
                mean_score: figure,
            }],
            appointments: AttendanceFigures {
                attended: figure,
                did_not_attend: figure,
                people: figure,
            },
        }
    }

    fn render(report: &PerformanceReport) -> String {
        let teams = vec![report.team.clone().unwrap()];
        performance(&PageView {
            signed_in_as: &format!("Practitioner {HOSTILE}"),
            teams: &teams,
            team: None,
            from: report.from,
            to: report.to,
            message: None,
            report: Some(report),
        })
        .into_string()
    }

    #[test]
    fn hostile_names_are_escaped_everywhere_they_appear() {
        let page = render(&report(Figure::count(12)));
        assert!(!page.contains("<script"), "{page}");
        assert!(!page.contains("alert(1)</script>"));
        // Each name is there, escaped: in the picker, the tables, the charts and their words.
        let escaped = "&lt;script&gt;alert(1)&lt;/script&gt;&quot;'&amp;";
        for name in ["Team", "Worker", "Domain", "Practitioner"] {
            assert!(
                page.contains(&format!("{name} {escaped}")),
                "{name} not shown escaped"
            );
        }
        let form = sign_in(Some(HOSTILE), HOSTILE).into_string();
        assert!(!form.contains("<script"));
    }

    #[test]
    fn a_figure_under_five_is_never_drawn_as_a_bar() {
        let hidden = Figure::count(3);
        let page = render(&report(hidden));
        assert_eq!(page.matches("class=\"bar").count(), 0, "{page}");
        assert!(page.contains("&lt; 5, not shown"));
        assert!(page.contains("<td class=\"num hidden\">&lt; 5</td>"));
        assert!(page.contains("fewer than 5, not shown"));
        assert!(page.contains("so no bar is drawn"));
        // The number behind it is nowhere: not in a cell, a label or a tile.
        assert!(!page.contains(">3<"));

        let shown = render(&report(Figure::count(12)));
        assert!(shown.matches("class=\"bar").count() > 0);
        assert!(!shown.contains("so no bar is drawn"));
    }

    #[test]
    fn every_chart_has_its_table_and_words() {
        let page = render(&report(Figure::count(12)));
        let charts = page.matches("<svg").count();
        assert_eq!(charts, 8, "one chart per figure set");
        assert_eq!(page.matches("<figure").count(), charts);
        assert_eq!(page.matches("role=\"img\"").count(), charts);
        assert_eq!(page.matches("<title id=").count(), charts);
        assert_eq!(page.matches("<desc id=").count(), charts);
        assert_eq!(page.matches("<table>").count(), charts);
        // Each chart's words and table are inside its own figure.
        for figure in page.split("<figure").skip(1) {
            let figure = &figure[..figure.find("</figure>").unwrap()];
            assert!(figure.contains("aria-labelledby="));
            assert!(figure.contains("<desc id="));
            assert!(figure.contains("<table>"));
        }
        // The words state the figures.
        assert!(page.contains("Self-referral, accepted: 12;"));
    }

    #[test]
    fn an_empty_list_says_so_in_its_chart_and_its_table() {
        let mut empty = report(Figure::count(12));
        empty.caseload.per_worker.clear();
        let page = render(&empty);
        let figure = page.split("<figure id=\"caseload-workers\"").nth(1);
        let figure = figure.map(|f| &f[..f.find("</figure>").unwrap()]);
        let figure = figure.unwrap_or_else(|| panic!("the per-worker chart in {page}"));
        assert_eq!(figure.matches(NONE_IN_PERIOD).count(), 2, "{figure}");
    }

    #[test]
    fn negative_changes_are_drawn_left_of_the_axis() {
        let page = render(&report(Figure::resting_on(-1.5, 9)));
        assert!(page.contains("class=\"bar neg\""));
        assert!(page.contains("-1.5"));
    }
}
