//! Appointments and workshops: the person's diary and answers, staff changes, the calendar feed,
//! and booking the last place of a WRAP group while many others try at the same moment.

use std::sync::Arc;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use livingwell_server::auth::throttle::ThrottleSettings;
use livingwell_server::clock::ManualClock;
use livingwell_server::http::Settings;
use livingwell_server::store::{PersonRecord, UserRecord};
use livingwell_tests::{Backend, Reply, Session, TestServer, on_both_databases, parse_ics, read};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_databases!(
    person_sees_their_diary_with_discreet_summaries,
    twenty_people_booking_the_last_place_at_once_get_one_place_and_an_ordered_waitlist,
    carer_sees_appointments_only_with_the_appointments_consent,
    practitioner_off_the_team_sees_nothing_and_staff_systems_need_the_scope,
    peer_worker_sees_only_the_sessions_they_take_part_in,
    bad_input_is_refused_naming_the_field_and_stores_nothing,
    person_confirms_or_asks_and_staff_answer,
    calendar_feed_parses_and_keeps_utc_times_across_the_clock_change,
    team_diary_shows_the_caseload_to_the_team_only,
    every_read_of_appointments_is_audited,
);

/// The demo world: alex signed in, with alex's person id and West hub's team id.
struct World {
    server: TestServer,
    alex: Session,
    person: String,
    west: String,
}

async fn start(backend: Backend) -> World {
    start_with(backend, Settings::default()).await
}

async fn start_with(backend: Backend, settings: Settings) -> World {
    let server = TestServer::start_with(backend, settings).await.unwrap();
    let alex = server.login("alex").await;
    let person = alex.person_id.clone().unwrap();
    let me = server
        .get(&format!("/v1/people/{person}"), &alex.access_token)
        .await;
    let west = me.body["team_id"].as_str().unwrap().to_owned();
    World {
        server,
        alex,
        person,
        west,
    }
}

impl World {
    fn path(&self, rest: &str) -> String {
        format!("/v1/people/{}{rest}", self.person)
    }

    /// An appointment for alex at West hub, made by `token`.
    async fn create(&self, token: &str, body: Value) -> Reply {
        self.server
            .post(&self.path("/appointments"), token, body)
            .await
    }

