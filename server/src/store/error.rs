//! What a database failure means, decided in one place.
//!
//! Every `sqlx::Error` becomes a [`StoreError`] through the one `From` impl below, whether it
//! leaves the store by `?` or otherwise, so a given failure always gets the same answer:
//!
//! - A **unique violation** is a [`StoreError::Conflict`] naming the rule that was broken, looked
//!   up by its exact name in [`UNIQUE_CONSTRAINTS`]: Postgres reports the constraint (or unique
//!   index) name, SQLite the `table.column[, table.column]` list of its message. Nothing is
//!   guessed from parts of names; a rule missing from the table answers with the field `request`
//!   ([`UNLISTED`]), and a test compares the table with the migrated schemas of both databases.
//! - A **foreign-key violation** is a [`StoreError::MissingReference`].
//! - A failure that says nothing about the request and may pass by itself — the pool exhausted
//!   or closed, the connection lost or refused (Postgres SQLSTATE class 08, `admin_shutdown`,
//!   `crash_shutdown`, `cannot_connect_now`, too many connections), a timeout (statement or lock
//!   timeout), a serialisation failure or deadlock, SQLite busy or locked — is
//!   [`StoreError::Unavailable`]: the HTTP layer answers 503 with `Retry-After`.
//! - Anything else is [`StoreError::Database`] (503, no promise that retrying helps).
//!
//! A database's own message can quote stored values, so it is never shown or logged: callers
//! log [`StoreError::kind`] only.

use livingwell_core::domain::FieldErrorCode;
use sqlx::error::{DatabaseError, ErrorKind};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken; carries the rule and what the request is told about it.
    #[error("conflict on {}", .0.field)]
    Conflict(&'static UniqueConstraint),
    /// A referenced row does not exist.
    #[error("missing reference")]
    MissingReference,
    /// The database cannot answer now and may shortly: worth retrying after a pause.
    #[error("database unavailable: {0}")]
    Unavailable(sqlx::Error),
    /// The database's storage is full (SQLite `SQLITE_FULL`, Postgres `disk_full`): the write
    /// was rolled back whole, and will go once there is room.
    #[error("the database's storage is full")]
    StorageFull,
    #[error("stored data is not what this version expects: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Database(sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// What kind of failure this was, for logs: a database's own error text can quote stored
    /// values, so it is never logged.
    pub fn kind(&self) -> &'static str {
        match self {
            StoreError::Conflict(_) => "conflict",
            StoreError::StorageFull => "storage_full",
            StoreError::MissingReference => "missing_reference",
            StoreError::Corrupt(_) => "corrupt",
            StoreError::Migrate(_) => "migrate",
            StoreError::Unavailable(error) => match error {
                sqlx::Error::PoolTimedOut => "pool_timed_out",
                sqlx::Error::PoolClosed => "pool_closed",
                sqlx::Error::Io(_) => "io",
                sqlx::Error::WorkerCrashed => "worker_crashed",
                _ => "unavailable",
            },
            StoreError::Database(error) => match error {
                sqlx::Error::Database(_) => "database",
                sqlx::Error::RowNotFound => "row_not_found",
                sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => "decode",
                _ => "other",
            },
        }
    }
}

/// The one classification of database failures (see the module note).
impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Database(db) => match db.kind() {
                ErrorKind::UniqueViolation => StoreError::Conflict(unique_constraint(db.as_ref())),
                ErrorKind::ForeignKeyViolation => StoreError::MissingReference,
                _ if is_storage_full(db.as_ref()) => StoreError::StorageFull,
                _ if is_transient(db.as_ref()) => StoreError::Unavailable(error),
                _ => StoreError::Database(error),
            },
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(error),
            _ => StoreError::Database(error),
        }
    }
}

/// A uniqueness rule of the schema, and what a request that breaks it is told.
#[derive(Debug, PartialEq, Eq)]
pub struct UniqueConstraint {
    /// The name Postgres reports: `{table}_pkey`, `{table}_{columns}_key`, or the name given.
    pub postgres: &'static str,
    /// The columns SQLite names after `UNIQUE constraint failed: `, exactly as it lists them.
    pub sqlite: &'static str,
    /// The request field the answer names.
    pub field: &'static str,
    /// The error code given for that field.
    pub code: FieldErrorCode,
}

