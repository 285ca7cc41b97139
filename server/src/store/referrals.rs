//! Referrals (migration 0019's `referrals` table): received, listed for triage, triaged once.
//!
//! Guarantees:
//! - **A challenge pays for one referral.** A self-referral's `proof_id` is unique: a proof
//!   used again is refused by the database (409 naming `proof`), however the two race.
//! - **Triaged once.** The one statement that records the outcome does so only while there is
//!   none (`outcome IS NULL`, under the row lock on Postgres, the write lock on SQLite): of two
//!   triages racing, the second finds the first's outcome and stores nothing.
//! - **An acceptance is one transaction**: the person's record on the team's caseload, the
//!   referral's outcome naming them, and the invitation to their account commit together, with
//!   the events the triage announces.

use chrono::{DateTime, Utc};
use livingwell_core::api::referrals::{
    ContactDetails, ReferralId, ReferralOutcome, ReferralSource,
};
use livingwell_core::domain::{PersonId, Role, TeamId, UserId};
use sqlx::types::Json;
use sqlx::{ColumnIndex, Executor};
use uuid::Uuid;

use super::accounts::{NewInvitation, insert_invitation};
use super::backend::{Backend, Bind, Column, RowsAffected as _, SqlStore};
use super::events::{NewEvent, append_in_tx};
use super::idempotency::begin_write;
use super::sql::insert_person;
use super::{PersonRecord, StoreError, StoreResult};

/// A referral as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferralRecord {
    pub id: ReferralId,
    pub source: ReferralSource,
    /// The staff system a partner referral came through.
    pub referrer_client_id: Option<String>,
    /// Who referred (a partner referral).
    pub referrer: Option<String>,
    pub display_name: String,
    pub contact: ContactDetails,
    pub help_wanted: String,
    pub consent_to_contact: bool,
    /// The hub asked for, then the one that triaged it.
    pub team_id: Option<TeamId>,
    /// The spent challenge of a self-referral.
    pub proof_id: Option<String>,
    pub received_at: DateTime<Utc>,
    pub outcome: Option<ReferralOutcome>,
    pub triaged_at: Option<DateTime<Utc>>,
    pub triaged_by: Option<UserId>,
    pub person_id: Option<PersonId>,
    pub signposted_to: Option<String>,
}

/// Which referrals waiting for triage a caller is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenReferrals {
    /// Every one (a staff system with `referrals:read`).
    All,
    /// Those held by a team the account is on, and those at the front door (no hub asked for).
    OfMember(UserId),
}

/// A triage to record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Triage {
    pub referral: ReferralId,
    pub outcome: ReferralOutcome,
    /// The team that takes it.
    pub team_id: TeamId,
    pub triaged_by: UserId,
    pub at: DateTime<Utc>,
    pub signposted_to: Option<String>,
    /// For an acceptance: the person's record (on `team_id`'s caseload) and their invitation.
    pub accepted: Option<Acceptance>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acceptance {
    pub person: PersonRecord,
    pub invitation: NewInvitation,
}

/// Why a triage was not recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TriageRefusal {
    NotFound,
    /// Triaged already, with this outcome.
    AlreadyTriaged(ReferralOutcome),
}

#[async_trait::async_trait]
pub trait ReferralStore {
    /// Stores a new referral and the events announcing it, in one transaction.
    async fn insert_referral(
        &self,
        referral: &ReferralRecord,
        announce: &[NewEvent],
    ) -> StoreResult<()>;
    async fn referral(&self, id: ReferralId) -> StoreResult<Option<ReferralRecord>>;
    /// Referrals waiting for triage that `visible` shows, oldest first (by id, which is
    /// time-ordered), after `after`.
    async fn open_referrals(
        &self,
        visible: OpenReferrals,
        after: Option<ReferralId>,
        limit: i64,
    ) -> StoreResult<Vec<ReferralRecord>>;
    /// Records the triage (with, for an acceptance, the person and their invitation) and the
    /// events announcing it, in one transaction; nothing is stored when it is refused.
    async fn triage_referral(
        &self,
        triage: &Triage,
        announce: &[NewEvent],
    ) -> StoreResult<Result<ReferralRecord, TriageRefusal>>;
    /// Who hears of a referral received: the practitioners of `team`, or with none, every
    /// practitioner on a team.
    async fn referral_recipients(&self, team: Option<TeamId>) -> StoreResult<Vec<UserId>>;
    /// Every member of a team (practitioners and peer workers).
    async fn team_member_ids(&self, team: TeamId) -> StoreResult<Vec<UserId>>;
}

