//! Accounts and teams, the administrator's and the team's work on them: creating accounts and
//! teams, team membership, invitations, password changes and resets, and disabling an account.
//!
//! Guarantees:
//! - **Codes are shown once.** An invitation or reset code is returned to whoever made it and
//!   only its hash is stored; a code works once, until it lapses.
//! - **Sessions end with the password.** Changing a password ends every other session of the
//!   account; a reset or a disable ends all of them; live streams on every server process hear
//!   of it (see [`crate::events::EventHub::sessions_ended`]).
//! - **Passwords pass the strength rule** in [`crate::auth::passwords`] before they are hashed.

use std::sync::Arc;

use chrono::Duration;
use livingwell_core::api::accounts::{InvitationView, OneTimeCodeView};
use livingwell_core::api::people::{CreateTeamRequest, CreateUserRequest};
use livingwell_core::domain::{FieldErrorCode, PersonId, Role, TeamId, UserId};

use super::{ServiceError, ServiceResult};
use crate::auth::{codes, passwords};
use crate::clock::Clock;
use crate::events::EventHub;
use crate::store::accounts::{AcceptRefusal, ChosenCredentials, NewInvitation, NewResetCode};
use crate::store::{Store, TeamRecord, UserRecord};

/// How long an invitation code can be used.
pub const INVITATION_LIFETIME: Duration = Duration::days(7);
/// How long a password-reset code can be used: the person is usually with the worker, or
/// will be by the next day.
pub const RESET_CODE_LIFETIME: Duration = Duration::hours(24);

/// The accounts service. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Accounts {
    store: Arc<dyn Store>,
    events: EventHub,
    clock: Clock,
}

impl Accounts {
    pub fn new(store: Arc<dyn Store>, events: EventHub, clock: Clock) -> Self {
        Self {
            store,
            events,
            clock,
        }
    }

    /// Creates an account with a password an administrator sets (staff and test accounts; a
    /// person's own account is made by invitation).
    pub async fn create_user(&self, request: CreateUserRequest) -> ServiceResult<UserRecord> {
        if let Some(person) = request.person_id
            && self.store.person(person).await?.is_none()
        {
            return Err(ServiceError::invalid("person_id", FieldErrorCode::NotFound));
        }
        passwords::check_strength(
            "password",
            &request.password,
            &[&request.username, &request.display_name],
        )
        .map_err(|error| ServiceError::Invalid(vec![error]))?;
        let user = UserRecord {
            id: UserId::new(),
            username: request.username,
            password_hash: passwords::hash(request.password).await?,
            role: request.role,
            display_name: request.display_name.trim().to_owned(),
            person_id: request.person_id,
        };
        self.store.create_user(&user, self.clock.now()).await?;
        Ok(user)
    }

    /// Creates a team (a hub).
    pub async fn create_team(&self, request: CreateTeamRequest) -> ServiceResult<TeamRecord> {
        let team = TeamRecord {
            id: TeamId::new(),
            name: request.name.trim().to_owned(),
            hub_address: request
                .hub_address
                .map(|a| a.trim().to_owned())
                .filter(|a| !a.is_empty()),
        };
        self.store.create_team(&team, self.clock.now()).await?;
        Ok(team)
    }

    /// Adds a practitioner or peer worker to a team; effective on their next request.
    pub async fn add_member(&self, team: TeamId, user: UserId) -> ServiceResult<()> {
        self.store.team(team).await?.ok_or(ServiceError::NotFound)?;
        let member = self.store.user_by_id(user).await?;
        if member.is_none_or(|m| !m.role.is_team_staff()) {
            return Err(ServiceError::invalid(
                "user_id",
                FieldErrorCode::NotTeamStaff,
            ));
        }
        // Adding a member twice is no change: either way they are on the team.
        self.store
            .add_team_member(team, user, self.clock.now())
            .await?;
        Ok(())
    }

    /// Takes a member off a team; they lose its caseload on their next request.
    pub async fn remove_member(&self, team: TeamId, user: UserId) -> ServiceResult<()> {
        if self
            .store
            .remove_team_member(team, user, self.clock.now())
            .await?
        {
            Ok(())
        } else {
            Err(ServiceError::NotFound)
        }
    }

    /// A one-time code for the person's first sign-in, made by `by` (an audit id).
    pub async fn invite_person(
        &self,
        person: PersonId,
        by: String,
    ) -> ServiceResult<InvitationView> {
        if self.store.account_of_person(person).await?.is_some() {
            return Err(ServiceError::invalid("id", FieldErrorCode::HasAnAccount));
        }
        let record = self
            .store
            .person(person)
            .await?
            .ok_or(ServiceError::NotFound)?;
        self.invite(Role::ServiceUser, Some(person), record.display_name, by)
            .await
    }

