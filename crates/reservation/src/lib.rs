//! The reservation service: customers book and cancel; the booking saga is coordinated here.
//! Also owns the customer-facing read models `flightStatuses` and `campsiteStatuses`, built only
//! from events.
//!
//! - [`domain`]: values (phone, seat count, stay dates), catalogue checks, the saga state machine.
//! - [`store`]: the SQL adapter: the saga's reservations and steps, and the read models.
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
    /// never less than twice the payment timeout, so a call still in flight is not raced, nor
    /// before a keyed booking's retry could resume it.
    pub pending_timeout: Duration,
    /// Longest stay a campsite booking may have (`SKYCAMP_MAX_NIGHTS`).
    pub max_nights: i64,
    pub clock: Clock,
    /// The payment circuit breaker (`SKYCAMP_BREAKER_*`).
    pub breaker: payment_client::BreakerConfig,
    /// How long a paid reservation may wait for its inventory answer before it counts as stuck
    /// (`SKYCAMP_INVENTORY_DEADLINE_MS`).
    pub inventory_deadline: Duration,
    /// The key charges are signed with (`SKYCAMP_INTERNAL_KEY`).
    pub internal_key: skycamp_platform::internal::InternalKey,
}

/// Migrates the database, starts the relay, consumers and reconciler, and returns the HTTP routes.
pub async fn start(ctx: &Context, config: Config) -> anyhow::Result<axum::Router> {
    ctx.db.migrate(store::MIGRATIONS).await?;
    let waker = ctx.spawn_relay();
    let store = store::ReservationStore::new(ctx.db.clone(), waker, config.clock.clone());
    // `campsiteStatuses` without dates shows the next two weeks from today.
    let today = config.clock.clone();
    let answers = skycamp_platform::answers::Answers::varying_with(move || today.today().to_string());
    let catalogue = store::CatalogueStore::new(ctx.db.clone(), answers.clone());
    if let Some(listen) = ctx.db.on_notify(store::CATALOGUE_CHANGED, ctx.shutdown.clone(), move || answers.changed()) {
        ctx.spawn_worker("catalogue change listener", listen);
    }
    let payments = payment_client::PaymentClient::new(
        &config.payment_url,
        config.payment_timeout,
        config.breaker,
        config.internal_key.clone(),
    )?;
    // The funnel's counters start at 0, so the first booking shows in `increase()`.
    for kind in ["flight", "campsite"] {
        for outcome in ["placed", "paid", "confirmed", "rejected", "cancelled"] {
            metrics::counter!(skycamp_platform::metrics::BOOKINGS, "kind" => kind, "outcome" => outcome).absolute(0);
        }
        metrics::gauge!(skycamp_platform::metrics::STUCK_SAGAS, "kind" => kind).set(0.0);
    }
    let saga = Arc::new(events::SagaEvents::new(store.clone()));
    ctx.spawn_consumer("reservation-saga", &[topics::FLIGHT, topics::CAMPSITE, topics::PAYMENT], saga.clone());
    // Timeline notes from other services have their own group so saga steps never wait behind them.
    ctx.spawn_consumer("reservation-timeline", &[topics::MILEAGE, topics::NOTIFICATION], saga);
    let view_topics = &[topics::FLIGHT, topics::CAMPSITE, topics::REVIEW];
    ctx.spawn_consumer("reservation-view", view_topics, Arc::new(events::CatalogueView::new(catalogue.clone())));
    // Never before a keyed booking's retry could have resumed it: the dead worker's lease runs out,
    // then the retry's own payment call.
    let resumable = skycamp_platform::idempotency::LEASE + config.payment_timeout + Duration::from_secs(1);
    let stale_after = config.pending_timeout.max(config.payment_timeout * 2).max(resumable);
    let every = (stale_after / 2).max(Duration::from_millis(200));
    ctx.spawn_worker(
        "payment reconciler",
        reconcile::run(store.clone(), payments.clone(), stale_after, every, ctx.shutdown.clone()),
    );
    let keys = ctx.idempotency_keys();
    ctx.spawn_worker(
        "stuck saga watch",
        reconcile::watch_stuck(store.clone(), config.inventory_deadline, ctx.shutdown.clone()),
    );
    let state = http::AppState::new(http::Shared {
        store,
        catalogue,
        payments,
        clock: config.clock,
        max_nights: config.max_nights,
        inventory_deadline: config.inventory_deadline,
    });
    Ok(http::router(state, keys))
}
