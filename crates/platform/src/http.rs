//! HTTP plumbing shared by every service: `application/problem+json` errors, extractors whose
//! rejections use that format (JSON bodies must be objects), lenient number parsing for HTTPie
//! clients, health routes, and the layers every router gets ([`finish`]): refusal of dot segments
//! and over-long URIs, mutating requests run to completion even when their client goes away,
//! request ids, tracing and panics caught. The server itself is [`crate::server`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::de::DeserializeOwned;
use tokio_util::task::TaskTracker;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::Instrument as _;

use crate::db::Db;
use crate::events::Transport;
use crate::liveness::Liveness;

/// Largest request body any service accepts.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Longest request URI (path and query) any service accepts; RFC 9110 asks for at least 8000.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// Longest `detail` a problem document carries; anything a client sent is echoed clipped.
const MAX_DETAIL_CHARS: usize = 500;

/// `value` cut to `max` characters, with `…` when something was cut: for echoing client input.
pub fn clip(value: &str, max: usize) -> String {
    match value.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &value[..at]),
        None => value.to_owned(),
    }
}

/// An error answer: an RFC 9457 problem document. The cause is logged, never sent.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub detail: String,
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    /// A problem with `status` and a human-readable `detail`.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self { status, detail: detail.into(), retry_after_secs: None }
    }
    /// 400: the request cannot be read at all.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }
    /// 404: the thing named does not exist.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }
    /// 409: the request conflicts with the current state.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, detail)
    }
    /// 422: the request is well-formed but its values are not acceptable.
    pub fn unprocessable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, detail)
    }
    /// 503 with `Retry-After`.
    pub fn unavailable(detail: impl Into<String>, retry_after_secs: u64) -> Self {
        Self { retry_after_secs: Some(retry_after_secs), ..Self::new(StatusCode::SERVICE_UNAVAILABLE, detail) }
    }
    /// 500 for a failure of ours; logs the whole cause chain and tells the client nothing of it.
    pub fn internal(err: &anyhow::Error) -> Self {
        tracing::error!(error = %format!("{err:#}"), "request failed");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "an internal error occurred; it has been logged")
    }
}

/// A value that failed validation: 422 with the message, which names the field.
impl From<skycamp_contracts::Invalid> for ApiError {
    fn from(e: skycamp_contracts::Invalid) -> Self {
        ApiError::unprocessable(e.0)
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> Self {
        Self::internal(&err)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        Self::internal(&err.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        problem(self.status, &self.detail, self.retry_after_secs)
    }
}

/// Builds a problem+json response.
pub fn problem(status: StatusCode, detail: &str, retry_after_secs: Option<u64>) -> Response {
    let body = serde_json::json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": clip(detail, MAX_DETAIL_CHARS),
    });
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
    if let Some(secs) = retry_after_secs {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    if status == StatusCode::UNAUTHORIZED {
        headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"skycamp\""));
    }
    response
}

/// A JSON body extractor whose rejections are problem documents: 415 without a JSON content
/// type, 413 over [`MAX_BODY_BYTES`], 408 when the body is too slow, 400 for malformed JSON, 422
/// for a body that is not a JSON object or does not fit `T`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "expected a request with `Content-Type: application/json`",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(body_rejection)?;
        parse_object(&bytes).map(Self)
    }
}

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// An optional JSON object body: an empty body is `T::default()`; anything else must be a JSON
/// object that fits `T`, as with [`Json`] (any content type is accepted, as HTTPie and curl send
/// bodies without one).
#[derive(Debug, Clone, Copy, Default)]
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(body_rejection)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        parse_object(&bytes).map(Self)
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(mime) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else { return false };
    let essence = mime.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The answer to a body that could not be read: too large, too slow, or broken off.
pub fn body_rejection(rejection: BytesRejection) -> ApiError {
    if crate::server::is_body_timeout(&rejection) {
        return ApiError::new(StatusCode::REQUEST_TIMEOUT, "the request body did not arrive in time");
    }
    match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("the request body is over {MAX_BODY_BYTES} bytes"))
        }
        status => ApiError::new(status, "the request body could not be read"),
    }
}