    /// A one-time code for a new account of `role`, made by `by` (an audit id).
    pub async fn invite(
        &self,
        role: Role,
        person_id: Option<PersonId>,
        display_name: String,
        by: String,
    ) -> ServiceResult<InvitationView> {
        let now = self.clock.now();
        let (code, code_hash) = codes::generate();
        let expires_at = now + INVITATION_LIFETIME;
        self.store
            .create_invitation(&NewInvitation {
                id: uuid::Uuid::now_v7(),
                code_hash,
                role,
                person_id,
                display_name,
                created_by: by,
                created_at: now,
                expires_at,
            })
            .await?;
        Ok(InvitationView {
            role,
            person_id,
            code,
            expires_at,
        })
    }

    /// Makes the account an invitation was for, with the username and password its owner
    /// chose. Whether the code was unknown, used or lapsed is not said.
    pub async fn accept_invitation(
        &self,
        code: &str,
        username: String,
        password: String,
    ) -> ServiceResult<UserRecord> {
        let code_hash = codes::digest_typed(code)
            .ok_or_else(|| ServiceError::invalid("code", FieldErrorCode::NotValid))?;
        passwords::check_strength("password", &password, &[&username])
            .map_err(|error| ServiceError::Invalid(vec![error]))?;
        let chosen = ChosenCredentials {
            id: UserId::new(),
            username,
            password_hash: passwords::hash(password).await?,
        };
        match self
            .store
            .accept_invitation(&code_hash, &chosen, self.clock.now())
            .await?
        {
            Ok(user) => Ok(user),
            Err(AcceptRefusal::CodeNotValid | AcceptRefusal::PersonHasAccount) => {
                Err(ServiceError::invalid("code", FieldErrorCode::NotValid))
            }
            Err(AcceptRefusal::UsernameTaken) => {
                Err(ServiceError::conflict("username", FieldErrorCode::Taken))
            }
        }
    }

    /// Sets a new password on an account whose current one was checked; every session but
    /// `keep` ends.
    pub async fn change_password(
        &self,
        user: &UserRecord,
        keep: uuid::Uuid,
        new_password: String,
    ) -> ServiceResult<()> {
        passwords::check_strength(
            "new_password",
            &new_password,
            &[&user.username, &user.display_name],
        )
        .map_err(|error| ServiceError::Invalid(vec![error]))?;
        let hash = passwords::hash(new_password).await?;
        let ended = self
            .store
            .change_password(user.id, &hash, keep, self.clock.now())
            .await?;
        self.events.sessions_ended(&ended);
        Ok(())
    }

    /// A one-time code with which the account's owner sets a new password, made by `by` (an
    /// audit id). Any earlier code ends.
    pub async fn reset_code(&self, user: UserId, by: String) -> ServiceResult<OneTimeCodeView> {
        if self.store.user_by_id(user).await?.is_none() {
            return Err(ServiceError::NotFound);
        }
        let now = self.clock.now();
        let (code, code_hash) = codes::generate();
        let expires_at = now + RESET_CODE_LIFETIME;
        self.store
            .create_reset_code(&NewResetCode {
                id: uuid::Uuid::now_v7(),
                user_id: user,
                code_hash,
                created_by: by,
                created_at: now,
                expires_at,
            })
            .await?;
        Ok(OneTimeCodeView { code, expires_at })
    }

    /// Sets a new password with a reset code; every session of the account ends.
    pub async fn reset_password(
        &self,
        username: &str,
        code: &str,
        new_password: String,
    ) -> ServiceResult<()> {
        let code_hash = codes::digest_typed(code)
            .ok_or_else(|| ServiceError::invalid("code", FieldErrorCode::NotValid))?;
        passwords::check_strength("new_password", &new_password, &[username])
            .map_err(|error| ServiceError::Invalid(vec![error]))?;
        let hash = passwords::hash(new_password).await?;
        let ended = self
            .store
            .reset_password(username, &code_hash, &hash, self.clock.now())
            .await?
            .ok_or_else(|| ServiceError::invalid("code", FieldErrorCode::NotValid))?;
        self.events.sessions_ended(&ended);
        Ok(())
    }

    /// Turns an account off (every session ends at once, sign-in is refused) or on again.
    pub async fn set_disabled(&self, user: UserId, disabled: bool) -> ServiceResult<()> {
        let ended = self
            .store
            .set_disabled(user, disabled, self.clock.now())
            .await?
            .ok_or(ServiceError::NotFound)?;
        self.events.sessions_ended(&ended);
        Ok(())
    }
}
