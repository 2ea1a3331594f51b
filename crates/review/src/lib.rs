//! The review service: campsite reviews by customers who stayed.
//!
//! Rule: a customer may review a campsite once per reservation, for a stay that is confirmed
//! (not cancelled) and over (its check-out day has come). A review of a stay that is cancelled
//! afterwards is withdrawn (`ReviewWithdrawn`: its rating and points are taken back). The service
//! learns of stays from reservation events, so it needs no call to the reservation service.
//!
//! - [`domain`]: who may review what (no I/O).
//! - [`store`]: reviews and the stays learnt from events.
//! - [`events`]: consumes reservation events into stays.
//! - [`http`]: the `/reviews` routes.
#![forbid(unsafe_code)]

pub mod domain;
pub mod events;
pub mod http;
pub mod store;

use std::sync::Arc;

use axum::Router;
use skycamp_contracts::topics;
use skycamp_platform::clock::Clock;
use skycamp_platform::service::Context;

use crate::store::ReviewStore;

/// Migrates the database, starts the relay and the consumer, and returns the HTTP routes.
pub async fn start(ctx: &Context, clock: Clock) -> anyhow::Result<Router> {
    ctx.db.migrate(store::MIGRATIONS).await?;
    let waker = ctx.spawn_relay();
    let store = ReviewStore::new(ctx.db.clone(), waker, clock);
    ctx.spawn_consumer("review", &[topics::RESERVATION], Arc::new(events::Stays::new(store.clone())));
    Ok(http::router(store, ctx.idempotency_keys()))
}
