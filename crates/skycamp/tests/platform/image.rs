//! The container image (issue 13): built by `scripts/image build` from the repository's one
//! Dockerfile, then run here with a real engine, the way a user runs it: `skycamp up` answers
//! `/readyz` on the published gateway port, the seed's booking works through it, and
//! `docker stop` (SIGTERM) drains and exits 0 within the grace period. The image to test is
//! named by `SKYCAMP_TEST_IMAGE` (scripts/test sets it after building); without it the tests say
//! so and pass, except in CI.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{self, eventually};

/// The engine's CLI: Debian's (`/usr/bin/docker`, with BuildKit), else whatever `docker` is.
fn docker() -> String {
    std::env::var("SKYCAMP_DOCKER").unwrap_or_else(|_| "docker".into())
}

fn image() -> Option<String> {
    match std::env::var("SKYCAMP_TEST_IMAGE") {
        Ok(image) if !image.is_empty() => Some(image),
        _ => {
            support::cannot_run("SKYCAMP_TEST_IMAGE is not set (scripts/image build, then scripts/test sets it)");
            None
        }
    }
}

/// Runs the engine's CLI; its standard output, trimmed. Panics with what it said on failure.
fn run(args: &[&str]) -> String {
    let out = Command::new(docker()).args(args).output().unwrap();
    assert!(out.status.success(), "docker {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A container (and its data volume) removed when dropped.
struct Container {
    name: String,
    volume: String,
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new(docker()).args(["rm", "-f", &self.name]).output();
        let _ = Command::new(docker()).args(["volume", "rm", "-f", &self.volume]).output();
    }
}

/// Starts `image` the way docs/DEPLOY.md does for one machine: read-only root filesystem, a
/// tmpfs for /tmp, a named volume for /data, the gateway published on a free loopback port.
fn start(image: &str, extra: &[&str]) -> (Container, String) {
    let port = support::free_port();
    let suffix = format!("{}-{}", std::process::id(), port);
    let c = Container { name: format!("skycamp-test-{suffix}"), volume: format!("skycamp-test-data-{suffix}") };
    let publish = format!("127.0.0.1:{port}:8080");
    let volume = format!("{}:/data", c.volume);
    let mut args =
        vec!["run", "-d", "--name", &c.name, "--read-only", "--tmpfs", "/tmp", "-v", &volume, "-p", &publish];
    args.extend(extra);
    args.push(image);
    run(&args);
    (c, format!("http://127.0.0.1:{port}"))
}

#[tokio::test]
async fn the_image_runs_the_seed_booking_and_stops_cleanly_on_sigterm() {
    let Some(image) = image() else { return };
    let config: Value =
        serde_json::from_str(&run(&["image", "inspect", &image, "--format", "{{json .Config}}"])).unwrap();
    assert_eq!(config["User"], "65532:65532", "runs as non-root");
    assert_eq!(config["Entrypoint"], json!(["/usr/local/bin/skycamp"]));
    assert_eq!(config["Labels"]["org.opencontainers.image.title"], "skycamp", "carries OCI labels");
    assert!(config["Volumes"].get("/data").is_some(), "declares /data as a volume");

    let (c, gw) = start(&image, &["-e", "SKYCAMP_DRAIN_MS=1000"]);
    let http = reqwest::Client::new();
    eventually("the container is ready", || async {
        http.get(format!("{gw}/readyz")).send().await.is_ok_and(|r| r.status() == 200)
    })
    .await;

    // The flight seed's story, through the published port.
    let flight = support::register_flight(&http, &gw, "KE1313", 300_000, 3).await;
    let booked = http
        .post(format!("{gw}/reservations"))
        .json(&json!({ "flightId": flight, "count": 1, "phone": "01012345678" }))
        .send()
        .await
        .unwrap();
    assert_eq!(booked.status(), 201);
    let booking: Value = booked.json().await.unwrap();
    assert_eq!(booking["status"], "PAID", "{booking}");
    let id = booking["id"].as_i64().unwrap();
    eventually("the booking confirmed", || async {
        let r: Value = http.get(format!("{gw}/reservations/{id}")).send().await.unwrap().json().await.unwrap();
        r["status"] == "CONFIRMED"
    })
    .await;
    eventually("2 seats left in the view", || async {
        let v: Value = http.get(format!("{gw}/flightStatuses/{flight}")).send().await.unwrap().json().await.unwrap();
        v["seat"] == 2
    })
    .await;

    // SIGTERM with a 30 s grace period, as Kubernetes gives: it drains and exits 0 well inside.
    let stopping = Instant::now();
    run(&["stop", "--time", "30", &c.name]);
    let took = stopping.elapsed();
    let state: Value = serde_json::from_str(&run(&["inspect", &c.name, "--format", "{{json .State}}"])).unwrap();
    let logs = Command::new(docker()).args(["logs", "--tail", "30", &c.name]).output().unwrap();
    let logs = format!("{}{}", String::from_utf8_lossy(&logs.stdout), String::from_utf8_lossy(&logs.stderr));
    assert_eq!(state["ExitCode"], 0, "exits 0 on SIGTERM: {state}; its last logs:\n{logs}");
    assert_eq!(state["OOMKilled"], false);
    assert!(took < Duration::from_secs(30), "stopped within the grace period, not killed: {took:?}");

    // The data survives the container: a new one on the same volume sees the booking.
    run(&["rm", &c.name]);
    let again = Container { name: format!("{}-again", c.name), volume: c.volume.clone() };
    let port = support::free_port();
    let publish = format!("127.0.0.1:{port}:8080");
    let volume = format!("{}:/data", c.volume);
    run(&["run", "-d", "--name", &again.name, "--read-only", "--tmpfs", "/tmp", "-v", &volume, "-p", &publish, &image]);
    let gw = format!("http://127.0.0.1:{port}");
    eventually("the new container is ready", || async {
        http.get(format!("{gw}/readyz")).send().await.is_ok_and(|r| r.status() == 200)
    })
    .await;
    let r: Value = http.get(format!("{gw}/reservations/{id}")).send().await.unwrap().json().await.unwrap();
    assert_eq!(r["status"], "CONFIRMED", "the booking is on the volume: {r}");
}

/// The embedded overlay, rendered by kustomize, run by `podman kube play` on the image just
/// built (podman runs Deployments, ConfigMaps, Secrets and claims for real): it becomes ready,
/// and a booking through the gateway works. Two changes to what a cluster would get: the image
/// is the one under test, and a hostPort makes the pod reachable from here.
#[tokio::test]
async fn the_embedded_overlay_runs_under_podman_kube_play() {
    let Some(image) = image() else { return };
    let Some(podman) = support::installed("podman") else {
        return support::cannot_run("podman is not installed (scripts/image podman TAG)");
    };
    let Some(kubectl) = support::installed("kubectl") else {
        return support::cannot_run("kubectl is not installed");
    };
    let overlay = support::deploy().join("k8s/overlays/embedded");
    let out = Command::new(kubectl).arg("kustomize").arg(&overlay).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let port = support::free_port();
    let suffix = format!("{}-{port}", std::process::id());
    let mut objects = Vec::new();
    for doc in serde_norway::Deserializer::from_str(std::str::from_utf8(&out.stdout).unwrap()) {
        let mut o: Value = serde::Deserialize::deserialize(doc).unwrap();
        match o["kind"].as_str() {
            // What podman does not run (nor needs, on one machine).
            Some("Ingress" | "NetworkPolicy" | "Service") => continue,
            Some("PersistentVolumeClaim") => o["metadata"]["name"] = json!(format!("skycamp-data-{suffix}")),
            // podman 4.3 reads a Secret's envFrom from its own secret store, in a form of its
            // own; the same values as a ConfigMap reach the container the same way.
            Some("Secret") => {
                use base64::Engine as _;
                o["kind"] = json!("ConfigMap");
                let data = o["data"].as_object_mut().unwrap();
                for value in data.values_mut() {
                    let decoded = base64::engine::general_purpose::STANDARD
                        .decode(value.as_str().unwrap().split_whitespace().collect::<String>())
                        .unwrap();
                    *value = json!(String::from_utf8(decoded).unwrap());
                }
            }
            Some("Deployment") => {
                o["metadata"]["name"] = json!(format!("skycamp-{suffix}"));
                let pod = &mut o["spec"]["template"]["spec"];
                pod["volumes"][1]["persistentVolumeClaim"]["claimName"] = json!(format!("skycamp-data-{suffix}"));
                let c = &mut pod["containers"][0];
                c["image"] = json!(image);
                for from in c["envFrom"].as_array_mut().unwrap() {
                    if let Some(secret) = from.as_object_mut().unwrap().remove("secretRef") {
                        from["configMapRef"] = secret;
                    }
                }
                c["ports"][0]["hostPort"] = json!(port);
                c["ports"][0]["hostIP"] = json!("127.0.0.1");
            }
            _ => {}
        }
        objects.push(serde_norway::to_string(&o).unwrap());
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("embedded.yaml");
    std::fs::write(&file, objects.join("---\n")).unwrap();

    struct Down(std::path::PathBuf, std::path::PathBuf, String);
    impl Drop for Down {
        fn drop(&mut self) {
            let _ = Command::new(&self.0).args(["kube", "down"]).arg(&self.1).output();
            let _ = Command::new(&self.0).args(["volume", "rm", "-f", &self.2]).output();
        }
    }
    let play = Command::new(&podman).args(["kube", "play"]).arg(&file).output().unwrap();
    let _down = Down(podman.clone(), file.clone(), format!("skycamp-data-{suffix}"));
    assert!(play.status.success(), "podman kube play: {}", String::from_utf8_lossy(&play.stderr));

    let gw = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    eventually("the pod is ready", || async {
        http.get(format!("{gw}/readyz")).send().await.is_ok_and(|r| r.status() == 200)
    })
    .await;
    // The overlay turns accounts on (SKYCAMP_AUTH=local, the example admin password).
    let secrets = std::fs::read_to_string(support::deploy().join("k8s/components/config/secrets.example.env")).unwrap();
    let password = secrets.lines().find_map(|l| l.strip_prefix("SKYCAMP_ADMIN_PASSWORD=")).unwrap();
    let token = |body: Value| {
        let http = http.clone();
        let gw = gw.clone();
        async move {
            let r = http.post(format!("{gw}/accounts/token")).json(&body).send().await.unwrap();
            assert_eq!(r.status(), 200, "signs in");
            r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
        }
    };
    let admin = token(json!({ "username": "admin", "password": password })).await;
    let phone = "01055556666";
    let created =
        http.post(format!("{gw}/accounts")).json(&json!({ "phone": phone, "password": "a long secret" })).send().await;
    assert_eq!(created.unwrap().status(), 202, "a customer signs up");
    let customer = token(json!({ "username": phone, "password": "a long secret" })).await;

    let flight = json!({ "flightName": "OZ8900", "destination": "jeju", "price": 90_000, "seat": 5 });
    let r = http.post(format!("{gw}/flights")).bearer_auth(&admin).json(&flight).send().await.unwrap();
    assert_eq!(r.status(), 201, "the admin registers a flight");
    let flight = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    eventually("the flight listed", || async {
        http.get(format!("{gw}/flightStatuses/{flight}")).send().await.is_ok_and(|r| r.status() == 200)
    })
    .await;
    let booked = http
        .post(format!("{gw}/reservations"))
        .bearer_auth(&customer)
        .header("Idempotency-Key", format!("podman-{suffix}"))
        .json(&json!({ "flightId": flight, "count": 2, "phone": phone }))
        .send()
        .await
        .unwrap();
    assert_eq!(booked.status(), 201);
    let id = booked.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    eventually("the booking confirmed", || async {
        let r = http.get(format!("{gw}/reservations/{id}")).bearer_auth(&customer).send().await.unwrap();
        r.json::<Value>().await.unwrap()["status"] == "CONFIRMED"
    })
    .await;
}

/// Zero downtime with real containers (issue 13): two containers of the image, each the whole
/// platform (`skycamp up`) on the same PostgreSQL and Kafka, replaced the way a rolling update
/// does it while customers book and read: start the new one, wait until it is ready, SIGTERM the
/// old one. The test plays the Service: it routes each request to a container whose `/readyz`
/// answered 200 at its last look (every 50 ms), as endpoints follow readiness in Kubernetes. Not
/// one request may fail, and nothing is retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rolling_update_of_containers_under_load_fails_no_request() {
    let Some(image) = image() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (Some(database), Ok(brokers)) =
        (support::postgres_for(dir.path()), std::env::var("SKYCAMP_TEST_KAFKA_BROKERS"))
    else {
        return support::cannot_run(
            "needs SKYCAMP_TEST_POSTGRES_URL and SKYCAMP_TEST_KAFKA_BROKERS (scripts/test's third pass)",
        );
    };
    let namespace = support::namespace_for(dir.path());
    let key = skycamp_platform::internal::InternalKey::random();
    let suffix = std::process::id();
    // One container: the whole platform on host networking, on nine free ports of its own.
    let start = |name: &str| {
        let ports: Vec<u16> = (0..9).map(|_| support::free_port()).collect();
        let mut args: Vec<String> =
            ["run", "-d", "--name", name, "--network", "host", "--read-only", "--tmpfs", "/tmp"]
                .map(String::from)
                .to_vec();
        args.extend(["--tmpfs".into(), "/data:uid=65532,gid=65532".into()]);
        let mut env = vec![
            ("SKYCAMP_BIND".to_owned(), "127.0.0.1".to_owned()),
            ("SKYCAMP_DATABASE_URL".into(), database.clone()),
            ("SKYCAMP_KAFKA_BROKERS".into(), brokers.clone()),
            ("SKYCAMP_KAFKA_NAMESPACE".into(), namespace.clone()),
            ("SKYCAMP_KAFKA_PARTITIONS".into(), "3".into()),
            ("SKYCAMP_INTERNAL_KEY".into(), key.expose().to_owned()),
            ("SKYCAMP_DRAIN_MS".into(), "2000".into()),
            ("SKYCAMP_LOG".into(), "warn".into()),
        ];
        let services =
            ["GATEWAY", "RESERVATION", "FLIGHT", "PAYMENT", "CAMPSITE", "MILEAGE", "NOTIFICATION", "REVIEW", "ACCOUNT"];
        env.extend(services.iter().zip(&ports).map(|(s, p)| (format!("SKYCAMP_{s}_PORT"), p.to_string())));
        for (var, value) in env {
            args.extend(["-e".into(), format!("{var}={value}")]);
        }
        args.push(image.clone());
        run(&args.iter().map(String::as_str).collect::<Vec<_>>());
        format!("http://127.0.0.1:{}", ports[0])
    };
    let old_name = format!("skycamp-rolling-old-{suffix}");
    let new_name = format!("skycamp-rolling-new-{suffix}");
    let _cleanup = [
        Container { name: old_name.clone(), volume: String::new() },
        Container { name: new_name.clone(), volume: String::new() },
    ];
    let old = start(&old_name);
    let http = reqwest::Client::new();
    eventually("the old container is ready", || async {
        http.get(format!("{old}/readyz")).send().await.is_ok_and(|r| r.status() == 200)
    })
    .await;
    // Seats enough for every booking the load makes (one request in four books).
    let mut flights = Vec::new();
    for name in ["KE0101", "KE0102", "KE0103"] {
        flights.push(support::register_flight(&http, &old, name, 50_000, 1_000).await);
    }
    let flights = std::sync::Arc::new(flights);

    // The Service: the ready containers, as their /readyz says.
    let endpoints = std::sync::Arc::new(std::sync::RwLock::new(vec![old.clone()]));
    let candidates = std::sync::Arc::new(std::sync::Mutex::new(vec![old.clone()]));
    let stop = tokio_util::sync::CancellationToken::new();
    let watcher = {
        let (endpoints, candidates, stop, http) = (endpoints.clone(), candidates.clone(), stop.clone(), http.clone());
        tokio::spawn(async move {
            while !stop.is_cancelled() {
                let all = candidates.lock().unwrap().clone();
                let mut ready = Vec::new();
                for base in all {
                    let probe = http.get(format!("{base}/readyz")).timeout(Duration::from_millis(500)).send().await;
                    if probe.is_ok_and(|r| r.status() == 200) {
                        ready.push(base);
                    }
                }
                *endpoints.write().unwrap() = ready;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let started = Instant::now();
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (endpoints, stop, http, flights) = (endpoints.clone(), stop.clone(), http.clone(), flights.clone());
            tokio::spawn(async move {
                let (mut ok, mut failed, mut booked) = (0u32, Vec::new(), Vec::new());
                let mut i = 0usize;
                while !stop.is_cancelled() {
                    i += 1;
                    let targets = endpoints.read().unwrap().clone();
                    let Some(base) = targets.get(i % targets.len().max(1)).cloned() else {
                        failed.push("no ready container".to_owned());
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    };
                    let flight = flights[i % flights.len()];
                    let booking = i % 4 == 1;
                    let request = if !booking {
                        http.get(format!("{base}/flightStatuses/{flight}"))
                    } else {
                        let phone = format!("0107{c}{i:06}");
                        http.post(format!("{base}/reservations"))
                            .header("Idempotency-Key", format!("rolling-{c}-{i}"))
                            .json(&json!({ "flightId": flight, "count": 1, "phone": phone }))
                    };
                    match request.send().await {
                        Ok(r) if r.status().is_success() => {
                            ok += 1;
                            if booking {
                                booked.push(r.json::<Value>().await.unwrap()["id"].as_i64().unwrap());
                            }
                        }
                        Ok(r) => failed.push(format!("{} from {base}", r.status())),
                        Err(e) => failed.push(format!("{e:?} ({base}, at {:?})", started.elapsed())),
                    }
                }
                (ok, failed, booked)
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_secs(1)).await;
    let new = start(&new_name);
    candidates.lock().unwrap().push(new.clone());
    eventually("the new container is ready and routed to", || async { endpoints.read().unwrap().contains(&new) }).await;
    let new_ready = started.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stopping = Instant::now();
    let sigterm = started.elapsed();
    // The engine's CLI blocks; the clients and the endpoint watcher go on meanwhile.
    let name = old_name.clone();
    tokio::task::spawn_blocking(move || run(&["stop", "--time", "30", &name])).await.unwrap();
    let took = stopping.elapsed();
    let state: Value = serde_json::from_str(&run(&["inspect", &old_name, "--format", "{{json .State}}"])).unwrap();
    assert_eq!(state["ExitCode"], 0, "the old container drains and exits 0: {state}");
    assert!(took < Duration::from_secs(30), "within the grace period: {took:?}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.cancel();
    watcher.await.unwrap();

    let (mut ok, mut failed, mut booked) = (0, Vec::new(), Vec::new());
    for client in clients {
        let (o, f, b) = client.await.unwrap();
        ok += o;
        failed.extend(f);
        booked.extend(b);
    }
    assert!(
        failed.is_empty(),
        "{} of {} requests failed (old {old}, new {new} ready at {new_ready:?}, SIGTERM at {sigterm:?}): {failed:?}",
        failed.len(),
        ok as usize + failed.len()
    );
    assert!(ok > 100, "the load ran through the update: {ok} requests");
    for id in booked {
        eventually("every booking confirmed", || async {
            let r = http.get(format!("{new}/reservations/{id}")).send().await.unwrap();
            r.json::<Value>().await.unwrap()["status"] == "CONFIRMED"
        })
        .await;
    }
}
