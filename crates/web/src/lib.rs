//! Skycamp's web sites, served by the gateway: the customer site at `/` and the admin site at
//! `/admin` (docs/WEB.md, ADR 18).
//!
//! Pages are rendered on the server (askama) from the same public API every other client uses:
//! each page calls the gateway's own routes in process ([`Backend`]), as the signed-in person,
//! so the services decide who may see and do what, exactly as they do for the JSON API. Every
//! form is a plain HTML form that works with JavaScript off; htmx (from the npm registry at build
//! time, embedded) only adds live updates: a booking's status while it confirms, the admin's
//! bookings per minute.
//!
//! Sign-in stores the account service's token in an `HttpOnly`, `SameSite=Lax` cookie; a form
//! posted from another origin is refused (403), and every form that books, pays or refunds
//! carries an `Idempotency-Key`, so a double click or a resubmitted form cannot do it twice.
#![forbid(unsafe_code)]

mod admin;
mod api;
pub mod audit;
mod customer;
mod format;
mod forms;
mod i18n;
mod oidc;
mod page;
mod session;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use skycamp_platform::auth::Auth;

pub use i18n::Lang;
pub use oidc::OidcClient;

/// What the sites need from the gateway they are served by.
#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Sends `request` to the gateway's public API in process and returns its answer.
    async fn call(&self, request: Request) -> Response;
    /// Bookings placed so far (the reservation service's `skycamp_bookings_total{outcome="placed"}`,
    /// summed over its instances).
    async fn bookings_placed(&self) -> anyhow::Result<f64>;
}

/// The sites' shared state.
pub struct Web {
    backend: Arc<dyn Backend>,
    auth: Auth,
    /// With oidc: signing in at the provider.
    oidc: Option<Arc<oidc::Oidc>>,
    /// Bookings-placed readings for the admin's live rate, oldest first.
    readings: Mutex<std::collections::VecDeque<(std::time::Instant, f64)>>,
}

type State = axum::extract::State<Arc<Web>>;

/// The routes of both sites.
pub fn router(backend: Arc<dyn Backend>, auth: Auth, sign_in: Option<OidcClient>) -> Router {
    let oidc = sign_in.map(oidc::Oidc::new);
    let web = Arc::new(Web { backend, auth, oidc, readings: Mutex::default() });
    Router::new()
        .route("/", get(customer::home))
        .route("/assets/htmx.min.js", get(htmx))
        .route("/assets/site.css", get(css))
        .route("/lang", get(session::switch_language))
        .route("/signin", get(session::sign_in_form).post(session::sign_in))
        .route("/signup", get(session::sign_up_form).post(session::sign_up))
        .route("/signin/oidc", get(oidc::start))
        .route("/signin/callback", get(oidc::finish))
        .route("/signout", post(session::sign_out))
        .route("/book/flights/{id}", get(customer::flight).post(customer::book_flight))
        .route("/book/campsites/{id}", get(customer::campsite).post(customer::book_campsite))
        .route("/my/reservations", get(customer::reservations))
        .route("/my/reservations/{id}", get(customer::reservation))
        .route("/my/reservations/{id}/status", get(customer::status))
        .route("/my/reservations/{id}/cancel", post(customer::cancel))
        .route("/my/reservations/{id}/review", post(customer::review))
        .route("/my/mileage", get(customer::mileage))
        .route("/my/messages", get(customer::messages))
        .merge(admin::routes())
        .layer(axum::middleware::from_fn(guard))
        .with_state(web)
}

/// Every page's protections: a form posted from another origin is refused (the session cookie is
/// `SameSite=Lax` as well), and every answer forbids framing and any script, style or form
/// target that is not the site's own.
async fn guard(request: Request, next: Next) -> Response {
    if request.method() == Method::POST && !same_origin(&request) {
        return page_error(Lang::negotiate(request.headers()), StatusCode::FORBIDDEN, "cross-site form refused");
    }
    let lang = Lang::negotiate(request.headers());
    let mut response = next.run(request).await;
    // A request the extractors could not read (`/my/reservations/abc`, a form without its content
    // type) gets the site's error page, not the framework's plain-text answer.
    let plain = response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"text/plain"));
    if response.status().is_client_error() && plain {
        let status = response.status();
        let body = axum::body::to_bytes(std::mem::take(response.body_mut()), 4096).await.unwrap_or_default();
        response = page_error(lang, status, &String::from_utf8_lossy(&body));
    }
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    response
}

/// A POST is same-origin when its `Origin` (or, without one, `Sec-Fetch-Site`) says so; a
/// request with neither (a plain HTTP client, not a browser) carries no ambient cookie risk.
fn same_origin(request: &Request) -> bool {
    let headers = request.headers();
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
        let origin = origin.to_str().unwrap_or("");
        let origin_host = origin.split_once("://").map_or("", |(_, rest)| rest);
        return !host.is_empty() && origin_host == host;
    }
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        Some(site) => matches!(site, "same-origin" | "none"),
        None => true,
    }
}

/// An error page for a request that never reached a handler.
fn page_error(lang: Lang, status: StatusCode, detail: &str) -> Response {
    page::ErrorPage::anonymous(lang, status, detail).into_response()
}

const HTMX: &str = include_str!(concat!(env!("OUT_DIR"), "/htmx.min.js"));
const CSS: &str = include_str!("../assets/site.css");

/// Assets never change within one build: cached for a day, revalidated by the build's version.
async fn htmx() -> Response {
    asset("text/javascript; charset=utf-8", HTMX)
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = Response::new(Body::from(body));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(headers: &[(&str, &str)]) -> Request {
        let mut r = Request::builder().method(Method::POST).uri("/signin");
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.body(Body::empty()).unwrap()
    }

    #[test]
    fn forms_from_another_origin_are_refused() {
        assert!(same_origin(&post(&[("host", "shop.example"), ("origin", "https://shop.example")])));
        assert!(!same_origin(&post(&[("host", "shop.example"), ("origin", "https://evil.example")])));
        assert!(!same_origin(&post(&[("host", "shop.example"), ("origin", "null")])));
        assert!(!same_origin(&post(&[("sec-fetch-site", "cross-site")])));
        assert!(same_origin(&post(&[("sec-fetch-site", "same-origin")])));
    }

    #[tokio::test]
    async fn what_the_extractors_refuse_is_an_html_error_page() {
        use tower::ServiceExt as _;
        let app = Router::new()
            .route("/n/{id}", get(|axum::extract::Path(id): axum::extract::Path<i64>| async move { id.to_string() }))
            .layer(axum::middleware::from_fn(guard));
        let r = app.oneshot(Request::builder().uri("/n/abc").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "text/html; charset=utf-8");
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        assert!(String::from_utf8_lossy(&body).contains("<main"), "the site's page");
    }

    #[test]
    fn htmx_is_embedded() {
        assert!(HTMX.len() > 10_000 && HTMX.contains("htmx"));
    }
}
