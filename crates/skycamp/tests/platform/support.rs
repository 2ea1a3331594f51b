//! `TestApp`: the whole platform (or part of it) on free ports with a fresh data dir, and one
//! helper per endpoint.

use std::future::Future;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use skycamp::app::{self, Running, Service, Settings};
use skycamp_platform::clock::Clock;
use skycamp_platform::internal::{InternalKey, SIGNATURE_HEADER};

/// A test that cannot run here says why and passes, except in CI (`CI=true`), where what it
/// needs must be there: the one rule every test that may skip follows.
pub fn cannot_run(why: &str) {
    assert!(std::env::var("CI").as_deref() != Ok("true"), "CI must be able to run this test: {why}");
    eprintln!("skipped: {why}");
}

/// The repository's `deploy/` folder.
pub fn deploy() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

/// The path of an installed program, if it is installed.
pub fn installed(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|dir| std::path::Path::new(dir).join(name)).find(|p| p.is_file())
}

/// Every service but `left_out` (which a test runs on its own terms, or not at all).
pub fn all_but(left_out: Service) -> Vec<Service> {
    Service::ALL.into_iter().filter(|s| *s != left_out).collect()
}

/// Fresh settings for a platform in `dir` on free ports, with short timeouts for tests.
///
/// With `SKYCAMP_TEST_POSTGRES_URL` set (`.ci/run` sets it), the services keep their data in a
/// fresh PostgreSQL database per test directory instead of SQLite files.
pub fn settings(dir: &std::path::Path) -> Settings {
    let mut s = Settings::new(dir.to_path_buf()).on_free_ports();
    s.payment_timeout = Duration::from_secs(2);
    s.pending_timeout = Duration::from_millis(500);
    s.database_url = postgres_for(dir).map(Into::into);
    s.kafka = kafka_for(dir);
    s
}

/// Kafka on the broker named by `SKYCAMP_TEST_KAFKA_BROKERS`, with topics and groups of their
/// own for this test directory.
fn kafka_for(dir: &std::path::Path) -> Option<skycamp::app::KafkaSettings> {
    let brokers = std::env::var("SKYCAMP_TEST_KAFKA_BROKERS").ok()?;
    let mut kafka = skycamp::app::KafkaSettings::new(brokers);
    kafka.namespace = namespace_for(dir);
    kafka.partitions = 3;
    Some(kafka)
}

/// A Kafka topic and group prefix unique to `dir`.
pub fn namespace_for(dir: &std::path::Path) -> String {
    let name: String = dir.file_name().unwrap().to_string_lossy().chars().filter(char::is_ascii_alphanumeric).collect();
    format!("t{}.", name.to_ascii_lowercase())
}

/// The test database for `dir` on the server named by `SKYCAMP_TEST_POSTGRES_URL`, created on
/// first use (the name is derived from the temp dir, so a restart in one test finds its data).
pub fn postgres_for(dir: &std::path::Path) -> Option<String> {
    let admin = std::env::var("SKYCAMP_TEST_POSTGRES_URL").ok()?;
    let name: String = dir.file_name()?.to_string_lossy().chars().filter(char::is_ascii_alphanumeric).collect();
    let db = format!("skycamp_{}", name.to_ascii_lowercase());
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b).to_owned();
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Runtime::new().unwrap().block_on(async {
                    let server =
                        skycamp_platform::Db::connect(&admin).await.expect("SKYCAMP_TEST_POSTGRES_URL reachable");
                    let exists: Option<i64> =
                        sqlx::query_scalar("SELECT 1::BIGINT FROM pg_database WHERE datname = $1")
                            .bind(&db)
                            .fetch_optional(server.pool())
                            .await
                            .unwrap();
                    if exists.is_none() {
                        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
                            .execute(server.pool())
                            .await
                            .unwrap();
                    }
                    server.close().await;
                })
            })
            .join()
            .unwrap()
    });
    Some(format!("{base}/{db}"))
}

