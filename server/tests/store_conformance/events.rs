//! `EventStore`: ids in commit order, each recipient's events after a cursor, the newest id.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Duration;
use livingwell_core::domain::{PersonId, Role, UserId};
use livingwell_server::store::events::{EventRecord, NewEvent};
use livingwell_server::store::{Store, StoreError};
use serde_json::json;

use crate::{instant, new_person, new_user};

conformance! {
    store: [
        events_read_back_exactly_with_increasing_ids,
        events_for_is_one_recipients_events_after_a_cursor,
        a_reader_following_the_newest_id_misses_no_event_of_concurrent_writers,
        a_batch_with_an_unknown_recipient_stores_none_of_it,
    ],
}

fn event(recipient: UserId, person: Option<PersonId>, n: i64) -> NewEvent {
    NewEvent {
        recipient_id: recipient,
        kind: "plan_changed".to_owned(),
        person_id: person,
        data: json!({ "n": n, "note": "ids only — ünïcode" }),
        created_at: instant(9, 0, 0, 0) + Duration::microseconds(n),
    }
}

async fn events_read_back_exactly_with_increasing_ids(store: Arc<dyn Store>) {
    assert_eq!(store.last_event_id().await.unwrap(), 0);
    assert!(store.events_after(0, 10).await.unwrap().is_empty());
    assert!(store.append_events(&[]).await.unwrap().is_empty());

    let user = new_user(store.as_ref(), Role::Practitioner, "dr.lee").await;
    let person = new_person(store.as_ref(), "Ada", None).await;
    let batch = [
        event(user.id, Some(person.id), 1),
        event(user.id, None, 2),
        event(user.id, Some(person.id), 3),
    ];
    let stored = store.append_events(&batch).await.unwrap();
    assert_eq!(
        stored.iter().map(|e| &e.event).collect::<Vec<_>>(),
        batch.iter().collect::<Vec<_>>()
    );
    assert!(stored.windows(2).all(|w| w[0].id < w[1].id));
    let second = store
        .append_events(&[event(user.id, None, 4)])
        .await
        .unwrap();
    assert!(second[0].id > stored[2].id);

    let all: Vec<EventRecord> = stored.into_iter().chain(second).collect();
    assert_eq!(store.events_after(0, 10).await.unwrap(), all);
    assert_eq!(store.events_after(all[1].id, 2).await.unwrap(), all[2..4]);
    assert_eq!(store.last_event_id().await.unwrap(), all[3].id);
}

async fn events_for_is_one_recipients_events_after_a_cursor(store: Arc<dyn Store>) {
    let ada = new_user(store.as_ref(), Role::Carer, "carer.ada").await;
    let lee = new_user(store.as_ref(), Role::Practitioner, "dr.lee").await;
    let mut mine = Vec::new();
    for n in 0..6 {
        // Interleaved with someone else's.
        let stored = store
            .append_events(&[event(ada.id, None, n), event(lee.id, None, n)])
            .await
            .unwrap();
        mine.push(stored[0].clone());
    }

    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let page = store.events_for(ada.id, after, 4).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.id;
        seen.extend(page);
        assert!(seen.len() <= mine.len(), "paging does not end");
    }
    assert_eq!(seen, mine);
    assert_eq!(
        store.events_for(ada.id, mine[3].id, 10).await.unwrap(),
        mine[4..]
    );
    assert!(
        store
            .events_for(ada.id, mine[5].id, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .events_for(UserId::new(), 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// What a live stream relies on: once it has read up to an id, no event with a smaller id can
/// still appear, so resuming after the last id seen misses nothing.
async fn a_reader_following_the_newest_id_misses_no_event_of_concurrent_writers(
    store: Arc<dyn Store>,
) {
    let user = new_user(store.as_ref(), Role::Practitioner, "dr.lee").await;
    let writers: Vec<_> = (0..6)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for b in 0..5 {
                    let n = w * 100 + b * 10;
                    let batch = [event(user.id, None, n), event(user.id, None, n + 1)];
                    let stored = store.append_events(&batch).await.unwrap();
                    ids.extend(stored.iter().map(|e| e.id));
                }
                ids
            })
        })
        .collect();

    let mut seen = Vec::new();
    let mut after = 0;
    let mut finished = false;
    while !finished {
        finished = writers.iter().all(|w| w.is_finished());
        // Read to the end of what is there now.
        loop {
            let page = store.events_after(after, 7).await.unwrap();
            let Some(last) = page.last() else { break };
            after = last.id;
            seen.extend(page.into_iter().map(|e| e.id));
        }
        tokio::task::yield_now().await;
    }
    let mut written = BTreeSet::new();
    for writer in writers {
        written.extend(writer.await.unwrap());
    }
    assert_eq!(written.len(), 60);
    assert_eq!(
        seen,
        written.iter().copied().collect::<Vec<_>>(),
        "every event once, in id order"
    );
    assert_eq!(
        store.last_event_id().await.unwrap(),
        *written.last().unwrap()
    );
}

async fn a_batch_with_an_unknown_recipient_stores_none_of_it(store: Arc<dyn Store>) {
    let user = new_user(store.as_ref(), Role::Practitioner, "dr.lee").await;
    let result = store
        .append_events(&[event(user.id, None, 1), event(UserId::new(), None, 2)])
        .await;
    assert!(
        matches!(result, Err(StoreError::MissingReference)),
        "got {result:?}"
    );
    assert_eq!(store.last_event_id().await.unwrap(), 0);
    assert!(store.events_for(user.id, 0, 10).await.unwrap().is_empty());
}