    fn hub(&self) -> Value {
        json!({"type": "hub", "team_id": self.west})
    }
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn appointment(starts_at: DateTime<Utc>, minutes: i64, location: Value) -> Value {
    json!({
        "kind": "review",
        "title": "Medication review",
        "starts_at": starts_at,
        "ends_at": starts_at + Duration::minutes(minutes),
        "location": location,
        "notes_for_person": "Bring your tablets, and the letter; if you can.",
    })
}

async fn patch(server: &TestServer, path: &str, token: &str, body: Value) -> Reply {
    server
        .send(Method::PATCH, path, Some(token), Some(body))
        .await
}

/// The caller's notifications of one kind.
async fn notifications(server: &TestServer, token: &str, kind: &str) -> Vec<Value> {
    let reply = server.get("/v1/notifications?limit=200", token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.body["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == kind)
        .cloned()
        .collect()
}

async fn wrap_group(server: &TestServer, token: &str) -> Value {
    let reply = server.get("/v1/programmes", token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.body["programmes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["title"] == "WRAP group")
        .cloned()
        .expect("the demo WRAP group")
}

async fn person_sees_their_diary_with_discreet_summaries(backend: Backend) {
    let w = start(backend).await;
    let reply = w
        .server
        .get(&w.path("/appointments"), &w.alex.access_token)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let list = reply.body["appointments"].as_array().unwrap();
    let kinds: Vec<&str> = list.iter().map(|a| a["kind"].as_str().unwrap()).collect();
    // Two appointments with Priya, and the six sessions of the WRAP group alex is booked on.
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == "enablement_workshop")
            .count(),
        6
    );
    assert!(kinds.contains(&"key_worker_session") && kinds.contains(&"review"));
    let starts: Vec<&str> = list
        .iter()
        .map(|a| a["starts_at"].as_str().unwrap())
        .collect();
    let mut sorted = starts.clone();
    sorted.sort_by_key(|s| at(s));
    assert_eq!(starts, sorted, "in start order");
    let key_worker = list
        .iter()
        .find(|a| a["kind"] == "key_worker_session")
        .unwrap();
    assert_eq!(key_worker["summary"], "Appointment at West hub");
    assert_eq!(key_worker["address"], "12 Harbour Street, Westford");
    let review = list.iter().find(|a| a["kind"] == "review").unwrap();
    assert_eq!(review["summary"], "Phone appointment");

    // Paging: two at a time, following the cursor, gives the same list.
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => w.path(&format!("/appointments?limit=2&cursor={c}")),
            None => w.path("/appointments?limit=2"),
        };
        let page = w.server.get(&path, &w.alex.access_token).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        paged.extend(page.body["appointments"].as_array().unwrap().clone());
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(&paged, list);

    let group = wrap_group(&w.server, &w.alex.access_token).await;
    assert_eq!(group["places_left"], 1);
    assert_eq!(group["capacity"], 3);
    assert_eq!(group["sessions"].as_array().unwrap().len(), 6);
}

/// The session after a refresh, as an app renews an expired access token.
async fn renewed(server: &TestServer, session: &Session) -> Session {
    let reply = server.refresh(&session.refresh_token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    Session {
        access_token: reply.body["access_token"].as_str().unwrap().to_owned(),
        refresh_token: reply.body["refresh_token"].as_str().unwrap().to_owned(),
        user_id: session.user_id.clone(),
        person_id: session.person_id.clone(),
    }
}

/// Everyone's active bookings on the programme, as a staff system sees them.
async fn roster(server: &TestServer, programme: &str) -> Vec<Value> {
    let token = server.client_token(Some("appointments:read")).await;
    let reply = server
        .get(&format!("/v1/programmes/{programme}/bookings"), &token)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.body.as_array().unwrap().clone()
}

fn holding(roster: &[Value]) -> usize {
    roster
        .iter()
        .filter(|b| b["status"] == "booked" || b["status"] == "offered")
        .count()
}

async fn person_bookings(server: &TestServer, person: &Session) -> Vec<Value> {
    let reply = server
        .get(
            &format!("/v1/people/{}/bookings", person.person_id.as_ref().unwrap()),
            &person.access_token,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.body.as_array().unwrap().clone()
}

async fn twenty_people_booking_the_last_place_at_once_get_one_place_and_an_ordered_waitlist(
    backend: Backend,
) {
    // Twenty-odd sign-ins from one address: more than the default burst allows. Time moves
    // only when the test says, so an offer lapses because its hold is over, not by editing rows.
    let clock = ManualClock::new(Utc::now());
    let settings = Settings {
        throttle: ThrottleSettings {
            per_address_burst: std::num::NonZeroU32::new(500).unwrap(),
            ..ThrottleSettings::default()
        },
        clock: clock.clone().into(),
        ..Settings::default()
    };
    let w = start_with(backend, settings).await;
    let group = wrap_group(&w.server, &w.alex.access_token).await;
    let programme = group["id"].as_str().unwrap().to_owned();
    assert_eq!(group["places_left"], 1, "the demo group has one place left");
    assert_eq!(holding(&roster(&w.server, &programme).await), 2);

    // Twenty people on West hub's caseload, each with an app account.
    let hash = livingwell_server::auth::passwords::hash(livingwell_tests::PASSWORD.into())
        .await
        .unwrap();
    let west: livingwell_core::domain::TeamId = w.west.parse().unwrap();
    let mut people = Vec::new();
    for i in 0..20 {
        let person = PersonRecord {
            id: livingwell_core::domain::PersonId::new(),
            display_name: format!("Workshop Person {i:02}"),
            team_id: Some(west),
            peer_worker_id: None,
            created_at: livingwell_server::clock::Clock::System.now(),
        };
        let account = UserRecord {
            id: livingwell_core::domain::UserId::new(),
            username: format!("workshop{i:02}"),
            password_hash: hash.clone(),
            role: livingwell_core::domain::Role::ServiceUser,
            display_name: person.display_name.clone(),
            person_id: Some(person.id),
        };
        w.server
            .store
            .create_person(&person, Some(&account))
            .await
            .unwrap();
        people.push(w.server.login(&account.username).await);
    }

    // All twenty ask for the last place at the same moment.
    let barrier = Arc::new(tokio::sync::Barrier::new(people.len()));
    let url = w
        .server
        .url(&format!("/v1/programmes/{programme}/bookings"));
    let mut tasks = Vec::new();
    for person in &people {
        let (http, url, token, barrier) = (
            w.server.http.clone(),
            url.clone(),
            person.access_token.clone(),
            barrier.clone(),
        );
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            read(http.post(url).bearer_auth(token).json(&json!({}))).await
        }));
    }
    let mut replies = Vec::new();
    for task in tasks {
        replies.push(task.await.unwrap());
    }
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    }
    let booked: Vec<usize> = (0..replies.len())
        .filter(|&i| replies[i].body["status"] == "booked")
        .collect();
    assert_eq!(booked.len(), 1, "exactly one gets the last place");
    let mut positions: Vec<i64> = replies
        .iter()
        .filter(|r| r.body["status"] == "waitlisted")
        .map(|r| r.body["waitlist_position"].as_i64().unwrap())
        .collect();
    positions.sort_unstable();
    assert_eq!(
        positions,
        (1..=19).collect::<Vec<i64>>(),
        "19 waitlisted, each in their own place"
    );

