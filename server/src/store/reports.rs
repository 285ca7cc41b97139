//! What the performance report reads: a team's (or every team's) referrals, caseload, closed
//! cases, plans, satisfaction ratings and attendance over a period, as rows and tallies. The
//! figures are made from them in `service::reports`, which also applies the small-number rule.
//!
//! Cost: every query is bounded by the period and the team, through an index named beside it,
//! so a report costs the same however much history lies before the period. (Reads of "the end
//! of the period" — caseload places still held then — also pass over places that ended after
//! it, which is little for a recent period and never more than the team's later history.)
//! Each query is written twice, for one team and for every team, so each can use its index
//! (a `team_id = $1 OR $1 IS NULL` would keep both databases from using it). Checked with
//! `EXPLAIN QUERY PLAN` (SQLite) and `EXPLAIN` (Postgres, sequential scans off): every read
//! below searches the index named beside it; the caseload at a moment reads `caseloads` by
//! team (every team: the whole table, one row a person on a caseload now), and a person's
//! latest plan version is found by the primary key (`person_id`, `kind`, `version`) —
//! walking that person's versions, not anyone else's.

use chrono::{DateTime, Utc};
use livingwell_core::domain::{PersonId, TeamId, UserId};
use sqlx::types::Json;
use sqlx::{ColumnIndex, Executor};
use uuid::Uuid;

use super::StoreResult;
use super::backend::{Backend, Bind, Column, SqlStore};

/// A span of time, `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// How many referrals received in the period came from one source and stand at one outcome.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct ReferralTally {
    /// `self` or `partner`.
    pub source: String,
    /// `accepted`, `signposted`, `crisis_response`; `None` while awaiting triage.
    pub outcome: Option<String>,
    pub referrals: i64,
}

/// When a referral received in the period came in and when it was triaged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct TriageTime {
    pub received_at: DateTime<Utc>,
    pub triaged_at: DateTime<Utc>,
}

/// A person on a team's caseload at a moment, with their key worker (as now) if they have one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseloadPlace {
    pub person_id: PersonId,
    pub team_id: TeamId,
    pub key_worker: Option<(UserId, String)>,
}

#[derive(sqlx::FromRow)]
struct PlaceRow {
    person_id: Uuid,
    team_id: Uuid,
    worker_id: Option<Uuid>,
    worker_name: Option<String>,
}

/// A person's latest Enablement Plan version written before a moment, as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct LatestPlan {
    pub person_id: PersonId,
    pub body: serde_json::Value,
}

#[derive(sqlx::FromRow)]
struct PlanRow {
    person_id: Uuid,
    body: Json<serde_json::Value>,
}

/// Satisfaction ratings given in the period for one kind of appointment.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct SatisfactionTally {
    /// The rated appointment's kind (`review`, a workshop session's kind).
    pub kind: String,
    pub ratings: i64,
    pub people: i64,
    pub score_sum: i64,
}

/// One person's appointments in the period marked one way (`attended` or `did_not_attend`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttendanceTally {
    pub person_id: PersonId,
    pub status: String,
    pub appointments: i64,
}

#[derive(sqlx::FromRow)]
struct AttendanceRow {
    person_id: Uuid,
    status: String,
    appointments: i64,
}

#[async_trait::async_trait]
pub trait ReportStore {
    /// Referrals received in `span` (by `received_at`), counted by source and outcome; pairs
    /// with none are absent. `None`: every referral, whichever team (or none) holds it.
    async fn referral_tallies(
        &self,
        team: Option<TeamId>,
        span: Span,
    ) -> StoreResult<Vec<ReferralTally>>;
    /// Receipt and triage times of the referrals received in `span` that have been triaged.
    async fn triage_times(&self, team: Option<TeamId>, span: Span) -> StoreResult<Vec<TriageTime>>;
    /// Everyone on the team's caseload (every team's) at `at`: current places begun before it
    /// and past places that began before it and ended at or after it.
    async fn caseload_at(
        &self,
        team: Option<TeamId>,
        at: DateTime<Utc>,
    ) -> StoreResult<Vec<CaseloadPlace>>;
    /// When each case the team closed in `span` ended.
    async fn closed_cases(
        &self,
        team: Option<TeamId>,
        span: Span,
    ) -> StoreResult<Vec<DateTime<Utc>>>;
    /// The latest Enablement Plan version written before `at` of each person on the caseload
    /// at `at` (as [`ReportStore::caseload_at`]) who has one.
    async fn latest_plans_at(
        &self,
        team: Option<TeamId>,
        at: DateTime<Utc>,
    ) -> StoreResult<Vec<LatestPlan>>;
    /// Satisfaction ratings given in `span` (by `rated_at`) by the team's people, by kind.
    async fn satisfaction_tallies(
        &self,
        team: Option<TeamId>,
        span: Span,
    ) -> StoreResult<Vec<SatisfactionTally>>;
    /// Appointments starting in `span` marked attended or did not attend, by person and mark,
    /// of the people on the caseload at the end of `span`.
    async fn attendance(
        &self,
        team: Option<TeamId>,
        span: Span,
    ) -> StoreResult<Vec<AttendanceTally>>;
}