/// Parses a body that must be one JSON object. serde would also fill a struct from a JSON array
/// (`["A", 1]`), which no client means; that is refused before parsing.
pub fn parse_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        Some(_) if serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() => {
            return Err(ApiError::unprocessable("the request body must be a JSON object"));
        }
        Some(_) => return Err(ApiError::bad_request("the request body is not valid JSON")),
        None => return Err(ApiError::bad_request("the request body is empty; expected a JSON object")),
    }
    use serde_json::error::Category;
    let refuse = |e: serde_json::Error, path: String| match e.classify() {
        // The value's own field leads the message ("count: expected a whole number, …"), so a
        // client can show it next to that field.
        Category::Data if !path.is_empty() && path != "." => ApiError::unprocessable(format!("{path}: {e}")),
        Category::Data => ApiError::unprocessable(format!("the request body does not fit: {e}")),
        Category::Syntax | Category::Eof | Category::Io => {
            ApiError::bad_request(format!("the request body is not valid JSON: {e}"))
        }
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        refuse(e.into_inner(), path)
    })?;
    de.end().map_err(|e| refuse(e, String::new()))?;
    Ok(value)
}

/// A query-string extractor whose rejections are 400 problem documents.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Self(q.0))
            .map_err(|r: QueryRejection| ApiError::bad_request(clip(&r.body_text(), 200)))
    }
}

/// A path-parameter extractor whose rejections are problem documents (an id that is not a number: 404).
#[derive(Debug, Clone, Copy)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Self(p.0))
            .map_err(|r: PathRejection| ApiError::not_found(format!("no such resource: {}", clip(&r.body_text(), 80))))
    }
}

/// Serde helpers for numbers that arrive as JSON numbers or as digit strings (HTTPie's `key=value`).
pub mod lenient {
    use serde::{Deserialize, Deserializer, de};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum IntOrText {
        Int(i64),
        Text(String),
        Other(serde_json::Value),
    }

    fn parse<E: de::Error>(v: IntOrText) -> Result<i64, E> {
        match v {
            IntOrText::Int(n) => Ok(n),
            IntOrText::Text(s) => {
                let clipped = super::clip(&s, 30);
                s.trim().parse::<i64>().map_err(|_| E::custom(format!("expected a whole number, got {clipped:?}")))
            }
            IntOrText::Other(v) => {
                Err(E::custom(format!("expected a whole number, got {}", super::clip(&v.to_string(), 30))))
            }
        }
    }

    /// A required integer.
    pub fn int<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        parse(IntOrText::deserialize(d)?)
    }

    /// An optional integer (`null` or absent is `None`; use with `#[serde(default)]`).
    pub fn opt_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        match Option::<IntOrText>::deserialize(d)? {
            None | Some(IntOrText::Other(serde_json::Value::Null)) => Ok(None),
            Some(v) => parse(v).map(Some),
        }
    }
}

/// What `/healthz` and `/readyz` check. Cheap to clone; every clone shares the draining flag.
#[derive(Clone)]
pub struct Health {
    draining: Arc<AtomicBool>,
    db: Option<Db>,
    transport: Option<Arc<dyn Transport>>,
    liveness: Liveness,
}

impl Health {
    /// Readiness over a database and an event transport (either may be absent, e.g. the gateway).
    pub fn new(db: Option<Db>, transport: Option<Arc<dyn Transport>>) -> Self {
        Self { draining: Arc::new(AtomicBool::new(false)), db, transport, liveness: Liveness::default() }
    }

    /// Liveness over the process's background workers: once one has died, `/healthz` (and
    /// `/readyz`) answer 503 naming it, until the process is restarted.
    pub fn watching(mut self, liveness: Liveness) -> Self {
        self.liveness = liveness;
        self
    }

    fn alive(&self) -> Result<(), String> {
        match self.liveness.dead() {
            dead if dead.is_empty() => Ok(()),
            dead => Err(format!("background workers stopped: {}; restart the process", dead.join(", "))),
        }
    }

