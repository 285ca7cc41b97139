//! The foundation store: accounts, people, teams, relationships, consents, sessions, clients,
//! signing keys and the audit chain.
//!
//! [`Store`] for [`SqlStore`], written once for both databases: every statement here must be
//! valid on Postgres and SQLite (`$n` placeholders, `ON CONFLICT`, `RETURNING`, `EXISTS`); what
//! differs is asked of the [`Backend`]. The row types and shared helpers ([`insert_user`],
//! [`exclude_in_tx`]) are also used by the other stores.

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::sync::{Arc, LazyLock};

use chrono::{DateTime, Utc};
use livingwell_core::domain::consent::{Consent, Grantee};
use livingwell_core::domain::message::ConversationId;
use livingwell_core::domain::{
    ConsentId, ConsentScope, CrisisPlanSection, PersonId, Role, StaffScope, TeamId, UserId,
};
use sqlx::types::Json;
use sqlx::{ColumnIndex, Executor};
use uuid::Uuid;

use super::accounts::AccountStore;
use super::appointments::AppointmentStore;
use super::backend::{Backend, Bind, Column, RowsAffected as _, SqlStore, Tx};
use super::browser_sessions::BrowserSessionStore;
use super::devices::DeviceStore;
use super::events::EventStore;
use super::idempotency::IdempotencyStore;
use super::idempotency::begin_write;
use super::kept::KeptConnections;
use super::messages::MessageStore;
use super::offline_reads::OfflineReadStore;
use super::plans::PlanStore;
use super::reads_here::{Columns, HereRow, Param};
use super::reports::ReportStore;
use super::webhooks::WebhookStore;
use super::writes_here::WritesHere as _;
use super::{
    AccessLogLine, AuditHead, AuditRecord, CarerLinkRecord, ConversationFound,
    EmergencyAccessRecord, GrantRefusal, LinkedCarer, MeParts, NewAuditEntry, NewRefreshToken,
    OAuthClientRecord, PersonRecord, PreviousSecret, RefreshTokenRecord, RelationshipFacts,
    SessionUser, SigningKeyRecord, SigningKeySummary, Store, StoreError, StoreResult, TeamRecord,
    UserRecord,
};

#[derive(sqlx::FromRow)]
pub(super) struct UserRow {
    id: Uuid,
    username: String,
    password_hash: String,
    role: String,
    display_name: String,
    person_id: Option<Uuid>,
}

impl HereRow for UserRow {
    fn from_here(row: &Columns<'_>) -> Option<Self> {
        Some(UserRow {
            id: row.id("id")?,
            username: row.text("username")?,
            password_hash: row.text("password_hash")?,
            role: row.text("role")?,
            display_name: row.text("display_name")?,
            person_id: row.optional_id("person_id")?,
        })
    }
}

impl TryFrom<UserRow> for UserRecord {
    type Error = StoreError;
    fn try_from(row: UserRow) -> Result<Self, StoreError> {
        let role = Role::parse(&row.role)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown role {:?}", row.role)))?;
        Ok(UserRecord {
            id: row.id.into(),
            username: row.username,
            password_hash: row.password_hash,
            role,
            display_name: row.display_name,
            person_id: row.person_id.map(Into::into),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct CarerLinkRow {
    #[sqlx(flatten)]
    user: UserRow,
    relationship: Option<String>,
    linked_at: DateTime<Utc>,
}

impl HereRow for CarerLinkRow {
    fn from_here(row: &Columns<'_>) -> Option<Self> {
        Some(CarerLinkRow {
            user: UserRow::from_here(row)?,
            relationship: row.optional_text("relationship")?,
            linked_at: row.time("linked_at")?,
        })
    }
}

impl TryFrom<CarerLinkRow> for CarerLinkRecord {
    type Error = StoreError;
    fn try_from(row: CarerLinkRow) -> Result<Self, StoreError> {
        Ok(CarerLinkRecord {
            carer: row.user.try_into()?,
            relationship: row.relationship,
            linked_at: row.linked_at,
        })
    }
}

/// People with their caseload team and peer worker.
pub(super) const PERSON_SELECT: &str = "SELECT p.id, p.display_name, p.created_at, \
     c.team_id, a.peer_worker_id FROM people p \
     LEFT JOIN caseloads c ON c.person_id = p.id \
     LEFT JOIN peer_allocations a ON a.person_id = p.id";

/// [`Store::person`]'s query.
static PERSON_BY_ID: LazyLock<String> =
    LazyLock::new(|| format!("{PERSON_SELECT} WHERE p.id = $1"));

#[derive(sqlx::FromRow)]
pub(super) struct PersonRow {
    id: Uuid,
    display_name: String,
    created_at: DateTime<Utc>,
    team_id: Option<Uuid>,
    peer_worker_id: Option<Uuid>,
}

impl HereRow for PersonRow {
    fn from_here(row: &Columns<'_>) -> Option<Self> {
        Some(PersonRow {
            id: row.id("id")?,
            display_name: row.text("display_name")?,
            created_at: row.time("created_at")?,
            team_id: row.optional_id("team_id")?,
            peer_worker_id: row.optional_id("peer_worker_id")?,
        })
    }
}

impl From<PersonRow> for PersonRecord {
    fn from(row: PersonRow) -> Self {
        PersonRecord {
            id: row.id.into(),
            display_name: row.display_name,
            team_id: row.team_id.map(Into::into),
            peer_worker_id: row.peer_worker_id.map(Into::into),
            created_at: row.created_at,
        }
    }
}

/// [`Store::me_parts`]'s statement: one `UNION ALL` of the parts an account can have, each row
/// named by its `part` and shaped alike, so `/v1/me` costs one round trip, not four. The first
/// branch names the columns; `sort_at` and `sort_name` order each part as its own query did.
const ME_OWN_PARTS: &str = "\
    SELECT 'person' AS part, p.id, p.display_name AS name, p.created_at AS at, c.team_id, \
           a.peer_worker_id, NULL AS username, NULL AS role, NULL AS person_id, NULL AS detail, \
           NULL AS sort_at, NULL AS sort_name \
    FROM people p LEFT JOIN caseloads c ON c.person_id = p.id \
    LEFT JOIN peer_allocations a ON a.person_id = p.id WHERE p.id = $2 \
    UNION ALL \
    SELECT 'carer', u.id, u.display_name, l.linked_at, NULL, NULL, u.username, u.role, \
           u.person_id, l.relationship, l.linked_at, NULL \
    FROM carer_links l JOIN users u ON u.id = l.carer_id WHERE l.person_id = $2 \
    UNION ALL \
    SELECT 'team', t.id, t.name, NULL, NULL, NULL, NULL, NULL, NULL, t.hub_address, NULL, t.name \
    FROM teams t JOIN team_members m ON m.team_id = t.id WHERE m.user_id = $1";

/// A supported person's columns, after `SELECT 'supported', `.
const ME_SUPPORTED_COLUMNS: &str = "p.id, p.display_name, p.created_at, c.team_id, \
    a.peer_worker_id, NULL, NULL, NULL, NULL, NULL, p.display_name \
    FROM people p LEFT JOIN caseloads c ON c.person_id = p.id \
    LEFT JOIN peer_allocations a ON a.person_id = p.id";

const ME_ORDER: &str = "ORDER BY part, sort_at, sort_name";

/// [`ME_OWN_PARTS`] for an account that supports no one.
static ME_PARTS: LazyLock<String> = LazyLock::new(|| format!("{ME_OWN_PARTS} {ME_ORDER}"));

/// [`ME_OWN_PARTS`] for a carer, with the people they are linked to under a consent in force
/// at `$3` ([`Consent::in_force_at`]: begun, and neither revoked nor expired).
static ME_PARTS_OF_CARER: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{ME_OWN_PARTS} UNION ALL SELECT 'supported', {ME_SUPPORTED_COLUMNS} \
         JOIN carer_links l ON l.person_id = p.id WHERE l.carer_id = $1 \
         AND EXISTS (SELECT 1 FROM consents k WHERE k.person_id = p.id AND k.grantee_id = $1 \
                     AND k.created_at <= $3 AND (k.revoked_at IS NULL OR k.revoked_at > $3) \
                     AND (k.expires_at IS NULL OR k.expires_at > $3)) \
         {ME_ORDER}"
    )
});

/// [`ME_OWN_PARTS`] for a peer worker, with the people allocated to them.
static ME_PARTS_OF_PEER_WORKER: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{ME_OWN_PARTS} UNION ALL SELECT 'supported', {ME_SUPPORTED_COLUMNS} \
         WHERE a.peer_worker_id = $1 {ME_ORDER}"
    )
});

