//! `AppointmentStore`: appointments created, read, moved and cancelled under their sequence;
//! windows and cursors; programmes; capacity never exceeded, even by concurrent bookings; the
//! waitlist in arrival order; offers answered, declined and lapsing; changes and offers stored
//! with the events that announce them.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use livingwell_core::api::events::{
    AppointmentChange, AppointmentChangeData, Event, WaitlistOfferData,
};
use livingwell_core::domain::appointment::{
    Accessibility, AccessibilityNeed, AppointmentId, AppointmentKind, AppointmentStatus,
    BookingStatus, BookingUnit, Decision, Location, PersonRequest, ProgrammeId, ProgrammeSessionId,
    RequestKind,
};
use livingwell_core::domain::{PersonId, Role, TeamId, UserId};
use livingwell_server::store::appointments::{
    AppointmentRecord, BookingChange, DiaryScope, NewBooking, PlaceCount, ProgrammeRecord,
    ProgrammeSessionRecord, Window,
};
use livingwell_server::store::events::{Audience, NewEvent};
use livingwell_server::store::{Store, TeamRecord};

use crate::{instant, new_person, new_team, new_user, person_record, user_record};

conformance! {
    store: [
        an_appointment_reads_back_exactly_with_its_workers,
        moving_an_appointment_needs_the_sequence_it_read,
        person_appointments_are_in_start_order_in_the_window_and_page_by_cursor,
        team_diary_holds_the_caseload_and_pending_only_keeps_open_requests,
        a_page_of_appointments_comes_with_the_hubs_its_locations_name_each_once,
        programmes_read_back_with_sessions_and_page_in_creation_order,
        bookings_take_the_places_then_wait_in_arrival_order,
        a_booked_place_puts_the_sessions_in_the_diary_and_cancelling_takes_them_out,
        capacity_is_never_exceeded_by_concurrent_bookings,
        one_person_booking_many_times_at_once_holds_one_place,
        a_freed_place_is_offered_to_the_first_waiting_before_new_bookers,
        accepting_an_offer_books_it_and_declining_passes_it_on,
        an_unanswered_offer_lapses_and_passes_to_the_next,
        session_bookings_count_places_per_session,
        an_appointment_change_is_stored_with_its_events_or_not_at_all,
        an_offer_is_announced_in_the_transaction_that_makes_it,
    ],
}

/// Monday 7 April 2025 at `h:m` UTC, a fixed day in the future of the instants below.
fn day(h: u32, m: u32) -> DateTime<Utc> {
    instant(0, 0, 0, 0)
        + Duration::days(8)
        + Duration::hours(h.into())
        + Duration::minutes(m.into())
}

fn appointment(
    person: PersonId,
    starts_at: DateTime<Utc>,
    workers: &[UserId],
) -> AppointmentRecord {
    let created = instant(8, 0, 0, 42);
    AppointmentRecord {
        id: AppointmentId::new(),
        person_id: person,
        kind: AppointmentKind::KeyWorkerSession,
        title: Some("Check-in".to_owned()),
        starts_at,
        ends_at: starts_at + Duration::hours(1),
        location: Location::CommunityVenue {
            name: "Library café".to_owned(),
            address: Some("2 Mill Lane".to_owned()),
        },
        status: AppointmentStatus::Booked,
        notes_for_person: Some("Bring your diary 📔".to_owned()),
        accessibility: Accessibility {
            needs: BTreeSet::from([
                AccessibilityNeed::StepFreeAccess,
                AccessibilityNeed::QuietSpace,
            ]),
            notes: None,
        },
        worker_ids: workers.to_vec(),
        request: None,
        programme_id: None,
        programme_session_id: None,
        booking_id: None,
        sequence: 0,
        created_by: "dr.lee".to_owned(),
        created_at: created,
        updated_at: created,
    }
}

fn whole_day() -> Window {
    Window {
        from: day(0, 0),
        to: day(24, 0),
        after: None,
    }
}

