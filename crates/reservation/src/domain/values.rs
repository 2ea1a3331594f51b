//! Domain values, each parsed once from the request.

use thiserror::Error;

/// A value that failed validation; the message names the field.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{0}")]
pub struct Invalid(pub String);

/// A customer's phone number: 8–15 digits, optionally with a leading `+`; spaces and hyphens are dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let trimmed = raw.trim();
        let (plus, rest) = match trimmed.strip_prefix('+') {
            Some(rest) => ("+", rest),
            None => ("", trimmed),
        };
        let digits: String = rest.chars().filter(|c| *c != '-' && *c != ' ').collect();
        let ok = (8..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit());
        if ok {
            Ok(Self(format!("{plus}{digits}")))
        } else {
            Err(Invalid("phone must be 8 to 15 digits (spaces, hyphens and a leading + allowed)".into()))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Seats in one booking: 1 to [`SeatCount::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeatCount(i64);

impl SeatCount {
    /// Most seats one reservation may hold.
    pub const MAX: i64 = 100;

    pub fn parse(value: i64) -> Result<Self, Invalid> {
        if (1..=Self::MAX).contains(&value) {
            Ok(Self(value))
        } else {
            Err(Invalid(format!("count must be between 1 and {}", Self::MAX)))
        }
    }
    pub fn get(self) -> i64 {
        self.0
    }
}

/// Checks a booking against the catalogue as the read model shows it: the count must fit the
/// flight, and a price the client sent must be the catalogue's price per seat.
pub fn check_against_catalogue(
    count: SeatCount,
    client_price: Option<i64>,
    catalogue_price: i64,
    total_seats: i64,
) -> Result<(), Invalid> {
    if count.get() > total_seats {
        return Err(Invalid(format!("count {} is more than the flight's {total_seats} seats", count.get())));
    }
    match client_price {
        Some(p) if p != catalogue_price => {
            Err(Invalid(format!("price {p} does not match the flight's price of {catalogue_price} per seat")))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_keep_digits_and_a_leading_plus() {
        assert_eq!(Phone::parse("01097770770").unwrap().as_str(), "01097770770");
        assert_eq!(Phone::parse(" 010-9777-0770 ").unwrap().as_str(), "01097770770");
        assert_eq!(Phone::parse("+82 10 9777 0770").unwrap().as_str(), "+821097770770");
    }

    #[test]
    fn malformed_phones_are_refused() {
        for bad in ["", "1234567", "0109777077a", "++821012345678", "0".repeat(16).as_str(), "010 97 77 07 70 ; drop"] {
            assert!(Phone::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn counts_are_one_to_a_hundred() {
        assert!(SeatCount::parse(0).is_err());
        assert!(SeatCount::parse(-1).is_err());
        assert!(SeatCount::parse(101).is_err());
        assert_eq!(SeatCount::parse(3).unwrap().get(), 3);
    }

    #[test]
    fn a_booking_must_fit_the_flight_and_match_its_price() {
        let one = SeatCount::parse(1).unwrap();
        assert!(check_against_catalogue(one, Some(300_000), 300_000, 40).is_ok());
        assert!(check_against_catalogue(one, None, 300_000, 40).is_ok());
        assert!(check_against_catalogue(one, Some(1), 300_000, 40).is_err());
        assert!(check_against_catalogue(SeatCount::parse(41).unwrap(), None, 300_000, 40).is_err());
    }
}
