//! `POST /reservations`: the seed's booking form (`reserveStatus=place`) for a flight
//! (`flightId`, `count`) or a campsite (`campsiteId`, `checkIn`, `checkOut`, `guests`), and its
//! cancel form (`reserveStatus=cancel`). Booking runs saga steps 1–3: validate against the read
//! model, store `PENDING_PAYMENT`, charge synchronously, then `PAID` + `ReservationPlaced` and
//! 201 at once.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use skycamp_contracts::payment::ApprovePayment;
use skycamp_contracts::reservation::Booked;
use skycamp_platform::http::{ApiError, Json, lenient};

use super::view::ReservationView;
use super::{AppState, cancel, payment_busy};
use crate::domain::values::{check_against_campsite, check_against_catalogue, parse_email, parse_name};
use crate::domain::{Invalid, Phone, SagaInput, SeatCount, Status, Stay};
use crate::payment_client::PaymentError;
use crate::store::{Applied, NewReservation};

/// Every form of the seed's `POST /reservations` body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReservationBody {
    #[serde(default, deserialize_with = "lenient::opt_int")]
    flight_id: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    campsite_id: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    reservation_id: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    count: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    guests: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    price: Option<i64>,
    check_in: Option<String>,
    check_out: Option<String>,
    phone: Option<String>,
    email: Option<String>,
    name: Option<String>,
    reserve_status: Option<String>,
}

/// Who is booking, validated.
struct Customer {
    phone: Phone,
    email: Option<String>,
    name: Option<String>,
}

impl TryFrom<&ReservationBody> for Customer {
    type Error = Invalid;

    fn try_from(b: &ReservationBody) -> Result<Self, Invalid> {
        let phone = b.phone.as_deref().ok_or_else(|| Invalid("phone is required".into()))?;
        Ok(Self {
            phone: Phone::parse(phone)?,
            email: parse_email(b.email.as_deref())?,
            name: parse_name(b.name.as_deref())?,
        })
    }
}

pub async fn place_or_cancel(
    State(state): State<AppState>,
    Json(body): Json<ReservationBody>,
) -> Result<Response, ApiError> {
    match body.reserve_status.as_deref().map(str::trim).map(str::to_ascii_lowercase).as_deref() {
        None | Some("place") => {
            let customer = Customer::try_from(&body)?;
            let new = match (body.flight_id, body.campsite_id) {
                (Some(flight_id), None) => flight_booking(&state, &body, flight_id, customer).await?,
                (None, Some(campsite_id)) => campsite_booking(&state, &body, campsite_id, customer).await?,
                (Some(_), Some(_)) => {
                    return Err(ApiError::unprocessable("book either a flightId or a campsiteId, not both"));
                }
                (None, None) => return Err(ApiError::unprocessable("flightId or campsiteId is required")),
            };
            place(state, new).await
        }
        Some("cancel") => {
            let id =
                body.reservation_id.ok_or_else(|| ApiError::unprocessable("reservationId is required to cancel"))?;
            cancel::cancel_reservation(&state, id, body.count).await.map(IntoResponse::into_response)
        }
        Some(other) => {
            Err(ApiError::unprocessable(format!("reserveStatus must be \"place\" or \"cancel\", not {other:?}")))
        }
    }
}

async fn flight_booking(
    state: &AppState,
    b: &ReservationBody,
    flight_id: i64,
    c: Customer,
) -> Result<NewReservation, ApiError> {
    let count = SeatCount::parse(b.count.unwrap_or(1))?;
    let flight = state
        .store
        .flight_statuses(Some(flight_id))
        .await?
        .into_iter()
        .find(|f| f.flight_id == flight_id && !f.deleted)
        .ok_or_else(|| ApiError::not_found(format!("flight {flight_id} not found")))?;
    check_against_catalogue(count, b.price, flight.price, flight.seat)?;
    Ok(NewReservation {
        item: Booked::Flight { flight_id, count: count.get() },
        unit_price: flight.price,
        units: count.get(),
        phone: c.phone.as_str().to_owned(),
        email: c.email,
        name: c.name,
    })
}

async fn campsite_booking(
    state: &AppState,
    b: &ReservationBody,
    campsite_id: i64,
    c: Customer,
) -> Result<NewReservation, ApiError> {
    let required = |field: &str| Invalid(format!("{field} is required"));
    let check_in = b.check_in.as_deref().ok_or_else(|| required("checkIn"))?;
    let check_out = b.check_out.as_deref().ok_or_else(|| required("checkOut"))?;
    let stay = Stay::parse(check_in, check_out, state.clock.today(), state.max_nights)?;
    let guests = b.guests.or(b.count).unwrap_or(1);
    let today = state.clock.today().to_string();
    let site = state
        .store
        .campsite_statuses(Some(campsite_id), &today, &today)
        .await?
        .into_iter()
        .find(|s| s.campsite.campsite_id == campsite_id && !s.campsite.deleted)
        .ok_or_else(|| ApiError::not_found(format!("campsite {campsite_id} not found")))?
        .campsite;
    check_against_campsite(guests, b.price, site.price_per_night, site.capacity)?;
    Ok(NewReservation {
        item: Booked::Campsite {
            campsite_id,
            check_in: stay.check_in.to_string(),
            check_out: stay.check_out.to_string(),
            guests,
        },
        unit_price: site.price_per_night,
        units: stay.nights,
        phone: c.phone.as_str().to_owned(),
        email: c.email,
        name: c.name,
    })
}

async fn place(state: AppState, new: NewReservation) -> Result<Response, ApiError> {
    if let Some(wait) = state.payments.refusing_for().await {
        // Fail fast: payment is known to be down, so nothing is written and nothing charged.
        return Err(ApiError::unavailable(
            "payment is busy, try again shortly; nothing was charged",
            wait.as_secs_f64().ceil().max(1.0) as u64,
        ));
    }
    let pending = state.store.create_pending(&new).await?;
    let charge = ApprovePayment { reservation_id: pending.id, amount: pending.amount, phone: pending.phone.clone() };
    let input = match state.payments.approve(&charge).await {
        Ok(p) => SagaInput::PaymentApproved { payment_id: p.id },
        Err(PaymentError::Declined(reason)) => SagaInput::PaymentDeclined { reason },
        Err(PaymentError::CircuitOpen) => SagaInput::PaymentUnavailable { reason: "payment circuit open".into() },
        Err(PaymentError::Unavailable(reason)) => {
            tracing::warn!(reservation_id = pending.id, %reason, "payment unavailable; rejecting the reservation");
            SagaInput::PaymentUnavailable { reason: "payment unavailable".into() }
        }
    };
    let reservation = match state.store.apply(pending.id, &input, None).await? {
        Applied::Moved(r) | Applied::Ignored(r) => r,
        Applied::Duplicate | Applied::Missing => {
            return Err(anyhow::anyhow!("reservation {} vanished", pending.id).into());
        }
    };
    match (reservation.status, input) {
        (Status::Paid, _) => {
            tracing::info!(reservation_id = reservation.id, amount = reservation.amount, "reservation placed");
            let location = format!("/reservations/{}", reservation.id);
            Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(ReservationView::from(reservation)))
                .into_response())
        }
        (_, SagaInput::PaymentDeclined { reason }) => Err(ApiError::new(
            StatusCode::PAYMENT_REQUIRED,
            format!("reservation {} rejected: {reason}", reservation.id),
        )),
        _ => Err(payment_busy(&state)),
    }
}