async fn an_appointment_reads_back_exactly_with_its_workers(store: Arc<dyn Store>) {
    let team = new_team(store.as_ref(), "North").await;
    let person = person_record("Ada", Some(team.id));
    let account = user_record(Role::ServiceUser, "ada", Some(person.id));
    store.create_person(&person, Some(&account)).await.unwrap();
    let worker = new_user(store.as_ref(), Role::Practitioner, "dr.lee").await;
    let peer = new_user(store.as_ref(), Role::PeerWorker, "peer.pat").await;

    let mut stored = appointment(person.id, day(10, 0), &[worker.id, peer.id]);
    stored.request = Some(PersonRequest {
        kind: RequestKind::Reschedule,
        reason: Some("Hospital visit".to_owned()),
        preferred_times: Vec::new(),
        made_at: instant(9, 0, 0, 1),
        answer: None,
    });
    store.insert_appointment(&stored, &[]).await.unwrap();

    assert_eq!(
        store.appointment(stored.id).await.unwrap(),
        Some(stored.clone())
    );
    assert_eq!(store.appointment(AppointmentId::new()).await.unwrap(), None);
    for w in [worker.id, peer.id] {
        assert_eq!(
            store
                .diary(DiaryScope::Worker(w), &whole_day(), false, 10)
                .await
                .unwrap()
                .appointments,
            vec![stored.clone()]
        );
    }
    assert_eq!(
        store.account_of_person(person.id).await.unwrap(),
        Some(account.id)
    );
    let alone = new_person(store.as_ref(), "Grace", None).await;
    assert_eq!(store.account_of_person(alone.id).await.unwrap(), None);

    // An id is used once.
    assert!(store.insert_appointment(&stored, &[]).await.is_err());
}

async fn moving_an_appointment_needs_the_sequence_it_read(store: Arc<dyn Store>) {
    let person = new_person(store.as_ref(), "Ada", None).await;
    let first = new_user(store.as_ref(), Role::Practitioner, "dr.lee").await;
    let second = new_user(store.as_ref(), Role::Practitioner, "dr.okafor").await;
    let original = appointment(person.id, day(10, 0), &[first.id]);
    store.insert_appointment(&original, &[]).await.unwrap();

    let moved = AppointmentRecord {
        starts_at: day(14, 0),
        ends_at: day(15, 30),
        worker_ids: vec![second.id],
        sequence: 1,
        updated_at: instant(9, 30, 0, 0),
        ..original.clone()
    };
    assert!(store.update_appointment(&moved, 0, &[]).await.unwrap());
    assert_eq!(
        store.appointment(original.id).await.unwrap(),
        Some(moved.clone())
    );
    // The workers moved with it.
    let diary = |worker| {
        let store = store.clone();
        async move {
            store
                .diary(DiaryScope::Worker(worker), &whole_day(), false, 10)
                .await
                .unwrap()
                .appointments
        }
    };
    assert!(diary(first.id).await.is_empty());
    assert_eq!(diary(second.id).await, vec![moved.clone()]);

    // A change made on the old sequence loses, and changes nothing.
    let cancelled_late = AppointmentRecord {
        status: AppointmentStatus::Cancelled,
        sequence: 1,
        ..original.clone()
    };
    assert!(
        !store
            .update_appointment(&cancelled_late, 0, &[])
            .await
            .unwrap()
    );
    assert_eq!(
        store.appointment(original.id).await.unwrap(),
        Some(moved.clone())
    );

    // Cancelled on the current one: it stays in the diary, as cancelled.
    let cancelled = AppointmentRecord {
        status: AppointmentStatus::Cancelled,
        sequence: 2,
        ..moved
    };
    assert!(store.update_appointment(&cancelled, 1, &[]).await.unwrap());
    assert_eq!(diary(second.id).await, vec![cancelled]);
    // An appointment that does not exist is not updated.
    let ghost = appointment(person.id, day(10, 0), &[]);
    assert!(!store.update_appointment(&ghost, 0, &[]).await.unwrap());
}

async fn person_appointments_are_in_start_order_in_the_window_and_page_by_cursor(
    store: Arc<dyn Store>,
) {
    let person = new_person(store.as_ref(), "Ada", None).await;
    let other = new_person(store.as_ref(), "Grace", None).await;
    let worker = new_user(store.as_ref(), Role::Practitioner, "dr.lee").await;
    // Two at the same time, one at the window's start, one at its end (outside), one before.
    let starts = [
        day(9, 0),
        day(11, 0),
        day(11, 0),
        day(8, 0),
        day(16, 0),
        day(7, 59),
    ];
    let mut inside = Vec::new();
    for (i, at) in starts.into_iter().enumerate() {
        let workers: &[UserId] = if i % 2 == 0 { &[] } else { &[worker.id] };
        let record = appointment(person.id, at, workers);
        store.insert_appointment(&record, &[]).await.unwrap();
        if at >= day(8, 0) && at < day(16, 0) {
            inside.push(record);
        }
    }
    store
        .insert_appointment(&appointment(other.id, day(10, 0), &[]), &[])
        .await
        .unwrap();
    inside.sort_by_key(|a| (a.starts_at, a.id));

    let mut window = Window {
        from: day(8, 0),
        to: day(16, 0),
        after: None,
    };
    let all = store
        .person_appointments(person.id, &window, None, 10)
        .await
        .unwrap()
        .appointments;
    assert_eq!(all, inside);

    let mut seen = Vec::new();
    loop {
        let page = store
            .person_appointments(person.id, &window, None, 2)
            .await
            .unwrap()
            .appointments;
        let Some(last) = page.last() else { break };
        window.after = Some((last.starts_at, last.id));
        seen.extend(page);
        assert!(seen.len() <= inside.len(), "paging does not end");
    }
    assert_eq!(
        seen, inside,
        "each appointment once, even those starting together"
    );

    let with_worker = store
        .person_appointments(person.id, &whole_day(), Some(worker.id), 10)
        .await
        .unwrap()
        .appointments;
    assert_eq!(with_worker.len(), 3);
    assert!(with_worker.iter().all(|a| a.worker_ids == vec![worker.id]));
}

