use base64::Engine;
use chrono::{Duration, Utc};
use livingwell_core::api::sync::{SyncKind, SyncRecord, SyncResponse, Tombstone, TombstoneReason};
use livingwell_core::domain::PersonId;
use serde_json::json;

use super::*;

fn key() -> [u8; STORE_KEY_LEN] {
    *new_store_key()
}

fn record(
    kind: SyncKind,
    id: &str,
    person: Option<PersonId>,
    data: serde_json::Value,
) -> SyncRecord {
    SyncRecord {
        kind,
        id: id.to_owned(),
        person_id: person,
        version: "v1".into(),
        data,
    }
}

fn message(conversation: &str, seq: i64, body: &str) -> SyncRecord {
    record(
        SyncKind::Message,
        &format!("{conversation}-{seq}"),
        None,
        json!({"conversation_id": conversation, "seq": seq, "content": {"kind": "text", "body": body}}),
    )
}

fn page(records: Vec<SyncRecord>, tombstones: Vec<Tombstone>, cursor: &str) -> SyncResponse {
    SyncResponse {
        records,
        tombstones,
        cursor: cursor.into(),
        has_more: false,
    }
}

fn write(queue: &str, person: Option<PersonId>, body: &str) -> NewWrite {
    NewWrite {
        queue: queue.into(),
        person,
        idempotency_key: uuid::Uuid::new_v4().to_string(),
        request: WriteRequest {
            method: "POST".into(),
            path: "/v1/somewhere".into(),
            body: Some(json!({"body": body})),
        },
        priority: 0,
    }
}

#[test]
fn a_page_and_its_cursor_are_applied_together_and_replaying_it_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &key()).unwrap();
    assert_eq!(store.cursor().unwrap(), None);
    let person = PersonId::new();
    let first = page(
        vec![
            record(
                SyncKind::CrisisPlan,
                &person.to_string(),
                Some(person),
                json!({"sections": {}}),
            ),
            message("c1", 2, "second"),
            message("c1", 1, "first"),
            message("c2", 1, "elsewhere"),
        ],
        vec![],
        "cursor-1",
    );
    store.apply_sync(&first).unwrap();
    store.apply_sync(&first).unwrap();
    assert_eq!(store.cursor().unwrap().as_deref(), Some("cursor-1"));
    let held = store
        .record(SyncKind::CrisisPlan, &person.to_string())
        .unwrap()
        .unwrap();
    assert_eq!(held.person_id, Some(person));
    let in_order: Vec<i64> = store
        .messages("c1", 0, 10)
        .unwrap()
        .iter()
        .map(|m| m.data["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(in_order, [1, 2]);
    assert_eq!(store.messages("c1", 1, 10).unwrap().len(), 1);
    assert_eq!(store.records(SyncKind::Message).unwrap().len(), 3);
}

#[test]
fn tombstones_purge_the_record_its_messages_and_the_writes_queued_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &key()).unwrap();
    let alex = PersonId::new();
    let robin = PersonId::new();
    let now = Utc::now();
    store
        .apply_sync(&page(
            vec![
                record(SyncKind::Person, &alex.to_string(), Some(alex), json!({})),
                record(
                    SyncKind::CrisisPlan,
                    &alex.to_string(),
                    Some(alex),
                    json!({}),
                ),
                record(SyncKind::Person, &robin.to_string(), Some(robin), json!({})),
                record(SyncKind::Conversation, "c1", Some(robin), json!({})),
                message("c1", 1, "hello"),
            ],
            vec![],
            "one",
        ))
        .unwrap();
    let to_alex = write(
        &outbox::queue_of(SyncKind::CrisisPlan, &alex.to_string()),
        Some(alex),
        "activate",
    );
    let to_robin = write(
        &outbox::queue_of(SyncKind::Conversation, "c1"),
        Some(robin),
        "hi",
    );
    store.enqueue(&to_alex, &[], now).unwrap();
    store.enqueue(&to_robin, &[], now).unwrap();

    store
        .apply_sync(&page(
            vec![],
            vec![
                Tombstone {
                    kind: SyncKind::Person,
                    id: alex.to_string(),
                    reason: TombstoneReason::AccessRevoked,
                },
                Tombstone {
                    kind: SyncKind::Conversation,
                    id: "c1".into(),
                    reason: TombstoneReason::AccessRevoked,
                },
            ],
            "two",
        ))
        .unwrap();
    // Everything of alex's went with the person, though only the person was named.
    assert!(
        store
            .record(SyncKind::CrisisPlan, &alex.to_string())
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .record(SyncKind::Person, &alex.to_string())
            .unwrap()
            .is_none()
    );
    assert!(store.records(SyncKind::Message).unwrap().is_empty());
    assert!(
        store.queued().unwrap().is_empty(),
        "no write goes for what may not be seen"
    );
    assert!(
        store
            .record(SyncKind::Person, &robin.to_string())
            .unwrap()
            .is_some()
    );
    assert_eq!(store.cursor().unwrap().as_deref(), Some("two"));
}

