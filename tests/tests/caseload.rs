//! The team's view of its caseload (each person's level of support, key worker, peer worker,
//! next appointment, review and crisis-plan state), key workers, closing a case, and the
//! ratings people give the workshop sessions and reviews they had.

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Duration, Utc};
use livingwell_core::api::caseload::CaseloadPerson;
use livingwell_tests::{Backend, ManualClock, Reply, Session, TestServer, on_both_databases};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_databases!(
    the_caseload_shows_what_the_team_needs_at_a_glance,
    the_caseload_pages_by_cursor,
    only_the_teams_practitioners_and_people_read_staff_systems_read_the_caseload,
    a_key_worker_is_a_practitioner_on_the_persons_team,
    closing_a_case_takes_the_person_off_the_caseload_and_keeps_their_records,
    a_person_rates_a_session_they_had_and_may_change_it_for_a_week,
    only_workshop_sessions_and_reviews_the_person_had_are_rated_by_them,
    the_team_reads_its_ratings_with_names_only_where_shared,
);

/// A Monday morning after alex's plan's review date (2027-02-08).
fn start_instant() -> DateTime<Utc> {
    "2027-03-01T09:00:00Z".parse().unwrap()
}

struct West {
    server: TestServer,
    clock: ManualClock,
    priya: Session,
    alex: String,
    team: String,
}

async fn start(backend: Backend) -> West {
    let (server, clock) = TestServer::start_at(backend, start_instant())
        .await
        .unwrap();
    let priya = server.login("priya").await;
    let alex = server.login("alex").await.person_id.unwrap();
    let team = server
        .get(&format!("/v1/people/{alex}"), &priya.access_token)
        .await
        .body["team_id"]
        .as_str()
        .unwrap()
        .to_owned();
    West {
        server,
        clock,
        priya,
        alex,
        team,
    }
}

impl West {
    /// Every page of the team's caseload, as `token` reads it.
    async fn caseload(&self, token: &str) -> Vec<CaseloadPerson> {
        let reply = self
            .server
            .get(&format!("/v1/teams/{}/caseload", self.team), token)
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert!(reply.body["next_cursor"].is_null());
        serde_json::from_value(reply.body["people"].clone()).unwrap()
    }

    async fn row(&self, person: &str) -> Option<CaseloadPerson> {
        self.caseload(&self.priya.access_token)
            .await
            .into_iter()
            .find(|p| p.id.to_string() == person)
    }

