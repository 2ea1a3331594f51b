//! `GET /payments/{id}` and `GET /payments?reservationId=…`.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use skycamp_contracts::payment::Payment;
use skycamp_platform::http::{ApiError, Json, Path, Query};
use skycamp_platform::paging::Page;

use super::AppState;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    reservation_id: Option<i64>,
}

/// `GET /payments`: newest first, a page at a time; or a reservation's payment.
pub async fn list(State(state): State<AppState>, Query(q): Query<ListQuery>, page: Page) -> Result<Response, ApiError> {
    let payments = state.store.list(q.reservation_id, page.cursor_id()?, page.fetch()).await?;
    Ok(page.answer(payments, |p| p.id.to_string()))
}

pub async fn one(State(state): State<AppState>, Path(id): Path<i64>) -> Result<Json<Payment>, ApiError> {
    state.store.get(id).await?.map(Json).ok_or_else(|| ApiError::not_found(format!("payment {id} not found")))
}
