//! The production store: Postgres.

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};

use super::StoreResult;
use super::sql::impl_store;

/// Postgres: many writers; audit appends are serialised by an advisory lock so that processes
/// sharing the database extend one chain.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
}

/// The advisory lock that guards the audit chain ("LWAUDIT" in ASCII).
const AUDIT_CHAIN_LOCK: i64 = 0x004C_5741_5544_4954;

impl PgStore {
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .connect(url)
            .await?;
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn run_migrations(&self) -> StoreResult<()> {
        sqlx::migrate!("./migrations/postgres")
            .run(&self.pool)
            .await?;
        Ok(())
    }

    async fn begin_write(&self) -> StoreResult<Transaction<'static, Postgres>> {
        Ok(self.pool.begin().await?)
    }

    async fn lock_audit_chain(tx: &mut Transaction<'static, Postgres>) -> StoreResult<()> {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(AUDIT_CHAIN_LOCK)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

impl_store!(PgStore);
