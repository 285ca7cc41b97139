//! `IdempotencyStore` and `DeviceStore`: a key is claimed once and its answer replayed; a key
//! abandoned past its lease is taken over only if no write of its request took effect (the
//! applied mark commits with the write); release and pruning; pushes only to live sessions.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use livingwell_core::domain::{Role, TeamId};
use livingwell_server::store::devices::NewDevice;
use livingwell_server::store::idempotency::{
    Claim, NewClaim, REQUEST_KEY, RequestKey, StoredAnswer,
};
use livingwell_server::store::{Store, StoreError, StoreResult, TeamRecord};

use crate::{new_user, now};

conformance! {
    store: [
        a_key_is_claimed_once_and_its_answer_replayed,
        an_abandoned_key_is_taken_over_only_if_nothing_it_wrote_took_effect,
        a_key_is_released_only_if_nothing_it_wrote_took_effect,
        a_request_whose_key_a_retry_took_over_changes_nothing,
        old_keys_are_forgotten_and_newer_kept,
        pushes_go_only_to_devices_of_live_sessions,
    ],
}

/// The key `name` as a request claiming it at `at` holds it.
fn key(name: &str, at: DateTime<Utc>) -> RequestKey {
    RequestKey {
        caller: "caller".to_owned(),
        key: name.to_owned(),
        lease_until: at + Duration::minutes(2),
    }
}

fn claim(name: &str, fingerprint: &[u8], at: DateTime<Utc>) -> NewClaim {
    NewClaim {
        key: key(name, at),
        fingerprint: fingerprint.to_vec(),
        at,
    }
}

/// A write of the store's own, made as the keyed request holding `key`.
async fn try_write_as(store: &dyn Store, key: &RequestKey) -> StoreResult<()> {
    let team = TeamRecord {
        id: TeamId::new(),
        name: format!("Team {} {}", key.key, key.lease_until.timestamp_micros()),
        hub_address: None,
    };
    REQUEST_KEY
        .scope(key.clone(), store.create_team(&team, now()))
        .await
}

async fn write_as(store: &dyn Store, key: &RequestKey) {
    try_write_as(store, key).await.unwrap();
}

async fn a_key_is_claimed_once_and_its_answer_replayed(store: Arc<dyn Store>) {
    let at = now();
    let first = claim("k", b"one", at);
    assert_eq!(
        store.claim_idempotency_key(&first).await.unwrap(),
        Claim::Claimed
    );
    assert_eq!(
        store.claim_idempotency_key(&first).await.unwrap(),
        Claim::Running
    );
    let other = claim("k", b"two", at);
    assert_eq!(
        store.claim_idempotency_key(&other).await.unwrap(),
        Claim::OtherRequest
    );
    let answer = StoredAnswer {
        status: 201,
        content_type: Some("application/json".to_owned()),
        etag: Some("\"2\"".to_owned()),
        body: b"{\"id\":1}".to_vec(),
    };
    store
        .answer_idempotency_key(&key("k", at), &answer)
        .await
        .unwrap();
    assert_eq!(
        store.claim_idempotency_key(&first).await.unwrap(),
        Claim::Answered(answer)
    );
    // Another caller's same key is theirs.
    let mut theirs = claim("k", b"two", at);
    theirs.key.caller = "someone else".to_owned();
    assert_eq!(
        store.claim_idempotency_key(&theirs).await.unwrap(),
        Claim::Claimed
    );
}

async fn an_abandoned_key_is_taken_over_only_if_nothing_it_wrote_took_effect(
    store: Arc<dyn Store>,
) {
    let then = now() - Duration::minutes(10);
    let later = now();
    // Nothing written: the retry takes the key over.
    store
        .claim_idempotency_key(&claim("idle", b"x", then))
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_idempotency_key(&claim("idle", b"x", later))
            .await
            .unwrap(),
        Claim::Claimed
    );
    // A write committed under the key: the retry must not run it again.
    store
        .claim_idempotency_key(&claim("wrote", b"x", then))
        .await
        .unwrap();
    write_as(store.as_ref(), &key("wrote", then)).await;
    assert_eq!(
        store
            .claim_idempotency_key(&claim("wrote", b"x", later))
            .await
            .unwrap(),
        Claim::AppliedWithoutAnswer
    );
    // A write that failed (here: a team name already taken) marks nothing: it rolled back.
    store
        .claim_idempotency_key(&claim("failed", b"x", then))
        .await
        .unwrap();
    let taken = TeamRecord {
        id: TeamId::new(),
        name: "Team taken".to_owned(),
        hub_address: None,
    };
    store.create_team(&taken, now()).await.unwrap();
    assert!(
        REQUEST_KEY
            .scope(key("failed", then), store.create_team(&taken, now()))
            .await
            .is_err()
    );
    assert_eq!(
        store
            .claim_idempotency_key(&claim("failed", b"x", later))
            .await
            .unwrap(),
        Claim::Claimed
    );
}

