//! `GET /payments/{id}` and `GET /payments?reservationId=…`.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use skycamp_contracts::payment::Payment;
use skycamp_platform::http::{ApiError, Json, Path, Query};
use skycamp_platform::paging::Page;

use super::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    reservation_id: Option<i64>,
}

/// `GET /payments`: newest first, a page at a time; or a reservation's payment.
#[utoipa::path(
get, path = "/payments", tag = "payment", params(ListQuery, skycamp_platform::openapi::Paging),
    responses((status = 200, description = "Payments, newest first, a page at a time", body = [skycamp_contracts::payment::Payment])), security(("bearer" = ["admin"]))
)]
pub async fn list(
    State(state): State<std::sync::Arc<AppState>>,
    Query(q): Query<ListQuery>,
    page: Page,
) -> Result<Response, ApiError> {
    let payments = state.store.list(q.reservation_id, page.cursor_id()?, page.fetch()).await?;
    Ok(page.answer(payments, |p| p.id.to_string()))
}

#[utoipa::path(
get, path = "/payments/{id}", tag = "payment", params(("id" = i64, Path, description = "The payment")),
    responses((status = 200, body = skycamp_contracts::payment::Payment)), security(("bearer" = ["admin"]))
)]
pub async fn one(
    State(state): State<std::sync::Arc<AppState>>,
    Path(id): Path<i64>,
) -> Result<Json<Payment>, ApiError> {
    state.store.get(id).await?.map(Json).ok_or_else(|| ApiError::not_found(format!("payment {id} not found")))
}
