//! `GET /flights` and `GET /flights/{id}`.

use axum::extract::State;
use axum::response::Response;
use serde::Serialize;
use skycamp_platform::http::{ApiError, Json, Path};
use skycamp_platform::paging::Page;

use crate::domain::Flight;
use crate::store::FlightStore;

/// A flight as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlightView {
    id: i64,
    flight_id: i64,
    flight_name: String,
    destination: String,
    price: i64,
    seat: i64,
    seats_left: i64,
    status: &'static str,
    version: i64,
    created_at: String,
    updated_at: String,
}

impl FlightView {
    /// The flight's id.
    pub fn id(&self) -> i64 {
        self.id
    }
}

impl From<Flight> for FlightView {
    fn from(f: Flight) -> Self {
        let seats_left = f.seats_left();
        Self {
            id: f.id,
            flight_id: f.id,
            status: if seats_left > 0 { "AVAILABLE" } else { "SOLD_OUT" },
            flight_name: f.name,
            destination: f.destination,
            price: f.price,
            seat: f.seat,
            seats_left,
            version: f.version,
            created_at: f.created_at,
            updated_at: f.updated_at,
        }
    }
}

/// `GET /flights`, by id, a page at a time.
#[utoipa::path(
get, path = "/flights", tag = "flight", params(skycamp_platform::openapi::Paging),
    responses((status = 200, description = "Flights by id, a page at a time", body = [FlightView])), security((), ("bearer" = []))
)]
pub async fn list(State(store): State<FlightStore>, page: Page) -> Result<Response, ApiError> {
    let flights: Vec<FlightView> =
        store.list(page.cursor_id()?, page.fetch()).await?.into_iter().map(FlightView::from).collect();
    Ok(page.answer(flights, |f| f.id.to_string()))
}

#[utoipa::path(
get, path = "/flights/{id}", tag = "flight", params(("id" = i64, Path, description = "The flight")),
    responses((status = 200, body = FlightView)), security((), ("bearer" = []))
)]
pub async fn one(State(store): State<FlightStore>, Path(id): Path<i64>) -> Result<Json<FlightView>, ApiError> {
    match store.get(id).await? {
        Some(f) if !f.deleted => Ok(Json(f.into())),
        _ => Err(ApiError::not_found(format!("flight {id} not found"))),
    }
}

/// A seat hold, for audits.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HoldView {
    reservation_id: i64,
    flight_id: i64,
    count: i64,
}

/// `GET /flights/holds`: every seat held, by reservation (for the reconciliation audit), a page
/// at a time.
#[utoipa::path(
get, path = "/flights/holds", tag = "flight", params(skycamp_platform::openapi::Paging),
    responses((status = 200, description = "Every seat held, by reservation", body = [HoldView])), security(("bearer" = ["admin"]))
)]
pub async fn holds(State(store): State<FlightStore>, page: Page) -> Result<Response, ApiError> {
    let holds: Vec<HoldView> = store
        .holds(page.cursor_id()?, page.fetch())
        .await?
        .into_iter()
        .map(|(reservation_id, flight_id, count)| HoldView { reservation_id, flight_id, count })
        .collect();
    Ok(page.answer(holds, |h| h.reservation_id.to_string()))
}
