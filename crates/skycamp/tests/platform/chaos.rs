//! The chaos suite: every service a separate OS process (`skycamp serve`), sharing one data dir,
//! killed and restarted with real signals. Each scenario ends with the business invariants:
//! every saga final, no overbooking, money equal to confirmed bookings (the auditor), and views
//! converged.

use std::process::Stdio;
use std::time::Duration;

use futures::future::join_all;
use serde_json::{Value, json};
use skycamp::app::Service;
use tokio::process::Command;

use crate::cluster::Cluster;
use crate::support::{self, eventually};

/// The flags every service of a chaos cluster runs with: short timeouts so the scenarios run fast.
const FLAGS: [&str; 7] = [
    "--log-level=warn",
    "--pending-timeout-ms=500",
    "--payment-timeout-ms=1000",
    "--breaker-window-ms=60000",
    "--breaker-min-calls=3",
    "--breaker-open-ms=500",
    "--inventory-deadline-ms=60000",
];

/// One instance of every service, each its own process, with [`FLAGS`].
async fn start() -> Cluster {
    start_with(&[]).await
}

/// A cluster whose services run with `overrides` in place of the same flags in [`FLAGS`].
async fn start_with(overrides: &[&str]) -> Cluster {
    let name = |flag: &str| flag.split('=').next().unwrap_or_default().to_owned();
    let mut flags: Vec<String> =
        FLAGS.iter().filter(|f| !overrides.iter().any(|o| name(o) == name(f))).map(|f| f.to_string()).collect();
    flags.extend(overrides.iter().map(|o| o.to_string()));
    Cluster::start(1, |_| flags).await
}

/// The phone of the `i`th customer of a storm.
fn phone(i: usize) -> String {
    format!("0108{i:07}")
}

/// Every saga final, no overbooking, both seat counts agree, and the auditor finds seats and
/// money in agreement.
async fn assert_converged(c: &Cluster, flight: i64, seats: i64) {
    let all = c.converged().await;
    let confirmed = all.iter().filter(|r| r["status"] == "CONFIRMED").count() as i64;
    assert!(confirmed <= seats, "no overbooking: {confirmed} confirmed on {seats} seats");
    eventually("views converged", || async {
        let f = c.get(&format!("/flights/{flight}")).await;
        let v = c.get(&format!("/flightStatuses/{flight}")).await;
        f["seatsLeft"] == seats - confirmed && v["seat"] == seats - confirmed
    })
    .await;
}

#[tokio::test]
async fn flight_service_killed_during_a_storm_bookings_still_answer_201_and_converge_after_restart() {
    let mut c = start().await;
    let flight = support::register_flight(&c.http, &c.gw, "CHAOS1", 10_000, 20).await;

    let pid = c.pid(Service::Flight, 0).to_string();
    let storm = join_all((0..60).map(|i| {
        let c = &c;
        async move {
            tokio::time::sleep(Duration::from_millis(i as u64 * 20)).await;
            c.book(flight, &phone(i)).await
        }
    }));
    let (answers, ()) = tokio::join!(storm, async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        Command::new("kill").args(["-KILL", &pid]).status().await.unwrap();
    });
    assert!(
        answers.iter().all(|(status, _)| *status == Some(201)),
        "100% answered 201 while the flight service was down: {answers:?}"
    );
    c.kill(Service::Flight, 0).await;
    let paid = c.get("/reservations?status=PAID&limit=1000").await;
    assert!(!paid.as_array().unwrap().is_empty(), "bookings wait for the flight service");

    tokio::time::sleep(Duration::from_secs(10)).await;
    c.restart(Service::Flight, 0).await;
    assert_converged(&c, flight, 20).await;
    let confirmed = c.get("/reservations?status=CONFIRMED&limit=1000").await;
    assert_eq!(confirmed.as_array().unwrap().len(), 20, "all seats sold once the flight service is back");
}

