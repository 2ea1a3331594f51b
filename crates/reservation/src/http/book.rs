//! `POST /reservations`: the seed's booking form (`reserveStatus=place`) and cancel form
//! (`reserveStatus=cancel`). Booking runs saga steps 1–3: validate against the read model, store
//! `PENDING_PAYMENT`, charge synchronously, then `PAID` + `ReservationPlaced` and 201 at once.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use skycamp_contracts::payment::ApprovePayment;
use skycamp_platform::http::{ApiError, Json, lenient};

use super::view::ReservationView;
use super::{AppState, cancel, payment_busy};
use crate::domain::values::check_against_catalogue;
use crate::domain::{Invalid, Phone, SagaInput, SeatCount, Status};
use crate::payment_client::PaymentError;
use crate::store::{Applied, NewReservation};

/// Both forms of the seed's `POST /reservations` body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReservationBody {
    #[serde(default, deserialize_with = "lenient::opt_int")]
    flight_id: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    reservation_id: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    count: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_int")]
    price: Option<i64>,
    phone: Option<String>,
    reserve_status: Option<String>,
}

/// A booking request, validated.
#[derive(Debug)]
struct BookFlight {
    flight_id: i64,
    count: SeatCount,
    client_price: Option<i64>,
    phone: Phone,
}

impl TryFrom<&ReservationBody> for BookFlight {
    type Error = Invalid;

    fn try_from(b: &ReservationBody) -> Result<Self, Invalid> {
        Ok(Self {
            flight_id: b.flight_id.ok_or_else(|| Invalid("flightId is required".into()))?,
            count: SeatCount::parse(b.count.unwrap_or(1))?,
            client_price: b.price,
            phone: Phone::parse(b.phone.as_deref().ok_or_else(|| Invalid("phone is required".into()))?)?,
        })
    }
}

pub async fn place_or_cancel(
    State(state): State<AppState>,
    Json(body): Json<ReservationBody>,
) -> Result<Response, ApiError> {
    match body.reserve_status.as_deref().map(str::trim).map(str::to_ascii_lowercase).as_deref() {
        None | Some("place") => place(state, BookFlight::try_from(&body)?).await,
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

async fn place(state: AppState, req: BookFlight) -> Result<Response, ApiError> {
    let flight = state
        .store
        .flight_statuses(Some(req.flight_id))
        .await?
        .into_iter()
        .find(|f| f.flight_id == req.flight_id && !f.deleted)
        .ok_or_else(|| ApiError::not_found(format!("flight {} not found", req.flight_id)))?;
    check_against_catalogue(req.count, req.client_price, flight.price, flight.seat)?;
    let new = NewReservation {
        flight_id: req.flight_id,
        count: req.count.get(),
        unit_price: flight.price,
        phone: req.phone.as_str().to_owned(),
    };
    let pending = state.store.create_pending(&new).await?;
    let charge = ApprovePayment { reservation_id: pending.id, amount: pending.amount, phone: pending.phone.clone() };
    let input = match state.payments.approve(&charge).await {
        Ok(p) => SagaInput::PaymentApproved { payment_id: p.id },
        Err(PaymentError::Declined(reason)) => SagaInput::PaymentDeclined { reason },
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
        _ => Err(payment_busy()),
    }
}
