//! Events and notifications: what a device is told, as data it acts on.
//!
//! [`Event`] is the one vocabulary of what can happen, shared by the server (which stores and
//! streams events) and the apps (which act on them). Each kind is a variant whose data carries
//! ids, and where it helps the device a version, a message number or an offer's expiry — never
//! record text, names or anything a lock screen should not show: a device fetches what changed
//! through the API, where policy and audit apply.
//!
//! On the wire an event is `{"kind": "…", "data": {…}}`, `kind` in snake case. The fields of
//! each data struct are declared in alphabetical order, which is the order the server has
//! always written them in, so the JSON of every kind is unchanged by its being typed.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::referrals::ReferralId;
use super::webhooks::WebhookId;
use crate::domain::appointment::{
    AppointmentId, BookingId, ProgrammeId, ProgrammeSessionId, RequestKind,
};
use crate::domain::message::{ConversationId, MessageId, MessageReportId};
use crate::domain::{PersonId, TeamId, UserId};

/// Something that happened, as the accounts it concerns are told of it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum Event {
    /// A new version of the Enablement Plan was stored.
    EnablementPlanUpdated(PlanVersionData),
    /// The person commented on a section of the plan, or recorded that they disagree.
    EnablementPlanCommented(PlanCommentData),
    /// A version of the Enablement Plan was agreed.
    EnablementPlanAgreed(PlanVersionData),
    /// A new version of the WRAP, and so of its crisis plan, was stored.
    CrisisPlanUpdated(PlanVersionData),
    /// The crisis plan was put into use.
    CrisisPlanActivated(CrisisActivationData),
    /// The crisis plan stopped being in use.
    CrisisPlanDeactivated(CrisisActivationData),
    /// An appointment was made or changed.
    AppointmentChanged(AppointmentChangeData),
    /// The person asked staff to cancel or move an appointment.
    AppointmentRequestMade(AppointmentRequestData),
    /// A place on a workshop was freed and is held for the person until the offer expires.
    WaitlistPlaceOffered(WaitlistOfferData),
    /// A message (or an automatic out-of-hours notice) was added to a conversation.
    MessageCreated(MessageCreatedData),
    /// A participant's device fetched a conversation's messages up to a number.
    MessagesDelivered(MessageReceiptData),
    /// A participant read a conversation up to a number.
    MessagesRead(MessageReceiptData),
    /// A message was reported to the person's team.
    MessageReported(MessageReportData),
    /// A staff system's webhook subscription was turned off after its deliveries kept
    /// failing; told to the deployment's admins.
    WebhookSubscriptionDisabled(WebhookDisabledData),
    /// A referral arrived: told to the practitioners of the hub it asked for, or to every
    /// practitioner on a team when it asked for none.
    ReferralReceived(ReferralData),
    /// Triage found that a referred person needs help now: told at once to every member of
    /// the team that took it.
    ReferralCrisisResponse(ReferralCrisisData),
}

impl Event {
    /// What kind of event this is (the `kind` on the wire, and the name of an SSE event).
    pub fn kind(&self) -> EventKind {
        match self {
            Event::EnablementPlanUpdated(_) => EventKind::EnablementPlanUpdated,
            Event::EnablementPlanCommented(_) => EventKind::EnablementPlanCommented,
            Event::EnablementPlanAgreed(_) => EventKind::EnablementPlanAgreed,
            Event::CrisisPlanUpdated(_) => EventKind::CrisisPlanUpdated,
            Event::CrisisPlanActivated(_) => EventKind::CrisisPlanActivated,
            Event::CrisisPlanDeactivated(_) => EventKind::CrisisPlanDeactivated,
            Event::AppointmentChanged(_) => EventKind::AppointmentChanged,
            Event::AppointmentRequestMade(_) => EventKind::AppointmentRequestMade,
            Event::WaitlistPlaceOffered(_) => EventKind::WaitlistPlaceOffered,
            Event::MessageCreated(_) => EventKind::MessageCreated,
            Event::MessagesDelivered(_) => EventKind::MessagesDelivered,
            Event::MessagesRead(_) => EventKind::MessagesRead,
            Event::MessageReported(_) => EventKind::MessageReported,
            Event::WebhookSubscriptionDisabled(_) => EventKind::WebhookSubscriptionDisabled,
            Event::ReferralReceived(_) => EventKind::ReferralReceived,
            Event::ReferralCrisisResponse(_) => EventKind::ReferralCrisisResponse,
        }
    }
}

