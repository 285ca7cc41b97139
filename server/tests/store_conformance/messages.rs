//! `MessageStore`: conversations opened once, exactly-once sends by `(sender, client_id)`
//! (retries racing included), gap-free numbering under concurrency, out-of-hours notices,
//! cursors that only move forward, unread counts, participants as they are now, reports; sends,
//! receipts and reports stored with the events that announce them.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Duration, Utc};
use livingwell_core::api::events::{
    Event, MessageCreatedData, MessageReceiptData, MessageReportData,
};
use livingwell_core::domain::message::{
    Availability, ClientMessageId, ClockTime, ConversationId, ConversationKind, Day,
    MessageContent, MessageId, MessageReportId, OutOfHoursNotice, WorkingSpan,
    default_crisis_lines,
};
use livingwell_core::domain::{ConsentScope, PersonId, Role, TeamId, UserId};
use livingwell_server::audit::{self, Verification};
use livingwell_server::store::events::{Audience, EventRecord, NewEvent};
use livingwell_server::store::messages::{
    ConversationKey, ConversationRecord, ConversationScope, Cursor, CursorRecord,
    MessageReportRecord, MessagesAfter, NewMessage, NewSend, NoticeRequest, SendOutcome,
};
use livingwell_server::store::{SqliteStore, Store, StoreSettings, UserRecord};
use livingwell_testkit::{Backend, TestDatabase};

use crate::{Raw, audit_entry, consent, instant, new_team, new_user, person_record, user_record};

conformance! {
    store: [
        a_conversation_is_opened_once_even_by_racing_opens,
        messages_are_numbered_from_one_and_read_after_a_cursor,
        a_retry_with_the_same_client_id_returns_the_stored_message,
        concurrent_retries_store_the_message_once,
        concurrent_senders_get_gap_free_numbers,
        a_send_to_an_unknown_conversation_stores_nothing,
        a_batch_over_two_conversations_numbers_each_in_batch_order_with_or_without_a_repeat,
        a_sends_access_is_audited_in_its_transaction_and_fails_with_it,
        an_out_of_hours_notice_follows_a_message_unless_one_was_recent,
        cursors_only_move_forward_and_read_implies_delivered,
        unread_counts_skip_own_messages_and_follow_the_read_cursor,
        the_team_inbox_lists_its_caseloads_conversations_newest_activity_first,
        reporting_a_message_twice_keeps_the_first_report,
        participants_follow_the_allocation_and_the_caseload_now,
        missing_conversations_are_opened_once_and_a_carers_needs_consent,
        availability_reads_back_and_is_replaced,
        a_message_and_its_notice_are_announced_in_the_sends_transaction_and_a_repeat_is_not,
        receipts_and_reports_are_announced_only_when_they_change_something,
        a_conversation_and_its_readers_relationship_come_in_one_read_as_in_two,
        a_session_and_a_conversation_come_in_one_read_as_in_two,
    ],
    raw: [a_send_takes_the_audit_chains_lock_after_its_recipients_locks],
}

/// A person with an account on a team with a practitioner, and an allocated peer worker.
struct Circle {
    person: PersonId,
    account: UserRecord,
    team: TeamId,
    practitioner: UserRecord,
    peer: UserRecord,
}

async fn circle(store: &dyn Store, name: &str) -> Circle {
    let team = new_team(store, &format!("{name}'s team")).await;
    let person = person_record(name, Some(team.id));
    let account = user_record(Role::ServiceUser, &name.to_lowercase(), Some(person.id));
    store.create_person(&person, Some(&account)).await.unwrap();
    let practitioner = new_user(store, Role::Practitioner, &format!("dr.of.{name}")).await;
    store
        .add_team_member(team.id, practitioner.id, super::now())
        .await
        .unwrap();
    let peer = new_user(store, Role::PeerWorker, &format!("peer.of.{name}")).await;
    store
        .allocate_peer(person.id, peer.id, super::now())
        .await
        .unwrap();
    Circle {
        person: person.id,
        account,
        team: team.id,
        practitioner,
        peer,
    }
}

async fn peer_conversation(store: &dyn Store, circle: &Circle) -> ConversationRecord {
    store
        .ensure_conversation(ConversationKey::Peer(circle.person), instant(8, 0, 0, 0))
        .await
        .unwrap()
}

fn message(conversation: ConversationId, sender: UserId, body: &str) -> NewMessage {
    NewMessage {
        id: MessageId::new(),
        conversation_id: conversation,
        sender_id: sender,
        client_id: ClientMessageId::new(),
        body: body.to_owned(),
        created_at: super::now(),
    }
}

fn send(message: NewMessage) -> NewSend {
    NewSend {
        message,
        notice: None,
        access: None,
        audience: Audience::default(),
    }
}

async fn send_one(store: &dyn Store, message: NewMessage) -> SendOutcome {
    let mut outcomes = store.send_messages(&[send(message)]).await.unwrap();
    assert_eq!(outcomes.len(), 1);
    outcomes.remove(0)
}

fn created_seq(outcome: &SendOutcome) -> i64 {
    match outcome {
        SendOutcome::Created { message, .. } => message.seq,
        other => panic!("expected a new message, got {other:?}"),
    }
}

async fn a_conversation_is_opened_once_even_by_racing_opens(store: Arc<dyn Store>) {
    let ada = circle(store.as_ref(), "Ada").await;
    let carer = new_user(store.as_ref(), Role::Carer, "carer.chris").await;
    let at = instant(8, 0, 0, 5);

    let barrier = Arc::new(tokio::sync::Barrier::new(8));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let barrier = barrier.clone();
            let key = ConversationKey::Team(ada.person);
            tokio::spawn(async move {
                barrier.wait().await;
                store.ensure_conversation(key, at).await.unwrap()
            })
        })
        .collect();
    let mut opened = Vec::new();
    for task in tasks {
        opened.push(task.await.unwrap());
    }
    let team = opened[0].clone();
    assert!(
        opened.iter().all(|c| *c == team),
        "one conversation for all"
    );
    assert_eq!(team.kind, ConversationKind::Team);
    assert_eq!(team.person_id, ada.person);
    assert_eq!(team.carer_id, None);
    assert_eq!(team.last_seq, 0);
    assert_eq!(team.last_message_at, None);
    assert_eq!(team.created_at, at);

    // The peer conversation and a carer's own are others.
    let peer = peer_conversation(store.as_ref(), &ada).await;
    let carers = store
        .ensure_conversation(
            ConversationKey::Carer {
                person: ada.person,
                carer: carer.id,
            },
            at,
        )
        .await
        .unwrap();
    let ids: BTreeSet<_> = [team.id, peer.id, carers.id].into_iter().collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(carers.kind, ConversationKind::Team);
    assert_eq!(carers.carer_id, Some(carer.id));

    let context = store.conversation(peer.id).await.unwrap().unwrap();
    assert_eq!(context.conversation, peer);
    assert_eq!(context.peer_worker_id, Some(ada.peer.id));
    assert_eq!(context.team_id, None);
    assert_eq!(context.person_account_id, Some(ada.account.id));
    let context = store.conversation(team.id).await.unwrap().unwrap();
    assert_eq!(context.team_id, Some(ada.team));
    assert_eq!(context.peer_worker_id, None);
    assert_eq!(
        store.conversation(ConversationId::new()).await.unwrap(),
        None
    );
}

