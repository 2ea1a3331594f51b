//! Hostile or careless clients get a clear 4xx problem document, never a 500, and nothing is written.

use serde_json::{Value, json};

use crate::support::TestApp;

async fn send(app: &TestApp, method: reqwest::Method, path: &str, body: Option<&str>) -> (u16, String, Value) {
    let mut req = app.http.request(method, app.url(path));
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b.to_owned());
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let ctype = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, ctype, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn bad_requests_get_problem_documents_and_write_nothing() {
    let app = TestApp::spawn().await;
    let flight = app.register_flight("BAD1", 300_000, 40).await;
    use reqwest::Method as M;
    let cases: &[(M, &str, Option<&str>, u16)] = &[
        (M::POST, "/reservations", Some(r#"{"flightId":1,"count":1,"phone":"01097770770""#), 400),
        (M::POST, "/reservations", Some("not json"), 400),
        (M::POST, "/reservations", Some(r#"{"flightId":99,"count":1,"phone":"01097770770"}"#), 404),
        (M::POST, "/reservations", Some(r#"{"flightId":1,"count":0,"phone":"01097770770"}"#), 422),
        (M::POST, "/reservations", Some(r#"{"flightId":1,"count":-3,"phone":"01097770770"}"#), 422),
        (M::POST, "/reservations", Some(r#"{"flightId":1,"count":41,"phone":"01097770770"}"#), 422),
        (M::POST, "/reservations", Some(r#"{"flightId":1,"count":1}"#), 422),
        (M::POST, "/reservations", Some(r#"{"flightId":1,"count":1,"phone":"call me"}"#), 422),
        (M::POST, "/reservations", Some(r#"{"flightId":1,"count":1,"phone":"01097770770","price":1}"#), 422),
        (M::POST, "/reservations", Some(r#"{"flightId":"one","count":1,"phone":"01097770770"}"#), 422),
        (M::POST, "/reservations", Some(r#"{"flightId":1.5,"count":1,"phone":"01097770770"}"#), 422),
        (
            M::POST,
            "/reservations",
            Some(r#"{"flightId":99999999999999999999999,"count":1,"phone":"01097770770"}"#),
            422,
        ),
        (
            M::POST,
            "/reservations",
            Some(r#"{"flightId":1,"count":1,"phone":"01097770770","reserveStatus":"steal"}"#),
            422,
        ),
        (M::POST, "/reservations", Some(r#"{"reserveStatus":"cancel","count":1}"#), 422),
        (M::POST, "/reservations", Some(r#"{"reserveStatus":"cancel","reservationId":77}"#), 404),
        (M::POST, "/reservations", Some("[]"), 422),
        (M::GET, "/reservations/abc", None, 404),
        (M::GET, "/reservations/12345", None, 404),
        (M::GET, "/reservations?phone=xyz", None, 422),
        (M::GET, "/reservations?status=LOST", None, 422),
        (M::GET, "/reservations?limit=many", None, 400),
        (M::POST, "/reservations/1/cancel", Some("{"), 400),
        (M::POST, "/flights", Some(r#"{"flightName":"","destination":"x","price":1,"seat":1}"#), 422),
        (M::POST, "/flights", Some(r#"{"flightName":"A","destination":"x","price":-1,"seat":1}"#), 422),
        (M::POST, "/flights", Some(r#"{"flightName":"A","destination":"x","price":1,"seat":0}"#), 422),
        (M::POST, "/flights", Some(r#"{"flightName":"A","destination":"x","price":1}"#), 422),
        (M::PATCH, "/flights/1", Some(r#"{"seat":"lots"}"#), 422),
        (M::PUT, "/flights/404", Some(r#"{"flightName":"A","destination":"x","price":1,"seat":1}"#), 404),
        (M::DELETE, "/flights/404", None, 404),
        (M::GET, "/flightStatuses/404", None, 404),
        (M::POST, "/payments", Some(r#"{"reservationId":1,"amount":0,"phone":"010"}"#), 404),
        (M::POST, "/payments/404/refund", None, 404),
        (M::GET, "/payments/404", None, 404),
        (M::DELETE, "/reservations", None, 405),
        (M::GET, "/nowhere", None, 404),
    ];
    for (method, path, body, expected) in cases {
        let (status, ctype, problem) = send(&app, method.clone(), path, *body).await;
        assert_eq!(status, *expected, "{method} {path} {body:?}: {problem}");
        assert_eq!(ctype, "application/problem+json", "{method} {path}");
        assert_eq!(problem["status"], *expected, "{method} {path}");
        assert!(problem["detail"].as_str().is_some_and(|d| !d.is_empty()), "{method} {path}: {problem}");
    }

    let oversized = format!(r#"{{"flightId":1,"count":1,"phone":"{}"}}"#, "1".repeat(100_000));
    let (status, ..) = send(&app, M::POST, "/reservations", Some(&oversized)).await;
    assert_eq!(status, 413);

    app.settle().await;
    assert_eq!(app.get("/reservations").await, json!([]), "no reservation was written");
    assert_eq!(app.get("/payments").await, json!([]), "no payment was written");
    assert_eq!(app.seats_left_at_flight_service(flight).await, 40);
}

#[tokio::test]
async fn seats_cannot_drop_below_those_sold_and_a_flight_with_sold_seats_cannot_be_deleted() {
    let app = TestApp::spawn().await;
    let flight = app.register_flight("BAD2", 10_000, 5).await;
    let (_, r) = app.book(flight, 3, "01012341234").await;
    app.wait_for_status(r["id"].as_i64().unwrap(), "CONFIRMED").await;

    let (status, _, problem) =
        send(&app, reqwest::Method::PATCH, &format!("/flights/{flight}"), Some(r#"{"seat":2}"#)).await;
    assert_eq!(status, 422, "{problem}");
    let (status, _, _) = send(&app, reqwest::Method::DELETE, &format!("/flights/{flight}"), None).await;
    assert_eq!(status, 409);

    let (status, _, updated) =
        send(&app, reqwest::Method::PATCH, &format!("/flights/{flight}"), Some(r#"{"seat":"8","price":"12000"}"#))
            .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(
        (updated["seat"].as_i64(), updated["seatsLeft"].as_i64(), updated["price"].as_i64()),
        (Some(8), Some(5), Some(12_000))
    );
    app.eventually("view shows the change", || async {
        let v = app.flight_status(flight).await.unwrap();
        v["seat"] == 5 && v["price"] == 12_000 && v["totalSeats"] == 8
    })
    .await;
    assert_eq!(app.reservation(r["id"].as_i64().unwrap()).await["amount"], 30_000, "the booking keeps its price");
}

#[tokio::test]
async fn bad_camping_requests_get_problem_documents_and_write_nothing() {
    let app = TestApp::spawn().await;
    let site = app.register_campsite("BAD3", 30_000, 4).await;
    let (d1, d3, past, far) = (app.day(1), app.day(3), app.day(-1), app.day(40));
    let stay = |check_in: &str, check_out: &str, guests: i64| {
        format!(
            r#"{{"campsiteId":{site},"checkIn":"{check_in}","checkOut":"{check_out}","guests":{guests},"phone":"01012345678"}}"#
        )
    };
    use reqwest::Method as M;
    let cases: Vec<(M, String, Option<String>, u16)> = vec![
        (M::POST, "/reservations".into(), Some(stay(&d3, &d1, 2)), 422),
        (M::POST, "/reservations".into(), Some(stay(&d1, &d1, 2)), 422),
        (M::POST, "/reservations".into(), Some(stay(&past, &d1, 2)), 422),
        (M::POST, "/reservations".into(), Some(stay(&d1, &far, 2)), 422),
        (M::POST, "/reservations".into(), Some(stay(&d1, &d3, 5)), 422),
        (M::POST, "/reservations".into(), Some(stay(&d1, &d3, 0)), 422),
        (M::POST, "/reservations".into(), Some(stay("tomorrow", &d3, 2)), 422),
        (
            M::POST,
            "/reservations".into(),
            Some(format!(
                r#"{{"campsiteId":999,"checkIn":"{d1}","checkOut":"{d3}","guests":2,"phone":"01012345678"}}"#
            )),
            404,
        ),
        (
            M::POST,
            "/reservations".into(),
            Some(format!(r#"{{"campsiteId":{site},"checkIn":"{d1}","guests":2,"phone":"01012345678"}}"#)),
            422,
        ),
        (
            M::POST,
            "/reservations".into(),
            Some(format!(
                r#"{{"campsiteId":{site},"flightId":1,"checkIn":"{d1}","checkOut":"{d3}","phone":"01012345678"}}"#
            )),
            422,
        ),
        (
            M::POST,
            "/reservations".into(),
            Some(stay(&d1, &d3, 2).replace("01012345678\"", "01012345678\",\"email\":\"not-an-email\"")),
            422,
        ),
        (
            M::POST,
            "/reservations".into(),
            Some(stay(&d1, &d3, 2).replace("01012345678\"", "01012345678\",\"price\":1")),
            422,
        ),
        (M::POST, "/campsites".into(), Some(r#"{"name":"X","location":"Y","pricePerNight":1}"#.into()), 422),
        (
            M::POST,
            "/campsites".into(),
            Some(r#"{"name":"X","location":"Y","pricePerNight":0,"capacity":2}"#.into()),
            422,
        ),
        (
            M::POST,
            "/campsites".into(),
            Some(r#"{"name":"X","location":"Y","pricePerNight":1,"capacity":2,"amenities":[1]}"#.into()),
            422,
        ),
        (M::PATCH, "/campsites/999".into(), Some(r#"{"capacity":2}"#.into()), 404),
        (M::DELETE, "/campsites/999".into(), None, 404),
        (M::GET, "/campsiteStatuses?from=2026-13-01".into(), None, 422),
        (M::GET, format!("/campsiteStatuses?from={d3}&to={d1}"), None, 422),
        (M::GET, "/campsiteStatuses/999".into(), None, 404),
        (
            M::POST,
            "/reviews".into(),
            Some(format!(r#"{{"campsiteId":{site},"rating":6,"text":"x","phone":"01012345678"}}"#)),
            422,
        ),
        (
            M::POST,
            "/reviews".into(),
            Some(format!(r#"{{"campsiteId":{site},"rating":3,"text":"","phone":"01012345678"}}"#)),
            422,
        ),
        (
            M::POST,
            "/reviews".into(),
            Some(format!(r#"{{"campsiteId":{site},"rating":3,"text":"x","phone":"01012345678"}}"#)),
            403,
        ),
        (M::GET, "/messages".into(), None, 422),
        (M::GET, "/messages?phone=abc".into(), None, 422),
        (M::GET, "/mileages/abc".into(), None, 422),
        (M::GET, "/reviews/999".into(), None, 404),
    ];
    for (method, path, body, expected) in &cases {
        let (status, ctype, problem) = send(&app, method.clone(), path, body.as_deref()).await;
        assert_eq!(status, *expected, "{method} {path} {body:?}: {problem}");
        assert_eq!(ctype, "application/problem+json", "{method} {path}");
        assert!(problem["detail"].as_str().is_some_and(|d| !d.is_empty()), "{method} {path}: {problem}");
    }
    app.settle().await;
    assert_eq!(app.get("/reservations").await, json!([]), "no reservation was written");
    assert_eq!(app.get("/reviews").await, json!([]), "no review was written");
    assert_eq!(app.get("/campsites").await.as_array().unwrap().len(), 1, "no campsite was written");
}

/// A PATCH whose fields are all unknown (a typo: `seats` for `seat`) is refused with 422 naming
/// the fields that can change, instead of answering 200 and changing nothing.
#[tokio::test]
async fn a_patch_of_unknown_fields_only_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let flight = app.register_flight("TYPO1", 10_000, 10).await;
    let (code, body) = app.patch(&format!("/flights/{flight}"), &serde_json::json!({ "seats": 5 })).await;
    assert_eq!(code, 422, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("seat"), "{body}");
    assert_eq!(app.get(&format!("/flights/{flight}")).await["seat"], 10);

    let site = app.register_campsite("Typo Woods", 30_000, 4).await;
    let (code, body) = app.patch(&format!("/campsites/{site}"), &serde_json::json!({ "pricePerNite": 1 })).await;
    assert_eq!(code, 422, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("pricePerNight"), "{body}");
    assert_eq!(app.get(&format!("/campsites/{site}")).await["pricePerNight"], 30_000);

    // A real change still works.
    let (code, body) = app.patch(&format!("/flights/{flight}"), &serde_json::json!({ "seat": 12 })).await;
    assert_eq!((code, &body["seat"]), (200, &serde_json::json!(12)), "{body}");
}
