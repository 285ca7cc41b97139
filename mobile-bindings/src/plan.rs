//! The Enablement Plan as the person and their team read it: the plan (or, for a peer worker
//! it is shared with, its summary) from the store; comments from the server; a comment, a
//! disagreement or an agreement queued like any write.

use std::collections::HashMap;

use chrono::NaiveDate;
use livingwell_core::api::plans::{
    AgreeRequest, AgreementView, AuthorView, CommentPage, CommentQuery, CommentRequest,
    CommentView, EnablementPlanSummaryView, EnablementPlanView,
};
use livingwell_core::api::sync::SyncKind;
use livingwell_core::domain::PersonId;
use livingwell_core::domain::plan::{
    self, AboutMe, CareActOutcome, Contact, EnablementModule, Goal, GoalStatus, GoalStep,
    GoalSummary, Hub, KeyContacts, ModuleKind, ModuleStatus, NeedAndReferral, PlanSection,
    PlanSummary, RatingOccasion, ReferralStatus, StatutoryAssessment, SupportLevel, Words,
};

use crate::client::Client;
use crate::error::ClientError;
use crate::types::Timestamp;

/// The current version of a person's Enablement Plan.
#[derive(Clone, Debug, uniffi::Record)]
pub struct PlanScreen {
    pub person_id: PersonId,
    /// The version to agree to (`agree_to_plan`).
    pub version: i32,
    pub plan: Plan,
    pub written_by: AuthorView,
    pub written_at: Timestamp,
    /// Who agreed this version.
    pub agreements: Vec<AgreementView>,
}

impl From<EnablementPlanView> for PlanScreen {
    fn from(view: EnablementPlanView) -> Self {
        Self {
            person_id: view.person_id,
            version: view.version,
            plan: view.plan.into(),
            written_by: view.author,
            written_at: view.created_at,
            agreements: view.agreements,
        }
    }
}

/// The Enablement Plan's content: the core's, field for field, with its set and map as a
/// list and a map the platforms have.
#[derive(Clone, Debug, uniffi::Record)]
pub struct Plan {
    pub about_me: AboutMe,
    pub goals: Vec<Goal>,
    pub support_level: SupportLevel,
    pub modules: Vec<EnablementModule>,
    pub key_contacts: KeyContacts,
    pub outcome_ratings: Vec<OutcomeRating>,
    pub eligibility: Eligibility,
    pub housing: NeedAndReferral,
    pub employment: NeedAndReferral,
    pub review_on: Option<NaiveDate>,
}

impl From<plan::EnablementPlan> for Plan {
    fn from(plan: plan::EnablementPlan) -> Self {
        Self {
            about_me: plan.about_me,
            goals: plan.goals,
            support_level: plan.support_level,
            modules: plan.modules,
            key_contacts: plan.key_contacts,
            outcome_ratings: plan.outcome_ratings.into_iter().map(Into::into).collect(),
            eligibility: plan.eligibility.into(),
            housing: plan.housing,
            employment: plan.employment,
            review_on: plan.review_on,
        }
    }
}

/// One set of outcome ratings: domain key → 1 (stuck) … 10 (self-reliant). The labels are
/// [`outcome_domains`].
#[derive(Clone, Debug, uniffi::Record)]
pub struct OutcomeRating {
    pub rated_on: NaiveDate,
    pub occasion: RatingOccasion,
    pub scores: HashMap<String, u8>,
    pub agreed_with_person: bool,
}

impl From<plan::OutcomeRating> for OutcomeRating {
    fn from(rating: plan::OutcomeRating) -> Self {
        Self {
            rated_on: rating.rated_on,
            occasion: rating.occasion,
            scores: rating.scores.into_iter().collect(),
            agreed_with_person: rating.agreed_with_person,
        }
    }
}

/// Care Act 2014 eligibility and the statutory assessments it triggered.
#[derive(Clone, Debug, uniffi::Record)]
pub struct Eligibility {
    pub care_act: CareActOutcome,
    pub decided_on: Option<NaiveDate>,
    pub statutory_assessments: Vec<StatutoryAssessment>,
}

impl From<plan::Eligibility> for Eligibility {
    fn from(eligibility: plan::Eligibility) -> Self {
        Self {
            care_act: eligibility.care_act,
            decided_on: eligibility.decided_on,
            statutory_assessments: eligibility.statutory_assessments.into_iter().collect(),
        }
    }
}

/// An outcome domain: the key a rating's scores use, and the label the person reads.
#[derive(Clone, Debug, uniffi::Record)]
pub struct OutcomeDomain {
    pub key: String,
    pub label: String,
}

/// The ten outcome domains, in the order the ratings are shown.
#[uniffi::export]
pub fn outcome_domains() -> Vec<OutcomeDomain> {
    let mut labels = plan::default_outcome_labels();
    plan::OUTCOME_DOMAINS
        .iter()
        .map(|key| OutcomeDomain {
            key: (*key).to_owned(),
            label: labels.remove(*key).unwrap_or_default(),
        })
        .collect()
}

#[uniffi::export(async_runtime = "tokio")]
impl Client {
    /// A person's current Enablement Plan, from the store.
    pub async fn enablement_plan(
        &self,
        person_id: PersonId,
    ) -> Result<Option<PlanScreen>, ClientError> {
        Ok(self
            .engine
            .show_as::<EnablementPlanView>(SyncKind::EnablementPlan, &person_id.to_string())
            .await?
            .map(Into::into))
    }