async fn messages_are_numbered_from_one_and_read_after_a_cursor(store: Arc<dyn Store>) {
    let ada = circle(store.as_ref(), "Ada").await;
    let conversation = peer_conversation(store.as_ref(), &ada).await;
    let mut stored = Vec::new();
    for i in 0..5 {
        let sender = if i % 2 == 0 { &ada.account } else { &ada.peer };
        let new = message(
            conversation.id,
            sender.id,
            &format!("Hello {i} — ça va? 🌱"),
        );
        match send_one(store.as_ref(), new.clone()).await {
            SendOutcome::Created {
                message,
                notice: None,
            } => {
                assert_eq!(message.seq, i + 1);
                assert_eq!(message.id, new.id);
                assert_eq!(message.sender_id, Some(new.sender_id));
                assert_eq!(message.client_id, Some(new.client_id));
                assert_eq!(message.content, MessageContent::Text { body: new.body });
                assert_eq!(message.created_at, new.created_at);
                stored.push(message);
            }
            other => panic!("expected a new message, got {other:?}"),
        }
    }

    assert_eq!(
        store.messages_after(conversation.id, 0, 10).await.unwrap(),
        MessagesAfter {
            messages: stored.clone(),
            cursors: Vec::new(),
        }
    );
    // A page carries the conversation's cursors as they stand, its reader's and the others'.
    let peer_cursor = CursorRecord {
        user_id: ada.peer.id,
        cursor: Cursor {
            delivered_seq: 4,
            read_seq: 3,
        },
    };
    store
        .advance_cursor(
            conversation.id,
            peer_cursor.user_id,
            peer_cursor.cursor,
            instant(12, 0, 0, 0),
            &Audience::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        store.messages_after(conversation.id, 2, 2).await.unwrap(),
        MessagesAfter {
            messages: stored[2..4].to_vec(),
            cursors: vec![peer_cursor],
        }
    );
    // Another conversation's cursors are not this one's.
    let bea = circle(store.as_ref(), "Bea").await;
    let other = peer_conversation(store.as_ref(), &bea).await;
    send_one(store.as_ref(), message(other.id, bea.account.id, "Hello")).await;
    store
        .advance_cursor(
            other.id,
            bea.peer.id,
            Cursor {
                delivered_seq: 1,
                read_seq: 1,
            },
            instant(12, 0, 0, 0),
            &Audience::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        store.messages_after(conversation.id, 4, 10).await.unwrap(),
        MessagesAfter {
            messages: stored[4..].to_vec(),
            cursors: vec![peer_cursor],
        }
    );
    // A page with no messages needs no cursors, and has none.
    assert_eq!(
        store.messages_after(conversation.id, 5, 10).await.unwrap(),
        MessagesAfter::default()
    );
    assert_eq!(
        store.message(stored[3].id).await.unwrap(),
        Some(stored[3].clone())
    );
    assert_eq!(store.message(MessageId::new()).await.unwrap(), None);
    let now = store.conversation(conversation.id).await.unwrap().unwrap();
    assert_eq!(now.conversation.last_seq, 5);
    assert_eq!(now.conversation.last_message_at, Some(stored[4].created_at));
}

async fn a_retry_with_the_same_client_id_returns_the_stored_message(store: Arc<dyn Store>) {
    let ada = circle(store.as_ref(), "Ada").await;
    let conversation = peer_conversation(store.as_ref(), &ada).await;
    let first = message(
        conversation.id,
        ada.account.id,
        "Are we still on for Tuesday?",
    );
    let SendOutcome::Created {
        message: stored, ..
    } = send_one(store.as_ref(), first.clone()).await
    else {
        panic!("the first send stores")
    };

    // A retry — even with another message id and body — answers with what was stored.
    let retry = NewMessage {
        id: MessageId::new(),
        body: "edited on the phone".to_owned(),
        created_at: first.created_at + Duration::minutes(5),
        ..first.clone()
    };
    assert_eq!(
        send_one(store.as_ref(), retry.clone()).await,
        SendOutcome::Existing(stored.clone())
    );
    assert_eq!(store.message(retry.id).await.unwrap(), None);

    // In one batch: the second of two with one client id finds the first.
    let twice = message(conversation.id, ada.account.id, "twice in a batch");
    let outcomes = store
        .send_messages(&[
            send(twice.clone()),
            send(NewMessage {
                id: MessageId::new(),
                ..twice.clone()
            }),
        ])
        .await
        .unwrap();
    assert_eq!(
        created_seq(&outcomes[0]),
        2,
        "the retry gave its number back"
    );
    let SendOutcome::Created {
        message: batch_first,
        ..
    } = &outcomes[0]
    else {
        unreachable!()
    };
    assert_eq!(outcomes[1], SendOutcome::Existing(batch_first.clone()));

    // The client id is the sender's own: another sender may use the same one.
    let other = NewMessage {
        id: MessageId::new(),
        sender_id: ada.peer.id,
        ..first
    };
    assert_eq!(created_seq(&send_one(store.as_ref(), other).await), 3);
    let seqs: Vec<_> = store
        .messages_after(conversation.id, 0, 10)
        .await
        .unwrap()
        .messages
        .into_iter()
        .map(|m| m.seq)
        .collect();
    assert_eq!(seqs, vec![1, 2, 3]);
}

