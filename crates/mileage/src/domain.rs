//! How many points what earns, and the ledger they are kept in.

use serde::Serialize;

/// The mileage rules (configurable).
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// Percent of an approved payment credited as points (`SKYCAMP_MILEAGE_PERCENT`).
    pub percent_of_payment: i64,
    /// Points per review (`SKYCAMP_MILEAGE_PER_REVIEW`).
    pub per_review: i64,
}

impl Default for Rules {
    fn default() -> Self {
        Self { percent_of_payment: 1, per_review: 500 }
    }
}

impl Rules {
    /// Points for a payment of `amount` KRW, rounded down.
    pub fn for_payment(&self, amount: i64) -> i64 {
        amount.max(0) * self.percent_of_payment / 100
    }
}

/// Why points change: the event that moves a customer's balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    Payment {
        customer: String,
        reservation_id: i64,
        points: i64,
    },
    /// Takes back what the reservation's payment earned.
    Refund {
        customer: String,
        reservation_id: i64,
    },
    Review {
        customer: String,
        reservation_id: i64,
        points: i64,
    },
    /// Takes back what the reservation's review earned.
    ReviewWithdrawn {
        customer: String,
        reservation_id: i64,
    },
}

/// What a cause does to the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Posting {
    /// Credit these points (`MileageAccrued`).
    Accrue(i64),
    /// Take back these points, a positive number (`MileageDeducted`).
    Deduct(i64),
    /// A refund or withdrawal handled before what it takes back (a credit parked as a dead letter
    /// and replayed later): write a zero-point entry and publish nothing, so the credit, when it
    /// comes, finds itself taken back already and earns nothing.
    Mark,
    /// Nothing to write: it earned nothing, or it was taken back before it came.
    Nothing,
}

impl Posting {
    /// The signed points of the ledger entry.
    pub fn points(self) -> i64 {
        match self {
            Self::Accrue(p) => p,
            Self::Deduct(p) => -p,
            Self::Mark | Self::Nothing => 0,
        }
    }
}

impl Cause {
    pub fn customer(&self) -> &str {
        match self {
            Self::Payment { customer, .. }
            | Self::Refund { customer, .. }
            | Self::Review { customer, .. }
            | Self::ReviewWithdrawn { customer, .. } => customer,
        }
    }

    pub fn reservation_id(&self) -> i64 {
        match self {
            Self::Payment { reservation_id, .. }
            | Self::Refund { reservation_id, .. }
            | Self::Review { reservation_id, .. }
            | Self::ReviewWithdrawn { reservation_id, .. } => *reservation_id,
        }
    }

    /// The cause (an event type) of the entry this one takes back, if it takes one back.
    pub fn takes_back(&self) -> Option<&'static str> {
        match self {
            Self::Payment { .. } | Self::Review { .. } => None,
            Self::Refund { .. } => Some(skycamp_contracts::payment::PAYMENT_APPROVED),
            Self::ReviewWithdrawn { .. } => Some(skycamp_contracts::review::REVIEW_WRITTEN),
        }
    }

    /// For a credit, the cause (an event type) of the entry that takes it back.
    pub fn taken_back_by(&self) -> Option<&'static str> {
        match self {
            Self::Payment { .. } => Some(skycamp_contracts::payment::PAYMENT_CANCELLED),
            Self::Review { .. } => Some(skycamp_contracts::review::REVIEW_WITHDRAWN),
            Self::Refund { .. } | Self::ReviewWithdrawn { .. } => None,
        }
    }

    /// Decides the posting from what the ledger holds for the reservation: what the entry this
    /// one takes back earned, if there is one (see [`Cause::takes_back`]), and whether the entry
    /// that takes this one back is there already (see [`Cause::taken_back_by`]). The result does
    /// not depend on the order the two events arrive in: either way a refunded payment (or a
    /// withdrawn review) nets zero.
    pub fn posting(&self, earned_by_taken_back: Option<i64>, taken_back_already: bool) -> Posting {
        match self {
            Self::Payment { .. } | Self::Review { .. } if taken_back_already => Posting::Nothing,
            Self::Payment { points, .. } | Self::Review { points, .. } if *points > 0 => Posting::Accrue(*points),
            Self::Payment { .. } | Self::Review { .. } => Posting::Nothing,
            // Exactly what the payment (or review) earned; nothing if it earned nothing.
            Self::Refund { .. } | Self::ReviewWithdrawn { .. } => match earned_by_taken_back {
                None => Posting::Mark,
                Some(earned) if earned > 0 => Posting::Deduct(earned),
                Some(_) => Posting::Nothing,
            },
        }
    }
}

