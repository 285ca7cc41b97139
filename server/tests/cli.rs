//! The `livingwell` binary as an operator runs it.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
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

/// The binary, with its data directory (where `serve` keeps the key-encryption key) beside the
/// test's database: every process started on one database shares its key, and nothing is
/// written into the source tree.
fn livingwell(database_url: &str) -> Command {
    let mut command = Command::new(BIN);
    command
        .env("LIVINGWELL_DATA_DIR", data_dir(database_url))
        .env_remove("LIVINGWELL_KEY_ENCRYPTION_KEY_FILE");
    command
}

fn data_dir(database_url: &str) -> PathBuf {
    match database_url.strip_prefix("sqlite://") {
        Some(file) => Path::new(file).parent().unwrap().to_owned(),
        None => Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("livingwell-data")
            .join(database_url.rsplit('/').next().unwrap()),
    }
}

fn serve(database_url: &str, extra: &[&str]) -> Served {
    serve_logging(database_url, extra, Stdio::null())
}

/// [`serve`], with the server's log (standard error) going to `log`.
fn serve_logging(database_url: &str, extra: &[&str], log: impl Into<Stdio>) -> Served {
    let mut child = livingwell(database_url)
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--database-url",
            database_url,
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(log)
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
        created_at: livingwell_server::clock::Clock::System.now(),
    };
    store.create_person(&person, None).await.unwrap();
    let status = livingwell(&db.url)
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
    let mut child = livingwell(&db.url)
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
    let status = livingwell(&db.url)
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

// ---------------------------------------------------------------------------------------------
// Token signing keys: sealed at rest, rotated
// ---------------------------------------------------------------------------------------------

/// The default key-encryption key of the servers started on this database.
fn kek_file(database_url: &str) -> PathBuf {
    data_dir(database_url).join(livingwell_server::auth::sealing::KEK_FILE_NAME)
}

/// Every `signing_keys` row as a dump would show it: the kid and the stored key bytes (none
/// once retired).
async fn stored_signing_keys(db: &TestDatabase) -> Vec<(String, Option<Vec<u8>>)> {
    use sqlx::Connection;
    let sql = "SELECT kid, sealed_private_key FROM signing_keys ORDER BY created_at";
    match db.backend() {
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::query_as(sql).fetch_all(&mut conn).await.unwrap()
        }
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            sqlx::query_as(sql).fetch_all(&mut conn).await.unwrap()
        }
    }
}

