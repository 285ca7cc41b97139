//! One cursor vocabulary: every list takes `cursor` and `limit`, answers `next_cursor`, and
//! links to the next page with `Link: <…>; rel="next"`. Each list is walked one item per page
//! by following the links alone, and must give what one large page gives: nothing twice,
//! nothing missed, and no link on the last page.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use chrono::{Duration, SecondsFormat, Utc};
use livingwell_core::domain::PersonId;
use livingwell_server::clock::Clock;
use livingwell_server::store::PersonRecord;
use livingwell_tests::{Backend, Session, TestServer, on_both_databases};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_databases!(
    every_list_pages_by_cursor_and_links_to_the_next_page,
    a_cursor_the_server_did_not_give_is_refused_naming_it,
);

/// Walks a list from `first` by following `Link` headers; returns the `key` of every item, in
/// the order served. Checks that `next_cursor` and the link agree on every page.
async fn follow_links(
    server: &TestServer,
    session: &Session,
    first: &str,
    items: &str,
    key: &str,
) -> Vec<String> {
    let mut url = first.to_owned();
    let mut keys = Vec::new();
    for _ in 0..100 {
        let reply = server.get(&url, &session.access_token).await;
        assert_eq!(reply.status, StatusCode::OK, "{url}: {}", reply.text);
        keys.extend(
            reply.body[items]
                .as_array()
                .unwrap_or_else(|| panic!("{url}: no `{items}` in {}", reply.text))
                .iter()
                .map(|item| item[key].to_string()),
        );
        let link = reply
            .headers
            .get("link")
            .map(|value| value.to_str().unwrap().to_owned());
        let Some(cursor) = reply.body["next_cursor"].as_str() else {
            assert_eq!(link, None, "{url}: the last page links nowhere");
            return keys;
        };
        let link = link.unwrap_or_else(|| panic!("{url}: a next page but no Link"));
        let target = link
            .strip_prefix('<')
            .and_then(|rest| rest.strip_suffix(">; rel=\"next\""))
            .unwrap_or_else(|| panic!("{url}: not a next link: {link}"));
        let parsed = reqwest::Url::parse(&format!("http://server{target}")).unwrap();
        let linked: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
        assert!(
            linked.contains(&("cursor".to_owned(), cursor.to_owned())),
            "{url}: the link carries next_cursor: {link}"
        );
        assert!(
            linked.contains(&("limit".to_owned(), "1".to_owned())),
            "{url}: the link keeps the request's other parameters: {link}"
        );
        url = target.to_owned();
    }
    panic!("{first}: more than 100 pages");
}

/// The keys of one page holding the whole list.
async fn one_page(
    server: &TestServer,
    session: &Session,
    path: &str,
    items: &str,
    key: &str,
) -> Vec<String> {
    let reply = server.get(path, &session.access_token).await;
    assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.text);
    assert!(reply.body.get("next_cursor").is_none(), "{path}: one page");
    assert!(reply.headers.get("link").is_none(), "{path}: one page");
    reply.body[items]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item[key].to_string())
        .collect()
}

/// Walks `path` one item per page and compares it with one large page.
async fn pages_like_one_page(
    server: &TestServer,
    session: &Session,
    path: &str,
    items: &str,
    key: &str,
    max: i64,
) {
    let join = if path.contains('?') { '&' } else { '?' };
    let whole = one_page(
        server,
        session,
        &format!("{path}{join}limit={max}"),
        items,
        key,
    )
    .await;
    assert!(whole.len() >= 2, "{path}: enough items to page: {whole:?}");
    let walked = follow_links(server, session, &format!("{path}{join}limit=1"), items, key).await;
    assert_eq!(walked, whole, "{path}: the pages add up to the list");
}

