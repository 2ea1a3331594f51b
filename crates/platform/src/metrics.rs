//! Metrics in the Prometheus text format, at `/metrics` on every service's port
//! (metrics + metrics-exporter-prometheus). Every name starts with `skycamp_`, uses base units
//! (`_seconds`) and `_total` for counters, and no label takes an unbounded value: routes are
//! templates (`/reservations/{id}`), never paths; statuses are classes (`2xx`); no phone number
//! or id is ever a label. [`NAMES`] lists every metric; docs/OPERATIONS.md says what each means.
//!
//! The recorder is one per process: where several services share a process (`skycamp up`),
//! each `/metrics` answers the same registry and the `service` label tells them apart, so
//! Prometheus should scrape one port of such a process (see deploy/prometheus).
//!
//! Gauges of things stored elsewhere (outbox backlog, dead letters, database pool) are sampled
//! every [`SAMPLE_EVERY`], consumer lag every [`LAG_EVERY`], by [`sample_forever`]; counters and histograms are recorded
//! where things happen.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// How often stored quantities (backlogs, dead letters, pools) are sampled into gauges.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// How often consumer lag is sampled: on Kafka each look is a client of its own and a metadata,
/// watermark and offset round trip per group, which every instance makes.
pub const LAG_EVERY: Duration = Duration::from_secs(30);

/// Every metric the services export, with its type (see docs/OPERATIONS.md).
pub const NAMES: &[(&str, &str)] = &[
    (REQUESTS, "counter"),
    (REQUEST_SECONDS, "histogram"),
    (BOOKINGS, "counter"),
    (SAGA_SECONDS, "histogram"),
    (OUTBOX_BACKLOG, "gauge"),
    (OUTBOX_PUBLISH_SECONDS, "histogram"),
    (CONSUMER_LAG, "gauge"),
    (EVENT_SECONDS, "histogram"),
    (EVENT_FAILURES, "counter"),
    (DEAD_LETTERS, "gauge"),
    (DEAD_LETTERS_PARKED, "counter"),
    (STUCK_SAGAS, "gauge"),
    (BREAKER_STATE, "gauge"),
    (BREAKER_TRANSITIONS, "counter"),
    (IDEMPOTENT_REPLAYS, "counter"),
    (DB_CONNECTIONS, "gauge"),
    (LOGIN_FAILURES, "counter"),
];

