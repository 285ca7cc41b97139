//! The Enablement Plan and the WRAP: immutable versions, comments, agreement, crisis activation.
//!
//! Guarantees:
//! - **Nothing is overwritten.** A change is a new row `(person, kind, version + 1)`; rows are
//!   never updated. A write names the version it was based on; if another has landed since, the
//!   write stores nothing and reports the current version ([`AppendOutcome::Stale`]). Two racing
//!   writers on one version cannot both win: the primary key refuses the second.
//! - **The do-not-involve rule travels with the WRAP.** Storing a WRAP adds every account in its
//!   "people I do not want involved" list to the enforced list and revokes their consents, in the
//!   same transaction. (Removing a name from the WRAP does not lift the block: failing closed.)
//! - **One crisis activation at a time**, enforced by a unique index on the open activation.
//! - **Announced in the same transaction.** Each write takes the events that announce it (or,
//!   for a deactivation, who hears of it) and stores them as its last step before commit; a
//!   write that stores nothing stores no event (see [`super::events`]).

use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use livingwell_core::api::events::{CrisisActivationData, Event};
use livingwell_core::domain::{PersonId, UserId};
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use sqlx::types::Json;
use sqlx::{ColumnIndex, Executor};
use uuid::Uuid;

use super::backend::{Backend, Bind, Column, SqlStore};
use super::events::{Audience, NewEvent, append_in_tx};
use super::idempotency::begin_write;
use super::reads_here::{Columns, HereRow, Param};
use super::sql::exclude_in_tx;
use super::{StoreError, StoreResult};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanKind {
    EnablementPlan,
    Wrap,
}

impl PlanKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PlanKind::EnablementPlan => "enablement_plan",
            PlanKind::Wrap => "wrap",
        }
    }
}

/// Who wrote something, as the audit log names them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Author {
    pub id: String,
    pub role: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PlanVersionRecord {
    pub person_id: PersonId,
    pub version: i32,
    pub body: StoredBody,
    pub author: Author,
    pub created_at: DateTime<Utc>,
}

/// A version's body as the database gave it: JSON text, decoded only into the type its reader
/// wants. Read as a `serde_json::Value` first, a plan's ~4 KB became a tree of maps and strings
/// that the reader then decoded and dropped; reading it as text, and writing the view into one
/// buffer, took a quarter off a plan read's CPU (bench/README.md, "Reads, evening of
/// 2026-12-05").
#[derive(Clone, Debug)]
pub struct StoredBody(Box<RawValue>);

impl StoredBody {
    /// The body as `T`.
    pub fn decode<T: DeserializeOwned>(&self) -> serde_json::Result<T> {
        serde_json::from_str(self.0.get())
    }

    /// The body as JSON text.
    pub fn json_text(&self) -> &str {
        self.0.get()
    }
}

impl TryFrom<&serde_json::Value> for StoredBody {
    type Error = serde_json::Error;

    fn try_from(value: &serde_json::Value) -> serde_json::Result<Self> {
        serde_json::value::to_raw_value(value).map(Self)
    }
}

/// The same JSON document, however its text is laid out (Postgres's `jsonb` orders keys).
impl PartialEq for StoredBody {
    fn eq(&self, other: &Self) -> bool {
        matches!(
            (
                self.decode::<serde_json::Value>(),
                other.decode::<serde_json::Value>(),
            ),
            (Ok(mine), Ok(theirs)) if mine == theirs
        )
    }
}

