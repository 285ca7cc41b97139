//! The Enablement Plan and the WRAP's crisis plan (CarePlan), the plan's goals (Goal) and its
//! outcome ratings (Observation).
//!
//! The Enablement Plan is a CarePlan of category `enablement-plan`: its level of support (a
//! second category), brief support's dates (`period`), its goals and, as activities, the
//! enablement modules (provider and lead worker as performers) and each goal's steps. The
//! crisis plan is a CarePlan of its own, category `crisis-plan`, whose content — the person's
//! own words, section by section — is its narrative. Both show their current version
//! (`meta.versionId`). Goals and ratings are named by the version they are in (see [`ids`]).

use std::collections::BTreeMap;

use axum::extract::State;
use livingwell_core::domain::PersonId;
use livingwell_core::domain::plan::{
    EnablementPlan, GoalStatus, ModuleStatus, OUTCOME_DOMAINS, RatingOccasion, SupportLevel,
};
use livingwell_core::domain::wrap::Wrap;
use serde::de::DeserializeOwned;

use super::codes::{
    self, CARE_PLAN_CATEGORY, ENABLEMENT_MODULE, Local, OUTCOME_DOMAIN, RATING_OCCASION,
    SUPPORT_LEVEL,
};
use super::ids::{self, CarePlanKind, InPlan};
use super::model::{
    self, Annotation, CarePlanActivity, CarePlanActivityDetail, CodeableConcept, Meta, Period,
    Quantity, Reference, ReferenceRange, Resource,
};
use super::narrative;
use super::outcome::{FhirError, FhirResult};
use super::search::{Search, page, read_version_cursor, version_cursor};
use super::{Fhir, FhirRequest, said, subject};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::extract::Path;
use crate::policy::Resource as Part;
use crate::store::plans::{PlanKind, PlanVersionRecord};

fn decode<T: DeserializeOwned>(record: &PlanVersionRecord) -> FhirResult<T> {
    record
        .body
        .decode()
        .map_err(|_| FhirError::Api(ApiError::Internal("stored plan")))
}

fn version_meta(record: &PlanVersionRecord) -> Option<Meta> {
    Some(Meta {
        version_id: Some(record.version.to_string()),
        last_updated: Some(record.created_at),
        profile: Vec::new(),
    })
}

fn care_plan_reference(person: PersonId, kind: CarePlanKind) -> Reference {
    Reference::to(format!("CarePlan/{}", ids::care_plan(person, kind)))
}

fn support_level(level: &SupportLevel) -> (&'static str, &'static str) {
    match level {
        SupportLevel::PreEnablement => ("pre_enablement", "Pre-enablement (signposting)"),
        SupportLevel::Brief { .. } => ("brief", "Brief support (six weeks)"),
        SupportLevel::Enhanced => ("enhanced", "Enhanced support"),
        SupportLevel::Specialist => ("specialist", "Specialist support"),
    }
}

/// The key the API writes for a value (its serde name), as a code.
fn key<T: serde::Serialize>(value: &T) -> Option<String> {
    serde_json::to_value(value)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
}

fn module_status(status: ModuleStatus) -> &'static str {
    match status {
        ModuleStatus::Proposed => "not-started",
        ModuleStatus::Referred => "scheduled",
        ModuleStatus::Active => "in-progress",
        ModuleStatus::Completed => "completed",
        ModuleStatus::Declined => "cancelled",
    }
}

