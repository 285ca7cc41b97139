//! The foundation store: users, people, teams, relationships, consents, sign-in, text and
//! time, audit, schema and signing keys.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, Timelike, Utc};
use livingwell_core::domain::consent::{Consent, Grantee};
use livingwell_core::domain::{
    ConsentId, ConsentScope, CrisisPlanSection, EmergencyAccessId, PersonId, Role, StaffScope,
    TeamId, UserId,
};
use livingwell_server::audit::{self, Verification};
use livingwell_server::store::messages::ConversationKey;
use livingwell_server::store::{
    self, AccessLogLine, AuditHead, EmergencyAccessRecord, GrantRefusal, LinkedCarer, MeParts,
    NewAuditEntry, NewRefreshToken, OAuthClientRecord, PersonRecord, PreviousSecret,
    RefreshTokenRecord, RelationshipFacts, SessionUser, SigningKeyRecord, SigningKeySummary,
    SqliteStore, Store, StoreError, TeamRecord,
};
use livingwell_testkit::{Backend, TestDatabase};

use crate::{
    Raw, audit_entry, consent, instant, new_person, new_team, new_user, person_record, user_record,
};

/// A database signed into before refresh secrets existed: migration 0007 gives each session a
/// secret of its own, so the refresh tokens already out there go on working.
async fn sessions_from_before_0007_get_a_refresh_secret(backend: Backend) {
    let db = TestDatabase::create(backend).await.unwrap();
    let store = store::connect(&db.url).await.unwrap();
    let raw = Raw::connect(&db).await;
    raw.migrate_to(6).await;
    let user = new_user(store.as_ref(), Role::Carer, "early").await;
    let mut secrets = BTreeSet::new();
    let mut hashes = Vec::new();
    for n in 0..2u8 {
        let session = uuid::Uuid::now_v7();
        raw.insert_session_before_0007(session, user.id).await;
        let token = NewRefreshToken {
            id: uuid::Uuid::now_v7(),
            session_id: session,
            token_hash: vec![n; 32],
            issued_at: super::now(),
            expires_at: super::now() + Duration::days(30),
        };
        store.insert_refresh_token(&token).await.unwrap();
        hashes.push(token.token_hash);
    }

    store.migrate().await.unwrap();
    for hash in hashes {
        let token = store.refresh_token_by_hash(&hash).await.unwrap().unwrap();
        assert_eq!(token.session_secret.len(), 32);
        secrets.insert(token.session_secret);
    }
    assert_eq!(secrets.len(), 2, "a secret of each session's own");
    raw.close().await;
    drop(db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_sessions_from_before_0007_get_a_refresh_secret() {
    sessions_from_before_0007_get_a_refresh_secret(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sessions_from_before_0007_get_a_refresh_secret() {
    sessions_from_before_0007_get_a_refresh_secret(Backend::Postgres).await
}

conformance! {
    store: [
        // Users.
        user_reads_back_by_id_and_by_username,
        duplicate_username_is_a_conflict,
        service_user_without_person_is_refused_not_a_panic,
        // People.
        person_is_created_with_account_and_team_together,
        person_is_not_created_when_their_account_fails,
        person_shows_team_and_peer_worker,
        placing_on_another_team_moves_the_person,
        caseload_pages_return_everyone_once_in_order,
        // Teams and relationships.
        team_membership_add_is_idempotent_and_remove_reports,
        relationship_facts_follow_membership_immediately,
        relationship_facts_show_self_peer_and_carer,
        me_parts_hold_what_each_kind_of_account_is_connected_to,
        emergency_access_counts_only_until_it_expires,
        // Consents.
        granted_consents_read_back_exactly,
        consent_is_refused_when_carer_not_linked,
        consent_is_refused_for_an_excluded_carer,
        excluding_a_carer_revokes_their_consents_in_force,
        peer_worker_consent_needs_the_allocation_and_ends_with_it,
        revoking_a_consent_succeeds_once,
        // Sign-in.
        session_user_is_found_until_the_session_is_revoked,
        session_user_and_facts_agree_with_the_two_queries_they_join,
        a_session_is_refused_without_a_full_refresh_secret,
        refresh_token_reports_session_revoked,
        refresh_token_rotates_exactly_once_under_concurrency,
        a_refresh_token_stored_twice_keeps_the_first,
        oauth_client_scopes_round_trip,
        a_client_secret_rotates_with_an_overlap_and_a_disabled_client_stays_disabled,
        // Text and time.
        unicode_text_round_trips_byte_identical,
        timestamps_round_trip_with_microseconds,
        timestamp_order_is_preserved,
        // Audit.
        audit_seqs_start_at_one_and_are_contiguous,
        concurrent_audit_appends_make_one_unbroken_chain,
        a_batch_larger_than_one_statement_is_stored_whole_and_chained,
        every_field_of_an_entry_is_chained_as_the_server_hashes_it,
        audit_for_subject_is_newest_first_with_before_cursor,
        access_log_lines_name_the_accounts_that_acted_and_only_them,
        // Schema and keys.
        migrating_twice_is_a_no_op,
        signing_key_with_same_kid_is_kept_once,
        signing_keys_are_newest_first,
        rotating_gives_the_keys_in_use_a_retirement_time_once,
        resealing_replaces_only_the_bytes_it_read,
        retired_keys_lose_their_bytes_and_stay_in_the_history,
    ],
    raw: [
        audit_log_refuses_update_and_delete,
        tampered_audit_entry_is_detected,
        connections_the_database_dropped_while_idle_are_replaced_unseen,
        a_writer_thread_writes_on_connections_of_its_own_runtime,
    ],
}

// ---------------------------------------------------------------------------------------------
// Users
// ---------------------------------------------------------------------------------------------

async fn user_reads_back_by_id_and_by_username(store: Arc<dyn Store>) {
    let user = new_user(store.as_ref(), Role::Practitioner, "dr.okafor").await;

    assert_eq!(store.user_by_id(user.id).await.unwrap(), Some(user.clone()));
    assert_eq!(
        store.user_by_username("dr.okafor").await.unwrap(),
        Some(user.clone())
    );
    assert_eq!(store.user_by_id(UserId::new()).await.unwrap(), None);
    assert_eq!(store.user_by_username("nobody").await.unwrap(), None);
    // Usernames are matched exactly.
    assert_eq!(store.user_by_username("DR.OKAFOR").await.unwrap(), None);

    let other = new_user(store.as_ref(), Role::Admin, "admin").await;
    // Unknown ids are skipped; the order of the answer is not part of the contract.
    let mut found = store
        .users_by_ids(&[other.id, UserId::new(), user.id])
        .await
        .unwrap();
    found.sort_by_key(|u| u.id);
    let mut expected = vec![other, user];
    expected.sort_by_key(|u| u.id);
    assert_eq!(found, expected);
}

async fn duplicate_username_is_a_conflict(store: Arc<dyn Store>) {
    let first = new_user(store.as_ref(), Role::Carer, "sam").await;
    let second = user_record(Role::PeerWorker, "sam", None);

    let result = store.create_user(&second, super::now()).await;
    match result {
        Err(StoreError::Conflict(rule)) => {
            assert_eq!(rule.field, "username", "conflict names {rule:?}")
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    // The first account is untouched and the second was not stored.
    assert_eq!(store.user_by_username("sam").await.unwrap(), Some(first));
    assert_eq!(store.user_by_id(second.id).await.unwrap(), None);
}

async fn service_user_without_person_is_refused_not_a_panic(store: Arc<dyn Store>) {
    let orphan = user_record(Role::ServiceUser, "no.person", None);
    let result = store.create_user(&orphan, super::now()).await;
    assert!(
        matches!(result, Err(StoreError::Database(_))),
        "expected the schema check to refuse, got {result:?}"
    );
    assert_eq!(store.user_by_id(orphan.id).await.unwrap(), None);

    // And the other way round: only a service user may carry a person.
    let person = new_person(store.as_ref(), "Ada", None).await;
    let carer_with_person = user_record(Role::Carer, "carer.with.person", Some(person.id));
    let result = store.create_user(&carer_with_person, super::now()).await;
    assert!(result.is_err(), "a carer with a person_id was stored");
    assert_eq!(
        store.user_by_username("carer.with.person").await.unwrap(),
        None
    );

    // A person_id that names nobody is a missing reference.
    let dangling = user_record(Role::ServiceUser, "dangling", Some(PersonId::new()));
    let result = store.create_user(&dangling, super::now()).await;
    assert!(
        matches!(result, Err(StoreError::MissingReference)),
        "expected a missing reference, got {result:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// People
// ---------------------------------------------------------------------------------------------

async fn person_is_created_with_account_and_team_together(store: Arc<dyn Store>) {
    let team = new_team(store.as_ref(), "North").await;
    let person = person_record("Ada Lovelace", Some(team.id));
    let account = user_record(Role::ServiceUser, "ada", Some(person.id));

    store.create_person(&person, Some(&account)).await.unwrap();

    assert_eq!(store.person(person.id).await.unwrap(), Some(person.clone()));
    assert_eq!(store.user_by_username("ada").await.unwrap(), Some(account));
    assert_eq!(store.count_people().await.unwrap(), 1);
    assert_eq!(
        store.caseload(team.id, None, 10).await.unwrap(),
        vec![person]
    );
}

async fn person_is_not_created_when_their_account_fails(store: Arc<dyn Store>) {
    let team = new_team(store.as_ref(), "North").await;
    new_user(store.as_ref(), Role::Carer, "taken").await;

    let person = person_record("Grace Hopper", Some(team.id));
    let account = user_record(Role::ServiceUser, "taken", Some(person.id));
    let result = store.create_person(&person, Some(&account)).await;
    assert!(
        matches!(result, Err(StoreError::Conflict(_))),
        "expected a conflict, got {result:?}"
    );

    // Nothing of the person remains: not the person, not their caseload place.
    assert_eq!(store.person(person.id).await.unwrap(), None);
    assert_eq!(store.count_people().await.unwrap(), 0);
    assert!(store.person_display_names().await.unwrap().is_empty());
    assert!(store.caseload(team.id, None, 10).await.unwrap().is_empty());
    assert_eq!(store.user_by_id(account.id).await.unwrap(), None);

    // The same person can be created once the account is fixed.
    let account = user_record(Role::ServiceUser, "grace", Some(person.id));
    store.create_person(&person, Some(&account)).await.unwrap();
    assert_eq!(store.person(person.id).await.unwrap(), Some(person));
}

async fn person_shows_team_and_peer_worker(store: Arc<dyn Store>) {
    let team = new_team(store.as_ref(), "South").await;
    let peer = new_user(store.as_ref(), Role::PeerWorker, "peer.pat").await;
    let person = new_person(store.as_ref(), "Alan", None).await;

    let fresh = store.person(person.id).await.unwrap().unwrap();
    assert_eq!(fresh.team_id, None);
    assert_eq!(fresh.peer_worker_id, None);

    store
        .place_on_team(person.id, team.id, super::now())
        .await
        .unwrap();
    store
        .allocate_peer(person.id, peer.id, super::now())
        .await
        .unwrap();

    let placed = store.person(person.id).await.unwrap().unwrap();
    assert_eq!(placed.team_id, Some(team.id));
    assert_eq!(placed.peer_worker_id, Some(peer.id));
    assert_eq!(placed.display_name, "Alan");
    assert_eq!(placed.created_at, person.created_at);

    let allocated = store.people_allocated(peer.id).await.unwrap();
    assert_eq!(allocated, vec![placed.clone()]);

    // Allocating another peer worker replaces the first.
    let other_peer = new_user(store.as_ref(), Role::PeerWorker, "peer.quinn").await;
    store
        .allocate_peer(person.id, other_peer.id, super::now())
        .await
        .unwrap();
    let reallocated = store.person(person.id).await.unwrap().unwrap();
    assert_eq!(reallocated.peer_worker_id, Some(other_peer.id));
    assert!(store.people_allocated(peer.id).await.unwrap().is_empty());
}

async fn placing_on_another_team_moves_the_person(store: Arc<dyn Store>) {
    let north = new_team(store.as_ref(), "North").await;
    let south = new_team(store.as_ref(), "South").await;
    let person = new_person(store.as_ref(), "Mary", Some(north.id)).await;

    store
        .place_on_team(person.id, south.id, super::now())
        .await
        .unwrap();

    assert_eq!(
        store.person(person.id).await.unwrap().unwrap().team_id,
        Some(south.id)
    );
    assert!(store.caseload(north.id, None, 10).await.unwrap().is_empty());
    let south_caseload = store.caseload(south.id, None, 10).await.unwrap();
    assert_eq!(
        south_caseload.iter().map(|p| p.id).collect::<Vec<_>>(),
        vec![person.id]
    );

    // Placing on the same team again changes nothing visible.
    store
        .place_on_team(person.id, south.id, super::now())
        .await
        .unwrap();
    assert_eq!(store.caseload(south.id, None, 10).await.unwrap().len(), 1);

    // Placing on a team that does not exist is refused.
    let result = store
        .place_on_team(person.id, TeamId::new(), super::now())
        .await;
    assert!(
        matches!(result, Err(StoreError::MissingReference)),
        "got {result:?}"
    );
    assert_eq!(
        store.person(person.id).await.unwrap().unwrap().team_id,
        Some(south.id)
    );
}

async fn caseload_pages_return_everyone_once_in_order(store: Arc<dyn Store>) {
    let team = new_team(store.as_ref(), "East").await;
    let elsewhere = new_team(store.as_ref(), "West").await;
    let mut expected = Vec::new();
    for i in 0..7 {
        let person = new_person(store.as_ref(), &format!("Person {i}"), Some(team.id)).await;
        expected.push(person.id);
        // People on another team are interleaved and must not appear.
        new_person(store.as_ref(), &format!("Other {i}"), Some(elsewhere.id)).await;
    }
    // One more placed after creation.
    let late = new_person(store.as_ref(), "Late", None).await;
    store
        .place_on_team(late.id, team.id, super::now())
        .await
        .unwrap();
    expected.push(late.id);
    expected.sort();

    let mut seen = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let page = store.caseload(team.id, after, 3).await.unwrap();
        if page.is_empty() {
            break;
        }
        pages += 1;
        assert!(page.len() <= 3);
        assert!(page.iter().all(|p| p.team_id == Some(team.id)));
        seen.extend(page.iter().map(|p| p.id));
        after = page.last().map(|p| p.id);
        assert!(pages <= 10, "pagination does not end");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, expected, "each person once, in cursor order");
}

// ---------------------------------------------------------------------------------------------
// Teams and relationships
// ---------------------------------------------------------------------------------------------

async fn team_membership_add_is_idempotent_and_remove_reports(store: Arc<dyn Store>) {
    let team = new_team(store.as_ref(), "North").await;
    let other = new_team(store.as_ref(), "Arches").await;
    let practitioner = new_user(store.as_ref(), Role::Practitioner, "dr.lee").await;

    assert!(
        !store
            .is_team_member(team.id, practitioner.id)
            .await
            .unwrap()
    );
    assert!(
        store
            .add_team_member(team.id, practitioner.id, super::now())
            .await
            .unwrap()
    );
    assert!(
        !store
            .add_team_member(team.id, practitioner.id, super::now())
            .await
            .unwrap(),
        "a second add reports nothing new"
    );
    assert!(
        store
            .is_team_member(team.id, practitioner.id)
            .await
            .unwrap()
    );
    assert!(
        store
            .add_team_member(other.id, practitioner.id, super::now())
            .await
            .unwrap()
    );
    // Ordered by team name.
    assert_eq!(
        store.teams_of_user(practitioner.id).await.unwrap(),
        vec![other.clone(), team.clone()]
    );

    assert!(
        store
            .remove_team_member(team.id, practitioner.id, super::now())
            .await
            .unwrap()
    );
    assert!(
        !store
            .remove_team_member(team.id, practitioner.id, super::now())
            .await
            .unwrap(),
        "a second remove reports nothing removed"
    );
    assert!(
        !store
            .is_team_member(team.id, practitioner.id)
            .await
            .unwrap()
    );
    assert_eq!(
        store.teams_of_user(practitioner.id).await.unwrap(),
        vec![other.clone()]
    );
    assert_eq!(store.teams().await.unwrap(), vec![other, team.clone()]);
    assert_eq!(store.team(team.id).await.unwrap(), Some(team));
    assert_eq!(store.team(TeamId::new()).await.unwrap(), None);
}

async fn relationship_facts_follow_membership_immediately(store: Arc<dyn Store>) {
    let team = new_team(store.as_ref(), "North").await;
    let practitioner = new_user(store.as_ref(), Role::Practitioner, "dr.lee").await;
    let person = new_person(store.as_ref(), "Ada", Some(team.id)).await;
    let now = super::now();

    let facts = store
        .relationship_facts(practitioner.id, person.id, now)
        .await
        .unwrap();
    assert_eq!(
        facts,
        RelationshipFacts {
            person_placed: true,
            ..RelationshipFacts::default()
        }
    );

    store
        .add_team_member(team.id, practitioner.id, now)
        .await
        .unwrap();
    let facts = store
        .relationship_facts(practitioner.id, person.id, now)
        .await
        .unwrap();
    assert!(facts.on_persons_team);

    store
        .remove_team_member(team.id, practitioner.id, now)
        .await
        .unwrap();
    let facts = store
        .relationship_facts(practitioner.id, person.id, now)
        .await
        .unwrap();
    assert!(!facts.on_persons_team);

    // Membership of a team that does not hold the person counts for nothing.
    let other = new_team(store.as_ref(), "South").await;
    store
        .add_team_member(other.id, practitioner.id, now)
        .await
        .unwrap();
    let facts = store
        .relationship_facts(practitioner.id, person.id, now)
        .await
        .unwrap();
    assert!(!facts.on_persons_team);
    // ...until the person moves there.
    store.place_on_team(person.id, other.id, now).await.unwrap();
    let facts = store
        .relationship_facts(practitioner.id, person.id, now)
        .await
        .unwrap();
    assert!(facts.on_persons_team);

    // An unplaced person.
    let unplaced = new_person(store.as_ref(), "Bea", None).await;
    let facts = store
        .relationship_facts(practitioner.id, unplaced.id, now)
        .await
        .unwrap();
    assert_eq!(facts, RelationshipFacts::default());
}

async fn relationship_facts_show_self_peer_and_carer(store: Arc<dyn Store>) {
    let person = person_record("Ada", None);
    let own = user_record(Role::ServiceUser, "ada", Some(person.id));
    store.create_person(&person, Some(&own)).await.unwrap();
    let peer = new_user(store.as_ref(), Role::PeerWorker, "peer").await;
    let carer = new_user(store.as_ref(), Role::Carer, "carer").await;
    let now = super::now();

    let own_facts = store
        .relationship_facts(own.id, person.id, now)
        .await
        .unwrap();
    assert!(own_facts.is_self);
    assert!(!own_facts.allocated_peer && !own_facts.linked_carer);

    assert!(
        !store
            .relationship_facts(peer.id, person.id, now)
            .await
            .unwrap()
            .allocated_peer
    );
    store.allocate_peer(person.id, peer.id, now).await.unwrap();
    let peer_facts = store
        .relationship_facts(peer.id, person.id, now)
        .await
        .unwrap();
    assert!(peer_facts.allocated_peer);
    assert!(!peer_facts.is_self && !peer_facts.linked_carer);

    assert!(
        !store
            .relationship_facts(carer.id, person.id, now)
            .await
            .unwrap()
            .linked_carer
    );
    store
        .link_carer(person.id, carer.id, Some("sister"), now)
        .await
        .unwrap();
    let carer_facts = store
        .relationship_facts(carer.id, person.id, now)
        .await
        .unwrap();
    assert!(carer_facts.linked_carer);
    assert!(!carer_facts.is_self && !carer_facts.allocated_peer);

    let carers = store.carers(person.id).await.unwrap();
    assert_eq!(carers.len(), 1);
    assert_eq!(carers[0].carer, carer);
    assert_eq!(carers[0].relationship.as_deref(), Some("sister"));
    assert_eq!(carers[0].linked_at, now);
    assert_eq!(
        store
            .people_cared_for(carer.id)
            .await
            .unwrap()
            .iter()
            .map(|p| p.id)
            .collect::<Vec<_>>(),
        vec![person.id]
    );

    // Linking again updates the relationship, and is still one link.
    store
        .link_carer(person.id, carer.id, None, super::now())
        .await
        .unwrap();
    let carers = store.carers(person.id).await.unwrap();
    assert_eq!(carers.len(), 1);
    assert_eq!(carers[0].relationship, None);
}

/// `/v1/me`'s one statement: a service user's person and carers, a practitioner's teams, the
/// people a carer supports under a consent in force at the instant asked about, and a peer
/// worker's allocated people — each part in the order its own query gives.
async fn me_parts_hold_what_each_kind_of_account_is_connected_to(store: Arc<dyn Store>) {
    let north = new_team(store.as_ref(), "North").await;
    let acorn = new_team(store.as_ref(), "Acorn").await;
    let no_hub = TeamRecord {
        id: TeamId::new(),
        name: "Zeta".to_owned(),
        hub_address: None,
    };
    store.create_team(&no_hub, super::now()).await.unwrap();
    let priya = new_user(store.as_ref(), Role::Practitioner, "priya").await;
    for team in [&north, &no_hub, &acorn] {
        store
            .add_team_member(team.id, priya.id, super::now())
            .await
            .unwrap();
    }
    let pat = new_user(store.as_ref(), Role::PeerWorker, "pat").await;
    let sam = new_user(store.as_ref(), Role::Carer, "sam").await;
    let kim = new_user(store.as_ref(), Role::Carer, "kim").await;

    // Alex, a service user with an account, on North, with Pat as peer worker.
    let alex = person_record("Alex", Some(north.id));
    let alex_account = user_record(Role::ServiceUser, "alex", Some(alex.id));
    store
        .create_person(&alex, Some(&alex_account))
        .await
        .unwrap();
    store
        .allocate_peer(alex.id, pat.id, super::now())
        .await
        .unwrap();
    let linked = instant(9, 0, 0, 250_001);
    store
        .link_carer(alex.id, sam.id, Some("sister"), linked)
        .await
        .unwrap();
    store
        .link_carer(alex.id, kim.id, None, linked - Duration::hours(1))
        .await
        .unwrap();

    // Sam cares for five more people; a consent in force at `at` makes them supported.
    let at = super::now() + Duration::minutes(10);
    for (name, created_at, expires_at, revoked) in [
        ("Aaron", at, None, false), // begins at `at`: in force
        ("Bea", at - Duration::hours(1), Some(at), false), // ends at `at`: not
        ("Cy", at - Duration::hours(1), None, true), // revoked
        ("Dee", at + Duration::seconds(1), None, false), // not yet begun
        (
            "Eve",
            at - Duration::hours(1),
            Some(at + Duration::seconds(1)),
            false,
        ), // in force
    ] {
        let person = new_person(store.as_ref(), name, None).await;
        store
            .link_carer(person.id, sam.id, None, super::now())
            .await
            .unwrap();
        let granted = Consent {
            created_at,
            expires_at,
            ..consent(person.id, sam.id, &[ConsentScope::CrisisPlan])
        };
        assert_eq!(store.grant_consent(&granted).await.unwrap(), Ok(()));
        if revoked {
            assert!(
                store
                    .revoke_consent(person.id, granted.id, super::now())
                    .await
                    .unwrap()
            );
        }
    }
    store
        .grant_consent(&consent(alex.id, sam.id, &[ConsentScope::CrisisPlan]))
        .await
        .unwrap()
        .unwrap();
    // A linked person without any consent is not supported.
    let fay = new_person(store.as_ref(), "Fay", None).await;
    store
        .link_carer(fay.id, sam.id, None, super::now())
        .await
        .unwrap();
    let ben = new_person(store.as_ref(), "Ben", None).await;
    store
        .allocate_peer(ben.id, pat.id, super::now())
        .await
        .unwrap();

    let alex_now = store.person(alex.id).await.unwrap().unwrap();
    let carer = |user: &store::UserRecord, relationship: Option<&str>, linked_at| LinkedCarer {
        id: user.id,
        username: user.username.clone(),
        role: Role::Carer,
        display_name: user.display_name.clone(),
        person_id: None,
        relationship: relationship.map(str::to_owned),
        linked_at,
    };
    assert_eq!(
        store
            .me_parts(alex_account.id, Role::ServiceUser, Some(alex.id), at)
            .await
            .unwrap(),
        MeParts {
            person: Some(alex_now.clone()),
            carers: vec![
                carer(&kim, None, linked - Duration::hours(1)),
                carer(&sam, Some("sister"), linked),
            ],
            teams: vec![],
            people_supported: vec![],
        }
    );
    assert_eq!(
        store
            .me_parts(priya.id, Role::Practitioner, None, at)
            .await
            .unwrap(),
        MeParts {
            teams: vec![acorn, north, no_hub],
            ..MeParts::default()
        }
    );

    let sams = store.me_parts(sam.id, Role::Carer, None, at).await.unwrap();
    assert_eq!(
        sams.people_supported
            .iter()
            .map(|p| p.display_name.as_str())
            .collect::<Vec<_>>(),
        ["Aaron", "Alex", "Eve"],
        "by name, and only under a consent in force at the instant asked about"
    );
    assert_eq!(sams.people_supported[1], alex_now);
    assert_eq!(
        (sams.person, sams.carers, sams.teams),
        (None, vec![], vec![])
    );
    // A second later, Dee's consent has begun and Eve's has run out.
    let later = store
        .me_parts(sam.id, Role::Carer, None, at + Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(
        later
            .people_supported
            .iter()
            .map(|p| p.display_name.as_str())
            .collect::<Vec<_>>(),
        ["Aaron", "Alex", "Dee"]
    );

    let pats = store
        .me_parts(pat.id, Role::PeerWorker, None, at)
        .await
        .unwrap();
    assert_eq!(
        pats.people_supported,
        store.people_allocated(pat.id).await.unwrap(),
        "a peer worker supports the people allocated to them, Sam's links aside"
    );
    assert_eq!(
        pats.people_supported
            .iter()
            .map(|p| p.display_name.as_str())
            .collect::<Vec<_>>(),
        ["Alex", "Ben"]
    );
}

async fn emergency_access_counts_only_until_it_expires(store: Arc<dyn Store>) {
    let practitioner = new_user(store.as_ref(), Role::Practitioner, "dr.er").await;
    let colleague = new_user(store.as_ref(), Role::Practitioner, "dr.other").await;
    let person = new_person(store.as_ref(), "Ada", None).await;
    let granted = instant(10, 0, 0, 250_000);
    let expires = granted + Duration::hours(1);

    // An old, expired grant counts for nothing.
    let old = EmergencyAccessRecord {
        id: EmergencyAccessId::new(),
        person_id: person.id,
        practitioner_id: practitioner.id,
        reason: "last month".to_owned(),
        granted_at: granted - Duration::days(30),
        expires_at: granted - Duration::days(30) + Duration::hours(1),
    };
    store.grant_emergency_access(&old).await.unwrap();
    let facts = |at| {
        let store = store.clone();
        async move {
            store
                .relationship_facts(practitioner.id, person.id, at)
                .await
                .unwrap()
                .emergency_access_until
        }
    };
    assert_eq!(facts(granted).await, None);

    let grant = EmergencyAccessRecord {
        id: EmergencyAccessId::new(),
        person_id: person.id,
        practitioner_id: practitioner.id,
        reason: "crisis call, on-call consultant".to_owned(),
        granted_at: granted,
        expires_at: expires,
    };
    store.grant_emergency_access(&grant).await.unwrap();

    assert_eq!(facts(granted).await, Some(expires));
    assert_eq!(
        facts(expires - Duration::microseconds(1)).await,
        Some(expires)
    );
    assert_eq!(facts(expires).await, None, "expired at its expiry instant");
    assert_eq!(facts(expires + Duration::microseconds(1)).await, None);
    assert_eq!(facts(expires + Duration::days(1)).await, None);

    // Whole-second expiry against fractional query times (SQLite compares text).
    let whole = EmergencyAccessRecord {
        id: EmergencyAccessId::new(),
        person_id: person.id,
        practitioner_id: practitioner.id,
        reason: "second grant".to_owned(),
        granted_at: granted,
        expires_at: instant(12, 0, 0, 0),
    };
    store.grant_emergency_access(&whole).await.unwrap();
    assert_eq!(
        facts(instant(11, 59, 59, 999_999)).await,
        Some(instant(12, 0, 0, 0))
    );
    assert_eq!(facts(instant(12, 0, 0, 0)).await, None);
    assert_eq!(facts(instant(12, 0, 0, 1)).await, None);
    // The latest grant in force is reported.
    assert_eq!(facts(granted).await, Some(instant(12, 0, 0, 0)));

    // Someone else's grant does not count for the colleague.
    let colleague_facts = store
        .relationship_facts(colleague.id, person.id, granted)
        .await
        .unwrap();
    assert_eq!(colleague_facts.emergency_access_until, None);
}

// ---------------------------------------------------------------------------------------------
// Consents
// ---------------------------------------------------------------------------------------------

async fn granted_consents_read_back_exactly(store: Arc<dyn Store>) {
    let person = new_person(store.as_ref(), "Ada", None).await;
    let carer = new_user(store.as_ref(), Role::Carer, "carer").await;
    store
        .link_carer(person.id, carer.id, Some("partner"), super::now())
        .await
        .unwrap();

    let mut sections = consent(
        person.id,
        carer.id,
        &[ConsentScope::CrisisPlan, ConsentScope::Appointments],
    );
    sections.crisis_plan_sections = [
        CrisisPlanSection::WhenWell,
        CrisisPlanSection::Medication,
        CrisisPlanSection::AdvanceStatements,
    ]
    .into();
    sections.expires_at = Some(instant(23, 59, 59, 999_999) + Duration::days(365));
    let mut everything = consent(
        person.id,
        carer.id,
        &[
            ConsentScope::CrisisPlan,
            ConsentScope::Appointments,
            ConsentScope::EnablementPlan,
        ],
    );
    everything.crisis_plan_sections = CrisisPlanSection::ALL.into_iter().collect();
    let empty_sections = consent(person.id, carer.id, &[ConsentScope::EnablementPlan]);

    for c in [&sections, &everything, &empty_sections] {
        assert_eq!(store.grant_consent(c).await.unwrap(), Ok(()));
    }

    let mut expected = vec![sections, everything, empty_sections];
    expected.sort_by_key(|c| c.id);
    let mut listed = store.consents(person.id).await.unwrap();
    listed.sort_by_key(|c| c.id);
    assert_eq!(listed, expected);

    let mut to_carer = store.consents_to(person.id, carer.id).await.unwrap();
    to_carer.sort_by_key(|c| c.id);
    assert_eq!(to_carer, expected);

    // Paged by id, each once; and each read back by its own id.
    let first = store.consents_after(person.id, None, 2).await.unwrap();
    let rest = store
        .consents_after(person.id, first.last().map(|c| c.id), 2)
        .await
        .unwrap();
    assert_eq!([first, rest].concat(), expected);
    for c in &expected {
        assert_eq!(store.consent(c.id).await.unwrap().as_ref(), Some(c));
    }
    assert_eq!(store.consent(ConsentId::new()).await.unwrap(), None);

    // Nobody else's.
    let other = new_person(store.as_ref(), "Bea", None).await;
    assert!(store.consents(other.id).await.unwrap().is_empty());
    assert!(
        store
            .consents_after(other.id, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn consent_is_refused_when_carer_not_linked(store: Arc<dyn Store>) {
    let person = new_person(store.as_ref(), "Ada", None).await;
    let carer = new_user(store.as_ref(), Role::Carer, "stranger").await;

    let c = consent(person.id, carer.id, &[ConsentScope::Appointments]);
    assert_eq!(
        store.grant_consent(&c).await.unwrap(),
        Err(GrantRefusal::NotRelated)
    );
    assert!(store.consents(person.id).await.unwrap().is_empty());

    // Once linked, the same consent is granted.
    store
        .link_carer(person.id, carer.id, None, super::now())
        .await
        .unwrap();
    assert_eq!(store.grant_consent(&c).await.unwrap(), Ok(()));
    assert_eq!(store.consents(person.id).await.unwrap(), vec![c]);
}

async fn consent_is_refused_for_an_excluded_carer(store: Arc<dyn Store>) {
    let person = new_person(store.as_ref(), "Ada", None).await;
    let carer = new_user(store.as_ref(), Role::Carer, "ex").await;
    store
        .link_carer(person.id, carer.id, None, super::now())
        .await
        .unwrap();
    store
        .exclude_user(person.id, carer.id, super::now())
        .await
        .unwrap();
    // Excluding twice is harmless.
    store
        .exclude_user(person.id, carer.id, super::now())
        .await
        .unwrap();

    let c = consent(person.id, carer.id, &[ConsentScope::CrisisPlan]);
    assert_eq!(
        store.grant_consent(&c).await.unwrap(),
        Err(GrantRefusal::Excluded)
    );
    assert!(store.consents(person.id).await.unwrap().is_empty());

    // Exclusion wins over "not linked" as the reason.
    let unlinked = new_user(store.as_ref(), Role::Carer, "unlinked").await;
    store
        .exclude_user(person.id, unlinked.id, super::now())
        .await
        .unwrap();
    assert_eq!(
        store
            .grant_consent(&consent(
                person.id,
                unlinked.id,
                &[ConsentScope::CrisisPlan]
            ))
            .await
            .unwrap(),
        Err(GrantRefusal::Excluded)
    );
}

async fn peer_worker_consent_needs_the_allocation_and_ends_with_it(store: Arc<dyn Store>) {
    let person = new_person(store.as_ref(), "Ada", None).await;
    let first = new_user(store.as_ref(), Role::PeerWorker, "first-peer").await;
    let second = new_user(store.as_ref(), Role::PeerWorker, "second-peer").await;
    let to_first = Consent {
        grantee: Grantee::PeerWorker(first.id),
        ..consent(person.id, first.id, &[ConsentScope::CrisisPlan])
    };
    assert_eq!(
        store.grant_consent(&to_first).await.unwrap(),
        Err(GrantRefusal::NotRelated),
        "not allocated yet"
    );
    store
        .allocate_peer(person.id, first.id, super::now())
        .await
        .unwrap();
    assert_eq!(store.grant_consent(&to_first).await.unwrap(), Ok(()));
    assert_eq!(
        store.consents_to(person.id, first.id).await.unwrap(),
        vec![to_first.clone()]
    );
    // Allocating the same worker again changes nothing.
    store
        .allocate_peer(person.id, first.id, super::now())
        .await
        .unwrap();
    assert_eq!(
        store.consents_to(person.id, first.id).await.unwrap().len(),
        1
    );

    let at = super::now();
    store.allocate_peer(person.id, second.id, at).await.unwrap();
    assert!(
        store
            .consents_to(person.id, first.id)
            .await
            .unwrap()
            .is_empty()
    );
    let listed = store.consents(person.id).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].revoked_at, Some(at));
    assert_eq!(listed[0].grantee, Grantee::PeerWorker(first.id));
}

async fn excluding_a_carer_revokes_their_consents_in_force(store: Arc<dyn Store>) {
    let person = new_person(store.as_ref(), "Ada", None).await;
    let carer = new_user(store.as_ref(), Role::Carer, "carer").await;
    let other_carer = new_user(store.as_ref(), Role::Carer, "other").await;
    for c in [&carer, &other_carer] {
        store
            .link_carer(person.id, c.id, None, super::now())
            .await
            .unwrap();
    }

    let earlier = super::now() - Duration::days(2);
    let mut already_revoked = consent(person.id, carer.id, &[ConsentScope::EnablementPlan]);
    already_revoked.revoked_at = Some(earlier);
    let a = consent(person.id, carer.id, &[ConsentScope::CrisisPlan]);
    let b = consent(person.id, carer.id, &[ConsentScope::Appointments]);
    let kept = consent(person.id, other_carer.id, &[ConsentScope::Appointments]);
    for c in [&already_revoked, &a, &b, &kept] {
        assert_eq!(store.grant_consent(c).await.unwrap(), Ok(()));
    }

    let at = super::now();
    store.exclude_user(person.id, carer.id, at).await.unwrap();

    let listed = store.consents(person.id).await.unwrap();
    let revoked_at = |id: ConsentId| listed.iter().find(|c| c.id == id).unwrap().revoked_at;
    assert_eq!(revoked_at(a.id), Some(at));
    assert_eq!(revoked_at(b.id), Some(at));
    assert_eq!(
        revoked_at(already_revoked.id),
        Some(earlier),
        "an earlier revocation keeps its time"
    );
    assert_eq!(revoked_at(kept.id), None, "other carers are unaffected");
    assert!(
        store
            .consents_to(person.id, carer.id)
            .await
            .unwrap()
            .iter()
            .all(|c| !c.in_force_at(at))
    );
    assert_eq!(
        store.consents_to(person.id, other_carer.id).await.unwrap(),
        vec![kept]
    );
}

async fn revoking_a_consent_succeeds_once(store: Arc<dyn Store>) {
    let person = new_person(store.as_ref(), "Ada", None).await;
    let stranger = new_person(store.as_ref(), "Bea", None).await;
    let carer = new_user(store.as_ref(), Role::Carer, "carer").await;
    store
        .link_carer(person.id, carer.id, None, super::now())
        .await
        .unwrap();
    let c = consent(person.id, carer.id, &[ConsentScope::CrisisPlan]);
    store.grant_consent(&c).await.unwrap().unwrap();

    // Another person cannot revoke it.
    assert!(
        !store
            .revoke_consent(stranger.id, c.id, super::now())
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_consent(person.id, ConsentId::new(), super::now())
            .await
            .unwrap()
    );

    let at = super::now();
    assert!(store.revoke_consent(person.id, c.id, at).await.unwrap());
    assert!(
        !store
            .revoke_consent(person.id, c.id, at + Duration::minutes(1))
            .await
            .unwrap()
    );
    let listed = store.consents(person.id).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].revoked_at,
        Some(at),
        "the first revocation's time"
    );
    assert!(!listed[0].in_force_at(at));
}

// ---------------------------------------------------------------------------------------------
// Sign-in
// ---------------------------------------------------------------------------------------------

/// A session's refresh secret (the schema requires 32 bytes).
const SECRET: [u8; 32] = [0x5E; 32];

/// The read of a person's record asks for the session and the relationship in one query: it
/// must answer what the two separate queries answer, and nothing for a session that is not live.
async fn session_user_and_facts_agree_with_the_two_queries_they_join(store: Arc<dyn Store>) {
    let team = new_team(store.as_ref(), "North").await;
    let practitioner = new_user(store.as_ref(), Role::Practitioner, "dr.u").await;
    let person = new_person(store.as_ref(), "Ada", Some(team.id)).await;
    let elsewhere = new_person(store.as_ref(), "Bea", None).await;
    let now = super::now();
    store
        .add_team_member(team.id, practitioner.id, now)
        .await
        .unwrap();
    let session = uuid::Uuid::now_v7();
    store
        .create_session(session, practitioner.id, now, &SECRET)
        .await
        .unwrap();

    for about in [person.id, elsewhere.id] {
        let (found, facts) = store
            .session_user_and_facts(session, practitioner.id, about, now)
            .await
            .unwrap()
            .expect("a live session");
        assert_eq!(
            Some(found),
            store.session_user(session, practitioner.id).await.unwrap()
        );
        assert_eq!(
            facts,
            store
                .relationship_facts(practitioner.id, about, now)
                .await
                .unwrap()
        );
    }
    let (_, facts) = store
        .session_user_and_facts(session, practitioner.id, person.id, now)
        .await
        .unwrap()
        .unwrap();
    assert!(facts.on_persons_team && facts.person_placed);

    // Another account's session, an unknown one, a revoked one: nothing.
    let other = new_user(store.as_ref(), Role::Practitioner, "dr.v").await;
    let unknown = uuid::Uuid::now_v7();
    for (session, user) in [(session, other.id), (unknown, practitioner.id)] {
        assert!(
            store
                .session_user_and_facts(session, user, person.id, now)
                .await
                .unwrap()
                .is_none()
        );
    }
    store.revoke_session(session, now).await.unwrap();
    assert!(
        store
            .session_user_and_facts(session, practitioner.id, person.id, now)
            .await
            .unwrap()
            .is_none()
    );
}

/// A migrated SQLite database, and a store over a pool of one connection (which a test can
/// hold) that gives up waiting for it after `wait`.
async fn sqlite_over_one_connection(
    wait: std::time::Duration,
) -> (TestDatabase, sqlx::SqlitePool, SqliteStore) {
    let db = TestDatabase::create(Backend::Sqlite).await.unwrap();
    drop(super::open_store(&db).await);
    let pool = SqliteStore::pool_options()
        .max_connections(1)
        .acquire_timeout(wait)
        .connect_with(SqliteStore::connect_options(&db.url).unwrap())
        .await
        .unwrap();
    let store = SqliteStore::from_pool(pool.clone());
    (db, pool, store)
}

/// SQLite reads the statement every request makes on the calling thread, not through its pool
/// (`store::reads_here`): with the pool's only connection held, the session — alone, with a
/// relationship, with a sync cursor, with a conversation — is still read, and reads what the
/// pool read before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_reads_sessions_on_the_calling_thread_while_the_pool_is_held() {
    let (_db, pool, sqlite) = sqlite_over_one_connection(std::time::Duration::from_secs(2)).await;
    let store: Arc<dyn Store> = Arc::new(sqlite);

    let team = new_team(store.as_ref(), "North").await;
    let person = new_person(store.as_ref(), "Ada", Some(team.id)).await;
    let me = user_record(Role::ServiceUser, "ada", Some(person.id));
    store.create_user(&me, super::now()).await.unwrap();
    let practitioner = new_user(store.as_ref(), Role::Practitioner, "dr.h").await;
    let now = super::now();
    store
        .add_team_member(team.id, practitioner.id, now)
        .await
        .unwrap();
    let (session, own) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    store
        .create_session(session, practitioner.id, now, &SECRET)
        .await
        .unwrap();
    store
        .create_session(own, me.id, now, &SECRET)
        .await
        .unwrap();
    store
        .save_sync_cursor(me.id, "c1", "{}", now, None)
        .await
        .unwrap();
    let conversation = store
        .ensure_conversation(ConversationKey::Team(person.id), now)
        .await
        .unwrap();
    // Through the pool, while it is free.
    let facts = store
        .relationship_facts(practitioner.id, person.id, now)
        .await
        .unwrap();
    assert!(facts.on_persons_team);
    let cursor = store
        .sync_cursor(me.id, Some(person.id), "c1")
        .await
        .unwrap();
    assert!(cursor.is_some());
    let context = store
        .conversation_and_facts(conversation.id, practitioner.id, now)
        .await
        .unwrap();
    assert!(context.is_some());

    let held = pool.acquire().await.unwrap();
    let found = store
        .session_user(session, practitioner.id)
        .await
        .unwrap()
        .expect("a live session");
    assert_eq!(found.user, practitioner);
    assert_eq!(found.authenticated_at, now);
    assert_eq!(
        store
            .session_user_and_facts(session, practitioner.id, person.id, now)
            .await
            .unwrap(),
        Some((found.clone(), facts))
    );
    assert_eq!(
        store
            .session_user_and_conversation(session, practitioner.id, conversation.id, now)
            .await
            .unwrap(),
        Some((found, context))
    );
    let (mine, kept) = store
        .session_user_and_sync_cursor(own, me.id, "c1")
        .await
        .unwrap()
        .expect("a live session");
    assert_eq!(mine.user, me);
    assert_eq!(kept, cursor);
    assert_eq!(
        store
            .session_user(uuid::Uuid::now_v7(), me.id)
            .await
            .unwrap(),
        None
    );
    drop(held);

    store.revoke_session(session, super::now()).await.unwrap();
    let _held = pool.acquire().await.unwrap();
    assert_eq!(
        store.session_user(session, practitioner.id).await.unwrap(),
        None
    );
}

/// SQLite commits an audit batch on a connection of its own, in one blocking call
/// (`store::writes_here`), not statement by statement through its pool: with the pool's only
/// connection held, a batch is still committed, after the entries the pool stored, and the pool
/// reads back every field exactly — so each entry's hash, recomputed from what the pool reads,
/// still matches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_commits_audit_batches_on_a_connection_of_its_own_while_the_pool_is_held() {
    let (_db, pool, sqlite) = sqlite_over_one_connection(std::time::Duration::from_secs(2)).await;
    let store: Arc<dyn Store> = Arc::new(sqlite);
    let subject = new_person(store.as_ref(), "Ada", None).await.id;

    let held = pool.acquire().await.unwrap();
    let first = audit_entry(Some(subject), "read");
    let offline = NewAuditEntry {
        via: Some("offline".to_owned()),
        read_at: Some(instant(9, 15, 0, 123_456)),
        at: instant(9, 30, 1, 7),
        on_behalf_of: Some("worker on the phone".to_owned()),
        ..audit_entry(Some(subject), "read")
    };
    let unscoped = NewAuditEntry {
        actor_id: None,
        relationship: None,
        request_id: None,
        ..audit_entry(None, "sign_in")
    };
    let batch = vec![first, offline, unscoped];
    assert_eq!(store.append_audit(&batch).await.unwrap(), vec![1, 2, 3]);
    assert_eq!(
        store.append_audit(&batch[..1]).await.unwrap(),
        vec![4],
        "the next batch chains after the head it committed"
    );
    drop(held);

    let stored = store.audit_after(0, 10).await.unwrap();
    let entries: Vec<_> = stored.iter().map(|record| record.entry.clone()).collect();
    assert_eq!(entries, [batch.clone(), batch[..1].to_vec()].concat());
    assert_eq!(
        audit::verify(store.as_ref()).await.unwrap(),
        Verification::Intact { entries: 4 }
    );
}

/// What fails on SQLite's audit connection leaves nothing behind and goes to the pool, which
/// commits the batch or reports why as every write does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_audit_batches_that_fail_on_their_own_connection_go_to_the_pool() {
    let (_db, pool, sqlite) =
        sqlite_over_one_connection(std::time::Duration::from_millis(300)).await;
    // The audit connection may write one page more than the file has: the first entry's page
    // fits, but no batch of a hundred does.
    let store: Arc<dyn Store> = Arc::new(sqlite.before_writing_here(|connection| {
        let pages: i64 = connection.query_row("PRAGMA page_count", [], |row| row.get(0))?;
        connection.pragma_update(None, "max_page_count", pages + 1)
    }));
    let batch: Vec<_> = (0..100)
        .map(|n| NewAuditEntry {
            on_behalf_of: Some(format!("{n} {}", "padding ".repeat(40))),
            ..audit_entry(None, "read")
        })
        .collect();

    // Refused on its own connection, the batch is committed by the pool, once.
    assert_eq!(
        store.append_audit(&batch).await.unwrap(),
        (1..=100).collect::<Vec<i64>>()
    );
    // With the pool's connection held too, nothing can commit it: the pool says why.
    let held = pool.acquire().await.unwrap();
    let refused = store.append_audit(&batch).await.unwrap_err();
    assert!(
        matches!(refused, StoreError::Unavailable(_)),
        "{}",
        refused.kind()
    );
    drop(held);
    assert_eq!(store.audit_after(0, 1_000).await.unwrap().len(), 100);
    assert_eq!(
        audit::verify(store.as_ref()).await.unwrap(),
        Verification::Intact { entries: 100 }
    );
}

async fn session_user_is_found_until_the_session_is_revoked(store: Arc<dyn Store>) {
    let user = new_user(store.as_ref(), Role::Practitioner, "dr.s").await;
    let other = new_user(store.as_ref(), Role::Practitioner, "dr.t").await;
    let session = uuid::Uuid::now_v7();
    let signed_in = super::now();
    store
        .create_session(session, user.id, signed_in, &SECRET)
        .await
        .unwrap();

    assert_eq!(
        store.session_user(session, user.id).await.unwrap(),
        Some(SessionUser {
            user: user.clone(),
            session_id: session,
            authenticated_at: signed_in,
        })
    );
    // Entering the password again moves the session's authentication time, not its start.
    let again = signed_in + Duration::minutes(20);
    assert!(store.reauthenticated(session, again).await.unwrap());
    assert_eq!(
        store
            .session_user(session, user.id)
            .await
            .unwrap()
            .unwrap()
            .authenticated_at,
        again
    );
    // A session belongs to one account.
    assert_eq!(store.session_user(session, other.id).await.unwrap(), None);
    assert_eq!(
        store
            .session_user(uuid::Uuid::now_v7(), user.id)
            .await
            .unwrap(),
        None
    );

    // Other sessions of the same account are independent.
    let second = uuid::Uuid::now_v7();
    store
        .create_session(second, user.id, super::now(), &SECRET)
        .await
        .unwrap();

    store.revoke_session(session, super::now()).await.unwrap();
    assert_eq!(store.session_user(session, user.id).await.unwrap(), None);
    assert!(store.session_user(second, user.id).await.unwrap().is_some());
    // Revoking again is harmless.
    store.revoke_session(session, super::now()).await.unwrap();
    assert_eq!(store.session_user(session, user.id).await.unwrap(), None);
}

async fn a_session_is_refused_without_a_full_refresh_secret(store: Arc<dyn Store>) {
    let user = new_user(store.as_ref(), Role::Carer, "carer").await;
    for secret in [&[][..], &[1; 16][..]] {
        let result = store
            .create_session(uuid::Uuid::now_v7(), user.id, super::now(), secret)
            .await;
        assert!(result.is_err(), "a {}-byte secret", secret.len());
    }
}

async fn refresh_token_reports_session_revoked(store: Arc<dyn Store>) {
    let user = new_user(store.as_ref(), Role::Carer, "carer").await;
    let session = uuid::Uuid::now_v7();
    let issued = super::now();
    store
        .create_session(session, user.id, issued, &SECRET)
        .await
        .unwrap();
    let token = NewRefreshToken {
        id: uuid::Uuid::now_v7(),
        session_id: session,
        token_hash: vec![0xAB; 32],
        issued_at: issued,
        expires_at: issued + Duration::days(30),
    };
    store.insert_refresh_token(&token).await.unwrap();

    let expected = RefreshTokenRecord {
        id: token.id,
        session_id: session,
        user_id: user.id,
        expires_at: token.expires_at,
        rotated_at: None,
        session_revoked: false,
        session_started_at: issued,
        session_secret: SECRET.to_vec(),
        session_authenticated_at: issued,
    };
    assert_eq!(
        store
            .refresh_token_by_hash(&token.token_hash)
            .await
            .unwrap(),
        Some(expected.clone())
    );
    assert_eq!(
        store.refresh_token_by_hash(&[0xAC; 32]).await.unwrap(),
        None
    );

    store.revoke_session(session, super::now()).await.unwrap();
    assert_eq!(
        store
            .refresh_token_by_hash(&token.token_hash)
            .await
            .unwrap(),
        Some(RefreshTokenRecord {
            session_revoked: true,
            ..expected
        })
    );
}

async fn refresh_token_rotates_exactly_once_under_concurrency(store: Arc<dyn Store>) {
    let user = new_user(store.as_ref(), Role::Carer, "carer").await;
    let session = uuid::Uuid::now_v7();
    let issued = super::now();
    store
        .create_session(session, user.id, issued, &SECRET)
        .await
        .unwrap();
    let token = NewRefreshToken {
        id: uuid::Uuid::now_v7(),
        session_id: session,
        token_hash: b"a refresh token hash".to_vec(),
        issued_at: issued,
        expires_at: issued + Duration::days(30),
    };
    store.insert_refresh_token(&token).await.unwrap();

    let barrier = Arc::new(tokio::sync::Barrier::new(10));
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let store = store.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                let at = issued + Duration::seconds(1) + Duration::microseconds(i);
                barrier.wait().await;
                (at, store.mark_rotated(token.id, at).await.unwrap())
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        let (at, rotated) = task.await.unwrap();
        if rotated {
            winners.push(at);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one request rotates the token");

    let record = store
        .refresh_token_by_hash(&token.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.rotated_at, Some(winners[0]));
    assert!(!store.mark_rotated(token.id, super::now()).await.unwrap());
    assert!(
        !store
            .mark_rotated(uuid::Uuid::now_v7(), super::now())
            .await
            .unwrap()
    );
}

/// Racing refreshes derive the same successor; whichever stores it first wins, the rest succeed.
async fn a_refresh_token_stored_twice_keeps_the_first(store: Arc<dyn Store>) {
    let user = new_user(store.as_ref(), Role::Carer, "carer").await;
    let session = uuid::Uuid::now_v7();
    let now = super::now();
    store
        .create_session(session, user.id, now, &SECRET)
        .await
        .unwrap();
    let token = |id| NewRefreshToken {
        id,
        session_id: session,
        token_hash: vec![7; 32],
        issued_at: now,
        expires_at: now + Duration::days(1),
    };
    let first = uuid::Uuid::now_v7();
    store.insert_refresh_token(&token(first)).await.unwrap();
    store
        .insert_refresh_token(&token(uuid::Uuid::now_v7()))
        .await
        .unwrap();
    assert_eq!(
        store
            .refresh_token_by_hash(&[7; 32])
            .await
            .unwrap()
            .unwrap()
            .id,
        first
    );

    // A token for a session that does not exist is a missing reference.
    let orphan = NewRefreshToken {
        session_id: uuid::Uuid::now_v7(),
        token_hash: vec![8; 32],
        ..token(uuid::Uuid::now_v7())
    };
    let result = store.insert_refresh_token(&orphan).await;
    assert!(
        matches!(result, Err(StoreError::MissingReference)),
        "got {result:?}"
    );
}

async fn oauth_client_scopes_round_trip(store: Arc<dyn Store>) {
    let client = OAuthClientRecord {
        client_id: "case-system".to_owned(),
        name: "Case system".to_owned(),
        secret_hash: "$argon2id$secret".to_owned(),
        scopes: [StaffScope::PeopleRead, StaffScope::AuditRead].into(),
        created_at: super::now(),
        disabled_at: None,
        previous_secret: None,
        requests_per_minute: None,
    };
    store.create_client(&client).await.unwrap();
    assert_eq!(
        store.client("case-system").await.unwrap(),
        Some(client.clone())
    );
    assert_eq!(store.client("unknown").await.unwrap(), None);

    let all = OAuthClientRecord {
        client_id: "everything".to_owned(),
        scopes: StaffScope::ALL.into_iter().collect(),
        requests_per_minute: std::num::NonZeroU32::new(60_000),
        ..client.clone()
    };
    store.create_client(&all).await.unwrap();
    assert_eq!(store.client("everything").await.unwrap(), Some(all));

    let result = store.create_client(&client).await;
    assert!(
        matches!(result, Err(StoreError::Conflict(_))),
        "got {result:?}"
    );
}

async fn a_client_secret_rotates_with_an_overlap_and_a_disabled_client_stays_disabled(
    store: Arc<dyn Store>,
) {
    let at = super::now();
    let client = OAuthClientRecord {
        client_id: "rota-system".to_owned(),
        name: "Rota".to_owned(),
        secret_hash: "$argon2id$first".to_owned(),
        scopes: [StaffScope::AppointmentsRead].into(),
        created_at: at,
        disabled_at: None,
        previous_secret: None,
        requests_per_minute: None,
    };
    store.create_client(&client).await.unwrap();
    let until = at + chrono::Duration::hours(24);
    assert!(
        store
            .rotate_client_secret("rota-system", "$argon2id$second", until)
            .await
            .unwrap()
    );
    let rotated = store.client("rota-system").await.unwrap().unwrap();
    assert_eq!(rotated.secret_hash, "$argon2id$second");
    assert_eq!(
        rotated.previous_secret,
        Some(PreviousSecret {
            secret_hash: "$argon2id$first".to_owned(),
            until,
        })
    );
    assert!(
        !store
            .rotate_client_secret("unknown", "$x", until)
            .await
            .unwrap()
    );

    let later = at + chrono::Duration::minutes(5);
    assert!(store.disable_client("rota-system", at).await.unwrap());
    assert!(store.disable_client("rota-system", later).await.unwrap());
    let disabled = store.client("rota-system").await.unwrap().unwrap();
    assert_eq!(disabled.disabled_at, Some(at), "the first time is kept");
    assert!(
        !store
            .rotate_client_secret("rota-system", "$argon2id$third", until)
            .await
            .unwrap(),
        "a disabled client gets no new secret"
    );
    assert!(!store.disable_client("unknown", at).await.unwrap());
    let names: Vec<String> = store
        .clients()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["Rota"]);
}

// ---------------------------------------------------------------------------------------------
// Text and time
// ---------------------------------------------------------------------------------------------

async fn unicode_text_round_trips_byte_identical(store: Arc<dyn Store>) {
    // A family emoji (ZWJ sequence), right-to-left Arabic, and "é" as e + combining acute.
    let family = "\u{1F469}\u{200D}\u{1F469}\u{200D}\u{1F467}";
    let arabic = "\u{0645}\u{0631}\u{062D}\u{0628}\u{0627} \u{0644}\u{064A}\u{0644}\u{0649}";
    let decomposed = "Rene\u{0301}e";
    let name = format!("{family} {arabic} {decomposed}");
    assert_eq!(family, "👩‍👩‍👧");

    let team = TeamRecord {
        id: TeamId::new(),
        name: format!("{arabic} team"),
        hub_address: Some(format!("{family} house")),
    };
    store.create_team(&team, super::now()).await.unwrap();
    let person = person_record(&name, Some(team.id));
    let mut account = user_record(Role::ServiceUser, decomposed, Some(person.id));
    account.display_name = name.clone();
    store.create_person(&person, Some(&account)).await.unwrap();
    // The precomposed spelling is a different name and is kept apart.
    let precomposed = new_person(store.as_ref(), "Ren\u{e9}e", None).await;

    let read = store.person(person.id).await.unwrap().unwrap();
    assert_eq!(read.display_name.as_bytes(), name.as_bytes());
    let user = store.user_by_id(account.id).await.unwrap().unwrap();
    assert_eq!(user.display_name.as_bytes(), name.as_bytes());
    assert_eq!(user.username.as_bytes(), decomposed.as_bytes());
    assert_eq!(
        store.user_by_username(decomposed).await.unwrap(),
        Some(account)
    );
    assert_eq!(store.team(team.id).await.unwrap(), Some(team));
    assert_eq!(
        store
            .person(precomposed.id)
            .await
            .unwrap()
            .unwrap()
            .display_name
            .as_bytes(),
        "Ren\u{e9}e".as_bytes()
    );

    let names = store.person_display_names().await.unwrap();
    assert_eq!(names.len(), 2);
    assert!(names.iter().any(|n| n.as_bytes() == name.as_bytes()));

    // Through the audit log too.
    let mut entry = audit_entry(Some(person.id), "read");
    entry.relationship = Some(name.clone());
    store
        .append_audit(std::slice::from_ref(&entry))
        .await
        .unwrap();
    let stored = store.audit_for_subject(person.id, None, 10).await.unwrap();
    assert_eq!(stored[0].record.entry, entry);
    assert_eq!(
        audit::verify(store.as_ref()).await.unwrap(),
        Verification::Intact { entries: 1 }
    );
}

async fn timestamps_round_trip_with_microseconds(store: Arc<dyn Store>) {
    // `now()` as the server uses it, and a fixed instant with every microsecond digit set.
    for created_at in [super::now(), instant(9, 8, 7, 654_321)] {
        let person = PersonRecord {
            created_at,
            ..person_record("Timed", None)
        };
        store.create_person(&person, None).await.unwrap();
        let read = store.person(person.id).await.unwrap().unwrap();
        assert_eq!(read.created_at, created_at);
        assert_eq!(
            read.created_at.nanosecond() % 1_000,
            0,
            "stored times are microseconds"
        );
    }
    assert_eq!(instant(9, 8, 7, 654_321).nanosecond(), 654_321_000);

    // Times inside a consent and a signing key, too.
    let person = new_person(store.as_ref(), "Ada", None).await;
    let carer = new_user(store.as_ref(), Role::Carer, "carer").await;
    store
        .link_carer(person.id, carer.id, None, instant(1, 2, 3, 1))
        .await
        .unwrap();
    assert_eq!(
        store.carers(person.id).await.unwrap()[0].linked_at,
        instant(1, 2, 3, 1)
    );
    let mut c = consent(person.id, carer.id, &[ConsentScope::Appointments]);
    c.created_at = instant(1, 2, 3, 999_999);
    c.expires_at = Some(instant(4, 5, 6, 10));
    store.grant_consent(&c).await.unwrap().unwrap();
    assert_eq!(store.consents(person.id).await.unwrap(), vec![c]);
}

async fn timestamp_order_is_preserved(store: Arc<dyn Store>) {
    // Instants whose text forms differ in length (whole seconds, milli- and microseconds), so
    // an order kept as text on SQLite has to agree with time order.
    let base = instant(12, 0, 0, 0);
    let times = [
        base - Duration::microseconds(1),
        base,
        base + Duration::microseconds(1),
        base + Duration::microseconds(1_000),
        base + Duration::microseconds(1_500),
        base + Duration::microseconds(10_000),
        base + Duration::microseconds(999_999),
        base + Duration::seconds(1),
        base + Duration::seconds(1) + Duration::microseconds(100_000),
    ];
    // Inserted out of order.
    let mut shuffled: Vec<_> = times.iter().copied().enumerate().collect();
    shuffled.reverse();
    shuffled.swap(0, 4);
    shuffled.swap(2, 7);

    for (i, created_at) in &shuffled {
        store
            .insert_signing_key(&SigningKeyRecord {
                kid: format!("key-{i}"),
                sealed_private_key: vec![*i as u8],
                created_at: *created_at,
                retire_after: None,
            })
            .await
            .unwrap();
    }
    let keys = store.signing_keys().await.unwrap();
    let read: Vec<_> = keys.iter().map(|k| k.created_at).collect();
    let mut newest_first = times.to_vec();
    newest_first.reverse();
    assert_eq!(read, newest_first);

    // Carer links come back in the order they were made.
    let person = new_person(store.as_ref(), "Ada", None).await;
    for (i, linked_at) in &shuffled {
        let carer = new_user(store.as_ref(), Role::Carer, &format!("carer-{i}")).await;
        store
            .link_carer(person.id, carer.id, None, *linked_at)
            .await
            .unwrap();
    }
    let linked: Vec<_> = store
        .carers(person.id)
        .await
        .unwrap()
        .iter()
        .map(|l| l.linked_at)
        .collect();
    assert_eq!(linked, times.to_vec());
}

// ---------------------------------------------------------------------------------------------
// Audit
// ---------------------------------------------------------------------------------------------

async fn audit_seqs_start_at_one_and_are_contiguous(store: Arc<dyn Store>) {
    assert_eq!(
        audit::verify(store.as_ref()).await.unwrap(),
        Verification::Intact { entries: 0 }
    );
    assert_eq!(store.audit_head().await.unwrap(), None);
    let subject = PersonId::new();
    let first = store
        .append_audit(&[audit_entry(Some(subject), "read")])
        .await
        .unwrap();
    assert_eq!(first, vec![1]);
    let mut batch: Vec<_> = (0..4).map(|_| audit_entry(None, "list")).collect();
    // A read shown offline keeps how and when it was shown.
    batch[1].via = Some("offline".to_owned());
    batch[1].read_at = Some(instant(6, 15, 2, 345_678));
    assert_eq!(store.append_audit(&batch).await.unwrap(), vec![2, 3, 4, 5]);
    assert_eq!(store.append_audit(&[]).await.unwrap(), Vec::<i64>::new());
    assert_eq!(
        store
            .append_audit(&[audit_entry(Some(subject), "update")])
            .await
            .unwrap(),
        vec![6]
    );

    let all = store.audit_after(0, 100).await.unwrap();
    assert_eq!(
        all.iter().map(|r| r.seq).collect::<Vec<_>>(),
        (1..=6).collect::<Vec<_>>()
    );
    assert_eq!(all[0].prev_hash, audit::GENESIS_HASH.to_vec());
    for pair in all.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash);
    }
    assert_eq!(all[1].entry, batch[0]);
    assert_eq!(all[2].entry, batch[1]);
    assert_eq!(
        store
            .audit_after(4, 1)
            .await
            .unwrap()
            .iter()
            .map(|r| r.seq)
            .collect::<Vec<_>>(),
        vec![5]
    );
    assert_eq!(
        store.audit_head().await.unwrap(),
        Some(AuditHead {
            seq: 6,
            hash: all[5].hash.clone()
        })
    );
    assert_eq!(
        audit::verify(store.as_ref()).await.unwrap(),
        Verification::Intact { entries: 6 }
    );
}

/// The audit writer's batches (up to 512 entries) are stored several hundred rows a statement.
async fn a_batch_larger_than_one_statement_is_stored_whole_and_chained(store: Arc<dyn Store>) {
    let entries: Vec<_> = (0..600)
        .map(|i| audit_entry(Some(PersonId::new()), &format!("entry {i}")))
        .collect();
    let seqs = store.append_audit(&entries).await.unwrap();
    assert_eq!(seqs, (1..=600).collect::<Vec<i64>>());
    let stored = store.audit_after(0, 1_000).await.unwrap();
    assert_eq!(stored.len(), 600);
    assert!(
        stored
            .iter()
            .zip(&entries)
            .all(|(record, entry)| record.entry.action == entry.action)
    );
    assert_eq!(
        audit::verify(store.as_ref()).await.unwrap(),
        Verification::Intact { entries: 600 }
    );
}

/// Postgres numbers and hashes a batch itself (`audit_chain_append`) from the text the server
/// sends: every shape of entry — each optional field set and unset, text that JSON must
/// escape, characters outside ASCII — must come out with the hash the server computes.
async fn every_field_of_an_entry_is_chained_as_the_server_hashes_it(store: Arc<dyn Store>) {
    let plain = audit_entry(None, "read");
    let full = NewAuditEntry {
        at: instant(9, 30, 0, 123_456),
        actor_id: None,
        actor_role: "carer".to_owned(),
        on_behalf_of: Some("Zoë \"Z\" O’Neill\\\n\t🙂".to_owned()),
        subject_id: Some(PersonId::new()),
        relationship: None,
        request_id: None,
        via: Some("offline".to_owned()),
        read_at: Some(instant(8, 0, 0, 999_999)),
        ..audit_entry(None, "read \u{1f} ✓")
    };
    let synced = NewAuditEntry {
        via: Some("sync".to_owned()),
        ..audit_entry(Some(PersonId::new()), "read")
    };
    let shown_at_only = NewAuditEntry {
        read_at: Some(instant(7, 0, 0, 1)),
        ..audit_entry(Some(PersonId::new()), "read")
    };
    let entries = vec![plain, full, synced, shown_at_only];
    // Twice, so the second batch chains from a head the first one left.
    for round in 0..2 {
        let seqs = store.append_audit(&entries).await.unwrap();
        assert_eq!(seqs, (round * 4 + 1..=round * 4 + 4).collect::<Vec<i64>>());
    }
    let stored = store.audit_after(0, 100).await.unwrap();
    let mut prev_hash = audit::GENESIS_HASH.to_vec();
    for (record, entry) in stored.iter().zip(entries.iter().cycle()) {
        assert_eq!(&record.entry, entry);
        assert_eq!(record.prev_hash, prev_hash);
        assert_eq!(
            record.hash,
            audit::chain_hash(record.seq, &prev_hash, entry)
        );
        prev_hash = record.hash.clone();
    }
    assert_eq!(
        audit::verify(store.as_ref()).await.unwrap(),
        Verification::Intact { entries: 8 }
    );
}

async fn concurrent_audit_appends_make_one_unbroken_chain(store: Arc<dyn Store>) {
    let barrier = Arc::new(tokio::sync::Barrier::new(20));
    let tasks: Vec<_> = (0..20)
        .map(|task| {
            let store = store.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                let entries: Vec<_> = (0..5)
                    .map(|i| audit_entry(Some(PersonId::new()), &format!("task {task} entry {i}")))
                    .collect();
                barrier.wait().await;
                store.append_audit(&entries).await.unwrap()
            })
        })
        .collect();

    let mut all = Vec::new();
    for task in tasks {
        let seqs = task.await.unwrap();
        assert_eq!(seqs.len(), 5);
        assert!(
            seqs.windows(2).all(|w| w[1] == w[0] + 1),
            "one call's entries are contiguous: {seqs:?}"
        );
        all.extend(seqs);
    }
    all.sort_unstable();
    assert_eq!(all, (1..=100).collect::<Vec<_>>());
    assert_eq!(
        audit::verify(store.as_ref()).await.unwrap(),
        Verification::Intact { entries: 100 }
    );
}