    /// A new person on the team, with nothing else.
    async fn new_person(&self, name: &str) -> String {
        let reply = self
            .server
            .post(
                "/v1/people",
                &self.priya.access_token,
                json!({"display_name": name, "team_id": self.team}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        reply.body["id"].as_str().unwrap().to_owned()
    }

    /// A review for alex, made by priya, starting `from_now` after the clock.
    async fn review_for_alex(&self, from_now: Duration) -> String {
        let starts_at = self.clock.now() + from_now;
        let reply = self
            .server
            .post(
                &format!("/v1/people/{}/appointments", self.alex),
                &self.priya.access_token,
                json!({
                    "kind": "review",
                    "starts_at": starts_at,
                    "ends_at": starts_at + Duration::minutes(30),
                    "location": {"type": "hub", "team_id": self.team},
                }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        reply.body["id"].as_str().unwrap().to_owned()
    }

    /// Alex's appointments of `kind`, earliest first.
    async fn alex_appointments(&self, token: &str, kind: &str) -> Vec<String> {
        let from = start_instant() - Duration::days(1);
        let reply = self
            .server
            .get(
                &format!(
                    "/v1/people/{}/appointments?from={}&limit=200",
                    self.alex,
                    from.format("%Y-%m-%dT%H:%M:%SZ")
                ),
                token,
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply.body["appointments"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["kind"] == kind)
            .map(|a| a["id"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Moves the clock on, and signs `username` in again (tokens lapse meanwhile).
    async fn later(&self, by: Duration, username: &str) -> Session {
        self.clock.advance(by);
        self.server.login(username).await
    }

    async fn rate(&self, token: &str, appointment: &str, body: Value) -> Reply {
        self.server
            .put(
                &format!("/v1/appointments/{appointment}/rating"),
                token,
                body,
            )
            .await
    }
}

/// The `{field: code}` of a refusal's fields.
fn field_codes(reply: &Reply) -> Vec<(String, String)> {
    reply.body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["field"].as_str().unwrap().to_owned(),
                f["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn the_caseload_shows_what_the_team_needs_at_a_glance(backend: Backend) {
    let w = start(backend).await;
    let token = w.priya.access_token.clone();
    let activation = w
        .server
        .post(
            &format!("/v1/people/{}/crisis-plan/activation", w.alex),
            &token,
            json!({"reason": "Not sleeping"}),
        )
        .await;
    assert!(activation.status.is_success(), "{}", activation.text);
    let nobody = w.new_person("Casey Nobody").await;

    // Read as JSON too: the fields earlier readers use are still there.
    let reply = w
        .server
        .get(&format!("/v1/teams/{}/caseload", w.team), &token)
        .await;
    let alex_json = reply.body["people"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == w.alex.as_str())
        .unwrap()
        .clone();
    assert_eq!(alex_json["display_name"], "Alex Rivers");
    assert_eq!(alex_json["team_id"], w.team.as_str());
    assert!(alex_json["peer_worker_id"].is_string());
    assert_eq!(alex_json["support_level"], json!({"level": "enhanced"}));
    assert_eq!(
        alex_json["review"],
        json!({"on": "2027-02-08", "overdue": true})
    );
    assert_eq!(alex_json["crisis_plan"], "active");

    let alex = w.row(&w.alex).await.unwrap();
    let key_worker = alex.key_worker.unwrap();
    assert_eq!(key_worker.id.to_string(), w.priya.user_id);
    assert_eq!(key_worker.display_name, "Priya Natarajan");
    let peer = alex.peer_worker.unwrap();
    assert_eq!(Some(peer.id), alex.peer_worker_id);
    assert_eq!(peer.display_name, "Jo Bennett");
    // The demo's first: the key worker session in three days.
    let next = alex.next_appointment.unwrap();
    assert_eq!(
        serde_json::to_value(next.kind).unwrap(),
        "key_worker_session"
    );
    assert!(next.starts_at > start_instant());

    // A sooner one is next; cancelled, it is not.
    let sooner = w.review_for_alex(Duration::hours(2)).await;
    let row = w.row(&w.alex).await.unwrap();
    assert_eq!(row.next_appointment.unwrap().id.to_string(), sooner);
    let cancelled = w
        .server
        .delete(&format!("/v1/appointments/{sooner}"), &token)
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.text);
    assert_eq!(w.row(&w.alex).await.unwrap().next_appointment, Some(next));

    // Deactivated, the crisis plan is written, not active.
    let ended = w
        .server
        .delete(
            &format!("/v1/people/{}/crisis-plan/activation", w.alex),
            &token,
        )
        .await;
    assert!(ended.status.is_success(), "{}", ended.text);
    let row = w.row(&w.alex).await.unwrap();
    assert_eq!(
        serde_json::to_value(row.crisis_plan).unwrap(),
        json!("written")
    );

    // Someone with nothing yet: no plan, no workers, nothing booked, no crisis plan.
    let empty = w.row(&nobody).await.unwrap();
    assert_eq!(empty.display_name, "Casey Nobody");
    assert_eq!(empty.support_level, None);
    assert_eq!(empty.key_worker, None);
    assert_eq!(empty.peer_worker, None);
    assert_eq!(empty.peer_worker_id, None);
    assert_eq!(empty.next_appointment, None);
    assert_eq!(empty.review, None);
    assert_eq!(
        serde_json::to_value(empty.crisis_plan).unwrap(),
        json!("none")
    );
}

async fn the_caseload_pages_by_cursor(backend: Backend) {
    let w = start(backend).await;
    for n in 0..4 {
        w.new_person(&format!("Person {n}")).await;
    }
    let mut seen = Vec::new();
    let mut path = format!("/v1/teams/{}/caseload?limit=2", w.team);
    loop {
        let reply = w.server.get(&path, &w.priya.access_token).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        let people: Vec<CaseloadPerson> =
            serde_json::from_value(reply.body["people"].clone()).unwrap();
        assert!(people.len() <= 2);
        seen.extend(people.iter().map(|p| p.id));
        match reply.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/teams/{}/caseload?limit=2&cursor={cursor}", w.team),
            None => break,
        }
    }
    // Alex and the four, each once, in id order.
    assert_eq!(seen.len(), 5);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, seen);
}

async fn only_the_teams_practitioners_and_people_read_staff_systems_read_the_caseload(
    backend: Backend,
) {
    let w = start(backend).await;
    let path = format!("/v1/teams/{}/caseload", w.team);
    let morgan = w.server.login("morgan").await;
    let other_team = w.server.get(&path, &morgan.access_token).await;
    assert_eq!(
        other_team.status,
        StatusCode::FORBIDDEN,
        "{}",
        other_team.text
    );
    let jo = w.server.login("jo").await;
    assert_eq!(
        w.server.get(&path, &jo.access_token).await.status,
        StatusCode::FORBIDDEN
    );
    let system = w.server.client_token(Some("people:read")).await;
    let read = w.server.get(&path, &system).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    assert!(read.body["people"][0]["crisis_plan"].is_string());
    let unscoped = w.server.client_token(Some("plans:read")).await;
    let refused = w.server.get(&path, &unscoped).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.code(), "insufficient_scope");
}

async fn a_key_worker_is_a_practitioner_on_the_persons_team(backend: Backend) {
    let w = start(backend).await;
    let token = w.priya.access_token.clone();
    let path = format!("/v1/people/{}/key-worker", w.alex);
    let morgan = w.server.login("morgan").await;
    let jo = w.server.login("jo").await;

    // Not on the team, or not a practitioner: refused, naming the field.
    for user in [&morgan.user_id, &jo.user_id] {
        let refused = w.server.put(&path, &token, json!({"user_id": user})).await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            refused.text
        );
        assert_eq!(refused.fields(), ["user_id"]);
    }
    assert_eq!(
        w.server
            .put(
                &path,
                &token,
                json!({"user_id": w.priya.user_id, "extra": 1})
            )
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    // Cleared, and named again; audited each time.
    let audited = w.server.audit_count(&w.alex).await;
    let cleared = w.server.delete(&path, &token).await;
    assert_eq!(cleared.status, StatusCode::NO_CONTENT, "{}", cleared.text);
    assert_eq!(w.row(&w.alex).await.unwrap().key_worker, None);
    let named = w
        .server
        .put(&path, &token, json!({"user_id": w.priya.user_id}))
        .await;
    assert_eq!(named.status, StatusCode::NO_CONTENT, "{}", named.text);
    assert_eq!(
        w.row(&w.alex)
            .await
            .unwrap()
            .key_worker
            .unwrap()
            .id
            .to_string(),
        w.priya.user_id
    );
    assert!(w.server.audit_count(&w.alex).await >= audited + 2);

    // Another team's practitioner does not know alex; alex may not choose for the team.
    let other = w
        .server
        .put(
            &path,
            &morgan.access_token,
            json!({"user_id": morgan.user_id}),
        )
        .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND, "{}", other.text);
    let alex = w.server.login("alex").await;
    let own = w.server.delete(&path, &alex.access_token).await;
    assert_eq!(own.status, StatusCode::FORBIDDEN, "{}", own.text);

    // Moving to another team ends the link: the worker holds cases for their team.
    let teams = w.server.get("/v1/teams", &token).await;
    let north = teams
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] != w.team.as_str())
        .unwrap()["id"]
        .clone();
    let team_path = format!("/v1/people/{}/team", w.alex);
    let moved = w
        .server
        .put(&team_path, &token, json!({"team_id": north}))
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.text);
    let back = w
        .server
        .put(&team_path, &morgan.access_token, json!({"team_id": w.team}))
        .await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.text);
    assert_eq!(w.row(&w.alex).await.unwrap().key_worker, None);
}