#[tokio::test]
async fn payment_stopped_opens_the_breaker_and_charges_nothing_and_restarted_closes_it() {
    let mut c = start().await;
    let flight = support::register_flight(&c.http, &c.gw, "CHAOS2", 10_000, 50).await;
    assert_eq!(c.book(flight, &phone(0)).await.0, Some(201));

    assert!(c.term(Service::Payment, 0).await, "SIGTERM: payment drains and exits 0");
    for i in 1..=3 {
        assert_eq!(c.book(flight, &phone(i)).await.0, Some(503));
    }
    assert_eq!(c.get("/circuits").await[0]["state"], "OPEN");
    let before = c.get("/reservations?limit=1000").await.as_array().unwrap().len();
    for i in 4..=10 {
        assert_eq!(c.book(flight, &phone(i)).await.0, Some(503), "fail fast while open");
    }
    assert_eq!(
        c.get("/reservations?limit=1000").await.as_array().unwrap().len(),
        before,
        "an open breaker writes nothing"
    );

    c.restart(Service::Payment, 0).await;
    let succeeded = std::sync::atomic::AtomicUsize::new(1);
    eventually("bookings succeed again and the probes close the breaker", || async {
        if c.book(flight, &phone(99)).await.0 == Some(201) {
            succeeded.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        c.get("/circuits").await[0]["state"] == "CLOSED"
    })
    .await;
    assert_converged(&c, flight, 50).await;
    let charged = c.get("/payments?limit=1000").await;
    let approved = charged.as_array().unwrap().iter().filter(|p| p["status"] == "APPROVED").count();
    assert_eq!(approved, succeeded.into_inner(), "only the bookings answered 201 are charged");
}

#[tokio::test]
async fn reservation_service_killed_mid_saga_repeatedly_leaves_no_orphan_charge_and_loses_no_booking() {
    let mut c = start().await;
    let flight = support::register_flight(&c.http, &c.gw, "CHAOS3", 10_000, 30).await;
    let mut accepted = Vec::new();
    for round in 0..3 {
        let storm = join_all((0..25).map(|i| {
            let c = &c;
            async move {
                tokio::time::sleep(Duration::from_millis(i as u64 * 8)).await;
                c.book(flight, &phone(round * 100 + i)).await
            }
        }));
        let pid = c.pid(Service::Reservation, 0).to_string();
        let (answers, ()) = tokio::join!(storm, async {
            tokio::time::sleep(Duration::from_millis(80)).await;
            Command::new("kill").args(["-KILL", &pid]).status().await.unwrap();
        });
        accepted.extend(answers.iter().filter(|(s, _)| *s == Some(201)).filter_map(|(_, id)| *id));
        c.kill(Service::Reservation, 0).await;
        c.restart(Service::Reservation, 0).await;
    }
    assert_converged(&c, flight, 30).await;
    for id in accepted {
        let r = c.get(&format!("/reservations/{id}")).await;
        assert!(r["status"].is_string(), "booking {id} answered 201 is still there: {r}");
    }
}

/// Sends `request` until it gets a 2xx, for at most 20 s; retrying is safe because it is a GET or
/// carries an Idempotency-Key. Returns the final status and how many tries it took.
async fn until_ok(request: impl Fn() -> reqwest::RequestBuilder) -> (u16, u32) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut tries = 0;
    loop {
        tries += 1;
        let status = request().send().await.map_or(0, |r| r.status().as_u16());
        if (200..300).contains(&status) || std::time::Instant::now() > deadline {
            return (status, tries);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_rolling_restart_of_every_service_under_load_fails_no_request() {
    let mut c = start().await;
    let flight = support::register_flight(&c.http, &c.gw, "CHAOS4", 10_000, 500).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = tokio::task::JoinSet::new();
    for worker in 0..4 {
        let (http, gw, stop) = (c.http.clone(), c.gw.clone(), stop.clone());
        load.spawn(async move {
            let mut results = Vec::new();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                n += 1;
                let key = format!("w{worker}-{n}");
                let body = json!({ "flightId": flight, "count": 1, "phone": format!("0107{worker}{n:06}") });
                let url = format!("{gw}/reservations");
                results.push(until_ok(|| http.post(&url).header("idempotency-key", &key).json(&body)).await);
                let url = format!("{gw}/flightStatuses");
                results.push(until_ok(|| http.get(&url)).await);
            }
            results
        });
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Upstreams first, the gateway last.
    for s in Service::ALL {
        assert!(c.term(s, 0).await, "{} exits 0 on SIGTERM", s.name());
        c.restart(s, 0).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut requests = 0;
    let mut retried = 0;
    while let Some(results) = load.join_next().await {
        for (status, tries) in results.unwrap() {
            requests += 1;
            retried += usize::from(tries > 1);
            assert!((200..300).contains(&status), "a request failed for good ({status} after {tries} tries)");
        }
    }
    assert!(requests > 20, "the load ran throughout ({requests} requests, {retried} retried)");
    eprintln!("rolling restart: {requests} requests, {retried} needed a retry, none failed");
    assert_converged(&c, flight, 500).await;
    let bookings = requests / 2;
    let confirmed = c.get("/reservations?status=CONFIRMED&limit=1000").await.as_array().unwrap().len();
    assert_eq!(confirmed, bookings, "each logical booking confirmed exactly once, retries included");
}

#[tokio::test]
async fn on_sigterm_readyz_turns_503_while_the_service_still_answers_then_it_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_skycamp"))
        .args([
            "serve",
            "payment",
            "--insecure",
            "--log-level=warn",
            "--drain-ms=1500",
            "--port",
            &port.to_string(),
            "--data-dir",
        ])
        .arg(dir.path())
        .env("SKYCAMP_INTERNAL_KEY", skycamp_platform::internal::InternalKey::random().expose())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let url = |p: &str| format!("http://127.0.0.1:{port}{p}");
    eventually("ready", || async { http.get(url("/readyz")).send().await.is_ok_and(|r| r.status() == 200) }).await;
    Command::new("kill").args(["-TERM", &child.id().unwrap().to_string()]).status().await.unwrap();
    eventually("readyz says draining", || async {
        http.get(url("/readyz")).send().await.is_ok_and(|r| r.status() == 503)
    })
    .await;
    let still = http.get(url("/payments")).send().await.unwrap();
    assert_eq!(still.status(), 200, "requests are still served while draining");
    assert_eq!(http.get(url("/healthz")).send().await.unwrap().status(), 200, "alive while draining");
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "exit status {status}");
}

/// `/healthz` tells the truth (issue 13.6): a worker that dies (here the outbox relay, killed by
/// a planted transport bug on its first publish) turns it 503, naming the worker, so Kubernetes
/// restarts the process; the restarted process publishes what the dead relay left behind.
#[tokio::test]
async fn a_dead_outbox_relay_turns_healthz_503_and_a_restart_publishes_what_it_left() {
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let key = skycamp_platform::internal::InternalKey::random();
    let start = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_skycamp"))
            .args(["serve", "flight", "--insecure", "--log-level=error", "--port", &port.to_string(), "--data-dir"])
            .arg(dir.path())
            .args(extra)
            .env("SKYCAMP_INTERNAL_KEY", key.expose())
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap()
    };
    let http = reqwest::Client::new();
    let url = |p: &str| format!("http://127.0.0.1:{port}{p}");
    let mut child = start(&["--panicking-transport"]);
    eventually("ready", || async { http.get(url("/readyz")).send().await.is_ok_and(|r| r.status() == 200) }).await;
    assert_eq!(http.get(url("/healthz")).send().await.unwrap().status(), 200, "alive before any publish");

    let flight = json!({ "flightName": "KE1313", "destination": "jeju", "price": 10_000, "seat": 3 });
    let created = http.post(url("/flights")).json(&flight).send().await.unwrap();
    assert_eq!(created.status(), 201, "the flight is registered; its event waits in the outbox");
    eventually("healthz turns 503", || async {
        http.get(url("/healthz")).send().await.is_ok_and(|r| r.status() == 503)
    })
    .await;
    let health = http.get(url("/healthz")).send().await.unwrap();
    assert_eq!(health.headers()["content-type"], "application/problem+json");
    let body: Value = health.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("flight outbox relay"), "names the dead worker: {body}");
    assert_eq!(http.get(url("/readyz")).send().await.unwrap().status(), 503, "and takes no traffic");

    // What Kubernetes does on a failed liveness probe: restart the container.
    child.kill().await.unwrap();
    let _restarted = start(&[]);
    eventually("healthy after the restart", || async {
        http.get(url("/healthz")).send().await.is_ok_and(|r| r.status() == 200)
    })
    .await;
    eventually("the outbox drained by the new relay", || async {
        let Ok(r) = http.get(url("/metrics")).send().await else { return false };
        let text = r.text().await.unwrap_or_default();
        text.lines().any(|l| l.starts_with("skycamp_outbox_backlog{") && l.ends_with(" 0"))
    })
    .await;
}

