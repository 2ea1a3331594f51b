//! The camping seed's eleven functional requirements, in order, through the gateway.

use serde_json::json;

use crate::support::TestApp;

const PHONE: &str = "01055556666";

#[tokio::test]
async fn the_camping_seed_walks_all_eleven_requirements() {
    let app = TestApp::spawn().await;

    // 1. The admin manages campsites on the admin site: register, edit, delete.
    let pine = app.register_campsite("Pine Grove", 40_000, 4).await;
    let gone = app.register_campsite("Temporary", 10_000, 2).await;
    let (code, edited) = app
        .patch(&format!("/campsites/{pine}"), &json!({ "pricePerNight": "50000", "amenities": "fire pit,shower,wifi" }))
        .await;
    assert_eq!(code, 200, "{edited}");
    assert_eq!(edited["amenities"], json!(["fire pit", "shower", "wifi"]));
    assert_eq!(app.delete(&format!("/campsites/{gone}")).await, 204);
    let listed = app.get("/campsites").await;
    assert_eq!(listed.as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect::<Vec<_>>(), [pine]);
    app.eventually("the edit reaches the status view", || async {
        app.get(&format!("/campsiteStatuses/{pine}")).await["pricePerNight"] == 50_000
    })
    .await;

    // 2 + 3. The customer books two stays and pays at once: 201 PAID, nights × price per night.
    let (code, stay) = app.book_stay(pine, 1, 3, 3, PHONE).await;
    assert_eq!(code, 201, "{stay}");
    assert_eq!(
        (stay["status"].as_str(), stay["nights"].as_i64(), stay["amount"].as_i64()),
        (Some("PAID"), Some(2), Some(100_000))
    );
    let kept = stay["id"].as_i64().unwrap();
    let (code, other) = app.book_stay(pine, 5, 6, 2, PHONE).await;
    assert_eq!(code, 201, "{other}");
    let cancelled = other["id"].as_i64().unwrap();
    app.wait_for_status(kept, "CONFIRMED").await;
    app.wait_for_status(cancelled, "CONFIRMED").await;
    assert_eq!(app.get(&format!("/payments?reservationId={kept}")).await[0]["status"], "APPROVED");

    // 4. Mileage accrues on payment: 1 % of 100,000 + 50,000.
    app.eventually("mileage for both payments", || async { app.mileage(PHONE).await == 1_500 }).await;

    // 5. The confirmation is sent to the customer.
    app.eventually("confirmation messages", || async { app.message_topics(PHONE, kept).await == ["confirmed"] }).await;

    // 6. The customer cancels a stay.
    let (code, body) = app.post(&format!("/reservations/{cancelled}/cancel"), &json!({})).await;
    assert_eq!((code, body["status"].as_str()), (200, Some("CANCELLED")));

    // 7. Mileage is deducted: exactly what that payment earned.
    app.eventually("mileage deducted", || async { app.mileage(PHONE).await == 1_000 }).await;

    // 8. The cancellation (and the refund) is sent to the customer.
    app.eventually("cancel messages", || async {
        app.message_topics(PHONE, cancelled).await == ["cancelled", "confirmed", "refunded"]
    })
    .await;

    // 9. A review, once the stay is over (nights 1 and 2: check-out on day 3); one per stay.
    let review = json!({ "campsiteId": pine, "rating": 5, "text": "Quiet and clean", "phone": PHONE });
    let (code, body) = app.post("/reviews", &review).await;
    assert_eq!(code, 403, "not before the stay: {body}");
    app.clock.advance_days(2);
    let (code, body) = app.post("/reviews", &review).await;
    assert_eq!(code, 403, "not during the last night: {body}");
    app.clock.advance_days(1);
    let (code, body) = app.post("/reviews", &review).await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["reservationId"], kept);
    let (code, _) = app.post("/reviews", &review).await;
    assert_eq!(code, 409, "one review per stay");

    // 10. The review earns mileage.
    app.eventually("mileage for the review", || async { app.mileage(PHONE).await == 1_500 }).await;
    let ledger = app.get(&format!("/mileages/{PHONE}")).await;
    let causes: Vec<&str> =
        ledger["entries"].as_array().unwrap().iter().map(|e| e["cause"].as_str().unwrap()).collect();
    assert_eq!(causes, ["ReviewWritten", "PaymentCancelled", "PaymentApproved", "PaymentApproved"]);

    // 11. Campsite info and booking status in one view.
    app.settle().await;
    let from = app.day(-3);
    let to = app.day(7);
    let statuses = app.get(&format!("/campsiteStatuses?from={from}&to={to}")).await;
    let view = statuses.as_array().unwrap().iter().find(|s| s["id"] == pine).unwrap().clone();
    assert_eq!(view["name"], "Pine Grove");
    assert_eq!((view["rating"].as_f64(), view["reviews"].as_i64()), (Some(5.0), Some(1)));
    assert_eq!(
        view["bookedNights"],
        json!([app.day(-2), app.day(-1)]),
        "the kept stay's nights; the cancelled ones are free"
    );
    assert_eq!(view["status"], "PARTLY_BOOKED");
    assert_eq!(view["availableNights"].as_array().unwrap().len(), 8);
    assert!(statuses.as_array().unwrap().iter().all(|s| s["id"] != gone), "deleted campsites are not listed");

    // The customer's own view shows the stays; the timeline shows every step.
    let mine = app.get(&format!("/reservations?phone={PHONE}")).await;
    assert_eq!(
        mine.as_array().unwrap().iter().map(|r| r["kind"].as_str().unwrap()).collect::<Vec<_>>(),
        ["campsite", "campsite"]
    );
    let steps: Vec<String> = app
        .get(&format!("/reservations/{cancelled}/timeline"))
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap().to_owned())
        .collect();
    for step in [
        "requested",
        "payment approved",
        "nights reserved",
        "cancelled",
        "payment refunded",
        "nights released",
        "mileage accrued",
        "mileage deducted",
        "message sent",
    ] {
        assert!(steps.iter().any(|s| s == step), "timeline lacks {step}: {steps:?}");
    }
}

