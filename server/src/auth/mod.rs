//! Who is calling: sign-in, tokens and the callers they stand for.
//!
//! - People sign in with a password ([`passwords`]) and get a short-lived access token (a JWT
//!   signed with EdDSA, [`tokens`]) and an opaque refresh token ([`refresh`]).
//! - The keys that sign access tokens are sealed at rest ([`sealing`]) and rotated, every
//!   process following the rotation ([`key_ring`]).
//! - Staff systems get an access token by client credentials, for a separate audience, with no
//!   refresh token.
//! - A token only names the caller. What the caller may do is decided by
//!   [`crate::policy`] from the database on every request; even the account's role and the
//!   session's liveness are read afresh, so a revoked session or a changed role holds at once.

pub mod codes;
pub mod key_ring;
pub mod passwords;
pub mod refresh;
pub mod sealing;
pub mod throttle;
pub mod tokens;

use std::collections::BTreeSet;

use livingwell_core::domain::{PersonId, Role, StaffScope, UserId};

/// A signed-in account, as read from the database on this request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallerUser {
    pub id: UserId,
    pub role: Role,
    pub person_id: Option<PersonId>,
    /// The sign-in session (refresh-token family) the access token belongs to.
    pub session_id: uuid::Uuid,
    /// When the password was last entered in that session, as stored (not as the token says).
    pub authenticated_at: chrono::DateTime<chrono::Utc>,
}

/// A staff system, with the scopes both its token and its current registration allow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaffSystemCaller {
    pub client_id: String,
    pub scopes: BTreeSet<StaffScope>,
    /// The staff member the system acts for, as the system names them (`X-On-Behalf-Of`).
    pub on_behalf_of: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    User(CallerUser),
    StaffSystem(StaffSystemCaller),
}

impl Caller {
    /// The id recorded in the audit log: a user id, or `client:<id>`.
    pub fn audit_id(&self) -> String {
        match self {
            Caller::User(user) => user.id.to_string(),
            Caller::StaffSystem(client) => format!("client:{}", client.client_id),
        }
    }

    /// Whom a staff system says it acts for, recorded in the audit log.
    pub fn on_behalf_of(&self) -> Option<String> {
        match self {
            Caller::User(_) => None,
            Caller::StaffSystem(client) => client.on_behalf_of.clone(),
        }
    }

    /// The role recorded in the audit log.
    pub fn audit_role(&self) -> &'static str {
        match self {
            Caller::User(user) => user.role.as_str(),
            Caller::StaffSystem(_) => "staff_system",
        }
    }
}