async fn concurrent_retries_store_the_message_once(store: Arc<dyn Store>) {
    let ada = circle(store.as_ref(), "Ada").await;
    let conversation = peer_conversation(store.as_ref(), &ada).await;
    let original = message(conversation.id, ada.account.id, "sent from a flaky bus");
    let barrier = Arc::new(tokio::sync::Barrier::new(10));
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let store = store.clone();
            let barrier = barrier.clone();
            let retry = NewMessage {
                id: MessageId::new(),
                ..original.clone()
            };
            tokio::spawn(async move {
                barrier.wait().await;
                send_one(store.as_ref(), retry).await
            })
        })
        .collect();
    let mut created = Vec::new();
    let mut existing = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            SendOutcome::Created { message, .. } => created.push(message),
            SendOutcome::Existing(message) => existing.push(message),
            SendOutcome::UnknownConversation => panic!("the conversation exists"),
        }
    }
    assert_eq!(created.len(), 1, "exactly one send stores it");
    assert_eq!(existing.len(), 9);
    assert!(existing.iter().all(|m| *m == created[0]));
    assert_eq!(created[0].seq, 1);
    assert_eq!(
        store
            .messages_after(conversation.id, 0, 20)
            .await
            .unwrap()
            .messages,
        created
    );
    // The numbers the retries took were all given back.
    let next = message(conversation.id, ada.peer.id, "Got it");
    assert_eq!(created_seq(&send_one(store.as_ref(), next).await), 2);
}

async fn concurrent_senders_get_gap_free_numbers(store: Arc<dyn Store>) {
    let ada = circle(store.as_ref(), "Ada").await;
    let grace = circle(store.as_ref(), "Grace").await;
    let to_ada = peer_conversation(store.as_ref(), &ada).await;
    let to_grace = peer_conversation(store.as_ref(), &grace).await;

    let barrier = Arc::new(tokio::sync::Barrier::new(12));
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let store = store.clone();
            let barrier = barrier.clone();
            // Each send is a batch touching both conversations, in differing orders, and half
            // of them also carry a retry that must not take a number.
            let a = message(to_ada.id, ada.account.id, &format!("to Ada's worker {i}"));
            let g = message(to_grace.id, grace.peer.id, &format!("to Grace {i}"));
            let mut batch = if i % 2 == 0 {
                vec![send(a), send(g)]
            } else {
                vec![
                    send(g.clone()),
                    send(a),
                    send(NewMessage {
                        id: MessageId::new(),
                        ..g
                    }),
                ]
            };
            let turn = i % batch.len();
            batch.rotate_left(turn);
            tokio::spawn(async move {
                barrier.wait().await;
                store.send_messages(&batch).await.unwrap()
            })
        })
        .collect();
    for task in tasks {
        let outcomes = task.await.unwrap();
        let created = outcomes
            .iter()
            .filter(|o| matches!(o, SendOutcome::Created { .. }))
            .count();
        assert_eq!(created, 2);
    }
    for conversation in [to_ada.id, to_grace.id] {
        let seqs: Vec<_> = store
            .messages_after(conversation, 0, 100)
            .await
            .unwrap()
            .messages
            .into_iter()
            .map(|m| m.seq)
            .collect();
        assert_eq!(seqs, (1..=12).collect::<Vec<_>>(), "1, 2, 3… with no gaps");
        let context = store.conversation(conversation).await.unwrap().unwrap();
        assert_eq!(context.conversation.last_seq, 12);
    }
}

async fn a_send_to_an_unknown_conversation_stores_nothing(store: Arc<dyn Store>) {
    let ada = circle(store.as_ref(), "Ada").await;
    let conversation = peer_conversation(store.as_ref(), &ada).await;
    let lost = message(ConversationId::new(), ada.account.id, "into the void");
    let good = message(conversation.id, ada.account.id, "hello");
    let outcomes = store
        .send_messages(&[send(lost.clone()), send(good)])
        .await
        .unwrap();
    assert_eq!(outcomes[0], SendOutcome::UnknownConversation);
    assert_eq!(created_seq(&outcomes[1]), 1);
    assert_eq!(store.message(lost.id).await.unwrap(), None);
}

async fn a_batch_over_two_conversations_numbers_each_in_batch_order_with_or_without_a_repeat(
    store: Arc<dyn Store>,
) {
    let (ada, bo) = (
        circle(store.as_ref(), "Ada").await,
        circle(store.as_ref(), "Bo").await,
    );
    let (a, b) = (
        peer_conversation(store.as_ref(), &ada).await,
        peer_conversation(store.as_ref(), &bo).await,
    );
    let to_a = |body: &str| message(a.id, ada.account.id, body);
    let to_b = |body: &str| message(b.id, bo.account.id, body);
    let numbers = |outcomes: &[SendOutcome]| -> Vec<Option<i64>> {
        outcomes
            .iter()
            .map(|outcome| match outcome {
                SendOutcome::Created { message, .. } => Some(message.seq),
                _ => None,
            })
            .collect()
    };
    // All new: each conversation's numbers follow the batch's order.
    let first = [to_b("b1"), to_a("a1"), to_b("b2"), to_a("a2"), to_a("a3")];
    let outcomes = store.send_messages(&first.clone().map(send)).await.unwrap();
    assert_eq!(
        numbers(&outcomes),
        [Some(1), Some(1), Some(2), Some(2), Some(3)]
    );
    // A repeat in the middle: it finds its message and gives no number; the others still
    // follow the batch's order with no gap.
    let again = [to_a("a4"), first[2].clone(), to_b("b3"), to_a("a5")];
    let outcomes = store.send_messages(&again.clone().map(send)).await.unwrap();
    assert_eq!(numbers(&outcomes), [Some(4), None, Some(3), Some(5)]);
    assert!(matches!(&outcomes[1], SendOutcome::Existing(m) if m.id == first[2].id && m.seq == 2));
    for (conversation, expected) in [(a.id, 5), (b.id, 3)] {
        let seqs: Vec<i64> = store
            .messages_after(conversation, 0, 100)
            .await
            .unwrap()
            .messages
            .iter()
            .map(|m| m.seq)
            .collect();
        assert_eq!(seqs, (1..=expected).collect::<Vec<_>>());
        let context = store.conversation(conversation).await.unwrap().unwrap();
        assert_eq!(context.conversation.last_seq, expected);
    }
}

