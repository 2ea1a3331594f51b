//! The campsite service's consumer: reservation events in, night decisions out.

use async_trait::async_trait;
use skycamp_contracts::reservation::{self as ev, Booked, ReservationEvent};
use skycamp_platform::Envelope;
use skycamp_platform::consumer::Handler;

use crate::domain::HoldRequest;
use crate::store::CampsiteStore;

/// Holds nights for placed campsite reservations and frees them for cancelled ones.
pub struct ReservationEvents {
    store: CampsiteStore,
}

impl ReservationEvents {
    pub fn new(store: CampsiteStore) -> Self {
        Self { store }
    }
}

#[async_trait]
impl Handler for ReservationEvents {
    async fn handle(&self, event: &Envelope) -> anyhow::Result<()> {
        let placed = event.kind == ev::RESERVATION_PLACED;
        if !placed && event.kind != ev::RESERVATION_CANCELLED && event.kind != ev::RESERVATION_REJECTED {
            return Ok(());
        }
        let r: ReservationEvent = event.payload()?;
        let Booked::Campsite { campsite_id, check_in, check_out, guests } = r.item else { return Ok(()) };
        let req = HoldRequest { reservation_id: r.reservation_id, campsite_id, check_in, check_out, guests };
        if placed {
            let outcome = self.store.hold_nights(&event.id, &req).await?;
            tracing::info!(reservation_id = req.reservation_id, campsite_id, ?outcome, "night hold decided");
        } else {
            self.store.release_nights(&event.id, &req).await?;
        }
        Ok(())
    }
}
