//! What a staff system (a machine client) may do, as OAuth scopes.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum StaffScope {
    #[serde(rename = "people:read")]
    PeopleRead,
    #[serde(rename = "people:write")]
    PeopleWrite,
    #[serde(rename = "plans:read")]
    PlansRead,
    #[serde(rename = "plans:write")]
    PlansWrite,
    #[serde(rename = "appointments:read")]
    AppointmentsRead,
    #[serde(rename = "appointments:write")]
    AppointmentsWrite,
    #[serde(rename = "audit:read")]
    AuditRead,
}

impl StaffScope {
    pub const ALL: [StaffScope; 7] = [
        StaffScope::PeopleRead,
        StaffScope::PeopleWrite,
        StaffScope::PlansRead,
        StaffScope::PlansWrite,
        StaffScope::AppointmentsRead,
        StaffScope::AppointmentsWrite,
        StaffScope::AuditRead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StaffScope::PeopleRead => "people:read",
            StaffScope::PeopleWrite => "people:write",
            StaffScope::PlansRead => "plans:read",
            StaffScope::PlansWrite => "plans:write",
            StaffScope::AppointmentsRead => "appointments:read",
            StaffScope::AppointmentsWrite => "appointments:write",
            StaffScope::AuditRead => "audit:read",
        }
    }

    pub fn parse(value: &str) -> Option<StaffScope> {
        StaffScope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == value)
    }
}
