//! Runs a consumer group: poll the transport, hand each event to a [`Handler`], commit after it
//! it (and the rest of its batch) succeeded. A failing event is retried with backoff and never skipped, so order per key holds.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use backon::{BackoffBuilder, ExponentialBuilder};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::deadletter::DeadLetters;
use crate::events::{Delivery, Envelope, Transport};

/// Applies one event. Must be idempotent (use [`crate::inbox::claim`] in the effect's transaction).
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    /// Handles `event`; an error means "not handled, deliver again".
    async fn handle(&self, event: &Envelope) -> anyhow::Result<()>;

    /// Handles all of `events`, in order, in one transaction, where this handler can: `Ok(true)`
    /// when they all took effect, `Ok(false)` (the default) when it does not take these events
    /// together. On `Ok(false)` or an error nothing may have taken effect: the consumer then
    /// hands them over one at a time, with retries and dead letters as ever.
    async fn handle_all(&self, events: &[&Envelope]) -> anyhow::Result<bool> {
        let _ = events;
        Ok(false)
    }
}

/// How a consumer group runs.
pub struct Consumer {
    /// The service consuming (for spans).
    pub service: &'static str,
    pub group: &'static str,
    pub topics: &'static [&'static str],
    pub handler: Arc<dyn Handler>,
    /// Failures of one event before it is parked.
    pub max_attempts: u32,
    pub dead_letters: DeadLetters,
    /// The inbox retention: an event older than this is parked, never applied (see [`crate::inbox`]).
    pub retention: Duration,
}

#[cfg(test)]
impl Consumer {
    /// The platform's unit tests' group: `g` of service `test` on topic `t`, parking an event
    /// after three failures, with a week's inbox retention.
    pub(crate) fn for_tests(handler: Arc<dyn Handler>, dead_letters: DeadLetters) -> Self {
        Self {
            service: "test",
            group: "g",
            topics: &["t"],
            handler,
            max_attempts: 3,
            dead_letters,
            retention: Duration::from_secs(7 * 86_400),
        }
    }
}

/// Consumes until `shutdown`, retrying each failing event with backoff and parking it after
/// `max_attempts` failures.
pub async fn run(transport: Arc<dyn Transport>, consumer: Consumer, shutdown: CancellationToken) {
    let (group, topics) = (consumer.group, consumer.topics);
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
        // Each event has its own span, whether it is handled with its batch or on its own.
        let spans: Vec<tracing::Span> = batch.iter().map(|d| event_span(&consumer, &d.record.envelope)).collect();
        let mut handled = if handle_together(&consumer, &batch, &spans).await { batch.len() } else { 0 };
        for (delivery, span) in batch.iter().zip(spans).skip(handled) {
            if !handle_or_park(&consumer, delivery, &shutdown).instrument(span).await {
                break;
            }
            handled += 1;
        }
        // One commit per batch, after each event's inbox transaction: after a crash at most one
        // batch is delivered again, and the inbox makes that harmless.
        if handled > 0
            && let Err(e) = subscription.commit(&batch[..handled]).await
        {
            tracing::warn!(group, error = %format!("{e:#}"), "offset commit failed");
        }
    }
}

/// Offers a batch of several events to the handler to apply in one transaction (one commit
/// instead of one per event); true when it did. Never with an event too old for the inbox.
async fn handle_together(c: &Consumer, batch: &[Delivery], spans: &[tracing::Span]) -> bool {
    let now = crate::time::now_millis();
    if batch.len() < 2 || !batch.iter().all(|d| crate::inbox::within(&d.record.envelope, now, c.retention)) {
        return false;
    }
    let events: Vec<&Envelope> = batch.iter().map(|d| &d.record.envelope).collect();
    let span = tracing::info_span!(
        "events",
        otel.name = "batch process",
        otel.kind = "consumer",
        service = c.service,
        group = c.group,
        events = events.len()
    );
    let started = std::time::Instant::now();
    // What the batch emits about an event's subject continues that event's trace (the first
    // event's, when several are about one subject).
    let mut causes = crate::telemetry::Causes::new();
    for (d, event_span) in batch.iter().zip(spans) {
        causes.entry(d.record.envelope.subject.clone()).or_insert_with(|| crate::telemetry::traceparent_of(event_span));
    }
    match crate::telemetry::with_causes(causes, c.handler.handle_all(&events).instrument(span)).await {
        Ok(true) => {
            let each = started.elapsed().as_secs_f64() / events.len() as f64;
            for event in events {
                let labels = [("group", c.group.to_owned()), ("type", event.kind.clone())];
                metrics::histogram!(crate::metrics::EVENT_SECONDS, &labels).record(each);
            }
            true
        }
        Ok(false) => false,
        Err(e) => {
            tracing::debug!(group = c.group, error = %format!("{e:#}"), "a batch failed together; one at a time");
            false
        }
    }
}

