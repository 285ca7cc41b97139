//! The Enablement Plan — "plan on a page" (SPEC §3.1).
//!
//! One current plan per person; every change is a new immutable version (kept by the server).
//! The plan is co-produced: wherever a section holds free text, the person's own words and the
//! worker's words are kept apart ([`Words`]), so neither can overwrite the other's account.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::check::Checker;
use super::field_error::FieldErrorCode;

/// One section's text in two voices.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Words {
    /// In the person's own words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
    /// The worker's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
}

impl Words {
    fn check(&self, checker: &mut Checker, path: &str) {
        checker.optional_text(&format!("{path}.person"), self.person.as_deref());
        checker.optional_text(&format!("{path}.worker"), self.worker.as_deref());
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AboutMe {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pronouns: Option<String>,
    #[serde(default)]
    pub what_matters_to_me: Words,
    #[serde(default)]
    pub strengths: Words,
    #[serde(default)]
    pub communication_needs: Words,
    #[serde(default)]
    pub cultural_needs: Words,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum GoalStatus {
    NotStarted,
    InProgress,
    Achieved,
    OnHold,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GoalStep {
    pub description: String,
    #[serde(default)]
    pub done: bool,
}

/// A self-directed outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Goal {
    /// The goal in the person's words (and the worker's, kept apart).
    pub outcome: Words,
    #[serde(default)]
    pub steps: Vec<GoalStep>,
    pub status: GoalStatus,
}

/// How much support, with what that level carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "level", rename_all = "snake_case", deny_unknown_fields)]
pub enum SupportLevel {
    /// Signposting only.
    PreEnablement,
    /// Six weeks of brief support.
    Brief {
        starts_on: NaiveDate,
        ends_on: NaiveDate,
    },
    /// Longer-term: allocated peer worker, family therapy, intensive recovery, step-down.
    Enhanced,
    /// CMHT, complex needs.
    Specialist,
}

/// The longest a brief intervention runs.
pub const BRIEF_SUPPORT_MAX_DAYS: i64 = 42;

/// The resource catalogue of enablement modules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ModuleKind {
    InformationAndAdvice,
    NavigatorSupport,
    SocialTherapy,
    WrapGroup,
    NewSkillsGroup,
    SkillsForLivingGroup,
    ActivitiesOfDailyLivingGroup,
    SkillsWithEmployersGroup,
    PeerSupport,
    Outreach,
    HousingSupport,
    PhysicalHealth,
    EmploymentSupport,
    Safeguarding,
    CmhtAssessment,
    TalkingTherapiesReferral,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ModuleStatus {
    Proposed,
    Referred,
    Active,
    Completed,
    Declined,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EnablementModule {
    pub module: ModuleKind,
    pub provider: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_worker: Option<String>,
    pub status: ModuleStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_on: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_on: Option<NaiveDate>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Hub {
    pub name: String,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub opening_hours: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct KeyContacts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enablement_lead: Option<Contact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_worker: Option<Contact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_worker: Option<Contact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hub: Option<Hub>,
}

/// The ten life domains rated 1–10. Keys are stable; the labels a person sees are the
/// deployment's (see [`default_outcome_labels`]).
pub const OUTCOME_DOMAINS: [&str; 10] = [
    "managing_mental_health",
    "physical_health_and_self_care",
    "living_skills",
    "social_networks",
    "work",
    "relationships",
    "addictive_behaviour",
    "responsibilities",
    "identity_and_self_esteem",
    "trust_and_hope",
];

/// Generic, licence-neutral labels for the outcome domains.
pub fn default_outcome_labels() -> BTreeMap<String, String> {
    let labels = [
        "Managing mental health",
        "Physical health and self-care",
        "Living skills",
        "Social networks",
        "Work",
        "Relationships",
        "Addictive behaviour",
        "Responsibilities",
        "Identity and self-esteem",
        "Trust and hope",
    ];
    OUTCOME_DOMAINS
        .iter()
        .zip(labels)
        .map(|(k, v)| ((*k).to_owned(), v.to_owned()))
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RatingOccasion {
    Baseline,
    Review,
}

/// One set of ratings: the baseline or a review, agreed with the person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OutcomeRating {
    pub rated_on: NaiveDate,
    pub occasion: RatingOccasion,
    /// Domain key → 1 (stuck) … 10 (self-reliant).
    pub scores: BTreeMap<String, u8>,
    #[serde(default)]
    pub agreed_with_person: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CareActOutcome {
    Eligible,
    NotEligible,
    #[default]
    Pending,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum StatutoryAssessment {
    Safeguarding,
    MentalHealthAct,
    MentalCapacityAct,
}

/// Care Act 2014 eligibility and the statutory assessments it triggered.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Eligibility {
    #[serde(default)]
    pub care_act: CareActOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_on: Option<NaiveDate>,
    #[serde(default)]
    pub statutory_assessments: BTreeSet<StatutoryAssessment>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReferralStatus {
    #[default]
    NotNeeded,
    ToRefer,
    Referred,
    Accepted,
    Declined,
}

/// Housing or employment: what is needed, and where a referral stands.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NeedAndReferral {
    #[serde(default)]
    pub needs: Words,
    #[serde(default)]
    pub referral: ReferralStatus,
}

/// The plan's sections, as named in comments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PlanSection {
    AboutMe,
    Goals,
    SupportLevel,
    Modules,
    KeyContacts,
    OutcomeRatings,
    Eligibility,
    Housing,
    Employment,
    ReviewDate,
}

impl PlanSection {
    pub fn as_str(self) -> &'static str {
        match self {
            PlanSection::AboutMe => "about_me",
            PlanSection::Goals => "goals",
            PlanSection::SupportLevel => "support_level",
            PlanSection::Modules => "modules",
            PlanSection::KeyContacts => "key_contacts",
            PlanSection::OutcomeRatings => "outcome_ratings",
            PlanSection::Eligibility => "eligibility",
            PlanSection::Housing => "housing",
            PlanSection::Employment => "employment",
            PlanSection::ReviewDate => "review_date",
        }
    }
}

/// The Enablement Plan's content (one version of it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EnablementPlan {
    #[serde(default)]
    pub about_me: AboutMe,
    #[serde(default)]
    pub goals: Vec<Goal>,
    pub support_level: SupportLevel,
    #[serde(default)]
    pub modules: Vec<EnablementModule>,
    #[serde(default)]
    pub key_contacts: KeyContacts,
    #[serde(default)]
    pub outcome_ratings: Vec<OutcomeRating>,
    #[serde(default)]
    pub eligibility: Eligibility,
    #[serde(default)]
    pub housing: NeedAndReferral,
    #[serde(default)]
    pub employment: NeedAndReferral,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_on: Option<NaiveDate>,
}

/// What a person can share with their allocated peer worker of the plan (SPEC §2, "summary if
/// shared"): their goals in their own words, the level of support, key contacts and the review
/// date. The worker's words, ratings, eligibility and needs stay with the team.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanSummary {
    pub goals: Vec<GoalSummary>,
    pub support_level: SupportLevel,
    pub key_contacts: KeyContacts,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_on: Option<NaiveDate>,
}

/// A goal as the summary shows it: the person's words only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GoalSummary {
    /// The goal in the person's own words, if they gave them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    pub steps: Vec<GoalStep>,
    pub status: GoalStatus,
}

fn check_contact(checker: &mut Checker, path: &str, contact: &Contact) {
    checker.name(&format!("{path}.name"), &contact.name);
    checker.optional_text(&format!("{path}.phone"), contact.phone.as_deref());
    checker.optional_text(&format!("{path}.email"), contact.email.as_deref());
}

impl EnablementPlan {
    /// The part of the plan a peer worker may be shown.
    pub fn summary(&self) -> PlanSummary {
        PlanSummary {
            goals: self
                .goals
                .iter()
                .map(|goal| GoalSummary {
                    outcome: goal.outcome.person.clone(),
                    steps: goal.steps.clone(),
                    status: goal.status,
                })
                .collect(),
            support_level: self.support_level.clone(),
            key_contacts: self.key_contacts.clone(),
            review_on: self.review_on,
        }
    }

