//! Cancelling: `POST /reservations/{id}/cancel` and the seed's cancel form. The payment is
//! refunded synchronously first; only then is the reservation `CANCELLED` and
//! `ReservationCancelled` published (the flight or campsite service returns the seats or nights).
//!
//! A campsite stay can be cancelled by its customer only before its check-in day; from then on
//! only an operator refund (`POST /payments/{id}/refund`) cancels it. With an `Idempotency-Key`,
//! the reservation is bound to the key before the refund is asked, so a retry after the first
//! attempt died finishes the cancel, or answers 200 if it already went through.

use axum::extract::State;
use serde::Deserialize;
use skycamp_contracts::reservation::Booked;
use skycamp_platform::auth::Caller;
use skycamp_platform::http::{ApiError, Json, OptionalJson, Path, lenient};
use skycamp_platform::idempotency::{Idempotent, Key};

use super::AppState;
use super::view::ReservationView;
use crate::domain::{CancelError, Reservation, SagaInput, Status};
use crate::payment_client::PaymentError;
use crate::store::Applied;

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct CancelBody {
    #[serde(default, deserialize_with = "lenient::opt_int")]
    count: Option<i64>,
}

/// The body is optional; a `count`, if given, must be the booked count (whole reservations only).
#[utoipa::path(
post, path = "/reservations/{id}/cancel", tag = "reservation", params(("id" = i64, Path, description = "The reservation"), ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry answer (or finish) the first request")),
    request_body(content = Option<CancelBody>, description = "Optional: the booked count"),
    responses((status = 200, description = "Refunded and cancelled", body = ReservationView)), security(("bearer" = ["customer", "admin"]))
)]
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Key(key): Key,
    OptionalJson(body): OptionalJson<CancelBody>,
) -> Result<Json<ReservationView>, ApiError> {
    cancel_for(&state, &caller, id, body.count, key.as_ref()).await
}

/// Cancels reservation `id` when `caller` may: its customer, or an admin.
pub async fn cancel_for(
    state: &AppState,
    caller: &Caller,
    id: i64,
    count: Option<i64>,
    key: Option<&Idempotent>,
) -> Result<Json<ReservationView>, ApiError> {
    caller.signed_in()?;
    if let Some(r) = state.store.get(id).await? {
        caller.act_for(&r.phone)?;
    }
    Ok(cancel_reservation(state, id, count, key).await?)
}

/// Cancels reservation `id` (both API forms end here, once [`cancel_for`] let the caller in).
pub async fn cancel_reservation(
    state: &AppState,
    id: i64,
    count: Option<i64>,
    key: Option<&Idempotent>,
) -> Result<Json<ReservationView>, CancelError> {
    tracing::Span::current().record("reservation_id", id);
    let r = state.store.get(id).await?.ok_or(CancelError::NotFound(id))?;
    if let (Some(count), Booked::Flight { count: booked, .. }) = (count, &r.item)
        && count != *booked
    {
        return Err(CancelError::PartialCount { count, booked: *booked });
    }
    if key.and_then(Idempotent::resumed) == Some(id) && r.status == Status::Cancelled {
        // The first attempt with this key got through before it could answer.
        return Ok(Json(r.into()));
    }
    check_cancellable(state, &r)?;
    if let Some(key) = key {
        key.bind_now(id).await?;
    }
    let payment_id = r.payment_id.ok_or_else(|| anyhow::anyhow!("paid reservation {id} has no payment id"))?;
    match state.payments.refund(payment_id, "cancelled by customer").await {
        Ok(_) => {}
        Err(e @ (PaymentError::Unavailable(_) | PaymentError::CircuitOpen)) => {
            tracing::warn!(reservation_id = id, error = %e, "refund unavailable; cancel refused");
            return Err(CancelError::PaymentBusy { retry_after_secs: state.payments.retry_after_secs() });
        }
        Err(PaymentError::Declined(reason)) => return Err(CancelError::RefundRefused(reason)),
    }
    match state.store.apply(id, &SagaInput::CancelRequested, None).await? {
        Applied::Moved(r) => {
            tracing::info!(reservation_id = id, "reservation cancelled");
            Ok(Json(r.into()))
        }
        // The refund event got there first and already cancelled it.
        Applied::Ignored(r) if r.status == Status::Cancelled => Ok(Json(r.into())),
        Applied::Ignored(r) => Err(CancelError::ChangedMeanwhile { id, status: r.status.as_str() }),
        Applied::Duplicate | Applied::Missing => Err(CancelError::NotFound(id)),
    }
}

/// Only paid or confirmed reservations can be cancelled, and a stay only before its check-in day.
fn check_cancellable(state: &AppState, r: &Reservation) -> Result<(), CancelError> {
    if !r.status.is_cancellable() {
        return Err(CancelError::NotCancellable { id: r.id, status: r.status.as_str() });
    }
    if let Booked::Campsite { check_in, .. } = &r.item
        && check_in.as_str() <= state.clock.today().to_string().as_str()
    {
        return Err(CancelError::StayBegun { id: r.id, check_in: check_in.clone() });
    }
    Ok(())
}
