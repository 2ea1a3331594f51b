//! The typed client for the payment service's synchronous API.
//!
//! Every call has the timeout set in the constructor and goes through one circuit breaker
//! (tower-resilience, time-based window): connection failures, timeouts and 5xx answers count as
//! failures, and calls slower than the slow-call threshold count as slow even when they succeed,
//! so an overloaded payment service opens the breaker as a dead one does. A decline (402) is an
//! answer, not a failure. The breaker judges once the window holds the minimum number of calls
//! (not only when a count-based window is full). While it is open, calls fail at once with
//! [`PaymentError::CircuitOpen`] without reaching the payment service; after the open period a
//! few probe calls decide whether it closes again.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use serde::Serialize;
use skycamp_contracts::payment::{ApprovePayment, Payment};
use skycamp_platform::endpoints::{Endpoints, Retry};
use skycamp_platform::internal::{InternalKey, SIGNATURE_HEADER};
use tower::ServiceExt as _;
use tower::util::BoxCloneSyncService;
use tower_resilience::circuitbreaker::{
    CircuitBreakerError, CircuitBreakerLayer, CircuitMetrics, CircuitState, SlidingWindowType,
};

/// Why a payment call did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// The payment service answered "declined" (402).
    #[error("{0}")]
    Declined(String),
    /// No usable answer: connection refused, timeout, 5xx, or an answer we did not expect.
    #[error("payment service unavailable: {0}")]
    Unavailable(String),
    /// The circuit breaker is open: payment was not called.
    #[error("payment circuit is open")]
    CircuitOpen,
}

/// When the breaker opens and how it recovers (`SKYCAMP_BREAKER_*`).
#[derive(Debug, Clone, Copy)]
pub struct BreakerConfig {
    /// Share of failed calls, or of slow calls, in the window that opens the breaker (0–1].
    pub failure_rate: f64,
    /// How far back the window looks.
    pub window: Duration,
    /// Calls needed in the window before the rates count.
    pub min_calls: usize,
    /// A call that takes longer than this is slow, even if it succeeds.
    pub slow_call: Duration,
    /// How long the breaker stays open before probing.
    pub open_for: Duration,
    /// Probe calls allowed while half-open.
    pub half_open_calls: usize,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_rate: 0.5,
            window: Duration::from_secs(10),
            min_calls: 5,
            slow_call: Duration::from_secs(1),
            open_for: Duration::from_secs(5),
            half_open_calls: 2,
        }
    }
}

/// The breaker's state and how often it changed, for `/circuits`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BreakerStatus {
    pub name: &'static str,
    /// `CLOSED`, `OPEN` or `HALF_OPEN`.
    pub state: &'static str,
    pub opened: u64,
    pub half_opened: u64,
    pub closed: u64,
}

