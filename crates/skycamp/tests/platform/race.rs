//! No overbooking under concurrency: the flight service alone decides, atomically.

use futures::future::join_all;

use crate::support::{Ledger, TestApp, ledger};

#[tokio::test]
async fn two_hundred_concurrent_bookings_on_ten_seats_confirm_exactly_ten() {
    const PRICE: i64 = 70_000;
    let app = TestApp::spawn().await;
    let flight = app.register_flight("RACE1", PRICE, 10).await;

    let answers = join_all((0..200).map(|i| {
        let app = &app;
        async move { app.book(flight, 1, &format!("010{i:08}")).await }
    }))
    .await;
    assert!(answers.iter().all(|(code, _)| *code == 201), "every booking is paid and answered at once");
    let ids: Vec<i64> = answers.iter().map(|(_, r)| r["id"].as_i64().unwrap()).collect();

    app.settle().await;
    let mut confirmed = 0;
    let mut rejected = 0;
    for &id in &ids {
        match app.status_of(id).await.as_str() {
            "CONFIRMED" => confirmed += 1,
            "REJECTED" => {
                rejected += 1;
                let payment = &app.get(&format!("/payments?reservationId={id}")).await[0];
                assert_eq!(payment["status"], "REFUNDED", "rejected reservation {id} is refunded");
            }
            other => panic!("reservation {id} ended {other}"),
        }
    }
    assert_eq!((confirmed, rejected), (10, 190));
    assert_eq!(ledger(&app, &ids).await, Ledger { confirmed_seats: 10, net_charged: 10 * PRICE });
    assert_eq!(app.seats_left_at_flight_service(flight).await, 0);
    assert_eq!(app.seats_left_in_view(flight).await, 0);
    assert_eq!(app.flight_status(flight).await.unwrap()["status"], "SOLD_OUT");
    assert_eq!(skycamp::audit::audit(&app.gateway).await.unwrap().mismatches, []);
}
