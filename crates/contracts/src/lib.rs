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

/// Every event type: (topic, type, payload name). `docs/EVENTS.md` lists the same.
pub const CATALOGUE: &[(&str, &str, &str)] = &[
    (topics::FLIGHT, flight::FLIGHT_REGISTERED, "FlightChanged"),
    (topics::FLIGHT, flight::FLIGHT_UPDATED, "FlightChanged"),
    (topics::FLIGHT, flight::FLIGHT_DELETED, "FlightChanged"),
    (topics::FLIGHT, flight::SEATS_RESERVED, "SeatsDecided"),
    (topics::FLIGHT, flight::SEATS_REJECTED, "SeatsDecided"),
    (topics::FLIGHT, flight::SEATS_RELEASED, "SeatsDecided"),
    (topics::RESERVATION, reservation::RESERVATION_PLACED, "ReservationEvent"),
    (topics::RESERVATION, reservation::RESERVATION_CONFIRMED, "ReservationEvent"),
    (topics::RESERVATION, reservation::RESERVATION_REJECTED, "ReservationEvent"),
    (topics::RESERVATION, reservation::RESERVATION_CANCELLED, "ReservationEvent"),
    (topics::PAYMENT, payment::PAYMENT_APPROVED, "PaymentEvent"),
    (topics::PAYMENT, payment::PAYMENT_CANCELLED, "PaymentEvent"),
];

#[cfg(test)]
mod catalogue_tests;
