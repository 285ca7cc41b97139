//! The access matrix of SPEC §2, cell by cell, through HTTP.
//!
//! Subject: alex. Every row is one resource and action, tried by every kind of caller: the
//! person, a carer with consent, a linked carer without one, a carer whose consent was revoked,
//! the allocated peer worker (with and without the person's sharing), a peer worker not
//! allocated, a practitioner on alex's team, one elsewhere (before and after breaking glass), a
//! staff system with and without the scope, and an admin. "None" is 404; a known record with
//! the wrong action is 403.

use chrono::{Duration, Utc};
use livingwell_core::domain::StaffScope;
use livingwell_server::auth::passwords;
use livingwell_server::store::OAuthClientRecord;
use livingwell_tests::{Backend, Reply, TestServer, on_both_databases, read};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_databases!(every_cell_of_the_access_matrix_holds);

/// Who is calling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Person,
    CarerWithConsent,
    CarerWithoutConsent,
    CarerRevoked,
    PeerAllocated,
    PeerNotAllocated,
    PractitionerOnTeam,
    PractitionerElsewhere,
    StaffSystem,
    StaffSystemWithoutScope,
    /// A staff system that holds only `audit:read`.
    AuditSystem,
    Admin,
}

const EVERYONE: [Who; 12] = [
    Who::Person,
    Who::CarerWithConsent,
    Who::CarerWithoutConsent,
    Who::CarerRevoked,
    Who::PeerAllocated,
    Who::PeerNotAllocated,
    Who::PractitionerOnTeam,
    Who::PractitionerElsewhere,
    Who::StaffSystem,
    Who::StaffSystemWithoutScope,
    Who::AuditSystem,
    Who::Admin,
];

/// One row of the matrix: a request made on alex's record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Row {
    EnablementPlanRead,
    EnablementPlanSummaryRead,
    EnablementPlanWrite,
    EnablementPlanComment,
    EnablementPlanAgree,
    WrapRead,
    WrapWrite,
    CrisisPlanRead,
    CrisisPlanActivate,
    AppointmentsRead,
    AppointmentsWrite,
    AppointmentRespond,
    MessagesRead,
    AccessLogRead,
    ConsentGrant,
    ConsentRevoke,
}

struct World {
    server: TestServer,
    person: String,
    team: String,
    tokens: Vec<(Who, String)>,
    /// Alex's own token, for setting things up between requests.
    alex: String,
    casey_id: String,
    appointment: String,
    peer_conversation: String,
    /// Sam's consent, which no one but alex may revoke.
    sams_consent: String,
}

impl World {
    fn token(&self, who: Who) -> &str {
        &self
            .tokens
            .iter()
            .find(|(w, _)| *w == who)
            .expect("a token for every caller")
            .1
    }

    fn path(&self, rest: &str) -> String {
        format!("/v1/people/{}{rest}", self.person)
    }

    async fn current_version(&self, rest: &str) -> i64 {
        let reply = self.server.get(&self.path(rest), &self.alex).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply.body["version"].as_i64().expect("a version")
    }

