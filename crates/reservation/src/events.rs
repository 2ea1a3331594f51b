//! The reservation service's consumers: the saga (inventory answers, refunds, and the mileage and
//! message steps for the timeline) and the read models (flight and campsite snapshots, booked
//! nights, ratings).

use async_trait::async_trait;
use skycamp_contracts::campsite::{self as cev, CampsiteChanged, NightsDecided};
use skycamp_contracts::flight::{self as fev, FlightChanged, SeatsDecided};
use skycamp_contracts::mileage::{self as mev, MileageEvent};
use skycamp_contracts::notification::{self as nev, NotificationEvent};
use skycamp_contracts::payment::{self as pev, PaymentEvent};
use skycamp_contracts::review::{self as rev, ReviewEvent};
use skycamp_platform::Envelope;
use skycamp_platform::consumer::Handler;

use crate::domain::SagaInput;
use crate::store::{CatalogueStore, Change, ReservationStore, SagaWrite};

/// Consumer groups `reservation-saga` (inventory answers, refunds) and `reservation-timeline`
/// (mileage and message steps).
pub struct SagaEvents {
    store: ReservationStore,
}

impl SagaEvents {
    pub fn new(store: ReservationStore) -> Self {
        Self { store }
    }
}

const SAGA: &str = "reservation-saga";

/// A saga input, a refund (an input and a timeline note (detail) that go together), or a
/// timeline note (reservation, step, detail).
enum Effect {
    Input(i64, SagaInput),
    Refund(i64, SagaInput, String),
    Note(i64, String, Option<String>),
}

impl Effect {
    fn reservation(&self) -> i64 {
        match self {
            Self::Input(id, _) | Self::Refund(id, ..) | Self::Note(id, ..) => *id,
        }
    }

    /// The store's write for this effect of event `event_id`.
    fn write<'a>(&'a self, event_id: &'a str) -> SagaWrite<'a> {
        match self {
            Self::Input(id, input) => SagaWrite::Input { id: *id, input, event: (SAGA, event_id), note: None },
            Self::Refund(id, input, detail) => {
                SagaWrite::Input { id: *id, input, event: (SAGA, event_id), note: Some((REFUNDED, detail)) }
            }
            Self::Note(id, step, detail) => SagaWrite::Note((*id, step, detail.as_deref(), (SAGA, event_id))),
        }
    }
}

/// The timeline step a refund notes.
const REFUNDED: &str = "payment refunded";

fn effect_of(event: &Envelope) -> anyhow::Result<Option<Effect>> {
    let seats = || event.payload::<SeatsDecided>();
    let nights = || event.payload::<NightsDecided>();
    let why = |r: Option<String>, default: &str| r.unwrap_or_else(|| default.to_owned());
    Ok(Some(match event.kind.as_str() {
        pev::PAYMENT_CANCELLED => {
            // A refund cancels the reservation if it still stands (a refund made on the payment
            // side), and is recorded either way, in one transaction with that decision.
            let p: PaymentEvent = event.payload()?;
            let input = SagaInput::PaymentRefunded { reason: why(p.reason, "payment refunded") };
            Effect::Refund(p.reservation_id, input, format!("{} KRW returned (payment {})", p.amount, p.payment_id))
        }
        fev::SEATS_RESERVED => Effect::Input(seats()?.reservation_id, SagaInput::SeatsReserved),
        fev::SEATS_REJECTED => {
            let d = seats()?;
            Effect::Input(d.reservation_id, SagaInput::SeatsRejected { reason: why(d.reason, "seats rejected") })
        }
        fev::SEATS_RELEASED => Effect::Note(seats()?.reservation_id, "seats released".into(), None),
        cev::NIGHTS_RESERVED => Effect::Input(nights()?.reservation_id, SagaInput::NightsReserved),
        cev::NIGHTS_REJECTED => {
            let d = nights()?;
            Effect::Input(d.reservation_id, SagaInput::NightsRejected { reason: why(d.reason, "nights rejected") })
        }
        cev::NIGHTS_RELEASED => {
            let d = nights()?;
            Effect::Note(d.reservation_id, "nights released".into(), Some(d.nights.join(", ")))
        }
        mev::MILEAGE_ACCRUED | mev::MILEAGE_DEDUCTED => {
            let m: MileageEvent = event.payload()?;
            let Some(id) = m.reservation_id else { return Ok(None) };
            let step = if m.points > 0 { "mileage accrued" } else { "mileage deducted" };
            Effect::Note(
                id,
                step.into(),
                Some(format!("{:+} points for {} (balance {})", m.points, m.cause, m.balance)),
            )
        }
        nev::NOTIFICATION_SENT => {
            let n: NotificationEvent = event.payload()?;
            Effect::Note(n.reservation_id, "message sent".into(), Some(n.topic))
        }
        _ => return Ok(None),
    }))
}