const fn rule(
    postgres: &'static str,
    sqlite: &'static str,
    field: &'static str,
    code: FieldErrorCode,
) -> UniqueConstraint {
    UniqueConstraint {
        postgres,
        sqlite,
        field,
        code,
    }
}

/// A unique violation whose rule is not in [`UNIQUE_CONSTRAINTS`].
pub static UNLISTED: UniqueConstraint = rule("", "", "request", FieldErrorCode::Conflict);

/// Not a rule of the schema: what a keyed request is told when a retry took its key over once
/// its lease had passed (`store::idempotency::begin_write`), so that its writes do not take
/// effect.
pub static KEY_TAKEN_OVER: UniqueConstraint =
    rule("", "", "idempotency-key", FieldErrorCode::Conflict);

/// Every UNIQUE and PRIMARY KEY rule in `migrations/{postgres,sqlite}`, in migration order.
///
/// Ids, sequence numbers, token and code hashes are made by the server and are not a request's
/// doing; they answer `id`. The rules a request can break name its field: a username or team
/// name in use, a second account for a person, a second open crisis activation.
pub static UNIQUE_CONSTRAINTS: &[UniqueConstraint] = &[
    // 0001_foundation
    rule("teams_pkey", "teams.id", "id", FieldErrorCode::Taken),
    rule(
        "teams_name_key",
        "teams.name",
        "name",
        FieldErrorCode::Taken,
    ),
    rule("people_pkey", "people.id", "id", FieldErrorCode::Taken),
    rule("users_pkey", "users.id", "id", FieldErrorCode::Taken),
    rule(
        "users_username_key",
        "users.username",
        "username",
        FieldErrorCode::Taken,
    ),
    rule(
        "users_person_id_key",
        "users.person_id",
        "person_id",
        FieldErrorCode::Taken,
    ),
    rule(
        "caseloads_pkey",
        "caseloads.person_id",
        "person_id",
        FieldErrorCode::Taken,
    ),
    rule(
        "team_members_pkey",
        "team_members.user_id, team_members.team_id",
        "user_id",
        FieldErrorCode::Taken,
    ),
    rule(
        "peer_allocations_pkey",
        "peer_allocations.person_id",
        "person_id",
        FieldErrorCode::Taken,
    ),
    rule(
        "carer_links_pkey",
        "carer_links.person_id, carer_links.carer_id",
        "carer_id",
        FieldErrorCode::Taken,
    ),
    rule("consents_pkey", "consents.id", "id", FieldErrorCode::Taken),
    rule(
        "excluded_people_pkey",
        "excluded_people.person_id, excluded_people.user_id",
        "user_id",
        FieldErrorCode::Taken,
    ),
    rule(
        "emergency_access_pkey",
        "emergency_access.id",
        "id",
        FieldErrorCode::Taken,
    ),
    rule("sessions_pkey", "sessions.id", "id", FieldErrorCode::Taken),
    rule(
        "refresh_tokens_pkey",
        "refresh_tokens.id",
        "id",
        FieldErrorCode::Taken,
    ),
    rule(
        "refresh_tokens_token_hash_key",
        "refresh_tokens.token_hash",
        "id",
        FieldErrorCode::Taken,
    ),
    rule(
        "oauth_clients_pkey",
        "oauth_clients.client_id",
        "client_id",
        FieldErrorCode::Taken,
    ),
    rule(
        "signing_keys_pkey",
        "signing_keys.kid",
        "id",
        FieldErrorCode::Taken,
    ),
    rule(
        "audit_log_pkey",
        "audit_log.seq",
        "id",
        FieldErrorCode::Taken,
    ),
    // 0002_events
    rule("events_pkey", "events.id", "id", FieldErrorCode::Taken),
    // 0003_plans: a racing writer took the version (the store answers stale before this).
    rule(
        "plan_versions_pkey",
        "plan_versions.person_id, plan_versions.kind, plan_versions.version",
        "base_version",
        FieldErrorCode::Stale,
    ),
    rule(
        "plan_comments_pkey",
        "plan_comments.id",
        "id",
        FieldErrorCode::Taken,
    ),
    rule(
        "plan_agreements_pkey",
        "plan_agreements.person_id, plan_agreements.version, plan_agreements.agreed_by",
        "version",
        FieldErrorCode::AlreadyAgreed,
    ),
    rule(
        "wrap_settings_pkey",
        "wrap_settings.person_id",
        "person_id",
        FieldErrorCode::Taken,
    ),
    rule(
        "crisis_activations_pkey",
        "crisis_activations.id",
        "id",
        FieldErrorCode::Taken,
    ),
    rule(
        "crisis_activations_open",
        "crisis_activations.person_id",
        "activation",
        FieldErrorCode::AlreadyActive,
    ),
    // 0004_appointments
    rule(
        "programmes_pkey",
        "programmes.id",
        "id",
        FieldErrorCode::Taken,
    ),
    rule(
        "programme_sessions_pkey",
        "programme_sessions.id",
        "id",
        FieldErrorCode::Taken,
    ),
    rule(
        "programme_sessions_programme_id_number_key",
        "programme_sessions.programme_id, programme_sessions.number",
        "id",
        FieldErrorCode::Taken,
    ),
    rule("bookings_pkey", "bookings.id", "id", FieldErrorCode::Taken),
    rule(
        "bookings_programme_id_seq_key",
        "bookings.programme_id, bookings.seq",
        "id",
        FieldErrorCode::Taken,
    ),
    rule(
        "bookings_one_active",
        "bookings.unit_id, bookings.person_id",
        "person_id",
        FieldErrorCode::AlreadyBooked,
    ),
    rule(
        "appointments_pkey",
        "appointments.id",
        "id",
        FieldErrorCode::Taken,
    ),
    rule(
        "appointment_workers_pkey",
        "appointment_workers.appointment_id, appointment_workers.user_id",
        "workers",
        FieldErrorCode::Taken,
    ),
    // 0005_messages
    rule(
        "conversations_pkey",
        "conversations.id",
        "id",
        FieldErrorCode::Taken,
    ),
    rule(
        "conversations_of_person",
        "conversations.person_id, conversations.kind",
        "id",
        FieldErrorCode::Taken,
    ),
    rule(
        "conversations_of_carer",
        "conversations.carer_id, conversations.person_id",
        "id",
        FieldErrorCode::Taken,
    ),
    rule("messages_pkey", "messages.id", "id", FieldErrorCode::Taken),
    rule(
        "messages_conversation_seq",
        "messages.conversation_id, messages.seq",
        "id",
        FieldErrorCode::Taken,
    ),
    rule(
        "messages_sender_client_id",
        "messages.sender_id, messages.client_id",
        "client_id",
        FieldErrorCode::Reused,
    ),
    rule(
        "conversation_cursors_pkey",
        "conversation_cursors.conversation_id, conversation_cursors.user_id",
        "id",
        FieldErrorCode::Taken,
    ),
    rule(
        "message_reports_pkey",
        "message_reports.id",
        "id",
        FieldErrorCode::Taken,
    ),
    rule(
        "message_reports_once",
        "message_reports.message_id, message_reports.reporter_id",
        "id",
        FieldErrorCode::AlreadyReported,
    ),
    rule(
        "peer_availability_pkey",
        "peer_availability.user_id",
        "id",
        FieldErrorCode::Taken,
    ),
    // 0008_accounts
    rule(
        "invitations_pkey",
        "invitations.id",
        "id",
        FieldErrorCode::Taken,
    ),
    rule(
        "invitations_code_hash_key",
        "invitations.code_hash",
        "id",
        FieldErrorCode::Taken,
    ),
    rule(
        "password_reset_codes_pkey",
        "password_reset_codes.id",
        "id",
        FieldErrorCode::Taken,
    ),
    rule(
        "password_reset_codes_code_hash_key",
        "password_reset_codes.code_hash",
        "id",
        FieldErrorCode::Taken,
    ),
    // 0010_idempotency_keys (claimed with ON CONFLICT DO NOTHING: never broken by a request)
    rule(
        "idempotency_keys_pkey",
        "idempotency_keys.caller, idempotency_keys.key",
        "idempotency-key",
        FieldErrorCode::Taken,
    ),
    // 0011_devices (registered with ON CONFLICT: a token moves to the newest session)
    rule(
        "devices_pkey",
        "devices.token",
        "token",
        FieldErrorCode::Taken,
    ),
    // 0013_relationship_history (an event id recorded before is skipped under the audit
    // chain's lock: never broken by a request)
    rule(
        "offline_reads_pkey",
        "offline_reads.uploader_id, offline_reads.event_id",
        "event_id",
        FieldErrorCode::Taken,
    ),
    // 0014_sync_cursors (kept with ON CONFLICT: a replayed page names the same cursor)
    rule(
        "sync_cursors_pkey",
        "sync_cursors.user_id, sync_cursors.id",
        "since",
        FieldErrorCode::Taken,
    ),
    // 0016_webhooks: every id is the server's own, and a kind is listed once per subscription.
    rule(
        "webhook_subscriptions_pkey",
        "webhook_subscriptions.id",
        "id",
        FieldErrorCode::Taken,
    ),
    rule(
        "webhook_subscription_kinds_pkey",
        "webhook_subscription_kinds.subscription_id, webhook_subscription_kinds.kind",
        "kinds",
        FieldErrorCode::Taken,
    ),
    rule(
        "webhook_deliveries_pkey",
        "webhook_deliveries.id",
        "id",
        FieldErrorCode::Taken,
    ),
    // 0018_calendar_feeds_and_facilitators: a feed is replaced in place (one per person) and its
    // hash is the server's own; adding a facilitator twice is no change.
    rule(
        "calendar_feeds_pkey",
        "calendar_feeds.person_id",
        "id",
        FieldErrorCode::Taken,
    ),
    rule(
        "calendar_feeds_secret_hash_key",
        "calendar_feeds.secret_hash",
        "id",
        FieldErrorCode::Taken,
    ),
    rule(
        "programme_facilitators_pkey",
        "programme_facilitators.programme_id, programme_facilitators.user_id",
        "user_id",
        FieldErrorCode::Taken,
    ),
    // 0019_front_door: ids are the server's own; a proof-of-work challenge pays for one
    // referral; a person has one key worker (replaced in place) and rates an appointment once.
    rule(
        "referrals_pkey",
        "referrals.id",
        "id",
        FieldErrorCode::Taken,
    ),
    rule(
        "referrals_proof_id_key",
        "referrals.proof_id",
        "proof",
        FieldErrorCode::Taken,
    ),
    rule(
        "key_workers_pkey",
        "key_workers.person_id",
        "id",
        FieldErrorCode::Taken,
    ),
    rule(
        "satisfaction_ratings_pkey",
        "satisfaction_ratings.id",
        "id",
        FieldErrorCode::Taken,
    ),
    rule(
        "satisfaction_ratings_person_id_appointment_id_key",
        "satisfaction_ratings.person_id, satisfaction_ratings.appointment_id",
        "appointment_id",
        FieldErrorCode::Taken,
    ),
    // 0023_browser_sessions: a cookie's secret is random, 32 bytes.
    rule(
        "browser_sessions_pkey",
        "browser_sessions.secret_hash",
        "secret",
        FieldErrorCode::Taken,
    ),
    // 0024_sync_generation: counted by trigger with ON CONFLICT (Postgres) or UPDATE (SQLite),
    // never broken by a request.
    rule(
        "sync_generation_pkey",
        "sync_generation.shard",
        "id",
        FieldErrorCode::Taken,
    ),
];

