//! Pure domain types and rules. No I/O lives here.

pub mod appointment;
pub mod check;
pub mod consent;
pub mod field_error;
pub mod ids;
pub mod message;
pub mod plan;
pub mod role;
pub mod scope;
pub mod text;
pub mod wrap;

pub use consent::{ConsentScope, CrisisPlanSection};
pub use field_error::{FieldError, FieldErrorCode};
pub use ids::{ConsentId, EmergencyAccessId, PersonId, TeamId, UserId};
pub use role::Role;
pub use scope::StaffScope;