/// The kind of an [`Event`] without its data: what a push names, an SSE event's name, and
/// what a webhook subscription lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    EnablementPlanUpdated,
    EnablementPlanCommented,
    EnablementPlanAgreed,
    CrisisPlanUpdated,
    CrisisPlanActivated,
    CrisisPlanDeactivated,
    AppointmentChanged,
    AppointmentRequestMade,
    WaitlistPlaceOffered,
    MessageCreated,
    MessagesDelivered,
    MessagesRead,
    MessageReported,
    WebhookSubscriptionDisabled,
    ReferralReceived,
    ReferralCrisisResponse,
}

impl EventKind {
    /// Every kind, in the order of [`Event`]'s variants.
    pub const ALL: [EventKind; 16] = [
        EventKind::EnablementPlanUpdated,
        EventKind::EnablementPlanCommented,
        EventKind::EnablementPlanAgreed,
        EventKind::CrisisPlanUpdated,
        EventKind::CrisisPlanActivated,
        EventKind::CrisisPlanDeactivated,
        EventKind::AppointmentChanged,
        EventKind::AppointmentRequestMade,
        EventKind::WaitlistPlaceOffered,
        EventKind::MessageCreated,
        EventKind::MessagesDelivered,
        EventKind::MessagesRead,
        EventKind::MessageReported,
        EventKind::WebhookSubscriptionDisabled,
        EventKind::ReferralReceived,
        EventKind::ReferralCrisisResponse,
    ];

    /// The kind as it is written on the wire (the same as its serde form).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::EnablementPlanUpdated => "enablement_plan_updated",
            EventKind::EnablementPlanCommented => "enablement_plan_commented",
            EventKind::EnablementPlanAgreed => "enablement_plan_agreed",
            EventKind::CrisisPlanUpdated => "crisis_plan_updated",
            EventKind::CrisisPlanActivated => "crisis_plan_activated",
            EventKind::CrisisPlanDeactivated => "crisis_plan_deactivated",
            EventKind::AppointmentChanged => "appointment_changed",
            EventKind::AppointmentRequestMade => "appointment_request_made",
            EventKind::WaitlistPlaceOffered => "waitlist_place_offered",
            EventKind::MessageCreated => "message_created",
            EventKind::MessagesDelivered => "messages_delivered",
            EventKind::MessagesRead => "messages_read",
            EventKind::MessageReported => "message_reported",
            EventKind::WebhookSubscriptionDisabled => "webhook_subscription_disabled",
            EventKind::ReferralReceived => "referral_received",
            EventKind::ReferralCrisisResponse => "referral_crisis_response",
        }
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which version of a plan an event is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanVersionData {
    pub version: i32,
}

/// A comment on the Enablement Plan: fetch it from the plan's comments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanCommentData {
    pub comment_id: Uuid,
    /// Whether the person recorded that they disagree.
    pub disagree: bool,
    /// The version commented on.
    pub version: i32,
}

/// A crisis-plan activation: fetch the crisis plan for who, when and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CrisisActivationData {
    pub activation_id: Uuid,
}

/// What happened to an appointment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AppointmentChange {
    Created,
    /// New times.
    Moved,
    Updated,
    Cancelled,
    Confirmed,
    /// The person asked to cancel or move it.
    RequestMade,
    /// Staff answered the person's request.
    RequestAnswered,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppointmentChangeData {
    pub appointment_id: AppointmentId,
    pub change: AppointmentChange,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppointmentRequestData {
    pub appointment_id: AppointmentId,
    /// What the person asked for.
    pub request: RequestKind,
}

/// A place offered from the waitlist: accept or decline it before it expires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WaitlistOfferData {
    pub booking_id: BookingId,
    pub offer_expires_at: Option<DateTime<Utc>>,
    pub programme_id: ProgrammeId,
    /// For a programme booked session by session: the session.
    pub session_id: Option<ProgrammeSessionId>,
}

/// A message in a conversation, by its number: fetch it from the conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageCreatedData {
    pub conversation_id: ConversationId,
    pub message_id: MessageId,
    pub seq: i64,
}

/// How far one participant has fetched or read a conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageReceiptData {
    pub conversation_id: ConversationId,
    pub up_to_seq: i64,
    pub user_id: UserId,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageReportData {
    pub conversation_id: ConversationId,
    pub message_id: MessageId,
    pub report_id: MessageReportId,
}

/// A staff system's webhook subscription that was turned off: see it with the client's
/// subscriptions (`GET /v1/webhooks/{id}`, as the client), or tell the system's owners.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookDisabledData {
    /// The staff system that owns the subscription.
    pub client_id: String,
    pub subscription_id: WebhookId,
}

