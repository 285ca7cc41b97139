//! Webhooks: staff systems subscribe to kinds of event and are sent each one, signed, as
//! Standard Webhooks (<https://www.standardwebhooks.com/>) describe.
//!
//! Policy:
//! - **Which kinds a staff system may hear of** is [`scope_to_receive`], one exhaustive match
//!   over [`EventKind`]: a kind added to the vocabulary does not compile until it is decided
//!   here, offered with the scope it needs or never offered. Messages, their delivery and
//!   their reading are never offered: staff systems have no access to conversations (SPEC §2).
//!   A reported message is offered by its ids only, under `people:read`, because it tells the
//!   team's systems that someone needs attention, not what was said.
//! - **Payloads carry ids and kinds, never health text**: the event's own data (ids, a
//!   version, a kind of change), the person it concerns and the event's id ([`WebhookPayload`]).
//! - **The signing secret** is made by the server, `whsec_` and the base64 of 32 random bytes,
//!   and shown once, when the subscription is made.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::events::{Event, EventKind};
use super::{FieldError, Validate};
use crate::domain::ids::id_type;
use crate::domain::{FieldErrorCode, PersonId, StaffScope};

id_type!(
    /// One staff system's subscription to kinds of event.
    WebhookId
);
id_type!(
    /// One event sent to one subscription: the `webhook-id` of every attempt to send it.
    DeliveryId
);
id_type!(
    /// One event as webhooks tell of it: the same for every subscription it is sent to.
    WebhookEventId
);

/// The longest target URL, in characters.
pub const URL_MAX: usize = 2048;

/// What a signing secret starts with (the Standard Webhooks form).
pub const SECRET_PREFIX: &str = "whsec_";

/// The scope a staff system needs to be sent events of `kind`; `None` when no staff system
/// is ever sent them. Decided here for every kind, so a new kind must be decided.
pub fn scope_to_receive(kind: EventKind) -> Option<StaffScope> {
    match kind {
        EventKind::EnablementPlanUpdated
        | EventKind::EnablementPlanCommented
        | EventKind::EnablementPlanAgreed
        | EventKind::CrisisPlanUpdated
        | EventKind::CrisisPlanActivated
        | EventKind::CrisisPlanDeactivated => Some(StaffScope::PlansRead),
        EventKind::AppointmentChanged
        | EventKind::AppointmentRequestMade
        | EventKind::WaitlistPlaceOffered => Some(StaffScope::AppointmentsRead),
        // Someone needs the team's attention; the ids lead to nothing a staff system can read.
        EventKind::MessageReported => Some(StaffScope::PeopleRead),
        // Conversations are never a staff system's (SPEC §2).
        EventKind::MessageCreated | EventKind::MessagesDelivered | EventKind::MessagesRead => None,
        // The admins' news about webhooks themselves, not about anyone's record.
        EventKind::WebhookSubscriptionDisabled => None,
        // A referral's id only: what it says is read through the API, with `referrals:read`.
        EventKind::ReferralReceived | EventKind::ReferralCrisisResponse => {
            Some(StaffScope::ReferralsRead)
        }
    }
}

/// Subscribe to kinds of event, sent to `url`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookRequest {
    /// Where events are POSTed: `https://` (or `http://`), no user name or password, a host
    /// that is not (and does not resolve to) a loopback, private, link-local or other
    /// non-public address.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 2048))]
    pub url: String,
    /// The kinds of event to send; at least one. Each needs its scope (`plans:read` for plan
    /// and crisis-plan kinds, `appointments:read` for appointment kinds, `people:read` for
    /// `message_reported`, `referrals:read` for referral kinds); message kinds are never sent.
    pub kinds: BTreeSet<EventKind>,
}

impl Validate for CreateWebhookRequest {
    fn field_errors(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if let Err(code) = check_url(&self.url) {
            errors.push(FieldError::new("url", code));
        }
        if self.kinds.is_empty() {
            errors.push(FieldError::new("kinds", FieldErrorCode::Required));
        } else if self.kinds.iter().any(|k| scope_to_receive(*k).is_none()) {
            errors.push(FieldError::new("kinds", FieldErrorCode::NotForStaffSystems));
        }
        errors
    }
}