async fn a_sends_access_is_audited_in_its_transaction_and_fails_with_it(store: Arc<dyn Store>) {
    let ada = circle(store.as_ref(), "Ada").await;
    let conversation = peer_conversation(store.as_ref(), &ada).await;
    let audited = |message: NewMessage| NewSend {
        access: Some(audit_entry(Some(ada.person), "write")),
        ..send(message)
    };
    // Stored, repeated, and to no conversation: each send's access is chained, in batch order.
    let hello = message(conversation.id, ada.account.id, "hello");
    let batch = [
        audited(hello.clone()),
        audited(hello.clone()),
        audited(message(
            ConversationId::new(),
            ada.account.id,
            "into the void",
        )),
    ];
    let outcomes = store.send_messages(&batch).await.unwrap();
    assert_eq!(created_seq(&outcomes[0]), 1);
    assert!(matches!(&outcomes[1], SendOutcome::Existing(m) if m.id == hello.id));
    assert_eq!(outcomes[2], SendOutcome::UnknownConversation);
    let chained = |records: Vec<livingwell_server::store::AuditRecord>| -> Vec<_> {
        records.into_iter().map(|record| record.entry).collect()
    };
    let accesses: Vec<_> = batch
        .iter()
        .filter_map(|send| send.access.clone())
        .collect();
    assert_eq!(chained(store.audit_after(0, 10).await.unwrap()), accesses);

    // A batch that fails (a sender with no account) commits neither its messages nor their
    // accesses: the record of a write is never without the write, nor the write without it.
    let lost = message(conversation.id, ada.account.id, "lost with the batch");
    let failing = [
        audited(lost.clone()),
        audited(message(conversation.id, UserId::new(), "from no account")),
    ];
    store.send_messages(&failing).await.unwrap_err();
    assert_eq!(store.message(lost.id).await.unwrap(), None);
    assert_eq!(chained(store.audit_after(0, 10).await.unwrap()), accesses);
    assert_eq!(
        audit::verify(store.as_ref()).await.unwrap(),
        Verification::Intact { entries: 3 }
    );
}

/// SQLite: the process's writers take turns at one gate (`store::writes_here`), so a writer
/// that finds another at work is woken when that one commits, and never sleeps in SQLite's busy
/// handler (1 ms, then 2, 5, …). Audit batches committed while a long batch of sends holds the
/// write lock never find the lock taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_writers_take_turns_without_sleeping_in_the_busy_handler() {
    static SLEPT: AtomicUsize = AtomicUsize::new(0);
    fn busy(_attempt: i32) -> bool {
        SLEPT.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(std::time::Duration::from_millis(1));
        true
    }
    let db = TestDatabase::create(Backend::Sqlite).await.unwrap();
    drop(crate::open_store(&db).await);
    let sqlite = SqliteStore::connect(&db.url, StoreSettings::default())
        .await
        .unwrap()
        .before_writing_here(|connection| connection.busy_handler(Some(busy)));
    let store: Arc<dyn Store> = Arc::new(sqlite);
    let ada = circle(store.as_ref(), "Ada").await;
    let conversation = peer_conversation(store.as_ref(), &ada).await;
    let batch: Vec<NewSend> = (0..2_000)
        .map(|n| send(message(conversation.id, ada.account.id, &n.to_string())))
        .collect();
    let sending = tokio::spawn({
        let store = store.clone();
        async move { store.send_messages(&batch).await }
    });
    let mut batches_while_sending = 0;
    while !sending.is_finished() {
        store
            .append_audit(&[audit_entry(Some(ada.person), "read")])
            .await
            .unwrap();
        batches_while_sending += 1;
    }
    assert_eq!(sending.await.unwrap().unwrap().len(), 2_000);
    assert!(batches_while_sending > 0);
    assert_eq!(
        SLEPT.load(Ordering::SeqCst),
        0,
        "a writer slept in SQLite's busy handler"
    );
}

/// SQLite: a write statement run on its own, outside a write transaction (a session, a refresh
/// token, a conversation opened), takes its turn at the same gate. On connections that do not
/// wait at the write lock at all (busy timeout 0), every such write made while audit batches
/// commit one after another succeeds: none meets a batch holding the lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_lone_writes_take_their_turn_at_the_gate_too() {
    let db = TestDatabase::create(Backend::Sqlite).await.unwrap();
    // Kept open: a store's last connection to close checkpoints the file under its locks,
    // which a connection opening with no busy timeout could meet.
    let _migrated = crate::open_store(&db).await;
    let never_waiting_at_the_lock = SqliteStore::connect_options(&db.url)
        .unwrap()
        .busy_timeout(std::time::Duration::ZERO);
    let pool = SqliteStore::pool_options()
        .connect_with(never_waiting_at_the_lock)
        .await
        .unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::from_pool(pool));
    let ada = circle(store.as_ref(), "Ada").await;
    let appending = tokio::spawn({
        let store = store.clone();
        async move {
            for _ in 0..300 {
                store
                    .append_audit(&[audit_entry(Some(ada.person), "read")])
                    .await
                    .unwrap();
            }
        }
    });
    let mut lone_writes = 0;
    while !appending.is_finished() {
        store
            .create_session(uuid::Uuid::new_v4(), ada.account.id, Utc::now(), &[7; 32])
            .await
            .unwrap();
        lone_writes += 1;
    }
    appending.await.unwrap();
    assert!(lone_writes > 0);
}

fn away_notice(person: PersonId, at: DateTime<Utc>) -> OutOfHoursNotice {
    let away = Availability {
        weekly_hours: Vec::new(),
        away: true,
    };
    OutOfHoursNotice::for_message(&away, at, &default_crisis_lines(), person).unwrap()
}

