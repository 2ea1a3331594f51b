//! Campsites as the campsite admin defines them, and the rules for changing them.

use thiserror::Error;

/// Highest price per night accepted, in KRW.
pub const MAX_PRICE: i64 = 10_000_000;
/// Most guests a campsite may take.
pub const MAX_CAPACITY: i64 = 50;

/// A value that failed validation; the message names the field.
pub use skycamp_contracts::Invalid;

/// Trimmed single-line text of `min..=max` characters, no control characters.
pub fn text(field: &str, value: &str, min: usize, max: usize) -> Result<String, Invalid> {
    skycamp_contracts::text::single_line(field, value, min, max).map_err(Invalid)
}

/// Trimmed text of `min..=max` characters that may span lines.
pub fn long_text(field: &str, value: &str, min: usize, max: usize) -> Result<String, Invalid> {
    skycamp_contracts::text::multi_line(field, value, min, max).map_err(Invalid)
}

/// A whole number within `range`.
pub fn bounded(field: &str, value: i64, range: std::ops::RangeInclusive<i64>) -> Result<i64, Invalid> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(Invalid(format!("{field} must be between {} and {}", range.start(), range.end())))
    }
}

/// Up to 20 amenities of 1–50 characters, duplicates dropped.
pub fn amenities(values: &[String]) -> Result<Vec<String>, Invalid> {
    if values.len() > 20 {
        return Err(Invalid("at most 20 amenities".into()));
    }
    let mut out: Vec<String> = Vec::new();
    for v in values {
        let v = text("amenity", v, 1, 50)?;
        if !out.contains(&v) {
            out.push(v);
        }
    }
    Ok(out)
}

/// A change to a campsite; absent fields stay as they are (POST and PUT supply all required ones).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CampsiteChange {
    pub name: Option<String>,
    pub location: Option<String>,
    pub description: Option<String>,
    pub price_per_night: Option<i64>,
    pub capacity: Option<i64>,
    pub amenities: Option<Vec<String>>,
}

impl CampsiteChange {
    /// Whether applying this change to `campsite` would change anything; a change that would not
    /// is a no-op: no new version, no event.
    pub fn changes(&self, campsite: &Campsite) -> bool {
        self.name.as_ref().is_some_and(|v| *v != campsite.name)
            || self.location.as_ref().is_some_and(|v| *v != campsite.location)
            || self.description.as_ref().is_some_and(|v| *v != campsite.description)
            || self.price_per_night.is_some_and(|v| v != campsite.price_per_night)
            || self.capacity.is_some_and(|v| v != campsite.capacity)
            || self.amenities.as_ref().is_some_and(|v| *v != campsite.amenities)
    }

    /// Checks that everything a new campsite needs is present.
    pub fn require_complete(&self) -> Result<(), Invalid> {
        let missing = [
            ("name", self.name.is_none()),
            ("location", self.location.is_none()),
            ("pricePerNight", self.price_per_night.is_none()),
            ("capacity", self.capacity.is_none()),
        ];
        match missing.iter().find(|(_, m)| *m) {
            Some((field, _)) => Err(Invalid(format!("{field} is required"))),
            None => Ok(()),
        }
    }
}

/// A campsite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Campsite {
    pub id: i64,
    pub name: String,
    pub location: String,
    pub description: String,
    pub price_per_night: i64,
    pub capacity: i64,
    pub amenities: Vec<String>,
    pub deleted: bool,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

/// What stands booked at a campsite from today on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Upcoming {
    pub nights: i64,
    pub most_guests: i64,
}

/// Why a change to a campsite is refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ChangeError {
    #[error("campsite not found")]
    NotFound,
    #[error("capacity cannot drop below {most_guests} guests of an upcoming booking")]
    CapacityBelowBooked { most_guests: i64 },
    #[error("campsite has {nights} booked nights from today on; cancel those reservations first")]
    HasUpcomingBookings { nights: i64 },
}

/// An edit never breaks an existing booking: capacity may not drop below an upcoming stay's guests.
pub fn check_change(change: &CampsiteChange, upcoming: Upcoming) -> Result<(), ChangeError> {
    match change.capacity {
        Some(c) if c < upcoming.most_guests => {
            Err(ChangeError::CapacityBelowBooked { most_guests: upcoming.most_guests })
        }
        _ => Ok(()),
    }
}

/// A campsite with upcoming booked nights cannot be deleted.
pub fn check_delete(upcoming: Upcoming) -> Result<(), ChangeError> {
    if upcoming.nights > 0 { Err(ChangeError::HasUpcomingBookings { nights: upcoming.nights }) } else { Ok(()) }
}

/// Why nights cannot be held (None: they can, if no other booking holds one of them).
pub fn hold_refusal(campsite: Option<&Campsite>, guests: i64, nights: usize) -> Option<&'static str> {
    match campsite {
        None => Some("campsite does not exist"),
        Some(c) if c.deleted => Some("campsite has been withdrawn"),
        Some(c) if guests < 1 || guests > c.capacity => Some("more guests than the campsite takes"),
        Some(_) if nights == 0 => Some("no nights to hold"),
        Some(_) => None,
    }
}

/// A request to hold a stay's nights for a reservation.
#[derive(Debug, Clone)]
pub struct HoldRequest {
    pub reservation_id: i64,
    pub campsite_id: i64,
    pub check_in: String,
    pub check_out: String,
    pub guests: i64,
}

