//! How many points what earns.

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

/// What a refund (or a withdrawn review) takes back: exactly what its payment (or review) earned,
/// nothing if it earned nothing.
pub fn refund_deduction(earned_by_payment: Option<i64>) -> i64 {
    -earned_by_payment.unwrap_or(0)
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
    fn a_refund_takes_back_exactly_what_the_payment_earned() {
        assert_eq!(refund_deduction(Some(3_000)), -3_000);
        assert_eq!(refund_deduction(None), 0);
    }
}
