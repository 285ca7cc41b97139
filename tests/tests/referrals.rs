//! The front door: a person refers themselves with no account (a solved proof-of-work
//! challenge pays for one referral, a few an hour from one address), a partner refers through
//! a staff system, and the hub team's practitioners triage each referral once — accepting the
//! person onto the caseload with an invitation, signposting them, or answering a crisis, of
//! which the team hears at once.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use livingwell_core::api::referrals::{ProofChallenge, solve};
use livingwell_core::domain::message::default_crisis_lines;
use livingwell_server::http::{PushTarget, ReferralSettings, Settings, WebhookSettings};
use livingwell_tests::{
    Backend, ManualClock, PushGateway, Reply, Session, TestServer, on_both_databases, read,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_databases!(
    a_self_referral_is_accepted_onto_the_caseload_and_the_person_signs_in,
    a_referral_signposted_or_answered_as_a_crisis_and_the_team_told,
    referrals_from_one_address_are_refused_past_its_limit,
    bad_referrals_are_refused_naming_the_field,
    a_partner_refers_through_a_staff_system_with_the_scope,
    triage_is_for_the_holding_teams_practitioners_and_happens_once,
    a_referral_received_is_told_to_subscribed_staff_systems_and_the_hub,
    the_report_counts_referrals_by_outcome_and_their_time_to_triage,
);

/// A difficulty a test solves in a millisecond.
const EASY: u32 = 1_000;

fn settings(burst: u32) -> Settings {
    let burst = NonZeroU32::new(burst).unwrap();
    Settings {
        referrals: ReferralSettings {
            proof_difficulty: EASY,
            per_address_burst: burst,
            per_address_per_hour: NonZeroU32::MIN.saturating_add(4),
        },
        ..Settings::default()
    }
}

async fn start(backend: Backend) -> TestServer {
    TestServer::start_with(backend, settings(1_000))
        .await
        .unwrap()
}

/// A fresh challenge, solved.
async fn proof(server: &TestServer) -> Value {
    let reply = server
        .send(Method::GET, "/v1/referrals/challenge", None, None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let challenge: ProofChallenge = serde_json::from_value(reply.body).unwrap();
    serde_json::to_value(solve(&challenge, Duration::from_secs(30)).unwrap()).unwrap()
}

fn self_referral(name: &str, team: Option<&str>, proof: Value) -> Value {
    let mut body = json!({
        "display_name": name,
        "contact": {"phone": "07700 900123", "email": "sky@example.org", "preferred": "phone",
                    "safe_to_leave_message": false},
        "help_wanted": "I have not been sleeping and would like someone to talk to.",
        "consent_to_contact": true,
        "proof": proof,
    });
    if let Some(team) = team {
        body["team_id"] = json!(team);
    }
    body
}

async fn refer_self(server: &TestServer, name: &str, team: Option<&str>) -> String {
    let body = self_referral(name, team, proof(server).await);
    let reply = server
        .send(Method::POST, "/v1/referrals", None, Some(body))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    reply.body["id"].as_str().unwrap().to_owned()
}

/// The demo hubs' ids, West's (priya and jo) and North's (morgan).
async fn hubs(server: &TestServer, staff: &Session) -> (String, String) {
    let teams = server.get("/v1/teams", &staff.access_token).await;
    let id = |name: &str| {
        teams
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    (id("West hub"), id("North hub"))
}

async fn open_ids(server: &TestServer, token: &str) -> Vec<String> {
    let listed = server.get("/v1/referrals", token).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    listed.body["referrals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn triage(server: &TestServer, staff: &Session, referral: &str, body: Value) -> Reply {
    server
        .send(
            Method::PATCH,
            &format!("/v1/referrals/{referral}"),
            Some(&staff.access_token),
            Some(body),
        )
        .await
}

/// The kinds and data of the caller's notifications of `kind`.
async fn notified(server: &TestServer, session: &Session, kind: &str) -> Vec<Value> {
    let listed = server.get("/v1/notifications", &session.access_token).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    listed.body["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == kind)
        .map(|n| n["data"].clone())
        .collect()
}

async fn a_self_referral_is_accepted_onto_the_caseload_and_the_person_signs_in(backend: Backend) {
    let server = start(backend).await;
    let priya = server.login("priya").await;
    let morgan = server.login("morgan").await;
    let (west, _) = hubs(&server, &priya).await;

    // Sky refers themselves to the West hub: no account, a solved challenge.
    let body = self_referral("Sky Marlow", Some(&west), proof(&server).await);
    let received = server
        .send(Method::POST, "/v1/referrals", None, Some(body))
        .await;
    assert_eq!(received.status, StatusCode::CREATED, "{}", received.text);
    assert!(
        received.body["what_happens_next"]
            .as_str()
            .unwrap()
            .contains("contact you")
    );
    let lines: Vec<_> = default_crisis_lines()
        .into_iter()
        .map(|l| serde_json::to_value(l).unwrap())
        .collect();
    assert_eq!(received.body["crisis_lines"], json!(lines));
    let referral = received.body["id"].as_str().unwrap().to_owned();

    // West's practitioner sees it waiting; North's does not.
    assert!(
        open_ids(&server, &priya.access_token)
            .await
            .contains(&referral)
    );
    assert!(
        !open_ids(&server, &morgan.access_token)
            .await
            .contains(&referral)
    );
    let shown = server
        .get(&format!("/v1/referrals/{referral}"), &priya.access_token)
        .await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.text);
    assert_eq!(shown.body["source"], "self");
    assert_eq!(shown.body["display_name"], "Sky Marlow");
    assert_eq!(shown.body["contact"]["preferred"], "phone");
    assert_eq!(shown.body["contact"]["safe_to_leave_message"], false);
    assert!(shown.body.get("outcome").is_none());

    // Accepted: the person's record on West's caseload, with an invitation shown once.
    let accepted = triage(&server, &priya, &referral, json!({"outcome": "accepted"})).await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.text);
    assert_eq!(accepted.body["referral"]["outcome"], "accepted");
    assert_eq!(accepted.body["referral"]["team_id"], west.as_str());
    assert_eq!(
        accepted.body["referral"]["triaged_by"],
        priya.user_id.as_str()
    );
    assert!(accepted.body["referral"]["triaged_at"].is_string());
    let person = accepted.body["referral"]["person_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(accepted.body["invitation"]["person_id"], person.as_str());
    assert_eq!(accepted.body["invitation"]["role"], "service_user");
    let code = accepted.body["invitation"]["code"].as_str().unwrap();
    assert!(
        !open_ids(&server, &priya.access_token)
            .await
            .contains(&referral)
    );

    let caseload = server
        .get(&format!("/v1/teams/{west}/caseload"), &priya.access_token)
        .await;
    assert_eq!(caseload.status, StatusCode::OK, "{}", caseload.text);
    let on_it = caseload.body["people"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == person.as_str())
        .expect("the person is on the caseload");
    assert_eq!(on_it["display_name"], "Sky Marlow");

    // The person makes their account with the code, and signs in with it.
    let made = server
        .send(
            Method::POST,
            "/v1/auth/accept-invitation",
            None,
            Some(json!({"code": code, "username": "sky",
                        "password": "a long and unguessable passphrase"})),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let signed_in = server
        .send(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"username": "sky", "password": "a long and unguessable passphrase"})),
        )
        .await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.text);
    assert_eq!(signed_in.body["user"]["person_id"], person.as_str());

    // Audited: the receipt, the read and the triage by the referral's id; the person's
    // creation as any person's is.
    let log = server.store.audit_after(0, 100_000).await.unwrap();
    let about_referral: Vec<(String, Option<String>, String)> = log
        .iter()
        .filter(|e| e.entry.resource == format!("referral:{referral}"))
        .map(|e| {
            (
                e.entry.action.clone(),
                e.entry.actor_id.clone(),
                e.entry.outcome.clone(),
            )
        })
        .collect();
    assert_eq!(
        about_referral,
        [
            ("create".to_owned(), None, "allowed".to_owned()),
            (
                "read".to_owned(),
                Some(priya.user_id.clone()),
                "allowed".to_owned()
            ),
            (
                "write".to_owned(),
                Some(priya.user_id.clone()),
                "allowed".to_owned()
            ),
        ]
    );
    let created = server
        .store
        .audit_for_subject(person.parse().unwrap(), None, 100)
        .await
        .unwrap();
    assert!(
        created
            .iter()
            .any(|e| e.record.entry.resource == "person" && e.record.entry.action == "create"),
        "{created:#?}"
    );
}

async fn a_referral_signposted_or_answered_as_a_crisis_and_the_team_told(backend: Backend) {
    let mut gateway = PushGateway::start().await;
    let server = TestServer::start_with(backend, {
        let mut settings = settings(1_000);
        settings.messaging.push = PushTarget::Webhook(gateway.url.clone());
        settings
    })
    .await
    .unwrap();
    let priya = server.login("priya").await;
    let jo = server.login("jo").await;
    server.register_device(&jo, "jo-phone").await;
    let morgan = server.login("morgan").await;
    let (west, north) = hubs(&server, &priya).await;

    // At the front door (no hub asked for): every practitioner on a team may triage it, and
    // hears of it.
    let front_door = refer_self(&server, "River Dale", None).await;
    for practitioner in [&priya, &morgan] {
        assert!(
            open_ids(&server, &practitioner.access_token)
                .await
                .contains(&front_door)
        );
        assert!(
            notified(&server, practitioner, "referral_received")
                .await
                .contains(&json!({"referral_id": front_door}))
        );
    }
    // It needs a hub to be taken by, one of the practitioner's.
    let no_team = triage(
        &server,
        &priya,
        &front_door,
        json!({"outcome": "signposted", "signposted_to": "Citizens Advice"}),
    )
    .await;
    assert_eq!(no_team.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        no_team.body["fields"][0],
        json!({"field": "team_id", "code": "required"})
    );
    let not_mine = triage(
        &server,
        &priya,
        &front_door,
        json!({"outcome": "signposted", "signposted_to": "Citizens Advice", "team_id": north}),
    )
    .await;
    assert_eq!(not_mine.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(not_mine.body["fields"][0]["code"], "not_your_team");
    let signposted = triage(
        &server,
        &priya,
        &front_door,
        json!({"outcome": "signposted", "signposted_to": " Citizens Advice ", "team_id": west}),
    )
    .await;
    assert_eq!(signposted.status, StatusCode::OK, "{}", signposted.text);
    assert_eq!(signposted.body["referral"]["outcome"], "signposted");
    assert_eq!(
        signposted.body["referral"]["signposted_to"],
        "Citizens Advice"
    );
    assert_eq!(signposted.body["referral"]["team_id"], west.as_str());
    assert!(signposted.body.get("invitation").is_none());
    assert!(signposted.body["referral"].get("person_id").is_none());
    // Now West's: North no longer sees it.
    let gone = server
        .get(&format!("/v1/referrals/{front_door}"), &morgan.access_token)
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND, "{}", gone.text);

    // A crisis: every member of West (priya and jo) is told at once; North is not.
    let crisis = refer_self(&server, "Ash Kerr", Some(&west)).await;
    let answered = triage(
        &server,
        &priya,
        &crisis,
        json!({"outcome": "crisis_response"}),
    )
    .await;
    assert_eq!(answered.status, StatusCode::OK, "{}", answered.text);
    assert_eq!(answered.body["referral"]["outcome"], "crisis_response");
    let told = json!({"referral_id": crisis, "team_id": west});
    for member in [&priya, &jo] {
        assert_eq!(
            notified(&server, member, "referral_crisis_response").await,
            std::slice::from_ref(&told)
        );
    }
    assert!(
        notified(&server, &morgan, "referral_crisis_response")
            .await
            .is_empty()
    );
    // Jo's phone is woken for it, by kind and ids only.
    let mut pushed = None;
    while let Some(push) = gateway.next(Duration::from_secs(5)).await {
        if push["kind"] == "referral_crisis_response" {
            pushed = Some(push);
            break;
        }
    }
    let pushed = pushed.expect("a push for the crisis response");
    assert_eq!(pushed["token"], "jo-phone");
    assert_eq!(pushed["data"], told);
}

async fn referrals_from_one_address_are_refused_past_its_limit(backend: Backend) {
    // The deployment's own limit: five at once, then five an hour.
    let server = TestServer::start_with(backend, {
        let mut settings = settings(1);
        settings.referrals.per_address_burst = ReferralSettings::default().per_address_burst;
        settings
    })
    .await
    .unwrap();
    let began = std::time::Instant::now();
    let mut answered = Vec::new();
    for n in 0..200 {
        let body = self_referral(&format!("Flood {n}"), None, proof(&server).await);
        let reply = server
            .send(Method::POST, "/v1/referrals", None, Some(body))
            .await;
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            let wait: u64 = reply.headers["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=3600).contains(&wait), "{wait}");
            assert_eq!(reply.code(), "rate_limited");
        }
        answered.push(reply.status);
    }
    assert!(
        began.elapsed() < Duration::from_secs(60),
        "{:?}",
        began.elapsed()
    );
    let taken = answered
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    assert_eq!(taken, 5, "{answered:?}");
    assert!(answered[..5].iter().all(|s| *s == StatusCode::CREATED));
    assert!(
        answered[5..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS)
    );
    // Another address has its own budget.
    let elsewhere = reqwest::Client::builder()
        .local_address(IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let body = self_referral("Someone else", None, proof(&server).await);
    let reply = read(elsewhere.post(server.url("/v1/referrals")).json(&body)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
}

async fn bad_referrals_are_refused_naming_the_field(backend: Backend) {
    let clock = ManualClock::new(chrono::Utc::now());
    let server = TestServer::start_with(backend, {
        let mut settings = settings(1_000);
        settings.clock = clock.clone().into();
        settings
    })
    .await
    .unwrap();
    let send = |body: Value| server.send(Method::POST, "/v1/referrals", None, Some(body));
    let fields = |reply: &Reply| -> Vec<(String, String)> {
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
    };

    // Nothing given: every field named at once.
    let empty = send(json!({})).await;
    assert_eq!(
        empty.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        empty.text
    );
    let mut named = fields(&empty);
    named.sort();
    assert_eq!(
        named,
        [
            ("consent_to_contact".into(), "consent_required".into()),
            ("contact".into(), "phone_or_email_required".into()),
            ("display_name".into(), "required".into()),
            ("help_wanted".into(), "required".into()),
            ("proof".into(), "required".into()),
        ]
    );

    // Each field wrong on its own, with a good proof beside it.
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "display_name",
            json!("x".repeat(121)),
            "display_name",
            "too_long",
        ),
        (
            "display_name",
            json!("Sky\u{202E}"),
            "display_name",
            "invalid_characters",
        ),
        (
            "help_wanted",
            json!("y".repeat(2_001)),
            "help_wanted",
            "too_long",
        ),
        (
            "help_wanted",
            json!("a\u{0}b"),
            "help_wanted",
            "contains_nul",
        ),
        (
            "consent_to_contact",
            json!(false),
            "consent_to_contact",
            "consent_required",
        ),
        (
            "contact",
            json!({"phone": "call me"}),
            "contact.phone",
            "invalid_phone",
        ),
        (
            "contact",
            json!({"email": "sky at home"}),
            "contact.email",
            "invalid_email",
        ),
        (
            "contact",
            json!({"email": "sky@example.org", "preferred": "phone"}),
            "contact.preferred",
            "invalid",
        ),
        (
            "contact",
            json!({"fax": "0117 496 0000"}),
            "contact.fax",
            "unknown_field",
        ),
        (
            "team_id",
            json!(uuid::Uuid::now_v7()),
            "team_id",
            "not_found",
        ),
        ("source", json!("partner"), "source", "unknown_field"),
    ];
    for (field, value, named, code) in cases {
        let mut body = self_referral("Sky", None, proof(&server).await);
        body[field] = value;
        let reply = send(body).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}: {}",
            reply.text
        );
        assert_eq!(
            fields(&reply),
            [(named.to_owned(), code.to_owned())],
            "{field}"
        );
    }

    // Proofs: missing, unsolved, forged, spent, expired.
    let mut unsolved = proof(&server).await;
    let counter = unsolved["solution"]["counter"].as_u64().unwrap();
    unsolved["solution"]["counter"] = json!(counter + 1);
    let mut forged = proof(&server).await;
    forged["challenge"]["parameters"]["keyPrefix"] = json!("00");
    let mut harder = proof(&server).await;
    harder["challenge"]["parameters"]["cost"] = json!(1_000_000_000_u64);
    for (what, bad) in [
        ("unsolved", unsolved),
        ("forged", forged),
        ("harder", harder),
    ] {
        let reply = send(self_referral("Sky", None, bad)).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{what}: {}",
            reply.text
        );
        assert_eq!(
            fields(&reply),
            [("proof".into(), "not_valid".into())],
            "{what}"
        );
    }
    let not_a_proof = send(self_referral("Sky", None, json!({"counter": 3}))).await;
    assert_eq!(not_a_proof.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        fields(&not_a_proof)[0].0.starts_with("proof"),
        "{}",
        not_a_proof.text
    );

    let spent = proof(&server).await;
    let first = send(self_referral("Sky", None, spent.clone())).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    let again = send(self_referral("Sky again", None, spent)).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text);
    assert_eq!(fields(&again), [("proof".into(), "taken".into())]);

    let late = proof(&server).await;
    clock.advance(chrono::Duration::minutes(11));
    let expired = send(self_referral("Sky", None, late)).await;
    assert_eq!(
        expired.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        expired.text
    );
    assert_eq!(fields(&expired), [("proof".into(), "expired".into())]);

    // A body past 16 KiB is refused before it is read.
    let mut huge = self_referral("Sky", None, proof(&server).await);
    huge["help_wanted"] = json!("z".repeat(20_000));
    let too_large = send(huge).await;
    assert_eq!(
        too_large.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        too_large.text
    );

    // Nothing refused was stored: the one referral taken is the only one there.
    let system = server.client_token(Some("referrals:read")).await;
    let listed = server.get("/v1/referrals", &system).await;
    assert_eq!(
        listed.body["referrals"].as_array().unwrap().len(),
        1,
        "{}",
        listed.text
    );
}

