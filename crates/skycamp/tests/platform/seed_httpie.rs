//! The seed's four HTTPie commands, verbatim, against `skycamp up` on DESIGN's ports.
//!
//! HTTPie reads a request body from standard input when it is not a terminal, so the commands
//! run under `script`, which gives them one, as a person at a shell would have.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;

use crate::support::eventually;

const SEED: [&str; 4] = [
    "http http://localhost:8082/flights flightName=CH777 destination=korea price=300000 seat=40",
    "http http://localhost:8081/flightStatuses",
    r#"http POST localhost:8081/reservations flightId=1 reserveStatus="place" count=1 price=300000 phone="01097770770""#,
    r#"http POST localhost:8080/reservations reservationId=1 count=1 reserveStatus="cancel""#,
];

fn tools_present() -> bool {
    ["http", "script"].iter().all(|t| {
        std::process::Command::new("sh")
            .args(["-c", &format!("command -v {t}")])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

async fn run(command: &str) -> String {
    let out = Command::new("script").args(["-qec", command, "/dev/null"]).stdin(Stdio::null()).output().await.unwrap();
    assert!(out.status.success(), "{command} failed: {}", String::from_utf8_lossy(&out.stdout));
    strip_ansi(&String::from_utf8_lossy(&out.stdout))
}

/// HTTPie colours its output on a terminal; the escapes are dropped before reading it.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for e in chars.by_ref() {
                if e.is_ascii_alphabetic() {
                    break;
                }
            }
        } else if c != '\r' {
            out.push(c);
        }
    }
    out
}

async fn seats(http: &reqwest::Client) -> i64 {
    let v: Value = http.get("http://localhost:8081/flightStatuses").send().await.unwrap().json().await.unwrap();
    v[0]["seat"].as_i64().unwrap_or(-1)
}

#[tokio::test]
async fn the_seeds_httpie_commands_work_verbatim() {
    if !tools_present() {
        crate::support::cannot_run("HTTPie (http) or script is not installed (scripts/setup installs them)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut up = Command::new(env!("CARGO_BIN_EXE_skycamp"))
        .args(["up", "--log-level", "warn", "--data-dir"])
        .arg(dir.path())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    for _ in 0..600 {
        if let Some(status) = up.try_wait().unwrap() {
            panic!("skycamp up exited ({status}); are ports 8080-8087 free?");
        }
        if http.get("http://localhost:8080/readyz").send().await.is_ok_and(|r| r.status() == 200) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let registered = run(SEED[0]).await;
    assert!(registered.contains("201 Created"), "{registered}");
    eventually("flight 1 in flightStatuses", || async { seats(&http).await == 40 }).await;
    let listed = run(SEED[1]).await;
    assert!(listed.contains("CH777") && listed.contains("\"seat\": 40"), "{listed}");

    let booked = run(SEED[2]).await;
    assert!(booked.contains("201 Created") && booked.contains("\"status\": \"PAID\""), "{booked}");
    eventually("39 seats left", || async { seats(&http).await == 39 }).await;
    let r: Value = http.get("http://localhost:8081/reservations/1").send().await.unwrap().json().await.unwrap();
    assert_eq!(r["status"], "CONFIRMED");

    let cancelled = run(SEED[3]).await;
    assert!(cancelled.contains("200 OK") && cancelled.contains("\"status\": \"CANCELLED\""), "{cancelled}");
    eventually("40 seats left again", || async { seats(&http).await == 40 }).await;
    let p: Value = http.get("http://localhost:8080/pays?reservationId=1").send().await.unwrap().json().await.unwrap();
    assert_eq!(p[0]["status"], "REFUNDED");

    // SIGTERM: a clean exit.
    let pid = up.id().unwrap().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().await.unwrap();
    let status = tokio::time::timeout(Duration::from_secs(15), up.wait()).await.expect("exits after SIGTERM").unwrap();
    assert!(status.success(), "exit status {status}");
}
