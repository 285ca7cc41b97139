use serde::{Deserialize, Serialize};

/// The role of a signed-in account. Staff systems are not accounts; they sign in as clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    ServiceUser,
    Carer,
    PeerWorker,
    Practitioner,
    Admin,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::ServiceUser,
        Role::Carer,
        Role::PeerWorker,
        Role::Practitioner,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::ServiceUser => "service_user",
            Role::Carer => "carer",
            Role::PeerWorker => "peer_worker",
            Role::Practitioner => "practitioner",
            Role::Admin => "admin",
        }
    }

    pub fn parse(value: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == value)
    }

    /// Staff may belong to teams: practitioners and peer workers.
    pub fn is_team_staff(self) -> bool {
        matches!(self, Role::Practitioner | Role::PeerWorker)
    }
}
