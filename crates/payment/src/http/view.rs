//! `GET /payments/{id}` and `GET /payments?reservationId=…`.

use axum::extract::State;
use serde::Deserialize;
use skycamp_contracts::payment::Payment;
use skycamp_platform::http::{ApiError, Json, Path, Query};

use super::AppState;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    reservation_id: Option<i64>,
    limit: Option<i64>,
    /// Paging: only ids below this one.
    before: Option<i64>,
}

pub async fn list(State(state): State<AppState>, Query(q): Query<ListQuery>) -> Result<Json<Vec<Payment>>, ApiError> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    Ok(Json(state.store.list(q.reservation_id, q.before, limit).await?))
}

pub async fn one(State(state): State<AppState>, Path(id): Path<i64>) -> Result<Json<Payment>, ApiError> {
    state.store.get(id).await?.map(Json).ok_or_else(|| ApiError::not_found(format!("payment {id} not found")))
}