    /// Every problem, each with the path of its field (prefixed with `prefix`).
    pub fn check(&self, checker: &mut Checker, prefix: &str) {
        let about = &self.about_me;
        let at = |field: &str| format!("{prefix}{field}");
        if let Some(name) = &about.preferred_name {
            checker.name(&at("about_me.preferred_name"), name);
        }
        checker.optional_text(&at("about_me.pronouns"), about.pronouns.as_deref());
        about
            .what_matters_to_me
            .check(checker, &at("about_me.what_matters_to_me"));
        about.strengths.check(checker, &at("about_me.strengths"));
        about
            .communication_needs
            .check(checker, &at("about_me.communication_needs"));
        about
            .cultural_needs
            .check(checker, &at("about_me.cultural_needs"));

        if checker.list_length(&at("goals"), self.goals.len()) {
            for (i, goal) in self.goals.iter().enumerate() {
                let path = at(&format!("goals[{i}]"));
                goal.outcome.check(checker, &format!("{path}.outcome"));
                if goal.outcome.person.is_none() && goal.outcome.worker.is_none() {
                    checker.push(format!("{path}.outcome"), FieldErrorCode::Required);
                }
                if checker.list_length(&format!("{path}.steps"), goal.steps.len()) {
                    for (j, step) in goal.steps.iter().enumerate() {
                        checker.required_text(
                            &format!("{path}.steps[{j}].description"),
                            &step.description,
                        );
                    }
                }
            }
        }

        if let SupportLevel::Brief { starts_on, ends_on } = &self.support_level {
            let days = (*ends_on - *starts_on).num_days();
            if days < 0 {
                checker.push(at("support_level.ends_on"), FieldErrorCode::BeforeStart);
            } else if days > BRIEF_SUPPORT_MAX_DAYS {
                checker.push(
                    at("support_level.ends_on"),
                    FieldErrorCode::LongerThanSixWeeks,
                );
            }
        }

        if checker.list_length(&at("modules"), self.modules.len()) {
            for (i, module) in self.modules.iter().enumerate() {
                let path = at(&format!("modules[{i}]"));
                checker.required_text(&format!("{path}.provider"), &module.provider);
                if let Some(lead) = &module.lead_worker {
                    checker.name(&format!("{path}.lead_worker"), lead);
                }
                if let (Some(start), Some(end)) = (module.starts_on, module.ends_on)
                    && end < start
                {
                    checker.push(format!("{path}.ends_on"), FieldErrorCode::BeforeStart);
                }
            }
        }

        let contacts = &self.key_contacts;
        for (field, contact) in [
            ("enablement_lead", &contacts.enablement_lead),
            ("key_worker", &contacts.key_worker),
            ("peer_worker", &contacts.peer_worker),
        ] {
            if let Some(contact) = contact {
                check_contact(checker, &at(&format!("key_contacts.{field}")), contact);
            }
        }
        if let Some(hub) = &contacts.hub {
            checker.name(&at("key_contacts.hub.name"), &hub.name);
            checker.text(&at("key_contacts.hub.address"), &hub.address);
            checker.text(&at("key_contacts.hub.phone"), &hub.phone);
            checker.text(&at("key_contacts.hub.opening_hours"), &hub.opening_hours);
        }

        if checker.list_length(&at("outcome_ratings"), self.outcome_ratings.len()) {
            for (i, rating) in self.outcome_ratings.iter().enumerate() {
                for (domain, score) in &rating.scores {
                    let path = at(&format!("outcome_ratings[{i}].scores.{domain}"));
                    if !OUTCOME_DOMAINS.contains(&domain.as_str()) {
                        checker.push(
                            at(&format!("outcome_ratings[{i}].scores")),
                            FieldErrorCode::UnknownDomain,
                        );
                    } else if !(1..=10).contains(score) {
                        checker.push(path, FieldErrorCode::OutOfRange);
                    }
                }
            }
            let baselines = self
                .outcome_ratings
                .iter()
                .filter(|r| r.occasion == RatingOccasion::Baseline);
            if baselines.count() > 1 {
                checker.push(at("outcome_ratings"), FieldErrorCode::MoreThanOneBaseline);
            }
        }
        self.housing.needs.check(checker, &at("housing.needs"));
        self.employment
            .needs
            .check(checker, &at("employment.needs"));
    }