/// SQLite's message for a broken UNIQUE or PRIMARY KEY rule, before the column list.
const SQLITE_UNIQUE_PREFIX: &str = "UNIQUE constraint failed: ";

/// The rule a unique violation broke, by its exact name; [`UNLISTED`] when it is not listed.
fn unique_constraint(db: &dyn DatabaseError) -> &'static UniqueConstraint {
    let found = match db.constraint() {
        Some(name) => UNIQUE_CONSTRAINTS.iter().find(|c| c.postgres == name),
        None => db
            .message()
            .strip_prefix(SQLITE_UNIQUE_PREFIX)
            .and_then(|columns| UNIQUE_CONSTRAINTS.iter().find(|c| c.sqlite == columns)),
    };
    found.unwrap_or(&UNLISTED)
}

/// Whether a database's own error says its storage took no more: SQLite's `SQLITE_FULL` (a full
/// disk, or `PRAGMA max_page_count` reached) and `SQLITE_IOERR_WRITE`, Postgres's `53100
/// disk_full`.
///
/// SQLite reports a write refused for want of room as `SQLITE_FULL` only when the disk is full
/// (`ENOSPC`); a file size limit (`EFBIG`, `ulimit -f`) or a quota (`EDQUOT`) comes back as
/// `SQLITE_IOERR_WRITE`, as does a failing disk (`EIO`), which SQLite does not tell apart. All
/// of them are answered alike — the write was rolled back whole, try again later — and each
/// needs the operator to look at the storage.
fn is_storage_full(db: &dyn DatabaseError) -> bool {
    const SQLITE_FULL: i32 = 13;
    const SQLITE_IOERR_WRITE: i32 = 778;
    match sqlite_code(db) {
        Some(code) => code & 0xff == SQLITE_FULL || code == SQLITE_IOERR_WRITE,
        None => db.code().is_some_and(|code| code == "53100"),
    }
}