/// A keyed booking whose client gives up while payment is frozen: the charge goes through once
/// payment wakes, and the retry under the same key answers for that one reservation (issue 9.1).
#[tokio::test]
async fn an_abandoned_keyed_booking_retried_after_payment_wakes_is_one_reservation_charged_once() {
    let c = start_with(&["--payment-timeout-ms=2000"]).await;
    let flight = support::register_flight(&c.http, &c.gw, "ABANDON1", 10_000, 10).await;
    let phone = "01055500001";
    let body = json!({ "flightId": flight, "count": 1, "phone": phone });
    let booking = |http: &reqwest::Client| {
        http.post(format!("{}/reservations", c.gw)).header("idempotency-key", "abandoned-1").json(&body).send()
    };

    c.signal(Service::Payment, 0, "STOP").await;
    let impatient = reqwest::Client::builder().timeout(Duration::from_millis(300)).build().unwrap();
    assert!(booking(&impatient).await.is_err(), "the client gave up and closed its connection");
    tokio::time::sleep(Duration::from_millis(500)).await;
    c.signal(Service::Payment, 0, "CONT").await;
    // Past the key's in-progress lease (3 s) and the first attempt's payment timeout.
    tokio::time::sleep(Duration::from_secs(4)).await;

    let retry = booking(&c.http).await.unwrap();
    assert_eq!(retry.status(), 201, "the retry completes the first booking");
    let id = retry.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let again = booking(&c.http).await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap()["id"], id, "the key keeps answering for one reservation");

    assert_converged(&c, flight, 10).await;
    let mine = c.get(&format!("/reservations?phone={phone}")).await;
    assert_eq!(mine.as_array().unwrap().len(), 1, "one reservation for the key: {mine}");
    assert_eq!(mine[0]["status"], "CONFIRMED");
    let payments = c.get("/payments?limit=1000").await;
    let charged: Vec<&Value> = payments.as_array().unwrap().iter().filter(|p| p["reservationId"] == id).collect();
    assert_eq!(charged.len(), 1, "charged once: {payments}");
    assert_eq!(charged[0]["status"], "APPROVED");
}

