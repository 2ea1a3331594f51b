//! `skycamp audit`: the reconciliation auditor. It reads every service through the gateway and
//! checks that they agree: seats and nights held against confirmed reservations, and payments
//! against reservations. It reports every mismatch (there should be none once the platform has
//! settled; reservations still in flight are not judged).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context as _;
use serde::Serialize;
use serde_json::Value;

/// Options of `skycamp audit`.
#[derive(Debug, Clone, clap::Args)]
pub struct AuditArgs {
    /// The gateway to audit.
    #[arg(long, env = "SKYCAMP_GATEWAY_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// An admin's bearer token, when the platform checks who calls (SKYCAMP_AUTH=local or oidc).
    #[arg(long, env = "SKYCAMP_AUDIT_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// One disagreement between services.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Mismatch {
    pub check: &'static str,
    pub reservation_id: Option<i64>,
    pub detail: String,
}

/// What the audit looked at and what it found.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub reservations: usize,
    pub payments: usize,
    pub seat_holds: usize,
    pub held_nights: usize,
    pub mismatches: Vec<Mismatch>,
}

/// Runs the audit and prints the report as JSON; fails when there is a mismatch.
pub async fn run(args: AuditArgs) -> anyhow::Result<()> {
    let report = audit_as(&args.url, args.token.as_deref()).await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    anyhow::ensure!(report.mismatches.is_empty(), "{} mismatches found", report.mismatches.len());
    Ok(())
}

/// Every item of a list, page by page: each page's `Link: <…>; rel="next"` names the next one.
pub async fn fetch_all(http: &reqwest::Client, url: &str) -> anyhow::Result<Vec<Value>> {
    let origin = reqwest::Url::parse(url).with_context(|| format!("{url} is not a URL"))?;
    let mut next = Some(format!("{url}?limit=1000"));
    let mut all: Vec<Value> = Vec::new();
    while let Some(page) = next.take() {
        let r = http.get(&page).send().await.with_context(|| format!("GET {page}"))?;
        anyhow::ensure!(r.status().is_success(), "GET {page}: {}", r.status());
        next = next_page(r.headers()).map(|path| origin.join(&path).map(String::from)).transpose()?;
        let items: Vec<Value> = r.json().await?;
        all.extend(items);
    }
    Ok(all)
}

/// The target of a `Link: <…>; rel="next"` header, if there is one.
fn next_page(headers: &reqwest::header::HeaderMap) -> Option<String> {
    let link = headers.get(reqwest::header::LINK)?.to_str().ok()?;
    link.split(',')
        .find(|part| part.contains("rel=\"next\""))
        .and_then(|part| Some(part.split_once('<')?.1.split_once('>')?.0.to_owned()))
}

/// Audits the platform behind the gateway at `url`.
pub async fn audit(url: &str) -> anyhow::Result<Report> {
    audit_as(url, None).await
}

