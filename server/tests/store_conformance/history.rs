//! Relationship history and access at a past instant: ended placements, memberships and
//! allocations are kept with their start and end, consents are read as they stood, and
//! offline reads are recorded once each with their audit entry.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use livingwell_core::domain::consent::{Consent, Grantee};
use livingwell_core::domain::{
    ConsentId, ConsentScope, CrisisPlanSection, EmergencyAccessId, PersonId, Role, UserId,
};
use livingwell_server::audit::{self, Verification};
use livingwell_server::store::offline_reads::{NewOfflineRead, OfflineReadStored};
use livingwell_server::store::{EmergencyAccessRecord, NewAuditEntry, PersonRecord, Store};

use crate::{audit_entry, consent, instant, new_team, new_user};

conformance! {
    store: [
        a_moved_person_was_seen_by_the_old_team_until_the_move,
        a_member_who_left_saw_the_caseload_until_they_left,
        a_reallocated_peer_worker_was_allocated_until_the_reallocation,
        the_same_placement_or_allocation_again_keeps_its_start,
        carer_links_and_emergency_grants_count_from_when_they_began,
        consents_at_an_instant_include_those_revoked_since,
        an_offline_read_is_recorded_once_with_its_audit_entry,
        one_read_uploaded_at_once_many_times_is_recorded_once,
    ],
}

/// `h` o'clock on the cases' day: the instants their relationships change at.
fn hour(h: u32) -> DateTime<Utc> {
    instant(h, 0, 0, 0)
}

async fn person_on(
    store: &dyn Store,
    team: Option<livingwell_core::domain::TeamId>,
    at: DateTime<Utc>,
) -> PersonRecord {
    let person = PersonRecord {
        id: PersonId::new(),
        display_name: "Ada".to_owned(),
        team_id: team,
        peer_worker_id: None,
        created_at: at,
    };
    store.create_person(&person, None).await.unwrap();
    person
}

async fn facts_at(
    store: &dyn Store,
    user: UserId,
    person: PersonId,
    at: DateTime<Utc>,
) -> livingwell_server::store::RelationshipFacts {
    store.relationship_facts_at(user, person, at).await.unwrap()
}

async fn a_moved_person_was_seen_by_the_old_team_until_the_move(store: Arc<dyn Store>) {
    let north = new_team(store.as_ref(), "North").await;
    let south = new_team(store.as_ref(), "South").await;
    let north_worker = new_user(store.as_ref(), Role::Practitioner, "dr.north").await;
    let south_worker = new_user(store.as_ref(), Role::Practitioner, "dr.south").await;
    store
        .add_team_member(north.id, north_worker.id, hour(8))
        .await
        .unwrap();
    store
        .add_team_member(south.id, south_worker.id, hour(8))
        .await
        .unwrap();
    let person = person_on(store.as_ref(), Some(north.id), hour(9)).await;
    store
        .place_on_team(person.id, south.id, hour(11))
        .await
        .unwrap();

    let on_team = |user, at| {
        let store = store.clone();
        async move {
            facts_at(store.as_ref(), user, person.id, at)
                .await
                .on_persons_team
        }
    };
    // North: from the placement until the move, not a moment after.
    assert!(!on_team(north_worker.id, hour(9) - Duration::microseconds(1)).await);
    assert!(on_team(north_worker.id, hour(9)).await);
    assert!(on_team(north_worker.id, hour(11) - Duration::microseconds(1)).await);
    assert!(!on_team(north_worker.id, hour(11)).await);
    assert!(!on_team(north_worker.id, hour(12)).await);
    // South: from the move on.
    assert!(!on_team(south_worker.id, hour(10)).await);
    assert!(on_team(south_worker.id, hour(11)).await);
    assert!(on_team(south_worker.id, hour(12)).await);
    // Now is as it always was.
    assert!(
        !store
            .relationship_facts(north_worker.id, person.id, hour(12))
            .await
            .unwrap()
            .on_persons_team
    );
    // Placed at all: not before the first placement.
    assert!(
        !facts_at(store.as_ref(), north_worker.id, person.id, hour(8))
            .await
            .person_placed
    );
    assert!(
        facts_at(store.as_ref(), north_worker.id, person.id, hour(10))
            .await
            .person_placed
    );
    let now = store.person(person.id).await.unwrap().unwrap();
    assert_eq!(now.team_id, Some(south.id));
}

