//! The published language between Skycamp services: topic names, event type names and payloads.
//!
//! Every payload here is the `data` of a CloudEvents envelope. Field names are camelCase on the
//! wire. Adding an optional field is compatible; renaming or removing one is not.
//!
//! - [`topics`]: one topic per producing context.
//! - [`customer`]: the customer key (phone), normalised the same way by every service.
//! - [`text`]: the rules for free text (names, descriptions, reviews) every service applies.
//! - [`hold`]: the lifecycle of a seat or night hold both inventories follow.
//! - [`flight`]: events the flight service publishes.
//! - [`reservation`]: events the reservation service publishes.
//! - [`payment`]: events the payment service publishes.
//! - [`campsite`], [`mileage`], [`notification`], [`review`]: the camping side's events.
#![forbid(unsafe_code)]

pub mod campsite;
pub mod customer;
pub mod flight;
pub mod hold;
pub mod mileage;
pub mod notification;
pub mod payment;
pub mod reservation;
pub mod review;
pub mod text;

/// A value that failed validation; the message names the field and says what is allowed. Every
/// service's domain uses this one type, and the HTTP layer answers it 422 in one place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Invalid {}

impl Invalid {
    /// The refusal of a change that names fields, none of which the resource has (a typo:
    /// `seats` for `seat`), so it would otherwise answer 200 and change nothing. `None` when a
    /// known field is given or nothing is (`{}` is a valid empty change). `fields` lists the
    /// ones that can change, for the message.
    pub fn only_unknown<'a>(known: bool, unknown: impl IntoIterator<Item = &'a str>, fields: &str) -> Option<Self> {
        let given: Vec<&str> = unknown.into_iter().collect();
        (!known && !given.is_empty())
            .then(|| Self(format!("no field to change: {} is not one; give {fields}", given.join(", "))))
    }
}

impl From<customer::InvalidPhone> for Invalid {
    fn from(e: customer::InvalidPhone) -> Self {
        Invalid(e.to_string())
    }
}

/// Topic names; one per producing context.
pub mod topics {
    pub const FLIGHT: &str = "flight";
    pub const RESERVATION: &str = "reservation";
    pub const PAYMENT: &str = "payment";
    pub const CAMPSITE: &str = "campsite";
    pub const MILEAGE: &str = "mileage";
    pub const NOTIFICATION: &str = "notification";
    pub const REVIEW: &str = "review";
    /// Every topic, one per producing context.
    pub const ALL: [&str; 7] = [FLIGHT, RESERVATION, PAYMENT, CAMPSITE, MILEAGE, NOTIFICATION, REVIEW];
}

/// The aggregate subject (and partition key) of a reservation's events.
pub fn reservation_subject(reservation_id: i64) -> String {
    format!("reservation/{reservation_id}")
}

/// The aggregate subject of a campsite's events.
pub fn campsite_subject(campsite_id: i64) -> String {
    format!("campsite/{campsite_id}")
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
    (topics::CAMPSITE, campsite::CAMPSITE_REGISTERED, "CampsiteChanged"),
    (topics::CAMPSITE, campsite::CAMPSITE_UPDATED, "CampsiteChanged"),
    (topics::CAMPSITE, campsite::CAMPSITE_DELETED, "CampsiteChanged"),
    (topics::CAMPSITE, campsite::NIGHTS_RESERVED, "NightsDecided"),
    (topics::CAMPSITE, campsite::NIGHTS_REJECTED, "NightsDecided"),
    (topics::CAMPSITE, campsite::NIGHTS_RELEASED, "NightsDecided"),
    (topics::MILEAGE, mileage::MILEAGE_ACCRUED, "MileageEvent"),
    (topics::MILEAGE, mileage::MILEAGE_DEDUCTED, "MileageEvent"),
    (topics::NOTIFICATION, notification::NOTIFICATION_SENT, "NotificationEvent"),
    (topics::REVIEW, review::REVIEW_WRITTEN, "ReviewEvent"),
    (topics::REVIEW, review::REVIEW_WITHDRAWN, "ReviewEvent"),
];

#[cfg(test)]
mod catalogue_tests;
