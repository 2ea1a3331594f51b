//! A poison event is parked, the consumer goes on, and parked events are listed and replayable
//! through the gateway.

use serde_json::{Value, json};
use skycamp_platform::Envelope;
use skycamp_platform::events::Record;

use crate::support::TestApp;

#[tokio::test]
async fn a_poison_event_is_parked_and_the_next_booking_still_confirms() {
    let app = TestApp::spawn_with(|s| s.consumer_max_attempts = 2).await;
    let flight = app.register_flight("DLQ1", 10_000, 5).await;

    // A ReservationPlaced whose payload no consumer can read.
    let poison =
        Envelope::new("reservation", "ReservationPlaced", "reservation/999".into(), json!({ "reservationId": "oops" }));
    let record = Record { topic: "reservation".into(), key: poison.subject.clone(), envelope: poison.clone() };
    app.running().transport().publish(&[record]).await.unwrap();

    let (code, r) = app.book(flight, 1, "01066667777").await;
    assert_eq!(code, 201);
    app.wait_for_status(r["id"].as_i64().unwrap(), "CONFIRMED").await;

    let parked = app.get("/deadLetters/flight").await;
    let letter = parked
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["eventId"] == poison.id.as_str())
        .cloned()
        .expect("parked at flight");
    assert_eq!(
        (letter["consumer"].as_str(), letter["eventType"].as_str()),
        (Some("flight"), Some("ReservationPlaced"))
    );
    assert!(letter["error"].as_str().unwrap().contains("malformed payload"), "{letter}");

    let id = letter["id"].as_i64().unwrap();
    let (code, problem) = app.post(&format!("/deadLetters/flight/{id}/replay"), &json!({})).await;
    assert_eq!(code, 409, "{problem}");
    let still: Value = app.get("/deadLetters/flight").await;
    assert!(still.as_array().unwrap().iter().any(|l| l["id"] == id), "a failed replay leaves it parked");
    let (code, _) = app.post("/deadLetters/flight/777/replay", &json!({})).await;
    assert_eq!(code, 404);
}
