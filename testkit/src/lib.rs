//! Fresh databases for tests: a SQLite file in a temporary directory, or a new database on the
//! local Postgres server, dropped when the test ends (even when it fails).
//!
//! Postgres: `postgres://postgres@127.0.0.1:5432/postgres`, or `LIVINGWELL_TEST_POSTGRES`.

use anyhow::Context;
use sqlx::Connection;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The Postgres server tests create their databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("LIVINGWELL_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database made for one test, removed when dropped.
#[derive(Debug)]
pub struct TestDatabase {
    pub url: String,
    postgres_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    pub async fn create(backend: Backend) -> anyhow::Result<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir()?;
                let url = format!("sqlite://{}", dir.path().join("livingwell.db").display());
                Ok(Self {
                    url,
                    postgres_name: None,
                    _dir: Some(dir),
                })
            }
            Backend::Postgres => {
                let admin = postgres_admin_url();
                let name = format!("lw_test_{}", uuid::Uuid::new_v4().simple());
                let mut conn = sqlx::PgConnection::connect(&admin)
                    .await
                    .context("connecting to the test Postgres server")?;
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await?;
                conn.close().await?;
                let base = admin
                    .rsplit_once('/')
                    .map_or(admin.as_str(), |(base, _)| base);
                Ok(Self {
                    url: format!("{base}/{name}"),
                    postgres_name: Some(name),
                    _dir: None,
                })
            }
        }
    }

    pub fn backend(&self) -> Backend {
        if self.postgres_name.is_some() {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }

    /// Runs one statement directly, behind the application's back; the rows it affected.
    pub async fn execute(&self, sql: &'static str) -> Result<u64, sqlx::Error> {
        let affected = match self.backend() {
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.url).await?;
                sqlx::query(sql).execute(&mut conn).await?.rows_affected()
            }
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url).await?;
                sqlx::query(sql).execute(&mut conn).await?.rows_affected()
            }
        };
        Ok(affected)
    }
}

/// A transaction opened behind the application's back that keeps it from claiming an
/// idempotency key (on SQLite, from writing at all) until [`KeyClaimsHeld::release`]: a write
/// caught there is still running, however long a test needs it to.
#[derive(Debug)]
pub enum KeyClaimsHeld {
    Postgres(sqlx::PgConnection),
    Sqlite(sqlx::SqliteConnection),
}

impl KeyClaimsHeld {
    /// Lets the held writes go.
    pub async fn release(self) -> Result<(), sqlx::Error> {
        match self {
            Self::Postgres(mut conn) => {
                sqlx::query("COMMIT").execute(&mut conn).await?;
            }
            Self::Sqlite(mut conn) => {
                sqlx::query("COMMIT").execute(&mut conn).await?;
            }
        }
        Ok(())
    }
}

impl TestDatabase {
    /// Holds back every idempotency key claim until the returned hold is released.
    pub async fn hold_key_claims(&self) -> Result<KeyClaimsHeld, sqlx::Error> {
        match self.backend() {
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.url).await?;
                sqlx::query("BEGIN").execute(&mut conn).await?;
                // Blocks inserts and updates; reads (sign-in checks) go on.
                sqlx::query("LOCK TABLE idempotency_keys IN EXCLUSIVE MODE")
                    .execute(&mut conn)
                    .await?;
                Ok(KeyClaimsHeld::Postgres(conn))
            }
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url).await?;
                // SQLite has one writer: this is it until the hold ends. Readers go on (WAL).
                sqlx::query("BEGIN IMMEDIATE").execute(&mut conn).await?;
                Ok(KeyClaimsHeld::Sqlite(conn))
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(name) = self.postgres_name.take() else {
            return;
        };
        // Drop may run inside the test's runtime, which must not be blocked: use a thread with a
        // runtime of its own.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&postgres_admin_url()).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                }
            });
        })
        .join();
    }
}