/// Signs in; the tokens response.
async fn sign_in(base_url: &str, username: &str) -> serde_json::Value {
    let response = reqwest::Client::new()
        .post(format!("{base_url}/v1/auth/login"))
        .json(&serde_json::json!({"username": username, "password": "livingwell-demo"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    response.json().await.unwrap()
}

fn access_token(tokens: &serde_json::Value) -> String {
    tokens["access_token"].as_str().unwrap().to_owned()
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

async fn me_status(base_url: &str, token: &str) -> reqwest::StatusCode {
    reqwest::Client::new()
        .get(format!("{base_url}/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

async fn jwks_kids(base_url: &str) -> Vec<String> {
    let jwks: serde_json::Value = reqwest::get(format!("{base_url}/.well-known/jwks.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// The public key the JWKS publishes for `kid`.
async fn published_key(base_url: &str, kid: &str) -> Vec<u8> {
    use base64::Engine;
    let jwks: serde_json::Value = reqwest::get(format!("{base_url}/.well-known/jwks.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|key| key["kid"] == kid)
        .unwrap();
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(key["x"].as_str().unwrap())
        .unwrap()
}

/// Waits up to 15 s for `check` to hold.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    while !check().await {
        assert!(Instant::now() < deadline, "not within 15 s: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

async fn a_database_dump_holds_no_usable_private_key(backend: Backend) {
    use ed25519_dalek::SigningKey;
    use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
    use livingwell_server::auth::sealing::{KeyEncryptionKey, StoredKey};

    let db = TestDatabase::create(backend).await.unwrap();
    let served = serve(&db.url, &["--demo"]);
    let token = access_token(&sign_in(&served.base_url, "alex").await);
    let kid = kid_of(&token);
    let rows = stored_signing_keys(&db).await;
    assert_eq!(rows.len(), 1);
    for (_, stored) in &rows {
        let stored = stored.as_ref().unwrap();
        assert!(
            SigningKey::from_pkcs8_der(stored).is_err(),
            "a stored key parses as a PKCS#8 key"
        );
    }
    // The key in use, as only the holder of the key-encryption key file can read it: it is the
    // one the JWKS publishes, and neither its DER nor its secret bytes are in the database.
    let kek = KeyEncryptionKey::read(&kek_file(&db.url)).unwrap().unwrap();
    let (stored_kid, stored) = &rows[0];
    assert_eq!(*stored_kid, kid);
    let StoredKey::Sealed(key) = kek.open(&kid, stored.as_ref().unwrap()).unwrap() else {
        panic!("the key in use is not sealed");
    };
    assert_eq!(
        published_key(&served.base_url, &kid).await,
        key.verifying_key().as_bytes().to_vec()
    );
    let der = key.to_pkcs8_der().unwrap();
    for (_, stored) in &rows {
        let stored = stored.as_ref().unwrap();
        assert!(!contains(stored, der.as_bytes()));
        assert!(!contains(stored, &key.to_bytes()));
    }
    // On SQLite the dump is the file itself (and its write-ahead log).
    if backend == Backend::Sqlite {
        let file = db.url.strip_prefix("sqlite://").unwrap();
        for path in [file.to_owned(), format!("{file}-wal")] {
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            assert!(!contains(&bytes, der.as_bytes()), "{path} holds the DER");
            assert!(!contains(&bytes, &key.to_bytes()), "{path} holds the key");
        }
    }
}

#[tokio::test]
async fn a_sqlite_database_dump_holds_no_usable_private_key() {
    a_database_dump_holds_no_usable_private_key(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_postgres_database_dump_holds_no_usable_private_key() {
    a_database_dump_holds_no_usable_private_key(Backend::Postgres).await;
}

/// A database as the code before sealing left it: migrations up to 0008, and a signing key
/// stored as plain PKCS#8 DER.
async fn database_from_before_sealing(db: &TestDatabase, kid: &str, der: &[u8]) {
    let insert = "INSERT INTO signing_keys (kid, private_der, created_at) VALUES ($1, $2, $3)";
    let created_at = livingwell_server::clock::Clock::System.now() - chrono::Duration::days(30);
    match db.backend() {
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            sqlx::migrate!("./migrations/postgres")
                .run_to(8, &pool)
                .await
                .unwrap();
            sqlx::query(insert)
                .bind(kid)
                .bind(der)
                .bind(created_at)
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
        Backend::Sqlite => {
            use std::str::FromStr;
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(&db.url)
                .unwrap()
                .create_if_missing(true);
            let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
            sqlx::migrate!("./migrations/sqlite")
                .run_to(8, &pool)
                .await
                .unwrap();
            sqlx::query(insert)
                .bind(kid)
                .bind(der)
                .bind(created_at)
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
    }
}

/// The claims of a token, read without checking it.
fn claims_of(token: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

async fn a_key_stored_in_the_clear_is_sealed_on_upgrade_and_still_verifies(backend: Backend) {
    use base64::Engine;
    use ed25519_dalek::SigningKey;
    use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
    use sha2::Digest;

    let db = TestDatabase::create(backend).await.unwrap();
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    let der = key.to_pkcs8_der().unwrap();
    let kid = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(&sha2::Sha256::digest(key.verifying_key().as_bytes())[..12]);
    database_from_before_sealing(&db, &kid, der.as_bytes()).await;

    let served = serve(&db.url, &["--demo"]);
    let rows = stored_signing_keys(&db).await;
    assert_eq!(rows.len(), 1);
    let (stored_kid, stored) = &rows[0];
    assert_eq!(*stored_kid, kid);
    let stored = stored.as_ref().unwrap();
    assert!(
        SigningKey::from_pkcs8_der(stored).is_err(),
        "the key is still stored in the clear"
    );
    assert!(!contains(stored, der.as_bytes()));

    // The sealed key is the same key: it signs sign-ins, and a token it signed outside the
    // server, as the code before the upgrade did, is accepted.
    let tokens = sign_in(&served.base_url, "alex").await;
    let signed_by_server = access_token(&tokens);
    assert_eq!(kid_of(&signed_by_server), kid);
    let mut claims = claims_of(&signed_by_server);
    claims["jti"] = serde_json::json!(uuid::Uuid::now_v7().to_string());
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some(kid.clone());
    header.typ = Some("at+jwt".to_owned());
    let signed_by_old_key = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_ed_der(der.as_bytes()),
    )
    .unwrap();
    assert_eq!(
        me_status(&served.base_url, &signed_by_old_key).await,
        reqwest::StatusCode::OK
    );
    drop(served);

    // A restart opens the sealed row; tokens from before still verify.
    let again = serve(&db.url, &[]);
    for token in [&signed_by_server, &signed_by_old_key] {
        assert_eq!(
            me_status(&again.base_url, token).await,
            reqwest::StatusCode::OK
        );
    }
    assert_eq!(stored_signing_keys(&db).await[0].1.as_ref(), Some(stored));
}

#[tokio::test]
async fn a_key_stored_in_the_clear_on_sqlite_is_sealed_on_upgrade_and_still_verifies() {
    a_key_stored_in_the_clear_is_sealed_on_upgrade_and_still_verifies(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_key_stored_in_the_clear_on_postgres_is_sealed_on_upgrade_and_still_verifies() {
    a_key_stored_in_the_clear_is_sealed_on_upgrade_and_still_verifies(Backend::Postgres).await;
}

fn keys_command(database_url: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let output = livingwell(database_url)
        .arg("keys")
        .args(args)
        .args(["--database-url", database_url])
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// One server reloading the keys every second; on Postgres a second one that reloads only every
/// minute, so it learns of the new key from the first token that names it.
async fn rotation_keeps_old_tokens_until_they_expire(backend: Backend) {
    let db = TestDatabase::create(backend).await.unwrap();
    let a = serve(&db.url, &["--demo", "--key-reload-interval-secs", "1"]);
    let b = (backend == Backend::Postgres).then(|| serve(&db.url, &[]));
    let before = access_token(&sign_in(&a.base_url, "alex").await);
    let old_kid = kid_of(&before);

    let (code, said, _) = keys_command(&db.url, &["rotate"]);
    assert_eq!(code, Some(0), "{said}");
    let new_kid = said
        .lines()
        .find_map(|line| {
            line.strip_prefix("signing key ")?
                .strip_suffix(" added: running servers sign new tokens with it within a minute")
        })
        .unwrap_or_else(|| panic!("no new kid in {said:?}"))
        .to_owned();
    assert_ne!(new_kid, old_kid);
    assert!(
        said.contains(&format!("signing key {old_kid} verifies until")),
        "{said}"
    );

    eventually("the running server publishes the new key", || async {
        jwks_kids(&a.base_url).await.contains(&new_kid)
    })
    .await;
    assert!(jwks_kids(&a.base_url).await.contains(&old_kid));
    let after = access_token(&sign_in(&a.base_url, "alex").await);
    assert_eq!(kid_of(&after), new_kid, "new sign-ins use the new key");
    for server in std::iter::once(&a).chain(b.as_ref()) {
        assert_eq!(
            me_status(&server.base_url, &before).await,
            reqwest::StatusCode::OK
        );
        assert_eq!(
            me_status(&server.base_url, &after).await,
            reqwest::StatusCode::OK
        );
    }
    if let Some(b) = &b {
        assert!(jwks_kids(&b.base_url).await.contains(&new_kid));
    }

    let (code, listed, _) = keys_command(&db.url, &["list"]);
    assert_eq!(code, Some(0));
    let line = |kid: &str| {
        listed
            .lines()
            .find(|line| line.starts_with(kid))
            .unwrap_or_else(|| panic!("{kid} not listed: {listed}"))
            .to_owned()
    };
    assert!(line(&new_kid).ends_with("signs"), "{listed}");
    assert!(line(&old_kid).contains("verifies until"), "{listed}");

    // Time passes: every token the old key signed has expired (its retirement time, set at the
    // rotation, is moved back to its creation instead of waiting seven and a half minutes).
    let moved = db
        .execute("UPDATE signing_keys SET retire_after = created_at WHERE retire_after IS NOT NULL")
        .await
        .unwrap();
    assert_eq!(moved, 1);
    eventually("the old key leaves the JWKS", || async {
        !jwks_kids(&a.base_url).await.contains(&old_kid)
    })
    .await;
    assert_eq!(jwks_kids(&a.base_url).await, vec![new_kid.clone()]);
    assert_eq!(
        me_status(&a.base_url, &before).await,
        reqwest::StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        me_status(&a.base_url, &after).await,
        reqwest::StatusCode::OK
    );
    let rows = stored_signing_keys(&db).await;
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter()
            .any(|(kid, bytes)| *kid == old_kid && bytes.is_none()),
        "the retired key's sealed bytes are deleted"
    );
    let (_, listed, _) = keys_command(&db.url, &["list"]);
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with(&old_kid) && l.contains("retired")),
        "{listed}"
    );
}

#[tokio::test]
async fn after_keys_rotate_on_sqlite_old_tokens_verify_until_they_expire() {
    rotation_keeps_old_tokens_until_they_expire(Backend::Sqlite).await;
}

#[tokio::test]
async fn after_keys_rotate_on_postgres_old_tokens_verify_until_they_expire_on_both_processes() {
    rotation_keeps_old_tokens_until_they_expire(Backend::Postgres).await;
}

/// Runs `serve` expected to stop at start-up; its exit code and log.
fn serve_refused(database_url: &str, extra: &[&str]) -> (Option<i32>, String) {
    let output = livingwell(database_url)
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--database-url",
            database_url,
        ])
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!stdout.contains("listening"), "it started: {stdout}");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

async fn a_wrong_key_encryption_key_stops_start_up(backend: Backend) {
    let db = TestDatabase::create(backend).await.unwrap();
    drop(serve(&db.url, &["--demo"]));
    let right = std::fs::read(kek_file(&db.url)).unwrap();
    let rows = stored_signing_keys(&db).await;
    let dir = tempfile::tempdir().unwrap();

    let wrong = dir.path().join("wrong.kek");
    std::fs::write(&wrong, [7u8; 32]).unwrap();
    let wrong_arg = ["--key-encryption-key-file", wrong.to_str().unwrap()];
    let (code, log) = serve_refused(&db.url, &wrong_arg);
    assert_eq!(code, Some(1), "{log}");
    assert!(
        log.contains("cannot be opened: the key-encryption key does not open it"),
        "{log}"
    );
    assert!(log.contains(&rows[0].0), "the message names the key: {log}");
    assert!(!log.contains("panicked"), "{log}");
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    for secret in [&right[..], &[7u8; 32][..], rows[0].1.as_deref().unwrap()] {
        assert!(!log.contains(&hex(secret)), "{log}");
        assert!(!log.contains(&format!("{secret:?}")), "{log}");
    }
    // Nor does a rotation seal a key the servers could not open.
    let (code, said, log) = keys_command(&db.url, &[&["rotate"][..], &wrong_arg].concat());
    assert_eq!(code, Some(1), "{said}{log}");
    assert!(log.contains("not rotated"), "{log}");
    assert_eq!(stored_signing_keys(&db).await, rows);

    // A key file that is not 32 raw bytes is refused, saying what it must be.
    std::fs::write(&wrong, format!("{}\n", hex(&right))).unwrap();
    let (code, log) = serve_refused(&db.url, &wrong_arg);
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("must hold exactly 32 raw bytes"), "{log}");
    assert!(!log.contains(&hex(&right)), "{log}");

    // Without its key file, a database of sealed keys does not get a new one made for it.
    std::fs::remove_file(kek_file(&db.url)).unwrap();
    let (code, log) = serve_refused(&db.url, &[]);
    assert_eq!(code, Some(1), "{log}");
    assert!(
        log.contains("are sealed, but there is no key-encryption key file"),
        "{log}"
    );
    assert!(!kek_file(&db.url).exists());
}

#[tokio::test]
async fn a_wrong_key_encryption_key_stops_start_up_on_sqlite() {
    a_wrong_key_encryption_key_stops_start_up(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_wrong_key_encryption_key_stops_start_up_on_postgres() {
    a_wrong_key_encryption_key_stops_start_up(Backend::Postgres).await;
}

#[tokio::test]
async fn serve_creates_a_private_key_encryption_key_and_logs_only_its_path() {
    use base64::Engine;
    let db = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let logs = tempfile::tempdir().unwrap();
    let log_path = logs.path().join("serve.log");
    let served = serve_logging(
        &db.url,
        &["--demo"],
        std::fs::File::create(&log_path).unwrap(),
    );
    let kek = kek_file(&db.url);
    let bytes = std::fs::read(&kek).unwrap();
    assert_eq!(bytes.len(), 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&kek).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    }
    drop(served);
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.contains(&kek.display().to_string()) && log.contains("created the key-encryption key"),
        "{log}"
    );
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    for encoded in [
        hex,
        base64::engine::general_purpose::STANDARD.encode(&bytes),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes),
        format!("{bytes:?}"),
    ] {
        assert!(!log.contains(&encoded), "the log holds the key");
    }
    // The next start uses it and makes no other.
    let again_log = logs.path().join("again.log");
    drop(serve_logging(
        &db.url,
        &[],
        std::fs::File::create(&again_log).unwrap(),
    ));
    assert_eq!(std::fs::read(&kek).unwrap(), bytes);
    assert!(
        !std::fs::read_to_string(&again_log)
            .unwrap()
            .contains("created the key-encryption key")
    );
}