/// A version without its body, for history lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanVersionMeta {
    pub version: i32,
    pub author: Author,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NewPlanVersion {
    pub person_id: PersonId,
    pub kind: PlanKind,
    /// The version the change was made on (0 for the first).
    pub base_version: i32,
    pub body: serde_json::Value,
    pub author: Author,
    pub created_at: DateTime<Utc>,
    /// Accounts to add to the person's do-not-involve list with this version.
    pub exclude: Vec<UserId>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum AppendOutcome {
    Stored(PlanVersionRecord),
    /// Another version landed first; nothing was stored.
    Stale {
        current: i32,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommentRecord {
    pub id: Uuid,
    pub person_id: PersonId,
    pub version: i32,
    pub section: String,
    pub body: String,
    pub disagree: bool,
    pub author: Author,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgreementRecord {
    pub person_id: PersonId,
    pub version: i32,
    pub agreed_by: UserId,
    pub agreed_role: String,
    pub agreed_at: DateTime<Utc>,
}

/// The current version of a plan with who agreed it, and the display names of its author and
/// of everyone who agreed, by account id (a staff system has none).
#[derive(Clone, Debug, PartialEq)]
pub struct AgreedPlan {
    pub record: PlanVersionRecord,
    pub agreements: Vec<AgreementRecord>,
    pub names: HashMap<String, String>,
}

/// The person's current WRAP, if any, with the crisis plan's activations newest first, and the
/// display names of those who activated and deactivated it, by account id (a staff system has
/// none): everything the crisis plan shows, read in one statement.
#[derive(Clone, Debug, PartialEq)]
pub struct CrisisPlanRead {
    pub wrap: Option<PlanVersionRecord>,
    pub activations: Vec<ActivationRecord>,
    pub names: HashMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActivationRecord {
    pub id: Uuid,
    pub person_id: PersonId,
    pub activated_by: Author,
    pub reason: String,
    pub activated_at: DateTime<Utc>,
    pub deactivated_by: Option<Author>,
    pub deactivated_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
pub(super) struct VersionRow {
    person_id: Uuid,
    version: i32,
    body: Json<Box<RawValue>>,
    author_id: String,
    author_role: String,
    created_at: DateTime<Utc>,
}

impl HereRow for VersionRow {
    fn from_here(row: &Columns<'_>) -> Option<Self> {
        Some(VersionRow {
            person_id: row.id("person_id")?,
            version: row.small_int("version")?,
            body: row.json("body")?,
            author_id: row.text("author_id")?,
            author_role: row.text("author_role")?,
            created_at: row.time("created_at")?,
        })
    }
}

impl From<VersionRow> for PlanVersionRecord {
    fn from(row: VersionRow) -> Self {
        PlanVersionRecord {
            person_id: row.person_id.into(),
            version: row.version,
            body: StoredBody(row.body.0),
            author: Author {
                id: row.author_id,
                role: row.author_role,
            },
            created_at: row.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct MetaRow {
    version: i32,
    author_id: String,
    author_role: String,
    created_at: DateTime<Utc>,
}

impl From<MetaRow> for PlanVersionMeta {
    fn from(row: MetaRow) -> Self {
        PlanVersionMeta {
            version: row.version,
            author: Author {
                id: row.author_id,
                role: row.author_role,
            },
            created_at: row.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct CommentRow {
    id: Uuid,
    person_id: Uuid,
    version: i32,
    section: String,
    body: String,
    disagree: bool,
    author_id: String,
    author_role: String,
    created_at: DateTime<Utc>,
}

impl From<CommentRow> for CommentRecord {
    fn from(row: CommentRow) -> Self {
        CommentRecord {
            id: row.id,
            person_id: row.person_id.into(),
            version: row.version,
            section: row.section,
            body: row.body,
            disagree: row.disagree,
            author: Author {
                id: row.author_id,
                role: row.author_role,
            },
            created_at: row.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct AgreementRow {
    person_id: Uuid,
    version: i32,
    agreed_by: Uuid,
    agreed_role: String,
    agreed_at: DateTime<Utc>,
}

impl HereRow for AgreementRow {
    fn from_here(row: &Columns<'_>) -> Option<Self> {
        Some(AgreementRow {
            person_id: row.id("person_id")?,
            version: row.small_int("version")?,
            agreed_by: row.id("agreed_by")?,
            agreed_role: row.text("agreed_role")?,
            agreed_at: row.time("agreed_at")?,
        })
    }
}

impl From<AgreementRow> for AgreementRecord {
    fn from(row: AgreementRow) -> Self {
        AgreementRecord {
            person_id: row.person_id.into(),
            version: row.version,
            agreed_by: row.agreed_by.into(),
            agreed_role: row.agreed_role,
            agreed_at: row.agreed_at,
        }
    }
}

/// One row of [`PlanStore::current_plan_agreed`]: the version, its author's name, and one
/// agreement (none: NULLs) with its account's name.
#[derive(sqlx::FromRow)]
struct AgreedVersionRow {
    #[sqlx(flatten)]
    version: VersionRow,
    author_name: Option<String>,
    agreed_by: Option<Uuid>,
    agreed_role: Option<String>,
    agreed_at: Option<DateTime<Utc>>,
    agreed_name: Option<String>,
}

impl HereRow for AgreedVersionRow {
    fn from_here(row: &Columns<'_>) -> Option<Self> {
        Some(AgreedVersionRow {
            version: VersionRow::from_here(row)?,
            author_name: row.optional_text("author_name")?,
            agreed_by: row.optional_id("agreed_by")?,
            agreed_role: row.optional_text("agreed_role")?,
            agreed_at: row.optional_time("agreed_at")?,
            agreed_name: row.optional_text("agreed_name")?,
        })
    }
}

/// One row of [`PlanStore::crisis_plan_read`]: the WRAP's version (`part` = `wrap`) or one
/// activation with the names of who opened and closed it (`activation`); the other part's
/// columns are NULL.
#[derive(sqlx::FromRow)]
struct CrisisPartRow {
    part: String,
    person_id: Uuid,
    version: Option<i32>,
    body: Option<Json<Box<RawValue>>>,
    author_id: Option<String>,
    author_role: Option<String>,
    created_at: Option<DateTime<Utc>>,
    id: Option<Uuid>,
    activated_by: Option<String>,
    activated_role: Option<String>,
    reason: Option<String>,
    activated_at: Option<DateTime<Utc>>,
    deactivated_by: Option<String>,
    deactivated_role: Option<String>,
    deactivated_at: Option<DateTime<Utc>>,
    activated_name: Option<String>,
    deactivated_name: Option<String>,
}

impl HereRow for CrisisPartRow {
    fn from_here(row: &Columns<'_>) -> Option<Self> {
        Some(CrisisPartRow {
            part: row.text("part")?,
            person_id: row.id("person_id")?,
            version: row.optional_small_int("version")?,
            body: row.optional_json("body")?,
            author_id: row.optional_text("author_id")?,
            author_role: row.optional_text("author_role")?,
            created_at: row.optional_time("created_at")?,
            id: row.optional_id("id")?,
            activated_by: row.optional_text("activated_by")?,
            activated_role: row.optional_text("activated_role")?,
            reason: row.optional_text("reason")?,
            activated_at: row.optional_time("activated_at")?,
            deactivated_by: row.optional_text("deactivated_by")?,
            deactivated_role: row.optional_text("deactivated_role")?,
            deactivated_at: row.optional_time("deactivated_at")?,
            activated_name: row.optional_text("activated_name")?,
            deactivated_name: row.optional_text("deactivated_name")?,
        })
    }
}

impl CrisisPartRow {
    /// Files the row under its part of `read`.
    fn file_into(self, read: &mut CrisisPlanRead) -> StoreResult<()> {
        let missing = |column: &str| StoreError::Corrupt(format!("{} without {column}", self.part));
        match self.part.as_str() {
            "wrap" => {
                read.wrap = Some(PlanVersionRecord::from(VersionRow {
                    person_id: self.person_id,
                    version: self.version.ok_or_else(|| missing("version"))?,
                    body: self.body.ok_or_else(|| missing("body"))?,
                    author_id: self.author_id.ok_or_else(|| missing("author_id"))?,
                    author_role: self.author_role.ok_or_else(|| missing("author_role"))?,
                    created_at: self.created_at.ok_or_else(|| missing("created_at"))?,
                }));
            }
            "activation" => {
                let activation = ActivationRecord::from(ActivationRow {
                    id: self.id.ok_or_else(|| missing("id"))?,
                    person_id: self.person_id,
                    activated_by: self.activated_by.ok_or_else(|| missing("activated_by"))?,
                    activated_role: self
                        .activated_role
                        .ok_or_else(|| missing("activated_role"))?,
                    reason: self.reason.ok_or_else(|| missing("reason"))?,
                    activated_at: self.activated_at.ok_or_else(|| missing("activated_at"))?,
                    deactivated_by: self.deactivated_by,
                    deactivated_role: self.deactivated_role,
                    deactivated_at: self.deactivated_at,
                });
                if let Some(name) = self.activated_name {
                    read.names.insert(activation.activated_by.id.clone(), name);
                }
                if let (Some(by), Some(name)) = (&activation.deactivated_by, self.deactivated_name)
                {
                    read.names.insert(by.id.clone(), name);
                }
                read.activations.push(activation);
            }
            other => return Err(StoreError::Corrupt(format!("unknown part {other:?}"))),
        }
        Ok(())
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct ActivationRow {
    id: Uuid,
    person_id: Uuid,
    activated_by: String,
    activated_role: String,
    reason: String,
    activated_at: DateTime<Utc>,
    deactivated_by: Option<String>,
    deactivated_role: Option<String>,
    deactivated_at: Option<DateTime<Utc>>,
}

impl HereRow for ActivationRow {
    fn from_here(row: &Columns<'_>) -> Option<Self> {
        Some(ActivationRow {
            id: row.id("id")?,
            person_id: row.id("person_id")?,
            activated_by: row.text("activated_by")?,
            activated_role: row.text("activated_role")?,
            reason: row.text("reason")?,
            activated_at: row.time("activated_at")?,
            deactivated_by: row.optional_text("deactivated_by")?,
            deactivated_role: row.optional_text("deactivated_role")?,
            deactivated_at: row.optional_time("deactivated_at")?,
        })
    }
}

impl From<ActivationRow> for ActivationRecord {
    fn from(row: ActivationRow) -> Self {
        let deactivated_by = match (row.deactivated_by, row.deactivated_role) {
            (Some(id), Some(role)) => Some(Author { id, role }),
            _ => None,
        };
        ActivationRecord {
            id: row.id,
            person_id: row.person_id.into(),
            activated_by: Author {
                id: row.activated_by,
                role: row.activated_role,
            },
            reason: row.reason,
            activated_at: row.activated_at,
            deactivated_by,
            deactivated_at: row.deactivated_at,
        }
    }
}

pub(super) const ACTIVATION_COLUMNS: &str = "id, person_id, activated_by, activated_role, reason, \
     activated_at, deactivated_by, deactivated_role, deactivated_at";

/// [`PlanStore::crisis_activations`]' query.
static ACTIVATIONS_NEWEST_FIRST: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {ACTIVATION_COLUMNS} FROM crisis_activations WHERE person_id = $1 \
         ORDER BY activated_at DESC LIMIT $2"
    )
});

#[async_trait::async_trait]
pub trait PlanStore {
    async fn current_plan(
        &self,
        person: PersonId,
        kind: PlanKind,
    ) -> StoreResult<Option<PlanVersionRecord>>;
    /// The current version with its agreements and the names of those who wrote and agreed
    /// it, in one statement: what reading a plan shows.
    async fn current_plan_agreed(
        &self,
        person: PersonId,
        kind: PlanKind,
    ) -> StoreResult<Option<AgreedPlan>>;
    async fn plan_version(
        &self,
        person: PersonId,
        kind: PlanKind,
        version: i32,
    ) -> StoreResult<Option<PlanVersionRecord>>;
    /// Versions newest first, before `before`.
    async fn plan_history(
        &self,
        person: PersonId,
        kind: PlanKind,
        before: Option<i32>,
        limit: i64,
    ) -> StoreResult<Vec<PlanVersionMeta>>;
    /// Stores the next version, with the events that announce it, unless `base_version` is no
    /// longer current; then stores neither.
    async fn append_plan_version(
        &self,
        new: &NewPlanVersion,
        announce: &[NewEvent],
    ) -> StoreResult<AppendOutcome>;
    /// Stores a comment with the events that announce it.
    async fn add_comment(&self, comment: &CommentRecord, announce: &[NewEvent]) -> StoreResult<()>;
    /// Comments newest first, before the comment `before` (ids are time-ordered).
    async fn comments(
        &self,
        person: PersonId,
        before: Option<Uuid>,
        limit: i64,
    ) -> StoreResult<Vec<CommentRecord>>;
    /// Records an agreement, with the events that announce it; agreeing twice is harmless (and
    /// announced again).
    async fn agree(&self, agreement: &AgreementRecord, announce: &[NewEvent]) -> StoreResult<()>;
    async fn agreements(&self, person: PersonId, version: i32)
    -> StoreResult<Vec<AgreementRecord>>;
    async fn wrap_coauthoring(&self, person: PersonId) -> StoreResult<bool>;
    async fn set_wrap_coauthoring(&self, person: PersonId, allowed: bool) -> StoreResult<()>;
    /// Opens an activation, with the events that announce it; false (and nothing stored) when
    /// the plan is already active.
    async fn activate_crisis_plan(
        &self,
        activation: &ActivationRecord,
        announce: &[NewEvent],
    ) -> StoreResult<bool>;
    /// Closes the open activation, if any, and returns it; `audience` hears which one closed.
    async fn deactivate_crisis_plan(
        &self,
        person: PersonId,
        by: &Author,
        at: DateTime<Utc>,
        audience: &Audience,
    ) -> StoreResult<Option<ActivationRecord>>;
    /// Activations newest first.
    async fn crisis_activations(
        &self,
        person: PersonId,
        limit: i64,
    ) -> StoreResult<Vec<ActivationRecord>>;
    /// The current WRAP and the newest `limit` activations, with the names of those involved,
    /// in one statement: what reading the crisis plan shows.
    async fn crisis_plan_read(&self, person: PersonId, limit: i64) -> StoreResult<CrisisPlanRead>;
    /// The accounts around a person who hear of changes to their plans and of a crisis: the
    /// team's practitioners, the allocated peer worker and the person's own account.
    async fn care_team_accounts(&self, person: PersonId) -> StoreResult<Vec<UserId>>;
}

#[async_trait::async_trait]
impl<DB> PlanStore for SqlStore<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> &'a str: Bind<DB>,
    Uuid: Column<DB>,
    Option<Uuid>: Bind<DB>,
    DateTime<Utc>: Column<DB>,
    String: Column<DB>,
    i32: Column<DB>,
    i64: Column<DB>,
    bool: Column<DB>,
    Json<Box<RawValue>>: Column<DB>,
    for<'a> Json<&'a serde_json::Value>: Bind<DB>,
    usize: ColumnIndex<DB::Row>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
    async fn current_plan(
        &self,
        person: PersonId,
        kind: PlanKind,
    ) -> StoreResult<Option<PlanVersionRecord>> {
        let row: Option<VersionRow> = self
            .fetch_optional_row(
                "SELECT person_id, version, body, author_id, author_role, created_at \
                 FROM plan_versions WHERE person_id = $1 AND kind = $2 \
                 ORDER BY version DESC LIMIT 1",
                &[Param::Id(person.as_uuid()), Param::Text(kind.as_str())],
            )
            .await?;
        Ok(row.map(Into::into))
    }

    async fn current_plan_agreed(
        &self,
        person: PersonId,
        kind: PlanKind,
    ) -> StoreResult<Option<AgreedPlan>> {
        // The version's columns repeat on each agreement's row: a plan has few agreements, and
        // one statement saves the two round trips that reading them and the names took.
        let sql = format!(
            "SELECT v.person_id, v.version, v.body, v.author_id, v.author_role, v.created_at, \
             author.display_name AS author_name, g.agreed_by, g.agreed_role, g.agreed_at, \
             agreed.display_name AS agreed_name \
             FROM (SELECT person_id, version, body, author_id, author_role, created_at \
                   FROM plan_versions WHERE person_id = $1 AND kind = $2 \
                   ORDER BY version DESC LIMIT 1) v \
             LEFT JOIN users author ON {} \
             LEFT JOIN plan_agreements g ON g.person_id = v.person_id AND g.version = v.version \
             LEFT JOIN users agreed ON agreed.id = g.agreed_by \
             ORDER BY g.agreed_at",
            DB::key_is_id_in_text("author.id", "v.author_id")
        );
        let rows: Vec<AgreedVersionRow> = self
            .fetch_rows(
                &sql,
                &[Param::Id(person.as_uuid()), Param::Text(kind.as_str())],
            )
            .await?;
        let mut plan: Option<AgreedPlan> = None;
        for row in rows {
            let AgreedVersionRow {
                version,
                author_name,
                agreed_by,
                agreed_role,
                agreed_at,
                agreed_name,
            } = row;
            let plan = plan.get_or_insert_with(|| {
                let record = PlanVersionRecord::from(version);
                let names = author_name
                    .map(|name| (record.author.id.clone(), name))
                    .into_iter()
                    .collect();
                AgreedPlan {
                    record,
                    agreements: Vec::new(),
                    names,
                }
            });
            if let (Some(by), Some(role), Some(at)) = (agreed_by, agreed_role, agreed_at) {
                if let Some(name) = agreed_name {
                    plan.names.insert(by.to_string(), name);
                }
                plan.agreements.push(AgreementRecord {
                    person_id: plan.record.person_id,
                    version: plan.record.version,
                    agreed_by: by.into(),
                    agreed_role: role,
                    agreed_at: at,
                });
            }
        }
        Ok(plan)
    }

    async fn plan_version(
        &self,
        person: PersonId,
        kind: PlanKind,
        version: i32,
    ) -> StoreResult<Option<PlanVersionRecord>> {
        let row: Option<VersionRow> = self
            .fetch_optional_row(
                "SELECT person_id, version, body, author_id, author_role, created_at \
                 FROM plan_versions WHERE person_id = $1 AND kind = $2 AND version = $3",
                &[
                    Param::Id(person.as_uuid()),
                    Param::Text(kind.as_str()),
                    Param::Int(version.into()),
                ],
            )
            .await?;
        Ok(row.map(Into::into))
    }

    async fn plan_history(
        &self,
        person: PersonId,
        kind: PlanKind,
        before: Option<i32>,
        limit: i64,
    ) -> StoreResult<Vec<PlanVersionMeta>> {
        let rows: Vec<MetaRow> = sqlx::query_as(
            "SELECT version, author_id, author_role, created_at FROM plan_versions \
             WHERE person_id = $1 AND kind = $2 AND version < $3 \
             ORDER BY version DESC LIMIT $4",
        )
        .bind(person.as_uuid())
        .bind(kind.as_str())
        .bind(before.unwrap_or(i32::MAX))
        .bind(limit)
        .fetch_all(&self.db)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn append_plan_version(
        &self,
        new: &NewPlanVersion,
        announce: &[NewEvent],
    ) -> StoreResult<AppendOutcome> {
        use AppendOutcome;
        // Before anything is written: nothing may fail once the version is committed.
        let body = StoredBody::try_from(&new.body)
            .map_err(|_| StoreError::Corrupt("a plan that does not write as JSON".into()))?;
        let mut tx = begin_write(self).await?;
        let (current,): (Option<i32>,) = sqlx::query_as(
            "SELECT MAX(version) FROM plan_versions WHERE person_id = $1 AND kind = $2",
        )
        .bind(new.person_id.as_uuid())
        .bind(new.kind.as_str())
        .fetch_one(&mut *tx)
        .await?;
        let current = current.unwrap_or(0);
        if current != new.base_version {
            return Ok(AppendOutcome::Stale { current });
        }
        let version = current + 1;
        let inserted = sqlx::query(
            "INSERT INTO plan_versions (person_id, kind, version, body, author_id, \
             author_role, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(new.person_id.as_uuid())
        .bind(new.kind.as_str())
        .bind(version)
        .bind(Json(&new.body))
        .bind(&new.author.id)
        .bind(&new.author.role)
        .bind(new.created_at)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from);
        match inserted {
            Ok(_) => {}
            // A racing writer took this version between our read and our insert.
            Err(StoreError::Conflict(_)) => {
                return Ok(AppendOutcome::Stale { current: version });
            }
            Err(error) => return Err(error),
        }
        for user in &new.exclude {
            exclude_in_tx(&mut tx, new.person_id, *user, new.created_at).await?;
        }
        append_in_tx(&mut tx, announce).await?;
        tx.commit().await?;
        Ok(AppendOutcome::Stored(PlanVersionRecord {
            person_id: new.person_id,
            version,
            body,
            author: new.author.clone(),
            created_at: new.created_at,
        }))
    }

    async fn add_comment(&self, comment: &CommentRecord, announce: &[NewEvent]) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        sqlx::query(
            "INSERT INTO plan_comments (id, person_id, version, section, body, disagree, \
             author_id, author_role, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(comment.id)
        .bind(comment.person_id.as_uuid())
        .bind(comment.version)
        .bind(&comment.section)
        .bind(&comment.body)
        .bind(comment.disagree)
        .bind(&comment.author.id)
        .bind(&comment.author.role)
        .bind(comment.created_at)
        .execute(&mut *tx)
        .await?;
        append_in_tx(&mut tx, announce).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn comments(
        &self,
        person: PersonId,
        before: Option<Uuid>,
        limit: i64,
    ) -> StoreResult<Vec<CommentRecord>> {
        let rows: Vec<CommentRow> = sqlx::query_as(
            "SELECT id, person_id, version, section, body, disagree, author_id, \
             author_role, created_at FROM plan_comments \
             WHERE person_id = $1 AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
        )
        .bind(person.as_uuid())
        .bind(before)
        .bind(limit)
        .fetch_all(&self.db)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn agree(&self, agreement: &AgreementRecord, announce: &[NewEvent]) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        sqlx::query(
            "INSERT INTO plan_agreements (person_id, version, agreed_by, agreed_role, \
             agreed_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(agreement.person_id.as_uuid())
        .bind(agreement.version)
        .bind(agreement.agreed_by.as_uuid())
        .bind(&agreement.agreed_role)
        .bind(agreement.agreed_at)
        .execute(&mut *tx)
        .await?;
        append_in_tx(&mut tx, announce).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn agreements(
        &self,
        person: PersonId,
        version: i32,
    ) -> StoreResult<Vec<AgreementRecord>> {
        let rows: Vec<AgreementRow> = self
            .fetch_rows(
                "SELECT person_id, version, agreed_by, agreed_role, agreed_at \
                 FROM plan_agreements WHERE person_id = $1 AND version = $2 ORDER BY agreed_at",
                &[Param::Id(person.as_uuid()), Param::Int(version.into())],
            )
            .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn wrap_coauthoring(&self, person: PersonId) -> StoreResult<bool> {
        let row: Option<(bool,)> =
            sqlx::query_as("SELECT team_may_coauthor FROM wrap_settings WHERE person_id = $1")
                .bind(person.as_uuid())
                .fetch_optional(&self.db)
                .await?;
        Ok(row.is_some_and(|(allowed,)| allowed))
    }

    async fn set_wrap_coauthoring(&self, person: PersonId, allowed: bool) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        sqlx::query(
            "INSERT INTO wrap_settings (person_id, team_may_coauthor) VALUES ($1, $2) \
             ON CONFLICT (person_id) DO UPDATE SET team_may_coauthor = excluded.team_may_coauthor",
        )
        .bind(person.as_uuid())
        .bind(allowed)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn activate_crisis_plan(
        &self,
        activation: &ActivationRecord,
        announce: &[NewEvent],
    ) -> StoreResult<bool> {
        let mut tx = begin_write(self).await?;
        let inserted = sqlx::query(
            "INSERT INTO crisis_activations (id, person_id, activated_by, activated_role, \
             reason, activated_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(activation.id)
        .bind(activation.person_id.as_uuid())
        .bind(&activation.activated_by.id)
        .bind(&activation.activated_by.role)
        .bind(&activation.reason)
        .bind(activation.activated_at)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from);
        match inserted {
            Ok(_) => {}
            // The transaction rolls back as it is dropped: nothing stored, nothing announced.
            Err(StoreError::Conflict(_)) => return Ok(false),
            Err(error) => return Err(error),
        }
        append_in_tx(&mut tx, announce).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn deactivate_crisis_plan(
        &self,
        person: PersonId,
        by: &Author,
        at: DateTime<Utc>,
        audience: &Audience,
    ) -> StoreResult<Option<ActivationRecord>> {
        let mut tx = begin_write(self).await?;
        let row: Option<ActivationRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE crisis_activations SET deactivated_by = $2, deactivated_role = $3, \
                 deactivated_at = $4 WHERE person_id = $1 AND deactivated_at IS NULL \
                 RETURNING {}",
            ACTIVATION_COLUMNS
        )))
        .bind(person.as_uuid())
        .bind(&by.id)
        .bind(&by.role)
        .bind(at)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(closed) = row.map(ActivationRecord::from) else {
            return Ok(None);
        };
        let event = Event::CrisisPlanDeactivated(CrisisActivationData {
            activation_id: closed.id,
        });
        append_in_tx(&mut tx, &audience.tell(&event, at)).await?;
        tx.commit().await?;
        Ok(Some(closed))
    }

    async fn crisis_activations(
        &self,
        person: PersonId,
        limit: i64,
    ) -> StoreResult<Vec<ActivationRecord>> {
        let rows: Vec<ActivationRow> = self
            .fetch_rows(
                &ACTIVATIONS_NEWEST_FIRST,
                &[Param::Id(person.as_uuid()), Param::Int(limit)],
            )
            .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn crisis_plan_read(&self, person: PersonId, limit: i64) -> StoreResult<CrisisPlanRead> {
        // A `UNION ALL` of the version and the activations, each row naming its part: the body
        // is read once, not once per activation as a join would repeat it.
        let sql = format!(
            "SELECT 'wrap' AS part, v.person_id, v.version, v.body, v.author_id, v.author_role, \
             v.created_at, NULL AS id, NULL AS activated_by, NULL AS activated_role, \
             NULL AS reason, NULL AS activated_at, NULL AS deactivated_by, \
             NULL AS deactivated_role, NULL AS deactivated_at, NULL AS activated_name, \
             NULL AS deactivated_name \
             FROM (SELECT person_id, version, body, author_id, author_role, created_at \
                   FROM plan_versions WHERE person_id = $1 AND kind = $3 \
                   ORDER BY version DESC LIMIT 1) v \
             UNION ALL \
             SELECT 'activation', a.person_id, NULL, NULL, NULL, NULL, NULL, a.id, \
             a.activated_by, a.activated_role, a.reason, a.activated_at, a.deactivated_by, \
             a.deactivated_role, a.deactivated_at, opened.display_name, closed.display_name \
             FROM (SELECT {ACTIVATION_COLUMNS} FROM crisis_activations WHERE person_id = $1 \
                   ORDER BY activated_at DESC LIMIT $2) a \
             LEFT JOIN users opened ON {} \
             LEFT JOIN users closed ON {} \
             ORDER BY part, activated_at DESC",
            DB::key_is_id_in_text("opened.id", "a.activated_by"),
            DB::key_is_id_in_text("closed.id", "a.deactivated_by"),
        );
        let rows: Vec<CrisisPartRow> = self
            .fetch_rows(
                &sql,
                &[
                    Param::Id(person.as_uuid()),
                    Param::Int(limit),
                    Param::Text(PlanKind::Wrap.as_str()),
                ],
            )
            .await?;
        let mut read = CrisisPlanRead {
            wrap: None,
            activations: Vec::new(),
            names: HashMap::new(),
        };
        for row in rows {
            row.file_into(&mut read)?;
        }
        Ok(read)
    }

    async fn care_team_accounts(&self, person: PersonId) -> StoreResult<Vec<UserId>> {
        let rows: Vec<(Uuid,)> = sqlx::query_as(
            "SELECT m.user_id FROM caseloads c \
             JOIN team_members m ON m.team_id = c.team_id \
             JOIN users u ON u.id = m.user_id \
             WHERE c.person_id = $1 AND u.role = 'practitioner' \
             UNION SELECT peer_worker_id FROM peer_allocations WHERE person_id = $1 \
             UNION SELECT id FROM users WHERE person_id = $1",
        )
        .bind(person.as_uuid())
        .fetch_all(&self.db)
        .await?;
        Ok(rows.into_iter().map(|(id,)| id.into()).collect())
    }
}
