//! The flight service's consumer: reservation events in, seat decisions out.

use async_trait::async_trait;
use skycamp_contracts::reservation::{self as ev, Booked, ReservationEvent};
use skycamp_platform::Envelope;
use skycamp_platform::consumer::Handler;

use crate::store::{FlightStore, HoldOutcome};

/// Holds seats for placed reservations and returns them for cancelled ones.
pub struct ReservationEvents {
    store: FlightStore,
}

impl ReservationEvents {
    pub fn new(store: FlightStore) -> Self {
        Self { store }
    }
}

#[async_trait]
impl Handler for ReservationEvents {
    async fn handle(&self, event: &Envelope) -> anyhow::Result<()> {
        let is_placed = event.kind == ev::RESERVATION_PLACED;
        // A rejected reservation releases too: an operator may give up on a booking whose hold
        // arrives later.
        if !is_placed && event.kind != ev::RESERVATION_CANCELLED && event.kind != ev::RESERVATION_REJECTED {
            return Ok(());
        }
        let r: ReservationEvent = event.payload()?;
        let Booked::Flight { flight_id, count } = r.item else { return Ok(()) };
        if is_placed {
            let outcome = self.store.hold_seats(&event.id, r.reservation_id, flight_id, count).await?;
            if let HoldOutcome::Decided(decision) = outcome {
                tracing::info!(reservation_id = r.reservation_id, flight_id, count, ?decision, "seat hold decided");
            }
        } else {
            self.store.release_seats(&event.id, r.reservation_id, flight_id).await?;
        }
        Ok(())
    }
}