// Index: referrals_team_received (team_id, received_at); every team: referrals_received (0022).
const REFERRAL_TALLIES_TEAM: &str = "SELECT source, outcome, COUNT(*) AS referrals \
     FROM referrals WHERE team_id = $1 AND received_at >= $2 AND received_at < $3 \
     GROUP BY source, outcome";
const REFERRAL_TALLIES_ALL: &str = "SELECT source, outcome, COUNT(*) AS referrals \
     FROM referrals WHERE received_at >= $1 AND received_at < $2 \
     GROUP BY source, outcome";

// Index: as above.
const TRIAGE_TIMES_TEAM: &str = "SELECT received_at, triaged_at FROM referrals \
     WHERE team_id = $1 AND received_at >= $2 AND received_at < $3 AND triaged_at IS NOT NULL";
const TRIAGE_TIMES_ALL: &str = "SELECT received_at, triaged_at FROM referrals \
     WHERE received_at >= $1 AND received_at < $2 AND triaged_at IS NOT NULL";

// The caseload at a moment ($1 team, $2 the moment; every team: $1 the moment). Index:
// caseloads_team (team_id) for current places, caseload_history_team_ended (team_id, ended_at)
// for past ones; every team: the caseloads table (one row a person) and
// caseload_history_ended (ended_at, 0022).
macro_rules! on_team_at {
    () => {
        "WITH on_team AS ( \
             SELECT person_id, team_id FROM caseloads WHERE team_id = $1 AND since < $2 \
             UNION \
             SELECT person_id, team_id FROM caseload_history \
             WHERE team_id = $1 AND ended_at >= $2 AND started_at < $2) "
    };
}
macro_rules! on_any_team_at {
    () => {
        "WITH on_team AS ( \
             SELECT person_id, team_id FROM caseloads WHERE since < $1 \
             UNION \
             SELECT person_id, team_id FROM caseload_history \
             WHERE ended_at >= $1 AND started_at < $1) "
    };
}

const CASELOAD_TEAM: &str = concat!(
    on_team_at!(),
    "SELECT o.person_id, o.team_id, k.user_id AS worker_id, \
     u.display_name AS worker_name FROM on_team o \
     LEFT JOIN key_workers k ON k.person_id = o.person_id \
     LEFT JOIN users u ON u.id = k.user_id"
);
const CASELOAD_ALL: &str = concat!(
    on_any_team_at!(),
    "SELECT o.person_id, o.team_id, k.user_id AS worker_id, \
     u.display_name AS worker_name FROM on_team o \
     LEFT JOIN key_workers k ON k.person_id = o.person_id \
     LEFT JOIN users u ON u.id = k.user_id"
);

// Index: caseload_history_team_ended (team_id, ended_at); every team: caseload_history_ended.
const CLOSED_TEAM: &str = "SELECT ended_at FROM caseload_history \
     WHERE team_id = $1 AND ended_at >= $2 AND ended_at < $3 AND closed";
const CLOSED_ALL: &str = "SELECT ended_at FROM caseload_history \
     WHERE ended_at >= $1 AND ended_at < $2 AND closed";

// Index: plan_versions' primary key (person_id, kind, version), one person at a time.
const PLANS_TEAM: &str = concat!(
    on_team_at!(),
    "SELECT pv.person_id, pv.body FROM on_team o \
     JOIN plan_versions pv ON pv.person_id = o.person_id AND pv.kind = 'enablement_plan' \
     WHERE pv.version = (SELECT MAX(v.version) FROM plan_versions v \
         WHERE v.person_id = o.person_id AND v.kind = 'enablement_plan' AND v.created_at < $2)"
);
const PLANS_ALL: &str = concat!(
    on_any_team_at!(),
    "SELECT pv.person_id, pv.body FROM on_team o \
     JOIN plan_versions pv ON pv.person_id = o.person_id AND pv.kind = 'enablement_plan' \
     WHERE pv.version = (SELECT MAX(v.version) FROM plan_versions v \
         WHERE v.person_id = o.person_id AND v.kind = 'enablement_plan' AND v.created_at < $1)"
);

// Index: satisfaction_ratings_team_rated (team_id, rated_at); every team:
// satisfaction_ratings_rated (0022).
const SATISFACTION_TEAM: &str = "SELECT kind, COUNT(*) AS ratings, \
     COUNT(DISTINCT person_id) AS people, SUM(score) AS score_sum FROM satisfaction_ratings \
     WHERE team_id = $1 AND rated_at >= $2 AND rated_at < $3 GROUP BY kind";
const SATISFACTION_ALL: &str = "SELECT kind, COUNT(*) AS ratings, \
     COUNT(DISTINCT person_id) AS people, SUM(score) AS score_sum FROM satisfaction_ratings \
     WHERE rated_at >= $1 AND rated_at < $2 GROUP BY kind";

