//! Events of the review context (topic `review`).

use serde::{Deserialize, Serialize};

pub const REVIEW_WRITTEN: &str = "ReviewWritten";
/// A review taken down because its stay was cancelled: its rating and its points go with it.
pub const REVIEW_WITHDRAWN: &str = "ReviewWithdrawn";

/// `ReviewWritten` and `ReviewWithdrawn`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewEvent {
    pub review_id: i64,
    pub reservation_id: i64,
    pub campsite_id: i64,
    pub phone: String,
    /// 1 to 5.
    pub rating: i64,
}