/// A SQLite error's (extended) result code; `None` for another database's error.
fn sqlite_code(db: &dyn DatabaseError) -> Option<i32> {
    let sqlite = db.try_downcast_ref::<sqlx::sqlite::SqliteError>()?;
    // A SQLite error without a parsable code is none of the codes looked for.
    Some(
        sqlite
            .code()
            .and_then(|code| code.parse().ok())
            .unwrap_or(0),
    )
}

/// Whether a database's own error says "not now" rather than "not this".
fn is_transient(db: &dyn DatabaseError) -> bool {
    match sqlite_code(db) {
        Some(code) => sqlite_code_is_transient(code),
        None => db.code().is_some_and(|code| sqlstate_is_transient(&code)),
    }
}

/// Postgres SQLSTATEs that mean the connection or server is going away, not coming up yet, or
/// that the statement ran out of time or lost a race it may win next time.
pub(crate) fn sqlstate_is_transient(code: &str) -> bool {
    code.starts_with("08") // connection_exception and its subclasses
        || matches!(
            code,
            "57P01" // admin_shutdown (e.g. pg_terminate_backend)
                | "57P02" // crash_shutdown
                | "57P03" // cannot_connect_now
                | "53300" // too_many_connections
                | "57014" // query_canceled (statement_timeout)
                | "55P03" // lock_not_available (lock_timeout)
                | "40001" // serialization_failure
                | "40P01" // deadlock_detected
        )
}

