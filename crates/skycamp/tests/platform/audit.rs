//! The reconciliation auditor finds nothing after real traffic, and finds every injected mismatch.

use serde_json::json;
use skycamp::app::Service;
use skycamp::audit::audit;

use crate::support::TestApp;

async fn sql(app: &TestApp, service: Service, statement: &'static str) {
    let db = app.service_db(service).await;
    let changed = sqlx::query(statement).execute(db.writer()).await.unwrap();
    assert!(changed.rows_affected() > 0, "{statement} changed nothing");
    db.close().await;
}

#[tokio::test]
async fn the_auditor_finds_no_mismatch_after_real_traffic_and_every_injected_one() {
    let app = TestApp::spawn().await;
    let flight = app.register_flight("AUD1", 10_000, 3).await;
    let site = app.register_campsite("AUD2", 20_000, 4).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(app.book(flight, 1, &format!("0109000000{i}")).await.1["id"].as_i64().unwrap());
        ids.push(app.book_stay(site, 1 + i % 2, 3, 2, &format!("0109100000{i}")).await.1["id"].as_i64().unwrap());
    }
    app.settle().await;
    // Which 3 of the 5 flight bookings won the seats depends on delivery order (over Kafka the
    // bookings travel on several partitions), so the test asks.
    let mut won = Vec::new();
    for id in ids.iter().step_by(2) {
        if app.status_of(*id).await == "CONFIRMED" {
            won.push(*id);
        }
    }
    assert_eq!(won.len(), 3, "3 seats, 3 winners");
    let (confirmed_flight, cancelled) = (won[0], won[1]);
    assert_eq!(app.post(&format!("/reservations/{cancelled}/cancel"), &json!({})).await.0, 200);
    app.settle().await;

    let clean = audit(&app.gateway).await.unwrap();
    assert_eq!(clean.mismatches, [], "real traffic leaves the services in agreement");
    assert_eq!((clean.reservations, clean.payments), (10, 10));
    assert!(clean.seat_holds >= 2 && clean.held_nights >= 1);

    // Inject: an extra seat held, a refund undone, a night lost.
    sql(&app, Service::Flight, "UPDATE seat_holds SET seat_count = seat_count + 1 WHERE reservation_id = (SELECT MIN(reservation_id) FROM seat_holds WHERE status = 'HELD')").await;
    sql(&app, Service::Payment, "UPDATE payments SET status = 'APPROVED' WHERE status = 'REFUNDED' AND reservation_id = (SELECT MIN(reservation_id) FROM payments WHERE status = 'REFUNDED')").await;
    sql(&app, Service::Campsite, "DELETE FROM campsite_nights WHERE night = (SELECT MAX(night) FROM campsite_nights)")
        .await;

    let report = audit(&app.gateway).await.unwrap();
    let checks: Vec<(&str, Option<i64>)> = report.mismatches.iter().map(|m| (m.check, m.reservation_id)).collect();
    assert!(checks.contains(&("seats", Some(confirmed_flight))), "{:#?}", report.mismatches);
    assert!(checks.contains(&("seats", None)), "the flight's total disagrees too: {:#?}", report.mismatches);
    assert!(checks.iter().any(|(c, _)| *c == "payments"), "{:#?}", report.mismatches);
    assert!(checks.iter().any(|(c, _)| *c == "nights"), "{:#?}", report.mismatches);
    assert_eq!(report.mismatches.len(), 4, "{:#?}", report.mismatches);
}
