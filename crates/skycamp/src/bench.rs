//! `skycamp bench`: bookings per second with p50/p99 latency of `POST /reservations` (flights,
//! then campsite stays), time until every booking is `CONFIRMED`, and reads per second of
//! `GET /flightStatuses` and `GET /campsiteStatuses`, all through the gateway. Without `--url` it
//! starts its own platform on free ports in a temporary directory.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::{Value, json};

use crate::app::{self, Service, Settings};

/// Options of `skycamp bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Gateway to measure; default: start a fresh platform in this process.
    #[arg(long)]
    pub url: Option<String>,
    /// Bookings to place of each kind (one seat, or one night, each).
    #[arg(long, default_value_t = 2_000)]
    pub bookings: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Seconds of `GET /flightStatuses` load.
    #[arg(long, default_value_t = 5)]
    pub read_secs: u64,
    /// Run the platform this process starts on PostgreSQL (a fresh, empty database).
    #[arg(long)]
    pub database_url: Option<String>,
    /// Send the events of the platform this process starts over Kafka (fresh topics of its own).
    #[arg(long)]
    pub kafka_brokers: Option<String>,
    /// Record and serve metrics in the platform this process starts (as `SKYCAMP_METRICS`).
    #[arg(long, value_enum, default_value_t = crate::config::Switch::On)]
    pub metrics: crate::config::Switch,
    /// Export the spans of the platform this process starts over OTLP/HTTP to this collector
    /// (as `SKYCAMP_OTLP_ENDPOINT`); logs and trace ids are made either way, as in production.
    #[arg(long)]
    pub otlp_endpoint: Option<String>,
    /// Install no logs and no spans at all (`off`), to measure what the always-on request and
    /// event spans cost; a served platform always has them.
    #[arg(long, value_enum, default_value_t = crate::config::Switch::On)]
    pub telemetry: crate::config::Switch,
    /// Also measure the limits in the same run (a bare hello server, nginx where installed, the
    /// disk's durable commit rate) and print each hot path as a ratio to its limit; reads are
    /// driven by `wrk`. Only for a platform this process starts.
    #[arg(long)]
    pub ratios: bool,
}