async fn audit_for_subject_is_newest_first_with_before_cursor(store: Arc<dyn Store>) {
    let ada = PersonId::new();
    let bea = PersonId::new();
    let mut ada_entries = Vec::new();
    for i in 0..10 {
        let (subject, action) = match i % 3 {
            0 => (Some(ada), format!("ada {i}")),
            1 => (Some(bea), format!("bea {i}")),
            _ => (None, format!("nobody {i}")),
        };
        let entry = audit_entry(subject, &action);
        let seq = store
            .append_audit(std::slice::from_ref(&entry))
            .await
            .unwrap()[0];
        if subject == Some(ada) {
            ada_entries.push((seq, entry));
        }
    }
    // Ada's entries are seqs 1, 4, 7, 10.
    assert_eq!(
        ada_entries.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        vec![1, 4, 7, 10]
    );

    let all = store.audit_for_subject(ada, None, 100).await.unwrap();
    assert_eq!(
        all.iter().map(|r| r.record.seq).collect::<Vec<_>>(),
        vec![10, 7, 4, 1]
    );
    for line in &all {
        let (_, entry) = ada_entries
            .iter()
            .find(|(s, _)| *s == line.record.seq)
            .unwrap();
        assert_eq!(&line.record.entry, entry);
        assert_eq!(line.actor_name, None, "the entries' actors are no accounts");
    }

    let mut pages = Vec::new();
    let mut before = None;
    loop {
        let page = store.audit_for_subject(ada, before, 3).await.unwrap();
        if page.is_empty() {
            break;
        }
        before = page.last().map(|r| r.record.seq);
        pages.push(page.iter().map(|r| r.record.seq).collect::<Vec<_>>());
    }
    assert_eq!(pages, vec![vec![10, 7, 4], vec![1]]);
    assert_eq!(
        store
            .audit_for_subject(ada, Some(7), 100)
            .await
            .unwrap()
            .iter()
            .map(|r| r.record.seq)
            .collect::<Vec<_>>(),
        vec![4, 1]
    );
    assert!(
        store
            .audit_for_subject(PersonId::new(), None, 100)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn access_log_lines_name_the_accounts_that_acted_and_only_them(store: Arc<dyn Store>) {
    let ada = PersonId::new();
    let morgan = new_user(store.as_ref(), Role::Practitioner, "morgan").await;
    let priya = new_user(store.as_ref(), Role::Practitioner, "priya").await;
    // Actors as the server writes them: an account's id, a staff system, the server itself;
    // and an id that is no account (one since removed) and text that is no id at all.
    let actors = [
        Some(morgan.id.to_string()),
        Some("client:rio-sync".to_owned()),
        None,
        Some(priya.id.to_string()),
        Some(UserId::new().to_string()),
        Some(format!("{}-", morgan.id)),
        Some(morgan.id.to_string()),
    ];
    for (i, actor) in actors.iter().enumerate() {
        let entry = NewAuditEntry {
            actor_id: actor.clone(),
            ..audit_entry(Some(ada), &format!("read {i}"))
        };
        store.append_audit(&[entry]).await.unwrap();
    }
    // Another person's entry by the same account is not on Ada's log.
    store
        .append_audit(&[NewAuditEntry {
            actor_id: Some(morgan.id.to_string()),
            ..audit_entry(Some(PersonId::new()), "elsewhere")
        }])
        .await
        .unwrap();
    let morgan_name = Some(morgan.display_name.as_str());
    let priya_name = Some(priya.display_name.as_str());
    let expected = [
        (1, morgan_name),
        (2, None),
        (3, None),
        (4, priya_name),
        (5, None),
        (6, None),
        (7, morgan_name),
    ];
    let seen = |lines: Vec<AccessLogLine>| {
        lines
            .into_iter()
            .map(|line| {
                assert_eq!(line.record.entry.subject_id, Some(ada));
                (line.record.seq, line.actor_name)
            })
            .collect::<Vec<_>>()
    };
    let owned = |pairs: &[(i64, Option<&str>)]| {
        pairs
            .iter()
            .map(|(seq, name)| (*seq, name.map(str::to_owned)))
            .collect::<Vec<_>>()
    };

    let newest_first = seen(store.audit_for_subject(ada, None, 100).await.unwrap());
    let mut reversed = expected;
    reversed.reverse();
    assert_eq!(newest_first, owned(&reversed));
    let page = seen(store.audit_for_subject(ada, Some(5), 2).await.unwrap());
    assert_eq!(page, owned(&[(4, priya_name), (3, None)]));

    let oldest_first = seen(store.audit_for_subject_after(ada, 0, 100).await.unwrap());
    assert_eq!(oldest_first, owned(&expected));
    let page = seen(store.audit_for_subject_after(ada, 5, 1).await.unwrap());
    assert_eq!(page, owned(&[(6, None)]));
}

async fn audit_log_refuses_update_and_delete(store: Arc<dyn Store>, raw: Raw) {
    let subject = PersonId::new();
    let entries: Vec<_> = (0..3)
        .map(|i| audit_entry(Some(subject), &format!("read {i}")))
        .collect();
    store.append_audit(&entries).await.unwrap();

    for sql in [
        "UPDATE audit_log SET action = 'nothing to see' WHERE seq = 2",
        "UPDATE audit_log SET outcome = 'denied'",
        "DELETE FROM audit_log WHERE seq = 3",
        "DELETE FROM audit_log",
    ] {
        let result = raw.execute(sql).await;
        assert!(result.is_err(), "{sql:?} was allowed: {result:?}");
    }
    // Postgres row triggers do not see TRUNCATE; a statement trigger must.
    if raw.backend() == Backend::Postgres {
        assert!(
            raw.execute("TRUNCATE audit_log").await.is_err(),
            "TRUNCATE was allowed"
        );
    }

    let stored = store.audit_after(0, 100).await.unwrap();
    assert_eq!(
        stored.into_iter().map(|r| r.entry).collect::<Vec<_>>(),
        entries
    );
    assert_eq!(
        audit::verify(store.as_ref()).await.unwrap(),
        Verification::Intact { entries: 3 }
    );
    raw.close().await;
}

async fn tampered_audit_entry_is_detected(store: Arc<dyn Store>, raw: Raw) {
    let entries: Vec<_> = (0..5)
        .map(|i| audit_entry(None, &format!("read {i}")))
        .collect();
    store.append_audit(&entries).await.unwrap();
    assert_eq!(
        audit::verify(store.as_ref()).await.unwrap(),
        Verification::Intact { entries: 5 }
    );

    // Someone with database access removes the guard and rewrites history.
    match raw.backend() {
        Backend::Sqlite => {
            raw.execute("DROP TRIGGER audit_log_no_update")
                .await
                .unwrap();
            raw.execute("DROP TRIGGER audit_log_no_delete")
                .await
                .unwrap();
        }
        Backend::Postgres => {
            raw.execute("DROP TRIGGER audit_log_append_only ON audit_log")
                .await
                .unwrap();
        }
    }
    let changed = raw
        .execute("UPDATE audit_log SET action = 'nothing to see' WHERE seq = 3")
        .await
        .unwrap();
    assert_eq!(changed, 1);

    match audit::verify(store.as_ref()).await.unwrap() {
        Verification::Broken { seq, reason } => {
            assert_eq!(seq, 3, "the changed entry is named ({reason})");
        }
        other => panic!("tampering went unnoticed: {other:?}"),
    }

    // Deleting an entry is named too: the first missing seq.
    raw.execute("UPDATE audit_log SET action = 'read 2' WHERE seq = 3")
        .await
        .unwrap();
    assert_eq!(
        audit::verify(store.as_ref()).await.unwrap(),
        Verification::Intact { entries: 5 }
    );
    raw.execute("DELETE FROM audit_log WHERE seq = 2")
        .await
        .unwrap();
    assert!(matches!(
        audit::verify(store.as_ref()).await.unwrap(),
        Verification::Broken { seq: 2, .. }
    ));
    raw.close().await;
}

// ---------------------------------------------------------------------------------------------
// Schema and keys
// ---------------------------------------------------------------------------------------------

async fn migrating_twice_is_a_no_op(store: Arc<dyn Store>) {
    // The harness migrated once already.
    let user = new_user(store.as_ref(), Role::Admin, "admin").await;
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    store.ping().await.unwrap();
    assert_eq!(store.user_by_id(user.id).await.unwrap(), Some(user));
    let seqs = store
        .append_audit(&[audit_entry(None, "after migrate")])
        .await
        .unwrap();
    assert_eq!(seqs, vec![1]);
}

async fn signing_key_with_same_kid_is_kept_once(store: Arc<dyn Store>) {
    let first = SigningKeyRecord {
        kid: "2025-03-key".to_owned(),
        sealed_private_key: vec![1, 2, 3, 4],
        created_at: instant(8, 0, 0, 1),
        retire_after: None,
    };
    store.insert_signing_key(&first).await.unwrap();
    let again = SigningKeyRecord {
        sealed_private_key: vec![9, 9, 9],
        created_at: instant(9, 0, 0, 0),
        ..first.clone()
    };
    store.insert_signing_key(&again).await.unwrap();

    assert_eq!(
        store.signing_keys().await.unwrap(),
        vec![first],
        "the first key stored is kept"
    );
}

async fn signing_keys_are_newest_first(store: Arc<dyn Store>) {
    assert!(store.signing_keys().await.unwrap().is_empty());
    let middle = signing_key("b", instant(10, 0, 0, 0));
    let newest = signing_key("a", instant(11, 0, 0, 5));
    let oldest = signing_key("c", instant(9, 59, 59, 999_999));
    for k in [&middle, &newest, &oldest] {
        store.insert_signing_key(k).await.unwrap();
    }
    assert_eq!(
        store.signing_keys().await.unwrap(),
        vec![newest, middle, oldest]
    );
}

fn signing_key(kid: &str, at: DateTime<Utc>) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: kid.to_owned(),
        sealed_private_key: kid.as_bytes().to_vec(),
        created_at: at,
        retire_after: None,
    }
}