/// A referral: fetch it (`GET /v1/referrals/{id}`) to see who and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReferralData {
    pub referral_id: ReferralId,
}

/// A referral triaged as needing help now, and the team that took it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReferralCrisisData {
    pub referral_id: ReferralId,
    pub team_id: TeamId,
}

/// One event for the caller: `{id, kind, data, person_id?, at}`.
///
/// Its OpenAPI schema is [`EventViewFields`] beside each kind of [`Event`]: a field added here
/// goes there too.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct EventView {
    /// The event's position in the caller's stream; resume after it with `Last-Event-ID`.
    pub id: i64,
    /// What happened: `kind`, and its `data`.
    #[serde(flatten)]
    pub event: Event,
    /// The person it concerns; absent for a carer's own conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_id: Option<PersonId>,
    pub at: DateTime<Utc>,
}

// [`EventView`]'s own fields, described only: its schema puts them in each kind of [`Event`],
// one flat object per kind as serde writes it (derived, it would be an `allOf` over the union,
// which client generators refuse). The doc comment is the served description of the view.
/// One event for the caller: `{id, kind, data, person_id?, at}`.
#[cfg(feature = "openapi")]
#[derive(utoipa::ToSchema)]
#[allow(dead_code, reason = "a description of EventView's fields, never built")]
struct EventViewFields {
    /// The event's position in the caller's stream; resume after it with `Last-Event-ID`.
    id: i64,
    /// The person it concerns; absent for a carer's own conversation.
    person_id: Option<PersonId>,
    at: DateTime<Utc>,
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for EventView {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::openapi::flattened(
            <Event as utoipa::PartialSchema>::schema(),
            <EventViewFields as utoipa::PartialSchema>::schema(),
        )
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for EventView {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        // The view describes the kinds inline, so `Event` itself is a component only where
        // another schema refers to it; what its kinds' data refer to is needed here.
        <Event as utoipa::ToSchema>::schemas(schemas);
        <EventViewFields as utoipa::ToSchema>::schemas(schemas);
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationPage {
    pub notifications: Vec<EventView>,
    /// Pass as `cursor` for the next page; absent when there is nothing more yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The query of `StreamQuery`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct EventStreamQuery {
    /// Resume after this event id (same as the `Last-Event-ID` header, which wins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<i64>,
}

/// The query of `NotificationQuery`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct NotificationQuery {
    /// From `next_cursor` of the previous page (default: from the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// At most this many (default 50).
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 200))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::Value;

    use super::*;