/// Latency figures of one phase.
struct Phase {
    requests: usize,
    failures: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Phase {
    fn per_sec(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
    fn percentile(&self, p: f64) -> f64 {
        crate::ratios::percentile_ms(&self.latencies, p)
    }
}

/// Runs the benchmark and prints its figures.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    // As a served platform runs: JSON logs (warnings only here) and spans, exported when asked.
    let telemetry = match args.telemetry {
        crate::config::Switch::On => {
            Some(skycamp_platform::telemetry::init("warn", args.otlp_endpoint.as_deref(), "skycamp-bench")?)
        }
        crate::config::Switch::Off => None,
    };
    let (url, running) = match &args.url {
        Some(url) => (url.trim_end_matches('/').to_owned(), None),
        None => {
            let mut settings = Settings::new(dir.path().to_path_buf()).on_free_ports();
            settings.database_url = args.database_url.clone().map(Into::into);
            settings.metrics = args.metrics == crate::config::Switch::On;
            settings.kafka = args.kafka_brokers.as_ref().map(|brokers| {
                let mut kafka = app::KafkaSettings::new(brokers.clone());
                kafka.namespace = format!("bench{}.", std::process::id());
                kafka
            });
            let running = app::start(&settings, &Service::ALL).await?;
            (running.url(Service::Gateway), Some(running))
        }
    };
    let http = reqwest::Client::builder().pool_max_idle_per_host(args.concurrency).build()?;
    let store = match (&args.database_url, &args.kafka_brokers) {
        _ if args.url.is_some() => "a running platform",
        (None, None) => "SQLite, embedded log",
        (Some(_), None) => "PostgreSQL, embedded log",
        (None, Some(_)) => "SQLite, Kafka",
        (Some(_), Some(_)) => "PostgreSQL, Kafka",
    };
    println!(
        "skycamp bench: {} bookings of each kind, {} clients, through {url} ({store}; metrics {}, spans {})",
        args.bookings,
        args.concurrency,
        if args.metrics == crate::config::Switch::On { "on" } else { "off" },
        if args.otlp_endpoint.is_some() { "exported" } else { "not exported" },
    );

    let flights = register_flights(&http, &url, args.bookings).await?;
    wait_for_seats(&http, &url, |left| left >= args.bookings as i64, &flights).await?;
    // scripts/profile-bookings starts sampling at this line.
    println!("{} flights registered; booking seats on them", flights.len());
    let seat = |i: usize| json!({ "flightId": flights[i % flights.len()], "count": 1, "phone": format!("010{i:08}"), "price": 1000 });
    let started = Instant::now();
    let booking = book(&http, &url, &args, seat).await;
    let answered = started.elapsed();
    wait_for_seats(&http, &url, |left| left == 0, &flights).await?;
    wait_until_none_paid(&http, &url).await?;
    let flights_confirmed = started.elapsed();
    report("POST /reservations (flight)", &booking, flights_confirmed, answered);
    let flight_booking = booking;

    drain(running.as_ref()).await?;
    if let Some(r) = &running {
        // One process, one registry: any service's /metrics has every consumer group's times.
        let metrics = format!("{}/metrics", r.url(Service::Reservation));
        match http.get(metrics).send().await {
            Ok(answer) => print_event_handling(&answer.text().await.unwrap_or_default()),
            Err(e) => println!("no event handling times: {e}"),
        }
    }
    let sites = register_campsites(&http, &url, args.bookings).await?;
    let today = time::OffsetDateTime::now_utc().date();
    let night = |i: usize| (today + time::Duration::days(1 + (i / sites.len()) as i64)).to_string();
    let stay = |i: usize| {
        let check_out = (today + time::Duration::days(2 + (i / sites.len()) as i64)).to_string();
        json!({ "campsiteId": sites[i % sites.len()], "checkIn": night(i), "checkOut": check_out, "guests": 2, "phone": format!("011{i:08}") })
    };
    let started = Instant::now();
    let booking = book(&http, &url, &args, stay).await;
    let answered = started.elapsed();
    wait_for_nights(&http, &url, args.bookings).await?;
    wait_until_none_paid(&http, &url).await?;
    report("POST /reservations (campsite)", &booking, started.elapsed(), answered);

    drain(running.as_ref()).await?;
    for path in ["/flightStatuses", "/campsiteStatuses"] {
        let reads = read_load(&http, &url, path, &args).await;
        println!(
            "GET {path:<18} {:>8.0} req/s        p50 {:>6.1} ms   p99 {:>6.1} ms   failed {}",
            reads.per_sec(),
            reads.percentile(0.50),
            reads.percentile(0.99),
            reads.failures
        );
    }
    if running.is_some() {
        println!("peak resident memory of the whole process (platform + load generator): {} MiB", peak_rss_mib());
    }
    if let Some(r) = running.as_ref().filter(|_| args.ratios) {
        let bookings = Bookings { phase: &flight_booking, confirmed: flights_confirmed, count: args.bookings };
        let rows = ratios(&http, &url, r, &args, dir.path(), bookings).await?;
        crate::ratios::print(&rows);
    } else if args.ratios {
        println!("--ratios needs a platform this process starts (no --url)");
    }
    if let Some(r) = running {
        r.shutdown().await;
    }
    if let Some(telemetry) = telemetry {
        let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    }
    Ok(())
}

/// The flight booking phase, for the ratios.
struct Bookings<'a> {
    phase: &'a Phase,
    confirmed: Duration,
    count: usize,
}