    /// From now on `/readyz` answers 503, so load balancers stop sending traffic.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    async fn ready(&self) -> Result<(), String> {
        if self.draining.load(Ordering::SeqCst) {
            return Err("draining".into());
        }
        self.alive()?;
        if let Some(db) = &self.db
            && !db.ping().await
        {
            return Err("database unreachable".into());
        }
        if let Some(t) = &self.transport
            && !t.ping().await
        {
            return Err("event transport unreachable".into());
        }
        Ok(())
    }

    /// `/healthz` (the process answers and its workers run) and `/readyz` (that, with the
    /// dependencies reachable and not draining).
    pub fn routes(self) -> Router {
        let live = self.clone();
        Router::new().route("/healthz", get(move || std::future::ready(health_answer(live.alive(), "ok")))).route(
            "/readyz",
            get(move || {
                let health = self.clone();
                async move { health_answer(health.ready().await, "ready") }
            }),
        )
    }
}

/// `{"status": ok}` with 200, or a 503 problem saying why not.
fn health_answer(check: Result<(), String>, ok: &'static str) -> Response {
    match check {
        Ok(()) => axum::Json(serde_json::json!({ "status": ok })).into_response(),
        Err(why) => problem(StatusCode::SERVICE_UNAVAILABLE, &why, None),
    }
}

/// Who a router serves, for its spans and metrics: the service's name, and the process's metrics
/// registry to serve at `/metrics` (None when metrics are off, `SKYCAMP_METRICS=off`).
#[derive(Clone)]
pub struct Observed {
    pub service: &'static str,
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
}

/// Adds what every service router needs: the caller identified from their bearer token (`auth`;
/// health and metrics routes are open), health routes, `/metrics`, problem-shaped 404/405,
/// panics caught as problem 500s, a body size limit, refusal of dot segments and over-long URIs,
/// mutating requests run to completion on `tasks` whatever their client does, request ids, and a
/// span per request that continues the caller's W3C trace, with request metrics.
pub fn finish(
    router: Router,
    health: Health,
    tasks: TaskTracker,
    auth: crate::auth::Auth,
    observed: Observed,
) -> Router {
    let service = observed.service;
    let mut router =
        router.layer(axum::middleware::from_fn_with_state(auth, crate::auth::identify)).merge(health.routes());
    if let Some(handle) = observed.metrics.clone() {
        router = router.merge(crate::metrics::routes(handle));
    }
    let router = router
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed on this endpoint")
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(tasks, run_to_completion))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("handler panicked");
            problem(StatusCode::INTERNAL_SERVER_ERROR, "an internal error occurred; it has been logged", None)
        }))
        .layer(axum::middleware::from_fn(refuse_odd_paths));
    let router = match observed.metrics {
        Some(_) => router.layer(crate::metrics::ObserveLayer(crate::metrics::Observer::new(service))),
        None => router,
    };
    router
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(move |request: &Request| request_span(service, request))
                .on_response(|response: &Response, _: std::time::Duration, span: &tracing::Span| {
                    span.record("status", response.status().as_u16());
                }),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// One request's span, continuing the trace its `traceparent` names. Handlers record
/// `reservation_id` on it when they learn one.
fn request_span(service: &'static str, request: &Request) -> tracing::Span {
    let route = request.extensions().get::<axum::extract::MatchedPath>().map_or("other", |p| p.as_str());
    let request_id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
    let span = tracing::info_span!(
        "request",
        otel.name = format!("{} {route}", request.method()),
        otel.kind = "server",
        service,
        method = %request.method(),
        route,
        request_id,
        status = tracing::field::Empty,
        reservation_id = tracing::field::Empty,
    );
    crate::telemetry::continue_from_headers(&span, request.headers());
    span
}

/// Requests that change something run as their own task, tracked by `tasks`: work a request has
/// started does not die when its client closes the connection (the answer then goes nowhere,
/// but an `Idempotency-Key` keeps it for the client's retry), and shutdown waits for it.
async fn run_to_completion(
    axum::extract::State(tasks): axum::extract::State<TaskTracker>,
    request: Request,
    next: Next,
) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(request).await;
    }
    let work = next.run(request).instrument(tracing::Span::current());
    match tasks.spawn(work).await {
        Ok(response) => response,
        Err(e) => {
            tracing::error!(error = %e, "request task failed");
            problem(StatusCode::INTERNAL_SERVER_ERROR, "an internal error occurred; it has been logged", None)
        }
    }
}

