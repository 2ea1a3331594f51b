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
    /// Why the reservation was rejected or cancelled (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
