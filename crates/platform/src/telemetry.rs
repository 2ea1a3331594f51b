//! Logs and traces. Logs are JSON lines on stderr, filtered by `SKYCAMP_LOG` / `--log-level`
//! (tracing's filter syntax); each line inside a request or an event's handling carries the
//! W3C `trace_id` and `span_id`, and the fields of the spans around it (the service, the route,
//! the reservation id where there is one), so one booking is followed with one `grep`.
//!
//! Traces: every request and every event handled is a span (tracing-opentelemetry over the
//! OpenTelemetry SDK). The W3C trace context comes in with a request's `traceparent` header
//! ([`continue_from_headers`]), goes out on every call to another service ([`headers`]) and rides
//! in every event envelope as the CloudEvents distributed-tracing extension ([`traceparent`],
//! [`continue_from_event`]), so a booking's gateway request, payment call and the consumers its
//! events wake are one trace. Spans leave the process over OTLP/HTTP only when an endpoint is
//! given (`SKYCAMP_OTLP_ENDPOINT`); without one, ids are still made (for the logs and the
//! context passed on) and spans are dropped as they end.

use std::collections::HashMap;

use axum::http::HeaderMap;
use opentelemetry::propagation::{Extractor, TextMapPropagator as _};
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing::{Level, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// The process's tracing set-up; [`Telemetry::shutdown`] sends the spans still buffered.
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Telemetry {
    /// Exports what is buffered (when exporting) and stops the exporter.
    pub fn shutdown(self) {
        if let Err(e) = self.provider.shutdown() {
            tracing::debug!(error = %e, "span exporter shutdown");
        }
    }
}

/// Installs logging and tracing for this process, once; later calls (tests start many platforms
/// in one process) change nothing. `otlp_endpoint` is an OTLP/HTTP base URL such as
/// `http://collector:4318`; spans go to its `/v1/traces`. `service_name` names this process in
/// the exported resource.
pub fn init(level: &str, otlp_endpoint: Option<&str>, service_name: &str) -> anyhow::Result<Telemetry> {
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let resource = opentelemetry_sdk::Resource::builder().with_service_name(service_name.to_owned()).build();
    let mut builder = SdkTracerProvider::builder()
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
        .with_resource(resource);
    if let Some(endpoint) = otlp_endpoint {
        use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
            .with_headers(HashMap::new())
            .build()?;
        builder = builder.with_batch_exporter(exporter);
    }
    let provider = builder.build();
    // Spans of the services' own request and event handling (INFO and above) become trace spans;
    // warnings and errors inside them become span events. Log filtering does not touch this.
    let spans = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("skycamp"))
        .with_tracked_inactivity(false)
        .with_threads(false)
        .with_location(false);
    let mut logs = json_subscriber::fmt::layer()
        .with_current_span(false)
        .with_flat_span_list(true)
        .with_writer(std::io::stderr as fn() -> std::io::Stderr);
    logs.inner_layer_mut().add_multiple_dynamic_fields(|event, context, writer| {
        let Some(span) = context.event_span(event) else { return };
        let Some(otel) =
            tracing::dispatcher::get_default(|dispatch| tracing_opentelemetry::get_otel_context(&span.id(), dispatch))
        else {
            return;
        };
        let otel_span = otel.span();
        let ids = otel_span.span_context();
        if ids.is_valid() {
            let _ = writer.write_field("trace_id", ids.trace_id().to_string());
            let _ = writer.write_field("span_id", ids.span_id().to_string());
        }
    });
    // Another subscriber already installed (a second platform in one test process) is fine.
    let _ = tracing_subscriber::registry().with(Wanted(filter)).with(spans).with(logs).try_init();
    Ok(Telemetry { provider })
}

/// The one, global filter: the log filter, and Skycamp's own spans whatever it says, so a warning
/// logged inside a request still carries the request's trace id and fields and every request is
/// traced. (Per-layer filters were tried and lost spans on some threads: a library's `enabled!`
/// checks left their per-thread state behind, so later spans went missing for one layer.)
struct Wanted(EnvFilter);

