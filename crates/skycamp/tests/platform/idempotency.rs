//! `Idempotency-Key`: a retried booking or cancel books nothing new and answers as the first time.

use futures::future::join_all;
use serde_json::{Value, json};

use crate::support::TestApp;

const PHONE: &str = "01077778888";

async fn post_with_key(app: &TestApp, path: &str, key: &str, body: &Value) -> (u16, Option<String>, Value) {
    let r = app.http.post(app.url(path)).header("idempotency-key", key).json(body).send().await.unwrap();
    let replayed = r.headers().get("idempotent-replayed").map(|v| v.to_str().unwrap().to_owned());
    (r.status().as_u16(), replayed, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_retried_booking_with_the_same_key_books_once_and_answers_the_same() {
    let app = TestApp::spawn().await;
    let flight = app.register_flight("IDEM1", 10_000, 5).await;
    let body = json!({ "flightId": flight, "count": 1, "phone": PHONE });

    let (code, replayed, first) = post_with_key(&app, "/reservations", "book-1", &body).await;
    assert_eq!((code, replayed), (201, None));
    let (code, replayed, again) = post_with_key(&app, "/reservations", "book-1", &body).await;
    assert_eq!((code, replayed.as_deref()), (201, Some("true")));
    assert_eq!(again, first, "the original body, byte for byte");

    let reordered = json!({ "phone": PHONE, "count": 1, "flightId": flight });
    assert_eq!(post_with_key(&app, "/reservations", "book-1", &reordered).await.0, 201, "key order does not matter");
    let other = json!({ "flightId": flight, "count": 2, "phone": PHONE });
    let (code, _, problem) = post_with_key(&app, "/reservations", "book-1", &other).await;
    assert_eq!(code, 422, "{problem}");

    app.settle().await;
    assert_eq!(app.get(&format!("/reservations?phone={PHONE}")).await.as_array().unwrap().len(), 1, "one reservation");
    assert_eq!(app.get("/payments").await.as_array().unwrap().len(), 1, "one charge");
    assert_eq!(app.seats_left_at_flight_service(flight).await, 4);
}

#[tokio::test]
async fn a_retried_cancel_with_the_same_key_answers_200_again_instead_of_409() {
    let app = TestApp::spawn().await;
    let flight = app.register_flight("IDEM2", 10_000, 5).await;
    let (_, r) = app.book(flight, 2, PHONE).await;
    let id = r["id"].as_i64().unwrap();
    app.wait_for_status(id, "CONFIRMED").await;
    let path = format!("/reservations/{id}/cancel");
    let (code, _, first) = post_with_key(&app, &path, "cancel-1", &json!({})).await;
    assert_eq!((code, first["status"].as_str()), (200, Some("CANCELLED")));
    let (code, replayed, again) = post_with_key(&app, &path, "cancel-1", &json!({})).await;
    assert_eq!((code, replayed.as_deref()), (200, Some("true")));
    assert_eq!(again, first);
    let (code, _, _) = post_with_key(&app, &path, "cancel-2", &json!({})).await;
    assert_eq!(code, 409, "a new key is a new request: already cancelled");
    app.settle().await;
    assert_eq!(app.seats_left_at_flight_service(flight).await, 5, "seats returned once");
}

#[tokio::test]
async fn concurrent_requests_with_one_key_book_once() {
    let app = TestApp::spawn().await;
    let flight = app.register_flight("IDEM3", 10_000, 50).await;
    let body = json!({ "flightId": flight, "count": 1, "phone": PHONE });
    let answers = join_all((0..10).map(|_| post_with_key(&app, "/reservations", "same", &body))).await;
    let ids: Vec<i64> =
        answers.iter().filter(|(c, _, _)| *c == 201).map(|(_, _, b)| b["id"].as_i64().unwrap()).collect();
    assert!(!ids.is_empty());
    assert!(ids.iter().all(|id| *id == ids[0]), "every 201 names the same reservation");
    assert!(answers.iter().all(|(c, _, _)| *c == 201 || *c == 409), "the rest are told to retry");
    app.settle().await;
    assert_eq!(app.get(&format!("/reservations?phone={PHONE}")).await.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_malformed_key_is_refused() {
    let app = TestApp::spawn().await;
    let (code, _, problem) = post_with_key(&app, "/reservations", &"k".repeat(300), &json!({})).await;
    assert_eq!(code, 400, "{problem}");
}