fn enablement_care_plan(
    record: &PlanVersionRecord,
    plan: &EnablementPlan,
    codes: Local<'_>,
) -> model::CarePlan {
    let person = record.person_id;
    let at = InPlan {
        person,
        version: record.version,
    };
    let goal_reference = |index| Reference::to(format!("Goal/{}", ids::goal(at, index)));
    let (level, level_display) = support_level(&plan.support_level);
    let modules = plan.modules.iter().map(|module| {
        let performer = [
            said(Some(&module.provider)).map(|p| Reference::named("Organization", p)),
            said(module.lead_worker.as_deref()).map(|w| Reference::named("Practitioner", w)),
        ];
        let scheduled = (module.starts_on.is_some() || module.ends_on.is_some()).then(|| Period {
            start: module.starts_on.map(|d| d.to_string()),
            end: module.ends_on.map(|d| d.to_string()),
        });
        CarePlanActivityDetail {
            code: key(&module.module).map(|code| codes.concept(ENABLEMENT_MODULE, &code, None)),
            goal: Vec::new(),
            status: module_status(module.status).to_owned(),
            scheduled_period: scheduled,
            performer: performer.into_iter().flatten().collect(),
            description: None,
        }
    });
    let steps = plan.goals.iter().enumerate().flat_map(|(index, goal)| {
        goal.steps.iter().map(move |step| CarePlanActivityDetail {
            code: None,
            goal: vec![goal_reference(index)],
            status: if step.done {
                "completed"
            } else {
                "not-started"
            }
            .to_owned(),
            scheduled_period: None,
            performer: Vec::new(),
            description: said(Some(&step.description)),
        })
    });
    model::CarePlan {
        resource_type: model::CarePlanType::CarePlan,
        id: ids::care_plan(person, CarePlanKind::Enablement),
        meta: version_meta(record),
        text: None,
        status: "active".to_owned(),
        intent: "plan".to_owned(),
        category: vec![
            codes.concept(
                CARE_PLAN_CATEGORY,
                "enablement-plan",
                Some("Enablement Plan"),
            ),
            codes.concept(SUPPORT_LEVEL, level, Some(level_display)),
        ],
        title: "Enablement Plan".to_owned(),
        subject: subject(person),
        period: match plan.support_level {
            SupportLevel::Brief { starts_on, ends_on } => Some(Period {
                start: Some(starts_on.to_string()),
                end: Some(ends_on.to_string()),
            }),
            SupportLevel::PreEnablement | SupportLevel::Enhanced | SupportLevel::Specialist => None,
        },
        goal: (0..plan.goals.len()).map(goal_reference).collect(),
        activity: modules
            .chain(steps)
            .map(|detail| CarePlanActivity { detail })
            .collect(),
    }
}

async fn crisis_care_plan(
    state: &AppState,
    record: &PlanVersionRecord,
    codes: Local<'_>,
) -> FhirResult<model::CarePlan> {
    let person = record.person_id;
    let wrap: Wrap = decode(record)?;
    let in_use_since = state
        .store
        .crisis_activations(person, 1)
        .await?
        .into_iter()
        .find(|activation| activation.deactivated_at.is_none())
        .map(|activation| activation.activated_at);
    Ok(model::CarePlan {
        resource_type: model::CarePlanType::CarePlan,
        id: ids::care_plan(person, CarePlanKind::Crisis),
        meta: version_meta(record),
        text: Some(narrative::crisis_plan(&wrap.crisis_plan, in_use_since)),
        status: "active".to_owned(),
        intent: "plan".to_owned(),
        category: vec![codes.concept(
            CARE_PLAN_CATEGORY,
            "crisis-plan",
            Some("Crisis plan (from the WRAP)"),
        )],
        title: "Crisis plan".to_owned(),
        subject: subject(person),
        period: None,
        goal: Vec::new(),
        activity: Vec::new(),
    })
}

/// One of the person's care plans as it stands now, if they have it; decided and audited as
/// the part of the record it is.
async fn care_plan(
    state: &AppState,
    request: &FhirRequest,
    person: PersonId,
    kind: CarePlanKind,
) -> FhirResult<Option<model::CarePlan>> {
    let (part, plan_kind) = match kind {
        CarePlanKind::Enablement => (Part::EnablementPlan, PlanKind::EnablementPlan),
        CarePlanKind::Crisis => (Part::CrisisPlan, PlanKind::Wrap),
    };
    request.authorize(state, person, part).await?;
    let Some(record) = state.store.current_plan(person, plan_kind).await? else {
        return Ok(None);
    };
    Ok(Some(match kind {
        CarePlanKind::Enablement => {
            enablement_care_plan(&record, &decode(&record)?, request.codes())
        }
        CarePlanKind::Crisis => crisis_care_plan(state, &record, request.codes()).await?,
    }))
}