    let after = roster(&w.server, &programme).await;
    assert_eq!(holding(&after), 3, "capacity is never exceeded");
    // The queue is served in arrival order: in the roster's order, positions run 1, 2, 3…
    let queue: Vec<i64> = after
        .iter()
        .filter(|b| b["status"] == "waitlisted")
        .map(|b| b["waitlist_position"].as_i64().unwrap())
        .collect();
    assert_eq!(queue, (1..=19).collect::<Vec<i64>>());
    let group = wrap_group(&w.server, &w.alex.access_token).await;
    assert_eq!(group["places_left"], 0);
    assert_eq!(group["waitlist_length"], 19);

    // Who is where in the queue.
    let in_line = |n: i64| {
        let i = (0..replies.len())
            .find(|&i| replies[i].body["waitlist_position"] == n)
            .unwrap();
        (
            &people[i],
            replies[i].body["id"].as_str().unwrap().to_owned(),
        )
    };
    let (first, first_booking) = in_line(1);
    let (second, second_booking) = in_line(2);
    let (third, third_booking) = in_line(3);
    let winner = &people[booked[0]];
    let winner_booking = replies[booked[0]].body["id"].as_str().unwrap().to_owned();
    assert!(
        notifications(&w.server, &first.access_token, "waitlist_place_offered")
            .await
            .is_empty()
    );

    // Asking again changes nothing.
    let again = w
        .server
        .post(
            &format!("/v1/programmes/{programme}/bookings"),
            &second.access_token,
            json!({}),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["id"], second_booking.as_str());
    assert_eq!(again.body["waitlist_position"], 2);

    // The person with the place cancels: it is offered to the first in line, who is told.
    let cancelled = w
        .server
        .delete(
            &format!("/v1/programmes/{programme}/bookings/{winner_booking}"),
            &winner.access_token,
        )
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.text);
    assert_eq!(cancelled.body["status"], "cancelled");
    let offers = notifications(&w.server, &first.access_token, "waitlist_place_offered").await;
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0]["data"]["booking_id"], first_booking.as_str());
    assert_eq!(offers[0]["data"]["programme_id"], programme.as_str());
    let mine = person_bookings(&w.server, first).await;
    assert_eq!(mine[0]["status"], "offered");
    let expires = at(mine[0]["offer_expires_at"].as_str().unwrap());
    assert!(
        expires > clock.now() + Duration::hours(47),
        "held for the programme's 48 hours"
    );
    assert!(
        notifications(&w.server, &second.access_token, "waitlist_place_offered")
            .await
            .is_empty(),
        "only the first in line is offered the place"
    );
    assert_eq!(holding(&roster(&w.server, &programme).await), 3);
    // The winner's sessions left their diary as cancellations.
    let winner_diary = w
        .server
        .get(
            &format!(
                "/v1/people/{}/appointments",
                winner.person_id.as_ref().unwrap()
            ),
            &winner.access_token,
        )
        .await;
    let sessions = winner_diary.body["appointments"].as_array().unwrap();
    assert_eq!(sessions.len(), 6);
    assert!(sessions.iter().all(|s| s["status"] == "cancelled"));

    // The first declines: the place passes to the second.
    let offer = |booking: &str| format!("/v1/programmes/{programme}/bookings/{booking}/offer");
    let declined = w
        .server
        .post(
            &offer(&first_booking),
            &first.access_token,
            json!({"decision": "decline"}),
        )
        .await;
    assert_eq!(declined.status, StatusCode::OK, "{}", declined.text);
    assert_eq!(declined.body["status"], "declined");
    let offers = notifications(&w.server, &second.access_token, "waitlist_place_offered").await;
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0]["data"]["booking_id"], second_booking.as_str());

    // The second does not answer in time: the offer lapses and the third is offered the place.
    clock.advance(Duration::hours(48) + Duration::minutes(1));
    // Two days on, everyone's access token has expired: the apps would have refreshed.
    let alex = renewed(&w.server, &w.alex).await;
    let second = renewed(&w.server, second).await;
    let third = renewed(&w.server, third).await;
    let group = wrap_group(&w.server, &alex.access_token).await;
    assert_eq!(group["places_left"], 0);
    let offers = notifications(&w.server, &third.access_token, "waitlist_place_offered").await;
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0]["data"]["booking_id"], third_booking.as_str());
    let late = w
        .server
        .post(
            &offer(&second_booking),
            &second.access_token,
            json!({"decision": "accept"}),
        )
        .await;
    assert_eq!(late.status, StatusCode::CONFLICT, "{}", late.text);
    assert_eq!(late.fields(), ["decision"]);
    assert_eq!(late.body["fields"][0]["code"], "offer_expired");

    // The third accepts: the place and its six sessions are theirs.
    let accepted = w
        .server
        .post(
            &offer(&third_booking),
            &third.access_token,
            json!({"decision": "accept"}),
        )
        .await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.text);
    assert_eq!(accepted.body["status"], "booked");
    let diary = w
        .server
        .get(
            &format!(
                "/v1/people/{}/appointments",
                third.person_id.as_ref().unwrap()
            ),
            &third.access_token,
        )
        .await;
    let sessions = diary.body["appointments"].as_array().unwrap();
    assert_eq!(sessions.len(), 6);
    assert!(
        sessions
            .iter()
            .all(|s| s["kind"] == "enablement_workshop" && s["status"] == "booked")
    );
    let last = roster(&w.server, &programme).await;
    assert_eq!(holding(&last), 3, "capacity is never exceeded");
    assert_eq!(
        last.iter().filter(|b| b["status"] == "waitlisted").count(),
        16
    );
}

