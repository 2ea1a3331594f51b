//! Flights as the airline admin defines them, and the rules for changing them.

use std::borrow::Cow;

use thiserror::Error;

/// Most seats a flight may have.
pub const MAX_SEATS: i64 = 1_000;
/// Highest price per seat accepted, in KRW.
pub const MAX_PRICE: i64 = 100_000_000;

/// A value that failed validation; the message names the field.
pub use skycamp_contracts::Invalid;

/// A flight's name or destination: 1–100 characters after trimming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label(String);

impl Label {
    /// Parses `field`'s value: one line of 1–100 characters, no control characters.
    pub fn parse(field: &str, value: &str) -> Result<Self, Invalid> {
        skycamp_contracts::text::single_line(field, value, 1, 100).map(Self).map_err(Invalid)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Price per seat in KRW: 1 to [`MAX_PRICE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Price(i64);

impl Price {
    pub fn parse(value: i64) -> Result<Self, Invalid> {
        if (1..=MAX_PRICE).contains(&value) {
            Ok(Self(value))
        } else {
            Err(Invalid(format!("price must be between 1 and {MAX_PRICE}")))
        }
    }
    pub fn get(self) -> i64 {
        self.0
    }
}

/// Seats on a flight: 1 to [`MAX_SEATS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeatCapacity(i64);

impl SeatCapacity {
    pub fn parse(value: i64) -> Result<Self, Invalid> {
        if (1..=MAX_SEATS).contains(&value) {
            Ok(Self(value))
        } else {
            Err(Invalid(format!("seat must be between 1 and {MAX_SEATS}")))
        }
    }
    pub fn get(self) -> i64 {
        self.0
    }
}

/// What an admin registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFlight {
    pub name: Label,
    pub destination: Label,
    pub price: Price,
    pub seat: SeatCapacity,
}

/// A change to a flight; absent fields stay as they are (PUT supplies all of them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlightChange {
    pub name: Option<Label>,
    pub destination: Option<Label>,
    pub price: Option<Price>,
    pub seat: Option<SeatCapacity>,
}

impl FlightChange {
    /// Whether applying this change to `flight` would change anything; a change that would not
    /// is a no-op: no new version, no event.
    pub fn changes(&self, flight: &Flight) -> bool {
        self.name.as_ref().is_some_and(|n| n.as_str() != flight.name)
            || self.destination.as_ref().is_some_and(|d| d.as_str() != flight.destination)
            || self.price.is_some_and(|p| p.get() != flight.price)
            || self.seat.is_some_and(|s| s.get() != flight.seat)
    }
}

/// A flight with its seat inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flight {
    pub id: i64,
    pub name: String,
    pub destination: String,
    pub price: i64,
    pub seat: i64,
    pub seats_held: i64,
    pub deleted: bool,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl Flight {
    /// Seats still free.
    pub fn seats_left(&self) -> i64 {
        self.seat - self.seats_held
    }

    /// Checks a change against the rules: the seat count may not drop below the seats held.
    pub fn check_change(&self, change: &FlightChange) -> Result<(), ChangeError> {
        match change.seat {
            Some(seat) if seat.get() < self.seats_held => Err(ChangeError::SeatsBelowHeld { held: self.seats_held }),
            _ => Ok(()),
        }
    }

    /// Checks that the flight may be deleted: no seats may be held.
    pub fn check_delete(&self) -> Result<(), ChangeError> {
        if self.seats_held > 0 { Err(ChangeError::HasHeldSeats { held: self.seats_held }) } else { Ok(()) }
    }

    /// Answers whether `count` more seats can be held.
    pub fn can_hold(&self, count: i64) -> bool {
        !self.deleted && count > 0 && count <= self.seats_left()
    }
}

/// Why a change to a flight is refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ChangeError {
    #[error("flight not found")]
    NotFound,
    #[error("seat cannot be reduced below the {held} seats already sold")]
    SeatsBelowHeld { held: i64 },
    #[error("flight has {held} seats sold; cancel those reservations first")]
    HasHeldSeats { held: i64 },
}

/// The flight service's answer to a reservation (the lifecycle every inventory shares).
pub use skycamp_contracts::hold::Decision as HoldDecision;

/// The answer when the seats went to another reservation between reading the flight and holding
/// them: the conditional update, not the read, has the last word.
pub const OUTSOLD: HoldDecision = HoldDecision::Rejected(Cow::Borrowed(NOT_ENOUGH_SEATS));