#[test]
fn a_queue_sends_its_oldest_write_first_and_a_waiting_one_holds_the_rest_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &key()).unwrap();
    let now = Utc::now();
    let local = message("c1", 1, "queued text");
    let first = store
        .enqueue(&write("conversation:c1", None, "one"), &[local], now)
        .unwrap();
    let second = store
        .enqueue(&write("conversation:c1", None, "two"), &[], now)
        .unwrap();
    let other = store
        .enqueue(&write("plan:p", None, "comment"), &[], now)
        .unwrap();
    let mut read = write("read:x", None, "read");
    read.priority = -1;
    let read = store.enqueue(&read, &[], now).unwrap();
    // The optimistic change is there with its write.
    assert_eq!(store.messages("c1", 0, 10).unwrap().len(), 1);
    let ids = |writes: Vec<QueuedWrite>| writes.iter().map(|w| w.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.ready(now).unwrap()),
        [first.id, other.id, read.id]
    );

    // Backing off: the conversation waits; nothing overtakes.
    store
        .postpone(first.id, 1, now + Duration::seconds(30))
        .unwrap();
    assert_eq!(ids(store.ready(now).unwrap()), [other.id, read.id]);
    assert_eq!(
        ids(store.ready(now + Duration::seconds(31)).unwrap()),
        [first.id, other.id, read.id]
    );
    // Refused: wedged with the server's reason, still holding the queue.
    let refused = WriteState::Wedged {
        status: 422,
        code: "invalid".into(),
        fields: vec!["body".into()],
    };
    store.set_state(first.id, &refused).unwrap();
    assert_eq!(ids(store.ready(now).unwrap()), [other.id, read.id]);
    assert_eq!(store.queued().unwrap()[0].state, refused);
    // Edited: queued again under a new key; sent: the next one's turn.
    store.edit(first.id, json!({"body": "one, again"})).unwrap();
    let edited = store.queued().unwrap().remove(0);
    assert_eq!(edited.state, WriteState::Queued);
    assert_ne!(edited.idempotency_key, first.idempotency_key);
    assert_eq!(edited.request.body, Some(json!({"body": "one, again"})));
    store.sent(first.id, &[]).unwrap();
    assert_eq!(
        ids(store.ready(now).unwrap()),
        [second.id, other.id, read.id]
    );
    store.discard(second.id).unwrap();
    assert_eq!(store.queued().unwrap().len(), 2);
}

#[test]
fn the_wrong_key_does_not_open_the_store() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path(), &key()).unwrap());
    assert!(matches!(
        Store::open(dir.path(), &key()),
        Err(StoreError::WrongKey)
    ));
}

#[test]
fn a_store_with_queued_writes_is_upgraded_from_the_first_schema() {
    let dir = tempfile::tempdir().unwrap();
    let key = key();
    let keys = crypto::StoreKeys::derive(&key);
    let path = dir.path().join(DATABASE_FILE);
    {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        schema::migrate_to(&mut conn, 1).unwrap();
        // A write queued by the first version of the app: no priority column yet.
        let sealed = keys
            .seal(
                "outbox",
                b"key-1",
                br#"{"queue":"conversation:c1","request":{"method":"POST","path":"/v1/x","body":{"body":"from v1"}}}"#,
            )
            .unwrap();
        conn.execute(
            "INSERT INTO outbox (queue_hash, idempotency_key, state, created_ms, sealed) \
             VALUES (?1, 'key-1', 'queued', 0, ?2)",
            rusqlite::params![keys.lookup("outbox", "conversation:c1"), sealed],
        )
        .unwrap();
    }
    let store = Store::open(dir.path(), &key).unwrap();
    let queued = store.queued().unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].idempotency_key, "key-1");
    assert_eq!(queued[0].priority, 0);
    assert_eq!(queued[0].request.body, Some(json!({"body": "from v1"})));
    let version: i64 = store
        .conn()
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, schema::CURRENT);
}

