//! The notification service: one message to the customer per reservation status change
//! (confirmed, rejected, cancelled, refunded). A message is stored exactly once per causing event
//! (with `NotificationSent`, in one transaction), then delivered by a [`sender::Sender`]: the log
//! by default, or a webhook (`SKYCAMP_NOTIFY_WEBHOOK_URL`). Delivery retries until it succeeds.
#![forbid(unsafe_code)]

pub mod domain;
pub mod sender;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use skycamp_contracts::customer::Phone;
use skycamp_contracts::payment::{self as pev, PaymentEvent};
use skycamp_contracts::reservation::{self as rev, ReservationEvent};
use skycamp_contracts::topics;
use skycamp_platform::Envelope;
use skycamp_platform::consumer::Handler;
use skycamp_platform::http::{ApiError, Query};
use skycamp_platform::paging::Page;
use skycamp_platform::service::Context;

use crate::sender::Sender;
use crate::store::{Message, NotificationStore};

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
    ctx.spawn_consumer(
        "notification",
        &[topics::RESERVATION, topics::PAYMENT],
        Arc::new(Events { store: store.clone() }),
    );
    ctx.tasks.spawn(store.clone().deliver(sender, ctx.shutdown.clone()));
    Ok(Router::new().route("/messages", get(list)).with_state(store))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    phone: Option<String>,
}

/// `GET /messages?phone=…`: a customer's messages, newest first, a page at a time.
async fn list(
    State(store): State<NotificationStore>,
    Query(q): Query<ListQuery>,
    page: Page,
) -> Result<Response, ApiError> {
    let raw = q.phone.ok_or_else(|| ApiError::unprocessable("phone is required"))?;
    let phone = Phone::parse(&raw).map_err(|e| ApiError::unprocessable(e.to_string()))?;
    let messages: Vec<Message> = store.list(phone.as_str(), page.cursor_id()?, page.fetch()).await?;
    Ok(page.answer(messages, |m| m.id.to_string()))
}

struct Events {
    store: NotificationStore,
}

#[async_trait]
impl Handler for Events {
    async fn handle(&self, event: &Envelope) -> anyhow::Result<()> {
        let draft = match event.kind.as_str() {
            rev::RESERVATION_CONFIRMED | rev::RESERVATION_REJECTED | rev::RESERVATION_CANCELLED => {
                domain::for_reservation(&event.kind, &event.payload::<ReservationEvent>()?)
            }
            pev::PAYMENT_CANCELLED => Some(domain::for_refund(&event.payload::<PaymentEvent>()?)),
            _ => None,
        };
        match draft {
            Some(d) => self.store.record(&event.id, &d).await,
            None => Ok(()),
        }
    }
}
