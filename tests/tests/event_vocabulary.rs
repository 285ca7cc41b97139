//! One vocabulary of events: the served OpenAPI document describes every kind with its data,
//! and what a device is sent reads back as `core`'s typed events.

use livingwell_core::api::events::{
    CrisisActivationData, Event, EventKind, EventView, MessageCreatedData, PlanVersionData,
};
use livingwell_tests::{Backend, TestServer, on_both_databases};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_databases!(
    the_served_schema_describes_every_kind_of_event_and_its_data,
    notifications_read_back_as_typed_events,
);

async fn the_served_schema_describes_every_kind_of_event_and_its_data(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let document: Value = server
        .http
        .get(server.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let schemas = &document["components"]["schemas"];
    // A notification (and each event sent on the stream) carries an event beside its id and
    // time: each kind, flat, as sent, with its data described.
    let views = schemas["EventView"]["oneOf"]
        .as_array()
        .expect("EventView is one of the kinds");
    let mut described = Vec::new();
    for view in views {
        let kind = view["properties"]["kind"]["enum"][0].as_str().unwrap();
        let required = view["required"].as_array().unwrap();
        for field in ["id", "kind", "data", "at"] {
            assert!(required.contains(&json!(field)), "{field} in {kind}");
        }
        let data = view["properties"]["data"]["$ref"].as_str().unwrap();
        let name = data.trim_start_matches("#/components/schemas/");
        assert!(
            schemas[name]["properties"].is_object(),
            "{kind}'s data {name} is described"
        );
        described.push(kind.to_owned());
    }
    let every: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(described, every);
}

async fn notifications_read_back_as_typed_events(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let alex = server.login("alex").await;
    let priya = server.login("priya").await;
    let jo = server.login("jo").await;
    let person = alex.person_id.clone().unwrap();

    let plan_path = format!("/v1/people/{person}/enablement-plan");
    let plan = server.get(&plan_path, &priya.access_token).await.body["plan"].clone();
    let stored = server
        .put(
            &plan_path,
            &priya.access_token,
            json!({"base_version": 1, "plan": plan}),
        )
        .await;
    assert_eq!(stored.status, StatusCode::OK, "{}", stored.text);
    let activated = server
        .post(
            &format!("/v1/people/{person}/crisis-plan/activation"),
            &priya.access_token,
            json!({"reason": "Not sleeping"}),
        )
        .await;
    assert_eq!(activated.status, StatusCode::CREATED, "{}", activated.text);
    let conversation = server.peer_conversation(&jo.access_token).await;
    let sent = server
        .post(
            &format!("/v1/conversations/{conversation}/messages"),
            &jo.access_token,
            json!({"client_id": uuid::Uuid::now_v7().to_string(), "body": "Hello"}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.text);

    let listed = server.get("/v1/notifications", &alex.access_token).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    let events: Vec<EventView> =
        serde_json::from_value(listed.body["notifications"].clone()).expect("typed events");
    let told: Vec<&Event> = events.iter().map(|e| &e.event).collect();
    let activation_id = activated.body["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        told,
        [
            &Event::EnablementPlanUpdated(PlanVersionData { version: 2 }),
            &Event::CrisisPlanActivated(CrisisActivationData { activation_id }),
            &Event::MessageCreated(MessageCreatedData {
                conversation_id: conversation.parse().unwrap(),
                message_id: sent.body["id"].as_str().unwrap().parse().unwrap(),
                seq: sent.body["seq"].as_i64().unwrap(),
            }),
        ]
    );
    assert!(
        events
            .iter()
            .all(|e| e.person_id.map(|p| p.to_string()) == Some(person.clone()))
    );
}
