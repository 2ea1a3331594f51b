//! Events of the campsite context (topic `campsite`).

use serde::{Deserialize, Serialize};

pub const CAMPSITE_REGISTERED: &str = "CampsiteRegistered";
pub const CAMPSITE_UPDATED: &str = "CampsiteUpdated";
pub const CAMPSITE_DELETED: &str = "CampsiteDeleted";
pub const NIGHTS_RESERVED: &str = "NightsReserved";
pub const NIGHTS_REJECTED: &str = "NightsRejected";
pub const NIGHTS_RELEASED: &str = "NightsReleased";

/// A campsite as it stands after a change; read models keep the one with the highest `version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CampsiteSnapshot {
    pub campsite_id: i64,
    pub name: String,
    pub location: String,
    pub description: String,
    /// Price per night, KRW.
    pub price_per_night: i64,
    /// Most guests per booking.
    pub capacity: i64,
    pub amenities: Vec<String>,
    pub deleted: bool,
    pub version: i64,
}

/// `CampsiteRegistered`, `CampsiteUpdated`, `CampsiteDeleted`: the campsite after the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CampsiteChanged {
    pub campsite: CampsiteSnapshot,
}

/// `NightsReserved`, `NightsRejected`, `NightsReleased`: the campsite service's answer about one reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NightsDecided {
    pub reservation_id: i64,
    pub campsite_id: i64,
    /// The nights concerned (ISO dates, check-in up to the night before check-out).
    pub nights: Vec<String>,
    /// Why the nights were rejected (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
