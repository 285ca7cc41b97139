//! Services: the work between the HTTP handlers and the store that is not one request's own —
//! background jobs, the message writer, push notifications — each owned by one service per
//! domain.
//!
//! Layers point one way: `http` → `service` → [`crate::store`]. Handlers call
//! services; services call the store and the event hub, and know nothing of HTTP (no
//! `AppState`, no `ApiError`): they answer with the store's errors, which the handlers map.
//! Every service and its background tasks are started once, by `AppState::new`, and its
//! periodic jobs end when the application's shutdown token is cancelled.

pub mod appointments;
pub mod messaging;
pub mod plans;