async fn a_partner_refers_through_a_staff_system_with_the_scope(backend: Backend) {
    let server = start(backend).await;
    let priya = server.login("priya").await;
    let (west, _) = hubs(&server, &priya).await;
    let body = json!({
        "referrer": "Dr A. Shah, Harbour Street Surgery",
        "display_name": "Kit Evans",
        "contact": {"email": "kit@example.org"},
        "help_wanted": "Low mood since losing work; agreed to be referred.",
        "consent_to_contact": true,
        "team_id": west,
    });

    let without = server.client_token(Some("people:read people:write")).await;
    let refused = server
        .post("/v1/referrals/partner", &without, body.clone())
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    assert_eq!(refused.code(), "insufficient_scope");
    assert_eq!(refused.body["required_scope"], "referrals:write");
    let account = server
        .post("/v1/referrals/partner", &priya.access_token, body.clone())
        .await;
    assert_eq!(account.status, StatusCode::FORBIDDEN, "{}", account.text);

    let system = server.client_token(Some("referrals:write")).await;
    let incomplete = server
        .post(
            "/v1/referrals/partner",
            &system,
            json!({"display_name": "Kit"}),
        )
        .await;
    assert_eq!(incomplete.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        incomplete.fields().contains(&"referrer".to_owned()),
        "{}",
        incomplete.text
    );
    let received = server.post("/v1/referrals/partner", &system, body).await;
    assert_eq!(received.status, StatusCode::CREATED, "{}", received.text);
    let referral = received.body["id"].as_str().unwrap();

    let shown = server
        .get(&format!("/v1/referrals/{referral}"), &priya.access_token)
        .await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.text);
    assert_eq!(shown.body["source"], "partner");
    assert_eq!(shown.body["referrer"], "Dr A. Shah, Harbour Street Surgery");
    assert_eq!(
        shown.body["referrer_client_id"],
        livingwell_server::demo::CLIENT_ID
    );

    // Staff systems read every referral with `referrals:read`, and triage none.
    let reader = server.client_token(Some("referrals:read")).await;
    assert!(
        open_ids(&server, &reader)
            .await
            .contains(&referral.to_owned())
    );
    let unread = server.get("/v1/referrals", &without).await;
    assert_eq!(unread.status, StatusCode::FORBIDDEN);
    assert_eq!(unread.body["required_scope"], "referrals:read");
    let everything = server
        .client_token(Some("referrals:read referrals:write"))
        .await;
    let by_machine = server
        .send(
            Method::PATCH,
            &format!("/v1/referrals/{referral}"),
            Some(&everything),
            Some(json!({"outcome": "accepted"})),
        )
        .await;
    assert_eq!(
        by_machine.status,
        StatusCode::FORBIDDEN,
        "{}",
        by_machine.text
    );
}

