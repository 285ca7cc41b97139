//! The Living Well server: an axum HTTP API over Postgres or embedded SQLite.
//!
//! Layers, top to bottom: [`http`] (routes, extractors, the error mapping) → [`policy`] (the
//! one place access is decided) and [`audit`] (the tamper-evident log) → [`service`] (the
//! background jobs, the message writer and push notifications, one service per domain) →
//! [`store`] (one trait, a Postgres and a SQLite implementation). [`auth`] holds sign-in and tokens; [`clock`] is
//! the one "now" every time rule reads; [`cli`] and [`demo`] are what the `livingwell` binary
//! runs.

pub mod audit;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod demo;
pub mod events;
pub mod files;
pub mod group_commit;
pub mod http;
pub mod policy;
pub mod service;
pub mod store;