async fn carer_sees_appointments_only_with_the_appointments_consent(backend: Backend) {
    let w = start(backend).await;
    let sam = w.server.login("sam").await;
    let list = w
        .server
        .get(&w.path("/appointments"), &w.alex.access_token)
        .await;
    let appointment = list.body["appointments"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Sam's consent covers parts of the crisis plan only.
    for path in [
        w.path("/appointments"),
        w.path("/appointments.ics"),
        w.path("/bookings"),
        format!("/v1/appointments/{appointment}"),
    ] {
        let reply = w.server.get(&path, &sam.access_token).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            reply.text
        );
        assert_eq!(reply.code(), "not_found");
    }

    let granted = w
        .server
        .post(
            &w.path("/consents"),
            &w.alex.access_token,
            json!({"carer_id": sam.user_id, "scopes": ["appointments"]}),
        )
        .await;
    assert_eq!(granted.status, StatusCode::CREATED, "{}", granted.text);
    let seen = w
        .server
        .get(&w.path("/appointments"), &sam.access_token)
        .await;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.text);
    assert_eq!(seen.body["appointments"], list.body["appointments"]);
    let feed = w
        .server
        .get(&w.path("/appointments.ics"), &sam.access_token)
        .await;
    assert_eq!(feed.status, StatusCode::OK);
    // Reading is all the consent allows: no answering for alex (403: sam sees the appointment,
    // so it is not hidden from them), no detailed calendar.
    let confirm = w
        .server
        .post(
            &format!("/v1/appointments/{appointment}/response"),
            &sam.access_token,
            json!({"action": "confirm"}),
        )
        .await;
    assert_eq!(confirm.status, StatusCode::FORBIDDEN);
    let detailed = w
        .server
        .get(
            &w.path("/appointments.ics?detail=detailed"),
            &sam.access_token,
        )
        .await;
    assert_eq!(detailed.status, StatusCode::FORBIDDEN);
}