#[derive(sqlx::FromRow)]
struct ReferralRow {
    id: Uuid,
    source: String,
    referrer_client_id: Option<String>,
    referrer: Option<String>,
    display_name: String,
    contact: Json<ContactDetails>,
    help_wanted: String,
    consent_to_contact: bool,
    team_id: Option<Uuid>,
    proof_id: Option<String>,
    received_at: DateTime<Utc>,
    outcome: Option<String>,
    triaged_at: Option<DateTime<Utc>>,
    triaged_by: Option<Uuid>,
    person_id: Option<Uuid>,
    signposted_to: Option<String>,
}

const REFERRAL_COLUMNS: &str = "id, source, referrer_client_id, referrer, display_name, contact, \
     help_wanted, consent_to_contact, team_id, proof_id, received_at, outcome, triaged_at, \
     triaged_by, person_id, signposted_to";

fn source_text(source: ReferralSource) -> &'static str {
    match source {
        ReferralSource::SelfReferral => "self",
        ReferralSource::Partner => "partner",
    }
}

fn outcome_of(text: &str) -> StoreResult<ReferralOutcome> {
    ReferralOutcome::parse(text)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown referral outcome {text:?}")))
}

impl TryFrom<ReferralRow> for ReferralRecord {
    type Error = StoreError;

    fn try_from(row: ReferralRow) -> StoreResult<Self> {
        let source = match row.source.as_str() {
            "self" => ReferralSource::SelfReferral,
            "partner" => ReferralSource::Partner,
            other => {
                return Err(StoreError::Corrupt(format!(
                    "unknown referral source {other:?}"
                )));
            }
        };
        Ok(ReferralRecord {
            id: row.id.into(),
            source,
            referrer_client_id: row.referrer_client_id,
            referrer: row.referrer,
            display_name: row.display_name,
            contact: row.contact.0,
            help_wanted: row.help_wanted,
            consent_to_contact: row.consent_to_contact,
            team_id: row.team_id.map(Into::into),
            proof_id: row.proof_id,
            received_at: row.received_at,
            outcome: row.outcome.as_deref().map(outcome_of).transpose()?,
            triaged_at: row.triaged_at,
            triaged_by: row.triaged_by.map(Into::into),
            person_id: row.person_id.map(Into::into),
            signposted_to: row.signposted_to,
        })
    }
}