async fn triage_is_for_the_holding_teams_practitioners_and_happens_once(backend: Backend) {
    let server = start(backend).await;
    let priya = server.login("priya").await;
    let morgan = server.login("morgan").await;
    let jo = server.login("jo").await;
    let alex = server.login("alex").await;
    let (west, _) = hubs(&server, &priya).await;
    let referral = refer_self(&server, "Sol Hart", Some(&west)).await;
    let path = format!("/v1/referrals/{referral}");

    // Another team's practitioner: as if there were no such referral.
    let read = server.get(&path, &morgan.access_token).await;
    assert_eq!(read.status, StatusCode::NOT_FOUND, "{}", read.text);
    let triaged = triage(&server, &morgan, &referral, json!({"outcome": "accepted"})).await;
    assert_eq!(triaged.status, StatusCode::NOT_FOUND, "{}", triaged.text);
    // Not practitioners: refused.
    for other in [&jo, &alex] {
        let refused = triage(&server, other, &referral, json!({"outcome": "accepted"})).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
        let listed = server.get("/v1/referrals", &other.access_token).await;
        assert_eq!(listed.status, StatusCode::FORBIDDEN, "{}", listed.text);
    }
    // The refusals are audited as such.
    let log = server.store.audit_after(0, 100_000).await.unwrap();
    let denied: Vec<&str> = log
        .iter()
        .filter(|e| e.entry.resource == format!("referral:{referral}"))
        .filter(|e| e.entry.outcome == "denied")
        .filter_map(|e| e.entry.actor_id.as_deref())
        .collect();
    assert!(denied.contains(&morgan.user_id.as_str()), "{denied:?}");
    let unknown = server
        .get(
            &format!("/v1/referrals/{}", uuid::Uuid::now_v7()),
            &priya.access_token,
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    // Once: the second triage names the first outcome, and changes nothing.
    let first = triage(&server, &priya, &referral, json!({"outcome": "accepted"})).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    for again in [
        json!({"outcome": "signposted", "signposted_to": "GP"}),
        json!({"outcome": "accepted"}),
    ] {
        let second = triage(&server, &priya, &referral, again).await;
        assert_eq!(second.status, StatusCode::CONFLICT, "{}", second.text);
        assert_eq!(
            second.body["fields"],
            json!([{"field": "outcome", "code": "already_accepted"}])
        );
    }
    let kept = server.get(&path, &priya.access_token).await;
    assert_eq!(kept.body["outcome"], "accepted");
    assert_eq!(kept.body["person_id"], first.body["referral"]["person_id"]);

    // Two acceptances at once: one takes it, the other is told so; one person is made.
    let raced = refer_self(&server, "Bay Rowe", Some(&west)).await;
    let accept = json!({"outcome": "accepted"});
    let (one, other) = tokio::join!(
        triage(&server, &priya, &raced, accept.clone()),
        triage(&server, &priya, &raced, accept.clone()),
    );
    let mut statuses = [one.status, other.status];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::CONFLICT],
        "{} / {}",
        one.text,
        other.text
    );
    let caseload = server
        .get(&format!("/v1/teams/{west}/caseload"), &priya.access_token)
        .await;
    let made = caseload.body["people"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["display_name"] == "Bay Rowe")
        .count();
    assert_eq!(made, 1, "{}", caseload.text);
}

