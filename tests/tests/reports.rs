//! The performance report (`GET /v1/reports/performance`): a team built through the API —
//! people placed on it, plans with a baseline and a later review, appointments marked attended
//! and not — shows `"< 5"` for every figure about four people and the numbers once there are
//! six; the CSV says exactly what the JSON says; only the team's practitioners and staff
//! systems with `reports:read` read it; bad periods are refused naming the field.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate, Utc};
use livingwell_server::clock::ManualClock;
use livingwell_server::http::Settings;
use livingwell_tests::{Backend, Reply, Session, TestServer, on_both_databases, read};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_databases!(
    figures_about_four_people_are_hidden_and_about_six_are_shown_alike_in_csv,
    only_the_teams_practitioners_and_staff_systems_with_the_scope_read_it,
    bad_periods_are_refused_naming_the_field,
);

struct Team {
    server: TestServer,
    clock: ManualClock,
    priya: Session,
    id: String,
    /// A plan as the API gives it, to give each new person.
    template: Value,
}

impl Team {
    async fn start(backend: Backend) -> Team {
        let clock = ManualClock::new(Utc::now());
        let settings = Settings {
            clock: clock.clone().into(),
            ..Settings::default()
        };
        let server = TestServer::start_with(backend, settings).await.unwrap();
        let admin = server.login("admin").await;
        let priya = server.login("priya").await;
        let team = server
            .post(
                "/v1/teams",
                &admin.access_token,
                json!({"name": "Riverside hub"}),
            )
            .await;
        assert_eq!(team.status, StatusCode::CREATED, "{}", team.text);
        let id = team.body["id"].as_str().unwrap().to_owned();
        let member = server
            .put(
                &format!("/v1/teams/{id}/members/{}", priya.user_id),
                &admin.access_token,
                json!({}),
            )
            .await;
        assert_eq!(member.status, StatusCode::NO_CONTENT, "{}", member.text);
        // alex's plan (priya's team's) as the shape every new person's plan takes.
        let alex = server.login("alex").await;
        let plan = server
            .get(
                &format!(
                    "/v1/people/{}/enablement-plan",
                    alex.person_id.unwrap_or_default()
                ),
                &priya.access_token,
            )
            .await;
        assert_eq!(plan.status, StatusCode::OK, "{}", plan.text);
        Team {
            server,
            clock,
            priya,
            id,
            template: plan.body["plan"].clone(),
        }
    }

    fn today(&self) -> NaiveDate {
        self.clock.now().date_naive()
    }

    /// Places `n` more people on the team, each with a plan (baseline `work` 3, review 7) and
    /// two appointments, then lets them begin and marks one attended, one not.
    async fn add_people(&mut self, n: usize) {
        let mut appointments = Vec::new();
        for i in 0..n {
            let person = self
                .server
                .post(
                    "/v1/people",
                    &self.priya.access_token,
                    json!({"display_name": format!("Person {i}"), "team_id": self.id}),
                )
                .await;
            assert_eq!(person.status, StatusCode::CREATED, "{}", person.text);
            let person = person.body["id"].as_str().unwrap().to_owned();
            let mut plan = self.template.clone();
            plan["outcome_ratings"] = json!([
                {"rated_on": self.today() - Duration::days(20), "occasion": "baseline",
                 "scores": {"work": 3, "trust_and_hope": 5}, "agreed_with_person": true},
                {"rated_on": self.today() - Duration::days(2), "occasion": "review",
                 "scores": {"work": 7, "trust_and_hope": 6}, "agreed_with_person": true},
            ]);
            let path = format!("/v1/people/{person}/enablement-plan");
            let first = self
                .server
                .put(
                    &path,
                    &self.priya.access_token,
                    json!({"base_version": 0, "plan": plan}),
                )
                .await;
            assert_eq!(first.status, StatusCode::OK, "{}", first.text);
            for hours in [1, 2] {
                let starts_at = self.clock.now() + Duration::hours(hours);
                let made = self
                    .server
                    .post(
                        &format!("/v1/people/{person}/appointments"),
                        &self.priya.access_token,
                        json!({
                            "kind": "key_worker_session",
                            "starts_at": starts_at,
                            "ends_at": starts_at + Duration::minutes(30),
                            "location": {"type": "phone"},
                        }),
                    )
                    .await;
                assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
                appointments.push(made.body["id"].as_str().unwrap().to_owned());
            }
        }
        self.clock.advance(Duration::hours(3));
        // The access token has expired meanwhile.
        self.priya = self.server.login("priya").await;
        let token = &self.priya.access_token;
        for (i, appointment) in appointments.iter().enumerate() {
            let status = if i % 2 == 0 {
                "attended"
            } else {
                "did_not_attend"
            };
            let marked = self
                .server
                .send(
                    Method::PATCH,
                    &format!("/v1/appointments/{appointment}"),
                    Some(token),
                    Some(json!({"status": status})),
                )
                .await;
            assert_eq!(marked.status, StatusCode::OK, "{}", marked.text);
        }
    }