const NOT_ENOUGH_SEATS: &str = "not enough seats left";

/// Decides a hold for `count` seats on `flight` (None: the flight does not exist).
pub fn decide_hold(flight: Option<&Flight>, count: i64) -> HoldDecision {
    match flight {
        None => HoldDecision::rejected("flight does not exist"),
        Some(f) if f.deleted => HoldDecision::rejected("flight has been withdrawn"),
        Some(f) if f.can_hold(count) => HoldDecision::Reserved,
        Some(_) => OUTSOLD,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn flight(seat: i64, held: i64) -> Flight {
        Flight {
            id: 1,
            name: "CH777".into(),
            destination: "korea".into(),
            price: 300_000,
            seat,
            seats_held: held,
            deleted: false,
            version: 1,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    #[test]
    fn labels_are_trimmed_and_must_not_be_blank() {
        assert_eq!(Label::parse("flightName", "  CH777 ").unwrap().as_str(), "CH777");
        assert_eq!(Label::parse("flightName", "  ").unwrap_err().0, "flightName must not be empty");
        assert!(Label::parse("destination", &"x".repeat(101)).is_err());
        assert!(Label::parse("flightName", "CH\u{202E}777").is_err());
        assert_eq!(Label::parse("destination", "제주").unwrap().as_str(), "제주");
    }

    #[test]
    fn prices_and_seats_must_be_positive_and_bounded() {
        assert!(Price::parse(0).is_err());
        assert!(Price::parse(-5).is_err());
        assert!(Price::parse(MAX_PRICE + 1).is_err());
        assert!(SeatCapacity::parse(0).is_err());
        assert_eq!(SeatCapacity::parse(40).unwrap().get(), 40);
    }

    #[test]
    fn seats_cannot_be_reduced_below_those_sold() {
        let f = flight(40, 10);
        let change = FlightChange { seat: Some(SeatCapacity::parse(9).unwrap()), ..Default::default() };
        assert_eq!(f.check_change(&change), Err(ChangeError::SeatsBelowHeld { held: 10 }));
        let ok = FlightChange { seat: Some(SeatCapacity::parse(10).unwrap()), ..Default::default() };
        assert_eq!(f.check_change(&ok), Ok(()));
    }

    #[test]
    fn a_change_to_the_same_values_changes_nothing() {
        let f = flight(40, 0);
        assert!(!FlightChange::default().changes(&f), "an empty PATCH");
        let same = FlightChange {
            name: Some(Label::parse("flightName", "CH777").unwrap()),
            price: Some(Price::parse(300_000).unwrap()),
            seat: Some(SeatCapacity::parse(40).unwrap()),
            ..Default::default()
        };
        assert!(!same.changes(&f), "every value as it is");
        let cheaper = FlightChange { price: Some(Price::parse(1).unwrap()), ..Default::default() };
        assert!(cheaper.changes(&f));
    }

    #[test]
    fn a_flight_with_sold_seats_cannot_be_deleted() {
        assert_eq!(flight(40, 1).check_delete(), Err(ChangeError::HasHeldSeats { held: 1 }));
        assert_eq!(flight(40, 0).check_delete(), Ok(()));
    }

    #[test]
    fn a_hold_is_rejected_for_unknown_withdrawn_or_full_flights() {
        assert_eq!(decide_hold(None, 1), HoldDecision::rejected("flight does not exist"));
        let mut gone = flight(40, 0);
        gone.deleted = true;
        assert_eq!(decide_hold(Some(&gone), 1), HoldDecision::rejected("flight has been withdrawn"));
        assert_eq!(decide_hold(Some(&flight(40, 39)), 2), HoldDecision::rejected("not enough seats left"));
        assert_eq!(decide_hold(Some(&flight(40, 39)), 1), HoldDecision::Reserved);
    }

    proptest! {
        #[test]
        fn holding_never_takes_seats_below_zero(seat in 1i64..200, requests in proptest::collection::vec(1i64..5, 0..100)) {
            let mut f = flight(seat, 0);
            for count in requests {
                if decide_hold(Some(&f), count) == HoldDecision::Reserved {
                    f.seats_held += count;
                }
                prop_assert!(f.seats_left() >= 0);
            }
        }
    }
}
