//! The gateway: the one door from outside. Routes each path prefix to the service that owns it,
//! passes a request id (`x-request-id`, made here if the client sent none), and turns an
//! unreachable service into a problem answer instead of a hang. Under overload it answers at once:
//! 503 beyond a number of requests in flight, 429 beyond a per-client rate (see [`Limits`]).
//!
//! A request's body is read in full (within the server's body deadline) before it takes an
//! in-flight slot, so slow clients hold connections, which are capped, never slots. A request
//! that is safe to repeat (GET, HEAD, OPTIONS, or a POST with an `Idempotency-Key`) goes to another
//! instance when the first one breaks the connection off; an instance that failed is left out
//! until its readiness probe passes ([`skycamp_platform::endpoints`]). Internal endpoints (the
//! payment charge, `POST /payments`) are never routed. With authentication on, a request without
//! a token is refused here unless anyone may make it (reads of the catalogue, sign-up, sign-in);
//! every service still verifies the token and decides for itself. A service that runs in the
//! gateway's own process (`skycamp up`) gets its requests as calls to its router, not over TCP
//! (ADR 23); the others are reached by URL with a pooled client (ADR 22).
//!
//! | prefix | service |
//! |---|---|
//! | `/flights` | flight |
//! | `/reservations`, `/flightStatuses` | reservation |
//! | `/payments`, `/pays` (the seed's name, rewritten to `/payments`) | payment |
//! | `/campsites` | campsite |
//! | `/campsiteStatuses`, `/circuits` | reservation |
//! | `/mileages` | mileage |
//! | `/messages` | notification |
//! | `/reviews` | review |
//! | `/accounts`, `/.well-known/jwks.json` | account |
//! | `/openapi.json`, `/docs` | the gateway itself: the public API's document and a page to browse it |
//! | `/deadLetters/{service}/…` | that service's `/deadLetters/…` |
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::time::Duration;

use axum::BoxError;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::error_handling::HandleErrorLayer;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use skycamp_platform::auth::Caller;
use skycamp_platform::endpoints::{Endpoints, Failed, Retry};
use skycamp_platform::http::{ApiError, MAX_BODY_BYTES};
use tower::ServiceBuilder;
use tower::ServiceExt as _;
use tower_governor::GovernorLayer;
use tower_governor::errors::GovernorError;
use tower_governor::governor::GovernorConfigBuilder;
use tower_http::timeout::TimeoutBody;

/// Where the services are: a base URL each, or several separated by commas (one per instance).
#[derive(Debug, Clone)]
pub struct Upstreams<T = String> {
    pub flight: T,
    pub reservation: T,
    pub payment: T,
    pub campsite: T,
    pub mileage: T,
    pub notification: T,
    pub review: T,
    pub account: T,
}

/// Where one service is: its instances' URLs, and its router when it runs in this process.
struct Upstream {
    endpoints: Endpoints,
    here: Option<Router>,
}

impl Upstreams {
    /// Parses every service's URL list (the error names the service), with the routers of those
    /// in `here`.
    fn parse(&self, here: &HashMap<&'static str, Router>) -> anyhow::Result<Upstreams<Upstream>> {
        let parse = |name: &str, list: &str| {
            let endpoints = Endpoints::parse(list).map_err(|e| anyhow::anyhow!("{name} URL: {e}"))?;
            anyhow::Ok(Upstream { endpoints, here: here.get(name).cloned() })
        };
        Ok(Upstreams {
            flight: parse("flight", &self.flight)?,
            reservation: parse("reservation", &self.reservation)?,
            payment: parse("payment", &self.payment)?,
            campsite: parse("campsite", &self.campsite)?,
            mileage: parse("mileage", &self.mileage)?,
            notification: parse("notification", &self.notification)?,
            review: parse("review", &self.review)?,
            account: parse("account", &self.account)?,
        })
    }
}

