//! Payments: the approval rule and what may follow what.

use skycamp_contracts::payment::Payment;
use thiserror::Error;

/// Where a payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaymentStatus {
    Approved,
    Declined,
    Refunded,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approved => "APPROVED",
            Self::Declined => "DECLINED",
            Self::Refunded => "REFUNDED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "APPROVED" => Some(Self::Approved),
            "DECLINED" => Some(Self::Declined),
            "REFUNDED" => Some(Self::Refunded),
            _ => None,
        }
    }

    /// Parses a stored status; one that names no status is a corrupt row, never a guess.
    pub fn stored(s: &str) -> anyhow::Result<Self> {
        Self::parse(s).ok_or_else(|| anyhow::anyhow!("unknown payment status {s:?}"))
    }
}

/// A request to charge for a reservation, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    pub reservation_id: i64,
    pub amount: i64,
    pub phone: String,
}

/// Why a charge request is malformed.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ChargeError {
    #[error("reservationId must be a positive number")]
    BadReservation,
    #[error("amount must be a positive number of KRW")]
    BadAmount,
    #[error("phone is required")]
    MissingPhone,
}

impl Charge {
    pub fn parse(reservation_id: i64, amount: i64, phone: &str) -> Result<Self, ChargeError> {
        if reservation_id <= 0 {
            return Err(ChargeError::BadReservation);
        }
        if amount <= 0 {
            return Err(ChargeError::BadAmount);
        }
        if phone.trim().is_empty() {
            return Err(ChargeError::MissingPhone);
        }
        Ok(Self { reservation_id, amount, phone: phone.trim().to_owned() })
    }
}

/// The card issuer stand-in: a documented, deterministic rule. Amounts above `decline_above`
/// are declined with a reason; everything else is approved.
pub fn decide(amount: i64, decline_above: i64) -> Result<(), String> {
    if amount > decline_above {
        Err(format!("amount {amount} exceeds the approval limit of {decline_above}"))
    } else {
        Ok(())
    }
}

/// What a charge request does, given the payment the reservation may already have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeDecision {
    /// The same charge again (a retry): answer with the payment already made; charge nothing.
    Repeat(Payment),
    /// The reservation already has a payment of another amount: refuse; charge nothing.
    AmountMismatch(Payment),
    /// A new payment, approved or declined with a reason.
    New(PaymentStatus, Option<String>),
}

/// Decides a charge: one payment per reservation, whatever the retries.
pub fn decide_charge(existing: Option<Payment>, charge: &Charge, decline_above: i64) -> ChargeDecision {
    match existing {
        Some(payment) if payment.amount == charge.amount => ChargeDecision::Repeat(payment),
        Some(payment) => ChargeDecision::AmountMismatch(payment),
        None => match decide(charge.amount, decline_above) {
            Ok(()) => ChargeDecision::New(PaymentStatus::Approved, None),
            Err(why) => ChargeDecision::New(PaymentStatus::Declined, Some(why)),
        },
    }
}

/// What compensating a reservation that did not go ahead does to its payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compensation {
    /// Refund the approved payment.
    Refund,
    /// Nothing to give back (declined, or refunded already).
    Nothing,
    /// No payment yet: record a declined one, so a late approval cannot charge.
    Void,
}

/// Decides the compensation for a reservation whose payment stands at `status` (None: no payment).
pub fn compensate(status: Option<PaymentStatus>) -> Compensation {
    match status {
        None => Compensation::Void,
        Some(PaymentStatus::Approved) => Compensation::Refund,
        Some(PaymentStatus::Declined | PaymentStatus::Refunded) => Compensation::Nothing,
    }
}

/// Why a refund is refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RefundError {
    #[error("payment not found")]
    NotFound,
    #[error("a declined payment has nothing to refund")]
    Declined,
}

/// What a refund does to a payment in `status`: `Ok(true)` refunds now, `Ok(false)` was already refunded.
pub fn refund_from(status: PaymentStatus) -> Result<bool, RefundError> {
    match status {
        PaymentStatus::Approved => Ok(true),
        PaymentStatus::Refunded => Ok(false),
        PaymentStatus::Declined => Err(RefundError::Declined),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_above_the_limit_are_declined_with_a_reason() {
        assert!(decide(10, 10).is_ok());
        assert_eq!(decide(11, 10).unwrap_err(), "amount 11 exceeds the approval limit of 10");
    }

    #[test]
    fn charges_need_a_reservation_a_positive_amount_and_a_phone() {
        assert_eq!(Charge::parse(0, 5, "010"), Err(ChargeError::BadReservation));
        assert_eq!(Charge::parse(1, 0, "010"), Err(ChargeError::BadAmount));
        assert_eq!(Charge::parse(1, 5, " "), Err(ChargeError::MissingPhone));
        assert!(Charge::parse(1, 5, "010").is_ok());
    }

    #[test]
    fn a_repeated_charge_is_answered_with_the_first_payment_and_never_charged_again() {
        let charge = Charge::parse(7, 300_000, "010").unwrap();
        // Given no payment, when charged, then approved (or declined above the limit).
        assert_eq!(decide_charge(None, &charge, 1_000_000), ChargeDecision::New(PaymentStatus::Approved, None));
        assert_eq!(
            decide_charge(None, &charge, 10),
            ChargeDecision::New(PaymentStatus::Declined, Some("amount 300000 exceeds the approval limit of 10".into()))
        );
        let paid = |amount| Payment {
            id: 1,
            reservation_id: 7,
            phone: "010".into(),
            amount,
            status: "APPROVED".into(),
            reason: None,
            created_at: String::new(),
            updated_at: String::new(),
        };
        // Given a payment of the same amount, when charged again, then it is a repeat.
        assert_eq!(decide_charge(Some(paid(300_000)), &charge, 1_000_000), ChargeDecision::Repeat(paid(300_000)));
        // Given a payment of another amount, then the charge is refused.
        assert_eq!(decide_charge(Some(paid(1)), &charge, 1_000_000), ChargeDecision::AmountMismatch(paid(1)));
    }

    #[test]
    fn compensation_refunds_an_approved_payment_and_voids_a_missing_one() {
        assert_eq!(compensate(Some(PaymentStatus::Approved)), Compensation::Refund);
        assert_eq!(compensate(Some(PaymentStatus::Refunded)), Compensation::Nothing);
        assert_eq!(compensate(Some(PaymentStatus::Declined)), Compensation::Nothing);
        assert_eq!(compensate(None), Compensation::Void, "a late approval must find the reservation closed");
    }

    #[test]
    fn a_stored_status_that_names_none_is_an_error() {
        assert_eq!(PaymentStatus::stored("REFUNDED").unwrap(), PaymentStatus::Refunded);
        assert!(PaymentStatus::stored("refunded").is_err());
    }

    #[test]
    fn refunding_twice_refunds_once_and_declined_payments_cannot_be_refunded() {
        assert_eq!(refund_from(PaymentStatus::Approved), Ok(true));
        assert_eq!(refund_from(PaymentStatus::Refunded), Ok(false));
        assert_eq!(refund_from(PaymentStatus::Declined), Err(RefundError::Declined));
    }
}