#[async_trait::async_trait]
impl<DB> ReferralStore for SqlStore<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> &'a str: Bind<DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
    for<'a> &'a [u8]: Bind<DB>,
    Uuid: Column<DB>,
    Option<Uuid>: Column<DB>,
    String: Column<DB>,
    Option<String>: Column<DB>,
    Option<&'static str>: Bind<DB>,
    bool: Column<DB>,
    i64: Column<DB>,
    DateTime<Utc>: Column<DB>,
    Option<DateTime<Utc>>: Column<DB>,
    Json<ContactDetails>: Column<DB>,
    for<'a> Json<&'a ContactDetails>: Bind<DB>,
    for<'a> Json<&'a serde_json::Value>: Bind<DB>,
    usize: ColumnIndex<DB::Row>,
{
    async fn insert_referral(
        &self,
        referral: &ReferralRecord,
        announce: &[NewEvent],
    ) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        sqlx::query(
            "INSERT INTO referrals (id, source, referrer_client_id, referrer, display_name, \
             contact, help_wanted, consent_to_contact, team_id, proof_id, received_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(referral.id.as_uuid())
        .bind(source_text(referral.source))
        .bind(referral.referrer_client_id.clone())
        .bind(referral.referrer.clone())
        .bind(referral.display_name.as_str())
        .bind(Json(&referral.contact))
        .bind(referral.help_wanted.as_str())
        .bind(referral.consent_to_contact)
        .bind(referral.team_id.map(|t| t.as_uuid()))
        .bind(referral.proof_id.clone())
        .bind(referral.received_at)
        .execute(&mut *tx)
        .await?;
        append_in_tx(&mut tx, announce).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn referral(&self, id: ReferralId) -> StoreResult<Option<ReferralRecord>> {
        let row: Option<ReferralRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {REFERRAL_COLUMNS} FROM referrals WHERE id = $1"
        )))
        .bind(id.as_uuid())
        .fetch_optional(&self.db)
        .await?;
        row.map(TryInto::try_into).transpose()
    }

    async fn open_referrals(
        &self,
        visible: OpenReferrals,
        after: Option<ReferralId>,
        limit: i64,
    ) -> StoreResult<Vec<ReferralRecord>> {
        let (member, shown) = match visible {
            OpenReferrals::All => (None, "TRUE"),
            OpenReferrals::OfMember(user) => (
                Some(user.as_uuid()),
                "(team_id IS NULL OR team_id IN \
                 (SELECT team_id FROM team_members WHERE user_id = $3))",
            ),
        };
        // Only placeholders and fixed text are formatted in.
        let sql = format!(
            "SELECT {REFERRAL_COLUMNS} FROM referrals WHERE outcome IS NULL AND {shown} \
             AND ($1 IS NULL OR id > $1) ORDER BY id LIMIT $2"
        );
        let mut query = sqlx::query_as::<_, ReferralRow>(sqlx::AssertSqlSafe(sql))
            .bind(after.map(|a| a.as_uuid()))
            .bind(limit);
        if let Some(member) = member {
            query = query.bind(member);
        }
        let rows = query.fetch_all(&self.db).await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn triage_referral(
        &self,
        triage: &Triage,
        announce: &[NewEvent],
    ) -> StoreResult<Result<ReferralRecord, TriageRefusal>> {
        let mut tx = begin_write(self).await?;
        if let Some(accepted) = &triage.accepted {
            insert_person(&mut tx, &accepted.person).await?;
        }
        // Recorded only while there is no outcome: the second of two triages finds none to set
        // and stores nothing (the transaction, with any person made above, is rolled back).
        let recorded = sqlx::query(
            "UPDATE referrals SET outcome = $2, triaged_at = $3, triaged_by = $4, team_id = $5, \
             person_id = $6, signposted_to = $7 WHERE id = $1 AND outcome IS NULL",
        )
        .bind(triage.referral.as_uuid())
        .bind(triage.outcome.as_str())
        .bind(triage.at)
        .bind(triage.triaged_by.as_uuid())
        .bind(triage.team_id.as_uuid())
        .bind(triage.accepted.as_ref().map(|a| a.person.id.as_uuid()))
        .bind(triage.signposted_to.clone())
        .execute(&mut *tx)
        .await?;
        if recorded.rows_affected() != 1 {
            let current: Option<(Option<String>,)> =
                sqlx::query_as("SELECT outcome FROM referrals WHERE id = $1")
                    .bind(triage.referral.as_uuid())
                    .fetch_optional(&mut *tx)
                    .await?;
            return Ok(Err(match current {
                None => TriageRefusal::NotFound,
                Some((Some(outcome),)) => TriageRefusal::AlreadyTriaged(outcome_of(&outcome)?),
                // Not triaged yet but not updated either: cannot happen under the lock.
                Some((None,)) => {
                    return Err(StoreError::Corrupt(
                        "a referral neither open nor triaged".into(),
                    ));
                }
            }));
        }
        if let Some(accepted) = &triage.accepted {
            insert_invitation(&mut tx, &accepted.invitation).await?;
        }
        let row: ReferralRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {REFERRAL_COLUMNS} FROM referrals WHERE id = $1"
        )))
        .bind(triage.referral.as_uuid())
        .fetch_one(&mut *tx)
        .await?;
        append_in_tx(&mut tx, announce).await?;
        tx.commit().await?;
        Ok(Ok(row.try_into()?))
    }

    async fn referral_recipients(&self, team: Option<TeamId>) -> StoreResult<Vec<UserId>> {
        let rows: Vec<(Uuid,)> = sqlx::query_as(
            "SELECT DISTINCT u.id FROM users u JOIN team_members m ON m.user_id = u.id \
             WHERE u.role = $1 AND ($2 IS NULL OR m.team_id = $2) ORDER BY u.id",
        )
        .bind(Role::Practitioner.as_str())
        .bind(team.map(|t| t.as_uuid()))
        .fetch_all(&self.db)
        .await?;
        Ok(rows.into_iter().map(|(id,)| id.into()).collect())
    }

    async fn team_member_ids(&self, team: TeamId) -> StoreResult<Vec<UserId>> {
        let rows: Vec<(Uuid,)> =
            sqlx::query_as("SELECT user_id FROM team_members WHERE team_id = $1 ORDER BY user_id")
                .bind(team.as_uuid())
                .fetch_all(&self.db)
                .await?;
        Ok(rows.into_iter().map(|(id,)| id.into()).collect())
    }
}
