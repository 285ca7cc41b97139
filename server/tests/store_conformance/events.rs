//! `EventStore` and the outbox: events are stored only by the write they announce, in its
//! transaction; every kind reads back typed and exactly; each recipient's ids in commit order,
//! with writers to other recipients not waiting; each recipient's events after a cursor; events
//! carried whole by a notification, or read by the ids it names; the newest id, everyone's and
//! one recipient's.
//!
//! The writes here are comments on a plan: the cheapest write that takes the events it
//! announces. Each aggregate's own suite checks that its writes announce themselves.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use livingwell_core::api::events::{
    AppointmentChange, AppointmentChangeData, AppointmentRequestData, CrisisActivationData, Event,
    MessageCreatedData, MessageReceiptData, MessageReportData, PlanCommentData, PlanVersionData,
    WaitlistOfferData,
};
use livingwell_core::domain::appointment::RequestKind;
use livingwell_core::domain::{PersonId, Role, UserId};
use livingwell_server::store::events::{EventRecord, NewEvent, StoreNotice};
use livingwell_server::store::plans::{Author, CommentRecord};
use livingwell_server::store::{Store, StoreError};
use uuid::Uuid;

use crate::{instant, new_person, new_user};

conformance! {
    store: [
        every_kind_of_event_reads_back_as_written_with_increasing_ids,
        events_for_is_one_recipients_events_after_a_cursor,
        a_reader_following_the_newest_id_misses_no_event_of_concurrent_writers,
        readers_of_their_own_events_miss_none_while_writers_to_many_recipients_overlap,
        events_by_ids_reads_those_stored_and_the_newest_id_is_also_per_recipient,
        a_write_whose_event_cannot_be_stored_stores_neither,
        a_commit_tells_every_listener_which_events_it_stored,
    ],
}

fn at(n: i64) -> DateTime<Utc> {
    instant(9, 0, 0, 0) + Duration::microseconds(n)
}

/// A comment on `person`'s plan, as the write that carries `events`.
fn comment(person: PersonId, n: i64) -> CommentRecord {
    CommentRecord {
        id: Uuid::now_v7(),
        person_id: person,
        version: 1,
        section: "goals".to_owned(),
        body: format!("comment {n} — ünïcode"),
        disagree: false,
        author: Author {
            id: "dr.lee".to_owned(),
            role: "practitioner".to_owned(),
        },
        created_at: at(n),
    }
}

/// Stores a comment announced by `events`; returns them as stored (the newest rows).
async fn announce(store: &dyn Store, person: PersonId, events: &[NewEvent]) -> Vec<EventRecord> {
    let before = store.last_event_id().await.unwrap();
    store
        .add_comment(&comment(person, 0), events)
        .await
        .unwrap();
    store.events_after(before, 1_000).await.unwrap()
}

fn event(recipient: UserId, person: Option<PersonId>, n: i64) -> NewEvent {
    NewEvent {
        recipient_id: Some(recipient),
        person_id: person,
        event: Event::MessageCreated(MessageCreatedData {
            conversation_id: Uuid::now_v7().into(),
            message_id: Uuid::now_v7().into(),
            seq: n,
        }),
        created_at: at(n),
    }
}