/// Requests answered, by `service`, `method`, `route` (template) and `status` (class).
pub const REQUESTS: &str = "skycamp_http_requests_total";
/// Time to answer a request, same labels.
pub const REQUEST_SECONDS: &str = "skycamp_http_request_duration_seconds";
/// Bookings by `kind` (`flight`, `campsite`) and `outcome` (`placed`, `confirmed`, `rejected`, `cancelled`).
pub const BOOKINGS: &str = "skycamp_bookings_total";
/// Time from a booking being placed to its saga's end, by `kind` and `outcome` (`confirmed`, `rejected`).
pub const SAGA_SECONDS: &str = "skycamp_saga_duration_seconds";
/// Events written to a service's outbox and not yet published, by `service`.
pub const OUTBOX_BACKLOG: &str = "skycamp_outbox_backlog";
/// Time from an event being written to the outbox to its publication, by `service`.
pub const OUTBOX_PUBLISH_SECONDS: &str = "skycamp_outbox_publish_delay_seconds";
/// Events on a topic a consumer group has not handled yet, by `group` and `topic`.
pub const CONSUMER_LAG: &str = "skycamp_consumer_lag_events";
/// Time to handle one event, by `group` and `type` (successful handlings only).
pub const EVENT_SECONDS: &str = "skycamp_event_handling_duration_seconds";
/// Failed attempts to handle an event (it is retried), by `group` and `type`.
pub const EVENT_FAILURES: &str = "skycamp_event_handling_failures_total";
/// Events parked as dead letters and not yet replayed or dropped, by `service`.
pub const DEAD_LETTERS: &str = "skycamp_dead_letters";
/// Events parked as dead letters, by `group`.
pub const DEAD_LETTERS_PARKED: &str = "skycamp_dead_letters_parked_total";
/// Sagas past their deadline that need an operator, by `kind`.
pub const STUCK_SAGAS: &str = "skycamp_stuck_sagas";
/// A circuit breaker's state: 1 for the `state` it is in, 0 for the others, by `breaker`.
pub const BREAKER_STATE: &str = "skycamp_circuit_breaker_state";
/// A circuit breaker's state changes, by `breaker` and the state it went `to`.
pub const BREAKER_TRANSITIONS: &str = "skycamp_circuit_breaker_transitions_total";
/// Requests answered from the `Idempotency-Key` store instead of being run again, by `service`.
pub const IDEMPOTENT_REPLAYS: &str = "skycamp_idempotent_replays_total";
/// Database pool connections by `service` and `state` (`in_use`, `idle`).
pub const DB_CONNECTIONS: &str = "skycamp_db_pool_connections";
/// Failed sign-ins by `reason` (`wrong_password`, `unknown_login`, `locked`).
pub const LOGIN_FAILURES: &str = "skycamp_login_failures_total";

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process's recorder (once; later calls return the same handle). Until it is
/// installed, recording a metric costs next to nothing and goes nowhere.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let seconds = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
    let sagas = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0];
    let recorder = PrometheusBuilder::new()
        .set_buckets(&seconds)?
        .set_buckets_for_metric(Matcher::Full(SAGA_SECONDS.into()), &sagas)?
        .set_buckets_for_metric(Matcher::Full(OUTBOX_PUBLISH_SECONDS.into()), &sagas)?
        .build_recorder();
    let handle = recorder.handle();
    let handle = HANDLE.get_or_init(|| {
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder was installed first");
        }
        // Histograms buffer samples until upkeep folds them into buckets: do it even if no one scrapes.
        let upkeep = handle.clone();
        let _ = std::thread::Builder::new().name("metrics-upkeep".into()).spawn(move || {
            loop {
                std::thread::sleep(SAMPLE_EVERY);
                upkeep.run_upkeep();
            }
        });
        handle
    });
    Ok(handle.clone())
}

/// `GET /metrics`: the process's metrics in the Prometheus text format.
pub fn routes(handle: PrometheusHandle) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move {
                let mut response = handle.render().into_response();
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
                response
            }
        }),
    )
}

/// A route template a handler names for the request metrics when the router's own match says
/// nothing useful (the gateway's catch-all proxy); put it in the response's extensions.
#[derive(Debug, Clone)]
pub struct RouteLabel(pub std::sync::Arc<str>);

/// The request metrics of one service's router: its name, and the counter and histogram of each
/// (route, method, status class) it has seen, so a request looks its handles up by the route's
/// `&str` instead of building four label strings and a registry key (which cost about a tenth of
/// a cheap read's CPU). Routes are templates, so the set stays small.
#[derive(Clone)]
pub struct Observer {
    service: &'static str,
    handles: std::sync::Arc<std::sync::RwLock<std::collections::HashMap<Box<str>, Vec<RouteHandles>>>>,
}

struct RouteHandles {
    method: &'static str,
    status: &'static str,
    count: metrics::Counter,
    seconds: metrics::Histogram,
}

impl Observer {
    pub fn new(service: &'static str) -> Self {
        Self { service, handles: Default::default() }
    }

    fn record(&self, route: &str, method: &'static str, status: &'static str, seconds: f64) {
        let known = |all: &std::collections::HashMap<Box<str>, Vec<RouteHandles>>| {
            let h = all.get(route)?.iter().find(|h| h.method == method && h.status == status)?;
            h.count.increment(1);
            h.seconds.record(seconds);
            Some(())
        };
        if known(&self.handles.read().unwrap_or_else(std::sync::PoisonError::into_inner)).is_some() {
            return;
        }
        let labels = [
            ("service", self.service.to_owned()),
            ("method", method.to_owned()),
            ("route", route.to_owned()),
            ("status", status.to_owned()),
        ];
        let h = RouteHandles {
            method,
            status,
            count: metrics::counter!(REQUESTS, &labels),
            seconds: metrics::histogram!(REQUEST_SECONDS, &labels),
        };
        h.count.increment(1);
        h.seconds.record(seconds);
        let mut all = self.handles.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let same = all.entry(route.into()).or_default();
        if !same.iter().any(|known| known.method == method && known.status == status) {
            same.push(h);
        }
    }
}

