//! `SyncStore`, and the audit feed a sync reads: a cursor is kept under its account, marked
//! used when saved again, forgotten when unused too long or beyond an account's newest; a
//! person's log is read oldest first after a position; the fingerprint read with a cursor
//! moves with the writes a sync would see, and not with others; every table is counted into it
//! or listed as unread by sync.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Duration;
use livingwell_core::domain::{PersonId, Role};
use livingwell_server::store::Store;
use livingwell_server::store::sync::{SyncFingerprint, UNREAD_BY_SYNC, Unchanged};

use crate::{Raw, audit_entry, new_person, new_user, now};

conformance! {
    store: [
        a_cursor_is_its_accounts_and_saving_it_again_marks_it_used,
        unused_cursors_and_those_beyond_the_cap_are_forgotten,
        a_persons_log_is_read_oldest_first_after_a_position,
        the_fingerprint_moves_with_what_a_sync_reads_and_nothing_else,
        a_cursor_keeps_what_it_is_known_unchanged_by,
    ],
    raw: [
        every_table_is_counted_for_sync_or_listed_as_unread,
        the_rows_of_ended_connections_fold_into_one_keeping_the_generation,
    ],
}

async fn a_cursor_is_its_accounts_and_saving_it_again_marks_it_used(store: Arc<dyn Store>) {
    let alex = new_user(store.as_ref(), Role::Carer, "alex").await;
    let sam = new_user(store.as_ref(), Role::Carer, "sam").await;
    let at = now();
    store
        .save_sync_cursor(alex.id, "c1", r#"{"h":{}}"#, at, None)
        .await
        .unwrap();
    let kept = store
        .sync_cursor(alex.id, None, "c1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.state, r#"{"h":{}}"#);
    assert_eq!(kept.last_used_at, at);
    assert_eq!(store.sync_cursor(sam.id, None, "c1").await.unwrap(), None);
    assert_eq!(store.sync_cursor(alex.id, None, "c2").await.unwrap(), None);
    // A replayed page names the same cursor: kept once, marked used.
    let later = at + Duration::days(3);
    store
        .save_sync_cursor(alex.id, "c1", r#"{"h":{}}"#, later, None)
        .await
        .unwrap();
    let kept = store
        .sync_cursor(alex.id, None, "c1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.last_used_at, later);
}

async fn unused_cursors_and_those_beyond_the_cap_are_forgotten(store: Arc<dyn Store>) {
    let alex = new_user(store.as_ref(), Role::Carer, "alex").await;
    let jo = new_user(store.as_ref(), Role::PeerWorker, "jo").await;
    let at = now();
    for i in 0..5 {
        let used = at + Duration::minutes(i);
        store
            .save_sync_cursor(alex.id, &format!("a{i}"), "{}", used, None)
            .await
            .unwrap();
    }
    store
        .save_sync_cursor(jo.id, "old", "{}", at - Duration::days(100), None)
        .await
        .unwrap();
    store
        .save_sync_cursor(jo.id, "new", "{}", at, None)
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
            store.sync_cursor(user, None, id).await.unwrap().is_some(),
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
                .map(|r| r.record.seq)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(read(0, 10).await, alex_seqs);
    assert_eq!(read(alex_seqs[0], 1).await, [alex_seqs[1]]);
    assert_eq!(read(alex_seqs[2], 10).await, Vec::<i64>::new());
}

async fn the_fingerprint_moves_with_what_a_sync_reads_and_nothing_else(store: Arc<dyn Store>) {
    let alex = new_user(store.as_ref(), Role::Carer, "alex").await;
    let person = new_person(store.as_ref(), "Alex", None).await;
    let fingerprint = || store.sync_fingerprint(alex.id, Some(person.id));
    let before = fingerprint().await.unwrap();
    // Written to no table a sync reads: audit entries about someone else, a cursor.
    store
        .append_audit(&[audit_entry(Some(PersonId::new()), "read")])
        .await
        .unwrap();
    store
        .save_sync_cursor(alex.id, "c1", "{}", now(), None)
        .await
        .unwrap();
    assert_eq!(fingerprint().await.unwrap(), before);
    // An entry in the person's own access log.
    store
        .append_audit(&[audit_entry(Some(person.id), "read")])
        .await
        .unwrap();
    let logged = fingerprint().await.unwrap();
    assert!(logged.newest_access > before.newest_access);
    assert_eq!(logged.generation, before.generation);
    // A record a sync reads: another account.
    new_user(store.as_ref(), Role::Carer, "sam").await;
    let counted = fingerprint().await.unwrap();
    assert!(counted.generation > logged.generation);
    // Read with a cursor, the same.
    let kept = store
        .sync_cursor(alex.id, Some(person.id), "c1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.now, counted);
}

async fn a_cursor_keeps_what_it_is_known_unchanged_by(store: Arc<dyn Store>) {
    let alex = new_user(store.as_ref(), Role::Carer, "alex").await;
    let at = now();
    let unchanged = Unchanged {
        fingerprint: SyncFingerprint {
            generation: 7,
            newest_event: 3,
            newest_access: 0,
        },
        until: at + Duration::minutes(5),
    };
    store
        .save_sync_cursor(alex.id, "c1", "{}", at, Some(unchanged))
        .await
        .unwrap();
    let kept = store
        .sync_cursor(alex.id, None, "c1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.unchanged, Some(unchanged));
    // Saved again, as a page that was not the whole: known unchanged by nothing.
    store
        .save_sync_cursor(alex.id, "c1", "{}", at, None)
        .await
        .unwrap();
    let kept = store
        .sync_cursor(alex.id, None, "c1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.unchanged, None);
}

async fn every_table_is_counted_for_sync_or_listed_as_unread(_store: Arc<dyn Store>, raw: Raw) {
    let found = raw.sync_counted_writes().await;
    let unread: BTreeSet<&str> = UNREAD_BY_SYNC.iter().map(|(table, _)| *table).collect();
    let mut expected = BTreeSet::new();
    for (table, _) in found.iter().filter(|(_, write)| write.is_empty()) {
        expected.insert((table.clone(), String::new()));
        let writes: &[&str] = match table.as_str() {
            // A new message moves its conversation, which is counted.
            "messages" => &["UPDATE", "DELETE"],
            listed if unread.contains(listed) => &[],
            _ => &["INSERT", "UPDATE", "DELETE"],
        };
        for write in writes {
            expected.insert((table.clone(), (*write).to_owned()));
        }
    }
    assert_eq!(found, expected);
    let tables: BTreeSet<&str> = found.iter().map(|(table, _)| table.as_str()).collect();
    for listed in unread {
        assert!(
            tables.contains(listed),
            "{listed} is listed but is no table"
        );
    }
}

async fn the_rows_of_ended_connections_fold_into_one_keeping_the_generation(
    store: Arc<dyn Store>,
    raw: Raw,
) {
    let alex = new_user(store.as_ref(), Role::Carer, "alex").await;
    let postgres = matches!(raw, Raw::Postgres(_));
    raw.count_a_write_and_close().await;
    let before = store.sync_fingerprint(alex.id, None).await.unwrap();
    // Postgres: the closed connection's row folds once its backend has gone (it ends a moment
    // after the close). SQLite: one row, nothing to fold.
    let mut folded = 0;
    for _ in 0..100 {
        folded += store.fold_sync_generation().await.unwrap();
        if folded > 0 || !postgres {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(folded > 0, postgres, "{folded} rows folded");
    assert_eq!(
        store.fold_sync_generation().await.unwrap(),
        0,
        "nothing left"
    );
    assert_eq!(store.sync_fingerprint(alex.id, None).await.unwrap(), before);
    // Counting goes on after a fold.
    new_user(store.as_ref(), Role::Carer, "sam").await;
    let after = store.sync_fingerprint(alex.id, None).await.unwrap();
    assert!(after.generation > before.generation);
}
