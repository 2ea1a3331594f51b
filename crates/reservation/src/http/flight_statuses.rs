//! `GET /flightStatuses`: the CQRS read model of flights with seats left, built only from events.

use axum::extract::State;
use axum::response::Response;
use serde::Serialize;
use skycamp_contracts::flight::FlightSnapshot;
use skycamp_platform::http::{ApiError, Json, Path};
use skycamp_platform::paging::Page;

use super::AppState;

/// One row of the read model, with the seed's field names (`seat` is seats left now).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlightStatus {
    id: i64,
    flight_id: i64,
    flight_name: String,
    destination: String,
    price: i64,
    seat: i64,
    total_seats: i64,
    status: &'static str,
}

impl From<FlightSnapshot> for FlightStatus {
    fn from(f: FlightSnapshot) -> Self {
        let status = match (f.deleted, f.seats_left) {
            (true, _) => "WITHDRAWN",
            (false, 0) => "SOLD_OUT",
            _ => "AVAILABLE",
        };
        Self {
            id: f.flight_id,
            flight_id: f.flight_id,
            flight_name: f.flight_name,
            destination: f.destination,
            price: f.price,
            seat: f.seats_left,
            total_seats: f.seat,
            status,
        }
    }
}

/// `GET /flightStatuses`, by flight, a page at a time.
#[utoipa::path(
get, path = "/flightStatuses", tag = "reservation", params(skycamp_platform::openapi::Paging),
    responses((status = 200, description = "Seats left per flight", body = [FlightStatus])), security((), ("bearer" = []))
)]
pub async fn list(State(state): State<AppState>, page: Page) -> Result<Response, ApiError> {
    let after = page.cursor_id()?.unwrap_or(0);
    let rows = state.catalogue.flight_statuses(None, after, page.fetch()).await?;
    Ok(page.answer(rows.into_iter().map(FlightStatus::from).collect(), |f: &FlightStatus| f.id.to_string()))
}

#[utoipa::path(
get, path = "/flightStatuses/{flight_id}", tag = "reservation", params(("flight_id" = i64, Path, description = "The flight")),
    responses((status = 200, body = FlightStatus)), security((), ("bearer" = []))
)]
pub async fn one(State(state): State<AppState>, Path(flight_id): Path<i64>) -> Result<Json<FlightStatus>, ApiError> {
    let found = state.catalogue.flight_status(flight_id).await?.filter(|f| !f.deleted);
    found.map(|f| Json(f.into())).ok_or_else(|| ApiError::not_found(format!("flight {flight_id} not found")))
}