async fn an_out_of_hours_notice_follows_a_message_unless_one_was_recent(store: Arc<dyn Store>) {
    let ada = circle(store.as_ref(), "Ada").await;
    let conversation = peer_conversation(store.as_ref(), &ada).await;
    let noticed = |at: DateTime<Utc>, quiet_since: DateTime<Utc>| {
        let mut new = message(conversation.id, ada.account.id, "Are you there?");
        new.created_at = at;
        NewSend {
            message: new,
            notice: Some(NoticeRequest {
                id: MessageId::new(),
                notice: away_notice(ada.person, at),
                unless_noticed_since: quiet_since,
            }),
            access: None,
            audience: Audience::default(),
        }
    };

    let first_at = instant(22, 0, 0, 0);
    let first = noticed(first_at, first_at - Duration::hours(1));
    let outcome = store
        .send_messages(std::slice::from_ref(&first))
        .await
        .unwrap();
    let SendOutcome::Created {
        message,
        notice: Some(notice),
    } = &outcome[0]
    else {
        panic!("expected a message and its notice, got {outcome:?}")
    };
    assert_eq!(message.seq, 1);
    let request = first.notice.unwrap();
    assert_eq!(notice.seq, 2);
    assert_eq!(notice.id, request.id);
    assert_eq!(notice.sender_id, None);
    assert_eq!(notice.client_id, None);
    assert_eq!(
        notice.content,
        MessageContent::OutOfHoursNotice(request.notice.clone())
    );
    assert_eq!(
        store.message(notice.id).await.unwrap(),
        Some(notice.clone())
    );

    // Half an hour later, with a notice within the hour: none.
    let second_at = first_at + Duration::minutes(30);
    let second = noticed(second_at, second_at - Duration::hours(1));
    let outcome = store.send_messages(&[second]).await.unwrap();
    assert!(
        matches!(&outcome[0], SendOutcome::Created { message, notice: None } if message.seq == 3),
        "got {outcome:?}"
    );

    // Once the last notice is older than the quiet period, another follows.
    let third_at = first_at + Duration::hours(2);
    let third = noticed(third_at, third_at - Duration::hours(1));
    let outcome = store.send_messages(&[third]).await.unwrap();
    assert!(
        matches!(&outcome[0], SendOutcome::Created { message, notice: Some(n) }
            if message.seq == 4 && n.seq == 5),
        "got {outcome:?}"
    );
}

async fn cursors_only_move_forward_and_read_implies_delivered(store: Arc<dyn Store>) {
    let ada = circle(store.as_ref(), "Ada").await;
    let conversation = peer_conversation(store.as_ref(), &ada).await;
    let at = instant(12, 0, 0, 0);
    let advance = |user: UserId, delivered_seq, read_seq| {
        let store = store.clone();
        async move {
            store
                .advance_cursor(
                    conversation.id,
                    user,
                    Cursor {
                        delivered_seq,
                        read_seq,
                    },
                    at,
                    &Audience::default(),
                )
                .await
                .unwrap()
        }
    };
    let cursor = |delivered_seq, read_seq| Cursor {
        delivered_seq,
        read_seq,
    };
    let me = ada.account.id;

    assert_eq!(advance(me, 3, 0).await, (Cursor::default(), cursor(3, 0)));
    assert_eq!(advance(me, 0, 2).await, (cursor(3, 0), cursor(3, 2)));
    // Backwards is no move at all.
    assert_eq!(advance(me, 1, 1).await, (cursor(3, 2), cursor(3, 2)));
    // Reading past what was delivered delivers it too.
    assert_eq!(advance(me, 0, 5).await, (cursor(3, 2), cursor(5, 5)));
    // Another account's cursor is its own.
    assert_eq!(
        advance(ada.peer.id, 4, 1).await,
        (Cursor::default(), cursor(4, 1))
    );

    let mut cursors = store.cursors(conversation.id).await.unwrap();
    cursors.sort_by_key(|c| c.user_id);
    let mut expected = vec![
        CursorRecord {
            user_id: me,
            cursor: cursor(5, 5),
        },
        CursorRecord {
            user_id: ada.peer.id,
            cursor: cursor(4, 1),
        },
    ];
    expected.sort_by_key(|c| c.user_id);
    assert_eq!(cursors, expected);
}

async fn unread_counts_skip_own_messages_and_follow_the_read_cursor(store: Arc<dyn Store>) {
    let ada = circle(store.as_ref(), "Ada").await;
    let conversation = peer_conversation(store.as_ref(), &ada).await;
    // Seqs 1–3 from the peer worker, 4 from Ada, 5 from the peer worker.
    for sender in [
        ada.peer.id,
        ada.peer.id,
        ada.peer.id,
        ada.account.id,
        ada.peer.id,
    ] {
        send_one(store.as_ref(), message(conversation.id, sender, "…")).await;
    }
    let me = ada.account.id;
    assert_eq!(store.unread_count(conversation.id, me, 0).await.unwrap(), 4);
    assert_eq!(store.unread_count(conversation.id, me, 3).await.unwrap(), 1);
    assert_eq!(
        store
            .unread_count(conversation.id, ada.peer.id, 0)
            .await
            .unwrap(),
        1
    );

    store
        .advance_cursor(
            conversation.id,
            me,
            Cursor {
                delivered_seq: 0,
                read_seq: 2,
            },
            super::now(),
            &Audience::default(),
        )
        .await
        .unwrap();
    let list = store
        .conversations(
            me,
            ConversationScope::OwnAsPerson(ada.person),
            super::now(),
            10,
        )
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].context.conversation.id, conversation.id);
    assert_eq!(list[0].read_seq, 2);
    assert_eq!(list[0].unread_count, 2);
    // The peer worker sees the same conversation from their side.
    let theirs = store
        .conversations(
            ada.peer.id,
            ConversationScope::AllocatedTo(ada.peer.id),
            super::now(),
            10,
        )
        .await
        .unwrap();
    assert_eq!(theirs.len(), 1);
    assert_eq!((theirs[0].read_seq, theirs[0].unread_count), (0, 1));
}

async fn the_team_inbox_lists_its_caseloads_conversations_newest_activity_first(
    store: Arc<dyn Store>,
) {
    let ada = circle(store.as_ref(), "Ada").await;
    let grace = circle(store.as_ref(), "Grace").await;
    // Grace's team is Ada's practitioner's too; Mary's is not.
    store
        .add_team_member(grace.team, ada.practitioner.id, super::now())
        .await
        .unwrap();
    let mary = circle(store.as_ref(), "Mary").await;
    let open = |person, minute| {
        let store = store.clone();
        async move {
            store
                .ensure_conversation(ConversationKey::Team(person), instant(8, minute, 0, 0))
                .await
                .unwrap()
        }
    };
    let with_ada = open(ada.person, 1).await;
    let with_grace = open(grace.person, 2).await;
    open(mary.person, 3).await;
    let ada_peer = peer_conversation(store.as_ref(), &ada).await;

    let inbox = |at| {
        let store = store.clone();
        let viewer = ada.practitioner.id;
        async move {
            store
                .conversations(viewer, ConversationScope::TeamInbox(viewer), at, 10)
                .await
                .unwrap()
                .into_iter()
                .map(|s| s.context.conversation.id)
                .collect::<Vec<_>>()
        }
    };
    // Never messaged: newest opened first. Peer conversations and other teams' are not here.
    assert_eq!(inbox(super::now()).await, vec![with_grace.id, with_ada.id]);

    let mut new = message(with_ada.id, ada.account.id, "Can someone call me?");
    new.created_at = instant(9, 0, 0, 0);
    send_one(store.as_ref(), new).await;
    assert_eq!(inbox(super::now()).await, vec![with_ada.id, with_grace.id]);

    // The team's oversight of one person holds every conversation about them.
    let mut about: Vec<_> = store
        .conversations(
            ada.practitioner.id,
            ConversationScope::AboutPerson(ada.person),
            super::now(),
            10,
        )
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.context.conversation.id)
        .collect();
    about.sort();
    let mut expected = vec![with_ada.id, ada_peer.id];
    expected.sort();
    assert_eq!(about, expected);
}

