//! Accounts without staff-set passwords: invitations, password changes and resets, disabling.
//!
//! Guarantees:
//! - **One-time codes, stored as hashes.** An invitation or reset code is kept only as SHA-256
//!   (the codes carry 80 random bits, so a fast hash is enough) and is spent by the one
//!   statement that marks it used, so two requests racing with one code cannot both succeed.
//! - **A new password ends the old sessions.** Changing a password ends every other session of
//!   the account; a reset or a disable ends all of them, in the same transaction as the change.

use chrono::{DateTime, Utc};
use livingwell_core::domain::{PersonId, Role, UserId};
use sqlx::{ColumnIndex, Executor};
use uuid::Uuid;

use super::backend::{Backend, Bind, Column, RowsAffected as _, SqlStore, Tx};
use super::idempotency::begin_write;
use super::sql::insert_user;
use super::{StoreError, StoreResult, UserRecord};

/// An invitation to make an account, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewInvitation {
    pub id: uuid::Uuid,
    pub code_hash: Vec<u8>,
    pub role: Role,
    /// For a service user's account: their person record.
    pub person_id: Option<PersonId>,
    pub display_name: String,
    /// Who invited: an account id, or `client:<id>` for a staff system.
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// What the invited person chooses; the invitation supplies the role, name and person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChosenCredentials {
    pub id: UserId,
    pub username: String,
    pub password_hash: String,
}

/// Why an invitation could not be accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcceptRefusal {
    /// No such code, or used, or expired: all one answer, so codes cannot be probed.
    CodeNotValid,
    UsernameTaken,
    /// The person already has an account.
    PersonHasAccount,
}

/// A password-reset code, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewResetCode {
    pub id: uuid::Uuid,
    pub user_id: UserId,
    pub code_hash: Vec<u8>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Sessions a change ended. On Postgres each was announced at commit; a store without
/// notifications leaves that to [`crate::events::EventHub::sessions_ended`].
pub type EndedSessions = Vec<uuid::Uuid>;