impl<S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>> tracing_subscriber::Layer<S>
    for Wanted
{
    fn register_callsite(&self, meta: &'static tracing::Metadata<'static>) -> tracing::subscriber::Interest {
        if meta.is_span() && ours(meta) {
            tracing::subscriber::Interest::always()
        } else {
            tracing_subscriber::Layer::<S>::register_callsite(&self.0, meta)
        }
    }
    fn enabled(&self, meta: &tracing::Metadata<'_>, cx: tracing_subscriber::layer::Context<'_, S>) -> bool {
        (meta.is_span() && ours(meta)) || tracing_subscriber::Layer::<S>::enabled(&self.0, meta, cx)
    }
    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        let env = tracing_subscriber::Layer::<S>::max_level_hint(&self.0)?;
        Some(env.max(tracing::level_filters::LevelFilter::INFO))
    }
    fn on_new_span(
        &self,
        a: &tracing::span::Attributes<'_>,
        id: &tracing::Id,
        cx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        self.0.on_new_span(a, id, cx);
    }
    fn on_record(
        &self,
        id: &tracing::Id,
        v: &tracing::span::Record<'_>,
        cx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        self.0.on_record(id, v, cx);
    }
    fn on_enter(&self, id: &tracing::Id, cx: tracing_subscriber::layer::Context<'_, S>) {
        self.0.on_enter(id, cx);
    }
    fn on_exit(&self, id: &tracing::Id, cx: tracing_subscriber::layer::Context<'_, S>) {
        self.0.on_exit(id, cx);
    }
    fn on_close(&self, id: tracing::Id, cx: tracing_subscriber::layer::Context<'_, S>) {
        self.0.on_close(id, cx);
    }
}

/// Skycamp's own spans at INFO and above (requests, handled events); libraries' spans (sqlx's,
/// hyper's) are neither traced nor logged.
fn ours(meta: &tracing::Metadata<'_>) -> bool {
    *meta.level() <= Level::INFO && meta.target().starts_with("skycamp")
}

/// Reads a W3C trace context from HTTP headers.
struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// Makes `span` continue the trace a request's `traceparent` names (when it names a valid one).
pub fn continue_from_headers(span: &Span, headers: &HeaderMap) {
    let parent = TraceContextPropagator::new().extract(&Headers(headers));
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
}

/// Makes `span` continue the trace an event's `traceparent` (and `tracestate`) name.
pub fn continue_from_event(span: &Span, traceparent: Option<&str>, tracestate: Option<&str>) {
    let Some(traceparent) = traceparent else { return };
    let mut carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    if let Some(state) = tracestate {
        carrier.insert("tracestate".to_owned(), state.to_owned());
    }
    let parent = TraceContextPropagator::new().extract(&carrier);
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
}

/// The current span's trace context as `traceparent` and `tracestate` values; empty outside any
/// traced span.
pub fn current() -> HashMap<String, String> {
    carrier_of(&Span::current())
}

/// `span`'s trace context as `traceparent` and `tracestate` values.
fn carrier_of(span: &Span) -> HashMap<String, String> {
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&span.context(), &mut carrier);
    carrier
}

/// The current span's W3C `traceparent` and `tracestate`, for an event envelope.
pub fn traceparent() -> (Option<String>, Option<String>) {
    traceparent_of(&Span::current())
}

/// `span`'s W3C `traceparent` and `tracestate`.
pub fn traceparent_of(span: &Span) -> (Option<String>, Option<String>) {
    let mut carrier = carrier_of(span);
    (carrier.remove("traceparent"), carrier.remove("tracestate").filter(|s| !s.is_empty()))
}

/// Trace contexts by event subject (`traceparent`, `tracestate`).
pub type Causes = HashMap<String, (Option<String>, Option<String>)>;

tokio::task_local! {
    /// While a consumer applies a batch of events in one go: each event's subject and the trace
    /// context of that event's own span. An event emitted about the same subject (the saga's
    /// events are all about one reservation) continues the trace of the event that caused it,
    /// not a trace of the batch, so one booking stays one trace however its events were polled.
    static CAUSES: Causes;
}

/// Runs `work` with `causes` as the trace contexts of the events it emits ([`for_subject`]).
pub async fn with_causes<F: std::future::Future>(causes: Causes, work: F) -> F::Output {
    CAUSES.scope(causes, work).await
}

/// The trace context for an event about `subject`: the causing event's, inside
/// [`with_causes`], else the current span's.
pub fn for_subject(subject: &str) -> (Option<String>, Option<String>) {
    CAUSES.try_with(|causes| causes.get(subject).cloned()).ok().flatten().unwrap_or_else(traceparent)
}

/// Puts the current trace context into `headers` (`traceparent`, `tracestate`), replacing any
/// there: what a proxy does to each request it passes on, without building a map for it.
pub fn inject(headers: &mut HeaderMap) {
    struct Into<'a>(&'a mut HeaderMap);
    impl opentelemetry::propagation::Injector for Into<'_> {
        fn set(&mut self, key: &str, value: String) {
            if let (Ok(name), Ok(value)) =
                (axum::http::HeaderName::from_bytes(key.as_bytes()), axum::http::HeaderValue::try_from(value))
            {
                self.0.insert(name, value);
            }
        }
    }
    TraceContextPropagator::new().inject_context(&Span::current().context(), &mut Into(headers));
}

/// The headers that carry the current trace context to another service.
pub fn headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    inject(&mut headers);
    headers
}
