//! Events and notifications: what a device is told, as data it acts on.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::PersonId;

/// One event for the caller. `kind` says what happened (e.g. `crisis_plan_activated`,
/// `plan_updated`, `waitlist_place_offered`); `data` holds ids, never record text, so a device
/// fetches what changed through the API.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventView {
    /// The event's position in the caller's stream; resume after it with `Last-Event-ID`.
    pub id: i64,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_id: Option<PersonId>,
    pub data: serde_json::Value,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationPage {
    pub notifications: Vec<EventView>,
    /// Pass as `cursor` for the next page; absent when there is nothing more yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}