/// One HTTP exchange with payment, run by the breaker: the answer's status and body, or why none came.
struct Exchange(BoxFuture<'static, Result<(u16, Bytes), String>>);
type Breaker = BoxCloneSyncService<Exchange, (u16, Bytes), CircuitBreakerError<String>>;
type Answer = BoxFuture<'static, Result<(u16, Bytes), CircuitBreakerError<String>>>;

#[derive(Default)]
struct Transitions {
    opened: AtomicU64,
    half_opened: AtomicU64,
    closed: AtomicU64,
}

/// Calls the payment service.
#[derive(Clone)]
pub struct PaymentClient {
    http: reqwest::Client,
    payment: Endpoints,
    breaker: Breaker,
    state: Arc<dyn Fn() -> CircuitState + Send + Sync>,
    metrics: Arc<dyn Fn() -> BoxFuture<'static, CircuitMetrics> + Send + Sync>,
    transitions: Arc<Transitions>,
    open_for: Duration,
    /// Signs every payment call: charges, refunds and reads are ours, not the customer's.
    key: InternalKey,
}

impl PaymentClient {
    /// A client for the payment service at `base` (e.g. `http://127.0.0.1:8083`, or several
    /// instances separated by commas), giving up on a call after `timeout`, behind a breaker
    /// configured by `breaker`, signing charges with `key`.
    pub fn new(base: &str, timeout: Duration, breaker: BreakerConfig, key: InternalKey) -> anyhow::Result<Self> {
        let payment = Endpoints::parse(base).map_err(|e| anyhow::anyhow!("payment URL: {e}"))?;
        // Idle connections are dropped before the payment service's own idle timeout closes them,
        // so a call never goes out on a connection the other side is closing.
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(5))
            .build()?;
        let transitions = Arc::new(Transitions::default());
        let counts = transitions.clone();
        let (layer, handle) = CircuitBreakerLayer::builder()
            .name("payment")
            .failure_rate_threshold(breaker.failure_rate)
            // A count-based window would not judge until full, whatever the minimum says.
            .sliding_window_type(SlidingWindowType::TimeBased)
            .sliding_window_duration(breaker.window)
            .minimum_number_of_calls(breaker.min_calls)
            .slow_call_duration_threshold(breaker.slow_call)
            .slow_call_rate_threshold(breaker.failure_rate)
            .wait_duration_in_open(breaker.open_for)
            .permitted_calls_in_half_open(breaker.half_open_calls)
            .failure_classifier(|r: &Result<(u16, Bytes), String>| {
                r.as_ref().map_or(true, |(status, _)| *status >= 500)
            })
            .on_state_transition(move |from, to| {
                let counter = match to {
                    CircuitState::Open => &counts.opened,
                    CircuitState::HalfOpen => &counts.half_opened,
                    CircuitState::Closed => &counts.closed,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                let to_label = state_label(to);
                metrics::counter!(skycamp_platform::metrics::BREAKER_TRANSITIONS, "breaker" => "payment", "to" => to_label)
                    .increment(1);
                skycamp_platform::metrics::breaker_state("payment", to_label);
                tracing::warn!(
                    breaker = "payment",
                    from = state_name(from),
                    to = state_name(to),
                    "circuit breaker changed state"
                );
            })
            .build_with_handle()
            .map_err(|e| anyhow::anyhow!("invalid breaker settings: {e}"))?;
        skycamp_platform::metrics::breaker_state("payment", "closed");
        for to in ["closed", "open", "half_open"] {
            metrics::counter!(skycamp_platform::metrics::BREAKER_TRANSITIONS, "breaker" => "payment", "to" => to)
                .absolute(0);
        }
        let passthrough = tower::service_fn(|exchange: Exchange| exchange.0);
        Ok(Self {
            http,
            payment,
            breaker: BoxCloneSyncService::new(layer.layer_fn(passthrough)),
            state: Arc::new({
                let handle = handle.clone();
                move || handle.state()
            }),
            metrics: Arc::new(move || {
                let handle = handle.clone();
                Box::pin(async move { handle.metrics().await })
            }),
            transitions,
            open_for: breaker.open_for,
            key,
        })
    }

    /// How long the breaker will still refuse calls; None when a call would be let through
    /// (closed, half-open, or open with its open period over, so the next call is a probe).
    pub async fn refusing_for(&self) -> Option<Duration> {
        let m = (self.metrics)().await;
        (m.state == CircuitState::Open && m.time_since_state_change < self.open_for)
            .then(|| self.open_for - m.time_since_state_change)
    }

    /// Seconds a client should wait before trying again while payment is unavailable.
    pub fn retry_after_secs(&self) -> u64 {
        self.open_for.as_secs().max(1)
    }

    /// The breaker's state and transition counts.
    pub fn status(&self) -> BreakerStatus {
        BreakerStatus {
            name: "payment",
            state: state_name((self.state)()),
            opened: self.transitions.opened.load(Ordering::Relaxed),
            half_opened: self.transitions.half_opened.load(Ordering::Relaxed),
            closed: self.transitions.closed.load(Ordering::Relaxed),
        }
    }

    /// Charges for a reservation; idempotent on the reservation id. The body is signed, so the
    /// payment service knows the charge comes from us, for exactly this amount and phone.
    pub async fn approve(&self, request: &ApprovePayment) -> Result<Payment, PaymentError> {
        let body = serde_json::to_vec(request).map_err(|e| PaymentError::Unavailable(e.to_string()))?;
        let signature = self.key.sign(skycamp_platform::time::now_millis(), "POST /payments", &body);
        let http = self.http.clone();
        self.call(move |base| {
            http.post(format!("{base}/payments"))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(SIGNATURE_HEADER, signature.clone())
                .body(body.clone())
        })
        .await
    }

    /// Refunds a payment; idempotent. Signed: a customer's cancel is refunded by us, not by them.
    pub async fn refund(&self, payment_id: i64, reason: &str) -> Result<Payment, PaymentError> {
        let body = serde_json::to_vec(&serde_json::json!({ "reason": reason }))
            .map_err(|e| PaymentError::Unavailable(e.to_string()))?;
        let target = format!("/payments/{payment_id}/refund");
        let signature = self.key.sign(skycamp_platform::time::now_millis(), &format!("POST {target}"), &body);
        let http = self.http.clone();
        self.call(move |base| {
            http.post(format!("{base}{target}"))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(SIGNATURE_HEADER, signature.clone())
                .body(body.clone())
        })
        .await
    }

    /// The payment for a reservation, if any (a signed read).
    pub async fn find_by_reservation(&self, reservation_id: i64) -> Result<Option<Payment>, PaymentError> {
        let target = format!("/payments?reservationId={reservation_id}");
        let signature = self.key.sign(skycamp_platform::time::now_millis(), &format!("GET {target}"), b"");
        let http = self.http.clone();
        let request = move |base: &str| http.get(format!("{base}{target}")).header(SIGNATURE_HEADER, signature.clone());
        let payments: Vec<Payment> = self.call(request).await?;
        Ok(payments.into_iter().next())
    }

    fn call<T: serde::de::DeserializeOwned>(
        &self,
        request: impl Fn(&str) -> reqwest::RequestBuilder + Send + 'static,
    ) -> impl Future<Output = Result<T, PaymentError>> + Send + 'static {
        let payment = self.payment.clone();
        let exchange = Exchange(Box::pin(async move {
            // Every payment call is safe to repeat on another instance: charges are keyed by
            // reservation, refunds by payment, and the rest are reads.
            let response = payment.send(Retry::Safe, request).await.map_err(|e| e.to_string())?;
            let status = response.status().as_u16();
            let body = response.bytes().await.map_err(|e| e.to_string())?;
            Ok((status, body))
        }));
        let answer: Answer = Box::pin(self.breaker.clone().oneshot(exchange));
        async move {
            let (status, body) = match answer.await {
                Ok(answer) => answer,
                Err(CircuitBreakerError::OpenCircuit) => return Err(PaymentError::CircuitOpen),
                Err(CircuitBreakerError::Inner(e)) => return Err(PaymentError::Unavailable(e)),
            };
            read_answer(status, &body)
        }
    }
}