// Index: appointments_person_time (person_id, starts_at, id), one person of the caseload at a
// time. $2 (every team: $1) is the end of the period, the next the start.
const ATTENDANCE_TEAM: &str = concat!(
    on_team_at!(),
    "SELECT a.person_id, a.status, COUNT(*) AS appointments FROM on_team o \
     JOIN appointments a ON a.person_id = o.person_id \
     WHERE a.starts_at >= $3 AND a.starts_at < $2 \
     AND a.status IN ('attended', 'did_not_attend') GROUP BY a.person_id, a.status"
);
const ATTENDANCE_ALL: &str = concat!(
    on_any_team_at!(),
    "SELECT a.person_id, a.status, COUNT(*) AS appointments FROM on_team o \
     JOIN appointments a ON a.person_id = o.person_id \
     WHERE a.starts_at >= $2 AND a.starts_at < $1 \
     AND a.status IN ('attended', 'did_not_attend') GROUP BY a.person_id, a.status"
);

#[async_trait::async_trait]
impl<DB> ReportStore for SqlStore<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    Uuid: Column<DB>,
    Option<Uuid>: Column<DB>,
    DateTime<Utc>: Column<DB>,
    String: Column<DB>,
    Option<String>: Column<DB>,
    i64: Column<DB>,
    Json<serde_json::Value>: Column<DB>,
    for<'a> &'a str: Bind<DB>,
    usize: ColumnIndex<DB::Row>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
    async fn referral_tallies(
        &self,
        team: Option<TeamId>,
        span: Span,
    ) -> StoreResult<Vec<ReferralTally>> {
        let query = match team {
            Some(team) => sqlx::query_as(REFERRAL_TALLIES_TEAM).bind(team.as_uuid()),
            None => sqlx::query_as(REFERRAL_TALLIES_ALL),
        };
        Ok(query
            .bind(span.start)
            .bind(span.end)
            .fetch_all(&self.db)
            .await?)
    }

    async fn triage_times(&self, team: Option<TeamId>, span: Span) -> StoreResult<Vec<TriageTime>> {
        let query = match team {
            Some(team) => sqlx::query_as(TRIAGE_TIMES_TEAM).bind(team.as_uuid()),
            None => sqlx::query_as(TRIAGE_TIMES_ALL),
        };
        Ok(query
            .bind(span.start)
            .bind(span.end)
            .fetch_all(&self.db)
            .await?)
    }

    async fn caseload_at(
        &self,
        team: Option<TeamId>,
        at: DateTime<Utc>,
    ) -> StoreResult<Vec<CaseloadPlace>> {
        let query = match team {
            Some(team) => sqlx::query_as(CASELOAD_TEAM).bind(team.as_uuid()),
            None => sqlx::query_as(CASELOAD_ALL),
        };
        let rows: Vec<PlaceRow> = query.bind(at).fetch_all(&self.db).await?;
        Ok(rows
            .into_iter()
            .map(|row| CaseloadPlace {
                person_id: row.person_id.into(),
                team_id: row.team_id.into(),
                key_worker: row
                    .worker_id
                    .zip(row.worker_name)
                    .map(|(id, name)| (id.into(), name)),
            })
            .collect())
    }

    async fn closed_cases(
        &self,
        team: Option<TeamId>,
        span: Span,
    ) -> StoreResult<Vec<DateTime<Utc>>> {
        let query = match team {
            Some(team) => sqlx::query_scalar(CLOSED_TEAM).bind(team.as_uuid()),
            None => sqlx::query_scalar(CLOSED_ALL),
        };
        Ok(query
            .bind(span.start)
            .bind(span.end)
            .fetch_all(&self.db)
            .await?)
    }

    async fn latest_plans_at(
        &self,
        team: Option<TeamId>,
        at: DateTime<Utc>,
    ) -> StoreResult<Vec<LatestPlan>> {
        let query = match team {
            Some(team) => sqlx::query_as(PLANS_TEAM).bind(team.as_uuid()),
            None => sqlx::query_as(PLANS_ALL),
        };
        let rows: Vec<PlanRow> = query.bind(at).fetch_all(&self.db).await?;
        Ok(rows
            .into_iter()
            .map(|row| LatestPlan {
                person_id: row.person_id.into(),
                body: row.body.0,
            })
            .collect())
    }

    async fn satisfaction_tallies(
        &self,
        team: Option<TeamId>,
        span: Span,
    ) -> StoreResult<Vec<SatisfactionTally>> {
        let query = match team {
            Some(team) => sqlx::query_as(SATISFACTION_TEAM).bind(team.as_uuid()),
            None => sqlx::query_as(SATISFACTION_ALL),
        };
        Ok(query
            .bind(span.start)
            .bind(span.end)
            .fetch_all(&self.db)
            .await?)
    }

    async fn attendance(
        &self,
        team: Option<TeamId>,
        span: Span,
    ) -> StoreResult<Vec<AttendanceTally>> {
        let query = match team {
            Some(team) => sqlx::query_as(ATTENDANCE_TEAM).bind(team.as_uuid()),
            None => sqlx::query_as(ATTENDANCE_ALL),
        };
        let rows: Vec<AttendanceRow> = query
            .bind(span.end)
            .bind(span.start)
            .fetch_all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| AttendanceTally {
                person_id: row.person_id.into(),
                status: row.status,
                appointments: row.appointments,
            })
            .collect())
    }
}
