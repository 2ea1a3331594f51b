//! `POST /flights`: an admin registers a flight.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use skycamp_platform::http::{ApiError, Json, lenient};
use skycamp_platform::idempotency::{Idempotent, Key};

use super::view::FlightView;
use crate::domain::{FlightChange, Invalid, Label, NewFlight, Price, SeatCapacity};
use crate::store::FlightStore;

/// The body of `POST`, `PUT` and `PATCH /flights`; which fields are required depends on the verb.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlightBody {
    flight_name: Option<String>,
    destination: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    price: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    seat: Option<i64>,
    /// Fields a flight does not have; kept only to refuse a PATCH made of nothing else.
    #[serde(flatten)]
    #[schema(ignore)]
    unknown: std::collections::BTreeMap<String, serde_json::Value>,
}

impl FlightBody {
    /// When the body names fields, but none a flight has (a typo: `seats`), what to answer.
    pub fn only_unknown_fields(&self) -> Option<Invalid> {
        let known =
            self.flight_name.is_some() || self.destination.is_some() || self.price.is_some() || self.seat.is_some();
        Invalid::only_unknown(known, self.unknown.keys().map(String::as_str), "flightName, destination, price or seat")
    }
}

impl TryFrom<FlightBody> for FlightChange {
    type Error = Invalid;

    fn try_from(b: FlightBody) -> Result<Self, Invalid> {
        Ok(Self {
            name: b.flight_name.as_deref().map(|v| Label::parse("flightName", v)).transpose()?,
            destination: b.destination.as_deref().map(|v| Label::parse("destination", v)).transpose()?,
            price: b.price.map(Price::parse).transpose()?,
            seat: b.seat.map(SeatCapacity::parse).transpose()?,
        })
    }
}

impl TryFrom<FlightBody> for NewFlight {
    type Error = Invalid;

    fn try_from(b: FlightBody) -> Result<Self, Invalid> {
        let c = FlightChange::try_from(b)?;
        let missing = |field: &str| Invalid(format!("{field} is required"));
        Ok(Self {
            name: c.name.ok_or_else(|| missing("flightName"))?,
            destination: c.destination.ok_or_else(|| missing("destination"))?,
            price: c.price.ok_or_else(|| missing("price"))?,
            seat: c.seat.ok_or_else(|| missing("seat"))?,
        })
    }
}

/// With an `Idempotency-Key`, a retry after the first attempt registered the flight answers with
/// that flight instead of registering a second one.
#[utoipa::path(
post, path = "/flights", tag = "flight", request_body = FlightBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry answer with the first flight")),
    responses((status = 201, body = FlightView, headers(("location" = String)))), security(("bearer" = ["admin"]))
)]
pub async fn register(
    State(store): State<FlightStore>,
    Key(key): Key,
    Json(body): Json<FlightBody>,
) -> Result<Response, ApiError> {
    if let Some(id) = key.as_ref().and_then(Idempotent::resumed) {
        let flight = store.get(id).await?.ok_or_else(|| anyhow::anyhow!("flight {id} of a key vanished"))?;
        return Ok(created(flight.into()));
    }
    let new = NewFlight::try_from(body)?;
    let flight = store.register(&new, key.as_ref()).await?;
    tracing::info!(flight_id = flight.id, "flight registered");
    Ok(created(flight.into()))
}

fn created(flight: FlightView) -> Response {
    let location = format!("/flights/{}", flight.id());
    (StatusCode::CREATED, [(header::LOCATION, location)], Json(flight)).into_response()
}
