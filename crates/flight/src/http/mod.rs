//! The flight API: admins register and change flights, anyone lists them.

mod change;
mod register;
mod view;

use axum::Router;
use axum::routing::get;
use skycamp_platform::http::ApiError;
use skycamp_platform::idempotency::{self, Keys};

use crate::domain::ChangeError;
use crate::store::FlightStore;

/// Routes under `/flights`. Registering honours `Idempotency-Key`.
pub fn router(store: FlightStore, keys: Keys) -> Router {
    let idempotent = axum::middleware::from_fn_with_state(keys, idempotency::guard);
    Router::new()
        .route("/flights", get(view::list).post(register::register).layer(idempotent))
        .route("/flights/holds", get(view::holds))
        .route("/flights/{id}", get(view::one).put(change::replace).patch(change::patch).delete(change::delete))
        .with_state(store)
}

fn change_error(e: ChangeError) -> ApiError {
    match e {
        ChangeError::NotFound => ApiError::not_found(e.to_string()),
        ChangeError::SeatsBelowHeld { .. } => ApiError::unprocessable(e.to_string()),
        ChangeError::HasHeldSeats { .. } => ApiError::conflict(e.to_string()),
    }
}
