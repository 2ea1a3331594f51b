//! `POST /reviews`: a customer reviews a stay.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use skycamp_contracts::customer::Phone;
use skycamp_platform::auth::Caller;
use skycamp_platform::http::{ApiError, Json, lenient};
use skycamp_platform::idempotency::{Idempotent, Key};

use crate::domain::Review;
use crate::domain::{NewReview, Refusal};
use crate::store::ReviewStore;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReviewBody {
    #[serde(default, deserialize_with = "lenient::opt_int")]
    campsite_id: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    reservation_id: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    rating: Option<i64>,
    text: Option<String>,
    phone: Option<String>,
}

impl TryFrom<ReviewBody> for NewReview {
    type Error = ApiError;

    fn try_from(b: ReviewBody) -> Result<Self, ApiError> {
        let required = |field: &str| ApiError::unprocessable(format!("{field} is required"));
        let phone = Phone::parse(&b.phone.ok_or_else(|| required("phone"))?)
            .map_err(|e| ApiError::unprocessable(e.to_string()))?;
        NewReview::parse(
            b.campsite_id.ok_or_else(|| required("campsiteId"))?,
            b.reservation_id,
            b.rating.ok_or_else(|| required("rating"))?,
            b.text.as_deref().unwrap_or_default(),
            phone.as_str(),
        )
        .map_err(ApiError::from)
    }
}

/// `POST /reviews`. With an `Idempotency-Key`, a retry after the first attempt wrote the review
/// answers with that review.
#[utoipa::path(
post, path = "/reviews", tag = "review", request_body = ReviewBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry answer with the first review")),
    responses((status = 201, body = crate::domain::Review, headers(("location" = String)))), security(("bearer" = ["customer", "admin"]))
)]
pub async fn write(
    State(store): State<ReviewStore>,
    caller: Caller,
    Key(key): Key,
    Json(mut body): Json<ReviewBody>,
) -> Result<Response, ApiError> {
    // A customer reviews as themselves; only an admin may write for another customer.
    body.phone = caller.whose(body.phone.take())?;
    if let Some(id) = key.as_ref().and_then(Idempotent::resumed) {
        let review = store.get(id).await?.ok_or_else(|| ApiError::not_found(format!("review {id} was withdrawn")))?;
        return Ok(created(review));
    }
    let new = NewReview::try_from(body)?;
    match store.write(&new, key.as_ref()).await? {
        Ok(review) => Ok(created(review)),
        Err(r @ Refusal::AlreadyReviewed) => Err(ApiError::conflict(r.to_string())),
        Err(r) => Err(ApiError::new(StatusCode::FORBIDDEN, r.to_string())),
    }
}

fn created(review: Review) -> Response {
    let location = format!("/reviews/{}", review.id);
    (StatusCode::CREATED, [(header::LOCATION, location)], Json(review)).into_response()
}
