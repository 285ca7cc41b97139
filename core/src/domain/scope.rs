//! What a staff system (a machine client) may do, as OAuth scopes: one per resource and action.
//! A client is registered with the scopes it may ask for; a route a scope does not cover is
//! refused with `insufficient_scope` naming the scope it needs.

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
    /// Referrals received, and their triage.
    #[serde(rename = "referrals:read")]
    ReferralsRead,
    /// Referring someone (a partner agency or GP), and triage.
    #[serde(rename = "referrals:write")]
    ReferralsWrite,
    /// The team's performance figures.
    #[serde(rename = "reports:read")]
    ReportsRead,
    /// The FHIR R4 facade, for the resources the client's other scopes cover.
    #[serde(rename = "fhir:read")]
    FhirRead,
    /// The client's own webhook subscriptions and their delivery logs.
    #[serde(rename = "webhooks:manage")]
    WebhooksManage,
    /// Who has seen a person's record.
    #[serde(rename = "audit:read")]
    AuditRead,
}

impl StaffScope {
    pub const ALL: [StaffScope; 12] = [
        StaffScope::PeopleRead,
        StaffScope::PeopleWrite,
        StaffScope::PlansRead,
        StaffScope::PlansWrite,
        StaffScope::AppointmentsRead,
        StaffScope::AppointmentsWrite,
        StaffScope::ReferralsRead,
        StaffScope::ReferralsWrite,
        StaffScope::ReportsRead,
        StaffScope::FhirRead,
        StaffScope::WebhooksManage,
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
            StaffScope::ReferralsRead => "referrals:read",
            StaffScope::ReferralsWrite => "referrals:write",
            StaffScope::ReportsRead => "reports:read",
            StaffScope::FhirRead => "fhir:read",
            StaffScope::WebhooksManage => "webhooks:manage",
            StaffScope::AuditRead => "audit:read",
        }
    }

    pub fn parse(value: &str) -> Option<StaffScope> {
        StaffScope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scope_reads_back_as_the_name_serde_writes() {
        for scope in StaffScope::ALL {
            let written = serde_json::to_value(scope).unwrap_or_default();
            assert_eq!(written, scope.as_str());
            assert_eq!(StaffScope::parse(scope.as_str()), Some(scope));
        }
    }
}