impl HoldRequest {
    /// The nights of the stay, check-in included, check-out not (none for a stay that makes no sense).
    pub fn nights(&self) -> Vec<String> {
        skycamp_contracts::reservation::nights(&self.check_in, &self.check_out)
            .unwrap_or_default()
            .iter()
            .map(ToString::to_string)
            .collect()
    }
}

/// The campsite service's answer to a reservation (the lifecycle every inventory shares).
pub use skycamp_contracts::hold::Decision as HoldDecision;

/// The answer when some of the stay's nights are booked already: the rows' primary key, not a
/// read, has the last word.
pub fn taken(nights: &[String]) -> HoldDecision {
    HoldDecision::rejected(format!("nights already booked: {}", nights.join(", ")))
}

/// Decides a hold of `nights` for `guests` at `campsite` (None: it does not exist), before any
/// night is tried.
pub fn decide_hold(campsite: Option<&Campsite>, guests: i64, nights: usize) -> HoldDecision {
    hold_refusal(campsite, guests, nights).map_or(HoldDecision::Reserved, HoldDecision::rejected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(capacity: i64) -> Campsite {
        Campsite {
            id: 1,
            name: "Pine".into(),
            location: "Gapyeong".into(),
            description: String::new(),
            price_per_night: 50_000,
            capacity,
            amenities: vec![],
            deleted: false,
            version: 1,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    #[test]
    fn texts_and_numbers_are_bounded() {
        assert_eq!(text("name", " Pine ", 1, 100).unwrap(), "Pine");
        assert!(text("name", "  ", 1, 100).is_err());
        assert!(bounded("capacity", 0, 1..=MAX_CAPACITY).is_err());
        assert_eq!(bounded("capacity", 4, 1..=MAX_CAPACITY).unwrap(), 4);
    }

    #[test]
    fn amenities_are_deduplicated_and_limited() {
        let a = amenities(&["wifi".into(), " wifi".into(), "fire pit".into()]).unwrap();
        assert_eq!(a, ["wifi", "fire pit"]);
        assert!(amenities(&vec!["x".to_owned(); 21]).is_err());
        assert!(amenities(&["".into()]).is_err());
    }

    #[test]
    fn a_new_campsite_needs_name_location_price_and_capacity() {
        let c = CampsiteChange { name: Some("Pine".into()), location: Some("Gapyeong".into()), ..Default::default() };
        assert_eq!(c.require_complete().unwrap_err().0, "pricePerNight is required");
    }

    #[test]
    fn capacity_cannot_drop_below_an_upcoming_stays_guests() {
        let change = CampsiteChange { capacity: Some(3), ..Default::default() };
        let upcoming = Upcoming { nights: 2, most_guests: 4 };
        assert_eq!(check_change(&change, upcoming), Err(ChangeError::CapacityBelowBooked { most_guests: 4 }));
        let price_only = CampsiteChange { price_per_night: Some(1), ..Default::default() };
        assert_eq!(check_change(&price_only, upcoming), Ok(()));
    }

    #[test]
    fn a_change_to_the_same_values_changes_nothing() {
        let c = site(4);
        assert!(!CampsiteChange::default().changes(&c), "an empty PATCH");
        let same = CampsiteChange { name: Some("Pine".into()), capacity: Some(4), ..Default::default() };
        assert!(!same.changes(&c));
        assert!(CampsiteChange { capacity: Some(5), ..Default::default() }.changes(&c));
        assert!(CampsiteChange { amenities: Some(vec!["wifi".into()]), ..Default::default() }.changes(&c));
    }

    #[test]
    fn a_campsite_with_upcoming_nights_cannot_be_deleted() {
        assert_eq!(
            check_delete(Upcoming { nights: 3, most_guests: 2 }),
            Err(ChangeError::HasUpcomingBookings { nights: 3 })
        );
        assert_eq!(check_delete(Upcoming::default()), Ok(()));
    }

    #[test]
    fn holds_are_refused_for_missing_withdrawn_or_overfull_sites() {
        assert_eq!(hold_refusal(None, 2, 1), Some("campsite does not exist"));
        let mut gone = site(4);
        gone.deleted = true;
        assert_eq!(hold_refusal(Some(&gone), 2, 1), Some("campsite has been withdrawn"));
        assert_eq!(hold_refusal(Some(&site(4)), 5, 1), Some("more guests than the campsite takes"));
        assert_eq!(hold_refusal(Some(&site(4)), 4, 2), None);
    }

    #[test]
    fn a_hold_that_fits_is_reserved_and_one_that_meets_booked_nights_names_them() {
        assert_eq!(decide_hold(Some(&site(4)), 4, 2), HoldDecision::Reserved);
        assert_eq!(decide_hold(Some(&site(4)), 4, 0), HoldDecision::rejected("no nights to hold"));
        let taken = taken(&["2026-12-01".into(), "2026-12-02".into()]);
        assert_eq!(taken.reason(), Some("nights already booked: 2026-12-01, 2026-12-02"));
        assert_eq!(taken.status(), skycamp_contracts::hold::HoldStatus::Rejected);
    }

    #[test]
    fn a_stay_holds_its_nights_up_to_check_out() {
        let req = |check_in: &str, check_out: &str| HoldRequest {
            reservation_id: 1,
            campsite_id: 1,
            check_in: check_in.into(),
            check_out: check_out.into(),
            guests: 2,
        };
        assert_eq!(req("2026-12-31", "2027-01-02").nights(), ["2026-12-31", "2027-01-01"]);
        assert!(req("2027-01-02", "2026-12-31").nights().is_empty(), "a stay backwards holds nothing");
        assert!(req("nonsense", "2026-12-31").nights().is_empty());
    }
}
