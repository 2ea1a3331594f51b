//! How customers are identified across services: by phone number, normalised the same way everywhere.

use std::fmt;

/// A customer's phone number: 8–15 digits, optionally with a leading `+`; spaces and hyphens are dropped.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);

/// The reason a phone number was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidPhone;

impl fmt::Display for InvalidPhone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("phone must be 8 to 15 digits (spaces, hyphens and a leading + allowed)")
    }
}

impl std::error::Error for InvalidPhone {}

impl Phone {
    pub fn parse(raw: &str) -> Result<Self, InvalidPhone> {
        let trimmed = raw.trim();
        let (plus, rest) = match trimmed.strip_prefix('+') {
            Some(rest) => ("+", rest),
            None => ("", trimmed),
        };
        let digits: String = rest.chars().filter(|c| *c != '-' && *c != ' ').collect();
        if (8..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit()) {
            Ok(Self(format!("{plus}{digits}")))
        } else {
            Err(InvalidPhone)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A phone number shown to others: the first three and last two digits, the rest as `*`.
pub fn masked(phone: &str) -> String {
    let n = phone.chars().count();
    phone.chars().enumerate().map(|(i, c)| if i < 3 || i + 2 >= n { c } else { '*' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_phones_keep_three_leading_and_two_trailing_characters() {
        assert_eq!(masked("01012345678"), "010******78");
        assert_eq!(masked("+821012345678"), "+82********78");
    }

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
}
