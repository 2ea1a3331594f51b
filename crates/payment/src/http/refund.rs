//! `POST /payments/{id}/refund`: refund a payment (by the reservation service, or an operator).

use axum::extract::State;
use serde::Deserialize;
use skycamp_contracts::payment::Payment;
use skycamp_platform::http::{ApiError, Json, OptionalJson, Path};

use super::AppState;
use crate::domain::RefundError;

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct RefundBody {
    reason: Option<String>,
}

/// The body is optional: `{"reason": "…"}` (one line; longer than 200 characters is cut).
#[utoipa::path(
post, path = "/payments/{id}/refund", tag = "payment", params(("id" = i64, Path, description = "The payment"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry answer with the first refund")),
    request_body(content = Option<RefundBody>, description = "Optional: why"),
    responses((status = 200, description = "Refunded (also when it already was)", body = skycamp_contracts::payment::Payment)), security(("bearer" = ["admin"]))
)]
pub async fn refund(
    State(state): State<std::sync::Arc<AppState>>,
    Path(id): Path<i64>,
    OptionalJson(body): OptionalJson<RefundBody>,
) -> Result<Json<Payment>, ApiError> {
    let reason = match body.reason.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
        None => "refunded by an operator".to_owned(),
        Some(r) => {
            let cut: String = r.chars().take(200).collect();
            skycamp_contracts::text::single_line("reason", &cut, 1, 200).map_err(ApiError::unprocessable)?
        }
    };
    match state.store.refund(id, &reason).await? {
        Ok(p) => Ok(Json(p)),
        Err(RefundError::NotFound) => Err(ApiError::not_found(format!("payment {id} not found"))),
        Err(e @ RefundError::Declined) => Err(ApiError::conflict(e.to_string())),
    }
}