async fn a_member_who_left_saw_the_caseload_until_they_left(store: Arc<dyn Store>) {
    let team = new_team(store.as_ref(), "West").await;
    let practitioner = new_user(store.as_ref(), Role::Practitioner, "dr.west").await;
    let person = person_on(store.as_ref(), Some(team.id), hour(8)).await;
    store
        .add_team_member(team.id, practitioner.id, hour(9))
        .await
        .unwrap();
    assert!(
        store
            .remove_team_member(team.id, practitioner.id, hour(11))
            .await
            .unwrap()
    );
    // Removing again removes nothing and ends nothing twice.
    assert!(
        !store
            .remove_team_member(team.id, practitioner.id, hour(12))
            .await
            .unwrap()
    );
    // Back on the team later: a second span, with the gap between them.
    store
        .add_team_member(team.id, practitioner.id, hour(13))
        .await
        .unwrap();
    for (at, expected) in [
        (hour(8), false),
        (hour(9), true),
        (hour(10), true),
        (hour(11), false),
        (hour(12), false),
        (hour(13), true),
        (hour(14), true),
    ] {
        assert_eq!(
            facts_at(store.as_ref(), practitioner.id, person.id, at)
                .await
                .on_persons_team,
            expected,
            "at {at}"
        );
    }
}

async fn a_reallocated_peer_worker_was_allocated_until_the_reallocation(store: Arc<dyn Store>) {
    let person = person_on(store.as_ref(), None, hour(8)).await;
    let first = new_user(store.as_ref(), Role::PeerWorker, "peer.one").await;
    let second = new_user(store.as_ref(), Role::PeerWorker, "peer.two").await;
    store
        .allocate_peer(person.id, first.id, hour(9))
        .await
        .unwrap();
    store
        .allocate_peer(person.id, second.id, hour(11))
        .await
        .unwrap();
    // And back to the first: a second span for them.
    store
        .allocate_peer(person.id, first.id, hour(13))
        .await
        .unwrap();
    let allocated = |user, at| {
        let store = store.clone();
        async move {
            facts_at(store.as_ref(), user, person.id, at)
                .await
                .allocated_peer
        }
    };
    for (at, first_allocated) in [
        (hour(8), false),
        (hour(9), true),
        (hour(10), true),
        (hour(11), false),
        (hour(12), false),
        (hour(13), true),
    ] {
        assert_eq!(allocated(first.id, at).await, first_allocated, "at {at}");
        let second_allocated = at >= hour(11) && at < hour(13);
        assert_eq!(allocated(second.id, at).await, second_allocated, "at {at}");
    }
    let now = store.person(person.id).await.unwrap().unwrap();
    assert_eq!(now.peer_worker_id, Some(first.id));
}

async fn the_same_placement_or_allocation_again_keeps_its_start(store: Arc<dyn Store>) {
    let team = new_team(store.as_ref(), "East").await;
    let practitioner = new_user(store.as_ref(), Role::Practitioner, "dr.east").await;
    let peer = new_user(store.as_ref(), Role::PeerWorker, "peer.east").await;
    store
        .add_team_member(team.id, practitioner.id, hour(8))
        .await
        .unwrap();
    let person = person_on(store.as_ref(), None, hour(8)).await;
    store
        .place_on_team(person.id, team.id, hour(9))
        .await
        .unwrap();
    store
        .allocate_peer(person.id, peer.id, hour(9))
        .await
        .unwrap();
    // Placed and allocated again, later: no change, so what held at 10:00 still holds.
    store
        .place_on_team(person.id, team.id, hour(11))
        .await
        .unwrap();
    store
        .allocate_peer(person.id, peer.id, hour(11))
        .await
        .unwrap();
    assert!(
        facts_at(store.as_ref(), practitioner.id, person.id, hour(10))
            .await
            .on_persons_team
    );
    assert!(
        facts_at(store.as_ref(), peer.id, person.id, hour(10))
            .await
            .allocated_peer
    );
}