pub struct TestApp {
    pub running: Option<Running>,
    /// The platform's clock; `advance_days` moves every service's "today".
    pub clock: Clock,
    pub gateway: String,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
    /// PostgreSQL database of this app, when the suite runs on PostgreSQL.
    pub database_url: Option<String>,
    /// The key the platform's services sign internal calls with.
    pub internal_key: InternalKey,
}

impl TestApp {
    /// Every service, fresh data dir.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Every service, with adjusted settings.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Settings)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut s = settings(dir.path());
        adjust(&mut s);
        let running = app::start(&s, &Service::ALL).await.expect("platform starts");
        let gateway = running.url(Service::Gateway);
        let database_url = skycamp::config::database_url(&s).map(str::to_owned);
        Self {
            running: Some(running),
            clock: s.clock.clone(),
            gateway,
            http: reqwest::Client::new(),
            dir,
            database_url,
            internal_key: s.internal_key.clone(),
        }
    }

    /// A direct connection to one service's database (SQLite file or PostgreSQL schema), for
    /// tests that simulate crashes or corruption.
    pub async fn service_db(&self, service: Service) -> skycamp_platform::Db {
        match &self.database_url {
            Some(url) => skycamp_platform::Db::connect_in_schema(url, service.name()).await.unwrap(),
            None => skycamp_platform::Db::sqlite_in(self.dir.path(), &format!("{}.db", service.name())).await.unwrap(),
        }
    }

    pub fn running(&self) -> &Running {
        self.running.as_ref().expect("platform running")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway)
    }

    pub async fn get(&self, path: &str) -> Value {
        let r = self.http.get(self.url(path)).send().await.unwrap();
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().await.unwrap()
    }

    pub async fn patch(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self.http.patch(self.url(path)).json(body).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn delete(&self, path: &str) -> u16 {
        self.http.delete(self.url(path)).send().await.unwrap().status().as_u16()
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self.http.post(self.url(path)).json(body).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Registers a flight through the gateway; returns its id once `flightStatuses` shows it.
    pub async fn register_flight(&self, name: &str, price: i64, seat: i64) -> i64 {
        register_flight(&self.http, &self.gateway, name, price, seat).await
    }

    /// Registers a campsite through the gateway; returns its id once `campsiteStatuses` shows it.
    pub async fn register_campsite(&self, name: &str, price_per_night: i64, capacity: i64) -> i64 {
        let body = json!({
            "name": name, "location": "Gapyeong", "description": "by the river",
            "pricePerNight": price_per_night, "capacity": capacity, "amenities": ["fire pit", "shower"]
        });
        let (status, site) = self.post("/campsites", &body).await;
        assert_eq!(status, 201, "{site}");
        let id = site["id"].as_i64().unwrap();
        self.eventually("campsite in campsiteStatuses", || async move {
            self.http.get(self.url(&format!("/campsiteStatuses/{id}"))).send().await.unwrap().status() == 200
        })
        .await;
        id
    }

    /// An ISO date `days` from the platform's today.
    pub fn day(&self, days: i64) -> String {
        (self.clock.today() + time::Duration::days(days)).to_string()
    }

    /// `POST /reservations` for a campsite stay `from`..`to` days from today.
    pub async fn book_stay(&self, campsite_id: i64, from: i64, to: i64, guests: i64, phone: &str) -> (u16, Value) {
        let body = json!({
            "campsiteId": campsite_id, "checkIn": self.day(from), "checkOut": self.day(to),
            "guests": guests, "phone": phone
        });
        self.post("/reservations", &body).await
    }

    /// A customer's mileage balance.
    pub async fn mileage(&self, phone: &str) -> i64 {
        self.get(&format!("/mileages/{phone}")).await["balance"].as_i64().unwrap()
    }

    /// The topics of a customer's messages about one reservation, sorted.
    pub async fn message_topics(&self, phone: &str, reservation_id: i64) -> Vec<String> {
        topics_about(&self.get(&format!("/messages?phone={phone}")).await, reservation_id)
    }

    /// `POST /reservations` in the seed's booking form.
    pub async fn book(&self, flight_id: i64, count: i64, phone: &str) -> (u16, Value) {
        self.post(
            "/reservations",
            &json!({ "flightId": flight_id, "reserveStatus": "place", "count": count, "phone": phone }),
        )
        .await
    }

    pub async fn reservation(&self, id: i64) -> Value {
        self.get(&format!("/reservations/{id}")).await
    }

    pub async fn status_of(&self, id: i64) -> String {
        self.reservation(id).await["status"].as_str().unwrap().to_owned()
    }

    /// The read model's row for a flight, if present.
    pub async fn flight_status(&self, flight_id: i64) -> Option<Value> {
        let all = self.get("/flightStatuses").await;
        all.as_array().unwrap().iter().find(|f| f["flightId"] == flight_id).cloned()
    }

    pub async fn seats_left_in_view(&self, flight_id: i64) -> i64 {
        self.flight_status(flight_id).await.unwrap()["seat"].as_i64().unwrap()
    }

    pub async fn seats_left_at_flight_service(&self, flight_id: i64) -> i64 {
        self.get(&format!("/flights/{flight_id}")).await["seatsLeft"].as_i64().unwrap()
    }

    /// Waits until `reservation` reaches `status`.
    pub async fn wait_for_status(&self, id: i64, status: &str) {
        let what = format!("reservation {id} {status}");
        self.eventually(&what, || async move { self.status_of(id).await == status }).await;
    }

    /// Waits until every outbox is empty and every consumer has caught up.
    pub async fn settle(&self) {
        self.eventually("platform settled", || async { self.running().settled().await.unwrap() }).await;
    }

    /// Polls `check` until it is true (see [`eventually`]).
    pub async fn eventually<F, Fut>(&self, what: &str, check: F)
    where
        F: Fn() -> Fut,
        Fut: Future<Output = bool>,
    {
        eventually(what, check).await;
    }

    /// After [`TestApp::stop`]: starts `services` again on this app's data and clock, with
    /// `down` unreachable (it is down); returns the settings, to start `down` later.
    pub async fn restart_without(&mut self, down: Service, services: &[Service]) -> Settings {
        self.restart_adjusted_without(down, services, |_| {}).await
    }

    /// [`TestApp::restart_without`], with the settings adjusted as `adjust` says (the same as the
    /// app was started with, for one: accounts and keys are not the defaults').
    pub async fn restart_adjusted_without(
        &mut self,
        down: Service,
        services: &[Service],
        adjust: impl FnOnce(&mut Settings),
    ) -> Settings {
        let mut s = settings(self.dir.path());
        adjust(&mut s);
        s.clock = self.clock.clone();
        s.remote.insert(down, "http://127.0.0.1:9".into());
        let partial = app::start(&s, services).await.expect("the other services start");
        self.gateway = partial.url(Service::Gateway);
        self.running = Some(partial);
        s
    }

    pub async fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }
}

