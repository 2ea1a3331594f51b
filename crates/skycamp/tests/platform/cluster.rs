//! The one process harness: every service as its own `skycamp serve` process (one or more
//! instances each), or the whole platform as one `skycamp up` process, sharing a data dir or a
//! PostgreSQL database and a broker, started, signalled, killed and restarted for real. The
//! chaos, crash-restart and scale-out suites build on it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use skycamp::app::{Service, Settings};
use skycamp::processes::{Layout, instance_args};
use tokio::process::{Child, Command};

use crate::support::{self, eventually};

/// Every service, `instances` times, as separate processes.
pub struct Cluster {
    /// One `skycamp up` process (kept as the gateway's instance 0) instead of one per service.
    whole: bool,
    pub settings: Settings,
    layout: Layout,
    args: Vec<String>,
    children: BTreeMap<(Service, usize), Child>,
    /// Every gateway instance's base URL.
    pub gateways: Vec<String>,
    /// The first gateway's base URL.
    pub gw: String,
    turn: AtomicUsize,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts `instances` of every service on free ports, each with the arguments `args` makes
    /// for the cluster's directory, and waits until every one is ready.
    pub async fn start(instances: usize, args: impl FnOnce(&Path) -> Vec<String>) -> Self {
        Self::launch(false, instances, args).await
    }

    /// Starts the whole platform as one `skycamp up` process on free ports, with `args`.
    pub async fn up(args: impl FnOnce(&Path) -> Vec<String>) -> Self {
        Self::launch(true, 1, args).await
    }

    async fn launch(whole: bool, instances: usize, args: impl FnOnce(&Path) -> Vec<String>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let args = args(dir.path());
        let mut settings = Settings::new(dir.path().to_path_buf());
        let layout: Layout =
            Service::ALL.iter().map(|s| (*s, (0..instances).map(|_| support::free_port()).collect())).collect();
        for s in Service::ALL {
            settings.ports.insert(s, layout[&s][0]);
        }
        let gateways: Vec<String> = layout[&Service::Gateway].iter().map(|p| format!("http://127.0.0.1:{p}")).collect();
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
        let mut cluster = Self {
            whole,
            settings,
            layout,
            args,
            children: BTreeMap::new(),
            gw: gateways[0].clone(),
            gateways,
            turn: AtomicUsize::new(0),
            http,
            dir,
        };
        cluster.restart_all().await;
        cluster
    }

    /// Starts every process (again, after a kill) and waits until every service is ready.
    pub async fn restart_all(&mut self) {
        let instances = self.layout[&Service::Gateway].len();
        for s in Service::ALL {
            for k in 0..instances {
                if !self.whole || s == Service::Gateway {
                    self.spawn(s, k);
                }
            }
        }
        for s in Service::ALL {
            for k in 0..instances {
                self.ready(s, k).await;
            }
        }
    }

    /// Sends `signal` to every process at once (KILL: the platform crashes mid-whatever).
    pub async fn signal_all(&self, signal: &str) {
        for child in self.children.values() {
            if let Some(pid) = child.id() {
                Command::new("kill").args([&format!("-{signal}"), &pid.to_string()]).status().await.unwrap();
            }
        }
    }

    fn log_file(&self, s: Service, k: usize) -> PathBuf {
        self.dir.path().join(format!("{}-{k}.log", s.name()))
    }