    /// An event of `kind`. The match makes a new kind fail to compile here until it has one.
    fn example(kind: EventKind) -> Event {
        let id = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001);
        let receipt = MessageReceiptData {
            conversation_id: id.into(),
            up_to_seq: 6,
            user_id: id.into(),
        };
        match kind {
            EventKind::EnablementPlanUpdated => {
                Event::EnablementPlanUpdated(PlanVersionData { version: 2 })
            }
            EventKind::EnablementPlanCommented => Event::EnablementPlanCommented(PlanCommentData {
                comment_id: id,
                disagree: true,
                version: 2,
            }),
            EventKind::EnablementPlanAgreed => {
                Event::EnablementPlanAgreed(PlanVersionData { version: 2 })
            }
            EventKind::CrisisPlanUpdated => {
                Event::CrisisPlanUpdated(PlanVersionData { version: 3 })
            }
            EventKind::CrisisPlanActivated => {
                Event::CrisisPlanActivated(CrisisActivationData { activation_id: id })
            }
            EventKind::CrisisPlanDeactivated => {
                Event::CrisisPlanDeactivated(CrisisActivationData { activation_id: id })
            }
            EventKind::AppointmentChanged => Event::AppointmentChanged(AppointmentChangeData {
                appointment_id: id.into(),
                change: AppointmentChange::RequestAnswered,
            }),
            EventKind::AppointmentRequestMade => {
                Event::AppointmentRequestMade(AppointmentRequestData {
                    appointment_id: id.into(),
                    request: RequestKind::Reschedule,
                })
            }
            EventKind::WaitlistPlaceOffered => Event::WaitlistPlaceOffered(WaitlistOfferData {
                booking_id: id.into(),
                offer_expires_at: Some("2026-01-14T11:00:00.123456Z".parse().unwrap()),
                programme_id: id.into(),
                session_id: None,
            }),
            EventKind::MessageCreated => Event::MessageCreated(MessageCreatedData {
                conversation_id: id.into(),
                message_id: id.into(),
                seq: 4,
            }),
            EventKind::MessagesDelivered => Event::MessagesDelivered(receipt),
            EventKind::MessagesRead => Event::MessagesRead(receipt),
            EventKind::MessageReported => Event::MessageReported(MessageReportData {
                conversation_id: id.into(),
                message_id: id.into(),
                report_id: id.into(),
            }),
            EventKind::WebhookSubscriptionDisabled => {
                Event::WebhookSubscriptionDisabled(WebhookDisabledData {
                    client_id: "sys-case".into(),
                    subscription_id: id.into(),
                })
            }
            EventKind::ReferralReceived => Event::ReferralReceived(ReferralData {
                referral_id: id.into(),
            }),
            EventKind::ReferralCrisisResponse => {
                Event::ReferralCrisisResponse(ReferralCrisisData {
                    referral_id: id.into(),
                    team_id: id.into(),
                })
            }
        }
    }

    #[test]
    fn every_kind_is_named_on_the_wire_as_its_kind_says_and_reads_back() {
        let mut names: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), EventKind::ALL.len(), "one name per kind");
        for kind in EventKind::ALL {
            let event = example(kind);
            assert_eq!(event.kind(), kind);
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
            let wire = serde_json::to_value(&event).unwrap();
            assert_eq!(wire["kind"], kind.as_str());
            assert_eq!(wire.as_object().unwrap().len(), 2, "kind and data: {wire}");
            assert!(wire["data"].is_object(), "{wire}");
            assert_eq!(serde_json::from_value::<Event>(wire).unwrap(), event);
        }
    }

    /// Before events were typed, their data was a JSON map, written with its keys in order.
    /// Typed, every kind must still be exactly those bytes.
    #[test]
    fn data_is_written_in_the_order_events_always_had() {
        for kind in EventKind::ALL {
            let typed = serde_json::to_string(&example(kind)).unwrap();
            let wire: Value = serde_json::from_str(&typed).unwrap();
            let as_map = serde_json::to_string(&wire["data"]).unwrap();
            assert_eq!(typed, format!(r#"{{"kind":"{kind}","data":{as_map}}}"#));
        }
    }

    #[test]
    fn a_waitlist_offer_says_null_for_a_whole_programme_booking() {
        let id = Uuid::from_u128(7);
        let offer = Event::WaitlistPlaceOffered(WaitlistOfferData {
            booking_id: id.into(),
            offer_expires_at: None,
            programme_id: id.into(),
            session_id: None,
        });
        let wire = serde_json::to_value(&offer).unwrap();
        assert_eq!(wire["data"]["session_id"], Value::Null);
        assert_eq!(wire["data"]["offer_expires_at"], Value::Null);
    }

    #[test]
    fn an_event_view_carries_kind_and_data_beside_its_id() {
        let view = EventView {
            id: 42,
            event: example(EventKind::MessagesRead),
            person_id: Some(Uuid::from_u128(3).into()),
            at: "2026-01-14T11:00:00Z".parse().unwrap(),
        };
        let wire = serde_json::to_value(&view).unwrap();
        assert_eq!(wire["id"], 42);
        assert_eq!(wire["kind"], "messages_read");
        assert_eq!(wire["data"]["up_to_seq"], 6);
        assert_eq!(wire["person_id"], Uuid::from_u128(3).to_string());
        assert_eq!(serde_json::from_value::<EventView>(wire).unwrap(), view);
    }

    #[cfg(feature = "openapi")]
    #[test]
    fn the_schema_describes_each_kind_of_event_view_as_one_flat_object() {
        use crate::openapi::check::variant_for;

        let schema = serde_json::to_value(<EventView as utoipa::PartialSchema>::schema()).unwrap();
        for kind in EventKind::ALL {
            for person_id in [None, Some(Uuid::from_u128(3).into())] {
                let view = EventView {
                    id: 42,
                    event: example(kind),
                    person_id,
                    at: "2026-01-14T11:00:00Z".parse().unwrap(),
                };
                let wire = serde_json::to_value(&view).unwrap();
                let variant = variant_for(&schema, "kind", &wire);
                for field in ["id", "kind", "data", "at"] {
                    assert!(
                        variant["required"]
                            .as_array()
                            .unwrap()
                            .contains(&field.into()),
                        "{field} is required in {variant}"
                    );
                }
            }
        }
        assert_eq!(
            schema["oneOf"].as_array().unwrap().len(),
            EventKind::ALL.len(),
            "one variant per kind"
        );
    }
}
