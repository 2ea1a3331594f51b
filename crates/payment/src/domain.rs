//! Payments: the approval rule and what may follow what.

use thiserror::Error;

/// Where a payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    fn refunding_twice_refunds_once_and_declined_payments_cannot_be_refunded() {
        assert_eq!(refund_from(PaymentStatus::Approved), Ok(true));
        assert_eq!(refund_from(PaymentStatus::Refunded), Ok(false));
        assert_eq!(refund_from(PaymentStatus::Declined), Err(RefundError::Declined));
    }
}