async fn closing_a_case_takes_the_person_off_the_caseload_and_keeps_their_records(
    backend: Backend,
) {
    let w = start(backend).await;
    let token = w.priya.access_token.clone();
    let path = format!("/v1/people/{}/team", w.alex);
    let jo = w.server.login("jo").await;
    let morgan = w.server.login("morgan").await;
    // Another team cannot close it.
    assert_eq!(
        w.server.delete(&path, &morgan.access_token).await.status,
        StatusCode::NOT_FOUND
    );

    let audited = w.server.audit_count(&w.alex).await;
    let closed = w.server.delete(&path, &token).await;
    assert_eq!(closed.status, StatusCode::NO_CONTENT, "{}", closed.text);
    assert!(w.server.audit_count(&w.alex).await > audited);
    assert!(w.row(&w.alex).await.is_none());
    // A second close finds no case: 404.
    let again = w.server.delete(&path, &token).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND, "{}", again.text);

    // The place is kept as closed, the key worker and peer worker links end.
    let person = w.alex.parse().unwrap();
    let history = w.server.store.caseload_history(person).await.unwrap();
    assert_eq!(history.len(), 1);
    assert!(history[0].closed);
    assert_eq!(history[0].team_id.to_string(), w.team);
    assert_eq!(history[0].ended_at, start_instant());
    assert_eq!(
        w.server
            .get(&format!("/v1/people/{}", w.alex), &jo.access_token)
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // Alex keeps their account and their WRAP.
    let alex = w.server.login("alex").await;
    let own = w
        .server
        .get(&format!("/v1/people/{}", w.alex), &alex.access_token)
        .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.text);
    assert!(own.body["team_id"].is_null());
    assert!(own.body["peer_worker_id"].is_null());
    let wrap = w
        .server
        .get(&format!("/v1/people/{}/wrap", w.alex), &alex.access_token)
        .await;
    assert_eq!(wrap.status, StatusCode::OK, "{}", wrap.text);

    // Back on the caseload later: a new place, with no key worker until one is named. A move
    // to another team is kept as not closed.
    let back = w
        .server
        .put(&path, &token, json!({"team_id": w.team}))
        .await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.text);
    assert_eq!(w.row(&w.alex).await.unwrap().key_worker, None);
    let north = w
        .server
        .get("/v1/teams", &token)
        .await
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] != w.team.as_str())
        .unwrap()["id"]
        .clone();
    let moved = w.server.put(&path, &token, json!({"team_id": north})).await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.text);
    let history = w.server.store.caseload_history(person).await.unwrap();
    assert_eq!(
        history.iter().map(|h| h.closed).collect::<Vec<_>>(),
        [true, false]
    );

    // A staff system with `people:write` closes a case; with `people:read` it may not.
    let casey = w.new_person("Casey Close").await;
    let reader = w.server.client_token(Some("people:read")).await;
    let refused = w
        .server
        .delete(&format!("/v1/people/{casey}/team"), &reader)
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.code(), "insufficient_scope");
    let writer = w.server.client_token(Some("people:write")).await;
    let closed = w
        .server
        .delete(&format!("/v1/people/{casey}/team"), &writer)
        .await;
    assert_eq!(closed.status, StatusCode::NO_CONTENT, "{}", closed.text);
}

