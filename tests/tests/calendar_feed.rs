//! Loose ends of appointments: the person's secret calendar feed URL, which a calendar app
//! fetches with no header at all, and workshop facilitators, who read the roster of the
//! programmes they run (and only those).

#![allow(clippy::unwrap_used)]

use livingwell_tests::{Backend, Session, TestServer, on_both_databases, parse_ics};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_databases!(
    a_secret_feed_url_serves_the_discreet_feed_with_no_header_until_reset_or_turned_off,
    only_the_person_makes_resets_or_turns_off_their_feed,
    a_facilitator_reads_that_programmes_roster_and_only_while_named,
    a_feed_stops_while_its_account_is_turned_off,
);

/// A plain GET, as a calendar app sends it: no header of ours at all.
async fn fetch(
    server: &TestServer,
    path: &str,
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let reply = reqwest::get(server.url(path)).await.unwrap();
    let status = reply.status();
    let headers = reply.headers().clone();
    (status, headers, reply.text().await.unwrap())
}

async fn make_feed(server: &TestServer, alex: &Session) -> String {
    let person = alex.person_id.as_deref().unwrap();
    let made = server
        .send(
            Method::POST,
            &format!("/v1/people/{person}/calendar-feed"),
            Some(&alex.access_token),
            None,
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    assert_eq!(made.headers["cache-control"], "no-store");
    made.body["path"].as_str().unwrap().to_owned()
}

/// The stored form of every feed, read straight from the database.
async fn stored_hashes(server: &TestServer) -> Vec<Vec<u8>> {
    let sql = "SELECT secret_hash FROM calendar_feeds";
    let url = &server.database.url;
    let rows: Vec<(Vec<u8>,)> = match server.database.backend() {
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            sqlx::query_as(sql).fetch_all(&pool).await.unwrap()
        }
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(url).await.unwrap();
            sqlx::query_as(sql).fetch_all(&pool).await.unwrap()
        }
    };
    rows.into_iter().map(|(hash,)| hash).collect()
}