async fn every_list_pages_by_cursor_and_links_to_the_next_page(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let alex = server.login("alex").await;
    let priya = server.login("priya").await;
    let person = alex.person_id.clone().unwrap();
    let west = server
        .get(&format!("/v1/people/{person}"), &priya.access_token)
        .await;
    let west = west.body["team_id"].as_str().unwrap().to_owned();

    // A second person on West's caseload.
    let newcomer = PersonRecord {
        id: PersonId::new(),
        display_name: "Casey Newcomer".to_owned(),
        team_id: Some(west.parse().unwrap()),
        peer_worker_id: None,
        created_at: Clock::System.now(),
    };
    server.store.create_person(&newcomer, None).await.unwrap();

    // A second workshop programme.
    server
        .new_programme(&priya, &west, "Recovery College taster", 8)
        .await;

    // Something to be told of: two new appointments for alex.
    for days in [20, 21] {
        let starts_at = (Utc::now() + Duration::days(days)).to_rfc3339();
        let created = server
            .post(
                &format!("/v1/people/{person}/appointments"),
                &priya.access_token,
                json!({
                    "kind": "review",
                    "title": "Review",
                    "starts_at": starts_at,
                    "ends_at": (Utc::now() + Duration::days(days) + Duration::hours(1)).to_rfc3339(),
                    "location": {"type": "phone"},
                }),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    }
    // A second comment on the plan, so its comments page.
    let commented = server
        .post(
            &format!("/v1/people/{person}/enablement-plan/comments"),
            &alex.access_token,
            json!({"section": "goals", "body": "One more thought", "disagree": false}),
        )
        .await;
    assert_eq!(commented.status, StatusCode::CREATED, "{}", commented.text);
    let conversation = server.peer_conversation(&alex.access_token).await;

    let people = format!("/v1/people/{person}");
    let diary_from = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
    let diary_to = (Utc::now() + Duration::days(30)).to_rfc3339_opts(SecondsFormat::Secs, true);
    for (session, path, items, key, max) in [
        (
            &priya,
            format!("/v1/teams/{west}/caseload"),
            "people",
            "id",
            200,
        ),
        (
            &alex,
            format!("{people}/appointments"),
            "appointments",
            "id",
            200,
        ),
        (
            &priya,
            // A window of its own: the default (the next seven days) holds a different number
            // of the demo's appointments at different times of day.
            format!("/v1/diary?team_id={west}&from={diary_from}&to={diary_to}"),
            "appointments",
            "id",
            200,
        ),
        (&alex, "/v1/programmes".to_owned(), "programmes", "id", 50),
        (
            &alex,
            "/v1/notifications".to_owned(),
            "notifications",
            "id",
            200,
        ),
        (
            &alex,
            format!("/v1/conversations/{conversation}/messages"),
            "messages",
            "seq",
            200,
        ),
        (
            &alex,
            format!("{people}/enablement-plan/comments"),
            "comments",
            "id",
            100,
        ),
    ] {
        pages_like_one_page(&server, session, &path, items, key, max).await;
    }

    // Plan versions: a second version, so there are two to page through.
    let plan = server
        .get(&format!("{people}/enablement-plan"), &priya.access_token)
        .await;
    let version = plan.body["version"].as_i64().unwrap();
    let stored = server
        .put(
            &format!("{people}/enablement-plan"),
            &priya.access_token,
            json!({"base_version": version, "plan": plan.body["plan"]}),
        )
        .await;
    assert!(stored.status.is_success(), "{}", stored.text);
    let versions = format!("{people}/enablement-plan/versions");
    pages_like_one_page(&server, &alex, &versions, "versions", "version", 100).await;

    // The access log grows with every read of it (each is audited), newest first: walking it
    // gives every entry once, newest first, and ends.
    let log = follow_links(
        &server,
        &alex,
        &format!("{people}/access-log?limit=1"),
        "entries",
        "seq",
    )
    .await;
    let seqs: Vec<i64> = log.iter().map(|s| s.parse().unwrap()).collect();
    assert!(seqs.len() >= 2, "{seqs:?}");
    assert!(
        seqs.windows(2).all(|w| w[0] > w[1]),
        "newest first, once each: {seqs:?}"
    );
    let unique: BTreeSet<&i64> = seqs.iter().collect();
    assert_eq!(unique.len(), seqs.len());
}

async fn a_cursor_the_server_did_not_give_is_refused_naming_it(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let alex = server.login("alex").await;
    let person = alex.person_id.clone().unwrap();
    for path in [
        "/v1/notifications?cursor=yesterday".to_owned(),
        "/v1/programmes?cursor=42".to_owned(),
        format!("/v1/people/{person}/appointments?cursor=not-a-cursor"),
        format!("/v1/people/{person}/access-log?cursor=1e3"),
        format!("/v1/people/{person}/enablement-plan/versions?cursor=v2"),
        format!("/v1/people/{person}/enablement-plan/comments?cursor=newest"),
    ] {
        let reply = server.get(&path, &alex.access_token).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path}: {}",
            reply.text
        );
        let fields: Vec<Value> = reply.body["fields"].as_array().unwrap().clone();
        assert_eq!(fields[0]["field"], "cursor", "{path}: {}", reply.text);
    }
}