/// The Enablement Plan (`{person}-enablement`) or the crisis plan (`{person}-crisis`).
#[utoipa::path(get, path = "/fhir/r4/CarePlan/{id}", tag = "fhir", security(("bearer" = [])),
    params(("id" = String, Path, description = "`{person}-enablement` or `{person}-crisis`")),
    responses((status = 200, body = model::CarePlan, content_type = "application/fhir+json",
        description = "The plan's current version; `plans:read`")))]
pub(super) async fn read_care_plan(
    State(state): State<AppState>,
    request: FhirRequest,
    Path(id): Path<String>,
) -> FhirResult<Fhir<model::CarePlan>> {
    request.read_only()?;
    let (person, kind) = ids::read_care_plan(&id).ok_or_else(|| request.no_such_record())?;
    care_plan(&state, &request, person, kind)
        .await?
        .map(Fhir)
        .ok_or_else(|| request.no_such_record())
}

/// The person's care plans: the Enablement Plan, then the crisis plan.
#[utoipa::path(get, path = "/fhir/r4/CarePlan", tag = "fhir", security(("bearer" = [])),
    params(
        ("patient" = String, Query, description = "The person, as `Patient/{id}` or `{id}`"),
        ("_count" = Option<i64>, Query, description = "At most this many entries (1–200; 50 if not given)"),
        ("_cursor" = Option<String>, Query, description = "Opaque: from the `next` link of the page before"),
    ),
    responses((status = 200, body = model::Bundle, content_type = "application/fhir+json",
        description = "A searchset Bundle of the person's care plans")))]
pub(super) async fn search_care_plans(
    State(state): State<AppState>,
    request: FhirRequest,
) -> FhirResult<Fhir<model::Bundle>> {
    let search = request.search("CarePlan")?;
    let kinds = [CarePlanKind::Enablement, CarePlanKind::Crisis];
    let start = search
        .cursor(|text| text.parse::<usize>().ok().filter(|at| *at < kinds.len()))?
        .unwrap_or(0);
    // Each plan read is decided and audited as itself: only those on this page.
    let (kinds, next) = page(kinds.to_vec(), start, search.take());
    let mut found = Vec::new();
    for kind in kinds {
        if let Some(plan) = care_plan(&state, &request, search.person, kind).await? {
            found.push((format!("CarePlan/{}", plan.id), Resource::CarePlan(plan)));
        }
    }
    let next = next.map(|at| at.to_string());
    Ok(Fhir(search.bundle(found, next, state.clock.now())))
}

/// The version of the Enablement Plan a goal or rating is read from, and its content.
async fn plan_at(
    state: &AppState,
    person: PersonId,
    version: Option<i32>,
) -> FhirResult<Option<(PlanVersionRecord, EnablementPlan)>> {
    let record = match version {
        Some(version) => {
            state
                .store
                .plan_version(person, PlanKind::EnablementPlan, version)
                .await?
        }
        None => {
            state
                .store
                .current_plan(person, PlanKind::EnablementPlan)
                .await?
        }
    };
    match record {
        Some(record) => {
            let plan = decode(&record)?;
            Ok(Some((record, plan)))
        }
        None => Ok(None),
    }
}

fn goal(record: &PlanVersionRecord, plan: &EnablementPlan, index: usize) -> Option<model::Goal> {
    let goal = plan.goals.get(index)?;
    let person_words = said(goal.outcome.person.as_deref());
    let worker_words = said(goal.outcome.worker.as_deref());
    // The goal in the person's words; the worker's, kept apart, as a note from the worker.
    let (description, note) = match (person_words, worker_words) {
        (Some(person), worker) => (person, worker),
        (None, Some(worker)) => (worker, None),
        (None, None) => return None,
    };
    let (lifecycle, achievement) = match goal.status {
        GoalStatus::NotStarted => ("planned", None),
        GoalStatus::InProgress => (
            "active",
            Some(codes::goal_achievement("in-progress", "In Progress")),
        ),
        GoalStatus::Achieved => (
            "completed",
            Some(codes::goal_achievement("achieved", "Achieved")),
        ),
        GoalStatus::OnHold => ("on-hold", None),
    };
    Some(model::Goal {
        resource_type: model::GoalType::Goal,
        id: ids::goal(
            InPlan {
                person: record.person_id,
                version: record.version,
            },
            index,
        ),
        meta: Some(Meta {
            last_updated: Some(record.created_at),
            ..Meta::default()
        }),
        lifecycle_status: lifecycle.to_owned(),
        achievement_status: achievement,
        description: CodeableConcept::text(description),
        subject: subject(record.person_id),
        note: note
            .map(|text| Annotation {
                author_string: Some("Worker".to_owned()),
                text,
            })
            .into_iter()
            .collect(),
    })
}

