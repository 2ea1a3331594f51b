//! Runs a consumer group: poll the transport, hand each event to a [`Handler`], commit after it
//! it (and the rest of its batch) succeeded. A failing event is retried with backoff and never skipped, so order per key holds.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use backon::{BackoffBuilder, ExponentialBuilder};
use tokio_util::sync::CancellationToken;

use crate::events::{Delivery, Envelope, Transport};

/// Applies one event. Must be idempotent (use [`crate::inbox::claim`] in the effect's transaction).
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    /// Handles `event`; an error means "not handled, deliver again".
    async fn handle(&self, event: &Envelope) -> anyhow::Result<()>;
}

/// Consumes `topics` as `group` until `shutdown`, retrying each failing event with backoff.
pub async fn run(
    transport: Arc<dyn Transport>,
    group: &'static str,
    topics: &'static [&'static str],
    handler: Arc<dyn Handler>,
    shutdown: CancellationToken,
) {
    let mut subscription = loop {
        match transport.subscribe(group, topics).await {
            Ok(s) => break s,
            Err(e) => {
                tracing::warn!(group, error = %format!("{e:#}"), "cannot subscribe yet");
                if sleep_or_cancel(Duration::from_secs(1), &shutdown).await {
                    return;
                }
            }
        }
    };
    while !shutdown.is_cancelled() {
        let batch = tokio::select! {
            b = subscription.poll() => b,
            _ = shutdown.cancelled() => return,
        };
        let batch = match batch {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(group, error = %format!("{e:#}"), "poll failed");
                if sleep_or_cancel(Duration::from_millis(500), &shutdown).await {
                    return;
                }
                continue;
            }
        };
        let mut handled = None;
        for delivery in &batch {
            if !handle_until_done(group, handler.as_ref(), delivery, &shutdown).await {
                break;
            }
            handled = Some(delivery);
        }
        // One commit per batch: after a crash at most one batch is delivered again, and the
        // inbox makes that harmless.
        if let Some(last) = handled
            && let Err(e) = subscription.commit(last).await
        {
            tracing::warn!(group, error = %format!("{e:#}"), "offset commit failed");
        }
    }
}

/// Returns false when shutdown interrupted the retries.
async fn handle_until_done(group: &str, handler: &dyn Handler, d: &Delivery, shutdown: &CancellationToken) -> bool {
    let mut backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(50))
        .with_max_delay(Duration::from_secs(5))
        .without_max_times()
        .with_jitter()
        .build();
    let event = &d.record.envelope;
    loop {
        match handler.handle(event).await {
            Ok(()) => return true,
            Err(e) => {
                tracing::warn!(group, event_id = %event.id, event_type = %event.kind, error = %format!("{e:#}"), "event handling failed; retrying");
                let delay = backoff.next().unwrap_or(Duration::from_secs(5));
                if sleep_or_cancel(delay, shutdown).await {
                    return false;
                }
            }
        }
    }
}

/// Sleeps; returns true if cancelled first.
async fn sleep_or_cancel(d: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => false,
        _ = shutdown.cancelled() => true,
    }
}
