//! Push to a closed app: a crisis plan put into use, an appointment change and a new message
//! reach the registered devices of those who should know, as kind and ids only, and stop at
//! sign-out.

use std::time::Duration;

use chrono::Utc;
use livingwell_server::http::{PushTarget, Settings};
use livingwell_tests::{Backend, PushGateway, TestServer, on_both_databases};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_databases!(
    a_crisis_reaches_a_supporters_phone_until_they_sign_out,
    an_appointment_change_reaches_the_persons_phone,
    a_waitlist_offer_reaches_the_phone_of_the_person_offered,
    a_disabled_account_gets_no_pushes,
    a_device_is_registered_only_with_a_valid_token,
);

const SOON: Duration = Duration::from_secs(5);

async fn start(backend: Backend) -> (TestServer, PushGateway) {
    let gateway = PushGateway::start().await;
    let mut settings = Settings::default();
    settings.messaging.push = PushTarget::Webhook(gateway.url.clone());
    (
        TestServer::start_with(backend, settings).await.unwrap(),
        gateway,
    )
}

/// Pushes until one to `token` arrives (others may be on their way to other phones).
async fn push_to(gateway: &mut PushGateway, token: &str) -> Option<Value> {
    while let Some(push) = gateway.next(SOON).await {
        if push["token"] == token {
            return Some(push);
        }
    }
    None
}

async fn a_crisis_reaches_a_supporters_phone_until_they_sign_out(backend: Backend) {
    let (server, mut gateway) = start(backend).await;
    let alex = server.login("alex").await;
    let sam = server.login("sam").await;
    let priya = server.login("priya").await;
    server.register_device(&sam, "sam-phone").await;
    server.register_device(&priya, "priya-phone").await;
    let person = alex.person_id.clone().unwrap();
    let activation = format!("/v1/people/{person}/crisis-plan/activation");

    let activated = server
        .post(
            &activation,
            &alex.access_token,
            json!({"reason": "Voices are loud tonight"}),
        )
        .await;
    assert_eq!(activated.status, StatusCode::CREATED, "{}", activated.text);
    let push = push_to(&mut gateway, "sam-phone")
        .await
        .expect("sam's phone woken");
    assert_eq!(push["kind"], "crisis_plan_activated");
    assert_eq!(push["recipient_id"], sam.user_id.as_str());
    assert_eq!(push["data"]["activation_id"], activated.body["id"]);
    let text = push.to_string();
    for private in ["Voices", "Alex", "Sam"] {
        assert!(!text.contains(private), "{text}");
    }

    // Signed out: the next crisis wakes priya's phone and not sam's.
    let out = server
        .post("/v1/auth/logout", &sam.access_token, json!({}))
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT, "{}", out.text);
    let ended = server.delete(&activation, &alex.access_token).await;
    assert_eq!(ended.status, StatusCode::OK, "{}", ended.text);
    let again = server
        .post(&activation, &alex.access_token, json!({"reason": "Again"}))
        .await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.text);
    let mut woken = Vec::new();
    while let Some(push) = gateway.next(Duration::from_secs(2)).await {
        woken.push(push["token"].as_str().unwrap_or_default().to_owned());
    }
    assert!(woken.contains(&"priya-phone".to_owned()), "{woken:?}");
    assert!(!woken.contains(&"sam-phone".to_owned()), "{woken:?}");
}

