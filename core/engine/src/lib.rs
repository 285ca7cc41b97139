//! The phone's engine: everything the Living Well apps do, offline first.
//!
//! The apps are thin: every screen reads from the engine's encrypted store (so it works with no
//! signal), and every action goes through the engine, which records it locally and in its
//! outbox in one transaction before any network attempt, then sends it once, in order, with an
//! idempotency key. Sync brings the store up to date and purges what the user may no longer
//! see. The platform keeps the secrets (tokens, the store's key) through [`secrets::SecretStore`].
//!
//! This is a crate of its own, not a feature of `livingwell-core`: the server shares the core's
//! wire types but must never link the engine's HTTP client, SQLite store or crypto, and a feature
//! would be unified into the server's build whenever the workspace builds together.

pub mod api;
pub mod conversation;
pub mod engine;
pub mod error;
pub mod observe;
pub mod outbox;
pub mod reads;
pub mod secrets;
pub mod session;
pub mod store;
pub mod sync;

pub use api::{Answer, ApiClient, FailureClass, HttpFailure};
pub use error::{EngineError, PublicError};
pub use session::{LogoutOutcome, Session, SignedInUser};