/// Every row of issue 15's table, measured now (docs/PERFORMANCE.md).
async fn ratios(
    http: &reqwest::Client,
    url: &str,
    running: &app::Running,
    args: &BenchArgs,
    dir: &std::path::Path,
    bookings: Bookings<'_>,
) -> anyhow::Result<Vec<crate::ratios::Row>> {
    use crate::ratios::{Row, durable_commits, event_hops, hello, nginx, percentile_ms, wrk};
    let secs = args.read_secs;
    let per_sec = |x: f64| format!("{x:.0}/s");
    let (hello_url, hello_server) = hello().await?;
    let hello_rate = wrk(&hello_url, secs).await;
    hello_server.abort();
    let reservation = running.url(Service::Reservation);
    let via_gateway = wrk(&format!("{url}/flightStatuses"), secs).await;
    let direct = wrk(&format!("{reservation}/flightStatuses"), secs).await;
    let proxy = nginx(&running.addr(Service::Reservation).to_string(), dir).await;
    let via_nginx = match &proxy {
        Some(n) => wrk(&format!("{}/flightStatuses", n.url), secs).await,
        None => None,
    };
    drop(proxy);
    // The platform's gateway hands requests to the services in its process without TCP; the
    // proxy is measured as a gateway deployed on its own runs it: a second gateway, here, that
    // reaches the same services by URL.
    let mut alone = Settings::new(dir.join("gateway-alone")).on_free_ports();
    alone.metrics = args.metrics == crate::config::Switch::On;
    alone.remote = Service::ALL.into_iter().filter(|s| *s != Service::Gateway).map(|s| (s, running.url(s))).collect();
    let gateway_alone = app::start(&alone, &[Service::Gateway]).await?;
    let via_gateway_alone = wrk(&format!("{}/flightStatuses", gateway_alone.url(Service::Gateway)), secs).await;
    gateway_alone.shutdown().await;
    let ratio = |a: Option<f64>, b: Option<f64>| Some(a? / b?);
    let shown =
        |x: Option<f64>, what: &str| x.map_or_else(|| "not measured".to_owned(), |x| format!("{what}: {}", per_sec(x)));
    let hello_shown = shown(hello_rate, "bare hello");
    let mut rows = vec![
        Row::new(
            "`GET /flightStatuses` through the gateway",
            via_gateway.map_or_else(|| "—".into(), per_sec),
            hello_shown.clone(),
            ratio(via_gateway, hello_rate),
            "≥ 0.5",
        ),
        Row::new(
            "the same, straight to the reservation service",
            direct.map_or_else(|| "—".into(), per_sec),
            hello_shown,
            ratio(direct, hello_rate),
            "≥ 0.7",
        ),
        Row::new(
            "the gateway's proxying over TCP (a gateway on its own, the same services by URL)",
            via_gateway_alone.map_or_else(|| "—".into(), per_sec),
            shown(via_nginx, "nginx"),
            ratio(via_gateway_alone, via_nginx),
            "≥ 1.0",
        ),
    ];
    let commits = durable_commits(dir, Duration::from_secs(3)).await?;
    let confirmed = bookings.count as f64 / bookings.confirmed.as_secs_f64();
    rows.push(Row::new(
        format!("flight bookings confirmed per second ({} bookings, {} clients)", bookings.count, args.concurrency),
        format!("{confirmed:.0}/s ({:.0}/s answered)", bookings.phase.per_sec()),
        format!("durable single-row commits: {}", per_sec(commits)),
        Some(confirmed / commits),
        "≥ 0.33",
    ));
    let (hops, answers) = event_hops(http, url, 50).await?;
    let spread = |hops: &[Duration]| {
        format!(
            "p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms",
            percentile_ms(hops, 0.5),
            percentile_ms(hops, 0.9),
            percentile_ms(hops, 0.99)
        )
    };
    let log = if args.kafka_brokers.is_some() { "Kafka" } else { "embedded log" };
    let mut hop_row = Row::new(
        format!("one event hop, {log} (flight registered → in `flightStatuses`, through the gateway), 50 in a row"),
        format!("{} (of which the registration's answer: p50 {:.1} ms)", spread(&hops), percentile_ms(&answers, 0.5)),
        "—".into(),
        None,
        "p50 ≤ 2 ms, p99 ≤ 20 ms",
    );
    #[cfg(feature = "kafka")]
    if let Some(brokers) = &args.kafka_brokers {
        let floor = skycamp_platform::kafka::floor_hops(brokers, 50).await?;
        let times = |p: f64| percentile_ms(&hops, p) / percentile_ms(&floor, p);
        hop_row = Row::new(
            hop_row.path,
            format!("{} (p90 {:.1}× the floor's)", hop_row.measured, times(0.9)),
            format!("plain librdkafka producer → group consumer, 50 in a row: {}", spread(&floor)),
            Some(times(0.5)),
            "p50 ≤ 1.25×, p90 ≤ 2.5× the floor",
        );
    }
    rows.push(hop_row);
    let (p50, p99) = (bookings.phase.percentile(0.5), bookings.phase.percentile(0.99));
    rows.push(Row::new(
        "`POST /reservations` p99 / p50 under load",
        format!("p99 {p99:.1} ms"),
        format!("its p50: {p50:.1} ms"),
        Some(p99 / p50),
        "≤ 5",
    ));
    Ok(rows)
}

