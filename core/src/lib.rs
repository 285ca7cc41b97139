//! The Living Well core: what the server and the apps must agree on.
//!
//! - [`domain`] holds the pure domain: identifiers, roles, relationships, consents and the
//!   validation rules for text. It does no I/O.
//! - [`api`] holds the wire types: request and response bodies and the one error body, used by
//!   the server to answer and by the client to ask, so the two cannot drift apart.
//! - `openapi` (with the `openapi` feature) describes by hand the few wire shapes whose derived
//!   schemas client generators refuse.

pub mod api;
pub mod domain;
#[cfg(feature = "openapi")]
mod openapi;
