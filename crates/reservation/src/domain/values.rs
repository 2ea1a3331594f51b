//! Domain values, each parsed once from the request.

/// A value that failed validation; the message names the field.
pub use skycamp_contracts::Invalid;

/// A customer's phone number (the customer key every service shares).
pub use skycamp_contracts::customer::Phone;

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

/// A stay: check-in and check-out dates, validated against today and the longest stay allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stay {
    pub check_in: time::Date,
    pub check_out: time::Date,
    pub nights: i64,
}

impl Stay {
    /// How far ahead a stay may be booked.
    pub const MAX_DAYS_AHEAD: i64 = 366;

    pub fn parse(check_in: &str, check_out: &str, today: time::Date, max_nights: i64) -> Result<Self, Invalid> {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        let date = |field: &str, v: &str| {
            time::Date::parse(v.trim(), &format)
                .map_err(|_| Invalid(format!("{field} must be an ISO date (YYYY-MM-DD)")))
        };
        let (from, to) = (date("checkIn", check_in)?, date("checkOut", check_out)?);
        if to <= from {
            return Err(Invalid("checkOut must be after checkIn".into()));
        }
        if from < today {
            return Err(Invalid(format!("checkIn {from} is in the past")));
        }
        if (from - today).whole_days() > Self::MAX_DAYS_AHEAD {
            return Err(Invalid(format!("checkIn may be at most {} days ahead", Self::MAX_DAYS_AHEAD)));
        }
        let nights = (to - from).whole_days();
        if nights > max_nights {
            return Err(Invalid(format!("a stay may be at most {max_nights} nights, not {nights}")));
        }
        Ok(Self { check_in: from, check_out: to, nights })
    }
}

/// An optional e-mail address: at most 254 characters, one `@` with text on both sides, no spaces.
pub fn parse_email(raw: Option<&str>) -> Result<Option<String>, Invalid> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else { return Ok(None) };
    let ok = raw.len() <= 254
        && !raw.contains(|c: char| c.is_whitespace() || c.is_control())
        && matches!(raw.split_once('@'), Some((local, domain)) if !local.is_empty() && domain.contains('.') && !domain.contains('@'));
    if ok { Ok(Some(raw.to_owned())) } else { Err(Invalid("email is not an e-mail address".into())) }
}

/// An optional customer name: one line of at most 100 characters, no control characters.
pub fn parse_name(raw: Option<&str>) -> Result<Option<String>, Invalid> {
    match raw.map(str::trim).filter(|r| !r.is_empty()) {
        Some(n) => skycamp_contracts::text::single_line("name", n, 1, 100).map(Some).map_err(Invalid),
        None => Ok(None),
    }
}

/// Checks a stay against the campsite as the read model shows it: guests must fit, and a price
/// the client sent must be the catalogue's price per night.
pub fn check_against_campsite(
    guests: i64,
    client_price: Option<i64>,
    price_per_night: i64,
    capacity: i64,
) -> Result<(), Invalid> {
    if !(1..=capacity).contains(&guests) {
        return Err(Invalid(format!("guests must be between 1 and the campsite's capacity of {capacity}")));
    }
    match client_price {
        Some(p) if p != price_per_night => {
            Err(Invalid(format!("price {p} does not match the campsite's price of {price_per_night} per night")))
        }
        _ => Ok(()),
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

    fn day(s: &str) -> time::Date {
        time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).unwrap()
    }

    #[test]
    fn a_stay_counts_its_nights() {
        let stay = Stay::parse("2026-12-30", "2027-01-02", day("2026-12-01"), 14).unwrap();
        assert_eq!(stay.nights, 3);
    }

    #[test]
    fn stays_must_be_ordered_ahead_and_not_too_long() {
        let today = day("2026-12-01");
        let err = |a: &str, b: &str| Stay::parse(a, b, today, 14).unwrap_err().0;
        assert_eq!(err("2026-12-05", "2026-12-05"), "checkOut must be after checkIn");
        assert_eq!(err("2026-12-05", "2026-12-04"), "checkOut must be after checkIn");
        assert_eq!(err("2026-11-30", "2026-12-02"), "checkIn 2026-11-30 is in the past");
        assert_eq!(err("2026-12-01", "2026-12-16"), "a stay may be at most 14 nights, not 15");
        assert_eq!(err("12/05/2026", "2026-12-06"), "checkIn must be an ISO date (YYYY-MM-DD)");
        assert_eq!(err("2026-12-05", "2026-02-30"), "checkOut must be an ISO date (YYYY-MM-DD)");
        assert!(Stay::parse("2028-01-01", "2028-01-02", today, 14).is_err(), "more than a year ahead");
        assert!(Stay::parse("2026-12-01", "2026-12-15", today, 14).is_ok(), "today, 14 nights");
    }

    #[test]
    fn guests_must_fit_and_the_price_per_night_must_match() {
        assert!(check_against_campsite(4, Some(50_000), 50_000, 4).is_ok());
        assert!(check_against_campsite(5, None, 50_000, 4).is_err());
        assert!(check_against_campsite(0, None, 50_000, 4).is_err());
        assert!(check_against_campsite(2, Some(49_000), 50_000, 4).is_err());
    }

    #[test]
    fn emails_and_names_are_optional_but_checked() {
        assert_eq!(parse_email(None).unwrap(), None);
        assert_eq!(parse_email(Some(" a@b.kr ")).unwrap().as_deref(), Some("a@b.kr"));
        for bad in ["a", "a@b", "@b.kr", "a b@c.kr", "a@b@c.kr"] {
            assert!(parse_email(Some(bad)).is_err(), "{bad}");
        }
        assert_eq!(parse_name(Some(" Kim ")).unwrap().as_deref(), Some("Kim"));
        assert!(parse_name(Some(&"x".repeat(101))).is_err());
        assert!(parse_name(Some("Kim\u{1b}[2J")).is_err());
        assert!(parse_email(Some("a\u{0}@b.kr")).is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_stay_is_an_answer_never_a_panic(
            check_in in "(-?[0-9]{1,5}-[0-9]{1,2}-[0-9]{1,2}|\\PC{0,12})",
            check_out in "(-?[0-9]{1,5}-[0-9]{1,2}-[0-9]{1,2}|\\PC{0,12})",
            ahead in -400i64..400,
            max_nights in 0i64..30,
        ) {
            let today = day("2026-12-01");
            if let Ok(stay) = Stay::parse(&check_in, &check_out, today, max_nights) {
                proptest::prop_assert!(stay.check_in >= today && stay.check_out > stay.check_in);
                proptest::prop_assert!((1..=max_nights).contains(&stay.nights));
            }
            let near = (today + time::Duration::days(ahead)).to_string();
            let _ = Stay::parse(&near, "9999-12-31", today, max_nights);
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
