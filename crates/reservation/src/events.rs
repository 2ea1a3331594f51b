//! The reservation service's consumers: the saga (flight and payment answers) and the
//! `flightStatuses` read model (flight snapshots).

use async_trait::async_trait;
use skycamp_contracts::flight::{self as fev, FlightChanged, SeatsDecided};
use skycamp_contracts::payment::{self as pev, PaymentEvent};
use skycamp_platform::Envelope;
use skycamp_platform::consumer::Handler;

use crate::domain::{SagaInput, Status};
use crate::store::{Applied, ReservationStore};

/// Consumer group `reservation-saga`: moves reservations on seat decisions and refunds.
pub struct SagaEvents {
    store: ReservationStore,
}

impl SagaEvents {
    pub fn new(store: ReservationStore) -> Self {
        Self { store }
    }
}

const SAGA: &str = "reservation-saga";

#[async_trait]
impl Handler for SagaEvents {
    async fn handle(&self, event: &Envelope) -> anyhow::Result<()> {
        let (reservation_id, input) = match event.kind.as_str() {
            fev::SEATS_RESERVED => (event.payload::<SeatsDecided>()?.reservation_id, SagaInput::SeatsReserved),
            fev::SEATS_REJECTED => {
                let d: SeatsDecided = event.payload()?;
                let reason = d.reason.unwrap_or_else(|| "seats rejected".into());
                (d.reservation_id, SagaInput::SeatsRejected { reason })
            }
            fev::SEATS_RELEASED => {
                let d: SeatsDecided = event.payload()?;
                return self.store.note(d.reservation_id, "seats released", None, (SAGA, &event.id)).await;
            }
            pev::PAYMENT_CANCELLED => return self.payment_cancelled(event).await,
            _ => return Ok(()),
        };
        let applied = self.store.apply(reservation_id, &input, Some((SAGA, &event.id))).await?;
        log_applied(reservation_id, &input, &applied);
        Ok(())
    }
}

impl SagaEvents {
    /// A refund either completes a rejection/cancellation (a note) or, when the reservation still
    /// stands, cancels it (the payment side refunded it).
    async fn payment_cancelled(&self, event: &Envelope) -> anyhow::Result<()> {
        let p: PaymentEvent = event.payload()?;
        let standing = self.store.get(p.reservation_id).await?.is_some_and(|r| r.status.is_cancellable());
        if !standing {
            let detail = format!("{} KRW returned (payment {})", p.amount, p.payment_id);
            return self.store.note(p.reservation_id, "payment refunded", Some(&detail), (SAGA, &event.id)).await;
        }
        let reason = p.reason.unwrap_or_else(|| "payment refunded".into());
        let input = SagaInput::PaymentRefunded { reason };
        let applied = self.store.apply(p.reservation_id, &input, Some((SAGA, &event.id))).await?;
        log_applied(p.reservation_id, &input, &applied);
        Ok(())
    }
}

fn log_applied(reservation_id: i64, input: &SagaInput, applied: &Applied) {
    let status = match applied {
        Applied::Moved(r) | Applied::Ignored(r) => r.status,
        Applied::Duplicate | Applied::Missing => Status::PendingPayment,
    };
    tracing::info!(reservation_id, step = input.step(), outcome = ?std::mem::discriminant(applied), status = status.as_str(), "saga step");
}

/// Consumer group `reservation-view`: keeps `flightStatuses` current from flight snapshots.
pub struct FlightView {
    store: ReservationStore,
}

impl FlightView {
    pub fn new(store: ReservationStore) -> Self {
        Self { store }
    }
}

#[async_trait]
impl Handler for FlightView {
    async fn handle(&self, event: &Envelope) -> anyhow::Result<()> {
        let snapshot = match event.kind.as_str() {
            fev::FLIGHT_REGISTERED | fev::FLIGHT_UPDATED | fev::FLIGHT_DELETED => {
                Some(event.payload::<FlightChanged>()?.flight)
            }
            fev::SEATS_RESERVED | fev::SEATS_REJECTED | fev::SEATS_RELEASED => event.payload::<SeatsDecided>()?.flight,
            _ => None,
        };
        match snapshot {
            Some(s) => self.store.upsert_flight(&event.id, &s).await,
            None => Ok(()),
        }
    }
}