/// Registers a flight through the gateway at `gw`; returns its id once `flightStatuses` shows it.
pub async fn register_flight(http: &reqwest::Client, gw: &str, name: &str, price: i64, seat: i64) -> i64 {
    let body = json!({ "flightName": name, "destination": "korea", "price": price, "seat": seat });
    let r = http.post(format!("{gw}/flights")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let visible = || async move { http.get(format!("{gw}/flightStatuses/{id}")).send().await.unwrap().status() == 200 };
    eventually("flight in flightStatuses", visible).await;
    id
}

/// `POST /payments` straight to the payment service at `payment`, signed with `key` as the
/// reservation service signs its charges; the answer's status.
pub async fn signed_charge(payment: &str, key: &InternalKey, charge: &Value) -> u16 {
    let body = serde_json::to_vec(charge).unwrap();
    reqwest::Client::new()
        .post(format!("{payment}/payments"))
        .header("content-type", "application/json")
        .header(SIGNATURE_HEADER, key.sign(skycamp_platform::time::now_millis(), "POST /payments", &body))
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Sends `request` as written (no URL normalisation, as `curl --path-as-is`) to the server at
/// `base` over a fresh connection; returns the answer's status, head and body.
pub async fn raw_http(base: &str, request: &str) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let read = async {
        let mut chunk = [0u8; 8192];
        loop {
            let n = stream.read(&mut chunk).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).into_owned();
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text[..end]
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0);
                if buf.len() >= end + 4 + length {
                    break;
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read).await.expect("an answer within 10 s");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_owned())
}

