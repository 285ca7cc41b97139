//! Demo data for `serve --demo`: fictional people, created on an empty database.
//!
//! Refuses to touch a database that holds anyone other than the demo people, so a demo can never
//! be mixed into real records.

mod history;

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use livingwell_core::domain::consent::{Consent, Grantee};
use livingwell_core::domain::{
    ConsentId, ConsentScope, CrisisPlanSection, PersonId, Role, StaffScope, TeamId, UserId,
};

use crate::auth::passwords;
use livingwell_core::domain::plan::{EnablementPlan, PlanSection};
use livingwell_core::domain::wrap::Wrap;

use crate::store::plans::{AgreementRecord, Author, CommentRecord, NewPlanVersion, PlanKind};
use crate::store::{self, OAuthClientRecord, PersonRecord, Store, TeamRecord, UserRecord};

pub const DEFAULT_PASSWORD: &str = "livingwell-demo";
pub const CLIENT_ID: &str = "case-system";
pub const CLIENT_SECRET: &str = "case-system-demo-secret";

const ALEX: &str = "Alex Rivers";
const ROBIN: &str = "Robin Okafor";

/// One demo account, as printed at start-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoAccount {
    pub username: &'static str,
    pub role: Role,
    pub about: &'static str,
}

pub const ACCOUNTS: [DemoAccount; 7] = [
    DemoAccount {
        username: "alex",
        role: Role::ServiceUser,
        about: "service user, West hub",
    },
    DemoAccount {
        username: "sam",
        role: Role::Carer,
        about: "alex's sister and carer",
    },
    DemoAccount {
        username: "jo",
        role: Role::PeerWorker,
        about: "peer worker allocated to alex",
    },
    DemoAccount {
        username: "priya",
        role: Role::Practitioner,
        about: "practitioner, West hub",
    },
    DemoAccount {
        username: "morgan",
        role: Role::Practitioner,
        about: "practitioner, North hub",
    },
    DemoAccount {
        username: "robin",
        role: Role::ServiceUser,
        about: "service user, North hub",
    },
    DemoAccount {
        username: "admin",
        role: Role::Admin,
        about: "manages accounts and teams",
    },
];

