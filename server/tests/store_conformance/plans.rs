//! `PlanStore`: immutable plan versions, a stale base storing nothing, history and comments
//! newest first, agreements, the do-not-involve list travelling with the WRAP, one crisis
//! activation at a time, and who hears of changes.

use std::sync::Arc;

use chrono::Duration;
use livingwell_core::api::events::{CrisisActivationData, Event, PlanVersionData};
use livingwell_core::domain::{ConsentScope, PersonId, Role, UserId};
use livingwell_server::store::events::{Audience, EventRecord, NewEvent};
use livingwell_server::store::plans::{
    ActivationRecord, AgreedPlan, AgreementRecord, AppendOutcome, Author, CommentRecord,
    CrisisPlanRead, NewPlanVersion, PlanKind, PlanVersionMeta, PlanVersionRecord, StoredBody,
};
use livingwell_server::store::{GrantRefusal, Store, StoreError};
use serde_json::json;
use uuid::Uuid;

use crate::{consent, instant, new_person, new_team, new_user, person_record, user_record};

conformance! {
    store: [
        plan_versions_are_numbered_from_one_and_read_back_unchanged,
        a_stale_base_version_stores_nothing,
        racing_writers_on_one_version_store_exactly_one,
        plan_history_is_newest_first_and_pages_by_version,
        a_wrap_enforces_its_do_not_involve_list_and_removing_a_name_keeps_the_block,
        a_wrap_naming_an_unknown_account_stores_nothing,
        comments_are_newest_first_with_a_before_cursor,
        agreeing_twice_keeps_the_first_agreement,
        the_current_plan_is_read_with_its_agreements_and_the_names_of_those_involved,
        wrap_coauthoring_is_off_until_the_person_allows_it,
        one_crisis_activation_is_open_at_a_time,
        the_crisis_plan_is_read_with_its_activations_and_the_names_of_those_involved,
        concurrent_activations_open_exactly_one,
        care_team_accounts_are_practitioners_peer_worker_and_the_person,
        a_stored_version_has_its_events_and_a_stale_or_failed_one_has_none,
        activations_are_announced_only_when_they_change_something,
    ],
}

fn author(id: &str, role: &str) -> Author {
    Author {
        id: id.to_owned(),
        role: role.to_owned(),
    }
}

fn version(person: PersonId, kind: PlanKind, base: i32, minute: u32) -> NewPlanVersion {
    NewPlanVersion {
        person_id: person,
        kind,
        base_version: base,
        body: json!({ "goal": format!("goal after version {base}"), "steps": [base, "café ☕"] }),
        author: author(&format!("author-{base}"), "practitioner"),
        created_at: instant(9, minute, 0, 123_456),
        exclude: Vec::new(),
    }
}

fn stored(outcome: AppendOutcome) -> PlanVersionRecord {
    match outcome {
        AppendOutcome::Stored(record) => record,
        AppendOutcome::Stale { current } => panic!("expected a stored version, stale at {current}"),
    }
}

async fn append(store: &dyn Store, new: &NewPlanVersion) -> PlanVersionRecord {
    stored(store.append_plan_version(new, &[]).await.unwrap())
}