/// One entry of the ledger.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub id: i64,
    pub points: i64,
    pub cause: String,
    pub cause_event_id: String,
    pub reservation_id: Option<i64>,
    pub created_at: String,
}

/// A customer's balance and (a page of) entries.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Ledger {
    pub customer: String,
    /// Over every entry, not only those shown.
    pub balance: i64,
    pub entries: Vec<Entry>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payment_earns_its_share_rounded_down() {
        let rules = Rules { percent_of_payment: 1, per_review: 500 };
        assert_eq!(rules.for_payment(300_000), 3_000);
        assert_eq!(rules.for_payment(199), 1);
        assert_eq!(rules.for_payment(99), 0);
        assert_eq!(rules.for_payment(-5), 0);
    }

    #[test]
    fn payments_and_reviews_accrue_and_their_reversals_deduct_what_they_earned() {
        let customer = || "010-1234-5678".to_owned();
        let paid = Cause::Payment { customer: customer(), reservation_id: 1, points: 3_000 };
        assert_eq!((paid.takes_back(), paid.taken_back_by()), (None, Some("PaymentCancelled")));
        assert_eq!(paid.posting(None, false), Posting::Accrue(3_000));
        let refund = Cause::Refund { customer: customer(), reservation_id: 1 };
        assert_eq!((refund.takes_back(), refund.taken_back_by()), (Some("PaymentApproved"), None));
        assert_eq!(refund.posting(Some(3_000), false), Posting::Deduct(3_000));
        let withdrawn = Cause::ReviewWithdrawn { customer: customer(), reservation_id: 1 };
        assert_eq!(withdrawn.takes_back(), Some("ReviewWritten"));
        assert_eq!(withdrawn.posting(Some(500), false).points(), -500);
        let small = Cause::Payment { customer: customer(), reservation_id: 2, points: 0 };
        assert_eq!(small.posting(None, false), Posting::Nothing, "a payment too small to earn writes nothing");
    }

    #[test]
    fn a_reversal_that_comes_before_its_credit_leaves_a_mark_and_the_credit_then_earns_nothing() {
        // Found by the model checker (docs/VERIFICATION.md): a `PaymentApproved` parked as a dead
        // letter and replayed after its refund credited points for a refunded payment.
        let customer = || "010-1234-5678".to_owned();
        let refund = Cause::Refund { customer: customer(), reservation_id: 1 };
        assert_eq!(refund.posting(None, false), Posting::Mark, "nothing to take back yet");
        assert_eq!(Posting::Mark.points(), 0);
        let paid = Cause::Payment { customer: customer(), reservation_id: 1, points: 3_000 };
        assert_eq!(paid.posting(None, true), Posting::Nothing, "taken back before it came");
        let review = Cause::Review { customer: customer(), reservation_id: 1, points: 500 };
        assert_eq!(review.posting(None, true), Posting::Nothing);
        assert_eq!(
            Cause::ReviewWithdrawn { customer: customer(), reservation_id: 1 }.posting(None, false),
            Posting::Mark
        );
    }

    #[test]
    fn a_refund_takes_back_exactly_what_the_payment_earned() {
        let refund = Cause::Refund { customer: "010-1234-5678".into(), reservation_id: 1 };
        assert_eq!(refund.posting(Some(3_000), false).points(), -3_000);
        assert_eq!(refund.posting(Some(0), false), Posting::Nothing, "it earned nothing");
    }
}
