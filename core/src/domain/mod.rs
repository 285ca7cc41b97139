//! Pure domain types and rules. No I/O lives here.

pub mod consent;
pub mod ids;
pub mod role;
pub mod scope;
pub mod text;

pub use consent::{ConsentScope, CrisisPlanSection};
pub use ids::{ConsentId, EmergencyAccessId, PersonId, TeamId, UserId};
pub use role::Role;
pub use scope::StaffScope;
