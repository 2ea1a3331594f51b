//! The reservation service: customers book and cancel; the booking saga is coordinated here.
//! Also owns the customer-facing read models `flightStatuses` and `campsiteStatuses`, built only
//! from events.
//!
//! - [`domain`]: values (phone, seat count, stay dates), catalogue checks, the saga state machine.
//! - [`store`]: the SQL adapter (reservations, saga steps, read models).
//! - [`payment_client`]: the synchronous payment call, with its timeout.
//! - [`events`]: consumers for inventory decisions, refunds, timeline notes and the read models.
//! - [`reconcile`]: settles reservations stuck in `PENDING_PAYMENT` after a crash.
//! - [`http`]: `/reservations`, `/flightStatuses`.
#![forbid(unsafe_code)]

pub mod domain;
pub mod events;
pub mod http;
pub mod payment_client;
pub mod reconcile;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use skycamp_contracts::topics;
use skycamp_platform::clock::Clock;
use skycamp_platform::service::Context;

/// Settings of the reservation service.
#[derive(Debug, Clone)]
pub struct Config {
    /// Base URL of the payment service (`SKYCAMP_PAYMENT_URL`).
    pub payment_url: String,
    /// Timeout of one payment call (`SKYCAMP_PAYMENT_TIMEOUT_MS`).
    pub payment_timeout: Duration,
    /// Age after which a `PENDING_PAYMENT` reservation is reconciled (`SKYCAMP_PENDING_TIMEOUT_MS`);
    /// never less than twice the payment timeout, so a call still in flight is not raced.
    pub pending_timeout: Duration,
    /// Longest stay a campsite booking may have (`SKYCAMP_MAX_NIGHTS`).
    pub max_nights: i64,
    pub clock: Clock,
    /// The payment circuit breaker (`SKYCAMP_BREAKER_*`).
    pub breaker: payment_client::BreakerConfig,
    /// How long a paid reservation may wait for its inventory answer before it counts as stuck
    /// (`SKYCAMP_INVENTORY_DEADLINE_MS`).
    pub inventory_deadline: Duration,
    /// How long `Idempotency-Key`s are kept (`SKYCAMP_IDEMPOTENCY_RETENTION_HOURS`, at least 24).
    pub idempotency_retention: Duration,
}

/// Migrates the database, starts the relay, consumers and reconciler, and returns the HTTP routes.
pub async fn start(ctx: &Context, config: Config) -> anyhow::Result<axum::Router> {
    ctx.db.migrate(store::MIGRATIONS).await?;
    let waker = ctx.spawn_relay();
    let store = store::ReservationStore::new(ctx.db.clone(), waker);
    let payments = payment_client::PaymentClient::new(&config.payment_url, config.payment_timeout, config.breaker)?;
    let saga = Arc::new(events::SagaEvents::new(store.clone()));
    ctx.spawn_consumer("reservation-saga", &[topics::FLIGHT, topics::CAMPSITE, topics::PAYMENT], saga.clone());
    // Timeline notes from other services have their own group so saga steps never wait behind them.
    ctx.spawn_consumer("reservation-timeline", &[topics::MILEAGE, topics::NOTIFICATION], saga);
    let view_topics = &[topics::FLIGHT, topics::CAMPSITE, topics::REVIEW];
    ctx.spawn_consumer("reservation-view", view_topics, Arc::new(events::CatalogueView::new(store.clone())));
    let stale_after = config.pending_timeout.max(config.payment_timeout * 2);
    let every = (stale_after / 2).max(Duration::from_millis(200));
    ctx.tasks.spawn(reconcile::run(store.clone(), payments.clone(), stale_after, every, ctx.shutdown.clone()));
    let keys = skycamp_platform::idempotency::Keys::new(ctx.db.clone());
    ctx.tasks.spawn(expire_keys(keys.clone(), config.idempotency_retention, ctx.shutdown.clone()));
    ctx.tasks.spawn(reconcile::watch_stuck(store.clone(), config.inventory_deadline, ctx.shutdown.clone()));
    let state = http::AppState {
        store,
        payments,
        clock: config.clock,
        max_nights: config.max_nights,
        inventory_deadline: config.inventory_deadline,
    };
    Ok(http::router(state, keys))
}

/// Deletes idempotency keys older than `retention`, hourly.
async fn expire_keys(
    keys: skycamp_platform::idempotency::Keys,
    retention: Duration,
    shutdown: tokio_util::sync::CancellationToken,
) {
    loop {
        match keys.expire(skycamp_platform::time::now_millis(), retention.as_millis() as i64).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(expired = n, "idempotency keys expired"),
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "expiring idempotency keys failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}
