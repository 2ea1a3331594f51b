//! The gateway: the one door from outside. Routes each path prefix to the service that owns it,
//! passes a request id (`x-request-id`, made here if the client sent none), and turns an
//! unreachable service into a problem answer instead of a hang.
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
#![forbid(unsafe_code)]

use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::Response;
use axum::routing::any;
use skycamp_platform::http::{ApiError, MAX_BODY_BYTES};

/// Where the services are.
#[derive(Debug, Clone)]
pub struct Upstreams {
    pub flight: String,
    pub reservation: String,
    pub payment: String,
    pub campsite: String,
    pub mileage: String,
    pub notification: String,
    pub review: String,
}

/// Settings of the gateway.
#[derive(Debug, Clone)]
pub struct Config {
    pub upstreams: Upstreams,
    /// How long one proxied request may take (`SKYCAMP_GATEWAY_TIMEOUT_MS`).
    pub timeout: Duration,
}

#[derive(Clone)]
struct Proxy {
    http: reqwest::Client,
    upstreams: Upstreams,
}

/// The gateway's routes: everything not its own is proxied.
pub fn router(config: Config) -> anyhow::Result<Router> {
    let http = reqwest::Client::builder().timeout(config.timeout).pool_max_idle_per_host(64).build()?;
    Ok(Router::new().route("/{*path}", any(forward)).with_state(Proxy { http, upstreams: config.upstreams }))
}

/// The upstream base URL and path for a request path, or None when no service owns it.
fn route<'a>(upstreams: &'a Upstreams, path: &str) -> Option<(&'a str, String)> {
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
        _ => None,
    }
}

/// Headers that describe one connection, not the message; never forwarded.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "content-length"
    )
}

fn copy_headers(from: &HeaderMap) -> HeaderMap {
    from.iter().filter(|(name, _)| !is_hop_by_hop(name)).map(|(n, v)| (n.clone(), v.clone())).collect()
}

async fn forward(State(proxy): State<Proxy>, request: Request) -> Result<Response, ApiError> {
    let path = request.uri().path().to_owned();
    let (base, upstream_path) =
        route(&proxy.upstreams, &path).ok_or_else(|| ApiError::not_found("no such endpoint"))?;
    let query = request.uri().query().map(|q| format!("?{q}")).unwrap_or_default();
    let url = format!("{base}{upstream_path}{query}");
    let method = request.method().clone();
    let headers = copy_headers(request.headers());
    let body = axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES).await.map_err(|_| {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("request body over {MAX_BODY_BYTES} bytes"))
    })?;
    let answer = proxy.http.request(method, &url).headers(headers).body(body).send().await;
    let answer = answer.map_err(|e| upstream_error(&path, &e))?;
    let status = answer.status();
    let headers = copy_headers(answer.headers());
    let bytes: Bytes = answer.bytes().await.map_err(|e| upstream_error(&path, &e))?;
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    if !response.headers().contains_key(header::CONTENT_TYPE) && status != StatusCode::NO_CONTENT {
        response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    }
    Ok(response)
}

fn upstream_error(path: &str, e: &reqwest::Error) -> ApiError {
    tracing::warn!(%path, error = %e, "upstream call failed");
    if e.is_timeout() {
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
        }
    }

    #[test]
    fn each_prefix_goes_to_its_owner() {
        let u = upstreams();
        assert_eq!(route(&u, "/flights/1"), Some(("F", "/flights/1".into())));
        assert_eq!(route(&u, "/flightStatuses"), Some(("R", "/flightStatuses".into())));
        assert_eq!(route(&u, "/reservations/3/cancel"), Some(("R", "/reservations/3/cancel".into())));
        assert_eq!(route(&u, "/payments"), Some(("P", "/payments".into())));
        assert_eq!(route(&u, "/campsites/2"), Some(("C", "/campsites/2".into())));
        assert_eq!(route(&u, "/campsiteStatuses"), Some(("R", "/campsiteStatuses".into())));
        assert_eq!(route(&u, "/mileages/01012345678"), Some(("M", "/mileages/01012345678".into())));
        assert_eq!(route(&u, "/messages"), Some(("N", "/messages".into())));
        assert_eq!(route(&u, "/reviews"), Some(("V", "/reviews".into())));
    }

    #[test]
    fn the_seeds_pays_route_is_rewritten_to_payments() {
        assert_eq!(route(&upstreams(), "/pays/2"), Some(("P", "/payments/2".into())));
    }

    #[test]
    fn unknown_prefixes_are_not_proxied() {
        let u = upstreams();
        assert_eq!(route(&u, "/admin"), None);
        assert_eq!(route(&u, "/flightsX"), None);
        assert_eq!(route(&u, "/"), None);
    }
}