/// [`audit`] with an admin's bearer token (the audit reads payments, holds and nights, which
/// only an admin may).
pub async fn audit_as(url: &str, token: Option<&str>) -> anyhow::Result<Report> {
    let url = url.trim_end_matches('/');
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = token {
        let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
            .context("the audit token is not a valid header value")?;
        value.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    let http = reqwest::Client::builder().default_headers(headers).build()?;
    let reservations = fetch_all(&http, &format!("{url}/reservations")).await?;
    let payments = fetch_all(&http, &format!("{url}/payments")).await?;
    let holds = fetch_all(&http, &format!("{url}/flights/holds")).await?;
    let nights = fetch_all(&http, &format!("{url}/campsites/nights")).await?;
    let flights = fetch_all(&http, &format!("{url}/flights")).await?;
    let mut mismatches = Vec::new();
    let by_id: BTreeMap<i64, &Value> = reservations.iter().map(|r| (r["id"].as_i64().unwrap_or(0), r)).collect();
    check_payments(&by_id, &payments, &mut mismatches);
    check_seats(&by_id, &holds, &flights, &mut mismatches);
    check_nights(&by_id, &nights, &mut mismatches);
    Ok(Report {
        reservations: reservations.len(),
        payments: payments.len(),
        seat_holds: holds.len(),
        held_nights: nights.len(),
        mismatches,
    })
}

fn status(r: &Value) -> &str {
    r["status"].as_str().unwrap_or("")
}

fn settled(r: &Value) -> bool {
    matches!(status(r), "CONFIRMED" | "REJECTED" | "CANCELLED")
}

fn push(out: &mut Vec<Mismatch>, check: &'static str, reservation_id: Option<i64>, detail: String) {
    out.push(Mismatch { check, reservation_id, detail });
}

/// Confirmed reservations are charged their amount exactly once; nothing else keeps money.
fn check_payments(reservations: &BTreeMap<i64, &Value>, payments: &[Value], out: &mut Vec<Mismatch>) {
    let mut approved: BTreeMap<i64, Vec<&Value>> = BTreeMap::new();
    for p in payments.iter().filter(|p| p["status"] == "APPROVED") {
        approved.entry(p["reservationId"].as_i64().unwrap_or(0)).or_default().push(p);
    }
    for (&id, r) in reservations.iter().filter(|(_, r)| settled(r)) {
        let charged: Vec<i64> =
            approved.get(&id).map(|ps| ps.iter().filter_map(|p| p["amount"].as_i64()).collect()).unwrap_or_default();
        match (status(r), charged.as_slice()) {
            ("CONFIRMED", [amount]) if Some(*amount) == r["amount"].as_i64() => {}
            ("CONFIRMED", _) => {
                push(out, "payments", Some(id), format!("confirmed for {} KRW but charged {charged:?}", r["amount"]))
            }
            (other, [_, ..]) => push(out, "payments", Some(id), format!("{other} but still charged {charged:?}")),
            _ => {}
        }
    }
    for (&id, ps) in &approved {
        if !reservations.contains_key(&id) {
            push(
                out,
                "payments",
                Some(id),
                format!("{} approved payment(s) for a reservation that does not exist", ps.len()),
            );
        }
    }
}

/// Seats held are exactly the confirmed flight bookings, and each flight's count agrees.
fn check_seats(reservations: &BTreeMap<i64, &Value>, holds: &[Value], flights: &[Value], out: &mut Vec<Mismatch>) {
    let mut held: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    for h in holds {
        held.insert(
            h["reservationId"].as_i64().unwrap_or(0),
            (h["flightId"].as_i64().unwrap_or(0), h["count"].as_i64().unwrap_or(0)),
        );
    }
    for (&id, r) in reservations.iter().filter(|(_, r)| r["kind"] == "flight" && settled(r)) {
        let wanted = (r["flightId"].as_i64().unwrap_or(0), r["count"].as_i64().unwrap_or(0));
        match (status(r), held.get(&id)) {
            ("CONFIRMED", Some(h)) if *h == wanted => {}
            ("CONFIRMED", h) => {
                push(out, "seats", Some(id), format!("confirmed for {wanted:?} (flight, seats) but held {h:?}"))
            }
            (other, Some(h)) => push(out, "seats", Some(id), format!("{other} but still holds {h:?}")),
            _ => {}
        }
    }
    for f in flights {
        let id = f["id"].as_i64().unwrap_or(0);
        let sold = f["seat"].as_i64().unwrap_or(0) - f["seatsLeft"].as_i64().unwrap_or(0);
        let in_holds: i64 = held.values().filter(|(flight, _)| *flight == id).map(|(_, n)| n).sum();
        if sold != in_holds {
            push(
                out,
                "seats",
                None,
                format!("flight {id} counts {sold} seats sold but its holds add up to {in_holds}"),
            );
        }
    }
}

/// Nights held are exactly the confirmed stays' nights.
fn check_nights(reservations: &BTreeMap<i64, &Value>, nights: &[Value], out: &mut Vec<Mismatch>) {
    let mut held: BTreeMap<i64, BTreeSet<(i64, String)>> = BTreeMap::new();
    for n in nights {
        let night = (n["campsiteId"].as_i64().unwrap_or(0), n["night"].as_str().unwrap_or("").to_owned());
        held.entry(n["reservationId"].as_i64().unwrap_or(0)).or_default().insert(night);
    }
    for (&id, r) in reservations.iter().filter(|(_, r)| r["kind"] == "campsite" && settled(r)) {
        let site = r["campsiteId"].as_i64().unwrap_or(0);
        let wanted: BTreeSet<(i64, String)> = skycamp_contracts::reservation::nights(
            r["checkIn"].as_str().unwrap_or(""),
            r["checkOut"].as_str().unwrap_or(""),
        )
        .unwrap_or_default()
        .into_iter()
        .map(|d| (site, d.to_string()))
        .collect();
        let has = held.get(&id).cloned().unwrap_or_default();
        match status(r) {
            "CONFIRMED" if has == wanted => {}
            "CONFIRMED" => {
                push(out, "nights", Some(id), format!("confirmed for {} nights but holds {}", wanted.len(), has.len()))
            }
            other if !has.is_empty() => {
                push(out, "nights", Some(id), format!("{other} but still holds {} nights", has.len()))
            }
            _ => {}
        }
    }
    for (&id, has) in &held {
        if !reservations.contains_key(&id) {
            push(out, "nights", Some(id), format!("{} nights held for a reservation that does not exist", has.len()));
        }
    }
}