async fn team_diary_holds_the_caseload_and_pending_only_keeps_open_requests(store: Arc<dyn Store>) {
    let north = new_team(store.as_ref(), "North").await;
    let south = new_team(store.as_ref(), "South").await;
    let ada = new_person(store.as_ref(), "Ada", Some(north.id)).await;
    let grace = new_person(store.as_ref(), "Grace", Some(north.id)).await;
    let mary = new_person(store.as_ref(), "Mary", Some(south.id)).await;

    let plain = appointment(ada.id, day(9, 0), &[]);
    let mut pending = appointment(grace.id, day(10, 0), &[]);
    pending.request = Some(PersonRequest {
        kind: RequestKind::Cancel,
        reason: None,
        preferred_times: Vec::new(),
        made_at: instant(9, 0, 0, 0),
        answer: None,
    });
    let elsewhere = appointment(mary.id, day(11, 0), &[]);
    for a in [&plain, &pending, &elsewhere] {
        store.insert_appointment(a, &[]).await.unwrap();
    }

    let team_diary = |team: TeamId, pending_only| {
        let store = store.clone();
        async move {
            store
                .diary(DiaryScope::Team(team), &whole_day(), pending_only, 10)
                .await
                .unwrap()
                .appointments
        }
    };
    assert_eq!(
        team_diary(north.id, false).await,
        vec![plain.clone(), pending.clone()]
    );
    assert_eq!(team_diary(north.id, true).await, vec![pending.clone()]);
    assert_eq!(team_diary(south.id, false).await, vec![elsewhere]);

    // Once answered, the request no longer waits.
    let mut answered = pending.clone();
    answered.request.as_mut().unwrap().answer =
        Some(livingwell_core::domain::appointment::RequestAnswer {
            decision: Decision::Accept,
            message: None,
            answered_at: instant(9, 30, 0, 0),
        });
    answered.sequence = 1;
    assert!(store.update_appointment(&answered, 0, &[]).await.unwrap());
    assert!(team_diary(north.id, true).await.is_empty());
}

async fn a_page_of_appointments_comes_with_the_hubs_its_locations_name_each_once(
    store: Arc<dyn Store>,
) {
    let north = new_team(store.as_ref(), "North").await;
    let south = TeamRecord {
        id: TeamId::new(),
        name: "South".to_owned(),
        hub_address: None,
    };
    store.create_team(&south, crate::now()).await.unwrap();
    let unused = new_team(store.as_ref(), "West").await;
    let ada = new_person(store.as_ref(), "Ada", Some(north.id)).await;
    let at = |hour, location| AppointmentRecord {
        location,
        ..appointment(ada.id, day(hour, 0), &[])
    };
    let hub = |team: &TeamRecord| Location::Hub { team_id: team.id };
    // Two at the person's own hub, one at another team's (with no address), one at a hub of
    // no team there is, and one at home: each hub is named once, the unknown one not at all.
    let records = [
        at(9, hub(&north)),
        at(10, hub(&south)),
        at(11, Location::Home {}),
        at(12, hub(&north)),
        at(
            13,
            Location::Hub {
                team_id: TeamId::new(),
            },
        ),
    ];
    for record in &records {
        store.insert_appointment(record, &[]).await.unwrap();
    }

    let page = store
        .person_appointments(ada.id, &whole_day(), None, 10)
        .await
        .unwrap();
    assert_eq!(page.appointments, records);
    let mut hubs = page.hubs.clone();
    hubs.sort_by_key(|team| team.name.clone());
    assert_eq!(hubs, [north.clone(), south.clone()]);
    assert!(!page.hubs.contains(&unused));

    // A page holds only its own appointments' hubs.
    let first = store
        .person_appointments(ada.id, &whole_day(), None, 1)
        .await
        .unwrap();
    assert_eq!(first.appointments, records[..1]);
    assert_eq!(first.hubs, std::slice::from_ref(&north));

    // The team's diary comes with them too.
    let diary = store
        .diary(DiaryScope::Team(north.id), &whole_day(), false, 10)
        .await
        .unwrap();
    assert_eq!(diary.appointments, records);
    let mut hubs = diary.hubs;
    hubs.sort_by_key(|team| team.name.clone());
    assert_eq!(hubs, [north, south]);
}

