//! Events of the reservation context (topic `reservation`).

use serde::{Deserialize, Serialize};

pub const RESERVATION_PLACED: &str = "ReservationPlaced";
pub const RESERVATION_CONFIRMED: &str = "ReservationConfirmed";
pub const RESERVATION_REJECTED: &str = "ReservationRejected";
pub const RESERVATION_CANCELLED: &str = "ReservationCancelled";

/// What a reservation holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Booked {
    /// `count` seats on a flight.
    Flight { flight_id: i64, count: i64 },
    /// A campsite from the night of `checkIn` to the morning of `checkOut` (ISO dates).
    Campsite { campsite_id: i64, check_in: String, check_out: String, guests: i64 },
}

impl Booked {
    /// `flight` or `campsite`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Flight { .. } => "flight",
            Self::Campsite { .. } => "campsite",
        }
    }
}

/// Every reservation event carries the whole reservation, so consumers need no look-ups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReservationEvent {
    pub reservation_id: i64,
    pub phone: String,
    /// The amount charged, in KRW.
    pub amount: i64,
    pub item: Booked,
    /// Where messages may also go, if the customer gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Why the reservation was rejected or cancelled (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The nights of a stay: every date from `check_in` up to the day before `check_out`.
/// None when a date is not an ISO date (`YYYY-MM-DD`) or `check_out` is not after `check_in`.
pub fn nights(check_in: &str, check_out: &str) -> Option<Vec<time::Date>> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let from = time::Date::parse(check_in.trim(), &format).ok()?;
    let to = time::Date::parse(check_out.trim(), &format).ok()?;
    if to <= from {
        return None;
    }
    let mut nights = Vec::new();
    let mut night = from;
    while night < to {
        nights.push(night);
        night = night.next_day()?;
    }
    Some(nights)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stay_has_one_night_per_date_before_check_out() {
        let n = nights("2026-12-30", "2027-01-02").unwrap();
        assert_eq!(n.iter().map(ToString::to_string).collect::<Vec<_>>(), ["2026-12-30", "2026-12-31", "2027-01-01"]);
    }

    proptest::proptest! {
        #[test]
        fn any_pair_of_dates_gives_nights_or_none_never_a_panic(
            a in "(-?[0-9]{1,5}-[0-9]{1,2}-[0-9]{1,2}|\\PC{0,12})",
            b in "(-?[0-9]{1,5}-[0-9]{1,2}-[0-9]{1,2}|\\PC{0,12})",
        ) {
            if let Some(n) = nights(&a, &b) {
                proptest::prop_assert!(!n.is_empty() && n.windows(2).all(|w| w[0] < w[1]));
            }
            let _ = nights("9999-12-30", "9999-12-31");
        }
    }

    #[test]
    fn check_out_must_follow_check_in_and_dates_must_be_iso() {
        assert_eq!(nights("2026-12-30", "2026-12-30"), None);
        assert_eq!(nights("2026-12-30", "2026-12-29"), None);
        assert_eq!(nights("30/12/2026", "2027-01-02"), None);
        assert_eq!(nights("2026-02-30", "2026-03-02"), None);
    }
}