/// The form of a target URL, before its host is looked at: `http(s)://`, no blanks or
/// control characters, no longer than [`URL_MAX`].
fn check_url(url: &str) -> Result<(), FieldErrorCode> {
    if url.trim().is_empty() {
        return Err(FieldErrorCode::Required);
    }
    if url.chars().count() > URL_MAX {
        return Err(FieldErrorCode::TooLong);
    }
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let scheme_ok = lower.starts_with("https://") || lower.starts_with("http://");
    if !scheme_ok || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(FieldErrorCode::InvalidUrl);
    }
    Ok(())
}

/// Why a subscription was turned off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DisabledReason {
    /// A delivery failed at every attempt of the retry schedule (more than a day), and none
    /// succeeded meanwhile.
    DeliveriesFailing,
}

/// A subscription as its staff system sees it (never its secret).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookView {
    pub id: WebhookId,
    pub url: String,
    pub kinds: BTreeSet<EventKind>,
    pub created_at: DateTime<Utc>,
    /// Set when it was turned off: nothing is sent until it is enabled again
    /// (`POST /v1/webhooks/{id}/enable`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<DisabledReason>,
}

/// A subscription with its signing secret: the only time the secret is shown.
#[derive(Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookSecretView {
    pub subscription: WebhookView,
    /// `whsec_…`: verify each delivery's `webhook-signature` with it (Standard Webhooks).
    pub secret: String,
}

debug_without_secrets!(WebhookSecretView, subscription);

/// The calling staff system's subscriptions, oldest first.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookList {
    pub subscriptions: Vec<WebhookView>,
}

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its next attempt.
    Pending,
    /// Answered 2xx.
    Delivered,
    /// Every attempt of the schedule failed; no more are made.
    Failed,
    /// Not sent: when it was due, the staff system no longer held the scope it needs, or was
    /// turned off.
    Withheld,
}

/// Why an attempt failed, as a class (never the target's own words).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AttemptFailure {
    /// The target answered, but not 2xx (redirects are not followed).
    Status,
    /// No answer in time.
    Timeout,
    /// No connection could be made.
    Connect,
    /// The host does not resolve.
    Unresolvable,
    /// The host is, or resolves only to, addresses this deployment does not send to.
    AddressRefused,
    /// Anything else on the way (TLS, a broken answer).
    Transport,
}

/// One attempt to send a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryAttempt {
    pub at: DateTime<Utc>,
    /// The HTTP status the target answered, when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    /// Why it failed; absent when it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<AttemptFailure>,
}

/// One event sent (or to be sent) to one subscription.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryView {
    /// The `webhook-id` header of every attempt.
    pub id: DeliveryId,
    /// The event, the same for every subscription it is sent to (`data.event_id`).
    pub event_id: WebhookEventId,
    pub kind: EventKind,
    pub state: DeliveryState,
    pub created_at: DateTime<Utc>,
    /// Every attempt so far, oldest first.
    pub attempts: Vec<DeliveryAttempt>,
    /// When the next attempt is due, while pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<DateTime<Utc>>,
}

/// A page of a subscription's deliveries, newest first.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryPage {
    pub deliveries: Vec<DeliveryView>,
    /// Pass as `cursor` for the next (older) page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The query of the delivery log.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct DeliveryQuery {
    /// From `next_cursor` of the previous page (default: the newest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// At most this many (default 50).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 200))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

/// What a webhook's body is: `{"type", "timestamp", "data"}` (Standard Webhooks), `data` being
/// the event's own data with the event's id and the person it concerns beside it.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct WebhookPayload {
    /// The event's kind.
    #[serde(rename = "type")]
    pub kind: EventKind,
    /// When it happened.
    pub timestamp: DateTime<Utc>,
    pub data: Map<String, Value>,
}

