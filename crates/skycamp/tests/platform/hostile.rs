//! What a hostile or careless client tried through the gateway, and what each now gets
//! (docs/RELIABILITY.md, "Hostile clients"). The process-level probes (a frozen payment service,
//! slow clients, a killed instance) are in `hostile_processes.rs` and `scaleout.rs`.

use std::time::Duration;

use serde_json::{Value, json};
use skycamp::app::{self, Service};
use skycamp_platform::internal::InternalKey;

use crate::support::{self, TestApp, eventually, raw_http, signed_charge};

async fn post_keyed(app: &TestApp, path: &str, key: &str, body: &Value) -> reqwest::Response {
    app.http.post(app.url(path)).header("idempotency-key", key).json(body).send().await.unwrap()
}

async fn send_raw_json(app: &TestApp, method: reqwest::Method, path: &str, body: &str) -> (u16, Value) {
    let r = app
        .http
        .request(method, app.url(path))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

// 2. The charge is internal.

#[tokio::test]
async fn the_charge_cannot_be_made_from_outside_and_mints_no_mileage() {
    let app = TestApp::spawn().await;
    let phone = "01020000001";
    let forged = json!({ "reservationId": 1, "amount": 10_000_000, "phone": phone });
    for path in ["/payments", "/pays", "/payments/"] {
        let (code, body) = app.post(path, &forged).await;
        assert_eq!(code, 404, "the gateway routes no internal endpoint: {path} {body}");
    }
    let payment = app.running().url(Service::Payment);
    let unsigned = app.http.post(format!("{payment}/payments")).json(&forged).send().await.unwrap();
    assert_eq!(unsigned.status(), 403, "unsigned, even from inside");
    let stranger = InternalKey::random();
    assert_eq!(signed_charge(&payment, &stranger, &forged).await, 403, "signed with another key");
    app.settle().await;
    assert_eq!(app.get("/payments").await, json!([]), "nothing was charged");
    assert_eq!(app.mileage(phone).await, 0, "no points from nowhere");

    // The next customer's booking (reservation 1) is not spoiled by the attempt.
    let flight = app.register_flight("INT1", 10_000, 5).await;
    let (code, r) = app.book(flight, 1, phone).await;
    assert_eq!((code, r["id"].as_i64()), (201, Some(1)), "{r}");
    app.wait_for_status(1, "CONFIRMED").await;
    eventually("1 % of the real charge only", || async { app.mileage(phone).await == 100 }).await;
}

// 3. Mileage farming.

#[tokio::test]
async fn booking_reviewing_and_cancelling_a_stay_earns_nothing() {
    let app = TestApp::spawn().await;
    let site = app.register_campsite("FARM", 50_000, 4).await;
    let phone = "01020000003";
    let (code, stay) = app.book_stay(site, 0, 1, 2, phone).await;
    assert_eq!(code, 201, "{stay}");
    let id = stay["id"].as_i64().unwrap();
    app.wait_for_status(id, "CONFIRMED").await;
    app.settle().await;
    let review = json!({ "campsiteId": site, "rating": 5, "text": "fake", "phone": phone });
    let (code, body) = app.post("/reviews", &review).await;
    assert_eq!(code, 403, "no review before the stay is over: {body}");
    let (code, body) = app.post(&format!("/reservations/{id}/cancel"), &json!({})).await;
    assert_eq!(code, 409, "a stay that began today cannot be cancelled by its customer: {body}");
    assert!(body["detail"].as_str().unwrap().contains("before its check-in day"), "{body}");

    // The stay is over: a review; then an operator refund cancels it after all.
    app.clock.advance_days(1);
    let (code, written) = app.post("/reviews", &review).await;
    assert_eq!(code, 201, "{written}");
    eventually("500 points for the review", || async { app.mileage(phone).await == 500 + 500 }).await;
    eventually("the rating shows", || async { app.get(&format!("/campsiteStatuses/{site}")).await["reviews"] == 1 })
        .await;
    let (code, _) =
        app.post(&format!("/payments/{}/refund", stay["paymentId"]), &json!({ "reason": "goodwill" })).await;
    assert_eq!(code, 200);
    app.wait_for_status(id, "CANCELLED").await;
    eventually("the payment's and the review's points taken back", || async { app.mileage(phone).await == 0 }).await;
    eventually("the rating gone with its review", || async {
        let view = app.get(&format!("/campsiteStatuses/{site}")).await;
        view["reviews"] == 0 && view["rating"].is_null()
    })
    .await;
    assert_eq!(app.get(&format!("/reviews?campsiteId={site}")).await, json!([]), "withdrawn reviews are not listed");
    let gone = app.http.get(app.url(&format!("/reviews/{}", written["id"]))).send().await.unwrap();
    assert_eq!(gone.status(), 404);
    let ledger = app.get(&format!("/mileages/{phone}")).await;
    let causes: Vec<&str> =
        ledger["entries"].as_array().unwrap().iter().map(|e| e["cause"].as_str().unwrap()).collect();
    assert_eq!(causes, ["ReviewWithdrawn", "PaymentCancelled", "ReviewWritten", "PaymentApproved"]);
}

// 4. Compensate only what is stuck.

#[tokio::test]
async fn compensating_a_booking_that_is_not_stuck_past_the_deadline_is_refused() {
    let mut app = TestApp::spawn().await;
    let flight = app.register_flight("COMP1", 20_000, 5).await;
    app.settle().await;
    app.stop().await;
    // The flight service is down, so the booking stays PAID and waits.
    let others = [Service::Gateway, Service::Reservation, Service::Payment, Service::Mileage, Service::Notification];
    app.restart_without(Service::Flight, &others).await;
    let (code, r) = app.book(flight, 1, "01020000004").await;
    assert_eq!(code, 201);
    let id = r["id"].as_i64().unwrap();
    let (code, body) = app.post(&format!("/reservations/{id}/compensate"), &json!({})).await;
    assert_eq!(code, 409, "answered PAID a moment ago; it may still be confirmed: {body}");
    assert_eq!(app.status_of(id).await, "PAID", "nothing was undone");
    assert_eq!(app.get(&format!("/payments?reservationId={id}")).await[0]["status"], "APPROVED");
    app.clock.advance(Duration::from_secs(61));
    assert_eq!(app.get("/reservations?stuck=true").await.as_array().unwrap().len(), 1, "stuck past the deadline");
    let (code, body) = app.post(&format!("/reservations/{id}/compensate"), &json!({})).await;
    assert_eq!((code, body["status"].as_str()), (200, Some("REJECTED")), "{body}");
}

// 5. Dates at the edge of the calendar.

#[tokio::test]
async fn dates_at_the_end_of_the_calendar_get_422_never_a_500() {
    let app = TestApp::spawn().await;
    let site = app.register_campsite("EDGE", 10_000, 2).await;
    for path in [
        "/campsiteStatuses?from=9999-12-18",
        "/campsiteStatuses?from=9999-12-31",
        &format!("/campsiteStatuses/{site}?from=9999-12-25"),
        "/campsiteStatuses?from=0000-01-01&to=9999-12-31",
    ] {
        let r = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 422, "{path}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
    }
    let fine = app.get("/campsiteStatuses?from=9999-12-18&to=9999-12-31").await;
    assert_eq!(fine[0]["availableNights"].as_array().unwrap().len(), 13);
    let far = json!({ "campsiteId": site, "checkIn": "9999-12-30", "checkOut": "9999-12-31", "phone": "01020000005" });
    let (code, body) = app.post("/reservations", &far).await;
    assert_eq!(code, 422, "{body}");
}

// 7. Junk keyed requests.

#[tokio::test]
async fn refused_keyed_requests_leave_nothing_behind_and_kept_ones_keep_no_body() {
    let app = TestApp::spawn().await;
    let filler = "x".repeat(60_000);
    for i in 0..200 {
        let body = json!({ "flightId": 1, "count": 1, "phone": "not a phone", "name": filler });
        let r = post_keyed(&app, "/reservations", &format!("junk-{i}"), &body).await;
        assert!(r.status().is_client_error(), "{}", r.status());
    }
    let db = app.service_db(Service::Reservation).await;
    let kept: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM idempotency_keys").fetch_one(db.pool()).await.unwrap();
    assert_eq!(kept, 0, "requests refused before any work keep nothing");

    let flight = app.register_flight("JUNK1", 10_000, 5).await;
    let body = json!({ "flightId": flight, "count": 1, "phone": "01020000007", "name": "Kim" });
    assert_eq!(post_keyed(&app, "/reservations", "real-1", &body).await.status(), 201);
    let (fingerprint, stored): (String, String) =
        sqlx::query_as("SELECT fingerprint, body FROM idempotency_keys WHERE idem_key = 'real-1'")
            .fetch_one(db.pool())
            .await
            .unwrap();
    assert_eq!(fingerprint.len(), 64, "a SHA-256, not the request");
    assert!(!stored.contains("\"name\":\"Kim\",\"phone\"") && stored.contains("\"status\":\"PAID\""), "{stored}");
    db.close().await;
}

// 8. Dot segments.

#[tokio::test]
async fn dot_segments_never_reach_another_route() {
    let app = TestApp::spawn().await;
    app.register_flight("DOTS", 10_000, 5).await;
    for path in [
        "/flights/../healthz",
        "/deadLetters/flight/../../flights/1",
        "/flights/%2e%2e/healthz",
        "/reservations/./1",
        "/flights/1%2f..%2fholds",
    ] {
        let (status, headers, body) = raw_http(&app.gateway, &format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n")).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(headers.contains("application/problem+json"), "{path}: {headers}");
    }
}

// 9. Control characters.

#[tokio::test]
async fn control_characters_are_refused_with_the_field_named_and_korean_is_welcome() {
    let app = TestApp::spawn().await;
    for (name, field) in [
        ("A\u{0}B", "flightName"),
        ("\u{1b}[31mRED", "flightName"),
        ("CH777\r\nX-Injected: 1", "flightName"),
        ("evil\u{202E}gpj.exe", "flightName"),
    ] {
        let body = json!({ "flightName": name, "destination": "korea", "price": 1000, "seat": 1 });
        let (code, problem) = app.post("/flights", &body).await;
        assert_eq!(code, 422, "{name:?}");
        assert!(problem["detail"].as_str().unwrap().contains(field), "{problem}");
    }
    let body = json!({ "flightName": "KE\u{202E}017", "destination": "제주\u{0}", "price": 1000, "seat": 1 });
    assert_eq!(app.post("/flights", &body).await.0, 422);
    let site = json!({ "name": "Pine\u{7}", "location": "가평", "pricePerNight": 1000, "capacity": 2 });
    let (code, problem) = app.post("/campsites", &site).await;
    assert_eq!(code, 422);
    assert!(problem["detail"].as_str().unwrap().contains("name"), "{problem}");
    let (code, _) = app
        .post("/flights", &json!({ "flightName": "대한항공 KE017", "destination": "제주", "price": 1000, "seat": 1 }))
        .await;
    assert_eq!(code, 201, "ordinary Unicode, Korean included, stays welcome");
    let flight = app.get("/flights").await[0]["id"].as_i64().unwrap();
    eventually("in the view", || async { app.flight_status(flight).await.is_some() }).await;
    let booking = json!({ "flightId": flight, "count": 1, "phone": "01020000009", "name": "Kim\u{1b}[2J" });
    let (code, problem) = app.post("/reservations", &booking).await;
    assert_eq!(code, 422);
    assert!(problem["detail"].as_str().unwrap().contains("name"), "{problem}");
    assert_eq!(app.get("/flights").await.as_array().unwrap().len(), 1, "nothing else was written");
}

// 10. JSON arrays.

#[tokio::test]
async fn a_json_array_is_never_taken_for_an_object() {
    let app = TestApp::spawn().await;
    let (code, _) = send_raw_json(&app, reqwest::Method::POST, "/flights", r#"["ArrayFlight","Y",1000,10]"#).await;
    assert_eq!(code, 422);
    assert_eq!(app.get("/flights").await, json!([]), "no flight registered");
    let flight = app.register_flight("ARR", 10_000, 5).await;
    let (_, r) = app.book(flight, 1, "01020000010").await;
    let id = r["id"].as_i64().unwrap();
    app.wait_for_status(id, "CONFIRMED").await;
    for path in [format!("/reservations/{id}/cancel"), "/reservations".into()] {
        let (code, body) = send_raw_json(&app, reqwest::Method::POST, &path, "[]").await;
        assert_eq!(code, 422, "{path}: {body}");
    }
    let (code, _) = send_raw_json(&app, reqwest::Method::PATCH, &format!("/flights/{flight}"), "[1]").await;
    assert_eq!(code, 422);
    assert_eq!(app.status_of(id).await, "CONFIRMED", "not cancelled");
}

// 11. Work that changes nothing.

#[tokio::test]
async fn a_patch_that_changes_nothing_writes_and_announces_nothing() {
    let app = TestApp::spawn().await;
    let flight = app.register_flight("NOOP", 10_000, 5).await;
    let site = app.register_campsite("NOOP", 10_000, 2).await;
    app.settle().await;
    let events_before = published(&app).await;
    for _ in 0..100 {
        let (code, body) = app.patch(&format!("/flights/{flight}"), &json!({})).await;
        assert_eq!((code, body["version"].as_i64()), (200, Some(1)));
    }
    let (code, body) = app.patch(&format!("/flights/{flight}"), &json!({ "price": 10_000, "seat": "5" })).await;
    assert_eq!((code, body["version"].as_i64()), (200, Some(1)), "the same values change nothing");
    let (code, body) = app.patch(&format!("/campsites/{site}"), &json!({ "capacity": 2 })).await;
    assert_eq!((code, body["version"].as_i64()), (200, Some(1)));
    app.settle().await;
    assert_eq!(published(&app).await, events_before, "no event for a change that changes nothing");
    let (code, body) = app.patch(&format!("/flights/{flight}"), &json!({ "price": 12_000 })).await;
    assert_eq!((code, body["version"].as_i64()), (200, Some(2)), "a real change still counts");
}

/// Events published so far (the embedded log; on Kafka, None).
async fn published(app: &TestApp) -> Option<usize> {
    Some(app.running().event_log()?.records().await.unwrap().len())
}

// 12. Lists page.

#[tokio::test]
async fn every_list_that_can_grow_pages_the_same_way() {
    let app = TestApp::spawn().await;
    let phone = "01020000012";
    let mut flights = Vec::new();
    for i in 0..5 {
        flights.push(app.register_flight(&format!("PAGE{i}"), 10_000, 5).await);
    }
    for i in 0..3 {
        app.register_campsite(&format!("PAGE{i}"), 10_000, 2).await;
    }
    for f in &flights {
        let (code, r) = app.book(*f, 1, phone).await;
        assert_eq!(code, 201);
        app.wait_for_status(r["id"].as_i64().unwrap(), "CONFIRMED").await;
    }
    app.settle().await;
    eventually("five messages", || async {
        app.get(&format!("/messages?phone={phone}")).await.as_array().unwrap().len() == 5
    })
    .await;
    for list in [
        "/flights",
        "/flightStatuses",
        "/campsites",
        "/campsiteStatuses",
        &format!("/reservations?phone={phone}"),
        "/payments",
        &format!("/messages?phone={phone}"),
        "/flights/holds",
    ] {
        let all = app.get(list).await;
        let sep = if list.contains('?') { '&' } else { '?' };
        let paged = every_page(&app, &format!("{list}{sep}limit=2")).await;
        assert!(paged.len() >= 3, "{list}: {paged:?}");
        assert_eq!(Value::Array(paged), all, "{list}: following the Link headers gives every item once, in order");
    }
    let ledger = app.get(&format!("/mileages/{phone}?limit=2")).await;
    assert_eq!(ledger["entries"].as_array().unwrap().len(), 2);
    assert_eq!(ledger["balance"], 500, "the balance counts every entry, not only this page's");
    for bad in ["/flights?limit=0", "/flights?limit=-5"] {
        let r = app.http.get(app.url(bad)).send().await.unwrap();
        assert_eq!(r.status(), 422, "{bad}");
    }
    let r = app.http.get(app.url("/flights?cursor=nonsense")).send().await.unwrap();
    assert_eq!(r.status(), 400);
}

/// Every item of a list, following `Link: <…>; rel="next"` from `first`.
async fn every_page(app: &TestApp, first: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut next = Some(first.to_owned());
    while let Some(path) = next.take() {
        let r = app.http.get(app.url(&path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        next = r.headers().get("link").map(|l| {
            let l = l.to_str().unwrap();
            assert!(l.ends_with("rel=\"next\""), "{l}");
            l[l.find('<').unwrap() + 1..l.find('>').unwrap()].to_owned()
        });
        items.extend(r.json::<Vec<Value>>().await.unwrap());
        assert!(items.len() < 1000, "the pages never end");
    }
    items
}

// 13. Smaller ones.

#[tokio::test]
async fn a_replayed_201_has_its_location_and_every_creating_post_honours_a_key() {
    let app = TestApp::spawn().await;
    let body = json!({ "flightName": "KEY1", "destination": "korea", "price": 1000, "seat": 3 });
    let first = post_keyed(&app, "/flights", "flight-1", &body).await;
    assert_eq!(first.status(), 201);
    let location = first.headers()["location"].clone();
    let first: Value = first.json().await.unwrap();
    let again = post_keyed(&app, "/flights", "flight-1", &body).await;
    assert_eq!((again.status().as_u16(), again.headers()["idempotent-replayed"].to_str().unwrap()), (201, "true"));
    assert_eq!(again.headers()["location"], location, "a replayed 201 says where, like the first");
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    assert_eq!(app.get("/flights").await.as_array().unwrap().len(), 1, "one flight");

    let site = json!({ "name": "KEY", "location": "Gapyeong", "pricePerNight": 1000, "capacity": 2 });
    assert_eq!(post_keyed(&app, "/campsites", "site-1", &site).await.status(), 201);
    assert_eq!(post_keyed(&app, "/campsites", "site-1", &site).await.status(), 201);
    assert_eq!(app.get("/campsites").await.as_array().unwrap().len(), 1, "one campsite");

    let flight = first["id"].as_i64().unwrap();
    eventually("in the view", || async { app.flight_status(flight).await.is_some() }).await;
    let booking = json!({ "flightId": flight, "count": 1, "phone": "01020000013" });
    let r = post_keyed(&app, "/reservations", "book-1", &booking).await;
    let id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let r = post_keyed(&app, "/reservations", "book-1", &booking).await;
    assert_eq!(r.headers()["location"], format!("/reservations/{id}").as_str());
    for path in [
        format!("/reservations/{id}/retry"),
        format!("/reservations/{id}/compensate"),
        "/deadLetters/flight/1/replay".into(),
    ] {
        let r = post_keyed(&app, &path, "op-1", &json!({})).await;
        assert_eq!(r.status(), 400, "{path}: a key that means nothing is refused, not ignored");
    }
}

#[tokio::test]
async fn answers_to_absurd_requests_are_short_problem_documents() {
    let app = TestApp::spawn().await;
    let long_id = "9".repeat(60_000);
    let r = app.http.get(app.url(&format!("/reservations/{}", &long_id[..7_000]))).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let problem: Value = r.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().chars().count() < 200, "the id is not echoed whole: {problem}");

    let (status, headers, body) =
        raw_http(&app.gateway, &format!("GET /reservations/{long_id} HTTP/1.1\r\nhost: x\r\n\r\n")).await;
    assert!(matches!(status, 414 | 431), "{status}");
    assert!(headers.contains("application/problem+json") && body.contains(&format!("\"status\":{status}")), "{body}");
    let (status, headers, body) =
        raw_http(&app.gateway, &format!("GET /flights?x={} HTTP/1.1\r\nhost: x\r\n\r\n", "a".repeat(9_000))).await;
    assert_eq!(status, 414);
    assert!(headers.contains("application/problem+json"), "{body}");
    let huge = format!("GET /flights HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n", "b".repeat(40_000));
    let (status, headers, body) = raw_http(&app.gateway, &huge).await;
    assert_eq!(status, 431);
    assert!(headers.contains("application/problem+json") && body.contains("\"status\":431"), "{headers}{body}");
    let (status, headers, _) = raw_http(&app.gateway, "GET /flights HTTP/1.1\r\nho st: x\r\n\r\n").await;
    assert_eq!(status, 400);
    assert!(headers.contains("application/problem+json"));
}

// 1 (in one process): a keyed booking whose payment was unreachable is completed by its retry.

#[tokio::test]
async fn a_keyed_booking_refused_while_payment_was_down_is_completed_by_its_retry_not_booked_twice() {
    let dir = tempfile::tempdir().unwrap();
    let payment_port = support::free_port();
    let mut s = support::settings(dir.path());
    s.remote.insert(Service::Payment, format!("http://127.0.0.1:{payment_port}"));
    s.pending_timeout = Duration::from_secs(120);
    let running = app::start(&s, &support::all_but(Service::Payment)).await.unwrap();
    let gw = running.url(Service::Gateway);
    let http = reqwest::Client::new();
    let flight = support::register_flight(&http, &gw, "RETRY1", 10_000, 5).await;
    let phone = "01020000014";
    let booking = json!({ "flightId": flight, "count": 1, "phone": phone });
    let keyed = || http.post(format!("{gw}/reservations")).header("idempotency-key", "trip-1").json(&booking).send();

    let first = keyed().await.unwrap();
    assert_eq!(first.status(), 503, "payment is down");
    let problem: Value = first.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("same Idempotency-Key"), "{problem}");

    s.ports.insert(Service::Payment, payment_port);
    let payment = app::start(&s, &[Service::Payment]).await.unwrap();
    let second = keyed().await.unwrap();
    assert_eq!(second.status(), 201);
    let booked: Value = second.json().await.unwrap();
    let history: Value =
        http.get(format!("{gw}/reservations?phone={phone}")).send().await.unwrap().json().await.unwrap();
    assert_eq!(history.as_array().unwrap().len(), 1, "one reservation for the one key: {history}");
    assert_eq!(history[0]["id"], booked["id"]);
    let timeline: Value =
        http.get(format!("{gw}/reservations/{}/timeline", booked["id"])).send().await.unwrap().json().await.unwrap();
    let steps: Vec<&str> = timeline.as_array().unwrap().iter().map(|s| s["step"].as_str().unwrap()).collect();
    assert_eq!(steps[..2], ["requested", "payment approved"], "no rejection in between: {steps:?}");
    payment.shutdown().await;
    running.shutdown().await;
}
