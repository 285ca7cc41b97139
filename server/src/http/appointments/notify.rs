//! What people are told after a change to appointments or bookings is committed.

use livingwell_core::domain::appointment::RequestKind;
use serde_json::json;

use super::SETTLE_BATCH;
use crate::http::AppState;
use crate::http::error::ApiResult;
use crate::store::appointments::{AppointmentRecord, BookingRecord};
use crate::store::events::NewEvent;

/// Stores and pushes events. The change they announce is already committed, so a failure here
/// is logged (by kind only) rather than turned into an error for a request that succeeded.
pub(super) async fn publish(state: &AppState, events: Vec<NewEvent>) {
    if let Err(error) = state.events.publish(events).await {
        tracing::error!(kind = error.kind(), "storing an appointment event failed");
    }
}

/// Tells the person (through their app account, if they have one) that an appointment changed.
pub(super) async fn notify_person(state: &AppState, record: &AppointmentRecord, change: &str) {
    let recipient = match state.store.account_of_person(record.person_id).await {
        Ok(Some(recipient)) => recipient,
        Ok(None) => return,
        Err(_) => {
            tracing::error!("looking up the account to notify failed");
            return;
        }
    };
    publish(
        state,
        vec![NewEvent {
            recipient_id: recipient,
            kind: "appointment_changed".into(),
            person_id: Some(record.person_id),
            data: json!({"appointment_id": record.id, "change": change}),
            created_at: state.clock.now(),
        }],
    )
    .await;
}

/// Tells the staff on an appointment that the person asked something of it.
pub(super) async fn notify_workers(
    state: &AppState,
    record: &AppointmentRecord,
    kind: RequestKind,
) {
    let events = record
        .worker_ids
        .iter()
        .map(|worker| NewEvent {
            recipient_id: *worker,
            kind: "appointment_request_made".into(),
            person_id: Some(record.person_id),
            data: json!({"appointment_id": record.id, "request": kind}),
            created_at: state.clock.now(),
        })
        .collect();
    publish(state, events).await;
}

/// Tells each person offered a place, so they can accept or decline before it expires.
pub(super) async fn notify_offers(state: &AppState, offered: &[BookingRecord]) {
    let mut events = Vec::with_capacity(offered.len());
    for booking in offered {
        match state.store.account_of_person(booking.person_id).await {
            Ok(Some(recipient)) => events.push(NewEvent {
                recipient_id: recipient,
                kind: "waitlist_place_offered".into(),
                person_id: Some(booking.person_id),
                data: json!({
                    "programme_id": booking.programme_id,
                    "session_id": booking.session_id,
                    "booking_id": booking.id,
                    "offer_expires_at": booking.offer_expires_at,
                }),
                created_at: state.clock.now(),
            }),
            Ok(None) => {}
            Err(_) => tracing::error!("looking up the account to notify failed"),
        }
    }
    publish(state, events).await;
}

/// Passes on places whose offers lapsed, in every programme that has one, and tells the people
/// now offered them. Called on reads that show bookings, so a lapsed offer is never shown as
/// open; a periodic task may call it too.
pub async fn settle_lapsed_offers(state: &AppState) -> ApiResult<()> {
    let now = state.clock.now();
    for programme in state
        .store
        .programmes_with_lapsed_offers(now, SETTLE_BATCH)
        .await?
    {
        let offered = state.store.settle_offers(programme, now).await?;
        notify_offers(state, &offered).await;
    }
    Ok(())
}