    fn spawn(&mut self, s: Service, k: usize) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_file(s, k)).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_skycamp"));
        if self.whole {
            command.arg("up").arg("--data-dir").arg(self.dir.path());
            for s in Service::ALL {
                command.arg(format!("--{}-port={}", s.name(), self.layout[&s][0]));
            }
        } else {
            command.args(instance_args(&self.settings, &self.layout, s, k));
        }
        let child = command
            .args(&self.args)
            .envs(skycamp::processes::child_env(&self.settings))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        self.children.insert((s, k), child);
    }

    /// The base URL of instance `k` of `s`.
    pub fn url(&self, s: Service, k: usize) -> String {
        format!("http://127.0.0.1:{}", self.layout[&s][k])
    }

    /// The process id of instance `k` of `s`.
    pub fn pid(&self, s: Service, k: usize) -> u32 {
        self.children[&(s, k)].id().unwrap()
    }

    /// Waits for `/readyz` of instance `k` of `s`; on time-out shows its log.
    pub async fn ready(&self, s: Service, k: usize) {
        let url = format!("{}/readyz", self.url(s, k));
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.http.get(&url).send().await.is_ok_and(|r| r.status() == 200) {
            if Instant::now() > deadline {
                panic!("{} instance {k} not ready in 60 s; its log:\n{}", s.name(), self.log(s, k));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log(&self, s: Service, k: usize) -> String {
        std::fs::read_to_string(self.log_file(s, k)).unwrap_or_default()
    }

    /// SIGKILL: the instance dies mid-whatever (and, on Kafka, without leaving its group).
    pub async fn kill(&mut self, s: Service, k: usize) {
        let mut child = self.children.remove(&(s, k)).unwrap();
        child.kill().await.unwrap();
    }

    /// SIGTERM: the instance drains and exits; returns whether it exited cleanly.
    pub async fn term(&mut self, s: Service, k: usize) -> bool {
        let mut child = self.children.remove(&(s, k)).unwrap();
        let pid = child.id().unwrap().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().await.unwrap();
        tokio::time::timeout(Duration::from_secs(20), child.wait()).await.unwrap().unwrap().success()
    }

    /// Sends `signal` (STOP, CONT, KILL) to a running instance.
    pub async fn signal(&self, s: Service, k: usize, signal: &str) {
        let pid = self.pid(s, k).to_string();
        Command::new("kill").args([&format!("-{signal}"), &pid]).status().await.unwrap();
    }

    /// Starts instance `k` of `s` again and waits until it is ready.
    pub async fn restart(&mut self, s: Service, k: usize) {
        self.spawn(s, k);
        self.ready(s, k).await;
    }

    /// The gateways in turn, so requests are spread over all of them.
    fn next_gw(&self) -> &str {
        &self.gateways[self.turn.fetch_add(1, Ordering::Relaxed) % self.gateways.len()]
    }

    /// `GET path` through a gateway; it must succeed.
    pub async fn get(&self, path: &str) -> Value {
        let r = self.http.get(format!("{}{path}", self.next_gw())).send().await.unwrap();
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self.http.post(format!("{}{path}", self.next_gw())).json(body).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Registers a flight; returns its id once every gateway shows it in `flightStatuses`.
    pub async fn flight(&self, name: &str, price: i64, seat: i64) -> i64 {
        let body = json!({ "flightName": name, "destination": "korea", "price": price, "seat": seat });
        self.register("/flights", &body, "/flightStatuses").await
    }

    /// Registers a campsite; returns its id once every gateway shows it in `campsiteStatuses`.
    pub async fn campsite(&self, name: &str, price_per_night: i64) -> i64 {
        let body = json!({
            "name": name, "location": "Gapyeong", "description": "by the river",
            "pricePerNight": price_per_night, "capacity": 4, "amenities": ["fire pit"]
        });
        self.register("/campsites", &body, "/campsiteStatuses").await
    }

    /// `POST`s `body` to `path` (201); returns the new id once every gateway's `view` has it.
    async fn register(&self, path: &str, body: &Value, view: &str) -> i64 {
        let (code, created) = self.post(path, body).await;
        assert_eq!(code, 201, "{created}");
        let id = created["id"].as_i64().unwrap();
        for gw in &self.gateways {
            let url = format!("{gw}{view}/{id}");
            eventually(&format!("{id} in {view}"), || async {
                self.http.get(&url).send().await.is_ok_and(|r| r.status() == 200)
            })
            .await;
        }
        id
    }

    /// The date `days` from today.
    pub fn day(&self, days: i64) -> String {
        (self.settings.clock.today() + time::Duration::days(days)).to_string()
    }

    pub async fn book_stay(&self, site: i64, from: i64, to: i64, phone: &str) -> (u16, Value) {
        let body = json!({
            "campsiteId": site, "checkIn": self.day(from), "checkOut": self.day(to), "guests": 2, "phone": phone
        });
        self.post("/reservations", &body).await
    }

    /// One flight booking; the status and id, or None when no answer came.
    pub async fn book(&self, flight: i64, phone: &str) -> (Option<u16>, Option<i64>) {
        let body = json!({ "flightId": flight, "count": 1, "phone": phone });
        match self.http.post(format!("{}/reservations", self.next_gw())).json(&body).send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                (Some(status), r.json::<Value>().await.ok().and_then(|b| b["id"].as_i64()))
            }
            Err(_) => (None, None),
        }
    }

    pub async fn status(&self, id: i64) -> String {
        self.get(&format!("/reservations/{id}")).await["status"].as_str().unwrap().to_owned()
    }

    pub async fn wait_for(&self, id: i64, status: &str) {
        eventually(&format!("reservation {id} {status}"), || async { self.status(id).await == status }).await;
    }

    pub async fn mileage(&self, phone: &str) -> i64 {
        self.get(&format!("/mileages/{phone}")).await["balance"].as_i64().unwrap()
    }

    /// The topics of the messages a customer got about one reservation, sorted.
    pub async fn messages(&self, phone: &str, id: i64) -> Vec<String> {
        support::topics_about(&self.get(&format!("/messages?phone={phone}")).await, id)
    }

    /// The saga's own steps of a reservation, in order (mileage and message steps left out).
    pub async fn saga_steps(&self, id: i64) -> Vec<String> {
        let side = ["mileage accrued", "mileage deducted", "message sent"];
        let timeline = self.get(&format!("/reservations/{id}/timeline")).await;
        timeline
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["step"].as_str().unwrap().to_owned())
            .filter(|s| !side.contains(&s.as_str()))
            .collect()
    }

    /// Waits until every reservation is final (showing every instance's log if that takes more
    /// than 60 s) and the auditor finds seats, nights and money in agreement; returns them all.
    pub async fn converged(&self) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let all = self.get("/reservations?limit=1000").await;
            let open: Vec<&Value> = all
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| !matches!(r["status"].as_str(), Some("CONFIRMED" | "REJECTED" | "CANCELLED")))
                .collect();
            if open.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                let logs: Vec<String> =
                    self.children.keys().map(|(s, k)| format!("--- {} {k}\n{}", s.name(), self.log(*s, *k))).collect();
                panic!("sagas not final after 60 s: {open:#?}\n{}", logs.join("\n"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let gw = self.gw.clone();
        eventually("the auditor finds no mismatch", || async {
            skycamp::audit::audit(&gw).await.is_ok_and(|report| report.mismatches.is_empty())
        })
        .await;
        self.get("/reservations?limit=1000").await.as_array().unwrap().clone()
    }
}