/// Waits until mileage, messages and timeline notes have caught up, so each phase is measured
/// alone (only for a platform this process started; a remote one's backlog is not visible).
async fn drain(running: Option<&app::Running>) -> anyhow::Result<()> {
    if let Some(r) = running {
        while !r.settled().await? {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(())
}

/// Where the flight bookings' events spent their time, per consumer group and event type, from
/// `skycamp_event_handling_duration_seconds` (the saga's steps and the views behind it).
fn print_event_handling(exposition: &str) {
    let mut steps = event_handling(exposition);
    steps.sort_by(|a, b| b.3.total_cmp(&a.3));
    println!("  event handling so far, by consumer group and event (most time first):");
    for (group, kind, events, seconds) in steps.iter().take(10) {
        let mean_ms = seconds * 1000.0 / (*events).max(1.0);
        println!("    {group:<22} {kind:<22} {events:>7.0} events  {mean_ms:>6.2} ms each  {seconds:>7.2} s in all");
    }
}

/// (group, event type, events, seconds) per series of the handling-time histogram.
fn event_handling(exposition: &str) -> Vec<(String, String, f64, f64)> {
    let name = skycamp_platform::metrics::EVENT_SECONDS;
    let mut series: std::collections::BTreeMap<(String, String), (f64, f64)> = Default::default();
    for line in exposition.lines() {
        let Some(rest) = line.strip_prefix(name) else { continue };
        let (is_sum, rest) = match (rest.strip_prefix("_sum{"), rest.strip_prefix("_count{")) {
            (Some(r), _) => (true, r),
            (_, Some(r)) => (false, r),
            _ => continue,
        };
        let Some((labels, value)) = rest.split_once("} ") else { continue };
        let Ok(value) = value.trim().parse::<f64>() else { continue };
        let label = |key: &str| {
            labels
                .split(',')
                .find_map(|kv| kv.strip_prefix(&format!("{key}=\"")).map(|v| v.trim_end_matches('"').to_owned()))
        };
        let (Some(group), Some(kind)) = (label("group"), label("type")) else { continue };
        let entry = series.entry((group, kind)).or_default();
        if is_sum { entry.1 = value } else { entry.0 = value }
    }
    series.into_iter().map(|((group, kind), (events, seconds))| (group, kind, events, seconds)).collect()
}

fn report(what: &str, booking: &Phase, confirmed: Duration, answered: Duration) {
    println!(
        "{what:<30} {:>6.0} bookings/s   p50 {:>6.1} ms   p99 {:>6.1} ms   failed {}",
        booking.per_sec(),
        booking.percentile(0.50),
        booking.percentile(0.99),
        booking.failures
    );
    println!(
        "  all CONFIRMED {:>6.0} ms after the first booking ({:.0} ms after the last answer)",
        confirmed.as_secs_f64() * 1e3,
        (confirmed - answered).as_secs_f64() * 1e3
    );
}

/// Enough campsites that every booking gets its own night within a year.
async fn register_campsites(http: &reqwest::Client, url: &str, bookings: usize) -> anyhow::Result<Vec<i64>> {
    let mut ids = Vec::new();
    for n in 0..bookings.div_ceil(300) {
        let body = json!({ "name": format!("BENCH{n}"), "location": "bench", "pricePerNight": 1000, "capacity": 4 });
        let created: Value =
            http.post(format!("{url}/campsites")).json(&body).send().await?.error_for_status()?.json().await?;
        ids.push(created["id"].as_i64().context("campsite id")?);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while http.get(format!("{url}/campsiteStatuses")).send().await?.json::<Vec<Value>>().await?.len() < ids.len() {
        anyhow::ensure!(Instant::now() < deadline, "campsites did not reach campsiteStatuses");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(ids)
}

/// Polls until no reservation is still `PAID` (waiting for its inventory answer).
async fn wait_until_none_paid(http: &reqwest::Client, url: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(300);
    while !http
        .get(format!("{url}/reservations?status=PAID&limit=1"))
        .send()
        .await?
        .json::<Vec<Value>>()
        .await?
        .is_empty()
    {
        anyhow::ensure!(Instant::now() < deadline, "reservations stayed PAID");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Polls `campsiteStatuses` until `bookings` nights are booked.
async fn wait_for_nights(http: &reqwest::Client, url: &str, bookings: usize) -> anyhow::Result<()> {
    let today = time::OffsetDateTime::now_utc().date();
    let range = format!("from={}&to={}", today, today + time::Duration::days(366));
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let statuses: Vec<Value> = http.get(format!("{url}/campsiteStatuses?{range}")).send().await?.json().await?;
        let booked: usize = statuses.iter().map(|s| s["bookedNights"].as_array().map_or(0, Vec::len)).sum();
        if booked >= bookings {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "campsiteStatuses did not converge ({booked} nights booked)");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn register_flights(http: &reqwest::Client, url: &str, bookings: usize) -> anyhow::Result<Vec<i64>> {
    let mut ids = Vec::new();
    let mut left = bookings;
    while left > 0 {
        let seats = left.min(1_000);
        let body = json!({ "flightName": format!("BENCH{}", ids.len()), "destination": "bench", "price": 1000, "seat": seats });
        let created: Value =
            http.post(format!("{url}/flights")).json(&body).send().await?.error_for_status()?.json().await?;
        ids.push(created["id"].as_i64().context("flight id")?);
        left -= seats;
    }
    Ok(ids)
}

/// Polls `flightStatuses` until the seats left on `flights` satisfy `done`.
async fn wait_for_seats(
    http: &reqwest::Client,
    url: &str,
    done: impl Fn(i64) -> bool,
    flights: &[i64],
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let statuses: Vec<Value> = http.get(format!("{url}/flightStatuses")).send().await?.json().await?;
        let left: i64 = statuses
            .iter()
            .filter(|s| flights.contains(&s["flightId"].as_i64().unwrap_or(0)))
            .map(|s| s["seat"].as_i64().unwrap_or(0))
            .sum();
        let seen = statuses.iter().filter(|s| flights.contains(&s["flightId"].as_i64().unwrap_or(0))).count();
        if seen == flights.len() && done(left) {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "flightStatuses did not converge (seats left {left})");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn book(http: &reqwest::Client, url: &str, args: &BenchArgs, body: impl Fn(usize) -> Value) -> Phase {
    let bodies: Arc<Vec<Value>> = Arc::new((0..args.bookings).map(body).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency {
        let (http, url, next, bodies) = (http.clone(), url.to_owned(), next.clone(), bodies.clone());
        workers.spawn(async move {
            let mut out = (Vec::new(), 0usize);
            while let Some(body) = bodies.get(next.fetch_add(1, Ordering::Relaxed)) {
                let t = Instant::now();
                let ok =
                    http.post(format!("{url}/reservations")).json(body).send().await.is_ok_and(|r| r.status() == 201);
                out.0.push(t.elapsed());
                out.1 += usize::from(!ok);
            }
            out
        });
    }
    collect(workers, started).await
}

async fn read_load(http: &reqwest::Client, url: &str, path: &str, args: &BenchArgs) -> Phase {
    let until = Instant::now() + Duration::from_secs(args.read_secs);
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency {
        let (http, target) = (http.clone(), format!("{url}{path}"));
        workers.spawn(async move {
            let mut out = (Vec::new(), 0usize);
            while Instant::now() < until {
                let t = Instant::now();
                let ok = match http.get(&target).send().await {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                out.0.push(t.elapsed());
                out.1 += usize::from(!ok);
            }
            out
        });
    }
    collect(workers, started).await
}

async fn collect(mut workers: tokio::task::JoinSet<(Vec<Duration>, usize)>, started: Instant) -> Phase {
    let mut phase = Phase { requests: 0, failures: 0, elapsed: Duration::ZERO, latencies: Vec::new() };
    while let Some(Ok((latencies, failures))) = workers.join_next().await {
        phase.requests += latencies.len();
        phase.failures += failures;
        phase.latencies.extend(latencies);
    }
    phase.elapsed = started.elapsed();
    phase
}

/// Peak resident set size of this process (Linux `VmHWM`), in MiB.
fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib / 1024)
}

#[cfg(test)]
mod tests {
    #[test]
    fn event_handling_times_are_read_per_group_and_type() {
        let text = "# TYPE skycamp_event_handling_duration_seconds summary\n\
            skycamp_event_handling_duration_seconds_sum{group=\"reservation-view\",type=\"SeatsReserved\"} 11.25\n\
            skycamp_event_handling_duration_seconds_count{group=\"reservation-view\",type=\"SeatsReserved\"} 2000\n\
            skycamp_event_handling_duration_seconds{group=\"reservation-view\",type=\"SeatsReserved\",quantile=\"0.5\"} 0.005\n\
            skycamp_http_requests_total{service=\"x\"} 3\n";
        assert_eq!(
            super::event_handling(text),
            [("reservation-view".to_owned(), "SeatsReserved".to_owned(), 2000.0, 11.25)]
        );
    }
}