const ALEX_ENABLEMENT_PLAN: &str = include_str!("../../demo/alex-enablement-plan.json");
const ALEX_WRAP: &str = include_str!("../../demo/alex-wrap.json");

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("the demo content does not fit the plan types: {0}")]
    Content(#[from] serde_json::Error),
    #[error("the demo data is inconsistent: {0} is missing")]
    Inconsistent(&'static str),
    #[error("the database holds people who are not demo people; --demo will not run on it")]
    NotADemoDatabase,
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Password(#[from] passwords::PasswordError),
}

/// What happened.
#[derive(Debug, PartialEq, Eq)]
pub enum Seeded {
    Created,
    AlreadyThere,
}

/// Creates the demo people unless they are already there, as of `now` (the server's clock):
/// appointments are days from it, messages hours before it. The tests' fixture.
pub async fn seed(
    store: &dyn Store,
    password: &str,
    now: DateTime<Utc>,
) -> Result<Seeded, DemoError> {
    seed_demo(store, password, now, false).await
}

/// The demo people and a season of West hub history ([`history`]): what `serve --demo` shows,
/// so the team's performance report and dashboard have figures to show.
pub async fn seed_with_history(
    store: &dyn Store,
    password: &str,
    now: DateTime<Utc>,
) -> Result<Seeded, DemoError> {
    seed_demo(store, password, now, true).await
}

async fn seed_demo(
    store: &dyn Store,
    password: &str,
    now: DateTime<Utc>,
    with_history: bool,
) -> Result<Seeded, DemoError> {
    let names = store.person_display_names().await?;
    if !names.is_empty() {
        let demo: BTreeSet<&str> = [ALEX, ROBIN]
            .into_iter()
            .chain(history::people_names())
            .collect();
        return if names.iter().all(|n| demo.contains(n.as_str())) {
            Ok(Seeded::AlreadyThere)
        } else {
            Err(DemoError::NotADemoDatabase)
        };
    }
    let hash = passwords::hash(password.to_owned()).await?;
    let west = TeamRecord {
        id: TeamId::new(),
        name: "West hub".into(),
        hub_address: Some("12 Harbour Street, Westford".into()),
    };
    let north = TeamRecord {
        id: TeamId::new(),
        name: "North hub".into(),
        hub_address: Some("3 Mill Lane, Northby".into()),
    };
    store.create_team(&west, now).await?;
    store.create_team(&north, now).await?;

    let account = |username: &str, role, display_name: &str, person_id| UserRecord {
        id: UserId::new(),
        username: username.into(),
        password_hash: hash.clone(),
        role,
        display_name: display_name.into(),
        person_id,
    };
    let person = |name: &str, team: TeamId| PersonRecord {
        id: PersonId::new(),
        display_name: name.into(),
        team_id: Some(team),
        peer_worker_id: None,
        created_at: now,
    };

    let alex = person(ALEX, west.id);
    let robin = person(ROBIN, north.id);
    store
        .create_person(
            &alex,
            Some(&account("alex", Role::ServiceUser, ALEX, Some(alex.id))),
        )
        .await?;
    store
        .create_person(
            &robin,
            Some(&account("robin", Role::ServiceUser, ROBIN, Some(robin.id))),
        )
        .await?;

    let sam = account("sam", Role::Carer, "Sam Rivers", None);
    let jo = account("jo", Role::PeerWorker, "Jo Bennett", None);
    let priya = account("priya", Role::Practitioner, "Priya Natarajan", None);
    let morgan = account("morgan", Role::Practitioner, "Morgan Ellis", None);
    let admin = account("admin", Role::Admin, "Living Well admin", None);
    for user in [&sam, &jo, &priya, &morgan, &admin] {
        store.create_user(user, now).await?;
    }
    store.add_team_member(west.id, priya.id, now).await?;
    store.add_team_member(west.id, jo.id, now).await?;
    store.add_team_member(north.id, morgan.id, now).await?;
    store.allocate_peer(alex.id, jo.id, now).await?;
    // Each case is held by a practitioner of its team. Both are on the team: never refused.
    store.set_key_worker(alex.id, priya.id, now).await?;
    store.set_key_worker(robin.id, morgan.id, now).await?;
    store
        .link_carer(alex.id, sam.id, Some("sister"), now)
        .await?;
    let consent = Consent {
        id: ConsentId::new(),
        person_id: alex.id,
        grantee: Grantee::Carer(sam.id),
        scopes: [ConsentScope::CrisisPlan].into(),
        crisis_plan_sections: [
            CrisisPlanSection::WhenWell,
            CrisisPlanSection::SignsOthersTakeOver,
            CrisisPlanSection::Supporters,
            CrisisPlanSection::HelpFromOthers,
        ]
        .into(),
        created_at: now,
        expires_at: None,
        revoked_at: None,
    };
    // Both refusals are impossible here: sam is linked and on no exclusion list.
    let _ = store.grant_consent(&consent).await?;
    store
        .create_client(&OAuthClientRecord {
            client_id: CLIENT_ID.into(),
            name: "Case management system (demo)".into(),
            secret_hash: passwords::hash(CLIENT_SECRET.to_owned()).await?,
            scopes: [
                StaffScope::PeopleRead,
                StaffScope::PeopleWrite,
                StaffScope::PlansRead,
                StaffScope::PlansWrite,
                StaffScope::AppointmentsRead,
                StaffScope::AppointmentsWrite,
                StaffScope::ReferralsRead,
                StaffScope::ReferralsWrite,
                StaffScope::ReportsRead,
                StaffScope::FhirRead,
                StaffScope::WebhooksManage,
            ]
            .into(),
            created_at: now,
            disabled_at: None,
            previous_secret: None,
            requests_per_minute: None,
        })
        .await?;
    seed_plans(store, &alex, &priya, &sam, now).await?;
    seed_appointments(store, &alex, &robin, &priya, &west, now).await?;
    seed_conversation(store, &alex, &jo, now).await?;
    if with_history {
        history::seed(store, &west, &priya, now).await?;
    }
    Ok(Seeded::Created)
}

/// Alex's Enablement Plan (written with Priya, agreed by Alex) and WRAP (written by Alex).
async fn seed_plans(
    store: &dyn Store,
    alex: &PersonRecord,
    priya: &UserRecord,
    sam: &UserRecord,
    now: DateTime<Utc>,
) -> Result<(), DemoError> {
    let plan: EnablementPlan = serde_json::from_str(ALEX_ENABLEMENT_PLAN)?;
    let mut wrap: Wrap = serde_json::from_str(ALEX_WRAP)?;
    if let Some(sister) = wrap.crisis_plan.supporters.helpers.first_mut() {
        sister.user_id = Some(sam.id);
    }
    let alex_account = store
        .user_by_username("alex")
        .await?
        .ok_or_else(|| DemoError::Inconsistent("alex's account"))?;
    let by = |user: &UserRecord| Author {
        id: user.id.to_string(),
        role: user.role.as_str().into(),
    };
    for (kind, body, author) in [
        (
            PlanKind::EnablementPlan,
            serde_json::to_value(&plan)?,
            by(priya),
        ),
        (
            PlanKind::Wrap,
            serde_json::to_value(&wrap)?,
            by(&alex_account),
        ),
    ] {
        // Seeded history is not news: the demo's writes announce nothing.
        store
            .append_plan_version(
                &NewPlanVersion {
                    person_id: alex.id,
                    kind,
                    base_version: 0,
                    body,
                    author,
                    created_at: now,
                    exclude: Vec::new(),
                },
                &[],
            )
            .await?;
    }
    store
        .add_comment(
            &CommentRecord {
                id: uuid::Uuid::now_v7(),
                person_id: alex.id,
                version: 1,
                section: PlanSection::Goals.as_str().into(),
                body: "I'd rather say 'by Easter' than 'by the spring' for the allotment goal."
                    .into(),
                disagree: false,
                author: by(&alex_account),
                created_at: now,
            },
            &[],
        )
        .await?;
    store
        .agree(
            &AgreementRecord {
                person_id: alex.id,
                version: 1,
                agreed_by: alex_account.id,
                agreed_role: Role::ServiceUser.as_str().into(),
                agreed_at: now,
            },
            &[],
        )
        .await?;
    Ok(())
}

/// Alex's two upcoming appointments with Priya, and a six-week WRAP group at West hub with one
/// place left (Alex and Robin are booked on it). Times are London wall-clock times.
pub async fn seed_appointments(
    store: &dyn Store,
    alex: &PersonRecord,
    robin: &PersonRecord,
    priya: &UserRecord,
    west: &TeamRecord,
    now: DateTime<Utc>,
) -> Result<(), DemoError> {
    use chrono::Duration;
    use livingwell_core::domain::appointment::{
        Accessibility, AccessibilityNeed, AppointmentId, AppointmentKind, AppointmentStatus,
        BookingUnit, LONDON, Location, ProgrammeId, ProgrammeSessionId,
    };

    use crate::store::appointments::{
        AppointmentRecord, NewBooking, ProgrammeRecord, ProgrammeSessionRecord,
    };

    let today = now.with_timezone(&LONDON).date_naive();
    // `days` from today at `hour`:00 in London, as UTC.
    let at = |days: i64, hour: u32| london(today + Duration::days(days), hour);
    let hub = Location::Hub { team_id: west.id };
    let appointment =
        |kind, title: &str, starts_at, minutes, location, notes: &str| AppointmentRecord {
            id: AppointmentId::new(),
            person_id: alex.id,
            kind,
            title: Some(title.into()),
            starts_at,
            ends_at: starts_at + Duration::minutes(minutes),
            location,
            status: AppointmentStatus::Booked,
            notes_for_person: Some(notes.into()),
            accessibility: Accessibility {
                needs: [AccessibilityNeed::QuietSpace].into(),
                notes: None,
            },
            worker_ids: vec![priya.id],
            request: None,
            programme_id: None,
            programme_session_id: None,
            booking_id: None,
            sequence: 0,
            created_by: priya.id.to_string(),
            created_at: now,
            updated_at: now,
        };
    store
        .insert_appointment(
            &appointment(
                AppointmentKind::KeyWorkerSession,
                "Key worker session",
                at(3, 10)?,
                60,
                hub.clone(),
                "Ask at reception for Priya. Bring the allotment letter if you have it.",
            ),
            &[],
        )
        .await?;
    store
        .insert_appointment(
            &appointment(
                AppointmentKind::Review,
                "Enablement Plan review",
                at(10, 14)?,
                30,
                Location::Phone {},
                "Priya will ring your mobile.",
            ),
            &[],
        )
        .await?;

    // Weekly from next week, 13:00 London time each week (also across a clock change).
    let mut sessions = Vec::new();
    for week in 0..6 {
        let starts_at = at(7 + 7 * week, 13)?;
        sessions.push(ProgrammeSessionRecord {
            id: ProgrammeSessionId::new(),
            number: week + 1,
            starts_at,
            ends_at: starts_at + Duration::hours(2),
        });
    }
    let programme = ProgrammeRecord {
        id: ProgrammeId::new(),
        team_id: west.id,
        title: "WRAP group".into(),
        description: Some(
            "Six weekly sessions: write your own Wellness Recovery Action Plan with others.".into(),
        ),
        location: hub,
        capacity: 3,
        booking_unit: BookingUnit::Programme,
        offer_hold_minutes: 48 * 60,
        sessions,
        created_by: priya.id.to_string(),
        created_at: now,
    };
    store.insert_programme(&programme).await?;
    for person in [alex, robin] {
        store
            .book(&NewBooking {
                programme_id: programme.id,
                session_id: None,
                person_id: person.id,
                at: now,
            })
            .await?;
    }
    Ok(())
}

/// Alex's conversation with Jo, their peer worker: a few messages over the last two days.
async fn seed_conversation(
    store: &dyn Store,
    alex: &PersonRecord,
    jo: &UserRecord,
    now: DateTime<Utc>,
) -> Result<(), DemoError> {
    use chrono::Duration;
    use livingwell_core::domain::message::{ClientMessageId, MessageId};

    use crate::store::events::Audience;
    use crate::store::messages::{ConversationKey, NewMessage, NewSend};

    let alex_account = store
        .user_by_username("alex")
        .await?
        .ok_or(DemoError::Inconsistent("alex's account"))?;
    let conversation = store
        .ensure_conversation(ConversationKey::Peer(alex.id), now - Duration::days(3))
        .await?;
    let messages = [
        (
            jo.id,
            49,
            "Hi Alex, it's Jo. Lovely to meet you at the hub on Tuesday. How did the first \
             allotment visit go?",
        ),
        (
            alex_account.id,
            47,
            "It went well, thanks. I managed a couple of hours before it got too busy.",
        ),
        (
            jo.id,
            26,
            "That's great to hear. Shall we plan the next visit together on Thursday?",
        ),
    ];
    let sends: Vec<NewSend> = messages
        .into_iter()
        .map(|(sender_id, hours_ago, body)| NewSend {
            message: NewMessage {
                id: MessageId::new(),
                conversation_id: conversation.id,
                sender_id,
                client_id: ClientMessageId::new(),
                body: body.to_owned(),
                created_at: now - Duration::hours(hours_ago),
            },
            notice: None,
            access: None,
            audience: Audience::default(),
        })
        .collect();
    store.send_messages(&sends).await?;
    Ok(())
}

/// `hour`:00 on `day`, London time, as UTC.
fn london(day: chrono::NaiveDate, hour: u32) -> Result<DateTime<Utc>, DemoError> {
    use chrono::{Datelike, TimeZone};
    livingwell_core::domain::appointment::LONDON
        .with_ymd_and_hms(day.year(), day.month(), day.day(), hour, 0, 0)
        .earliest()
        .map(|at| at.with_timezone(&Utc))
        .ok_or(DemoError::Inconsistent("a London time"))
}