async fn an_appointment_change_reaches_the_persons_phone(backend: Backend) {
    let (server, mut gateway) = start(backend).await;
    let alex = server.login("alex").await;
    let priya = server.login("priya").await;
    server.register_device(&alex, "alex-phone").await;
    let person = alex.person_id.clone().unwrap();
    let starts = Utc::now() + chrono::Duration::days(5);
    let created = server
        .post(
            &format!("/v1/people/{person}/appointments"),
            &priya.access_token,
            json!({
                "kind": "review",
                "title": "Plan review",
                "starts_at": starts,
                "ends_at": starts + chrono::Duration::hours(1),
                "location": {"type": "phone"},
            }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let push = push_to(&mut gateway, "alex-phone")
        .await
        .expect("alex's phone woken");
    assert_eq!(push["kind"], "appointment_changed");
    assert_eq!(push["data"]["appointment_id"], created.body["id"]);
    assert!(!push.to_string().contains("review"), "{push}");
}

async fn a_device_is_registered_only_with_a_valid_token(backend: Backend) {
    let (server, _gateway) = start(backend).await;
    let alex = server.login("alex").await;
    for (body, field) in [
        (json!({"platform": "fcm", "token": ""}), "token"),
        (json!({"platform": "fcm", "token": "two words"}), "token"),
        (json!({"platform": "pager", "token": "abc"}), "platform"),
    ] {
        let refused = server.post("/v1/devices", &alex.access_token, body).await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            refused.text
        );
        assert!(
            refused.fields().iter().any(|f| f.starts_with(field)),
            "{}",
            refused.text
        );
    }
    let removed = server.delete("/v1/devices", &alex.access_token).await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
}

async fn a_waitlist_offer_reaches_the_phone_of_the_person_offered(backend: Backend) {
    let (server, mut gateway) = start(backend).await;
    let alex = server.login("alex").await;
    let robin = server.login("robin").await;
    let priya = server.login("priya").await;
    server.register_device(&robin, "robin-phone").await;
    let person = alex.person_id.clone().unwrap();
    let team = server
        .get(&format!("/v1/people/{person}"), &priya.access_token)
        .await
        .body["team_id"]
        .clone();
    let programme = server
        .new_programme(&priya, team.as_str().unwrap(), "One place", 1)
        .await;
    let bookings = format!("/v1/programmes/{programme}/bookings");
    let place = server.post(&bookings, &alex.access_token, json!({})).await;
    assert_eq!(place.status, StatusCode::CREATED, "{}", place.text);
    let waiting = server.post(&bookings, &robin.access_token, json!({})).await;
    assert_eq!(waiting.status, StatusCode::CREATED, "{}", waiting.text);
    assert_eq!(waiting.body["status"], "waitlisted", "{}", waiting.text);

    let cancelled = server
        .delete(
            &format!("{bookings}/{}", place.body["id"].as_str().unwrap()),
            &alex.access_token,
        )
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.text);
    let push = push_to(&mut gateway, "robin-phone")
        .await
        .expect("robin's phone woken");
    assert_eq!(push["kind"], "waitlist_place_offered");
    assert_eq!(push["data"]["booking_id"], waiting.body["id"]);
}

async fn a_disabled_account_gets_no_pushes(backend: Backend) {
    let (server, mut gateway) = start(backend).await;
    let alex = server.login("alex").await;
    let sam = server.login("sam").await;
    let priya = server.login("priya").await;
    let admin = server.login("admin").await;
    server.register_device(&sam, "sam-phone").await;
    server.register_device(&priya, "priya-phone").await;
    let disabled = server
        .post(
            &format!("/v1/users/{}/disable", sam.user_id),
            &admin.access_token,
            json!({}),
        )
        .await;
    assert_eq!(disabled.status, StatusCode::NO_CONTENT, "{}", disabled.text);
    let person = alex.person_id.clone().unwrap();
    let activated = server
        .post(
            &format!("/v1/people/{person}/crisis-plan/activation"),
            &alex.access_token,
            json!({"reason": "Struggling"}),
        )
        .await;
    assert_eq!(activated.status, StatusCode::CREATED, "{}", activated.text);
    let mut woken = Vec::new();
    while let Some(push) = gateway.next(Duration::from_secs(2)).await {
        woken.push(push["token"].as_str().unwrap_or_default().to_owned());
    }
    assert!(woken.contains(&"priya-phone".to_owned()), "{woken:?}");
    assert!(!woken.contains(&"sam-phone".to_owned()), "{woken:?}");
}