#[test]
fn a_store_from_a_newer_app_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = key();
    drop(Store::open(dir.path(), &key).unwrap());
    let conn = rusqlite::Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    assert!(matches!(
        Store::open(dir.path(), &key),
        Err(StoreError::TooNew(99))
    ));
}

#[test]
fn a_damaged_store_is_kept_and_its_queued_writes_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let key = key();
    let now = Utc::now();
    let queued: Vec<String> = {
        let store = Store::open(dir.path(), &key).unwrap();
        let queued = (0..3)
            .map(|i| {
                store
                    .enqueue(
                        &write("conversation:c1", None, &format!("unsent {i}")),
                        &[],
                        now,
                    )
                    .unwrap()
                    .idempotency_key
            })
            .collect();
        // Enough synced records that the file's last pages hold only them.
        let filler = "x".repeat(2_000);
        let records = (0..400)
            .map(|i| {
                record(
                    SyncKind::Notification,
                    &i.to_string(),
                    None,
                    json!({"text": filler}),
                )
            })
            .collect();
        store.apply_sync(&page(records, vec![], "c")).unwrap();
        queued
    };
    let path = dir.path().join(DATABASE_FILE);
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size > 100_000, "{size}");
    // Damage the last pages.
    let mut bytes = std::fs::read(&path).unwrap();
    let from = bytes.len() - 16_384;
    for byte in &mut bytes[from..] {
        *byte = 0xA5;
    }
    std::fs::write(&path, &bytes).unwrap();

    let Err(StoreError::Corrupt { recovered }) = Store::open(dir.path(), &key) else {
        panic!("a damaged store must not open as sound");
    };
    let keys: Vec<String> = recovered
        .iter()
        .map(|w| w.idempotency_key.clone())
        .collect();
    assert_eq!(keys, queued, "every queued write, in order");
    assert!(path.exists(), "nothing is deleted");

    // Set aside, a new store takes the writes again.
    let aside = Store::set_aside(dir.path(), now).unwrap();
    assert!(aside.exists());
    let fresh = Store::open(dir.path(), &key).unwrap();
    for write in &recovered {
        fresh
            .enqueue(
                &NewWrite {
                    queue: write.queue.clone(),
                    person: None,
                    idempotency_key: write.idempotency_key.clone(),
                    request: write.request.clone(),
                    priority: write.priority,
                },
                &[],
                now,
            )
            .unwrap();
    }
    assert_eq!(fresh.queued().unwrap().len(), 3);
}

#[test]
fn nothing_written_is_readable_in_the_files_not_even_encoded() {
    const CANARY: &str = "canary-7f3a-purple-heron";
    let dir = tempfile::tempdir().unwrap();
    let key = key();
    let person = PersonId::new();
    {
        let store = Store::open(dir.path(), &key).unwrap();
        store
            .apply_sync(&page(
                vec![
                    record(
                        SyncKind::CrisisPlan,
                        &person.to_string(),
                        Some(person),
                        json!({"sections": {"when_well": CANARY}}),
                    ),
                    message("c1", 1, CANARY),
                ],
                vec![],
                "cursor",
            ))
            .unwrap();
        store
            .enqueue(
                &write("conversation:c1", Some(person), CANARY),
                &[],
                Utc::now(),
            )
            .unwrap();
        // Files as they stand while the store is open (WAL and shared memory too).
        assert_no_canary(dir.path(), CANARY, &person.to_string());
    }
    assert_no_canary(dir.path(), CANARY, &person.to_string());
}

fn assert_no_canary(dir: &std::path::Path, canary: &str, person: &str) {
    let forms = [
        canary.to_owned(),
        base64::engine::general_purpose::STANDARD.encode(canary),
        hex::encode(canary),
        person.to_owned(),
    ];
    let mut files = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        files += 1;
        for form in &forms {
            assert!(
                !bytes.windows(form.len()).any(|w| w == form.as_bytes()),
                "found in {}",
                path.display()
            );
        }
    }
    assert!(files >= 1);
}

#[test]
fn wiping_removes_every_file_of_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &key()).unwrap();
    store
        .apply_sync(&page(vec![message("c", 1, "x")], vec![], "c"))
        .unwrap();
    drop(store);
    Store::wipe(dir.path()).unwrap();
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
