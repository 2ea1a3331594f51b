//! Scale-out: PostgreSQL and Kafka, two instances of every service, each a separate process.
//! The end-to-end, race and redelivery stories run again here, and a consumer instance is
//! killed in the middle of a booking storm.
//!
//! Needs `SKYCAMP_TEST_POSTGRES_URL` and `SKYCAMP_TEST_KAFKA_BROKERS` (`scripts/test` starts
//! both servers). Without them each test says so and passes, except in CI (`CI=true`), where
//! a missing server fails the test.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::future::join_all;
use serde_json::{Value, json};
use skycamp::app::Service;

use crate::cluster::Cluster;
use crate::support::{self, eventually};

const INSTANCES: usize = 2;

/// The broker's address, or None (after saying why) when the suite cannot run here.
fn broker() -> Option<String> {
    let pg = std::env::var("SKYCAMP_TEST_POSTGRES_URL").ok();
    let kafka = std::env::var("SKYCAMP_TEST_KAFKA_BROKERS").ok();
    match (pg, kafka) {
        (Some(_), Some(kafka)) => Some(kafka),
        _ => {
            crate::support::cannot_run(
                "set SKYCAMP_TEST_POSTGRES_URL and SKYCAMP_TEST_KAFKA_BROKERS (scripts/test does)",
            );
            None
        }
    }
}

/// Every service twice, on one PostgreSQL database and one Kafka namespace of their own, with
/// `extra` arguments for every process; None when it cannot run here.
async fn start(extra: &[&str]) -> Option<Cluster> {
    let brokers = broker()?;
    let cluster = Cluster::start(INSTANCES, |dir| {
        let mut args = vec![
            format!("--database-url={}", support::postgres_for(dir).unwrap()),
            format!("--kafka-brokers={brokers}"),
            format!("--kafka-namespace={}", support::namespace_for(dir)),
            "--kafka-partitions=4".into(),
            "--kafka-session-timeout-ms=6000".into(),
            "--log-level=warn".into(),
            "--pending-timeout-ms=1000".into(),
            "--payment-timeout-ms=2000".into(),
        ];
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        args
    });
    Some(cluster.await)
}