/// A case system's webhook endpoint: keeps the bodies it is sent.
async fn receiver() -> (String, Arc<Mutex<Vec<String>>>, tokio::task::JoinHandle<()>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let kept = received.clone();
    let app = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move |body: String| {
            let kept = kept.clone();
            async move {
                kept.lock().unwrap().push(body);
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, received, server)
}

async fn a_referral_received_is_told_to_subscribed_staff_systems_and_the_hub(backend: Backend) {
    let server = TestServer::start_with(backend, {
        let mut settings = settings(1_000);
        settings.webhooks = WebhookSettings {
            allow_private_targets: true,
            ..WebhookSettings::default()
        };
        settings
    })
    .await
    .unwrap();
    let priya = server.login("priya").await;
    let morgan = server.login("morgan").await;
    let (west, _) = hubs(&server, &priya).await;
    let (url, received, receiving) = receiver().await;

    // Subscribing to referral kinds needs `referrals:read`.
    let manager = server.client_token(Some("webhooks:manage")).await;
    let refused = server
        .post(
            "/v1/webhooks",
            &manager,
            json!({"url": url, "kinds": ["referral_received"]}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    assert_eq!(refused.body["required_scope"], "referrals:read");
    let system = server
        .client_token(Some("webhooks:manage referrals:read"))
        .await;
    let subscribed = server
        .post(
            "/v1/webhooks",
            &system,
            json!({"url": url, "kinds": ["referral_received", "referral_crisis_response"]}),
        )
        .await;
    assert_eq!(
        subscribed.status,
        StatusCode::CREATED,
        "{}",
        subscribed.text
    );
    let subscription = subscribed.body["subscription"]["id"].as_str().unwrap();

    let referral = refer_self(&server, "Wren Ode", Some(&west)).await;

    // The hub's practitioners are told (ids only); another hub's are not.
    assert_eq!(
        notified(&server, &priya, "referral_received").await,
        [json!({"referral_id": referral})]
    );
    assert!(
        notified(&server, &morgan, "referral_received")
            .await
            .is_empty()
    );

    // The subscribed staff system is sent it: the referral's id, nothing it says.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let body = loop {
        let got = received.lock().unwrap().first().cloned();
        if let Some(body) = got {
            break body;
        }
        assert!(tokio::time::Instant::now() < deadline, "no delivery");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    let delivered: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(delivered["type"], "referral_received");
    assert_eq!(delivered["data"]["referral_id"], referral.as_str());
    assert!(!body.contains("Wren"), "{body}");
    assert!(!body.contains("sleeping"), "{body}");
    let deliveries = server
        .get(&format!("/v1/webhooks/{subscription}/deliveries"), &system)
        .await;
    assert_eq!(deliveries.status, StatusCode::OK, "{}", deliveries.text);
    assert_eq!(
        deliveries.body["deliveries"][0]["kind"],
        "referral_received"
    );
    receiving.abort();
}

/// The performance report counts the front door's referrals: by source and outcome where five
/// or more people are behind a figure ("< 5" where fewer are), and the hours from receipt to
/// triage.
async fn the_report_counts_referrals_by_outcome_and_their_time_to_triage(backend: Backend) {
    let clock = ManualClock::new(chrono::Utc::now());
    let server = TestServer::start_with(backend, {
        let mut settings = settings(1_000);
        settings.clock = clock.clone().into();
        settings
    })
    .await
    .unwrap();
    let priya = server.login("priya").await;
    let (west, _) = hubs(&server, &priya).await;
    let mut referrals = Vec::new();
    for n in 0..8 {
        referrals.push(refer_self(&server, &format!("Referred {n}"), Some(&west)).await);
    }
    // Triage three hours later (signed in again: the clock has moved past the first token).
    clock.advance(chrono::Duration::hours(3));
    let priya = server.login("priya").await;
    for referral in &referrals[..6] {
        let accepted = triage(&server, &priya, referral, json!({"outcome": "accepted"})).await;
        assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.text);
    }
    let signposted = json!({"outcome": "signposted", "signposted_to": "Citizens Advice"});
    let reply = triage(&server, &priya, &referrals[6], signposted).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let crisis = json!({"outcome": "crisis_response"});
    let reply = triage(&server, &priya, &referrals[7], crisis).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);

    // A period around today, whichever side of midnight London is on.
    let today = clock.now().date_naive();
    let (from, to) = (today.pred_opt().unwrap(), today.succ_opt().unwrap());
    let report = server
        .get(
            &format!("/v1/reports/performance?from={from}&to={to}&team={west}"),
            &priya.access_token,
        )
        .await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.text);
    let referrals = &report.body["referrals"];
    assert_eq!(referrals["received"], 8);
    assert_eq!(referrals["triaged"], 8);
    assert_eq!(referrals["median_hours_to_triage"], 3.0);
    assert_eq!(referrals["p90_hours_to_triage"], 3.0);
    let cell = |source: &str, outcome: &str| {
        referrals["by_source_and_outcome"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["source"] == source && c["outcome"] == outcome)
            .unwrap()["referrals"]
            .clone()
    };
    assert_eq!(cell("self", "accepted"), 6);
    // One signposted and one crisis response: each rests on fewer than five people.
    assert_eq!(cell("self", "signposted"), "< 5");
    assert_eq!(cell("self", "crisis_response"), "< 5");
}