/// One event of every kind, with the values each can hold at their edges.
fn every_kind() -> Vec<Event> {
    let id = Uuid::now_v7;
    let receipt = MessageReceiptData {
        conversation_id: id().into(),
        up_to_seq: i64::MAX,
        user_id: id().into(),
    };
    vec![
        Event::EnablementPlanUpdated(PlanVersionData { version: 1 }),
        Event::EnablementPlanCommented(PlanCommentData {
            comment_id: id(),
            disagree: true,
            version: i32::MAX,
        }),
        Event::EnablementPlanAgreed(PlanVersionData { version: 7 }),
        Event::CrisisPlanUpdated(PlanVersionData { version: 2 }),
        Event::CrisisPlanActivated(CrisisActivationData {
            activation_id: id(),
        }),
        Event::CrisisPlanDeactivated(CrisisActivationData {
            activation_id: id(),
        }),
        Event::AppointmentChanged(AppointmentChangeData {
            appointment_id: id().into(),
            change: AppointmentChange::RequestAnswered,
        }),
        Event::AppointmentRequestMade(AppointmentRequestData {
            appointment_id: id().into(),
            request: RequestKind::Cancel,
        }),
        Event::WaitlistPlaceOffered(WaitlistOfferData {
            booking_id: id().into(),
            offer_expires_at: Some(instant(23, 59, 59, 999_999)),
            programme_id: id().into(),
            session_id: Some(id().into()),
        }),
        Event::WaitlistPlaceOffered(WaitlistOfferData {
            booking_id: id().into(),
            offer_expires_at: None,
            programme_id: id().into(),
            session_id: None,
        }),
        Event::MessageCreated(MessageCreatedData {
            conversation_id: id().into(),
            message_id: id().into(),
            seq: 1,
        }),
        Event::MessagesDelivered(receipt),
        Event::MessagesRead(receipt),
        Event::MessageReported(MessageReportData {
            conversation_id: id().into(),
            message_id: id().into(),
            report_id: id().into(),
        }),
    ]
}

async fn every_kind_of_event_reads_back_as_written_with_increasing_ids(store: Arc<dyn Store>) {
    assert_eq!(store.last_event_id().await.unwrap(), 0);
    assert!(store.events_after(0, 10).await.unwrap().is_empty());

    let user = new_user(store.as_ref(), Role::Practitioner, "dr.lee").await;
    let person = new_person(store.as_ref(), "Ada", None).await;
    let batch: Vec<NewEvent> = every_kind()
        .into_iter()
        .enumerate()
        .map(|(n, event)| NewEvent {
            recipient_id: Some(user.id),
            // About the person, and about nobody (a carer's own conversation).
            person_id: (n % 2 == 0).then_some(person.id),
            event,
            created_at: at(n as i64),
        })
        .collect();
    let stored = announce(store.as_ref(), person.id, &batch).await;
    assert_eq!(
        stored.iter().map(|e| &e.event).collect::<Vec<_>>(),
        batch.iter().collect::<Vec<_>>()
    );
    assert!(stored.windows(2).all(|w| w[0].id < w[1].id));
    let second = announce(store.as_ref(), person.id, &[event(user.id, None, 4)]).await;
    assert_eq!(second.len(), 1);
    assert!(second[0].id > stored[stored.len() - 1].id);

    let all: Vec<EventRecord> = stored.into_iter().chain(second).collect();
    assert_eq!(store.events_after(0, 100).await.unwrap(), all);
    assert_eq!(store.events_after(all[1].id, 2).await.unwrap(), all[2..4]);
    assert_eq!(store.last_event_id().await.unwrap(), all[all.len() - 1].id);
    // A write that announces nothing stores no event.
    store
        .add_comment(&comment(person.id, 9), &[])
        .await
        .unwrap();
    assert_eq!(store.events_after(0, 100).await.unwrap(), all);
}

