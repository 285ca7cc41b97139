//! The printable crisis plan: one page a person can hand to a crisis team.
//!
//! Rendered with maud, which escapes every interpolated string, so nothing a person typed can
//! become markup. The page is self-contained (inline styles, no scripts, no fetches).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use chrono_tz::Europe::London;
use livingwell_core::api::plans::CrisisPlanView;
use livingwell_core::domain::CrisisPlanSection;
use livingwell_core::domain::wrap::{CrisisPlan, Preferences};
use maud::{DOCTYPE, Markup, html};

/// What the crisis plan view is made of, shared by the JSON (`plans.rs`) and this page.
pub(super) struct CrisisPlanParts {
    pub view: CrisisPlanView,
    pub plan: Option<CrisisPlan>,
    pub sections: BTreeSet<CrisisPlanSection>,
}

const STYLE: &str = "
@page { size: A4; margin: 14mm; }
* { box-sizing: border-box; }
body { font: 10.5pt/1.35 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; color: #111; margin: 0 auto; max-width: 190mm; }
header { border-bottom: 3px solid #004c6d; padding-bottom: 4pt; margin-bottom: 8pt; }
h1 { font-size: 16pt; margin: 0; color: #004c6d; }
.meta { font-size: 9pt; color: #444; margin-top: 2pt; }
.active { background: #fde8e8; border: 2px solid #b00020; padding: 4pt 6pt; margin: 6pt 0; font-weight: 600; }
.grid { columns: 2; column-gap: 10mm; }
section { break-inside: avoid; margin: 0 0 7pt; }
h2 { font-size: 11pt; margin: 0 0 2pt; color: #004c6d; border-bottom: 1px solid #cfd8dc; }
h3 { font-size: 9.5pt; margin: 3pt 0 1pt; }
ul { margin: 0; padding-left: 13pt; }
p { margin: 0 0 2pt; white-space: pre-wrap; }
.empty { color: #777; font-style: italic; }
footer { margin-top: 8pt; font-size: 8pt; color: #555; border-top: 1px solid #cfd8dc; padding-top: 3pt; }
";

fn list(items: &[String]) -> Markup {
    html! {
        @if items.is_empty() { p.empty { "Nothing written yet." } }
        @else { ul { @for item in items { li { (item) } } } }
    }
}

fn text(value: &str) -> Markup {
    html! {
        @if value.trim().is_empty() { p.empty { "Nothing written yet." } }
        @else { p { (value) } }
    }
}

fn preferences(value: &Preferences, preferred: &str) -> Markup {
    html! {
        h3 { (preferred) } (list(&value.preferred))
        h3 { "To avoid" } (list(&value.avoid))
    }
}

fn section(plan: &CrisisPlan, section: CrisisPlanSection) -> Markup {
    let body = match section {
        CrisisPlanSection::WhenWell => text(&plan.when_well),
        CrisisPlanSection::SignsOthersTakeOver => list(&plan.signs_others_take_over),
        CrisisPlanSection::Supporters => html! {
            h3 { "Who I want to help" }
            @if plan.supporters.helpers.is_empty() { p.empty { "Nobody named yet." } }
            ul {
                @for helper in &plan.supporters.helpers {
                    li {
                        strong { (helper.name) }
                        @if !helper.relationship.is_empty() { " (" (helper.relationship) ")" }
                        @if !helper.contact.is_empty() { " — " (helper.contact) }
                        @if !helper.role_in_crisis.is_empty() { br; (helper.role_in_crisis) }
                    }
                }
            }
            @if !plan.supporters.not_involved.is_empty() {
                h3 { "People I do not want involved" }
                ul { @for person in &plan.supporters.not_involved { li { (person.name) } } }
            }
        },
        CrisisPlanSection::Medication => html! {
            h3 { "Current" }
            @if plan.medication.current.is_empty() { p.empty { "None listed." } }
            ul {
                @for medicine in &plan.medication.current {
                    li { strong { (medicine.name) } @if !medicine.dose.is_empty() { " — " (medicine.dose) }
                         @if !medicine.notes.is_empty() { br; (medicine.notes) } }
                }
            }
            h3 { "Acceptable" } (list(&plan.medication.acceptable))
            h3 { "To avoid" } (list(&plan.medication.avoid))
        },
        CrisisPlanSection::Treatments => preferences(&plan.treatments, "Acceptable"),
        CrisisPlanSection::HomeAndRespite => text(&plan.home_and_respite),
        CrisisPlanSection::TreatmentFacilities => {
            preferences(&plan.treatment_facilities, "Preferred")
        }
        CrisisPlanSection::HelpFromOthers => html! {
            h3 { "Helps" } (list(&plan.help_from_others.helps))
            h3 { "Does not help" } (list(&plan.help_from_others.does_not_help))
        },
        CrisisPlanSection::WhenToStopUsing => list(&plan.when_to_stop_using),
        CrisisPlanSection::PracticalNeeds => html! {
            @if plan.practical_needs.is_empty() { p.empty { "None listed." } }
            ul { @for need in &plan.practical_needs { li { strong { (need.need) } @if !need.arrangement.is_empty() { " — " (need.arrangement) } } } }
        },
        CrisisPlanSection::AdvanceStatements => text(&plan.advance_statements),
    };
    html! { section { h2 { (section.title()) } (body) } }
}

/// A time as people in the UK read it (Europe/London, with GMT or BST named).
fn uk_time(at: DateTime<Utc>) -> String {
    at.with_timezone(&London)
        .format("%-d %b %Y, %H:%M %Z")
        .to_string()
}

/// The whole page.
pub fn crisis_plan(
    person_name: &str,
    parts: &CrisisPlanParts,
    printed_at: DateTime<Utc>,
) -> Markup {
    let view = &parts.view;
    html! {
        (DOCTYPE)
        html lang="en-GB" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Crisis plan — " (person_name) }
                style { (STYLE) }
            }
            body {
                header {
                    h1 { "My crisis plan — " (person_name) }
                    div.meta {
                        @match view.version {
                            Some(version) => { "WRAP version " (version) },
                            None => { "No crisis plan written yet" },
                        }
                        @if parts.sections.len() < CrisisPlanSection::ALL.len() {
                            " · Shared sections only"
                        }
                    }
                }
                @if let Some(activation) = &view.activation {
                    div.active {
                        "This plan is in use since " (uk_time(activation.activated_at))
                        ". Reason: " (activation.reason)
                    }
                }
                @if let Some(plan) = &parts.plan {
                    div.grid { @for shown in &parts.sections { (section(plan, *shown)) } }
                }
                footer {
                    "Living Well · printed " (uk_time(printed_at)) " from the person's WRAP. "
                    "Handle as confidential."
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_printed_as_uk_clocks_show_them() {
        let summer: DateTime<Utc> = "2026-07-01T12:00:00Z".parse().unwrap();
        let winter: DateTime<Utc> = "2026-12-01T12:00:00Z".parse().unwrap();
        assert_eq!(uk_time(summer), "1 Jul 2026, 13:00 BST");
        assert_eq!(uk_time(winter), "1 Dec 2026, 12:00 GMT");
    }
}