#[tokio::test]
async fn the_seed_stories_run_end_to_end_on_two_instances_of_everything() {
    let Some(c) = start(&[]).await else { return };

    // Airline: register, book and pay in one step, confirm, history, cancel with refund.
    let flight = c.flight("CH777", 300_000, 40).await;
    let phone = "01097770770";
    let (code, r) = c.post("/reservations", &json!({ "flightId": flight, "count": 1, "phone": phone })).await;
    assert_eq!((code, r["status"].as_str(), r["amount"].as_i64()), (201, Some("PAID"), Some(300_000)), "{r}");
    let id = r["id"].as_i64().unwrap();
    c.wait_for(id, "CONFIRMED").await;
    eventually("39 seats in the view on both gateways", || async {
        let a = c.get(&format!("/flightStatuses/{flight}")).await["seat"].clone();
        let b = c.get(&format!("/flightStatuses/{flight}")).await["seat"].clone();
        a == 39 && b == 39
    })
    .await;
    assert_eq!(c.get(&format!("/flights/{flight}")).await["seatsLeft"], 39);
    assert_eq!(c.get(&format!("/pays?reservationId={id}")).await[0]["status"], "APPROVED");
    let history = c.get(&format!("/reservations?phone={phone}")).await;
    assert_eq!(history.as_array().unwrap().len(), 1);

    let (code, r) = c.post("/reservations", &json!({ "reservationId": id, "reserveStatus": "cancel" })).await;
    assert_eq!((code, r["status"].as_str()), (200, Some("CANCELLED")), "{r}");
    assert_eq!(c.get(&format!("/payments?reservationId={id}")).await[0]["status"], "REFUNDED");
    eventually("40 seats again", || async {
        c.get(&format!("/flights/{flight}")).await["seatsLeft"] == 40
            && c.get(&format!("/flightStatuses/{flight}")).await["seat"] == 40
    })
    .await;
    eventually("the saga's steps in order", || async {
        let mut steps = c.saga_steps(id).await;
        steps[4..].sort(); // refund and release come from two services, in either order
        steps == ["requested", "payment approved", "seats reserved", "cancelled", "payment refunded", "seats released"]
    })
    .await;
    eventually("messages: confirmed, cancelled, refunded", || async {
        c.messages(phone, id).await == ["cancelled", "confirmed", "refunded"]
    })
    .await;
    eventually("mileage accrued and deducted", || async { c.mileage(phone).await == 0 }).await;

    // Camping: a stay from tomorrow, paid at once, mileage on payment. (Reviews open on the
    // check-out day, which these processes' clocks do not reach; camping.rs covers reviews and
    // runs on Kafka too.)
    let site = c.campsite("Cedar", 30_000).await;
    let camper = "01055550000";
    let (code, stay) = c.book_stay(site, 1, 3, camper).await;
    assert_eq!((code, stay["amount"].as_i64()), (201, Some(60_000)), "{stay}");
    let stay = stay["id"].as_i64().unwrap();
    c.wait_for(stay, "CONFIRMED").await;
    eventually("1 % of 60 000 credited", || async { c.mileage(camper).await == 600 }).await;
    let review = json!({ "campsiteId": site, "rating": 5, "text": "quiet", "phone": camper });
    assert_eq!(c.post("/reviews", &review).await.0, 403, "not before the stay is over");
    eventually("campsite info and booked nights in one view", || async {
        let view = c.get(&format!("/campsiteStatuses/{site}")).await;
        view["name"] == "Cedar" && view["bookedNights"] == json!([c.day(1), c.day(2)])
    })
    .await;

    let (code, _) = c.post(&format!("/reservations/{stay}/cancel"), &json!({})).await;
    assert_eq!(code, 200);
    eventually("the stay's mileage deducted again", || async { c.mileage(camper).await == 0 }).await;
    eventually("messages: confirmed, cancelled, refunded", || async {
        c.messages(camper, stay).await == ["cancelled", "confirmed", "refunded"]
    })
    .await;
    c.converged().await;
}

/// Each reservation instance answers `flightStatuses` from memory; the view's consumer group
/// applies a change on one instance only (the one owning the event's partition), so the other
/// learns of it from PostgreSQL's notification or keeps answering the old list.
#[tokio::test]
async fn a_read_model_kept_in_memory_changes_on_every_instance_at_once() {
    let Some(c) = start(&[]).await else { return };
    let http = reqwest::Client::new();
    let list = |k: usize| {
        let (http, url) = (http.clone(), format!("{}/flightStatuses?limit=1000", c.url(Service::Reservation, k)));
        async move {
            let r = http.get(url).send().await.unwrap();
            assert_eq!(r.status(), 200);
            let tag = r.headers()["etag"].to_str().unwrap().to_owned();
            let names: Vec<String> = r
                .json::<Vec<Value>>()
                .await
                .unwrap()
                .iter()
                .map(|f| f["flightName"].as_str().unwrap().to_owned())
                .collect();
            (tag, names)
        }
    };
    let before: Vec<_> = join_all((0..INSTANCES).map(list)).await;
    // Read again: now from memory, same answer, same tag.
    assert_eq!(join_all((0..INSTANCES).map(list)).await, before);
    for n in 0..4 {
        let name = format!("MEM{n}");
        c.flight(&name, 10_000, 5).await;
        for k in 0..INSTANCES {
            eventually(&format!("instance {k} lists {name}"), || async { list(k).await.1.contains(&name) }).await;
        }
    }
}

