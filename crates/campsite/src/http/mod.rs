//! The campsite admin API: create, edit, delete; anyone lists.

mod change;
mod register;
mod view;

use axum::Router;
use axum::routing::get;
use skycamp_platform::http::ApiError;
use skycamp_platform::idempotency::{self, Keys};

use crate::domain::ChangeError;
use crate::store::CampsiteStore;

/// Routes under `/campsites`. Registering honours `Idempotency-Key`.
pub fn router(store: CampsiteStore, keys: Keys) -> Router {
    let idempotent = axum::middleware::from_fn_with_state(keys, idempotency::guard);
    Router::new()
        .route("/campsites", get(view::list).post(register::register).layer(idempotent))
        .route("/campsites/nights", get(view::nights))
        .route("/campsites/{id}", get(view::one).put(change::replace).patch(change::patch).delete(change::delete))
        .with_state(store)
}

fn change_error(e: ChangeError) -> ApiError {
    match e {
        ChangeError::NotFound => ApiError::not_found(e.to_string()),
        ChangeError::CapacityBelowBooked { .. } => ApiError::unprocessable(e.to_string()),
        ChangeError::HasUpcomingBookings { .. } => ApiError::conflict(e.to_string()),
    }
}