/// Settings of the gateway.
#[derive(Clone)]
pub struct Config {
    pub upstreams: Upstreams,
    /// The services that run in this process, by name (`flight`, …), as their finished routers:
    /// their requests are handed over in process instead of over a TCP connection to itself
    /// (ADR 23). Empty when the gateway runs alone.
    pub in_process: HashMap<&'static str, Router>,
    /// How long one proxied request may take (`SKYCAMP_GATEWAY_TIMEOUT_MS`).
    pub timeout: Duration,
    pub limits: Limits,
    /// The public API's OpenAPI document, served at `/openapi.json` with a browsable `/docs`.
    pub api: Option<utoipa::openapi::OpenApi>,
    /// Verifies the web sites' session tokens (the same verifier as every service's).
    pub auth: skycamp_platform::auth::Auth,
    /// With oidc: how the web sites send people to the provider to sign in.
    pub sign_in: Option<skycamp_web::OidcClient>,
}

/// Overload protection: beyond these the gateway answers at once instead of queueing.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Proxied requests in flight at once; more get 503 (`SKYCAMP_GATEWAY_MAX_IN_FLIGHT`).
    pub max_in_flight: usize,
    /// Sustained requests per second per client IP; more get 429. 0 turns the limit off
    /// (`SKYCAMP_GATEWAY_RATE_PER_CLIENT`).
    pub per_client_per_second: u32,
    /// Requests a client may send in a burst above its rate (`SKYCAMP_GATEWAY_RATE_BURST`).
    pub burst: u32,
    /// Sign-ins and sign-ups (`POST /accounts/token`, `POST /accounts`) per minute per client IP;
    /// more get 429. On by default: each costs an argon2 hash, and a client trying many phones
    /// is not slowed by the per-login lockout. 0 turns it off (`SKYCAMP_SIGN_IN_RATE_PER_MINUTE`).
    pub sign_ins_per_minute: u32,
    /// Sign-ins a client may make at once above that rate (`SKYCAMP_SIGN_IN_BURST`).
    pub sign_in_burst: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_in_flight: 1024, per_client_per_second: 0, burst: 100, sign_ins_per_minute: 30, sign_in_burst: 10 }
    }
}

/// What the proxy needs per request, shared (`Arc`): axum hands every request its own copy of
/// the state, and cloning eight services' endpoint lists per request cost a few percent of the
/// gateway's CPU in atomic reference counts.
struct Proxy {
    http: HttpClient,
    /// How long an upstream may take to answer, head and body.
    timeout: Duration,
    upstreams: Upstreams<Upstream>,
    /// The public API's path templates, to name a proxied request's route in the metrics.
    routes: matchit::Router<std::sync::Arc<str>>,
}

/// The client the gateway proxies with: hyper's own, pooled, HTTP/1.1 over plain TCP (as the
/// services serve). reqwest costs a URL parse (with IDNA) and its retry and redirect layers per
/// request, none of which a proxy needs.
type HttpClient = Client<HttpConnector, Full<Bytes>>;

fn upstream_client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(2)));
    // Idle connections are dropped before the services' own idle timeout closes them, so a request
    // never goes out on a connection the other side is closing.
    Client::builder(TokioExecutor::new())
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .pool_max_idle_per_host(64)
        .pool_idle_timeout(Duration::from_secs(5))
        .build(connector)
}

/// Why an upstream gave no answer.
#[derive(Debug)]
enum Trouble {
    TimedOut,
    Failed(BoxError),
}

impl std::fmt::Display for Trouble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TimedOut => f.write_str("no answer in time"),
            Self::Failed(e) => write!(f, "{e}"),
        }
    }
}

/// Sends `request` and waits for its answer's head within `timeout`; a failure says whether
/// another instance may take the request ([`Failed`]). The body streams on, with `timeout` as
/// the longest wait for each part of it: a service that stalls mid-answer has its client's
/// connection closed, as with any proxy, rather than held open.
async fn exchange(
    http: &HttpClient,
    request: http::Request<Full<Bytes>>,
    timeout: Duration,
) -> Result<http::Response<TimeoutBody<hyper::body::Incoming>>, (Failed, Trouble)> {
    match tokio::time::timeout(timeout, http.request(request)).await {
        Err(_) => Err((Failed::Other, Trouble::TimedOut)),
        Ok(Err(e)) if e.is_connect() => Err((Failed::Connect, Trouble::Failed(e.into()))),
        Ok(Err(e)) => Err((Failed::Broken, Trouble::Failed(e.into()))),
        Ok(Ok(answer)) => Ok(answer.map(|body| TimeoutBody::new(timeout, body))),
    }
}