impl WebhookPayload {
    /// The payload telling of `event`, about `person` if it concerns one.
    pub fn of(
        event_id: WebhookEventId,
        event: &Event,
        person: Option<PersonId>,
        at: DateTime<Utc>,
    ) -> Self {
        let mut data = match serde_json::to_value(event) {
            Ok(Value::Object(mut wire)) => match wire.remove("data") {
                Some(Value::Object(data)) => data,
                _ => Map::new(),
            },
            _ => Map::new(),
        };
        data.insert("event_id".into(), Value::String(event_id.to_string()));
        if let Some(person) = person {
            data.insert("person_id".into(), Value::String(person.to_string()));
        }
        Self {
            kind: event.kind(),
            timestamp: at,
            data,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use uuid::Uuid;

    use super::*;
    use crate::api::events::{CrisisActivationData, MessageReportData};

    fn request(url: &str, kinds: &[EventKind]) -> CreateWebhookRequest {
        CreateWebhookRequest {
            url: url.to_owned(),
            kinds: kinds.iter().copied().collect(),
        }
    }

    fn fields(request: &CreateWebhookRequest) -> Vec<(String, FieldErrorCode)> {
        request
            .field_errors()
            .into_iter()
            .map(|e| (e.field, e.code))
            .collect()
    }

    #[test]
    fn message_kinds_are_never_offered_and_every_other_kind_needs_a_read_scope() {
        for kind in EventKind::ALL {
            match scope_to_receive(kind) {
                None => assert!(
                    matches!(
                        kind,
                        EventKind::MessageCreated
                            | EventKind::MessagesDelivered
                            | EventKind::MessagesRead
                            | EventKind::WebhookSubscriptionDisabled
                    ),
                    "{kind}"
                ),
                Some(scope) => assert!(scope.as_str().ends_with(":read"), "{kind}: {scope:?}"),
            }
        }
    }

    #[test]
    fn a_request_names_each_field_it_gets_wrong() {
        let plan = [EventKind::CrisisPlanActivated];
        assert!(fields(&request("https://case.example.org/hooks", &plan)).is_empty());
        assert!(fields(&request("HTTP://case.example.org/", &plan)).is_empty());
        for (url, code) in [
            ("", FieldErrorCode::Required),
            ("ftp://case.example.org/", FieldErrorCode::InvalidUrl),
            ("https://case.example.org/a b", FieldErrorCode::InvalidUrl),
            ("case.example.org", FieldErrorCode::InvalidUrl),
        ] {
            assert_eq!(
                fields(&request(url, &plan)),
                [("url".to_owned(), code)],
                "{url}"
            );
        }
        let long = format!("https://case.example.org/{}", "a".repeat(URL_MAX));
        assert_eq!(
            fields(&request(&long, &plan)),
            [("url".to_owned(), FieldErrorCode::TooLong)]
        );
        assert_eq!(
            fields(&request("https://case.example.org/", &[])),
            [("kinds".to_owned(), FieldErrorCode::Required)]
        );
        assert_eq!(
            fields(&request(
                "https://case.example.org/",
                &[EventKind::CrisisPlanActivated, EventKind::MessageCreated]
            )),
            [("kinds".to_owned(), FieldErrorCode::NotForStaffSystems)]
        );
    }

    #[test]
    fn a_payload_is_type_timestamp_and_the_events_ids() {
        let id = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001);
        let event_id = WebhookEventId(Uuid::from_u128(9));
        let at = "2026-01-14T11:00:00Z".parse().unwrap();
        let activated = Event::CrisisPlanActivated(CrisisActivationData { activation_id: id });
        let payload = WebhookPayload::of(event_id, &activated, Some(PersonId(id)), at);
        let wire = serde_json::to_value(&payload).unwrap();
        assert_eq!(wire["type"], "crisis_plan_activated");
        assert_eq!(wire["timestamp"], "2026-01-14T11:00:00Z");
        assert_eq!(wire["data"]["activation_id"], id.to_string());
        assert_eq!(wire["data"]["person_id"], id.to_string());
        assert_eq!(wire["data"]["event_id"], event_id.to_string());
        assert_eq!(wire.as_object().unwrap().len(), 3);
        let reported = Event::MessageReported(MessageReportData {
            conversation_id: id.into(),
            message_id: id.into(),
            report_id: id.into(),
        });
        let data = WebhookPayload::of(event_id, &reported, None, at).data;
        let mut keys: Vec<&str> = data.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["conversation_id", "event_id", "message_id", "report_id"]
        );
    }
}
