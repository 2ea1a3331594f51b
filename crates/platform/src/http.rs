//! HTTP plumbing shared by every service: `application/problem+json` errors, extractors whose
//! rejections use that format, lenient number parsing for HTTPie clients, health routes, and a
//! server that drains gracefully.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::db::Db;
use crate::events::Transport;

/// Largest request body any service accepts.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

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
        "detail": detail,
    });
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
    if let Some(secs) = retry_after_secs {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// A JSON body extractor whose rejections are problem documents (400 syntax, 422 shape, 415, 413).
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let status = match &rejection {
        JsonRejection::JsonDataError(_) => StatusCode::UNPROCESSABLE_ENTITY,
        JsonRejection::JsonSyntaxError(_) => StatusCode::BAD_REQUEST,
        other => other.status(),
    };
    ApiError::new(status, rejection.body_text())
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
            .map_err(|r: QueryRejection| ApiError::bad_request(r.body_text()))
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
            .map_err(|r: PathRejection| ApiError::not_found(format!("no such resource: {}", r.body_text())))
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
                s.trim().parse::<i64>().map_err(|_| E::custom(format!("expected a whole number, got {s:?}")))
            }
            IntOrText::Other(v) => Err(E::custom(format!("expected a whole number, got {v}"))),
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

/// What `/readyz` checks. Cheap to clone; every clone shares the draining flag.
#[derive(Clone)]
pub struct Health {
    draining: Arc<AtomicBool>,
    db: Option<Db>,
    transport: Option<Arc<dyn Transport>>,
}

impl Health {
    /// Readiness over a database and an event transport (either may be absent, e.g. the gateway).
    pub fn new(db: Option<Db>, transport: Option<Arc<dyn Transport>>) -> Self {
        Self { draining: Arc::new(AtomicBool::new(false)), db, transport }
    }

    /// From now on `/readyz` answers 503, so load balancers stop sending traffic.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    async fn ready(&self) -> Result<(), &'static str> {
        if self.draining.load(Ordering::SeqCst) {
            return Err("draining");
        }
        if let Some(db) = &self.db
            && !db.ping().await
        {
            return Err("database unreachable");
        }
        if let Some(t) = &self.transport
            && !t.ping().await
        {
            return Err("event transport unreachable");
        }
        Ok(())
    }

    /// `/healthz` (the process answers) and `/readyz` (dependencies reachable, not draining).
    pub fn routes(self) -> Router {
        Router::new().route("/healthz", get(|| async { axum::Json(serde_json::json!({ "status": "ok" })) })).route(
            "/readyz",
            get(move || {
                let health = self.clone();
                async move {
                    match health.ready().await {
                        Ok(()) => axum::Json(serde_json::json!({ "status": "ready" })).into_response(),
                        Err(why) => problem(StatusCode::SERVICE_UNAVAILABLE, why, None),
                    }
                }
            }),
        )
    }
}

/// Adds what every service router needs: health routes, problem-shaped 404/405, panics caught as
/// problem 500s, a body size limit, request ids and request tracing.
pub fn finish(router: Router, health: Health) -> Router {
    router
        .merge(health.routes())
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed on this endpoint")
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("handler panicked");
            problem(StatusCode::INTERNAL_SERVER_ERROR, "an internal error occurred; it has been logged", None)
        }))
        .layer(TraceLayer::new_for_http())
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// Serves `app` on `listener` until `shutdown`, then finishes in-flight requests.
pub async fn serve(listener: tokio::net::TcpListener, app: Router, shutdown: CancellationToken) -> std::io::Result<()> {
    // Peer addresses are kept for per-client limits (the gateway's rate limiter).
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(async move { shutdown.cancelled().await }).await
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
    fn anything_else_is_refused_with_the_field_named() {
        for bad in
            [r#"{"n":"forty"}"#, r#"{"n":1.5}"#, r#"{"n":true}"#, r#"{"n":"1e3"}"#, r#"{"n":"99999999999999999999"}"#]
        {
            assert!(parse(bad).is_err(), "{bad} should be refused");
        }
    }
}