    async fn send(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> Reply {
        self.server.send(method, path, Some(token), body).await
    }

    /// Makes the row's request as `who`, and puts back what an allowed one changed that
    /// later rows rely on.
    async fn attempt(&self, row: Row, who: Who) -> StatusCode {
        let token = self.token(who);
        match row {
            Row::EnablementPlanRead => {
                self.server
                    .get(&self.path("/enablement-plan"), token)
                    .await
                    .status
            }
            Row::EnablementPlanSummaryRead => {
                self.server
                    .get(&self.path("/enablement-plan/summary"), token)
                    .await
                    .status
            }
            Row::EnablementPlanWrite => {
                let current = self
                    .server
                    .get(&self.path("/enablement-plan"), &self.alex)
                    .await;
                let body = json!({
                    "base_version": current.body["version"],
                    "plan": current.body["plan"],
                });
                self.send(
                    Method::PUT,
                    &self.path("/enablement-plan"),
                    token,
                    Some(body),
                )
                .await
                .status
            }
            Row::EnablementPlanComment => {
                let body = json!({"section": "goals", "body": "I'd like to add a goal."});
                self.server
                    .post(&self.path("/enablement-plan/comments"), token, body)
                    .await
                    .status
            }
            Row::EnablementPlanAgree => {
                let version = self.current_version("/enablement-plan").await;
                self.server
                    .post(
                        &self.path("/enablement-plan/agreement"),
                        token,
                        json!({ "version": version }),
                    )
                    .await
                    .status
            }
            Row::WrapRead => self.server.get(&self.path("/wrap"), token).await.status,
            Row::WrapWrite => {
                let current = self.server.get(&self.path("/wrap"), &self.alex).await;
                let body = json!({
                    "base_version": current.body["version"],
                    "wrap": current.body["wrap"],
                });
                self.send(Method::PUT, &self.path("/wrap"), token, Some(body))
                    .await
                    .status
            }
            Row::CrisisPlanRead => {
                self.server
                    .get(&self.path("/crisis-plan"), token)
                    .await
                    .status
            }
            Row::CrisisPlanActivate => {
                let path = self.path("/crisis-plan/activation");
                let reply = self
                    .server
                    .post(&path, token, json!({"reason": "Not sleeping"}))
                    .await;
                if reply.status == StatusCode::CREATED {
                    let ended = self.server.delete(&path, token).await;
                    assert_eq!(ended.status, StatusCode::OK, "{}", ended.text);
                }
                reply.status
            }
            Row::AppointmentsRead => {
                self.server
                    .get(&self.path("/appointments"), token)
                    .await
                    .status
            }
            Row::AppointmentsWrite => {
                let starts_at = Utc::now() + Duration::days(3);
                let body = json!({
                    "kind": "review",
                    "starts_at": starts_at,
                    "ends_at": starts_at + Duration::minutes(30),
                    "location": {"type": "hub", "team_id": self.team},
                });
                self.server
                    .post(&self.path("/appointments"), token, body)
                    .await
                    .status
            }
            Row::AppointmentRespond => {
                self.server
                    .post(
                        &format!("/v1/appointments/{}/response", self.appointment),
                        token,
                        json!({"action": "confirm"}),
                    )
                    .await
                    .status
            }
            Row::MessagesRead => {
                self.server
                    .get(
                        &format!("/v1/conversations/{}/messages", self.peer_conversation),
                        token,
                    )
                    .await
                    .status
            }
            Row::AccessLogRead => {
                self.server
                    .get(&self.path("/access-log"), token)
                    .await
                    .status
            }
            Row::ConsentGrant => {
                let reply = self
                    .server
                    .post(
                        &self.path("/consents"),
                        token,
                        json!({"carer_id": self.casey_id, "scopes": ["crisis_plan", "appointments"]}),
                    )
                    .await;
                if reply.status == StatusCode::CREATED {
                    // Casey stays the carer without consent for the rows that follow.
                    let id = reply.body["id"].as_str().expect("consent id");
                    let revoked = self
                        .server
                        .delete(&self.path(&format!("/consents/{id}")), &self.alex)
                        .await;
                    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
                }
                reply.status
            }
            Row::ConsentRevoke => {
                let reply = self
                    .server
                    .delete(
                        &self.path(&format!("/consents/{}", self.sams_consent)),
                        token,
                    )
                    .await;
                reply.status
            }
        }
    }
}

/// The expected answer of each caller for a row, in the order of [`EVERYONE`].
fn expected(row: Row) -> [u16; 12] {
    use Row::*;
    // person, carer+, carer-, carer revoked, peer, peer elsewhere, team, elsewhere, system,
    // system without the scope, audit system, admin
    match row {
        EnablementPlanRead => [200, 200, 404, 404, 404, 404, 200, 404, 200, 403, 403, 404],
        EnablementPlanSummaryRead => [200, 200, 404, 404, 200, 404, 200, 404, 200, 403, 403, 404],
        EnablementPlanWrite => [403, 403, 404, 404, 404, 404, 200, 404, 200, 403, 403, 404],
        EnablementPlanComment => [201, 403, 404, 404, 404, 404, 201, 404, 201, 403, 403, 404],
        EnablementPlanAgree => [201, 201, 404, 404, 404, 404, 403, 404, 403, 403, 403, 404],
        WrapRead => [200, 404, 404, 404, 404, 404, 200, 404, 200, 403, 403, 404],
        WrapWrite => [200, 404, 404, 404, 404, 404, 403, 404, 200, 403, 403, 404],
        CrisisPlanRead => [200, 200, 404, 404, 200, 404, 200, 404, 200, 403, 403, 404],
        CrisisPlanActivate => [201, 201, 404, 404, 403, 404, 201, 404, 201, 403, 403, 404],
        AppointmentsRead => [200, 200, 404, 404, 200, 404, 200, 404, 200, 403, 403, 404],
        AppointmentsWrite => [403, 403, 404, 404, 403, 404, 201, 404, 201, 403, 403, 404],
        AppointmentRespond => [200, 403, 404, 404, 403, 404, 403, 404, 200, 403, 403, 404],
        // Staff systems never see conversations: a token for the app audience is needed.
        MessagesRead => [200, 404, 404, 404, 200, 404, 200, 404, 403, 403, 403, 404],
        // The case system is not given `audit:read`; the audit system has only that.
        AccessLogRead => [200, 404, 404, 404, 404, 404, 200, 404, 403, 403, 200, 404],
        // Only the person shares, or ends sharing.
        ConsentGrant => [201, 403, 404, 404, 403, 404, 403, 404, 403, 403, 403, 404],
        ConsentRevoke => [204, 403, 404, 404, 403, 404, 403, 404, 403, 403, 403, 404],
    }
}

const ROWS: [Row; 16] = [
    Row::EnablementPlanRead,
    Row::EnablementPlanSummaryRead,
    Row::EnablementPlanWrite,
    Row::EnablementPlanComment,
    Row::EnablementPlanAgree,
    Row::WrapRead,
    Row::WrapWrite,
    Row::CrisisPlanRead,
    Row::CrisisPlanActivate,
    Row::AppointmentsRead,
    Row::AppointmentsWrite,
    Row::AppointmentRespond,
    Row::MessagesRead,
    Row::AccessLogRead,
    Row::ConsentGrant,
    // Last: the person's own revocation ends sam's consent.
    Row::ConsentRevoke,
];

/// A token for a second staff system, registered with `audit:read` only.
async fn audit_system_token(server: &TestServer) -> String {
    server
        .store
        .create_client(&OAuthClientRecord {
            client_id: "audit-system".into(),
            name: "Information governance".into(),
            secret_hash: passwords::hash("audit-system-secret".into()).await.unwrap(),
            scopes: [StaffScope::AuditRead].into(),
            created_at: livingwell_server::clock::Clock::System.now(),
            disabled_at: None,
            previous_secret: None,
            requests_per_minute: None,
        })
        .await
        .unwrap();
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "audit-system"),
        ("client_secret", "audit-system-secret"),
    ];
    let reply = read(server.http.post(server.url("/oauth/token")).form(&form)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.body["access_token"].as_str().unwrap().to_owned()
}