/// One row of [`ME_PARTS`]: a person, a carer, or a team, as its `part` says.
#[derive(sqlx::FromRow)]
struct MePartRow {
    part: String,
    id: Uuid,
    name: String,
    at: Option<DateTime<Utc>>,
    team_id: Option<Uuid>,
    peer_worker_id: Option<Uuid>,
    username: Option<String>,
    role: Option<String>,
    person_id: Option<Uuid>,
    detail: Option<String>,
}

impl HereRow for MePartRow {
    fn from_here(row: &Columns<'_>) -> Option<Self> {
        Some(MePartRow {
            part: row.text("part")?,
            id: row.id("id")?,
            name: row.text("name")?,
            at: row.optional_time("at")?,
            team_id: row.optional_id("team_id")?,
            peer_worker_id: row.optional_id("peer_worker_id")?,
            username: row.optional_text("username")?,
            role: row.optional_text("role")?,
            person_id: row.optional_id("person_id")?,
            detail: row.optional_text("detail")?,
        })
    }
}

impl MePartRow {
    /// Files the row under its part of `parts`.
    fn file_into(self, parts: &mut MeParts) -> StoreResult<()> {
        let missing = |column: &str| StoreError::Corrupt(format!("{} without {column}", self.part));
        match self.part.as_str() {
            "person" | "supported" => {
                let person = PersonRecord {
                    id: self.id.into(),
                    display_name: self.name,
                    team_id: self.team_id.map(Into::into),
                    peer_worker_id: self.peer_worker_id.map(Into::into),
                    created_at: self.at.ok_or_else(|| missing("created_at"))?,
                };
                if self.part == "person" {
                    parts.person = Some(person);
                } else {
                    parts.people_supported.push(person);
                }
            }
            "carer" => {
                let role = self.role.as_deref().ok_or_else(|| missing("role"))?;
                parts.carers.push(LinkedCarer {
                    id: self.id.into(),
                    username: self.username.ok_or_else(|| missing("username"))?,
                    role: Role::parse(role)
                        .ok_or_else(|| StoreError::Corrupt(format!("unknown role {role:?}")))?,
                    display_name: self.name,
                    person_id: self.person_id.map(Into::into),
                    relationship: self.detail,
                    linked_at: self.at.ok_or_else(|| missing("linked_at"))?,
                });
            }
            "team" => parts.teams.push(TeamRecord {
                id: self.id.into(),
                name: self.name,
                hub_address: self.detail,
            }),
            other => return Err(StoreError::Corrupt(format!("unknown part {other:?}"))),
        }
        Ok(())
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct TeamRow {
    id: Uuid,
    name: String,
    hub_address: Option<String>,
}

impl HereRow for TeamRow {
    fn from_here(row: &Columns<'_>) -> Option<Self> {
        Some(TeamRow {
            id: row.id("id")?,
            name: row.text("name")?,
            hub_address: row.optional_text("hub_address")?,
        })
    }
}

impl From<TeamRow> for TeamRecord {
    fn from(row: TeamRow) -> Self {
        TeamRecord {
            id: row.id.into(),
            name: row.name,
            hub_address: row.hub_address,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct ConsentRow {
    id: Uuid,
    person_id: Uuid,
    grantee_id: Uuid,
    grantee_role: String,
    scopes: Json<BTreeSet<ConsentScope>>,
    crisis_plan_sections: Json<BTreeSet<CrisisPlanSection>>,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

/// The stored name of a grantee's relationship (`consents.grantee_role`).
pub(super) fn grantee_role(grantee: Grantee) -> &'static str {
    match grantee {
        Grantee::Carer(_) => "carer",
        Grantee::PeerWorker(_) => "peer_worker",
    }
}

impl HereRow for ConsentRow {
    fn from_here(row: &Columns<'_>) -> Option<Self> {
        Some(ConsentRow {
            id: row.id("id")?,
            person_id: row.id("person_id")?,
            grantee_id: row.id("grantee_id")?,
            grantee_role: row.text("grantee_role")?,
            scopes: row.json("scopes")?,
            crisis_plan_sections: row.json("crisis_plan_sections")?,
            created_at: row.time("created_at")?,
            expires_at: row.optional_time("expires_at")?,
            revoked_at: row.optional_time("revoked_at")?,
        })
    }
}

impl TryFrom<ConsentRow> for Consent {
    type Error = StoreError;

    fn try_from(row: ConsentRow) -> Result<Self, StoreError> {
        let grantee = match row.grantee_role.as_str() {
            "carer" => Grantee::Carer(row.grantee_id.into()),
            "peer_worker" => Grantee::PeerWorker(row.grantee_id.into()),
            _ => return Err(StoreError::Corrupt("consents.grantee_role".into())),
        };
        Ok(Consent {
            id: row.id.into(),
            person_id: row.person_id.into(),
            grantee,
            scopes: row.scopes.0,
            crisis_plan_sections: row.crisis_plan_sections.0,
            created_at: row.created_at,
            expires_at: row.expires_at,
            revoked_at: row.revoked_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct RefreshTokenRow {
    id: Uuid,
    session_id: Uuid,
    user_id: Uuid,
    expires_at: DateTime<Utc>,
    rotated_at: Option<DateTime<Utc>>,
    session_revoked: bool,
    session_started_at: DateTime<Utc>,
    session_secret: Vec<u8>,
    session_authenticated_at: DateTime<Utc>,
}

impl From<RefreshTokenRow> for RefreshTokenRecord {
    fn from(row: RefreshTokenRow) -> Self {
        RefreshTokenRecord {
            id: row.id,
            session_id: row.session_id,
            user_id: row.user_id.into(),
            expires_at: row.expires_at,
            rotated_at: row.rotated_at,
            session_revoked: row.session_revoked,
            session_started_at: row.session_started_at,
            session_secret: row.session_secret,
            session_authenticated_at: row.session_authenticated_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct SessionUserRow {
    #[sqlx(flatten)]
    user: UserRow,
    authenticated_at: DateTime<Utc>,
}

impl HereRow for SessionUserRow {
    fn from_here(row: &Columns<'_>) -> Option<Self> {
        Some(SessionUserRow {
            user: UserRow::from_here(row)?,
            authenticated_at: row.time("authenticated_at")?,
        })
    }
}

/// The columns of a [`SessionUserRow`] for the live session `s`, joined to its account `u`.
macro_rules! session_user_columns {
    () => {
        "u.id, u.username, u.password_hash, u.role, u.display_name, u.person_id, \
         COALESCE(s.authenticated_at, s.created_at) AS authenticated_at"
    };
}
pub(super) use session_user_columns;

/// [`Store::session_user`]'s query: the live session `$1` of account `$2`.
const SESSION_USER: &str = concat!(
    "SELECT ",
    session_user_columns!(),
    " FROM sessions s JOIN users u ON u.id = s.user_id \
     WHERE s.id = $1 AND s.user_id = $2 AND s.revoked_at IS NULL"
);

impl SessionUserRow {
    /// The live session `session`'s account, as read.
    pub(super) fn into_session_user(self, session: Uuid) -> StoreResult<SessionUser> {
        Ok(SessionUser {
            user: self.user.try_into()?,
            session_id: session,
            authenticated_at: self.authenticated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct ClientRow {
    client_id: String,
    name: String,
    secret_hash: String,
    scopes: Json<BTreeSet<String>>,
    created_at: DateTime<Utc>,
    disabled_at: Option<DateTime<Utc>>,
    previous_secret_hash: Option<String>,
    previous_secret_until: Option<DateTime<Utc>>,
    requests_per_minute: Option<i64>,
}

impl From<ClientRow> for OAuthClientRecord {
    fn from(row: ClientRow) -> Self {
        // A scope this version no longer knows grants nothing.
        let scopes = row
            .scopes
            .0
            .iter()
            .filter_map(|s| StaffScope::parse(s))
            .collect();
        OAuthClientRecord {
            client_id: row.client_id,
            name: row.name,
            secret_hash: row.secret_hash,
            scopes,
            created_at: row.created_at,
            disabled_at: row.disabled_at,
            previous_secret: row
                .previous_secret_hash
                .zip(row.previous_secret_until)
                .map(|(secret_hash, until)| PreviousSecret { secret_hash, until }),
            // A stored limit out of range (none is written) falls back to the default.
            requests_per_minute: row
                .requests_per_minute
                .and_then(|n| u32::try_from(n).ok())
                .and_then(NonZeroU32::new),
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct SigningKeyRow {
    kid: String,
    sealed_private_key: Vec<u8>,
    created_at: DateTime<Utc>,
    retire_after: Option<DateTime<Utc>>,
}

impl From<SigningKeyRow> for SigningKeyRecord {
    fn from(row: SigningKeyRow) -> Self {
        SigningKeyRecord {
            kid: row.kid,
            sealed_private_key: row.sealed_private_key,
            created_at: row.created_at,
            retire_after: row.retire_after,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct SigningKeySummaryRow {
    kid: String,
    created_at: DateTime<Utc>,
    retire_after: Option<DateTime<Utc>>,
    retired_at: Option<DateTime<Utc>>,
}

impl From<SigningKeySummaryRow> for SigningKeySummary {
    fn from(row: SigningKeySummaryRow) -> Self {
        SigningKeySummary {
            kid: row.kid,
            created_at: row.created_at,
            retire_after: row.retire_after,
            retired_at: row.retired_at,
        }
    }
}

/// The answers of a relationship query, by the names it gives them.
#[derive(sqlx::FromRow)]
pub(super) struct FactsRow {
    is_self: bool,
    on_team: bool,
    peer: bool,
    carer: bool,
    emergency: Option<DateTime<Utc>>,
    placed: bool,
    coauthor: bool,
}

impl HereRow for FactsRow {
    fn from_here(row: &Columns<'_>) -> Option<Self> {
        Some(FactsRow {
            is_self: row.flag("is_self")?,
            on_team: row.flag("on_team")?,
            peer: row.flag("peer")?,
            carer: row.flag("carer")?,
            emergency: row.optional_time("emergency")?,
            placed: row.flag("placed")?,
            coauthor: row.flag("coauthor")?,
        })
    }
}

/// What decides account `$1`'s access to a person at `$3`: the columns of [`FactsRow`]. The
/// person is `$2`, or the SQL expression given (a column of the query's own row). A macro so
/// that each query selecting it is one literal.
macro_rules! relationship_facts_columns {
    () => {
        relationship_facts_columns!("$2")
    };
    ($person:literal) => {
        concat!(
            "EXISTS (SELECT 1 FROM users WHERE id = $1 AND person_id = ",
            $person,
            ") AS is_self, \
             EXISTS (SELECT 1 FROM caseloads c JOIN team_members m ON m.team_id = c.team_id \
                     WHERE c.person_id = ",
            $person,
            " AND m.user_id = $1) AS on_team, \
             EXISTS (SELECT 1 FROM peer_allocations \
                     WHERE person_id = ",
            $person,
            " AND peer_worker_id = $1) AS peer, \
             EXISTS (SELECT 1 FROM carer_links \
                     WHERE person_id = ",
            $person,
            " AND carer_id = $1) AS carer, \
             (SELECT MAX(expires_at) FROM emergency_access \
              WHERE practitioner_id = $1 AND person_id = ",
            $person,
            " AND expires_at > $3) \
                 AS emergency, \
             EXISTS (SELECT 1 FROM caseloads WHERE person_id = ",
            $person,
            ") AS placed, \
             EXISTS (SELECT 1 FROM wrap_settings \
                     WHERE person_id = ",
            $person,
            " AND team_may_coauthor) AS coauthor"
        )
    };
}

/// A conversation with its account's relationship to the person it is about
/// ([`Store::conversation_and_facts`]).
#[derive(sqlx::FromRow)]
pub(super) struct ContextFactsRow {
    #[sqlx(flatten)]
    context: super::messages::ContextRow,
    #[sqlx(flatten)]
    facts: FactsRow,
}

impl HereRow for ContextFactsRow {
    fn from_here(row: &Columns<'_>) -> Option<Self> {
        Some(ContextFactsRow {
            context: super::messages::ContextRow::from_here(row)?,
            facts: FactsRow::from_here(row)?,
        })
    }
}

impl ContextFactsRow {
    /// The conversation's context and the reader's relationship to its person, as read.
    fn into_found(self) -> StoreResult<ConversationFound> {
        Ok((self.context.try_into()?, facts(self.facts)))
    }
}

/// [`Store::conversation_and_facts`]' query: conversation `$2` with account `$1`'s relationship
/// to its person at `$3`.
static CONVERSATION_AND_FACTS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT context.*, {} FROM ({} WHERE c.id = $2) AS context",
        relationship_facts_columns!("context.person_id"),
        super::messages::CONTEXT_SELECT,
    )
});

/// A live session's account, aliased apart from the columns of the conversation it is read
/// with, and the conversation with the account's relationship to its person
/// ([`Store::session_user_and_conversation`]).
#[derive(sqlx::FromRow)]
pub(super) struct SessionConversationRow {
    #[sqlx(flatten)]
    context: super::messages::ContextRow,
    #[sqlx(flatten)]
    facts: FactsRow,
    account_id: Uuid,
    account_username: String,
    account_password_hash: String,
    account_role: String,
    account_display_name: String,
    account_person_id: Option<Uuid>,
    authenticated_at: DateTime<Utc>,
}

impl HereRow for SessionConversationRow {
    fn from_here(row: &Columns<'_>) -> Option<Self> {
        Some(SessionConversationRow {
            context: super::messages::ContextRow::from_here(row)?,
            facts: FactsRow::from_here(row)?,
            account_id: row.id("account_id")?,
            account_username: row.text("account_username")?,
            account_password_hash: row.text("account_password_hash")?,
            account_role: row.text("account_role")?,
            account_display_name: row.text("account_display_name")?,
            account_person_id: row.optional_id("account_person_id")?,
            authenticated_at: row.time("authenticated_at")?,
        })
    }
}

impl SessionConversationRow {
    fn into_parts(self) -> (SessionUserRow, ContextFactsRow) {
        let session = SessionUserRow {
            user: UserRow {
                id: self.account_id,
                username: self.account_username,
                password_hash: self.account_password_hash,
                role: self.account_role,
                display_name: self.account_display_name,
                person_id: self.account_person_id,
            },
            authenticated_at: self.authenticated_at,
        };
        let conversation = ContextFactsRow {
            context: self.context,
            facts: self.facts,
        };
        (session, conversation)
    }
}

/// [`Store::session_user_and_conversation`]'s query: the live session `$4` of account `$1`,
/// with conversation `$2` and the account's relationship to its person at `$3`. The
/// conversation's columns keep their names (`id`, `person_id`); the account's are aliased.
static SESSION_USER_AND_CONVERSATION: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT context.*, {}, u.id AS account_id, u.username AS account_username, \
         u.password_hash AS account_password_hash, u.role AS account_role, \
         u.display_name AS account_display_name, u.person_id AS account_person_id, \
         COALESCE(s.authenticated_at, s.created_at) AS authenticated_at \
         FROM sessions s JOIN users u ON u.id = s.user_id \
         JOIN ({} WHERE c.id = $2) AS context ON TRUE \
         WHERE s.id = $4 AND s.user_id = $1 AND s.revoked_at IS NULL",
        relationship_facts_columns!("context.person_id"),
        super::messages::CONTEXT_SELECT,
    )
});

/// A live session's account with its relationship to one person
/// ([`Store::session_user_and_facts`]).
#[derive(sqlx::FromRow)]
pub(super) struct SessionFactsRow {
    #[sqlx(flatten)]
    session: SessionUserRow,
    #[sqlx(flatten)]
    facts: FactsRow,
}

impl HereRow for SessionFactsRow {
    fn from_here(row: &Columns<'_>) -> Option<Self> {
        Some(SessionFactsRow {
            session: SessionUserRow::from_here(row)?,
            facts: FactsRow::from_here(row)?,
        })
    }
}

/// [`Store::session_user_and_facts`]'s query: the live session `$4` of account `$1`, with the
/// account's relationship to person `$2` at `$3`.
const SESSION_USER_AND_FACTS: &str = concat!(
    "SELECT ",
    session_user_columns!(),
    ", ",
    relationship_facts_columns!(),
    " FROM sessions s JOIN users u ON u.id = s.user_id \
     WHERE s.id = $4 AND s.user_id = $1 AND s.revoked_at IS NULL"
);

fn facts(row: FactsRow) -> RelationshipFacts {
    RelationshipFacts {
        is_self: row.is_self,
        on_persons_team: row.on_team,
        allocated_peer: row.peer,
        linked_carer: row.carer,
        emergency_access_until: row.emergency,
        person_placed: row.placed,
        team_may_coauthor_wrap: row.coauthor,
    }
}

pub(super) const AUDIT_COLUMNS: &str = "seq, at, actor_id, actor_role, on_behalf_of, subject_id, \
     resource, action, outcome, relationship, request_id, via, read_at, prev_hash, hash";

#[derive(sqlx::FromRow)]
pub(super) struct AuditRow {
    seq: i64,
    at: DateTime<Utc>,
    actor_id: Option<String>,
    actor_role: String,
    on_behalf_of: Option<String>,
    subject_id: Option<Uuid>,
    resource: String,
    action: String,
    outcome: String,
    relationship: Option<String>,
    request_id: Option<String>,
    via: Option<String>,
    read_at: Option<DateTime<Utc>>,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
}

impl HereRow for AuditRow {
    fn from_here(row: &Columns<'_>) -> Option<Self> {
        Some(AuditRow {
            seq: row.int("seq")?,
            at: row.time("at")?,
            actor_id: row.optional_text("actor_id")?,
            actor_role: row.text("actor_role")?,
            on_behalf_of: row.optional_text("on_behalf_of")?,
            subject_id: row.optional_id("subject_id")?,
            resource: row.text("resource")?,
            action: row.text("action")?,
            outcome: row.text("outcome")?,
            relationship: row.optional_text("relationship")?,
            request_id: row.optional_text("request_id")?,
            via: row.optional_text("via")?,
            read_at: row.optional_time("read_at")?,
            prev_hash: row.bytes("prev_hash")?,
            hash: row.bytes("hash")?,
        })
    }
}

/// One row of [`Store::audit_for_subject`] and [`Store::audit_for_subject_after`]: the entry
/// and its actor's account's name (NULL when the actor is no account).
#[derive(sqlx::FromRow)]
struct AccessLogRow {
    #[sqlx(flatten)]
    entry: AuditRow,
    actor_name: Option<String>,
}

impl HereRow for AccessLogRow {
    fn from_here(row: &Columns<'_>) -> Option<Self> {
        Some(AccessLogRow {
            entry: AuditRow::from_here(row)?,
            actor_name: row.optional_text("actor_name")?,
        })
    }
}

impl From<AccessLogRow> for AccessLogLine {
    fn from(row: AccessLogRow) -> Self {
        AccessLogLine {
            record: row.entry.into(),
            actor_name: row.actor_name,
        }
    }
}

/// A page of a person's access log (`entries`: the page's statement over `audit_log`, aliased
/// `l`), each entry with its actor's name, in no particular order ([`page_in_order`] sorts it).
/// One statement: the names were a second round trip.
fn access_log_page<DB: Backend>(entries: &str) -> String {
    format!(
        "SELECT l.*, u.display_name AS actor_name FROM ({entries}) l LEFT JOIN users u ON {}",
        DB::key_is_id_in_text("u.id", "l.actor_id")
    )
}

/// The page's rows as lines, by `seq` (newest first with `newest_first`). Sorted here, not by a
/// second `ORDER BY` round the join: a page is at most a few hundred rows, and already in
/// order as a rule, which the sort finds in one pass.
fn page_in_order(rows: Vec<AccessLogRow>, newest_first: bool) -> Vec<AccessLogLine> {
    let mut lines: Vec<AccessLogLine> = rows.into_iter().map(Into::into).collect();
    if newest_first {
        lines.sort_by_key(|line| std::cmp::Reverse(line.record.seq));
    } else {
        lines.sort_by_key(|line| line.record.seq);
    }
    lines
}

/// [`Store::audit_for_subject`]'s query on `DB`.
fn audit_for_subject<DB: Backend>() -> String {
    access_log_page::<DB>(&format!(
        "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE subject_id = $1 AND seq < $2 \
         ORDER BY seq DESC LIMIT $3"
    ))
}

/// [`Store::audit_for_subject_after`]'s query on `DB`.
fn audit_for_subject_after<DB: Backend>() -> String {
    access_log_page::<DB>(&format!(
        "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE subject_id = $1 AND seq > $2 \
         ORDER BY seq LIMIT $3"
    ))
}

impl From<AuditRow> for AuditRecord {
    fn from(row: AuditRow) -> Self {
        AuditRecord {
            seq: row.seq,
            entry: NewAuditEntry {
                at: row.at,
                actor_id: row.actor_id,
                actor_role: row.actor_role,
                on_behalf_of: row.on_behalf_of,
                subject_id: row.subject_id.map(Into::into),
                resource: row.resource,
                action: row.action,
                outcome: row.outcome,
                relationship: row.relationship,
                request_id: row.request_id,
                via: row.via,
                read_at: row.read_at,
            },
            prev_hash: row.prev_hash,
            hash: row.hash,
        }
    }
}

pub(super) fn scopes_json(scopes: &BTreeSet<StaffScope>) -> Json<Vec<&'static str>> {
    Json(scopes.iter().map(|s| s.as_str()).collect())
}

/// Inserts one account, on the pool or inside a transaction.
pub(super) async fn insert_user<'e, DB, E>(
    executor: E,
    user: &UserRecord,
    at: DateTime<Utc>,
) -> StoreResult<()>
where
    DB: Backend,
    E: Executor<'e, Database = DB>,
    for<'a> &'a str: Bind<DB>,
    Uuid: Bind<DB>,
    Option<Uuid>: Bind<DB>,
    DateTime<Utc>: Bind<DB>,
{
    sqlx::query(
        "INSERT INTO users (id, username, password_hash, role, display_name, person_id, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(user.id.as_uuid())
    .bind(user.username.as_str())
    .bind(user.password_hash.as_str())
    .bind(user.role.as_str())
    .bind(user.display_name.as_str())
    .bind(user.person_id.map(|p| p.as_uuid()))
    .bind(at)
    .execute(executor)
    .await?;
    Ok(())
}

/// Inserts a person, with their caseload place when they have a team, inside `tx`.
pub(super) async fn insert_person<DB>(tx: &mut Tx<DB>, person: &PersonRecord) -> StoreResult<()>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> &'a str: Bind<DB>,
    Uuid: Bind<DB>,
    DateTime<Utc>: Bind<DB>,
{
    sqlx::query("INSERT INTO people (id, display_name, created_at) VALUES ($1, $2, $3)")
        .bind(person.id.as_uuid())
        .bind(person.display_name.as_str())
        .bind(person.created_at)
        .execute(&mut **tx)
        .await?;
    if let Some(team) = person.team_id {
        sqlx::query("INSERT INTO caseloads (person_id, team_id, since) VALUES ($1, $2, $3)")
            .bind(person.id.as_uuid())
            .bind(team.as_uuid())
            .bind(person.created_at)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Puts an account on a person's do-not-involve list and ends its consents, inside `tx`.
pub(super) async fn exclude_in_tx<DB>(
    tx: &mut Tx<DB>,
    person: PersonId,
    user: UserId,
    at: DateTime<Utc>,
) -> StoreResult<()>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    Uuid: Bind<DB>,
    DateTime<Utc>: Bind<DB>,
{
    sqlx::query(
        "INSERT INTO excluded_people (person_id, user_id, added_at) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING",
    )
    .bind(person.as_uuid())
    .bind(user.as_uuid())
    .bind(at)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE consents SET revoked_at = $3 \
         WHERE person_id = $1 AND grantee_id = $2 AND revoked_at IS NULL",
    )
    .bind(person.as_uuid())
    .bind(user.as_uuid())
    .bind(at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A relationship a person has with at most one team or worker at a time, whose ended spans
/// are kept in a history table: the caseload placement and the peer allocation.
struct SingleRelationship {
    /// `UPDATE … RETURNING` the current row unchanged: on Postgres it takes the row lock and,
    /// after a concurrent change commits, reads the row as that change left it; on SQLite the
    /// transaction holds the write lock already.
    lock_current: &'static str,
    insert_first: &'static str,
    replace: &'static str,
    keep_ended: &'static str,
}

const CASELOAD: SingleRelationship = SingleRelationship {
    lock_current: "UPDATE caseloads SET team_id = team_id WHERE person_id = $1 \
                   RETURNING team_id, since",
    insert_first: "INSERT INTO caseloads (person_id, team_id, since) VALUES ($1, $2, $3) \
                   ON CONFLICT (person_id) DO NOTHING",
    replace: "UPDATE caseloads SET team_id = $2, since = $3 WHERE person_id = $1",
    keep_ended: "INSERT INTO caseload_history (person_id, team_id, started_at, ended_at) \
                 VALUES ($1, $2, $3, $4)",
};

const PEER_ALLOCATION: SingleRelationship = SingleRelationship {
    lock_current: "UPDATE peer_allocations SET peer_worker_id = peer_worker_id \
                   WHERE person_id = $1 RETURNING peer_worker_id, allocated_at",
    insert_first: "INSERT INTO peer_allocations (person_id, peer_worker_id, allocated_at) \
                   VALUES ($1, $2, $3) ON CONFLICT (person_id) DO NOTHING",
    replace: "UPDATE peer_allocations SET peer_worker_id = $2, allocated_at = $3 \
              WHERE person_id = $1",
    keep_ended: "INSERT INTO peer_allocation_history \
                 (person_id, peer_worker_id, started_at, ended_at) VALUES ($1, $2, $3, $4)",
};

/// Gives the person `with` (a team or a worker) from `at`, inside `tx`. The relationship it
/// replaces is kept in its history table with its start and `at` as its end, in the same
/// transaction, so access can later be judged at any instant between. The same one again is
/// no change and keeps its start.
async fn replace_relationship<DB>(
    tx: &mut Tx<DB>,
    relationship: &SingleRelationship,
    person: Uuid,
    with: Uuid,
    at: DateTime<Utc>,
) -> StoreResult<()>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    Uuid: Column<DB>,
    DateTime<Utc>: Column<DB>,
    usize: ColumnIndex<DB::Row>,
{
    // Twice at most: when the person had none and another transaction gave them one first,
    // the second pass ends that one (it has committed: the insert waited for it).
    for _ in 0..2 {
        let current: Option<(Uuid, DateTime<Utc>)> = sqlx::query_as(relationship.lock_current)
            .bind(person)
            .fetch_optional(&mut **tx)
            .await?;
        match current {
            Some((held, _)) if held == with => return Ok(()),
            Some((held, since)) => {
                sqlx::query(relationship.keep_ended)
                    .bind(person)
                    .bind(held)
                    .bind(since)
                    .bind(at)
                    .execute(&mut **tx)
                    .await?;
                sqlx::query(relationship.replace)
                    .bind(person)
                    .bind(with)
                    .bind(at)
                    .execute(&mut **tx)
                    .await?;
                return Ok(());
            }
            None => {
                let inserted = sqlx::query(relationship.insert_first)
                    .bind(person)
                    .bind(with)
                    .bind(at)
                    .execute(&mut **tx)
                    .await?;
                if inserted.rows_affected() == 1 {
                    return Ok(());
                }
            }
        }
    }
    Err(StoreError::Corrupt(
        "a relationship neither present nor insertable".into(),
    ))
}

impl<DB> SqlStore<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    Uuid: Column<DB>,
    DateTime<Utc>: Column<DB>,
    String: Column<DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
    /// People joined to their caseload and allocation, filtered by `condition` on `$1`,
    /// ordered by name.
    async fn people_where(
        &self,
        condition: &'static str,
        id: Uuid,
    ) -> StoreResult<Vec<PersonRecord>> {
        let sql = format!("{} {condition} ORDER BY p.display_name", PERSON_SELECT);
        let rows: Vec<PersonRow> = self.fetch_rows(&sql, &[Param::Id(id)]).await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}

#[async_trait::async_trait]
impl<DB> Store for SqlStore<DB>
where
    DB: Backend,
    Self: AccountStore
        + PlanStore
        + AppointmentStore
        + EventStore
        + MessageStore
        + IdempotencyStore
        + DeviceStore
        + OfflineReadStore
        + WebhookStore
        + super::caseload::CaseloadStore
        + ReportStore
        + BrowserSessionStore
        + super::referrals::ReferralStore,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> &'a str: Bind<DB>,
    Uuid: Column<DB>,
    Option<Uuid>: Bind<DB>,
    DateTime<Utc>: Column<DB>,
    Option<DateTime<Utc>>: Bind<DB>,
    String: Column<DB>,
    i64: Column<DB>,
    Option<i64>: Column<DB>,
    bool: Column<DB>,
    Vec<u8>: Column<DB>,
    for<'a> &'a [u8]: Bind<DB>,
    Option<String>: Bind<DB>,
    Json<BTreeSet<ConsentScope>>: Column<DB>,
    Json<BTreeSet<CrisisPlanSection>>: Column<DB>,
    Json<Vec<livingwell_core::domain::message::WorkingSpan>>: Column<DB>,
    for<'a> Json<&'a BTreeSet<ConsentScope>>: Bind<DB>,
    for<'a> Json<&'a BTreeSet<CrisisPlanSection>>: Bind<DB>,
    Json<BTreeSet<String>>: Column<DB>,
    Json<Vec<&'static str>>: Bind<DB>,
    usize: ColumnIndex<DB::Row>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
    async fn migrate(&self) -> StoreResult<()> {
        DB::migrate(&self.pool).await
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn pending_migrations(&self) -> StoreResult<usize> {
        DB::pending_migrations(&self.pool).await
    }

    fn writes_over_a_socket(&self) -> bool {
        DB::WRITES_OVER_A_SOCKET
    }

    fn for_writer_thread(&self) -> Arc<dyn Store> {
        let write_pool = DB::write_pool_for_this_runtime(&self.write_pool);
        Arc::new(Self {
            write_db: KeptConnections::new(write_pool.clone()),
            write_pool,
            ..self.clone()
        })
    }

    async fn create_user(&self, user: &UserRecord, at: DateTime<Utc>) -> StoreResult<()> {
        insert_user(self.lone_write().await?.pool(), user, at).await
    }

    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<UserRecord>> {
        let row: Option<UserRow> = self
            .fetch_optional_row(
                "SELECT id, username, password_hash, role, display_name, person_id \
                 FROM users WHERE id = $1",
                &[Param::Id(id.as_uuid())],
            )
            .await?;
        row.map(TryInto::try_into).transpose()
    }

    async fn user_by_username(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        let row: Option<UserRow> = sqlx::query_as(
            "SELECT id, username, password_hash, role, display_name, person_id \
             FROM users WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(&self.db)
        .await?;
        row.map(TryInto::try_into).transpose()
    }

    async fn users_by_ids(&self, ids: &[UserId]) -> StoreResult<Vec<UserRecord>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // A page of the access log or a plan's authors name at most a few hundred accounts:
        // one query for the lot, as a rule. Only placeholders are formatted in.
        let ids: Vec<Uuid> = ids.iter().map(UserId::as_uuid).collect();
        let rows: Vec<UserRow> = self
            .fetch_rows_for_ids(
                |placeholders| {
                    format!(
                        "SELECT id, username, password_hash, role, display_name, person_id \
                         FROM users WHERE id IN ({placeholders})"
                    )
                },
                &ids,
            )
            .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn create_person(
        &self,
        person: &PersonRecord,
        account: Option<&UserRecord>,
    ) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        insert_person(&mut tx, person).await?;
        if let Some(user) = account {
            insert_user(&mut *tx, user, person.created_at).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn person(&self, id: PersonId) -> StoreResult<Option<PersonRecord>> {
        let row: Option<PersonRow> = self
            .fetch_optional_row(PERSON_BY_ID.as_str(), &[Param::Id(id.as_uuid())])
            .await?;
        Ok(row.map(Into::into))
    }

    async fn count_people(&self) -> StoreResult<i64> {
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM people")
            .fetch_one(&self.db)
            .await?;
        Ok(count)
    }

    async fn person_display_names(&self) -> StoreResult<Vec<String>> {
        let names: Vec<(String,)> =
            sqlx::query_as("SELECT display_name FROM people ORDER BY display_name")
                .fetch_all(&self.db)
                .await?;
        Ok(names.into_iter().map(|(n,)| n).collect())
    }

    async fn create_team(&self, team: &TeamRecord, at: DateTime<Utc>) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        sqlx::query(
            "INSERT INTO teams (id, name, hub_address, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(team.id.as_uuid())
        .bind(&team.name)
        .bind(&team.hub_address)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn team(&self, id: TeamId) -> StoreResult<Option<TeamRecord>> {
        let row: Option<TeamRow> = self
            .fetch_optional_row(
                "SELECT id, name, hub_address FROM teams WHERE id = $1",
                &[Param::Id(id.as_uuid())],
            )
            .await?;
        Ok(row.map(Into::into))
    }

    async fn teams(&self) -> StoreResult<Vec<TeamRecord>> {
        let rows: Vec<TeamRow> =
            sqlx::query_as("SELECT id, name, hub_address FROM teams ORDER BY name")
                .fetch_all(&self.db)
                .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn teams_of_user(&self, user: UserId) -> StoreResult<Vec<TeamRecord>> {
        let rows: Vec<TeamRow> = self
            .fetch_rows(
                "SELECT t.id, t.name, t.hub_address FROM teams t \
                 JOIN team_members m ON m.team_id = t.id WHERE m.user_id = $1 ORDER BY t.name",
                &[Param::Id(user.as_uuid())],
            )
            .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn is_team_member(&self, team: TeamId, user: UserId) -> StoreResult<bool> {
        let (member,): (bool,) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM team_members WHERE user_id = $1 AND team_id = $2)",
        )
        .bind(user.as_uuid())
        .bind(team.as_uuid())
        .fetch_one(&self.db)
        .await?;
        Ok(member)
    }

    async fn add_team_member(
        &self,
        team: TeamId,
        user: UserId,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut tx = begin_write(self).await?;
        let done = sqlx::query(
            "INSERT INTO team_members (team_id, user_id, added_at) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(team.as_uuid())
        .bind(user.as_uuid())
        .bind(at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn remove_team_member(
        &self,
        team: TeamId,
        user: UserId,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut tx = begin_write(self).await?;
        let removed: Option<(DateTime<Utc>,)> = sqlx::query_as(
            "DELETE FROM team_members WHERE team_id = $1 AND user_id = $2 RETURNING added_at",
        )
        .bind(team.as_uuid())
        .bind(user.as_uuid())
        .fetch_optional(&mut *tx)
        .await?;
        // The membership that ended is kept, so what the member could see while on the team
        // can still be judged (an offline read uploaded later).
        if let Some((added_at,)) = removed {
            sqlx::query(
                "INSERT INTO team_member_history (team_id, user_id, started_at, ended_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(team.as_uuid())
            .bind(user.as_uuid())
            .bind(added_at)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            // A worker who leaves the team holds none of its cases.
            sqlx::query(
                "DELETE FROM key_workers WHERE user_id = $2 \
                 AND person_id IN (SELECT person_id FROM caseloads WHERE team_id = $1)",
            )
            .bind(team.as_uuid())
            .bind(user.as_uuid())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(removed.is_some())
    }

    async fn caseload(
        &self,
        team: TeamId,
        after: Option<PersonId>,
        limit: i64,
    ) -> StoreResult<Vec<PersonRecord>> {
        let rows: Vec<PersonRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{} WHERE c.team_id = $1 AND ($2 IS NULL OR p.id > $2) ORDER BY p.id LIMIT $3",
            PERSON_SELECT
        )))
        .bind(team.as_uuid())
        .bind(after.map(|p| p.as_uuid()))
        .bind(limit)
        .fetch_all(&self.db)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn place_on_team(
        &self,
        person: PersonId,
        team: TeamId,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        replace_relationship(&mut tx, &CASELOAD, person.as_uuid(), team.as_uuid(), at).await?;
        // A key worker holds the case for their team: a move to another ends the link.
        sqlx::query(
            "DELETE FROM key_workers WHERE person_id = $1 \
             AND user_id NOT IN (SELECT user_id FROM team_members WHERE team_id = $2)",
        )
        .bind(person.as_uuid())
        .bind(team.as_uuid())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn allocate_peer(
        &self,
        person: PersonId,
        peer: UserId,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        // What the person shared with their peer worker was shared with that worker:
        // a new allocation ends it, in the same transaction.
        sqlx::query(
            "UPDATE consents SET revoked_at = $3 \
             WHERE person_id = $1 AND grantee_role = 'peer_worker' AND grantee_id <> $2 \
             AND revoked_at IS NULL",
        )
        .bind(person.as_uuid())
        .bind(peer.as_uuid())
        .bind(at)
        .execute(&mut *tx)
        .await?;
        replace_relationship(
            &mut tx,
            &PEER_ALLOCATION,
            person.as_uuid(),
            peer.as_uuid(),
            at,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn link_carer(
        &self,
        person: PersonId,
        carer: UserId,
        relationship: Option<&str>,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        sqlx::query(
            "INSERT INTO carer_links (person_id, carer_id, relationship, linked_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (person_id, carer_id) DO UPDATE SET \
             relationship = excluded.relationship",
        )
        .bind(person.as_uuid())
        .bind(carer.as_uuid())
        .bind(relationship.map(str::to_owned))
        .bind(at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn carers(&self, person: PersonId) -> StoreResult<Vec<CarerLinkRecord>> {
        let rows: Vec<CarerLinkRow> = self
            .fetch_rows(
                "SELECT u.id, u.username, u.password_hash, u.role, u.display_name, u.person_id, \
                 l.relationship, l.linked_at FROM carer_links l \
                 JOIN users u ON u.id = l.carer_id \
                 WHERE l.person_id = $1 ORDER BY l.linked_at",
                &[Param::Id(person.as_uuid())],
            )
            .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn people_cared_for(&self, carer: UserId) -> StoreResult<Vec<PersonRecord>> {
        self.people_where(
            "JOIN carer_links l ON l.person_id = p.id WHERE l.carer_id = $1",
            carer.as_uuid(),
        )
        .await
    }

    async fn people_allocated(&self, peer: UserId) -> StoreResult<Vec<PersonRecord>> {
        self.people_where("WHERE a.peer_worker_id = $1", peer.as_uuid())
            .await
    }

    async fn me_parts(
        &self,
        user: UserId,
        role: Role,
        person: Option<PersonId>,
        at: DateTime<Utc>,
    ) -> StoreResult<MeParts> {
        let own = [
            Param::Id(user.as_uuid()),
            Param::OptionalId(person.map(|id| id.as_uuid())),
        ];
        let rows: Vec<MePartRow> = match role {
            Role::Carer => {
                let [user, person] = own;
                let params = [user, person, Param::Time(at)];
                self.fetch_rows(&ME_PARTS_OF_CARER, &params).await?
            }
            Role::PeerWorker => self.fetch_rows(&ME_PARTS_OF_PEER_WORKER, &own).await?,
            _ => self.fetch_rows(&ME_PARTS, &own).await?,
        };
        let mut parts = MeParts::default();
        for row in rows {
            row.file_into(&mut parts)?;
        }
        Ok(parts)
    }

    async fn grant_consent(&self, consent: &Consent) -> StoreResult<Result<(), GrantRefusal>> {
        let mut tx = begin_write(self).await?;
        // The relationship the consent rides on is checked in the write transaction,
        // so a reallocation or exclusion cannot slip in between check and insert.
        let (excluded, related): (bool, bool) = sqlx::query_as(match consent.grantee {
            Grantee::Carer(_) => {
                "SELECT \
                 EXISTS (SELECT 1 FROM excluded_people WHERE person_id = $1 AND user_id = $2), \
                 EXISTS (SELECT 1 FROM carer_links WHERE person_id = $1 AND carer_id = $2)"
            }
            Grantee::PeerWorker(_) => {
                "SELECT \
                 EXISTS (SELECT 1 FROM excluded_people WHERE person_id = $1 AND user_id = $2), \
                 EXISTS (SELECT 1 FROM peer_allocations \
                         WHERE person_id = $1 AND peer_worker_id = $2)"
            }
        })
        .bind(consent.person_id.as_uuid())
        .bind(consent.grantee.user_id().as_uuid())
        .fetch_one(&mut *tx)
        .await?;
        if excluded {
            return Ok(Err(GrantRefusal::Excluded));
        }
        if !related {
            return Ok(Err(GrantRefusal::NotRelated));
        }
        sqlx::query(
            "INSERT INTO consents (id, person_id, grantee_id, grantee_role, scopes, \
             crisis_plan_sections, created_at, expires_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(consent.id.as_uuid())
        .bind(consent.person_id.as_uuid())
        .bind(consent.grantee.user_id().as_uuid())
        .bind(grantee_role(consent.grantee))
        .bind(sqlx::types::Json(&consent.scopes))
        .bind(sqlx::types::Json(&consent.crisis_plan_sections))
        .bind(consent.created_at)
        .bind(consent.expires_at)
        .bind(consent.revoked_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    async fn consents(&self, person: PersonId) -> StoreResult<Vec<Consent>> {
        let rows: Vec<ConsentRow> = sqlx::query_as(
            "SELECT id, person_id, grantee_id, grantee_role, scopes, crisis_plan_sections, \
             created_at, expires_at, revoked_at FROM consents WHERE person_id = $1 ORDER BY id",
        )
        .bind(person.as_uuid())
        .fetch_all(&self.db)
        .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn consents_after(
        &self,
        person: PersonId,
        after: Option<ConsentId>,
        limit: i64,
    ) -> StoreResult<Vec<Consent>> {
        let rows: Vec<ConsentRow> = sqlx::query_as(
            "SELECT id, person_id, grantee_id, grantee_role, scopes, crisis_plan_sections, \
             created_at, expires_at, revoked_at FROM consents \
             WHERE person_id = $1 AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3",
        )
        .bind(person.as_uuid())
        .bind(after.map(|id| id.as_uuid()))
        .bind(limit)
        .fetch_all(&self.db)
        .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn consent(&self, id: ConsentId) -> StoreResult<Option<Consent>> {
        let row: Option<ConsentRow> = sqlx::query_as(
            "SELECT id, person_id, grantee_id, grantee_role, scopes, crisis_plan_sections, \
             created_at, expires_at, revoked_at FROM consents WHERE id = $1",
        )
        .bind(id.as_uuid())
        .fetch_optional(&self.db)
        .await?;
        row.map(TryInto::try_into).transpose()
    }

    async fn consents_to(&self, person: PersonId, grantee: UserId) -> StoreResult<Vec<Consent>> {
        let rows: Vec<ConsentRow> = self
            .fetch_rows(
                "SELECT id, person_id, grantee_id, grantee_role, scopes, crisis_plan_sections, \
                 created_at, expires_at, revoked_at FROM consents \
                 WHERE grantee_id = $1 AND person_id = $2 AND revoked_at IS NULL",
                &[Param::Id(grantee.as_uuid()), Param::Id(person.as_uuid())],
            )
            .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn consents_to_at(
        &self,
        person: PersonId,
        grantee: UserId,
        at: DateTime<Utc>,
    ) -> StoreResult<Vec<Consent>> {
        let rows: Vec<ConsentRow> = self
            .fetch_rows(
                "SELECT id, person_id, grantee_id, grantee_role, scopes, crisis_plan_sections, \
                 created_at, expires_at, revoked_at FROM consents \
                 WHERE grantee_id = $1 AND person_id = $2 AND created_at <= $3 \
                 AND (revoked_at IS NULL OR revoked_at > $3)",
                &[
                    Param::Id(grantee.as_uuid()),
                    Param::Id(person.as_uuid()),
                    Param::Time(at),
                ],
            )
            .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn revoke_consent(
        &self,
        person: PersonId,
        consent: ConsentId,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut tx = begin_write(self).await?;
        let done = sqlx::query(
            "UPDATE consents SET revoked_at = $3 \
             WHERE id = $1 AND person_id = $2 AND revoked_at IS NULL",
        )
        .bind(consent.as_uuid())
        .bind(person.as_uuid())
        .bind(at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn exclude_user(
        &self,
        person: PersonId,
        user: UserId,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        exclude_in_tx(&mut tx, person, user, at).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn grant_emergency_access(&self, grant: &EmergencyAccessRecord) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        sqlx::query(
            "INSERT INTO emergency_access (id, person_id, practitioner_id, reason, \
             granted_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(grant.id.as_uuid())
        .bind(grant.person_id.as_uuid())
        .bind(grant.practitioner_id.as_uuid())
        .bind(&grant.reason)
        .bind(grant.granted_at)
        .bind(grant.expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn relationship_facts(
        &self,
        user: UserId,
        person: PersonId,
        at: DateTime<Utc>,
    ) -> StoreResult<RelationshipFacts> {
        let row: FactsRow = sqlx::query_as(concat!("SELECT ", relationship_facts_columns!()))
            .bind(user.as_uuid())
            .bind(person.as_uuid())
            .bind(at)
            .fetch_one(&self.db)
            .await?;
        Ok(facts(row))
    }

    async fn session_user_and_facts(
        &self,
        session: Uuid,
        user: UserId,
        person: PersonId,
        at: DateTime<Utc>,
    ) -> StoreResult<Option<(SessionUser, RelationshipFacts)>> {
        let row: Option<SessionFactsRow> = self
            .fetch_optional_row(
                SESSION_USER_AND_FACTS,
                &[
                    Param::Id(user.as_uuid()),
                    Param::Id(person.as_uuid()),
                    Param::Time(at),
                    Param::Id(session),
                ],
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some((
            row.session.into_session_user(session)?,
            facts(row.facts),
        )))
    }

    async fn conversation_and_facts(
        &self,
        conversation: ConversationId,
        user: UserId,
        at: DateTime<Utc>,
    ) -> StoreResult<Option<ConversationFound>> {
        let row: Option<ContextFactsRow> = self
            .fetch_optional_row(
                &CONVERSATION_AND_FACTS,
                &[
                    Param::Id(user.as_uuid()),
                    Param::Id(conversation.as_uuid()),
                    Param::Time(at),
                ],
            )
            .await?;
        row.map(ContextFactsRow::into_found).transpose()
    }

    async fn relationship_facts_at(
        &self,
        user: UserId,
        person: PersonId,
        at: DateTime<Utc>,
    ) -> StoreResult<RelationshipFacts> {
        // A span holds `at` when it began at or before it and ended after it; a current row
        // (no end yet) when it began at or before it.
        let row: FactsRow = sqlx::query_as(
            "WITH placed AS ( \
                 SELECT team_id FROM caseloads WHERE person_id = $2 AND since <= $3 \
                 UNION ALL \
                 SELECT team_id FROM caseload_history \
                 WHERE person_id = $2 AND started_at <= $3 AND ended_at > $3), \
             membership AS ( \
                 SELECT team_id FROM team_members WHERE user_id = $1 AND added_at <= $3 \
                 UNION ALL \
                 SELECT team_id FROM team_member_history \
                 WHERE user_id = $1 AND started_at <= $3 AND ended_at > $3) \
             SELECT \
             EXISTS (SELECT 1 FROM users WHERE id = $1 AND person_id = $2) AS is_self, \
             EXISTS (SELECT 1 FROM placed p JOIN membership m ON m.team_id = p.team_id) \
                 AS on_team, \
             EXISTS (SELECT 1 FROM peer_allocations \
                     WHERE person_id = $2 AND peer_worker_id = $1 AND allocated_at <= $3 \
                     UNION ALL \
                     SELECT 1 FROM peer_allocation_history \
                     WHERE person_id = $2 AND peer_worker_id = $1 \
                     AND started_at <= $3 AND ended_at > $3) AS peer, \
             EXISTS (SELECT 1 FROM carer_links \
                     WHERE person_id = $2 AND carer_id = $1 AND linked_at <= $3) AS carer, \
             (SELECT MAX(expires_at) FROM emergency_access \
              WHERE practitioner_id = $1 AND person_id = $2 \
              AND granted_at <= $3 AND expires_at > $3) AS emergency, \
             EXISTS (SELECT 1 FROM placed) AS placed, \
             EXISTS (SELECT 1 FROM wrap_settings WHERE person_id = $2 AND team_may_coauthor) \
                 AS coauthor",
        )
        .bind(user.as_uuid())
        .bind(person.as_uuid())
        .bind(at)
        .fetch_one(&self.db)
        .await?;
        Ok(facts(row))
    }

    async fn create_session(
        &self,
        id: Uuid,
        user: UserId,
        at: DateTime<Utc>,
        refresh_secret: &[u8],
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sessions (id, user_id, created_at, refresh_secret, authenticated_at) \
             VALUES ($1, $2, $3, $4, $3)",
        )
        .bind(id)
        .bind(user.as_uuid())
        .bind(at)
        .bind(refresh_secret)
        .execute(self.lone_write().await?.pool())
        .await?;
        Ok(())
    }

    async fn session_user(&self, session: Uuid, user: UserId) -> StoreResult<Option<SessionUser>> {
        let row: Option<SessionUserRow> = self
            .fetch_optional_row(
                SESSION_USER,
                &[Param::Id(session), Param::Id(user.as_uuid())],
            )
            .await?;
        row.map(|row| row.into_session_user(session)).transpose()
    }

    async fn session_user_and_conversation(
        &self,
        session: Uuid,
        user: UserId,
        conversation: ConversationId,
        at: DateTime<Utc>,
    ) -> StoreResult<Option<(SessionUser, Option<ConversationFound>)>> {
        let row: Option<SessionConversationRow> = self
            .fetch_optional_row(
                &SESSION_USER_AND_CONVERSATION,
                &[
                    Param::Id(user.as_uuid()),
                    Param::Id(conversation.as_uuid()),
                    Param::Time(at),
                    Param::Id(session),
                ],
            )
            .await?;
        match row {
            Some(row) => {
                let (session_row, found) = row.into_parts();
                Ok(Some((
                    session_row.into_session_user(session)?,
                    Some(found.into_found()?),
                )))
            }
            // No session, or no conversation: the session alone tells which (401 or 404).
            None => Ok(self
                .session_user(session, user)
                .await?
                .map(|found| (found, None))),
        }
    }

    async fn revoke_session(&self, session: Uuid, at: DateTime<Utc>) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        let ended =
            sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(session)
                .bind(at)
                .execute(&mut *tx)
                .await?;
        if ended.rows_affected() == 1 {
            DB::notify_session_ended(&mut tx, session).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn insert_refresh_token(&self, token: &NewRefreshToken) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO refresh_tokens (id, session_id, token_hash, issued_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (token_hash) DO NOTHING",
        )
        .bind(token.id)
        .bind(token.session_id)
        .bind(&token.token_hash)
        .bind(token.issued_at)
        .bind(token.expires_at)
        .execute(self.lone_write().await?.pool())
        .await?;
        Ok(())
    }

    async fn refresh_token_by_hash(&self, hash: &[u8]) -> StoreResult<Option<RefreshTokenRecord>> {
        let row: Option<RefreshTokenRow> = sqlx::query_as(
            "SELECT t.id, t.session_id, s.user_id, t.expires_at, t.rotated_at, \
             (s.revoked_at IS NOT NULL) AS session_revoked, \
             s.created_at AS session_started_at, s.refresh_secret AS session_secret, \
             COALESCE(s.authenticated_at, s.created_at) AS session_authenticated_at \
             FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id \
             WHERE t.token_hash = $1",
        )
        .bind(hash)
        .fetch_optional(&self.db)
        .await?;
        Ok(row.map(Into::into))
    }

    async fn mark_rotated(&self, token: Uuid, at: DateTime<Utc>) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE refresh_tokens SET rotated_at = $2 WHERE id = $1 AND rotated_at IS NULL",
        )
        .bind(token)
        .bind(at)
        .execute(self.lone_write().await?.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn create_client(&self, client: &OAuthClientRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO oauth_clients (client_id, name, secret_hash, scopes, created_at, \
             requests_per_minute) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&client.client_id)
        .bind(&client.name)
        .bind(&client.secret_hash)
        .bind(scopes_json(&client.scopes))
        .bind(client.created_at)
        .bind(client.requests_per_minute.map(|n| i64::from(n.get())))
        .execute(self.lone_write().await?.pool())
        .await?;
        Ok(())
    }

    async fn client(&self, client_id: &str) -> StoreResult<Option<OAuthClientRecord>> {
        let row: Option<ClientRow> = sqlx::query_as(
            "SELECT client_id, name, secret_hash, scopes, created_at, disabled_at, \
             previous_secret_hash, previous_secret_until, requests_per_minute FROM oauth_clients WHERE client_id = $1",
        )
        .bind(client_id)
        .fetch_optional(&self.db)
        .await?;
        Ok(row.map(Into::into))
    }

    async fn clients(&self) -> StoreResult<Vec<OAuthClientRecord>> {
        // Few rows (one per case system a deployment connects): no paging.
        let rows: Vec<ClientRow> = sqlx::query_as(
            "SELECT client_id, name, secret_hash, scopes, created_at, disabled_at, \
             previous_secret_hash, previous_secret_until, requests_per_minute FROM oauth_clients \
             ORDER BY name, client_id",
        )
        .fetch_all(&self.db)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn disable_client(&self, client_id: &str, at: DateTime<Utc>) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE oauth_clients SET disabled_at = COALESCE(disabled_at, $2) \
             WHERE client_id = $1",
        )
        .bind(client_id)
        .bind(at)
        .execute(self.lone_write().await?.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn rotate_client_secret(
        &self,
        client_id: &str,
        secret_hash: &str,
        previous_until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE oauth_clients SET previous_secret_hash = secret_hash, \
             previous_secret_until = $3, secret_hash = $2 \
             WHERE client_id = $1 AND disabled_at IS NULL",
        )
        .bind(client_id)
        .bind(secret_hash)
        .bind(previous_until)
        .execute(self.lone_write().await?.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        let rows: Vec<SigningKeyRow> = sqlx::query_as(
            "SELECT kid, sealed_private_key, created_at, retire_after FROM signing_keys \
             WHERE retired_at IS NULL ORDER BY created_at DESC",
        )
        .fetch_all(&self.db)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, sealed_private_key, created_at, retire_after) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(&key.kid)
        .bind(&key.sealed_private_key)
        .bind(key.created_at)
        .bind(key.retire_after)
        .execute(self.lone_write().await?.pool())
        .await?;
        Ok(())
    }

    async fn rotate_signing_key(
        &self,
        key: &SigningKeyRecord,
        retire_others_after: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        // An older key keeps an earlier time: it stopped signing at an earlier rotation.
        sqlx::query(
            "UPDATE signing_keys SET retire_after = $1 \
             WHERE retired_at IS NULL AND retire_after IS NULL",
        )
        .bind(retire_others_after)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO signing_keys (kid, sealed_private_key, created_at, retire_after) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&key.kid)
        .bind(&key.sealed_private_key)
        .bind(key.created_at)
        .bind(key.retire_after)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn reseal_signing_key(&self, kid: &str, was: &[u8], sealed: &[u8]) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE signing_keys SET sealed_private_key = $1 \
             WHERE kid = $2 AND sealed_private_key = $3",
        )
        .bind(sealed)
        .bind(kid)
        .bind(was)
        .execute(self.lone_write().await?.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn retire_signing_keys(&self, at: DateTime<Utc>) -> StoreResult<Vec<String>> {
        let kids: Vec<(String,)> = sqlx::query_as(
            "UPDATE signing_keys SET retired_at = $1, sealed_private_key = NULL \
             WHERE retired_at IS NULL AND retire_after <= $1 RETURNING kid",
        )
        .bind(at)
        .fetch_all(self.lone_write().await?.pool())
        .await?;
        Ok(kids.into_iter().map(|(kid,)| kid).collect())
    }

    async fn signing_key_history(&self) -> StoreResult<Vec<SigningKeySummary>> {
        let rows: Vec<SigningKeySummaryRow> = sqlx::query_as(
            "SELECT kid, created_at, retire_after, retired_at FROM signing_keys \
             ORDER BY created_at DESC",
        )
        .fetch_all(&self.db)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn append_audit(&self, entries: &[NewAuditEntry]) -> StoreResult<Vec<i64>> {
        // Committed on a thread of its own where the database can; otherwise, or if that
        // failed (having committed nothing), on the pool, which reports why.
        if let Some(seqs) = self.writes_here.append_audit(entries).await {
            return Ok(seqs);
        }
        let entries: Vec<&NewAuditEntry> = entries.iter().collect();
        if let Some(seqs) = DB::append_audit_committed(&self.write_db, &entries).await? {
            return Ok(seqs);
        }
        let mut tx = begin_write(self).await?;
        let seqs = DB::append_audit_chain(&mut tx, &entries).await?;
        tx.commit().await?;
        Ok(seqs)
    }

    async fn audit_for_subject(
        &self,
        subject: PersonId,
        before: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<AccessLogLine>> {
        let rows: Vec<AccessLogRow> = self
            .fetch_rows(
                &audit_for_subject::<DB>(),
                &[
                    Param::Id(subject.as_uuid()),
                    Param::Int(before.unwrap_or(i64::MAX)),
                    Param::Int(limit),
                ],
            )
            .await?;
        Ok(page_in_order(rows, true))
    }

    async fn audit_for_subject_after(
        &self,
        subject: PersonId,
        after: i64,
        limit: i64,
    ) -> StoreResult<Vec<AccessLogLine>> {
        let rows: Vec<AccessLogRow> = self
            .fetch_rows(
                &audit_for_subject_after::<DB>(),
                &[
                    Param::Id(subject.as_uuid()),
                    Param::Int(after),
                    Param::Int(limit),
                ],
            )
            .await?;
        Ok(page_in_order(rows, false))
    }

    async fn audit_after(&self, after: i64, limit: i64) -> StoreResult<Vec<AuditRecord>> {
        let rows: Vec<AuditRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
            AUDIT_COLUMNS
        )))
        .bind(after)
        .bind(limit)
        .fetch_all(&self.db)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn audit_head(&self) -> StoreResult<Option<AuditHead>> {
        let head: Option<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&self.db)
                .await?;
        Ok(head.map(|(seq, hash)| AuditHead { seq, hash }))
    }
}
