//! The notification service: one message to the customer per reservation status change
//! (confirmed, rejected, cancelled, refunded). A message is stored exactly once per causing event
//! (with `NotificationSent`, in one transaction), then delivered by a [`sender::Sender`]: the log
//! by default, or a webhook (`SKYCAMP_NOTIFY_WEBHOOK_URL`). Delivery retries until it succeeds.
//!
//! - [`domain`]: message texts (no I/O).
//! - [`store`]: messages and their delivery state.
//! - [`sender`]: where messages go (the log, a webhook).
//! - [`events`]: consumes reservation and payment events into messages.
//! - [`http`]: `GET /messages`.
#![forbid(unsafe_code)]

pub mod domain;
pub mod events;
pub mod http;
pub mod sender;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use skycamp_contracts::topics;
use skycamp_platform::service::Context;

use crate::sender::Sender;
use crate::store::NotificationStore;

/// Settings of the notification service.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Deliver to this URL as JSON POSTs instead of to the log (`SKYCAMP_NOTIFY_WEBHOOK_URL`).
    pub webhook_url: Option<String>,
}

/// Migrates the database, starts the relay, consumer and delivery worker, returns the routes.
pub async fn start(ctx: &Context, config: Config) -> anyhow::Result<Router> {
    ctx.db.migrate(store::MIGRATIONS).await?;
    let waker = ctx.spawn_relay();
    let store = NotificationStore::new(ctx.db.clone(), waker);
    let sender: Arc<dyn Sender> = match &config.webhook_url {
        Some(url) => Arc::new(sender::Webhook::new(url, Duration::from_secs(5))?),
        None => Arc::new(sender::Log),
    };
    let events = Arc::new(events::StatusEvents::new(store.clone()));
    ctx.spawn_consumer("notification", &[topics::RESERVATION, topics::PAYMENT], events);
    ctx.spawn_worker("message delivery", store.clone().deliver(sender, ctx.shutdown.clone()));
    Ok(http::router(store))
}
