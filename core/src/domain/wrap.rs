//! The WRAP — Wellness Recovery Action Plan (SPEC §3.2) — and its crisis plan.
//!
//! The WRAP is the person's own. Its crisis plan is the part they share: a carer sees exactly
//! the sections the person consented to, and the others are *absent* from what the carer
//! receives (not empty, not null), so nothing about them leaks. [`CrisisPlan::shared_sections`]
//! is the one place that cut is made.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::check::Checker;
use super::consent::CrisisPlanSection;
use super::field_error::FieldErrorCode;
use super::ids::UserId;

/// Signs and what to do about them (triggers, early warning signs, breaking down).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SignsAndActions {
    #[serde(default)]
    pub signs: Vec<String>,
    #[serde(default)]
    pub action_plan: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DailyMaintenance {
    /// What I'm like when I'm well.
    #[serde(default)]
    pub when_well: String,
    /// What I need to do every day.
    #[serde(default)]
    pub every_day: Vec<String>,
    /// Things I might do.
    #[serde(default)]
    pub might_do: Vec<String>,
}

/// Someone the person wants to help in a crisis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Supporter {
    pub name: String,
    #[serde(default)]
    pub relationship: String,
    #[serde(default)]
    pub contact: String,
    /// What I'd like them to do.
    #[serde(default)]
    pub role_in_crisis: String,
    /// Their Living Well account, when they have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
}

/// Someone the person does not want involved. With an account id, the rule is enforced: no
/// consent can be granted to them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NotInvolved {
    pub name: String,
    #[serde(default)]
    pub why: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Supporters {
    #[serde(default)]
    pub helpers: Vec<Supporter>,
    #[serde(default)]
    pub not_involved: Vec<NotInvolved>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Medicine {
    pub name: String,
    #[serde(default)]
    pub dose: String,
    #[serde(default)]
    pub notes: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Medication {
    #[serde(default)]
    pub current: Vec<Medicine>,
    #[serde(default)]
    pub acceptable: Vec<String>,
    #[serde(default)]
    pub avoid: Vec<String>,
}

/// Things acceptable and things to avoid (treatments, facilities).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    #[serde(default)]
    pub preferred: Vec<String>,
    #[serde(default)]
    pub avoid: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HelpFromOthers {
    #[serde(default)]
    pub helps: Vec<String>,
    #[serde(default)]
    pub does_not_help: Vec<String>,
}

/// Children, dependants, pets: who looks after what while I am unwell.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PracticalNeed {
    pub need: String,
    #[serde(default)]
    pub arrangement: String,
}

/// The WRAP's crisis plan: the nine parts, practical needs and advance statements.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CrisisPlan {
    /// 1. What I'm like when I'm well.
    #[serde(default)]
    pub when_well: String,
    /// 2. Signs that others need to take over.
    #[serde(default)]
    pub signs_others_take_over: Vec<String>,
    /// 3. Who I want to help, and people I do not want involved.
    #[serde(default)]
    pub supporters: Supporters,
    /// 4. Medication: current, acceptable, to avoid.
    #[serde(default)]
    pub medication: Medication,
    /// 5. Treatments: acceptable (`preferred`), to avoid.
    #[serde(default)]
    pub treatments: Preferences,
    /// 6. Home, community care or respite plan.
    #[serde(default)]
    pub home_and_respite: String,
    /// 7. Treatment facilities: preferred, to avoid.
    #[serde(default)]
    pub treatment_facilities: Preferences,
    /// 8. What helps and what doesn't help from others.
    #[serde(default)]
    pub help_from_others: HelpFromOthers,
    /// 9. Signs that my supporters no longer need to use this plan.
    #[serde(default)]
    pub when_to_stop_using: Vec<String>,
    /// Practical needs while in crisis.
    #[serde(default)]
    pub practical_needs: Vec<PracticalNeed>,
    /// Advance statements.
    #[serde(default)]
    pub advance_statements: String,
}

