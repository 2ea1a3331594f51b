//! Metrics against real parts: a real Prometheus (Debian's `prometheus`) scrapes every service,
//! each its own process, while customers book; what Prometheus's HTTP API reports must match
//! what the customers saw. `promtool` checks and unit-tests the alert rules, and every metric a
//! rule or the dashboard names must be one the services export (and every dashboard query must
//! run).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Stdio;
use std::time::{SystemTime, UNIX_EPOCH};

use futures::future::join_all;
use serde_json::{Value, json};
use skycamp::app::Service;

use crate::cluster::Cluster;
use crate::support::{self, eventually};

use crate::support::{deploy, installed};

/// Every `skycamp_…` metric named in `text`, histogram suffixes taken off.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("skycamp_") {
        let tail = &rest[at..];
        let end = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(tail.len());
        let name = &tail[..end];
        let base = ["_bucket", "_sum", "_count"].iter().find_map(|s| name.strip_suffix(s)).unwrap_or(name);
        names.insert(base.to_owned());
        rest = &tail[end..];
    }
    names
}

/// The PromQL expressions of the dashboard, with Grafana's variables filled in.
fn dashboard_queries() -> Vec<String> {
    let text = std::fs::read_to_string(deploy().join("grafana/skycamp.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut queries = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap();
            queries.push(expr.replace("$__rate_interval", "1m").replace("$service", ".*"));
        }
    }
    queries
}

