//! The flight service: flights and their seat inventory. It alone decides whether seats can be
//! held for a reservation, atomically, so flights are never overbooked.
//!
//! - [`domain`]: flight values and rules (no I/O).
//! - [`store`]: the SQL adapter; seat holds are conditional updates.
//! - [`events`]: consumes reservation events, answers with seat events.
//! - [`http`]: the admin and browse API (`/flights`).
#![forbid(unsafe_code)]

pub mod domain;
pub mod events;
pub mod http;
pub mod store;

use std::sync::Arc;

use skycamp_contracts::topics;
use skycamp_platform::service::Context;

/// Migrates the database, starts the relay and the consumer, and returns the HTTP routes.
pub async fn start(ctx: &Context) -> anyhow::Result<axum::Router> {
    ctx.db.migrate(store::MIGRATIONS).await?;
    let waker = ctx.spawn_relay();
    let store = store::FlightStore::new(ctx.db.clone(), waker);
    ctx.spawn_consumer("flight", &[topics::RESERVATION], Arc::new(events::ReservationEvents::new(store.clone())));
    Ok(http::router(store, ctx.idempotency_keys()))
}
