//! Every route the server serves, and how access to it is decided.
//!
//! The table below lists each route once. The first case compares it with the served OpenAPI
//! document, so a new route fails here until it is listed with how it is decided — a new
//! route cannot quietly skip the policy. The second asks for every route about a person's
//! record as a caller with no relationship to the person (for a FHIR export, a staff system
//! with `fhir:read` and no other scope), with an empty body, and reads the
//! audit log: the policy must have decided that very request (its request id), for the
//! resource and action listed, before the body was even read. The third checks that every
//! route that is not public turns away a caller without credentials (a route whose secret path
//! is the credential, with a made-up secret: 404, as for no such thing). The fourth checks that
//! routes only staff systems call turn away every app account.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use livingwell_core::api::routes;
use livingwell_tests::{Backend, TestServer, on_both_databases};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_databases!(
    every_served_route_is_listed_with_how_access_is_decided,
    every_route_about_a_person_is_decided_by_the_policy_before_it_runs,
    every_route_but_the_public_ones_needs_credentials,
    routes_for_staff_systems_only_refuse_app_accounts,
);

/// How access to a route is decided.
#[derive(Clone, Copy, Debug)]
enum Decided {
    /// Anyone: signing in, keys, health.
    Public,
    /// Anyone holding the secret in the path, with no header: the secret is the credential
    /// (a calendar app's feed URL). What it shows is its person's, decided when the person made
    /// the secret; a made-up or replaced secret is 404, answering nothing.
    Secret,
    /// Any signed-in caller, about themselves only.
    Own,
    /// By role or staff-system scope; not about one person's record (or each person it shows
    /// is decided separately).
    Staff,
    /// The record of the person `{id}`: the policy decides this resource and action.
    Person(&'static str, &'static str),
    /// A record reached by its own id, whose person the policy decides this resource and
    /// action for.
    RecordOf(Record, &'static str, &'static str),
    /// Reads a phone showed offline: each read in the body names a person and a part of
    /// their record, and the policy decides that read as of the moment it was shown.
    EachRead,
    /// Staff systems only (app accounts get 403), each about what is its own (webhook
    /// subscriptions: another system's is 404) or what it sends (a partner's referral), by the
    /// scope named.
    SystemOwn(&'static str),
    /// A staff system's export through the FHIR facade of the person named by the resource's
    /// id or the `patient` parameter: `fhir:read`, then the policy decides this resource's
    /// read as it would through the API.
    Export(&'static str),
}

/// Records reached by their own id.
#[derive(Clone, Copy, Debug)]
enum Record {
    Appointment,
    Booking,
    Conversation,
    Message,
}

use Decided::{EachRead, Export, Own, Person, Public, RecordOf, Secret, Staff, SystemOwn};

const ROUTES: &[(&str, &str, Decided)] = &[
    ("GET", "/.well-known/jwks.json", Public),
    ("GET", "/.well-known/oauth-authorization-server", Public),
    ("GET", "/healthz", Public),
    // What the facade serves: nothing about anyone.
    ("GET", "/fhir/r4/metadata", Public),
    ("GET", "/fhir/r4/Patient", Export("person")),
    ("GET", "/fhir/r4/Patient/{id}", Export("person")),
    ("GET", "/fhir/r4/RelatedPerson", Export("carers")),
    ("GET", "/fhir/r4/RelatedPerson/{id}", Export("carers")),
    ("GET", "/fhir/r4/Consent", Export("consents")),
    ("GET", "/fhir/r4/Consent/{id}", Export("consents")),
    // The Enablement Plan first; the crisis plan is asked for after it.
    ("GET", "/fhir/r4/CarePlan", Export("enablement_plan")),
    ("GET", "/fhir/r4/CarePlan/{id}", Export("enablement_plan")),
    ("GET", "/fhir/r4/Goal", Export("enablement_plan")),
    ("GET", "/fhir/r4/Goal/{id}", Export("enablement_plan")),
    ("GET", "/fhir/r4/Observation", Export("enablement_plan")),
    (
        "GET",
        "/fhir/r4/Observation/{id}",
        Export("enablement_plan"),
    ),
    ("GET", "/fhir/r4/Appointment", Export("appointments")),
    ("GET", "/fhir/r4/Appointment/{id}", Export("appointments")),
    ("GET", "/readyz", Public),
    ("POST", "/oauth/token", Public),
    ("POST", "/v1/auth/login", Public),
    ("POST", "/v1/auth/refresh", Public),
    ("POST", "/v1/auth/accept-invitation", Public),
    ("POST", "/v1/auth/reset-password", Public),
    // The front door: a challenge, and a self-referral paid for by solving it (no account).
    ("GET", "/v1/referrals/challenge", Public),
    ("POST", "/v1/referrals", Public),
    ("GET", "/v1/calendar-feeds/{feed}", Secret),
    ("POST", "/v1/auth/logout", Own),
    ("POST", "/v1/auth/password", Own),
    ("POST", "/v1/auth/reauthenticate", Own),
    ("GET", "/v1/me", Own),
    ("POST", "/v1/audit/offline-reads", EachRead),
    ("POST", "/v1/devices", Own),
    ("DELETE", "/v1/devices", Own),
    ("GET", "/v1/me/availability", Own),
    ("PUT", "/v1/me/availability", Own),
    ("GET", "/v1/notifications", Own),
    // The caller's copy: each person's records in it are decided by the policy, one by one
    // (tests/tests/sync.rs).
    // A team's practitioners, or `reports:read`: figures, none about one person.
    ("GET", "/v1/reports/performance", Staff),
    ("GET", "/v1/sync", Own),
    ("GET", "/v1/events", Own),
    ("GET", "/v1/conversations", Own),
    ("POST", "/v1/people", Staff),
    ("GET", "/v1/diary", Staff),
    ("GET", "/v1/programmes", Staff),
    ("POST", "/v1/programmes", Staff),
    ("GET", "/v1/programmes/{id}", Staff),
    ("GET", "/v1/programmes/{id}/bookings", Staff),
    ("PUT", "/v1/programmes/{id}/facilitators/{user_id}", Staff),
    (
        "DELETE",
        "/v1/programmes/{id}/facilitators/{user_id}",
        Staff,
    ),
    ("GET", "/v1/teams", Staff),
    ("POST", "/v1/teams", Staff),
    ("GET", "/v1/teams/{id}/caseload", Staff),
    ("GET", "/v1/teams/{id}/ratings", Staff),
    ("PUT", "/v1/teams/{id}/members/{user_id}", Staff),
    ("DELETE", "/v1/teams/{id}/members/{user_id}", Staff),
    ("POST", "/v1/users", Staff),
    ("GET", "/v1/clients", Staff),
    ("POST", "/v1/clients", Staff),
    ("POST", "/v1/clients/{id}/disable", Staff),
    ("POST", "/v1/clients/{id}/secret", Staff),
    ("POST", "/v1/users/{id}/disable", Staff),
    ("POST", "/v1/users/{id}/enable", Staff),
    ("POST", "/v1/users/{id}/password-reset", Staff),
    ("POST", "/v1/invitations", Staff),
    // Referrals are no one's record yet: by role and team (practitioners) or scope.
    ("GET", "/v1/referrals", Staff),
    ("GET", "/v1/referrals/{id}", Staff),
    ("PATCH", "/v1/referrals/{id}", Staff),
    (
        "POST",
        "/v1/referrals/partner",
        SystemOwn("referrals:write"),
    ),
    ("GET", "/v1/webhooks", SystemOwn("webhooks:manage")),
    ("POST", "/v1/webhooks", SystemOwn("webhooks:manage")),
    ("GET", "/v1/webhooks/{id}", SystemOwn("webhooks:manage")),
    ("DELETE", "/v1/webhooks/{id}", SystemOwn("webhooks:manage")),
    (
        "GET",
        "/v1/webhooks/{id}/deliveries",
        SystemOwn("webhooks:manage"),
    ),
    (
        "POST",
        "/v1/webhooks/{id}/enable",
        SystemOwn("webhooks:manage"),
    ),
    ("GET", "/v1/people/{id}", Person("person", "read")),
    (
        "PUT",
        "/v1/people/{id}/team",
        Person("team_placement", "write"),
    ),
    (
        "DELETE",
        "/v1/people/{id}/team",
        Person("team_placement", "write"),
    ),
    (
        "PUT",
        "/v1/people/{id}/key-worker",
        Person("key_worker", "write"),
    ),
    (
        "DELETE",
        "/v1/people/{id}/key-worker",
        Person("key_worker", "write"),
    ),
    (
        "PUT",
        "/v1/people/{id}/peer-allocation",
        Person("peer_allocation", "write"),
    ),
    ("GET", "/v1/people/{id}/carers", Person("carers", "read")),
    ("POST", "/v1/people/{id}/carers", Person("carers", "write")),
    (
        "GET",
        "/v1/people/{id}/consents",
        Person("consents", "read"),
    ),
    (
        "POST",
        "/v1/people/{id}/consents",
        Person("consents", "write"),
    ),
    (
        "DELETE",
        "/v1/people/{id}/consents/{consent_id}",
        Person("consents", "write"),
    ),
    (
        "POST",
        "/v1/people/{id}/do-not-involve",
        Person("exclusions", "write"),
    ),
    (
        "POST",
        "/v1/people/{id}/emergency-access",
        Person("emergency_access", "write"),
    ),
    (
        "GET",
        "/v1/people/{id}/access-log",
        Person("access_log", "read"),
    ),
    (
        "POST",
        "/v1/people/{id}/invitation",
        Person("person", "write"),
    ),
    (
        "GET",
        "/v1/people/{id}/enablement-plan",
        Person("enablement_plan", "read"),
    ),
    (
        "PUT",
        "/v1/people/{id}/enablement-plan",
        Person("enablement_plan", "write"),
    ),
    (
        "GET",
        "/v1/people/{id}/enablement-plan/versions",
        Person("enablement_plan", "read"),
    ),
    (
        "GET",
        "/v1/people/{id}/enablement-plan/versions/{version}",
        Person("enablement_plan", "read"),
    ),
    (
        "GET",
        "/v1/people/{id}/enablement-plan/comments",
        Person("enablement_plan", "read"),
    ),
    (
        "POST",
        "/v1/people/{id}/enablement-plan/comments",
        Person("enablement_plan", "comment"),
    ),
    (
        "POST",
        "/v1/people/{id}/enablement-plan/agreement",
        Person("enablement_plan", "agree"),
    ),
    (
        "GET",
        "/v1/people/{id}/enablement-plan/outcomes",
        Person("enablement_plan", "read"),
    ),
    (
        "GET",
        "/v1/people/{id}/enablement-plan/summary",
        Person("enablement_plan_summary", "read"),
    ),
    ("GET", "/v1/people/{id}/wrap", Person("wrap", "read")),
    ("PUT", "/v1/people/{id}/wrap", Person("wrap", "write")),
    (
        "PUT",
        "/v1/people/{id}/wrap/settings",
        Person("wrap", "write"),
    ),
    (
        "GET",
        "/v1/people/{id}/crisis-plan",
        Person("crisis_plan", "read"),
    ),
    (
        "GET",
        "/v1/people/{id}/crisis-plan.html",
        Person("crisis_plan", "read"),
    ),
    (
        "POST",
        "/v1/people/{id}/crisis-plan/activation",
        Person("crisis_plan", "activate"),
    ),
    (
        "DELETE",
        "/v1/people/{id}/crisis-plan/activation",
        Person("crisis_plan", "activate"),
    ),
    (
        "GET",
        "/v1/people/{id}/appointments",
        Person("appointments", "read"),
    ),
    (
        "POST",
        "/v1/people/{id}/appointments",
        Person("appointments", "write"),
    ),
    (
        "GET",
        "/v1/people/{id}/appointments.ics",
        Person("appointments", "read"),
    ),
    (
        "GET",
        "/v1/people/{id}/bookings",
        Person("appointments", "read"),
    ),
    // The person's own, decided as a read of their appointments and then owner-only (the
    // handler), like the detailed feed.
    (
        "POST",
        "/v1/people/{id}/calendar-feed",
        Person("appointments", "read"),
    ),
    (
        "DELETE",
        "/v1/people/{id}/calendar-feed",
        Person("appointments", "read"),
    ),
    (
        "GET",
        "/v1/appointments/{id}",
        RecordOf(Record::Appointment, "appointments", "read"),
    ),
    (
        "GET",
        "/v1/appointments/{id}/rating",
        RecordOf(Record::Appointment, "appointments", "read"),
    ),
    (
        "PUT",
        "/v1/appointments/{id}/rating",
        RecordOf(Record::Appointment, "appointments", "respond"),
    ),
    (
        "PATCH",
        "/v1/appointments/{id}",
        RecordOf(Record::Appointment, "appointments", "write"),
    ),
    (
        "DELETE",
        "/v1/appointments/{id}",
        RecordOf(Record::Appointment, "appointments", "write"),
    ),
    (
        "POST",
        "/v1/appointments/{id}/response",
        RecordOf(Record::Appointment, "appointments", "respond"),
    ),
    (
        "POST",
        "/v1/appointments/{id}/request-answer",
        RecordOf(Record::Appointment, "appointments", "write"),
    ),
    ("POST", "/v1/programmes/{id}/bookings", Staff),
    // A booking is the person's to answer (`respond`); anyone else acting on it acts as staff
    // (`write`), which is what the caller here, a practitioner, is asked for.
    (
        "DELETE",
        "/v1/programmes/{id}/bookings/{booking_id}",
        RecordOf(Record::Booking, "appointments", "write"),
    ),
    (
        "POST",
        "/v1/programmes/{id}/bookings/{booking_id}/offer",
        RecordOf(Record::Booking, "appointments", "write"),
    ),
    (
        "GET",
        "/v1/conversations/{id}/messages",
        RecordOf(Record::Conversation, "messages", "read"),
    ),
    (
        "POST",
        "/v1/conversations/{id}/messages",
        RecordOf(Record::Conversation, "messages", "write"),
    ),
    (
        "POST",
        "/v1/conversations/{id}/read",
        RecordOf(Record::Conversation, "messages", "write"),
    ),
    (
        "POST",
        "/v1/messages/{id}/report",
        RecordOf(Record::Message, "messages", "write"),
    ),
];

async fn every_served_route_is_listed_with_how_access_is_decided(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let document = server
        .http
        .get(server.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    let document: Value = document.json().await.unwrap();
    let mut served = BTreeSet::new();
    for (path, operations) in document["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            served.insert((method.to_uppercase(), path.clone()));
        }
    }
    // The contract a client builds its paths from names the same routes.
    let in_core: BTreeSet<(String, String)> = routes::ALL
        .iter()
        .map(|route| (route.method.as_str().to_owned(), route.template.to_owned()))
        .collect();
    assert_eq!(
        in_core, served,
        "core::api::routes lists what the server serves"
    );
    let listed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(method, path, _)| ((*method).to_owned(), (*path).to_owned()))
        .collect();
    assert_eq!(listed.len(), ROUTES.len(), "each route is listed once");
    let unlisted: Vec<_> = served.difference(&listed).collect();
    let gone: Vec<_> = listed.difference(&served).collect();
    assert!(
        unlisted.is_empty() && gone.is_empty(),
        "served but not listed (say how access is decided): {unlisted:?}; \
         listed but not served: {gone:?}"
    );
}

/// The ids the record routes are asked about, all alex's.
struct AlexsRecords {
    person: String,
    appointment: String,
    programme: String,
    booking: String,
    conversation: String,
    message: String,
    /// The id of the first of each FHIR resource type the facade gives for alex.
    fhir: std::collections::BTreeMap<String, String>,
}

async fn alexs_records(server: &TestServer) -> AlexsRecords {
    let alex = server.login("alex").await;
    let person = alex.person_id.clone().unwrap();
    let token = &alex.access_token;
    let appointments = server
        .get(&format!("/v1/people/{person}/appointments"), token)
        .await;
    let appointment = appointments.body["appointments"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bookings = server
        .get(&format!("/v1/people/{person}/bookings"), token)
        .await;
    let booking = &bookings.body[0];
    let conversation = server.peer_conversation(token).await;
    let messages = server
        .get(&format!("/v1/conversations/{conversation}/messages"), token)
        .await;
    // As a staff system may see them: the first resource of each type, for its read by id.
    let client = server.client_token(None).await;
    let mut fhir = std::collections::BTreeMap::new();
    for &(_, path, decided) in ROUTES {
        if let Export(_) = decided
            && !path.ends_with("{id}")
        {
            let search = server
                .get(&format!("{path}?patient={person}"), &client)
                .await;
            let id = search.body["entry"][0]["resource"]["id"].as_str().unwrap();
            fhir.insert(path.to_owned(), id.to_owned());
        }
    }
    AlexsRecords {
        fhir,
        person,
        appointment,
        programme: booking["programme_id"].as_str().unwrap().to_owned(),
        booking: booking["id"].as_str().unwrap().to_owned(),
        conversation,
        message: messages.body["messages"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned(),
    }
}

/// The route's path with its parameters filled in for alex's records.
fn concrete(path: &str, decided: Decided, records: &AlexsRecords) -> String {
    if let Export(_) = decided {
        return match path.strip_suffix("/{id}") {
            Some(search) => format!("{search}/{}", records.fhir[search]),
            None => format!("{path}?patient={}", records.person),
        };
    }
    let id = match decided {
        RecordOf(Record::Appointment, ..) => &records.appointment,
        RecordOf(Record::Booking, ..) => &records.programme,
        RecordOf(Record::Conversation, ..) => &records.conversation,
        RecordOf(Record::Message, ..) => &records.message,
        Public | Secret | Own | Staff | Person(..) | EachRead | SystemOwn(_) | Export(_) => {
            &records.person
        }
    };
    path.replace("{id}", id)
        .replace("{booking_id}", &records.booking)
        .replace("{consent_id}", &uuid::Uuid::now_v7().to_string())
        .replace("{version}", "1")
        // A secret no one was given.
        .replace(
            "{feed}",
            &format!("lwc_{}.ics", uuid::Uuid::now_v7().simple()),
        )
}

async fn every_route_about_a_person_is_decided_by_the_policy_before_it_runs(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let records = alexs_records(&server).await;
    // Morgan works on another team: no relationship to alex at all.
    let morgan = server.login("morgan").await;
    let exporter = server.client_token(Some("fhir:read")).await;
    let mut wrong = Vec::new();
    for &(method, path, decided) in ROUTES {
        let (resource, action, body) = match decided {
            Person(resource, action) | RecordOf(_, resource, action) => {
                let writes = method != "GET" && method != "DELETE";
                (resource, action, writes.then(|| json!({})))
            }
            // A read of alex's crisis plan that morgan's phone says it showed just now.
            EachRead => (
                "crisis_plan",
                "read",
                Some(json!({"reads": [{
                    "event_id": uuid::Uuid::now_v7(),
                    "person_id": records.person,
                    "record": "crisis_plan",
                    "read_at": chrono::Utc::now(),
                }]})),
            ),
            // A client with `fhir:read` and no other scope: the policy refuses each export.
            Export(resource) => (resource, "read", None),
            Public | Secret | Own | Staff | SystemOwn(_) => continue,
        };
        let method: Method = method.parse().unwrap();
        let url = concrete(path, decided, &records);
        let caller = match decided {
            Export(_) => &exporter,
            _ => &morgan.access_token,
        };
        let reply = server.send(method.clone(), &url, Some(caller), body).await;
        let request_id = reply.headers["x-request-id"].to_str().unwrap().to_owned();
        let entries = server
            .store
            .audit_for_subject(records.person.parse().unwrap(), None, 10_000)
            .await
            .unwrap();
        let decided_here: Vec<(String, String)> = entries
            .iter()
            .map(|e| &e.record.entry)
            .filter(|e| e.request_id.as_deref() == Some(request_id.as_str()))
            .map(|e| (e.resource.clone(), e.action.clone()))
            .collect();
        if decided_here != [(resource.to_owned(), action.to_owned())] {
            wrong.push(format!(
                "{method} {path} ({}): expected one decision on ({resource}, {action}), \
                 audited {decided_here:?}",
                reply.status
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

async fn every_route_but_the_public_ones_needs_credentials(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let records = alexs_records(&server).await;
    let mut wrong = Vec::new();
    for &(method, path, decided) in ROUTES {
        if matches!(decided, Public) {
            continue;
        }
        let method: Method = method.parse().unwrap();
        let url = concrete(path, decided, &records);
        let reply = server.send(method.clone(), &url, None, None).await;
        // A made-up secret is no credential: nothing is there for it.
        let refused = match decided {
            Secret => StatusCode::NOT_FOUND,
            _ => StatusCode::UNAUTHORIZED,
        };
        if reply.status != refused {
            wrong.push(format!("{method} {path}: {}", reply.status));
        }
    }
    assert!(
        wrong.is_empty(),
        "answered without credentials:\n{}",
        wrong.join("\n")
    );
}

async fn routes_for_staff_systems_only_refuse_app_accounts(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let records = alexs_records(&server).await;
    // Every kind of app account: none of them is a staff system.
    let mut accounts = Vec::new();
    for username in ["alex", "priya", "admin"] {
        accounts.push((username, server.login(username).await));
    }
    // A staff system without the scope.
    let token = server.client_token(Some("people:read")).await;
    let mut wrong = Vec::new();
    for &(method, path, decided) in ROUTES {
        let SystemOwn(scope) = decided else { continue };
        let url = concrete(path, decided, &records);
        for (username, account) in &accounts {
            let reply = server
                .send(
                    method.parse().unwrap(),
                    &url,
                    Some(&account.access_token),
                    (method == "POST").then(|| json!({})),
                )
                .await;
            if reply.status != StatusCode::FORBIDDEN || reply.code() != "forbidden" {
                wrong.push(format!("{method} {path} as {username}: {}", reply.status));
            }
        }
        // A staff system without the scope is refused naming it, before its body is read.
        let reply = server
            .send(
                method.parse().unwrap(),
                &url,
                Some(&token),
                (method == "POST").then(|| json!({})),
            )
            .await;
        if reply.status != StatusCode::FORBIDDEN
            || reply.code() != "insufficient_scope"
            || reply.body["required_scope"] != scope
        {
            wrong.push(format!("{method} {path} without {scope}: {}", reply.text));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