async fn a_person_rates_a_session_they_had_and_may_change_it_for_a_week(backend: Backend) {
    let w = start(backend).await;
    let review = w.alex_appointments(&w.priya.access_token, "review").await[0].clone();
    // Not begun yet: nothing to rate.
    let alex = w.server.login("alex").await;
    let early = w
        .rate(&alex.access_token, &review, json!({"score": 4}))
        .await;
    assert_eq!(early.status, StatusCode::CONFLICT, "{}", early.text);
    assert_eq!(
        field_codes(&early),
        [("starts_at".into(), "not_yet_begun".into())]
    );

    let alex = w.later(Duration::days(11), "alex").await;
    let token = alex.access_token.clone();
    let path = format!("/v1/appointments/{review}/rating");
    assert_eq!(
        w.server.get(&path, &token).await.status,
        StatusCode::NOT_FOUND
    );
    let bad = w.rate(&token, &review, json!({"score": 6})).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.fields(), ["score"]);
    let long = "a".repeat(1001);
    let bad = w
        .rate(&token, &review, json!({"score": 3, "comment": long}))
        .await;
    assert_eq!(bad.fields(), ["comment"]);

    let audited = w.server.audit_count(&w.alex).await;
    let first = w
        .rate(
            &token,
            &review,
            json!({"score": 4, "comment": "Felt listened to"}),
        )
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert!(w.server.audit_count(&w.alex).await > audited);
    assert_eq!(first.body["kind"], "review");
    assert_eq!(first.body["score"], 4);
    assert_eq!(first.body["name_shared"], false);
    let rated_at = first.body["rated_at"].clone();

    // Changed within the week: the first rating's time stays; still one rating.
    let alex = w.later(Duration::days(6), "alex").await;
    let token = alex.access_token;
    let changed = w
        .rate(&token, &review, json!({"score": 5, "name_shared": true}))
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    assert_eq!(changed.body["rated_at"], rated_at);
    assert!(changed.body["comment"].is_null());
    let read = w.server.get(&path, &token).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    assert_eq!(read.body["score"], 5);
    assert_eq!(read.body["name_shared"], true);

    // A week after the first rating it is locked.
    let alex = w.later(Duration::days(1), "alex").await;
    let locked = w
        .rate(&alex.access_token, &review, json!({"score": 1}))
        .await;
    assert_eq!(locked.status, StatusCode::CONFLICT, "{}", locked.text);
    assert_eq!(
        field_codes(&locked),
        [("rated_at".into(), "rating_locked".into())]
    );
    assert_eq!(
        w.server.get(&path, &alex.access_token).await.body["score"],
        5
    );
}

