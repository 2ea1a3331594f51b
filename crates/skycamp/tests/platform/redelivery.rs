//! At-least-once delivery, exactly-once effects: delivering every event a second time changes nothing.

use serde_json::Value;
use skycamp_platform::Transport;

use crate::support::TestApp;

/// Everything a user or an operator can see.
async fn visible_state(app: &TestApp, reservations: &[i64], phones: &[String]) -> Vec<Value> {
    let range = format!("from={}&to={}", app.day(-1), app.day(10));
    let mut state = vec![
        app.get("/flights").await,
        app.get("/flightStatuses").await,
        app.get("/payments").await,
        app.get("/campsites").await,
        app.get(&format!("/campsiteStatuses?{range}")).await,
        app.get("/reviews").await,
    ];
    for id in reservations {
        state.push(app.reservation(*id).await);
        state.push(app.get(&format!("/reservations/{id}/timeline")).await);
    }
    for phone in phones {
        state.push(app.get(&format!("/mileages/{phone}")).await);
        state.push(app.get(&format!("/messages?phone={phone}")).await);
    }
    state
}

#[tokio::test]
async fn delivering_every_event_a_second_time_changes_nothing() {
    let app = TestApp::spawn().await;
    let flight = app.register_flight("DUP1", 10_000, 3).await;
    let site = app.register_campsite("DUP2", 30_000, 4).await;
    let phones: Vec<String> = (0..5).map(|i| format!("0105555000{i}")).collect();
    let mut ids = Vec::new();
    for phone in &phones {
        let (_, r) = app.book(flight, 1, phone).await;
        ids.push(r["id"].as_i64().unwrap());
        let (_, r) = app.book_stay(site, 1, 3, 2, phone).await;
        ids.push(r["id"].as_i64().unwrap());
    }
    // The first customer also books a later stay and cancels it, and cancels their flight.
    let (_, later) = app.book_stay(site, 5, 6, 2, &phones[0]).await;
    let later = later["id"].as_i64().unwrap();
    ids.push(later);
    app.settle().await;
    for id in [ids[0], later] {
        let (code, body) = app.post(&format!("/reservations/{id}/cancel"), &serde_json::json!({})).await;
        assert_eq!(code, 200, "{body}");
    }
    app.settle().await;
    // The stay that won the nights is reviewed once it is over (its check-out day, day 3).
    assert_eq!(app.status_of(ids[1]).await, "CONFIRMED");
    app.clock.advance_days(3);
    let review = serde_json::json!({ "campsiteId": site, "rating": 4, "text": "fine", "phone": phones[0] });
    assert_eq!(app.post("/reviews", &review).await.0, 201);
    app.settle().await;
    let before = visible_state(&app, &ids, &phones).await;
    let messages_before: usize =
        before.iter().filter_map(|v| v.as_array()).flatten().filter(|m| m.get("topic").is_some()).count();

    let log = app.running().event_log().expect("the embedded log");
    let everything = log.records().await.unwrap();
    assert!(everything.len() > 20, "the scenario produced events ({})", everything.len());
    log.publish(&everything).await.unwrap();
    app.settle().await;

    let after = visible_state(&app, &ids, &phones).await;
    let messages_after: usize =
        after.iter().filter_map(|v| v.as_array()).flatten().filter(|m| m.get("topic").is_some()).count();
    assert_eq!(messages_after, messages_before, "one message per change");
    assert_eq!(after, before, "mileage entries, reviews, views and timelines unchanged");
}