fn programme(team: TeamId, capacity: i64, unit: BookingUnit, sessions: &[i64]) -> ProgrammeRecord {
    ProgrammeRecord {
        id: ProgrammeId::new(),
        team_id: team,
        title: "WRAP group".to_owned(),
        description: Some("Six weeks of planning together".to_owned()),
        location: Location::Hub { team_id: team },
        capacity,
        booking_unit: unit,
        offer_hold_minutes: 90,
        sessions: sessions
            .iter()
            .enumerate()
            .map(|(i, days)| ProgrammeSessionRecord {
                id: ProgrammeSessionId::new(),
                number: i as i64 + 1,
                starts_at: day(10, 0) + Duration::days(*days),
                ends_at: day(12, 0) + Duration::days(*days),
            })
            .collect(),
        created_by: "dr.lee".to_owned(),
        created_at: instant(8, 0, 0, 3),
    }
}

async fn new_programme(
    store: &dyn Store,
    capacity: i64,
    unit: BookingUnit,
    sessions: &[i64],
) -> ProgrammeRecord {
    let team = new_team(store, &format!("Team {}", ProgrammeId::new())).await;
    let record = programme(team.id, capacity, unit, sessions);
    store.insert_programme(&record).await.unwrap();
    record
}

fn booking(programme: &ProgrammeRecord, person: PersonId, at: DateTime<Utc>) -> NewBooking {
    NewBooking {
        programme_id: programme.id,
        session_id: None,
        person_id: person,
        at,
    }
}

async fn book(store: &dyn Store, new: NewBooking) -> BookingChange {
    store.book(&new).await.unwrap().unwrap()
}

async fn people(store: &dyn Store, n: usize) -> Vec<PersonId> {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(new_person(store, &format!("Person {i}"), None).await.id);
    }
    ids
}

async fn programmes_read_back_with_sessions_and_page_in_creation_order(store: Arc<dyn Store>) {
    let north = new_team(store.as_ref(), "North").await;
    let south = new_team(store.as_ref(), "South").await;
    let mut all = Vec::new();
    for team in [north.id, south.id, north.id] {
        let record = programme(team, 12, BookingUnit::Programme, &[0, 7, 14]);
        store.insert_programme(&record).await.unwrap();
        all.push(record);
    }
    assert_eq!(
        store.programme(all[0].id).await.unwrap(),
        Some(all[0].clone())
    );
    assert_eq!(store.programme(ProgrammeId::new()).await.unwrap(), None);

    let first = store.programmes(None, None, 2).await.unwrap();
    assert_eq!(first, all[0..2].to_vec());
    let rest = store.programmes(None, Some(first[1].id), 2).await.unwrap();
    assert_eq!(rest, all[2..3].to_vec());
    assert_eq!(
        store.programmes(Some(north.id), None, 10).await.unwrap(),
        vec![all[0].clone(), all[2].clone()]
    );
}

async fn bookings_take_the_places_then_wait_in_arrival_order(store: Arc<dyn Store>) {
    let workshop = new_programme(store.as_ref(), 2, BookingUnit::Programme, &[]).await;
    let who = people(store.as_ref(), 4).await;
    let mut changes = Vec::new();
    for (i, person) in who.iter().enumerate() {
        let at = instant(9, i as u32, 0, 0);
        changes.push(book(store.as_ref(), booking(&workshop, *person, at)).await);
    }
    let statuses: Vec<_> = changes
        .iter()
        .map(|c| (c.booking.status, c.booking.waitlist_position, c.changed))
        .collect();
    assert_eq!(
        statuses,
        vec![
            (BookingStatus::Booked, None, true),
            (BookingStatus::Booked, None, true),
            (BookingStatus::Waitlisted, Some(1), true),
            (BookingStatus::Waitlisted, Some(2), true),
        ]
    );
    assert!(changes.iter().all(|c| c.offered.is_empty()));

    // Booking again finds the booking already there.
    let again = book(
        store.as_ref(),
        booking(&workshop, who[3], instant(10, 0, 0, 0)),
    )
    .await;
    assert!(!again.changed);
    assert_eq!(again.booking, changes[3].booking);

    let in_order: Vec<_> = store
        .programme_bookings(workshop.id)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.person_id)
        .collect();
    assert_eq!(in_order, who);
    assert_eq!(
        store.place_counts(workshop.id).await.unwrap(),
        vec![PlaceCount {
            unit_id: workshop.id.as_uuid(),
            holding: 2,
            waiting: 2,
        }]
    );
    assert_eq!(
        store.booking(changes[2].booking.id).await.unwrap(),
        Some(changes[2].booking.clone())
    );
    assert_eq!(
        store.person_bookings(who[0], 10).await.unwrap(),
        vec![changes[0].booking.clone()]
    );
    // A programme that does not exist books nobody.
    let nowhere = NewBooking {
        programme_id: ProgrammeId::new(),
        ..booking(&workshop, who[0], instant(10, 0, 0, 0))
    };
    assert_eq!(store.book(&nowhere).await.unwrap(), None);
}

