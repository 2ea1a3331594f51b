//! `POST /reservations`: the seed's booking form (`reserveStatus=place`) for a flight
//! (`flightId`, `count`) or a campsite (`campsiteId`, `checkIn`, `checkOut`, `guests`), and its
//! cancel form (`reserveStatus=cancel`). Booking runs saga steps 1–3: validate against the read
//! model, store `PENDING_PAYMENT`, charge synchronously, then `PAID` + `ReservationPlaced` and
//! 201 at once.
//!
//! With an `Idempotency-Key` the reservation is the key's recovery point (bound in the
//! transaction that creates it): a retry after the first attempt died or could not reach payment
//! continues with that reservation instead of booking again (ADR 10).

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use skycamp_contracts::payment::ApprovePayment;
use skycamp_contracts::reservation::Booked;
use skycamp_platform::auth::Caller;
use skycamp_platform::http::{ApiError, Json, lenient};
use skycamp_platform::idempotency::{Idempotent, Key};

use super::view::ReservationView;
use super::{AppState, cancel};
use crate::domain::values::{check_against_campsite, check_against_catalogue, parse_email, parse_name};
use crate::domain::{
    BookingError, CancelError, Invalid, NewReservation, Phone, Reservation, SagaInput, SeatCount, Status, Stay,
};
use crate::payment_client::PaymentError;
use crate::store::Applied;

/// Every form of the seed's `POST /reservations` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
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

#[utoipa::path(
post, path = "/reservations", tag = "reservation", request_body = ReservationBody, params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry answer (or finish) the first request")),
    responses((status = 201, description = "Booked and paid", body = ReservationView, headers(("location" = String))),
        (status = 200, description = "The seed's cancel form: cancelled", body = ReservationView)), security(("bearer" = ["customer", "admin"]))
)]
pub async fn place_or_cancel(
    State(state): State<AppState>,
    caller: Caller,
    Key(key): Key,
    Json(mut body): Json<ReservationBody>,
) -> Result<Response, ApiError> {
    match body.reserve_status.as_deref().map(str::trim).map(str::to_ascii_lowercase).as_deref() {
        None | Some("place") => {
            // A customer books as themselves; an admin books for the customer the form names.
            body.phone = caller.whose(body.phone.take())?;
            Ok(book(&state, &body, key.as_ref()).await?)
        }
        Some("cancel") => {
            let id = body.reservation_id.ok_or(CancelError::NoReservation)?;
            Ok(cancel::cancel_for(&state, &caller, id, body.count, key.as_ref()).await?.into_response())
        }
        Some(other) => Err(BookingError::UnknownForm(skycamp_platform::http::clip(other, 20).to_owned()).into()),
    }
}

/// The booking form: a new reservation, or the resumption of a keyed one.
async fn book(state: &AppState, body: &ReservationBody, key: Option<&Idempotent>) -> Result<Response, BookingError> {
    if let Some(id) = key.and_then(Idempotent::resumed) {
        return resume(state, id).await;
    }
    let customer = Customer::try_from(body)?;
    let new = match (body.flight_id, body.campsite_id) {
        (Some(flight_id), None) => flight_booking(state, body, flight_id, customer).await?,
        (None, Some(campsite_id)) => campsite_booking(state, body, campsite_id, customer).await?,
        (Some(_), Some(_)) => return Err(BookingError::BothItems),
        (None, None) => return Err(BookingError::NoItem),
    };
    place(state, new, key).await
}