/// The topics of the `messages` (a `GET /messages` answer) about one reservation, sorted.
pub fn topics_about(messages: &Value, reservation_id: i64) -> Vec<String> {
    let mut topics: Vec<String> = messages
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["reservationId"] == reservation_id)
        .map(|m| m["topic"].as_str().unwrap().to_owned())
        .collect();
    topics.sort();
    topics
}

/// Polls `check` until it is true; fails the test after 60 s (a bound on liveness for a loaded
/// two-core machine, not a timing: a healthy run is done in well under a second or a few).
pub async fn eventually<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The sums a user and an accountant would check about one flight's bookings.
#[derive(Debug, PartialEq, Eq)]
pub struct Ledger {
    pub confirmed_seats: i64,
    pub net_charged: i64,
}

/// Computes confirmed seats and net money (approved minus refunded) over `reservations`.
pub async fn ledger(app: &TestApp, reservations: &[i64]) -> Ledger {
    let mut l = Ledger { confirmed_seats: 0, net_charged: 0 };
    for &id in reservations {
        let r = app.reservation(id).await;
        if r["status"] == "CONFIRMED" {
            l.confirmed_seats += r["count"].as_i64().unwrap();
        }
        let payments = app.get(&format!("/payments?reservationId={id}")).await;
        for p in payments.as_array().unwrap() {
            if p["status"] == "APPROVED" {
                l.net_charged += p["amount"].as_i64().unwrap();
            }
        }
    }
    l
}

/// A port that is free now, below the kernel's ephemeral range (32768 and up), so services that
/// other tests start on port 0 can never take it between our check and its use. Tests run as
/// parallel processes, each picking ports for servers it starts later: a port is claimed for the
/// whole test process with a file in `/tmp/skycamp-test-ports` (created exclusively; one left by
/// a process that is gone is taken over), so two tests never pick the same one.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let claims = std::path::Path::new("/tmp/skycamp-test-ports");
    let _ = std::fs::create_dir_all(claims);
    let me = std::process::id();
    let seed = me ^ std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = 20_000 + (seed.wrapping_mul(2_654_435_761).wrapping_add(n.wrapping_mul(7_919)) % 12_000) as u16;
        if claim(&claims.join(port.to_string()), me) && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Claims `file` for process `me`: creates it, or takes it over from a process that has ended.
fn claim(file: &std::path::Path, me: u32) -> bool {
    let create = || std::fs::OpenOptions::new().write(true).create_new(true).open(file);
    if let Ok(mut f) = create() {
        use std::io::Write as _;
        return f.write_all(me.to_string().as_bytes()).is_ok();
    }
    let owner = std::fs::read_to_string(file).ok().and_then(|s| s.trim().parse::<u32>().ok());
    match owner {
        Some(pid) if pid == me => false,
        Some(pid) if std::path::Path::new(&format!("/proc/{pid}")).exists() => false,
        // Its process is gone (or the file is half-written): take it over, once.
        _ => {
            std::fs::remove_file(file).is_ok()
                && create().is_ok_and(|mut f| {
                    use std::io::Write as _;
                    f.write_all(me.to_string().as_bytes()).is_ok()
                })
        }
    }
}