/// The span one event's handling runs in: it continues the trace of the work that produced the
/// event, and carries the reservation id when the event is about a reservation.
fn event_span(c: &Consumer, event: &Envelope) -> tracing::Span {
    let span = tracing::info_span!(
        "event",
        otel.name = format!("{} process", event.kind),
        otel.kind = "consumer",
        service = c.service,
        group = c.group,
        event_type = %event.kind,
        subject = %event.subject,
        reservation_id = tracing::field::Empty,
    );
    crate::telemetry::continue_from_event(&span, event.traceparent.as_deref(), event.tracestate.as_deref());
    if let Some(id) = event.subject.strip_prefix("reservation/").and_then(|id| id.parse::<i64>().ok()) {
        span.record("reservation_id", id);
    }
    span
}

/// Handles `d`, retrying with backoff; parks it after `max_attempts` failures. Returns false
/// when shutdown interrupted (the event is then delivered again at the next start).
async fn handle_or_park(c: &Consumer, d: &Delivery, shutdown: &CancellationToken) -> bool {
    let mut backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(50))
        .with_max_delay(Duration::from_secs(5))
        .without_max_times()
        .with_jitter()
        .build();
    let event = &d.record.envelope;
    let group = c.group;
    if !crate::inbox::within(event, crate::time::now_millis(), c.retention) {
        // Handled before or not, its inbox entry may be gone: applying it could apply it twice.
        return park_unapplied(c, d, shutdown).await;
    }
    let mut attempts = 0;
    loop {
        let started = std::time::Instant::now();
        let labels = [("group", group.to_owned()), ("type", event.kind.clone())];
        let error = match c.handler.handle(event).await {
            Ok(()) => {
                metrics::histogram!(crate::metrics::EVENT_SECONDS, &labels).record(started.elapsed().as_secs_f64());
                return true;
            }
            Err(e) => {
                metrics::counter!(crate::metrics::EVENT_FAILURES, &labels).increment(1);
                format!("{e:#}")
            }
        };
        attempts += 1;
        if attempts >= c.max_attempts {
            match c.dead_letters.park(group, &d.record, &error, attempts).await {
                Ok(()) => {
                    tracing::error!(group, event_id = %event.id, event_type = %event.kind, %error, attempts, "event parked as a dead letter");
                    return true;
                }
                // Parking failed too (database down): keep retrying rather than lose the event.
                Err(e) => tracing::warn!(group, error = %format!("{e:#}"), "could not park a dead letter"),
            }
        } else {
            tracing::warn!(group, event_id = %event.id, event_type = %event.kind, %error, attempts, "event handling failed; retrying");
        }
        let delay = backoff.next().unwrap_or(Duration::from_secs(5));
        if sleep_or_cancel(delay, shutdown).await {
            return false;
        }
    }
}