async fn events_for_is_one_recipients_events_after_a_cursor(store: Arc<dyn Store>) {
    let ada = new_user(store.as_ref(), Role::Carer, "carer.ada").await;
    let lee = new_user(store.as_ref(), Role::Practitioner, "dr.lee").await;
    let person = new_person(store.as_ref(), "Grace", None).await;
    let mut mine = Vec::new();
    for n in 0..6 {
        // Interleaved with someone else's.
        let stored = announce(
            store.as_ref(),
            person.id,
            &[event(ada.id, None, n), event(lee.id, None, n)],
        )
        .await;
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

/// What a live stream relies on: once it has read its recipient's events up to an id, no event
/// of theirs with a smaller id can still appear, so resuming after the last id seen misses nothing — with the events appended
/// inside writes of their own, as they all are.
async fn a_reader_following_the_newest_id_misses_no_event_of_concurrent_writers(
    store: Arc<dyn Store>,
) {
    let user = new_user(store.as_ref(), Role::Practitioner, "dr.lee").await;
    let person = new_person(store.as_ref(), "Ada", None).await;
    let writers: Vec<_> = (0..6)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for b in 0..5 {
                    let n = w * 100 + b * 10;
                    let batch = [event(user.id, None, n), event(user.id, None, n + 1)];
                    store
                        .add_comment(&comment(person.id, n), &batch)
                        .await
                        .unwrap();
                }
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
            let page = store.events_for(user.id, after, 7).await.unwrap();
            let Some(last) = page.last() else { break };
            after = last.id;
            seen.extend(page.into_iter().map(|e| e.id));
        }
        tokio::task::yield_now().await;
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let written: BTreeSet<i64> = store
        .events_after(0, 1_000)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
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

/// Appends to different recipients do not wait for each other (on Postgres), so ids of
/// different recipients may commit out of order; each recipient's own ids may not. Six writers
/// each tell their own recipient and one shared by all (so the locks of every write overlap
/// another's, taken in the same order by all); a reader per recipient follows its own newest id
/// while they write, and sees every one of its events once, in id order.
async fn readers_of_their_own_events_miss_none_while_writers_to_many_recipients_overlap(
    store: Arc<dyn Store>,
) {
    let shared = new_user(store.as_ref(), Role::Practitioner, "dr.shared").await;
    let person = new_person(store.as_ref(), "Ada", None).await;
    let mut recipients = vec![shared.id];
    for w in 0..6 {
        recipients.push(
            new_user(store.as_ref(), Role::Carer, &format!("carer.{w}"))
                .await
                .id,
        );
    }
    let writers: Vec<_> = (1..recipients.len())
        .map(|w| {
            let store = store.clone();
            let (own, shared) = (recipients[w], shared.id);
            tokio::spawn(async move {
                for b in 0..5 {
                    let n = (w as i64) * 100 + b * 10;
                    // Half the writes name the shared recipient first: the locks' order is the
                    // store's, not the caller's.
                    let batch = if b % 2 == 0 {
                        [event(own, None, n), event(shared, None, n + 1)]
                    } else {
                        [event(shared, None, n), event(own, None, n + 1)]
                    };
                    store
                        .add_comment(&comment(person.id, n), &batch)
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    let readers: Vec<_> = recipients
        .iter()
        .map(|recipient| {
            let (store, recipient) = (store.clone(), *recipient);
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut after = 0;
                // Until the expected count arrives: 5 writes each for a writer's own
                // recipient, 30 for the shared one.
                let expected = if recipient == shared.id { 30 } else { 5 };
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
                while seen.len() < expected && std::time::Instant::now() < deadline {
                    let page = store.events_for(recipient, after, 4).await.unwrap();
                    if let Some(last) = page.last() {
                        after = last.id;
                    }
                    seen.extend(page.into_iter().map(|e| e.id));
                    tokio::task::yield_now().await;
                }
                (recipient, seen)
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    for reader in readers {
        let (recipient, seen) = reader.await.unwrap();
        let written: Vec<i64> = store
            .events_for(recipient, 0, 1_000)
            .await
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(seen, written, "every event of theirs once, in id order");
        assert_eq!(
            store.last_event_id_for(recipient).await.unwrap(),
            *written.last().unwrap()
        );
    }
}

async fn events_by_ids_reads_those_stored_and_the_newest_id_is_also_per_recipient(
    store: Arc<dyn Store>,
) {
    let ada = new_user(store.as_ref(), Role::Carer, "carer.ada").await;
    let lee = new_user(store.as_ref(), Role::Practitioner, "dr.lee").await;
    let person = new_person(store.as_ref(), "Grace", None).await;
    assert_eq!(store.last_event_id_for(ada.id).await.unwrap(), 0);
    let stored = announce(
        store.as_ref(),
        person.id,
        &[
            event(ada.id, None, 1),
            event(lee.id, None, 2),
            event(ada.id, None, 3),
        ],
    )
    .await;
    assert_eq!(stored.len(), 3);
    // Named out of order, with one never stored: those stored, oldest first.
    let named = [stored[2].id, stored[0].id, stored[2].id + 1_000];
    assert_eq!(
        store.events_by_ids(&named).await.unwrap(),
        [stored[0].clone(), stored[2].clone()]
    );
    assert!(store.events_by_ids(&[]).await.unwrap().is_empty());
    // More than one statement's worth of ids.
    let many: Vec<i64> = (0..2_000)
        .map(|n| stored[1].id + 10_000 + n)
        .chain([stored[1].id])
        .collect();
    assert_eq!(
        store.events_by_ids(&many).await.unwrap(),
        [stored[1].clone()]
    );
    assert_eq!(store.last_event_id_for(ada.id).await.unwrap(), stored[2].id);
    assert_eq!(store.last_event_id_for(lee.id).await.unwrap(), stored[1].id);
    assert_eq!(store.last_event_id_for(UserId::new()).await.unwrap(), 0);
}

/// The outbox both ways: an event that cannot be stored (its recipient does not exist) takes
/// the write it announces down with it, and the rest of the batch too.
async fn a_write_whose_event_cannot_be_stored_stores_neither(store: Arc<dyn Store>) {
    let user = new_user(store.as_ref(), Role::Practitioner, "dr.lee").await;
    let person = new_person(store.as_ref(), "Ada", None).await;
    let result = store
        .add_comment(
            &comment(person.id, 1),
            &[event(user.id, None, 1), event(UserId::new(), None, 2)],
        )
        .await;
    assert!(
        matches!(result, Err(StoreError::MissingReference)),
        "got {result:?}"
    );
    assert_eq!(store.last_event_id().await.unwrap(), 0);
    assert!(store.events_for(user.id, 0, 10).await.unwrap().is_empty());
    assert!(
        store
            .comments(person.id, None, 10)
            .await
            .unwrap()
            .is_empty(),
        "the comment went with its events"
    );
}

/// A shared database (Postgres) tells every listening process, at the commit, which events a
/// write stored: their ids, or — when the list would not fit in a notification — that every
/// stream is to read its own. A database of one process (SQLite) has no one else to tell.
async fn a_commit_tells_every_listener_which_events_it_stored(store: Arc<dyn Store>) {
    let Some(mut notices) = store.notices().await.unwrap() else {
        return;
    };
    let ada = new_user(store.as_ref(), Role::Carer, "carer.ada").await;
    let lee = new_user(store.as_ref(), Role::Practitioner, "dr.lee").await;
    let person = new_person(store.as_ref(), "Grace", None).await;
    let mut next_events_notice = async || loop {
        let notice = tokio::time::timeout(std::time::Duration::from_secs(5), notices.recv())
            .await
            .expect("a notice in time")
            .expect("the listener open");
        if !matches!(notice, StoreNotice::SessionEnded(_)) {
            return notice;
        }
    };
    // A commit's events come whole: every kind, with the values each can hold at their edges,
    // about a person and about nobody.
    for (n, kind) in every_kind().into_iter().enumerate() {
        let told = NewEvent {
            recipient_id: Some(ada.id),
            person_id: (n % 2 == 0).then_some(person.id),
            event: kind,
            created_at: at(n as i64),
        };
        let stored = announce(store.as_ref(), person.id, &[told]).await;
        assert_eq!(
            next_events_notice().await,
            StoreNotice::EventsStored(stored)
        );
    }
    let stored = announce(
        store.as_ref(),
        person.id,
        &[
            event(ada.id, None, 1),
            event(lee.id, Some(person.id), 2),
            event(ada.id, None, 3),
        ],
    )
    .await;
    assert_eq!(
        next_events_notice().await,
        StoreNotice::EventsStored(stored)
    );
    // Too long to carry whole, a commit's events are named by id.
    let named: Vec<NewEvent> = (0..40).map(|n| event(lee.id, Some(person.id), n)).collect();
    let stored = announce(store.as_ref(), person.id, &named).await;
    let StoreNotice::EventsAppended(mut ids) = next_events_notice().await else {
        panic!("the stored events named");
    };
    ids.sort_unstable();
    assert_eq!(ids, stored.iter().map(|e| e.id).collect::<Vec<_>>());
    // Two thousand ids are more than a notification holds.
    let many: Vec<NewEvent> = (0..2_000).map(|n| event(lee.id, None, n)).collect();
    let stored = announce(store.as_ref(), person.id, &many).await;
    assert!(!stored.is_empty());
    assert_eq!(
        next_events_notice().await,
        StoreNotice::EventsAppendedUnlisted
    );
}
