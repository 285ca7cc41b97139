//! The `livingwell` binary as an operator runs it.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use livingwell_testkit::{Backend, TestDatabase};

const BIN: &str = env!("CARGO_BIN_EXE_livingwell");

/// A `livingwell serve` child process, killed when dropped.
struct Served {
    child: Child,
    base_url: String,
    output: Vec<String>,
}

impl Served {
    /// SIGTERM, as a service manager stops it; its exit status once it has finished.
    fn terminate(mut self) -> std::process::ExitStatus {
        let term = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(term.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "still running 10 s after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(database_url: &str, extra: &[&str]) -> Served {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--database-url",
            database_url,
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut output = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        output.push(line.clone());
        if let Some(address) = line.strip_prefix("Living Well listening on ") {
            return Served {
                child,
                base_url: address.to_owned(),
                output,
            };
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the server stopped before listening: {output:?}");
}

async fn login(base_url: &str, username: &str, password: &str) -> reqwest::StatusCode {
    reqwest::Client::new()
        .post(format!("{base_url}/v1/auth/login"))
        .json(&serde_json::json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
}

async fn serve_demo_starts_and_alex_can_log_in(backend: Backend) {
    let db = TestDatabase::create(backend).await.unwrap();
    let served = serve(&db.url, &["--demo"]);
    assert!(
        served
            .output
            .iter()
            .any(|l| l.contains("alex") && l.contains("livingwell-demo"))
    );
    assert_eq!(
        login(&served.base_url, "alex", "livingwell-demo").await,
        reqwest::StatusCode::OK
    );
    let docs = reqwest::get(format!("{}/docs/", served.base_url))
        .await
        .unwrap();
    assert_eq!(docs.status(), reqwest::StatusCode::OK);
    drop(served);
    // A second start on the same database finds the demo people and does not add them twice.
    let again = serve(&db.url, &["--demo", "--demo-password", "ignored-now-1"]);
    assert!(again.output.iter().any(|l| l.contains("already present")));
    assert_eq!(
        login(&again.base_url, "alex", "livingwell-demo").await,
        reqwest::StatusCode::OK
    );
}

#[tokio::test]
async fn serve_demo_on_sqlite_starts_and_alex_can_log_in() {
    serve_demo_starts_and_alex_can_log_in(Backend::Sqlite).await;
}

#[tokio::test]
async fn serve_demo_on_postgres_starts_and_alex_can_log_in() {
    serve_demo_starts_and_alex_can_log_in(Backend::Postgres).await;
}

#[tokio::test]
async fn demo_refuses_a_database_with_real_people() {
    let db = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let store = livingwell_server::store::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    let person = livingwell_server::store::PersonRecord {
        id: livingwell_core::domain::PersonId::new(),
        display_name: "Dana Whitlock".into(),
        team_id: None,
        peer_worker_id: None,
        created_at: livingwell_server::store::now(),
    };
    store.create_person(&person, None).await.unwrap();
    let status = Command::new(BIN)
        .args([
            "serve",
            "--demo",
            "--bind",
            "127.0.0.1:0",
            "--database-url",
            &db.url,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success());
    assert_eq!(store.count_people().await.unwrap(), 1);
}

fn verify(database_url: &str) -> (bool, String) {
    let output = Command::new(BIN)
        .args(["audit", "verify", "--database-url", database_url])
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

async fn audit_verify_reports_the_first_broken_link(backend: Backend) {
    let db = TestDatabase::create(backend).await.unwrap();
    let served = serve(&db.url, &["--demo"]);
    // Some audited activity: alex looks at their own overview three times.
    let client = reqwest::Client::new();
    let tokens: serde_json::Value = client
        .post(format!("{}/v1/auth/login", served.base_url))
        .json(&serde_json::json!({"username": "alex", "password": "livingwell-demo"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = tokens["access_token"].as_str().unwrap();
    for _ in 0..3 {
        let me = client
            .get(format!("{}/v1/me", served.base_url))
            .bearer_auth(token)
            .send()
            .await;
        assert_eq!(me.unwrap().status(), reqwest::StatusCode::OK);
    }
    drop(served);

    let (intact, report) = verify(&db.url);
    assert!(intact, "{report}");
    assert!(report.contains("intact: 3 entries"), "{report}");

    // Someone with database access rewrites history: removes the guard and edits entry 2.
    let drop_guard = match backend {
        Backend::Sqlite => "DROP TRIGGER audit_log_no_update",
        Backend::Postgres => "DROP TRIGGER audit_log_append_only ON audit_log",
    };
    db.execute(drop_guard).await.unwrap();
    db.execute("UPDATE audit_log SET action = 'nothing to see' WHERE seq = 2")
        .await
        .unwrap();
    let (intact, report) = verify(&db.url);
    assert!(!intact);
    assert!(report.contains("broken at entry 2"), "{report}");
}

#[tokio::test]
async fn audit_verify_on_sqlite_reports_the_first_broken_link() {
    audit_verify_reports_the_first_broken_link(Backend::Sqlite).await;
}

#[tokio::test]
async fn audit_verify_on_postgres_reports_the_first_broken_link() {
    audit_verify_reports_the_first_broken_link(Backend::Postgres).await;
}

#[tokio::test]
async fn user_add_bootstraps_an_admin_with_the_password_from_stdin() {
    let db = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let mut child = Command::new(BIN)
        .args([
            "user",
            "add",
            "--username",
            "ops",
            "--role",
            "admin",
            "--display-name",
            "Ops Admin",
        ])
        .args(["--database-url", &db.url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a-long-enough-password\n")
        .unwrap();
    assert!(child.wait().unwrap().success());
    let served = serve(&db.url, &[]);
    assert_eq!(
        login(&served.base_url, "ops", "a-long-enough-password").await,
        reqwest::StatusCode::OK
    );
    assert_eq!(
        login(&served.base_url, "ops", "wrong-password-here").await,
        reqwest::StatusCode::UNAUTHORIZED
    );

    // A short password is refused and nothing is created.
    let mut short = Command::new(BIN)
        .args([
            "user",
            "add",
            "--username",
            "ops2",
            "--role",
            "admin",
            "--display-name",
            "Ops Two",
        ])
        .args(["--database-url", &db.url])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    short.stdin.take().unwrap().write_all(b"short\n").unwrap();
    assert!(!short.wait().unwrap().success());
}

#[tokio::test]
async fn logs_carry_no_names_passwords_or_tokens_and_shutdown_is_graceful() {
    let db = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--demo",
            "--bind",
            "127.0.0.1:0",
            "--database-url",
            &db.url,
        ])
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read the logs from the start: a full pipe would block the server mid-write.
    let stderr = child.stderr.take().unwrap();
    let log_reader = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap());
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base_url = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| {
            line.strip_prefix("Living Well listening on ")
                .map(str::to_owned)
        })
        .unwrap();

    let client = reqwest::Client::new();
    let tokens: serde_json::Value = client
        .post(format!("{base_url}/v1/auth/login"))
        .json(&serde_json::json!({"username": "alex", "password": "livingwell-demo"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let me = client
        .get(format!("{base_url}/v1/me"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert!(me.text().await.unwrap().contains("Alex Rivers"));
    let wrong = client
        .post(format!("{base_url}/v1/auth/login"))
        .json(&serde_json::json!({"username": "alex", "password": "my-secret-guess"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), reqwest::StatusCode::UNAUTHORIZED);
    client
        .post(format!("{base_url}/v1/auth/refresh"))
        .json(&serde_json::json!({"refresh_token": refresh}))
        .send()
        .await
        .unwrap();

    // An open event stream must not hold the shutdown open.
    let mut events = client
        .get(format!("{base_url}/v1/events"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), reqwest::StatusCode::OK);

    // SIGTERM: the server finishes and exits cleanly.
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let exited = tokio::task::spawn_blocking(move || child.wait().unwrap());
    let status = tokio::time::timeout(std::time::Duration::from_secs(10), exited)
        .await
        .expect("the server stops within seconds, despite the open stream")
        .unwrap();
    assert!(status.success(), "graceful shutdown exits 0");
    // The stream ended with the server rather than hanging.
    while let Ok(Some(_)) = events.chunk().await {}
    let logs = log_reader.join().unwrap();
    assert!(logs.contains("/v1/me"), "requests are logged: {logs}");
    for secret in [
        "livingwell-demo",
        "my-secret-guess",
        "Alex Rivers",
        "Rivers",
        &access,
        &refresh,
    ] {
        assert!(!logs.contains(secret), "the logs contain {secret:?}");
    }
}

#[tokio::test]
async fn a_deployment_words_the_outcome_domains_its_own_way() {
    let db = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let labels = dir.path().join("labels.json");
    std::fs::write(&labels, r#"{"work": "Work, learning and volunteering"}"#).unwrap();
    let served = serve(
        &db.url,
        &["--demo", "--outcome-labels", labels.to_str().unwrap()],
    );
    let client = reqwest::Client::new();
    let tokens: serde_json::Value = client
        .post(format!("{}/v1/auth/login", served.base_url))
        .json(&serde_json::json!({"username": "alex", "password": "livingwell-demo"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let person = tokens["user"]["person_id"].as_str().unwrap();
    let trajectory: serde_json::Value = client
        .get(format!(
            "{}/v1/people/{person}/enablement-plan/outcomes",
            served.base_url
        ))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let label = |key: &str| {
        trajectory["domains"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["domain"] == key)
            .unwrap()["label"]
            .clone()
    };
    assert_eq!(label("work"), "Work, learning and volunteering");
    assert_eq!(label("trust_and_hope"), "Trust and hope");

    // A label file naming a domain that does not exist stops the server at start-up.
    std::fs::write(&labels, r#"{"star_sign": "Star sign"}"#).unwrap();
    let status = Command::new(BIN)
        .args(["serve", "--bind", "127.0.0.1:0", "--database-url", &db.url])
        .args(["--outcome-labels", labels.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success());
}

/// Signs in as alex and reads their overview `times` times: one audit entry each.
async fn alex_reads_their_overview(base_url: &str, times: usize) {
    let client = reqwest::Client::new();
    let tokens: serde_json::Value = client
        .post(format!("{base_url}/v1/auth/login"))
        .json(&serde_json::json!({"username": "alex", "password": "livingwell-demo"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = tokens["access_token"].as_str().unwrap();
    for _ in 0..times {
        let me = client
            .get(format!("{base_url}/v1/me"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(me.status(), reqwest::StatusCode::OK);
    }
}

fn verify_with_checkpoints(database_url: &str, checkpoint_dir: &Path) -> (bool, String) {
    let output = Command::new(BIN)
        .args(["audit", "verify", "--database-url", database_url])
        .arg("--audit-checkpoint-dir")
        .arg(checkpoint_dir)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

fn checkpoint_file(checkpoint_dir: &Path, seq: i64) -> std::path::PathBuf {
    checkpoint_dir.join(format!("checkpoint-{seq:020}.json"))
}

async fn wait_for_checkpoint(checkpoint_dir: &Path, seq: i64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !checkpoint_file(checkpoint_dir, seq).exists() {
        assert!(
            Instant::now() < deadline,
            "no checkpoint at seq {seq} within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn drop_the_no_delete_guard(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "DROP TRIGGER audit_log_no_delete",
        Backend::Postgres => "DROP TRIGGER audit_log_append_only ON audit_log",
    }
}

/// Serves with checkpoints every second — two processes on Postgres, one on SQLite — and has
/// alex read their overview four times on each; returns the number of audit entries written.
async fn serve_and_checkpoint(db: &TestDatabase, checkpoint_dir: &Path) -> (Vec<Served>, i64) {
    let dir = checkpoint_dir.to_str().unwrap();
    let checkpoints = [
        "--audit-checkpoint-dir",
        dir,
        "--audit-checkpoint-interval-secs",
        "1",
    ];
    let mut servers = vec![serve(&db.url, &[&["--demo"][..], &checkpoints].concat())];
    if db.backend() == Backend::Postgres {
        servers.push(serve(&db.url, &checkpoints));
    }
    for served in &servers {
        alex_reads_their_overview(&served.base_url, 4).await;
    }
    let written = 4 * i64::try_from(servers.len()).unwrap();
    wait_for_checkpoint(checkpoint_dir, written).await;
    (servers, written)
}

async fn audit_verify_names_entries_deleted_after_a_checkpoint(backend: Backend) {
    let db = TestDatabase::create(backend).await.unwrap();
    let checkpoints = tempfile::tempdir().unwrap();
    let (servers, written) = serve_and_checkpoint(&db, checkpoints.path()).await;

    // The database owner removes the guard and the newest three entries, which the checkpoint
    // covers, while the servers run on.
    db.execute(drop_the_no_delete_guard(backend)).await.unwrap();
    let deleted = db
        .execute("DELETE FROM audit_log WHERE seq > (SELECT max(seq) - 3 FROM audit_log)")
        .await
        .unwrap();
    assert_eq!(deleted, 3);
    for served in servers {
        assert!(served.terminate().success());
    }
    // The chain alone still looks whole…
    let (intact, report) = verify(&db.url);
    assert!(intact, "{report}");
    // …but not against the checkpoints.
    let (intact, report) = verify_with_checkpoints(&db.url, checkpoints.path());
    assert!(!intact, "{report}");
    assert!(
        report.contains(&format!(
            "audit log truncated: entries {}\u{2013}{written} are missing (last checkpoint at seq \
             {written}, taken ",
            written - 2
        )),
        "{report}"
    );
    assert!(
        report.contains(&format!("the database ends at {}", written - 3)),
        "{report}"
    );
}

#[tokio::test]
async fn audit_verify_on_sqlite_names_entries_deleted_after_a_checkpoint() {
    audit_verify_names_entries_deleted_after_a_checkpoint(Backend::Sqlite).await;
}

#[tokio::test]
async fn audit_verify_on_postgres_names_entries_deleted_after_a_checkpoint() {
    audit_verify_names_entries_deleted_after_a_checkpoint(Backend::Postgres).await;
}

async fn shutdown_checkpoints_the_head_and_an_untouched_log_verifies(backend: Backend) {
    let db = TestDatabase::create(backend).await.unwrap();
    let checkpoints = tempfile::tempdir().unwrap();
    // No checkpoints yet: said, and not a failure.
    let (intact, report) = verify_with_checkpoints(&db.url, checkpoints.path());
    assert!(intact, "{report}");
    assert!(report.contains("no audit checkpoints"), "{report}");

    // An hour between checkpoints: only the one at shutdown can hold the newest entry.
    let served = serve(
        &db.url,
        &[
            "--demo",
            "--audit-checkpoint-dir",
            checkpoints.path().to_str().unwrap(),
            "--audit-checkpoint-interval-secs",
            "3600",
        ],
    );
    alex_reads_their_overview(&served.base_url, 4).await;
    assert!(!checkpoint_file(checkpoints.path(), 4).exists());
    assert!(served.terminate().success());
    assert!(checkpoint_file(checkpoints.path(), 4).exists());

    let (intact, report) = verify_with_checkpoints(&db.url, checkpoints.path());
    assert!(intact, "{report}");
    assert!(report.contains("intact: 4 entries"), "{report}");
    assert!(
        report.contains("matches its newest checkpoint (checkpoint at seq 4, taken "),
        "{report}"
    );
}

#[tokio::test]
async fn shutdown_on_sqlite_checkpoints_the_head_and_an_untouched_log_verifies() {
    shutdown_checkpoints_the_head_and_an_untouched_log_verifies(Backend::Sqlite).await;
}

#[tokio::test]
async fn shutdown_on_postgres_checkpoints_the_head_and_an_untouched_log_verifies() {
    shutdown_checkpoints_the_head_and_an_untouched_log_verifies(Backend::Postgres).await;
}

async fn audit_verify_refuses_a_checkpoint_with_a_forged_signature(backend: Backend) {
    let db = TestDatabase::create(backend).await.unwrap();
    let checkpoints = tempfile::tempdir().unwrap();
    let (servers, written) = serve_and_checkpoint(&db, checkpoints.path()).await;
    for served in servers {
        assert!(served.terminate().success());
    }
    let (intact, report) = verify_with_checkpoints(&db.url, checkpoints.path());
    assert!(intact, "{report}");

    // Someone edits the newest checkpoint to hide a truncation: the signature no longer holds.
    let newest = checkpoint_file(checkpoints.path(), written);
    let mut checkpoint: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&newest).unwrap()).unwrap();
    checkpoint["seq"] = serde_json::json!(written - 1);
    std::fs::write(&newest, serde_json::to_vec(&checkpoint).unwrap()).unwrap();
    let (intact, report) = verify_with_checkpoints(&db.url, checkpoints.path());
    assert!(!intact, "{report}");
    assert!(
        report.contains(&format!(
            "audit checkpoint {} refused: bad signature",
            newest.display()
        )),
        "{report}"
    );
}

#[tokio::test]
async fn audit_verify_on_sqlite_refuses_a_checkpoint_with_a_forged_signature() {
    audit_verify_refuses_a_checkpoint_with_a_forged_signature(Backend::Sqlite).await;
}

#[tokio::test]
async fn audit_verify_on_postgres_refuses_a_checkpoint_with_a_forged_signature() {
    audit_verify_refuses_a_checkpoint_with_a_forged_signature(Backend::Postgres).await;
}