/// A router over the API document's path templates (`/reservations/{id}`).
fn templates(api: Option<&utoipa::openapi::OpenApi>) -> matchit::Router<std::sync::Arc<str>> {
    let mut routes = matchit::Router::new();
    for path in api.map(|api| api.paths.paths.keys()).into_iter().flatten() {
        let _ = routes.insert(path.clone(), path.as_str().into());
    }
    routes
}

/// The gateway's routes: everything not its own is proxied, behind the overload limits.
pub fn router(config: Config) -> anyhow::Result<Router> {
    let http = upstream_client();
    let mut proxy = Router::new().route("/{*path}", any(forward));
    if config.limits.sign_ins_per_minute > 0 {
        let rate = GovernorConfigBuilder::default()
            .period(Duration::from_secs(60) / config.limits.sign_ins_per_minute)
            .burst_size(config.limits.sign_in_burst.max(1))
            .finish()
            .ok_or_else(|| anyhow::anyhow!("invalid sign-in rate limit"))?;
        let limit = GovernorLayer::new(rate).error_handler(too_many);
        proxy = proxy
            .route("/accounts/token", any(forward).layer(limit.clone()))
            .route("/accounts", any(forward).layer(limit));
    }
    let routes = templates(config.api.as_ref());
    let upstreams = config.upstreams.parse(&config.in_process)?;
    let reservation = upstreams.reservation.endpoints.clone();
    let timeout = config.timeout;
    let proxy = proxy.with_state(std::sync::Arc::new(Proxy { http: http.clone(), timeout, upstreams, routes }));
    let shed = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(|_: BoxError| async {
            ApiError::unavailable("the gateway is at capacity, try again shortly", 1)
        }))
        .load_shed()
        .concurrency_limit(config.limits.max_in_flight.max(1));
    let proxy = proxy.layer(shed).layer(axum::middleware::from_fn(read_body_first));
    // The web sites call the API in process, through the same routes and limits.
    let sites = skycamp_web::router(
        std::sync::Arc::new(InProcess { api: proxy.clone(), reservation, http, timeout }),
        config.auth,
        config.sign_in,
    );
    let proxy = sites.merge(proxy);
    let docs = |router: Router| match config.api.clone() {
        // Swagger UI's files come from the `utoipa-swagger-ui-vendored` crate, built in.
        Some(api) => router.merge(utoipa_swagger_ui::SwaggerUi::new("/docs").url("/openapi.json", api)),
        None => router,
    };
    if config.limits.per_client_per_second == 0 {
        return Ok(docs(proxy));
    }
    let period = Duration::from_secs(1) / config.limits.per_client_per_second;
    let rate = GovernorConfigBuilder::default()
        .period(period)
        .burst_size(config.limits.burst.max(1))
        .finish()
        .ok_or_else(|| anyhow::anyhow!("invalid gateway rate limit"))?;
    Ok(docs(proxy.layer(GovernorLayer::new(rate).error_handler(too_many))))
}

/// What the web sites use of the gateway: the API in process, and the reservation service's
/// metrics.
struct InProcess {
    api: Router,
    reservation: Endpoints,
    http: HttpClient,
    timeout: Duration,
}

#[async_trait::async_trait]
impl skycamp_web::Backend for InProcess {
    async fn call(&self, request: Request) -> Response {
        use tower::ServiceExt as _;
        match self.api.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }

    async fn bookings_placed(&self) -> anyhow::Result<f64> {
        let mut total = 0.0;
        for base in self.reservation.bases() {
            let request = http::Request::get(format!("{base}/metrics")).body(Full::default())?;
            let answer = exchange(&self.http, request, self.timeout).await.map_err(|(_, e)| anyhow::anyhow!("{e}"))?;
            anyhow::ensure!(answer.status().is_success(), "{base}/metrics answered {}", answer.status());
            let body = answer.into_body().collect().await.map_err(|e| anyhow::anyhow!("{base}/metrics: {e}"))?;
            total += placed(&String::from_utf8_lossy(&body.to_bytes()));
        }
        Ok(total)
    }
}

/// The sum of `skycamp_bookings_total{…outcome="placed"…}` in a Prometheus text exposition.
fn placed(exposition: &str) -> f64 {
    let name = format!("{}{{", skycamp_platform::metrics::BOOKINGS);
    exposition
        .lines()
        .filter(|l| l.starts_with(&name) && l.contains("outcome=\"placed\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The rate limiter's answer, as a problem document.
fn too_many(e: GovernorError) -> Response {
    match e {
        GovernorError::TooManyRequests { wait_time, .. } => {
            let mut r = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too many requests from this client, slow down")
                .into_response();
            r.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(wait_time.max(1)));
            r
        }
        other => ApiError::internal(&anyhow::anyhow!("rate limiter: {other}")).into_response(),
    }
}

/// Reads the whole body (under the server's body deadline and the size limit) before the request
/// goes on to take an in-flight slot.
async fn read_body_first(request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => next.run(Request::from_parts(parts, Body::from(bytes))).await,
        Err(e) => {
            let err: &(dyn std::error::Error + 'static) = &e;
            if skycamp_platform::server::is_body_timeout(err) {
                ApiError::new(StatusCode::REQUEST_TIMEOUT, "the request body did not arrive in time").into_response()
            } else {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("request body over {MAX_BODY_BYTES} bytes"))
                    .into_response()
            }
        }
    }
}

/// Endpoints only Skycamp's own services call; the gateway never routes them.
fn is_internal(method: &Method, path: &str) -> bool {
    method == Method::POST && matches!(path.trim_end_matches('/'), "/payments" | "/pays")
}

/// What anyone may do without signing in: read the catalogue, the seat and campsite statuses and
/// the reviews, sign up, sign in, and fetch the token keys.
fn is_public(method: &Method, path: &str) -> bool {
    let path = path.trim_end_matches('/');
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    match *method {
        Method::GET | Method::HEAD => {
            matches!(first, "flights" | "flightStatuses" | "campsites" | "campsiteStatuses" | "reviews" | ".well-known")
                && !matches!(path, "/flights/holds" | "/campsites/nights")
        }
        Method::POST => matches!(path, "/accounts" | "/accounts/token"),
        _ => false,
    }
}

/// The upstream base URL and path for a request path, or None when no service owns it.
fn route<'a, T>(upstreams: &'a Upstreams<T>, path: &str) -> Option<(&'a T, String)> {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    match first {
        "flights" => Some((&upstreams.flight, path.to_owned())),
        "reservations" | "flightStatuses" | "campsiteStatuses" | "circuits" => {
            Some((&upstreams.reservation, path.to_owned()))
        }
        "campsites" => Some((&upstreams.campsite, path.to_owned())),
        "mileages" => Some((&upstreams.mileage, path.to_owned())),
        "messages" => Some((&upstreams.notification, path.to_owned())),
        "reviews" => Some((&upstreams.review, path.to_owned())),
        "payments" => Some((&upstreams.payment, path.to_owned())),
        "pays" => Some((&upstreams.payment, path.replacen("/pays", "/payments", 1))),
        "deadLetters" => dead_letters(upstreams, path),
        "accounts" | ".well-known" => Some((&upstreams.account, path.to_owned())),
        _ => None,
    }
}

