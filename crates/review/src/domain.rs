//! Reviews: what a review must contain and who may write one.
//!
//! A customer reviews a stay once it is over: from its check-out day, if it was confirmed and not
//! cancelled; one review per stay. A review whose stay is cancelled afterwards (an operator
//! refund) is withdrawn, and its rating and points with it, so booking, reviewing and cancelling
//! earns nothing.

use serde::Serialize;
use thiserror::Error;

/// A value that failed validation.
pub use skycamp_contracts::Invalid;

/// A review request, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReview {
    pub campsite_id: i64,
    /// Which stay is reviewed; when absent, the earliest eligible one.
    pub reservation_id: Option<i64>,
    pub rating: i64,
    pub text: String,
    pub phone: String,
}

impl NewReview {
    pub fn parse(
        campsite_id: i64,
        reservation_id: Option<i64>,
        rating: i64,
        text: &str,
        phone: &str,
    ) -> Result<Self, Invalid> {
        if !(1..=5).contains(&rating) {
            return Err(Invalid("rating must be between 1 and 5".into()));
        }
        let text = skycamp_contracts::text::multi_line("text", text, 1, 2000).map_err(Invalid)?;
        Ok(Self { campsite_id, reservation_id, rating, text, phone: phone.to_owned() })
    }
}

/// Where a stay stands, as the reservation events say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StayStatus {
    Confirmed,
    Cancelled,
}

impl StayStatus {
    /// The name stored in the `stays` table.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirmed => "CONFIRMED",
            Self::Cancelled => "CANCELLED",
        }
    }

    /// Parses a stored status; one that names no status is a corrupt row.
    pub fn stored(s: &str) -> anyhow::Result<Self> {
        [Self::Confirmed, Self::Cancelled]
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| anyhow::anyhow!("unknown stay status {s:?}"))
    }
}

/// A stay as a reservation event describes it.
#[derive(Debug, Clone)]
pub struct StayEvent<'a> {
    pub reservation_id: i64,
    pub campsite_id: i64,
    pub phone: &'a str,
    pub check_in: &'a str,
    pub check_out: &'a str,
    pub status: StayStatus,
}

impl StayEvent<'_> {
    /// A cancelled stay takes its review with it (and the points the review earned).
    pub fn withdraws_review(&self) -> bool {
        self.status == StayStatus::Cancelled
    }
}

/// A stay the service knows of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stay {
    pub reservation_id: i64,
    /// The ISO date the stay ends; reviews open that day.
    pub check_out: String,
    pub confirmed: bool,
    pub reviewed: bool,
}

/// Why a review is refused.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum Refusal {
    #[error("no confirmed stay at this campsite for this phone")]
    NoStay,
    #[error("reviews open when the stay is over, on its check-out day ({check_out})")]
    NotYet { check_out: String },
    #[error("this stay has already been reviewed")]
    AlreadyReviewed,
}

/// Picks the stay a review is for: confirmed, over by `today` (its check-out day has come; ISO
/// dates), not yet reviewed; the requested one if `wanted` is given, else the earliest.
pub fn eligible_stay(stays: &[Stay], wanted: Option<i64>, today: &str) -> Result<i64, Refusal> {
    let mut candidates: Vec<&Stay> =
        stays.iter().filter(|s| s.confirmed && wanted.is_none_or(|w| w == s.reservation_id)).collect();
    candidates.sort_by(|a, b| a.check_out.cmp(&b.check_out));
    if candidates.is_empty() {
        return Err(Refusal::NoStay);
    }
    let open: Vec<&&Stay> = candidates.iter().filter(|s| s.check_out.as_str() <= today).collect();
    if open.is_empty() {
        return Err(Refusal::NotYet { check_out: candidates[0].check_out.clone() });
    }
    open.iter().find(|s| !s.reviewed).map(|s| s.reservation_id).ok_or(Refusal::AlreadyReviewed)
}

/// A review as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Review {
    pub id: i64,
    pub reservation_id: i64,
    pub campsite_id: i64,
    pub phone: String,
    pub rating: i64,
    pub text: String,
    pub created_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stay(id: i64, check_out: &str, confirmed: bool, reviewed: bool) -> Stay {
        Stay { reservation_id: id, check_out: check_out.into(), confirmed, reviewed }
    }

    #[test]
    fn ratings_are_one_to_five_and_text_is_required() {
        assert!(NewReview::parse(1, None, 0, "ok", "010").is_err());
        assert!(NewReview::parse(1, None, 6, "ok", "010").is_err());
        assert!(NewReview::parse(1, None, 5, "  ", "010").is_err());
        assert_eq!(NewReview::parse(1, None, 5, " lovely ", "010").unwrap().text, "lovely");
    }

    #[test]
    fn a_confirmed_stay_can_be_reviewed_from_its_check_out_day() {
        let stays = [stay(1, "2026-12-03", true, false)];
        let not_yet = Refusal::NotYet { check_out: "2026-12-03".into() };
        assert_eq!(eligible_stay(&stays, None, "2026-12-01"), Err(not_yet.clone()), "during the stay");
        assert_eq!(eligible_stay(&stays, None, "2026-12-02"), Err(not_yet), "the last night");
        assert_eq!(eligible_stay(&stays, None, "2026-12-03"), Ok(1));
    }

    #[test]
    fn cancelled_or_unknown_stays_cannot_be_reviewed() {
        assert_eq!(eligible_stay(&[stay(1, "2026-12-01", false, false)], None, "2027-01-01"), Err(Refusal::NoStay));
        assert_eq!(eligible_stay(&[], None, "2027-01-01"), Err(Refusal::NoStay));
        assert_eq!(eligible_stay(&[stay(1, "2026-12-01", true, false)], Some(2), "2027-01-01"), Err(Refusal::NoStay));
    }

    #[test]
    fn a_cancelled_stay_withdraws_its_review_and_statuses_are_checked_when_read() {
        let stay = |status| StayEvent {
            reservation_id: 1,
            campsite_id: 1,
            phone: "010",
            check_in: "2026-12-01",
            check_out: "2026-12-02",
            status,
        };
        assert!(stay(StayStatus::Cancelled).withdraws_review());
        assert!(!stay(StayStatus::Confirmed).withdraws_review());
        assert_eq!(StayStatus::stored("CONFIRMED").unwrap(), StayStatus::Confirmed);
        assert!(StayStatus::stored("").is_err(), "an unreadable status is an error, not a cancelled stay");
    }

    #[test]
    fn one_review_per_stay() {
        let stays = [stay(1, "2026-12-01", true, true), stay(2, "2026-12-05", true, false)];
        assert_eq!(eligible_stay(&stays, None, "2027-01-01"), Ok(2));
        assert_eq!(eligible_stay(&stays, Some(1), "2027-01-01"), Err(Refusal::AlreadyReviewed));
    }
}
