//! A season of West hub history for `serve --demo`, so the team's performance report and its
//! dashboard (`/reports/performance.html`) show what a real quarter looks like, not only "< 5".
//!
//! Over the last three full calendar months (the dashboard's default period), fifteen people
//! came to the front door: twelve were taken on by the West hub (seven referred themselves,
//! five came from a GP), two were signposted and one needed a crisis response. Each person
//! taken on was triaged within a few days, has Priya as key worker, an Enablement Plan rated at
//! baseline and at a review five weeks later, sessions attended or missed, and rated their
//! review; five cases were closed in the last month. Everyone here is fictional and has no
//! account; referral contact details use the numbers Ofcom keeps for drama (01632 960xxx).
//!
//! Like the rest of the demo, nothing here is news: it announces no event and sends nothing.

use chrono::{DateTime, Datelike, Duration, Months, Utc};
use livingwell_core::api::referrals::{
    ContactDetails, ReferralId, ReferralOutcome, ReferralSource,
};
use livingwell_core::domain::appointment::{
    Accessibility, AppointmentId, AppointmentKind, AppointmentStatus, LONDON, Location,
};
use livingwell_core::domain::plan::EnablementPlan;
use livingwell_core::domain::{PersonId, Role};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{DemoError, london};
use crate::store::accounts::NewInvitation;
use crate::store::appointments::AppointmentRecord;
use crate::store::caseload::RatingRecord;
use crate::store::plans::{Author, NewPlanVersion, PlanKind};
use crate::store::referrals::{Acceptance, ReferralRecord, Triage};
use crate::store::{PersonRecord, Store, TeamRecord, UserRecord};

/// One person's way through the front door.
struct Story {
    name: &'static str,
    source: ReferralSource,
    /// Days after the period's first day that the referral came in.
    received_day: i64,
    /// Hours until it was triaged.
    triage_hours: i64,
    outcome: Outcome,
}

enum Outcome {
    /// Taken on; with the day of the last month the case was closed, if it was.
    Accepted {
        closed_day: Option<i64>,
    },
    Signposted(&'static str),
    CrisisResponse,
}

use Outcome::{Accepted, CrisisResponse, Signposted};
use ReferralSource::{Partner, SelfReferral};

const STORIES: [Story; 15] = [
    story(
        "Chris Adeyemi",
        SelfReferral,
        2,
        4,
        Accepted {
            closed_day: Some(66),
        },
    ),
    story(
        "Dana Whitfield",
        Partner,
        4,
        26,
        Accepted {
            closed_day: Some(70),
        },
    ),
    story(
        "Eli Brennan",
        SelfReferral,
        6,
        3,
        Accepted {
            closed_day: Some(72),
        },
    ),
    story(
        "Farah Quinn",
        SelfReferral,
        9,
        20,
        Accepted {
            closed_day: Some(75),
        },
    ),
    story(
        "Gus Lindqvist",
        Partner,
        12,
        45,
        Accepted {
            closed_day: Some(79),
        },
    ),
    story(
        "Hana Kowalski",
        SelfReferral,
        15,
        6,
        Accepted { closed_day: None },
    ),
    story("Ivo Marsh", Partner, 18, 22, Accepted { closed_day: None }),
    story(
        "Jess Oduya",
        SelfReferral,
        21,
        5,
        Accepted { closed_day: None },
    ),
    story(
        "Kit Fairbairn",
        SelfReferral,
        25,
        50,
        Accepted { closed_day: None },
    ),
    story("Lena Moreau", Partner, 29, 8, Accepted { closed_day: None }),
    story(
        "Milo Achterberg",
        SelfReferral,
        33,
        27,
        Accepted { closed_day: None },
    ),
    story(
        "Nia Castellano",
        Partner,
        38,
        4,
        Accepted { closed_day: None },
    ),
    story(
        "Omar Halloran",
        SelfReferral,
        11,
        2,
        Signposted("Westford Talking Therapies"),
    ),
    story(
        "Pip Tremaine",
        SelfReferral,
        27,
        30,
        Signposted("Citizens Advice Westford"),
    ),
    story("Quinn Abara", Partner, 35, 1, CrisisResponse),
];

const fn story(
    name: &'static str,
    source: ReferralSource,
    received_day: i64,
    triage_hours: i64,
    outcome: Outcome,
) -> Story {
    Story {
        name,
        source,
        received_day,
        triage_hours,
        outcome,
    }
}

/// The names of the people taken on: they are demo people too.
pub(super) fn people_names() -> impl Iterator<Item = &'static str> {
    STORIES
        .iter()
        .filter(|story| matches!(story.outcome, Accepted { .. }))
        .map(|story| story.name)
}

