//! The mileage service: an append-only ledger of points per customer (keyed by phone).
//!
//! Points accrue on every approved payment (a configurable share of the amount) and on every
//! review (a fixed amount); a refund deducts exactly what its payment earned, and a withdrawn
//! review exactly what it earned. Every entry names the event that caused it, and an event causes
//! at most one entry.
//!
//! A deduction larger than the balance is recorded in full: the balance goes negative and later
//! accruals pay it back. Nothing is clamped, so the ledger always adds up.
//!
//! - [`domain`]: the earning rules (no I/O).
//! - [`store`]: the ledger.
//! - [`events`]: consumes payment and review events into ledger entries.
//! - [`http`]: `GET /mileages/{customer}`.
#![forbid(unsafe_code)]

pub mod domain;
pub mod events;
pub mod http;
pub mod store;

use std::sync::Arc;

use axum::Router;
use skycamp_contracts::topics;
use skycamp_platform::service::Context;

use crate::domain::Rules;
use crate::store::MileageStore;

/// Migrates the database, starts the relay and the consumer, and returns the HTTP routes.
pub async fn start(ctx: &Context, rules: Rules) -> anyhow::Result<Router> {
    ctx.db.migrate(store::MIGRATIONS).await?;
    let waker = ctx.spawn_relay();
    let store = MileageStore::new(ctx.db.clone(), waker);
    let events = Arc::new(events::PaymentAndReviewEvents::new(store.clone(), rules));
    ctx.spawn_consumer("mileage", &[topics::PAYMENT, topics::REVIEW], events);
    Ok(http::router(store))
}