async fn carer_links_and_emergency_grants_count_from_when_they_began(store: Arc<dyn Store>) {
    let person = person_on(store.as_ref(), None, hour(8)).await;
    let carer = new_user(store.as_ref(), Role::Carer, "carer").await;
    let practitioner = new_user(store.as_ref(), Role::Practitioner, "dr.er").await;
    store
        .link_carer(person.id, carer.id, Some("brother"), hour(10))
        .await
        .unwrap();
    assert!(
        !facts_at(store.as_ref(), carer.id, person.id, hour(9))
            .await
            .linked_carer
    );
    assert!(
        facts_at(store.as_ref(), carer.id, person.id, hour(10))
            .await
            .linked_carer
    );
    store
        .grant_emergency_access(&EmergencyAccessRecord {
            id: EmergencyAccessId::new(),
            person_id: person.id,
            practitioner_id: practitioner.id,
            reason: "out-of-hours crisis call".to_owned(),
            granted_at: hour(10),
            expires_at: hour(11),
        })
        .await
        .unwrap();
    let until = |at| {
        let store = store.clone();
        async move {
            facts_at(store.as_ref(), practitioner.id, person.id, at)
                .await
                .emergency_access_until
        }
    };
    assert_eq!(until(hour(9)).await, None, "not before it was granted");
    assert_eq!(until(hour(10)).await, Some(hour(11)));
    assert_eq!(until(hour(11)).await, None);
}

async fn consents_at_an_instant_include_those_revoked_since(store: Arc<dyn Store>) {
    let person = person_on(store.as_ref(), None, hour(8)).await;
    let carer = new_user(store.as_ref(), Role::Carer, "carer").await;
    let peer = new_user(store.as_ref(), Role::PeerWorker, "peer").await;
    let next_peer = new_user(store.as_ref(), Role::PeerWorker, "peer.next").await;
    store
        .link_carer(person.id, carer.id, None, hour(8))
        .await
        .unwrap();
    store
        .allocate_peer(person.id, peer.id, hour(8))
        .await
        .unwrap();
    let to_carer = Consent {
        created_at: hour(9),
        ..consent(person.id, carer.id, &[ConsentScope::CrisisPlan])
    };
    store.grant_consent(&to_carer).await.unwrap().unwrap();
    let to_peer = Consent {
        id: ConsentId::new(),
        person_id: person.id,
        grantee: Grantee::PeerWorker(peer.id),
        scopes: [ConsentScope::CrisisPlan].into(),
        crisis_plan_sections: [CrisisPlanSection::Supporters].into(),
        created_at: hour(9),
        expires_at: None,
        revoked_at: None,
    };
    store.grant_consent(&to_peer).await.unwrap().unwrap();
    assert!(
        store
            .revoke_consent(person.id, to_carer.id, hour(11))
            .await
            .unwrap()
    );
    // Reallocation revokes the previous worker's consents, at its own time.
    store
        .allocate_peer(person.id, next_peer.id, hour(11))
        .await
        .unwrap();

    for (grantee, consent) in [(carer.id, &to_carer), (peer.id, &to_peer)] {
        let at = |at| {
            let store = store.clone();
            async move { store.consents_to_at(person.id, grantee, at).await.unwrap() }
        };
        assert!(at(hour(8)).await.is_empty(), "not yet given");
        let then = at(hour(10)).await;
        assert_eq!(then.len(), 1);
        assert_eq!(then[0].id, consent.id);
        assert_eq!(then[0].revoked_at, Some(hour(11)));
        assert!(then[0].allows(ConsentScope::CrisisPlan, hour(10)));
        assert!(at(hour(11)).await.is_empty(), "revoked by then");
        // Now, only consents in force are read, as always.
        assert!(
            store
                .consents_to(person.id, grantee)
                .await
                .unwrap()
                .is_empty()
        );
    }
}