async fn plan_versions_are_numbered_from_one_and_read_back_unchanged(store: Arc<dyn Store>) {
    let ada = new_person(store.as_ref(), "Ada", None).await;
    let grace = new_person(store.as_ref(), "Grace", None).await;
    assert_eq!(
        store
            .current_plan(ada.id, PlanKind::EnablementPlan)
            .await
            .unwrap(),
        None
    );

    let first = version(ada.id, PlanKind::EnablementPlan, 0, 1);
    let v1 = append(store.as_ref(), &first).await;
    assert_eq!(
        v1,
        PlanVersionRecord {
            person_id: ada.id,
            version: 1,
            body: StoredBody::try_from(&first.body).unwrap(),
            author: first.author.clone(),
            created_at: first.created_at,
        }
    );
    let v2 = append(
        store.as_ref(),
        &version(ada.id, PlanKind::EnablementPlan, 1, 2),
    )
    .await;
    assert_eq!(v2.version, 2);

    // The newest is current; the older one is still there, unchanged.
    assert_eq!(
        store
            .current_plan(ada.id, PlanKind::EnablementPlan)
            .await
            .unwrap(),
        Some(v2.clone())
    );
    assert_eq!(
        store
            .plan_version(ada.id, PlanKind::EnablementPlan, 1)
            .await
            .unwrap(),
        Some(v1)
    );
    assert_eq!(
        store
            .plan_version(ada.id, PlanKind::EnablementPlan, 3)
            .await
            .unwrap(),
        None
    );

    // Each kind, and each person, is numbered on its own.
    assert_eq!(
        store.current_plan(ada.id, PlanKind::Wrap).await.unwrap(),
        None
    );
    let wrap = append(store.as_ref(), &version(ada.id, PlanKind::Wrap, 0, 3)).await;
    assert_eq!(wrap.version, 1);
    let other = append(
        store.as_ref(),
        &version(grace.id, PlanKind::EnablementPlan, 0, 4),
    )
    .await;
    assert_eq!(other.version, 1);
    assert_eq!(
        store
            .current_plan(ada.id, PlanKind::EnablementPlan)
            .await
            .unwrap(),
        Some(v2)
    );
}

async fn a_stale_base_version_stores_nothing(store: Arc<dyn Store>) {
    let ada = new_person(store.as_ref(), "Ada", None).await;
    append(store.as_ref(), &version(ada.id, PlanKind::Wrap, 0, 1)).await;
    let v2 = append(store.as_ref(), &version(ada.id, PlanKind::Wrap, 1, 2)).await;

    // Based on an older version, on one that does not exist yet, or as if it were the first.
    for base in [1, 5, 0] {
        let mut late = version(ada.id, PlanKind::Wrap, base, 3);
        late.body = json!({ "goal": "written on a stale copy" });
        assert_eq!(
            store.append_plan_version(&late, &[]).await.unwrap(),
            AppendOutcome::Stale { current: 2 },
            "base {base}"
        );
    }
    assert_eq!(
        store.current_plan(ada.id, PlanKind::Wrap).await.unwrap(),
        Some(v2)
    );
    assert_eq!(
        store
            .plan_history(ada.id, PlanKind::Wrap, None, 10)
            .await
            .unwrap()
            .len(),
        2
    );
}

