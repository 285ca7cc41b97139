//! Workshop offers: telling people of the places they are offered, and passing on offers that
//! lapse.
//!
//! Guarantees:
//! - **Told after the commit.** A place offered from the waitlist is announced by the store, in
//!   the transaction that offers it (only the store knows who is offered a place); live streams
//!   hear of it only after that commit, which cannot turn a stored change into an error (see
//!   [`crate::events`]).
//! - **A lapsed offer is never shown as open.** Handlers that show bookings settle lapsed offers
//!   first ([`Appointments::settle_lapsed_offers`]), and a periodic job started with the service
//!   passes them on once a minute even when nobody touches the programme, at most
//!   [`SETTLE_BATCH`] programmes a pass. It ends with the application's shutdown token.
//! - **No personal data in logs.** A failed pass is logged by its error kind only and retried a
//!   minute later.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use livingwell_core::api::events::{
    AppointmentChange, AppointmentChangeData, AppointmentRequestData, Event,
};
use livingwell_core::domain::appointment::RequestKind;

use livingwell_core::domain::appointment::ProgrammeId;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::events::EventHub;
use crate::store::appointments::{AppointmentRecord, BookingRecord};
use crate::store::events::{Audience, NewEvent};
use crate::store::{Store, StoreResult};

/// Most programmes settled in one pass over lapsed offers.
pub const SETTLE_BATCH: i64 = 20;

/// How often the periodic job passes on lapsed offers.
const PASS_ON_EVERY: Duration = Duration::from_secs(60);

/// The appointments service. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Appointments {
    store: Arc<dyn Store>,
    events: EventHub,
    clock: Clock,
}

impl Appointments {
    /// The service, with its periodic job passing on lapsed offers until `shutdown`.
    pub fn start(
        store: Arc<dyn Store>,
        events: EventHub,
        clock: Clock,
        shutdown: CancellationToken,
    ) -> Self {
        let service = Self {
            store,
            events,
            clock,
        };
        tokio::spawn(service.clone().pass_on_lapsed_offers(shutdown));
        service
    }

    /// Tells live streams of the places just offered; the store stored their events with them.
    pub fn announce_offers(&self, offered: &[BookingRecord]) {
        if !offered.is_empty() {
            self.events.announce_committed();
        }
    }

    /// The events telling the person (through their app account, if they have one) that an
    /// appointment changed; stored with the change, so they are told exactly when it is.
    pub async fn person_told(
        &self,
        record: &AppointmentRecord,
        change: AppointmentChange,
        at: DateTime<Utc>,
    ) -> StoreResult<Vec<NewEvent>> {
        let person = Audience {
            recipients: self
                .store
                .account_of_person(record.person_id)
                .await?
                .into_iter()
                .collect(),
            person_id: Some(record.person_id),
        };
        let changed = Event::AppointmentChanged(AppointmentChangeData {
            appointment_id: record.id,
            change,
        });
        Ok(person.tell(&changed, at))
    }

    /// Passes on the places of one programme whose offers lapsed, and tells the people now
    /// offered them: before the programme or its roster is shown, so a lapsed offer never shows
    /// as open.
    pub async fn settle_offers(&self, programme: ProgrammeId) -> StoreResult<()> {
        let offered = self
            .store
            .settle_offers(programme, self.clock.now())
            .await?;
        self.announce_offers(&offered);
        Ok(())
    }

    /// Passes on places whose offers lapsed, in every programme that has one, and tells the
    /// people now offered them. Called on reads that show bookings, so a lapsed offer is never
    /// shown as open, and by the periodic job.
    pub async fn settle_lapsed_offers(&self) -> StoreResult<()> {
        let now = self.clock.now();
        for programme in self
            .store
            .programmes_with_lapsed_offers(now, SETTLE_BATCH)
            .await?
        {
            let offered = self.store.settle_offers(programme, now).await?;
            self.announce_offers(&offered);
        }
        Ok(())
    }

    /// Offers of a freed workshop place last a limited time; once a minute, lapsed ones pass to
    /// the next person waiting (and they are told), even if nobody touches the programme.
    async fn pass_on_lapsed_offers(self, shutdown: CancellationToken) {
        let mut every_minute = tokio::time::interval(PASS_ON_EVERY);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = every_minute.tick() => {}
            }
            if let Err(error) = self.settle_lapsed_offers().await {
                tracing::warn!(
                    kind = error.kind(),
                    "passing on lapsed waitlist offers failed; retrying in a minute"
                );
            }
        }
    }
}

/// The events telling the staff on an appointment that the person asked something of it.
pub fn workers_told(
    record: &AppointmentRecord,
    request: RequestKind,
    at: DateTime<Utc>,
) -> Vec<NewEvent> {
    let workers = Audience {
        recipients: record.worker_ids.clone(),
        person_id: Some(record.person_id),
    };
    let asked = Event::AppointmentRequestMade(AppointmentRequestData {
        appointment_id: record.id,
        request,
    });
    workers.tell(&asked, at)
}