/// Refuses, before any routing, a path with `.` or `..` segments (also percent-encoded), which
/// would otherwise reach another route once a URL library resolves them, and a URI longer than
/// [`MAX_URI_BYTES`].
async fn refuse_odd_paths(request: Request, next: Next) -> Response {
    let uri = request.uri();
    let length = uri.path_and_query().map_or(0, |pq| pq.as_str().len());
    if length > MAX_URI_BYTES {
        return problem(StatusCode::URI_TOO_LONG, &format!("the request URI is over {MAX_URI_BYTES} bytes"), None);
    }
    if has_dot_segment(uri.path()) {
        return problem(StatusCode::BAD_REQUEST, "the path may not contain `.` or `..` segments", None);
    }
    next.run(request).await
}

/// True when a segment of `path` is `.` or `..`, literally or percent-encoded (`%2e`), or a
/// segment hides a slash or backslash (`%2f`, `%5c`).
pub fn has_dot_segment(path: &str) -> bool {
    path.split('/').any(|segment| {
        let lower = segment.to_ascii_lowercase();
        let decoded = lower.replace("%2e", ".");
        decoded == "." || decoded == ".." || lower.contains("%2f") || lower.contains("%5c")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    struct Body {
        #[serde(deserialize_with = "lenient::int")]
        n: i64,
        #[serde(default, deserialize_with = "lenient::opt_int")]
        m: Option<i64>,
    }

    fn parse(s: &str) -> Result<Body, serde_json::Error> {
        serde_json::from_str(s)
    }

    #[test]
    fn numbers_may_arrive_as_digit_strings() {
        assert_eq!(parse(r#"{"n":"40"}"#).unwrap().n, 40);
        assert_eq!(parse(r#"{"n":40,"m":"7"}"#).unwrap().m, Some(7));
        assert_eq!(parse(r#"{"n":1,"m":null}"#).unwrap().m, None);
    }

    #[test]
    fn dot_segments_are_found_however_they_are_written() {
        for bad in
            ["/flights/../healthz", "/a/./b", "/deadLetters/flight/%2e%2E/x", "/a/%2E", "/a/..", "/x%2fy", "/x%5Cy"]
        {
            assert!(has_dot_segment(bad), "{bad}");
        }
        for good in ["/flights/1", "/reservations/3/cancel", "/a.b/c..d", "/"] {
            assert!(!has_dot_segment(good), "{good}");
        }
    }

    #[test]
    fn clipped_values_keep_their_start_and_say_so() {
        assert_eq!(clip("12345", 3), "123…");
        assert_eq!(clip("12", 3), "12");
        assert_eq!(clip("가나다라", 2), "가나…");
    }

    #[test]
    fn only_json_objects_are_bodies() {
        let arr: Result<Body, _> = parse_object(br#"["ArrayFlight","Y",1000,10]"#);
        assert_eq!(arr.unwrap_err().status, StatusCode::UNPROCESSABLE_ENTITY);
        let empty: Result<Body, _> = parse_object(b"  ");
        assert_eq!(empty.unwrap_err().status, StatusCode::BAD_REQUEST);
        let broken: Result<Body, _> = parse_object(br#"{"n":"#);
        assert_eq!(broken.unwrap_err().status, StatusCode::BAD_REQUEST);
        let wrong: Result<Body, _> = parse_object(br#"{"n":"x"}"#);
        assert_eq!(wrong.unwrap_err().status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(parse_object::<Body>(br#" {"n":4}"#).unwrap().n, 4);
    }

    #[test]
    fn a_value_that_does_not_fit_is_refused_with_its_field_first() {
        let e = parse_object::<Body>(br#"{"n": "abc"}"#).unwrap_err();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(e.detail.starts_with("n: expected a whole number"), "{}", e.detail);
        assert_eq!(parse_object::<Body>(br#"{"n": 1} x"#).unwrap_err().status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn anything_else_is_refused_with_the_field_named() {
        for bad in
            [r#"{"n":"forty"}"#, r#"{"n":1.5}"#, r#"{"n":true}"#, r#"{"n":"1e3"}"#, r#"{"n":"99999999999999999999"}"#]
        {
            assert!(parse(bad).is_err(), "{bad} should be refused");
        }
    }
}