async fn a_key_is_released_only_if_nothing_it_wrote_took_effect(store: Arc<dyn Store>) {
    let at = now();
    store
        .claim_idempotency_key(&claim("free", b"x", at))
        .await
        .unwrap();
    assert!(
        store
            .release_idempotency_key(&key("free", at))
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .claim_idempotency_key(&claim("free", b"y", at))
            .await
            .unwrap(),
        Claim::Claimed,
        "a released key is free for any request"
    );
    store
        .claim_idempotency_key(&claim("kept", b"x", at))
        .await
        .unwrap();
    write_as(store.as_ref(), &key("kept", at)).await;
    assert!(
        !store
            .release_idempotency_key(&key("kept", at))
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .claim_idempotency_key(&claim("kept", b"x", at))
            .await
            .unwrap(),
        Claim::Running
    );
}

/// The request a retry replaced is still running, only slower than its lease (a phone killed
/// mid-request retries once the lease has passed): its write, answer and release must change
/// nothing, or the write would be made twice.
async fn a_request_whose_key_a_retry_took_over_changes_nothing(store: Arc<dyn Store>) {
    let then = now() - Duration::minutes(10);
    let later = now();
    store
        .claim_idempotency_key(&claim("slow", b"x", then))
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_idempotency_key(&claim("slow", b"x", later))
            .await
            .unwrap(),
        Claim::Claimed,
        "nothing written yet: the retry takes the key over"
    );
    let teams_before = store.teams().await.unwrap().len();
    assert!(
        matches!(
            try_write_as(store.as_ref(), &key("slow", then)).await,
            Err(StoreError::Conflict(rule)) if rule.field == "idempotency-key"
        ),
        "the replaced request's write is refused"
    );
    assert_eq!(store.teams().await.unwrap().len(), teams_before);
    let lost = StoredAnswer {
        status: 409,
        content_type: None,
        etag: None,
        body: Vec::new(),
    };
    store
        .answer_idempotency_key(&key("slow", then), &lost)
        .await
        .unwrap();
    assert!(
        !store
            .release_idempotency_key(&key("slow", then))
            .await
            .unwrap(),
        "nor can it let the retry's key go"
    );
    // The retry writes once, and its answer is the one kept.
    write_as(store.as_ref(), &key("slow", later)).await;
    assert_eq!(store.teams().await.unwrap().len(), teams_before + 1);
    let kept = StoredAnswer {
        status: 201,
        content_type: None,
        etag: None,
        body: b"{}".to_vec(),
    };
    store
        .answer_idempotency_key(&key("slow", later), &kept)
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_idempotency_key(&claim("slow", b"x", now()))
            .await
            .unwrap(),
        Claim::Answered(kept)
    );
}

async fn old_keys_are_forgotten_and_newer_kept(store: Arc<dyn Store>) {
    let at = now();
    store
        .claim_idempotency_key(&claim("old", b"x", at - Duration::days(9)))
        .await
        .unwrap();
    store
        .claim_idempotency_key(&claim("new", b"x", at - Duration::days(6)))
        .await
        .unwrap();
    let pruned = store
        .prune_idempotency_keys(at - Duration::days(8))
        .await
        .unwrap();
    assert_eq!(pruned, 1);
    assert_eq!(
        store
            .claim_idempotency_key(&claim("old", b"y", at))
            .await
            .unwrap(),
        Claim::Claimed,
        "forgotten"
    );
    assert_eq!(
        store
            .claim_idempotency_key(&claim("new", b"y", at))
            .await
            .unwrap(),
        Claim::OtherRequest,
        "kept"
    );
}

async fn pushes_go_only_to_devices_of_live_sessions(store: Arc<dyn Store>) {
    let sam = new_user(store.as_ref(), Role::Carer, "sam").await;
    let jo = new_user(store.as_ref(), Role::PeerWorker, "jo").await;
    let session = uuid::Uuid::now_v7();
    store
        .create_session(session, sam.id, now(), &[7; 32])
        .await
        .unwrap();
    let device = |user, session, token: &str| NewDevice {
        token: token.to_owned(),
        platform: "fcm",
        user_id: user,
        session_id: session,
        at: now(),
    };
    store
        .register_device(&device(sam.id, session, "phone"))
        .await
        .unwrap();
    let devices = store.push_devices(&[sam.id, jo.id]).await.unwrap();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0].token, "phone");
    assert_eq!(devices[0].user_id, sam.id);

    // The phone signs in as jo: the token moves.
    let jos_session = uuid::Uuid::now_v7();
    store
        .create_session(jos_session, jo.id, now(), &[7; 32])
        .await
        .unwrap();
    store
        .register_device(&device(jo.id, jos_session, "phone"))
        .await
        .unwrap();
    let devices = store.push_devices(&[sam.id, jo.id]).await.unwrap();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0].user_id, jo.id);

    // The session ends: no pushes, though the row is still there.
    store.revoke_session(jos_session, now()).await.unwrap();
    assert!(store.push_devices(&[jo.id]).await.unwrap().is_empty());
    store.remove_devices(jos_session).await.unwrap();
    assert!(
        store
            .push_devices(&[sam.id, jo.id])
            .await
            .unwrap()
            .is_empty()
    );
}
