//! The crisis plan as a FHIR narrative: XHTML a person can read, since the crisis plan is the
//! person's own words in sections rather than coded data.
//!
//! maud escapes every interpolated string, so nothing a person wrote becomes markup. The
//! narrative must be well-formed XML in FHIR's XHTML subset: one `div` in the XHTML namespace,
//! only elements FHIR allows (no `section`, no void elements such as `br`), no attributes but
//! `xmlns` and `class`.

use chrono::{DateTime, Utc};
use livingwell_core::domain::CrisisPlanSection;
use livingwell_core::domain::wrap::{CrisisPlan, Preferences};
use maud::{Markup, html};

use super::model::Narrative;

fn list(items: &[String]) -> Markup {
    let items: Vec<&String> = items.iter().filter(|i| !i.trim().is_empty()).collect();
    html! {
        @if items.is_empty() { p class="empty" { "Nothing written." } }
        @else { ul { @for item in items { li { (item) } } } }
    }
}

fn text(value: &str) -> Markup {
    html! {
        @if value.trim().is_empty() { p class="empty" { "Nothing written." } }
        @else { p { (value) } }
    }
}

fn preferences(value: &Preferences, preferred: &str) -> Markup {
    html! {
        h4 { (preferred) } (list(&value.preferred))
        h4 { "To avoid" } (list(&value.avoid))
    }
}

/// One part with its parts joined by " — ", those that say something.
fn joined(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|part| part.trim())
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" — ")
}

fn section(plan: &CrisisPlan, section: CrisisPlanSection) -> Markup {
    let body = match section {
        CrisisPlanSection::WhenWell => text(&plan.when_well),
        CrisisPlanSection::SignsOthersTakeOver => list(&plan.signs_others_take_over),
        CrisisPlanSection::Supporters => {
            let helpers: Vec<String> = plan
                .supporters
                .helpers
                .iter()
                .map(|h| joined(&[&h.name, &h.relationship, &h.contact, &h.role_in_crisis]))
                .collect();
            let not_involved: Vec<String> = plan
                .supporters
                .not_involved
                .iter()
                .map(|p| joined(&[&p.name, &p.why]))
                .collect();
            html! {
                h4 { "Who I want to help" } (list(&helpers))
                h4 { "People I do not want involved" } (list(&not_involved))
            }
        }
        CrisisPlanSection::Medication => {
            let current: Vec<String> = plan
                .medication
                .current
                .iter()
                .map(|m| joined(&[&m.name, &m.dose, &m.notes]))
                .collect();
            html! {
                h4 { "Current" } (list(&current))
                h4 { "Acceptable" } (list(&plan.medication.acceptable))
                h4 { "To avoid" } (list(&plan.medication.avoid))
            }
        }
        CrisisPlanSection::Treatments => preferences(&plan.treatments, "Acceptable"),
        CrisisPlanSection::HomeAndRespite => text(&plan.home_and_respite),
        CrisisPlanSection::TreatmentFacilities => {
            preferences(&plan.treatment_facilities, "Preferred")
        }
        CrisisPlanSection::HelpFromOthers => html! {
            h4 { "Helps" } (list(&plan.help_from_others.helps))
            h4 { "Does not help" } (list(&plan.help_from_others.does_not_help))
        },
        CrisisPlanSection::WhenToStopUsing => list(&plan.when_to_stop_using),
        CrisisPlanSection::PracticalNeeds => {
            let needs: Vec<String> = plan
                .practical_needs
                .iter()
                .map(|n| joined(&[&n.need, &n.arrangement]))
                .collect();
            list(&needs)
        }
        CrisisPlanSection::AdvanceStatements => text(&plan.advance_statements),
    };
    html! { div { h3 { (section.title()) } (body) } }
}

/// The whole crisis plan, every section, and since when it has been in use if it is.
pub fn crisis_plan(plan: &CrisisPlan, in_use_since: Option<DateTime<Utc>>) -> Narrative {
    let div = html! {
        div xmlns="http://www.w3.org/1999/xhtml" {
            h2 { "Crisis plan" }
            @if let Some(since) = in_use_since {
                p { b { "In use since " (super::date_time(since)) } }
            }
            @for part in CrisisPlanSection::ALL { (section(plan, part)) }
        }
    };
    Narrative {
        status: "generated".to_owned(),
        div: div.into_string(),
    }
}

#[cfg(test)]
mod tests {
    use livingwell_core::domain::wrap::Supporter;

    use super::*;

    #[test]
    fn what_a_person_wrote_is_escaped_and_the_markup_is_fhirs() {
        let mut plan = CrisisPlan {
            when_well: "I <b>laugh</b> & cook".to_owned(),
            ..CrisisPlan::default()
        };
        plan.supporters.helpers.push(Supporter {
            name: "Sam".to_owned(),
            relationship: "sister".to_owned(),
            contact: String::new(),
            role_in_crisis: "Stay with me".to_owned(),
            user_id: None,
        });
        let div = crisis_plan(&plan, None).div;
        assert!(
            div.starts_with("<div xmlns=\"http://www.w3.org/1999/xhtml\">"),
            "{div}"
        );
        assert!(
            div.contains("I &lt;b&gt;laugh&lt;/b&gt; &amp; cook"),
            "{div}"
        );
        assert!(div.contains("Sam — sister — Stay with me"), "{div}");
        for refused in ["<section", "<br", "<script", "style="] {
            assert!(!div.contains(refused), "{refused} in {div}");
        }
    }
}