async fn flight_booking(
    state: &AppState,
    b: &ReservationBody,
    flight_id: i64,
    c: Customer,
) -> Result<NewReservation, BookingError> {
    let count = SeatCount::parse(b.count.unwrap_or(1))?;
    let flight = state
        .catalogue
        .flight_status(flight_id)
        .await?
        .filter(|f| !f.deleted)
        .ok_or(BookingError::NoSuchFlight(flight_id))?;
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
) -> Result<NewReservation, BookingError> {
    let required = |field: &str| Invalid(format!("{field} is required"));
    let check_in = b.check_in.as_deref().ok_or_else(|| required("checkIn"))?;
    let check_out = b.check_out.as_deref().ok_or_else(|| required("checkOut"))?;
    let stay = Stay::parse(check_in, check_out, state.clock.today(), state.max_nights)?;
    let guests = b.guests.or(b.count).unwrap_or(1);
    let today = state.clock.today().to_string();
    let site = state
        .catalogue
        .campsite_status(campsite_id, &today, &today)
        .await?
        .filter(|s| !s.campsite.deleted)
        .ok_or(BookingError::NoSuchCampsite(campsite_id))?
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

async fn place(state: &AppState, new: NewReservation, key: Option<&Idempotent>) -> Result<Response, BookingError> {
    if let Some(wait) = state.payments.refusing_for().await {
        // Fail fast: payment is known to be down, so nothing is written and nothing charged.
        return Err(BookingError::PaymentBusy { retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64 });
    }
    let pending = state.store.create_pending(&new, key).await?;
    tracing::Span::current().record("reservation_id", pending.id);
    charge(state, pending, key.is_some()).await
}

/// Charges for a `PENDING_PAYMENT` reservation and settles it. Declined: `REJECTED`, 402.
/// Payment unreachable: without a key, `REJECTED` and 503; with a key, the reservation stays
/// pending so the client's retry (or, failing that, reconciliation) completes it.
async fn charge(state: &AppState, pending: Reservation, keyed: bool) -> Result<Response, BookingError> {
    let request = ApprovePayment { reservation_id: pending.id, amount: pending.amount, phone: pending.phone.clone() };
    let input = match state.payments.approve(&request).await {
        Ok(p) => SagaInput::PaymentApproved { payment_id: p.id },
        Err(PaymentError::Declined(reason)) => SagaInput::PaymentDeclined { reason },
        Err(e @ (PaymentError::CircuitOpen | PaymentError::Unavailable(_))) if keyed => {
            tracing::warn!(reservation_id = pending.id, error = %e, "payment unavailable; the keyed booking waits for its retry");
            return Err(BookingError::AwaitingPayment {
                id: pending.id,
                retry_after_secs: state.payments.retry_after_secs(),
            });
        }
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
            Ok(created(reservation))
        }
        (_, SagaInput::PaymentDeclined { reason }) => Err(BookingError::Declined { id: reservation.id, reason }),
        // Settled meanwhile by another path (reconciliation): answer as it stands.
        (_, SagaInput::PaymentApproved { .. }) => settled(reservation),
        _ => Err(BookingError::PaymentBusy { retry_after_secs: state.payments.retry_after_secs() }),
    }
}

/// 201 with the reservation and its `Location`.
fn created(r: Reservation) -> Response {
    let location = format!("/reservations/{}", r.id);
    (StatusCode::CREATED, [(header::LOCATION, location)], Json(ReservationView::from(r))).into_response()
}

/// A retry of a keyed booking whose first attempt created reservation `id`: continue from where
/// it stands.
async fn resume(state: &AppState, id: i64) -> Result<Response, BookingError> {
    let r = state.store.get(id).await?.ok_or_else(|| anyhow::anyhow!("reservation {id} of a key vanished"))?;
    tracing::Span::current().record("reservation_id", id);
    tracing::info!(reservation_id = id, status = r.status.as_str(), "resuming a keyed booking");
    match r.status {
        Status::PendingPayment => charge(state, r, true).await,
        _ => settled(r),
    }
}

/// The answer for a booking that is no longer waiting for payment.
fn settled(r: Reservation) -> Result<Response, BookingError> {
    if r.payment_id.is_some() {
        // It was paid, so the request succeeded; the body shows where the booking stands now.
        return Ok(created(r));
    }
    Err(BookingError::RejectedEarlier {
        id: r.id,
        reason: r.reason.unwrap_or_else(|| "payment never completed".to_owned()),
    })
}