impl CrisisPlanSection {
    /// The section's key on the wire and in the crisis plan's JSON.
    pub fn key(self) -> &'static str {
        match self {
            CrisisPlanSection::WhenWell => "when_well",
            CrisisPlanSection::SignsOthersTakeOver => "signs_others_take_over",
            CrisisPlanSection::Supporters => "supporters",
            CrisisPlanSection::Medication => "medication",
            CrisisPlanSection::Treatments => "treatments",
            CrisisPlanSection::HomeAndRespite => "home_and_respite",
            CrisisPlanSection::TreatmentFacilities => "treatment_facilities",
            CrisisPlanSection::HelpFromOthers => "help_from_others",
            CrisisPlanSection::WhenToStopUsing => "when_to_stop_using",
            CrisisPlanSection::PracticalNeeds => "practical_needs",
            CrisisPlanSection::AdvanceStatements => "advance_statements",
        }
    }

    /// The heading a person reads.
    pub fn title(self) -> &'static str {
        match self {
            CrisisPlanSection::WhenWell => "What I'm like when I'm well",
            CrisisPlanSection::SignsOthersTakeOver => "Signs that others need to take over",
            CrisisPlanSection::Supporters => "My supporters",
            CrisisPlanSection::Medication => "Medication",
            CrisisPlanSection::Treatments => "Treatments",
            CrisisPlanSection::HomeAndRespite => "Home, community care or respite",
            CrisisPlanSection::TreatmentFacilities => "Treatment facilities",
            CrisisPlanSection::HelpFromOthers => "What helps, and what doesn't, from others",
            CrisisPlanSection::WhenToStopUsing => "When my supporters can stop using this plan",
            CrisisPlanSection::PracticalNeeds => "Practical needs",
            CrisisPlanSection::AdvanceStatements => "Advance statements",
        }
    }
}

impl CrisisPlan {
    /// The crisis plan as a JSON object holding only `sections`; the others are absent.
    pub fn shared_sections(
        &self,
        sections: &BTreeSet<CrisisPlanSection>,
    ) -> serde_json::Map<String, serde_json::Value> {
        let serde_json::Value::Object(mut all) = serde_json::to_value(self).unwrap_or_default()
        else {
            return serde_json::Map::new();
        };
        let keep: BTreeSet<&str> = sections.iter().map(|s| s.key()).collect();
        all.retain(|key, _| keep.contains(key.as_str()));
        all
    }

    /// Accounts the person does not want involved.
    pub fn excluded_accounts(&self) -> BTreeSet<UserId> {
        self.supporters
            .not_involved
            .iter()
            .filter_map(|p| p.user_id)
            .collect()
    }

    pub fn check(&self, checker: &mut Checker, prefix: &str) {
        let at = |field: &str| format!("{prefix}{field}");
        checker.text(&at("when_well"), &self.when_well);
        checker.text_list(&at("signs_others_take_over"), &self.signs_others_take_over);
        let helpers = &self.supporters.helpers;
        if checker.list_length(&at("supporters.helpers"), helpers.len()) {
            for (i, helper) in helpers.iter().enumerate() {
                let path = at(&format!("supporters.helpers[{i}]"));
                checker.name(&format!("{path}.name"), &helper.name);
                checker.text(&format!("{path}.relationship"), &helper.relationship);
                checker.text(&format!("{path}.contact"), &helper.contact);
                checker.text(&format!("{path}.role_in_crisis"), &helper.role_in_crisis);
            }
        }
        let excluded = self.excluded_accounts();
        let not_involved = &self.supporters.not_involved;
        if checker.list_length(&at("supporters.not_involved"), not_involved.len()) {
            for (i, person) in not_involved.iter().enumerate() {
                let path = at(&format!("supporters.not_involved[{i}]"));
                checker.name(&format!("{path}.name"), &person.name);
                checker.text(&format!("{path}.why"), &person.why);
            }
        }
        // Nobody can be both a supporter and someone not to involve.
        for (i, helper) in helpers.iter().enumerate() {
            if helper.user_id.is_some_and(|id| excluded.contains(&id)) {
                checker.push(
                    at(&format!("supporters.helpers[{i}].user_id")),
                    FieldErrorCode::NotInvolved,
                );
            }
        }
        let medication = &self.medication;
        if checker.list_length(&at("medication.current"), medication.current.len()) {
            for (i, medicine) in medication.current.iter().enumerate() {
                let path = at(&format!("medication.current[{i}]"));
                checker.required_text(&format!("{path}.name"), &medicine.name);
                checker.text(&format!("{path}.dose"), &medicine.dose);
                checker.text(&format!("{path}.notes"), &medicine.notes);
            }
        }
        checker.text_list(&at("medication.acceptable"), &medication.acceptable);
        checker.text_list(&at("medication.avoid"), &medication.avoid);
        checker.text_list(&at("treatments.preferred"), &self.treatments.preferred);
        checker.text_list(&at("treatments.avoid"), &self.treatments.avoid);
        checker.text(&at("home_and_respite"), &self.home_and_respite);
        checker.text_list(
            &at("treatment_facilities.preferred"),
            &self.treatment_facilities.preferred,
        );
        checker.text_list(
            &at("treatment_facilities.avoid"),
            &self.treatment_facilities.avoid,
        );
        checker.text_list(&at("help_from_others.helps"), &self.help_from_others.helps);
        checker.text_list(
            &at("help_from_others.does_not_help"),
            &self.help_from_others.does_not_help,
        );
        checker.text_list(&at("when_to_stop_using"), &self.when_to_stop_using);
        if checker.list_length(&at("practical_needs"), self.practical_needs.len()) {
            for (i, need) in self.practical_needs.iter().enumerate() {
                let path = at(&format!("practical_needs[{i}]"));
                checker.required_text(&format!("{path}.need"), &need.need);
                checker.text(&format!("{path}.arrangement"), &need.arrangement);
            }
        }
        checker.text(&at("advance_statements"), &self.advance_statements);
    }
}