/// Signs in a new account made by the admin.
async fn new_account(
    server: &TestServer,
    admin: &str,
    username: &str,
    role: &str,
) -> (String, String) {
    let created = server
        .post(
            "/v1/users",
            admin,
            json!({
                "username": username,
                "password": livingwell_tests::PASSWORD,
                "role": role,
                "display_name": format!("Test {username}"),
            }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let session = server.login(username).await;
    (session.user_id, session.access_token)
}

async fn world(backend: Backend) -> World {
    let server = TestServer::start(backend).await.unwrap();
    let alex = server.login("alex").await;
    let person = alex.person_id.clone().unwrap();
    let admin = server.login("admin").await.access_token;
    let sam = server.login("sam").await;
    let jo = server.login("jo").await;
    let priya = server.login("priya").await.access_token;
    let morgan = server.login("morgan").await.access_token;
    let team = server
        .get(&format!("/v1/people/{person}"), &priya)
        .await
        .body["team_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Two more carers, both linked by alex: one never given consent, one whose was revoked.
    let (casey_id, casey) = new_account(&server, &admin, "casey", "carer").await;
    let (dana_id, dana) = new_account(&server, &admin, "dana", "carer").await;
    let (_, pat) = new_account(&server, &admin, "pat", "peer_worker").await;
    for carer in [&casey_id, &dana_id] {
        let linked = server
            .post(
                &format!("/v1/people/{person}/carers"),
                &alex.access_token,
                json!({"carer_id": carer}),
            )
            .await;
        assert_eq!(linked.status, StatusCode::CREATED, "{}", linked.text);
    }
    let consents = format!("/v1/people/{person}/consents");
    let granted = server
        .post(
            &consents,
            &alex.access_token,
            json!({"carer_id": dana_id, "scopes": ["crisis_plan"]}),
        )
        .await;
    assert_eq!(granted.status, StatusCode::CREATED, "{}", granted.text);
    let revoked = server
        .delete(
            &format!("{consents}/{}", granted.body["id"].as_str().unwrap()),
            &alex.access_token,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);

    // Sam: everything a carer can be given, in one consent in place of the demo's.
    let demo_consents = server.get(&consents, &alex.access_token).await;
    for consent in demo_consents.body.as_array().unwrap() {
        let id = consent["id"].as_str().unwrap();
        let ended = server
            .delete(&format!("{consents}/{id}"), &alex.access_token)
            .await;
        assert!(ended.status == StatusCode::NO_CONTENT || consent["revoked_at"].is_string());
    }
    let for_sam = server
        .post(
            &consents,
            &alex.access_token,
            json!({
                "carer_id": sam.user_id,
                "scopes": ["crisis_plan", "crisis_plan_activation", "appointments", "enablement_plan"],
            }),
        )
        .await;
    assert_eq!(for_sam.status, StatusCode::CREATED, "{}", for_sam.text);
    let sams_consent = for_sam.body["id"].as_str().unwrap().to_owned();

    let appointments = server
        .get(
            &format!("/v1/people/{person}/appointments"),
            &alex.access_token,
        )
        .await;
    let appointment = appointments.body["appointments"][0]["id"]
        .as_str()
        .expect("alex has appointments")
        .to_owned();
    let conversations = server.get("/v1/conversations", &alex.access_token).await;
    let peer_conversation = conversations.body["conversations"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["kind"] == "peer"))
        .and_then(|c| c["id"].as_str())
        .expect("alex's conversation with jo")
        .to_owned();

    let staff = server
        .client_token(Some(
            "people:read plans:read plans:write appointments:read appointments:write",
        ))
        .await;
    let staff_without_scope = server.client_token(Some("people:read")).await;
    let auditor = audit_system_token(&server).await;
    World {
        tokens: vec![
            (Who::Person, alex.access_token.clone()),
            (Who::CarerWithConsent, sam.access_token),
            (Who::CarerWithoutConsent, casey),
            (Who::CarerRevoked, dana),
            (Who::PeerAllocated, jo.access_token),
            (Who::PeerNotAllocated, pat),
            (Who::PractitionerOnTeam, priya),
            (Who::PractitionerElsewhere, morgan),
            (Who::StaffSystem, staff),
            (Who::AuditSystem, auditor),
            (Who::StaffSystemWithoutScope, staff_without_scope),
            (Who::Admin, admin),
        ],
        alex: alex.access_token,
        server,
        person,
        team,
        casey_id,
        appointment,
        peer_conversation,
        sams_consent,
    }
}

async fn every_cell_of_the_access_matrix_holds(backend: Backend) {
    let w = world(backend).await;

    // Before alex shares anything with jo, the peer worker's shared cells are closed.
    for (row, status) in [
        (Row::CrisisPlanRead, 404),
        (Row::EnablementPlanSummaryRead, 404),
        (Row::CrisisPlanActivate, 404),
    ] {
        assert_eq!(
            w.attempt(row, Who::PeerAllocated).await.as_u16(),
            status,
            "{row:?} by the peer worker before sharing"
        );
    }
    let shared = w
        .server
        .post(
            &w.path("/consents"),
            &w.alex,
            json!({
                "peer_worker_id": w.server.login("jo").await.user_id,
                "scopes": ["crisis_plan", "enablement_plan"],
                "crisis_plan_sections": ["when_well", "supporters"],
            }),
        )
        .await;
    assert_eq!(shared.status, StatusCode::CREATED, "{}", shared.text);

    let mut wrong = Vec::new();
    for row in ROWS {
        // The person goes last: their revocation is what ends sam's consent.
        for (who, want) in EVERYONE.into_iter().zip(expected(row)).rev() {
            let got = w.attempt(row, who).await;
            if got.as_u16() != want {
                wrong.push(format!("{row:?} by {who:?}: {got}, expected {want}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "cells that do not hold:\n{}",
        wrong.join("\n")
    );

    // Alex revoked sam's consent in the last row: sam is now a carer without one.
    assert_eq!(
        w.attempt(Row::CrisisPlanRead, Who::CarerWithConsent).await,
        StatusCode::NOT_FOUND
    );

    // Breaking glass opens the enablement plan, crisis plan and appointments to a
    // practitioner elsewhere, for reading only.
    let glass = w
        .server
        .post(
            &w.path("/emergency-access"),
            w.token(Who::PractitionerElsewhere),
            json!({"reason": "Called by the crisis team; alex's team is closed tonight"}),
        )
        .await;
    assert_eq!(glass.status, StatusCode::CREATED, "{}", glass.text);
    for (row, want) in [
        (Row::EnablementPlanRead, 200),
        (Row::EnablementPlanSummaryRead, 200),
        (Row::CrisisPlanRead, 200),
        (Row::AppointmentsRead, 200),
        (Row::WrapRead, 403),
        (Row::EnablementPlanWrite, 403),
        (Row::CrisisPlanActivate, 403),
        (Row::MessagesRead, 403),
        (Row::AccessLogRead, 403),
        (Row::ConsentGrant, 403),
    ] {
        let got = w.attempt(row, Who::PractitionerElsewhere).await;
        assert_eq!(got.as_u16(), want, "{row:?} after breaking glass");
    }

    // The person lets the team co-author the WRAP: the team may then write it.
    let allowed = w
        .server
        .put(
            &w.path("/wrap/settings"),
            &w.alex,
            json!({"team_may_coauthor": true}),
        )
        .await;
    assert_eq!(allowed.status, StatusCode::NO_CONTENT);
    assert_eq!(
        w.attempt(Row::WrapWrite, Who::PractitionerOnTeam).await,
        StatusCode::OK
    );
}
