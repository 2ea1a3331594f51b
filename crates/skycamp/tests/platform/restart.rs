//! Crash safety: the real binary is killed (SIGKILL) while bookings are in flight and started
//! again on the same data dir. Every saga reaches a final state; nothing is lost or doubled.

use std::time::Duration;

use futures::future::join_all;
use serde_json::json;

use crate::cluster::Cluster;
use crate::support::{self, eventually};

#[tokio::test]
async fn killing_the_platform_mid_storm_loses_and_doubles_nothing() {
    const PRICE: i64 = 25_000;
    const SEATS: i64 = 20;
    let flags = ["--pending-timeout-ms=500", "--payment-timeout-ms=1000", "--log-level=warn"];
    let mut c = Cluster::up(|_| flags.map(String::from).to_vec()).await;
    let (http, gw) = (c.http.clone(), c.gw.clone());
    let fid = support::register_flight(&http, &gw, "CRASH1", PRICE, SEATS).await;

    // A storm of 60 bookings; the process is killed while they are in flight.
    let storm = join_all((0..60).map(|i| {
        let (http, gw) = (http.clone(), gw.clone());
        async move {
            tokio::time::sleep(Duration::from_millis(i * 5)).await;
            let body = json!({ "flightId": fid, "count": 1, "phone": format!("0107777{i:04}") });
            http.post(format!("{gw}/reservations")).json(&body).send().await.ok().map(|r| r.status().as_u16())
        }
    }));
    let killer = async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        c.signal_all("KILL").await;
    };
    let (answers, ()) = tokio::join!(storm, killer);
    let accepted = answers.iter().filter(|a| **a == Some(201)).count();

    c.restart_all().await;

    // Every reservation that exists reaches a final state.
    let reservations = c.converged().await;
    assert!(
        reservations.len() >= accepted,
        "every booking answered 201 ({accepted}) still exists ({})",
        reservations.len()
    );
    let confirmed = reservations.iter().filter(|r| r["status"] == "CONFIRMED").count() as i64;
    assert!(confirmed <= SEATS);

    // Seats and money agree with the confirmed bookings, in every service and view.
    eventually("views converged", || async {
        let flight = c.get(&format!("/flights/{fid}")).await;
        let view = c.get(&format!("/flightStatuses/{fid}")).await;
        let payments = c.get("/payments?limit=1000").await;
        let net: i64 = payments
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["status"] == "APPROVED")
            .map(|p| p["amount"].as_i64().unwrap())
            .sum();
        flight["seatsLeft"] == SEATS - confirmed && view["seat"] == SEATS - confirmed && net == confirmed * PRICE
    })
    .await;
    for r in &reservations {
        let payments = c.get(&format!("/payments?reservationId={}", r["id"])).await;
        assert!(payments.as_array().unwrap().len() <= 1, "one payment per reservation");
    }
    assert_eq!(skycamp::audit::audit(&gw).await.unwrap().mismatches, [], "every service agrees after the crash");
}