/// The whole WRAP.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Wrap {
    /// 1. Things that help me stay well.
    #[serde(default)]
    pub wellness_toolbox: Vec<String>,
    /// 2. Daily maintenance plan.
    #[serde(default)]
    pub daily_maintenance: DailyMaintenance,
    /// 3. Triggers and my action plan.
    #[serde(default)]
    pub triggers: SignsAndActions,
    /// 4. Early warning signs and my action plan.
    #[serde(default)]
    pub early_warning_signs: SignsAndActions,
    /// 5. When things are breaking down, and my action plan.
    #[serde(default)]
    pub breaking_down: SignsAndActions,
    /// 6. The crisis plan.
    #[serde(default)]
    pub crisis_plan: CrisisPlan,
    /// 7. Post-crisis plan.
    #[serde(default)]
    pub post_crisis_plan: String,
}

impl Wrap {
    pub fn check(&self, checker: &mut Checker, prefix: &str) {
        let at = |field: &str| format!("{prefix}{field}");
        checker.text_list(&at("wellness_toolbox"), &self.wellness_toolbox);
        checker.text(
            &at("daily_maintenance.when_well"),
            &self.daily_maintenance.when_well,
        );
        checker.text_list(
            &at("daily_maintenance.every_day"),
            &self.daily_maintenance.every_day,
        );
        checker.text_list(
            &at("daily_maintenance.might_do"),
            &self.daily_maintenance.might_do,
        );
        for (name, section) in [
            ("triggers", &self.triggers),
            ("early_warning_signs", &self.early_warning_signs),
            ("breaking_down", &self.breaking_down),
        ] {
            checker.text_list(&at(&format!("{name}.signs")), &section.signs);
            checker.text_list(&at(&format!("{name}.action_plan")), &section.action_plan);
        }
        self.crisis_plan.check(checker, &at("crisis_plan."));
        checker.text(&at("post_crisis_plan"), &self.post_crisis_plan);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_sections_leave_the_rest_absent() {
        let plan = CrisisPlan {
            when_well: "Chatty, out walking".into(),
            medication: Medication {
                avoid: vec!["Something".into()],
                ..Default::default()
            },
            ..Default::default()
        };
        let shared = plan.shared_sections(&[CrisisPlanSection::WhenWell].into());
        assert_eq!(shared.len(), 1);
        assert_eq!(shared["when_well"], "Chatty, out walking");
        assert!(!shared.contains_key("medication"));
    }

    #[test]
    fn every_section_key_is_a_field_of_the_plan() {
        let all =
            CrisisPlan::default().shared_sections(&CrisisPlanSection::ALL.into_iter().collect());
        assert_eq!(all.len(), CrisisPlanSection::ALL.len());
    }

    #[test]
    fn a_supporter_cannot_also_be_someone_not_to_involve() {
        let id = UserId::new();
        let plan = CrisisPlan {
            supporters: Supporters {
                helpers: vec![Supporter {
                    name: "Sam".into(),
                    relationship: String::new(),
                    contact: String::new(),
                    role_in_crisis: String::new(),
                    user_id: Some(id),
                }],
                not_involved: vec![NotInvolved {
                    name: "Sam".into(),
                    why: String::new(),
                    user_id: Some(id),
                }],
            },
            ..Default::default()
        };
        let mut checker = Checker::new();
        plan.check(&mut checker, "");
        let errors = checker.into_errors();
        assert_eq!(errors[0].field, "supporters.helpers[0].user_id");
        assert_eq!(errors[0].code, FieldErrorCode::NotInvolved);
    }
}
