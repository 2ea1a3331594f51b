//! Crash safety: the real binary is killed (SIGKILL) while bookings are in flight and started
//! again on the same data dir. Every saga reaches a final state; nothing is lost or doubled.

use std::process::Stdio;
use std::time::Duration;

use futures::future::join_all;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use skycamp::app::Service;

use crate::support::{self, eventually};

/// A free port per service, by name.
struct Ports(Vec<(&'static str, u16)>);

impl Ports {
    fn free() -> Self {
        Self(Service::ALL.iter().map(|s| (s.name(), support::free_port())).collect())
    }

    fn gateway(&self) -> u16 {
        self.0.iter().find(|(n, _)| *n == "gateway").unwrap().1
    }
}

fn start(dir: &std::path::Path, ports: &Ports) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_skycamp"));
    cmd.arg("up").arg("--data-dir").arg(dir);
    for (name, port) in &ports.0 {
        cmd.arg(format!("--{name}-port")).arg(port.to_string());
    }
    cmd.args(["--pending-timeout-ms", "500", "--payment-timeout-ms", "1000", "--log-level", "warn"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("skycamp binary starts")
}

async fn ready(http: &reqwest::Client, gw: &str) {
    eventually("gateway ready", || async {
        http.get(format!("{gw}/flightStatuses")).send().await.is_ok_and(|r| r.status() == 200)
    })
    .await;
}

async fn get(http: &reqwest::Client, url: String) -> Value {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn killing_the_platform_mid_storm_loses_and_doubles_nothing() {
    const PRICE: i64 = 25_000;
    const SEATS: i64 = 20;
    let dir = tempfile::tempdir().unwrap();
    let ports = Ports::free();
    let gw = format!("http://127.0.0.1:{}", ports.gateway());
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();

    let mut child = start(dir.path(), &ports);
    ready(&http, &gw).await;
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
        child.kill().await.unwrap();
    };
    let (answers, ()) = tokio::join!(storm, killer);
    let accepted = answers.iter().filter(|a| **a == Some(201)).count();

    let mut child = start(dir.path(), &ports);
    ready(&http, &gw).await;

    // Every reservation that exists reaches a final state.
    let all = || async { get(&http, format!("{gw}/reservations?limit=1000")).await };
    eventually("every saga final", || async {
        all()
            .await
            .as_array()
            .unwrap()
            .iter()
            .all(|r| matches!(r["status"].as_str(), Some("CONFIRMED" | "REJECTED" | "CANCELLED")))
    })
    .await;
    let reservations = all().await;
    let reservations = reservations.as_array().unwrap();
    assert!(
        reservations.len() >= accepted,
        "every booking answered 201 ({accepted}) still exists ({})",
        reservations.len()
    );
    let confirmed = reservations.iter().filter(|r| r["status"] == "CONFIRMED").count() as i64;
    assert!(confirmed <= SEATS);

    // Seats and money agree with the confirmed bookings, in every service and view.
    eventually("views converged", || async {
        let flight = get(&http, format!("{gw}/flights/{fid}")).await;
        let view = get(&http, format!("{gw}/flightStatuses/{fid}")).await;
        let payments = get(&http, format!("{gw}/payments?limit=1000")).await;
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
    for r in reservations {
        let payments = get(&http, format!("{gw}/payments?reservationId={}", r["id"])).await;
        assert!(payments.as_array().unwrap().len() <= 1, "one payment per reservation");
    }
    assert_eq!(skycamp::audit::audit(&gw).await.unwrap().mismatches, [], "every service agrees after the crash");
    child.kill().await.unwrap();
}
