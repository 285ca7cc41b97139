//! The team's view of its caseload, key workers, closing a case, and satisfaction ratings.
//!
//! Guarantees:
//! - **A caseload page is one query**, whatever the page size or how much history the people
//!   have: each row's current plan, WRAP, open crisis activation and next appointment are
//!   found through the indexes that key them by person (`plan_versions`' primary key,
//!   `crisis_activations_open`, `appointments_person_time`), never a query per person.
//! - **A key worker is a practitioner on the person's team** when named: the check and the
//!   write are one statement. Moving the person to another team, or the worker leaving the
//!   team, ends the link (see `sql.rs`).
//! - **Closing a case** ends the caseload place (kept in `caseload_history` with
//!   `closed = true`), the key worker link and the peer allocation (kept in
//!   `peer_allocation_history`; what the person shared with that peer worker ends with it), in
//!   one transaction. The person, their account and their records stay.
//! - **One rating per appointment** (the unique key on `(person_id, appointment_id)`).

use chrono::{DateTime, NaiveDate, Utc};
use livingwell_core::api::caseload::CrisisPlanState;
use livingwell_core::domain::appointment::{AppointmentId, AppointmentKind};
use livingwell_core::domain::plan::SupportLevel;
use livingwell_core::domain::wrap::CrisisPlan;
use livingwell_core::domain::{PersonId, TeamId, UserId};
use sqlx::types::Json;
use sqlx::{ColumnIndex, Executor};
use uuid::Uuid;

use super::backend::{Backend, Bind, Column, RowsAffected as _, SqlStore};
use super::idempotency::begin_write;
use super::{PersonRecord, StoreError, StoreResult};

/// One person on a caseload page, with what the team needs at a glance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseloadEntry {
    pub person: PersonRecord,
    pub peer_worker_name: Option<String>,
    pub key_worker: Option<(UserId, String)>,
    pub next_appointment: Option<(AppointmentId, AppointmentKind, DateTime<Utc>)>,
    /// From the current Enablement Plan; `None` when there is none.
    pub support_level: Option<SupportLevel>,
    pub review_on: Option<NaiveDate>,
    pub crisis_plan: CrisisPlanState,
}

/// A caseload place that ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlacementRecord {
    pub team_id: TeamId,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    /// Ended by closing the case, not by a move to another team.
    pub closed: bool,
}

/// What naming a key worker did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyWorkerOutcome {
    Named,
    /// The person is on no team's caseload.
    NotPlaced,
    /// The account is not a practitioner on the person's team.
    NotOnTeam,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RatingRecord {
    pub id: Uuid,
    pub person_id: PersonId,
    pub appointment_id: AppointmentId,
    /// The appointment's kind, as stored on appointments (`enablement_workshop`, `review`).
    pub kind: AppointmentKind,
    pub team_id: Option<TeamId>,
    pub score: i32,
    pub comment: Option<String>,
    pub name_shared: bool,
    pub rated_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A rating as its team reads it, with the person's name when they shared it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TeamRatingRecord {
    pub rating: RatingRecord,
    pub display_name: String,
}

