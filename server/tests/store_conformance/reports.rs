//! What the performance report reads: a team's window of referrals, its caseload at the end of
//! the period (current and past places), closed cases, latest plans, satisfaction ratings and
//! attendance — the team's and the period's only, on both databases. Rows other helpers' writes
//! make (referrals, key workers, ratings, closed places) are inserted as migration 0019
//! describes them.

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use livingwell_core::domain::{PersonId, Role, TeamId, UserId};
use livingwell_server::service::reports::period;
use livingwell_server::store::Store;
use livingwell_server::store::plans::{AppendOutcome, Author, NewPlanVersion, PlanKind};
use livingwell_server::store::reports::{ReferralTally, Span};
use sqlx::types::Json;
use uuid::Uuid;

use crate::{Raw, new_team, new_user, person_record};

conformance! {
    store: [],
    raw: [
        the_report_reads_the_team_and_the_period_only,
    ],
}

/// Runs one statement with its bindings on whichever database `raw` is.
macro_rules! exec {
    ($raw:expr, $sql:expr $(, $bind:expr)* $(,)?) => {
        match $raw {
            Raw::Sqlite(pool) => {
                sqlx::query($sql)$(.bind($bind))*.execute(pool).await.unwrap();
            }
            Raw::Postgres(pool) => {
                sqlx::query($sql)$(.bind($bind))*.execute(pool).await.unwrap();
            }
        }
    };
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

async fn referral(
    raw: &Raw,
    team: Option<TeamId>,
    source: &str,
    received_at: DateTime<Utc>,
    outcome: Option<(&str, DateTime<Utc>)>,
) {
    let client = (source == "partner").then(|| "gp-system".to_owned());
    exec!(
        raw,
        "INSERT INTO referrals (id, source, referrer_client_id, display_name, contact, \
         help_wanted, consent_to_contact, team_id, received_at, outcome, triaged_at) \
         VALUES ($1, $2, $3, 'Someone', $4, 'Help', $5, $6, $7, $8, $9)",
        Uuid::now_v7(),
        source,
        client.clone(),
        Json(serde_json::json!({"phone": "07700900000"})),
        true,
        team.map(|t| t.as_uuid()),
        received_at,
        outcome.map(|o| o.0.to_owned()),
        outcome.map(|o| o.1),
    );
}

async fn appointment(
    raw: &Raw,
    person: PersonId,
    kind: &str,
    starts_at: DateTime<Utc>,
    status: &str,
) -> Uuid {
    let id = Uuid::now_v7();
    exec!(
        raw,
        "INSERT INTO appointments (id, person_id, kind, starts_at, ends_at, location, status, \
         accessibility, worker_ids, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'test', $4, $4)",
        id,
        person.as_uuid(),
        kind.to_owned(),
        starts_at,
        starts_at + Duration::hours(1),
        Json(serde_json::json!({"kind": "hub"})),
        status.to_owned(),
        Json(serde_json::json!({})),
        Json(serde_json::json!([])),
    );
    id
}

async fn rating(
    raw: &Raw,
    person: PersonId,
    appointment: Uuid,
    kind: &str,
    team: TeamId,
    score: i32,
    rated_at: DateTime<Utc>,
) {
    exec!(
        raw,
        "INSERT INTO satisfaction_ratings (id, person_id, appointment_id, kind, team_id, score, \
         rated_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        Uuid::now_v7(),
        person.as_uuid(),
        appointment,
        kind.to_owned(),
        team.as_uuid(),
        score,
        rated_at,
    );
}

async fn past_place(
    raw: &Raw,
    person: PersonId,
    team: TeamId,
    started_at: DateTime<Utc>,
    ended_at: DateTime<Utc>,
    closed: bool,
) {
    exec!(
        raw,
        "INSERT INTO caseload_history (person_id, team_id, started_at, ended_at, closed) \
         VALUES ($1, $2, $3, $4, $5)",
        person.as_uuid(),
        team.as_uuid(),
        started_at,
        ended_at,
        closed,
    );
}

async fn person_created(
    store: &dyn Store,
    team: Option<TeamId>,
    created_at: DateTime<Utc>,
) -> PersonId {
    let mut person = person_record("Someone", team);
    person.created_at = created_at;
    store.create_person(&person, None).await.unwrap();
    person.id
}

async fn plan(store: &dyn Store, person: PersonId, base: i32, work: u8, at: DateTime<Utc>) {
    let body = serde_json::json!({
        "support_level": "standard",
        "outcome_ratings": [{"rated_on": "2026-01-05", "occasion": "baseline", "scores": {"work": work}}],
    });
    let new = NewPlanVersion {
        person_id: person,
        kind: PlanKind::EnablementPlan,
        base_version: base,
        body,
        author: Author {
            id: "test".into(),
            role: "practitioner".into(),
        },
        created_at: at,
        exclude: Vec::new(),
    };
    let stored = store.append_plan_version(&new, &[]).await.unwrap();
    assert!(matches!(stored, AppendOutcome::Stored(_)));
}

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn sorted(mut tallies: Vec<ReferralTally>) -> Vec<(String, Option<String>, i64)> {
    tallies.sort_by(|a, b| (&a.source, &a.outcome).cmp(&(&b.source, &b.outcome)));
    tallies
        .into_iter()
        .map(|t| (t.source, t.outcome, t.referrals))
        .collect()
}

async fn the_report_reads_the_team_and_the_period_only(store: Arc<dyn Store>, raw: Raw) {
    let store = &*store;
    let north = new_team(store, "North").await;
    let south = new_team(store, "South").await;
    // March 2026 in London: 1 March 00:00 GMT to 1 April 00:00 BST (31 March 23:00 UTC).
    let span: Span = period(date("2026-03-01"), date("2026-03-31")).unwrap();
    assert_eq!(span.end, at("2026-03-31T23:00:00Z"));
    let inside = at("2026-03-10T09:00:00Z");

    // Referrals: North's in the period, by source and outcome; before, after, South's and
    // those of no hub are not North's.
    let triaged = |hours| Some(("accepted", inside + Duration::hours(hours)));
    referral(&raw, Some(north.id), "self", inside, triaged(2)).await;
    referral(&raw, Some(north.id), "self", inside, triaged(6)).await;
    referral(&raw, Some(north.id), "self", inside, None).await;
    let signposted = Some(("signposted", inside + Duration::hours(1)));
    referral(&raw, Some(north.id), "partner", inside, signposted).await;
    referral(
        &raw,
        Some(north.id),
        "self",
        at("2026-02-28T23:59:59Z"),
        None,
    )
    .await;
    // 23:30 UTC on 31 March is 00:30 on 1 April in London: after the period.
    referral(
        &raw,
        Some(north.id),
        "self",
        at("2026-03-31T23:30:00Z"),
        None,
    )
    .await;
    referral(&raw, Some(south.id), "self", inside, None).await;
    referral(&raw, None, "partner", inside, None).await;
    let tallies = sorted(store.referral_tallies(Some(north.id), span).await.unwrap());
    assert_eq!(
        tallies,
        [
            ("partner".into(), Some("signposted".into()), 1),
            ("self".into(), None, 1),
            ("self".into(), Some("accepted".into()), 2),
        ]
    );
    let every = sorted(store.referral_tallies(None, span).await.unwrap());
    assert_eq!(every.iter().map(|t| t.2).sum::<i64>(), 6);
    let mut hours: Vec<i64> = store
        .triage_times(Some(north.id), span)
        .await
        .unwrap()
        .iter()
        .map(|t| (t.triaged_at - t.received_at).num_hours())
        .collect();
    hours.sort_unstable();
    assert_eq!(hours, [1, 2, 6]);

    // The caseload at the end: two placed before it (one with a key worker), one who left
    // after it, not one placed after it, nor one who left before it, nor South's.
    let before = at("2026-02-01T10:00:00Z");
    let kept = person_created(store, Some(north.id), before).await;
    let worked = person_created(store, Some(north.id), before).await;
    let late = person_created(store, Some(north.id), at("2026-04-02T10:00:00Z")).await;
    let _southern = person_created(store, Some(south.id), before).await;
    let left_after = person_created(store, None, before).await;
    past_place(
        &raw,
        left_after,
        north.id,
        before,
        at("2026-04-10T00:00:00Z"),
        true,
    )
    .await;
    let closed = person_created(store, None, before).await;
    past_place(
        &raw,
        closed,
        north.id,
        before,
        at("2026-03-20T12:00:00Z"),
        true,
    )
    .await;
    let moved = person_created(store, None, before).await;
    past_place(
        &raw,
        moved,
        north.id,
        before,
        at("2026-03-21T12:00:00Z"),
        false,
    )
    .await;
    let worker = new_user(store, Role::Practitioner, "keyworker").await;
    exec!(
        &raw,
        "INSERT INTO key_workers (person_id, user_id, since) VALUES ($1, $2, $3)",
        worked.as_uuid(),
        worker.id.as_uuid(),
        before,
    );
    let places = store.caseload_at(Some(north.id), span.end).await.unwrap();
    let mut people: Vec<PersonId> = places.iter().map(|p| p.person_id).collect();
    people.sort();
    let mut expected = vec![kept, worked, left_after];
    expected.sort();
    assert_eq!(people, expected);
    assert!(!people.contains(&late));
    assert!(places.iter().all(|p| p.team_id == north.id));
    let with_worker: Vec<(PersonId, UserId, String)> = places
        .iter()
        .filter_map(|p| {
            p.key_worker
                .clone()
                .map(|(id, name)| (p.person_id, id, name))
        })
        .collect();
    assert_eq!(
        with_worker,
        [(worked, worker.id, "keyworker display".to_owned())]
    );
    assert_eq!(store.caseload_at(None, span.end).await.unwrap().len(), 4);

    // Closed cases: only the closed place that ended in the period.
    let closures = store.closed_cases(Some(north.id), span).await.unwrap();
    assert_eq!(closures, [at("2026-03-20T12:00:00Z")]);
    assert!(
        store
            .closed_cases(Some(south.id), span)
            .await
            .unwrap()
            .is_empty()
    );

    // Plans: the latest version written before the end, of those on the caseload then.
    plan(store, kept, 0, 3, before).await;
    plan(store, kept, 1, 4, inside).await;
    plan(store, kept, 2, 9, at("2026-04-03T10:00:00Z")).await;
    plan(store, late, 0, 5, inside).await;
    let plans = store
        .latest_plans_at(Some(north.id), span.end)
        .await
        .unwrap();
    assert_eq!(plans.len(), 1);
    assert_eq!(plans[0].person_id, kept);
    assert_eq!(
        plans[0].body["outcome_ratings"][0]["scores"]["work"],
        serde_json::json!(4)
    );

    // Attendance: the period's marked appointments of the people on the caseload.
    appointment(&raw, kept, "call", inside, "attended").await;
    appointment(&raw, kept, "call", inside + Duration::days(1), "attended").await;
    appointment(&raw, worked, "call", inside, "did_not_attend").await;
    appointment(&raw, worked, "call", inside, "booked").await;
    appointment(&raw, kept, "call", at("2026-02-10T10:00:00Z"), "attended").await;
    appointment(&raw, late, "call", inside, "attended").await;
    let mut marks: Vec<(PersonId, String, i64)> = store
        .attendance(Some(north.id), span)
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.person_id, t.status, t.appointments))
        .collect();
    marks.sort();
    let mut expected = vec![
        (kept, "attended".to_owned(), 2),
        (worked, "did_not_attend".to_owned(), 1),
    ];
    expected.sort();
    assert_eq!(marks, expected);

    // Satisfaction: the team's ratings given in the period, by kind.
    let review = appointment(&raw, kept, "review", inside, "attended").await;
    let review2 = appointment(&raw, worked, "review", inside, "attended").await;
    let session = appointment(&raw, kept, "enablement_workshop", inside, "attended").await;
    let old = appointment(&raw, kept, "review", before, "attended").await;
    rating(&raw, kept, review, "review", north.id, 5, inside).await;
    rating(&raw, worked, review2, "review", north.id, 2, inside).await;
    rating(
        &raw,
        kept,
        session,
        "enablement_workshop",
        north.id,
        4,
        inside,
    )
    .await;
    rating(&raw, kept, old, "review", north.id, 1, before).await;
    let mut kinds: Vec<(String, i64, i64, i64)> = store
        .satisfaction_tallies(Some(north.id), span)
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.kind, t.ratings, t.people, t.score_sum))
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            ("enablement_workshop".to_owned(), 1, 1, 4),
            ("review".to_owned(), 2, 2, 7),
        ]
    );
    raw.close().await;
}