/// SQLite result codes (primary code in the low byte of an extended one) that mean another
/// connection holds the lock: `SQLITE_BUSY` ("database is locked") and `SQLITE_LOCKED`.
pub(crate) fn sqlite_code_is_transient(extended: i32) -> bool {
    const SQLITE_BUSY: i32 = 5;
    const SQLITE_LOCKED: i32 = 6;
    matches!(extended & 0xff, SQLITE_BUSY | SQLITE_LOCKED)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeSet;
    use std::time::Duration;

    use livingwell_testkit::{Backend, TestDatabase, postgres_admin_url};
    use sqlx::{Connection, Row};

    use super::*;

    fn rule_named(postgres: &str) -> &'static UniqueConstraint {
        UNIQUE_CONSTRAINTS
            .iter()
            .find(|c| c.postgres == postgres)
            .unwrap()
    }

    fn classify(error: sqlx::Error) -> StoreError {
        StoreError::from(error)
    }

    // Errors that are not the database's own.

    #[test]
    fn pool_and_connection_failures_are_unavailable() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        for (error, kind) in [
            (sqlx::Error::PoolTimedOut, "pool_timed_out"),
            (sqlx::Error::PoolClosed, "pool_closed"),
            (sqlx::Error::Io(refused), "io"),
            (sqlx::Error::WorkerCrashed, "worker_crashed"),
        ] {
            let classified = classify(error);
            assert!(
                matches!(classified, StoreError::Unavailable(_)),
                "{classified:?}"
            );
            assert_eq!(classified.kind(), kind);
        }
    }

    #[test]
    fn other_driver_failures_are_database_errors() {
        for (error, kind) in [
            (sqlx::Error::RowNotFound, "row_not_found"),
            (sqlx::Error::Protocol("unexpected".into()), "other"),
            (sqlx::Error::Decode("bad".into()), "decode"),
        ] {
            let classified = classify(error);
            assert!(
                matches!(classified, StoreError::Database(_)),
                "{classified:?}"
            );
            assert_eq!(classified.kind(), kind);
        }
    }

    #[test]
    fn transient_codes() {
        for code in [
            "08000", "08003", "08006", "08001", "08004", "57P01", "57P02", "57P03", "53300",
            "57014", "55P03", "40001", "40P01",
        ] {
            assert!(sqlstate_is_transient(code), "{code}");
        }
        for code in ["23505", "23503", "23514", "42601", "22001", "XX000"] {
            assert!(!sqlstate_is_transient(code), "{code}");
        }
        // SQLITE_BUSY, SQLITE_BUSY_RECOVERY, _SNAPSHOT, _TIMEOUT, SQLITE_LOCKED, _SHAREDCACHE.
        for code in [5, 261, 517, 773, 6, 262] {
            assert!(sqlite_code_is_transient(code), "{code}");
        }
        // SQLITE_ERROR, SQLITE_CONSTRAINT_UNIQUE, SQLITE_CONSTRAINT_CHECK, SQLITE_READONLY.
        for code in [1, 2067, 275, 8] {
            assert!(!sqlite_code_is_transient(code), "{code}");
        }
    }

    #[test]
    fn the_table_names_each_rule_once() {
        let postgres: BTreeSet<_> = UNIQUE_CONSTRAINTS.iter().map(|c| c.postgres).collect();
        let sqlite: BTreeSet<_> = UNIQUE_CONSTRAINTS.iter().map(|c| c.sqlite).collect();
        assert_eq!(postgres.len(), UNIQUE_CONSTRAINTS.len());
        assert_eq!(sqlite.len(), UNIQUE_CONSTRAINTS.len());
        assert!(!UNIQUE_CONSTRAINTS.contains(&UNLISTED));
    }

    // Postgres: its own errors, raised with the SQLSTATE (and constraint) it would report.

    async fn postgres_error(sql: &str) -> sqlx::Error {
        let mut conn = sqlx::PgConnection::connect(&postgres_admin_url())
            .await
            .unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut conn)
            .await
            .unwrap_err()
    }

    async fn raised(code: &str, constraint: Option<&str>) -> StoreError {
        let constraint = constraint
            .map(|c| format!(", CONSTRAINT = '{c}'"))
            .unwrap_or_default();
        classify(
            postgres_error(&format!(
                "DO $$ BEGIN RAISE EXCEPTION 'raised' USING ERRCODE = '{code}'{constraint}; \
                 END $$"
            ))
            .await,
        )
    }

    #[tokio::test]
    async fn postgres_unique_violations_are_looked_up_by_constraint_name() {
        for rule in UNIQUE_CONSTRAINTS {
            match raised("23505", Some(rule.postgres)).await {
                StoreError::Conflict(found) => assert_eq!(found, rule),
                other => panic!("{other:?}"),
            }
        }
        // A name that merely contains a listed one is not it.
        match raised("23505", Some("users_username_key_old")).await {
            StoreError::Conflict(found) => assert_eq!(found, &UNLISTED),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn postgres_errors_are_classified() {
        assert!(matches!(
            raised("23503", Some("users_person_id_fkey")).await,
            StoreError::MissingReference
        ));
        for code in [
            "08006", "08003", "57P01", "57P02", "57P03", "53300", "57014", "55P03",
        ] {
            let error = raised(code, None).await;
            assert!(matches!(error, StoreError::Unavailable(_)), "{code}");
            assert_eq!(error.kind(), "unavailable");
        }
        // disk_full: nothing was written, and nothing can be until there is room.
        let full = raised("53100", None).await;
        assert!(matches!(full, StoreError::StorageFull), "{full:?}");
        assert_eq!(full.kind(), "storage_full");
        for code in ["23514", "22001", "42P01"] {
            let error = raised(code, None).await;
            assert!(matches!(error, StoreError::Database(_)), "{code}");
            assert_eq!(error.kind(), "database");
        }
    }

    #[tokio::test]
    async fn postgres_terminated_connection_and_statement_timeout_are_unavailable() {
        let terminated =
            classify(postgres_error("SELECT pg_terminate_backend(pg_backend_pid())").await);
        assert!(
            matches!(terminated, StoreError::Unavailable(_)),
            "{terminated:?}"
        );
        let timed_out =
            classify(postgres_error("SET statement_timeout = 10; SELECT pg_sleep(5)").await);
        assert!(
            matches!(timed_out, StoreError::Unavailable(_)),
            "{timed_out:?}"
        );
    }

    // SQLite: real errors from a scratch database.

    #[tokio::test]
    async fn sqlite_errors_are_classified() {
        let database = TestDatabase::create(Backend::Sqlite).await.unwrap();
        let options =
            <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(&database.url)
                .unwrap()
                .create_if_missing(true)
                .foreign_keys(true)
                .busy_timeout(Duration::ZERO);
        let mut conn = sqlx::SqliteConnection::connect_with(&options)
            .await
            .unwrap();
        sqlx::raw_sql(
            "CREATE TABLE teams (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE); \
             CREATE TABLE things (x TEXT UNIQUE, team_id INTEGER REFERENCES teams(id), \
             n INTEGER CHECK (n > 0)); \
             INSERT INTO teams (id, name) VALUES (1, 'North'); \
             INSERT INTO things (x) VALUES ('a');",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        let mut fails = async |sql: &'static str| {
            classify(sqlx::query(sql).execute(&mut conn).await.unwrap_err())
        };

        match fails("INSERT INTO teams (id, name) VALUES (2, 'North')").await {
            StoreError::Conflict(rule) => assert_eq!(rule, rule_named("teams_name_key")),
            other => panic!("{other:?}"),
        }
        match fails("INSERT INTO teams (id, name) VALUES (1, 'South')").await {
            StoreError::Conflict(rule) => assert_eq!(rule, rule_named("teams_pkey")),
            other => panic!("{other:?}"),
        }
        match fails("INSERT INTO things (x) VALUES ('a')").await {
            StoreError::Conflict(rule) => assert_eq!(rule, &UNLISTED),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            fails("INSERT INTO things (team_id) VALUES (9)").await,
            StoreError::MissingReference
        ));
        assert!(matches!(
            fails("INSERT INTO things (n) VALUES (0)").await,
            StoreError::Database(_)
        ));

        // Another connection holds the write lock: SQLITE_BUSY, "database is locked".
        let mut holder = sqlx::SqliteConnection::connect_with(&options)
            .await
            .unwrap();
        sqlx::raw_sql("BEGIN IMMEDIATE")
            .execute(&mut holder)
            .await
            .unwrap();
        let busy = fails("INSERT INTO teams (id, name) VALUES (3, 'East')").await;
        assert!(matches!(busy, StoreError::Unavailable(_)), "{busy:?}");
        assert_eq!(busy.kind(), "unavailable");
    }

    #[tokio::test]
    async fn an_exhausted_or_closed_pool_is_unavailable() {
        let database = TestDatabase::create(Backend::Sqlite).await.unwrap();
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_millis(100))
            .connect(&format!("{}?mode=rwc", database.url))
            .await
            .unwrap();
        let held = pool.acquire().await.unwrap();
        let exhausted = classify(pool.acquire().await.unwrap_err());
        assert_eq!(exhausted.kind(), "pool_timed_out");
        assert!(matches!(exhausted, StoreError::Unavailable(_)));
        drop(held);
        pool.close().await;
        let closed = classify(pool.acquire().await.unwrap_err());
        assert_eq!(closed.kind(), "pool_closed");
    }

    // The table against the schemas the migrations build.

    /// Every UNIQUE / PRIMARY KEY rule of a migrated database, as that database reports it.
    async fn unique_rules(backend: Backend) -> BTreeSet<String> {
        let database = TestDatabase::create(backend).await.unwrap();
        let store = crate::store::connect(&database.url).await.unwrap();
        store.migrate().await.unwrap();
        let mut rules = BTreeSet::new();
        match backend {
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&database.url).await.unwrap();
                let rows = sqlx::query(
                    "SELECT i.relname AS name FROM pg_index x \
                     JOIN pg_class i ON i.oid = x.indexrelid \
                     JOIN pg_namespace n ON n.oid = i.relnamespace \
                     WHERE x.indisunique AND n.nspname = 'public'",
                )
                .fetch_all(&mut conn)
                .await
                .unwrap();
                rules.extend(rows.iter().map(|r| r.get::<String, _>("name")));
            }
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&database.url)
                    .await
                    .unwrap();
                let tables: Vec<String> = sqlx::query_scalar(
                    "SELECT name FROM sqlite_master WHERE type = 'table' \
                     AND name NOT LIKE 'sqlite_%'",
                )
                .fetch_all(&mut conn)
                .await
                .unwrap();
                for table in tables {
                    let listed = |columns: Vec<String>| {
                        columns
                            .iter()
                            .map(|c| format!("{table}.{c}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    // The primary key, also when it is the rowid (and so has no index).
                    let mut key: Vec<(i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT pk, name FROM pragma_table_info('{table}') WHERE pk > 0"
                    )))
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
                    key.sort();
                    if !key.is_empty() {
                        rules.insert(listed(key.into_iter().map(|(_, c)| c).collect()));
                    }
                    let indexes: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                        "SELECT name FROM pragma_index_list('{table}') WHERE \"unique\" = 1"
                    )))
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
                    for index in indexes {
                        let columns: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(
                            format!("SELECT name FROM pragma_index_info('{index}') ORDER BY seqno"),
                        ))
                        .fetch_all(&mut conn)
                        .await
                        .unwrap();
                        rules.insert(listed(columns));
                    }
                }
            }
        }
        rules.retain(|r| !r.starts_with("_sqlx_migrations"));
        rules
    }

    async fn the_table_lists_every_unique_rule_of(backend: Backend) {
        let in_schema = unique_rules(backend).await;
        let in_table: BTreeSet<String> = UNIQUE_CONSTRAINTS
            .iter()
            .map(|c| match backend {
                Backend::Postgres => c.postgres,
                Backend::Sqlite => c.sqlite,
            })
            .map(str::to_owned)
            .collect();
        let missing: Vec<_> = in_schema.difference(&in_table).collect();
        let stale: Vec<_> = in_table.difference(&in_schema).collect();
        assert!(missing.is_empty(), "not in the table: {missing:?}");
        assert!(stale.is_empty(), "not in the schema: {stale:?}");
    }

    #[tokio::test]
    async fn the_table_lists_every_unique_rule_on_postgres() {
        the_table_lists_every_unique_rule_of(Backend::Postgres).await;
    }

    #[tokio::test]
    async fn the_table_lists_every_unique_rule_on_sqlite() {
        the_table_lists_every_unique_rule_of(Backend::Sqlite).await;
    }
}
