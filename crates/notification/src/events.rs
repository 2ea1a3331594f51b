//! The consumer: every reservation status change and refund becomes one message.

use async_trait::async_trait;
use skycamp_contracts::payment::{self as pev, PaymentEvent};
use skycamp_contracts::reservation::{self as rev, ReservationEvent};
use skycamp_platform::Envelope;
use skycamp_platform::consumer::Handler;

use crate::domain::{self, Draft};
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

/// The message an event asks for, if any.
fn draft_of(event: &Envelope) -> anyhow::Result<Option<Draft>> {
    Ok(match event.kind.as_str() {
        rev::RESERVATION_CONFIRMED | rev::RESERVATION_REJECTED | rev::RESERVATION_CANCELLED => {
            domain::for_reservation(&event.kind, &event.payload::<ReservationEvent>()?)
        }
        pev::PAYMENT_CANCELLED => Some(domain::for_refund(&event.payload::<PaymentEvent>()?)),
        _ => None,
    })
}

#[async_trait]
impl Handler for StatusEvents {
    /// One event is a batch of one.
    async fn handle(&self, event: &Envelope) -> anyhow::Result<()> {
        self.handle_all(&[event]).await.map(drop)
    }

    /// A batch's messages are stored in one transaction.
    async fn handle_all(&self, events: &[&Envelope]) -> anyhow::Result<bool> {
        let mut drafts = Vec::with_capacity(events.len());
        for event in events {
            if let Some(d) = draft_of(event)? {
                drafts.push((event.id.as_str(), d));
            }
        }
        let drafts: Vec<(&str, &Draft)> = drafts.iter().map(|(id, d)| (*id, d)).collect();
        self.store.record_all(&drafts).await?;
        Ok(true)
    }
}
