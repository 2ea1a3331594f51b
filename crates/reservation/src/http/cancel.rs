//! Cancelling: `POST /reservations/{id}/cancel` and the seed's cancel form. The payment is
//! refunded synchronously first; only then is the reservation `CANCELLED` and
//! `ReservationCancelled` published (the flight service returns the seats).

use axum::body::Bytes;
use axum::extract::State;
use serde::Deserialize;
use skycamp_contracts::reservation::Booked;
use skycamp_platform::http::{ApiError, Json, Path, lenient};

use super::view::{ReservationView, found};
use super::{AppState, payment_busy};
use crate::domain::SagaInput;
use crate::payment_client::PaymentError;
use crate::store::Applied;

#[derive(Debug, Default, Deserialize)]
struct CancelBody {
    #[serde(default, deserialize_with = "lenient::opt_int")]
    count: Option<i64>,
}

/// The body is optional; a `count`, if given, must be the booked count (whole reservations only).
pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    body: Bytes,
) -> Result<Json<ReservationView>, ApiError> {
    let body: CancelBody = if body.iter().all(u8::is_ascii_whitespace) {
        CancelBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("malformed JSON body: {e}")))?
    };
    cancel_reservation(&state, id, body.count).await
}

/// Cancels reservation `id` (both API forms end here).
pub async fn cancel_reservation(
    state: &AppState,
    id: i64,
    count: Option<i64>,
) -> Result<Json<ReservationView>, ApiError> {
    let r = found(state, id).await?;
    if let (Some(count), Booked::Flight { count: booked, .. }) = (count, &r.item)
        && count != *booked
    {
        return Err(ApiError::unprocessable(format!(
            "count {count} differs from the {booked} booked; a reservation is cancelled as a whole"
        )));
    }
    if !r.status.is_cancellable() {
        return Err(ApiError::conflict(format!(
            "reservation {id} is {}; only PAID or CONFIRMED reservations can be cancelled",
            r.status.as_str()
        )));
    }
    let payment_id = r.payment_id.ok_or_else(|| anyhow::anyhow!("paid reservation {id} has no payment id"))?;
    match state.payments.refund(payment_id, "cancelled by customer").await {
        Ok(_) => {}
        Err(e @ (PaymentError::Unavailable(_) | PaymentError::CircuitOpen)) => {
            tracing::warn!(reservation_id = id, error = %e, "refund unavailable; cancel refused");
            return Err(payment_busy(state));
        }
        Err(PaymentError::Declined(reason)) => return Err(ApiError::conflict(reason)),
    }
    match state.store.apply(id, &SagaInput::CancelRequested, None).await? {
        Applied::Moved(r) => {
            tracing::info!(reservation_id = id, "reservation cancelled");
            Ok(Json(r.into()))
        }
        // The refund event got there first and already cancelled it.
        Applied::Ignored(r) if r.status == crate::domain::Status::Cancelled => Ok(Json(r.into())),
        Applied::Ignored(r) => Err(ApiError::conflict(format!(
            "reservation {id} became {} meanwhile; its payment is refunded",
            r.status.as_str()
        ))),
        Applied::Duplicate | Applied::Missing => Err(ApiError::not_found(format!("reservation {id} not found"))),
    }
}
