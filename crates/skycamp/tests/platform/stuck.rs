//! A saga waiting too long for the inventory service is visible, and an operator can ask again
//! or compensate; nothing leaks when the inventory service comes back late.

use std::time::Duration;

use serde_json::json;
use skycamp::app::{self, Service};

use crate::support::TestApp;

#[tokio::test]
async fn stuck_reservations_are_listed_retried_or_compensated_without_leaking_seats() {
    let mut app = TestApp::spawn().await;
    let flight = app.register_flight("STUCK1", 20_000, 5).await;
    app.settle().await;
    app.stop().await;

    // The flight service is down; bookings are paid and wait.
    let others = [Service::Gateway, Service::Reservation, Service::Payment, Service::Mileage, Service::Notification];
    let mut s = app.restart_without(Service::Flight, &others).await;
    let (_, given_up) = app.book(flight, 1, "01011112222").await;
    let (_, retried) = app.book(flight, 2, "01011113333").await;
    let (given_up, retried) = (given_up["id"].as_i64().unwrap(), retried["id"].as_i64().unwrap());
    assert_eq!(app.get("/reservations?stuck=true").await, json!([]), "not stuck before the deadline");
    app.clock.advance(Duration::from_secs(61));
    let stuck = app.get("/reservations?stuck=true").await;
    let ids: Vec<i64> = stuck.as_array().unwrap().iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [given_up, retried]);

    // The operator gives up on one: rejected and refunded.
    let (code, r) = app.post(&format!("/reservations/{given_up}/compensate"), &json!({})).await;
    assert_eq!((code, r["status"].as_str()), (200, Some("REJECTED")), "{r}");
    assert_eq!(app.post(&format!("/reservations/{given_up}/compensate"), &json!({})).await.0, 409);
    app.eventually("refunded", || async {
        app.get(&format!("/payments?reservationId={given_up}")).await[0]["status"] == "REFUNDED"
    })
    .await;

    // … and asks the inventory service again about the other.
    let (code, _) = app.post(&format!("/reservations/{retried}/retry"), &json!({})).await;
    assert_eq!(code, 200);
    assert_eq!(app.post(&format!("/reservations/{given_up}/retry"), &json!({})).await.0, 409, "only waiting ones");

    // The flight service comes back: the retried booking is confirmed once, and the seat taken
    // late for the compensated one is released again.
    s.ports.insert(Service::Flight, 0);
    let flight_service = app::start(&s, &[Service::Flight]).await.unwrap();
    let flights = format!("{}/flights/{flight}", flight_service.url(Service::Flight));
    app.wait_for_status(retried, "CONFIRMED").await;
    app.eventually("only the confirmed seats held", || async {
        let f: serde_json::Value = app.http.get(&flights).send().await.unwrap().json().await.unwrap();
        f["seatsLeft"] == 3
    })
    .await;
    assert_eq!(app.status_of(given_up).await, "REJECTED");
    assert_eq!(app.get("/reservations?stuck=true").await, json!([]));
    let steps = app.get(&format!("/reservations/{retried}/timeline")).await;
    assert!(steps.as_array().unwrap().iter().any(|s| s["step"] == "retried by operator"));
    flight_service.shutdown().await;
}