#[tokio::test]
async fn promtool_checks_and_unit_tests_the_alert_rules() {
    let Some(promtool) = installed("promtool") else {
        return support::cannot_run("promtool is not installed (apt-get install prometheus)");
    };
    let dir = deploy().join("prometheus");
    for args in [["check", "rules", "alerts.yml"], ["test", "rules", "alerts.test.yml"]] {
        let out = std::process::Command::new(&promtool).args(args).current_dir(&dir).output().unwrap();
        assert!(
            out.status.success(),
            "promtool {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The example scrape configuration is one Prometheus accepts.
    let out = std::process::Command::new(&promtool)
        .args(["check", "config", "prometheus.yml"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

#[test]
fn rules_and_dashboard_name_only_metrics_that_exist_and_every_alert_has_a_runbook() {
    let known: BTreeSet<String> = skycamp_platform::metrics::NAMES.iter().map(|(n, _)| (*n).to_owned()).collect();
    let rules = std::fs::read_to_string(deploy().join("prometheus/alerts.yml")).unwrap();
    let dashboard = dashboard_queries().join("\n");
    for name in metric_names(&rules).union(&metric_names(&dashboard)) {
        assert!(known.contains(name), "{name} is used by a rule or the dashboard but no service exports it");
    }
    let operations = std::fs::read_to_string(deploy().join("../docs/OPERATIONS.md")).unwrap().to_lowercase();
    for line in rules.lines().filter_map(|l| l.trim().strip_prefix("- alert: ")) {
        assert!(operations.contains(&format!("### {}", line.to_lowercase())), "no runbook for {line} in OPERATIONS.md");
    }
    for (name, _) in skycamp_platform::metrics::NAMES {
        assert!(operations.contains(&format!("`{name}`")), "{name} is not explained in OPERATIONS.md");
    }
}

/// A Prometheus server scraping `targets` every second, on a free port; killed when dropped.
struct Prometheus {
    url: String,
    http: reqwest::Client,
    _process: tokio::process::Child,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    async fn start(binary: &Path, targets: &[(Service, String)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let statics: Vec<Value> =
            targets.iter().map(|(s, addr)| json!({ "targets": [addr], "labels": { "job": s.name() } })).collect();
        let config = json!({
            "global": { "scrape_interval": "1s", "evaluation_interval": "1s" },
            "scrape_configs": [{ "job_name": "skycamp", "static_configs": statics }],
        });
        // JSON is YAML.
        std::fs::write(dir.path().join("prometheus.yml"), config.to_string()).unwrap();
        let port = support::free_port();
        let process = tokio::process::Command::new(binary)
            .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let me = Self {
            url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
            _process: process,
            _dir: dir,
        };
        eventually("Prometheus ready", || async {
            me.http.get(format!("{}/-/ready", me.url)).send().await.is_ok_and(|r| r.status() == 200)
        })
        .await;
        me
    }

    /// An instant query's result vector.
    async fn query(&self, promql: &str) -> Vec<Value> {
        let answer: Value = self
            .http
            .get(format!("{}/api/v1/query", self.url))
            .query(&[("query", promql)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(answer["status"], "success", "{promql}: {answer}");
        answer["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// A query that yields one number (0 when it yields nothing).
    async fn number(&self, promql: &str) -> i64 {
        let result = self.query(promql).await;
        assert!(result.len() <= 1, "{promql} gave several series: {result:?}");
        result.first().map_or(0, |s| s["value"][1].as_str().unwrap().parse::<f64>().unwrap().round() as i64)
    }

    /// Waits until every target has been scraped after `since` (Unix seconds).
    async fn scraped_after(&self, since: f64, targets: usize) {
        eventually("every target scraped after the run", || async {
            let up = self.query("up").await;
            up.len() == targets && up.iter().all(|s| s["value"][0].as_f64().unwrap() > since + 1.0)
        })
        .await;
    }
}

fn now_secs() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

#[tokio::test]
async fn prometheus_sees_what_the_customers_saw() {
    let Some(prometheus) = installed("prometheus") else {
        return support::cannot_run("Prometheus is not installed (apt-get install prometheus)");
    };
    let c = Cluster::start(1, |_| vec!["--log-level=warn".into()]).await;
    let targets: Vec<(Service, String)> =
        Service::ALL.iter().map(|s| (*s, c.url(*s, 0).trim_start_matches("http://").to_owned())).collect();
    let prom = Prometheus::start(&prometheus, &targets).await;

    // Four seats, seven customers at once, two careless requests, one cancellation.
    let fid = c.flight("PROM1", 10_000, 4).await;
    let phones: Vec<String> = (0..7).map(|i| format!("0103333{i:04}")).collect();
    let answers = join_all(phones.iter().map(|phone| c.book(fid, phone))).await;
    let mut two = answers.iter().filter(|(s, _)| *s == Some(201)).count() as i64;
    let (bad, _) = c.post("/reservations", &json!({ "flightId": fid, "count": 0, "phone": "01033330000" })).await;
    let (missing, _) =
        c.post("/reservations", &json!({ "flightId": 999_999, "count": 1, "phone": "01033330000" })).await;
    assert_eq!((bad, missing), (422, 404));
    let four = 2;
    let booked: Vec<i64> = answers.iter().filter_map(|(_, id)| *id).collect();
    let first_confirmed =
        c.converged().await.iter().find(|r| r["status"] == "CONFIRMED").unwrap()["id"].as_i64().unwrap();
    let (code, _) =
        c.post("/reservations", &json!({ "reservationId": first_confirmed, "reserveStatus": "cancel" })).await;
    assert_eq!(code, 200);
    two += 1;
    let reservations = c.converged().await;
    let count = |status: &str| reservations.iter().filter(|r| r["status"] == status).count() as i64;
    let payments = c.get("/payments?limit=1000").await;
    assert_eq!(reservations.len(), booked.len());
    let done = now_secs();
    prom.scraped_after(done, targets.len()).await;

    // The booking funnel, as Prometheus has it, is what the customers saw.
    let outcome = |o: &str| format!("sum(skycamp_bookings_total{{kind=\"flight\",outcome=\"{o}\"}})");
    assert_eq!(prom.number(&outcome("placed")).await, reservations.len() as i64);
    assert_eq!(prom.number(&outcome("confirmed")).await - prom.number(&outcome("cancelled")).await, count("CONFIRMED"));
    assert_eq!(prom.number(&outcome("confirmed")).await, count("CONFIRMED") + count("CANCELLED"));
    assert_eq!(prom.number(&outcome("rejected")).await, count("REJECTED"));
    assert_eq!(prom.number(&outcome("cancelled")).await, 1);
    assert_eq!(count("CONFIRMED"), 3, "four seats, one given back");
    let sagas = "sum(skycamp_saga_duration_seconds_count{kind=\"flight\"})";
    assert_eq!(prom.number(sagas).await, count("CONFIRMED") + count("CANCELLED") + count("REJECTED"));

    // The request counts add up: every booking request the customers sent reached the gateway
    // once, with the answer they got, and went on to the reservation service once.
    let posts = |service: &str, status: &str| {
        format!(
            "sum(skycamp_http_requests_total{{service=\"{service}\",method=\"POST\",route=\"/reservations\",status=~\"{status}\"}})"
        )
    };
    assert_eq!(prom.number(&posts("gateway", "2xx")).await, two);
    assert_eq!(prom.number(&posts("gateway", "4xx")).await, four);
    assert_eq!(prom.number(&posts("gateway", "5xx")).await, 0);
    assert_eq!(prom.number(&posts("reservation", ".*")).await, two + four);
    // One charge per booking placed, each one a payment the customers can list.
    let charges =
        "sum(skycamp_http_requests_total{service=\"payment\",method=\"POST\",route=\"/payments\",status=\"2xx\"})";
    assert_eq!(prom.number(charges).await, payments.as_array().unwrap().len() as i64);
    assert_eq!(prom.number(charges).await, reservations.len() as i64);

    // Nothing waits: no lag, no backlog, no dead letters, the breaker closed.
    for quiet in ["max(skycamp_consumer_lag_events)", "max(skycamp_outbox_backlog)", "max(skycamp_dead_letters)"] {
        eventually(quiet, || async { prom.number(quiet).await == 0 }).await;
    }
    assert_eq!(prom.number("max(skycamp_circuit_breaker_state{breaker=\"payment\",state=\"closed\"})").await, 1);

    // Every metric the services export is a known one, every known one is exported, no label
    // carries a phone number or an id, and every dashboard query runs.
    let names: Value =
        prom.http.get(format!("{}/api/v1/label/__name__/values", prom.url)).send().await.unwrap().json().await.unwrap();
    let exported: BTreeSet<String> = metric_names(
        &names["data"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect::<Vec<_>>().join(" "),
    );
    let known: BTreeSet<String> = skycamp_platform::metrics::NAMES.iter().map(|(n, _)| (*n).to_owned()).collect();
    // Event handling fails only when something is wrong, and that metric appears at the first failure.
    let failing_only = BTreeSet::from([skycamp_platform::metrics::EVENT_FAILURES.to_owned()]);
    assert_eq!(exported, &known - &failing_only, "exported metrics differ from skycamp_platform::metrics::NAMES");
    for series in prom.query("{__name__=~\"skycamp_.+\"}").await {
        for (label, value) in series["metric"].as_object().unwrap() {
            let v = value.as_str().unwrap();
            let phone_or_id = v.len() >= 6 && v.chars().all(|c| c.is_ascii_digit());
            assert!(!phone_or_id && !v.contains("0103333"), "label {label}={v} looks unbounded: {series}");
        }
    }
    for query in dashboard_queries() {
        prom.query(&query).await;
    }
}

/// An OTLP/HTTP receiver on a free port: decodes every `POST /v1/traces` with the official
/// protobuf definitions (opentelemetry-proto) and keeps the spans.
struct Receiver {
    url: String,
    spans: std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
}

/// One span as received, with the `service` attribute every Skycamp span carries.
#[derive(Debug, Clone)]
struct Received {
    trace_id: String,
    span_id: String,
    parent: String,
    name: String,
    kind: i32,
    service: String,
    resource: String,
    attributes: Vec<(String, String)>,
}

impl Receiver {
    async fn start() -> Self {
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
        use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
        use prost::Message as _;
        let spans = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = spans.clone();
        let text = |v: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>| match v
            .as_ref()
            .and_then(|v| v.value.clone())
        {
            Some(Any::StringValue(s)) => s,
            Some(Any::IntValue(i)) => i.to_string(),
            Some(other) => format!("{other:?}"),
            None => String::new(),
        };
        let app = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |body: axum::body::Bytes| {
                let kept = kept.clone();
                async move {
                    let request = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf export");
                    let mut spans = kept.lock().unwrap();
                    for resource_spans in request.resource_spans {
                        let resource = resource_spans
                            .resource
                            .iter()
                            .flat_map(|r| &r.attributes)
                            .find(|a| a.key == "service.name")
                            .map(|a| text(&a.value))
                            .unwrap_or_default();
                        for span in resource_spans.scope_spans.into_iter().flat_map(|s| s.spans) {
                            let attributes: Vec<(String, String)> =
                                span.attributes.iter().map(|a| (a.key.clone(), text(&a.value))).collect();
                            let service = attributes
                                .iter()
                                .find(|(k, _)| k == "service")
                                .map(|(_, v)| v.clone())
                                .unwrap_or_default();
                            spans.push(Received {
                                trace_id: hex::encode(&span.trace_id),
                                span_id: hex::encode(&span.span_id),
                                parent: hex::encode(&span.parent_span_id),
                                name: span.name,
                                kind: span.kind,
                                service,
                                resource: resource.clone(),
                                attributes,
                            });
                        }
                    }
                    axum::http::StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, spans }
    }

    fn spans(&self) -> Vec<Received> {
        self.spans.lock().unwrap().clone()
    }
}

/// Span kinds in OTLP.
const SERVER: i32 = 2;
const CONSUMER: i32 = 5;

#[tokio::test]
async fn one_booking_is_one_trace_across_processes_http_and_events() {
    let otlp = Receiver::start().await;
    // On PostgreSQL and Kafka when the test passes give them (the trace context then rides in
    // Kafka messages), on the embedded log otherwise.
    let c = Cluster::start(1, |dir| {
        let mut args = vec![format!("--otlp-endpoint={}", otlp.url), "--log-level=info".to_owned()];
        if let Some(url) = support::postgres_for(dir) {
            args.push(format!("--database-url={url}"));
        }
        if let Ok(brokers) = std::env::var("SKYCAMP_TEST_KAFKA_BROKERS") {
            args.push(format!("--kafka-brokers={brokers}"));
            args.push(format!("--kafka-namespace={}", support::namespace_for(dir)));
        }
        args
    })
    .await;
    let fid = c.flight("TRACE1", 10_000, 4).await;

    // The customer's client starts the trace; the booking continues it everywhere.
    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let client_span = "b7ad6b7169203331";
    let answer = c
        .http
        .post(format!("{}/reservations", c.gw))
        .header("traceparent", format!("00-{trace_id}-{client_span}-01"))
        .json(&json!({ "flightId": fid, "count": 1, "phone": "01044440001" }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201);
    let id = answer.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    c.wait_for(id, "CONFIRMED").await;

    let wanted: [(&str, i32, &str); 5] = [
        ("gateway", SERVER, "POST /{*path}"),
        ("reservation", SERVER, "POST /reservations"),
        ("payment", SERVER, "POST /payments"),
        ("flight", CONSUMER, "ReservationPlaced process"),
        ("reservation", CONSUMER, "SeatsReserved process"),
    ];
    let found = |spans: &[Received]| {
        wanted.iter().all(|(service, kind, name)| {
            spans.iter().any(|s| s.trace_id == trace_id && s.service == *service && s.kind == *kind && s.name == *name)
        })
    };
    // Each process exports on its own schedule: wait until the wanted spans are there and every
    // span of the trace has its parent there too (the assertions below then say what is missing).
    let complete = |spans: &[Received]| {
        let trace: Vec<&Received> = spans.iter().filter(|s| s.trace_id == trace_id).collect();
        trace.iter().all(|s| s.parent == client_span || trace.iter().any(|p| p.span_id == s.parent))
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !found(&otlp.spans()) || !complete(&otlp.spans()) {
        let got: Vec<(String, String, i32, String)> =
            otlp.spans().into_iter().map(|s| (s.trace_id, s.service, s.kind, s.name)).collect();
        assert!(std::time::Instant::now() < deadline, "the booking's spans were not all exported; got {got:#?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let spans = otlp.spans();
    let trace: Vec<&Received> = spans.iter().filter(|s| s.trace_id == trace_id).collect();

    // One trace: the gateway's span is the client's child, and every other span's parent is a
    // span of the same trace, so the trace is one tree.
    let gateway = trace.iter().find(|s| s.service == "gateway").unwrap();
    assert_eq!(gateway.parent, client_span);
    for span in &trace {
        if span.span_id != gateway.span_id {
            assert!(trace.iter().any(|p| p.span_id == span.parent), "{span:?} has no parent in the trace");
        }
    }
    // Each process names itself, and the spans about the reservation say which.
    for (service, ..) in wanted {
        assert!(trace.iter().any(|s| s.service == service && s.resource == format!("skycamp-{service}")));
    }
    let about = |s: &&&Received| s.attributes.iter().any(|(k, v)| k == "reservation_id" && *v == id.to_string());
    assert!(trace.iter().filter(about).count() >= 4, "{trace:#?}");
    // Nothing of this booking went to another trace.
    let elsewhere: Vec<&Received> = spans
        .iter()
        .filter(|s| {
            s.trace_id != trace_id && s.attributes.iter().any(|(k, v)| k == "reservation_id" && *v == id.to_string())
        })
        .collect();
    assert!(elsewhere.is_empty(), "{elsewhere:#?}");

    // The logs of every process the booking went through carry its trace id and reservation id,
    // so one grep follows it.
    for service in ["reservation", "payment", "flight"] {
        let log = std::fs::read_to_string(c.dir.path().join(format!("{service}-0.log"))).unwrap();
        let line = log.lines().find(|l| l.contains(&format!("\"trace_id\":\"{trace_id}\"")));
        let line = line.unwrap_or_else(|| panic!("no {service} log line with the trace id:\n{log}"));
        let line: Value = serde_json::from_str(line).expect("a JSON log line");
        assert_eq!(line["spans"]["reservation_id"], id, "{line}");
        assert_eq!(line["span_id"].as_str().map(str::len), Some(16), "{line}");
        // The customer's phone is in no log line (the notification service, whose default
        // delivery channel is its log, is not among these).
        let leaks: Vec<&str> = log.lines().filter(|l| l.contains("01044440001")).collect();
        assert!(leaks.is_empty(), "the {service} log carries the customer's phone: {leaks:#?}");
    }
}

/// The bench runs with metrics on, with spans exported, and with both off (issue 12): each
/// setting books and reads without a failure, and the exporting one delivers its spans over
/// OTLP. What each costs is measured by scripts/telemetry-cost (docs/PERFORMANCE.md), not here:
/// timings on a shared machine are no test.
#[tokio::test]
async fn the_bench_runs_with_metrics_with_spans_exported_and_with_both_off() {
    let receiver = Receiver::start().await;
    let settings: [(&str, Vec<String>); 3] = [
        ("metrics on", vec!["--metrics=on".into()]),
        ("spans exported", vec!["--metrics=off".into(), format!("--otlp-endpoint={}", receiver.url)]),
        ("both off", vec!["--metrics=off".into()]),
    ];
    for (name, flags) in settings {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_skycamp"))
            .args(["bench", "--bookings", "20", "--concurrency", "4", "--read-secs", "1"])
            .args(&flags)
            .output()
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{name}: {text}{}", String::from_utf8_lossy(&out.stderr));
        let phases: Vec<&str> = text.lines().filter(|l| l.contains("failed")).collect();
        assert_eq!(phases.len(), 4, "{name}: two booking phases and two read phases: {text}");
        for phase in phases {
            assert!(phase.trim_end().ends_with("failed 0"), "{name}: {phase}");
        }
    }
    let spans = receiver.spans();
    assert!(
        spans.iter().any(|s| s.name.starts_with("POST /reservations")),
        "the exporting run's spans arrived over OTLP ({} spans)",
        spans.len()
    );
}

/// `bench --ratios` measures each hot path against its limit in the same run and prints issue
/// 15's table with a ratio in every row that has a limit (wrk and nginx from scripts/setup).
#[tokio::test]
async fn the_bench_runs_with_ratios_to_the_limits_measured_in_the_same_run() {
    for tool in ["wrk", "nginx"] {
        if crate::support::installed(tool).is_none() && !std::path::Path::new("/usr/sbin/nginx").exists() {
            crate::support::cannot_run(&format!("{tool} is not installed (scripts/setup installs it)"));
            return;
        }
    }
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_skycamp"))
        .args(["bench", "--bookings", "20", "--concurrency", "4", "--read-secs", "1", "--ratios"])
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<Vec<&str>> = text
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| path"))
        .map(|l| l.trim_matches('|').split(" | ").map(str::trim).collect())
        .collect();
    assert_eq!(rows.len(), 6, "every row of the table: {text}");
    for row in &rows {
        assert_eq!(row.len(), 5, "{row:?}");
        let with_limit = row[2] != "—";
        let ratio = row[3].parse::<f64>();
        assert_eq!(with_limit, ratio.is_ok(), "a row with a limit has a ratio, one without has none: {row:?}");
        assert!(ratio.is_err() || ratio.as_ref().is_ok_and(|r| *r > 0.0), "{row:?}");
    }
    assert!(rows[0][2].starts_with("bare hello: ") && rows[2][2].starts_with("nginx: "), "{text}");
    assert!(rows[3][2].starts_with("durable single-row commits: "), "{text}");
    assert!(rows[4][1].starts_with("p50 ") && rows[5][2].starts_with("its p50: "), "{text}");
}