#[async_trait]
impl Handler for SagaEvents {
    async fn handle(&self, event: &Envelope) -> anyhow::Result<()> {
        let Some(effect) = effect_of(event)? else { return Ok(()) };
        match effect.write(&event.id) {
            SagaWrite::Input { id, input, event, note } => {
                let applied = self.store.apply_noting(id, input, Some(event), note).await?;
                tracing::info!(reservation_id = id, step = input.step(), applied = %applied.summary(), "saga step");
                Ok(())
            }
            SagaWrite::Note(note) => self.store.note(&[note]).await,
        }
    }

    /// A batch goes in one transaction; if a reservation changed under it (another instance,
    /// on PostgreSQL), nothing is written and the events go one at a time.
    async fn handle_all(&self, events: &[&Envelope]) -> anyhow::Result<bool> {
        let mut effects = Vec::with_capacity(events.len());
        for event in events {
            if let Some(effect) = effect_of(event)? {
                effects.push((event.id.as_str(), effect));
            }
        }
        // In reservation order (stable, so one reservation's events keep theirs): two instances'
        // batches on PostgreSQL then lock rows in the same order and cannot deadlock.
        effects.sort_by_key(|(_, effect)| effect.reservation());
        let writes: Vec<SagaWrite<'_>> = effects.iter().map(|(event, effect)| effect.write(event)).collect();
        let Some(applied) = self.store.apply_all(&writes).await? else { return Ok(false) };
        let inputs = writes.iter().filter_map(|w| match w {
            SagaWrite::Input { id, input, .. } => Some((id, input)),
            SagaWrite::Note(_) => None,
        });
        for ((id, input), applied) in inputs.zip(&applied) {
            tracing::info!(reservation_id = id, step = input.step(), applied = %applied.summary(), "saga step");
        }
        Ok(true)
    }
}

/// Consumer group `reservation-view`: keeps `flightStatuses` and `campsiteStatuses` current.
pub struct CatalogueView {
    store: CatalogueStore,
}

impl CatalogueView {
    pub fn new(store: CatalogueStore) -> Self {
        Self { store }
    }
}

/// What an event changes in the read models, if anything.
fn change_of(event: &Envelope) -> anyhow::Result<Option<Change>> {
    Ok(match event.kind.as_str() {
        fev::FLIGHT_REGISTERED | fev::FLIGHT_UPDATED | fev::FLIGHT_DELETED => {
            Some(Change::Flight(event.payload::<FlightChanged>()?.flight))
        }
        fev::SEATS_RESERVED | fev::SEATS_REJECTED | fev::SEATS_RELEASED => {
            event.payload::<SeatsDecided>()?.flight.map(Change::Flight)
        }
        cev::CAMPSITE_REGISTERED | cev::CAMPSITE_UPDATED | cev::CAMPSITE_DELETED => {
            Some(Change::Campsite(event.payload::<CampsiteChanged>()?.campsite))
        }
        cev::NIGHTS_RESERVED => Some(Change::Nights(event.payload()?, true)),
        cev::NIGHTS_RELEASED => Some(Change::Nights(event.payload()?, false)),
        rev::REVIEW_WRITTEN | rev::REVIEW_WITHDRAWN => {
            let r: ReviewEvent = event.payload()?;
            let sign = if event.kind == rev::REVIEW_WRITTEN { 1 } else { -1 };
            Some(Change::Rating { campsite_id: r.campsite_id, rating: r.rating, sign })
        }
        _ => None,
    })
}

#[async_trait]
impl Handler for CatalogueView {
    async fn handle(&self, event: &Envelope) -> anyhow::Result<()> {
        match change_of(event)? {
            Some(change) => self.store.apply(&[(&event.id, change)]).await,
            None => Ok(()),
        }
    }

    async fn handle_all(&self, events: &[&Envelope]) -> anyhow::Result<bool> {
        let mut changes = Vec::with_capacity(events.len());
        for event in events {
            if let Some(change) = change_of(event)? {
                changes.push((event.id.as_str(), change));
            }
        }
        self.store.apply(&changes).await?;
        Ok(true)
    }
}
