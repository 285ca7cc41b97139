//! A full disk (issue: faults), on SQLite: `PRAGMA max_page_count` set on every connection that
//! writes, as it is handed out or begins a transaction, gives SQLite's own "database or disk is full" (`SQLITE_FULL`) at the moment a
//! write needs a page more than the file has. Writes are then answered 503 `storage_full` with
//! `Retry-After` and leave nothing behind; a read whose audit entry cannot be stored is not
//! served (SPEC §4) and is answered the same; once there is room again the same server serves
//! as before, with no restart, and the file passes `PRAGMA integrity_check` and the audit chain
//! verifies. (Postgres's `disk_full`, SQLSTATE 53100, is classified the same way; filling a
//! Postgres disk needs privileges this machine does not grant.)

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use livingwell_server::audit::{self, Verification};
use livingwell_server::http::Settings;
use livingwell_server::store::SqliteStore;
use livingwell_testkit::{Backend, TestDatabase};
use livingwell_tests::{Reply, TestServer};
use reqwest::StatusCode;
use serde_json::json;

/// SQLite's own ceiling: room enough.
const ROOM: i64 = 1_073_741_823;

#[tokio::test]
async fn a_full_disk_refuses_writes_and_unaudited_reads_and_all_works_again_after() {
    let database = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let limit = Arc::new(AtomicI64::new(ROOM));
    let pages = limit.clone();
    let pool = SqliteStore::pool_options()
        .before_acquire(move |conn, _| {
            let max = pages.load(Ordering::SeqCst);
            Box::pin(async move {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "PRAGMA max_page_count = {max}"
                )))
                .execute(&mut *conn)
                .await?;
                Ok(true)
            })
        })
        .connect_with(SqliteStore::connect_options(&database.url).unwrap())
        .await
        .unwrap();
    // The connection that commits audit batches (`store::writes_here`) is limited the same way.
    let audit_pages = limit.clone();
    let store = Arc::new(SqliteStore::from_pool(pool.clone()).before_writing_here(
        move |connection| {
            connection.pragma_update(None, "max_page_count", audit_pages.load(Ordering::SeqCst))
        },
    ));
    let server = TestServer::start_on(database, store.clone(), Settings::default())
        .await
        .unwrap();
    let alex = server.login("alex").await;
    let person = alex.person_id.clone().unwrap();
    let comments = format!("/v1/people/{person}/enablement-plan/comments");
    let plan = format!("/v1/people/{person}/enablement-plan");
    let say = |n: usize| json!({"section": "goals", "body": format!("{n:04} {}", "words ".repeat(300)), "disagree": false});

    // The disk fills: the file may not grow past the pages it has now.
    let full: i64 = sqlx::query_scalar("PRAGMA page_count")
        .fetch_one(&pool)
        .await
        .unwrap();
    limit.store(full, Ordering::SeqCst);
    let mut stored = Vec::new();
    let refused: Reply = loop {
        assert!(stored.len() < 200, "the disk never filled");
        let reply = server
            .post(&comments, &alex.access_token, say(stored.len()))
            .await;
        if reply.status != StatusCode::CREATED {
            break reply;
        }
        stored.push(stored.len());
    };
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        refused.text
    );
    assert_eq!(refused.code(), "storage_full");
    assert!(refused.headers.contains_key("retry-after"));
    let refused_one = stored.len();

    // Reads go on while their audit entries fit the pages there are; the first that does not
    // is not served.
    let mut served = 0;
    let unaudited: Reply = loop {
        assert!(served < 500, "every read found room for its audit entry");
        let reply = server.get(&plan, &alex.access_token).await;
        if reply.status != StatusCode::OK {
            break reply;
        }
        served += 1;
    };
    assert_eq!(
        unaudited.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        unaudited.text
    );
    assert_eq!(unaudited.code(), "storage_full");
    assert!(
        !unaudited.text.contains("allotment"),
        "no plan text in the refusal"
    );
    // Health is not the disk's to decide.
    let health = reqwest::get(server.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);

    // Room again: the same server writes and reads, with no restart.
    limit.store(ROOM, Ordering::SeqCst);
    let after = server.post(&comments, &alex.access_token, say(9_999)).await;
    assert_eq!(after.status, StatusCode::CREATED, "{}", after.text);
    let read = server.get(&plan, &alex.access_token).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);

    // Every acknowledged write once, the refused one not at all, nothing damaged.
    let listed = server.get(&comments, &alex.access_token).await;
    for n in &stored {
        assert_eq!(
            listed.text.matches(&format!("{n:04} words")).count(),
            1,
            "comment {n}"
        );
    }
    assert_eq!(
        listed
            .text
            .matches(&format!("{refused_one:04} words"))
            .count(),
        0
    );
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(integrity, "ok");
    assert!(matches!(
        audit::verify(store.as_ref()).await.unwrap(),
        Verification::Intact { .. }
    ));
}