#[tokio::test]
async fn concurrent_bookings_over_two_gateways_never_oversell_seats_or_nights() {
    let Some(c) = start(&[]).await else { return };
    let flight = c.flight("RACE1", 10_000, 10).await;
    let site = c.campsite("Pine", 20_000).await;
    let flights = join_all((0..40).map(|i| {
        let c = &c;
        async move { c.book(flight, &format!("0103000{i:04}")).await }
    }));
    let stays = join_all((0..30i64).map(|i| {
        let c = &c;
        async move { c.book_stay(site, i % 5, i % 5 + 2, &format!("0103100{i:04}")).await }
    }));
    let (flights, stays) = tokio::join!(flights, stays);
    assert!(flights.iter().all(|(code, _)| *code == Some(201)), "every booking answered 201: {flights:?}");
    assert!(stays.iter().all(|(code, _)| *code == 201), "every stay answered 201");
    let all = c.converged().await;

    let confirmed: Vec<&Value> = all.iter().filter(|r| r["status"] == "CONFIRMED").collect();
    let seats = confirmed.iter().filter(|r| r["flightId"] == flight).count();
    assert_eq!(seats, 10, "all 10 seats sold, none twice");
    assert_eq!(c.get(&format!("/flights/{flight}")).await["seatsLeft"], 0);
    eventually("the view shows 0 seats", || async { c.get(&format!("/flightStatuses/{flight}")).await["seat"] == 0 })
        .await;
    let mut held = BTreeSet::new();
    for r in confirmed.iter().filter(|r| r["campsiteId"] == site) {
        let nights =
            skycamp_contracts::reservation::nights(r["checkIn"].as_str().unwrap(), r["checkOut"].as_str().unwrap())
                .unwrap();
        for n in nights {
            assert!(held.insert(n), "night {n} held twice");
        }
    }
    assert!(!held.is_empty(), "some stay won its nights");
    for r in all.iter().filter(|r| r["status"] == "REJECTED") {
        let id = r["id"].as_i64().unwrap();
        assert_eq!(c.get(&format!("/payments?reservationId={id}")).await[0]["status"], "REFUNDED", "loser {id}");
    }
}

#[cfg(feature = "chaos")]
#[tokio::test]
async fn every_event_twice_and_out_of_order_changes_nothing_a_customer_sees() {
    // Each relay publishes every batch twice, the first time reversed.
    let Some(c) = start(&["--faulty-transport"]).await else { return };
    let flight = c.flight("DUP1", 50_000, 2).await;
    let site = c.campsite("Birch", 30_000).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let phone = format!("0104000000{i}");
        let (code, r) = c.post("/reservations", &json!({ "flightId": flight, "count": 1, "phone": phone })).await;
        assert_eq!(code, 201, "{r}");
        let id = r["id"].as_i64().unwrap();
        c.wait_for(id, if i < 2 { "CONFIRMED" } else { "REJECTED" }).await;
        ids.push((id, phone));
    }
    let camper = "01041000000";
    let (_, stay) = c.book_stay(site, 1, 3, camper).await;
    let stay = stay["id"].as_i64().unwrap();
    c.wait_for(stay, "CONFIRMED").await;
    let (code, _) = c.post(&format!("/reservations/{}/cancel", ids[0].0), &json!({})).await;
    assert_eq!(code, 200);
    c.converged().await;

    // Exactly the effects of one delivery each.
    eventually("mileage settled", || async {
        c.mileage(&ids[0].1).await == 0
            && c.mileage(&ids[1].1).await == 500
            && c.mileage(&ids[2].1).await == 0
            && c.mileage(camper).await == 600
    })
    .await;
    eventually("one message per status change", || async {
        c.messages(&ids[0].1, ids[0].0).await == ["cancelled", "confirmed", "refunded"]
            && c.messages(&ids[1].1, ids[1].0).await == ["confirmed"]
            && c.messages(&ids[2].1, ids[2].0).await == ["refunded", "rejected"]
            && c.messages(camper, stay).await == ["confirmed"]
    })
    .await;
    assert_eq!(c.get(&format!("/flights/{flight}")).await["seatsLeft"], 1);
    eventually("the view agrees", || async { c.get(&format!("/flightStatuses/{flight}")).await["seat"] == 1 }).await;
    assert_eq!(
        c.saga_steps(ids[1].0).await,
        ["requested", "payment approved", "seats reserved"],
        "no step applied twice"
    );
}

