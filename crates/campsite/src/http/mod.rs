//! The campsite admin API: create, edit, delete; anyone lists.

mod change;
mod register;
mod view;

use axum::Router;
use axum::routing::{get, post, put};
use skycamp_platform::auth::admin_only;
use skycamp_platform::http::ApiError;
use skycamp_platform::idempotency::{self, Keys};

use crate::domain::ChangeError;
use crate::store::CampsiteStore;

/// Routes under `/campsites`. Registering honours `Idempotency-Key`.
pub fn router(store: CampsiteStore, keys: Keys) -> Router {
    let idempotent = axum::middleware::from_fn_with_state(keys, idempotency::guard);
    let admin = axum::middleware::from_fn(admin_only);
    let changes = put(change::replace).patch(change::patch).delete(change::delete).layer(admin.clone());
    Router::new()
        .route("/campsites", get(view::list).merge(post(register::register).layer(idempotent).layer(admin.clone())))
        .route("/campsites/nights", get(view::nights).layer(admin))
        .route("/campsites/{id}", get(view::one).merge(changes))
        .with_state(store)
}

fn change_error(e: ChangeError) -> ApiError {
    match e {
        ChangeError::NotFound => ApiError::not_found(e.to_string()),
        ChangeError::CapacityBelowBooked { .. } => ApiError::unprocessable(e.to_string()),
        ChangeError::HasUpcomingBookings { .. } => ApiError::conflict(e.to_string()),
    }
}
