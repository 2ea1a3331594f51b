//! Events of the flight context (topic `flight`).

use serde::{Deserialize, Serialize};

pub const FLIGHT_REGISTERED: &str = "FlightRegistered";
pub const FLIGHT_UPDATED: &str = "FlightUpdated";
pub const FLIGHT_DELETED: &str = "FlightDeleted";
pub const SEATS_RESERVED: &str = "SeatsReserved";
pub const SEATS_REJECTED: &str = "SeatsRejected";
pub const SEATS_RELEASED: &str = "SeatsReleased";

/// A flight as it stands after a change; read models keep the one with the highest `version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlightSnapshot {
    pub flight_id: i64,
    pub flight_name: String,
    pub destination: String,
    /// Price per seat, in KRW (no minor unit).
    pub price: i64,
    /// Seats on the flight in total.
    pub seat: i64,
    /// Seats not yet held by a reservation.
    pub seats_left: i64,
    pub deleted: bool,
    /// Increases by one with every change of the flight.
    pub version: i64,
}

/// `FlightRegistered`, `FlightUpdated`, `FlightDeleted`: the flight after the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlightChanged {
    pub flight: FlightSnapshot,
}

/// `SeatsReserved`, `SeatsRejected`, `SeatsReleased`: the flight service's answer about one reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeatsDecided {
    pub reservation_id: i64,
    pub flight_id: i64,
    pub count: i64,
    /// Why seats were rejected (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The flight after the decision; absent when the flight does not exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flight: Option<FlightSnapshot>,
}
