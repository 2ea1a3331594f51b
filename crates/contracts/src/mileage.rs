//! Events of the mileage context (topic `mileage`).

use serde::{Deserialize, Serialize};

pub const MILEAGE_ACCRUED: &str = "MileageAccrued";
pub const MILEAGE_DEDUCTED: &str = "MileageDeducted";

/// One ledger entry and the balance after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MileageEvent {
    pub entry_id: i64,
    /// The customer (their phone number).
    pub customer: String,
    /// Points added (positive) or taken (negative).
    pub points: i64,
    pub balance: i64,
    /// The reservation the entry is about, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation_id: Option<i64>,
    /// The event that caused the entry, e.g. `PaymentApproved`.
    pub cause: String,
}
