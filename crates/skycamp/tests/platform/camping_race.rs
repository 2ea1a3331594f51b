//! No night is ever held twice: 100 concurrent bookings of one campsite for overlapping dates.

use std::collections::BTreeSet;

use futures::future::join_all;
use serde_json::Value;

use crate::support::TestApp;

const PRICE: i64 = 20_000;

#[tokio::test]
async fn a_hundred_overlapping_bookings_never_hold_a_night_twice() {
    let app = TestApp::spawn().await;
    let site = app.register_campsite("Cedar", PRICE, 4).await;

    let answers = join_all((0..100i64).map(|i| {
        let app = &app;
        async move {
            let from = 1 + i % 10;
            let phone = format!("0102000{i:04}");
            let (code, r) = app.book_stay(site, from, from + 1 + i % 3, 2, &phone).await;
            (code, r, phone)
        }
    }))
    .await;
    assert!(answers.iter().all(|(code, _, _)| *code == 201), "every booking is paid and answered at once");
    app.settle().await;

    let mut held = BTreeSet::new();
    let mut winners = 0;
    for (_, r, phone) in &answers {
        let id = r["id"].as_i64().unwrap();
        let now: Value = app.reservation(id).await;
        let payment = &app.get(&format!("/payments?reservationId={id}")).await[0];
        match now["status"].as_str().unwrap() {
            "CONFIRMED" => {
                winners += 1;
                let nights = skycamp_contracts::reservation::nights(
                    now["checkIn"].as_str().unwrap(),
                    now["checkOut"].as_str().unwrap(),
                )
                .unwrap();
                for n in nights {
                    assert!(held.insert(n), "night {n} held twice");
                }
                assert_eq!(payment["status"], "APPROVED");
                assert_eq!(
                    app.mileage(phone).await,
                    now["amount"].as_i64().unwrap() / 100,
                    "winners keep their mileage"
                );
                assert_eq!(app.message_topics(phone, id).await, ["confirmed"]);
            }
            "REJECTED" => {
                assert_eq!(payment["status"], "REFUNDED", "loser {id} refunded");
                assert_eq!(app.mileage(phone).await, 0, "no mileage for a loser");
                assert_eq!(app.message_topics(phone, id).await, ["refunded", "rejected"]);
            }
            other => panic!("reservation {id} ended {other}"),
        }
    }
    assert!(winners >= 4, "the ten nights allow at least four disjoint stays ({winners})");
    let view = app.get(&format!("/campsiteStatuses/{site}?from={}&to={}", app.day(0), app.day(14))).await;
    let booked: BTreeSet<String> =
        view["bookedNights"].as_array().unwrap().iter().map(|n| n.as_str().unwrap().to_owned()).collect();
    assert_eq!(booked, held.iter().map(ToString::to_string).collect(), "the view shows exactly the winners' nights");
    assert_eq!(skycamp::audit::audit(&app.gateway).await.unwrap().mismatches, []);
}