/// Stores an invitation inside `tx` (its code only as the hash).
pub(super) async fn insert_invitation<DB>(
    tx: &mut Tx<DB>,
    invitation: &NewInvitation,
) -> StoreResult<()>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> &'a str: Bind<DB>,
    for<'a> &'a [u8]: Bind<DB>,
    Uuid: Bind<DB>,
    Option<Uuid>: Bind<DB>,
    DateTime<Utc>: Bind<DB>,
{
    sqlx::query(
        "INSERT INTO invitations (id, code_hash, role, person_id, display_name, \
         created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(invitation.id)
    .bind(invitation.code_hash.as_slice())
    .bind(invitation.role.as_str())
    .bind(invitation.person_id.map(|p| p.as_uuid()))
    .bind(invitation.display_name.as_str())
    .bind(invitation.created_by.as_str())
    .bind(invitation.created_at)
    .bind(invitation.expires_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[async_trait::async_trait]
pub trait AccountStore {
    async fn create_invitation(&self, invitation: &NewInvitation) -> StoreResult<()>;
    /// Spends the invitation with this code hash and creates the account it invites, with the
    /// username and password hash the person chose. Nothing is stored when it is refused.
    async fn accept_invitation(
        &self,
        code_hash: &[u8],
        chosen: &ChosenCredentials,
        at: DateTime<Utc>,
    ) -> StoreResult<Result<UserRecord, AcceptRefusal>>;
    async fn create_reset_code(&self, code: &NewResetCode) -> StoreResult<()>;
    /// Spends a reset code of the account `username`, sets the new password hash and ends every
    /// session of the account. `None` when the code is not valid for that account (or the
    /// account is disabled).
    async fn reset_password(
        &self,
        username: &str,
        code_hash: &[u8],
        password_hash: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<Option<EndedSessions>>;
    /// Sets a new password hash and ends every session of the account but `keep`.
    async fn change_password(
        &self,
        user: UserId,
        password_hash: &str,
        keep: uuid::Uuid,
        at: DateTime<Utc>,
    ) -> StoreResult<EndedSessions>;
    /// Disables the account and ends every session of it (`disabled`), or lets it sign in
    /// again. `None` when there is no such account.
    async fn set_disabled(
        &self,
        user: UserId,
        disabled: bool,
        at: DateTime<Utc>,
    ) -> StoreResult<Option<EndedSessions>>;
    /// Whether the account is disabled.
    async fn is_disabled(&self, user: UserId) -> StoreResult<bool>;
    /// Records that the password was just entered again in a live session (a step-up).
    /// Returns whether the session is live.
    async fn reauthenticated(&self, session: uuid::Uuid, at: DateTime<Utc>) -> StoreResult<bool>;
}

#[async_trait::async_trait]
impl<DB> AccountStore for SqlStore<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> &'a str: Bind<DB>,
    for<'a> &'a [u8]: Bind<DB>,
    Uuid: Column<DB>,
    Option<Uuid>: Bind<DB>,
    String: Column<DB>,
    Vec<u8>: Column<DB>,
    bool: Column<DB>,
    DateTime<Utc>: Column<DB>,
    Option<DateTime<Utc>>: Bind<DB>,
    usize: ColumnIndex<DB::Row>,
{
    async fn create_invitation(&self, invitation: &NewInvitation) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        insert_invitation(&mut tx, invitation).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn accept_invitation(
        &self,
        code_hash: &[u8],
        chosen: &ChosenCredentials,
        at: DateTime<Utc>,
    ) -> StoreResult<Result<UserRecord, AcceptRefusal>> {
        let mut tx = begin_write(self).await?;
        let found: Option<(Uuid, String, Option<Uuid>, String)> = sqlx::query_as(
            "SELECT id, role, person_id, display_name FROM invitations \
             WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(code_hash)
        .bind(at)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((invitation, role, person_id, display_name)) = found else {
            return Ok(Err(AcceptRefusal::CodeNotValid));
        };
        let user = UserRecord {
            id: chosen.id,
            username: chosen.username.clone(),
            password_hash: chosen.password_hash.clone(),
            role: Role::parse(&role)
                .ok_or_else(|| StoreError::Corrupt("invitations.role".into()))?,
            person_id: person_id.map(Into::into),
            display_name,
        };
        match insert_user(&mut *tx, &user, at).await {
            Ok(()) => {}
            Err(StoreError::Conflict(rule)) => {
                return Ok(Err(if rule.field == "username" {
                    AcceptRefusal::UsernameTaken
                } else {
                    AcceptRefusal::PersonHasAccount
                }));
            }
            Err(other) => return Err(other),
        }
        // Spent here, under the write lock (SQLite) or the row lock (Postgres): of two
        // acceptances racing with one code, the second finds it used and rolls back.
        let spent = sqlx::query(
            "UPDATE invitations SET used_at = $2, user_id = $3 \
             WHERE id = $1 AND used_at IS NULL",
        )
        .bind(invitation)
        .bind(at)
        .bind(user.id.as_uuid())
        .execute(&mut *tx)
        .await?;
        if spent.rows_affected() != 1 {
            return Ok(Err(AcceptRefusal::CodeNotValid));
        }
        tx.commit().await?;
        Ok(Ok(user))
    }

    async fn create_reset_code(&self, code: &NewResetCode) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        // One reset in flight per account: a new code replaces any earlier one.
        sqlx::query(
            "UPDATE password_reset_codes SET used_at = $2 \
             WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(code.user_id.as_uuid())
        .bind(code.created_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO password_reset_codes (id, user_id, code_hash, created_by, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(code.id)
        .bind(code.user_id.as_uuid())
        .bind(&code.code_hash)
        .bind(&code.created_by)
        .bind(code.created_at)
        .bind(code.expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn reset_password(
        &self,
        username: &str,
        code_hash: &[u8],
        password_hash: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<Option<EndedSessions>> {
        let mut tx = begin_write(self).await?;
        let spent: Option<(Uuid,)> = sqlx::query_as(
            "UPDATE password_reset_codes SET used_at = $3 \
             WHERE code_hash = $2 AND used_at IS NULL AND expires_at > $3 \
             AND user_id = (SELECT id FROM users \
                            WHERE username = $1 AND disabled_at IS NULL) \
             RETURNING user_id",
        )
        .bind(username)
        .bind(code_hash)
        .bind(at)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((user,)) = spent else {
            return Ok(None);
        };
        sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
            .bind(user)
            .bind(password_hash)
            .execute(&mut *tx)
            .await?;
        let ended = end_sessions(&mut tx, user, None, at).await?;
        tx.commit().await?;
        Ok(Some(ended))
    }

    async fn change_password(
        &self,
        user: UserId,
        password_hash: &str,
        keep: Uuid,
        at: DateTime<Utc>,
    ) -> StoreResult<EndedSessions> {
        let mut tx = begin_write(self).await?;
        sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
            .bind(user.as_uuid())
            .bind(password_hash)
            .execute(&mut *tx)
            .await?;
        let ended = end_sessions(&mut tx, user.as_uuid(), Some(keep), at).await?;
        tx.commit().await?;
        Ok(ended)
    }

    async fn set_disabled(
        &self,
        user: UserId,
        disabled: bool,
        at: DateTime<Utc>,
    ) -> StoreResult<Option<EndedSessions>> {
        let mut tx = begin_write(self).await?;
        let changed = sqlx::query("UPDATE users SET disabled_at = $2 WHERE id = $1")
            .bind(user.as_uuid())
            .bind(disabled.then_some(at))
            .execute(&mut *tx)
            .await?;
        if changed.rows_affected() != 1 {
            return Ok(None);
        }
        let ended = if disabled {
            end_sessions(&mut tx, user.as_uuid(), None, at).await?
        } else {
            Vec::new()
        };
        tx.commit().await?;
        Ok(Some(ended))
    }

    async fn is_disabled(&self, user: UserId) -> StoreResult<bool> {
        let (disabled,): (bool,) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM users WHERE id = $1 AND disabled_at IS NOT NULL)",
        )
        .bind(user.as_uuid())
        .fetch_one(&self.db)
        .await?;
        Ok(disabled)
    }

    async fn reauthenticated(&self, session: Uuid, at: DateTime<Utc>) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE sessions SET authenticated_at = $2 WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(session)
        .bind(at)
        .execute(self.lone_write().await?.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

/// Ends every live session of the account but `keep`, inside `tx`, and announces each one to
/// the other processes at commit. Every change that ends sessions goes through here, so none can
/// end one without announcing it.
async fn end_sessions<DB>(
    tx: &mut Tx<DB>,
    user: Uuid,
    keep: Option<Uuid>,
    at: DateTime<Utc>,
) -> StoreResult<EndedSessions>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    Uuid: Column<DB>,
    DateTime<Utc>: Column<DB>,
    usize: ColumnIndex<DB::Row>,
{
    let ending = match keep {
        None => sqlx::query_as(
            "UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL \
             RETURNING id",
        )
        .bind(user)
        .bind(at),
        Some(keep) => sqlx::query_as(
            "UPDATE sessions SET revoked_at = $3 \
             WHERE user_id = $1 AND id <> $2 AND revoked_at IS NULL RETURNING id",
        )
        .bind(user)
        .bind(keep)
        .bind(at),
    };
    let ended: Vec<(Uuid,)> = ending.fetch_all(&mut **tx).await?;
    let ended: EndedSessions = ended.into_iter().map(|(id,)| id).collect();
    for session in &ended {
        DB::notify_session_ended(tx, *session).await?;
    }
    Ok(ended)
}
