//! The consumer: payment and review events become ledger entries (the earning rules decide how
//! many points).

use async_trait::async_trait;
use skycamp_contracts::payment::{self as pev, PaymentEvent};
use skycamp_contracts::review::{self as rev, ReviewEvent};
use skycamp_platform::Envelope;
use skycamp_platform::consumer::Handler;

use crate::domain::{Cause, Rules};
use crate::store::MileageStore;

/// Turns payment and review events into ledger entries, one per event.
pub struct PaymentAndReviewEvents {
    store: MileageStore,
    rules: Rules,
}

impl PaymentAndReviewEvents {
    pub fn new(store: MileageStore, rules: Rules) -> Self {
        Self { store, rules }
    }
}

impl PaymentAndReviewEvents {
    /// The ledger entry an event causes, if any.
    fn cause_of(&self, event: &Envelope) -> anyhow::Result<Option<Cause>> {
        Ok(Some(match event.kind.as_str() {
            pev::PAYMENT_APPROVED => {
                let p: PaymentEvent = event.payload()?;
                Cause::Payment {
                    customer: p.phone,
                    reservation_id: p.reservation_id,
                    points: self.rules.for_payment(p.amount),
                }
            }
            pev::PAYMENT_CANCELLED => {
                let p: PaymentEvent = event.payload()?;
                Cause::Refund { customer: p.phone, reservation_id: p.reservation_id }
            }
            rev::REVIEW_WRITTEN => {
                let r: ReviewEvent = event.payload()?;
                Cause::Review { customer: r.phone, reservation_id: r.reservation_id, points: self.rules.per_review }
            }
            rev::REVIEW_WITHDRAWN => {
                let r: ReviewEvent = event.payload()?;
                Cause::ReviewWithdrawn { customer: r.phone, reservation_id: r.reservation_id }
            }
            _ => return Ok(None),
        }))
    }
}

#[async_trait]
impl Handler for PaymentAndReviewEvents {
    /// One event is a batch of one.
    async fn handle(&self, event: &Envelope) -> anyhow::Result<()> {
        self.handle_all(&[event]).await.map(drop)
    }

    /// A batch's entries are recorded in order in one transaction.
    async fn handle_all(&self, events: &[&Envelope]) -> anyhow::Result<bool> {
        let mut causes = Vec::with_capacity(events.len());
        for event in events {
            if let Some(cause) = self.cause_of(event)? {
                causes.push((event.id.as_str(), event.kind.as_str(), cause));
            }
        }
        let causes: Vec<(&str, &str, &Cause)> = causes.iter().map(|(id, kind, cause)| (*id, *kind, cause)).collect();
        self.store.record_all(&causes).await?;
        Ok(true)
    }
}