/// `/deadLetters/{service}/…` goes to that service's `/deadLetters/…`.
fn dead_letters<'a, T>(upstreams: &'a Upstreams<T>, path: &str) -> Option<(&'a T, String)> {
    let mut parts = path.trim_start_matches('/').splitn(3, '/');
    let (_, service, rest) = (parts.next(), parts.next()?, parts.next());
    let base = match service {
        "flight" => &upstreams.flight,
        "reservation" => &upstreams.reservation,
        "payment" => &upstreams.payment,
        "campsite" => &upstreams.campsite,
        "mileage" => &upstreams.mileage,
        "notification" => &upstreams.notification,
        "review" => &upstreams.review,
        _ => return None,
    };
    Some((base, rest.map_or_else(|| "/deadLetters".to_owned(), |r| format!("/deadLetters/{r}"))))
}

/// Headers that describe one connection, not the message; never forwarded.
const HOP_BY_HOP: [&str; 10] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

/// Takes out of `headers` what describes one connection, in place.
fn drop_hop_by_hop(headers: &mut HeaderMap) {
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Whether a request may go to a second instance after the first broke the connection off.
fn retry_for(method: &Method, headers: &HeaderMap) -> Retry {
    let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
        || (method == Method::POST && headers.contains_key("idempotency-key"));
    if safe { Retry::Safe } else { Retry::ConnectOnly }
}

/// Proxies a request, naming its route in the metrics by the API's path template.
async fn forward(State(proxy): State<std::sync::Arc<Proxy>>, request: Request) -> Response {
    let template = proxy.routes.at(request.uri().path()).map_or_else(|_| "other".into(), |m| m.value.clone());
    let mut response = proxy_request(&proxy, request).await.unwrap_or_else(IntoResponse::into_response);
    response.extensions_mut().insert(skycamp_platform::metrics::RouteLabel(template));
    response
}

async fn proxy_request(proxy: &Proxy, request: Request) -> Result<Response, ApiError> {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    if is_internal(&method, &path) {
        return Err(ApiError::not_found("no such endpoint"));
    }
    // The services decide who may do what; this only turns away early what no anonymous caller
    // may do anyway.
    let anonymous = matches!(request.extensions().get::<Caller>(), None | Some(Caller::Anonymous));
    if anonymous && !is_public(&method, &path) {
        return Err(skycamp_platform::auth::unauthenticated());
    }
    let (service, upstream_path) =
        route(&proxy.upstreams, &path).ok_or_else(|| ApiError::not_found("no such endpoint"))?;
    let query = request.uri().query().map(|q| format!("?{q}")).unwrap_or_default();
    let (head, body) = request.into_parts();
    let mut headers = head.headers;
    drop_hop_by_hop(&mut headers);
    // The call carries the current W3C trace context, replacing any the client sent.
    skycamp_platform::telemetry::inject(&mut headers);
    // Read in full by `read_body_first`; this only takes it out of the request.
    let body = axum::body::to_bytes(body, MAX_BODY_BYTES).await.map_err(|_| {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("request body over {MAX_BODY_BYTES} bytes"))
    })?;
    let (status, headers, body) = match &service.here {
        Some(router) => {
            let uri = http::Uri::try_from(format!("{upstream_path}{query}"))
                .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "the request URI cannot be passed on"))?;
            let mut request = Request::new(Body::from(body));
            *request.method_mut() = method;
            *request.uri_mut() = uri;
            *request.headers_mut() = headers;
            let answer = tokio::time::timeout(proxy.timeout, router.clone().oneshot(request))
                .await
                .map_err(|_| upstream_error(&path, &Trouble::TimedOut))?;
            let (head, body) = answer.unwrap_or_else(|never| match never {}).into_parts();
            (head.status, head.headers, body)
        }
        None => {
            let retry = retry_for(&method, &headers);
            let answer = service
                .endpoints
                .try_each(retry, |base| {
                    let uri = http::Uri::try_from(format!("{base}{upstream_path}{query}"));
                    let mut request = http::Request::new(Full::new(body.clone()));
                    *request.method_mut() = method.clone();
                    *request.headers_mut() = headers.clone();
                    async move {
                        *request.uri_mut() = uri.map_err(|e| (Failed::Other, Trouble::Failed(e.into())))?;
                        exchange(&proxy.http, request, proxy.timeout).await
                    }
                })
                .await
                .map_err(|e| upstream_error(&path, &e))?;
            let (head, body) = answer.into_parts();
            (head.status, head.headers, Body::new(body))
        }
    };
    Ok(pass_on(status, headers, body))
}

