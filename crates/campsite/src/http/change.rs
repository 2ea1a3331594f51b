//! `PUT`, `PATCH` and `DELETE /campsites/{id}`.

use axum::extract::State;
use axum::http::StatusCode;
use skycamp_platform::http::{ApiError, Json, Path};

use super::change_error;
use super::register::CampsiteBody;
use super::view::CampsiteView;
use crate::domain::CampsiteChange;
use crate::store::CampsiteStore;

#[utoipa::path(
put, path = "/campsites/{id}", tag = "campsite", params(("id" = i64, Path, description = "The campsite")), request_body = CampsiteBody,
    responses((status = 200, body = CampsiteView)), security(("bearer" = ["admin"]))
)]
pub async fn replace(
    State(store): State<CampsiteStore>,
    Path(id): Path<i64>,
    Json(body): Json<CampsiteBody>,
) -> Result<Json<CampsiteView>, ApiError> {
    let mut change = CampsiteChange::try_from(body)?;
    change.require_complete()?;
    change.description.get_or_insert_default();
    change.amenities.get_or_insert_default();
    Ok(Json(store.change(id, &change).await?.map_err(change_error)?.into()))
}

#[utoipa::path(
patch, path = "/campsites/{id}", tag = "campsite", params(("id" = i64, Path, description = "The campsite")), request_body = CampsiteBody,
    responses((status = 200, body = CampsiteView)), security(("bearer" = ["admin"]))
)]
pub async fn patch(
    State(store): State<CampsiteStore>,
    Path(id): Path<i64>,
    Json(body): Json<CampsiteBody>,
) -> Result<Json<CampsiteView>, ApiError> {
    // Only unknown fields (a typo) would otherwise answer 200 and change nothing; `{}` is a
    // valid empty patch and does answer 200.
    if let Some(refusal) = body.only_unknown_fields() {
        return Err(refusal.into());
    }
    let change = CampsiteChange::try_from(body)?;
    Ok(Json(store.change(id, &change).await?.map_err(change_error)?.into()))
}

#[utoipa::path(
delete, path = "/campsites/{id}", tag = "campsite", params(("id" = i64, Path, description = "The campsite")),
    responses((status = 204, description = "Deleted")), security(("bearer" = ["admin"]))
)]
pub async fn delete(State(store): State<CampsiteStore>, Path(id): Path<i64>) -> Result<StatusCode, ApiError> {
    store.delete(id).await?.map_err(change_error)?;
    Ok(StatusCode::NO_CONTENT)
}