/// The same abandoned booking when the frozen charge never happens (payment killed): it is
/// rejected uncharged, and the retry under its key says so instead of booking a second time.
#[tokio::test]
async fn an_abandoned_keyed_booking_whose_charge_died_is_rejected_once_and_its_retry_books_nothing_new() {
    let mut c = start_with(&["--payment-timeout-ms=2000"]).await;
    let flight = support::register_flight(&c.http, &c.gw, "ABANDON2", 10_000, 10).await;
    let phone = "01055500002";
    let body = json!({ "flightId": flight, "count": 1, "phone": phone });
    let url = format!("{}/reservations", c.gw);
    let booking = |http: &reqwest::Client| http.post(&url).header("idempotency-key", "abandoned-2").json(&body).send();

    c.signal(Service::Payment, 0, "STOP").await;
    let impatient = reqwest::Client::builder().timeout(Duration::from_millis(300)).build().unwrap();
    assert!(booking(&impatient).await.is_err(), "the client gave up and closed its connection");
    tokio::time::sleep(Duration::from_millis(500)).await;
    c.kill(Service::Payment, 0).await;
    c.restart(Service::Payment, 0).await;
    eventually("reconciliation rejects the uncharged booking", || async {
        c.get(&format!("/reservations?phone={phone}")).await[0]["status"] == "REJECTED"
    })
    .await;

    let retry = booking(&c.http).await.unwrap();
    assert_eq!(retry.status(), 409, "the retry answers for the rejected booking");
    let problem = retry.json::<Value>().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("nothing was charged"), "{problem}");
    let mine = c.get(&format!("/reservations?phone={phone}")).await;
    assert_eq!(mine.as_array().unwrap().len(), 1, "no second booking under the key: {mine}");
    let payments = c.get("/payments?limit=1000").await;
    assert!(payments.as_array().unwrap().iter().all(|p| p["status"] != "APPROVED"), "nothing charged: {payments}");
    assert_converged(&c, flight, 10).await;
}

/// Payment frozen (SIGSTOP), 24 bookings one after another: only the breaker's minimum number of
/// calls (5) wait for the payment timeout and write a reservation; the rest are turned away at
/// once with nothing written (issue 9.14).
#[tokio::test]
async fn a_hanging_payment_opens_the_breaker_after_its_minimum_calls() {
    let c = start_with(&[
        "--breaker-min-calls=5",
        "--breaker-window-ms=10000",
        "--breaker-open-ms=60000",
        "--payment-timeout-ms=1000",
    ])
    .await;
    let flight = support::register_flight(&c.http, &c.gw, "HANG1", 10_000, 50).await;
    c.signal(Service::Payment, 0, "STOP").await;
    let mut waited = Vec::new();
    for i in 0..24 {
        let started = std::time::Instant::now();
        assert_eq!(c.book(flight, &phone(i)).await.0, Some(503), "booking {i} while payment hangs");
        waited.push(started.elapsed().as_millis());
    }
    c.signal(Service::Payment, 0, "CONT").await;
    eprintln!("hanging payment, 24 bookings, milliseconds each: {waited:?}");
    assert_eq!(c.get("/circuits").await[0]["state"], "OPEN");
    let written = c.get("/reservations?limit=1000").await;
    assert_eq!(
        written.as_array().unwrap().len(),
        5,
        "only the breaker's 5 minimum calls reached payment and wrote a reservation: {written}"
    );
    assert!(written.as_array().unwrap().iter().all(|r| r["status"] == "REJECTED"), "{written}");
}