async fn reporting_a_message_twice_keeps_the_first_report(store: Arc<dyn Store>) {
    let ada = circle(store.as_ref(), "Ada").await;
    let conversation = peer_conversation(store.as_ref(), &ada).await;
    let outcome = send_one(
        store.as_ref(),
        message(conversation.id, ada.peer.id, "something unkind"),
    )
    .await;
    let SendOutcome::Created { message, .. } = outcome else {
        panic!("stored")
    };
    let first = MessageReportRecord {
        id: MessageReportId::new(),
        message_id: message.id,
        reporter_id: ada.account.id,
        reason: Some("It upset me".to_owned()),
        created_at: instant(13, 0, 0, 11),
    };
    assert_eq!(
        store.report_message(&first, &[]).await.unwrap(),
        (first.clone(), true)
    );
    let again = MessageReportRecord {
        id: MessageReportId::new(),
        reason: None,
        created_at: instant(13, 5, 0, 0),
        ..first.clone()
    };
    assert_eq!(
        store.report_message(&again, &[]).await.unwrap(),
        (first.clone(), false)
    );
    // Someone else's report of the same message is theirs.
    let other = MessageReportRecord {
        id: MessageReportId::new(),
        reporter_id: ada.practitioner.id,
        ..again
    };
    assert_eq!(
        store.report_message(&other, &[]).await.unwrap(),
        (other, true)
    );
}

async fn participants_follow_the_allocation_and_the_caseload_now(store: Arc<dyn Store>) {
    let ada = circle(store.as_ref(), "Ada").await;
    let carer = new_user(store.as_ref(), Role::Carer, "carer.chris").await;
    let second_practitioner = new_user(store.as_ref(), Role::Practitioner, "dr.two").await;
    let admin = new_user(store.as_ref(), Role::Admin, "admin").await;
    for member in [&second_practitioner, &admin] {
        store
            .add_team_member(ada.team, member.id, super::now())
            .await
            .unwrap();
    }
    let sorted = |mut ids: Vec<UserId>| {
        ids.sort();
        ids
    };

    let peer = peer_conversation(store.as_ref(), &ada).await;
    assert_eq!(
        store.conversation_participants(&peer).await.unwrap(),
        sorted(vec![ada.account.id, ada.peer.id])
    );
    // A reallocation hands the conversation over.
    let new_peer = new_user(store.as_ref(), Role::PeerWorker, "peer.new").await;
    store
        .allocate_peer(ada.person, new_peer.id, super::now())
        .await
        .unwrap();
    assert_eq!(
        store.conversation_participants(&peer).await.unwrap(),
        sorted(vec![ada.account.id, new_peer.id])
    );

    let practitioners = sorted(vec![ada.practitioner.id, second_practitioner.id]);
    assert_eq!(
        store.team_practitioners(ada.person).await.unwrap(),
        practitioners,
        "practitioners only, in id order"
    );
    let team = store
        .ensure_conversation(ConversationKey::Team(ada.person), super::now())
        .await
        .unwrap();
    assert_eq!(
        store.conversation_participants(&team).await.unwrap(),
        sorted(vec![
            ada.account.id,
            ada.practitioner.id,
            second_practitioner.id
        ])
    );
    // A carer's conversation with the team does not include the person.
    let carers = store
        .ensure_conversation(
            ConversationKey::Carer {
                person: ada.person,
                carer: carer.id,
            },
            super::now(),
        )
        .await
        .unwrap();
    assert_eq!(
        store.conversation_participants(&carers).await.unwrap(),
        sorted(vec![carer.id, ada.practitioner.id, second_practitioner.id])
    );
}