async fn practitioner_off_the_team_sees_nothing_and_staff_systems_need_the_scope(backend: Backend) {
    let w = start(backend).await;
    let morgan = w.server.login("morgan").await;
    let starts = Utc::now() + Duration::days(2);
    let list = w
        .server
        .get(&w.path("/appointments"), &w.alex.access_token)
        .await;
    let existing = list.body["appointments"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for reply in [
        w.server
            .get(&w.path("/appointments"), &morgan.access_token)
            .await,
        w.server
            .get(
                &format!("/v1/appointments/{existing}"),
                &morgan.access_token,
            )
            .await,
        w.create(
            &morgan.access_token,
            appointment(starts, 60, json!({"type": "phone"})),
        )
        .await,
        patch(
            &w.server,
            &format!("/v1/appointments/{existing}"),
            &morgan.access_token,
            json!({"notes_for_person": "x"}),
        )
        .await,
    ] {
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.text);
    }

    let people_only = w.server.client_token(Some("people:read")).await;
    let reply = w.server.get(&w.path("/appointments"), &people_only).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    assert_eq!(reply.code(), "insufficient_scope");
    assert_eq!(reply.body["required_scope"], "appointments:read");
    let diary = w
        .server
        .get(&format!("/v1/diary?team_id={}", w.west), &people_only)
        .await;
    assert_eq!(diary.status, StatusCode::FORBIDDEN);
    assert_eq!(diary.body["required_scope"], "appointments:read");

    let reader = w.server.client_token(Some("appointments:read")).await;
    assert_eq!(
        w.server.get(&w.path("/appointments"), &reader).await.status,
        StatusCode::OK
    );
    let refused = w
        .create(&reader, appointment(starts, 60, json!({"type": "phone"})))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let writer = w.server.client_token(Some("appointments:write")).await;
    let made = w
        .create(&writer, appointment(starts, 60, json!({"type": "phone"})))
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let moved = patch(
        &w.server,
        &format!("/v1/appointments/{}", made.body["id"].as_str().unwrap()),
        &writer,
        json!({"starts_at": starts + Duration::hours(1), "ends_at": starts + Duration::hours(2)}),
    )
    .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.text);
    assert_eq!(moved.body["sequence"], 1);
}

async fn peer_worker_sees_only_the_sessions_they_take_part_in(backend: Backend) {
    let w = start(backend).await;
    let jo = w.server.login("jo").await;
    let priya = w.server.login("priya").await;
    let mine = w
        .server
        .get(&w.path("/appointments"), &jo.access_token)
        .await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.text);
    assert_eq!(
        mine.body["appointments"],
        json!([]),
        "jo takes part in none yet"
    );
    let priyas = w
        .server
        .get(&w.path("/appointments"), &w.alex.access_token)
        .await;
    let other = priyas.body["appointments"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut body = appointment(
        Utc::now() + Duration::days(4),
        60,
        json!({"type": "community_venue", "name": "Riverside Library"}),
    );
    body["kind"] = json!("peer_support_meeting");
    body["worker_ids"] = json!([jo.user_id]);
    let made = w.create(&priya.access_token, body).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let id = made.body["id"].as_str().unwrap();

    let mine = w
        .server
        .get(&w.path("/appointments"), &jo.access_token)
        .await;
    let ids: Vec<&str> = mine.body["appointments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id]);
    assert_eq!(
        w.server
            .get(&format!("/v1/appointments/{other}"), &jo.access_token)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // Jo's own diary holds it; jo cannot change it.
    let diary = w.server.get("/v1/diary", &jo.access_token).await;
    assert_eq!(diary.status, StatusCode::OK, "{}", diary.text);
    assert_eq!(diary.body["appointments"][0]["id"], id);
    let refused = patch(
        &w.server,
        &format!("/v1/appointments/{id}"),
        &jo.access_token,
        json!({"notes_for_person": "x"}),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    // A worker who is not staff cannot be put on an appointment.
    let mut body = appointment(Utc::now() + Duration::days(4), 60, json!({"type": "phone"}));
    body["worker_ids"] = json!([w.alex.user_id]);
    let bad = w.create(&priya.access_token, body).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.fields(), ["worker_ids[0]"]);
}

async fn bad_input_is_refused_naming_the_field_and_stores_nothing(backend: Backend) {
    let w = start(backend).await;
    let priya = w.server.login("priya").await;
    let token = &priya.access_token;
    let starts = at("2026-12-01T10:00:00Z");
    let count = || async {
        w.server.get(&w.path("/appointments"), token).await.body["appointments"]
            .as_array()
            .unwrap()
            .len()
    };
    let stored = count().await;

    let mut cases: Vec<(Value, &str, &str)> = Vec::new();
    let mut end_before_start = appointment(starts, 60, w.hub());
    end_before_start["ends_at"] = json!(starts - Duration::hours(1));
    cases.push((end_before_start, "ends_at", "not_after_start"));
    let mut ten_years = appointment(starts, 60, w.hub());
    ten_years["ends_at"] = json!(starts + Duration::days(3653));
    cases.push((ten_years, "ends_at", "too_long"));
    let mut unknown_kind = appointment(starts, 60, w.hub());
    unknown_kind["kind"] = json!("seance");
    cases.push((unknown_kind, "kind", "invalid"));
    let mut bad_place = appointment(
        starts,
        60,
        json!({"type": "video", "url": "http://insecure.example"}),
    );
    bad_place["title"] = json!("ok");
    cases.push((bad_place, "location.url", "invalid_url"));
    let unknown_hub = appointment(
        starts,
        60,
        json!({"type": "hub", "team_id": uuid::Uuid::now_v7()}),
    );
    cases.push((unknown_hub, "location.team_id", "not_found"));
    let mut nul = appointment(starts, 60, w.hub());
    nul["notes_for_person"] = json!("a\u{0}b");
    cases.push((nul, "notes_for_person", "contains_nul"));
    let mut extra = appointment(starts, 60, w.hub());
    extra["colour"] = json!("red");
    cases.push((extra, "colour", "unknown_field"));
    for (body, field, code) in cases {
        let reply = w.create(token, body).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}: {}",
            reply.text
        );
        assert_eq!(reply.fields(), [field], "{}", reply.text);
        assert_eq!(reply.body["fields"][0]["code"], code, "{}", reply.text);
    }
    assert_eq!(count().await, stored, "nothing was stored");

    let programme = |capacity: Value| {
        json!({
            "team_id": w.west,
            "title": "Recovery College taster",
            "location": w.hub(),
            "capacity": capacity,
            "sessions": [{"starts_at": starts, "ends_at": starts + Duration::hours(2)}],
        })
    };
    for capacity in [json!(0), json!(-4)] {
        let reply = w
            .server
            .post("/v1/programmes", token, programme(capacity))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            reply.text
        );
        assert_eq!(reply.fields(), ["capacity"]);
    }
    let mut long_session = programme(json!(8));
    long_session["sessions"][0]["ends_at"] = json!(starts + Duration::days(3650));
    let reply = w.server.post("/v1/programmes", token, long_session).await;
    assert_eq!(reply.fields(), ["sessions[0].ends_at"]);
    let made = w
        .server
        .post("/v1/programmes", token, programme(json!(8)))
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    assert_eq!(made.body["places_left"], 8);

    // Queries too.
    for (query, field) in [
        ("?from=2026-01-01T00:00:00Z&to=2025-01-01T00:00:00Z", "to"),
        ("?from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "to"),
        ("?from=yesterday", "from"),
        ("?cursor=not-a-cursor", "cursor"),
        ("?limit=0", "limit"),
    ] {
        let reply = w
            .server
            .get(&w.path(&format!("/appointments{query}")), token)
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{query}: {}",
            reply.text
        );
        assert_eq!(reply.fields(), [field], "{query}");
    }
    let reply = w
        .server
        .post(
            "/v1/appointments/not-an-id/response",
            &w.alex.access_token,
            json!({"action": "confirm"}),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::NOT_FOUND,
        "a malformed id is not found"
    );
}