async fn a_booked_place_puts_the_sessions_in_the_diary_and_cancelling_takes_them_out(
    store: Arc<dyn Store>,
) {
    // Sessions on three days; the booking is made after the first has ended.
    let workshop = new_programme(store.as_ref(), 5, BookingUnit::Programme, &[0, 1, 2]).await;
    let ada = new_person(store.as_ref(), "Ada", None).await;
    let booked_at = day(13, 0);
    let change = book(store.as_ref(), booking(&workshop, ada.id, booked_at)).await;
    assert_eq!(change.booking.status, BookingStatus::Booked);

    let week = Window {
        from: day(0, 0),
        to: day(0, 0) + Duration::days(7),
        after: None,
    };
    let diary = store
        .person_appointments(ada.id, &week, None, 10)
        .await
        .unwrap()
        .appointments;
    let sessions: Vec<_> = diary
        .iter()
        .map(|a| {
            (
                a.kind,
                a.status,
                a.programme_session_id,
                a.booking_id,
                a.created_by.as_str(),
                a.starts_at,
            )
        })
        .collect();
    assert_eq!(
        sessions,
        workshop.sessions[1..]
            .iter()
            .map(|s| (
                AppointmentKind::EnablementWorkshop,
                AppointmentStatus::Booked,
                Some(s.id),
                Some(change.booking.id),
                "booking",
                s.starts_at,
            ))
            .collect::<Vec<_>>(),
        "the sessions still to come, and only those"
    );

    let cancelled = store
        .cancel_booking(workshop.id, change.booking.id, day(13, 30))
        .await
        .unwrap()
        .unwrap();
    assert!(cancelled.changed);
    assert_eq!(cancelled.booking.status, BookingStatus::Cancelled);
    let diary = store
        .person_appointments(ada.id, &week, None, 10)
        .await
        .unwrap()
        .appointments;
    assert_eq!(diary.len(), 2);
    assert!(
        diary
            .iter()
            .all(|a| a.status == AppointmentStatus::Cancelled && a.sequence == 1)
    );
    // Cancelling twice changes nothing; a booking of another programme is not found.
    let twice = store
        .cancel_booking(workshop.id, change.booking.id, day(14, 0))
        .await
        .unwrap()
        .unwrap();
    assert!(!twice.changed);
    let other = new_programme(store.as_ref(), 5, BookingUnit::Programme, &[]).await;
    assert_eq!(
        store
            .cancel_booking(other.id, change.booking.id, day(14, 0))
            .await
            .unwrap(),
        None
    );
}

async fn capacity_is_never_exceeded_by_concurrent_bookings(store: Arc<dyn Store>) {
    let workshop = new_programme(store.as_ref(), 3, BookingUnit::Programme, &[]).await;
    let who = people(store.as_ref(), 16).await;
    let barrier = Arc::new(tokio::sync::Barrier::new(who.len()));
    let tasks: Vec<_> = who
        .iter()
        .map(|person| {
            let store = store.clone();
            let barrier = barrier.clone();
            let new = booking(&workshop, *person, super::now());
            tokio::spawn(async move {
                barrier.wait().await;
                store.book(&new).await.unwrap().unwrap()
            })
        })
        .collect();
    let mut booked = 0;
    for task in tasks {
        let change = task.await.unwrap();
        assert!(change.changed);
        if change.booking.status == BookingStatus::Booked {
            booked += 1;
        }
    }
    assert_eq!(booked, 3, "exactly the capacity is booked");

    let bookings = store.programme_bookings(workshop.id).await.unwrap();
    assert_eq!(bookings.len(), 16);
    let seqs: BTreeSet<_> = bookings.iter().map(|b| b.seq).collect();
    assert_eq!(
        seqs.len(),
        16,
        "each arrival has its own place in the queue"
    );
    // The waitlist is numbered 1, 2, 3… in arrival order.
    let waiting: Vec<_> = bookings
        .iter()
        .filter(|b| b.status == BookingStatus::Waitlisted)
        .map(|b| b.waitlist_position)
        .collect();
    assert_eq!(waiting, (1..=13).map(Some).collect::<Vec<_>>());
    assert_eq!(
        store.place_counts(workshop.id).await.unwrap(),
        vec![PlaceCount {
            unit_id: workshop.id.as_uuid(),
            holding: 3,
            waiting: 13,
        }]
    );
}

