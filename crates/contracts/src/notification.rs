//! Events of the notification context (topic `notification`).

use serde::{Deserialize, Serialize};

pub const NOTIFICATION_SENT: &str = "NotificationSent";

/// `NotificationSent`: a message to a customer was stored for delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationEvent {
    pub message_id: i64,
    pub reservation_id: i64,
    pub phone: String,
    /// What the message is about: `confirmed`, `rejected`, `cancelled` or `refunded`.
    pub topic: String,
}
