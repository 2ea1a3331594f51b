//! The payment service's consumer: compensation. A rejected or cancelled reservation must not
//! keep the customer's money.

use async_trait::async_trait;
use skycamp_contracts::reservation::{self as ev, ReservationEvent};
use skycamp_platform::Envelope;
use skycamp_platform::consumer::Handler;

use crate::domain::Charge;
use crate::store::PaymentStore;

/// Refunds (or voids) payments of rejected and cancelled reservations.
pub struct ReservationEvents {
    store: PaymentStore,
}

impl ReservationEvents {
    pub fn new(store: PaymentStore) -> Self {
        Self { store }
    }
}

#[async_trait]
impl Handler for ReservationEvents {
    async fn handle(&self, event: &Envelope) -> anyhow::Result<()> {
        let reason = match event.kind.as_str() {
            ev::RESERVATION_REJECTED => "reservation rejected",
            ev::RESERVATION_CANCELLED => "reservation cancelled",
            _ => return Ok(()),
        };
        let r: ReservationEvent = event.payload()?;
        let charge = Charge::parse(r.reservation_id, r.amount.max(1), &r.phone)
            .map_err(|e| anyhow::anyhow!("event {} cannot be compensated: {e}", event.id))?;
        self.store.refund_or_void(&event.id, &charge, reason).await
    }
}