async fn person_confirms_or_asks_and_staff_answer(backend: Backend) {
    let w = start(backend).await;
    let priya = w.server.login("priya").await;
    let starts = Utc::now() + Duration::days(5);
    let mut body = appointment(starts, 60, w.hub());
    body["worker_ids"] = json!([priya.user_id]);
    let made = w.create(&priya.access_token, body).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    assert_eq!(made.body["status"], "booked");
    let id = made.body["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/appointments/{id}");
    let changes = notifications(&w.server, &w.alex.access_token, "appointment_changed").await;
    assert!(
        changes
            .iter()
            .any(|n| n["data"]["appointment_id"] == id.as_str())
    );

    let respond = |body: Value| {
        let (server, token, path) = (
            &w.server,
            w.alex.access_token.clone(),
            format!("{path}/response"),
        );
        async move { server.post(&path, &token, body).await }
    };
    let confirmed = respond(json!({"action": "confirm"})).await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.text);
    assert_eq!(confirmed.body["status"], "confirmed");

    // Alex asks to move it, offering two times; Priya is told and sees the request.
    let first = starts + Duration::days(1);
    let asked = respond(json!({
        "action": "reschedule_request",
        "reason": "I have a hospital appointment that morning",
        "preferred_times": [
            {"starts_at": first, "ends_at": first + Duration::hours(1)},
            {"starts_at": first + Duration::days(1), "ends_at": first + Duration::days(1) + Duration::hours(1)},
        ],
    }))
    .await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.text);
    assert_eq!(asked.body["request"]["kind"], "reschedule");
    let told = notifications(&w.server, &priya.access_token, "appointment_request_made").await;
    assert_eq!(told.len(), 1);
    assert_eq!(told[0]["data"]["appointment_id"], id.as_str());
    let diary = w
        .server
        .get("/v1/diary?pending_requests=true", &priya.access_token)
        .await;
    let entry = diary.body["appointments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(
        entry["request"]["preferred_times"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Alex may not change the appointment itself.
    let refused = patch(
        &w.server,
        &path,
        &w.alex.access_token,
        json!({"starts_at": first}),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // Priya accepts and moves it to the first preferred time; alex confirms again later.
    let answered = w
        .server
        .post(
            &format!("{path}/request-answer"),
            &priya.access_token,
            json!({"decision": "accept", "message": "See you then", "starts_at": first, "ends_at": first + Duration::hours(1)}),
        )
        .await;
    assert_eq!(answered.status, StatusCode::OK, "{}", answered.text);
    assert_eq!(answered.body["status"], "booked");
    assert_eq!(
        at(answered.body["starts_at"].as_str().unwrap()),
        first.trunc_subsecs(6)
    );
    assert_eq!(answered.body["request"]["answer"]["decision"], "accept");
    let waiting = w
        .server
        .get("/v1/diary?pending_requests=true", &priya.access_token)
        .await;
    assert_eq!(
        waiting.body["appointments"],
        json!([]),
        "nothing waits for an answer"
    );
    let again = w
        .server
        .post(
            &format!("{path}/request-answer"),
            &priya.access_token,
            json!({"decision": "decline"}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);

    // Alex asks to cancel; Priya cancels; it stays in the diary as cancelled.
    let asked = respond(json!({"action": "cancel_request", "reason": "Feeling better"})).await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.text);
    let cancelled = w.server.delete(&path, &priya.access_token).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.text);
    assert_eq!(cancelled.body["status"], "cancelled");
    assert_eq!(cancelled.body["request"]["answer"]["decision"], "accept");
    let late = respond(json!({"action": "confirm"})).await;
    assert_eq!(late.status, StatusCode::CONFLICT);
    let seen = w.server.get(&path, &w.alex.access_token).await;
    assert_eq!(seen.body["status"], "cancelled");
    assert!(seen.body["sequence"].as_i64().unwrap() >= 4);

    // An outcome can only be recorded once it has begun.
    let upcoming = w
        .server
        .get(&w.path("/appointments"), &w.alex.access_token)
        .await;
    let upcoming = upcoming.body["appointments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "key_worker_session")
        .cloned()
        .unwrap();
    let early = patch(
        &w.server,
        &format!("/v1/appointments/{}", upcoming["id"].as_str().unwrap()),
        &priya.access_token,
        json!({"status": "attended"}),
    )
    .await;
    assert_eq!(early.status, StatusCode::CONFLICT, "{}", early.text);
    assert_eq!(early.body["fields"][0]["code"], "not_yet_begun");
}

async fn calendar_feed_parses_and_keeps_utc_times_across_the_clock_change(backend: Backend) {
    let w = start(backend).await;
    let priya = w.server.login("priya").await;
    // 10:00 in London on Saturday 24 October 2026 (BST) and Monday 26 October (GMT): the clocks
    // go back in between.
    let before_change = at("2026-10-24T10:00:00+01:00");
    let after_change = at("2026-10-26T10:00:00+00:00");
    let mut ids = Vec::new();
    for starts in [
        before_change,
        after_change,
        after_change + Duration::hours(3),
    ] {
        let made = w
            .create(&priya.access_token, appointment(starts, 60, w.hub()))
            .await;
        assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
        ids.push(made.body["id"].as_str().unwrap().to_owned());
    }
    let cancelled = w
        .server
        .delete(&format!("/v1/appointments/{}", ids[2]), &priya.access_token)
        .await;
    assert_eq!(cancelled.status, StatusCode::OK);

    let window = "from=2026-10-20T00:00:00Z&to=2026-10-31T00:00:00Z";
    let reply = w
        .server
        .get(
            &w.path(&format!("/appointments.ics?{window}")),
            &w.alex.access_token,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(
        reply.headers["content-type"],
        "text/calendar; charset=utf-8"
    );
    assert!(
        !reply.text.contains("Medication") && !reply.text.contains("tablets"),
        "discreet by default"
    );
    let parsed = parse_ics(&reply.text);
    assert_eq!(parsed["timezone"], "Europe/London");
    assert_eq!(parsed["version"], "2.0");
    let events = parsed["events"].as_array().unwrap();
    assert_eq!(events.len(), 3);
    let event = |id: &str| {
        events
            .iter()
            .find(|e| e["uid"] == format!("{id}@livingwell"))
            .unwrap_or_else(|| panic!("no event for {id}"))
    };
    assert_eq!(event(&ids[0])["start"], "2026-10-24T09:00:00Z");
    assert_eq!(event(&ids[0])["end"], "2026-10-24T10:00:00Z");
    assert_eq!(event(&ids[1])["start"], "2026-10-26T10:00:00Z");
    assert_eq!(event(&ids[1])["end"], "2026-10-26T11:00:00Z");
    assert_eq!(event(&ids[0])["summary"], "Appointment at West hub");
    assert_eq!(event(&ids[0])["status"], "CONFIRMED");
    assert_eq!(
        event(&ids[0])["location"],
        "West hub, 12 Harbour Street, Westford"
    );
    assert_eq!(event(&ids[0])["description"], Value::Null);
    assert_eq!(event(&ids[2])["status"], "CANCELLED");
    assert_eq!(event(&ids[2])["sequence"], 1);

    // The person may ask for their own words; the feed is the same calendar, with details.
    let detailed = w
        .server
        .get(
            &w.path(&format!("/appointments.ics?{window}&detail=detailed")),
            &w.alex.access_token,
        )
        .await;
    assert_eq!(detailed.status, StatusCode::OK);
    let parsed = parse_ics(&detailed.text);
    let events = parsed["events"].as_array().unwrap();
    assert!(events.iter().all(|e| e["summary"] == "Medication review"));
    assert!(
        events
            .iter()
            .all(|e| e["description"] == "Bring your tablets, and the letter; if you can.")
    );
    // Staff may not.
    let staff = w
        .server
        .get(
            &w.path(&format!("/appointments.ics?{window}&detail=detailed")),
            &priya.access_token,
        )
        .await;
    assert_eq!(staff.status, StatusCode::FORBIDDEN);
    // The default window (from a month ago) holds the demo appointments and workshop sessions.
    let default = w
        .server
        .get(&w.path("/appointments.ics"), &w.alex.access_token)
        .await;
    let parsed = parse_ics(&default.text);
    let demo = parsed["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| !ids.iter().any(|id| e["uid"] == format!("{id}@livingwell")))
        .count();
    assert_eq!(demo, 8);
}

async fn team_diary_shows_the_caseload_to_the_team_only(backend: Backend) {
    let w = start(backend).await;
    let priya = w.server.login("priya").await;
    let morgan = w.server.login("morgan").await;
    let diary = w
        .server
        .get(
            &format!(
                "/v1/diary?team_id={}&to={}",
                w.west,
                (Utc::now() + Duration::days(60)).format("%Y-%m-%dT%H:%M:%SZ")
            ),
            &priya.access_token,
        )
        .await;
    assert_eq!(diary.status, StatusCode::OK, "{}", diary.text);
    let people: std::collections::BTreeSet<&str> = diary.body["appointments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["person_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        people,
        [w.person.as_str()].into(),
        "only West hub's caseload"
    );
    assert_eq!(diary.body["appointments"].as_array().unwrap().len(), 8);
    let refused = w
        .server
        .get(
            &format!("/v1/diary?team_id={}", w.west),
            &morgan.access_token,
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let alex = w.server.get("/v1/diary", &w.alex.access_token).await;
    assert_eq!(alex.status, StatusCode::FORBIDDEN);
}

async fn every_read_of_appointments_is_audited(backend: Backend) {
    let w = start(backend).await;
    let priya = w.server.login("priya").await;
    let morgan = w.server.login("morgan").await;
    for (token, path) in [
        (&w.alex.access_token, w.path("/appointments")),
        (&w.alex.access_token, w.path("/appointments.ics")),
        (&priya.access_token, w.path("/bookings")),
        (&morgan.access_token, w.path("/appointments")),
    ] {
        let before = w.server.audit_count(&w.person).await;
        w.server.get(&path, token).await;
        assert_eq!(w.server.audit_count(&w.person).await, before + 1, "{path}");
    }
    let log = w
        .server
        .get(&w.path("/access-log"), &w.alex.access_token)
        .await;
    let entries = log.body["entries"].as_array().unwrap();
    assert!(entries.iter().any(|e| e["resource"] == "appointments"
        && e["actor_role"] == "practitioner"
        && e["outcome"] == "denied"));
    assert!(entries.iter().any(|e| e["resource"] == "appointments"
        && e["relationship"] == "team"
        && e["outcome"] == "allowed"));
}
