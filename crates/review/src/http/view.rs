//! `GET /reviews` and `GET /reviews/{id}`.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use skycamp_contracts::customer::Phone;
use skycamp_platform::http::{ApiError, Json, Path, Query};
use skycamp_platform::paging::Page;

use crate::domain::Review;
use crate::store::ReviewStore;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    campsite_id: Option<i64>,
    phone: Option<String>,
}

/// `GET /reviews?campsiteId=…&phone=…`, newest first, a page at a time.
pub async fn list(
    State(store): State<ReviewStore>,
    Query(q): Query<ListQuery>,
    page: Page,
) -> Result<Response, ApiError> {
    let phone = q.phone.as_deref().map(Phone::parse).transpose().map_err(|e| ApiError::unprocessable(e.to_string()))?;
    let reviews = store.list(q.campsite_id, phone.as_ref().map(Phone::as_str), page.cursor_id()?, page.fetch()).await?;
    Ok(page.answer(reviews, |r| r.id.to_string()))
}

pub async fn one(State(store): State<ReviewStore>, Path(id): Path<i64>) -> Result<Json<Review>, ApiError> {
    store.get(id).await?.map(Json).ok_or_else(|| ApiError::not_found(format!("review {id} not found")))
}
