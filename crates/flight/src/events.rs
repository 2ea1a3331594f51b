//! The flight service's consumer: reservation events in, seat decisions out.

use async_trait::async_trait;
use skycamp_contracts::reservation::{self as ev, Booked, ReservationEvent};
use skycamp_platform::Envelope;
use skycamp_platform::consumer::Handler;

use crate::store::{FlightStore, HoldOutcome, SeatWork};

/// Holds seats for placed reservations and returns them for cancelled ones.
pub struct ReservationEvents {
    store: FlightStore,
}

impl ReservationEvents {
    pub fn new(store: FlightStore) -> Self {
        Self { store }
    }
}

/// The seat work a reservation event asks for, if any.
fn work_of(event: &Envelope) -> anyhow::Result<Option<SeatWork<'_>>> {
    let is_placed = event.kind == ev::RESERVATION_PLACED;
    // A rejected reservation releases too: an operator may give up on a booking whose hold
    // arrives later.
    if !is_placed && event.kind != ev::RESERVATION_CANCELLED && event.kind != ev::RESERVATION_REJECTED {
        return Ok(None);
    }
    let r: ReservationEvent = event.payload()?;
    let Booked::Flight { flight_id, count } = r.item else { return Ok(None) };
    let (event_id, reservation_id) = (event.id.as_str(), r.reservation_id);
    Ok(Some(if is_placed {
        SeatWork::Hold { event_id, reservation_id, flight_id, count }
    } else {
        SeatWork::Release { event_id, reservation_id, flight_id }
    }))
}

#[async_trait]
impl Handler for ReservationEvents {
    /// One event is a batch of one.
    async fn handle(&self, event: &Envelope) -> anyhow::Result<()> {
        self.handle_all(&[event]).await.map(drop)
    }

    /// A batch of holds and releases goes in one transaction.
    async fn handle_all(&self, events: &[&Envelope]) -> anyhow::Result<bool> {
        let mut work = Vec::with_capacity(events.len());
        for event in events {
            work.extend(work_of(event)?);
        }
        if work.is_empty() {
            return Ok(true);
        }
        let outcomes = self.store.apply_all(&work).await?;
        for (work, outcome) in work.iter().zip(&outcomes) {
            if let (SeatWork::Hold { reservation_id, flight_id, count, .. }, Some(HoldOutcome::Decided(decision))) =
                (work, outcome)
            {
                tracing::info!(reservation_id, flight_id, count, ?decision, "seat hold decided");
            }
        }
        Ok(true)
    }
}
