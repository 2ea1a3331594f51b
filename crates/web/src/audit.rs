//! The reconciliation audit: reads every service through the gateway and checks that they agree:
//! seats and nights held against confirmed reservations, and payments against reservations. It
//! reports every mismatch (there should be none once the platform has settled; reservations still
//! in flight are not judged). `skycamp audit` runs it over HTTP; the admin site runs it in process.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

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

/// How the audit reads the API: one page of a list, and the path of the next page (from the
/// page's `Link: <…>; rel="next"`), if there is one.
#[async_trait::async_trait]
pub trait Pages: Sync {
    async fn page(&self, path: &str) -> anyhow::Result<(Vec<Value>, Option<String>)>;
}

/// Every item of a list, page by page.
pub async fn fetch_all(pages: &(impl Pages + ?Sized), path: &str) -> anyhow::Result<Vec<Value>> {
    let mut next = Some(format!("{path}?limit=1000"));
    let mut all: Vec<Value> = Vec::new();
    while let Some(page) = next.take() {
        let (items, after) = pages.page(&page).await?;
        all.extend(items);
        next = after;
    }
    Ok(all)
}

/// The target of a `Link: <…>; rel="next"` header, if there is one.
pub fn next_page(link: Option<&str>) -> Option<String> {
    link?
        .split(',')
        .find(|part| part.contains("rel=\"next\""))
        .and_then(|part| Some(part.split_once('<')?.1.split_once('>')?.0.to_owned()))
}

/// Audits the platform that `pages` reads (as an admin: payments, holds and nights are theirs).
pub async fn audit(pages: &(impl Pages + ?Sized)) -> anyhow::Result<Report> {
    let reservations = fetch_all(pages, "/reservations").await?;
    let payments = fetch_all(pages, "/payments").await?;
    let holds = fetch_all(pages, "/flights/holds").await?;
    let nights = fetch_all(pages, "/campsites/nights").await?;
    let flights = fetch_all(pages, "/flights").await?;
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
