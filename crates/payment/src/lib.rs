//! The payment service: charges and refunds, one payment per reservation.
//!
//! - [`domain`]: the approval rule and payment states (no I/O).
//! - [`store`]: the SQL adapter (approve/refund/void, each with its event in one transaction).
//! - [`events`]: consumes reservation events to refund or void (compensation).
//! - [`http`]: `/payments` (and the seed's `/pays` through the gateway).
#![forbid(unsafe_code)]

pub mod domain;
pub mod events;
pub mod http;
pub mod store;

use std::sync::Arc;

use skycamp_contracts::topics;
use skycamp_platform::internal::InternalKey;
use skycamp_platform::service::Context;

/// Settings of the payment service.
#[derive(Debug, Clone)]
pub struct Config {
    /// Charges above this many KRW are declined (`SKYCAMP_PAYMENT_DECLINE_ABOVE`), so declines can be tried out.
    pub decline_above: i64,
    /// The key charges must be signed with (`SKYCAMP_INTERNAL_KEY`): only the reservation
    /// service may charge.
    pub internal_key: InternalKey,
}

/// Charges above this many KRW are declined unless configured otherwise.
pub const DEFAULT_DECLINE_ABOVE: i64 = 10_000_000;

/// Migrates the database, starts the relay and the consumer, and returns the HTTP routes.
pub async fn start(ctx: &Context, config: Config) -> anyhow::Result<axum::Router> {
    ctx.db.migrate(store::MIGRATIONS).await?;
    let waker = ctx.spawn_relay();
    let store = store::PaymentStore::new(ctx.db.clone(), waker);
    ctx.spawn_consumer("payment", &[topics::RESERVATION], Arc::new(events::ReservationEvents::new(store.clone())));
    Ok(http::router(store, config, ctx.idempotency_keys()))
}
