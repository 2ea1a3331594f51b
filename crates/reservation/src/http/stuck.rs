//! Operator actions on a reservation stuck waiting for its inventory answer
//! (`GET /reservations?stuck=true` lists them): ask the inventory service again, or give up and
//! compensate (reject, refund; inventory releases anything it holds for it later).

use axum::extract::State;
use skycamp_platform::http::{ApiError, Json, Path};

use super::AppState;
use super::view::{ReservationView, found};
use crate::domain::{SagaInput, Status};
use crate::store::Applied;

/// `POST /reservations/{id}/retry`: publish `ReservationPlaced` again.
#[utoipa::path(
post, path = "/reservations/{id}/retry", tag = "operations", params(("id" = i64, Path, description = "The reservation")),
    responses((status = 200, description = "Asked again", body = ReservationView)), security(("bearer" = ["admin"]))
)]
pub async fn retry(State(state): State<AppState>, Path(id): Path<i64>) -> Result<Json<ReservationView>, ApiError> {
    if !state.store.ask_inventory_again(id).await? {
        let r = found(&state, id).await?;
        return Err(ApiError::conflict(format!(
            "reservation {id} is {}, not waiting for inventory",
            r.status.as_str()
        )));
    }
    tracing::warn!(reservation_id = id, "operator asked the inventory service again");
    Ok(Json(found(&state, id).await?.into()))
}

/// `POST /reservations/{id}/compensate`: give up on the inventory answer; reject and refund.
/// Only a reservation stuck past the inventory deadline may be given up on: one answered `PAID`
/// a moment ago is about to be confirmed, and compensating it would undo a good booking (409).
#[utoipa::path(
post, path = "/reservations/{id}/compensate", tag = "operations", params(("id" = i64, Path, description = "The reservation")),
    responses((status = 200, description = "Given up: rejected and refunded", body = ReservationView)), security(("bearer" = ["admin"]))
)]
pub async fn compensate(State(state): State<AppState>, Path(id): Path<i64>) -> Result<Json<ReservationView>, ApiError> {
    let r = found(&state, id).await?;
    if r.status == Status::Paid && !state.store.is_stuck(id, stuck_before(&state)).await? {
        return Err(ApiError::conflict(format!(
            "reservation {id} has not waited the inventory deadline ({} s) yet; it may still be confirmed. \
             Compensate only reservations listed at /reservations?stuck=true",
            state.inventory_deadline.as_secs_f64()
        )));
    }
    let input =
        SagaInput::Abandoned { reason: "no answer from the inventory service; compensated by an operator".into() };
    match state.store.apply(id, &input, None).await? {
        Applied::Moved(r) => {
            tracing::warn!(reservation_id = id, "operator compensated a stuck reservation");
            Ok(Json(r.into()))
        }
        Applied::Ignored(r) => {
            Err(ApiError::conflict(format!("reservation {id} is {}, not waiting for inventory", r.status.as_str())))
        }
        Applied::Duplicate | Applied::Missing => Err(ApiError::not_found(format!("reservation {id} not found"))),
    }
}

/// Reservations created before this instant (ms) that are still `PAID` count as stuck.
pub fn stuck_before(state: &AppState) -> i64 {
    state.clock.now_millis() - state.inventory_deadline.as_millis() as i64
}