#[async_trait::async_trait]
pub trait CaseloadStore {
    /// A page of the team's caseload in person id order after `after`; the next appointment
    /// is the first not cancelled starting at `now` or later.
    async fn caseload_page(
        &self,
        team: TeamId,
        after: Option<PersonId>,
        limit: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<CaseloadEntry>>;
    /// Names the person's key worker (the same one again keeps its start).
    async fn set_key_worker(
        &self,
        person: PersonId,
        user: UserId,
        at: DateTime<Utc>,
    ) -> StoreResult<KeyWorkerOutcome>;
    /// Ends the key worker link; false when there was none.
    async fn end_key_worker(&self, person: PersonId) -> StoreResult<bool>;
    /// Closes the person's case; the team it closed on, or `None` when they were on no
    /// team's caseload.
    async fn close_case(&self, person: PersonId, at: DateTime<Utc>) -> StoreResult<Option<TeamId>>;
    /// The person's ended caseload places, oldest first.
    async fn caseload_history(&self, person: PersonId) -> StoreResult<Vec<PlacementRecord>>;
    async fn rating(
        &self,
        person: PersonId,
        appointment: AppointmentId,
    ) -> StoreResult<Option<RatingRecord>>;
    /// Stores a first rating; a second for the same appointment is a conflict.
    async fn insert_rating(&self, rating: &RatingRecord) -> StoreResult<()>;
    /// Changes a rating's score, comment and name sharing (its first `rated_at` stays).
    async fn update_rating(&self, rating: &RatingRecord) -> StoreResult<()>;
    /// The team's ratings, newest first, before the rating `before`.
    async fn team_ratings(
        &self,
        team: TeamId,
        before: Option<Uuid>,
        limit: i64,
    ) -> StoreResult<Vec<TeamRatingRecord>>;
}

const CASELOAD_PAGE: &str = "SELECT page.id, page.display_name, page.created_at, page.team_id, \
     page.peer_worker_id, pw.display_name AS peer_worker_name, \
     k.user_id AS key_worker_id, ku.display_name AS key_worker_name, \
     na.id AS next_id, na.kind AS next_kind, na.starts_at AS next_starts_at, \
     (SELECT v.body FROM plan_versions v WHERE v.person_id = page.id \
        AND v.kind = 'enablement_plan' ORDER BY v.version DESC LIMIT 1) AS plan_body, \
     (SELECT w.body FROM plan_versions w WHERE w.person_id = page.id \
        AND w.kind = 'wrap' ORDER BY w.version DESC LIMIT 1) AS wrap_body, \
     EXISTS (SELECT 1 FROM crisis_activations x WHERE x.person_id = page.id \
        AND x.deactivated_at IS NULL) AS crisis_active \
     FROM (SELECT p.id, p.display_name, p.created_at, c.team_id, a.peer_worker_id, \
             (SELECT ap.id FROM appointments ap WHERE ap.person_id = p.id \
                AND ap.starts_at >= $4 AND ap.status <> 'cancelled' \
                ORDER BY ap.starts_at, ap.id LIMIT 1) AS next_id \
           FROM people p JOIN caseloads c ON c.person_id = p.id \
           LEFT JOIN peer_allocations a ON a.person_id = p.id \
           WHERE c.team_id = $1 AND ($2 IS NULL OR p.id > $2) ORDER BY p.id LIMIT $3) page \
     LEFT JOIN users pw ON pw.id = page.peer_worker_id \
     LEFT JOIN key_workers k ON k.person_id = page.id \
     LEFT JOIN users ku ON ku.id = k.user_id \
     LEFT JOIN appointments na ON na.id = page.next_id \
     ORDER BY page.id";

#[derive(sqlx::FromRow)]
struct CaseloadRow {
    id: Uuid,
    display_name: String,
    created_at: DateTime<Utc>,
    team_id: Option<Uuid>,
    peer_worker_id: Option<Uuid>,
    peer_worker_name: Option<String>,
    key_worker_id: Option<Uuid>,
    key_worker_name: Option<String>,
    next_id: Option<Uuid>,
    next_kind: Option<String>,
    next_starts_at: Option<DateTime<Utc>>,
    plan_body: Option<Json<serde_json::Value>>,
    wrap_body: Option<Json<serde_json::Value>>,
    crisis_active: bool,
}

/// The part of the plan a caseload row shows; the rest of the body is not read.
#[derive(serde::Deserialize)]
struct PlanGlance {
    support_level: Option<SupportLevel>,
    review_on: Option<NaiveDate>,
}

impl TryFrom<CaseloadRow> for CaseloadEntry {
    type Error = StoreError;
    fn try_from(row: CaseloadRow) -> Result<Self, StoreError> {
        let next_appointment = match (row.next_id, row.next_kind, row.next_starts_at) {
            (Some(id), Some(kind), Some(starts_at)) => {
                let kind = AppointmentKind::parse(&kind)
                    .ok_or_else(|| StoreError::Corrupt("unknown appointment kind".into()))?;
                Some((id.into(), kind, starts_at))
            }
            _ => None,
        };
        let plan = match row.plan_body {
            Some(Json(body)) => Some(
                serde_json::from_value::<PlanGlance>(body)
                    .map_err(|_| StoreError::Corrupt("an unreadable plan version".into()))?,
            ),
            None => None,
        };
        let written = row.wrap_body.is_some_and(|Json(mut wrap)| {
            match wrap.get_mut("crisis_plan").map(serde_json::Value::take) {
                // A crisis plan this build cannot read is still something written.
                Some(crisis) => serde_json::from_value::<CrisisPlan>(crisis)
                    .map_or(true, |plan| plan != CrisisPlan::default()),
                None => false,
            }
        });
        let crisis_plan = if row.crisis_active {
            CrisisPlanState::Active
        } else if written {
            CrisisPlanState::Written
        } else {
            CrisisPlanState::None
        };
        let key_worker = match (row.key_worker_id, row.key_worker_name) {
            (Some(id), Some(name)) => Some((id.into(), name)),
            _ => None,
        };
        Ok(CaseloadEntry {
            person: PersonRecord {
                id: row.id.into(),
                display_name: row.display_name,
                team_id: row.team_id.map(Into::into),
                peer_worker_id: row.peer_worker_id.map(Into::into),
                created_at: row.created_at,
            },
            peer_worker_name: row.peer_worker_name,
            key_worker,
            next_appointment,
            support_level: plan.as_ref().and_then(|p| p.support_level.clone()),
            review_on: plan.and_then(|p| p.review_on),
            crisis_plan,
        })
    }
}

const RATING_COLUMNS: &str = "r.id, r.person_id, r.appointment_id, r.kind, r.team_id, r.score, \
     r.comment, r.name_shared, r.rated_at, r.updated_at";

#[derive(sqlx::FromRow)]
struct RatingRow {
    id: Uuid,
    person_id: Uuid,
    appointment_id: Uuid,
    kind: String,
    team_id: Option<Uuid>,
    score: i32,
    comment: Option<String>,
    name_shared: bool,
    rated_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<RatingRow> for RatingRecord {
    type Error = StoreError;
    fn try_from(row: RatingRow) -> Result<Self, StoreError> {
        Ok(RatingRecord {
            id: row.id,
            person_id: row.person_id.into(),
            appointment_id: row.appointment_id.into(),
            kind: AppointmentKind::parse(&row.kind)
                .ok_or_else(|| StoreError::Corrupt("unknown rated kind".into()))?,
            team_id: row.team_id.map(Into::into),
            score: row.score,
            comment: row.comment,
            name_shared: row.name_shared,
            rated_at: row.rated_at,
            updated_at: row.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct TeamRatingRow {
    #[sqlx(flatten)]
    rating: RatingRow,
    display_name: String,
}

#[async_trait::async_trait]
impl<DB> CaseloadStore for SqlStore<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> &'a str: Bind<DB>,
    Uuid: Column<DB>,
    Option<Uuid>: Column<DB>,
    DateTime<Utc>: Column<DB>,
    Option<DateTime<Utc>>: Column<DB>,
    String: Column<DB>,
    Option<String>: Column<DB>,
    i32: Column<DB>,
    i64: Column<DB>,
    bool: Column<DB>,
    Json<serde_json::Value>: Column<DB>,
    Option<Json<serde_json::Value>>: Column<DB>,
    usize: ColumnIndex<DB::Row>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
    async fn caseload_page(
        &self,
        team: TeamId,
        after: Option<PersonId>,
        limit: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<CaseloadEntry>> {
        let rows: Vec<CaseloadRow> = sqlx::query_as(CASELOAD_PAGE)
            .bind(team.as_uuid())
            .bind(after.map(|p| p.as_uuid()))
            .bind(limit)
            .bind(now)
            .fetch_all(&self.db)
            .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn set_key_worker(
        &self,
        person: PersonId,
        user: UserId,
        at: DateTime<Utc>,
    ) -> StoreResult<KeyWorkerOutcome> {
        let mut tx = begin_write(self).await?;
        let team: Option<(Uuid,)> =
            sqlx::query_as("SELECT team_id FROM caseloads WHERE person_id = $1")
                .bind(person.as_uuid())
                .fetch_optional(&mut *tx)
                .await?;
        let Some((team,)) = team else {
            return Ok(KeyWorkerOutcome::NotPlaced);
        };
        let named = sqlx::query(
            "INSERT INTO key_workers (person_id, user_id, since) \
             SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM team_members m \
                 JOIN users u ON u.id = m.user_id \
                 WHERE m.team_id = $4 AND m.user_id = $2 AND u.role = 'practitioner') \
             ON CONFLICT (person_id) DO UPDATE SET user_id = excluded.user_id, \
                 since = CASE WHEN key_workers.user_id = excluded.user_id \
                         THEN key_workers.since ELSE excluded.since END",
        )
        .bind(person.as_uuid())
        .bind(user.as_uuid())
        .bind(at)
        .bind(team)
        .execute(&mut *tx)
        .await?;
        if named.rows_affected() == 0 {
            return Ok(KeyWorkerOutcome::NotOnTeam);
        }
        tx.commit().await?;
        Ok(KeyWorkerOutcome::Named)
    }

    async fn end_key_worker(&self, person: PersonId) -> StoreResult<bool> {
        let ended = sqlx::query("DELETE FROM key_workers WHERE person_id = $1")
            .bind(person.as_uuid())
            .execute(self.lone_write().await?.pool())
            .await?;
        Ok(ended.rows_affected() > 0)
    }

    async fn close_case(&self, person: PersonId, at: DateTime<Utc>) -> StoreResult<Option<TeamId>> {
        let mut tx = begin_write(self).await?;
        let place: Option<(Uuid, DateTime<Utc>)> =
            sqlx::query_as("DELETE FROM caseloads WHERE person_id = $1 RETURNING team_id, since")
                .bind(person.as_uuid())
                .fetch_optional(&mut *tx)
                .await?;
        let Some((team, since)) = place else {
            return Ok(None);
        };
        sqlx::query(
            "INSERT INTO caseload_history (person_id, team_id, started_at, ended_at, closed) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(person.as_uuid())
        .bind(team)
        .bind(since)
        .bind(at)
        .bind(true)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM key_workers WHERE person_id = $1")
            .bind(person.as_uuid())
            .execute(&mut *tx)
            .await?;
        let peer: Option<(Uuid, DateTime<Utc>)> = sqlx::query_as(
            "DELETE FROM peer_allocations WHERE person_id = $1 \
             RETURNING peer_worker_id, allocated_at",
        )
        .bind(person.as_uuid())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((peer, allocated_at)) = peer {
            sqlx::query(
                "INSERT INTO peer_allocation_history \
                 (person_id, peer_worker_id, started_at, ended_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(person.as_uuid())
            .bind(peer)
            .bind(allocated_at)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            // What the person shared with their peer worker was shared with that worker, as
            // on a reallocation.
            sqlx::query(
                "UPDATE consents SET revoked_at = $2 \
                 WHERE person_id = $1 AND grantee_role = 'peer_worker' AND revoked_at IS NULL",
            )
            .bind(person.as_uuid())
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Some(team.into()))
    }

    async fn caseload_history(&self, person: PersonId) -> StoreResult<Vec<PlacementRecord>> {
        let rows: Vec<(Uuid, DateTime<Utc>, DateTime<Utc>, bool)> = sqlx::query_as(
            "SELECT team_id, started_at, ended_at, closed FROM caseload_history \
             WHERE person_id = $1 ORDER BY ended_at",
        )
        .bind(person.as_uuid())
        .fetch_all(&self.db)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(team, started_at, ended_at, closed)| PlacementRecord {
                team_id: team.into(),
                started_at,
                ended_at,
                closed,
            })
            .collect())
    }

    async fn rating(
        &self,
        person: PersonId,
        appointment: AppointmentId,
    ) -> StoreResult<Option<RatingRecord>> {
        let row: Option<RatingRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {RATING_COLUMNS} FROM satisfaction_ratings r \
             WHERE r.person_id = $1 AND r.appointment_id = $2"
        )))
        .bind(person.as_uuid())
        .bind(appointment.as_uuid())
        .fetch_optional(&self.db)
        .await?;
        row.map(TryInto::try_into).transpose()
    }

    async fn insert_rating(&self, rating: &RatingRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO satisfaction_ratings (id, person_id, appointment_id, kind, team_id, \
             score, comment, name_shared, rated_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(rating.id)
        .bind(rating.person_id.as_uuid())
        .bind(rating.appointment_id.as_uuid())
        .bind(rating.kind.as_str())
        .bind(rating.team_id.map(|t| t.as_uuid()))
        .bind(rating.score)
        .bind(rating.comment.clone())
        .bind(rating.name_shared)
        .bind(rating.rated_at)
        .bind(rating.updated_at)
        .execute(self.lone_write().await?.pool())
        .await?;
        Ok(())
    }

    async fn update_rating(&self, rating: &RatingRecord) -> StoreResult<()> {
        sqlx::query(
            "UPDATE satisfaction_ratings SET score = $3, comment = $4, name_shared = $5, \
             updated_at = $6 WHERE person_id = $1 AND appointment_id = $2",
        )
        .bind(rating.person_id.as_uuid())
        .bind(rating.appointment_id.as_uuid())
        .bind(rating.score)
        .bind(rating.comment.clone())
        .bind(rating.name_shared)
        .bind(rating.updated_at)
        .execute(self.lone_write().await?.pool())
        .await?;
        Ok(())
    }

    async fn team_ratings(
        &self,
        team: TeamId,
        before: Option<Uuid>,
        limit: i64,
    ) -> StoreResult<Vec<TeamRatingRecord>> {
        // Ids are UUID v7, made at the first rating: their order is `rated_at`'s.
        let rows: Vec<TeamRatingRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {RATING_COLUMNS}, p.display_name FROM satisfaction_ratings r \
             JOIN people p ON p.id = r.person_id \
             WHERE r.team_id = $1 AND ($2 IS NULL OR r.id < $2) \
             ORDER BY r.id DESC LIMIT $3"
        )))
        .bind(team.as_uuid())
        .bind(before)
        .bind(limit)
        .fetch_all(&self.db)
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(TeamRatingRecord {
                    display_name: row.display_name,
                    rating: row.rating.try_into()?,
                })
            })
            .collect()
    }
}
