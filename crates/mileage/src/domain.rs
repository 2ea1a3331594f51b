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
    /// Nothing to write: it earned nothing, or there was nothing to take back.
    Nothing,
}

impl Posting {
    /// The signed points of the ledger entry.
    pub fn points(self) -> i64 {
        match self {
            Self::Accrue(p) => p,
            Self::Deduct(p) => -p,
            Self::Nothing => 0,
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

    /// Decides the posting, given what the entry it takes back earned (see [`Cause::takes_back`]).
    pub fn posting(&self, earned_by_taken_back: Option<i64>) -> Posting {
        let points = match self {
            Self::Payment { points, .. } | Self::Review { points, .. } => *points,
            Self::Refund { .. } | Self::ReviewWithdrawn { .. } => refund_deduction(earned_by_taken_back),
        };
        match points {
            0 => Posting::Nothing,
            p if p > 0 => Posting::Accrue(p),
            p => Posting::Deduct(-p),
        }
    }
}

/// What a refund (or a withdrawn review) takes back: exactly what its payment (or review) earned,
/// nothing if it earned nothing.
pub fn refund_deduction(earned_by_payment: Option<i64>) -> i64 {
    -earned_by_payment.unwrap_or(0)
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
        assert_eq!(paid.takes_back(), None);
        assert_eq!(paid.posting(None), Posting::Accrue(3_000));
        let refund = Cause::Refund { customer: customer(), reservation_id: 1 };
        assert_eq!(refund.takes_back(), Some("PaymentApproved"));
        assert_eq!(refund.posting(Some(3_000)), Posting::Deduct(3_000));
        assert_eq!(refund.posting(None), Posting::Nothing, "a refund of a payment that earned nothing");
        let withdrawn = Cause::ReviewWithdrawn { customer: customer(), reservation_id: 1 };
        assert_eq!(withdrawn.takes_back(), Some("ReviewWritten"));
        assert_eq!(withdrawn.posting(Some(500)).points(), -500);
        let small = Cause::Payment { customer: customer(), reservation_id: 2, points: 0 };
        assert_eq!(small.posting(None), Posting::Nothing, "a payment too small to earn writes nothing");
    }

    #[test]
    fn a_refund_takes_back_exactly_what_the_payment_earned() {
        assert_eq!(refund_deduction(Some(3_000)), -3_000);
        assert_eq!(refund_deduction(None), 0);
    }
}