/// A service's answer as the gateway's: without the headers that describe the service's
/// connection, with its length as the service told it (the body is passed on as it comes).
fn pass_on(status: StatusCode, mut headers: HeaderMap, body: Body) -> Response {
    let length = headers.remove(header::CONTENT_LENGTH);
    drop_hop_by_hop(&mut headers);
    if let Some(length) = length {
        headers.insert(header::CONTENT_LENGTH, length);
    }
    if !headers.contains_key(header::CONTENT_TYPE) && status != StatusCode::NO_CONTENT {
        headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    }
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

fn upstream_error(path: &str, e: &Trouble) -> ApiError {
    tracing::warn!(%path, error = %e, "upstream call failed");
    if matches!(e, Trouble::TimedOut) {
        ApiError::new(StatusCode::GATEWAY_TIMEOUT, "the service did not answer in time")
    } else {
        ApiError::unavailable("the service is unavailable, try again shortly", 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstreams() -> Upstreams {
        Upstreams {
            flight: "F".into(),
            reservation: "R".into(),
            payment: "P".into(),
            campsite: "C".into(),
            mileage: "M".into(),
            notification: "N".into(),
            review: "V".into(),
            account: "A".into(),
        }
    }

    fn r<'a>(u: &'a Upstreams, path: &str) -> Option<(&'a str, String)> {
        route(u, path).map(|(base, p)| (base.as_str(), p))
    }

    #[test]
    fn each_prefix_goes_to_its_owner() {
        let u = upstreams();
        assert_eq!(r(&u, "/flights/1"), Some(("F", "/flights/1".into())));
        assert_eq!(r(&u, "/flightStatuses"), Some(("R", "/flightStatuses".into())));
        assert_eq!(r(&u, "/reservations/3/cancel"), Some(("R", "/reservations/3/cancel".into())));
        assert_eq!(r(&u, "/payments"), Some(("P", "/payments".into())));
        assert_eq!(r(&u, "/campsites/2"), Some(("C", "/campsites/2".into())));
        assert_eq!(r(&u, "/campsiteStatuses"), Some(("R", "/campsiteStatuses".into())));
        assert_eq!(r(&u, "/mileages/01012345678"), Some(("M", "/mileages/01012345678".into())));
        assert_eq!(r(&u, "/messages"), Some(("N", "/messages".into())));
        assert_eq!(r(&u, "/reviews"), Some(("V", "/reviews".into())));
    }

    #[test]
    fn the_seeds_pays_route_is_rewritten_to_payments() {
        assert_eq!(r(&upstreams(), "/pays/2"), Some(("P", "/payments/2".into())));
    }

    #[test]
    fn dead_letters_are_reached_per_service() {
        let u = upstreams();
        assert_eq!(r(&u, "/deadLetters/mileage"), Some(("M", "/deadLetters".into())));
        assert_eq!(r(&u, "/deadLetters/flight/3/replay"), Some(("F", "/deadLetters/3/replay".into())));
        assert_eq!(r(&u, "/deadLetters/gateway"), None);
        assert_eq!(r(&u, "/deadLetters"), None);
    }

    #[test]
    fn the_charge_is_internal_and_never_routed() {
        assert!(is_internal(&Method::POST, "/payments"));
        assert!(is_internal(&Method::POST, "/pays/"));
        assert!(!is_internal(&Method::GET, "/payments"));
        assert!(!is_internal(&Method::POST, "/payments/3/refund"));
    }

    #[test]
    fn only_reads_and_keyed_posts_are_repeated_on_another_instance() {
        let mut keyed = HeaderMap::new();
        keyed.insert("idempotency-key", header::HeaderValue::from_static("k1"));
        assert_eq!(retry_for(&Method::GET, &HeaderMap::new()), Retry::Safe);
        assert_eq!(retry_for(&Method::POST, &keyed), Retry::Safe);
        assert_eq!(retry_for(&Method::POST, &HeaderMap::new()), Retry::ConnectOnly);
        assert_eq!(retry_for(&Method::DELETE, &keyed), Retry::ConnectOnly);
    }

    #[test]
    fn bookings_placed_are_summed_over_kinds() {
        let text = "# TYPE skycamp_bookings_total counter\n\
            skycamp_bookings_total{kind=\"flight\",outcome=\"placed\"} 3\n\
            skycamp_bookings_total{kind=\"campsite\",outcome=\"placed\"} 2\n\
            skycamp_bookings_total{kind=\"flight\",outcome=\"confirmed\"} 3\n";
        assert_eq!(placed(text), 5.0);
    }

    #[test]
    fn unknown_prefixes_are_not_proxied() {
        let u = upstreams();
        assert_eq!(r(&u, "/admin"), None);
        assert_eq!(r(&u, "/flightsX"), None);
        assert_eq!(r(&u, "/"), None);
    }
}

#[cfg(test)]
mod overload_tests {
    use super::*;
    use skycamp_platform::auth::{Auth, identify};

    /// A gateway whose every upstream is a fake service that answers after `delay`.
    async fn gateway_in_front_of_a_slow_service(limits: Limits, delay: Duration) -> String {
        let slow = Router::new().route(
            "/{*path}",
            any(move || async move {
                tokio::time::sleep(delay).await;
                axum::Json(serde_json::json!([]))
            }),
        );
        gateway_in_front_of(slow, limits, Duration::from_secs(10)).await
    }

    fn every_service_at(url: &str) -> Upstreams {
        let u = || url.to_owned();
        Upstreams {
            flight: u(),
            reservation: u(),
            payment: u(),
            campsite: u(),
            mileage: u(),
            notification: u(),
            review: u(),
            account: u(),
        }
    }

    /// A gateway whose every upstream is `service`, each call within `timeout`.
    async fn gateway_in_front_of(service: Router, limits: Limits, timeout: Duration) -> String {
        let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", upstream.local_addr().unwrap());
        tokio::spawn(skycamp_platform::server::serve(upstream, service, Default::default(), Default::default()));
        let upstreams = every_service_at(&url);
        let in_process = HashMap::new();
        let gateway =
            router(Config { upstreams, in_process, timeout, limits, api: None, auth: Auth::off(), sign_in: None })
                .unwrap()
                .layer(axum::middleware::from_fn_with_state(Auth::off(), identify));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let gw = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(skycamp_platform::server::serve(listener, gateway, Default::default(), Default::default()));
        gw
    }

    #[tokio::test]
    async fn a_service_in_the_process_gets_the_request_as_over_tcp_but_not_the_gateways_caller() {
        // The flight service "runs here": its router answers with what it was given.
        let flight = Router::new().route(
            "/{*path}",
            any(|request: Request| async move {
                let header = |name: &str| request.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
                axum::Json(serde_json::json!({
                    "uri": request.uri().to_string(),
                    "caller": request.extensions().get::<Caller>().is_some(),
                    "connection": header("connection"),
                    "custom": header("x-custom"),
                }))
            }),
        );
        let config = Config {
            upstreams: every_service_at("http://127.0.0.1:9"),
            in_process: HashMap::from([("flight", flight)]),
            timeout: Duration::from_secs(10),
            limits: Limits::default(),
            api: None,
            auth: Auth::off(),
            sign_in: None,
        };
        let gateway = router(config).unwrap().layer(axum::middleware::from_fn_with_state(Auth::off(), identify));
        let campsites = Request::get("/campsites").body(Body::empty()).unwrap();
        let answer = gateway.clone().oneshot(campsites).await.unwrap();
        assert_eq!(answer.status(), 503, "a service not here is reached by its URL, where nothing listens");
        let request = Request::get("/flights/7?x=1")
            .header("connection", "keep-alive")
            .header("x-custom", "kept")
            .body(Body::empty())
            .unwrap();
        let answer = gateway.oneshot(request).await.unwrap();
        assert_eq!(answer.status(), 200, "the flight service here answered, though its URL leads nowhere");
        let body = axum::body::to_bytes(answer.into_body(), 1 << 20).await.unwrap();
        let seen: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            seen,
            serde_json::json!({
                "uri": "/flights/7?x=1",
                "caller": false,
                "connection": null,
                "custom": "kept",
            }),
            "the service verifies callers itself and sees no connection headers"
        );
    }

    #[tokio::test]
    async fn a_large_answer_passes_through_whole_with_its_length() {
        let big: String = (0..200_000).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
        let body = big.clone();
        let service = Router::new().route("/{*path}", any(move || std::future::ready(body.clone())));
        let gw = gateway_in_front_of(service, Limits::default(), Duration::from_secs(10)).await;
        let answer = reqwest::get(format!("{gw}/flights")).await.unwrap();
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.headers()["content-length"], big.len().to_string().as_str());
        assert_eq!(answer.text().await.unwrap(), big);
    }

    #[tokio::test]
    async fn a_service_that_stalls_mid_answer_has_the_clients_connection_cut() {
        let service = Router::new().route(
            "/{*path}",
            any(|| async {
                use futures::StreamExt as _;
                let first = futures::stream::once(async { Ok::<_, std::io::Error>(Bytes::from_static(b"[")) });
                Body::from_stream(first.chain(futures::stream::pending()))
            }),
        );
        let gw = gateway_in_front_of(service, Limits::default(), Duration::from_millis(300)).await;
        let answer = reqwest::get(format!("{gw}/flights")).await.unwrap();
        assert_eq!(answer.status(), 200, "the head came in time");
        // Bounded so that a gateway holding the connection open fails the test instead of hanging it.
        let body = tokio::time::timeout(Duration::from_secs(30), answer.bytes()).await.expect("the gateway gave up");
        assert!(body.is_err(), "the cut answer is not taken for a whole one: {body:?}");
    }

    async fn statuses(gw: &str, n: usize) -> Vec<(u16, String, Option<String>)> {
        let http = reqwest::Client::new();
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..n {
            let (http, url) = (http.clone(), format!("{gw}/flightStatuses"));
            set.spawn(async move {
                let r = http.get(url).send().await.unwrap();
                let ctype = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
                let retry = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
                (r.status().as_u16(), ctype, retry)
            });
        }
        let mut out = Vec::new();
        while let Some(r) = set.join_next().await {
            out.push(r.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn beyond_the_in_flight_limit_requests_get_503_at_once_instead_of_queueing() {
        let limits = Limits { max_in_flight: 2, per_client_per_second: 0, burst: 1, ..Limits::default() };
        let gw = gateway_in_front_of_a_slow_service(limits, Duration::from_millis(500)).await;
        let answers = statuses(&gw, 8).await;
        let ok = answers.iter().filter(|a| a.0 == 200).count();
        let shed: Vec<_> = answers.iter().filter(|a| a.0 == 503).collect();
        assert_eq!((ok, shed.len()), (2, 6), "{answers:?}");
        assert!(shed.iter().all(|a| a.1 == "application/problem+json" && a.2.as_deref() == Some("1")));
    }

    #[tokio::test]
    async fn beyond_a_clients_rate_requests_get_429_with_retry_after() {
        let limits = Limits { max_in_flight: 100, per_client_per_second: 1, burst: 3, ..Limits::default() };
        let gw = gateway_in_front_of_a_slow_service(limits, Duration::ZERO).await;
        let answers = statuses(&gw, 6).await;
        let limited: Vec<_> = answers.iter().filter(|a| a.0 == 429).collect();
        assert_eq!(answers.iter().filter(|a| a.0 == 200).count(), 3, "the burst passes: {answers:?}");
        assert_eq!(limited.len(), 3);
        assert!(limited.iter().all(|a| a.1 == "application/problem+json" && a.2.is_some()));
    }
}
