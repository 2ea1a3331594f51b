//! The payment circuit breaker: payment down → the breaker opens and bookings fail fast without
//! writing or charging anything; payment back → a probe closes it and bookings succeed again.

use std::time::Duration;

use serde_json::{Value, json};
use skycamp::app::{self, Service};
use skycamp_reservation::payment_client::BreakerConfig;

use crate::support::{self, eventually};

const PHONE: &str = "01033334444";

#[tokio::test]
async fn the_breaker_opens_while_payment_is_down_and_closes_when_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let payment_port = support::free_port();
    let mut s = support::settings(dir.path());
    s.remote.insert(Service::Payment, format!("http://127.0.0.1:{payment_port}"));
    s.breaker = BreakerConfig {
        failure_rate: 0.5,
        window: Duration::from_secs(60),
        min_calls: 3,
        slow_call: Duration::from_secs(1),
        open_for: Duration::from_millis(500),
        half_open_calls: 1,
    };
    let running = app::start(&s, &support::all_but(Service::Payment)).await.unwrap();
    let gw = running.url(Service::Gateway);
    let http = reqwest::Client::new();
    let flight = support::register_flight(&http, &gw, "CB1", 10_000, 50).await;
    let book = || async {
        let r = http
            .post(format!("{gw}/reservations"))
            .json(&json!({ "flightId": flight, "count": 1, "phone": PHONE }))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned()))
    };
    let circuit =
        || async { http.get(format!("{gw}/circuits")).send().await.unwrap().json::<Value>().await.unwrap()[0].clone() };
    let history = || async {
        http.get(format!("{gw}/reservations?phone={PHONE}")).send().await.unwrap().json::<Value>().await.unwrap()
    };

    // Payment is down: three failed calls open the breaker.
    for _ in 0..3 {
        assert_eq!(book().await.0, 503);
    }
    assert_eq!(circuit().await["state"], "OPEN");
    assert_eq!(history().await.as_array().unwrap().len(), 3, "the three tried bookings were rejected");

    // While open: 503 with Retry-After, and nothing is written.
    let (code, retry_after) = book().await;
    assert_eq!((code, retry_after.as_deref()), (503, Some("1")));
    assert_eq!(history().await.as_array().unwrap().len(), 3, "an open breaker writes no reservation");
    assert!(history().await.as_array().unwrap().iter().all(|r| r["status"] == "REJECTED"));

    // Payment comes back on its port; after the open period a probe closes the breaker.
    s.ports.insert(Service::Payment, payment_port);
    let payment = app::start(&s, &[Service::Payment]).await.unwrap();
    eventually("a booking succeeds again", || async { book().await.0 == 201 }).await;
    let c = circuit().await;
    assert_eq!(c["state"], "CLOSED");
    assert!(c["opened"].as_u64().unwrap() >= 1 && c["closed"].as_u64().unwrap() >= 1, "{c}");
    let charged: Value = http.get(format!("{gw}/payments")).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        charged.as_array().unwrap().iter().filter(|p| p["status"] == "APPROVED").count(),
        1,
        "only the successful booking is charged"
    );
    payment.shutdown().await;
    running.shutdown().await;
}