async fn rotating_gives_the_keys_in_use_a_retirement_time_once(store: Arc<dyn Store>) {
    let first = signing_key("first", instant(8, 0, 0, 0));
    store.insert_signing_key(&first).await.unwrap();
    let second = signing_key("second", instant(9, 0, 0, 0));
    store
        .rotate_signing_key(&second, instant(9, 7, 30, 0))
        .await
        .unwrap();
    let third = signing_key("third", instant(10, 0, 0, 0));
    store
        .rotate_signing_key(&third, instant(10, 7, 30, 0))
        .await
        .unwrap();
    let retiring = |record: &SigningKeyRecord, at| SigningKeyRecord {
        retire_after: Some(at),
        ..record.clone()
    };
    assert_eq!(
        store.signing_keys().await.unwrap(),
        vec![
            third.clone(),
            retiring(&second, instant(10, 7, 30, 0)),
            // It stopped signing at the first rotation; the second does not extend it.
            retiring(&first, instant(9, 7, 30, 0)),
        ]
    );
    // A kid that exists already is a conflict, and nothing changes.
    let clash = signing_key("third", instant(11, 0, 0, 0));
    assert!(matches!(
        store
            .rotate_signing_key(&clash, instant(11, 7, 30, 0))
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.signing_keys().await.unwrap()[0], third);
}

async fn resealing_replaces_only_the_bytes_it_read(store: Arc<dyn Store>) {
    let key = signing_key("plain", instant(8, 0, 0, 0));
    store.insert_signing_key(&key).await.unwrap();
    assert!(
        store
            .reseal_signing_key("plain", b"plain", b"sealed-1")
            .await
            .unwrap()
    );
    // A second process read the plain bytes too; its seal does not replace the first.
    assert!(
        !store
            .reseal_signing_key("plain", b"plain", b"sealed-2")
            .await
            .unwrap()
    );
    assert_eq!(
        store.signing_keys().await.unwrap()[0].sealed_private_key,
        b"sealed-1".to_vec()
    );
}

async fn retired_keys_lose_their_bytes_and_stay_in_the_history(store: Arc<dyn Store>) {
    store
        .insert_signing_key(&signing_key("old", instant(8, 0, 0, 0)))
        .await
        .unwrap();
    let new = signing_key("new", instant(9, 0, 0, 0));
    store
        .rotate_signing_key(&new, instant(9, 7, 30, 0))
        .await
        .unwrap();
    // Not yet due.
    assert!(
        store
            .retire_signing_keys(instant(9, 7, 29, 999_999))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .retire_signing_keys(instant(9, 7, 30, 0))
            .await
            .unwrap(),
        vec!["old".to_owned()]
    );
    assert!(
        store
            .retire_signing_keys(instant(12, 0, 0, 0))
            .await
            .unwrap()
            .is_empty(),
        "a key is retired once, and the newest never"
    );
    assert_eq!(store.signing_keys().await.unwrap(), vec![new]);
    let history = store.signing_key_history().await.unwrap();
    assert_eq!(
        history,
        vec![
            SigningKeySummary {
                kid: "new".to_owned(),
                created_at: instant(9, 0, 0, 0),
                retire_after: None,
                retired_at: None,
            },
            SigningKeySummary {
                kid: "old".to_owned(),
                created_at: instant(8, 0, 0, 0),
                retire_after: Some(instant(9, 7, 30, 0)),
                retired_at: Some(instant(9, 7, 30, 0)),
            },
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Connections
// ---------------------------------------------------------------------------------------------

/// Postgres: a pooled connection is not checked with a round trip each time it is taken, only
/// once it has been idle for a second (`store::postgres`), so that one the database dropped
/// meanwhile — a restart, a failover — is still replaced before a request meets it. (No server
/// can drop a connection to a SQLite file.)
async fn connections_the_database_dropped_while_idle_are_replaced_unseen(
    store: Arc<dyn Store>,
    raw: Raw,
) {
    let Raw::Postgres(pool) = &raw else {
        return;
    };
    let user = new_user(store.as_ref(), Role::Carer, "early").await;
    // Every other connection to the database ends: the store's idle ones among them.
    let ended: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(ended.contains(&true), "the store's connections ended");
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    for _ in 0..20 {
        assert_eq!(store.user_by_id(user.id).await.unwrap(), Some(user.clone()));
    }
}

/// A group-commit writer on a thread and runtime of its own (`GroupCommit::start_on_own_thread`)
/// writes through `Store::for_writer_thread`: into the same database and audit chain as the
/// store, and on Postgres on connections of its own, opened on the writer's runtime and gone
/// with it (their replies wake that thread, not the shared runtime's workers). SQLite's writes
/// stay with the store's own writer, as its writers take one turn to write.
async fn a_writer_thread_writes_on_connections_of_its_own_runtime(store: Arc<dyn Store>, raw: Raw) {
    let backends = || async {
        match &raw {
            Raw::Postgres(pool) => Some(
                sqlx::query_scalar::<_, i32>(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database()",
                )
                .fetch_all(pool)
                .await
                .unwrap()
                .into_iter()
                .collect::<BTreeSet<i32>>(),
            ),
            Raw::Sqlite(_) => None,
        }
    };
    assert_eq!(
        store.writes_over_a_socket(),
        matches!(raw, Raw::Postgres(_))
    );
    store
        .append_audit(&[audit_entry(None, "list")])
        .await
        .unwrap();
    let before = backends().await;

    // The writer's thread writes, then waits while this runtime counts the connections.
    let (written_tx, written_rx) = tokio::sync::oneshot::channel();
    let (counted_tx, counted_rx) = tokio::sync::oneshot::channel::<()>();
    let writer_thread = std::thread::spawn({
        let store = store.clone();
        move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let writer = store.for_writer_thread();
                let written = writer
                    .append_audit(&[audit_entry(Some(PersonId::new()), "read")])
                    .await
                    .unwrap();
                written_tx.send(written).unwrap();
                counted_rx.await.unwrap();
            });
        }
    });
    let written = written_rx.await.unwrap();
    let during = backends().await;
    counted_tx.send(()).unwrap();
    tokio::task::spawn_blocking(move || writer_thread.join().unwrap())
        .await
        .unwrap();

    assert_eq!(written, vec![2], "the same chain as the store's");
    assert_eq!(
        store
            .append_audit(&[audit_entry(None, "list")])
            .await
            .unwrap(),
        vec![3]
    );
    assert_eq!(
        audit::verify(store.as_ref()).await.unwrap(),
        Verification::Intact { entries: 3 }
    );
    if let (Some(before), Some(during)) = (before, during) {
        let opened: Vec<i32> = during.difference(&before).copied().collect();
        assert_eq!(opened.len(), 1, "the writer opened a connection of its own");
        // Its runtime has ended: its connection went with it.
        let mut open = true;
        for _ in 0..500 {
            open = backends().await.is_some_and(|now| now.contains(&opened[0]));
            if !open {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(!open, "the writer's connection closed with its runtime");
    }
}