async fn missing_conversations_are_opened_once_and_a_carers_needs_consent(store: Arc<dyn Store>) {
    let ada = circle(store.as_ref(), "Ada").await;
    let carer = new_user(store.as_ref(), Role::Carer, "carer.chris").await;
    store
        .link_carer(ada.person, carer.id, Some("partner"), super::now())
        .await
        .unwrap();
    let at = super::now();

    let own = ConversationScope::OwnAsPerson(ada.person);
    for _ in 0..2 {
        store.open_missing_conversations(own, at).await.unwrap();
    }
    let mut kinds: Vec<_> = store
        .conversations(ada.account.id, own, at, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.context.conversation.kind.as_str())
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        vec!["peer", "team"],
        "one of each, however often asked"
    );
    let allocated = ConversationScope::AllocatedTo(ada.peer.id);
    store
        .open_missing_conversations(allocated, at)
        .await
        .unwrap();
    assert_eq!(
        store
            .conversations(ada.peer.id, allocated, at, 10)
            .await
            .unwrap()
            .len(),
        1
    );

    // A carer gets a conversation with the team only with a consent in force.
    let scope = ConversationScope::Carer(carer.id);
    store.open_missing_conversations(scope, at).await.unwrap();
    assert!(
        store
            .conversations(carer.id, scope, at, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let grant = consent(ada.person, carer.id, &[ConsentScope::Appointments]);
    assert_eq!(store.grant_consent(&grant).await.unwrap(), Ok(()));
    store.open_missing_conversations(scope, at).await.unwrap();
    store.open_missing_conversations(scope, at).await.unwrap();
    let theirs = store.conversations(carer.id, scope, at, 10).await.unwrap();
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0].context.conversation.carer_id, Some(carer.id));
    // And it leaves their list when the consent ends.
    store
        .revoke_consent(ada.person, grant.id, super::now())
        .await
        .unwrap();
    assert!(
        store
            .conversations(carer.id, scope, super::now(), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn availability_reads_back_and_is_replaced(store: Arc<dyn Store>) {
    let peer = new_user(store.as_ref(), Role::PeerWorker, "peer.pat").await;
    assert_eq!(store.availability(peer.id).await.unwrap(), None);

    let hours = Availability {
        weekly_hours: vec![
            WorkingSpan::new(
                Day::Mon,
                ClockTime::new(9, 0).unwrap(),
                ClockTime::new(17, 30).unwrap(),
            ),
            WorkingSpan::new(
                Day::Thu,
                ClockTime::new(13, 15).unwrap(),
                ClockTime::new(20, 0).unwrap(),
            ),
        ],
        away: false,
    };
    store
        .set_availability(peer.id, &hours, super::now())
        .await
        .unwrap();
    assert_eq!(store.availability(peer.id).await.unwrap(), Some(hours));

    let away = Availability {
        weekly_hours: Vec::new(),
        away: true,
    };
    store
        .set_availability(peer.id, &away, super::now())
        .await
        .unwrap();
    assert_eq!(store.availability(peer.id).await.unwrap(), Some(away));
}

/// Who takes part in `ada`'s peer conversation.
fn both(ada: &Circle) -> Audience {
    Audience {
        recipients: vec![ada.account.id, ada.peer.id],
        person_id: Some(ada.person),
    }
}

async fn events_since(store: &dyn Store, after: i64) -> Vec<EventRecord> {
    store.events_after(after, 100).await.unwrap()
}

fn kinds(events: &[EventRecord]) -> Vec<&Event> {
    events.iter().map(|e| &e.event.event).collect()
}

async fn a_message_and_its_notice_are_announced_in_the_sends_transaction_and_a_repeat_is_not(
    store: Arc<dyn Store>,
) {
    let ada = circle(store.as_ref(), "Ada").await;
    let conversation = peer_conversation(store.as_ref(), &ada).await;
    let at = instant(22, 0, 0, 1);
    let mut late = message(conversation.id, ada.account.id, "Are you there?");
    late.created_at = at;
    let send = NewSend {
        message: late,
        notice: Some(NoticeRequest {
            id: MessageId::new(),
            notice: away_notice(ada.person, at),
            unless_noticed_since: at - Duration::hours(12),
        }),
        access: None,
        audience: both(&ada),
    };
    let outcome = store
        .send_messages(std::slice::from_ref(&send))
        .await
        .unwrap();
    let [
        SendOutcome::Created {
            message,
            notice: Some(notice),
        },
    ] = outcome.as_slice()
    else {
        panic!("a message and its notice: {outcome:?}")
    };
    let created = |stored: &livingwell_server::store::messages::MessageRecord| {
        Event::MessageCreated(MessageCreatedData {
            conversation_id: conversation.id,
            message_id: stored.id,
            seq: stored.seq,
        })
    };
    // In number order, each to everyone taking part, dated by the message.
    let events = events_since(store.as_ref(), 0).await;
    let expected: Vec<NewEvent> = [message, notice]
        .into_iter()
        .flat_map(|stored| both(&ada).tell(&created(stored), at))
        .collect();
    assert_eq!(
        events.iter().map(|e| &e.event).collect::<Vec<_>>(),
        expected.iter().collect::<Vec<_>>()
    );

    // The retry finds the message and tells nobody again.
    let last = store.last_event_id().await.unwrap();
    let repeated = store.send_messages(&[send]).await.unwrap();
    assert!(matches!(repeated[0], SendOutcome::Existing(_)));
    assert!(events_since(store.as_ref(), last).await.is_empty());
}

async fn receipts_and_reports_are_announced_only_when_they_change_something(store: Arc<dyn Store>) {
    let ada = circle(store.as_ref(), "Ada").await;
    let conversation = peer_conversation(store.as_ref(), &ada).await;
    let SendOutcome::Created { message: sent, .. } = send_one(
        store.as_ref(),
        message(conversation.id, ada.peer.id, "How was the allotment?"),
    )
    .await
    else {
        panic!("stored")
    };
    let receipt = |up_to_seq| MessageReceiptData {
        conversation_id: conversation.id,
        up_to_seq,
        user_id: ada.account.id,
    };
    let others = Audience {
        recipients: vec![ada.peer.id],
        person_id: Some(ada.person),
    };
    let advance = |to: Cursor, audience: Audience| {
        let store = store.clone();
        let me = ada.account.id;
        async move {
            store
                .advance_cursor(conversation.id, me, to, instant(12, 0, 0, 0), &audience)
                .await
                .unwrap()
        }
    };

    // Fetched: the others hear it was delivered; fetched again, nobody hears anything.
    let fetched = Cursor {
        delivered_seq: 1,
        read_seq: 0,
    };
    advance(fetched, others.clone()).await;
    let events = events_since(store.as_ref(), 0).await;
    assert_eq!(kinds(&events), [&Event::MessagesDelivered(receipt(1))]);
    assert_eq!(events[0].event.recipient_id, Some(ada.peer.id));
    let last = events[0].id;
    advance(fetched, others.clone()).await;
    assert!(events_since(store.as_ref(), last).await.is_empty());

    // Read (which also delivers): one receipt, as read, to everyone given.
    let read = Cursor {
        delivered_seq: 1,
        read_seq: 1,
    };
    advance(read, both(&ada)).await;
    let events = events_since(store.as_ref(), last).await;
    assert_eq!(
        kinds(&events),
        [
            &Event::MessagesRead(receipt(1)),
            &Event::MessagesRead(receipt(1))
        ]
    );
    let last = events[1].id;
    advance(read, both(&ada)).await;
    assert!(events_since(store.as_ref(), last).await.is_empty());

    // Reported: the team is told once, not again for the same reporter's repeat.
    let team = Audience {
        recipients: vec![ada.practitioner.id],
        person_id: Some(ada.person),
    };
    let report = MessageReportRecord {
        id: MessageReportId::new(),
        message_id: sent.id,
        reporter_id: ada.account.id,
        reason: None,
        created_at: instant(13, 0, 0, 0),
    };
    let reported = Event::MessageReported(MessageReportData {
        conversation_id: conversation.id,
        message_id: sent.id,
        report_id: report.id,
    });
    let told = team.tell(&reported, report.created_at);
    assert!(store.report_message(&report, &told).await.unwrap().1);
    let again = MessageReportRecord {
        id: MessageReportId::new(),
        ..report
    };
    assert!(!store.report_message(&again, &told).await.unwrap().1);
    let events = events_since(store.as_ref(), last).await;
    assert_eq!(
        events.iter().map(|e| &e.event).collect::<Vec<_>>(),
        told.iter().collect::<Vec<_>>()
    );
}

/// Ada's circle and a practitioner who is nothing to her, with her peer conversation and her
/// team conversation.
async fn readers_of_both_conversations(
    store: &dyn Store,
) -> (Circle, UserRecord, ConversationRecord, ConversationRecord) {
    let ada = circle(store, "Ada").await;
    let stranger = new_user(store, Role::Practitioner, "dr.stranger").await;
    let peer = peer_conversation(store, &ada).await;
    let team = store
        .ensure_conversation(ConversationKey::Team(ada.person), super::now())
        .await
        .unwrap();
    (ada, stranger, peer, team)
}

/// [`Store::conversation_and_facts`] answers what [`Store::conversation`] and
/// [`Store::relationship_facts`] answer apart, for each kind of reader (the person, their peer
/// worker, their team's practitioner, a stranger; a team and a peer conversation), and nothing
/// for a conversation that does not exist.
async fn a_conversation_and_its_readers_relationship_come_in_one_read_as_in_two(
    store: Arc<dyn Store>,
) {
    let (ada, stranger, peer, team) = readers_of_both_conversations(store.as_ref()).await;
    let at = super::now();
    for conversation in [peer.id, team.id] {
        let apart = store.conversation(conversation).await.unwrap().unwrap();
        for reader in [&ada.account, &ada.peer, &ada.practitioner, &stranger] {
            let facts = store
                .relationship_facts(reader.id, ada.person, at)
                .await
                .unwrap();
            let together = store
                .conversation_and_facts(conversation, reader.id, at)
                .await
                .unwrap();
            assert_eq!(
                together,
                Some((apart.clone(), facts)),
                "{}",
                reader.username
            );
        }
    }
    assert_eq!(
        store
            .conversation_and_facts(ConversationId::new(), ada.account.id, at)
            .await
            .unwrap(),
        None
    );
}

/// [`Store::session_user_and_conversation`] answers what [`Store::session_user`] and
/// [`Store::conversation_and_facts`] answer apart, for each kind of reader with a live session;
/// the account alone for a conversation that does not exist; nothing for a session that is
/// not live, whether or not the conversation exists.
async fn a_session_and_a_conversation_come_in_one_read_as_in_two(store: Arc<dyn Store>) {
    const SECRET: [u8; 32] = [0x3C; 32];
    let (ada, stranger, peer, team) = readers_of_both_conversations(store.as_ref()).await;
    let at = super::now();
    for reader in [&ada.account, &ada.peer, &ada.practitioner, &stranger] {
        let session = uuid::Uuid::now_v7();
        store
            .create_session(session, reader.id, at, &SECRET)
            .await
            .unwrap();
        let account = store.session_user(session, reader.id).await.unwrap();
        assert_eq!(account.as_ref().map(|a| &a.user), Some(reader));
        for conversation in [peer.id, team.id] {
            let apart = store
                .conversation_and_facts(conversation, reader.id, at)
                .await
                .unwrap();
            assert!(apart.is_some());
            let together = store
                .session_user_and_conversation(session, reader.id, conversation, at)
                .await
                .unwrap();
            assert_eq!(
                together,
                Some((account.clone().unwrap(), apart)),
                "{}",
                reader.username
            );
        }
        let missing = store
            .session_user_and_conversation(session, reader.id, ConversationId::new(), at)
            .await
            .unwrap();
        assert_eq!(missing, Some((account.clone().unwrap(), None)));
        // Another account's session, and a revoked one, are not live for this account.
        let theirs = if reader.id == ada.account.id {
            &ada.peer
        } else {
            &ada.account
        };
        assert_eq!(
            store
                .session_user_and_conversation(session, theirs.id, peer.id, at)
                .await
                .unwrap(),
            None
        );
        store.revoke_session(session, at).await.unwrap();
        for conversation in [peer.id, ConversationId::new()] {
            assert_eq!(
                store
                    .session_user_and_conversation(session, reader.id, conversation, at)
                    .await
                    .unwrap(),
                None
            );
        }
    }
}

/// Postgres: a send's events and its audit entry are one statement there, and the chain's lock
/// is taken after the recipients' event locks, never before, as every write takes them. With
/// the chain held by another transaction, a send waits for it holding its recipients' locks.
/// (SQLite orders both by its one write lock.)
async fn a_send_takes_the_audit_chains_lock_after_its_recipients_locks(
    store: Arc<dyn Store>,
    raw: Raw,
) {
    let Raw::Postgres(pool) = &raw else {
        return;
    };
    let ada = circle(store.as_ref(), "Ada").await;
    let conversation = peer_conversation(store.as_ref(), &ada).await;
    // The chain's advisory lock ("LWAUDIT", `store::postgres`), held until the test lets go.
    let mut holder = pool.begin().await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(0x004C_5741_5544_4954_i64)
        .execute(&mut *holder)
        .await
        .unwrap();
    let hello = message(conversation.id, ada.account.id, "hello");
    let sending = tokio::spawn({
        let store = store.clone();
        let audited = NewSend {
            access: Some(audit_entry(Some(ada.person), "write")),
            audience: Audience {
                recipients: vec![ada.account.id, ada.peer.id],
                person_id: Some(ada.person),
            },
            ..send(hello.clone())
        };
        async move { store.send_messages(&[audited]).await }
    });
    // The send's backend, once it waits for a one-key advisory lock (the chain's).
    let mut waiting: Option<i32> = None;
    for _ in 0..500 {
        waiting = sqlx::query_scalar(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1 \
             AND NOT granted",
        )
        .fetch_optional(&mut *holder)
        .await
        .unwrap();
        if waiting.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let waiting = waiting.expect("the send waits for the audit chain");
    // Two-key advisory locks are the recipients' event locks: both already held.
    let (recipients_held,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 \
         AND granted AND pid = $1",
    )
    .bind(waiting)
    .fetch_one(&mut *holder)
    .await
    .unwrap();
    assert_eq!(recipients_held, 2);
    holder.rollback().await.unwrap();
    let outcomes = sending.await.unwrap().unwrap();
    assert_eq!(created_seq(&outcomes[0]), 1);
    assert_eq!(
        audit::verify(store.as_ref()).await.unwrap(),
        Verification::Intact { entries: 1 }
    );
}
