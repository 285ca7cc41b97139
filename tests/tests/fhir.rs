//! The FHIR R4 facade (`/fhir/r4`): staff systems read the demo person's records as FHIR
//! resources — each type read and searched, paged to the end, refused with an
//! `OperationOutcome` naming what is wrong, audited in the person's own access log — on both
//! databases.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};

use livingwell_tests::{Backend, Reply, TestServer, on_both_databases, read};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_databases!(
    each_resource_of_the_person_is_searched_and_read_by_id,
    paging_links_lead_through_every_entry_once,
    a_client_without_the_plans_scope_is_refused_care_plans_naming_it,
    a_client_without_fhir_read_is_refused_naming_it,
    an_account_is_refused_the_facade,
    unknown_ids_types_and_parameters_are_answered_as_operation_outcomes,
    the_person_sees_the_export_in_their_access_log,
    the_capability_statement_names_exactly_the_routes_served,
    messages_are_never_exported,
);

/// The types served, with the access-log resource each is decided as.
const TYPES: [(&str, &str); 7] = [
    ("Patient", "person"),
    ("RelatedPerson", "carers"),
    ("Consent", "consents"),
    ("CarePlan", "enablement_plan"),
    ("Goal", "enablement_plan"),
    ("Observation", "enablement_plan"),
    ("Appointment", "appointments"),
];

const EVERY_SCOPE: &str = "fhir:read people:read plans:read appointments:read";

/// A staff system an admin registers with `scopes`, and a token for it.
async fn registered_client(server: &TestServer, scopes: &[&str]) -> String {
    let admin = server.login("admin").await.access_token;
    let created = server
        .post(
            "/v1/clients",
            &admin,
            json!({"name": "Rio case management", "scopes": scopes}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let client_id = created.body["client"]["client_id"].as_str().unwrap();
    let secret = created.body["client_secret"].as_str().unwrap();
    let token = read(
        server
            .http
            .post(server.url("/oauth/token"))
            .basic_auth(client_id, Some(secret))
            .form(&[("grant_type", "client_credentials")]),
    )
    .await;
    assert_eq!(token.status, StatusCode::OK, "{}", token.text);
    token.body["access_token"].as_str().unwrap().to_owned()
}

/// A GET under the facade (an absolute URL as links give them, or a path), as FHIR JSON.
async fn fhir(server: &TestServer, url: &str, token: Option<&str>) -> Reply {
    let url = if url.starts_with("http") {
        url.to_owned()
    } else {
        server.url(url)
    };
    let mut request = server
        .http
        .get(url)
        .header("accept", "application/fhir+json");
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let reply = read(request).await;
    let media_type = reply.headers["content-type"].to_str().unwrap();
    assert!(
        media_type.starts_with("application/fhir+json"),
        "{media_type}: {}",
        reply.text
    );
    reply
}

fn entries(bundle: &Value) -> Vec<Value> {
    assert_eq!(bundle["resourceType"], "Bundle", "{bundle}");
    assert_eq!(bundle["type"], "searchset");
    bundle["entry"]
        .as_array()
        .map(|entries| entries.iter().map(|e| e["resource"].clone()).collect())
        .unwrap_or_default()
}

fn link(bundle: &Value, relation: &str) -> Option<String> {
    bundle["link"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["relation"] == relation)
        .map(|l| l["url"].as_str().unwrap().to_owned())
}

/// Every entry of a search, following `next` to the end; and how many pages it took.
async fn search_all(server: &TestServer, token: &str, first: &str) -> (Vec<Value>, usize) {
    let mut found = Vec::new();
    let mut pages = 0;
    let mut url = Some(first.to_owned());
    while let Some(at) = url {
        let page = fhir(server, &at, Some(token)).await;
        assert_eq!(page.status, StatusCode::OK, "{at}: {}", page.text);
        assert!(link(&page.body, "self").is_some());
        found.extend(entries(&page.body));
        pages += 1;
        assert!(pages < 200, "paging does not end");
        url = link(&page.body, "next");
    }
    (found, pages)
}

/// The single issue of an `OperationOutcome` answer with this status.
fn issue(reply: &Reply, status: StatusCode) -> Value {
    assert_eq!(reply.status, status, "{}", reply.text);
    assert_eq!(
        reply.body["resourceType"], "OperationOutcome",
        "{}",
        reply.text
    );
    let issues = reply.body["issue"].as_array().unwrap();
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0]["severity"], "error");
    issues[0].clone()
}