async fn only_workshop_sessions_and_reviews_the_person_had_are_rated_by_them(backend: Backend) {
    let w = start(backend).await;
    let cancelled = w.review_for_alex(Duration::days(1)).await;
    let gone = w
        .server
        .delete(
            &format!("/v1/appointments/{cancelled}"),
            &w.priya.access_token,
        )
        .await;
    assert_eq!(gone.status, StatusCode::OK, "{}", gone.text);
    let alex = w.later(Duration::days(11), "alex").await;
    let token = alex.access_token.clone();
    let key_worker_session = w.alex_appointments(&token, "key_worker_session").await[0].clone();
    let workshop = w.alex_appointments(&token, "enablement_workshop").await[0].clone();

    let other_kind = w
        .rate(&token, &key_worker_session, json!({"score": 3}))
        .await;
    assert_eq!(
        other_kind.status,
        StatusCode::CONFLICT,
        "{}",
        other_kind.text
    );
    assert_eq!(
        field_codes(&other_kind),
        [("kind".into(), "not_rated".into())]
    );
    let was_cancelled = w.rate(&token, &cancelled, json!({"score": 3})).await;
    assert_eq!(was_cancelled.status, StatusCode::CONFLICT);
    assert_eq!(
        field_codes(&was_cancelled),
        [("status".into(), "cancelled".into())]
    );
    let rated = w.rate(&token, &workshop, json!({"score": 2})).await;
    assert_eq!(rated.status, StatusCode::OK, "{}", rated.text);
    assert_eq!(rated.body["kind"], "workshop_session");

    // Others: the team knows the appointment (403); robin and sam (who is shared only the
    // crisis plan) do not (404). Their reading of the rating likewise.
    let priya = w.server.login("priya").await;
    let robin = w.server.login("robin").await;
    let sam = w.server.login("sam").await;
    let path = format!("/v1/appointments/{workshop}/rating");
    for (session, status) in [
        (&priya, StatusCode::FORBIDDEN),
        (&robin, StatusCode::NOT_FOUND),
        (&sam, StatusCode::NOT_FOUND),
    ] {
        let put = w
            .rate(&session.access_token, &workshop, json!({"score": 1}))
            .await;
        assert_eq!(put.status, status, "{}", put.text);
        let get = w.server.get(&path, &session.access_token).await;
        assert_eq!(get.status, status, "{}", get.text);
    }
    let system = w.server.client_token(Some("appointments:write")).await;
    assert_eq!(
        w.rate(&system, &workshop, json!({"score": 1})).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        w.server.get(&path, &token).await.body["score"],
        2,
        "a refused rating changed nothing"
    );
}

