//! `POST /payments/{id}/refund`: refund a payment (by the reservation service, or an operator).

use axum::body::Bytes;
use axum::extract::State;
use serde::Deserialize;
use skycamp_contracts::payment::Payment;
use skycamp_platform::http::{ApiError, Json, Path};

use super::AppState;
use crate::domain::RefundError;

#[derive(Debug, Default, Deserialize)]
struct RefundBody {
    reason: Option<String>,
}

/// The body is optional: `{"reason": "…"}`.
pub async fn refund(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    body: Bytes,
) -> Result<Json<Payment>, ApiError> {
    let body: RefundBody = if body.iter().all(u8::is_ascii_whitespace) {
        RefundBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("malformed JSON body: {e}")))?
    };
    let reason = body.reason.as_deref().map(str::trim).filter(|r| !r.is_empty()).unwrap_or("refunded by an operator");
    let reason: String = reason.chars().take(200).collect();
    match state.store.refund(id, &reason).await? {
        Ok(p) => Ok(Json(p)),
        Err(RefundError::NotFound) => Err(ApiError::not_found(format!("payment {id} not found"))),
        Err(e @ RefundError::Declined) => Err(ApiError::conflict(e.to_string())),
    }
}
