//! The lifecycle of an inventory hold: the seats on a flight or the nights at a campsite that one
//! reservation asks for. Both inventories follow these rules; their stores only carry out what
//! [`on_hold`] and [`on_release`] decide, inside the transaction that claims the event.
//!
//! ```text
//!   (none) --hold, inventory fits--> Held --release--> Released
//!   (none) --hold, does not fit----> Rejected
//!   (none) --release first---------> Released (a tombstone: the late hold is ignored)
//! ```
//!
//! A hold is decided once per reservation. Asked again (an operator retries a stuck saga), the
//! inventory repeats the answer it gave; it never decides a second time.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

/// Where one reservation's hold stands, as the inventory records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HoldStatus {
    /// The inventory is set aside for the reservation.
    Held,
    /// The inventory could not take the reservation.
    Rejected,
    /// Given back (after a hold), or released before any hold was decided.
    Released,
}

impl HoldStatus {
    /// The name stored in the inventory's `status` column.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Held => "HELD",
            Self::Rejected => "REJECTED",
            Self::Released => "RELEASED",
        }
    }
}

impl fmt::Display for HoldStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored status that names no [`HoldStatus`]: the row is corrupt, not merely absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownStatus(pub String);

impl fmt::Display for UnknownStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown hold status {:?}", self.0)
    }
}

impl std::error::Error for UnknownStatus {}

impl FromStr for HoldStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::Held, Self::Rejected, Self::Released]
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

/// The answer an inventory publishes about a hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Reserved,
    Rejected,
}

/// An inventory's first decision about a hold: reserved, or rejected with a reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Reserved,
    Rejected(Cow<'static, str>),
}

impl Decision {
    /// A rejection for `why`.
    pub fn rejected(why: impl Into<Cow<'static, str>>) -> Self {
        Self::Rejected(why.into())
    }

    /// What the hold records.
    pub fn status(&self) -> HoldStatus {
        match self {
            Self::Reserved => HoldStatus::Held,
            Self::Rejected(_) => HoldStatus::Rejected,
        }
    }

    /// The answer the inventory publishes.
    pub fn answer(&self) -> Answer {
        match self {
            Self::Reserved => Answer::Reserved,
            Self::Rejected(_) => Answer::Rejected,
        }
    }

    /// Why it was rejected, if it was.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Reserved => None,
            Self::Rejected(why) => Some(why),
        }
    }
}

/// What to do with a request to hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnHold {
    /// Asked for the first time: decide against the inventory.
    Decide,
    /// Asked again: publish the answer already given; change nothing.
    Repeat(Answer),
    /// Released already (the reservation was cancelled or given up): do nothing.
    Ignore,
}

/// Decides what a hold request does, given what is recorded for its reservation.
pub fn on_hold(recorded: Option<HoldStatus>) -> OnHold {
    match recorded {
        None => OnHold::Decide,
        Some(HoldStatus::Held) => OnHold::Repeat(Answer::Reserved),
        Some(HoldStatus::Rejected) => OnHold::Repeat(Answer::Rejected),
        Some(HoldStatus::Released) => OnHold::Ignore,
    }
}

/// What to do with a request to release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnRelease {
    /// Give the inventory back, mark the hold released and say so.
    Release,
    /// Nothing is held (rejected, or released already): do nothing.
    Nothing,
    /// The release arrived before its hold: record a released hold, so the late request is ignored.
    Tombstone,
}

/// Why a tombstone was recorded.
pub const RELEASED_BEFORE_DECIDED: &str = "cancelled before the hold was decided";

/// Decides what a release request does, given what is recorded for its reservation.
pub fn on_release(recorded: Option<HoldStatus>) -> OnRelease {
    match recorded {
        None => OnRelease::Tombstone,
        Some(HoldStatus::Held) => OnRelease::Release,
        Some(HoldStatus::Rejected | HoldStatus::Released) => OnRelease::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_request_is_decided_against_the_inventory() {
        // Given nothing recorded for the reservation, when its hold is asked for,
        assert_eq!(on_hold(None), OnHold::Decide, "then the inventory decides");
    }

    #[test]
    fn a_repeated_request_repeats_the_answer_already_given() {
        // Given a decided hold, when an operator's retry asks again, then the same answer goes out.
        assert_eq!(on_hold(Some(HoldStatus::Held)), OnHold::Repeat(Answer::Reserved));
        assert_eq!(on_hold(Some(HoldStatus::Rejected)), OnHold::Repeat(Answer::Rejected));
    }

    #[test]
    fn a_hold_that_arrives_after_its_release_is_ignored() {
        // Given a release recorded first (a tombstone), when the late hold arrives, nothing happens.
        assert_eq!(on_hold(Some(HoldStatus::Released)), OnHold::Ignore);
        // And the same after a real release: the inventory is not taken a second time.
        assert_eq!(on_hold(on_release_applied(Some(HoldStatus::Held))), OnHold::Ignore);
    }

    #[test]
    fn only_a_held_hold_gives_inventory_back() {
        assert_eq!(on_release(Some(HoldStatus::Held)), OnRelease::Release);
        assert_eq!(on_release(Some(HoldStatus::Rejected)), OnRelease::Nothing, "nothing was taken");
        assert_eq!(on_release(Some(HoldStatus::Released)), OnRelease::Nothing, "given back once only");
    }

    #[test]
    fn a_release_before_its_hold_leaves_a_tombstone() {
        assert_eq!(on_release(None), OnRelease::Tombstone);
    }

    #[test]
    fn a_decision_records_and_answers_what_it_decided() {
        assert_eq!((Decision::Reserved.status(), Decision::Reserved.answer()), (HoldStatus::Held, Answer::Reserved));
        let no = Decision::rejected("full");
        assert_eq!((no.status(), no.answer(), no.reason()), (HoldStatus::Rejected, Answer::Rejected, Some("full")));
        assert_eq!(Decision::Reserved.reason(), None);
    }

    #[test]
    fn statuses_round_trip_through_their_stored_names_and_others_are_refused() {
        for status in [HoldStatus::Held, HoldStatus::Rejected, HoldStatus::Released] {
            assert_eq!(status.as_str().parse(), Ok(status));
        }
        assert_eq!("held".parse::<HoldStatus>(), Err(UnknownStatus("held".into())));
    }

    /// The status a release leaves behind.
    fn on_release_applied(recorded: Option<HoldStatus>) -> Option<HoldStatus> {
        match on_release(recorded) {
            OnRelease::Release | OnRelease::Tombstone => Some(HoldStatus::Released),
            OnRelease::Nothing => recorded,
        }
    }
}