async fn one_person_booking_many_times_at_once_holds_one_place(store: Arc<dyn Store>) {
    let workshop = new_programme(store.as_ref(), 5, BookingUnit::Programme, &[]).await;
    let ada = new_person(store.as_ref(), "Ada", None).await;
    let barrier = Arc::new(tokio::sync::Barrier::new(8));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let barrier = barrier.clone();
            let new = booking(&workshop, ada.id, super::now());
            tokio::spawn(async move {
                barrier.wait().await;
                store.book(&new).await.unwrap().unwrap()
            })
        })
        .collect();
    let mut changes = Vec::new();
    for task in tasks {
        changes.push(task.await.unwrap());
    }
    assert_eq!(changes.iter().filter(|c| c.changed).count(), 1);
    let id = changes[0].booking.id;
    assert!(changes.iter().all(|c| c.booking.id == id));
    assert_eq!(
        store.programme_bookings(workshop.id).await.unwrap().len(),
        1
    );

    // Once cancelled, the person may book again: a new booking, at the back of the queue.
    store
        .cancel_booking(workshop.id, id, super::now())
        .await
        .unwrap()
        .unwrap();
    let again = book(store.as_ref(), booking(&workshop, ada.id, super::now())).await;
    assert!(again.changed);
    assert_ne!(again.booking.id, id);
    assert_eq!(again.booking.status, BookingStatus::Booked);
    assert!(again.booking.seq > changes[0].booking.seq);
    assert_eq!(
        store.person_bookings(ada.id, 10).await.unwrap()[0],
        again.booking,
        "newest first"
    );
}

async fn a_freed_place_is_offered_to_the_first_waiting_before_new_bookers(store: Arc<dyn Store>) {
    let workshop = new_programme(store.as_ref(), 1, BookingUnit::Programme, &[]).await;
    let who = people(store.as_ref(), 4).await;
    let a = book(
        store.as_ref(),
        booking(&workshop, who[0], instant(9, 0, 0, 0)),
    )
    .await;
    let b = book(
        store.as_ref(),
        booking(&workshop, who[1], instant(9, 1, 0, 0)),
    )
    .await;
    let c = book(
        store.as_ref(),
        booking(&workshop, who[2], instant(9, 2, 0, 0)),
    )
    .await;

    let at = instant(10, 0, 0, 0);
    let cancelled = store
        .cancel_booking(workshop.id, a.booking.id, at)
        .await
        .unwrap()
        .unwrap();
    assert!(cancelled.changed);
    assert_eq!(cancelled.offered.len(), 1);
    let offer = &cancelled.offered[0];
    assert_eq!(offer.id, b.booking.id);
    assert_eq!(offer.status, BookingStatus::Offered);
    assert_eq!(offer.offer_expires_at, Some(at + Duration::minutes(90)));
    assert_eq!(offer.waitlist_position, None);
    assert_eq!(
        store
            .booking(c.booking.id)
            .await
            .unwrap()
            .unwrap()
            .waitlist_position,
        Some(1)
    );

    // The offered place is held: a new booker waits behind those already waiting.
    let d = book(
        store.as_ref(),
        booking(&workshop, who[3], instant(10, 1, 0, 0)),
    )
    .await;
    assert_eq!(d.booking.status, BookingStatus::Waitlisted);
    assert_eq!(d.booking.waitlist_position, Some(2));
    assert_eq!(
        store.place_counts(workshop.id).await.unwrap(),
        vec![PlaceCount {
            unit_id: workshop.id.as_uuid(),
            holding: 1,
            waiting: 2,
        }]
    );
}

