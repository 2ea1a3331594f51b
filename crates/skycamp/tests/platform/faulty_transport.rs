//! Every event duplicated and some reordered by a fault-injecting transport: what users see is
//! the same as after a clean run of the same story.

use serde_json::{Value, json};

use crate::support::TestApp;

/// A story that touches every service, one step at a time so ids are the same in both runs.
async fn story(app: &TestApp) -> Vec<i64> {
    let flight = app.register_flight("FT1", 50_000, 2).await;
    let site = app.register_campsite("FT2", 30_000, 4).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let (_, r) = app.book(flight, 1, &format!("0104000000{i}")).await;
        ids.push(r["id"].as_i64().unwrap());
        app.settle().await;
    }
    for i in 0..2 {
        let (_, r) = app.book_stay(site, 1, 3, 2, &format!("0104100000{i}")).await;
        ids.push(r["id"].as_i64().unwrap());
        app.settle().await;
    }
    assert_eq!(app.post(&format!("/reservations/{}/cancel", ids[0]), &json!({})).await.0, 200);
    app.settle().await;
    let refund = app.reservation(ids[1]).await["paymentId"].clone();
    assert_eq!(app.post(&format!("/payments/{refund}/refund"), &json!({ "reason": "chargeback" })).await.0, 200);
    app.settle().await;
    // The stay (nights 1 and 2) is over on day 3: reviews open.
    app.clock.advance_days(3);
    let review = json!({ "campsiteId": site, "rating": 4, "text": "good", "phone": "01041000000" });
    assert_eq!(app.post("/reviews", &review).await.0, 201);
    app.settle().await;
    ids
}

/// Drops what differs between any two runs (times, generated ids) and sorts what has no order.
fn normalise(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(k, _)| {
                    !matches!(k.as_str(), "createdAt" | "updatedAt" | "at" | "causeEventId" | "deliveredAt" | "entryId")
                })
                .map(|(k, v)| (k, normalise(v)))
                .collect(),
        ),
        Value::Array(items) => {
            let mut items: Vec<Value> = items.into_iter().map(normalise).collect();
            items.sort_by_key(|i| i.to_string());
            Value::Array(items)
        }
        other => other,
    }
}

async fn seen(app: &TestApp, ids: &[i64]) -> Value {
    let range = format!("from={}&to={}", app.day(-1), app.day(10));
    let mut state = vec![
        app.get("/flights").await,
        app.get("/flightStatuses").await,
        app.get(&format!("/campsiteStatuses?{range}")).await,
        app.get("/payments").await,
        app.get("/reviews").await,
    ];
    for id in ids {
        let r = app.reservation(*id).await;
        let phone = r["phone"].as_str().unwrap().to_owned();
        state.push(r);
        // A note from another service records the status it found on arrival, which depends on
        // timing even in two clean runs; the saga's own steps keep theirs.
        let mut timeline = app.get(&format!("/reservations/{id}/timeline")).await;
        for step in timeline.as_array_mut().unwrap() {
            let note = matches!(step["step"].as_str(), Some("mileage accrued" | "mileage deducted" | "message sent"));
            if note {
                step.as_object_mut().unwrap().remove("status");
            }
        }
        state.push(timeline);
        // Entry ids follow arrival order across customers; points, causes and balances do not.
        let mut ledger = app.get(&format!("/mileages/{phone}")).await;
        for entry in ledger["entries"].as_array_mut().unwrap() {
            entry.as_object_mut().unwrap().remove("id");
        }
        state.push(ledger);
        // Message ids depend on arrival order across reservations; their texts do not.
        let messages = app.get(&format!("/messages?phone={phone}")).await;
        state.push(Value::Array(messages.as_array().unwrap().iter().map(|m| json!([m["topic"], m["text"]])).collect()));
    }
    normalise(Value::Array(state))
}

#[tokio::test]
async fn duplicated_and_reordered_events_leave_the_same_state_as_a_clean_run() {
    let clean = TestApp::spawn().await;
    let clean_ids = story(&clean).await;
    let clean_state = seen(&clean, &clean_ids).await;

    let faulty = TestApp::spawn_with(|s| s.faulty_transport = true).await;
    let faulty_ids = story(&faulty).await;
    assert_eq!(faulty_ids, clean_ids);
    assert!(
        faulty.running().event_log().expect("the embedded log").records().await.unwrap().len() > 2 * 30,
        "every event went out twice"
    );
    assert_eq!(seen(&faulty, &faulty_ids).await, clean_state);
}