    fn query(&self) -> String {
        format!(
            "/v1/reports/performance?from={}&to={}&team={}",
            self.today() - Duration::days(30),
            self.today() + Duration::days(30),
            self.id
        )
    }

    async fn report(&self) -> Value {
        let reply = self
            .server
            .get(&self.query(), &self.priya.access_token)
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply.body
    }
}

fn domain<'a>(report: &'a Value, key: &str) -> &'a Value {
    report["outcome_change"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == key)
        .unwrap()
}

/// Every figure of the JSON report, keyed as the CSV keys its rows: (section, breakdown,
/// measure) → the value as written (`"< 5"`, or the number).
fn figures_of_json(report: &Value) -> BTreeMap<(String, String, String), String> {
    let mut figures = BTreeMap::new();
    let mut put = |section: &str, breakdown: &str, measure: &str, figure: &Value| {
        let value = match figure {
            Value::String(text) => text.clone(),
            Value::Number(number) => number.as_f64().unwrap().to_string(),
            other => panic!("not a figure: {other}"),
        };
        let key = (section.to_owned(), breakdown.to_owned(), measure.to_owned());
        assert!(figures.insert(key, value).is_none());
    };
    let referrals = &report["referrals"];
    put("referrals", "", "received", &referrals["received"]);
    for cell in referrals["by_source_and_outcome"].as_array().unwrap() {
        let breakdown = format!(
            "{}/{}",
            cell["source"].as_str().unwrap(),
            cell["outcome"].as_str().unwrap()
        );
        put("referrals", &breakdown, "referrals", &cell["referrals"]);
    }
    for measure in ["triaged", "median_hours_to_triage", "p90_hours_to_triage"] {
        put("referrals", "", measure, &referrals[measure]);
    }
    for team in report["caseload"]["per_team"].as_array().unwrap() {
        let name = team["team"]["name"].as_str().unwrap();
        put("caseload_per_team", name, "people", &team["people"]);
    }
    for worker in report["caseload"]["per_worker"].as_array().unwrap() {
        let name = worker["worker_name"].as_str().unwrap();
        put("caseload_per_worker", name, "people", &worker["people"]);
    }
    for month in report["cases_closed"].as_array().unwrap() {
        let name = month["month"].as_str().unwrap();
        put("cases_closed", name, "closed", &month["closed"]);
    }
    for change in report["outcome_change"].as_array().unwrap() {
        let key = change["domain"].as_str().unwrap();
        for measure in ["people", "mean_baseline", "mean_latest", "mean_change"] {
            put("outcome_change", key, measure, &change[measure]);
        }
    }
    for kind in report["satisfaction"].as_array().unwrap() {
        let name = kind["kind"].as_str().unwrap();
        for measure in ["ratings", "people", "mean_score"] {
            put("satisfaction", name, measure, &kind[measure]);
        }
    }
    for measure in ["attended", "did_not_attend", "people"] {
        put(
            "appointments",
            "",
            measure,
            &report["appointments"][measure],
        );
    }
    figures
}

/// Every row of the CSV, checked for its header and for one row a figure.
fn figures_of_csv(text: &str) -> BTreeMap<(String, String, String), String> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        reader.headers().unwrap(),
        vec!["section", "breakdown", "measure", "value"]
    );
    let mut figures = BTreeMap::new();
    for record in reader.records() {
        let record = record.unwrap();
        let value = match &record[3] {
            "< 5" => "< 5".to_owned(),
            number => number.parse::<f64>().unwrap().to_string(),
        };
        let key = (
            record[0].to_owned(),
            record[1].to_owned(),
            record[2].to_owned(),
        );
        assert!(figures.insert(key, value).is_none(), "one row a figure");
    }
    figures
}

async fn csv_of(team: &Team, accept_header: bool) -> Reply {
    let request = if accept_header {
        team.server
            .http
            .get(team.server.url(&team.query()))
            .header("accept", "text/csv")
    } else {
        team.server
            .http
            .get(team.server.url(&format!("{}&format=csv", team.query())))
    };
    let reply = read(request.bearer_auth(&team.priya.access_token)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.headers["content-type"], "text/csv; charset=utf-8");
    let disposition = reply.headers["content-disposition"].to_str().unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"performance-")
            && disposition.ends_with(".csv\""),
        "{disposition}"
    );
    reply
}