/// Counts and times every request by route template and status class: a plain tower layer,
/// not `axum::middleware::from_fn`, which clones the whole inner route stack per request (that
/// clone, not the counting, was most of what metrics cost a cheap read).
#[derive(Clone)]
pub struct ObserveLayer(pub Observer);

impl<S> tower::Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Observe<S> {
        Observe { inner, observer: self.0.clone() }
    }
}

/// The service [`ObserveLayer`] makes.
#[derive(Clone)]
pub struct Observe<S> {
    inner: S,
    observer: Observer,
}

impl<S> tower::Service<Request> for Observe<S>
where
    S: tower::Service<Request, Response = Response> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = futures::future::BoxFuture<'static, Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let started = Instant::now();
        let method = method_label(request.method());
        let matched = request.extensions().get::<MatchedPath>().cloned();
        let answer = self.inner.call(request);
        let observer = self.observer.clone();
        Box::pin(async move {
            let response = answer.await?;
            let route = match (response.extensions().get::<RouteLabel>(), &matched) {
                (Some(label), _) => &*label.0,
                (None, Some(path)) => path.as_str(),
                (None, None) => "other",
            };
            observer.record(route, method, status_class(response.status()), started.elapsed().as_secs_f64());
            Ok(response)
        })
    }
}

fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// Sets a circuit breaker's state gauge: 1 for `state`, 0 for the other two.
pub fn breaker_state(breaker: &'static str, state: &'static str) {
    for s in ["closed", "open", "half_open"] {
        metrics::gauge!(BREAKER_STATE, "breaker" => breaker, "state" => s).set(if s == state { 1.0 } else { 0.0 });
    }
}

/// What one service's sampler looks at.
pub struct Sampled {
    pub service: &'static str,
    pub db: crate::Db,
    /// Whether the service has an outbox and dead letters (every one but the account service).
    pub eventful: bool,
}

/// Samples the stored quantities into gauges every [`SAMPLE_EVERY`] until `shutdown`: each
/// service's outbox backlog, dead letters and pool, and each consumer group's lag per topic.
pub async fn sample_forever(
    services: Vec<Sampled>,
    transport: std::sync::Arc<dyn crate::Transport>,
    groups: crate::service::Groups,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut lag_sampled: Option<std::time::Instant> = None;
    loop {
        for s in &services {
            let pool = s.db.pool();
            let idle = pool.num_idle() as f64;
            let size = f64::from(pool.size());
            metrics::gauge!(DB_CONNECTIONS, "service" => s.service, "state" => "in_use").set((size - idle).max(0.0));
            metrics::gauge!(DB_CONNECTIONS, "service" => s.service, "state" => "idle").set(idle);
            if !s.eventful {
                continue;
            }
            if let Ok(n) = crate::outbox::pending(&s.db).await {
                metrics::gauge!(OUTBOX_BACKLOG, "service" => s.service).set(n as f64);
            }
            if let Ok(n) = crate::deadletter::parked(&s.db).await {
                metrics::gauge!(DEAD_LETTERS, "service" => s.service).set(n as f64);
            }
        }
        if lag_sampled.is_none_or(|at| at.elapsed() >= LAG_EVERY) {
            lag_sampled = Some(std::time::Instant::now());
            let groups = groups.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
            for (group, topics) in groups {
                if let Ok(lags) = transport.lag_by_topic(group, topics).await {
                    for (topic, lag) in topics.iter().zip(lags) {
                        metrics::gauge!(CONSUMER_LAG, "group" => group, "topic" => *topic).set(lag as f64);
                    }
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(SAMPLE_EVERY) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_conventions() {
        for (name, kind) in NAMES {
            assert!(name.starts_with("skycamp_"), "{name}");
            match *kind {
                "counter" => assert!(name.ends_with("_total"), "{name}"),
                "histogram" => assert!(name.ends_with("_seconds"), "{name}"),
                _ => assert!(!name.ends_with("_total"), "{name}"),
            }
        }
    }

    #[test]
    fn statuses_are_classes() {
        assert_eq!(status_class(StatusCode::CREATED), "2xx");
        assert_eq!(status_class(StatusCode::PAYMENT_REQUIRED), "4xx");
        assert_eq!(status_class(StatusCode::BAD_GATEWAY), "5xx");
    }
}
