//! Every access to a person's record is audited, durably, before anything is served.

use livingwell_tests::{Backend, TestServer, on_both_databases};
use reqwest::StatusCode;

on_both_databases!(
    every_read_of_a_person_leaves_exactly_one_entry,
    the_person_sees_who_read_their_record,
    a_read_whose_audit_entry_cannot_be_stored_is_not_served,
    concurrent_reads_keep_one_unbroken_chain,
);

async fn every_read_of_a_person_leaves_exactly_one_entry(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let alex = server.login("alex").await;
    let person = alex.person_id.clone().unwrap();
    let path = format!("/v1/people/{person}");
    let mut readers = vec![alex.access_token.clone()];
    for name in ["sam", "jo", "priya", "morgan", "robin"] {
        readers.push(server.login(name).await.access_token);
    }
    readers.push(server.client_token(Some("people:read")).await);
    for token in &readers {
        let before = server.audit_count(&person).await;
        let request = server.http.get(server.url(&path)).bearer_auth(token);
        // Staff systems say which of their users is acting; accounts cannot claim to.
        let reply = livingwell_tests::read(request.header("x-on-behalf-of", "Dr Lee Hart")).await;
        assert!(reply.status == StatusCode::OK || reply.status == StatusCode::NOT_FOUND);
        assert_eq!(
            server.audit_count(&person).await,
            before + 1,
            "one entry per read"
        );
    }
    let entries = server
        .store
        .audit_for_subject(person.parse().unwrap(), None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|line| line.record)
        .collect::<Vec<_>>();
    let denied: Vec<_> = entries
        .iter()
        .filter(|e| e.entry.outcome == "denied")
        .collect();
    // morgan (another team) and robin (another person) were refused, and that is recorded too.
    assert_eq!(denied.len(), 2);
    assert!(
        entries
            .iter()
            .all(|e| e.entry.request_id.as_deref().is_some_and(|r| !r.is_empty()))
    );
    let staff_system = entries
        .iter()
        .find(|e| e.entry.actor_role == "staff_system")
        .unwrap();
    assert_eq!(
        staff_system.entry.actor_id.as_deref(),
        Some("client:case-system")
    );
    assert_eq!(
        staff_system.entry.relationship.as_deref(),
        Some("staff_system_scope")
    );
}

async fn the_person_sees_who_read_their_record(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let alex = server.login("alex").await;
    let person = alex.person_id.clone().unwrap();
    let priya = server.login("priya").await;
    server
        .get(&format!("/v1/people/{person}"), &priya.access_token)
        .await;
    let log = server
        .get(
            &format!("/v1/people/{person}/access-log?limit=2"),
            &alex.access_token,
        )
        .await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.text);
    let entries = log.body["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    // Newest first: alex's own look at the log, then priya's read.
    assert_eq!(entries[0]["resource"], "access_log");
    assert_eq!(entries[1]["actor_name"], "Priya Natarajan");
    assert_eq!(entries[1]["relationship"], "team");
    assert_eq!(entries[1]["outcome"], "allowed");
    // The next page continues without overlap.
    let before = entries[1]["seq"].as_i64().unwrap();
    let cursor = log.body["next_cursor"].as_str().unwrap();
    let older = server
        .get(
            &format!("/v1/people/{person}/access-log?limit=2&cursor={cursor}"),
            &alex.access_token,
        )
        .await;
    let older_entries = older.body["entries"].as_array().unwrap();
    assert!(
        older_entries
            .iter()
            .all(|e| e["seq"].as_i64().unwrap() < before)
    );
    // Another service user may not read it.
    let robin = server.login("robin").await;
    let refused = server
        .get(
            &format!("/v1/people/{person}/access-log"),
            &robin.access_token,
        )
        .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
}

/// Makes every insert into the audit log fail, as a full disk or a broken database would.
async fn break_audit_inserts(server: &TestServer) {
    let url = &server.database.url;
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query(
            "CREATE FUNCTION refuse_audit() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'no'; END; $$ LANGUAGE plpgsql",
        )
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query("CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION refuse_audit()")
            .execute(&pool)
            .await
            .unwrap();
    } else {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        sqlx::query("CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'no'); END")
            .execute(&pool)
            .await
            .unwrap();
    }
}

async fn a_read_whose_audit_entry_cannot_be_stored_is_not_served(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let priya = server.login("priya").await;
    let alex = server.login("alex").await;
    let person = alex.person_id.clone().unwrap();
    break_audit_inserts(&server).await;
    let reply = server
        .get(&format!("/v1/people/{person}"), &priya.access_token)
        .await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.code(), "unavailable");
    assert!(
        !reply.text.contains("Alex"),
        "no record data in the refusal"
    );
    assert_eq!(
        server.get("/v1/me", &alex.access_token).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

async fn concurrent_reads_keep_one_unbroken_chain(backend: Backend) {
    let server = std::sync::Arc::new(TestServer::start(backend).await.unwrap());
    let priya = server.login("priya").await;
    let person = server.login("alex").await.person_id.unwrap();
    let mut reads = Vec::new();
    for _ in 0..40 {
        let server = server.clone();
        let token = priya.access_token.clone();
        let path = format!("/v1/people/{person}");
        reads.push(tokio::spawn(async move {
            server.get(&path, &token).await.status
        }));
    }
    for read in reads {
        assert_eq!(read.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(server.audit_count(&person).await, 40);
    let verdict = livingwell_server::audit::verify(server.store.as_ref())
        .await
        .unwrap();
    assert!(
        matches!(
            verdict,
            livingwell_server::audit::Verification::Intact { .. }
        ),
        "{verdict:?}"
    );
}
