//! `PUT`, `PATCH` and `DELETE /flights/{id}`.

use axum::extract::State;
use axum::http::StatusCode;
use skycamp_platform::http::{ApiError, Json, Path};

use super::change_error;
use super::register::FlightBody;
use super::view::FlightView;
use crate::domain::{FlightChange, NewFlight};
use crate::store::FlightStore;

/// `PUT`: every field is required.
#[utoipa::path(
put, path = "/flights/{id}", tag = "flight", params(("id" = i64, Path, description = "The flight")), request_body = FlightBody,
    responses((status = 200, body = FlightView)), security(("bearer" = ["admin"]))
)]
pub async fn replace(
    State(store): State<FlightStore>,
    Path(id): Path<i64>,
    Json(body): Json<FlightBody>,
) -> Result<Json<FlightView>, ApiError> {
    let full = NewFlight::try_from(body)?;
    let change = FlightChange {
        name: Some(full.name),
        destination: Some(full.destination),
        price: Some(full.price),
        seat: Some(full.seat),
    };
    apply(store, id, change).await
}

/// `PATCH`: only the fields present change.
#[utoipa::path(
patch, path = "/flights/{id}", tag = "flight", params(("id" = i64, Path, description = "The flight")), request_body = FlightBody,
    responses((status = 200, body = FlightView)), security(("bearer" = ["admin"]))
)]
pub async fn patch(
    State(store): State<FlightStore>,
    Path(id): Path<i64>,
    Json(body): Json<FlightBody>,
) -> Result<Json<FlightView>, ApiError> {
    // Only unknown fields (a typo) would otherwise answer 200 and change nothing; `{}` is a
    // valid empty patch and does answer 200.
    if let Some(refusal) = body.only_unknown_fields() {
        return Err(refusal.into());
    }
    apply(store, id, FlightChange::try_from(body)?).await
}

async fn apply(store: FlightStore, id: i64, change: FlightChange) -> Result<Json<FlightView>, ApiError> {
    let flight = store.change(id, &change).await?.map_err(change_error)?;
    Ok(Json(flight.into()))
}

#[utoipa::path(
delete, path = "/flights/{id}", tag = "flight", params(("id" = i64, Path, description = "The flight")),
    responses((status = 204, description = "Withdrawn")), security(("bearer" = ["admin"]))
)]
pub async fn delete(State(store): State<FlightStore>, Path(id): Path<i64>) -> Result<StatusCode, ApiError> {
    store.delete(id).await?.map_err(change_error)?;
    Ok(StatusCode::NO_CONTENT)
}