async fn the_team_reads_its_ratings_with_names_only_where_shared(backend: Backend) {
    let w = start(backend).await;
    let alex = w.later(Duration::days(11), "alex").await;
    let token = alex.access_token.clone();
    let review = w.alex_appointments(&token, "review").await[0].clone();
    let workshop = w.alex_appointments(&token, "enablement_workshop").await[0].clone();
    let hidden = w
        .rate(&token, &review, json!({"score": 4, "comment": "Good"}))
        .await;
    assert_eq!(hidden.status, StatusCode::OK, "{}", hidden.text);
    let shared = w
        .rate(
            &token,
            &workshop,
            json!({"score": 5, "comment": "Loved it", "name_shared": true}),
        )
        .await;
    assert_eq!(shared.status, StatusCode::OK, "{}", shared.text);

    let priya = w.server.login("priya").await;
    let path = format!("/v1/teams/{}/ratings", w.team);
    let reply = w.server.get(&path, &priya.access_token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let ratings = reply.body["ratings"].as_array().unwrap();
    assert_eq!(ratings.len(), 2, "{}", reply.text);
    let by_kind = |kind: &str| ratings.iter().find(|r| r["kind"] == kind).unwrap();
    assert_eq!(by_kind("review")["score"], 4);
    assert_eq!(by_kind("review")["comment"], "Good");
    assert!(by_kind("review")["person"].is_null());
    assert_eq!(
        by_kind("workshop_session")["person"],
        json!({"id": w.alex, "display_name": "Alex Rivers"})
    );
    assert_eq!(reply.text.matches("Alex Rivers").count(), 1);

    // Paged.
    let first = w
        .server
        .get(&format!("{path}?limit=1"), &priya.access_token)
        .await;
    assert_eq!(first.body["ratings"].as_array().unwrap().len(), 1);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let second = w
        .server
        .get(
            &format!("{path}?limit=1&cursor={cursor}"),
            &priya.access_token,
        )
        .await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.text);
    assert_eq!(second.body["ratings"].as_array().unwrap().len(), 1);
    assert_ne!(first.body["ratings"][0], second.body["ratings"][0]);

    // Another team's practitioner, a peer worker, a staff system: refused.
    let morgan = w.server.login("morgan").await;
    assert_eq!(
        w.server.get(&path, &morgan.access_token).await.status,
        StatusCode::FORBIDDEN
    );
    let jo = w.server.login("jo").await;
    assert_eq!(
        w.server.get(&path, &jo.access_token).await.status,
        StatusCode::FORBIDDEN
    );
    let system = w.server.client_token(Some("people:read")).await;
    assert_eq!(
        w.server.get(&path, &system).await.status,
        StatusCode::FORBIDDEN
    );
}