/// A goal of the Enablement Plan, as it stood in the version its id names.
#[utoipa::path(get, path = "/fhir/r4/Goal/{id}", tag = "fhir", security(("bearer" = [])),
    params(("id" = String, Path, description = "`{person}-v{version}-g{n}`")),
    responses((status = 200, body = model::Goal, content_type = "application/fhir+json",
        description = "The goal; `plans:read`")))]
pub(super) async fn read_goal(
    State(state): State<AppState>,
    request: FhirRequest,
    Path(id): Path<String>,
) -> FhirResult<Fhir<model::Goal>> {
    request.read_only()?;
    let (at, index) = ids::read_goal(&id).ok_or_else(|| request.no_such_record())?;
    request
        .authorize(&state, at.person, Part::EnablementPlan)
        .await?;
    plan_at(&state, at.person, Some(at.version))
        .await?
        .and_then(|(record, plan)| goal(&record, &plan, index))
        .map(Fhir)
        .ok_or_else(|| request.no_such_record())
}

/// The plan's current version when a search starts; the version its cursor names after.
async fn searched_plan(
    state: &AppState,
    request: &FhirRequest,
    search: &Search,
) -> FhirResult<(Option<(PlanVersionRecord, EnablementPlan)>, usize)> {
    let cursor = search.cursor(read_version_cursor)?;
    request
        .authorize(state, search.person, Part::EnablementPlan)
        .await?;
    let plan = plan_at(state, search.person, cursor.map(|(version, _)| version)).await?;
    Ok((plan, cursor.map_or(0, |(_, position)| position)))
}

/// The goals of the person's Enablement Plan.
#[utoipa::path(get, path = "/fhir/r4/Goal", tag = "fhir", security(("bearer" = [])),
    params(
        ("patient" = String, Query, description = "The person, as `Patient/{id}` or `{id}`"),
        ("_count" = Option<i64>, Query, description = "At most this many entries (1–200; 50 if not given)"),
        ("_cursor" = Option<String>, Query, description = "Opaque: from the `next` link of the page before"),
    ),
    responses((status = 200, body = model::Bundle, content_type = "application/fhir+json",
        description = "A searchset Bundle of the plan's goals")))]
pub(super) async fn search_goals(
    State(state): State<AppState>,
    request: FhirRequest,
) -> FhirResult<Fhir<model::Bundle>> {
    let search = request.search("Goal")?;
    let (plan, start) = searched_plan(&state, &request, &search).await?;
    let Some((record, plan)) = plan else {
        return Ok(Fhir(search.bundle(Vec::new(), None, state.clock.now())));
    };
    let goals: Vec<model::Goal> = (0..plan.goals.len())
        .filter_map(|index| goal(&record, &plan, index))
        .collect();
    let (goals, next) = page(goals, start, search.take());
    let found = goals
        .into_iter()
        .map(|goal| (format!("Goal/{}", goal.id), Resource::Goal(goal)))
        .collect();
    let next = next.map(|at| version_cursor(record.version, at));
    Ok(Fhir(search.bundle(found, next, state.clock.now())))
}