    /// Each domain's ratings over time, baseline first, then reviews by date.
    pub fn trajectory(&self) -> BTreeMap<&'static str, Vec<(NaiveDate, RatingOccasion, u8)>> {
        let mut ordered: Vec<&OutcomeRating> = self.outcome_ratings.iter().collect();
        ordered.sort_by_key(|r| (r.occasion != RatingOccasion::Baseline, r.rated_on));
        OUTCOME_DOMAINS
            .iter()
            .map(|domain| {
                let points = ordered
                    .iter()
                    .filter_map(|r| r.scores.get(*domain).map(|s| (r.rated_on, r.occasion, *s)))
                    .collect();
                (*domain, points)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn plan() -> EnablementPlan {
        EnablementPlan {
            about_me: AboutMe::default(),
            goals: vec![],
            support_level: SupportLevel::Enhanced,
            modules: vec![],
            key_contacts: KeyContacts::default(),
            outcome_ratings: vec![],
            eligibility: Eligibility::default(),
            housing: NeedAndReferral::default(),
            employment: NeedAndReferral::default(),
            review_on: None,
        }
    }

    fn errors(plan: &EnablementPlan) -> Vec<(String, String)> {
        let mut checker = Checker::new();
        plan.check(&mut checker, "plan.");
        checker
            .into_errors()
            .into_iter()
            .map(|e| (e.field, e.code.to_string()))
            .collect()
    }

    #[test]
    fn summary_keeps_the_persons_words_and_drops_the_workers() {
        let mut p = plan();
        p.goals.push(Goal {
            outcome: Words {
                person: Some("Get back to the allotment".into()),
                worker: Some("Concerns about isolation".into()),
            },
            steps: vec![GoalStep {
                description: "Visit on Saturday".into(),
                done: false,
            }],
            status: GoalStatus::InProgress,
        });
        p.about_me.what_matters_to_me.worker = Some("Worker's view".into());
        p.review_on = Some(date("2027-01-10"));
        let summary = p.summary();
        assert_eq!(summary.goals.len(), 1);
        assert_eq!(
            summary.goals[0].outcome.as_deref(),
            Some("Get back to the allotment")
        );
        assert_eq!(summary.review_on, Some(date("2027-01-10")));
        let json = serde_json::to_string(&summary).unwrap();
        assert!(!json.contains("isolation") && !json.contains("Worker's view"));
    }

    #[test]
    fn brief_support_is_six_weeks_at_most() {
        let mut p = plan();
        p.support_level = SupportLevel::Brief {
            starts_on: date("2026-11-02"),
            ends_on: date("2026-12-14"),
        };
        assert!(errors(&p).is_empty());
        p.support_level = SupportLevel::Brief {
            starts_on: date("2026-11-02"),
            ends_on: date("2026-12-15"),
        };
        assert_eq!(
            errors(&p),
            [(
                "plan.support_level.ends_on".into(),
                "longer_than_six_weeks".into()
            )]
        );
    }

    #[test]
    fn ratings_are_one_to_ten_on_known_domains() {
        let mut p = plan();
        p.outcome_ratings.push(OutcomeRating {
            rated_on: date("2026-09-01"),
            occasion: RatingOccasion::Baseline,
            scores: [("work".to_owned(), 0), ("trust_and_hope".to_owned(), 4)].into(),
            agreed_with_person: true,
        });
        assert_eq!(
            errors(&p),
            [(
                "plan.outcome_ratings[0].scores.work".into(),
                "out_of_range".into()
            )]
        );
    }

    #[test]
    fn trajectory_puts_the_baseline_first() {
        let mut p = plan();
        for (day, occasion, score) in [
            ("2026-11-01", RatingOccasion::Review, 6),
            ("2026-09-01", RatingOccasion::Baseline, 3),
            ("2026-10-01", RatingOccasion::Review, 5),
        ] {
            p.outcome_ratings.push(OutcomeRating {
                rated_on: date(day),
                occasion,
                scores: [("work".to_owned(), score)].into(),
                agreed_with_person: true,
            });
        }
        let work: Vec<u8> = p.trajectory()["work"].iter().map(|(_, _, s)| *s).collect();
        assert_eq!(work, [3, 5, 6]);
        assert!(p.trajectory()["living_skills"].is_empty());
    }
}
