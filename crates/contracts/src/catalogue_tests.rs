//! Keeps `docs/EVENTS.md` and the code in step: the same event types, and every payload field
//! documented under its payload's heading (and nothing documented that the code lacks).

use std::collections::BTreeSet;

use serde_json::Value;

use super::*;

fn doc() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/EVENTS.md")).unwrap()
}

fn snapshot() -> flight::FlightSnapshot {
    flight::FlightSnapshot {
        flight_id: 1,
        flight_name: "CH777".into(),
        destination: "korea".into(),
        price: 1,
        seat: 1,
        seats_left: 1,
        deleted: false,
        version: 1,
    }
}

fn site() -> campsite::CampsiteSnapshot {
    campsite::CampsiteSnapshot {
        campsite_id: 1,
        name: "Pine".into(),
        location: "Gapyeong".into(),
        description: "by the river".into(),
        price_per_night: 1,
        capacity: 4,
        amenities: vec!["wifi".into()],
        deleted: false,
        version: 1,
    }
}

/// One full example of every payload (optional fields present).
fn examples() -> Vec<(&'static str, Value)> {
    let why = Some("why".to_owned());
    vec![
        ("FlightChanged", serde_json::to_value(flight::FlightChanged { flight: snapshot() }).unwrap()),
        (
            "SeatsDecided",
            serde_json::to_value(flight::SeatsDecided {
                reservation_id: 1,
                flight_id: 1,
                count: 1,
                reason: why.clone(),
                flight: Some(snapshot()),
            })
            .unwrap(),
        ),
        ("FlightSnapshot", serde_json::to_value(snapshot()).unwrap()),
        (
            "ReservationEvent",
            serde_json::to_value(reservation::ReservationEvent {
                reservation_id: 1,
                phone: "010".into(),
                amount: 1,
                item: reservation::Booked::Flight { flight_id: 1, count: 1 },
                email: Some("a@b.kr".into()),
                reason: why.clone(),
            })
            .unwrap(),
        ),
        ("CampsiteChanged", serde_json::to_value(campsite::CampsiteChanged { campsite: site() }).unwrap()),
        ("CampsiteSnapshot", serde_json::to_value(site()).unwrap()),
        (
            "NightsDecided",
            serde_json::to_value(campsite::NightsDecided {
                reservation_id: 1,
                campsite_id: 1,
                nights: vec!["2026-12-01".into()],
                reason: why.clone(),
            })
            .unwrap(),
        ),
        (
            "MileageEvent",
            serde_json::to_value(mileage::MileageEvent {
                entry_id: 1,
                customer: "010".into(),
                points: 1,
                balance: 1,
                reservation_id: Some(1),
                cause: "PaymentApproved".into(),
            })
            .unwrap(),
        ),
        (
            "NotificationEvent",
            serde_json::to_value(notification::NotificationEvent {
                message_id: 1,
                reservation_id: 1,
                phone: "010".into(),
                topic: "confirmed".into(),
            })
            .unwrap(),
        ),
        (
            "ReviewEvent",
            serde_json::to_value(review::ReviewEvent {
                review_id: 1,
                reservation_id: 1,
                campsite_id: 1,
                phone: "010".into(),
                rating: 5,
            })
            .unwrap(),
        ),
        (
            "PaymentEvent",
            serde_json::to_value(payment::PaymentEvent {
                payment_id: 1,
                reservation_id: 1,
                phone: "010".into(),
                amount: 1,
                reason: why,
            })
            .unwrap(),
        ),
    ]
}

/// Top-level keys of a payload, plus the keys of a tagged `item` (every variant's fields).
fn fields(v: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (k, inner) in v.as_object().unwrap() {
        out.insert(k.clone());
        if k == "item" {
            out.extend(inner.as_object().unwrap().keys().cloned());
            let stay = reservation::Booked::Campsite {
                campsite_id: 1,
                check_in: String::new(),
                check_out: String::new(),
                guests: 1,
            };
            out.extend(serde_json::to_value(stay).unwrap().as_object().unwrap().keys().cloned());
        }
    }
    out
}

/// The backticked names in the section `### name`.
fn documented(doc: &str, name: &str) -> BTreeSet<String> {
    let start = doc.find(&format!("### {name}\n")).unwrap_or_else(|| panic!("docs/EVENTS.md lacks ### {name}"));
    let section = &doc[start + 4 + name.len()..];
    let section = &section[..section.find("\n### ").unwrap_or(section.len())];
    section.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

#[test]
fn catalogue_matches_the_code() {
    let doc = doc();
    let rows: BTreeSet<(String, String, String)> = doc
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells[1].trim_matches('`').to_owned(), cells[2].trim_matches('`').to_owned(), cells[3].to_owned())
        })
        .collect();
    let code: BTreeSet<(String, String, String)> =
        CATALOGUE.iter().map(|(t, k, p)| ((*t).to_owned(), (*k).to_owned(), (*p).to_owned())).collect();
    assert_eq!(rows, code, "the table in docs/EVENTS.md and contracts::CATALOGUE differ");

    for (name, example) in examples() {
        let in_code = fields(&example);
        let in_doc = documented(&doc, name);
        assert_eq!(in_doc, in_code, "fields of {name} in docs/EVENTS.md and in the code differ");
    }
}