#[tokio::test]
async fn a_storm_of_keyed_bookings_survives_a_killed_instance_without_one_failed_answer() {
    let Some(mut c) = start(&[]).await else { return };
    let flight = c.flight("STORM", 20_000, 30).await;
    const BOOKINGS: usize = 600;
    let answered = Arc::new(AtomicUsize::new(0));
    let storm = {
        let (http, gateways, answered) = (c.http.clone(), c.gateways.clone(), answered.clone());
        tokio::spawn(async move {
            // 16 careful clients, each booking with its own Idempotency-Key and never retrying:
            // whatever is retried, the gateway retries.
            let next = Arc::new(AtomicUsize::new(0));
            let clients = (0..16).map(|_| {
                let (http, gateways, answered, next) = (http.clone(), gateways.clone(), answered.clone(), next.clone());
                async move {
                    let mut answers = Vec::new();
                    loop {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        if n >= BOOKINGS {
                            return answers;
                        }
                        let body = json!({ "flightId": flight, "count": 1, "phone": format!("0106{n:07}") });
                        let gw = &gateways[n % gateways.len()];
                        let answer = http
                            .post(format!("{gw}/reservations"))
                            .header("idempotency-key", format!("storm-{n}"))
                            .json(&body)
                            .send()
                            .await;
                        let status = match answer {
                            Ok(r) => r.status().as_u16().to_string(),
                            Err(e) => format!("no answer: {e}"),
                        };
                        answered.fetch_add(1, Ordering::Relaxed);
                        answers.push((n, status));
                    }
                }
            });
            join_all(clients).await.into_iter().flatten().collect::<Vec<_>>()
        })
    };
    // A third of the way in, a reservation instance (taking bookings, consuming the saga's
    // answers) and a flight instance die without leaving their consumer groups.
    eventually("a third of the storm answered", || async { answered.load(Ordering::Relaxed) >= BOOKINGS / 3 }).await;
    c.kill(Service::Reservation, 1).await;
    c.kill(Service::Flight, 1).await;
    let answers = storm.await.unwrap();
    let failed: Vec<&(usize, String)> = answers.iter().filter(|(_, status)| status != "201").collect();
    assert!(failed.is_empty(), "{} of {BOOKINGS} bookings failed: {failed:?}", failed.len());

    let all = c.converged().await;
    assert_eq!(all.len(), BOOKINGS, "one reservation per key");
    let confirmed = all.iter().filter(|r| r["status"] == "CONFIRMED").count();
    assert_eq!(confirmed, 30, "every seat sold once");
    assert_eq!(c.get(&format!("/flights/{flight}")).await["seatsLeft"], 0);
    for r in all.iter().step_by(7) {
        let id = r["id"].as_i64().unwrap();
        let steps = c.saga_steps(id).await;
        let decided = match r["status"].as_str().unwrap() {
            "CONFIRMED" => "seats reserved",
            _ => "seats rejected",
        };
        assert_eq!(
            steps[..3],
            ["requested", "payment approved", decided],
            "reservation {id} in order, once: {steps:?}"
        );
    }

    // The killed instances come back, rejoin their groups, and the platform goes on.
    c.restart(Service::Reservation, 1).await;
    c.restart(Service::Flight, 1).await;
    let late = c.flight("AFTER", 10_000, 1).await;
    let (code, id) = c.book(late, "01069990000").await;
    assert_eq!(code, Some(201));
    c.wait_for(id.unwrap(), "CONFIRMED").await;
}