/// Parks an event too old to apply, retrying while the database is unreachable. Returns false
/// when shutdown interrupted.
async fn park_unapplied(c: &Consumer, d: &Delivery, shutdown: &CancellationToken) -> bool {
    let event = &d.record.envelope;
    let why = format!(
        "event of {} is older than the inbox retention, so it is not applied: check by hand whether it was",
        event.time
    );
    loop {
        match c.dead_letters.park(c.group, &d.record, &why, 0).await {
            Ok(()) => {
                tracing::error!(group = c.group, event_id = %event.id, event_type = %event.kind, "event too old to apply; parked");
                return true;
            }
            Err(e) => tracing::warn!(group = c.group, error = %format!("{e:#}"), "could not park a dead letter"),
        }
        if sleep_or_cancel(Duration::from_secs(1), shutdown).await {
            return false;
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::events::Record;

    /// Records how events arrived: together (`handle_all`) or one at a time.
    struct Recorder {
        together: bool,
        seen: Mutex<Vec<String>>,
    }

    #[async_trait]
    impl Handler for Recorder {
        async fn handle(&self, event: &Envelope) -> anyhow::Result<()> {
            self.seen.lock().unwrap().push(format!("one {}", event.subject));
            Ok(())
        }

        async fn handle_all(&self, events: &[&Envelope]) -> anyhow::Result<bool> {
            anyhow::ensure!(self.together, "not today");
            let subjects: Vec<&str> = events.iter().map(|e| e.subject.as_str()).collect();
            self.seen.lock().unwrap().push(format!("all {}", subjects.join(",")));
            Ok(true)
        }
    }

    /// Publishes `envelopes` (in one append, so they are polled as one batch) and runs a consumer
    /// with `handler` on them until `done()`.
    async fn consume(envelopes: Vec<Envelope>, handler: Arc<dyn Handler>, done: impl Fn() -> bool) {
        let dir = tempfile::tempdir().unwrap();
        let log = crate::eventlog::EventLog::open(dir.path()).await.unwrap();
        let records: Vec<Record> =
            envelopes.into_iter().map(|e| Record { topic: "t".into(), key: e.subject.clone(), envelope: e }).collect();
        log.publish(&records).await.unwrap();
        let db = crate::db::Db::sqlite_in(dir.path(), "service.db").await.unwrap();
        db.migrate(&[crate::deadletter::MIGRATION]).await.unwrap();
        let consumer = Consumer::for_tests(handler, DeadLetters::new(db, Duration::from_secs(7 * 86_400)));
        let shutdown = CancellationToken::new();
        let running = tokio::spawn(run(Arc::new(log.clone()), consumer, shutdown.clone()));
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !done() {
            assert!(std::time::Instant::now() < deadline, "the consumer did not catch up");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        shutdown.cancel();
        running.await.unwrap();
    }

    async fn consume_three(together: bool) -> Vec<String> {
        let envelopes = (1..=3).map(|n| Envelope::new("t", "Thing", format!("{n}"), serde_json::json!({}))).collect();
        let handler = Arc::new(Recorder { together, seen: Mutex::default() });
        let handled = || handler.seen.lock().unwrap().iter().map(|s| s.split(',').count()).sum::<usize>() >= 3;
        consume(envelopes, handler.clone(), handled).await;
        handler.seen.lock().unwrap().clone()
    }

    #[tokio::test]
    async fn a_batch_goes_to_the_handler_together_when_it_takes_it() {
        assert_eq!(consume_three(true).await, ["all 1,2,3"]);
    }

    #[tokio::test]
    async fn a_batch_the_handler_fails_together_goes_one_event_at_a_time() {
        assert_eq!(consume_three(false).await, ["one 1", "one 2", "one 3"]);
    }

    /// Emits one event about each handled event's subject, and keeps what it emitted.
    struct Emitter {
        together: bool,
        emitted: Mutex<Vec<Envelope>>,
    }

    impl Emitter {
        fn emit(&self, cause: &Envelope) {
            let out = Envelope::new("t", "Caused", cause.subject.clone(), serde_json::json!({}));
            self.emitted.lock().unwrap().push(out);
        }
    }

    #[async_trait]
    impl Handler for Emitter {
        async fn handle(&self, event: &Envelope) -> anyhow::Result<()> {
            self.emit(event);
            Ok(())
        }

        async fn handle_all(&self, events: &[&Envelope]) -> anyhow::Result<bool> {
            if !self.together {
                return Ok(false);
            }
            events.iter().for_each(|e| self.emit(e));
            Ok(true)
        }
    }

    /// Three events of three traces (three bookings) polled in one batch: what handling each
    /// emits continues that event's trace, whether the batch was handled together or not.
    async fn traces_followed(together: bool) {
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        use opentelemetry::trace::TracerProvider as _;
        use tracing_subscriber::layer::SubscriberExt as _;
        let subscriber =
            tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        let _default = tracing::subscriber::set_default(subscriber);

        let trace = |n: usize| format!("{n:032x}");
        let envelopes = (1..=3)
            .map(|n| {
                let mut envelope = Envelope::new("t", "Thing", format!("thing/{n}"), serde_json::json!({}));
                envelope.traceparent = Some(format!("00-{}-{:016x}-01", trace(n), n));
                envelope
            })
            .collect();
        let handler = Arc::new(Emitter { together, emitted: Mutex::default() });
        consume(envelopes, handler.clone(), || handler.emitted.lock().unwrap().len() >= 3).await;
        for out in handler.emitted.lock().unwrap().iter() {
            let n: usize = out.subject.strip_prefix("thing/").unwrap().parse().unwrap();
            let traceparent = out.traceparent.as_deref().expect("a trace context");
            assert_eq!(&traceparent[3..35], trace(n), "{} emitted in the trace of its cause", out.subject);
        }
    }

    #[tokio::test]
    async fn events_emitted_by_a_batch_continue_the_trace_of_their_cause() {
        traces_followed(true).await;
    }

    #[tokio::test]
    async fn events_emitted_one_at_a_time_continue_the_trace_of_their_cause() {
        traces_followed(false).await;
    }
}
