//! A reservation left in PENDING_PAYMENT (the process died during the payment call) is settled
//! with the payment service by reservation id.

use std::time::Duration;

use serde_json::json;
use skycamp_contracts::reservation::Booked;
use skycamp_platform::outbox::Waker;
use skycamp_reservation::domain::NewReservation;
use skycamp_reservation::store::ReservationStore;

use crate::support::TestApp;

/// Stops the app and leaves a PENDING_PAYMENT reservation behind, as a crash mid-call would.
async fn crash_with_pending(app: &mut TestApp, flight: i64) -> i64 {
    app.settle().await;
    app.stop().await;
    let db = app.service_db(skycamp::app::Service::Reservation).await;
    let store = ReservationStore::new(db.clone(), Waker::default(), app.clock.clone());
    let new = NewReservation {
        item: Booked::Flight { flight_id: flight, count: 1 },
        unit_price: 40_000,
        units: 1,
        phone: "01044440000".into(),
        email: None,
        name: None,
    };
    let pending = store.create_pending(&new, None).await.unwrap();
    db.close().await;
    // Down long enough for the reservation to count as stale when the platform is back.
    app.clock.advance(Duration::from_secs(60));
    pending.id
}

async fn restart(app: &mut TestApp) {
    let mut settings = crate::support::settings(app.dir.path());
    settings.clock = app.clock.clone();
    let running = skycamp::app::start(&settings, &skycamp::app::Service::ALL).await.unwrap();
    app.gateway = running.url(skycamp::app::Service::Gateway);
    app.internal_key = settings.internal_key.clone();
    app.running = Some(running);
}

#[tokio::test]
async fn a_pending_reservation_without_a_payment_is_rejected_after_a_crash() {
    let mut app = TestApp::spawn().await;
    let flight = app.register_flight("REC1", 40_000, 2).await;
    let id = crash_with_pending(&mut app, flight).await;
    restart(&mut app).await;
    app.wait_for_status(id, "REJECTED").await;
    app.settle().await;
    let payment = &app.get(&format!("/payments?reservationId={id}")).await[0];
    assert_eq!(payment["status"], "DECLINED", "a void is recorded so no late charge can succeed");
    let late = json!({ "reservationId": id, "amount": 40_000, "phone": "01044440000" });
    let payment = app.running().url(skycamp::app::Service::Payment);
    let code = crate::support::signed_charge(&payment, &app.internal_key, &late).await;
    assert_eq!(code, 402, "a late charge for the rejected reservation is refused");
    assert_eq!(app.seats_left_at_flight_service(flight).await, 2);
}

#[tokio::test]
async fn a_pending_reservation_whose_payment_went_through_is_honoured_after_a_crash() {
    let mut app = TestApp::spawn().await;
    let flight = app.register_flight("REC2", 40_000, 2).await;
    let id = crash_with_pending(&mut app, flight).await;
    // The charge reached the payment service just before the crash.
    let settings = crate::support::settings(app.dir.path());
    let payment = skycamp::app::start(&settings, &[skycamp::app::Service::Payment]).await.unwrap();
    let charge = json!({ "reservationId": id, "amount": 40_000, "phone": "01044440000" });
    let charged =
        crate::support::signed_charge(&payment.url(skycamp::app::Service::Payment), &settings.internal_key, &charge)
            .await;
    assert_eq!(charged, 201);
    payment.shutdown().await;

    restart(&mut app).await;
    app.wait_for_status(id, "CONFIRMED").await;
    let timeline = app.get(&format!("/reservations/{id}/timeline")).await;
    let approved =
        timeline.as_array().unwrap().iter().find(|s| s["step"] == "payment approved").expect("reconciled step");
    assert_eq!(approved["status"], "PAID");
    assert_eq!(app.seats_left_at_flight_service(flight).await, 1);
    let payment = &app.get(&format!("/payments?reservationId={id}")).await[0];
    assert_eq!(payment["status"], "APPROVED", "charged once, kept");
}
