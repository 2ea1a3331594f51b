//! The campsite service: campsites and their night-by-night availability. It alone decides
//! whether a stay's nights can be held, atomically: two bookings never hold the same night.
//!
//! - [`domain`]: campsite values and rules (no I/O).
//! - [`store`]: the SQL adapter; a night is a row keyed by (campsite, date).
//! - [`events`]: consumes reservation events, answers with night events.
//! - [`http`]: the admin API (`/campsites`).
#![forbid(unsafe_code)]

pub mod domain;
pub mod events;
pub mod http;
pub mod store;

use std::sync::Arc;

use skycamp_contracts::topics;
use skycamp_platform::clock::Clock;
use skycamp_platform::service::Context;

/// Migrates the database, starts the relay and the consumer, and returns the HTTP routes.
pub async fn start(ctx: &Context, clock: Clock) -> anyhow::Result<axum::Router> {
    ctx.db.migrate(store::MIGRATIONS).await?;
    let waker = ctx.spawn_relay();
    let store = store::CampsiteStore::new(ctx.db.clone(), waker, clock);
    ctx.spawn_consumer("campsite", &[topics::RESERVATION], Arc::new(events::ReservationEvents::new(store.clone())));
    Ok(http::router(store, ctx.idempotency_keys()))
}
