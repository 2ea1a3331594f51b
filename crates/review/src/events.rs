//! The consumer: confirmed and cancelled campsite stays, from reservation events.

use async_trait::async_trait;
use skycamp_contracts::reservation::{self as rev, Booked, ReservationEvent};
use skycamp_platform::Envelope;
use skycamp_platform::consumer::Handler;

use crate::domain::{StayEvent, StayStatus};
use crate::store::ReviewStore;

/// Keeps the stays projection current.
pub struct Stays {
    store: ReviewStore,
}

impl Stays {
    pub fn new(store: ReviewStore) -> Self {
        Self { store }
    }
}

#[async_trait]
impl Handler for Stays {
    async fn handle(&self, event: &Envelope) -> anyhow::Result<()> {
        let status = match event.kind.as_str() {
            rev::RESERVATION_CONFIRMED => StayStatus::Confirmed,
            rev::RESERVATION_CANCELLED => StayStatus::Cancelled,
            _ => return Ok(()),
        };
        let r: ReservationEvent = event.payload()?;
        let Booked::Campsite { campsite_id, check_in, check_out, .. } = &r.item else { return Ok(()) };
        let stay = StayEvent {
            reservation_id: r.reservation_id,
            campsite_id: *campsite_id,
            phone: &r.phone,
            check_in,
            check_out,
            status,
        };
        self.store.record_stay(&event.id, &stay).await
    }
}
