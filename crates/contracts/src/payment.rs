//! Events and the synchronous API of the payment context (topic `payment`).

use serde::{Deserialize, Serialize};

pub const PAYMENT_APPROVED: &str = "PaymentApproved";
pub const PAYMENT_CANCELLED: &str = "PaymentCancelled";

/// `PaymentApproved` and `PaymentCancelled` (a refund).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentEvent {
    pub payment_id: i64,
    pub reservation_id: i64,
    pub phone: String,
    pub amount: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The body of `POST /payments`: charge `amount` for a reservation (idempotent on `reservationId`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovePayment {
    pub reservation_id: i64,
    pub amount: i64,
    pub phone: String,
}

/// A payment as the payment service shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    pub id: i64,
    pub reservation_id: i64,
    pub phone: String,
    pub amount: i64,
    /// `APPROVED`, `DECLINED` or `REFUNDED`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}
