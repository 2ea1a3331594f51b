//! `skycamp bench --ratios`: each hot path measured against what this machine can do, in the
//! same run, so the figures carry from one machine to another as ratios (issue 15,
//! docs/PERFORMANCE.md):
//!
//! - reads: `GET /flightStatuses` through the gateway and straight to the reservation service,
//!   against a bare axum/hyper "hello" server; the gateway's proxying against nginx proxying to
//!   the same reservation service (where nginx is installed). Load comes from `wrk` (2 threads,
//!   64 connections), another process;
//! - bookings confirmed per second, against the disk's durable commit rate: single-row SQLite
//!   commits, WAL, `synchronous=FULL`, as every service's database is opened;
//! - one event hop: a flight registered through the gateway until `flightStatuses` shows it;
//! - `POST /reservations` p99 against its p50.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::{Value, json};

/// One row of the table.
pub struct Row {
    pub path: String,
    pub measured: String,
    pub limit: String,
    pub ratio: Option<f64>,
    pub goal: &'static str,
}

impl Row {
    pub fn new(
        path: impl Into<String>,
        measured: String,
        limit: String,
        ratio: Option<f64>,
        goal: &'static str,
    ) -> Self {
        Self { path: path.into(), measured, limit, ratio, goal }
    }
}

/// The table as Markdown, as `docs/PERFORMANCE.md` shows it.
pub fn print(rows: &[Row]) {
    println!();
    println!("| path | measured | limit in the same run | ratio | goal |");
    println!("|---|---|---|---|---|");
    for r in rows {
        let ratio = r.ratio.map_or_else(|| "—".to_owned(), |x| format!("{x:.2}"));
        println!("| {} | {} | {} | {ratio} | {} |", r.path, r.measured, r.limit, r.goal);
    }
}

/// A bare axum (hyper) server answering `hello` on a free loopback port: the ceiling for any
/// HTTP answer on this machine and runtime.
pub async fn hello() -> anyhow::Result<(String, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/", listener.local_addr()?);
    let app = axum::Router::new().fallback(|| async { "hello" });
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((url, server))
}

/// Requests per second `wrk` gets from `url` (2 threads, 64 connections, `secs` seconds); None
/// when wrk is not installed (said once on stderr).
pub async fn wrk(url: &str, secs: u64) -> Option<f64> {
    let out = tokio::process::Command::new("wrk")
        .args(["-t2", "-c64", &format!("-d{secs}s"), url])
        .stdin(Stdio::null())
        .output()
        .await;
    let out = match out {
        Ok(out) if out.status.success() => out,
        Ok(out) => {
            eprintln!("wrk failed on {url}: {}", String::from_utf8_lossy(&out.stderr));
            return None;
        }
        Err(_) => {
            eprintln!("wrk is not installed (apt-get install wrk): the read rows are left out");
            return None;
        }
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let errors = text.lines().any(|l| l.contains("Non-2xx") || l.contains("Socket errors"));
    if errors {
        eprintln!("wrk saw errors on {url}:\n{text}");
    }
    text.lines().find_map(|l| l.strip_prefix("Requests/sec:")).and_then(|v| v.trim().parse().ok())
}

/// nginx in the foreground, proxying to `upstream` with pooled keep-alive connections; killed on
/// drop.
pub struct Nginx {
    pub url: String,
    _child: tokio::process::Child,
}

/// Starts nginx (where installed) on a free port in front of `upstream` (`host:port`).
pub async fn nginx(upstream: &str, dir: &Path) -> Option<Nginx> {
    let binary = ["/usr/sbin/nginx", "/usr/bin/nginx"].into_iter().find(|p| Path::new(p).exists());
    let Some(binary) = binary else {
        eprintln!("nginx is not installed (apt-get install nginx): the proxy row is left out");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
    let prefix = dir.join("nginx");
    std::fs::create_dir_all(prefix.join("logs")).ok()?;
    let conf = format!(
        "worker_processes 2;\ndaemon off;\npid {p}/nginx.pid;\nerror_log {p}/logs/error.log;\n\
         events {{ worker_connections 1024; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {p};\n  proxy_temp_path {p};\n\
           fastcgi_temp_path {p};\n  uwsgi_temp_path {p};\n  scgi_temp_path {p};\n\
           upstream skycamp {{ server {upstream}; keepalive 64; }}\n\
           server {{\n    listen 127.0.0.1:{port};\n    location / {{\n      proxy_pass http://skycamp;\n\
               proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n    }}\n  }}\n}}\n",
        p = prefix.display()
    );
    let path = prefix.join("nginx.conf");
    std::fs::write(&path, conf).ok()?;
    let child = tokio::process::Command::new(binary)
        .arg("-p")
        .arg(&prefix)
        .arg("-c")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .ok()?;
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Some(Nginx { url, _child: child });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("nginx did not start (see {}/logs/error.log)", prefix.display());
    None
}

/// Single-row commits per second on the disk under `dir`, each its own transaction, in SQLite with
/// WAL and `synchronous=FULL`: the rate at which anything durable can be acknowledged one by one.
pub async fn durable_commits(dir: &Path, for_how_long: Duration) -> anyhow::Result<f64> {
    let db = skycamp_platform::Db::sqlite_in(dir, "commits.db").await?;
    sqlx::query("CREATE TABLE IF NOT EXISTS commits (id INTEGER PRIMARY KEY, at BIGINT NOT NULL)")
        .execute(db.writer())
        .await?;
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < for_how_long {
        sqlx::query("INSERT INTO commits (at) VALUES (?)").bind(n as i64).execute(db.writer()).await?;
        n += 1;
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    db.close().await;
    Ok(rate)
}

/// How long each of `samples` event hops takes, one after the other: a flight registered through
/// the gateway until `GET /flightStatuses/{id}` (through the gateway) finds it; and, of that, how
/// long the registration took to be answered.
pub async fn event_hops(
    http: &reqwest::Client,
    url: &str,
    samples: usize,
) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    let mut hops = Vec::with_capacity(samples);
    let mut answers = Vec::with_capacity(samples);
    for i in 0..samples {
        let body = json!({ "flightName": format!("HOP{i}"), "destination": "hop", "price": 1000, "seat": 1 });
        let started = Instant::now();
        let created: Value =
            http.post(format!("{url}/flights")).json(&body).send().await?.error_for_status()?.json().await?;
        answers.push(started.elapsed());
        let id = created["id"].as_i64().context("flight id")?;
        let deadline = started + Duration::from_secs(60);
        loop {
            let r = http.get(format!("{url}/flightStatuses/{id}")).send().await?;
            if r.status().is_success() {
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "flight {id} did not reach flightStatuses in 60 s");
            // Asked again at once: a timer's sleep is rounded up to tokio's 1 ms tick, which would
            // add up to a millisecond to every hop measured. One look costs one round trip.
            tokio::task::yield_now().await;
        }
        hops.push(started.elapsed());
    }
    Ok((hops, answers))
}

/// The `p`-th percentile of `durations`, in milliseconds.
pub fn percentile_ms(durations: &[Duration], p: f64) -> f64 {
    let mut sorted = durations.to_vec();
    sorted.sort();
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len().max(1)) - 1;
    sorted.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let d: Vec<Duration> = (1..=10).map(Duration::from_millis).collect();
        assert_eq!(percentile_ms(&d, 0.5), 5.0);
        assert_eq!(percentile_ms(&d, 0.9), 9.0);
        assert_eq!(percentile_ms(&d, 0.99), 10.0);
        assert_eq!(percentile_ms(&[], 0.5), 0.0);
    }
}
