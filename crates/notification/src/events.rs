//! The consumer: every reservation status change and refund becomes one message.

use async_trait::async_trait;
use skycamp_contracts::payment::{self as pev, PaymentEvent};
use skycamp_contracts::reservation::{self as rev, ReservationEvent};
use skycamp_platform::Envelope;
use skycamp_platform::consumer::Handler;

use crate::domain;
use crate::store::NotificationStore;

/// Turns status changes into messages, one per event.
pub struct StatusEvents {
    store: NotificationStore,
}

impl StatusEvents {
    pub fn new(store: NotificationStore) -> Self {
        Self { store }
    }
}

#[async_trait]
impl Handler for StatusEvents {
    async fn handle(&self, event: &Envelope) -> anyhow::Result<()> {
        let draft = match event.kind.as_str() {
            rev::RESERVATION_CONFIRMED | rev::RESERVATION_REJECTED | rev::RESERVATION_CANCELLED => {
                domain::for_reservation(&event.kind, &event.payload::<ReservationEvent>()?)
            }
            pev::PAYMENT_CANCELLED => Some(domain::for_refund(&event.payload::<PaymentEvent>()?)),
            _ => None,
        };
        match draft {
            Some(d) => self.store.record(&event.id, &d).await,
            None => Ok(()),
        }
    }
}