    /// The summary of a person's plan they share with their peer worker, from the store.
    pub async fn plan_summary(
        &self,
        person_id: PersonId,
    ) -> Result<Option<EnablementPlanSummaryView>, ClientError> {
        Ok(self
            .engine
            .show_as(SyncKind::EnablementPlanSummary, &person_id.to_string())
            .await?)
    }

    /// A page of the comments on the plan, newest first, from the server (needs the
    /// network); `cursor` is the previous page's `next_cursor`.
    pub async fn plan_comments(
        &self,
        person_id: PersonId,
        cursor: Option<String>,
    ) -> Result<CommentPage, ClientError> {
        let query = CommentQuery {
            cursor,
            limit: None,
        };
        Ok(self.engine.plan_comments(person_id, &query).await?)
    }

    /// Queues a comment on a section of the plan; `disagree` marks it "where I disagree".
    pub fn comment_on_plan(
        &self,
        person_id: PersonId,
        section: PlanSection,
        body: String,
        disagree: bool,
    ) -> Result<i64, ClientError> {
        let request = CommentRequest {
            section,
            body,
            disagree,
        };
        Ok(self.engine.comment_on_plan(person_id, &request)?.id)
    }

    /// Queues the person's agreement to this version of their plan.
    pub fn agree_to_plan(&self, person_id: PersonId, version: i32) -> Result<i64, ClientError> {
        Ok(self
            .engine
            .agree_to_plan(person_id, &AgreeRequest { version })?
            .id)
    }
}

#[uniffi::remote(Record)]
pub struct AuthorView {
    /// A user id, or `client:<id>` for a staff system.
    pub id: String,
    pub role: String,
    pub name: Option<String>,
}

#[uniffi::remote(Record)]
pub struct AgreementView {
    pub version: i32,
    pub agreed_by: AuthorView,
    pub agreed_at: Timestamp,
}

#[uniffi::remote(Record)]
pub struct CommentView {
    pub id: uuid::Uuid,
    pub version: i32,
    pub section: PlanSection,
    pub body: String,
    pub disagree: bool,
    pub author: AuthorView,
    pub created_at: Timestamp,
}

#[uniffi::remote(Record)]
pub struct CommentPage {
    pub comments: Vec<CommentView>,
    pub next_cursor: Option<String>,
}

#[uniffi::remote(Record)]
pub struct EnablementPlanSummaryView {
    pub person_id: PersonId,
    pub version: i32,
    pub summary: PlanSummary,
    pub created_at: Timestamp,
}

#[uniffi::remote(Record)]
pub struct PlanSummary {
    pub goals: Vec<GoalSummary>,
    pub support_level: SupportLevel,
    pub key_contacts: KeyContacts,
    pub review_on: Option<NaiveDate>,
}

#[uniffi::remote(Record)]
pub struct GoalSummary {
    pub outcome: Option<String>,
    pub steps: Vec<GoalStep>,
    pub status: GoalStatus,
}

#[uniffi::remote(Record)]
pub struct Words {
    /// In the person's own words.
    pub person: Option<String>,
    /// The worker's words.
    pub worker: Option<String>,
}

#[uniffi::remote(Record)]
pub struct AboutMe {
    pub preferred_name: Option<String>,
    pub pronouns: Option<String>,
    pub what_matters_to_me: Words,
    pub strengths: Words,
    pub communication_needs: Words,
    pub cultural_needs: Words,
}

#[uniffi::remote(Enum)]
pub enum GoalStatus {
    NotStarted,
    InProgress,
    Achieved,
    OnHold,
}

#[uniffi::remote(Record)]
pub struct GoalStep {
    pub description: String,
    pub done: bool,
}

#[uniffi::remote(Record)]
pub struct Goal {
    pub outcome: Words,
    pub steps: Vec<GoalStep>,
    pub status: GoalStatus,
}

#[uniffi::remote(Enum)]
pub enum SupportLevel {
    PreEnablement,
    Brief {
        starts_on: NaiveDate,
        ends_on: NaiveDate,
    },
    Enhanced,
    Specialist,
}

#[uniffi::remote(Enum)]
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

#[uniffi::remote(Enum)]
pub enum ModuleStatus {
    Proposed,
    Referred,
    Active,
    Completed,
    Declined,
}

#[uniffi::remote(Record)]
pub struct EnablementModule {
    pub module: ModuleKind,
    pub provider: String,
    pub lead_worker: Option<String>,
    pub status: ModuleStatus,
    pub starts_on: Option<NaiveDate>,
    pub ends_on: Option<NaiveDate>,
}

#[uniffi::remote(Record)]
pub struct Contact {
    pub name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
}

#[uniffi::remote(Record)]
pub struct Hub {
    pub name: String,
    pub address: String,
    pub phone: String,
    pub opening_hours: String,
}

#[uniffi::remote(Record)]
pub struct KeyContacts {
    pub enablement_lead: Option<Contact>,
    pub key_worker: Option<Contact>,
    pub peer_worker: Option<Contact>,
    pub hub: Option<Hub>,
}

#[uniffi::remote(Enum)]
pub enum RatingOccasion {
    Baseline,
    Review,
}

#[uniffi::remote(Enum)]
pub enum CareActOutcome {
    Eligible,
    NotEligible,
    Pending,
}

#[uniffi::remote(Enum)]
pub enum StatutoryAssessment {
    Safeguarding,
    MentalHealthAct,
    MentalCapacityAct,
}

#[uniffi::remote(Enum)]
pub enum ReferralStatus {
    NotNeeded,
    ToRefer,
    Referred,
    Accepted,
    Declined,
}

#[uniffi::remote(Record)]
pub struct NeedAndReferral {
    pub needs: Words,
    pub referral: ReferralStatus,
}

#[uniffi::remote(Enum)]
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
