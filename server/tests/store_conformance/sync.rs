//! `SyncStore`, and the audit feed a sync reads: a cursor is kept under its account, marked
//! used when saved again, forgotten when unused too long or beyond an account's newest; a
//! person's log is read oldest first after a position.

use std::sync::Arc;

use chrono::Duration;
use livingwell_core::domain::{PersonId, Role};
use livingwell_server::store::Store;

use crate::{audit_entry, new_user, now};

conformance! {
    store: [
        a_cursor_is_its_accounts_and_saving_it_again_marks_it_used,
        unused_cursors_and_those_beyond_the_cap_are_forgotten,
        a_persons_log_is_read_oldest_first_after_a_position,
    ],
}

async fn a_cursor_is_its_accounts_and_saving_it_again_marks_it_used(store: Arc<dyn Store>) {
    let alex = new_user(store.as_ref(), Role::Carer, "alex").await;
    let sam = new_user(store.as_ref(), Role::Carer, "sam").await;
    let at = now();
    store
        .save_sync_cursor(alex.id, "c1", r#"{"h":{}}"#, at)
        .await
        .unwrap();
    let kept = store.sync_cursor(alex.id, "c1").await.unwrap().unwrap();
    assert_eq!(kept.state, r#"{"h":{}}"#);
    assert_eq!(kept.last_used_at, at);
    assert_eq!(store.sync_cursor(sam.id, "c1").await.unwrap(), None);
    assert_eq!(store.sync_cursor(alex.id, "c2").await.unwrap(), None);
    // A replayed page names the same cursor: kept once, marked used.
    let later = at + Duration::days(3);
    store
        .save_sync_cursor(alex.id, "c1", r#"{"h":{}}"#, later)
        .await
        .unwrap();
    let kept = store.sync_cursor(alex.id, "c1").await.unwrap().unwrap();
    assert_eq!(kept.last_used_at, later);
}

async fn unused_cursors_and_those_beyond_the_cap_are_forgotten(store: Arc<dyn Store>) {
    let alex = new_user(store.as_ref(), Role::Carer, "alex").await;
    let jo = new_user(store.as_ref(), Role::PeerWorker, "jo").await;
    let at = now();
    for i in 0..5 {
        let used = at + Duration::minutes(i);
        store
            .save_sync_cursor(alex.id, &format!("a{i}"), "{}", used)
            .await
            .unwrap();
    }
    store
        .save_sync_cursor(jo.id, "old", "{}", at - Duration::days(100))
        .await
        .unwrap();
    store
        .save_sync_cursor(jo.id, "new", "{}", at)
        .await
        .unwrap();
    let forgotten = store
        .prune_sync_cursors(at - Duration::days(90), 3)
        .await
        .unwrap();
    assert_eq!(forgotten, 3, "jo's unused one and alex's two oldest");
    for (user, id, kept) in [
        (alex.id, "a0", false),
        (alex.id, "a1", false),
        (alex.id, "a2", true),
        (alex.id, "a4", true),
        (jo.id, "old", false),
        (jo.id, "new", true),
    ] {
        assert_eq!(
            store.sync_cursor(user, id).await.unwrap().is_some(),
            kept,
            "{id}"
        );
    }
}

async fn a_persons_log_is_read_oldest_first_after_a_position(store: Arc<dyn Store>) {
    let alex = PersonId::new();
    let other = PersonId::new();
    let entries: Vec<_> = (0..6)
        .map(|i| audit_entry(Some(if i % 2 == 0 { alex } else { other }), "read"))
        .collect();
    let seqs = store.append_audit(&entries).await.unwrap();
    let alex_seqs: Vec<i64> = seqs.iter().copied().step_by(2).collect();
    let read = |after, limit| {
        let store = store.clone();
        async move {
            store
                .audit_for_subject_after(alex, after, limit)
                .await
                .unwrap()
                .iter()
                .map(|r| r.seq)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(read(0, 10).await, alex_seqs);
    assert_eq!(read(alex_seqs[0], 1).await, [alex_seqs[1]]);
    assert_eq!(read(alex_seqs[2], 10).await, Vec::<i64>::new());
}
