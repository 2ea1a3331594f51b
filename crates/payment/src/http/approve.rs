//! `POST /payments`: charge for a reservation. 201 approved, 402 declined; a repeat answers the
//! first result (200), a repeat with another amount is a 409.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use skycamp_platform::http::{ApiError, Json, lenient};

use super::AppState;
use crate::domain::Charge;
use crate::store::Approval;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApproveBody {
    #[serde(deserialize_with = "lenient::int")]
    reservation_id: i64,
    #[serde(deserialize_with = "lenient::int")]
    amount: i64,
    phone: String,
}

pub async fn approve(
    State(state): State<std::sync::Arc<AppState>>,
    Json(body): Json<ApproveBody>,
) -> Result<Response, ApiError> {
    tracing::Span::current().record("reservation_id", body.reservation_id);
    let charge = Charge::parse(body.reservation_id, body.amount, &body.phone)
        .map_err(|e| ApiError::unprocessable(e.to_string()))?;
    let (status, payment) = match state.store.approve(&charge, state.config.decline_above).await? {
        Approval::Created(p) => (StatusCode::CREATED, p),
        Approval::Existing(p) => (StatusCode::OK, p),
        Approval::AmountMismatch(p) => {
            return Err(ApiError::conflict(format!(
                "reservation {} was already charged {} KRW (payment {})",
                p.reservation_id, p.amount, p.id
            )));
        }
    };
    if payment.status != "APPROVED" {
        let why = payment.reason.clone().unwrap_or_else(|| "payment declined".into());
        return Err(ApiError::new(StatusCode::PAYMENT_REQUIRED, format!("payment {} declined: {why}", payment.id)));
    }
    tracing::info!(
        payment_id = payment.id,
        reservation_id = payment.reservation_id,
        amount = payment.amount,
        "payment approved"
    );
    Ok((status, Json(payment)).into_response())
}
