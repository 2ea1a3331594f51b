//! At-least-once delivery, exactly-once effects: delivering every event a second time changes nothing.

use serde_json::Value;
use skycamp_platform::Transport;

use crate::support::TestApp;

/// Everything a user or an operator can see.
async fn visible_state(app: &TestApp, reservations: &[i64]) -> Vec<Value> {
    let mut state = vec![app.get("/flights").await, app.get("/flightStatuses").await, app.get("/payments").await];
    for id in reservations {
        state.push(app.reservation(*id).await);
        state.push(app.get(&format!("/reservations/{id}/timeline")).await);
    }
    state
}

#[tokio::test]
async fn delivering_every_event_a_second_time_changes_nothing() {
    let app = TestApp::spawn().await;
    let flight = app.register_flight("DUP1", 10_000, 3).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let (_, r) = app.book(flight, 1, &format!("0105555000{i}")).await;
        ids.push(r["id"].as_i64().unwrap());
    }
    app.settle().await;
    let cancel_id = *ids.iter().find(|_| true).unwrap();
    let (code, _) = app.post(&format!("/reservations/{cancel_id}/cancel"), &serde_json::json!({})).await;
    assert_eq!(code, 200);
    app.settle().await;
    let before = visible_state(&app, &ids).await;

    let log = app.running().event_log();
    let everything = log.records().await.unwrap();
    assert!(everything.len() > 20, "the scenario produced events ({})", everything.len());
    log.publish(&everything).await.unwrap();
    app.settle().await;

    assert_eq!(visible_state(&app, &ids).await, before);
}