async fn accepting_an_offer_books_it_and_declining_passes_it_on(store: Arc<dyn Store>) {
    let workshop = new_programme(store.as_ref(), 1, BookingUnit::Programme, &[3]).await;
    let who = people(store.as_ref(), 4).await;
    let mut bookings = Vec::new();
    for (i, person) in who.iter().enumerate() {
        let at = instant(9, i as u32, 0, 0);
        bookings.push(
            book(store.as_ref(), booking(&workshop, *person, at))
                .await
                .booking,
        );
    }
    let cancelled = store
        .cancel_booking(workshop.id, bookings[0].id, instant(10, 0, 0, 0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cancelled.offered[0].id, bookings[1].id);

    // Declining passes the place to the next in line, never back to the one declining.
    let declined = store
        .answer_offer(
            workshop.id,
            bookings[1].id,
            Decision::Decline,
            instant(10, 5, 0, 0),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(declined.changed);
    assert_eq!(declined.booking.status, BookingStatus::Declined);
    assert_eq!(
        declined.offered.iter().map(|b| b.id).collect::<Vec<_>>(),
        vec![bookings[2].id]
    );

    // Accepting books the place and puts the session in the diary.
    let accepted = store
        .answer_offer(
            workshop.id,
            bookings[2].id,
            Decision::Accept,
            instant(10, 6, 0, 0),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(accepted.changed);
    assert_eq!(accepted.booking.status, BookingStatus::Booked);
    assert_eq!(accepted.booking.offer_expires_at, None);
    assert!(accepted.offered.is_empty());
    let diary = store
        .person_appointments(
            who[2],
            &Window {
                from: day(0, 0),
                to: day(0, 0) + Duration::days(7),
                after: None,
            },
            None,
            10,
        )
        .await
        .unwrap()
        .appointments;
    assert_eq!(diary.len(), 1);
    assert_eq!(diary[0].booking_id, Some(bookings[2].id));

    // No offer is open any more: answering again changes nothing.
    let again = store
        .answer_offer(
            workshop.id,
            bookings[2].id,
            Decision::Decline,
            instant(10, 7, 0, 0),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(!again.changed);
    assert_eq!(again.booking.status, BookingStatus::Booked);
    let waiting = store
        .answer_offer(
            workshop.id,
            bookings[3].id,
            Decision::Accept,
            instant(10, 8, 0, 0),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(!waiting.changed, "a waitlist place is not an offer");
    assert_eq!(waiting.booking.status, BookingStatus::Waitlisted);
}

async fn an_unanswered_offer_lapses_and_passes_to_the_next(store: Arc<dyn Store>) {
    let workshop = new_programme(store.as_ref(), 1, BookingUnit::Programme, &[]).await;
    let quiet = new_programme(store.as_ref(), 1, BookingUnit::Programme, &[]).await;
    let who = people(store.as_ref(), 4).await;
    let mut bookings = Vec::new();
    for (i, person) in who[..3].iter().enumerate() {
        let at = instant(9, i as u32, 0, 0);
        bookings.push(
            book(store.as_ref(), booking(&workshop, *person, at))
                .await
                .booking,
        );
    }
    book(store.as_ref(), booking(&quiet, who[3], instant(9, 0, 0, 0))).await;
    let offered_at = instant(10, 0, 0, 0);
    store
        .cancel_booking(workshop.id, bookings[0].id, offered_at)
        .await
        .unwrap();
    let expires = offered_at + Duration::minutes(90);

    // Before it lapses nothing happens.
    let just_before = expires - Duration::microseconds(1);
    assert!(
        store
            .programmes_with_lapsed_offers(just_before, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .settle_offers(workshop.id, just_before)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.booking(bookings[1].id).await.unwrap().unwrap().status,
        BookingStatus::Offered
    );

    // At its expiry it lapses and the place goes to the next in line.
    assert_eq!(
        store
            .programmes_with_lapsed_offers(expires, 10)
            .await
            .unwrap(),
        vec![workshop.id]
    );
    let passed = store.settle_offers(workshop.id, expires).await.unwrap();
    assert_eq!(passed.len(), 1);
    assert_eq!(passed[0].id, bookings[2].id);
    assert_eq!(
        passed[0].offer_expires_at,
        Some(expires + Duration::minutes(90))
    );
    let lapsed = store.booking(bookings[1].id).await.unwrap().unwrap();
    assert_eq!(lapsed.status, BookingStatus::OfferExpired);
    assert_eq!(lapsed.offer_expires_at, None);
    assert!(
        store
            .programmes_with_lapsed_offers(expires, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // An answer after the offer lapsed is too late, even before anything settled it.
    let late = expires + Duration::minutes(90);
    let answer = store
        .answer_offer(workshop.id, bookings[2].id, Decision::Accept, late)
        .await
        .unwrap()
        .unwrap();
    assert!(!answer.changed);
    assert_eq!(answer.booking.status, BookingStatus::OfferExpired);
    assert!(answer.offered.is_empty(), "nobody left waiting");
    assert_eq!(
        store.place_counts(workshop.id).await.unwrap(),
        vec![PlaceCount {
            unit_id: workshop.id.as_uuid(),
            holding: 0,
            waiting: 0,
        }]
    );
}

async fn session_bookings_count_places_per_session(store: Arc<dyn Store>) {
    let workshop = new_programme(store.as_ref(), 1, BookingUnit::Session, &[1, 2]).await;
    let (first, second) = (workshop.sessions[0].id, workshop.sessions[1].id);
    let who = people(store.as_ref(), 2).await;
    let on = |person, session| NewBooking {
        session_id: Some(session),
        ..booking(&workshop, person, instant(9, 0, 0, 0))
    };

    let a = book(store.as_ref(), on(who[0], first)).await;
    let b = book(store.as_ref(), on(who[1], first)).await;
    let c = book(store.as_ref(), on(who[1], second)).await;
    assert_eq!(a.booking.status, BookingStatus::Booked);
    assert_eq!(b.booking.status, BookingStatus::Waitlisted);
    assert_eq!(
        c.booking.status,
        BookingStatus::Booked,
        "the other session has room"
    );
    assert_eq!(c.booking.session_id, Some(second));

    let mut counts = store.place_counts(workshop.id).await.unwrap();
    counts.sort_by_key(|c| c.unit_id);
    let mut expected = vec![
        PlaceCount {
            unit_id: first.as_uuid(),
            holding: 1,
            waiting: 1,
        },
        PlaceCount {
            unit_id: second.as_uuid(),
            holding: 1,
            waiting: 0,
        },
    ];
    expected.sort_by_key(|c| c.unit_id);
    assert_eq!(counts, expected);
}

/// The outbox on appointments: a change is stored with its events, and a change that loses to
/// another (a stale sequence) stores neither.
async fn an_appointment_change_is_stored_with_its_events_or_not_at_all(store: Arc<dyn Store>) {
    let person = person_record("Ada", None);
    let account = user_record(Role::ServiceUser, "ada", Some(person.id));
    store.create_person(&person, Some(&account)).await.unwrap();
    let ada = Audience {
        recipients: vec![account.id],
        person_id: Some(person.id),
    };
    let original = appointment(person.id, day(10, 0), &[]);
    let changed = |change| {
        Event::AppointmentChanged(AppointmentChangeData {
            appointment_id: original.id,
            change,
        })
    };
    let created = ada.tell(&changed(AppointmentChange::Created), original.created_at);
    store.insert_appointment(&original, &created).await.unwrap();
    let events = store.events_for(account.id, 0, 10).await.unwrap();
    assert_eq!(
        events.iter().map(|e| &e.event).collect::<Vec<_>>(),
        created.iter().collect::<Vec<_>>()
    );

    let mut moved = original.clone();
    moved.starts_at = day(11, 0);
    moved.ends_at = day(12, 0);
    moved.sequence = 1;
    let told: Vec<NewEvent> = ada.tell(&changed(AppointmentChange::Moved), day(9, 0));
    assert!(store.update_appointment(&moved, 0, &told).await.unwrap());
    // The same change again, on the sequence it no longer has: stored nowhere, told nobody.
    assert!(!store.update_appointment(&moved, 0, &told).await.unwrap());
    let events = store.events_for(account.id, 0, 10).await.unwrap();
    assert_eq!(
        events.iter().map(|e| &e.event).collect::<Vec<_>>(),
        created.iter().chain(&told).collect::<Vec<_>>()
    );
}

/// A freed place is offered and its person told in one transaction: through their account
/// when they have one, and nobody when they have none.
async fn an_offer_is_announced_in_the_transaction_that_makes_it(store: Arc<dyn Store>) {
    let workshop = new_programme(store.as_ref(), 1, BookingUnit::Programme, &[3]).await;
    let mut accounts = Vec::new();
    let mut who = Vec::new();
    for name in ["ada", "grace"] {
        let person = person_record(name, None);
        let account = user_record(Role::ServiceUser, name, Some(person.id));
        store.create_person(&person, Some(&account)).await.unwrap();
        who.push(person.id);
        accounts.push(account.id);
    }
    who.extend(people(store.as_ref(), 1).await);
    let mut bookings = Vec::new();
    for (i, person) in who.iter().enumerate() {
        let at = instant(9, i as u32, 0, 0);
        bookings.push(book(store.as_ref(), booking(&workshop, *person, at)).await);
    }
    assert_eq!(
        store.last_event_id().await.unwrap(),
        0,
        "nothing offered yet"
    );

    let at = instant(10, 0, 0, 0);
    let cancelled = store
        .cancel_booking(workshop.id, bookings[0].booking.id, at)
        .await
        .unwrap()
        .unwrap();
    let offer = &cancelled.offered[0];
    assert_eq!(offer.id, bookings[1].booking.id);
    let told = store.events_after(0, 10).await.unwrap();
    assert_eq!(told.len(), 1);
    assert_eq!(
        told[0].event,
        NewEvent {
            recipient_id: Some(accounts[1]),
            person_id: Some(who[1]),
            event: Event::WaitlistPlaceOffered(WaitlistOfferData {
                booking_id: offer.id,
                offer_expires_at: offer.offer_expires_at,
                programme_id: workshop.id,
                session_id: None,
            }),
            created_at: at,
        }
    );

    // Declined, the place passes to a person without an account: offered, but nobody to tell.
    let declined = store
        .answer_offer(workshop.id, offer.id, Decision::Decline, at)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(declined.offered.len(), 1);
    assert_eq!(declined.offered[0].person_id, who[2]);
    assert_eq!(store.events_after(told[0].id, 10).await.unwrap(), []);
}