/// Resident memory of a process, in kilobytes (Linux `/proc`).
fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Opens a connection to `base` and sends `bytes`, leaving it open.
async fn hold(base: &str, bytes: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt as _;
    let mut stream = tokio::net::TcpStream::connect(base.trim_start_matches("http://")).await.unwrap();
    stream.write_all(bytes.as_bytes()).await.unwrap();
    stream
}

/// Reads until the server closes the connection; what it sent meanwhile.
async fn until_closed(mut stream: tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt as _;
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut got)).await;
    assert!(read.is_ok(), "the server never closed a held connection");
    String::from_utf8_lossy(&got).into_owned()
}

/// 450 clients that send a head and part of a body, 30 that connect and say nothing and 10 that
/// send half a head (issue 9.6): everyone else is still served, the connection cap turns the
/// excess away with a 503, the timeouts close every held connection, and memory stays bounded.
#[tokio::test]
async fn slow_and_idle_clients_neither_starve_the_gateway_nor_grow_its_memory() {
    // The default header and body timeouts (10 s) leave time to open every connection first.
    let c = start_with(&["--http-max-connections=500"]).await;
    let flight = support::register_flight(&c.http, &c.gw, "SLOW1", 10_000, 10).await;
    let gateway = c.pid(Service::Gateway, 0);
    let before = rss_kb(gateway);

    let partial_body = "POST /reservations HTTP/1.1\r\nHost: skycamp\r\nContent-Type: application/json\r\n\
                        Content-Length: 60000\r\n\r\n{\"flightId\":";
    let mut held = Vec::new();
    for _ in 0..450 {
        held.push(hold(&c.gw, partial_body).await);
    }
    for _ in 0..30 {
        held.push(hold(&c.gw, "").await);
    }
    for _ in 0..10 {
        held.push(hold(&c.gw, "GET /flights HTTP/1.1\r\nHost: sky").await);
    }
    let during = rss_kb(gateway);

    assert_eq!(c.http.get(format!("{}/flights/{flight}", c.gw)).send().await.unwrap().status(), 200);
    assert_eq!(c.book(flight, &phone(1)).await.0, Some(201), "a booking goes through while 490 clients dawdle");

    let mut over = Vec::new();
    for _ in 0..20 {
        over.push(hold(&c.gw, "GET /healthz HTTP/1.1\r\nHost: skycamp\r\n\r\n").await);
    }
    let answers = join_all(over.into_iter().map(until_closed)).await;
    let turned_away = answers.iter().filter(|a| a.starts_with("HTTP/1.1 503")).count();
    assert!(turned_away >= 8, "connections over the cap of 500 are turned away: {answers:?}");
    let problem = answers.iter().find(|a| a.starts_with("HTTP/1.1 503")).unwrap();
    assert!(problem.contains("application/problem+json") && problem.contains("retry-after"), "{problem}");

    let closed = join_all(held.into_iter().map(until_closed)).await;
    let timed_out = closed.iter().filter(|a| a.starts_with("HTTP/1.1 408")).count();
    assert!(timed_out >= 450, "every partial body is answered 408 when its deadline passes ({timed_out})");

    // A kept-alive connection that goes quiet after its answer is closed too.
    let mut kept = hold(&c.gw, "GET /healthz HTTP/1.1\r\nHost: skycamp\r\n\r\n").await;
    let mut first = [0u8; 12];
    tokio::io::AsyncReadExt::read_exact(&mut kept, &mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    until_closed(kept).await;

    let after = rss_kb(gateway);
    eprintln!("gateway resident memory: {before} kB before, {during} kB with 490 held connections, {after} kB after");
    assert!(during < before + 64 * 1024, "memory stays bounded: {before} kB → {during} kB");
    assert_eq!(c.book(flight, &phone(2)).await.0, Some(201), "served as before once they are gone");
}