/// The ten outcome domains, in the order the scores below give them.
const DOMAINS: [&str; 10] = [
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

/// Seeds the stories on `west`, triaged by and held by `priya`, in the three full months
/// before `now`'s month.
pub(super) async fn seed(
    store: &dyn Store,
    west: &TeamRecord,
    priya: &UserRecord,
    now: DateTime<Utc>,
) -> Result<(), DemoError> {
    let today = now.with_timezone(&LONDON).date_naive();
    let first_of_month = today.with_day(1).unwrap_or(today);
    let period_start = first_of_month
        .checked_sub_months(Months::new(3))
        .ok_or(DemoError::Inconsistent("the start of the period"))?;
    for (i, story) in (0_i64..).zip(&STORIES) {
        let received = london(
            period_start + Duration::days(story.received_day),
            9 + hour_of(i),
        )?;
        let triaged = received + Duration::hours(story.triage_hours);
        let referral = ReferralRecord {
            id: ReferralId::new(),
            source: story.source,
            referrer_client_id: (story.source == Partner).then(|| super::CLIENT_ID.to_owned()),
            referrer: (story.source == Partner).then(|| "Dr Hale, Westford Surgery".to_owned()),
            display_name: story.name.to_owned(),
            contact: ContactDetails {
                phone: Some(format!("01632 960 {:03}", 200 + i)),
                ..ContactDetails::default()
            },
            help_wanted: "Feeling low and cut off; would like some support to get going again."
                .to_owned(),
            consent_to_contact: true,
            team_id: Some(west.id),
            proof_id: None,
            received_at: received,
            outcome: None,
            triaged_at: None,
            triaged_by: None,
            person_id: None,
            signposted_to: None,
        };
        store.insert_referral(&referral, &[]).await?;
        let (outcome, signposted_to, person) = match story.outcome {
            Accepted { .. } => {
                let person = PersonRecord {
                    id: PersonId::new(),
                    display_name: story.name.to_owned(),
                    team_id: Some(west.id),
                    peer_worker_id: None,
                    created_at: triaged,
                };
                (ReferralOutcome::Accepted, None, Some(person))
            }
            Signposted(to) => (ReferralOutcome::Signposted, Some(to.to_owned()), None),
            CrisisResponse => (ReferralOutcome::CrisisResponse, None, None),
        };
        let accepted = person.as_ref().map(|person| Acceptance {
            person: person.clone(),
            // Long lapsed, and its code was never shown to anyone: it hashes a fresh id.
            invitation: NewInvitation {
                id: uuid::Uuid::now_v7(),
                code_hash: Sha256::digest(uuid::Uuid::new_v4().as_bytes()).to_vec(),
                role: Role::ServiceUser,
                person_id: Some(person.id),
                display_name: person.display_name.clone(),
                created_by: priya.id.to_string(),
                created_at: triaged,
                expires_at: triaged + Duration::days(7),
            },
        });
        let triage = Triage {
            referral: referral.id,
            outcome,
            team_id: west.id,
            triaged_by: priya.id,
            at: triaged,
            signposted_to,
            accepted,
        };
        if store.triage_referral(&triage, &[]).await?.is_err() {
            return Err(DemoError::Inconsistent("a demo referral to triage"));
        }
        if let (Some(person), Accepted { closed_day }) = (person, &story.outcome) {
            let closed_at = closed_day
                .map(|day| london(period_start + Duration::days(day), 16))
                .transpose()?;
            seed_care(store, &person, west, priya, i, triaged, closed_at).await?;
        }
    }
    Ok(())
}

/// One person's care after triage: key worker, a plan rated at baseline and review, three
/// sessions (one missed now and then), a rating of the review, and the case closed if it was.
async fn seed_care(
    store: &dyn Store,
    person: &PersonRecord,
    west: &TeamRecord,
    priya: &UserRecord,
    i: i64,
    triaged: DateTime<Utc>,
    closed_at: Option<DateTime<Utc>>,
) -> Result<(), DemoError> {
    let _ = store.set_key_worker(person.id, priya.id, triaged).await?;
    let baseline_at = triaged + Duration::days(7);
    let review_at = baseline_at + Duration::days(35);
    let baseline: Vec<i64> = DOMAINS
        .iter()
        .zip(0_i64..)
        .map(|(_, d)| 2 + (i + d) % 4)
        .collect();
    // Most domains move up by one to three points; one in five stays where it was.
    let review: Vec<i64> = (0_i64..)
        .zip(&baseline)
        .map(|(d, score)| {
            if (i + d) % 5 == 0 {
                *score
            } else {
                score + 1 + (i * d) % 3
            }
        })
        .collect();
    let rating = |on: DateTime<Utc>, occasion: &str, scores: &[i64]| {
        json!({
            "rated_on": on.with_timezone(&LONDON).date_naive(),
            "occasion": occasion,
            "scores": DOMAINS.iter().zip(scores).map(|(d, s)| (d.to_string(), json!(s)))
                .collect::<serde_json::Map<_, _>>(),
            "agreed_with_person": true,
        })
    };
    let first_name = person.display_name.split(' ').next().unwrap_or_default();
    let level = if i % 2 == 0 {
        json!({"level": "enhanced"})
    } else {
        let starts_on = baseline_at.with_timezone(&LONDON).date_naive();
        json!({"level": "brief", "starts_on": starts_on, "ends_on": starts_on + Duration::weeks(6)})
    };
    let ratings = [
        vec![rating(baseline_at, "baseline", &baseline)],
        vec![
            rating(baseline_at, "baseline", &baseline),
            rating(review_at, "review", &review),
        ],
    ];
    let author = Author {
        id: priya.id.to_string(),
        role: priya.role.as_str().into(),
    };
    for (base_version, (at, outcome_ratings)) in
        (0..).zip([baseline_at, review_at].into_iter().zip(ratings))
    {
        let plan: EnablementPlan = serde_json::from_value(json!({
            "about_me": {"preferred_name": first_name},
            "support_level": level,
            "key_contacts": {"key_worker": {"name": priya.display_name}},
            "outcome_ratings": outcome_ratings,
        }))?;
        store
            .append_plan_version(
                &NewPlanVersion {
                    person_id: person.id,
                    kind: PlanKind::EnablementPlan,
                    base_version,
                    body: serde_json::to_value(&plan)?,
                    author: author.clone(),
                    created_at: at,
                    exclude: Vec::new(),
                },
                &[],
            )
            .await?;
    }
    let sessions = [
        (
            AppointmentKind::KeyWorkerSession,
            baseline_at,
            AppointmentStatus::Attended,
        ),
        (
            AppointmentKind::KeyWorkerSession,
            baseline_at + Duration::days(14),
            if i % 3 == 0 {
                AppointmentStatus::DidNotAttend
            } else {
                AppointmentStatus::Attended
            },
        ),
        (
            AppointmentKind::Review,
            review_at,
            AppointmentStatus::Attended,
        ),
    ];
    for (kind, starts_at, status) in sessions {
        let appointment = AppointmentRecord {
            id: AppointmentId::new(),
            person_id: person.id,
            kind,
            title: None,
            starts_at,
            ends_at: starts_at + Duration::minutes(45),
            location: Location::Hub { team_id: west.id },
            status,
            notes_for_person: None,
            accessibility: Accessibility::default(),
            worker_ids: vec![priya.id],
            request: None,
            programme_id: None,
            programme_session_id: None,
            booking_id: None,
            sequence: 0,
            created_by: priya.id.to_string(),
            created_at: triaged,
            updated_at: starts_at,
        };
        store.insert_appointment(&appointment, &[]).await?;
        if kind == AppointmentKind::Review {
            let rated_at = starts_at + Duration::days(1);
            store
                .insert_rating(&RatingRecord {
                    id: uuid::Uuid::now_v7(),
                    person_id: person.id,
                    appointment_id: appointment.id,
                    kind,
                    team_id: Some(west.id),
                    score: [5, 4, 5, 3, 4, 5, 4, 5, 4, 5, 3, 4]
                        [usize::try_from(i % 12).unwrap_or(0)],
                    comment: (i % 3 == 1)
                        .then(|| "Felt listened to. Good to see how far I've come.".to_owned()),
                    name_shared: i % 4 == 0,
                    rated_at,
                    updated_at: rated_at,
                })
                .await?;
        }
    }
    if let Some(at) = closed_at {
        store.close_case(person.id, at).await?;
    }
    Ok(())
}

/// Referrals come in through the working day: 9:00 to 16:00.
fn hour_of(i: i64) -> u32 {
    u32::try_from(i % 8).unwrap_or(0)
}