async fn figures_about_four_people_are_hidden_and_about_six_are_shown_alike_in_csv(
    backend: Backend,
) {
    let mut team = Team::start(backend).await;
    team.add_people(4).await;
    let four = team.report().await;
    assert_eq!(four["small_number_threshold"], 5);
    assert_eq!(four["team"]["id"], team.id.as_str());
    assert_eq!(four["caseload"]["per_team"][0]["people"], "< 5");
    let work = domain(&four, "work");
    assert_eq!(work["label"], "Work");
    for measure in ["people", "mean_baseline", "mean_latest", "mean_change"] {
        assert_eq!(work[measure], "< 5", "{measure}");
    }
    for measure in ["attended", "did_not_attend", "people"] {
        assert_eq!(four["appointments"][measure], "< 5", "{measure}");
    }
    // No referrals, closures or ratings through the API yet: every pair and month listed.
    assert_eq!(
        four["referrals"]["by_source_and_outcome"]
            .as_array()
            .unwrap()
            .len(),
        8
    );
    assert_eq!(four["referrals"]["received"], "< 5");
    assert!(four["cases_closed"].as_array().unwrap().len() >= 2);
    assert_eq!(four["satisfaction"].as_array().unwrap().len(), 2);
    let csv = csv_of(&team, false).await;
    assert_eq!(figures_of_csv(&csv.text), figures_of_json(&four));

    team.add_people(2).await;
    let six = team.report().await;
    assert_eq!(six["caseload"]["per_team"][0]["people"], 6.0);
    let work = domain(&six, "work");
    assert_eq!(work["people"], 6.0);
    assert_eq!(work["mean_baseline"], 3.0);
    assert_eq!(work["mean_latest"], 7.0);
    assert_eq!(work["mean_change"], 4.0);
    assert_eq!(domain(&six, "trust_and_hope")["mean_change"], 1.0);
    // A domain no one was rated in rests on no one.
    assert_eq!(domain(&six, "living_skills")["people"], "< 5");
    assert_eq!(six["appointments"]["attended"], 6.0);
    assert_eq!(six["appointments"]["did_not_attend"], 6.0);
    assert_eq!(six["appointments"]["people"], 6.0);
    for accept_header in [false, true] {
        let csv = csv_of(&team, accept_header).await;
        let from_csv = figures_of_csv(&csv.text);
        assert_eq!(from_csv, figures_of_json(&six));
        let key = |s: &str, b: &str, m: &str| (s.to_owned(), b.to_owned(), m.to_owned());
        assert_eq!(from_csv[&key("outcome_change", "work", "mean_change")], "4");
        assert_eq!(
            from_csv[&key("caseload_per_team", "Riverside hub", "people")],
            "6"
        );
    }
}

async fn only_the_teams_practitioners_and_staff_systems_with_the_scope_read_it(backend: Backend) {
    let team = Team::start(backend).await;
    let server = &team.server;
    let path = team.query();
    let from = team.today();
    for refused in ["morgan", "jo", "alex", "admin", "sam"] {
        let session = server.login(refused).await;
        let reply = server.get(&path, &session.access_token).await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{refused}: {}",
            reply.text
        );
    }
    // A practitioner names their team.
    let no_team = server
        .get(
            &format!("/v1/reports/performance?from={from}&to={from}"),
            &team.priya.access_token,
        )
        .await;
    assert_eq!(no_team.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(no_team.fields(), ["team"]);

    let reader = server.client_token(Some("reports:read")).await;
    let one = server.get(&path, &reader).await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.text);
    assert_eq!(one.body["team"]["id"], team.id.as_str());
    // Every team: no `team`, and each team's caseload.
    let every = server
        .get(
            &format!("/v1/reports/performance?from={from}&to={from}"),
            &reader,
        )
        .await;
    assert_eq!(every.status, StatusCode::OK, "{}", every.text);
    assert!(every.body.get("team").is_none());
    assert_eq!(
        every.body["caseload"]["per_team"].as_array().unwrap().len(),
        3
    );
    let nowhere = server
        .get(
            &format!(
                "/v1/reports/performance?from={from}&to={from}&team={}",
                uuid::Uuid::now_v7()
            ),
            &reader,
        )
        .await;
    assert_eq!(nowhere.status, StatusCode::NOT_FOUND);

    let unscoped = server.client_token(Some("people:read")).await;
    let refused = server.get(&path, &unscoped).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.code(), "insufficient_scope");
}

async fn bad_periods_are_refused_naming_the_field(backend: Backend) {
    let team = Team::start(backend).await;
    let cases = [
        ("from=2026-13-01&to=2026-12-31", "from"),
        ("from=2026-01-01&to=someday", "to"),
        ("from=2026-03-02&to=2026-03-01", "to"),
        ("from=2024-01-01&to=2026-06-01", "to"),
        ("from=2026-01-01&to=2026-01-31&format=xml", "format"),
    ];
    for (query, field) in cases {
        let reply = team
            .server
            .get(
                &format!("/v1/reports/performance?{query}&team={}", team.id),
                &team.priya.access_token,
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_eq!(reply.fields(), [field], "{query}");
    }
}
