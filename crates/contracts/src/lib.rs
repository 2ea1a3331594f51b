//! The published language between Skycamp services: topic names, event type names and payloads.
//!
//! Every payload here is the `data` of a CloudEvents envelope. Field names are camelCase on the
//! wire. Adding an optional field is compatible; renaming or removing one is not.
//!
//! - [`topics`]: one topic per producing context.
//! - [`flight`]: events the flight service publishes.
//! - [`reservation`]: events the reservation service publishes.
//! - [`payment`]: events the payment service publishes.
#![forbid(unsafe_code)]

pub mod flight;
pub mod payment;
pub mod reservation;

/// Topic names; one per producing context.
pub mod topics {
    pub const FLIGHT: &str = "flight";
    pub const RESERVATION: &str = "reservation";
    pub const PAYMENT: &str = "payment";
}

/// The aggregate subject (and partition key) of a reservation's events.
pub fn reservation_subject(reservation_id: i64) -> String {
    format!("reservation/{reservation_id}")
}

/// The aggregate subject of a flight's events.
pub fn flight_subject(flight_id: i64) -> String {
    format!("flight/{flight_id}")
}