#[tokio::test]
async fn a_campsite_with_upcoming_stays_cannot_be_deleted_or_shrunk_below_them() {
    let app = TestApp::spawn().await;
    let site = app.register_campsite("Birch", 30_000, 6).await;
    let (_, stay) = app.book_stay(site, 2, 4, 5, PHONE).await;
    app.wait_for_status(stay["id"].as_i64().unwrap(), "CONFIRMED").await;

    assert_eq!(app.delete(&format!("/campsites/{site}")).await, 409);
    let (code, body) = app.patch(&format!("/campsites/{site}"), &json!({ "capacity": 4 })).await;
    assert_eq!(code, 422, "{body}");
    let (code, body) = app.patch(&format!("/campsites/{site}"), &json!({ "pricePerNight": 99_000 })).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        app.reservation(stay["id"].as_i64().unwrap()).await["amount"],
        60_000,
        "an edit never reprices a booking"
    );
}

#[tokio::test]
async fn a_refund_on_the_payment_side_cancels_the_stay_frees_the_nights_and_deducts_mileage() {
    let app = TestApp::spawn().await;
    let site = app.register_campsite("Maple", 70_000, 4).await;
    let (_, stay) = app.book_stay(site, 3, 5, 2, PHONE).await;
    let id = stay["id"].as_i64().unwrap();
    app.wait_for_status(id, "CONFIRMED").await;
    app.eventually("mileage accrued", || async { app.mileage(PHONE).await == 1_400 }).await;

    let (code, _) =
        app.post(&format!("/payments/{}/refund", stay["paymentId"]), &json!({ "reason": "chargeback" })).await;
    assert_eq!(code, 200);
    app.wait_for_status(id, "CANCELLED").await;
    app.eventually("mileage deducted", || async { app.mileage(PHONE).await == 0 }).await;
    app.eventually("nights free", || async {
        app.get(&format!("/campsiteStatuses/{site}")).await["bookedNights"] == json!([])
    })
    .await;
    app.eventually("messages", || async {
        app.message_topics(PHONE, id).await == ["cancelled", "confirmed", "refunded"]
    })
    .await;
}
