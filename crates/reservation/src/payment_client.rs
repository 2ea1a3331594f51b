//! The typed client for the payment service's synchronous API. Every call has the timeout set
//! in the constructor; any failure to get an answer is [`PaymentError::Unavailable`].

use std::time::Duration;

use skycamp_contracts::payment::{ApprovePayment, Payment};

/// Why a payment call did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// The payment service answered "declined" (402).
    #[error("{0}")]
    Declined(String),
    /// No usable answer: connection refused, timeout, 5xx, or an answer we did not expect.
    #[error("payment service unavailable: {0}")]
    Unavailable(String),
}

/// Calls the payment service.
#[derive(Clone, Debug)]
pub struct PaymentClient {
    http: reqwest::Client,
    base: String,
}

impl PaymentClient {
    /// A client for the payment service at `base` (e.g. `http://127.0.0.1:8083`), giving up after `timeout`.
    pub fn new(base: &str, timeout: Duration) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(timeout).connect_timeout(timeout).build()?;
        Ok(Self { http, base: base.trim_end_matches('/').to_owned() })
    }

    /// Charges for a reservation; idempotent on the reservation id.
    pub async fn approve(&self, request: &ApprovePayment) -> Result<Payment, PaymentError> {
        let response = self.http.post(format!("{}/payments", self.base)).json(request).send().await;
        Self::read(response).await
    }

    /// Refunds a payment; idempotent.
    pub async fn refund(&self, payment_id: i64, reason: &str) -> Result<Payment, PaymentError> {
        let response = self
            .http
            .post(format!("{}/payments/{payment_id}/refund", self.base))
            .json(&serde_json::json!({ "reason": reason }))
            .send()
            .await;
        Self::read(response).await
    }

    /// The payment for a reservation, if any.
    pub async fn find_by_reservation(&self, reservation_id: i64) -> Result<Option<Payment>, PaymentError> {
        let response =
            self.http.get(format!("{}/payments", self.base)).query(&[("reservationId", reservation_id)]).send().await;
        let payments: Vec<Payment> = Self::read(response).await?;
        Ok(payments.into_iter().next())
    }

    async fn read<T: serde::de::DeserializeOwned>(
        response: reqwest::Result<reqwest::Response>,
    ) -> Result<T, PaymentError> {
        let response = response.map_err(|e| PaymentError::Unavailable(e.to_string()))?;
        let status = response.status();
        if status == reqwest::StatusCode::PAYMENT_REQUIRED {
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            let detail = body["detail"].as_str().unwrap_or("payment declined").to_owned();
            return Err(PaymentError::Declined(detail));
        }
        if !status.is_success() {
            return Err(PaymentError::Unavailable(format!("payment service answered {status}")));
        }
        response.json().await.map_err(|e| PaymentError::Unavailable(format!("unreadable answer: {e}")))
    }
}
