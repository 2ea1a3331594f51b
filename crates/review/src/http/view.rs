//! `GET /reviews` and `GET /reviews/{id}`.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use skycamp_contracts::customer::Phone;
use skycamp_platform::auth::Caller;
use skycamp_platform::http::{ApiError, Json, Path, Query};
use skycamp_platform::paging::Page;

use crate::domain::Review;
use crate::store::ReviewStore;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    campsite_id: Option<i64>,
    phone: Option<String>,
}

/// `GET /reviews?campsiteId=…&phone=…`, newest first, a page at a time. Anyone may read reviews;
/// only their writer (or an admin) sees a whole phone number, and only they may ask for one
/// customer's reviews.
#[utoipa::path(
get, path = "/reviews", tag = "review", params(ListQuery, skycamp_platform::openapi::Paging),
    responses((status = 200, description = "Reviews, newest first; the writer's phone is masked for others", body = [crate::domain::Review])), security((), ("bearer" = []))
)]
pub async fn list(
    State(store): State<ReviewStore>,
    caller: Caller,
    Query(q): Query<ListQuery>,
    page: Page,
) -> Result<Response, ApiError> {
    let phone = q.phone.as_deref().map(Phone::parse).transpose().map_err(|e| ApiError::unprocessable(e.to_string()))?;
    if let Some(phone) = &phone {
        caller.act_for(phone.as_str())?;
    }
    let reviews = store.list(q.campsite_id, phone.as_ref().map(Phone::as_str), page.cursor_id()?, page.fetch()).await?;
    let reviews: Vec<Review> = reviews.into_iter().map(|r| shown_to(&caller, r)).collect();
    Ok(page.answer(reviews, |r| r.id.to_string()))
}

#[utoipa::path(
get, path = "/reviews/{id}", tag = "review", params(("id" = i64, Path, description = "The review")),
    responses((status = 200, body = crate::domain::Review)), security((), ("bearer" = []))
)]
pub async fn one(
    State(store): State<ReviewStore>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Review>, ApiError> {
    let review = store.get(id).await?.ok_or_else(|| ApiError::not_found(format!("review {id} not found")))?;
    Ok(Json(shown_to(&caller, review)))
}

/// The review as `caller` may see it: the writer's phone masked unless it is theirs.
fn shown_to(caller: &Caller, mut review: Review) -> Review {
    if caller.act_for(&review.phone).is_err() {
        review.phone = skycamp_contracts::customer::masked(&review.phone);
    }
    review
}
