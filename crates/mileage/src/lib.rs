//! The mileage service: an append-only ledger of points per customer (keyed by phone).
//!
//! Points accrue on every approved payment (a configurable share of the amount) and on every
//! review (a fixed amount); a refund deducts exactly what its payment earned, and a withdrawn
//! review exactly what it earned. Every entry names the event that caused it, and an event causes
//! at most one entry.
//!
//! A deduction larger than the balance is recorded in full: the balance goes negative and later
//! accruals pay it back. Nothing is clamped, so the ledger always adds up.
#![forbid(unsafe_code)]

pub mod domain;
pub mod store;

use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use skycamp_contracts::customer::Phone;
use skycamp_contracts::payment::{self as pev, PaymentEvent};
use skycamp_contracts::review::{self as rev, ReviewEvent};
use skycamp_contracts::topics;
use skycamp_platform::Envelope;
use skycamp_platform::consumer::Handler;
use skycamp_platform::http::{ApiError, Path};
use skycamp_platform::paging::Page;
use skycamp_platform::service::Context;

use crate::domain::Rules;
use crate::store::{Cause, MileageStore};

/// Migrates the database, starts the relay and the consumer, and returns the HTTP routes.
pub async fn start(ctx: &Context, rules: Rules) -> anyhow::Result<Router> {
    ctx.db.migrate(store::MIGRATIONS).await?;
    let waker = ctx.spawn_relay();
    let store = MileageStore::new(ctx.db.clone(), waker);
    ctx.spawn_consumer("mileage", &[topics::PAYMENT, topics::REVIEW], Arc::new(Events { store: store.clone(), rules }));
    Ok(Router::new().route("/mileages/{customer}", get(ledger)).with_state(store))
}

/// `GET /mileages/{customer}`: the balance, and the entries newest first, a page at a time.
async fn ledger(
    State(store): State<MileageStore>,
    Path(customer): Path<String>,
    page: Page,
) -> Result<Response, ApiError> {
    let phone = Phone::parse(&customer).map_err(|e| ApiError::unprocessable(e.to_string()))?;
    let mut ledger = store.ledger(phone.as_str(), page.cursor_id()?, page.fetch()).await?;
    let next = page.cut(&mut ledger.entries, |e| e.id.to_string());
    Ok(page.answer_with(ledger, next))
}

struct Events {
    store: MileageStore,
    rules: Rules,
}

#[async_trait]
impl Handler for Events {
    async fn handle(&self, event: &Envelope) -> anyhow::Result<()> {
        let cause = match event.kind.as_str() {
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
            _ => return Ok(()),
        };
        self.store.record(&event.id, &event.kind, &cause).await
    }
}