async fn a_secret_feed_url_serves_the_discreet_feed_with_no_header_until_reset_or_turned_off(
    backend: Backend,
) {
    let server = TestServer::start(backend).await.unwrap();
    let alex = server.login("alex").await;
    let person = alex.person_id.clone().unwrap();

    let first = make_feed(&server, &alex).await;
    let secret = first
        .strip_prefix("/v1/calendar-feeds/")
        .and_then(|rest| rest.strip_suffix(".ics"))
        .unwrap()
        .to_owned();
    assert!(secret.len() >= 43, "256 bits: {secret}");

    let (status, headers, text) = fetch(&server, &first).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(headers["content-type"], "text/calendar; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    let parsed = parse_ics(&text);
    let events = parsed["events"].as_array().unwrap();
    assert!(!events.is_empty(), "alex's appointments: {text}");
    // Discreet: each event's title is the appointment's discreet summary (where, never why),
    // never its own title, and there are no notes.
    let list = server
        .get(
            &format!("/v1/people/{person}/appointments"),
            &alex.access_token,
        )
        .await;
    let appointments = list.body["appointments"].as_array().unwrap();
    for event in events {
        let appointment = appointments
            .iter()
            .find(|a| event["uid"] == format!("{}@livingwell", a["id"].as_str().unwrap()))
            .unwrap_or_else(|| panic!("{event} is none of {}", list.text));
        assert_eq!(event["summary"], appointment["summary"]);
        assert_ne!(event["summary"], appointment["title"]);
        assert_eq!(event["description"], Value::Null);
    }
    for word in ["review", "Enablement", "Key worker", "Priya", "allotment"] {
        assert!(!text.contains(word), "the secret feed shows {word:?}");
    }
    // Asking for details through the secret URL changes nothing: it is always discreet.
    let (_, _, detailed) = fetch(&server, &format!("{first}?detail=detailed")).await;
    assert!(!detailed.contains("review") && !detailed.contains("Priya"));

    // The fetch is in alex's access log, as alex's own read through the feed.
    let log = server
        .get(
            &format!("/v1/people/{person}/access-log"),
            &alex.access_token,
        )
        .await;
    let entries = log.body["entries"].as_array().unwrap();
    assert!(
        entries.iter().any(|e| e["via"] == "calendar_feed"
            && e["actor_id"] == alex.user_id.as_str()
            && e["actor_role"] == "service_user"
            && e["resource"] == "appointments"
            && e["relationship"] == "self"
            && e["outcome"] == "allowed"),
        "{}",
        log.text
    );

    // The database holds the hash only: never the secret, and nothing found by the secret.
    let hashes = stored_hashes(&server).await;
    assert_eq!(hashes.len(), 1);
    assert_eq!(hashes[0].len(), 32);
    assert_ne!(hashes[0], secret.as_bytes());
    assert!(
        !String::from_utf8_lossy(&hashes[0]).contains(&secret),
        "the secret is stored in clear"
    );
    assert_eq!(
        server
            .store
            .calendar_feed_person(secret.as_bytes())
            .await
            .unwrap(),
        None
    );

    // A reset: the old URL is 404 at once, the new one works.
    let second = make_feed(&server, &alex).await;
    assert_ne!(second, first);
    assert_eq!(stored_hashes(&server).await.len(), 1, "one feed per person");
    let (status, _, old) = fetch(&server, &first).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!old.contains(&person), "a 404 gives no hint: {old}");
    let (status, _, text) = fetch(&server, &second).await;
    assert_eq!(status, StatusCode::OK);
    parse_ics(&text);

    // Turned off: 404.
    let off = server
        .delete(
            &format!("/v1/people/{person}/calendar-feed"),
            &alex.access_token,
        )
        .await;
    assert_eq!(off.status, StatusCode::NO_CONTENT, "{}", off.text);
    assert_eq!(fetch(&server, &second).await.0, StatusCode::NOT_FOUND);
    assert!(stored_hashes(&server).await.is_empty());

    // Made-up and malformed secrets are the same plain 404.
    for path in [
        "/v1/calendar-feeds/lwc_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.ics",
        "/v1/calendar-feeds/nothing",
        "/v1/calendar-feeds/.ics",
    ] {
        let (status, headers, text) = fetch(&server, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {text}");
        assert!(headers.get("www-authenticate").is_none());
    }
}

async fn only_the_person_makes_resets_or_turns_off_their_feed(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let alex = server.login("alex").await;
    let person = alex.person_id.clone().unwrap();
    let path = format!("/v1/people/{person}/calendar-feed");
    let feed = make_feed(&server, &alex).await;

    // Sam may read alex's appointments once alex consents; still not make or stop the feed.
    let sam = server.login("sam").await;
    let consent = server
        .post(
            &format!("/v1/people/{person}/consents"),
            &alex.access_token,
            json!({"carer_id": sam.user_id, "scopes": ["appointments"]}),
        )
        .await;
    assert_eq!(consent.status, StatusCode::CREATED, "{}", consent.text);
    // Priya is on alex's team: she sees alex's appointments, not the feed's controls.
    let priya = server.login("priya").await;
    // Morgan has no relationship with alex at all: alex's record is hidden.
    let morgan = server.login("morgan").await;
    for (who, session, expected) in [
        ("sam", &sam, StatusCode::FORBIDDEN),
        ("priya", &priya, StatusCode::FORBIDDEN),
        ("morgan", &morgan, StatusCode::NOT_FOUND),
    ] {
        for method in [Method::POST, Method::DELETE] {
            let reply = server
                .send(method.clone(), &path, Some(&session.access_token), None)
                .await;
            assert_eq!(reply.status, expected, "{who} {method}: {}", reply.text);
        }
    }
    // Nobody else's attempt reset or stopped the feed.
    assert_eq!(fetch(&server, &feed).await.0, StatusCode::OK);
    // Without credentials: 401, as for any route about a person.
    let anonymous = server.send(Method::POST, &path, None, None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

async fn new_peer_worker(server: &TestServer, username: &str) -> (String, Session) {
    let admin = server.login("admin").await;
    let created = server
        .post(
            "/v1/users",
            &admin.access_token,
            json!({"username": username, "password": livingwell_tests::PASSWORD,
                   "role": "peer_worker", "display_name": "Kit Morrow"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.body["id"].as_str().unwrap().to_owned();
    (id, server.login(username).await)
}

async fn a_facilitator_reads_that_programmes_roster_and_only_while_named(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let alex = server.login("alex").await;
    let person = alex.person_id.clone().unwrap();
    let priya = server.login("priya").await;
    // Alex is booked on West hub's WRAP group.
    let bookings = server
        .get(&format!("/v1/people/{person}/bookings"), &alex.access_token)
        .await;
    let programme = bookings.body[0]["programme_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let roster = format!("/v1/programmes/{programme}/bookings");
    let facilitator = |user: &str| format!("/v1/programmes/{programme}/facilitators/{user}");
    // Kit, a peer worker of a voluntary-sector partner (on no team), runs the sessions.
    let (kit_id, kit) = new_peer_worker(&server, "kit").await;
    let (_, lee) = new_peer_worker(&server, "lee").await;

    assert_eq!(
        server.get(&roster, &kit.access_token).await.status,
        StatusCode::FORBIDDEN
    );

    // Only the programme team's practitioners name facilitators.
    let morgan = server.login("morgan").await;
    let jo = server.login("jo").await;
    for session in [&morgan, &jo, &alex, &kit] {
        let refused = server
            .send(
                Method::PUT,
                &facilitator(&kit_id),
                Some(&session.access_token),
                None,
            )
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    }
    // Only staff can facilitate, and an unknown programme is 404.
    let not_staff = server
        .send(
            Method::PUT,
            &facilitator(&alex.user_id),
            Some(&priya.access_token),
            None,
        )
        .await;
    assert_eq!(not_staff.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(not_staff.fields(), ["user_id"]);
    let nowhere = server
        .send(
            Method::PUT,
            &format!(
                "/v1/programmes/{}/facilitators/{kit_id}",
                uuid::Uuid::now_v7()
            ),
            Some(&priya.access_token),
            None,
        )
        .await;
    assert_eq!(nowhere.status, StatusCode::NOT_FOUND);

    let named = server
        .send(
            Method::PUT,
            &facilitator(&kit_id),
            Some(&priya.access_token),
            None,
        )
        .await;
    assert_eq!(named.status, StatusCode::NO_CONTENT, "{}", named.text);

    // Kit reads the roster, alex on it; Lee, not named, still cannot.
    let read = server.get(&roster, &kit.access_token).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    let people: Vec<&str> = read
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["person_id"].as_str().unwrap())
        .collect();
    assert!(people.contains(&person.as_str()), "{}", read.text);
    assert_eq!(
        server.get(&roster, &lee.access_token).await.status,
        StatusCode::FORBIDDEN
    );
    // Only that programme: another of the team's programmes stays closed to Kit.
    let west = server
        .get(&format!("/v1/people/{person}"), &priya.access_token)
        .await
        .body["team_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = server
        .new_programme(&priya, &west, "Cooking on a budget", 8)
        .await;
    assert_eq!(
        server
            .get(
                &format!("/v1/programmes/{other}/bookings"),
                &kit.access_token
            )
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // And being on the roster opens nothing else of alex's to Kit.
    assert_eq!(
        server
            .get(
                &format!("/v1/people/{person}/appointments"),
                &kit.access_token
            )
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // Alex sees that Kit was shown them on the roster.
    let log = server
        .get(
            &format!("/v1/people/{person}/access-log"),
            &alex.access_token,
        )
        .await;
    let entries = log.body["entries"].as_array().unwrap();
    assert!(
        entries.iter().any(|e| e["via"] == "roster"
            && e["actor_id"] == kit_id.as_str()
            && e["relationship"] == "facilitator"
            && e["outcome"] == "allowed"),
        "{}",
        log.text
    );

    // Removed: 403 again.
    let removed = server
        .delete(&facilitator(&kit_id), &priya.access_token)
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.text);
    assert_eq!(
        server.get(&roster, &kit.access_token).await.status,
        StatusCode::FORBIDDEN
    );
}

async fn a_feed_stops_while_its_account_is_turned_off(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let alex = server.login("alex").await;
    let admin = server.login("admin").await.access_token;
    let path = make_feed(&server, &alex).await;
    assert_eq!(fetch(&server, &path).await.0, StatusCode::OK);

    let switch = |to: &'static str| {
        let admin = admin.clone();
        let user = alex.user_id.clone();
        let server = &server;
        async move {
            let reply = server
                .post(
                    &format!("/v1/users/{user}/{to}"),
                    &admin,
                    serde_json::json!({}),
                )
                .await;
            assert!(reply.status.is_success(), "{to}: {}", reply.text);
        }
    };
    switch("disable").await;
    assert_eq!(fetch(&server, &path).await.0, StatusCode::NOT_FOUND);
    switch("enable").await;
    assert_eq!(fetch(&server, &path).await.0, StatusCode::OK);
}