/// Every rating of a version of the plan: each occasion's score per domain, in order.
fn observations(
    record: &PlanVersionRecord,
    plan: &EnablementPlan,
    codes: Local<'_>,
    labels: &BTreeMap<String, String>,
) -> Vec<model::Observation> {
    let at = InPlan {
        person: record.person_id,
        version: record.version,
    };
    let mut found = Vec::new();
    for (rating_index, rating) in plan.outcome_ratings.iter().enumerate() {
        let occasion = match rating.occasion {
            RatingOccasion::Baseline => ("baseline", "Baseline"),
            RatingOccasion::Review => ("review", "Review"),
        };
        for (domain_index, domain) in OUTCOME_DOMAINS.iter().enumerate() {
            let Some(score) = rating.scores.get(*domain) else {
                continue;
            };
            let label = labels.get(*domain).map(String::as_str);
            let mut code = codes.concept(OUTCOME_DOMAIN, domain, label);
            code.text = label.map(str::to_owned);
            found.push(model::Observation {
                resource_type: model::ObservationType::Observation,
                id: ids::observation(at, rating_index, domain_index),
                meta: Some(Meta {
                    last_updated: Some(record.created_at),
                    ..Meta::default()
                }),
                based_on: vec![care_plan_reference(at.person, CarePlanKind::Enablement)],
                status: "final".to_owned(),
                category: vec![
                    codes::survey(),
                    codes.concept(RATING_OCCASION, occasion.0, Some(occasion.1)),
                ],
                code,
                subject: subject(at.person),
                effective_date_time: rating.rated_on.to_string(),
                value_integer: i64::from(*score),
                reference_range: vec![ReferenceRange {
                    low: Quantity { value: 1 },
                    high: Quantity { value: 10 },
                    text: "1 = stuck … 10 = self-reliant".to_owned(),
                }],
            });
        }
    }
    found
}

/// An outcome rating of the Enablement Plan, as it stood in the version its id names.
#[utoipa::path(get, path = "/fhir/r4/Observation/{id}", tag = "fhir", security(("bearer" = [])),
    params(("id" = String, Path, description = "`{person}-v{version}-r{rating}-d{domain}`")),
    responses((status = 200, body = model::Observation, content_type = "application/fhir+json",
        description = "One domain's score on one occasion; `plans:read`")))]
pub(super) async fn read_observation(
    State(state): State<AppState>,
    request: FhirRequest,
    Path(id): Path<String>,
) -> FhirResult<Fhir<model::Observation>> {
    request.read_only()?;
    let (at, _, _) = ids::read_observation(&id).ok_or_else(|| request.no_such_record())?;
    request
        .authorize(&state, at.person, Part::EnablementPlan)
        .await?;
    let found = plan_at(&state, at.person, Some(at.version))
        .await?
        .and_then(|(record, plan)| {
            observations(&record, &plan, request.codes(), &state.outcome_labels)
                .into_iter()
                .find(|observation| observation.id == id)
        });
    found.map(Fhir).ok_or_else(|| request.no_such_record())
}

/// The outcome ratings of the person's Enablement Plan: baseline and reviews, each domain.
#[utoipa::path(get, path = "/fhir/r4/Observation", tag = "fhir", security(("bearer" = [])),
    params(
        ("patient" = String, Query, description = "The person, as `Patient/{id}` or `{id}`"),
        ("_count" = Option<i64>, Query, description = "At most this many entries (1–200; 50 if not given)"),
        ("_cursor" = Option<String>, Query, description = "Opaque: from the `next` link of the page before"),
    ),
    responses((status = 200, body = model::Bundle, content_type = "application/fhir+json",
        description = "A searchset Bundle of the plan's outcome ratings")))]
pub(super) async fn search_observations(
    State(state): State<AppState>,
    request: FhirRequest,
) -> FhirResult<Fhir<model::Bundle>> {
    let search = request.search("Observation")?;
    let (plan, start) = searched_plan(&state, &request, &search).await?;
    let Some((record, plan)) = plan else {
        return Ok(Fhir(search.bundle(Vec::new(), None, state.clock.now())));
    };
    let all = observations(&record, &plan, request.codes(), &state.outcome_labels);
    let (ratings, next) = page(all, start, search.take());
    let found = ratings
        .into_iter()
        .map(|o| (format!("Observation/{}", o.id), Resource::Observation(o)))
        .collect();
    let next = next.map(|at| version_cursor(record.version, at));
    Ok(Fhir(search.bundle(found, next, state.clock.now())))
}