async fn racing_writers_on_one_version_store_exactly_one(store: Arc<dyn Store>) {
    let ada = new_person(store.as_ref(), "Ada", None).await;
    let barrier = Arc::new(tokio::sync::Barrier::new(8));
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            let barrier = barrier.clone();
            let mut new = version(ada.id, PlanKind::EnablementPlan, 0, 1);
            new.body = json!({ "writer": i });
            tokio::spawn(async move {
                barrier.wait().await;
                store.append_plan_version(&new, &[]).await.unwrap()
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            AppendOutcome::Stored(record) => winners.push(record),
            AppendOutcome::Stale { current } => assert_eq!(current, 1),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one writer stores version 1");
    assert_eq!(winners[0].version, 1);
    assert_eq!(
        store
            .current_plan(ada.id, PlanKind::EnablementPlan)
            .await
            .unwrap(),
        Some(winners[0].clone()),
        "the stored version is the winner's"
    );
    assert_eq!(
        store
            .plan_history(ada.id, PlanKind::EnablementPlan, None, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn plan_history_is_newest_first_and_pages_by_version(store: Arc<dyn Store>) {
    let ada = new_person(store.as_ref(), "Ada", None).await;
    let mut metas = Vec::new();
    for base in 0..7 {
        let new = version(ada.id, PlanKind::EnablementPlan, base, base as u32);
        let record = append(store.as_ref(), &new).await;
        metas.push(PlanVersionMeta {
            version: record.version,
            author: new.author,
            created_at: new.created_at,
        });
    }
    // The other kind's versions are not in this history.
    append(store.as_ref(), &version(ada.id, PlanKind::Wrap, 0, 30)).await;
    metas.reverse();

    let history = |before, limit| {
        let store = store.clone();
        async move {
            store
                .plan_history(ada.id, PlanKind::EnablementPlan, before, limit)
                .await
                .unwrap()
        }
    };
    assert_eq!(history(None, 3).await, metas[0..3].to_vec());
    assert_eq!(history(Some(5), 3).await, metas[3..6].to_vec());
    assert_eq!(history(Some(2), 3).await, metas[6..7].to_vec());
    assert_eq!(history(Some(1), 3).await, Vec::new());
    assert_eq!(history(None, 100).await, metas);
}

async fn a_wrap_enforces_its_do_not_involve_list_and_removing_a_name_keeps_the_block(
    store: Arc<dyn Store>,
) {
    let ada = new_person(store.as_ref(), "Ada", None).await;
    let carer = new_user(store.as_ref(), Role::Carer, "carer.chris").await;
    let other_carer = new_user(store.as_ref(), Role::Carer, "carer.dee").await;
    for c in [&carer, &other_carer] {
        store
            .link_carer(ada.id, c.id, Some("friend"), super::now())
            .await
            .unwrap();
        let grant = consent(ada.id, c.id, &[ConsentScope::Appointments]);
        assert_eq!(store.grant_consent(&grant).await.unwrap(), Ok(()));
    }

    let mut wrap = version(ada.id, PlanKind::Wrap, 0, 1);
    wrap.exclude = vec![carer.id];
    append(store.as_ref(), &wrap).await;

    // The named carer's consent ended with the version; the other carer's did not.
    assert!(
        store
            .consents_to(ada.id, carer.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .consents_to(ada.id, other_carer.id)
            .await
            .unwrap()
            .len(),
        1
    );
    let again = consent(ada.id, carer.id, &[ConsentScope::Appointments]);
    assert_eq!(
        store.grant_consent(&again).await.unwrap(),
        Err(GrantRefusal::Excluded)
    );

    // A later WRAP without the name does not lift the block: failing closed.
    append(store.as_ref(), &version(ada.id, PlanKind::Wrap, 1, 2)).await;
    let after = consent(ada.id, carer.id, &[ConsentScope::Appointments]);
    assert_eq!(
        store.grant_consent(&after).await.unwrap(),
        Err(GrantRefusal::Excluded)
    );
}

async fn a_wrap_naming_an_unknown_account_stores_nothing(store: Arc<dyn Store>) {
    let ada = new_person(store.as_ref(), "Ada", None).await;
    let carer = new_user(store.as_ref(), Role::Carer, "carer.chris").await;
    store
        .link_carer(ada.id, carer.id, None, super::now())
        .await
        .unwrap();
    let grant = consent(ada.id, carer.id, &[ConsentScope::Appointments]);
    assert_eq!(store.grant_consent(&grant).await.unwrap(), Ok(()));

    // The exclusions are written in the version's transaction: one that fails takes the version
    // (and every other exclusion in it) with it.
    let mut wrap = version(ada.id, PlanKind::Wrap, 0, 1);
    wrap.exclude = vec![carer.id, UserId::new()];
    let result = store.append_plan_version(&wrap, &[]).await;
    assert!(
        matches!(result, Err(StoreError::MissingReference)),
        "got {result:?}"
    );
    assert_eq!(
        store.current_plan(ada.id, PlanKind::Wrap).await.unwrap(),
        None
    );
    assert_eq!(store.consents_to(ada.id, carer.id).await.unwrap().len(), 1);
    // Version 1 is still free to be written.
    wrap.exclude = vec![carer.id];
    assert_eq!(append(store.as_ref(), &wrap).await.version, 1);
}

async fn comments_are_newest_first_with_a_before_cursor(store: Arc<dyn Store>) {
    let ada = new_person(store.as_ref(), "Ada", None).await;
    let grace = new_person(store.as_ref(), "Grace", None).await;
    let mut comments = Vec::new();
    for i in 0..5u32 {
        let comment = CommentRecord {
            id: Uuid::now_v7(),
            person_id: ada.id,
            version: 1,
            section: format!("goals.{i}"),
            body: format!("I'd put it differently — {i}"),
            disagree: i % 2 == 0,
            author: author(&format!("user-{i}"), "service_user"),
            created_at: instant(10, i, 0, 1),
        };
        store.add_comment(&comment, &[]).await.unwrap();
        comments.push(comment);
    }
    let mut elsewhere = comments[0].clone();
    elsewhere.id = Uuid::now_v7();
    elsewhere.person_id = grace.id;
    store.add_comment(&elsewhere, &[]).await.unwrap();
    comments.sort_by_key(|c| std::cmp::Reverse(c.id));

    let page = store.comments(ada.id, None, 2).await.unwrap();
    assert_eq!(page, comments[0..2].to_vec());
    let page = store.comments(ada.id, Some(page[1].id), 2).await.unwrap();
    assert_eq!(page, comments[2..4].to_vec());
    let page = store.comments(ada.id, Some(page[1].id), 2).await.unwrap();
    assert_eq!(page, comments[4..5].to_vec());
    assert_eq!(
        store.comments(grace.id, None, 10).await.unwrap(),
        vec![elsewhere.clone()]
    );

    // A comment id is used once.
    let result = store.add_comment(&elsewhere, &[]).await;
    assert!(
        matches!(result, Err(StoreError::Conflict(_))),
        "got {result:?}"
    );
}

/// The person's agreement to version 1 at 11:00, and a practitioner's at 11:05.
fn agreements_to_version_1(
    person: PersonId,
    account: UserId,
    practitioner: UserId,
) -> [AgreementRecord; 2] {
    let by_person = AgreementRecord {
        person_id: person,
        version: 1,
        agreed_by: account,
        agreed_role: "service_user".to_owned(),
        agreed_at: instant(11, 0, 0, 5),
    };
    let by_practitioner = AgreementRecord {
        agreed_by: practitioner,
        agreed_role: "practitioner".to_owned(),
        agreed_at: instant(11, 5, 0, 5),
        ..by_person.clone()
    };
    [by_person, by_practitioner]
}

async fn agreeing_twice_keeps_the_first_agreement(store: Arc<dyn Store>) {
    let team = new_team(store.as_ref(), "North").await;
    let person = person_record("Ada", Some(team.id));
    let account = user_record(Role::ServiceUser, "ada", Some(person.id));
    store.create_person(&person, Some(&account)).await.unwrap();
    let practitioner = new_user(store.as_ref(), Role::Practitioner, "dr.lee").await;

    let [by_person, by_practitioner] =
        agreements_to_version_1(person.id, account.id, practitioner.id);
    store.agree(&by_practitioner, &[]).await.unwrap();
    store.agree(&by_person, &[]).await.unwrap();
    store
        .agree(
            &AgreementRecord {
                agreed_at: instant(12, 0, 0, 0),
                ..by_person.clone()
            },
            &[],
        )
        .await
        .unwrap();

    // In the order they were given, each once, with the first time.
    assert_eq!(
        store.agreements(person.id, 1).await.unwrap(),
        vec![by_person.clone(), by_practitioner]
    );
    // Agreeing is to one version.
    assert!(store.agreements(person.id, 2).await.unwrap().is_empty());
    let v2 = AgreementRecord {
        version: 2,
        ..by_person
    };
    store.agree(&v2, &[]).await.unwrap();
    assert_eq!(store.agreements(person.id, 2).await.unwrap(), vec![v2]);
}

/// Reading a plan is one statement: the current version, its agreements in the order given,
/// and the display names of its author and of everyone who agreed — none for a staff system or
/// for text that names no account.
async fn the_current_plan_is_read_with_its_agreements_and_the_names_of_those_involved(
    store: Arc<dyn Store>,
) {
    let team = new_team(store.as_ref(), "North").await;
    let person = person_record("Ada", Some(team.id));
    let account = user_record(Role::ServiceUser, "ada", Some(person.id));
    store.create_person(&person, Some(&account)).await.unwrap();
    let practitioner = new_user(store.as_ref(), Role::Practitioner, "dr.lee").await;
    // The author is named for writing it, not for agreeing: Ray wrote it and did not agree.
    let writer = new_user(store.as_ref(), Role::Practitioner, "dr.ray").await;
    let plan = PlanKind::EnablementPlan;
    assert_eq!(
        store.current_plan_agreed(person.id, plan).await.unwrap(),
        None
    );

    let v1 = append(
        store.as_ref(),
        &NewPlanVersion {
            author: author(&writer.id.to_string(), "practitioner"),
            ..version(person.id, plan, 0, 1)
        },
    )
    .await;
    // The person's WRAP, by someone else, is another plan.
    append(store.as_ref(), &version(person.id, PlanKind::Wrap, 0, 2)).await;
    let [by_person, by_practitioner] =
        agreements_to_version_1(person.id, account.id, practitioner.id);
    store.agree(&by_practitioner, &[]).await.unwrap();
    store.agree(&by_person, &[]).await.unwrap();
    assert_eq!(
        store.current_plan_agreed(person.id, plan).await.unwrap(),
        Some(AgreedPlan {
            record: v1,
            agreements: vec![by_person.clone(), by_practitioner],
            names: [
                (writer.id.to_string(), writer.display_name.clone()),
                (
                    practitioner.id.to_string(),
                    practitioner.display_name.clone()
                ),
                (account.id.to_string(), account.display_name.clone()),
            ]
            .into(),
        })
    );

    // A staff system's version, and then one whose author text is shaped as an id but names
    // no account: the version alone, nobody named.
    for (base, author_id) in [
        (1, "client:records".to_owned()),
        (2, Uuid::new_v4().to_string()),
    ] {
        let current = append(
            store.as_ref(),
            &NewPlanVersion {
                author: author(&author_id, "staff_system"),
                ..version(person.id, plan, base, 3)
            },
        )
        .await;
        assert_eq!(
            store.current_plan_agreed(person.id, plan).await.unwrap(),
            Some(AgreedPlan {
                record: current,
                agreements: vec![],
                names: Default::default(),
            })
        );
    }
    // Agreed again: the person's name, once.
    store
        .agree(
            &AgreementRecord {
                version: 3,
                ..by_person
            },
            &[],
        )
        .await
        .unwrap();
    let agreed = store
        .current_plan_agreed(person.id, plan)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(agreed.agreements.len(), 1);
    assert_eq!(
        agreed.names,
        [(account.id.to_string(), account.display_name)].into()
    );
}

async fn wrap_coauthoring_is_off_until_the_person_allows_it(store: Arc<dyn Store>) {
    let ada = new_person(store.as_ref(), "Ada", None).await;
    let grace = new_person(store.as_ref(), "Grace", None).await;
    assert!(!store.wrap_coauthoring(ada.id).await.unwrap());

    store.set_wrap_coauthoring(ada.id, true).await.unwrap();
    assert!(store.wrap_coauthoring(ada.id).await.unwrap());
    assert!(!store.wrap_coauthoring(grace.id).await.unwrap());

    store.set_wrap_coauthoring(ada.id, false).await.unwrap();
    assert!(!store.wrap_coauthoring(ada.id).await.unwrap());
}

fn activation(person: PersonId, at: chrono::DateTime<chrono::Utc>) -> ActivationRecord {
    ActivationRecord {
        id: Uuid::now_v7(),
        person_id: person,
        activated_by: author("dr.lee", "practitioner"),
        reason: "Ada asked for help ✋".to_owned(),
        activated_at: at,
        deactivated_by: None,
        deactivated_at: None,
    }
}

/// Reading the crisis plan is one statement: the current WRAP, the newest activations first,
/// and the names of the accounts that opened and closed them — none for a staff system or for
/// text that names no account.
async fn the_crisis_plan_is_read_with_its_activations_and_the_names_of_those_involved(
    store: Arc<dyn Store>,
) {
    let ada = new_person(store.as_ref(), "Ada", None).await;
    let lee = new_user(store.as_ref(), Role::Practitioner, "dr.lee").await;
    let ray = new_user(store.as_ref(), Role::Practitioner, "dr.ray").await;
    assert_eq!(
        store.crisis_plan_read(ada.id, 20).await.unwrap(),
        CrisisPlanRead {
            wrap: None,
            activations: vec![],
            names: Default::default(),
        }
    );

    // Opened by Lee, closed by a staff system; opened by text naming no account, closed by
    // Ray; opened by Ray and still open. An Enablement Plan is not the WRAP.
    let closers = [
        Some(author("client:records", "staff_system")),
        Some(author(&ray.id.to_string(), "practitioner")),
        None,
    ];
    let openers = [
        author(&lee.id.to_string(), "practitioner"),
        author(&Uuid::new_v4().to_string(), "practitioner"),
        author(&ray.id.to_string(), "practitioner"),
    ];
    for (hour, (opener, closer)) in (9..).zip(openers.into_iter().zip(closers)) {
        let opened = ActivationRecord {
            activated_by: opener,
            ..activation(ada.id, instant(hour, 0, 0, 7))
        };
        assert!(store.activate_crisis_plan(&opened, &[]).await.unwrap());
        if let Some(by) = closer {
            let at = instant(hour, 30, 0, 7);
            store
                .deactivate_crisis_plan(ada.id, &by, at, &Audience::default())
                .await
                .unwrap()
                .unwrap();
        }
    }
    append(store.as_ref(), &version(ada.id, PlanKind::Wrap, 0, 1)).await;
    let wrap = append(store.as_ref(), &version(ada.id, PlanKind::Wrap, 1, 2)).await;
    append(
        store.as_ref(),
        &version(ada.id, PlanKind::EnablementPlan, 0, 3),
    )
    .await;

    let read = store.crisis_plan_read(ada.id, 20).await.unwrap();
    assert_eq!(read.wrap, Some(wrap.clone()));
    assert_eq!(
        read.activations,
        store.crisis_activations(ada.id, 20).await.unwrap()
    );
    assert_eq!(read.activations.len(), 3);
    assert!(read.activations[0].deactivated_at.is_none(), "newest first");
    assert_eq!(
        read.names,
        [
            (lee.id.to_string(), lee.display_name.clone()),
            (ray.id.to_string(), ray.display_name.clone()),
        ]
        .into()
    );
    // The newest two only: Lee's is left out, and so is his name.
    let newest = store.crisis_plan_read(ada.id, 2).await.unwrap();
    assert_eq!(newest.wrap, Some(wrap));
    assert_eq!(newest.activations, read.activations[..2]);
    assert_eq!(
        newest.names,
        [(ray.id.to_string(), ray.display_name.clone())].into()
    );
}

async fn one_crisis_activation_is_open_at_a_time(store: Arc<dyn Store>) {
    let ada = new_person(store.as_ref(), "Ada", None).await;
    let grace = new_person(store.as_ref(), "Grace", None).await;
    let by = author("dr.okafor", "practitioner");
    assert_eq!(
        store
            .deactivate_crisis_plan(ada.id, &by, instant(8, 0, 0, 0), &Audience::default())
            .await
            .unwrap(),
        None,
        "nothing to close"
    );

    let first = activation(ada.id, instant(9, 0, 0, 7));
    assert!(store.activate_crisis_plan(&first, &[]).await.unwrap());
    let refused = activation(ada.id, instant(9, 1, 0, 0));
    assert!(!store.activate_crisis_plan(&refused, &[]).await.unwrap());
    // Another person's plan is separate.
    assert!(
        store
            .activate_crisis_plan(&activation(grace.id, instant(9, 2, 0, 0)), &[])
            .await
            .unwrap()
    );

    let closed_at = instant(10, 0, 0, 9);
    let closed = ActivationRecord {
        deactivated_by: Some(by.clone()),
        deactivated_at: Some(closed_at),
        ..first.clone()
    };
    assert_eq!(
        store
            .deactivate_crisis_plan(ada.id, &by, closed_at, &Audience::default())
            .await
            .unwrap(),
        Some(closed.clone())
    );
    assert_eq!(
        store
            .deactivate_crisis_plan(
                ada.id,
                &by,
                closed_at + Duration::minutes(1),
                &Audience::default()
            )
            .await
            .unwrap(),
        None
    );

    let second = activation(ada.id, instant(11, 0, 0, 0));
    assert!(store.activate_crisis_plan(&second, &[]).await.unwrap());
    assert_eq!(
        store.crisis_activations(ada.id, 10).await.unwrap(),
        vec![second.clone(), closed]
    );
    assert_eq!(
        store.crisis_activations(ada.id, 1).await.unwrap(),
        vec![second]
    );
}

async fn concurrent_activations_open_exactly_one(store: Arc<dyn Store>) {
    let ada = new_person(store.as_ref(), "Ada", None).await;
    let barrier = Arc::new(tokio::sync::Barrier::new(8));
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            let barrier = barrier.clone();
            let record = activation(ada.id, instant(9, 0, i, 0));
            tokio::spawn(async move {
                barrier.wait().await;
                (
                    record.id,
                    store.activate_crisis_plan(&record, &[]).await.unwrap(),
                )
            })
        })
        .collect();
    let mut opened = Vec::new();
    for task in tasks {
        let (id, activated) = task.await.unwrap();
        if activated {
            opened.push(id);
        }
    }
    assert_eq!(opened.len(), 1, "exactly one activation opens");
    let stored = store.crisis_activations(ada.id, 10).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].id, opened[0]);
}

async fn care_team_accounts_are_practitioners_peer_worker_and_the_person(store: Arc<dyn Store>) {
    let team = new_team(store.as_ref(), "North").await;
    let elsewhere = new_team(store.as_ref(), "South").await;
    let now = super::now();
    let practitioner = new_user(store.as_ref(), Role::Practitioner, "dr.lee").await;
    let admin = new_user(store.as_ref(), Role::Admin, "admin").await;
    let other_team = new_user(store.as_ref(), Role::Practitioner, "dr.far").await;
    let peer = new_user(store.as_ref(), Role::PeerWorker, "peer.pat").await;
    let carer = new_user(store.as_ref(), Role::Carer, "carer.chris").await;
    store
        .add_team_member(team.id, practitioner.id, now)
        .await
        .unwrap();
    store.add_team_member(team.id, admin.id, now).await.unwrap();
    store
        .add_team_member(elsewhere.id, other_team.id, now)
        .await
        .unwrap();

    let person = person_record("Ada", Some(team.id));
    let account = user_record(Role::ServiceUser, "ada", Some(person.id));
    store.create_person(&person, Some(&account)).await.unwrap();
    store.allocate_peer(person.id, peer.id, now).await.unwrap();
    store
        .link_carer(person.id, carer.id, None, now)
        .await
        .unwrap();

    let mut expected = vec![practitioner.id, peer.id, account.id];
    expected.sort();
    let mut found = store.care_team_accounts(person.id).await.unwrap();
    found.sort();
    assert_eq!(found, expected, "not the admin, the carer or another team");

    let alone = new_person(store.as_ref(), "Grace", None).await;
    assert!(store.care_team_accounts(alone.id).await.unwrap().is_empty());
}

/// The event each of `audience` would be told, dated `minute`.
fn told(audience: &Audience, event: Event, minute: u32) -> Vec<NewEvent> {
    audience.tell(&event, instant(9, minute, 0, 123_456))
}

async fn new_events(store: &dyn Store, after: i64) -> Vec<EventRecord> {
    store.events_after(after, 100).await.unwrap()
}

/// The outbox on a plan write: a version is stored with its events in one transaction; a
/// stale version stores neither; a version whose events cannot be stored is not stored.
async fn a_stored_version_has_its_events_and_a_stale_or_failed_one_has_none(store: Arc<dyn Store>) {
    let ada = new_person(store.as_ref(), "Ada", None).await;
    let lee = new_user(store.as_ref(), Role::Practitioner, "dr.lee").await;
    let pat = new_user(store.as_ref(), Role::PeerWorker, "peer.pat").await;
    let team = Audience {
        recipients: vec![lee.id, pat.id],
        person_id: Some(ada.id),
    };
    let updated = |version| Event::EnablementPlanUpdated(PlanVersionData { version });

    let first = version(ada.id, PlanKind::EnablementPlan, 0, 1);
    let announce = told(&team, updated(1), 1);
    let v1 = stored(store.append_plan_version(&first, &announce).await.unwrap());
    let events = new_events(store.as_ref(), 0).await;
    assert_eq!(
        events.iter().map(|e| &e.event).collect::<Vec<_>>(),
        announce.iter().collect::<Vec<_>>()
    );
    let last = store.last_event_id().await.unwrap();

    // Stale: nothing stored, the events included.
    let stale = store
        .append_plan_version(&first, &told(&team, updated(1), 2))
        .await
        .unwrap();
    assert_eq!(stale, AppendOutcome::Stale { current: 1 });
    assert!(new_events(store.as_ref(), last).await.is_empty());

    // An event that cannot be stored (no such recipient) takes its version with it.
    let nobody = Audience {
        recipients: vec![lee.id, UserId::new()],
        person_id: Some(ada.id),
    };
    let second = version(ada.id, PlanKind::EnablementPlan, 1, 3);
    let failed = store
        .append_plan_version(&second, &told(&nobody, updated(2), 3))
        .await;
    assert!(
        matches!(failed, Err(StoreError::MissingReference)),
        "{failed:?}"
    );
    assert_eq!(
        store
            .current_plan(ada.id, PlanKind::EnablementPlan)
            .await
            .unwrap(),
        Some(v1)
    );
    assert!(new_events(store.as_ref(), last).await.is_empty());

    // The same version, told to people who exist, is stored with its events.
    let announce = told(&team, updated(2), 4);
    stored(store.append_plan_version(&second, &announce).await.unwrap());
    assert_eq!(
        new_events(store.as_ref(), last)
            .await
            .into_iter()
            .map(|e| e.event)
            .collect::<Vec<_>>(),
        announce
    );
}

async fn activations_are_announced_only_when_they_change_something(store: Arc<dyn Store>) {
    let ada = new_person(store.as_ref(), "Ada", None).await;
    let lee = new_user(store.as_ref(), Role::Practitioner, "dr.lee").await;
    let team = Audience {
        recipients: vec![lee.id],
        person_id: Some(ada.id),
    };
    let by = author("dr.lee", "practitioner");
    let activation = |minute| ActivationRecord {
        id: Uuid::now_v7(),
        person_id: ada.id,
        activated_by: by.clone(),
        reason: "Not sleeping".to_owned(),
        activated_at: instant(9, minute, 0, 0),
        deactivated_by: None,
        deactivated_at: None,
    };
    let activated = |record: &ActivationRecord| {
        Event::CrisisPlanActivated(CrisisActivationData {
            activation_id: record.id,
        })
    };

    let first = activation(1);
    assert!(
        store
            .activate_crisis_plan(&first, &told(&team, activated(&first), 1))
            .await
            .unwrap()
    );
    let events = new_events(store.as_ref(), 0).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event.event, activated(&first));
    let last = events[0].id;

    // Already active: refused, and nobody is told.
    let again = activation(2);
    assert!(
        !store
            .activate_crisis_plan(&again, &told(&team, activated(&again), 2))
            .await
            .unwrap()
    );
    assert!(new_events(store.as_ref(), last).await.is_empty());

    // Deactivating tells the audience which activation closed, dated by the deactivation.
    let closed_at = instant(10, 0, 0, 7);
    let closed = store
        .deactivate_crisis_plan(ada.id, &by, closed_at, &team)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(closed.id, first.id);
    let events = new_events(store.as_ref(), last).await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].event,
        NewEvent {
            recipient_id: Some(lee.id),
            person_id: Some(ada.id),
            event: Event::CrisisPlanDeactivated(CrisisActivationData {
                activation_id: first.id,
            }),
            created_at: closed_at,
        }
    );
    // Nothing open: nothing closed, nobody told.
    let last = events[0].id;
    assert!(
        store
            .deactivate_crisis_plan(ada.id, &by, closed_at, &team)
            .await
            .unwrap()
            .is_none()
    );
    assert!(new_events(store.as_ref(), last).await.is_empty());
}