fn challenge(reply: &Reply) -> String {
    reply
        .headers
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

async fn alex(server: &TestServer) -> String {
    server.login("alex").await.person_id.unwrap()
}

async fn each_resource_of_the_person_is_searched_and_read_by_id(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let person = alex(&server).await;
    let token = registered_client(&server, &EVERY_SCOPE.split(' ').collect::<Vec<_>>()).await;
    let mut found: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for (kind, _) in TYPES {
        let reply = fhir(
            &server,
            &format!("/fhir/r4/{kind}?patient=Patient/{person}"),
            Some(&token),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{kind}: {}", reply.text);
        let resources = entries(&reply.body);
        assert!(!resources.is_empty(), "no {kind} for the demo person");
        for (entry, resource) in reply.body["entry"]
            .as_array()
            .unwrap()
            .iter()
            .zip(&resources)
        {
            assert_eq!(resource["resourceType"], kind);
            let id = resource["id"].as_str().unwrap();
            let url = entry["fullUrl"].as_str().unwrap();
            assert!(url.ends_with(&format!("/fhir/r4/{kind}/{id}")), "{url}");
            // The read by id answers the same resource, at the entry's full URL.
            let by_id = fhir(&server, url, Some(&token)).await;
            assert_eq!(by_id.status, StatusCode::OK, "{url}: {}", by_id.text);
            assert_eq!(&by_id.body, resource, "{url}");
        }
        found.insert(kind, resources);
    }

    // What a staff member would check against the app: the records, faithfully.
    let patient = &found["Patient"][0];
    assert_eq!(patient["id"], person.as_str());
    assert_eq!(patient["name"][0]["text"], "Alex Rivers");
    assert_eq!(patient["managingOrganization"]["display"], "West hub");
    let by_id = fhir(
        &server,
        &format!("/fhir/r4/Patient?_id={person}"),
        Some(&token),
    )
    .await;
    assert_eq!(entries(&by_id.body), found["Patient"]);

    let plans = &found["CarePlan"];
    let category = |plan: &Value| plan["category"][0]["coding"][0]["code"].clone();
    assert_eq!(
        plans.iter().map(category).collect::<Vec<_>>(),
        [json!("enablement-plan"), json!("crisis-plan")]
    );
    let enablement = &plans[0];
    assert_eq!(
        enablement["subject"]["reference"],
        format!("Patient/{person}")
    );
    assert_eq!(enablement["meta"]["versionId"], "1");
    let goal_refs: BTreeSet<String> = enablement["goal"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["reference"].as_str().unwrap().to_owned())
        .collect();
    let goals: BTreeSet<String> = found["Goal"]
        .iter()
        .map(|g| format!("Goal/{}", g["id"].as_str().unwrap()))
        .collect();
    assert_eq!(goal_refs, goals, "the plan refers to exactly its goals");
    let crisis = plans[1]["text"]["div"].as_str().unwrap();
    assert!(
        crisis.contains("I cook for Sam on Sundays") && crisis.contains("My supporters"),
        "{crisis}"
    );

    // The ratings are the plan's: one Observation per domain scored on each occasion.
    let plan = server
        .get(
            &format!("/v1/people/{person}/enablement-plan"),
            &server.login("priya").await.access_token,
        )
        .await;
    let scores: usize = plan.body["plan"]["outcome_ratings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["scores"].as_object().unwrap().len())
        .sum();
    assert_eq!(found["Observation"].len(), scores);
    for observation in &found["Observation"] {
        let score = observation["valueInteger"].as_i64().unwrap();
        assert!((1..=10).contains(&score), "{observation}");
        assert_eq!(observation["category"][0]["coding"][0]["code"], "survey");
    }

    let carer = &found["RelatedPerson"][0];
    assert_eq!(carer["name"][0]["text"], "Sam Rivers");
    assert_eq!(carer["relationship"][0]["text"], "sister");
    let consent = &found["Consent"][0];
    assert_eq!(consent["status"], "active");
    assert_eq!(
        consent["provision"]["actor"][0]["reference"]["reference"],
        format!("RelatedPerson/{}", carer["id"].as_str().unwrap())
    );
    let shared: BTreeSet<&str> = consent["provision"]["code"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["coding"][0]["code"].as_str().unwrap())
        .collect();
    assert!(
        shared.contains("crisis_plan") && shared.contains("when_well"),
        "{shared:?}"
    );

    let listed = server
        .get(
            &format!("/v1/people/{person}/appointments"),
            &server.login("priya").await.access_token,
        )
        .await;
    let appointment_ids: BTreeSet<&str> = listed.body["appointments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    let exported: BTreeSet<&str> = found["Appointment"]
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(exported, appointment_ids);
    // Where each takes place is named as the app names it: a hub by its team's name.
    let places = |appointments: &[Value], place: fn(&Value) -> &str| {
        appointments
            .iter()
            .map(|a| (a["id"].as_str().unwrap().to_owned(), place(a).to_owned()))
            .collect::<BTreeMap<_, _>>()
    };
    let exported_places = places(&found["Appointment"], |a| {
        a["participant"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["actor"]["type"] == "Location")
            .and_then(|p| p["actor"]["display"].as_str())
            .unwrap()
    });
    let listed_places = places(listed.body["appointments"].as_array().unwrap(), |a| {
        a["place"].as_str().unwrap()
    });
    assert_eq!(exported_places, listed_places);
    assert!(
        listed.body["appointments"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["location"]["type"] == "hub"),
        "the demo's diary has an appointment at a hub"
    );
}

async fn paging_links_lead_through_every_entry_once(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let person = alex(&server).await;
    let token = registered_client(&server, &EVERY_SCOPE.split(' ').collect::<Vec<_>>()).await;
    // A second consent, so consents have pages too (sharing needs a fresh sign-in: this is).
    let sam = server.login("sam").await.user_id;
    let alex_session = server.login("alex").await;
    let shared = server
        .post(
            &format!("/v1/people/{person}/consents"),
            &alex_session.access_token,
            json!({"carer_id": sam, "scopes": ["appointments"]}),
        )
        .await;
    assert_eq!(shared.status, StatusCode::CREATED, "{}", shared.text);

    for (kind, _) in TYPES {
        let whole = fhir(
            &server,
            &format!("/fhir/r4/{kind}?patient={person}&_count=200"),
            Some(&token),
        )
        .await;
        let all = entries(&whole.body);
        assert!(
            link(&whole.body, "next").is_none(),
            "{kind}: one page holds all"
        );
        let (paged, pages) = search_all(
            &server,
            &token,
            &format!("/fhir/r4/{kind}?patient={person}&_count=1"),
        )
        .await;
        let ids = |resources: &[Value]| -> Vec<String> {
            resources
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(ids(&paged), ids(&all), "{kind}: each entry once, in order");
        // The demo person has one record of these, several of every other type.
        if !matches!(kind, "Patient" | "RelatedPerson") {
            assert!(all.len() > 1, "{kind}: {} entries", all.len());
            assert!(
                pages >= all.len(),
                "{kind}: {} entries on {pages} page(s)",
                all.len()
            );
        }
    }

    // A cursor is the server's to give: one made up is refused, naming it.
    let made_up = fhir(
        &server,
        &format!("/fhir/r4/Appointment?patient={person}&_cursor=yesterday"),
        Some(&token),
    )
    .await;
    let refused = issue(&made_up, StatusCode::BAD_REQUEST);
    assert_eq!(refused["expression"], json!(["_cursor"]));
}

async fn a_client_without_the_plans_scope_is_refused_care_plans_naming_it(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let person = alex(&server).await;
    let token = registered_client(
        &server,
        &["appointments:read", "appointments:write", "fhir:read"],
    )
    .await;
    for path in [
        format!("/fhir/r4/CarePlan?patient={person}"),
        format!("/fhir/r4/CarePlan/{person}-crisis"),
        format!("/fhir/r4/Goal?patient={person}"),
        format!("/fhir/r4/Observation?patient={person}"),
    ] {
        let refused = fhir(&server, &path, Some(&token)).await;
        let problem = issue(&refused, StatusCode::FORBIDDEN);
        assert_eq!(problem["code"], "forbidden");
        assert!(
            problem["diagnostics"]
                .as_str()
                .unwrap()
                .contains("plans:read"),
            "{problem}"
        );
        let challenge = challenge(&refused);
        assert!(
            challenge.contains("error=\"insufficient_scope\"")
                && challenge.contains("scope=\"plans:read\""),
            "{path}: {challenge}"
        );
    }
    // What its scopes do cover, it reads.
    let appointments = fhir(
        &server,
        &format!("/fhir/r4/Appointment?patient={person}"),
        Some(&token),
    )
    .await;
    assert_eq!(appointments.status, StatusCode::OK, "{}", appointments.text);
    assert!(!entries(&appointments.body).is_empty());
    let people = fhir(&server, &format!("/fhir/r4/Patient/{person}"), Some(&token)).await;
    assert!(challenge(&people).contains("scope=\"people:read\""));
}

async fn a_client_without_fhir_read_is_refused_naming_it(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let person = alex(&server).await;
    let token =
        registered_client(&server, &["people:read", "plans:read", "appointments:read"]).await;
    // The same record through the API is the client's to read.
    let api = server.get(&format!("/v1/people/{person}"), &token).await;
    assert_eq!(api.status, StatusCode::OK, "{}", api.text);
    for path in [
        format!("/fhir/r4/Patient/{person}"),
        format!("/fhir/r4/Patient?_id={person}"),
        format!("/fhir/r4/Appointment?patient={person}"),
        // Not even whether a record exists.
        format!("/fhir/r4/Appointment/{}", uuid::Uuid::now_v7()),
        "/fhir/r4/Goal/not-a-goal".to_owned(),
    ] {
        let refused = fhir(&server, &path, Some(&token)).await;
        let problem = issue(&refused, StatusCode::FORBIDDEN);
        assert!(
            problem["diagnostics"]
                .as_str()
                .unwrap()
                .contains("fhir:read"),
            "{path}: {problem}"
        );
        assert!(
            challenge(&refused).contains("scope=\"fhir:read\""),
            "{path}"
        );
    }
}

async fn an_account_is_refused_the_facade(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let person = alex(&server).await;
    // The person themselves and their practitioner read through the API, not the export.
    for username in ["alex", "priya"] {
        let token = server.login(username).await.access_token;
        for path in [
            format!("/fhir/r4/Patient/{person}"),
            format!("/fhir/r4/CarePlan?patient={person}"),
        ] {
            let refused = fhir(&server, &path, Some(&token)).await;
            assert_eq!(issue(&refused, StatusCode::FORBIDDEN)["code"], "forbidden");
        }
    }
}

async fn unknown_ids_types_and_parameters_are_answered_as_operation_outcomes(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let person = alex(&server).await;
    let token = server.client_token(Some(EVERY_SCOPE)).await;
    let nobody = uuid::Uuid::now_v7();
    for path in [
        format!("/fhir/r4/Patient/{nobody}"),
        format!("/fhir/r4/Appointment/{nobody}"),
        format!("/fhir/r4/Consent/{nobody}"),
        format!("/fhir/r4/CarePlan/{person}-wrap"),
        format!("/fhir/r4/Goal/{person}-v1-g99"),
        format!("/fhir/r4/Observation/{person}-v7-r1-d1"),
        format!("/fhir/r4/RelatedPerson/{}", "0".repeat(64)),
        format!("/fhir/r4/Patient/{}", person.to_uppercase()),
    ] {
        let missing = fhir(&server, &path, Some(&token)).await;
        assert_eq!(
            issue(&missing, StatusCode::NOT_FOUND)["code"],
            "not-found",
            "{path}"
        );
    }
    let unknown_type = fhir(
        &server,
        &format!("/fhir/r4/MedicationRequest?patient={person}"),
        Some(&token),
    )
    .await;
    assert_eq!(
        issue(&unknown_type, StatusCode::NOT_FOUND)["code"],
        "not-supported"
    );
    for (query, parameter, code) in [
        ("_count=0", "_count", "value"),
        ("_count=201", "_count", "value"),
        ("_count=many", "_count", "value"),
        ("status=active", "status", "not-supported"),
        ("_sort=date", "_sort", "not-supported"),
    ] {
        let bad = fhir(
            &server,
            &format!("/fhir/r4/Goal?patient={person}&{query}"),
            Some(&token),
        )
        .await;
        let problem = issue(&bad, StatusCode::BAD_REQUEST);
        assert_eq!(problem["expression"], json!([parameter]), "{query}");
        assert_eq!(problem["code"], code, "{query}");
        assert!(problem["diagnostics"].as_str().unwrap().contains(parameter));
    }
    let unnamed = fhir(&server, "/fhir/r4/Consent", Some(&token)).await;
    let problem = issue(&unnamed, StatusCode::BAD_REQUEST);
    assert_eq!(
        (problem["code"].clone(), problem["expression"].clone()),
        (json!("required"), json!(["patient"]))
    );
    let extra = fhir(
        &server,
        &format!("/fhir/r4/Patient/{person}?_elements=name"),
        Some(&token),
    )
    .await;
    assert_eq!(
        issue(&extra, StatusCode::BAD_REQUEST)["expression"],
        json!(["_elements"])
    );

    // No token, or one not accepted: 401 with the challenge, as an OperationOutcome.
    let anonymous = fhir(&server, &format!("/fhir/r4/Patient/{person}"), None).await;
    assert_eq!(issue(&anonymous, StatusCode::UNAUTHORIZED)["code"], "login");
    assert!(challenge(&anonymous).starts_with("Bearer"));
    let forged = fhir(
        &server,
        &format!("/fhir/r4/Patient/{person}"),
        Some("x.y.z"),
    )
    .await;
    assert!(challenge(&forged).contains("invalid_token"));
    assert_eq!(issue(&forged, StatusCode::UNAUTHORIZED)["code"], "login");

    // Only JSON, and only reads.
    let xml = read(
        server
            .http
            .get(server.url(&format!("/fhir/r4/Patient/{person}")))
            .bearer_auth(&token)
            .header("accept", "application/fhir+xml"),
    )
    .await;
    issue(&xml, StatusCode::NOT_ACCEPTABLE);
    let written = read(
        server
            .http
            .post(server.url("/fhir/r4/Patient"))
            .bearer_auth(&token)
            .header("content-type", "application/fhir+json")
            .body("{\"resourceType\":\"Patient\"}"),
    )
    .await;
    issue(&written, StatusCode::METHOD_NOT_ALLOWED);
}

async fn the_person_sees_the_export_in_their_access_log(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let session = server.login("alex").await;
    let person = session.person_id.clone().unwrap();
    let token = server.client_token(Some(EVERY_SCOPE)).await;
    let before = server.audit_count(&person).await;
    for (kind, _) in TYPES {
        let reply = read(
            server
                .http
                .get(server.url(&format!("/fhir/r4/{kind}?patient={person}")))
                .bearer_auth(&token)
                .header("X-On-Behalf-Of", "Priya Shah (care coordinator)"),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{kind}: {}", reply.text);
    }
    // A refused export is there too.
    let narrow = server
        .client_token(Some("fhir:read appointments:read"))
        .await;
    let refused = fhir(
        &server,
        &format!("/fhir/r4/Goal?patient={person}"),
        Some(&narrow),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let log = server
        .get(
            &format!("/v1/people/{person}/access-log?limit=200"),
            &session.access_token,
        )
        .await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.text);
    let exports: Vec<&Value> = log.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["via"] == "fhir")
        .collect();
    // One line per part of the record exported (a CarePlan search is two parts), and the
    // refusal; each the staff system's, for whom it said it acted.
    assert_eq!(exports.len(), TYPES.len() + 2, "{exports:#?}");
    assert!(server.audit_count(&person).await >= before + exports.len());
    let allowed: BTreeSet<&str> = exports
        .iter()
        .filter(|e| e["outcome"] == "allowed")
        .map(|e| e["resource"].as_str().unwrap())
        .collect();
    let expected: BTreeSet<&str> = TYPES
        .iter()
        .map(|(_, resource)| *resource)
        .chain(["crisis_plan"])
        .collect();
    assert_eq!(allowed, expected);
    for entry in exports.iter().filter(|e| e["outcome"] == "allowed") {
        assert_eq!(entry["actor_role"], "staff_system", "{entry}");
        assert_eq!(entry["action"], "read");
        assert_eq!(entry["relationship"], "staff_system_scope");
        assert_eq!(entry["on_behalf_of"], "Priya Shah (care coordinator)");
    }
    let denied: Vec<&&Value> = exports
        .iter()
        .filter(|e| e["outcome"] == "denied")
        .collect();
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0]["resource"], "enablement_plan");
}

async fn the_capability_statement_names_exactly_the_routes_served(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    // Anyone may ask what is served; it says nothing about anyone.
    let metadata = fhir(&server, "/fhir/r4/metadata", None).await;
    assert_eq!(metadata.status, StatusCode::OK, "{}", metadata.text);
    let statement = &metadata.body;
    assert_eq!(statement["resourceType"], "CapabilityStatement");
    assert_eq!(statement["fhirVersion"], "4.0.1");
    let mut stated = BTreeSet::new();
    for resource in statement["rest"][0]["resource"].as_array().unwrap() {
        let kind = resource["type"].as_str().unwrap();
        let interactions: BTreeSet<&str> = resource["interaction"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["code"].as_str().unwrap())
            .collect();
        assert_eq!(
            interactions,
            BTreeSet::from(["read", "search-type"]),
            "{kind}"
        );
        stated.insert(format!("/fhir/r4/{kind}/{{id}}"));
        stated.insert(format!("/fhir/r4/{kind}"));
        let params: BTreeSet<&str> = resource["searchParam"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        for param in ["patient", "_count", "_cursor"] {
            assert!(params.contains(param), "{kind} lacks {param}");
        }
    }
    stated.insert("/fhir/r4/metadata".to_owned());

    let document: Value = server
        .http
        .get(server.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut served = BTreeSet::new();
    for (path, operations) in document["paths"].as_object().unwrap() {
        if path.starts_with("/fhir/") {
            let methods: Vec<&String> = operations.as_object().unwrap().keys().collect();
            assert_eq!(methods, ["get"], "{path} only reads");
            served.insert(path.clone());
        }
    }
    assert_eq!(stated, served, "the statement names exactly what is served");
    let types: BTreeSet<&str> = TYPES.iter().map(|(kind, _)| *kind).collect();
    let in_statement: BTreeSet<&str> = statement["rest"][0]["resource"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert_eq!(in_statement, types);
}

async fn messages_are_never_exported(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let person = alex(&server).await;
    let token = server.client_token(None).await;
    for kind in ["Communication", "CommunicationRequest"] {
        let none = fhir(
            &server,
            &format!("/fhir/r4/{kind}?patient={person}"),
            Some(&token),
        )
        .await;
        assert_eq!(issue(&none, StatusCode::NOT_FOUND)["code"], "not-supported");
    }
    // Every resource the facade gives for the person: no message's words in any of them.
    let mut exported = String::new();
    for (kind, _) in TYPES {
        let (resources, _) = search_all(
            &server,
            &token,
            &format!("/fhir/r4/{kind}?patient={person}"),
        )
        .await;
        exported.push_str(&serde_json::to_string(&resources).unwrap());
    }
    assert!(exported.contains("Alex Rivers"));
    for said in [
        "Lovely to meet you",
        "managed a couple of hours",
        "plan the next visit",
    ] {
        assert!(!exported.contains(said), "a message was exported: {said}");
    }
}