/// Turns the payment service's answer into a result: 402 is a decline, other non-2xx unusable.
fn read_answer<T: serde::de::DeserializeOwned>(status: u16, body: &[u8]) -> Result<T, PaymentError> {
    if status == 402 {
        let problem: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        return Err(PaymentError::Declined(problem["detail"].as_str().unwrap_or("payment declined").to_owned()));
    }
    if !(200..300).contains(&status) {
        return Err(PaymentError::Unavailable(format!("payment service answered {status}")));
    }
    serde_json::from_slice(body).map_err(|e| PaymentError::Unavailable(format!("unreadable answer: {e}")))
}

/// The state as metrics label it.
fn state_label(state: CircuitState) -> &'static str {
    match state {
        CircuitState::Closed => "closed",
        CircuitState::Open => "open",
        CircuitState::HalfOpen => "half_open",
    }
}

fn state_name(state: CircuitState) -> &'static str {
    match state {
        CircuitState::Closed => "CLOSED",
        CircuitState::Open => "OPEN",
        CircuitState::HalfOpen => "HALF_OPEN",
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize};

    use axum::Router;
    use axum::http::StatusCode;
    use axum::routing::post;

    use super::*;

    /// A fake payment service that fails with 500 until told to recover; counts the calls it gets.
    struct Fake {
        url: String,
        calls: Arc<AtomicUsize>,
        healthy: Arc<AtomicBool>,
    }

    async fn fake_payment() -> Fake {
        let calls = Arc::new(AtomicUsize::new(0));
        let healthy = Arc::new(AtomicBool::new(false));
        let (c, h) = (calls.clone(), healthy.clone());
        let app = Router::new().route(
            "/payments",
            post(move || {
                let (c, h) = (c.clone(), h.clone());
                async move {
                    c.fetch_add(1, Ordering::SeqCst);
                    if h.load(Ordering::SeqCst) {
                        let p = serde_json::json!({ "id": 1, "reservationId": 1, "phone": "010", "amount": 1,
                            "status": "APPROVED", "createdAt": "t", "updatedAt": "t" });
                        (StatusCode::CREATED, axum::Json(p))
                    } else {
                        (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(serde_json::json!({})))
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Fake { url, calls, healthy }
    }

    fn charge() -> ApprovePayment {
        ApprovePayment { reservation_id: 1, amount: 1, phone: "010".into() }
    }

    fn quick_breaker() -> BreakerConfig {
        BreakerConfig {
            failure_rate: 0.5,
            window: Duration::from_secs(30),
            min_calls: 4,
            slow_call: Duration::from_secs(1),
            open_for: Duration::from_millis(300),
            half_open_calls: 1,
        }
    }

    fn client(url: &str, breaker: BreakerConfig) -> PaymentClient {
        PaymentClient::new(url, Duration::from_secs(2), breaker, InternalKey::random()).unwrap()
    }

    #[tokio::test]
    async fn the_breaker_opens_once_the_minimum_number_of_calls_failed_not_when_a_window_fills() {
        let fake = fake_payment().await;
        let breaker = BreakerConfig { min_calls: 3, window: Duration::from_secs(600), ..quick_breaker() };
        let client = client(&fake.url, breaker);
        for _ in 0..3 {
            assert!(matches!(client.approve(&charge()).await, Err(PaymentError::Unavailable(_))));
        }
        assert_eq!(client.status().state, "OPEN", "three failed calls of three open it");
        assert!(matches!(client.approve(&charge()).await, Err(PaymentError::CircuitOpen)));
        assert_eq!(fake.calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn slow_answers_open_the_breaker_even_when_they_succeed() {
        let app = Router::new().route(
            "/payments",
            post(|| async {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let p = serde_json::json!({ "id": 1, "reservationId": 1, "phone": "010", "amount": 1,
                    "status": "APPROVED", "createdAt": "t", "updatedAt": "t" });
                (StatusCode::CREATED, axum::Json(p))
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let breaker = BreakerConfig { min_calls: 3, slow_call: Duration::from_millis(100), ..quick_breaker() };
        let client = client(&url, breaker);
        for _ in 0..3 {
            assert!(client.approve(&charge()).await.is_ok(), "slow, but approved");
        }
        assert_eq!(client.status().state, "OPEN", "an overloaded payment service opens the breaker too");
        assert!(matches!(client.approve(&charge()).await, Err(PaymentError::CircuitOpen)));
    }

    #[tokio::test]
    async fn the_breaker_opens_after_failures_and_then_stops_calling_payment() {
        let fake = fake_payment().await;
        let client = client(&fake.url, quick_breaker());
        for _ in 0..4 {
            assert!(matches!(client.approve(&charge()).await, Err(PaymentError::Unavailable(_))));
        }
        assert!(client.refusing_for().await.is_some());
        assert_eq!(client.status().state, "OPEN");
        let before = fake.calls.load(Ordering::SeqCst);
        assert!(matches!(client.approve(&charge()).await, Err(PaymentError::CircuitOpen)));
        assert_eq!(fake.calls.load(Ordering::SeqCst), before, "an open breaker does not call payment");
    }

    #[tokio::test]
    async fn a_successful_probe_closes_the_breaker_when_payment_recovers() {
        let fake = fake_payment().await;
        let client = client(&fake.url, quick_breaker());
        for _ in 0..4 {
            let _ = client.approve(&charge()).await;
        }
        assert!(client.refusing_for().await.is_some());
        fake.healthy.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(client.refusing_for().await, None, "the open period is over: the next call is a probe");
        let probe = client.approve(&charge()).await;
        assert!(probe.is_ok(), "{probe:?}");
        assert_eq!(client.status().state, "CLOSED");
        let s = client.status();
        assert_eq!((s.opened, s.half_opened, s.closed), (1, 1, 1));
    }

    #[tokio::test]
    async fn a_decline_is_an_answer_and_does_not_open_the_breaker() {
        let app = Router::new().route(
            "/payments",
            post(|| async {
                (StatusCode::PAYMENT_REQUIRED, axum::Json(serde_json::json!({ "detail": "over the limit" })))
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let client = client(&url, quick_breaker());
        for _ in 0..6 {
            assert!(matches!(client.approve(&charge()).await, Err(PaymentError::Declined(d)) if d == "over the limit"));
        }
        assert_eq!(client.status().state, "CLOSED");
    }
}