fn offline_read(
    uploader: UserId,
    person: PersonId,
    accepted: bool,
    read_at: DateTime<Utc>,
) -> NewOfflineRead {
    NewOfflineRead {
        uploader,
        event_id: uuid::Uuid::now_v7(),
        person_id: person,
        record: "crisis_plan",
        sections: BTreeSet::from([CrisisPlanSection::WhenWell]),
        read_at,
        accepted,
        entry: NewAuditEntry {
            outcome: if accepted { "allowed" } else { "denied" }.to_owned(),
            via: Some("offline".to_owned()),
            read_at: Some(read_at),
            ..audit_entry(Some(person), "read")
        },
    }
}

async fn an_offline_read_is_recorded_once_with_its_audit_entry(store: Arc<dyn Store>) {
    let reader = new_user(store.as_ref(), Role::Carer, "carer").await;
    let person = person_on(store.as_ref(), None, hour(8)).await;
    let first = offline_read(reader.id, person.id, true, hour(9));
    let refused = offline_read(reader.id, person.id, false, hour(10));
    let stored = store
        .record_offline_reads(&[first.clone(), refused.clone()])
        .await
        .unwrap();
    assert!(matches!(
        stored.as_slice(),
        [
            OfflineReadStored::Recorded { .. },
            OfflineReadStored::Recorded { .. }
        ]
    ));

    // Sent again with one more: only the new one is stored.
    let later = offline_read(reader.id, person.id, true, hour(11));
    let again = store
        .record_offline_reads(&[first.clone(), refused.clone(), later.clone()])
        .await
        .unwrap();
    assert_eq!(again[0], OfflineReadStored::AlreadyRecorded);
    assert_eq!(again[1], OfflineReadStored::AlreadyRecorded);
    assert!(matches!(again[2], OfflineReadStored::Recorded { .. }));

    // Another account's read may carry the same event id: ids are the uploader's own.
    let someone_else = new_user(store.as_ref(), Role::PeerWorker, "peer").await;
    let theirs = NewOfflineRead {
        uploader: someone_else.id,
        ..first.clone()
    };
    assert!(matches!(
        store.record_offline_reads(&[theirs]).await.unwrap()[0],
        OfflineReadStored::Recorded { .. }
    ));

    let entries = store.audit_for_subject(person.id, None, 100).await.unwrap();
    assert_eq!(entries.len(), 4, "one entry per read, never two");
    let read_times: Vec<_> = entries.iter().map(|e| e.record.entry.read_at).collect();
    assert_eq!(
        read_times,
        [Some(hour(9)), Some(hour(11)), Some(hour(10)), Some(hour(9))]
    );
    assert!(
        entries
            .iter()
            .all(|e| e.record.entry.via.as_deref() == Some("offline"))
    );
    let verdict = audit::verify(store.as_ref()).await.unwrap();
    assert!(
        matches!(verdict, Verification::Intact { .. }),
        "{verdict:?}"
    );
}

async fn one_read_uploaded_at_once_many_times_is_recorded_once(store: Arc<dyn Store>) {
    let reader = new_user(store.as_ref(), Role::Carer, "reader").await;
    let person = person_on(store.as_ref(), None, hour(8)).await;
    let read = offline_read(reader.id, person.id, true, hour(9));
    let mut uploads = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        let read = read.clone();
        uploads.push(tokio::spawn(async move {
            store.record_offline_reads(&[read]).await.unwrap()[0]
        }));
    }
    let mut recorded = 0;
    for upload in uploads {
        if matches!(upload.await.unwrap(), OfflineReadStored::Recorded { .. }) {
            recorded += 1;
        }
    }
    assert_eq!(recorded, 1);
    assert_eq!(
        store
            .audit_for_subject(person.id, None, 100)
            .await
            .unwrap()
            .len(),
        1
    );
}
